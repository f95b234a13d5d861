//! The wallet file: round trip, wrong passphrase, tampering detected with nothing written,
//! credentials stored only after the check and only for their own holder key.

use credence_registry::keys::KeyType;
use credence_wallet::credentials::ClaimPath;
use credence_wallet::{KdfParams, Passphrase, TamperedPart, Wallet, WalletError};
use rusqlite::Connection;

use crate::{Check, LICENCE, issue_licence, issuer_key, new_wallet, now, passphrase, store_copies};

#[test]
fn create_then_open_round_trip() {
    let (_dir, path, mut wallet) = new_wallet();
    let issuer = issuer_key();
    let keys = store_copies(&mut wallet, &issuer, KeyType::Ed25519, 1);
    let stored = wallet.credentials().expect("list");
    drop(wallet);

    let wallet = Wallet::open(&path, &passphrase()).expect("open");
    assert_eq!(
        wallet.kdf_params(),
        KdfParams::INSECURE_FOR_TESTS,
        "parameters recorded"
    );
    let reopened = wallet.credentials().expect("list");
    assert_eq!(reopened.len(), 1);
    assert_eq!(reopened[0].id(), stored[0].id());
    assert_eq!(
        reopened[0].envelope().compact(),
        stored[0].envelope().compact()
    );
    assert_eq!(wallet.holder_key(&keys[0].id).expect("key"), keys[0]);
}

#[test]
fn create_never_overwrites_and_open_needs_a_wallet() {
    let (_dir, path, _wallet) = new_wallet();
    assert!(matches!(
        Wallet::create(&path, &passphrase(), KdfParams::INSECURE_FOR_TESTS),
        Err(WalletError::AlreadyExists(_))
    ));
    let missing = path.with_file_name("missing.db");
    assert!(matches!(
        Wallet::open(&missing, &passphrase()),
        Err(WalletError::NotFound(_))
    ));
    let text = path.with_file_name("notes.txt");
    std::fs::write(&text, "not a database, just some text that is long enough").expect("write");
    assert!(matches!(
        Wallet::open(&text, &passphrase()),
        Err(WalletError::NotAWallet { .. })
    ));
    assert!(matches!(
        Wallet::create(
            &path.with_file_name("empty.db"),
            &Passphrase::new(""),
            KdfParams::INSECURE_FOR_TESTS
        ),
        Err(WalletError::EmptyPassphrase)
    ));
}

#[test]
fn wrong_passphrase_is_a_clear_error() {
    let (_dir, path, wallet) = new_wallet();
    drop(wallet);
    let result = Wallet::open(&path, &Passphrase::new("correct horse battery stapler"));
    assert!(
        matches!(result, Err(WalletError::WrongPassphrase)),
        "{result:?}"
    );
}

#[test]
fn secrets_are_not_in_debug_output() {
    let (_dir, _path, mut wallet) = new_wallet();
    let secret = "correct horse battery staple";
    assert!(!format!("{:?}", Passphrase::new(secret)).contains(secret));
    let issuer = issuer_key();
    store_copies(&mut wallet, &issuer, KeyType::P256, 1);
    let credential = &wallet.credentials().expect("list")[0];
    let printed = format!("{wallet:?} {credential:?} {:?}", credential.claims());
    assert!(!printed.contains("Example Trading"), "{printed}");
}

/// A tamper case: the SQL that changes the file, and the operation that must detect it.
struct Tamper {
    what: &'static str,
    sql: &'static str,
    detect: fn(&std::path::Path) -> Result<(), WalletError>,
    expected: fn(&TamperedPart) -> bool,
}

fn open_only(path: &std::path::Path) -> Result<(), WalletError> {
    Wallet::open(path, &passphrase()).map(drop)
}

fn list_credentials(path: &std::path::Path) -> Result<(), WalletError> {
    Wallet::open(path, &passphrase())?.credentials().map(drop)
}

fn list_history(path: &std::path::Path) -> Result<(), WalletError> {
    Wallet::open(path, &passphrase())?.history().map(drop)
}

fn header(part: &TamperedPart) -> bool {
    *part == TamperedPart::Header
}

fn credential_record(part: &TamperedPart) -> bool {
    matches!(
        part,
        TamperedPart::Record {
            kind: "credential",
            ..
        }
    )
}

fn history_record(part: &TamperedPart) -> bool {
    matches!(
        part,
        TamperedPart::Record {
            kind: "history",
            ..
        }
    )
}

#[test]
fn tampering_is_detected_and_nothing_is_written() {
    let cases = [
        Tamper {
            what: "header: fewer Argon2id passes",
            sql: "UPDATE header SET iterations = iterations + 1",
            detect: open_only,
            expected: header,
        },
        Tamper {
            what: "header: another salt",
            sql: "UPDATE header SET salt = zeroblob(16)",
            detect: open_only,
            expected: header,
        },
        Tamper {
            what: "header: absurd memory cost (would allocate terabytes)",
            sql: "UPDATE header SET memory_kib = 1099511627776",
            detect: open_only,
            expected: header,
        },
        Tamper {
            what: "key-check value: one bit flipped",
            sql: "UPDATE header SET key_check = CAST(substr(key_check, 1, 20)
                      || CASE WHEN substr(key_check, 21, 1) = X'00' THEN X'01' ELSE X'00' END
                      || substr(key_check, 22) AS BLOB)",
            detect: open_only,
            expected: header,
        },
        Tamper {
            what: "key-check value: replaced",
            sql: "UPDATE header SET key_check = randomblob(48)",
            detect: open_only,
            expected: header,
        },
        Tamper {
            what: "credential ciphertext replaced",
            sql: "UPDATE records SET ciphertext = randomblob(length(ciphertext))
                  WHERE kind = 'credential'",
            detect: list_credentials,
            expected: credential_record,
        },
        Tamper {
            what: "credential nonce replaced",
            sql: "UPDATE records SET nonce = randomblob(24) WHERE kind = 'credential'",
            detect: list_credentials,
            expected: credential_record,
        },
        Tamper {
            what: "credential moved to another id",
            sql: "UPDATE records SET id = 'another-id' WHERE kind = 'credential'",
            detect: list_credentials,
            expected: credential_record,
        },
        Tamper {
            what: "history ciphertext swapped into a credential row",
            sql: "UPDATE records SET nonce = (SELECT nonce FROM records WHERE kind = 'history'),
                      ciphertext = (SELECT ciphertext FROM records WHERE kind = 'history')
                  WHERE kind = 'credential'",
            detect: list_credentials,
            expected: credential_record,
        },
        Tamper {
            what: "history entry ciphertext replaced",
            sql: "UPDATE records SET ciphertext = randomblob(length(ciphertext))
                  WHERE kind = 'history'",
            detect: list_history,
            expected: history_record,
        },
    ];
    for case in cases {
        let (_dir, path, mut wallet) = new_wallet();
        let issuer = issuer_key();
        store_copies(&mut wallet, &issuer, KeyType::Ed25519, 1);
        crate::present::present_two_claims(&mut wallet, "https://bank.example");
        drop(wallet);

        let changed = Connection::open(&path)
            .expect("sqlite")
            .execute(case.sql, [])
            .expect(case.what);
        assert!(changed >= 1, "{}: the SQL changed nothing", case.what);
        let before = std::fs::read(&path).expect("read");
        match (case.detect)(&path) {
            Err(WalletError::Tampered(part)) => {
                assert!(
                    (case.expected)(&part),
                    "{}: detected as {part:?}",
                    case.what
                )
            }
            other => panic!("{}: expected Tampered, got {other:?}", case.what),
        }
        assert_eq!(
            std::fs::read(&path).expect("read"),
            before,
            "{}: file changed",
            case.what
        );
    }
}

#[test]
fn a_credential_is_stored_only_if_checked_and_bound_to_its_key() {
    let (_dir, _path, mut wallet) = new_wallet();
    let issuer = issuer_key();
    let keys = wallet.new_holder_keys(KeyType::Ed25519, 2).expect("keys");
    let for_first = issue_licence(&issuer, &keys[0].public);

    let refused = wallet.store_credential(
        &for_first,
        &keys[0].id,
        &Check::Refuse("bad signature"),
        now(),
    );
    assert!(
        matches!(refused, Err(WalletError::CredentialRefused(ref reason)) if reason.contains("bad signature"))
    );
    let unavailable = wallet.store_credential(&for_first, &keys[0].id, &Check::Unavailable, now());
    assert!(
        matches!(unavailable, Err(WalletError::CheckUnavailable(ref why)) if why.contains("registry did not answer"))
    );
    let wrong_key = wallet.store_credential(&for_first, &keys[1].id, &Check::Accept, now());
    assert!(matches!(wrong_key, Err(WalletError::HolderKeyMismatch(_))));
    let malformed = wallet.store_credential("not.an.sd-jwt", &keys[0].id, &Check::Accept, now());
    assert!(matches!(malformed, Err(WalletError::InvalidCredential(_))));
    assert!(
        wallet.credentials().expect("list").is_empty(),
        "nothing was stored"
    );

    let id = wallet
        .store_credential(&for_first, &keys[0].id, &Check::Accept, now())
        .expect("store");
    let again = wallet.store_credential(&for_first, &keys[0].id, &Check::Accept, now());
    assert!(
        matches!(again, Err(WalletError::HolderKeyInUse(_))),
        "one key, one copy"
    );

    wallet.delete_credential(&id).expect("delete");
    assert!(wallet.credentials().expect("list").is_empty());
    assert!(matches!(
        wallet.credential(&id),
        Err(WalletError::UnknownCredential(_))
    ));
    assert!(matches!(
        wallet.holder_key(&keys[0].id),
        Err(WalletError::UnknownHolderKey(_))
    ));
}

#[test]
fn stored_credential_lists_its_claims() {
    let (_dir, _path, mut wallet) = new_wallet();
    let issuer = issuer_key();
    store_copies(&mut wallet, &issuer, KeyType::P256, 1);
    let credentials = wallet.credentials().expect("list");
    let credential = &credentials[0];
    assert_eq!(credential.vct(), Some(LICENCE));
    assert_eq!(credential.issuer(), Some(issuer.issuer().as_str()));

    let mut listed: Vec<(String, bool)> = credential
        .claims()
        .iter()
        .map(|claim| (claim.path.to_string(), claim.selectively_disclosable))
        .collect();
    listed.sort();
    let mut expected: Vec<(String, bool)> = crate::DISCLOSABLE
        .iter()
        .map(|path| (path.to_string(), true))
        .chain([
            ("/address/country".into(), false),
            ("/country".into(), false),
        ])
        .collect();
    expected.sort();
    assert_eq!(listed, expected);

    let locality = credential
        .claim(&ClaimPath::parse("/address/locality").expect("path"))
        .expect("claim");
    assert_eq!(locality.value, "Shanghai");
    let shown = wallet.credential(credential.id()).expect("show");
    assert_eq!(shown.claims().len(), 10);
}
