//! `dc+sd-jwt` issuance, checked with implementations we did not write: `jsonwebtoken` for the
//! issuer signature, iotaledger's `sd-jwt-payload` for Disclosure digests and claim
//! reconstruction (it also refuses unreferenced or duplicate Disclosures), and by hand for the
//! rest (decoys, salts, sorted `_sd`).

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{Duration, TimeZone as _, Utc};
use credence_issuer::claims::{ClaimPath, Claims};
use credence_issuer::sd_jwt::{self, Decoys, SdJwtError, SdJwtVcRequest, Vct};
use credence_issuer::status::{StatusIndex, StatusListUri, TokenStatusReference};
use credence_registry::keys::{KeyType, SecretKey};
use sd_jwt_payload::{SdJwt, Sha256Hasher};
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

use crate::{decode_jwt, decoding_key, issuer_key, now};

/// The eight selectively disclosable claims: top level, nested members, an array element,
/// and `address` itself (so its members' Disclosures are recursive, RFC 9901 §6.3).
const DISCLOSABLE: [&str; 8] = [
    "/given_name",
    "/family_name",
    "/email",
    "/birthdate",
    "/address",
    "/address/street_address",
    "/address/locality",
    "/nationalities/1",
];

fn claims() -> Value {
    json!({
        "given_name": "Erika",
        "family_name": "Mustermann",
        "email": "erika@example.com",
        "birthdate": "1963-08-12",
        "address": {
            "street_address": "Heidestraße 17",
            "locality": "Köln",
            "country": "DE",
        },
        "nationalities": ["DE", "FR", "LU"],
        "degree": {"type": "BachelorDegree", "gpa": 3.7, "honours": true, "minor": null},
    })
}

fn request(holder: &SecretKey, issuer: &credence_issuer::jws::IssuerKey) -> SdJwtVcRequest {
    let uri = StatusListUri::for_list("https://registry.example", issuer.issuer(), "pid-1")
        .expect("list URI");
    SdJwtVcRequest {
        vct: Vct::parse("https://registry.example/schemas/pid").expect("vct"),
        holder: holder.public(),
        status: Some(TokenStatusReference {
            idx: StatusIndex::new(4711),
            uri,
        }),
        not_before: None,
        // jsonwebtoken checks `exp` against the real clock.
        expires: Some(
            Utc.with_ymd_and_hms(2126, 1, 1, 0, 0, 0)
                .single()
                .expect("time"),
        ),
        claims: Claims::from_value(claims()).expect("object"),
        disclosable: DISCLOSABLE
            .iter()
            .map(|p| ClaimPath::parse(p).expect("path"))
            .collect(),
        decoys: Decoys::default(),
    }
}

#[test]
fn eight_disclosable_claims_verify_with_an_independent_implementation() {
    for key_type in [KeyType::Ed25519, KeyType::P256] {
        check_issued(key_type, "EdDSA/ES256");
    }
}

fn check_issued(key_type: KeyType, what: &str) {
    let issuer = issuer_key(key_type);
    let holder = SecretKey::generate(KeyType::P256);
    let request = request(&holder, &issuer);
    let issued = sd_jwt::issue(&issuer, &request, now()).expect("issued");
    let compact = issued.to_compact();
    assert!(
        compact.ends_with('~'),
        "{what}: no key binding, so it ends with '~'"
    );
    assert_eq!(compact.matches('~').count(), DISCLOSABLE.len() + 1);

    // Header (draft-ietf-oauth-sd-jwt-vc §3.2.1) and a strict signature check.
    let (header, payload) = decode_jwt(issued.jwt());
    let alg = issuer.algorithm().name();
    assert_eq!(
        header,
        json!({"alg": alg, "typ": "dc+sd-jwt", "kid": issuer.kid().as_str()})
    );
    issuer
        .public()
        .verify_jws(issued.jwt(), None)
        .expect("signature (registry's verifier)");

    // The independent verifiers: signature, digests, reconstruction.
    let revealed = verify_independently(&compact, &issuer.public())
        .unwrap_or_else(|e| panic!("{what}: refused by the independent verifiers: {e}"));
    let mut expected = claims();
    let registered = json!({
        "iss": issuer.issuer().as_str(),
        "iat": now().timestamp(),
        "exp": request.expires.expect("exp").timestamp(),
        "vct": "https://registry.example/schemas/pid",
        "cnf": {"jwk": holder.public().to_jwk()},
        "status": {"status_list": {
            "idx": 4711,
            "uri": format!("https://registry.example/status-lists/{}/pid-1", issuer.issuer()),
        }},
    });
    expected
        .as_object_mut()
        .expect("object")
        .extend(registered.as_object().expect("object").clone());
    assert_eq!(revealed, expected, "{what}: reconstructed claims");

    // No registered claim and no disclosable claim in the clear.
    assert_eq!(payload["_sd_alg"], "sha-256");
    for name in ["given_name", "family_name", "email", "birthdate", "address"] {
        assert!(payload.get(name).is_none(), "{name} is concealed");
    }
    assert_eq!(payload["nationalities"][0], "DE");
    assert!(payload["nationalities"][1]["..."].is_string());
    assert_eq!(
        payload["degree"]["gpa"], 3.7,
        "non-disclosable claims stay as they are"
    );

    // Every Disclosure is referenced exactly once; what is left over are decoys.
    let mut digests: Vec<String> = Vec::new();
    let mut sd_arrays = 0;
    collect_digests(&payload, &mut digests, &mut sd_arrays);
    let mut salts = Vec::new();
    for disclosure in issued.disclosures() {
        let decoded: Vec<Value> =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(disclosure).expect("base64url"))
                .expect("JSON array");
        let salt = URL_SAFE_NO_PAD
            .decode(decoded[0].as_str().expect("salt"))
            .expect("salt base64url");
        assert!(salt.len() >= 16, "{what}: salt of {} bytes", salt.len());
        salts.push(salt);
        collect_digests(decoded.last().expect("value"), &mut digests, &mut sd_arrays);
    }
    salts.sort();
    salts.dedup();
    assert_eq!(salts.len(), DISCLOSABLE.len(), "salts are distinct");
    let mut referenced = BTreeMap::new();
    for digest in &digests {
        *referenced.entry(digest.clone()).or_insert(0) += 1;
    }
    for disclosure in issued.disclosures() {
        let digest = URL_SAFE_NO_PAD.encode(Sha256::digest(disclosure.as_bytes()));
        assert_eq!(
            referenced.remove(&digest),
            Some(1),
            "{what}: disclosure referenced once"
        );
    }
    // Two `_sd` arrays (payload and address), each with 1 to 5 decoys.
    assert_eq!(sd_arrays, 2);
    assert!(
        (2..=10).contains(&referenced.len()),
        "{what}: {} decoys",
        referenced.len()
    );

    // A changed signature byte, or a Disclosure nobody references, is refused.
    let (signed, rest) = compact.split_once('~').expect("~");
    let (input, signature) = signed.rsplit_once('.').expect("signature");
    let mut signature = signature.to_owned();
    let flipped = if signature.as_bytes()[10] == b'A' {
        "B"
    } else {
        "A"
    };
    signature.replace_range(10..11, flipped);
    let tampered = format!("{input}.{signature}~{rest}");
    assert!(
        verify_independently(&tampered, &issuer.public()).is_err(),
        "{what}: tampered signature accepted"
    );
    let stray = URL_SAFE_NO_PAD.encode(r#"["c2FsdHNhbHRzYWx0c2FsdA","extra","claim"]"#);
    let unreferenced = format!("{compact}{stray}~");
    assert!(
        verify_independently(&unreferenced, &issuer.public()).is_err(),
        "{what}: stray disclosure accepted"
    );
}

/// Checks the issuer signature with `jsonwebtoken` and reconstructs the claims with
/// `sd-jwt-payload`; neither shares code with the issuer.
fn verify_independently(
    compact: &str,
    public: &credence_registry::keys::PublicKey,
) -> Result<Value, String> {
    let jwt = compact.split('~').next().ok_or("no JWT")?;
    let validation = jsonwebtoken::Validation::new(
        public
            .algorithm()
            .name()
            .parse()
            .map_err(|e| format!("{e}"))?,
    );
    jsonwebtoken::decode::<Value>(jwt, &decoding_key(public), &validation)
        .map_err(|e| format!("signature: {e}"))?;
    let revealed = SdJwt::parse(compact)
        .and_then(|sd_jwt| sd_jwt.into_disclosed_object(&Sha256Hasher::new()))
        .map_err(|e| format!("disclosures: {e}"))?;
    Ok(Value::Object(revealed))
}

/// Collects `_sd` digests (checking each array is sorted) and `...` array-element digests.
fn collect_digests(value: &Value, digests: &mut Vec<String>, sd_arrays: &mut usize) {
    match value {
        Value::Object(members) => {
            if let Some(Value::Array(sd)) = members.get("_sd") {
                let strings: Vec<String> = sd
                    .iter()
                    .map(|d| d.as_str().expect("digest").to_owned())
                    .collect();
                let mut sorted = strings.clone();
                sorted.sort();
                assert_eq!(strings, sorted, "_sd is sorted");
                *sd_arrays += 1;
                digests.extend(strings);
            }
            if let Some(Value::String(digest)) = members.get("...") {
                digests.push(digest.clone());
            }
            for (name, member) in members {
                if name != "_sd" {
                    collect_digests(member, digests, sd_arrays);
                }
            }
        }
        Value::Array(items) => items
            .iter()
            .for_each(|item| collect_digests(item, digests, sd_arrays)),
        _ => {}
    }
}

#[test]
fn without_decoys_the_digests_are_exactly_the_disclosures() {
    let issuer = issuer_key(KeyType::Ed25519);
    let holder = SecretKey::generate(KeyType::Ed25519);
    let request = SdJwtVcRequest {
        decoys: Decoys::NONE,
        ..request(&holder, &issuer)
    };
    let issued = sd_jwt::issue(&issuer, &request, now()).expect("issued");
    let (_, payload) = decode_jwt(issued.jwt());
    // given_name, family_name, email, birthdate, address at the top level.
    assert_eq!(payload["_sd"].as_array().map(Vec::len), Some(5));
}

#[test]
fn bad_requests_are_refused() {
    let issuer = issuer_key(KeyType::Ed25519);
    let holder = SecretKey::generate(KeyType::Ed25519);
    let check = |edit: &dyn Fn(&mut SdJwtVcRequest), expected: SdJwtError| {
        let mut request = request(&holder, &issuer);
        edit(&mut request);
        assert_eq!(
            sd_jwt::issue(&issuer, &request, now()).map(|_| ()),
            Err(expected)
        );
    };
    let path = |p: &str| ClaimPath::parse(p).expect("path");
    let disclose = |p: &'static str| move |r: &mut SdJwtVcRequest| r.disclosable.push(path(p));
    let with_claim = |name: &'static str, value: Value| {
        move |r: &mut SdJwtVcRequest| {
            let mut claims = r.claims.clone().into_map();
            claims.insert(name.into(), value.clone());
            r.claims = Claims::new(claims);
        }
    };
    for registered in [
        "/iss", "/iat", "/nbf", "/exp", "/cnf", "/vct", "/status", "/cnf/jwk",
    ] {
        check(
            &disclose(registered),
            SdJwtError::RegisteredClaimNotDisclosable(path(registered)),
        );
    }
    check(
        &with_claim("iss", json!("did:example:spoof")),
        SdJwtError::RegisteredClaimInClaims("iss".into()),
    );
    check(
        &with_claim("status", json!({})),
        SdJwtError::RegisteredClaimInClaims("status".into()),
    );
    check(
        &with_claim("_sd", json!([])),
        SdJwtError::ReservedClaimName("_sd".into()),
    );
    check(
        &with_claim("nested", json!({"a": [{"...": "x"}]})),
        SdJwtError::ReservedClaimName("...".into()),
    );
    check(
        &disclose("/middle_name"),
        SdJwtError::ClaimNotFound(path("/middle_name")),
    );
    check(
        &disclose("/nationalities/3"),
        SdJwtError::ClaimNotFound(path("/nationalities/3")),
    );
    check(
        &disclose("/nationalities/x"),
        SdJwtError::ClaimNotFound(path("/nationalities/x")),
    );
    check(
        &disclose("/email/domain"),
        SdJwtError::NotAContainer {
            path: path("/email/domain"),
            kind: "a string",
        },
    );
    check(
        &disclose("/email"),
        SdJwtError::DuplicatePath(path("/email")),
    );
    let start = now();
    let exp = now() - Duration::seconds(1);
    check(
        &move |r: &mut SdJwtVcRequest| r.expires = Some(exp),
        SdJwtError::ExpiresBeforeValid { start, exp },
    );
    let nbf = now() + Duration::days(2);
    let exp = now() + Duration::days(1);
    check(
        &move |r: &mut SdJwtVcRequest| {
            r.not_before = Some(nbf);
            r.expires = Some(exp);
        },
        SdJwtError::ExpiresBeforeValid { start: nbf, exp },
    );
    check(
        &|r: &mut SdJwtVcRequest| r.decoys = Decoys { min: 3, max: 2 },
        SdJwtError::InvalidDecoyRange { min: 3, max: 2 },
    );
}
