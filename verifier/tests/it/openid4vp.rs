//! OpenID4VP with DCQL (feature `server`), on SQLite and on PostgreSQL when
//! `CREDENCE_TEST_DATABASE_URL` is set: a wallet-side walk with real keys (an SD-JWT VC the
//! issuer crate issues, only the requested claims disclosed, a KB-JWT over the request's nonce
//! and the verifier's client_id) through `open(..).router.oneshot(..)` for `direct_post` and
//! `direct_post.jwt`; every bad response a row asserting the OAuth error and the request's
//! recorded state; the relying party API's token and DCQL refusals with nothing written; DCQL
//! parsing and matching tables; the status-list address policy.

use std::collections::BTreeMap;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::Duration;
use credence_issuer::claims::{ClaimPath, Claims};
use credence_issuer::jws::{IssuerKey, Kid};
use credence_issuer::sd_jwt::{self, Decoys, SdJwtVc, SdJwtVcRequest, Vct};
use credence_registry::clock::{Clock, ManualTime};
use credence_registry::keys::{KeyType, PublicKey, SecretKey};
use credence_verifier::dcql::{DcqlError, DcqlQuery, Format, PresentedCredential, Segment, Unmet};
use credence_verifier::jose::Jws;
use credence_verifier::jwe::{self, Enc};
use credence_verifier::openid4vp::REQUEST_OBJECT_TYPE;
use credence_verifier::server::{VerifierApp, VerifierConfig, VerifierState, open_with};
use http_body_util::BodyExt as _;
use serde_json::{Value, json};
use tower::ServiceExt as _;

use crate::support::{Issuer, Kb, VCT, now, offline_context, present};

const TOKEN: &str = "rp-token-0123456789abcdef";
const PG_ENV: &str = "CREDENCE_TEST_DATABASE_URL";

/// A verifier service on one backend, its clock at [`now`].
struct Service {
    backend: &'static str,
    app: VerifierApp,
    time: ManualTime,
    _dir: tempfile::TempDir,
}

fn schema_name() -> String {
    let token = credence_verifier::openid4vp::random_token();
    let digest = <sha2::Sha256 as sha2::Digest>::digest(token.as_bytes());
    format!(
        "v_{}",
        digest[..8]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    )
}

pub(crate) fn config(dir: &std::path::Path, database_url: Option<String>) -> VerifierConfig {
    VerifierConfig {
        registry_url: Some("http://127.0.0.1:9/registry".into()),
        leeway_seconds: 60,
        presentation_max_age_seconds: 300,
        data_dir: Some(dir.to_owned()),
        database_url,
        api_token: Some(TOKEN.into()),
        api_token_file: None,
        public_url: Some("https://verifier.example/verifier".into()),
        request_ttl_seconds: 300,
        allow_private_targets: false,
        name: Some("Harbour Bank".into()),
        x509_chain: None,
        x509_key: None,
        x509_client_id: None,
    }
}

/// The pipeline without a registry (did:key issuers: accreditation and schema not checked).
pub(crate) fn offline_state(clock: Clock) -> VerifierState {
    VerifierState {
        context: std::sync::Arc::new(offline_context()),
        clock,
        leeway: Duration::seconds(60),
        presentation_max_age: Duration::minutes(5),
    }
}

/// SQLite always; PostgreSQL too (a fresh schema) when the environment names a database.
async fn services() -> Vec<Service> {
    let mut all = Vec::new();
    let dir = tempfile::tempdir().unwrap();
    let (clock, time) = Clock::manual(now());
    let app = open_with(&config(dir.path(), None), offline_state(clock))
        .await
        .unwrap();
    all.push(Service {
        backend: "sqlite",
        app,
        time,
        _dir: dir,
    });
    match std::env::var(PG_ENV) {
        Ok(url) if !url.is_empty() => {
            let schema = schema_name();
            let admin = sqlx::PgPool::connect(&url).await.expect("connect postgres");
            sqlx::query(&format!("CREATE SCHEMA {schema}"))
                .execute(&admin)
                .await
                .unwrap();
            admin.close().await;
            let separator = if url.contains('?') { '&' } else { '?' };
            let scoped = format!("{url}{separator}options=-c%20search_path%3D{schema}");
            let dir = tempfile::tempdir().unwrap();
            let (clock, time) = Clock::manual(now());
            let app = open_with(&config(dir.path(), Some(scoped)), offline_state(clock))
                .await
                .unwrap();
            all.push(Service {
                backend: "postgres",
                app,
                time,
                _dir: dir,
            });
        }
        _ => eprintln!("note: {PG_ENV} is not set; PostgreSQL half of this test skipped"),
    }
    all
}

struct Answer {
    status: StatusCode,
    media: Option<String>,
    text: String,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or(Value::Null)
    }
}

async fn call(app: &VerifierApp, request: Request<Body>) -> Answer {
    let response = app.router.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let media = response
        .headers()
        .get(header::CONTENT_TYPE)
        .map(|v| v.to_str().unwrap().to_owned());
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    Answer {
        status,
        media,
        text: String::from_utf8_lossy(&bytes).into_owned(),
    }
}

fn query() -> Value {
    json!({
        "credentials": [{
            "id": "licence",
            "format": "dc+sd-jwt",
            "meta": {"vct_values": [VCT]},
            "claims": [{"path": ["given_name"]}, {"path": ["family_name"]}],
        }],
    })
}

async fn create(app: &VerifierApp, body: Value, token: Option<&str>) -> Answer {
    let mut request = Request::post("/requests").header(header::CONTENT_TYPE, "application/json");
    if let Some(token) = token {
        request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
    }
    call(app, request.body(Body::from(body.to_string())).unwrap()).await
}

async fn result(app: &VerifierApp, id: &str) -> Value {
    let answer = call(
        app,
        Request::get(format!("/requests/{id}"))
            .header(header::AUTHORIZATION, format!("Bearer {TOKEN}"))
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    answer.json()
}

/// What the wallet learns from the request object, its signature checked against the
/// verifier's did:key (the key the `kid` names, resolved from the DID itself).
struct Fetched {
    id: String,
    claims: Value,
}

async fn new_request(app: &VerifierApp, mode: &str) -> Fetched {
    let created = create(
        app,
        json!({"dcql_query": query(), "response_mode": mode}),
        Some(TOKEN),
    )
    .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    let created = created.json();
    let id = created["id"].as_str().unwrap().to_owned();
    let request_uri = created["request_uri"].as_str().unwrap();
    assert_eq!(
        request_uri,
        format!("https://verifier.example/verifier/requests/{id}/object")
    );
    let uri = url::Url::parse(created["authorization_request_uri"].as_str().unwrap()).unwrap();
    assert_eq!(uri.scheme(), "openid4vp");
    let params: BTreeMap<String, String> = uri.query_pairs().into_owned().collect();
    assert_eq!(params["request_uri"], request_uri);
    let client_id = &params["client_id"];
    let did = client_id
        .strip_prefix("decentralized_identifier:")
        .expect("a DID client id");
    assert_eq!(did, app.identity.did());

    let object = call(
        app,
        Request::get(format!("/requests/{id}/object"))
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(object.status, StatusCode::OK);
    assert_eq!(
        object.media.as_deref(),
        Some("application/oauth-authz-req+jwt")
    );
    let jws = Jws::parse(&object.text, "the request object", REQUEST_OBJECT_TYPE).unwrap();
    let kid = jws.header["kid"].as_str().unwrap();
    let (kid_did, _) = kid.split_once('#').unwrap();
    assert_eq!(kid_did, did);
    jws.verify(&PublicKey::from_did_key(did).unwrap())
        .expect("the request object verifies against the verifier's did:key");
    let claims = jws.payload.clone();
    assert_eq!(claims["client_id"], client_id.as_str());
    assert_eq!(claims["response_type"], "vp_token");
    assert_eq!(claims["response_mode"], mode);
    assert_eq!(claims["aud"], "https://self-issued.me/v2");
    assert_eq!(
        claims["response_uri"],
        format!("https://verifier.example/verifier/requests/{id}/response")
    );
    assert_eq!(claims["dcql_query"], query());
    // 128 random bits, base64url.
    assert_eq!(
        URL_SAFE_NO_PAD
            .decode(claims["nonce"].as_str().unwrap())
            .unwrap()
            .len(),
        16
    );
    assert!(claims["exp"].as_i64().unwrap() > claims["iat"].as_i64().unwrap());
    Fetched { id, claims }
}

/// The holder's credential: four disclosable claims, issued by the issuer crate.
struct Holder {
    key: SecretKey,
    credential: SdJwtVc,
}

fn issue_credential() -> Holder {
    let issuer = Issuer::did_key(KeyType::P256);
    let key = SecretKey::generate(KeyType::Ed25519);
    let issuer_key = IssuerKey::new(issuer.key.clone(), Kid::parse(&issuer.kid).unwrap());
    let request = SdJwtVcRequest {
        vct: Vct::parse(VCT).unwrap(),
        holder: key.public(),
        status: None,
        not_before: None,
        expires: Some(now() + Duration::days(365)),
        claims: Claims::from_value(json!({
            "given_name": "Erika",
            "family_name": "Mustermann",
            "email": "erika@example.org",
            "birthdate": "1963-08-12",
            "company": "Example GmbH",
        }))
        .unwrap(),
        disclosable: ["/given_name", "/family_name", "/email", "/birthdate"]
            .iter()
            .map(|p| ClaimPath::parse(p).unwrap())
            .collect(),
        decoys: Decoys::default(),
    };
    let credential = sd_jwt::issue(&issuer_key, &request, now() - Duration::hours(1)).unwrap();
    Holder { key, credential }
}

/// The claim name of an encoded Disclosure.
fn disclosure_name(encoded: &str) -> Option<String> {
    let array: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(encoded).ok()?).ok()?;
    array.get(1)?.as_str().map(str::to_owned)
}

/// How the wallet answers, changed per row.
struct Presenting<'a> {
    names: Vec<String>,
    nonce: &'a str,
    audience: &'a str,
    key_binding: bool,
}

impl Holder {
    /// The wallet's side: the DCQL matcher chooses the claim paths, only their Disclosures are
    /// sent, with a KB-JWT.
    fn matched_names(&self, request: &Value) -> Vec<String> {
        let query = DcqlQuery::from_value(&request["dcql_query"]).unwrap();
        let all: serde_json::Map<String, Value> = self
            .credential
            .disclosures()
            .iter()
            .filter_map(|d| {
                let array: Value =
                    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(d).unwrap()).unwrap();
                Some((array[1].as_str()?.to_owned(), array[2].clone()))
            })
            .collect();
        let paths = query.credentials[0]
            .match_credential(Format::SdJwtVc, &[VCT.to_owned()], &Value::Object(all))
            .expect("the credential answers the query");
        paths
            .into_iter()
            .map(|path| match &path[..] {
                [Segment::Name(name)] => name.clone(),
                other => panic!("unexpected path {other:?}"),
            })
            .collect()
    }

    fn present(&self, how: &Presenting<'_>) -> String {
        let disclosures: Vec<String> = self
            .credential
            .disclosures()
            .iter()
            .filter(|d| disclosure_name(d).is_some_and(|n| how.names.contains(&n)))
            .cloned()
            .collect();
        let kb = how.key_binding.then(|| Kb {
            nonce: how.nonce,
            audience: how.audience,
            ..Kb::new(&self.key)
        });
        present(self.credential.jwt(), &disclosures, kb)
    }
}

fn vp_token(presentation: &str) -> Value {
    json!({"licence": [presentation]})
}

fn form(pairs: &[(&str, &str)]) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
}

async fn post_response(app: &VerifierApp, id: &str, body: String) -> Answer {
    call(
        app,
        Request::post(format!("/requests/{id}/response"))
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(body))
            .unwrap(),
    )
    .await
}

fn encrypted(request: &Value, token: &Value, state: &str) -> String {
    // The request object names the relying party (`--verifier-name`).
    assert_eq!(request["client_metadata"]["client_name"], "Harbour Bank");
    let jwk = &request["client_metadata"]["jwks"]["keys"][0];
    let key = jwe::public_from_jwk(jwk).unwrap();
    let plaintext = json!({"vp_token": token, "state": state}).to_string();
    jwe::encrypt(
        plaintext.as_bytes(),
        &key,
        jwk["kid"].as_str(),
        Enc::A128Gcm,
    )
}

#[tokio::test]
async fn a_wallet_answers_with_only_the_requested_claims_in_both_response_modes() {
    let holder = issue_credential();
    for service in services().await {
        let app = &service.app;
        for mode in ["direct_post", "direct_post.jwt"] {
            let case = format!("{} {mode}", service.backend);
            let request = new_request(app, mode).await;
            let claims = &request.claims;
            assert_eq!(
                result(app, &request.id).await["status"],
                "pending",
                "{case}"
            );
            let names = holder.matched_names(claims);
            assert_eq!(names.len(), 2, "{case}");
            let presentation = holder.present(&Presenting {
                names,
                nonce: claims["nonce"].as_str().unwrap(),
                audience: claims["client_id"].as_str().unwrap(),
                key_binding: true,
            });
            let state = claims["state"].as_str().unwrap();
            let body = if mode == "direct_post" {
                form(&[
                    ("vp_token", &vp_token(&presentation).to_string()),
                    ("state", state),
                ])
            } else {
                assert_eq!(
                    claims["client_metadata"]["encrypted_response_enc_values_supported"],
                    json!(["A128GCM", "A256GCM"]),
                    "{case}"
                );
                form(&[(
                    "response",
                    &encrypted(claims, &vp_token(&presentation), state),
                )])
            };
            let answer = post_response(app, &request.id, body).await;
            assert_eq!(answer.status, StatusCode::OK, "{case}: {}", answer.text);
            assert_eq!(answer.json(), json!({}), "{case}");
            let outcome = result(app, &request.id).await;
            assert_eq!(outcome["status"], "verified", "{case}: {outcome}");
            // Exactly the requested claims: not the undisclosed email or birthdate, nor the
            // always-visible company, nor the registered claims.
            assert_eq!(
                outcome["claims"],
                json!({"licence": [{"given_name": "Erika", "family_name": "Mustermann"}]}),
                "{case}"
            );
            assert!(!outcome.to_string().contains("erika@example.org"), "{case}");
            assert_eq!(
                outcome["report"]["licence"][0]["verdict"], "valid",
                "{case}"
            );
            let steps = outcome["report"]["licence"][0]["steps"].as_array().unwrap();
            assert!(
                steps
                    .iter()
                    .any(|s| s["step"] == "holder-binding" && s["outcome"] == "passed"),
                "{case}: {outcome}"
            );
        }
        assert_eq!(service.app.store.count().await.unwrap(), 2);
    }
}

/// Builds a form body from the holder and the fetched request claims.
type MakeBody = Box<dyn Fn(&Holder, &Value) -> String>;

/// One bad response: what the wallet sends, the error it gets, the request's state after.
struct Row {
    name: &'static str,
    /// The form body, from the fetched request claims.
    body: MakeBody,
    error: &'static str,
    description: &'static str,
    recorded: &'static str,
}

fn rows() -> Vec<Row> {
    let good = |holder: &Holder, claims: &Value, change: &dyn Fn(&mut Presenting<'_>)| {
        let mut how = Presenting {
            names: vec!["given_name".into(), "family_name".into()],
            nonce: claims["nonce"].as_str().unwrap(),
            audience: claims["client_id"].as_str().unwrap(),
            key_binding: true,
        };
        change(&mut how);
        holder.present(&how)
    };
    let with_state = |token: Value, claims: &Value| {
        form(&[
            ("vp_token", &token.to_string()),
            ("state", claims["state"].as_str().unwrap()),
        ])
    };
    vec![
        Row {
            name: "wrong state",
            body: Box::new(move |h, c| {
                form(&[
                    ("vp_token", &vp_token(&good(h, c, &|_| {})).to_string()),
                    ("state", "not-the-state"),
                ])
            }),
            error: "invalid_request",
            description: "state does not match",
            recorded: "failed",
        },
        Row {
            name: "wrong nonce",
            body: Box::new(move |h, c| {
                with_state(vp_token(&good(h, c, &|p| p.nonce = "another-nonce")), c)
            }),
            error: "invalid_request",
            description: "its nonce is not the one this verifier issued",
            recorded: "failed",
        },
        Row {
            name: "wrong aud",
            body: Box::new(move |h, c| {
                with_state(
                    vp_token(&good(h, c, &|p| {
                        p.audience = "decentralized_identifier:did:key:zOther"
                    })),
                    c,
                )
            }),
            error: "invalid_request",
            description: "is addressed to",
            recorded: "failed",
        },
        Row {
            name: "no KB-JWT",
            body: Box::new(move |h, c| {
                with_state(vp_token(&good(h, c, &|p| p.key_binding = false)), c)
            }),
            error: "invalid_request",
            description: "no key-binding JWT was presented",
            recorded: "failed",
        },
        Row {
            name: "a requested claim not disclosed",
            body: Box::new(move |h, c| {
                with_state(
                    vp_token(&good(h, c, &|p| p.names = vec!["given_name".into()])),
                    c,
                )
            }),
            error: "invalid_request",
            description: "does not disclose the claim [\"family_name\"]",
            recorded: "failed",
        },
        Row {
            name: "an answer to a query that was not asked",
            body: Box::new(move |h, c| with_state(json!({"other": [good(h, c, &|_| {})]}), c)),
            error: "invalid_request",
            description: "which the query does not ask for",
            recorded: "failed",
        },
        Row {
            name: "vp_token values must be arrays",
            body: Box::new(move |h, c| with_state(json!({"licence": good(h, c, &|_| {})}), c)),
            error: "invalid_request",
            description: "must be a non-empty array of presentations",
            recorded: "failed",
        },
        Row {
            name: "an encrypted response to a direct_post request",
            body: Box::new(move |_, _| form(&[("response", "a.b.c.d.e")])),
            error: "invalid_request",
            description: "asked for response_mode direct_post",
            recorded: "failed",
        },
    ]
}

#[tokio::test]
async fn each_bad_response_is_refused_and_recorded() {
    let holder = issue_credential();
    for service in services().await {
        let app = &service.app;
        for row in rows() {
            let case = format!("{}: {}", service.backend, row.name);
            let request = new_request(app, "direct_post").await;
            let body = (row.body)(&holder, &request.claims);
            let answer = post_response(app, &request.id, body).await;
            assert_eq!(
                answer.status,
                StatusCode::BAD_REQUEST,
                "{case}: {}",
                answer.text
            );
            let error = answer.json();
            assert_eq!(error["error"], row.error, "{case}: {error}");
            assert!(
                error["error_description"]
                    .as_str()
                    .unwrap()
                    .contains(row.description),
                "{case}: {error}"
            );
            let outcome = result(app, &request.id).await;
            assert_eq!(outcome["status"], row.recorded, "{case}: {outcome}");
            assert_eq!(outcome["error"]["error"], row.error, "{case}");
            assert!(outcome.get("claims").is_none(), "{case}: {outcome}");
        }
    }
}

#[tokio::test]
async fn replayed_late_unknown_and_undecryptable_responses() {
    let holder = issue_credential();
    for service in services().await {
        let app = &service.app;
        let backend = service.backend;
        let answer_for = |claims: &Value| {
            let presentation = holder.present(&Presenting {
                names: vec!["given_name".into(), "family_name".into()],
                nonce: claims["nonce"].as_str().unwrap(),
                audience: claims["client_id"].as_str().unwrap(),
                key_binding: true,
            });
            form(&[
                ("vp_token", &vp_token(&presentation).to_string()),
                ("state", claims["state"].as_str().unwrap()),
            ])
        };

        // Replay: the second POST of the same good response is refused; the first result stays.
        let request = new_request(app, "direct_post").await;
        let body = answer_for(&request.claims);
        assert_eq!(
            post_response(app, &request.id, body.clone()).await.status,
            StatusCode::OK
        );
        let replay = post_response(app, &request.id, body).await;
        assert_eq!(replay.status, StatusCode::BAD_REQUEST, "{backend}");
        assert_eq!(replay.json()["error"], "invalid_request");
        assert!(
            replay.json()["error_description"]
                .as_str()
                .unwrap()
                .contains("already answered")
        );
        let outcome = result(app, &request.id).await;
        assert_eq!(outcome["status"], "verified", "{backend}: {outcome}");
        assert_eq!(outcome["claims"]["licence"][0]["given_name"], "Erika");

        // Unknown request id: refused, nothing written.
        let before = app.store.count().await.unwrap();
        let unknown = post_response(app, "no-such-request", answer_for(&request.claims)).await;
        assert_eq!(unknown.status, StatusCode::BAD_REQUEST, "{backend}");
        assert_eq!(unknown.json()["error"], "invalid_request");
        assert_eq!(app.store.count().await.unwrap(), before);

        // Late: after the request expired, refused and recorded as failed.
        let request = new_request(app, "direct_post").await;
        service.time.advance(Duration::seconds(301));
        let late = post_response(app, &request.id, answer_for(&request.claims)).await;
        assert_eq!(late.status, StatusCode::BAD_REQUEST, "{backend}");
        assert!(
            late.json()["error_description"]
                .as_str()
                .unwrap()
                .contains("expired")
        );
        let outcome = result(app, &request.id).await;
        assert_eq!(outcome["status"], "failed", "{backend}");
        assert!(outcome.get("claims").is_none());
        service.time.set(now());

        // A JWE for another key (another request's): undecryptable, recorded as failed.
        let request = new_request(app, "direct_post.jwt").await;
        let other = new_request(app, "direct_post.jwt").await;
        let presentation = holder.present(&Presenting {
            names: vec!["given_name".into(), "family_name".into()],
            nonce: request.claims["nonce"].as_str().unwrap(),
            audience: request.claims["client_id"].as_str().unwrap(),
            key_binding: true,
        });
        let jwe = encrypted(
            &other.claims,
            &vp_token(&presentation),
            request.claims["state"].as_str().unwrap(),
        );
        let answer = post_response(app, &request.id, form(&[("response", &jwe)])).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{backend}");
        assert!(
            answer.json()["error_description"]
                .as_str()
                .unwrap()
                .contains("not encrypted to this key"),
            "{backend}: {}",
            answer.text
        );
        assert_eq!(result(app, &request.id).await["status"], "failed");
        // The other request is untouched.
        assert_eq!(result(app, &other.id).await["status"], "pending");

        // A form with the wrong media type is refused before anything is consumed.
        let request = new_request(app, "direct_post").await;
        let wrong_media = call(
            app,
            Request::post(format!("/requests/{}/response", request.id))
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from("{}"))
                .unwrap(),
        )
        .await;
        assert_eq!(wrong_media.status, StatusCode::BAD_REQUEST);
        assert_eq!(result(app, &request.id).await["status"], "pending");
    }
}

#[tokio::test]
async fn the_request_api_needs_the_token_and_a_valid_dcql_query() {
    for service in services().await {
        let app = &service.app;
        let backend = service.backend;
        let cases: Vec<(&str, Value, Option<&str>, StatusCode, &str)> = vec![
            (
                "no token",
                json!({"dcql_query": query()}),
                None,
                StatusCode::UNAUTHORIZED,
                "unauthorized",
            ),
            (
                "wrong token",
                json!({"dcql_query": query()}),
                Some("rp-token-WRONG-0123456789"),
                StatusCode::UNAUTHORIZED,
                "unauthorized",
            ),
            (
                "duplicate credential query ids",
                json!({"dcql_query": {"credentials": [
                    {"id": "a", "format": "dc+sd-jwt", "meta": {}},
                    {"id": "a", "format": "dc+sd-jwt", "meta": {}},
                ]}}),
                Some(TOKEN),
                StatusCode::BAD_REQUEST,
                "invalid-dcql-query",
            ),
            (
                "empty claim path",
                json!({"dcql_query": {"credentials": [
                    {"id": "a", "format": "dc+sd-jwt", "meta": {}, "claims": [{"path": []}]},
                ]}}),
                Some(TOKEN),
                StatusCode::BAD_REQUEST,
                "invalid-dcql-query",
            ),
            (
                "unsupported format",
                json!({"dcql_query": {"credentials": [{"id": "a", "format": "mso_mdoc", "meta": {}}]}}),
                Some(TOKEN),
                StatusCode::BAD_REQUEST,
                "invalid-dcql-query",
            ),
            (
                "unknown response mode",
                json!({"dcql_query": query(), "response_mode": "fragment"}),
                Some(TOKEN),
                StatusCode::BAD_REQUEST,
                "invalid-request",
            ),
            (
                "unknown member",
                json!({"dcql_query": query(), "presentation_definition": {}}),
                Some(TOKEN),
                StatusCode::BAD_REQUEST,
                "invalid-request",
            ),
        ];
        for (name, body, token, status, kind) in cases {
            let answer = create(app, body, token).await;
            assert_eq!(answer.status, status, "{backend}: {name}: {}", answer.text);
            assert_eq!(
                answer.media.as_deref(),
                Some("application/problem+json"),
                "{backend}: {name}"
            );
            let problem = answer.json();
            assert!(
                problem["type"].as_str().unwrap().ends_with(kind),
                "{backend}: {name}: {problem}"
            );
            assert!(!problem["detail"].as_str().unwrap().is_empty());
            assert!(!answer.text.contains(TOKEN));
            assert_eq!(
                app.store.count().await.unwrap(),
                0,
                "{backend}: {name}: nothing written"
            );
        }
        // Reading a result needs the token too; an unknown id is a 404 problem.
        let request = new_request(app, "direct_post").await;
        let anonymous = call(
            app,
            Request::get(format!("/requests/{}", request.id))
                .body(Body::empty())
                .unwrap(),
        )
        .await;
        assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
        let missing = call(
            app,
            Request::get("/requests/nope")
                .header(header::AUTHORIZATION, format!("Bearer {TOKEN}"))
                .body(Body::empty())
                .unwrap(),
        )
        .await;
        assert_eq!(missing.status, StatusCode::NOT_FOUND);
        assert_eq!(missing.media.as_deref(), Some("application/problem+json"));
    }
}

#[test]
fn dcql_parsing_table() {
    let credential = |extra: Value| {
        let mut c = json!({"id": "pid", "format": "dc+sd-jwt", "meta": {"vct_values": [VCT]}});
        for (k, v) in extra.as_object().unwrap() {
            c[k] = v.clone();
        }
        json!({"credentials": [c]})
    };
    let ok = |q: Value| DcqlQuery::from_value(&q).unwrap();
    let refused = |q: Value| DcqlQuery::from_value(&q).unwrap_err();
    // The spec's example shapes parse, and round-trip.
    let q = ok(credential(json!({"claims": [
        {"id": "a", "path": ["address", "street_address"]},
        {"id": "b", "path": ["nationalities", null]},
        {"id": "c", "path": ["degrees", 0, "type"], "values": ["master"]},
    ], "claim_sets": [["a", "c"], ["b"]]})));
    assert_eq!(DcqlQuery::from_value(&q.to_value()).unwrap(), q);
    // Unknown members are tolerated.
    ok(credential(json!({"future_extension": true})));
    assert!(matches!(
        refused(json!({"credentials": []})),
        DcqlError::Invalid { .. }
    ));
    assert!(matches!(refused(json!({})), DcqlError::Invalid { .. }));
    assert!(matches!(
        refused(credential(json!({"id": "has space"}))),
        DcqlError::Invalid { .. }
    ));
    assert!(matches!(
        refused(credential(json!({"id": ""}))),
        DcqlError::Invalid { .. }
    ));
    let mut no_meta = credential(json!({}));
    no_meta["credentials"][0]
        .as_object_mut()
        .unwrap()
        .remove("meta");
    assert!(matches!(refused(no_meta), DcqlError::Invalid { .. }));
    assert!(matches!(
        refused(credential(json!({"claims": []}))),
        DcqlError::Invalid { .. }
    ));
    assert!(matches!(
        refused(credential(json!({"claims": [{"path": []}]}))),
        DcqlError::Invalid { .. }
    ));
    assert!(matches!(
        refused(credential(json!({"claims": [{"path": [-1]}]}))),
        DcqlError::Invalid { .. }
    ));
    assert!(matches!(
        refused(credential(json!({"claims": [{"path": [true]}]}))),
        DcqlError::Invalid { .. }
    ));
    assert!(matches!(
        refused(credential(
            json!({"claims": [{"path": ["a"]}, {"path": ["a"]}]})
        )),
        DcqlError::Invalid { .. }
    ));
    assert!(matches!(
        refused(credential(
            json!({"claims": [{"id": "x", "path": ["a"]}, {"id": "x", "path": ["b"]}]})
        )),
        DcqlError::DuplicateId { .. }
    ));
    assert!(matches!(
        refused(credential(
            json!({"claims": [{"id": "x", "path": ["a"]}], "claim_sets": [["y"]]})
        )),
        DcqlError::Invalid { .. }
    ));
    assert!(matches!(
        refused(credential(json!({"claim_sets": [["y"]]}))),
        DcqlError::Invalid { .. }
    ));
    assert!(matches!(
        refused(credential(
            json!({"trusted_authorities": [{"type": "aki", "values": ["x"]}]})
        )),
        DcqlError::Unsupported { .. }
    ));
    let mut sets = credential(json!({}));
    sets["credential_sets"] = json!([{"options": [["nope"]]}]);
    assert!(matches!(refused(sets), DcqlError::Invalid { .. }));
}

#[test]
fn dcql_matching_and_satisfaction_table() {
    let claims = json!({
        "given_name": "Erika",
        "address": {"locality": "Berlin", "country": "DE"},
        "nationalities": ["DE", "FR"],
        "degrees": [{"type": "master"}, {"type": "bachelor"}],
    });
    let query = DcqlQuery::from_value(&json!({"credentials": [{
        "id": "pid", "format": "dc+sd-jwt", "meta": {"vct_values": [VCT]},
        "claims": [
            {"id": "name", "path": ["given_name"]},
            {"id": "all", "path": ["nationalities", null]},
            {"id": "first", "path": ["degrees", 0, "type"], "values": ["master"]},
            {"id": "missing", "path": ["email"]},
        ],
        "claim_sets": [["name", "missing"], ["name", "all", "first"]],
    }]}))
    .unwrap();
    let name = |n: &str| Segment::Name(n.into());
    let credential = &query.credentials[0];
    // The first claim set cannot be met (no email); the second can.
    assert_eq!(
        credential.match_credential(Format::SdJwtVc, &[VCT.into()], &claims),
        Some(vec![
            vec![name("given_name")],
            vec![name("nationalities"), Segment::Index(0)],
            vec![name("nationalities"), Segment::Index(1)],
            vec![name("degrees"), Segment::Index(0), name("type")],
        ])
    );
    assert_eq!(
        credential.match_credential(Format::SdJwtVc, &["other".into()], &claims),
        None
    );
    assert_eq!(
        credential.match_credential(Format::VcJwt, &[VCT.into()], &claims),
        None
    );
    let mut bachelor = claims.clone();
    bachelor["degrees"][0]["type"] = json!("bachelor");
    assert_eq!(
        credential.match_credential(Format::SdJwtVc, &[VCT.into()], &bachelor),
        None
    );

    let presented = |claims: Value| {
        BTreeMap::from([(
            "pid".to_owned(),
            vec![PresentedCredential {
                format: Format::SdJwtVc,
                types: vec![VCT.into()],
                claims,
                holder_bound: true,
            }],
        )])
    };
    assert_eq!(query.satisfied_by(&presented(claims.clone())), Ok(()));
    assert_eq!(
        query.satisfied_by(&presented(bachelor)),
        Err(Unmet::NoClaimSet { id: "pid".into() })
    );
    assert!(matches!(
        query.satisfied_by(&BTreeMap::new()),
        Err(Unmet::CredentialMissing(_))
    ));
    let mut two = presented(claims.clone());
    let copy = two["pid"][0].clone();
    two.get_mut("pid").unwrap().push(copy);
    assert!(matches!(
        query.satisfied_by(&two),
        Err(Unmet::NotMultiple { .. })
    ));
    let mut unbound = presented(claims.clone());
    unbound.get_mut("pid").unwrap()[0].holder_bound = false;
    assert!(matches!(
        query.satisfied_by(&unbound),
        Err(Unmet::HolderBindingMissing { .. })
    ));
    // Only what was asked for comes back.
    assert_eq!(
        DcqlQuery::from_value(
            &json!({"credentials": [{"id": "pid", "format": "dc+sd-jwt", "meta": {},
            "claims": [{"path": ["address", "locality"]}]}]})
        )
        .unwrap()
        .credentials[0]
            .requested_claims(&claims),
        json!({"address": {"locality": "Berlin"}})
    );
    // credential_sets: one option of a required set suffices; an optional set may be unmet.
    let sets = DcqlQuery::from_value(&json!({
        "credentials": [
            {"id": "pid", "format": "dc+sd-jwt", "meta": {}},
            {"id": "other", "format": "dc+sd-jwt", "meta": {}},
            {"id": "extra", "format": "dc+sd-jwt", "meta": {}},
        ],
        "credential_sets": [
            {"options": [["other"], ["pid"]]},
            {"options": [["extra"]], "required": false},
        ],
    }))
    .unwrap();
    assert_eq!(sets.satisfied_by(&presented(claims)), Ok(()));
}

#[tokio::test]
async fn a_status_list_at_a_private_address_is_refused_unless_allowed() {
    use credence_registry::keys::KeyType;
    use credence_verifier::{Expectations, Outcome, Step, verify_sd_jwt_vc};
    // A credential whose status list is at a loopback address.
    let issuer = Issuer::did_key(KeyType::Ed25519);
    let holder = SecretKey::generate(KeyType::Ed25519);
    let mut unsigned = crate::support::standard(&issuer, &holder, now() - Duration::hours(1));
    unsigned.payload["status"] =
        json!({"status_list": {"idx": 3, "uri": "http://127.0.0.1:9/lists/1"}});
    let jwt = unsigned.sign(&issuer.key);
    let presentation = present(&jwt, &unsigned.disclosures, Some(Kb::new(&holder)));
    let expectations =
        Expectations::presentation(now(), crate::support::NONCE, crate::support::AUDIENCE);
    for allow in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let mut config = config(dir.path(), None);
        config.allow_private_targets = allow;
        let state = credence_verifier::server::VerifierState::from_config(&config).unwrap();
        let report = verify_sd_jwt_vc(presentation.as_bytes(), &expectations, &state.context)
            .await
            .unwrap();
        let Outcome::CouldNotCheck(why) = report.outcome(Step::Status) else {
            panic!("allow {allow}: {report}");
        };
        if allow {
            // Allowed: it was tried (nothing listens on port 9).
            assert!(why.contains("could not be fetched"), "{why}");
        } else {
            assert!(why.contains("non-public address 127.0.0.1"), "{why}");
        }
    }
    // Under the registry the operator configured, the address is the operator's choice: the
    // list is fetched (tried) although private targets are not allowed.
    let dir = tempfile::tempdir().unwrap();
    let mut config = config(dir.path(), None);
    config.allow_private_targets = false;
    config.registry_url = Some("http://127.0.0.1:9".into());
    let state = credence_verifier::server::VerifierState::from_config(&config).unwrap();
    let report = verify_sd_jwt_vc(presentation.as_bytes(), &expectations, &state.context)
        .await
        .unwrap();
    let Outcome::CouldNotCheck(why) = report.outcome(Step::Status) else {
        panic!("trusted registry: {report}");
    };
    assert!(why.contains("could not be fetched"), "{why}");
}

/// A request for two credentials: the SD-JWT VC licence (two claims) and a `jwt_vc_json`
/// permit (one claim of its subject), both holder bound.
fn two_credentials_query() -> Value {
    json!({
        "credentials": [
            {
                "id": "licence",
                "format": "dc+sd-jwt",
                "meta": {"vct_values": [VCT]},
                "claims": [{"path": ["given_name"]}, {"path": ["family_name"]}],
            },
            {
                "id": "permit",
                "format": "jwt_vc_json",
                "meta": {"type_values": [[VCT]]},
                "claims": [{"path": ["credentialSubject", "company"]}],
            },
        ],
    })
}

/// Creates a request for `query` and returns its id and the request object's claims.
async fn request_for(app: &VerifierApp, query: &Value) -> (String, Value) {
    let created = create(app, json!({"dcql_query": query}), Some(TOKEN)).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    let id = created.json()["id"].as_str().unwrap().to_owned();
    let object = call(
        app,
        Request::get(format!("/requests/{id}/object"))
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    let jws = Jws::parse(&object.text, "the request object", REQUEST_OBJECT_TYPE).unwrap();
    (id, jws.payload.clone())
}

/// The wallet's two answers for a request's nonce and client id: the licence with a KB-JWT and
/// the permit in a `vp+jwt`.
struct TwoAnswers {
    licence: Holder,
    permit_holder: crate::vp_jwt::Holder,
    permit: String,
    other_permit: String,
}

impl TwoAnswers {
    fn new() -> Self {
        let issuer = Issuer::did_key(KeyType::Ed25519);
        let permit_holder = crate::vp_jwt::Holder::did_key(KeyType::P256);
        Self {
            licence: issue_credential(),
            permit: crate::vp_jwt::credential_for(&issuer, &permit_holder.did),
            other_permit: crate::vp_jwt::credential_for(&issuer, &permit_holder.did),
            permit_holder,
        }
    }

    fn licence(&self, claims: &Value) -> String {
        self.licence.present(&Presenting {
            names: vec!["given_name".into(), "family_name".into()],
            nonce: claims["nonce"].as_str().unwrap(),
            audience: claims["client_id"].as_str().unwrap(),
            key_binding: true,
        })
    }

    fn permit(&self, claims: &Value, credentials: &[&str], nonce: Option<&str>) -> String {
        crate::vp_jwt::present_vp(
            &self.permit_holder,
            credentials,
            nonce.unwrap_or(claims["nonce"].as_str().unwrap()),
            claims["client_id"].as_str().unwrap(),
        )
    }
}

#[tokio::test]
async fn one_response_carries_two_credentials_each_verified_and_reported() {
    let wallet = TwoAnswers::new();
    for service in services().await {
        let app = &service.app;
        let case = service.backend;
        let (id, claims) = request_for(app, &two_credentials_query()).await;
        // The request object says jwt_vc_json (OpenID4VP 1.0 B.1.3.1), and the formats we take.
        assert_eq!(claims["dcql_query"], two_credentials_query(), "{case}");
        assert_eq!(
            claims["client_metadata"]["vp_formats_supported"]["jwt_vc_json"]["alg_values"],
            json!(["EdDSA", "ES256"])
        );
        let token = json!({
            "licence": [wallet.licence(&claims)],
            "permit": [wallet.permit(&claims, &[&wallet.permit], None)],
        });
        let answer = post_response(
            app,
            &id,
            form(&[
                ("vp_token", &token.to_string()),
                ("state", claims["state"].as_str().unwrap()),
            ]),
        )
        .await;
        assert_eq!(answer.status, StatusCode::OK, "{case}: {}", answer.text);
        let outcome = result(app, &id).await;
        assert_eq!(outcome["status"], "verified", "{case}: {outcome}");
        // Each credential's requested claims, and nothing else of the permit (its id, licence
        // number, issuer and dates stay out of what the relying party gets).
        assert_eq!(
            outcome["claims"],
            json!({
                "licence": [{"given_name": "Erika", "family_name": "Mustermann"}],
                "permit": [{"credentialSubject": {"company": "Example GmbH"}}],
            }),
            "{case}"
        );
        for query in ["licence", "permit"] {
            let report = &outcome["report"][query][0];
            assert_eq!(report["verdict"], "valid", "{case} {query}: {outcome}");
            assert!(
                report["steps"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|s| s["step"] == "holder-binding" && s["outcome"] == "passed"),
                "{case} {query}: {outcome}"
            );
        }
    }
}

#[tokio::test]
async fn a_credential_set_is_met_by_either_option() {
    let wallet = TwoAnswers::new();
    let mut query = two_credentials_query();
    query["credential_sets"] = json!([{"options": [["licence"], ["permit"]]}]);
    for service in services().await {
        let app = &service.app;
        let (id, claims) = request_for(app, &query).await;
        let token = json!({"permit": [wallet.permit(&claims, &[&wallet.permit], None)]});
        let answer = post_response(
            app,
            &id,
            form(&[
                ("vp_token", &token.to_string()),
                ("state", claims["state"].as_str().unwrap()),
            ]),
        )
        .await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
        assert_eq!(result(app, &id).await["status"], "verified");

        // An empty response meets no option.
        let (id, claims) = request_for(app, &query).await;
        let answer = post_response(
            app,
            &id,
            form(&[
                ("vp_token", &json!({}).to_string()),
                ("state", claims["state"].as_str().unwrap()),
            ]),
        )
        .await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{}", answer.text);
        assert!(
            answer
                .text
                .contains("any option of the required credential set")
        );
    }
}

#[tokio::test]
async fn a_response_missing_a_query_or_carrying_an_extra_credential_is_refused() {
    let wallet = TwoAnswers::new();
    type Token = Box<dyn Fn(&TwoAnswers, &Value) -> Value>;
    let rows: Vec<(&str, Token, &str)> = vec![
        (
            "the permit missing",
            Box::new(|w, c| json!({"licence": [w.licence(c)]})),
            "no presentation answers \"permit\"",
        ),
        (
            "an extra credential for a query not asked",
            Box::new(|w, c| {
                json!({
                    "licence": [w.licence(c)],
                    "permit": [w.permit(c, &[&w.permit], None)],
                    "passport": [w.permit(c, &[&w.other_permit], None)],
                })
            }),
            "which the query does not ask for",
        ),
        (
            "two credentials in one presentation for a query allowing one",
            Box::new(|w, c| {
                json!({
                    "licence": [w.licence(c)],
                    "permit": [w.permit(c, &[&w.permit, &w.other_permit], None)],
                })
            }),
            "is answered by 2 presentations, but the query allows one",
        ),
        (
            "two presentations for a query allowing one",
            Box::new(|w, c| {
                json!({
                    "licence": [w.licence(c)],
                    "permit": [w.permit(c, &[&w.permit], None), w.permit(c, &[&w.other_permit], None)],
                })
            }),
            "but the query allows one",
        ),
        (
            "a bare vc+jwt where holder binding is required",
            Box::new(|w, c| json!({"licence": [w.licence(c)], "permit": [w.permit]})),
            "invalid at the holder-binding step",
        ),
        (
            "a vp+jwt for another request's nonce",
            Box::new(|w, c| {
                json!({
                    "licence": [w.licence(c)],
                    "permit": [w.permit(c, &[&w.permit], Some("another-nonce"))],
                })
            }),
            "answers another request",
        ),
    ];
    for service in services().await {
        let app = &service.app;
        for (name, token, description) in &rows {
            let case = format!("{}: {name}", service.backend);
            let (id, claims) = request_for(app, &two_credentials_query()).await;
            let answer = post_response(
                app,
                &id,
                form(&[
                    ("vp_token", &token(&wallet, &claims).to_string()),
                    ("state", claims["state"].as_str().unwrap()),
                ]),
            )
            .await;
            assert_eq!(
                answer.status,
                StatusCode::BAD_REQUEST,
                "{case}: {}",
                answer.text
            );
            let error = answer.json();
            assert_eq!(error["error"], "invalid_request", "{case}");
            assert!(
                error["error_description"]
                    .as_str()
                    .unwrap()
                    .contains(description),
                "{case}: {error}"
            );
            let outcome = result(app, &id).await;
            assert_eq!(outcome["status"], "failed", "{case}: {outcome}");
            assert!(outcome.get("claims").is_none(), "{case}: {outcome}");
        }
    }
}
