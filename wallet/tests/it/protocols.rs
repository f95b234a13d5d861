//! The protocol clients and the credential check through their real interfaces: the verifier
//! library as the check (a did:key issuer, resolved offline), offer URIs, and the OpenID4VP
//! client against a fake verifier on loopback that serves request objects we sign (or fail to
//! sign) and counts what reaches its response endpoint. The whole flow against the real
//! services is the journey test (`tests/tests/journey.rs`).

use std::sync::{Arc, Mutex};

use axum::extract::{Path as UrlPath, State};
use axum::routing::{get, post};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::Duration;
use credence_registry::keys::{KeyType, SecretKey};
use credence_registry::resolver::{CredenceSource, Resolver};
use credence_verifier::dcql::DcqlQuery;
use credence_verifier::openid4vp::{AuthorizationRequest, ResponseMode, did_client_id};
use credence_verifier::pipeline::Context;
use credence_wallet::WalletError;
use credence_wallet::check::VerifierCheck;
use credence_wallet::credentials::{CheckVerdict, CredentialCheck, SdJwtVc, VcJwt};
use credence_wallet::oid4vci::{self, OfferLocation, Oid4vciError};
use credence_wallet::openid4vp::{self, ClientOptions, Oid4vpError, PresentationClient};
use serde_json::{Value, json};

use crate::{LICENCE, issue_licence, issuer_key, new_wallet, now, store_copies};

fn offline_check() -> VerifierCheck {
    VerifierCheck::new(Context::new(
        Resolver::new(CredenceSource::Disabled, Default::default()),
        None,
        reqwest::Client::new(),
    ))
}

#[tokio::test]
async fn the_verifier_library_decides_what_is_stored() {
    let (_dir, _path, mut wallet) = new_wallet();
    let issuer = issuer_key();
    let check = offline_check();

    // A credential that verifies is stored with its key, in one transaction.
    let key = SecretKey::generate(KeyType::P256);
    let good = issue_licence(&issuer, &key.public());
    let sd_jwt = SdJwtVc::parse(&good).expect("parse");
    let checked = check.check(&sd_jwt, now()).await;
    assert_eq!(checked.result(), &Ok(CheckVerdict::Valid));
    let id = wallet
        .store_received(&good, &key, &checked, now())
        .expect("store");
    let stored = wallet.credential(&id).expect("stored");
    assert_eq!(
        wallet.holder_key(stored.holder_key()).expect("key").public,
        key.public()
    );

    // A tampered signature: refused at the signature step, nothing stored (no key either).
    let other = SecretKey::generate(KeyType::P256);
    let compact = issue_licence(&issuer, &other.public());
    let (jwt, rest) = compact.split_once('~').expect("sd-jwt");
    let mut parts: Vec<String> = jwt.split('.').map(str::to_owned).collect();
    let mut signature = URL_SAFE_NO_PAD.decode(&parts[2]).expect("b64");
    signature[5] ^= 1;
    parts[2] = URL_SAFE_NO_PAD.encode(signature);
    let tampered = format!("{}~{rest}", parts.join("."));
    let sd_jwt = SdJwtVc::parse(&tampered).expect("still well-formed");
    let checked = check.check(&sd_jwt, now()).await;
    let refused = wallet.store_received(&tampered, &other, &checked, now());
    assert!(
        matches!(refused, Err(WalletError::CredentialRefused(ref why)) if why.starts_with("signature")),
        "{refused:?}"
    );
    // An expired credential (checked a year and a day after issuance... the test licence has
    // no exp, so check far in the past instead: before it was issued).
    let early = check
        .check(
            &SdJwtVc::parse(&compact).unwrap(),
            now() - Duration::days(2),
        )
        .await;
    assert!(
        matches!(early.result(), Ok(CheckVerdict::Invalid { step, .. }) if step == "validity"),
        "{:?}",
        early.result()
    );
    // A check speaks only for the credential it was made for.
    let good_check = check.check(&SdJwtVc::parse(&good).unwrap(), now()).await;
    let borrowed = good_check.check(&SdJwtVc::parse(&compact).unwrap(), now());
    assert!(borrowed.is_err(), "{borrowed:?}");
    let refused = wallet.store_received(&compact, &other, &good_check, now());
    assert!(
        matches!(refused, Err(WalletError::CheckUnavailable(_))),
        "{refused:?}"
    );
    // A credential bound to another key than the one proved.
    let checked = check.check(&SdJwtVc::parse(&compact).unwrap(), now()).await;
    let wrong_key = wallet.store_received(&compact, &key, &checked, now());
    assert!(
        matches!(wrong_key, Err(WalletError::CredentialRefused(_))),
        "{wrong_key:?}"
    );
    assert_eq!(
        wallet.credentials().expect("list").len(),
        1,
        "nothing more stored"
    );
}

#[test]
fn offer_uris_by_value_and_by_reference_and_malformed_ones() {
    let offer = json!({
        "credential_issuer": "https://agency.example/issuer/regulator",
        "credential_configuration_ids": ["business-licence.dc-sd-jwt"],
        "grants": {"urn:ietf:params:oauth:grant-type:pre-authorized_code": {
            "pre-authorized_code": "abc", "tx_code": {"input_mode": "numeric", "length": 6}}},
    });
    let encoded: String =
        url::form_urlencoded::byte_serialize(offer.to_string().as_bytes()).collect();
    let by_value = format!("openid-credential-offer://?credential_offer={encoded}");
    let OfferLocation::ByValue(value) =
        oid4vci::parse_offer_uri(&format!("  {by_value}\n")).expect("by value")
    else {
        panic!("by value expected");
    };
    let parsed = oid4vci::parse_offer(&value).expect("offer");
    assert_eq!(
        parsed.credential_issuer.as_str(),
        "https://agency.example/issuer/regulator"
    );
    assert_eq!(parsed.tx_code.as_ref().and_then(|t| t.length), Some(6));
    assert!(
        !format!("{parsed:?}").contains("abc"),
        "the code is never printed"
    );
    assert_eq!(
        oid4vci::parse_offer_uri(
            "openid-credential-offer://?credential_offer_uri=https%3A%2F%2Fagency.example%2Fo%2F1"
        )
        .expect("by reference"),
        OfferLocation::ByReference(url::Url::parse("https://agency.example/o/1").unwrap())
    );

    let malformed = [
        ("not a URI", "no scheme here"),
        (
            "another scheme",
            "https://agency.example/?credential_offer_uri=https://a.example",
        ),
        ("neither", "openid-credential-offer://?foo=bar"),
        (
            "both",
            "openid-credential-offer://?credential_offer=%7B%7D&credential_offer_uri=https%3A%2F%2Fa.example",
        ),
        (
            "twice",
            "openid-credential-offer://?credential_offer_uri=https%3A%2F%2Fa.example&credential_offer_uri=https%3A%2F%2Fb.example",
        ),
        (
            "not JSON",
            "openid-credential-offer://?credential_offer=%7Bnope",
        ),
        (
            "not a URL",
            "openid-credential-offer://?credential_offer_uri=nope",
        ),
    ];
    for (name, text) in malformed {
        assert!(
            matches!(
                oid4vci::parse_offer_uri(text),
                Err(Oid4vciError::MalformedOffer(_))
            ),
            "{name}"
        );
    }
    for (name, bad) in [
        (
            "no issuer",
            json!({"credential_configuration_ids": ["a"], "grants": offer["grants"]}),
        ),
        (
            "no ids",
            json!({"credential_issuer": "https://a.example", "credential_configuration_ids": [], "grants": offer["grants"]}),
        ),
        (
            "no grant",
            json!({"credential_issuer": "https://a.example", "credential_configuration_ids": ["a"], "grants": {}}),
        ),
    ] {
        assert!(
            matches!(
                oid4vci::parse_offer(&bad),
                Err(Oid4vciError::MalformedOffer(_))
            ),
            "{name}"
        );
    }
}

#[tokio::test]
async fn an_http_issuer_is_refused_unless_insecure_is_allowed() {
    let client = oid4vci::IssuanceClient::new(reqwest::Client::new(), Default::default());
    let location =
        OfferLocation::ByReference(url::Url::parse("http://agency.example/o/1").unwrap());
    assert!(matches!(
        client.offer(&location).await,
        Err(Oid4vciError::Insecure(_))
    ));
}

#[tokio::test]
async fn an_offer_pointing_into_the_private_network_is_refused() {
    let http = credence_wallet::http::client(false).expect("client");
    let client = oid4vci::IssuanceClient::new(http, Default::default());
    // IP literals: refused on the URL, before any request.
    for target in [
        "https://127.0.0.1/o/1",
        "https://10.0.0.1/o/1",
        "https://[::1]/o/1",
        "https://169.254.169.254/latest/meta-data",
    ] {
        let location = OfferLocation::ByReference(url::Url::parse(target).unwrap());
        assert!(
            matches!(
                client.offer(&location).await,
                Err(Oid4vciError::PrivateAddress(_))
            ),
            "{target}"
        );
    }
    // An offer by value naming a private issuer: its metadata is never fetched.
    let offer = json!({
        "credential_issuer": "https://192.168.1.1/issuer",
        "credential_configuration_ids": ["licence"],
        "grants": {"urn:ietf:params:oauth:grant-type:pre-authorized_code": {"pre-authorized_code": "abc"}},
    });
    let location = OfferLocation::ByValue(offer);
    assert!(matches!(
        client.offer(&location).await,
        Err(Oid4vciError::PrivateAddress(_))
    ));
    // A host name resolving to loopback: refused by the filtering DNS at connection time.
    let location = OfferLocation::ByReference(url::Url::parse("https://localhost:9/o/1").unwrap());
    let refused = client.offer(&location).await.expect_err("refused");
    assert!(refused.to_string().contains("non-public"), "{refused}");
}

/// A fake verifier: serves request objects by id and counts the responses posted to it.
#[derive(Clone, Default)]
struct FakeVerifier {
    objects: Arc<Mutex<std::collections::HashMap<String, String>>>,
    responses: Arc<Mutex<Vec<String>>>,
}

async fn start_fake() -> (FakeVerifier, String) {
    let fake = FakeVerifier::default();
    let app = axum::Router::new()
        .route(
            "/requests/{id}/object",
            get(
                |State(fake): State<FakeVerifier>, UrlPath(id): UrlPath<String>| async move {
                    fake.objects
                        .lock()
                        .unwrap()
                        .get(&id)
                        .cloned()
                        .unwrap_or_default()
                },
            ),
        )
        .route(
            "/requests/{id}/response",
            post(
                |State(fake): State<FakeVerifier>, body: String| async move {
                    fake.responses.lock().unwrap().push(body);
                    axum::Json(json!({}))
                },
            ),
        )
        .with_state(fake.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (fake, base)
}

struct Signer {
    key: SecretKey,
    client_id: String,
    kid: String,
}

fn signer() -> Signer {
    let key = SecretKey::generate(KeyType::Ed25519);
    let did = key.public().to_did_key();
    Signer {
        kid: format!("{did}#{}", key.public().to_multikey()),
        client_id: did_client_id(&did),
        key,
    }
}

fn licence_query(claims: Value) -> Value {
    json!({"credentials": [{"id": "licence", "format": "dc+sd-jwt",
        "meta": {"vct_values": [LICENCE]}, "claims": claims}]})
}

fn request(signer: &Signer, base: &str, id: &str, dcql: Value) -> AuthorizationRequest {
    AuthorizationRequest {
        client_id: signer.client_id.clone(),
        response_uri: format!("{base}/requests/{id}/response"),
        response_mode: ResponseMode::DirectPost,
        nonce: "n-0S6_WzA2Mj".into(),
        state: "s-1".into(),
        dcql_query: DcqlQuery::from_value(&dcql).expect("dcql"),
        response_key: None,
        issued_at: now(),
        expires_at: now() + Duration::minutes(5),
        client_name: Some("Harbour Bank".into()),
        purpose: Some("account opening".into()),
    }
}

fn b64(value: &Value) -> String {
    URL_SAFE_NO_PAD.encode(value.to_string())
}

/// Makes the request object served, from the signer, the fake's base URL and the request id.
type MakeObject = Box<dyn Fn(&Signer, &str, &str) -> String>;

/// One row: the request object served, and the error the wallet must give.
struct Row {
    name: &'static str,
    object: MakeObject,
    expect: fn(&Oid4vpError) -> bool,
}

#[tokio::test]
async fn bad_requests_are_refused_and_nothing_is_sent() {
    let (fake, base) = start_fake().await;
    let (_dir, _path, mut wallet) = new_wallet();
    store_copies(&mut wallet, &issuer_key(), KeyType::P256, 1);
    let rows: Vec<Row> = vec![
        Row {
            name: "unsigned (alg none)",
            object: Box::new(|s, base, id| {
                format!(
                    "{}.{}.",
                    b64(&json!({"alg": "none", "typ": "oauth-authz-req+jwt"})),
                    b64(&request(s, base, id, query()).claims())
                )
            }),
            expect: |e| matches!(e, Oid4vpError::Unsigned(_)),
        },
        Row {
            name: "signed by a key not of the client_id",
            object: Box::new(move |s, base, id| {
                let impostor = signer();
                let claims = request(s, base, id, query()).claims();
                credence_registry::signed::sign_typed(
                    &claims,
                    &impostor.key,
                    &s.kid,
                    Some("oauth-authz-req+jwt"),
                )
            }),
            expect: |e| matches!(e, Oid4vpError::WrongSignature(_)),
        },
        Row {
            name: "a kid of another DID",
            object: Box::new(move |s, base, id| {
                let other = signer();
                let claims = request(s, base, id, query()).claims();
                credence_registry::signed::sign_typed(
                    &claims,
                    &s.key,
                    &other.kid,
                    Some("oauth-authz-req+jwt"),
                )
            }),
            expect: |e| matches!(e, Oid4vpError::WrongSignature(_)),
        },
        Row {
            name: "a response_uri at another origin",
            object: Box::new(move |s, base, id| {
                let mut r = request(s, base, id, query());
                r.response_uri = "http://127.0.0.2:9/collect".into();
                signed(s, &r.claims())
            }),
            expect: |e| matches!(e, Oid4vpError::ForeignResponseUri { .. }),
        },
        Row {
            name: "a response_uri that is not https or http",
            object: Box::new(move |s, base, id| {
                let mut r = request(s, base, id, query());
                r.response_uri = format!("ftp://{}/x", base.trim_start_matches("http://"));
                signed(s, &r.claims())
            }),
            expect: |e| matches!(e, Oid4vpError::Insecure(_)),
        },
        Row {
            name: "a malformed DCQL query",
            object: Box::new(move |s, base, id| {
                let mut claims = request(s, base, id, query()).claims();
                claims["dcql_query"] =
                    json!({"credentials": [{"id": "x y", "format": "dc+sd-jwt", "meta": {}}]});
                signed(s, &claims)
            }),
            expect: |e| matches!(e, Oid4vpError::MalformedDcql(_)),
        },
        Row {
            name: "an expired request",
            object: Box::new(move |s, base, id| {
                let mut r = request(s, base, id, query());
                r.expires_at = now() - Duration::seconds(1);
                signed(s, &r.claims())
            }),
            expect: |e| matches!(e, Oid4vpError::InvalidRequest(_)),
        },
        Row {
            name: "another client_id inside",
            object: Box::new(move |s, base, id| {
                let mut claims = request(s, base, id, query()).claims();
                claims["client_id"] = json!(signer().client_id);
                signed(s, &claims)
            }),
            expect: |e| matches!(e, Oid4vpError::InvalidRequest(_)),
        },
    ];
    let client = PresentationClient::new(
        openid4vp::http_client().unwrap(),
        ClientOptions {
            allow_insecure: true,
            ..Default::default()
        },
    );
    for (index, row) in rows.iter().enumerate() {
        let s = signer();
        let id = format!("r{index}");
        let object = (row.object)(&s, &base, &id);
        fake.objects.lock().unwrap().insert(id.clone(), object);
        let uri = openid4vp_uri(&s.client_id, &format!("{base}/requests/{id}/object"));
        let reference = openid4vp::parse_request_uri(&uri).expect("uri");
        let refused = client.fetch(&reference, now()).await;
        assert!(
            refused.as_ref().is_err_and(|e| (row.expect)(e)),
            "{}: {:?}",
            row.name,
            refused.map(|_| ())
        );
    }

    // A good request for what the wallet does not hold: nothing matches.
    let s = signer();
    let degree = json!({"credentials": [{"id": "degree", "format": "dc+sd-jwt",
        "meta": {"vct_values": ["https://credence.example/types/degree"]}}]});
    fake.objects.lock().unwrap().insert(
        "deg".into(),
        signed(&s, &request(&s, &base, "deg", degree).claims()),
    );
    let uri = openid4vp_uri(&s.client_id, &format!("{base}/requests/deg/object"));
    let request_for_degree = client
        .fetch(&openid4vp::parse_request_uri(&uri).unwrap(), now())
        .await
        .expect("a valid request");
    assert!(matches!(
        wallet.match_request(&request_for_degree),
        Err(Oid4vpError::NothingMatches(_))
    ));

    // Without allow_insecure: http and private addresses are refused before any fetch.
    let strict =
        PresentationClient::new(openid4vp::http_client().unwrap(), ClientOptions::default());
    let http = openid4vp::parse_request_uri(&openid4vp_uri(
        &s.client_id,
        &format!("{base}/requests/deg/object"),
    ))
    .unwrap();
    assert!(matches!(
        strict.fetch(&http, now()).await,
        Err(Oid4vpError::Insecure(_))
    ));
    let private = openid4vp::parse_request_uri(&openid4vp_uri(
        &s.client_id,
        "https://10.0.0.1/requests/deg/object",
    ))
    .unwrap();
    assert!(matches!(
        strict.fetch(&private, now()).await,
        Err(Oid4vpError::PrivateAddress(_))
    ));
    // A client id that cannot be authenticated.
    let web = openid4vp::parse_request_uri(&openid4vp_uri(
        "redirect_uri:https://verifier.example/cb",
        &format!("{base}/requests/deg/object"),
    ))
    .unwrap();
    assert!(matches!(
        client.fetch(&web, now()).await,
        Err(Oid4vpError::UnsupportedClientId(_))
    ));

    // A good request: only the chosen claims leave the wallet.
    fake.objects.lock().unwrap().insert(
        "ok".into(),
        signed(&s, &request(&s, &base, "ok", query()).claims()),
    );
    let uri = openid4vp_uri(&s.client_id, &format!("{base}/requests/ok/object"));
    let good = client
        .fetch(&openid4vp::parse_request_uri(&uri).unwrap(), now())
        .await
        .expect("fetch");
    let prepared = wallet.match_request(&good).expect("match");
    assert_eq!(prepared.answers.len(), 1);
    let answer = &prepared.answers[0];
    // Who asks and why, as the signed request object says.
    assert_eq!(
        answer.view.verifier().display_name.as_deref(),
        Some("Harbour Bank")
    );
    assert_eq!(answer.view.purpose(), Some("account opening"));
    let paths: Vec<String> = answer
        .view
        .requested()
        .iter()
        .map(|i| i.path.to_string())
        .collect();
    assert_eq!(paths, ["/company_name", "/licence_status"]);
    assert!(
        fake.responses.lock().unwrap().is_empty(),
        "nothing was sent before consent"
    );
    let consent = answer
        .view
        .consent(answer.view.requested().iter().map(|i| i.path.clone()))
        .expect("consent");
    let (presentation, history) = wallet.present(&consent, now()).expect("present");
    let answer = client
        .send(&good, &[(answer.query_id.as_str(), &presentation)])
        .await;
    wallet
        .record_answer(&history, answer.clone())
        .expect("record");
    assert_eq!(answer, credence_wallet::history::VerifierAnswer::Accepted);
    let sent = fake.responses.lock().unwrap().clone();
    assert_eq!(sent.len(), 1);
    let form: std::collections::HashMap<String, String> =
        url::form_urlencoded::parse(sent[0].as_bytes())
            .into_owned()
            .collect();
    assert_eq!(form["state"], "s-1");
    let token: Value = serde_json::from_str(&form["vp_token"]).expect("vp_token");
    let compact = token["licence"][0].as_str().expect("presentation");
    let mut names: Vec<String> = compact
        .split('~')
        .skip(1)
        .filter(|part| !part.is_empty() && !part.contains('.'))
        .map(|d| {
            let array: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(d).unwrap()).unwrap();
            array[1].as_str().unwrap_or_default().to_owned()
        })
        .collect();
    // Disclosures go in the order issued (shuffled by the issuer).
    names.sort();
    assert_eq!(names, ["company_name", "licence_status"]);
}

fn query() -> Value {
    licence_query(json!([{"path": ["company_name"]}, {"path": ["licence_status"]}]))
}

fn signed(signer: &Signer, claims: &Value) -> String {
    credence_registry::signed::sign_typed(
        claims,
        &signer.key,
        &signer.kid,
        Some("oauth-authz-req+jwt"),
    )
}

fn openid4vp_uri(client_id: &str, request_uri: &str) -> String {
    credence_verifier::openid4vp::authorization_request_uri(client_id, request_uri)
}

/// A CA and a P-256 leaf for `names`, made with rcgen; the leaf's key is ours (a `SecretKey`),
/// so the request object is signed the way the verifier service signs it.
fn x509_verifier(names: &[&str]) -> (String, SecretKey, credence_verifier::x509::CertificateChain) {
    use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
    struct Point(Vec<u8>);
    impl rcgen::PublicKeyData for Point {
        fn der_bytes(&self) -> &[u8] {
            &self.0
        }
        fn algorithm(&self) -> &'static rcgen::SignatureAlgorithm {
            &rcgen::PKCS_ECDSA_P256_SHA256
        }
    }
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let root = CertifiedIssuer::self_signed(ca, KeyPair::generate().unwrap()).unwrap();
    let key = SecretKey::generate(KeyType::P256);
    let SecretKey::P256(signing) = &key else {
        unreachable!()
    };
    let point = Point(
        signing
            .verifying_key()
            .to_encoded_point(false)
            .as_bytes()
            .to_vec(),
    );
    let params =
        CertificateParams::new(names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>()).unwrap();
    let leaf = params.signed_by(&point, &root).unwrap();
    let chain = credence_verifier::x509::CertificateChain::from_pem(leaf.pem().as_bytes()).unwrap();
    (root.pem(), key, chain)
}

#[tokio::test]
async fn x509_verifiers_are_authenticated_by_a_trusted_certificate_chain() {
    let (fake, base) = start_fake().await;
    // The certificate names `localhost`; the fake listens on 127.0.0.1.
    let base = base.replace("127.0.0.1", "localhost");
    let (root_pem, key, chain) = x509_verifier(&["localhost"]);
    let anchors =
        credence_verifier::x509::TrustAnchors::from_pem(root_pem.as_bytes()).expect("anchors");
    let trusting = PresentationClient::new(
        openid4vp::http_client().unwrap(),
        ClientOptions {
            allow_insecure: true,
            verifier_trust_anchors: anchors,
        },
    );
    let untrusting = PresentationClient::new(
        openid4vp::http_client().unwrap(),
        ClientOptions {
            allow_insecure: true,
            ..Default::default()
        },
    );
    let by_name = "x509_san_dns:localhost".to_owned();
    let by_hash = chain.hash_client_id().as_client_id();
    let x509_request = |client_id: &str, response_base: &str, id: &str| {
        let mut request = request(
            &signer(),
            response_base,
            id,
            licence_query(json!([{"path": ["company_name"]}])),
        );
        request.client_id = client_id.to_owned();
        request
    };
    for (id, client_id) in [("x-name", &by_name), ("x-hash", &by_hash)] {
        let object = x509_request(client_id, &base, id).sign_with_certificate(&key, &chain);
        fake.objects.lock().unwrap().insert(id.into(), object);
        let uri = openid4vp_uri(client_id, &format!("{base}/requests/{id}/object"));
        let reference = openid4vp::parse_request_uri(&uri).unwrap();
        let request = trusting.fetch(&reference, now()).await.expect(client_id);
        assert_eq!(request.client_id.as_str(), client_id);
        assert!(matches!(
            untrusting.fetch(&reference, now()).await,
            Err(Oid4vpError::UntrustedVerifier(_))
        ));
    }
    // Signed by another key than the certificate's.
    let mallory = SecretKey::generate(KeyType::P256);
    let object = x509_request(&by_name, &base, "x-forged").sign_with_certificate(&mallory, &chain);
    fake.objects
        .lock()
        .unwrap()
        .insert("x-forged".into(), object);
    let uri = openid4vp_uri(&by_name, &format!("{base}/requests/x-forged/object"));
    assert!(matches!(
        trusting
            .fetch(&openid4vp::parse_request_uri(&uri).unwrap(), now())
            .await,
        Err(Oid4vpError::WrongSignature(_))
    ));
    // x509_san_dns: the answer may only go to the certified host (here the same server under
    // its IP address, which the certificate does not name).
    let ip_base = base.replace("localhost", "127.0.0.1");
    let object =
        x509_request(&by_name, &ip_base, "x-elsewhere").sign_with_certificate(&key, &chain);
    fake.objects
        .lock()
        .unwrap()
        .insert("x-elsewhere".into(), object);
    let uri = openid4vp_uri(&by_name, &format!("{ip_base}/requests/x-elsewhere/object"));
    let refused = trusting
        .fetch(&openid4vp::parse_request_uri(&uri).unwrap(), now())
        .await
        .expect_err("another host");
    assert!(
        matches!(&refused, Oid4vpError::InvalidRequest(why) if why.contains("certified")),
        "{refused}"
    );
    // A client id the wallet cannot authenticate at all: refused before fetching.
    let uri = openid4vp_uri("x509_san_dns:", &format!("{base}/requests/x-name/object"));
    assert!(matches!(
        trusting
            .fetch(&openid4vp::parse_request_uri(&uri).unwrap(), now())
            .await,
        Err(Oid4vpError::UnsupportedClientId(_))
    ));
    assert!(
        fake.responses.lock().unwrap().is_empty(),
        "nothing was sent"
    );
}

/// The degree the tests issue as a `vc+jwt`.
const DEGREE: &str = "https://credence.example/types/degree";

/// Stores a `vc+jwt` degree issued to a fresh holder key's did:key (`did_jwk`: its did:jwk),
/// checked by the verifier library first.
async fn store_degree(wallet: &mut credence_wallet::Wallet, did_jwk: bool) -> SecretKey {
    use credence_issuer::vc_jwt::{CredentialType, VcJwtRequest, issue};
    let holder = SecretKey::generate(KeyType::Ed25519);
    let did = if did_jwk {
        format!("did:jwk:{}", b64(&holder.public().to_jwk()))
    } else {
        holder.public().to_did_key()
    };
    let request = VcJwtRequest {
        id: None,
        credential_type: CredentialType::parse(DEGREE).unwrap(),
        holder: Some(credence_registry::did::Did::parse(&did).unwrap()),
        subject: credence_issuer::claims::Claims::from_value(
            json!({"degree": "MSc Computer Science", "graduated": "2024-06-30"}),
        )
        .unwrap(),
        valid_from: Some(now() - Duration::days(1)),
        valid_until: None,
        status: vec![],
    };
    let compact = issue(&issuer_key(), &request, now() - Duration::days(1)).unwrap();
    let parsed = VcJwt::parse(&compact).expect("a vc+jwt");
    let checked = offline_check().check_vc_jwt(&parsed, now()).await;
    assert_eq!(checked.result(), &Ok(CheckVerdict::Valid));
    // Bound to another key than the one it names: refused, nothing stored.
    let stranger = SecretKey::generate(KeyType::Ed25519);
    assert!(matches!(
        wallet.store_received(&compact, &stranger, &checked, now()),
        Err(WalletError::CredentialRefused(_))
    ));
    // The check double knows no vc+jwt: it cannot vouch for one.
    assert!(matches!(
        wallet.store_received(&compact, &holder, &crate::Check::Accept, now()),
        Err(WalletError::CheckUnavailable(_))
    ));
    wallet
        .store_received(&compact, &holder, &checked, now())
        .expect("store");
    holder
}

fn two_credentials(sets: Option<Value>) -> Value {
    let mut query = json!({"credentials": [
        {"id": "licence", "format": "dc+sd-jwt", "meta": {"vct_values": [LICENCE]},
         "claims": [{"path": ["company_name"]}]},
        {"id": "degree", "format": "jwt_vc_json", "meta": {"type_values": [[DEGREE]]},
         "claims": [{"path": ["credentialSubject", "degree"]}]},
    ]});
    if let Some(sets) = sets {
        query["credential_sets"] = sets;
    }
    query
}

#[tokio::test]
async fn two_credentials_in_one_response_that_the_verifier_library_accepts() {
    let (fake, base) = start_fake().await;
    let client = PresentationClient::new(
        openid4vp::http_client().unwrap(),
        ClientOptions {
            allow_insecure: true,
            ..Default::default()
        },
    );
    let s = signer();
    let fetch = |id: &'static str, query: Value| {
        fake.objects.lock().unwrap().insert(
            id.into(),
            signed(&s, &request(&s, &base, id, query).claims()),
        );
        let uri = openid4vp_uri(&s.client_id, &format!("{base}/requests/{id}/object"));
        let client = client.clone();
        async move {
            client
                .fetch(&openid4vp::parse_request_uri(&uri).unwrap(), now())
                .await
                .expect("fetch")
        }
    };

    // Only the licence held: a request needing both finds nothing for the degree.
    let (_dir, _path, mut wallet) = new_wallet();
    store_copies(&mut wallet, &issuer_key(), KeyType::P256, 1);
    let both = fetch("both-0", two_credentials(None)).await;
    assert!(
        matches!(wallet.match_request(&both), Err(Oid4vpError::NothingMatches(ref why)) if why.contains("degree")),
    );
    // A credential set either option of which will do: the licence answers alone.
    let either = fetch(
        "either",
        two_credentials(Some(json!([{"options": [["degree"], ["licence"]]}]))),
    )
    .await;
    let prepared = wallet.match_request(&either).expect("the licence option");
    assert_eq!(prepared.answers.len(), 1);
    assert_eq!(prepared.answers[0].query_id, "licence");

    for did_jwk in [false, true] {
        let (_dir, _path, mut wallet) = new_wallet();
        store_copies(&mut wallet, &issuer_key(), KeyType::P256, 1);
        let holder = store_degree(&mut wallet, did_jwk).await;
        let listed = wallet.credentials().unwrap();
        assert_eq!(listed.len(), 2);
        assert!(listed.iter().any(
            |c| c.vct() == Some(DEGREE) && c.format() == credence_verifier::dcql::Format::VcJwt
        ));

        let id = if did_jwk { "both-jwk" } else { "both-key" };
        let both = fetch(id, two_credentials(None)).await;
        let prepared = wallet.match_request(&both).expect("both answered");
        let ids: Vec<&str> = prepared
            .answers
            .iter()
            .map(|a| a.query_id.as_str())
            .collect();
        assert_eq!(ids, ["licence", "degree"]);
        // The licence: one claim, chosen; the degree: the claim asked for, and the view says
        // that everything else in it is disclosed too, none of it optional.
        let licence = &prepared.answers[0].view;
        assert!(!licence.discloses_everything());
        let degree = &prepared.answers[1].view;
        assert!(degree.discloses_everything());
        assert!(degree.requested().iter().all(|item| !item.optional));
        assert_eq!(
            degree.requested()[0].path.to_string(),
            "/credentialSubject/degree"
        );
        let always: Vec<String> = degree
            .always_disclosed()
            .iter()
            .map(ToString::to_string)
            .collect();
        for path in [
            "/credentialSubject/graduated",
            "/credentialSubject/id",
            "/issuer",
        ] {
            assert!(always.iter().any(|p| p == path), "{path} in {always:?}");
        }
        // The degree cannot be presented without the claim the verifier requires.
        assert!(degree.consent(Vec::new()).is_err());

        let mut presentations = Vec::new();
        for answer in &prepared.answers {
            let consent = answer
                .view
                .consent(answer.view.requested().iter().map(|i| i.path.clone()))
                .expect("consent");
            let (presentation, _) = wallet.present(&consent, now()).expect("present");
            presentations.push((answer.query_id.clone(), presentation));
        }
        let pairs: Vec<(&str, &credence_wallet::present::Presentation)> = presentations
            .iter()
            .map(|(id, p)| (id.as_str(), p))
            .collect();
        let before = fake.responses.lock().unwrap().len();
        let answer = client.send(&both, &pairs).await;
        assert_eq!(answer, credence_wallet::history::VerifierAnswer::Accepted);
        let sent = fake.responses.lock().unwrap()[before].clone();
        let body =
            credence_verifier::openid4vp::parse_response_form(sent.as_bytes()).expect("a form");
        let credence_verifier::openid4vp::ResponseBody::Plain(params) = body else {
            panic!("direct_post");
        };
        // The verifier library checks the response as the verifier service would.
        let query = DcqlQuery::from_value(&two_credentials(None)).unwrap();
        let verified = credence_verifier::openid4vp::verify_response(
            &params,
            &credence_verifier::openid4vp::Expected {
                client_id: &s.client_id,
                nonce: "n-0S6_WzA2Mj",
                state: "s-1",
                query: &query,
                now: now(),
                leeway: Duration::seconds(60),
                presentation_max_age: Duration::minutes(5),
            },
            &offline_check_context(),
        )
        .await
        .expect("usable expectations")
        .expect("the verifier accepts both");
        assert_eq!(
            verified.claims["licence"][0],
            json!({"company_name": "Example Trading Ltd"})
        );
        assert_eq!(
            verified.claims["degree"][0],
            json!({"credentialSubject": {"degree": "MSc Computer Science"}})
        );
        // The degree went as a vp+jwt signed by its holder key.
        let credence_verifier::openid4vp::ResponseParams::Presentation { vp_token, .. } = &params
        else {
            panic!("a presentation");
        };
        let vp = vp_token["degree"][0].as_str().unwrap();
        assert!(credence_verifier::vp_jwt::is_presentation(vp));
        let jws = credence_verifier::jose::Jws::parse(vp, "vp", "vp+jwt").unwrap();
        jws.verify(&holder.public())
            .expect("signed by the holder key");
        // One history entry per credential.
        assert_eq!(wallet.history().unwrap().len(), 2);
    }
}

fn offline_check_context() -> Context {
    Context::new(
        Resolver::new(CredenceSource::Disabled, Default::default()),
        None,
        reqwest::Client::new(),
    )
}
