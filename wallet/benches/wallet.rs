//! The two costs a wallet user waits for, measured separately (issue 13, "Performance"):
//! - `open`: unlocking the wallet file with the shipped Argon2id parameters
//!   (`KdfParams::PHONE`: 64 MiB, t = 3, p = 1), dominated by the key derivation.
//! - `build presentation`: the presentation itself for 2 of the 8 selectively disclosable claims
//!   of an issuer-issued SD-JWT VC (Disclosures chosen, KB-JWT signed; pure). Target: well
//!   under 10 ms, excluding the network.
//! - `consent view` and `present and record` (decrypt, build, and write the history entry and
//!   copy use in one fsync'd transaction): the rest of what the user waits for, reported apart
//!   because a durable write costs what the disk's fsync costs.
//!
//! Run: `cargo bench -p credence-wallet --bench wallet -- --warm-up-time 1 --measurement-time 3`

use std::path::Path;

use chrono::{DateTime, TimeZone as _, Utc};
use credence_issuer::claims::{ClaimPath as IssuerPath, Claims};
use credence_issuer::jws::{IssuerKey, Kid};
use credence_issuer::sd_jwt::{self, Decoys, SdJwtVcRequest, Vct};
use credence_registry::did::Did;
use credence_registry::keys::{KeyType, SecretKey};
use credence_wallet::credentials::{
    CheckUnavailable, CheckVerdict, ClaimPath, CredentialCheck, SdJwtVc,
};
use credence_wallet::present::{
    self, ClientId, Nonce, PresentationRequest, RequestSignature, RequestedClaim, Verifier,
};
use credence_wallet::{KdfParams, Passphrase, Wallet};
use criterion::{Criterion, criterion_group, criterion_main};
use serde_json::json;

const LICENCE: &str = "https://credence.example/types/business-licence";

struct AcceptAll;

impl CredentialCheck for AcceptAll {
    fn check(&self, _: &SdJwtVc, _: DateTime<Utc>) -> Result<CheckVerdict, CheckUnavailable> {
        Ok(CheckVerdict::Valid)
    }
}

fn now() -> DateTime<Utc> {
    Utc.timestamp_opt(1_767_225_600, 0).single().expect("time")
}

fn issuer_key() -> IssuerKey {
    let secret = SecretKey::generate(KeyType::P256);
    let public = secret.public();
    let did = Did::parse(&public.to_did_key()).expect("did:key");
    let kid = Kid::parse(&format!("{did}#{}", public.to_multikey())).expect("kid");
    IssuerKey::for_issuer(secret, kid, &did).expect("issuer key")
}

/// A wallet at `path` holding one licence with 8 disclosable claims, bound to `secret`.
fn wallet_with_licence(path: &Path, params: KdfParams, secret: &SecretKey) -> Wallet {
    let mut wallet =
        Wallet::create(path, &Passphrase::new("bench passphrase"), params).expect("create");
    let holder = wallet.import_holder_key(secret).expect("holder key");
    let claims = Claims::from_value(json!({
        "company_name": "Example Trading Ltd",
        "licence_status": "active",
        "registration_number": "91310000MA1K4XXXX",
        "legal_form": "limited liability company",
        "founded": "2019-03-14",
        "address": {"street": "88 Century Avenue", "locality": "Shanghai", "country": "CN"},
        "country": "CN"
    }))
    .expect("claims");
    let request = SdJwtVcRequest {
        vct: Vct::parse(LICENCE).expect("vct"),
        holder: holder.public.clone(),
        status: None,
        not_before: None,
        expires: None,
        claims,
        disclosable: [
            "/company_name",
            "/licence_status",
            "/registration_number",
            "/legal_form",
            "/founded",
            "/address",
            "/address/street",
            "/address/locality",
        ]
        .iter()
        .map(|p| IssuerPath::parse(p).expect("path"))
        .collect(),
        decoys: Decoys::default(),
    };
    let compact = sd_jwt::issue(&issuer_key(), &request, now())
        .expect("issue")
        .to_compact();
    wallet
        .store_credential(&compact, &holder.id, &AcceptAll, now())
        .expect("store");
    wallet
}

fn request() -> PresentationRequest {
    PresentationRequest {
        verifier: Verifier {
            client_id: ClientId::parse("https://bank.example").expect("client id"),
            display_name: Some("Example Bank".into()),
            request_signature: RequestSignature::Verified,
        },
        purpose: None,
        nonce: Nonce::parse("n-0S6_WzA2Mj").expect("nonce"),
        vct: LICENCE.into(),
        claims: ["/company_name", "/licence_status"]
            .iter()
            .map(|p| RequestedClaim {
                path: ClaimPath::parse(p).expect("path"),
                optional: false,
            })
            .collect(),
    }
}

fn open(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("wallet.db");
    let secret = SecretKey::generate(KeyType::Ed25519);
    drop(wallet_with_licence(&path, KdfParams::PHONE, &secret));
    let passphrase = Passphrase::new("bench passphrase");
    let mut group = c.benchmark_group("wallet");
    group.sample_size(10);
    group.bench_function("open (Argon2id m=64MiB t=3 p=1)", |b| {
        b.iter(|| Wallet::open(&path, &passphrase).expect("open"))
    });
    group.finish();
}

fn present(c: &mut Criterion) {
    let mut group = c.benchmark_group("wallet");
    for key_type in [KeyType::Ed25519, KeyType::P256] {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("wallet.db");
        let secret = SecretKey::generate(key_type);
        // The KDF is not what this measures: cheap parameters keep setup short.
        let mut wallet = wallet_with_licence(&path, KdfParams::INSECURE_FOR_TESTS, &secret);
        let chosen = [
            ClaimPath::parse("/company_name").expect("path"),
            ClaimPath::parse("/licence_status").expect("path"),
        ];
        let view = wallet.prepare_presentation(request()).expect("view");
        let credential = wallet.credential(view.credential()).expect("credential");

        // The presentation itself: Disclosures chosen, KB-JWT signed. Pure, no I/O.
        group.bench_function(
            format!("build presentation 2 of 8 + KB-JWT ({key_type})"),
            |b| {
                let consent = view.consent(chosen.clone()).expect("consent");
                b.iter(|| present::build(&credential, &secret, &consent, now()).expect("build"))
            },
        );
        // The consent view: pick the copy for this verifier, decrypt and parse the credential.
        group.bench_function(format!("consent view ({key_type})"), |b| {
            b.iter(|| wallet.prepare_presentation(request()).expect("view"))
        });
        // What the user waits for after consenting: decrypt, build, and record the history
        // entry and copy use in one fsync'd transaction.
        group.bench_function(format!("present and record ({key_type})"), |b| {
            b.iter(|| {
                let consent = view.consent(chosen.clone()).expect("consent");
                wallet.present(&consent, now()).expect("present")
            })
        });
    }
    group.finish();
}

criterion_group!(benches, open, present);
criterion_main!(benches);
