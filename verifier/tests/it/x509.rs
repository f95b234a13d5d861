//! X.509 client identifiers (OpenID4VP 1.0 §5.9.3): request objects signed with a certificate's
//! key, its chain in `x5c`, checked against the wallet's trust anchors as of a given time. The
//! PKI is made here with rcgen (a root, an intermediate, leaves), so every case — an unknown
//! root, an expired leaf, a missing intermediate, another DNS name, another key — is one row.

use chrono::{DateTime, Duration, TimeZone as _, Utc};
use credence_registry::keys::{KeyType, SecretKey};
use credence_verifier::x509::{
    CertificateChain, TrustAnchors, X509ClientId, X509Error, certificate_hash,
    verify_request_object,
};
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose, PublicKeyData,
};
use serde_json::{Value, json};

use crate::support::sign;

const TYP: &str = "oauth-authz-req+jwt";

fn at(year: i32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(year, 6, 1, 0, 0, 0).unwrap()
}

fn ca_params(name: &str) -> CertificateParams {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.distinguished_name.push(DnType::CommonName, name);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    params.not_before = rcgen::date_time_ymd(2020, 1, 1);
    params.not_after = rcgen::date_time_ymd(2040, 1, 1);
    params
}

fn root(name: &str) -> CertifiedIssuer<'static, KeyPair> {
    CertifiedIssuer::self_signed(ca_params(name), KeyPair::generate().unwrap()).unwrap()
}

/// Our P-256 key as rcgen puts it in the leaf: the uncompressed point (RFC 5480 §2.2).
struct OurKey(Vec<u8>);

impl PublicKeyData for OurKey {
    fn der_bytes(&self) -> &[u8] {
        &self.0
    }

    fn algorithm(&self) -> &'static rcgen::SignatureAlgorithm {
        &rcgen::PKCS_ECDSA_P256_SHA256
    }
}

fn spki(key: &SecretKey) -> OurKey {
    let SecretKey::P256(signing) = key else {
        panic!("P-256 keys here")
    };
    OurKey(
        signing
            .verifying_key()
            .to_encoded_point(false)
            .as_bytes()
            .to_vec(),
    )
}

struct Leaf {
    key: SecretKey,
    pem: String,
}

fn leaf(
    issuer: &rcgen::Issuer<'_, KeyPair>,
    names: &[&str],
    years: (i32, i32),
    eku: Option<ExtendedKeyUsagePurpose>,
) -> Leaf {
    let key = SecretKey::generate(KeyType::P256);
    let mut params =
        CertificateParams::new(names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>()).unwrap();
    params
        .distinguished_name
        .push(DnType::CommonName, "Harbour Bank verifier");
    params.not_before = rcgen::date_time_ymd(years.0, 1, 1);
    params.not_after = rcgen::date_time_ymd(years.1, 1, 1);
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = eku.into_iter().collect();
    let certificate = params.signed_by(&spki(&key), issuer).unwrap();
    Leaf {
        key,
        pem: certificate.pem(),
    }
}

fn request_object(chain: &CertificateChain, key: &SecretKey, client_id: &str) -> String {
    let header = json!({"alg": "ES256", "typ": TYP, "x5c": chain.x5c()});
    sign(
        &header,
        &json!({"client_id": client_id, "nonce": "n-1"}),
        key,
    )
}

fn anchors(pem: &str) -> TrustAnchors {
    TrustAnchors::from_pem(pem.as_bytes()).expect("anchors")
}

#[test]
fn a_request_signed_by_a_trusted_certificate_verifies_with_both_prefixes() {
    let root = root("City Trust List CA");
    let intermediate = CertifiedIssuer::signed_by(
        ca_params("City Verifiers CA"),
        KeyPair::generate().unwrap(),
        &root,
    )
    .unwrap();
    let leaf = leaf(
        &intermediate,
        &["verifier.harbour-bank.example"],
        (2025, 2030),
        Some(ExtendedKeyUsagePurpose::ServerAuth),
    );
    let chain =
        CertificateChain::from_pem(format!("{}{}", leaf.pem, intermediate.pem()).as_bytes())
            .expect("chain");
    let trusted = anchors(&root.pem());

    let by_name = chain
        .san_dns_client_id("verifier.harbour-bank.example")
        .expect("a SAN of the leaf");
    assert_eq!(
        by_name.as_client_id(),
        "x509_san_dns:verifier.harbour-bank.example"
    );
    let object = request_object(&chain, &leaf.key, &by_name.as_client_id());
    let jws = verify_request_object(&object, TYP, &by_name, &trusted, at(2026)).expect("valid");
    assert_eq!(jws.payload["nonce"], "n-1");

    let by_hash = chain.hash_client_id();
    let X509ClientId::Hash(hash) = &by_hash else {
        panic!("hash")
    };
    let leaf_der = CertificateChain::from_pem(leaf.pem.as_bytes())
        .unwrap()
        .x5c()[0]
        .as_str()
        .map(|b| base64::Engine::decode(&base64::engine::general_purpose::STANDARD, b).unwrap())
        .unwrap();
    assert_eq!(*hash, certificate_hash(&leaf_der));
    let object = request_object(&chain, &leaf.key, &by_hash.as_client_id());
    verify_request_object(&object, TYP, &by_hash, &trusted, at(2026)).expect("valid");
    // Parsing the client ids back gives the same.
    assert_eq!(
        X509ClientId::parse(&by_hash.as_client_id())
            .unwrap()
            .unwrap(),
        by_hash
    );
    assert_eq!(
        X509ClientId::parse(&by_name.as_client_id())
            .unwrap()
            .unwrap(),
        by_name
    );
    assert!(X509ClientId::parse("decentralized_identifier:did:key:z6Mk").is_none());
}

type Expect = fn(&X509Error) -> bool;

#[test]
fn untrusted_mismatched_expired_and_forged_requests_are_refused() {
    let root = root("City Trust List CA");
    let other_root = root_other();
    let intermediate = CertifiedIssuer::signed_by(
        ca_params("City Verifiers CA"),
        KeyPair::generate().unwrap(),
        &root,
    )
    .unwrap();
    let name = "verifier.harbour-bank.example";
    let good = leaf(&intermediate, &[name], (2025, 2030), None);
    let good_chain =
        CertificateChain::from_pem(format!("{}{}", good.pem, intermediate.pem()).as_bytes())
            .unwrap();
    let trusted = anchors(&root.pem());
    let by_name = X509ClientId::SanDns(name.to_owned());
    let mallory = SecretKey::generate(KeyType::P256);

    let rows: Vec<(&str, String, X509ClientId, DateTime<Utc>, Expect)> = vec![
        (
            "a root the wallet does not trust",
            {
                let rogue = leaf(&other_root, &[name], (2025, 2030), None);
                let chain = CertificateChain::from_pem(rogue.pem.as_bytes()).unwrap();
                request_object(&chain, &rogue.key, &by_name.as_client_id())
            },
            by_name.clone(),
            at(2026),
            |e| matches!(e, X509Error::Untrusted(_)),
        ),
        (
            "the intermediate left out of x5c",
            {
                let chain = CertificateChain::from_pem(good.pem.as_bytes()).unwrap();
                request_object(&chain, &good.key, &by_name.as_client_id())
            },
            by_name.clone(),
            at(2026),
            |e| matches!(e, X509Error::Untrusted(_)),
        ),
        (
            "after the leaf expired",
            request_object(&good_chain, &good.key, &by_name.as_client_id()),
            by_name.clone(),
            at(2031),
            |e| matches!(e, X509Error::Untrusted(_)),
        ),
        (
            "before the leaf is valid",
            request_object(&good_chain, &good.key, &by_name.as_client_id()),
            by_name.clone(),
            at(2024),
            |e| matches!(e, X509Error::Untrusted(_)),
        ),
        (
            "a client_id naming another host",
            request_object(&good_chain, &good.key, "x509_san_dns:bank.example"),
            X509ClientId::SanDns("bank.example".into()),
            at(2026),
            |e| matches!(e, X509Error::ClientIdMismatch(_)),
        ),
        (
            "a hash of another certificate",
            request_object(&good_chain, &good.key, "x"),
            X509ClientId::Hash(certificate_hash(b"another certificate")),
            at(2026),
            |e| matches!(e, X509Error::ClientIdMismatch(_)),
        ),
        (
            "signed by a key that is not the leaf's",
            request_object(&good_chain, &mallory, &by_name.as_client_id()),
            by_name.clone(),
            at(2026),
            |e| matches!(e, X509Error::BadSignature(_)),
        ),
        (
            "a certificate only for client authentication",
            {
                let client = leaf(
                    &intermediate,
                    &[name],
                    (2025, 2030),
                    Some(ExtendedKeyUsagePurpose::ClientAuth),
                );
                let chain = CertificateChain::from_pem(
                    format!("{}{}", client.pem, intermediate.pem()).as_bytes(),
                )
                .unwrap();
                request_object(&chain, &client.key, &by_name.as_client_id())
            },
            by_name.clone(),
            at(2026),
            |e| matches!(e, X509Error::Untrusted(_)),
        ),
        (
            "no x5c header",
            sign(
                &json!({"alg": "ES256", "typ": TYP}),
                &json!({"client_id": by_name.as_client_id()}),
                &good.key,
            ),
            by_name.clone(),
            at(2026),
            |e| matches!(e, X509Error::MalformedX5c(_)),
        ),
        (
            "x5c that is not base64 DER",
            sign(
                &json!({"alg": "ES256", "typ": TYP, "x5c": ["not base64!"]}),
                &json!({}),
                &good.key,
            ),
            by_name.clone(),
            at(2026),
            |e| matches!(e, X509Error::MalformedX5c(_)),
        ),
        (
            "x5c with garbage DER",
            sign(
                &json!({"alg": "ES256", "typ": TYP, "x5c": ["AAAA"]}),
                &json!({}),
                &good.key,
            ),
            by_name.clone(),
            at(2026),
            |e| matches!(e, X509Error::BadCertificate(_)),
        ),
        (
            "alg none",
            {
                let object = request_object(&good_chain, &good.key, &by_name.as_client_id());
                let payload = object.split('.').nth(1).unwrap().to_owned();
                let header = json!({"alg": "none", "typ": TYP, "x5c": good_chain.x5c()});
                format!("{}.{payload}.", crate::support::b64(header.to_string()))
            },
            by_name.clone(),
            at(2026),
            |e| matches!(e, X509Error::BadSignature(_)),
        ),
        (
            "another typ",
            sign(
                &json!({"alg": "ES256", "typ": "JWT", "x5c": good_chain.x5c()}),
                &json!({}),
                &good.key,
            ),
            by_name.clone(),
            at(2026),
            |e| matches!(e, X509Error::BadSignature(_)),
        ),
    ];
    for (name, object, client_id, now, expect) in rows {
        let refused = verify_request_object(&object, TYP, &client_id, &trusted, now)
            .err()
            .unwrap_or_else(|| panic!("{name}: accepted"));
        assert!(expect(&refused), "{name}: {refused:?}");
    }
    // A wallet that trusts no verifier CA accepts no X.509 client id.
    let object = request_object(&good_chain, &good.key, &by_name.as_client_id());
    assert!(matches!(
        verify_request_object(&object, TYP, &by_name, &TrustAnchors::default(), at(2026)),
        Err(X509Error::Untrusted(_))
    ));
}

fn root_other() -> CertifiedIssuer<'static, KeyPair> {
    root("Somebody Else's CA")
}

#[test]
fn malformed_client_ids_and_configuration_are_refused() {
    for bad in [
        "x509_san_dns:",
        "x509_san_dns:not a host",
        "x509_san_dns:10.0.0.1",
        "x509_hash:",
        "x509_hash:abc",
        "x509_hash:!!!!",
    ] {
        assert!(
            matches!(
                X509ClientId::parse(bad),
                Some(Err(X509Error::MalformedClientId(_)))
            ),
            "{bad}"
        );
    }
    assert!(matches!(
        TrustAnchors::from_pem(b"no pem here"),
        Err(X509Error::BadCertificate(_))
    ));
    assert!(matches!(
        CertificateChain::from_pem(b""),
        Err(X509Error::BadCertificate(_))
    ));
    let root = root("City Trust List CA");
    let leaf = leaf(&root, &["verifier.example"], (2025, 2030), None);
    let chain = CertificateChain::from_pem(leaf.pem.as_bytes()).unwrap();
    assert!(matches!(
        chain.san_dns_client_id("other.example"),
        Err(X509Error::ClientIdMismatch(_))
    ));
    assert_eq!(
        chain.leaf_key().unwrap(),
        leaf.key.public(),
        "the leaf's key is read back from its SPKI"
    );
    let _: Value = chain.x5c();
    let _ = Duration::zero();
}

/// The verifier service with an X.509 identity: its requests carry the certificate's client id
/// and `x5c`, and a wallet trusting the root verifies them; a key file others can read, or a
/// key that is not the leaf's, stops the service from starting.
#[cfg(feature = "server")]
mod service {
    use axum::body::Body;
    use axum::http::{Request, StatusCode, header};
    use credence_registry::clock::Clock;
    use credence_verifier::server::{VerifierApp, VerifierConfig, open_with};
    use http_body_util::BodyExt as _;
    use p256::pkcs8::{EncodePrivateKey as _, LineEnding};
    use tower::ServiceExt as _;

    use super::*;
    use crate::openid4vp::{config, offline_state};
    use crate::support::now;

    const TOKEN: &str = "rp-token-0123456789abcdef";

    fn write_private(path: &std::path::Path, text: &str) {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::write(path, text).unwrap();
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
    }

    fn pkcs8(key: &SecretKey) -> String {
        let SecretKey::P256(signing) = key else {
            panic!("P-256")
        };
        let secret = p256::SecretKey::from(signing.as_nonzero_scalar());
        secret.to_pkcs8_pem(LineEnding::LF).unwrap().to_string()
    }

    async fn call(app: &VerifierApp, request: Request<Body>) -> (StatusCode, String) {
        let response = app.router.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        (status, String::from_utf8_lossy(&bytes).into_owned())
    }

    async fn open(
        dir: &std::path::Path,
        chain: &str,
        key: &str,
        client_id: Option<&str>,
    ) -> Result<VerifierApp, String> {
        let chain_path = dir.join("chain.pem");
        let key_path = dir.join("key.pem");
        std::fs::write(&chain_path, chain).unwrap();
        write_private(&key_path, key);
        let config = VerifierConfig {
            x509_chain: Some(chain_path),
            x509_key: Some(key_path),
            x509_client_id: client_id.map(str::to_owned),
            ..config(dir, None)
        };
        let (clock, _time) = Clock::manual(now());
        open_with(&config, offline_state(clock))
            .await
            .map_err(|e| e.to_string())
    }

    #[tokio::test]
    async fn requests_carry_the_certificate_and_a_trusting_wallet_verifies_them() {
        let root = root("City Trust List CA");
        let leaf = leaf(&root, &["verifier.example"], (2025, 2030), None);
        for (option, expected) in [
            (None, "x509_san_dns:verifier.example".to_owned()),
            (Some("x509_hash"), {
                let chain = CertificateChain::from_pem(leaf.pem.as_bytes()).unwrap();
                chain.hash_client_id().as_client_id()
            }),
        ] {
            let dir = tempfile::tempdir().unwrap();
            let app = open(dir.path(), &leaf.pem, &pkcs8(&leaf.key), option)
                .await
                .expect("starts");
            let (status, text) = call(
                &app,
                Request::post("/requests")
                    .header(header::CONTENT_TYPE, "application/json")
                    .header(header::AUTHORIZATION, format!("Bearer {TOKEN}"))
                    .body(Body::from(
                        json!({"dcql_query": {"credentials": [{"id": "licence", "format": "dc+sd-jwt", "meta": {"vct_values": ["https://credence.example/vct/business-licence"]}}]}})
                            .to_string(),
                    ))
                    .unwrap(),
            )
            .await;
            assert_eq!(status, StatusCode::CREATED, "{text}");
            let created: Value = serde_json::from_str(&text).unwrap();
            let uri =
                url::Url::parse(created["authorization_request_uri"].as_str().unwrap()).unwrap();
            let client_id = uri
                .query_pairs()
                .find(|(k, _)| k == "client_id")
                .map(|(_, v)| v.into_owned())
                .unwrap();
            assert_eq!(client_id, expected);
            let id = created["id"].as_str().unwrap();
            let (status, object) = call(
                &app,
                Request::get(format!("/requests/{id}/object"))
                    .body(Body::empty())
                    .unwrap(),
            )
            .await;
            assert_eq!(status, StatusCode::OK);
            let parsed = X509ClientId::parse(&client_id).unwrap().unwrap();
            let jws = verify_request_object(&object, TYP, &parsed, &anchors(&root.pem()), now())
                .expect("verifies with the certificate");
            assert_eq!(jws.payload["client_id"], client_id);
            assert!(jws.header.get("kid").is_none(), "x5c names the key");
            // A wallet trusting another root refuses it.
            assert!(matches!(
                verify_request_object(&object, TYP, &parsed, &anchors(&root_other().pem()), now()),
                Err(X509Error::Untrusted(_))
            ));
        }
    }

    #[tokio::test]
    async fn an_exposed_or_mismatched_key_or_a_foreign_name_stops_the_service() {
        let root = root("City Trust List CA");
        let leaf = leaf(&root, &["verifier.example"], (2025, 2030), None);
        let dir = tempfile::tempdir().unwrap();
        let other = SecretKey::generate(KeyType::P256);
        let refused = open(dir.path(), &leaf.pem, &pkcs8(&other), None)
            .await
            .expect_err("another key");
        assert!(refused.contains("not the private key"), "{refused}");

        let dir = tempfile::tempdir().unwrap();
        let refused = open(
            dir.path(),
            &leaf.pem,
            &pkcs8(&leaf.key),
            Some("x509_san_dns:bank.example"),
        )
        .await
        .expect_err("a name the leaf does not carry");
        assert!(refused.contains("bank.example"), "{refused}");

        let dir = tempfile::tempdir().unwrap();
        let chain_path = dir.path().join("chain.pem");
        let key_path = dir.path().join("key.pem");
        std::fs::write(&chain_path, &leaf.pem).unwrap();
        std::fs::write(&key_path, pkcs8(&leaf.key)).unwrap();
        {
            use std::os::unix::fs::PermissionsExt as _;
            std::fs::set_permissions(&key_path, std::fs::Permissions::from_mode(0o644)).unwrap();
        }
        let config = VerifierConfig {
            x509_chain: Some(chain_path),
            x509_key: Some(key_path),
            x509_client_id: None,
            ..config(dir.path(), None)
        };
        let (clock, _time) = Clock::manual(now());
        let refused = open_with(&config, offline_state(clock))
            .await
            .expect_err("readable by others")
            .to_string();
        assert!(refused.contains("chmod 600"), "{refused}");
    }
}
