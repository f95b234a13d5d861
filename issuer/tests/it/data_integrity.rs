//! Data Integrity `eddsa-rdfc-2022` (`ldp_vc`): the W3C vc-di-eddsa test vector reproduced
//! byte for byte (`issuer/testdata/vc-di-eddsa/`, w3c/vc-di-eddsa @ abb673e `TestVectors/`),
//! and our credentials checked with ssi's verifier (bundled contexts only, the issuer's key
//! given as a Multikey), tampered copies refused.

use std::collections::HashMap;

use chrono::{DateTime, Duration, Utc};
use credence_issuer::claims::Claims;
use credence_issuer::data_integrity::{
    self, CRYPTOSUITE, DataIntegrityError, Vocabulary, canonical_nquads,
};
use credence_issuer::jws::{IssuerKey, Kid};
use credence_issuer::status::{BitstringStatusEntry, StatusIndex, StatusListUri, StatusPurpose};
use credence_issuer::vc_jwt::{CredentialId, CredentialType, VcJwtRequest};
use credence_registry::did::Did;
use credence_registry::keys::{KeyType, PublicKey, SecretKey};
use serde_json::{Value, json};
use ssi_claims_core::VerificationParameters;
use ssi_verification_methods::{AnyMethod, VerificationMethod as _};

use crate::{issuer_key, now};

const VECTORS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/vc-di-eddsa");

fn vector(name: &str) -> String {
    std::fs::read_to_string(format!("{VECTORS}/{name}")).expect("test vector")
}

fn vector_json(name: &str) -> Value {
    serde_json::from_str(&vector(name)).expect("JSON test vector")
}

/// The vector's key pair: `privateKeyMultibase` is base58btc(0x8026 ed25519-priv || seed).
fn vector_key() -> (SecretKey, PublicKey) {
    let pair = vector_json("keyPair.json");
    let public = PublicKey::from_multikey(pair["publicKeyMultibase"].as_str().expect("public"))
        .expect("Ed25519 Multikey");
    let (_, private) =
        multibase::decode(pair["privateKeyMultibase"].as_str().expect("private")).expect("mb");
    assert_eq!(&private[..2], &[0x80, 0x26], "ed25519-priv multicodec");
    let mut jwk = public.to_jwk();
    jwk["d"] = json!(data_encoding::BASE64URL_NOPAD.encode(&private[2..]));
    let secret = SecretKey::from_private_jwk(&jwk.to_string()).expect("private key");
    assert_eq!(secret.public(), public, "the pair's halves match");
    (secret, public)
}

/// Verifies `document` with ssi (`AnyDataIntegrity`), the only key known being `public` under
/// `verification_method`, contexts from ssi's static loader, at `at`.
pub(crate) async fn ssi_verifies(
    document: &Value,
    verification_method: &str,
    public: &PublicKey,
    at: DateTime<Utc>,
) -> bool {
    let method: AnyMethod = serde_json::from_value(json!({
        "type": "Multikey",
        "id": verification_method,
        "controller": verification_method.split('#').next().expect("did"),
        "publicKeyMultibase": public.to_multikey(),
    }))
    .expect("Multikey");
    let mut methods = HashMap::new();
    methods.insert(method.id().to_owned(), method);
    let params = VerificationParameters {
        resolver: methods,
        json_ld_loader: ssi_json_ld::StaticLoader,
        eip712_types_loader: (),
        date_time: Some(at),
    };
    let secured: ssi_data_integrity::AnyDataIntegrity =
        serde_json::from_value(document.clone()).expect("a Data Integrity document");
    match secured.verify(params).await {
        Ok(verdict) => verdict.is_ok(),
        // "Could not check" (a bad proof value, say) is not "valid" either.
        Err(_) => false,
    }
}

#[tokio::test]
async fn signing_the_w3c_vector_reproduces_its_proof_byte_for_byte() {
    let (secret, public) = vector_key();
    let config = vector_json("eddsa-rdfc-2022/proofConfigDataInt.json");
    let expected = vector_json("eddsa-rdfc-2022/signedDataInt.json");
    let kid = Kid::parse(config["verificationMethod"].as_str().expect("vm")).expect("kid");
    let key = IssuerKey::new(secret, kid);
    let created = DateTime::parse_from_rfc3339(config["created"].as_str().expect("created"))
        .expect("time")
        .with_timezone(&Utc);

    let signed = data_integrity::sign(&key, vector_json("unsigned.json"), created)
        .await
        .expect("signed");
    assert_eq!(
        signed["proof"]["proofValue"], expected["proof"]["proofValue"],
        "{signed:#}"
    );
    assert_eq!(signed, expected);

    // The document's canonical form is the vector's, line for line.
    assert_eq!(
        canonical_nquads(&vector_json("unsigned.json"))
            .await
            .expect("canonical form"),
        vector("eddsa-rdfc-2022/canonDocDataInt.txt")
    );
    let at = created + Duration::days(1);
    assert!(ssi_verifies(&signed, key.kid().as_str(), &public, at).await);
}

#[tokio::test]
async fn the_published_vector_verifies_and_a_tampered_copy_does_not() {
    let (_, public) = vector_key();
    let signed = vector_json("eddsa-rdfc-2022/signedDataInt.json");
    let method = signed["proof"]["verificationMethod"]
        .as_str()
        .expect("vm")
        .to_owned();
    let at = DateTime::parse_from_rfc3339("2024-01-01T00:00:00Z")
        .expect("time")
        .with_timezone(&Utc);
    assert!(ssi_verifies(&signed, &method, &public, at).await);

    let mut tampered = signed.clone();
    tampered["credentialSubject"]["alumniOf"] = json!("The School of Forgeries");
    assert!(!ssi_verifies(&tampered, &method, &public, at).await);
    // Another key under the same verification method id does not verify it either.
    let stranger = SecretKey::generate(KeyType::Ed25519).public();
    assert!(!ssi_verifies(&signed, &method, &stranger, at).await);
}

fn licence_request(holder: &Did) -> VcJwtRequest {
    let list = StatusListUri::for_list(
        "https://registry.example/registry",
        &Did::parse("did:credence:issuer1").expect("did"),
        "list-1",
    )
    .expect("list uri");
    let entry = |purpose| BitstringStatusEntry {
        purpose,
        index: StatusIndex::new(4242),
        list: list.for_purpose(purpose),
    };
    VcJwtRequest {
        id: Some(CredentialId::parse("urn:uuid:3978344f-8596-4c3a-a978-8fcaba3903c5").expect("id")),
        credential_type: CredentialType::parse("https://credence.example/vct/business-licence")
            .expect("type"),
        holder: Some(holder.clone()),
        subject: Claims::from_value(json!({
            "companyName": "Acme Trading Ltd", "registrationNumber": "12345678",
            "address": {"city": "Springfield"}, "employees": 12}))
        .expect("claims"),
        valid_from: Some(now()),
        valid_until: Some(now() + Duration::days(365)),
        status: vec![
            entry(StatusPurpose::Revocation),
            entry(StatusPurpose::Suspension),
        ],
    }
}

fn vocabulary() -> Vocabulary {
    Vocabulary::for_type("https://credence.example/vct/business-licence").expect("vocabulary")
}

#[tokio::test]
async fn an_issued_credential_verifies_with_ssi_and_a_tampered_one_does_not() {
    let key = issuer_key(KeyType::Ed25519);
    let holder = SecretKey::generate(KeyType::P256).public().to_did_key();
    let holder = Did::parse(&holder).expect("holder did:key");
    let request = licence_request(&holder);
    let credential = data_integrity::issue(&key, &request, &vocabulary(), now())
        .await
        .expect("issued");

    // The document: the one vc+jwt signs, with the type's vocabulary after the base context.
    let mut expected = credence_issuer::vc_jwt::credential(key.issuer(), &request, now())
        .expect("vc+jwt credential");
    expected["@context"] = json!([
        "https://www.w3.org/ns/credentials/v2",
        {"@vocab": "https://credence.example/vct/business-licence#"}
    ]);
    let mut unsecured = credential.clone();
    let proof = unsecured
        .as_object_mut()
        .expect("object")
        .remove("proof")
        .expect("proof");
    assert_eq!(unsecured, expected);
    assert_eq!(credential["issuer"], key.issuer().as_str());
    assert_eq!(credential["credentialSubject"]["id"], holder.as_str());
    assert_eq!(credential["validFrom"], "2026-01-01T00:00:00Z");
    assert_eq!(credential["validUntil"], "2027-01-01T00:00:00Z");
    assert_eq!(
        credential["credentialStatus"][0]["type"],
        "BitstringStatusListEntry"
    );
    assert_eq!(
        proof,
        json!({
            "type": "DataIntegrityProof",
            "cryptosuite": CRYPTOSUITE,
            "created": "2026-01-01T00:00:00Z",
            "verificationMethod": key.kid().as_str(),
            "proofPurpose": "assertionMethod",
            "proofValue": proof["proofValue"],
        })
    );
    assert!(
        proof["proofValue"]
            .as_str()
            .is_some_and(|v| v.starts_with('z'))
    );

    // Every claim is in the signed RDF, under the type's vocabulary (none silently dropped).
    let nquads = canonical_nquads(&credential).await.expect("canonical");
    for term in ["companyName", "registrationNumber", "city", "employees"] {
        assert!(
            nquads.contains(&format!(
                "<https://credence.example/vct/business-licence#{term}>"
            )),
            "{term} missing from\n{nquads}"
        );
    }
    assert!(nquads.contains("BitstringStatusListEntry"), "{nquads}");

    let at = now() + Duration::days(1);
    let public = key.public();
    let method = key.kid().as_str();
    assert!(ssi_verifies(&credential, method, &public, at).await);

    let tamper = |edit: &dyn Fn(&mut Value)| {
        let mut copy = credential.clone();
        edit(&mut copy);
        copy
    };
    for (what, forged) in [
        (
            "a claim",
            tamper(&|c| c["credentialSubject"]["companyName"] = json!("Evil Corp")),
        ),
        (
            "a nested claim",
            tamper(&|c| c["credentialSubject"]["address"]["city"] = json!("Shelbyville")),
        ),
        (
            "the status index",
            tamper(&|c| c["credentialStatus"][0]["statusListIndex"] = json!("1")),
        ),
        (
            "the validity",
            tamper(&|c| c["validUntil"] = json!("2036-01-01T00:00:00Z")),
        ),
        (
            "the proof's date",
            tamper(&|c| c["proof"]["created"] = json!("2026-01-02T00:00:00Z")),
        ),
    ] {
        assert!(
            !ssi_verifies(&forged, method, &public, at).await,
            "changing {what} must break the proof"
        );
    }
}

#[tokio::test]
async fn a_p256_key_cannot_make_eddsa_proofs() {
    let key = issuer_key(KeyType::P256);
    let holder = Did::parse("did:example:holder").expect("did");
    let error = data_integrity::issue(&key, &licence_request(&holder), &vocabulary(), now())
        .await
        .expect_err("P-256");
    assert_eq!(error, DataIntegrityError::KeyNotEd25519("P-256"));
    assert!(
        error
            .to_string()
            .contains("format not available for this key"),
        "{error}"
    );
}

#[tokio::test]
async fn undefined_terms_unbundled_contexts_and_keywords_are_errors() {
    let key = issuer_key(KeyType::Ed25519);
    let document = |context: Value, subject: Value| {
        json!({
            "@context": context,
            "type": ["VerifiableCredential"],
            "issuer": key.issuer().as_str(),
            "validFrom": "2026-01-01T00:00:00Z",
            "credentialSubject": subject,
        })
    };
    let v2 = "https://www.w3.org/ns/credentials/v2";
    // The base context alone defines no claim: an undefined term is an error, not a drop.
    let error = data_integrity::sign(
        &key,
        document(json!([v2]), json!({"companyName": "Acme"})),
        now(),
    )
    .await
    .expect_err("undefined term");
    assert!(
        matches!(error, DataIntegrityError::Canonicalization(_)),
        "{error:?}"
    );
    // A context that is not bundled is never fetched.
    let error = data_integrity::sign(
        &key,
        document(
            json!([v2, "https://contexts.example/licence/v1"]),
            json!({"companyName": "Acme"}),
        ),
        now(),
    )
    .await
    .expect_err("unbundled context");
    assert!(
        matches!(error, DataIntegrityError::Canonicalization(_)),
        "{error:?}"
    );
    assert!(
        canonical_nquads(&document(json!([v2]), json!({"x": 1})))
            .await
            .is_err()
    );
    // With the type's vocabulary the same claim is defined.
    let signed = data_integrity::sign(
        &key,
        document(
            json!([v2, {"@vocab": vocabulary().as_str()}]),
            json!({"companyName": "Acme"}),
        ),
        now(),
    )
    .await
    .expect("defined through the vocabulary");
    assert!(ssi_verifies(&signed, key.kid().as_str(), &key.public(), now()).await);

    // Claim names JSON-LD would read as keywords are refused before anything is built.
    let mut request = licence_request(&Did::parse("did:example:holder").expect("did"));
    request.subject =
        Claims::from_value(json!({"companyName": "A", "address": {"@id": "x"}})).expect("claims");
    assert_eq!(
        data_integrity::issue(&key, &request, &vocabulary(), now()).await,
        Err(DataIntegrityError::KeywordClaimName("@id".into()))
    );
}
