//! `vc+jwt` issuance, checked with the registry's strict JWS verifier and with `jsonwebtoken`.

use chrono::Duration;
use credence_issuer::claims::Claims;
use credence_issuer::status::{DEFAULT_ENTRIES, IssuerStatusList, StatusListUri, StatusPurpose};
use credence_issuer::vc_jwt::{self, CredentialId, CredentialType, VcJwtError, VcJwtRequest};
use credence_registry::did::Did;
use credence_registry::keys::{KeyType, SecretKey};
use serde_json::json;

use crate::{decode_jwt, decoding_key, issuer_key, now};

fn request(issuer: &Did, holder: &Did) -> (VcJwtRequest, u32) {
    let uri = StatusListUri::for_list("https://registry.example", issuer, "degrees").expect("uri");
    let mut list = IssuerStatusList::new(issuer.clone(), uri, DEFAULT_ENTRIES).expect("list");
    let index = list.allocate().expect("index");
    let request = VcJwtRequest {
        id: Some(CredentialId::parse("urn:uuid:3978344f-8596-4c3a-a978-8fcaba3903c5").expect("id")),
        credential_type: CredentialType::parse("UniversityDegreeCredential").expect("type"),
        holder: Some(holder.clone()),
        subject: Claims::from_value(
            json!({"degree": {"type": "BachelorDegree", "name": "Physics"}}),
        )
        .expect("object"),
        valid_from: None,
        valid_until: Some(now() + Duration::days(365)),
        status: vec![
            list.bitstring_entry(index, StatusPurpose::Revocation),
            list.bitstring_entry(index, StatusPurpose::Suspension),
        ],
    };
    (request, index.get())
}

#[test]
fn vc_jwt_round_trips_through_two_verifiers() {
    for key_type in [KeyType::Ed25519, KeyType::P256] {
        let issuer = issuer_key(key_type);
        let holder =
            Did::parse(&SecretKey::generate(KeyType::Ed25519).public().to_did_key()).expect("did");
        let (request, index) = request(issuer.issuer(), &holder);
        let jwt = vc_jwt::issue(&issuer, &request, now()).expect("issued");

        let header = issuer
            .public()
            .verify_jws(&jwt, None)
            .expect("registry verifier");
        let alg = issuer.algorithm().name();
        assert_eq!(
            header,
            json!({"alg": alg, "kid": issuer.kid().as_str(), "typ": "vc+jwt"})
        );

        let mut validation = jsonwebtoken::Validation::new(alg.parse().expect("algorithm"));
        validation.set_required_spec_claims::<&str>(&[]);
        validation.validate_exp = false;
        let decoded = jsonwebtoken::decode::<serde_json::Value>(
            &jwt,
            &decoding_key(&issuer.public()),
            &validation,
        )
        .expect("jsonwebtoken verifier");

        let list = format!(
            "https://registry.example/status-lists/{}/degrees",
            issuer.issuer()
        );
        let expected = json!({
            "@context": ["https://www.w3.org/ns/credentials/v2"],
            "id": "urn:uuid:3978344f-8596-4c3a-a978-8fcaba3903c5",
            "type": ["VerifiableCredential", "UniversityDegreeCredential"],
            "issuer": issuer.issuer().as_str(),
            "validFrom": "2026-01-01T00:00:00Z",
            "validUntil": "2027-01-01T00:00:00Z",
            "credentialSubject": {
                "id": holder.as_str(),
                "degree": {"type": "BachelorDegree", "name": "Physics"},
            },
            "credentialStatus": [
                {
                    "id": format!("{list}.revocation#{index}"),
                    "type": "BitstringStatusListEntry",
                    "statusPurpose": "revocation",
                    "statusListIndex": index.to_string(),
                    "statusListCredential": format!("{list}.revocation"),
                },
                {
                    "id": format!("{list}.suspension#{index}"),
                    "type": "BitstringStatusListEntry",
                    "statusPurpose": "suspension",
                    "statusListIndex": index.to_string(),
                    "statusListCredential": format!("{list}.suspension"),
                },
            ],
        });
        assert_eq!(decoded.claims, expected, "the payload is the credential");
        assert_eq!(decode_jwt(&jwt).1, expected);

        // Another key's signature is refused by both.
        let other = issuer_key(key_type);
        assert!(other.public().verify_jws(&jwt, None).is_err());
        assert!(
            jsonwebtoken::decode::<serde_json::Value>(
                &jwt,
                &decoding_key(&other.public()),
                &validation
            )
            .is_err()
        );
    }
}

#[test]
fn bad_requests_are_refused() {
    let issuer = issuer_key(KeyType::Ed25519);
    let holder = Did::parse("did:example:holder").expect("did");
    let check = |edit: &dyn Fn(&mut VcJwtRequest), expected: VcJwtError| {
        let (mut request, _) = request(issuer.issuer(), &holder);
        edit(&mut request);
        assert_eq!(
            vc_jwt::issue(&issuer, &request, now()).map(|_| ()),
            Err(expected)
        );
    };
    let until = now() - Duration::seconds(1);
    check(
        &|r| r.valid_until = Some(until),
        VcJwtError::ValidUntilBeforeValidFrom { from: now(), until },
    );
    check(
        &|r| r.valid_until = Some(now()),
        VcJwtError::ValidUntilBeforeValidFrom {
            from: now(),
            until: now(),
        },
    );
    check(
        &|r| r.subject = Claims::from_value(json!({"id": "did:example:x"})).expect("object"),
        VcJwtError::SubjectIdInClaims,
    );
}

#[test]
fn one_status_entry_is_an_object_and_none_is_absent() {
    let issuer = issuer_key(KeyType::Ed25519);
    let holder = Did::parse("did:example:holder").expect("did");
    let (mut request, _) = request(issuer.issuer(), &holder);
    request.status.truncate(1);
    let credential = vc_jwt::credential(issuer.issuer(), &request, now()).expect("credential");
    assert_eq!(
        credential["credentialStatus"]["statusPurpose"],
        "revocation"
    );
    request.status.clear();
    request.holder = None;
    let credential = vc_jwt::credential(issuer.issuer(), &request, now()).expect("credential");
    assert!(credential.get("credentialStatus").is_none());
    assert!(credential["credentialSubject"].get("id").is_none());
}
