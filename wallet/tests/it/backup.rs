//! Backups: a round trip onto "another device" with keys, credentials and history; a wrong
//! passphrase, a modified backup and an existing file are refused with nothing written.

use credence_registry::keys::KeyType;
use credence_wallet::{KdfParams, Passphrase, Wallet, WalletError};

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

    let other_path = dir.path().join("other-device.db");
    let mut other =
        Wallet::create(&other_path, &passphrase(), KdfParams::INSECURE_FOR_TESTS).expect("create");
    // A wrong passphrase: nothing restored.
    assert!(matches!(
        other.restore(&file, &Passphrase::new("wrong horse")),
        Err(WalletError::BackupUnreadable)
    ));
    assert!(other.credentials().expect("list").is_empty());
    // Every single-character change to the envelope is refused, nothing restored.
    let mut envelope: serde_json::Value = serde_json::from_str(&text).expect("json");
    for field in ["nonce", "ciphertext"] {
        let mut changed = envelope.clone();
        let value = changed[field].as_str().unwrap().to_owned();
        let flipped = if value.ends_with('A') { 'B' } else { 'A' };
        changed[field] = format!("{}{flipped}", &value[..value.len() - 1]).into();
        let path = dir.path().join(format!("tampered-{field}"));
        std::fs::write(&path, changed.to_string()).unwrap();
        assert!(
            matches!(
                other.restore(&path, &passphrase()),
                Err(WalletError::BackupUnreadable)
            ),
            "{field}"
        );
    }
    envelope["kdf"]["t"] = (envelope["kdf"]["t"].as_u64().unwrap() + 1).into();
    let path = dir.path().join("tampered-kdf");
    std::fs::write(&path, envelope.to_string()).unwrap();
    assert!(matches!(
        other.restore(&path, &passphrase()),
        Err(WalletError::BackupUnreadable)
    ));
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
