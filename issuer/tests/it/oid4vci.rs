//! OpenID4VCI 1.0 protocol logic: offers and their URIs, the pre-authorized code grant with a
//! transaction code and its attempt limit, and the key proof JWT, each bad case a table line
//! naming the OAuth error it must give.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::Duration;
use credence_issuer::oid4vci::{
    CodeGrant, CredentialOffer, OAuthErrorCode, OfferGrants, PreAuthorizedGrant, ProofExpectations,
    TxCodeHint, claimed_nonce, verify_proof,
};
use credence_registry::keys::{KeyType, SecretKey};
use serde_json::{Value, json};

use crate::now;

const ISSUER: &str = "https://city.example/issuer/land-bureau";

fn b64(value: &Value) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(value).unwrap())
}

/// A proof JWT with `header` and `payload` as given, signed by `key`.
fn signed(key: &SecretKey, header: &Value, payload: &Value) -> String {
    let input = format!("{}.{}", b64(header), b64(payload));
    let signature = key.sign_raw(input.as_bytes());
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature))
}

fn header_for(key: &SecretKey) -> Value {
    json!({"typ": "openid4vci-proof+jwt", "alg": key.public().algorithm().name(), "jwk": key.public().to_jwk()})
}

fn payload(nonce: &str, iat: i64) -> Value {
    json!({"aud": ISSUER, "iat": iat, "nonce": nonce})
}

fn expectations(nonce: &str) -> ProofExpectations<'_> {
    ProofExpectations {
        audience: ISSUER,
        nonce,
        now: now(),
        max_age: Duration::minutes(5),
        leeway: Duration::seconds(30),
    }
}

#[test]
fn offers_travel_by_value_and_by_reference() {
    let offer = CredentialOffer {
        credential_issuer: ISSUER.into(),
        credential_configuration_ids: vec!["RealEstateCertificate".into()],
        grants: OfferGrants {
            pre_authorized_code: PreAuthorizedGrant {
                pre_authorized_code: "code-123".into(),
                tx_code: Some(TxCodeHint {
                    input_mode: "numeric".into(),
                    length: 6,
                    description: Some("sent by SMS".into()),
                }),
            },
        },
    };
    let uri = offer.uri_by_value();
    let encoded = uri
        .strip_prefix("openid-credential-offer://?credential_offer=")
        .unwrap();
    let decoded: String = url::form_urlencoded::parse(format!("x={encoded}").as_bytes())
        .next()
        .unwrap()
        .1
        .into_owned();
    let back: CredentialOffer = serde_json::from_str(&decoded).unwrap();
    assert_eq!(back, offer);
    let json: Value = serde_json::from_str(&decoded).unwrap();
    assert_eq!(
        json["grants"]["urn:ietf:params:oauth:grant-type:pre-authorized_code"]["pre-authorized_code"],
        "code-123"
    );
    assert_eq!(
        CredentialOffer::uri_by_reference("https://city.example/issuer/offers/7"),
        "openid-credential-offer://?credential_offer_uri=https%3A%2F%2Fcity.example%2Fissuer%2Foffers%2F7"
    );
}

#[test]
fn a_pre_authorized_code_is_single_use_expires_and_locks_after_wrong_tx_codes() {
    let start = now();
    let fresh = || CodeGrant::new("code", Some("493817"), start, Duration::minutes(10));

    let mut grant = fresh();
    grant.redeem(Some("493817"), start).unwrap();
    let again = grant.redeem(Some("493817"), start).unwrap_err();
    assert_eq!(again.error, OAuthErrorCode::InvalidGrant, "single use");

    let mut late = fresh();
    let error = late
        .redeem(Some("493817"), start + Duration::minutes(10))
        .unwrap_err();
    assert_eq!(error.error, OAuthErrorCode::InvalidGrant, "expired");

    let mut missing = fresh();
    let error = missing.redeem(None, start).unwrap_err();
    assert_eq!(
        error.error,
        OAuthErrorCode::InvalidRequest,
        "tx_code required"
    );

    let mut guessed = fresh();
    for left in [2, 1, 0] {
        let error = guessed.redeem(Some("000000"), start).unwrap_err();
        assert_eq!(error.error, OAuthErrorCode::InvalidGrant);
        assert_eq!(guessed.attempts_left, left);
    }
    let locked = guessed.redeem(Some("493817"), start).unwrap_err();
    assert_eq!(
        locked.error,
        OAuthErrorCode::InvalidGrant,
        "locked after three guesses"
    );
    assert!(!guessed.redeemed);

    let mut plain = CodeGrant::new("code", None, start, Duration::minutes(10));
    plain.redeem(None, start).unwrap();
    assert_eq!(
        plain.code_hash,
        credence_issuer::secrets::BearerToken::new("code").hash(),
        "only a hash is kept"
    );
}

#[test]
fn key_proofs_are_checked_for_type_key_signature_audience_time_and_nonce() {
    for key_type in [KeyType::Ed25519, KeyType::P256] {
        let key = SecretKey::generate(key_type);
        let other = SecretKey::generate(key_type);
        let t = now().timestamp();
        let good = signed(&key, &header_for(&key), &payload("n-1", t));
        let proven = verify_proof(&good, &expectations("n-1")).unwrap();
        assert_eq!(proven.key, key.public());
        assert_eq!(claimed_nonce(&good).as_deref(), Some("n-1"));

        let with = |change: &dyn Fn(&mut Value, &mut Value)| {
            let (mut header, mut body) = (header_for(&key), payload("n-1", t));
            change(&mut header, &mut body);
            signed(&key, &header, &body)
        };
        let mac_header =
            json!({"typ": "openid4vci-proof+jwt", "alg": "HS256", "jwk": key.public().to_jwk()});
        let cases: Vec<(&str, String, OAuthErrorCode)> = vec![
            (
                "wrong typ",
                with(&|h, _| h["typ"] = json!("JWT")),
                OAuthErrorCode::InvalidProof,
            ),
            (
                "no jwk",
                with(&|h, _| {
                    h.as_object_mut().unwrap().remove("jwk");
                }),
                OAuthErrorCode::InvalidProof,
            ),
            (
                "kid instead",
                with(&|h, _| h["kid"] = json!("did:example:1#k")),
                OAuthErrorCode::InvalidProof,
            ),
            (
                "alg none",
                with(&|h, _| h["alg"] = json!("none")),
                OAuthErrorCode::InvalidProof,
            ),
            (
                "MAC alg",
                signed(&key, &mac_header, &payload("n-1", t)),
                OAuthErrorCode::InvalidProof,
            ),
            (
                "critical extension",
                with(&|h, _| h["crit"] = json!(["b64"])),
                OAuthErrorCode::InvalidProof,
            ),
            (
                "signed by another key",
                signed(&other, &header_for(&key), &payload("n-1", t)),
                OAuthErrorCode::InvalidProof,
            ),
            (
                "wrong audience",
                with(&|_, p| p["aud"] = json!("https://evil.example")),
                OAuthErrorCode::InvalidProof,
            ),
            (
                "no iat",
                with(&|_, p| {
                    p.as_object_mut().unwrap().remove("iat");
                }),
                OAuthErrorCode::InvalidProof,
            ),
            (
                "stale iat",
                with(&|_, p| p["iat"] = json!(t - 600)),
                OAuthErrorCode::InvalidProof,
            ),
            (
                "future iat",
                with(&|_, p| p["iat"] = json!(t + 600)),
                OAuthErrorCode::InvalidProof,
            ),
            (
                "wrong nonce",
                with(&|_, p| p["nonce"] = json!("n-0")),
                OAuthErrorCode::InvalidNonce,
            ),
            (
                "no nonce",
                with(&|_, p| {
                    p.as_object_mut().unwrap().remove("nonce");
                }),
                OAuthErrorCode::InvalidNonce,
            ),
            (
                "duplicate header member",
                {
                    let header = format!(
                        r#"{{"typ":"openid4vci-proof+jwt","typ":"openid4vci-proof+jwt","alg":"{}","jwk":{}}}"#,
                        key.public().algorithm().name(),
                        key.public().to_jwk()
                    );
                    let input = format!(
                        "{}.{}",
                        URL_SAFE_NO_PAD.encode(header),
                        b64(&payload("n-1", t))
                    );
                    format!(
                        "{input}.{}",
                        URL_SAFE_NO_PAD.encode(key.sign_raw(input.as_bytes()))
                    )
                },
                OAuthErrorCode::InvalidProof,
            ),
            ("not a JWT", "abc".to_owned(), OAuthErrorCode::InvalidProof),
        ];
        for (what, jwt, expected) in cases {
            match verify_proof(&jwt, &expectations("n-1")) {
                Err(error) => assert_eq!(error.error, expected, "{key_type:?} {what}: {error}"),
                Ok(_) => panic!("{key_type:?} {what}: accepted"),
            }
        }
        // A private key in the header is refused too (it would be a leak, and no proof).
        let mut private = header_for(&key);
        private["jwk"]["d"] = json!("AAAA");
        let error = verify_proof(
            &signed(&key, &private, &payload("n-1", t)),
            &expectations("n-1"),
        )
        .unwrap_err();
        assert_eq!(error.error, OAuthErrorCode::InvalidProof);
    }
}

#[test]
fn metadata_names_the_endpoints_and_configurations() {
    let metadata = credence_issuer::oid4vci::issuer_metadata(
        ISSUER,
        &[credence_issuer::oid4vci::Configuration {
            id: "licence".into(),
            format: "dc+sd-jwt".into(),
            credential_type: "https://credence.example/vct/business-licence".into(),
        }],
        4,
    );
    assert_eq!(
        metadata["credential_endpoint"],
        format!("{ISSUER}/credential")
    );
    assert_eq!(metadata["nonce_endpoint"], format!("{ISSUER}/nonce"));
    assert_eq!(metadata["batch_credential_issuance"]["batch_size"], 4);
    assert_eq!(
        metadata["credential_configurations_supported"]["licence"]["vct"],
        "https://credence.example/vct/business-licence"
    );
    let server = credence_issuer::oid4vci::authorization_server_metadata(ISSUER);
    assert_eq!(server["token_endpoint"], format!("{ISSUER}/token"));
    assert_eq!(
        server["pre-authorized_grant_anonymous_access_supported"],
        true
    );
}
