//! Test fixtures: a small test-only SD-JWT VC builder (signing with the base crate's
//! `SecretKey`, so no issuer crate is involved), key-binding JWTs, a did:key context without a
//! registry, a real registry on loopback, and the assertions every table uses.

use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Duration, TimeZone as _, Utc};
use credence_registry::client::{RegistryClient, plain_http_client};
use credence_registry::clock::{Clock, ManualTime};
use credence_registry::did::Did;
use credence_registry::keys::{KeyType, SecretKey};
use credence_registry::resolver::{CredenceSource, Resolver};
use credence_registry::{signed, status};
use credence_registry_server::AppOptions;
use credence_registry_server::store::{self, WriteLimits};
use credence_verifier::{Context, Defect, Expectations, Outcome, Report, Step, Verdict};
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};
use ssi_status::token_status_list::{BitString, StatusSize};

pub(crate) const NONCE: &str = "n-0S6_WzA2Mj";
pub(crate) const AUDIENCE: &str = "https://verifier.example/client";
pub(crate) const VCT: &str = "https://credence.example/vct/business-licence";

/// The time the tests verify at.
pub(crate) fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap()
}

pub(crate) fn b64(bytes: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// An encoded Disclosure and its digest (RFC 9901 §4.2.1-4.2.3).
pub(crate) fn disclosure(name: Option<&str>, value: Value) -> (String, String) {
    let array = match name {
        Some(name) => json!(["c2FsdHNhbHRzYWx0", name, value]),
        None => json!(["c2FsdHNhbHRzYWx0", value]),
    };
    // Distinct salts per Disclosure, so equal claims get distinct digests.
    let salted = array
        .to_string()
        .replacen("c2FsdHNhbHRzYWx0", &b64(rand_bytes()), 1);
    let encoded = b64(salted);
    let digest = b64(Sha256::digest(encoded.as_bytes()));
    (encoded, digest)
}

fn rand_bytes() -> [u8; 16] {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let digest = Sha256::digest(n.to_be_bytes());
    let mut out = [0u8; 16];
    out.copy_from_slice(&digest[..16]);
    out
}

/// An issuer: a key and the DID URL naming it.
pub(crate) struct Issuer {
    pub(crate) key: SecretKey,
    pub(crate) did: String,
    pub(crate) kid: String,
}

impl Issuer {
    /// A did:key issuer.
    pub(crate) fn did_key(key_type: KeyType) -> Self {
        let key = SecretKey::generate(key_type);
        let did = key.public().to_did_key();
        let kid = format!("{did}#{}", key.public().to_multikey());
        Self { key, did, kid }
    }

    /// A did:jwk issuer.
    pub(crate) fn did_jwk(key_type: KeyType) -> Self {
        let key = SecretKey::generate(key_type);
        let did = format!("did:jwk:{}", b64(key.public().to_jwk().to_string()));
        let kid = format!("{did}#0");
        Self { key, did, kid }
    }
}

/// An unsigned credential: header, payload and the Disclosures issued with it.
#[derive(Clone)]
pub(crate) struct Unsigned {
    pub(crate) header: Value,
    pub(crate) payload: Value,
    pub(crate) disclosures: Vec<String>,
}

/// The standard test credential: 8 Disclosures (five top-level claims, `address` with a
/// recursively disclosable `locality`, two `nationalities` elements), bound to `holder`,
/// issued an hour before [`now`], valid for a year.
pub(crate) fn standard(issuer: &Issuer, holder: &SecretKey, iat: DateTime<Utc>) -> Unsigned {
    let mut disclosures = Vec::new();
    let mut sd = Vec::new();
    let add = |name: Option<&str>, value: Value, disclosures: &mut Vec<String>| {
        let (encoded, digest) = disclosure(name, value);
        disclosures.push(encoded);
        digest
    };
    for (name, value) in [
        ("given_name", json!("Erika")),
        ("family_name", json!("Mustermann")),
        ("birthdate", json!("1963-08-12")),
        ("email", json!("erika@example.org")),
    ] {
        sd.push(add(Some(name), value, &mut disclosures));
    }
    let locality = add(Some("locality"), json!("Berlin"), &mut disclosures);
    sd.push(add(
        Some("address"),
        json!({"country": "DE", "_sd": [locality]}),
        &mut disclosures,
    ));
    let de = add(None, json!("DE"), &mut disclosures);
    let fr = add(None, json!("FR"), &mut disclosures);
    sd.sort();
    Unsigned {
        header: json!({"alg": issuer.key.public().algorithm().name(), "typ": "dc+sd-jwt", "kid": issuer.kid}),
        payload: json!({
            "iss": issuer.did,
            "iat": iat.timestamp(),
            "exp": (iat + Duration::days(365)).timestamp(),
            "vct": VCT,
            "cnf": {"jwk": holder.public().to_jwk()},
            "_sd_alg": "sha-256",
            "_sd": sd,
            "company": "Example GmbH",
            "nationalities": [{"...": de}, {"...": fr}],
        }),
        disclosures,
    }
}

/// A compact JWS of `header` and `payload` as given (serialized by serde_json), signed by `key`.
pub(crate) fn sign(header: &Value, payload: &Value, key: &SecretKey) -> String {
    sign_raw(&header.to_string(), &payload.to_string(), key)
}

/// A compact JWS of the exact header and payload texts (for duplicate-member cases).
pub(crate) fn sign_raw(header: &str, payload: &str, key: &SecretKey) -> String {
    let input = format!("{}.{}", b64(header), b64(payload));
    let signature = key.sign_raw(input.as_bytes());
    format!("{input}.{}", b64(signature))
}

impl Unsigned {
    pub(crate) fn sign(&self, key: &SecretKey) -> String {
        sign(&self.header, &self.payload, key)
    }
}

/// What a key-binding JWT says.
pub(crate) struct Kb<'a> {
    pub(crate) key: &'a SecretKey,
    pub(crate) nonce: &'a str,
    pub(crate) audience: &'a str,
    pub(crate) iat: DateTime<Utc>,
    pub(crate) typ: &'a str,
    /// `None`: the right one.
    pub(crate) sd_hash: Option<String>,
}

impl<'a> Kb<'a> {
    pub(crate) fn new(key: &'a SecretKey) -> Self {
        Self {
            key,
            nonce: NONCE,
            audience: AUDIENCE,
            iat: now() - Duration::seconds(10),
            typ: "kb+jwt",
            sd_hash: None,
        }
    }
}

/// `<jwt>~<d1>~...~` plus the KB-JWT, if any.
pub(crate) fn present(jwt: &str, disclosures: &[String], kb: Option<Kb<'_>>) -> String {
    let mut out = format!("{jwt}~");
    for d in disclosures {
        out.push_str(d);
        out.push('~');
    }
    if let Some(kb) = kb {
        let sd_hash = kb
            .sd_hash
            .unwrap_or_else(|| b64(Sha256::digest(out.as_bytes())));
        out.push_str(&sign(
            &json!({"alg": kb.key.public().algorithm().name(), "typ": kb.typ}),
            &json!({"nonce": kb.nonce, "aud": kb.audience, "iat": kb.iat.timestamp(), "sd_hash": sd_hash}),
            kb.key,
        ));
    }
    out
}

/// A verifier context with no registry: did:key and did:jwk issuers only.
pub(crate) fn offline_context() -> Context {
    Context::new(
        Resolver::new(CredenceSource::Disabled, Default::default()),
        None,
        credence_registry::client::plain_http_client().expect("http client"),
    )
}

pub(crate) fn expectations() -> Expectations {
    Expectations::presentation(now(), NONCE, AUDIENCE)
}

/// Verifies `presentation` and returns the report.
pub(crate) async fn verify(
    context: &Context,
    presentation: &[u8],
    expectations: &Expectations,
) -> Report {
    credence_verifier::verify_sd_jwt_vc(presentation, expectations, context)
        .await
        .expect("expectations are valid")
}

/// Asserts that the report's first failure is at `step` and matches `defect`.
#[track_caller]
pub(crate) fn assert_failed(
    report: &Report,
    step: Step,
    defect: impl Fn(&Defect) -> bool,
    case: &str,
) {
    assert_eq!(report.verdict(), Verdict::Invalid, "{case}:\n{report}");
    let (failed, found) = report.first_failure().expect("a failure");
    assert_eq!(failed, step, "{case}: failed at the wrong step:\n{report}");
    assert!(defect(found), "{case}: wrong reason {found:?}:\n{report}");
    // Nothing after a failure is reported as passed on the presenter's word.
    assert!(!found.to_string().is_empty());
}

/// Asserts every step passed except those listed with their expected outcome kind.
#[track_caller]
pub(crate) fn assert_valid(report: &Report, not_checked: &[Step], case: &str) {
    assert_eq!(report.verdict(), Verdict::Valid, "{case}:\n{report}");
    for step in Step::ALL {
        let outcome = report.outcome(step);
        if not_checked.contains(&step) {
            assert!(
                matches!(outcome, Outcome::NotChecked(_)),
                "{case}: {step}:\n{report}"
            );
        } else {
            assert_eq!(outcome, &Outcome::Passed, "{case}: {step}:\n{report}");
        }
    }
    assert!(report.valid_claims().is_some());
}

/// When the registry's story starts: two hours before the tests verify.
pub(crate) fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 10, 0, 0).unwrap()
}

/// A registry on loopback.
pub(crate) struct Registry {
    pub(crate) base: String,
    pub(crate) client: RegistryClient,
    pub(crate) time: ManualTime,
    _dir: tempfile::TempDir,
}

pub(crate) async fn start_registry(anchors: Vec<Did>) -> Registry {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("registry.db").display());
    let store = store::open(&url).await.unwrap();
    let (clock, time) = Clock::manual(t0());
    let signer = credence_registry::log::CheckpointSigner::from_private_key(include_str!(
        "../../../registry/server/testdata/log-signing.key"
    ))
    .unwrap();
    let app = credence_registry_server::app(
        store,
        AppOptions {
            registry_prefix: "/registry",
            limits: WriteLimits::default(),
            web: Default::default(),
            log_signer: Arc::new(signer),
            witnesses: Vec::new(),
            trust_anchors: anchors,
            clock,
            checkpoint_interval: std::time::Duration::from_secs(1),
        },
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(credence_registry_server::serve(
        listener,
        app,
        std::future::pending(),
    ));
    let client = RegistryClient::new(&format!("{base}/registry")).unwrap();
    Registry {
        base,
        client,
        time,
        _dir: dir,
    }
}

pub(crate) fn context(registry: &Registry) -> Context {
    Context::new(
        Resolver::new(
            CredenceSource::Remote(registry.client.clone()),
            Default::default(),
        ),
        Some(registry.client.clone()),
        plain_http_client().unwrap(),
    )
}

pub(crate) fn kid(did: &Did) -> String {
    format!("{did}#{}", credence_registry::owner::SIGNING_FRAGMENT)
}

/// A 2-bit Token Status List with the given statuses set, signed by `key` as issued at `iat`.
pub(crate) fn status_list(
    issuer: &Did,
    key: &SecretKey,
    uri: &str,
    iat: DateTime<Utc>,
    set: &[(usize, u8)],
) -> String {
    let mut list = BitString::new_zeroed(
        StatusSize::try_from(2u8).unwrap(),
        status::MIN_ENTRIES as usize,
    );
    for &(index, value) in set {
        list.set(index, value).unwrap();
    }
    let payload = status::token_status_list_payload(issuer, uri, iat, 600, &list);
    signed::sign_typed(&payload, key, &kid(issuer), Some("statuslist+jwt"))
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
