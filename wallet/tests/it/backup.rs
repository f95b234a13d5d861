//! Backups: a round trip onto "another device" with keys, credentials and history; a wrong
//! passphrase, a modified backup and an existing file are refused with nothing written; the
//! JWE interoperates with jwcrypto (Python) in both directions.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use credence_registry::keys::KeyType;
use credence_wallet::{KdfParams, Passphrase, Wallet, WalletError};
use serde_json::{Value, json};

use crate::{issuer_key, new_wallet, passphrase, store_copies};

#[test]
fn a_backup_restores_everything_and_refuses_a_wrong_passphrase_or_tampering() {
    let (dir, _path, mut wallet) = new_wallet();
    let keys = store_copies(&mut wallet, &issuer_key(), KeyType::Ed25519, 2);
    let file = dir.path().join("wallet.backup");
    wallet.backup(&file, &passphrase()).expect("backup");
    // Never written over.
    assert!(matches!(
        wallet.backup(&file, &passphrase()),
        Err(WalletError::AlreadyExists(_))
    ));
    let text = std::fs::read_to_string(&file).expect("read");
    assert!(!text.contains("company_name"), "the backup is encrypted");
    let parts: Vec<&str> = text.split('.').collect();
    assert_eq!(parts.len(), 5, "a compact JWE: {text}");
    let header = protected_header(&text);
    assert_eq!(header["alg"], "dir");
    assert_eq!(header["enc"], "A256GCM");
    assert_eq!(header["credence_kdf"]["alg"], "argon2id");

    let other_path = dir.path().join("other-device.db");
    let mut other =
        Wallet::create(&other_path, &passphrase(), KdfParams::INSECURE_FOR_TESTS).expect("create");
    // A wrong passphrase: nothing restored.
    assert!(matches!(
        other.restore(&file, &Passphrase::new("wrong horse")),
        Err(WalletError::BackupUnreadable)
    ));
    assert!(other.credentials().expect("list").is_empty());
    // A changed character in the IV, the ciphertext or the tag is refused, nothing restored.
    for (index, part) in [(2, "iv"), (3, "ciphertext"), (4, "tag")] {
        let mut changed: Vec<String> = parts.iter().map(|p| (*p).to_owned()).collect();
        let value = &changed[index];
        let flipped = if value.starts_with('A') { 'B' } else { 'A' };
        changed[index] = format!("{flipped}{}", &value[1..]);
        let path = dir.path().join(format!("tampered-{part}"));
        std::fs::write(&path, changed.join(".")).unwrap();
        assert!(
            matches!(
                other.restore(&path, &passphrase()),
                Err(WalletError::BackupUnreadable)
            ),
            "{part}"
        );
    }
    // The KDF parameters are authenticated: one more Argon2 pass is a different file.
    let mut header = protected_header(&text);
    header["credence_kdf"]["t"] = (header["credence_kdf"]["t"].as_u64().unwrap() + 1).into();
    let path = dir.path().join("tampered-kdf");
    std::fs::write(&path, with_header(&text, &header)).unwrap();
    assert!(matches!(
        other.restore(&path, &passphrase()),
        Err(WalletError::BackupUnreadable)
    ));
    // Not a backup at all: refused before any key is derived, with what was expected.
    for (name, content) in [
        ("garbage", "not a backup".to_owned()),
        ("pbes2", {
            let mut header = protected_header(&text);
            header["alg"] = "PBES2-HS512+A256KW".into();
            with_header(&text, &header)
        }),
        ("zip", {
            let mut header = protected_header(&text);
            header["zip"] = "DEF".into();
            with_header(&text, &header)
        }),
    ] {
        let path = dir.path().join(name);
        std::fs::write(&path, content).unwrap();
        let refused = other.restore(&path, &passphrase()).expect_err(name);
        assert!(
            refused.to_string().contains("not a Credence wallet backup"),
            "{name}: {refused}"
        );
    }
    assert!(other.credentials().expect("list").is_empty());

    let restored = other.restore(&file, &passphrase()).expect("restore");
    assert_eq!((restored.holder_keys, restored.credentials), (2, 2));
    let mut original: Vec<String> = wallet
        .credentials()
        .unwrap()
        .iter()
        .map(|c| c.envelope().compact().to_owned())
        .collect();
    let mut copied: Vec<String> = other
        .credentials()
        .unwrap()
        .iter()
        .map(|c| c.envelope().compact().to_owned())
        .collect();
    original.sort();
    copied.sort();
    assert_eq!(original, copied);
    for key in &keys {
        assert_eq!(other.holder_key(&key.id).expect("key restored"), *key);
    }
    // Restoring twice writes nothing over.
    assert!(other.restore(&file, &passphrase()).is_err());
    assert_eq!(other.credentials().unwrap().len(), 2);
}

fn protected_header(jwe: &str) -> Value {
    let encoded = jwe.split('.').next().expect("header");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(encoded).expect("base64url")).expect("json")
}

fn with_header(jwe: &str, header: &Value) -> String {
    let rest = jwe.split_once('.').expect("parts").1;
    format!("{}.{rest}", URL_SAFE_NO_PAD.encode(header.to_string()))
}

/// The backup key as anyone would derive it from the header alone (the `argon2` crate
/// directly, not the wallet's code): Argon2id v19 with the recorded m, t, p and salt.
fn derive_key(header: &Value, passphrase: &str) -> [u8; 32] {
    let kdf = &header["credence_kdf"];
    let number = |name: &str| u32::try_from(kdf[name].as_u64().expect(name)).expect(name);
    let params = argon2::Params::new(number("m"), number("t"), number("p"), Some(32)).unwrap();
    let argon = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
    let salt = URL_SAFE_NO_PAD
        .decode(kdf["salt"].as_str().expect("salt"))
        .expect("salt");
    let mut key = [0u8; 32];
    argon
        .hash_password_into(passphrase.as_bytes(), &salt, &mut key)
        .expect("argon2");
    key
}

#[test]
fn jwcrypto_opens_our_backup_and_we_restore_one_jwcrypto_made() {
    let (dir, _path, mut wallet) = new_wallet();
    store_copies(&mut wallet, &issuer_key(), KeyType::P256, 1);
    let file = dir.path().join("wallet.backup");
    wallet.backup(&file, &passphrase()).expect("backup");
    let text = std::fs::read_to_string(&file).expect("read");
    let header = protected_header(&text);
    let secret = "correct horse battery staple";
    let oct = |key: [u8; 32]| json!({"kty": "oct", "k": URL_SAFE_NO_PAD.encode(key)});

    // jwcrypto decrypts ours with the key the header describes.
    let Some(opened) = crate::jwcrypto(
        "decrypt",
        &oct(derive_key(&header, secret)),
        None,
        text.as_bytes(),
    ) else {
        return;
    };
    let plaintext = opened.expect("jwcrypto opens our backup");
    let records: Vec<Value> = serde_json::from_slice(&plaintext).expect("records");
    assert!(
        records.iter().any(|r| r["kind"] == "credential"),
        "{records:?}"
    );
    // A wrong passphrase's key: jwcrypto refuses too.
    let wrong = crate::jwcrypto(
        "decrypt",
        &oct(derive_key(&header, "wrong horse")),
        None,
        text.as_bytes(),
    )
    .expect("ran");
    assert!(wrong.is_err());

    // jwcrypto encrypts the same records under a fresh salt; our restore opens it.
    let mut kdf = header["credence_kdf"].clone();
    kdf["salt"] = URL_SAFE_NO_PAD.encode(b"a fresh 16B salt").into();
    let theirs_header = json!({
        "alg": "dir",
        "enc": "A256GCM",
        "cty": "credence-wallet-backup+json",
        "credence_kdf": kdf,
    });
    let key = derive_key(
        &json!({ "credence_kdf": theirs_header["credence_kdf"] }),
        secret,
    );
    let theirs = crate::jwcrypto("encrypt", &oct(key), Some(&theirs_header), &plaintext)
        .expect("ran")
        .expect("jwcrypto encrypts");
    let path = dir.path().join("jwcrypto.backup");
    std::fs::write(&path, theirs).unwrap();
    let mut other = Wallet::create(
        &dir.path().join("other.db"),
        &passphrase(),
        KdfParams::INSECURE_FOR_TESTS,
    )
    .expect("create");
    let restored = other.restore(&path, &passphrase()).expect("restore");
    assert_eq!((restored.holder_keys, restored.credentials), (1, 1));
    assert_eq!(
        other.credentials().unwrap()[0]
            .sd_jwt()
            .expect("SD-JWT VC")
            .compact(),
        wallet.credentials().unwrap()[0]
            .sd_jwt()
            .expect("SD-JWT VC")
            .compact()
    );
}
