//! Presentations: only the chosen claims leave the wallet, the key-binding JWT verifies under
//! the `cnf` key with the verifier's `aud` and `nonce` and the right `sd_hash`, consent is
//! required, copies keep relying parties apart, and every disclosure is in the history.

use std::collections::BTreeSet;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use credence_registry::keys::{KeyType, PublicKey};
use credence_wallet::credentials::ClaimPath;
use credence_wallet::history::VerifierAnswer;
use credence_wallet::holder::CopyReason;
use credence_wallet::present::{
    ClientId, ConsentError, Nonce, Presentation, PresentationRequest, RequestSignature,
    RequestedClaim, Verifier,
};
use credence_wallet::{Wallet, WalletError};
use sd_jwt_payload::{SdJwt, Sha256Hasher};
use serde_json::{Map, Value};
use sha2::{Digest as _, Sha256};

use crate::{LICENCE, issuer_key, new_wallet, now, store_copies};

const NONCE: &str = "n-0S6_WzA2Mj";

fn path(pointer: &str) -> ClaimPath {
    ClaimPath::parse(pointer).expect("path")
}

/// A request from `client_id` for `required` and `optional` claims of the licence.
fn request(client_id: &str, required: &[&str], optional: &[&str]) -> PresentationRequest {
    PresentationRequest {
        verifier: Verifier {
            client_id: ClientId::parse(client_id).expect("client id"),
            display_name: Some("Example Bank".into()),
            request_signature: RequestSignature::Verified,
        },
        purpose: Some("Open a business account".into()),
        nonce: Nonce::parse(NONCE).expect("nonce"),
        vct: LICENCE.into(),
        claims: required
            .iter()
            .map(|p| RequestedClaim {
                path: path(p),
                optional: false,
            })
            .chain(optional.iter().map(|p| RequestedClaim {
                path: path(p),
                optional: true,
            }))
            .collect(),
    }
}

/// Presents company name and status to `client_id` (consenting to both).
pub(crate) fn present_two_claims(wallet: &mut Wallet, client_id: &str) -> Presentation {
    present(wallet, client_id, &["/company_name", "/licence_status"])
}

fn present(wallet: &mut Wallet, client_id: &str, chosen: &[&str]) -> Presentation {
    let view = wallet
        .prepare_presentation(request(client_id, &[], chosen))
        .expect("view");
    let consent = view
        .consent(chosen.iter().map(|p| path(p)))
        .expect("consent");
    wallet.present(&consent, now()).expect("present").0
}

/// What an independent implementation sees: the claims `sd-jwt-payload` reveals (registered
/// ones removed) and the claim names of the Disclosures presented.
fn reveal(compact: &str) -> (Map<String, Value>, Vec<String>) {
    let sd_jwt = SdJwt::parse(compact).expect("sd-jwt-payload parses the presentation");
    let names = sd_jwt
        .disclosures()
        .iter()
        .map(|d| {
            d.claim_name
                .clone()
                .unwrap_or_else(|| "[array element]".into())
        })
        .collect();
    let mut revealed = sd_jwt
        .into_disclosed_object(&Sha256Hasher::new())
        .expect("sd-jwt-payload reveals the claims");
    for registered in ["iss", "iat", "vct", "cnf", "_sd_alg"] {
        revealed.remove(registered);
    }
    (revealed, names)
}

/// Checks the KB-JWT with `jsonwebtoken` under `holder`, and its claims.
fn check_key_binding(compact: &str, holder: &PublicKey, client_id: &str) {
    let (presented, kb_jwt) = compact.rsplit_once('~').expect("KB-JWT");
    let header = jsonwebtoken::decode_header(kb_jwt).expect("KB-JWT header");
    assert_eq!(header.typ.as_deref(), Some("kb+jwt"));
    let jwk: jsonwebtoken::jwk::Jwk = serde_json::from_value(holder.to_jwk()).expect("JWK");
    let key = jsonwebtoken::DecodingKey::from_jwk(&jwk).expect("key");
    let mut validation = jsonwebtoken::Validation::new(header.alg);
    validation.required_spec_claims.clear();
    validation.validate_exp = false;
    validation.set_audience(&[client_id]);
    let claims = jsonwebtoken::decode::<Value>(kb_jwt, &key, &validation)
        .expect("KB-JWT verifies under the cnf key with the verifier's aud")
        .claims;
    assert_eq!(claims["nonce"], NONCE);
    assert_eq!(claims["iat"], now().timestamp());
    let expected_hash = URL_SAFE_NO_PAD.encode(Sha256::digest(format!("{presented}~").as_bytes()));
    assert_eq!(
        claims["sd_hash"],
        expected_hash.as_str(),
        "sd_hash over the presentation up to the last ~"
    );
    // The issuer JWT's cnf is the key the KB-JWT verified under.
    let issuer_jwt = compact.split('~').next().expect("issuer JWT");
    let payload: Value = serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(issuer_jwt.split('.').nth(1).expect("payload"))
            .expect("base64url"),
    )
    .expect("JSON");
    assert_eq!(payload["cnf"]["jwk"], holder.to_jwk());
}

#[test]
fn two_of_eight_claims_presented_and_checked_independently() {
    for key_type in [KeyType::Ed25519, KeyType::P256] {
        let (_dir, _path, mut wallet) = new_wallet();
        let issuer = issuer_key();
        let keys = store_copies(&mut wallet, &issuer, key_type, 1);
        let presentation = present_two_claims(&mut wallet, "https://bank.example");

        let (revealed, names) = reveal(presentation.compact());
        let mut names = names;
        names.sort();
        assert_eq!(
            names,
            ["company_name", "licence_status"],
            "{key_type}: exactly two Disclosures"
        );
        let keys_revealed: BTreeSet<&str> = revealed.keys().map(String::as_str).collect();
        assert_eq!(
            keys_revealed,
            BTreeSet::from(["company_name", "licence_status", "country"]),
            "{key_type}: the two claims and the one that is always disclosed"
        );
        assert_eq!(revealed["company_name"], "Example Trading Ltd");
        check_key_binding(
            presentation.compact(),
            &keys[0].public,
            "https://bank.example",
        );
    }
}

#[test]
fn a_presentation_never_holds_an_unchosen_claim() {
    // (chosen, claims an independent implementation must reveal besides `country`)
    let cases: [(&[&str], &[&str]); 7] = [
        (&[], &[]),
        (&["/licence_status"], &["licence_status"]),
        (
            &["/company_name", "/licence_status"],
            &["company_name", "licence_status"],
        ),
        (&["/address"], &["address", "address/country"]),
        (
            &["/address/locality"],
            &["address", "address/country", "address/locality"],
        ),
        (
            &["/address/street", "/founded"],
            &["address", "address/country", "address/street", "founded"],
        ),
        (
            &[
                "/company_name",
                "/licence_status",
                "/registration_number",
                "/legal_form",
                "/founded",
                "/address",
                "/address/street",
                "/address/locality",
            ],
            &[
                "company_name",
                "licence_status",
                "registration_number",
                "legal_form",
                "founded",
                "address",
                "address/country",
                "address/street",
                "address/locality",
            ],
        ),
    ];
    let (_dir, _path, mut wallet) = new_wallet();
    let issuer = issuer_key();
    store_copies(&mut wallet, &issuer, KeyType::Ed25519, 1);
    for (chosen, expected) in cases {
        let presentation = present(&mut wallet, "https://bank.example", chosen);
        let (revealed, _) = reveal(presentation.compact());
        let mut seen: BTreeSet<String> = BTreeSet::new();
        for (name, value) in &revealed {
            if name != "country" {
                seen.insert(name.clone());
            }
            if let Value::Object(members) = value {
                seen.extend(members.keys().map(|member| format!("{name}/{member}")));
            }
        }
        let expected: BTreeSet<String> = expected.iter().map(|s| s.to_string()).collect();
        assert_eq!(seen, expected, "chosen {chosen:?}");
    }
}

#[test]
fn consent_is_a_subset_of_the_view_with_every_required_claim() {
    let (_dir, _path, mut wallet) = new_wallet();
    let issuer = issuer_key();
    store_copies(&mut wallet, &issuer, KeyType::Ed25519, 1);
    let view = wallet
        .prepare_presentation(request(
            "https://bank.example",
            &["/company_name"],
            &["/licence_status"],
        ))
        .expect("view");
    assert_eq!(
        view.verifier().display_name.as_deref(),
        Some("Example Bank")
    );
    assert_eq!(view.purpose(), Some("Open a business account"));
    let shown: Vec<(String, bool)> = view
        .requested()
        .iter()
        .map(|item| (item.path.to_string(), item.optional))
        .collect();
    assert_eq!(
        shown,
        [
            ("/company_name".into(), false),
            ("/licence_status".into(), true)
        ]
    );
    assert_eq!(view.always_disclosed(), [path("/country")]);

    fn check(result: Result<(), ConsentError>, expected: Result<(), ConsentError>) {
        assert_eq!(result, expected);
    }
    check(view.consent([path("/company_name")]).map(drop), Ok(()));
    check(
        view.consent([path("/company_name"), path("/founded")])
            .map(drop),
        Err(ConsentError::NotRequested(path("/founded"))),
    );
    check(
        view.consent([path("/licence_status")]).map(drop),
        Err(ConsentError::RequiredNotChosen(path("/company_name"))),
    );

    let missing = wallet.prepare_presentation(request("https://bank.example", &["/tax_id"], &[]));
    assert!(matches!(
        missing,
        Err(WalletError::Consent(ConsentError::MissingClaim(ref p))) if *p == path("/tax_id")
    ));
    let mut other_type = request("https://bank.example", &["/company_name"], &[]);
    other_type.vct = "https://credence.example/types/degree".into();
    assert!(matches!(
        wallet.prepare_presentation(other_type),
        Err(WalletError::NothingMatches(_))
    ));
}

#[test]
fn relying_parties_get_different_copies_and_keys() {
    let (_dir, _path, mut wallet) = new_wallet();
    let issuer = issuer_key();
    let keys = store_copies(&mut wallet, &issuer, KeyType::P256, 2);
    assert_eq!(wallet.copies_for(LICENCE).expect("copies").len(), 2);

    let bank = ClientId::parse("https://bank.example").expect("id");
    let shop = ClientId::parse("https://shop.example").expect("id");
    let first = present_two_claims(&mut wallet, bank.as_str());
    let second = present_two_claims(&mut wallet, shop.as_str());
    assert_ne!(first.credential(), second.credential(), "two copies");
    let key_of = |presentation: &Presentation| {
        let credential = wallet
            .credential(presentation.credential())
            .expect("credential");
        credential.holder_key().clone()
    };
    assert_ne!(key_of(&first), key_of(&second), "two holder keys");
    let cnf = |presentation: &Presentation| {
        let jwt = presentation
            .compact()
            .split('~')
            .next()
            .expect("jwt")
            .to_owned();
        jwt.split('.').nth(1).expect("payload").to_owned()
    };
    assert_ne!(cnf(&first), cnf(&second), "two issuer JWTs");
    for (presentation, client) in [(&first, &bank), (&second, &shop)] {
        let holder = keys
            .iter()
            .find(|key| key.id == key_of(presentation))
            .expect("key");
        check_key_binding(presentation.compact(), &holder.public, client.as_str());
    }

    let choice = wallet.pick_copy(LICENCE, &bank).expect("pick");
    assert_eq!(
        (&choice.credential, choice.reason),
        (first.credential(), CopyReason::ShownBefore)
    );
    let third = ClientId::parse("https://third.example").expect("id");
    assert_eq!(
        wallet.pick_copy(LICENCE, &third).expect("pick").reason,
        CopyReason::Reused
    );
    let shown: BTreeSet<ClientId> = wallet
        .copies_for(LICENCE)
        .expect("copies")
        .into_iter()
        .flat_map(|copy| copy.shown_to)
        .collect();
    assert_eq!(shown, BTreeSet::from([bank, shop]));
}

#[test]
fn every_disclosure_is_in_the_history_with_the_answer() {
    let (_dir, path_to_file, mut wallet) = new_wallet();
    let issuer = issuer_key();
    store_copies(&mut wallet, &issuer, KeyType::Ed25519, 1);
    let view = wallet
        .prepare_presentation(request(
            "https://bank.example",
            &["/company_name", "/address/locality"],
            &[],
        ))
        .expect("view");
    let consent = view
        .consent([path("/company_name"), path("/address/locality")])
        .expect("consent");
    let (presentation, id) = wallet.present(&consent, now()).expect("present");
    present(&mut wallet, "https://shop.example", &["/licence_status"]);
    wallet
        .record_answer(&id, VerifierAnswer::Accepted)
        .expect("answer");
    drop(wallet);

    let wallet = Wallet::open(&path_to_file, &crate::passphrase()).expect("open");
    let history = wallet.history().expect("history");
    assert_eq!(history.len(), 2);
    let entry = history.iter().find(|entry| entry.id == id).expect("entry");
    assert_eq!(entry.client_id.as_str(), "https://bank.example");
    assert_eq!(entry.verifier_name.as_deref(), Some("Example Bank"));
    assert_eq!(&entry.credential, presentation.credential());
    assert_eq!(
        entry.claims,
        [path("/address/locality"), path("/company_name")]
    );
    let disclosed: BTreeSet<ClaimPath> = entry.disclosed.iter().cloned().collect();
    let expected = [
        "/company_name",
        "/country",
        "/address",
        "/address/country",
        "/address/locality",
    ];
    assert_eq!(
        disclosed,
        expected.into_iter().map(path).collect(),
        "chosen, parents, always"
    );
    assert_eq!(entry.answer, VerifierAnswer::Accepted);
    assert_eq!(entry.at, now());
    let other = history.iter().find(|entry| entry.id != id).expect("other");
    assert_eq!(other.answer, VerifierAnswer::Pending);
}

#[test]
fn claim_paths_are_json_pointers() {
    fn check(pointer: &str, segments: Option<&[&str]>) {
        let parsed = ClaimPath::parse(pointer);
        assert_eq!(
            parsed.as_ref().map(|p| p.segments().to_vec()),
            segments.map(|s| s.iter().map(|s| s.to_string()).collect()),
            "{pointer:?}"
        );
        if let Some(parsed) = parsed {
            assert_eq!(parsed.to_string(), pointer, "round trip");
        }
    }
    check("/company_name", Some(&["company_name"]));
    check("/address/locality", Some(&["address", "locality"]));
    check("/nationalities/0", Some(&["nationalities", "0"]));
    check("/a~1b/c~0d", Some(&["a/b", "c~d"]));
    check("company_name", None);
    check("", None);
}
