//! Integration tests of credence-wallet, one binary. Credentials come from the real issuer
//! library (`credence_issuer::sd_jwt`); presentations are checked with implementations we did
//! not write (`sd-jwt-payload` for Disclosures, `jsonwebtoken` for signatures); IETF SD-JWT
//! vectors live under `testdata/sd-jwt/` with their sources named.

mod backup;
mod present;
mod protocols;
mod store;
mod vectors;

use std::path::PathBuf;

use chrono::{DateTime, TimeZone as _, Utc};
use credence_issuer::claims::{ClaimPath as IssuerPath, Claims};
use credence_issuer::jws::{IssuerKey, Kid};
use credence_issuer::sd_jwt::{self, Decoys, SdJwtVcRequest, Vct};
use credence_registry::did::Did;
use credence_registry::keys::{KeyType, PublicKey, SecretKey};
use credence_wallet::credentials::{CheckUnavailable, CheckVerdict, CredentialCheck, SdJwtVc};
use credence_wallet::holder::HolderKey;
use credence_wallet::{KdfParams, Passphrase, Wallet};
use serde_json::json;
use tempfile::TempDir;

/// The credential type the tests issue.
pub(crate) const LICENCE: &str = "https://credence.example/types/business-licence";

/// 2026-01-01T00:00:00Z.
pub(crate) fn now() -> DateTime<Utc> {
    Utc.timestamp_opt(1_767_225_600, 0).single().expect("time")
}

pub(crate) fn passphrase() -> Passphrase {
    Passphrase::new("correct horse battery staple")
}

/// A new wallet in a temporary directory (cheap KDF parameters: tests only).
pub(crate) fn new_wallet() -> (TempDir, PathBuf, Wallet) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("wallet.db");
    let wallet =
        Wallet::create(&path, &passphrase(), KdfParams::INSECURE_FOR_TESTS).expect("create");
    (dir, path, wallet)
}

/// The credential check double: accepts everything, or refuses with a reason.
pub(crate) enum Check {
    Accept,
    Refuse(&'static str),
    Unavailable,
}

impl CredentialCheck for Check {
    fn check(
        &self,
        _credential: &SdJwtVc,
        _now: DateTime<Utc>,
    ) -> Result<CheckVerdict, CheckUnavailable> {
        match self {
            Self::Accept => Ok(CheckVerdict::Valid),
            Self::Refuse(reason) => Ok(CheckVerdict::Invalid {
                step: "signature".into(),
                reason: (*reason).into(),
            }),
            Self::Unavailable => Err(CheckUnavailable("registry did not answer".into())),
        }
    }
}

/// A fresh issuer whose DID is its own did:key.
pub(crate) fn issuer_key() -> IssuerKey {
    let secret = SecretKey::generate(KeyType::P256);
    let public = secret.public();
    let did = Did::parse(&public.to_did_key()).expect("did:key");
    let kid = Kid::parse(&format!("{did}#{}", public.to_multikey())).expect("kid");
    IssuerKey::for_issuer(secret, kid, &did).expect("issuer key")
}

/// The eight selectively disclosable claims of the test licence, as JSON Pointers. `/address`
/// and two of its members are disclosable (recursive Disclosures, RFC 9901 §6.3); `country` is
/// always disclosed.
pub(crate) const DISCLOSABLE: [&str; 8] = [
    "/company_name",
    "/licence_status",
    "/registration_number",
    "/legal_form",
    "/founded",
    "/address",
    "/address/street",
    "/address/locality",
];

/// Issues a business licence bound to `holder`, with the real issuer library.
pub(crate) fn issue_licence(issuer: &IssuerKey, holder: &PublicKey) -> String {
    let claims = Claims::from_value(json!({
        "company_name": "Example Trading Ltd",
        "licence_status": "active",
        "registration_number": "91310000MA1K4XXXX",
        "legal_form": "limited liability company",
        "founded": "2019-03-14",
        "address": {
            "street": "88 Century Avenue",
            "locality": "Shanghai",
            "country": "CN"
        },
        "country": "CN"
    }))
    .expect("claims");
    let request = SdJwtVcRequest {
        vct: Vct::parse(LICENCE).expect("vct"),
        holder: holder.clone(),
        status: None,
        not_before: None,
        expires: None,
        claims,
        disclosable: DISCLOSABLE
            .iter()
            .map(|path| IssuerPath::parse(path).expect("path"))
            .collect(),
        decoys: Decoys::default(),
    };
    sd_jwt::issue(issuer, &request, now())
        .expect("issue")
        .to_compact()
}

/// Stores `copies` copies of a licence, each bound to a fresh holder key.
pub(crate) fn store_copies(
    wallet: &mut Wallet,
    issuer: &IssuerKey,
    key_type: KeyType,
    copies: usize,
) -> Vec<HolderKey> {
    let keys = wallet.new_holder_keys(key_type, copies).expect("keys");
    for key in &keys {
        let compact = issue_licence(issuer, &key.public);
        wallet
            .store_credential(&compact, &key.id, &Check::Accept, now())
            .expect("store");
    }
    keys
}

/// Runs `scripts/jose_interop.py` (jwcrypto, an independent JOSE implementation): `command` is
/// `encrypt` (with the protected `header`) or `decrypt`, `jwk` the key, `input` stdin. `None`
/// when python3 or jwcrypto is missing (the interop half is then skipped, and says so).
pub(crate) fn jwcrypto(
    command: &str,
    jwk: &serde_json::Value,
    header: Option<&serde_json::Value>,
    input: &[u8],
) -> Option<Result<Vec<u8>, String>> {
    use std::io::Write as _;
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/jose_interop.py");
    let mut args = vec![script.to_owned(), command.to_owned(), jwk.to_string()];
    args.extend(header.map(ToString::to_string));
    let required = std::env::var_os("CREDENCE_REQUIRE_INTEROP").is_some();
    let Ok(mut child) = std::process::Command::new("python3")
        .args(&args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
    else {
        assert!(
            !required,
            "CREDENCE_REQUIRE_INTEROP is set but python3 is missing"
        );
        eprintln!("note: python3 not found; jwcrypto interop skipped");
        return None;
    };
    child.stdin.take()?.write_all(input).ok()?;
    let output = child.wait_with_output().ok()?;
    match output.status.code() {
        Some(0) => Some(Ok(output.stdout)),
        Some(3) => {
            assert!(
                !required,
                "CREDENCE_REQUIRE_INTEROP is set but jwcrypto is missing"
            );
            eprintln!(
                "note: jwcrypto is not installed (python3 -m pip install jwcrypto); interop skipped"
            );
            None
        }
        _ => Some(Err(String::from_utf8_lossy(&output.stderr).into_owned())),
    }
}
