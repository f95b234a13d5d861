//! OpenID4VCI 1.0 over HTTP, on every backend, against a real registry on loopback, as a wallet
//! walks it with real keys (Ed25519 and P-256): offer -> by reference -> metadata -> token
//! (with a transaction code) -> nonce -> credential, single and batch. Then every bad input,
//! each a line naming the OAuth error it must give, with "nothing issued, nothing consumed"
//! checked on the row counts and by a good request that still succeeds afterwards.

use std::sync::Arc;

use axum::body::Body;
use axum::http::Request;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Duration, TimeZone as _, Utc};
use credence_issuer::service::ServiceOptions;
use credence_issuer::store::IssuerStore;
use credence_registry::clock::{Clock, ManualTime};
use credence_registry::keys::{KeyType, SecretKey};
use serde_json::{Value, json};

use crate::decode_jwt;
use crate::support::{
    Issuer, Registry, Reply, Tenant, assert_problem, backends, call, create_tenant, send,
    valid_claims,
};

const PUBLIC_URL: &str = "https://agency.example";
const TYPE: &str = "business-licence";
const SD_JWT: &str = "business-licence.dc-sd-jwt";
const VC_JWT: &str = "business-licence.vc-jwt";

/// One backend's issuer, with a manual clock, a tenant and its type.
struct Wallet {
    backend: &'static str,
    issuer: Issuer,
    store: Arc<dyn IssuerStore>,
    well_known: axum::Router,
    time: ManualTime,
    tenant: Tenant,
    /// The credential issuer identifier.
    issuer_id: String,
}

impl Wallet {
    async fn start(
        registry: &Registry,
        backend: &'static str,
        store: Arc<dyn IssuerStore>,
    ) -> Self {
        let start = Utc
            .timestamp_opt(Utc::now().timestamp(), 0)
            .single()
            .expect("now");
        let (clock, time) = Clock::manual(start);
        let mut options = ServiceOptions::new(&registry.url);
        options.public_url = format!("{PUBLIC_URL}/");
        let issuer = Issuer::with_options(store.clone(), options, clock);
        let well_known = credence_issuer::well_known_router(issuer.state.clone(), "/issuer");
        let tenant = create_tenant(&issuer, "land-bureau").await;
        let (schema_id, _vct) = registry.publish_schema().await;
        let reply = call(
            issuer.router(),
            "POST",
            &format!("/tenants/{}/types", tenant.id),
            Some(&tenant.token),
            Some(
                &json!({"id": TYPE, "schemaId": schema_id, "formats": ["dc+sd-jwt", "vc+jwt"],
                "disclosable": ["/companyName"], "validitySeconds": 31_536_000}),
            ),
        )
        .await;
        assert_eq!(reply.status, 201, "{backend}: {}", reply.text);
        let issuer_id = format!("{PUBLIC_URL}/issuer/{}", tenant.id);
        Self {
            backend,
            issuer,
            store,
            well_known,
            time,
            tenant,
            issuer_id,
        }
    }

    fn app(&self) -> &axum::Router {
        self.issuer.router()
    }

    fn now(&self) -> DateTime<Utc> {
        self.time.now()
    }

    async fn counts(&self) -> credence_issuer::store::RowCounts {
        self.store.row_counts().await.expect("counts")
    }

    /// Creates an offer through the admin API; the reply must be 201.
    async fn offer(&self, body: Value) -> Value {
        let reply = self.offer_reply(&body, &self.tenant.token).await;
        assert_eq!(reply.status, 201, "{}: {}", self.backend, reply.text);
        reply.body
    }

    async fn offer_reply(&self, body: &Value, token: &str) -> Reply {
        call(
            self.app(),
            "POST",
            &format!("/tenants/{}/offers", self.tenant.id),
            Some(token),
            Some(body),
        )
        .await
    }

    /// The pre-authorized code of an offer the admin API returned.
    fn code(offer: &Value) -> String {
        offer["credential_offer"]["grants"]["urn:ietf:params:oauth:grant-type:pre-authorized_code"]
            ["pre-authorized_code"]
            .as_str()
            .expect("code")
            .to_owned()
    }

    async fn token_reply(&self, form: &str) -> Reply {
        let request = Request::builder()
            .method("POST")
            .uri(format!("/{}/token", self.tenant.id))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(Body::from(form.to_owned()))
            .expect("request");
        send(self.app(), request).await
    }

    /// Redeems `code` (with `tx_code`) and returns the access token.
    async fn token(&self, code: &str, tx_code: Option<&str>) -> String {
        let mut form = format!(
            "grant_type={}&pre-authorized_code={code}",
            enc("urn:ietf:params:oauth:grant-type:pre-authorized_code")
        );
        if let Some(tx_code) = tx_code {
            form.push_str(&format!("&tx_code={tx_code}"));
        }
        let reply = self.token_reply(&form).await;
        assert_eq!(reply.status, 200, "{}: {}", self.backend, reply.text);
        reply.body["access_token"]
            .as_str()
            .expect("access_token")
            .to_owned()
    }

    /// A fresh offer (no transaction code) redeemed: its access token.
    async fn fresh_token(&self) -> String {
        let offer = self
            .offer(json!({"type": TYPE, "claims": valid_claims()}))
            .await;
        self.token(&Self::code(&offer), None).await
    }

    async fn nonce(&self) -> String {
        let reply = call(
            self.app(),
            "POST",
            &format!("/{}/nonce", self.tenant.id),
            None,
            None,
        )
        .await;
        assert_eq!(reply.status, 200, "{}: {}", self.backend, reply.text);
        assert_eq!(reply.headers["cache-control"], "no-store");
        reply.body["c_nonce"].as_str().expect("c_nonce").to_owned()
    }

    async fn credential_raw(&self, token: Option<&str>, body: &str) -> Reply {
        let mut builder = Request::builder()
            .method("POST")
            .uri(format!("/{}/credential", self.tenant.id))
            .header("content-type", "application/json");
        if let Some(token) = token {
            builder = builder.header("authorization", format!("Bearer {token}"));
        }
        send(
            self.app(),
            builder.body(Body::from(body.to_owned())).expect("request"),
        )
        .await
    }

    async fn credential(&self, token: Option<&str>, body: &Value) -> Reply {
        self.credential_raw(token, &body.to_string()).await
    }

    /// A proof for `key` with this issuer's audience, `nonce`, issued now.
    fn proof(&self, key: &SecretKey, nonce: &str) -> String {
        signed(
            key,
            &header_for(key),
            &json!({"aud": self.issuer_id, "iat": self.now().timestamp(), "nonce": nonce}),
        )
    }
}

fn enc(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

fn b64(value: &Value) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(value).expect("json"))
}

/// A JWS of `header` and `payload` signed by `key` (whatever the header says).
fn signed(key: &SecretKey, header: &Value, payload: &Value) -> String {
    let input = format!("{}.{}", b64(header), b64(payload));
    format!(
        "{input}.{}",
        URL_SAFE_NO_PAD.encode(key.sign_raw(input.as_bytes()))
    )
}

fn header_for(key: &SecretKey) -> Value {
    json!({"typ": "openid4vci-proof+jwt", "alg": key.public().algorithm().name(),
           "jwk": key.public().to_jwk()})
}

fn request_for(configuration: &str, proofs: &[String]) -> Value {
    json!({"credential_configuration_id": configuration, "proofs": {"jwt": proofs}})
}

/// Asserts an OAuth error answer: status, `error`, a description, `no-store`, JSON.
#[track_caller]
fn assert_oauth(reply: &Reply, status: u16, error: &str, what: &str) {
    assert_eq!(reply.status.as_u16(), status, "{what}: {}", reply.text);
    assert_eq!(reply.body["error"], error, "{what}: {}", reply.text);
    assert!(
        reply.body["error_description"]
            .as_str()
            .is_some_and(|d| !d.is_empty()),
        "{what}: {}",
        reply.text
    );
    assert!(
        reply.content_type.starts_with("application/json"),
        "{what}: {}",
        reply.content_type
    );
    assert_eq!(reply.headers["cache-control"], "no-store", "{what}");
    if error == "invalid_token" {
        assert!(
            reply.headers["www-authenticate"]
                .to_str()
                .expect("header")
                .starts_with("Bearer"),
            "{what}"
        );
    }
}

/// The SD-JWT's payload and the key its `cnf.jwk` names.
fn sd_jwt_payload(credential: &str) -> Value {
    decode_jwt(credential.split('~').next().expect("jwt")).1
}

#[tokio::test]
async fn a_wallet_walks_the_pre_authorized_code_flow() {
    let registry = Registry::start().await;
    for backend in backends().await {
        let wallet = Wallet::start(&registry, backend.name, backend.store.clone()).await;
        let name = wallet.backend;
        let tenant = wallet.tenant.id.clone();

        // The offer, with a transaction code, by value and by reference.
        let offer = wallet
            .offer(json!({"type": TYPE, "claims": valid_claims(),
                "tx_code": {"length": 6, "description": "the code we sent you by SMS"}}))
            .await;
        let tx_code = offer["tx_code"].as_str().expect("tx_code").to_owned();
        assert!(tx_code.len() == 6 && tx_code.bytes().all(|b| b.is_ascii_digit()));
        let credential_offer = &offer["credential_offer"];
        assert_eq!(credential_offer["credential_issuer"], wallet.issuer_id);
        assert_eq!(
            credential_offer["credential_configuration_ids"],
            json!([SD_JWT, VC_JWT])
        );
        let grant =
            &credential_offer["grants"]["urn:ietf:params:oauth:grant-type:pre-authorized_code"];
        assert_eq!(
            grant["tx_code"],
            json!({"input_mode": "numeric", "length": 6, "description": "the code we sent you by SMS"})
        );
        assert!(
            !offer.to_string().contains("claims"),
            "no claims in the offer: {offer}"
        );
        let by_value = offer["offer_uri"].as_str().expect("offer_uri");
        let encoded = by_value
            .strip_prefix("openid-credential-offer://?credential_offer=")
            .expect("by value");
        let decoded: Value = serde_json::from_str(
            &url::form_urlencoded::parse(format!("x={encoded}").as_bytes())
                .next()
                .expect("pair")
                .1,
        )
        .expect("offer JSON");
        assert_eq!(&decoded, credential_offer);
        let offer_url = offer["credential_offer_uri"].as_str().expect("uri");
        assert_eq!(
            offer["offer_uri_by_reference"],
            format!(
                "openid-credential-offer://?credential_offer_uri={}",
                enc(offer_url)
            )
        );
        let path = offer_url
            .strip_prefix(&format!("{PUBLIC_URL}/issuer"))
            .expect("under the issuer");
        assert!(path.starts_with(&format!("/{tenant}/offers/")));
        let fetched = call(wallet.app(), "GET", path, None, None).await;
        assert_eq!(fetched.status, 200, "{name}: {}", fetched.text);
        assert_eq!(&fetched.body, credential_offer);
        assert_eq!(fetched.headers["cache-control"], "no-store");

        // The two metadata documents, at the root, outside the issuer's prefix.
        let metadata = call(
            &wallet.well_known,
            "GET",
            &format!("/.well-known/openid-credential-issuer/issuer/{tenant}"),
            None,
            None,
        )
        .await;
        assert_eq!(metadata.status, 200, "{name}: {}", metadata.text);
        let metadata = metadata.body;
        assert_eq!(metadata["credential_issuer"], wallet.issuer_id);
        assert_eq!(
            metadata["credential_endpoint"],
            format!("{}/credential", wallet.issuer_id)
        );
        assert_eq!(
            metadata["nonce_endpoint"],
            format!("{}/nonce", wallet.issuer_id)
        );
        assert_eq!(metadata["batch_credential_issuance"]["batch_size"], 10);
        let sd = &metadata["credential_configurations_supported"][SD_JWT];
        assert_eq!(sd["format"], "dc+sd-jwt");
        assert!(
            sd["vct"]
                .as_str()
                .expect("vct")
                .starts_with("https://credence.example/vct/")
        );
        assert_eq!(
            sd["cryptographic_binding_methods_supported"],
            json!(["jwk"])
        );
        assert_eq!(
            sd["proof_types_supported"]["jwt"]["proof_signing_alg_values_supported"],
            json!(["EdDSA", "ES256"])
        );
        let vc = &metadata["credential_configurations_supported"][VC_JWT];
        assert_eq!(vc["format"], "jwt_vc_json");
        assert_eq!(
            vc["credential_definition"]["type"][0],
            "VerifiableCredential"
        );
        let authorization = call(
            &wallet.well_known,
            "GET",
            &format!("/.well-known/oauth-authorization-server/issuer/{tenant}"),
            None,
            None,
        )
        .await;
        assert_eq!(authorization.status, 200, "{name}: {}", authorization.text);
        assert_eq!(authorization.body["issuer"], wallet.issuer_id);
        assert_eq!(
            authorization.body["token_endpoint"],
            format!("{}/token", wallet.issuer_id)
        );
        assert_eq!(
            authorization.body["grant_types_supported"],
            json!(["urn:ietf:params:oauth:grant-type:pre-authorized_code"])
        );
        let unknown = call(
            &wallet.well_known,
            "GET",
            "/.well-known/openid-credential-issuer/issuer/no-such-agency",
            None,
            None,
        )
        .await;
        assert_problem(&unknown, 404, "tenant-not-found");

        // The token, with the transaction code and a parameter the issuer does not know.
        let before = wallet.counts().await;
        let reply = wallet
            .token_reply(&format!(
                "grant_type={}&pre-authorized_code={}&tx_code={tx_code}&client_id=some-wallet&foo=bar",
                enc("urn:ietf:params:oauth:grant-type:pre-authorized_code"),
                Wallet::code(&offer)
            ))
            .await;
        assert_eq!(reply.status, 200, "{name}: {}", reply.text);
        assert_eq!(reply.headers["cache-control"], "no-store");
        assert_eq!(reply.body["token_type"], "Bearer");
        assert_eq!(reply.body["expires_in"], 300);
        let token = reply.body["access_token"]
            .as_str()
            .expect("token")
            .to_owned();
        assert_eq!(
            wallet.counts().await.access_tokens,
            before.access_tokens + 1
        );
        // The offer is no longer served once redeemed.
        let gone = call(wallet.app(), "GET", path, None, None).await;
        assert_problem(&gone, 404, "route-not-found");

        // One credential, bound to an Ed25519 key.
        let nonce = wallet.nonce().await;
        let holder = SecretKey::generate(KeyType::Ed25519);
        let before = wallet.counts().await;
        let reply = wallet
            .credential(
                Some(&token),
                &request_for(SD_JWT, &[wallet.proof(&holder, &nonce)]),
            )
            .await;
        assert_eq!(reply.status, 200, "{name}: {}", reply.text);
        assert_eq!(reply.headers["cache-control"], "no-store");
        let credentials = reply.body["credentials"].as_array().expect("credentials");
        assert_eq!(credentials.len(), 1);
        let payload = sd_jwt_payload(credentials[0]["credential"].as_str().expect("credential"));
        assert_eq!(payload["iss"], wallet.tenant.did.as_str());
        assert_eq!(payload["cnf"]["jwk"], holder.public().to_jwk());
        assert_eq!(payload["registrationNumber"], "12345678");
        let after = wallet.counts().await;
        assert_eq!(after.records, before.records + 1, "{name}");
        assert_eq!(
            after.nonces,
            before.nonces - 1,
            "{name}: the nonce is consumed"
        );
        assert_eq!(
            after.offer_claims,
            before.offer_claims - 1,
            "{name}: claims deleted"
        );

        // The access token served its one request.
        let again = wallet
            .credential(
                Some(&token),
                &request_for(SD_JWT, &[wallet.proof(&holder, &wallet.nonce().await)]),
            )
            .await;
        assert_oauth(&again, 401, "invalid_token", "token used twice");

        // A batch of three, each bound to its own key (Ed25519 and P-256), in vc+jwt too.
        for configuration in [SD_JWT, VC_JWT] {
            let token = wallet.fresh_token().await;
            let nonce = wallet.nonce().await;
            let keys = [
                SecretKey::generate(KeyType::Ed25519),
                SecretKey::generate(KeyType::P256),
                SecretKey::generate(KeyType::Ed25519),
            ];
            let proofs: Vec<String> = keys.iter().map(|key| wallet.proof(key, &nonce)).collect();
            let before = wallet.counts().await;
            let reply = wallet
                .credential(Some(&token), &request_for(configuration, &proofs))
                .await;
            assert_eq!(reply.status, 200, "{name}: {}", reply.text);
            let credentials = reply.body["credentials"].as_array().expect("credentials");
            assert_eq!(credentials.len(), 3);
            for (credential, key) in credentials.iter().zip(&keys) {
                let credential = credential["credential"].as_str().expect("credential");
                if configuration == SD_JWT {
                    assert_eq!(
                        sd_jwt_payload(credential)["cnf"]["jwk"],
                        key.public().to_jwk()
                    );
                } else {
                    let (header, vc) = decode_jwt(credential);
                    assert_eq!(header["typ"], "vc+jwt");
                    assert_eq!(vc["credentialSubject"]["id"], key.public().to_did_key());
                }
            }
            assert_eq!(wallet.counts().await.records, before.records + 3, "{name}");
        }
        let records = call(
            wallet.app(),
            "GET",
            &format!("/tenants/{tenant}/credentials"),
            Some(&wallet.tenant.token),
            None,
        )
        .await;
        let thumbprints: std::collections::BTreeSet<&str> = records
            .body
            .as_array()
            .expect("records")
            .iter()
            .map(|record| record["holderThumbprint"].as_str().expect("thumbprint"))
            .collect();
        assert_eq!(thumbprints.len(), 7, "{name}: seven records, seven keys");
    }
}

#[tokio::test]
async fn the_token_endpoint_refuses_bad_codes_and_limits_tx_code_attempts() {
    let registry = Registry::start().await;
    for backend in backends().await {
        let wallet = Wallet::start(&registry, backend.name, backend.store.clone()).await;
        let grant = enc("urn:ietf:params:oauth:grant-type:pre-authorized_code");
        let offer = wallet
            .offer(json!({"type": TYPE, "claims": valid_claims(), "tx_code": {"length": 6}}))
            .await;
        let code = Wallet::code(&offer);
        let tx_code = offer["tx_code"].as_str().expect("tx_code").to_owned();
        let wrong = if tx_code == "000000" {
            "111111"
        } else {
            "000000"
        };

        let check = async |form: String, status: u16, error: &str, what: &str| {
            let before = wallet.counts().await;
            let reply = wallet.token_reply(&form).await;
            assert_oauth(
                &reply,
                status,
                error,
                &format!("{}: {what}", wallet.backend),
            );
            assert_eq!(
                wallet.counts().await.access_tokens,
                before.access_tokens,
                "{what}"
            );
        };
        check(
            format!("pre-authorized_code={code}&tx_code={tx_code}"),
            400,
            "invalid_request",
            "no grant_type",
        )
        .await;
        check(
            format!("grant_type=authorization_code&code={code}"),
            400,
            "unsupported_grant_type",
            "another grant",
        )
        .await;
        check(
            format!("grant_type={grant}&tx_code={tx_code}"),
            400,
            "invalid_request",
            "no code",
        )
        .await;
        check(
            format!("grant_type={grant}&pre-authorized_code=not-a-code&tx_code={tx_code}"),
            400,
            "invalid_grant",
            "unknown code",
        )
        .await;
        check(
            format!("grant_type={grant}&pre-authorized_code=%FF%00&tx_code={tx_code}"),
            400,
            "invalid_grant",
            "malformed code",
        )
        .await;
        check(format!("grant_type={grant}&pre-authorized_code={code}&pre-authorized_code={code}&tx_code={tx_code}"), 400, "invalid_request", "code twice").await;
        check(
            format!("grant_type={grant}&pre-authorized_code={code}"),
            400,
            "invalid_request",
            "no tx_code",
        )
        .await;
        // Not form-encoded.
        let json_body = Request::builder()
            .method("POST")
            .uri(format!("/{}/token", wallet.tenant.id))
            .header("content-type", "application/json")
            .body(Body::from(json!({"grant_type": "x"}).to_string()))
            .expect("request");
        assert_oauth(
            &send(wallet.app(), json_body).await,
            400,
            "invalid_request",
            "JSON body",
        );
        let oversized = format!(
            "grant_type={grant}&pre-authorized_code={code}&pad={}",
            "a".repeat(70_000)
        );
        check(oversized, 413, "invalid_request", "oversized").await;

        // Three wrong transaction codes kill the code: even the right one fails afterwards.
        for left in [2, 1, 0] {
            let before = wallet.counts().await;
            let reply = wallet
                .token_reply(&format!(
                    "grant_type={grant}&pre-authorized_code={code}&tx_code={wrong}"
                ))
                .await;
            assert_oauth(&reply, 400, "invalid_grant", "wrong tx_code");
            assert!(
                reply.body["error_description"]
                    .as_str()
                    .unwrap()
                    .contains(&format!("{left} attempt"))
            );
            assert_eq!(wallet.counts().await.access_tokens, before.access_tokens);
        }
        check(
            format!("grant_type={grant}&pre-authorized_code={code}&tx_code={tx_code}"),
            400,
            "invalid_grant",
            "locked code",
        )
        .await;

        // A code is single use; two concurrent redemptions: exactly one wins.
        let offer = wallet
            .offer(json!({"type": TYPE, "claims": valid_claims()}))
            .await;
        let form = format!(
            "grant_type={grant}&pre-authorized_code={}",
            Wallet::code(&offer)
        );
        let (first, second) = tokio::join!(wallet.token_reply(&form), wallet.token_reply(&form));
        let mut statuses = [first.status.as_u16(), second.status.as_u16()];
        statuses.sort_unstable();
        assert_eq!(
            statuses,
            [200, 400],
            "{}: {} / {}",
            wallet.backend,
            first.text,
            second.text
        );
        check(form.clone(), 400, "invalid_grant", "replayed code").await;
        // A transaction code the offer did not ask for.
        let offer = wallet
            .offer(json!({"type": TYPE, "claims": valid_claims()}))
            .await;
        check(
            format!(
                "grant_type={grant}&pre-authorized_code={}&tx_code=123456",
                Wallet::code(&offer)
            ),
            400,
            "invalid_request",
            "unexpected tx_code",
        )
        .await;

        // An expired code.
        let offer = wallet
            .offer(json!({"type": TYPE, "claims": valid_claims(), "expires_in": 60}))
            .await;
        wallet.time.advance(Duration::seconds(61));
        check(
            format!(
                "grant_type={grant}&pre-authorized_code={}",
                Wallet::code(&offer)
            ),
            400,
            "invalid_grant",
            "expired code",
        )
        .await;
        // ... whose claims the sweeper deletes.
        let before = wallet.counts().await;
        let swept = wallet
            .issuer
            .state
            .service
            .sweep_offers()
            .await
            .expect("sweep");
        assert!(swept.offers >= 1, "{swept:?}");
        assert!(wallet.counts().await.offer_claims < before.offer_claims);
        assert_eq!(wallet.counts().await.offers, before.offers, "the rows stay");
    }
}

#[tokio::test]
async fn the_credential_endpoint_refuses_bad_tokens_proofs_and_nonces() {
    let registry = Registry::start().await;
    for backend in backends().await {
        let wallet = Wallet::start(&registry, backend.name, backend.store.clone()).await;
        let token = wallet.fresh_token().await;
        let nonce = wallet.nonce().await;
        let holder = SecretKey::generate(KeyType::P256);
        let other = SecretKey::generate(KeyType::P256);
        let now = wallet.now().timestamp();
        let payload =
            |aud: &str, iat: i64, nonce: &str| json!({"aud": aud, "iat": iat, "nonce": nonce});
        let good = wallet.proof(&holder, &nonce);
        let t = Some(token.as_str());
        let issuer_id = wallet.issuer_id.clone();

        let mut hs256 = header_for(&holder);
        hs256["alg"] = json!("HS256");
        let mut none = header_for(&holder);
        none["alg"] = json!("none");
        let unsigned = format!("{}.{}.", b64(&none), b64(&payload(&issuer_id, now, &nonce)));
        let deep = format!("{}1{}", "[".repeat(200), "]".repeat(200));
        let deep_object = format!("{{\"credential_configuration_id\": {deep}}}");
        let oversized =
            json!({"credential_configuration_id": SD_JWT, "pad": "a".repeat(70_000)}).to_string();
        let too_many: Vec<String> = (0..11)
            .map(|_| wallet.proof(&SecretKey::generate(KeyType::Ed25519), &nonce))
            .collect();

        // (what, token, body, status, error)
        let cases: Vec<(&str, Option<&str>, String, u16, &str)> = vec![
            ("no token", None, request_for(SD_JWT, std::slice::from_ref(&good)).to_string(), 401, "invalid_token"),
            ("wrong token", Some("not-a-token"), request_for(SD_JWT, std::slice::from_ref(&good)).to_string(), 401, "invalid_token"),
            ("unknown configuration", t, request_for("business-licence.ldp-vc", std::slice::from_ref(&good)).to_string(), 400, "unknown_credential_configuration"),
            ("no configuration", t, json!({"proofs": {"jwt": [good.clone()]}}).to_string(), 400, "invalid_credential_request"),
            ("no proofs", t, json!({"credential_configuration_id": SD_JWT}).to_string(), 400, "invalid_proof"),
            ("draft proof", t, json!({"credential_configuration_id": SD_JWT, "proof": {"proof_type": "jwt", "jwt": good.clone()}}).to_string(), 400, "invalid_proof"),
            ("empty proofs", t, request_for(SD_JWT, &[]).to_string(), 400, "invalid_proof"),
            ("another proof type", t, json!({"credential_configuration_id": SD_JWT, "proofs": {"ldp_vp": [{}]}}).to_string(), 400, "invalid_proof"),
            ("signed by another key", t, request_for(SD_JWT, &[signed(&other, &header_for(&holder), &payload(&issuer_id, now, &nonce))]).to_string(), 400, "invalid_proof"),
            ("wrong audience", t, request_for(SD_JWT, &[signed(&holder, &header_for(&holder), &payload("https://other.example/issuer/x", now, &nonce))]).to_string(), 400, "invalid_proof"),
            ("stale iat", t, request_for(SD_JWT, &[signed(&holder, &header_for(&holder), &payload(&issuer_id, now - 600, &nonce))]).to_string(), 400, "invalid_proof"),
            ("alg none", t, request_for(SD_JWT, &[unsigned]).to_string(), 400, "invalid_proof"),
            ("HS256", t, request_for(SD_JWT, &[signed(&holder, &hs256, &payload(&issuer_id, now, &nonce))]).to_string(), 400, "invalid_proof"),
            ("wrong nonce", t, request_for(SD_JWT, &[signed(&holder, &header_for(&holder), &payload(&issuer_id, now, "not-our-nonce"))]).to_string(), 400, "invalid_nonce"),
            ("no nonce", t, request_for(SD_JWT, &[signed(&holder, &header_for(&holder), &json!({"aud": issuer_id, "iat": now}))]).to_string(), 400, "invalid_nonce"),
            ("two nonces", t, request_for(SD_JWT, &[good.clone(), wallet.proof(&other, "another-nonce")]).to_string(), 400, "invalid_nonce"),
            ("one key twice", t, request_for(SD_JWT, &[good.clone(), wallet.proof(&holder, &nonce)]).to_string(), 400, "invalid_proof"),
            ("batch too large", t, request_for(SD_JWT, &too_many).to_string(), 400, "invalid_credential_request"),
            ("malformed JSON", t, "{\"credential_configuration_id\": ".to_owned(), 400, "invalid_credential_request"),
            ("duplicate member", t, format!("{{\"credential_configuration_id\": \"{SD_JWT}\", \"credential_configuration_id\": \"{VC_JWT}\"}}"), 400, "invalid_credential_request"),
            ("deeply nested", t, deep_object, 400, "invalid_credential_request"),
            ("oversized", t, oversized, 413, "invalid_credential_request"),
        ];
        for (what, bearer, body, status, error) in cases {
            let before = wallet.counts().await;
            let reply = wallet.credential_raw(bearer, &body).await;
            assert_oauth(
                &reply,
                status,
                error,
                &format!("{}: {what}", wallet.backend),
            );
            assert_eq!(
                wallet.counts().await,
                before,
                "{}: {what} wrote something",
                wallet.backend
            );
        }
        // Nothing was consumed: the same token and nonce still get the credential.
        let reply = wallet
            .credential(t, &request_for(SD_JWT, std::slice::from_ref(&good)))
            .await;
        assert_eq!(reply.status, 200, "{}: {}", wallet.backend, reply.text);

        // A reused nonce.
        let token = wallet.fresh_token().await;
        let before = wallet.counts().await;
        let reply = wallet
            .credential(
                Some(&token),
                &request_for(SD_JWT, &[wallet.proof(&holder, &nonce)]),
            )
            .await;
        assert_oauth(&reply, 400, "invalid_nonce", "reused nonce");
        assert_eq!(wallet.counts().await, before);

        // An expired nonce: fetched, then six minutes pass (the token is fetched after four).
        let old_nonce = wallet.nonce().await;
        wallet.time.advance(Duration::minutes(4));
        let token = wallet.fresh_token().await;
        wallet.time.advance(Duration::minutes(2));
        let before = wallet.counts().await;
        let reply = wallet
            .credential(
                Some(&token),
                &request_for(SD_JWT, &[wallet.proof(&holder, &old_nonce)]),
            )
            .await;
        assert_oauth(&reply, 400, "invalid_nonce", "expired nonce");
        assert_eq!(wallet.counts().await, before);

        // An expired access token.
        let nonce = wallet.nonce().await;
        wallet.time.advance(Duration::minutes(4));
        let reply = wallet
            .credential(
                Some(&token),
                &request_for(SD_JWT, &[wallet.proof(&holder, &nonce)]),
            )
            .await;
        assert_oauth(&reply, 401, "invalid_token", "expired token");
        assert_eq!(wallet.counts().await.records, before.records);

        // Another tenant's access token is not valid here.
        let other_tenant = create_tenant(&wallet.issuer, "tax-bureau").await;
        let token = wallet.fresh_token().await;
        let nonce = wallet.nonce().await;
        let reply = send(
            wallet.app(),
            Request::builder()
                .method("POST")
                .uri(format!("/{}/credential", other_tenant.id))
                .header("content-type", "application/json")
                .header("authorization", format!("Bearer {token}"))
                .body(Body::from(
                    request_for(SD_JWT, &[wallet.proof(&holder, &nonce)]).to_string(),
                ))
                .expect("request"),
        )
        .await;
        assert_oauth(&reply, 401, "invalid_token", "token of another tenant");
    }
}

#[tokio::test]
async fn offers_are_refused_with_a_problem_and_nothing_written() {
    let registry = Registry::start().await;
    for backend in backends().await {
        let wallet = Wallet::start(&registry, backend.name, backend.store.clone()).await;
        let other = create_tenant(&wallet.issuer, "tax-bureau").await;
        let token = wallet.tenant.token.clone();
        let deep = format!("{}1{}", "[".repeat(200), "]".repeat(200));
        let cases: Vec<(&str, String, Value, u16, &str)> = vec![
            (
                "another tenant's token",
                other.token.clone(),
                json!({"type": TYPE, "claims": valid_claims()}),
                404,
                "tenant-not-found",
            ),
            (
                "a wrong token",
                "not-a-token".into(),
                json!({"type": TYPE, "claims": valid_claims()}),
                401,
                "unauthenticated",
            ),
            (
                "unknown type",
                token.clone(),
                json!({"type": "degree", "claims": valid_claims()}),
                404,
                "credential-type-not-found",
            ),
            (
                "schema violation",
                token.clone(),
                json!({"type": TYPE, "claims": {"companyName": "Acme"}}),
                422,
                "schema-violation",
            ),
            (
                "format not offered",
                token.clone(),
                json!({"type": TYPE, "claims": valid_claims(), "formats": ["ldp_vc"]}),
                422,
                "format-not-offered",
            ),
            (
                "tx_code too short",
                token.clone(),
                json!({"type": TYPE, "claims": valid_claims(), "tx_code": {"length": 2}}),
                400,
                "invalid-request",
            ),
            (
                "tx_code input mode",
                token.clone(),
                json!({"type": TYPE, "claims": valid_claims(), "tx_code": {"length": 6, "input_mode": "emoji"}}),
                400,
                "invalid-request",
            ),
            (
                "expiry too long",
                token.clone(),
                json!({"type": TYPE, "claims": valid_claims(), "expires_in": 100_000_000}),
                400,
                "invalid-request",
            ),
            (
                "unknown member",
                token.clone(),
                json!({"type": TYPE, "claims": valid_claims(), "holder": "x"}),
                400,
                "invalid-request",
            ),
        ];
        for (what, bearer, body, status, kind) in cases {
            let before = wallet.counts().await;
            let reply = wallet.offer_reply(&body, &bearer).await;
            assert_problem(&reply, status, kind);
            assert_eq!(wallet.counts().await, before, "{}: {what}", wallet.backend);
        }
        // Nesting past the strict parser's limit, and an oversized body, as raw bytes.
        for (what, body, status, kind) in [
            (
                "nested past the limit",
                format!("{{\"type\": {deep}}}"),
                400,
                "malformed-json",
            ),
            (
                "oversized",
                json!({"type": TYPE, "claims": {"companyName": "a".repeat(70_000)}}).to_string(),
                413,
                "body-too-large",
            ),
        ] {
            let before = wallet.counts().await;
            let reply = send(
                wallet.app(),
                crate::support::request(
                    "POST",
                    &format!("/tenants/{}/offers", wallet.tenant.id),
                    Some(&token),
                    Some(&body),
                ),
            )
            .await;
            assert_problem(&reply, status, kind);
            assert_eq!(wallet.counts().await, before, "{}: {what}", wallet.backend);
        }
        // The route is in the OpenAPI document; `tenants` cannot be a tenant id.
        let openapi = call(wallet.app(), "GET", "/openapi.json", None, None).await;
        assert!(openapi.body["paths"]["/tenants/{tenant}/offers"]["post"].is_object());
        let reply = call(
            wallet.app(),
            "POST",
            "/tenants",
            Some(wallet.issuer.admin.expose()),
            Some(&json!({"id": "tenants", "name": "Shadow"})),
        )
        .await;
        assert_problem(&reply, 400, "invalid-request");
    }
}

#[tokio::test]
async fn consuming_a_code_a_token_or_a_nonce_has_one_winner() {
    use credence_issuer::oid4vci::CodeGrant;
    use credence_issuer::secrets::BearerToken;
    use credence_issuer::store::{OfferState, StoredAccessToken, StoredOffer};

    let registry = Registry::start().await;
    for backend in backends().await {
        let wallet = Wallet::start(&registry, backend.name, backend.store.clone()).await;
        let store = &wallet.store;
        let tenant = credence_issuer::ids::TenantId::parse(&wallet.tenant.id).expect("id");
        let now = wallet.now();
        let offer = StoredOffer {
            id_hash: BearerToken::generate().hash(),
            tenant: tenant.clone(),
            type_id: credence_issuer::ids::CredentialTypeId::parse(TYPE).expect("type"),
            formats: vec![credence_issuer::ids::Format::DcSdJwt],
            claims: Some(valid_claims()),
            tx_code: None,
            grant: CodeGrant::new("the-code", None, now, Duration::minutes(5)),
            state: OfferState::Offered,
            created: now,
        };
        store.create_offer(&offer).await.expect("offer");
        assert_eq!(
            store.offer(&tenant, &offer.id_hash).await.expect("read"),
            Some(offer.clone()),
            "{}: an offer reads back as written",
            wallet.backend
        );
        let token = |hash| StoredAccessToken {
            token_hash: hash,
            offer_hash: offer.id_hash,
            tenant: tenant.clone(),
            expires_at: now + Duration::minutes(5),
            used: false,
        };
        let (first, second) = (
            token(BearerToken::generate().hash()),
            token(BearerToken::generate().hash()),
        );
        let code = offer.grant.code_hash;
        let (a, b) = tokio::join!(
            store.redeem_offer(&code, now, &first),
            store.redeem_offer(&code, now, &second)
        );
        assert_eq!(
            [a.expect("redeem"), b.expect("redeem")]
                .iter()
                .filter(|won| **won)
                .count(),
            1,
            "{}: one redemption wins",
            wallet.backend
        );
        let winner = if store
            .access_token(&first.token_hash)
            .await
            .expect("read")
            .is_some()
        {
            &first
        } else {
            &second
        };
        let (a, b) = tokio::join!(
            store.use_access_token(&winner.token_hash, now),
            store.use_access_token(&winner.token_hash, now)
        );
        assert_eq!(
            [a.expect("use"), b.expect("use")]
                .iter()
                .filter(|won| **won)
                .count(),
            1,
            "{}: one use of a token wins",
            wallet.backend
        );
        let nonce = BearerToken::generate().hash();
        store
            .create_nonce(&tenant, &nonce, now + Duration::minutes(5))
            .await
            .expect("nonce");
        let (a, b) = tokio::join!(
            store.consume_nonce(&tenant, &nonce, now),
            store.consume_nonce(&tenant, &nonce, now)
        );
        assert_eq!(
            [a.expect("consume"), b.expect("consume")]
                .iter()
                .filter(|won| **won)
                .count(),
            1,
            "{}: one consumption of a nonce wins",
            wallet.backend
        );
        // An expired nonce is not consumed, and is swept.
        let stale = BearerToken::generate().hash();
        store
            .create_nonce(&tenant, &stale, now)
            .await
            .expect("nonce");
        assert!(
            !store
                .consume_nonce(&tenant, &stale, now)
                .await
                .expect("consume")
        );
        let swept = store.sweep_oid4vci(now).await.expect("sweep");
        assert_eq!(swept.nonces, 1, "{}", wallet.backend);
    }
}

#[tokio::test]
async fn the_sweeper_deletes_expired_claims_in_the_background() {
    let registry = Registry::start().await;
    let backend = backends().await.remove(0);
    let start = Utc
        .timestamp_opt(Utc::now().timestamp(), 0)
        .single()
        .expect("now");
    let (clock, time) = Clock::manual(start);
    let mut options = ServiceOptions::new(&registry.url);
    options.sweep_interval = std::time::Duration::from_millis(50);
    let issuer = Issuer::with_options(backend.store.clone(), options, clock);
    let tenant = create_tenant(&issuer, "land-bureau").await;
    let (schema_id, _) = registry.publish_schema().await;
    let reply = call(
        issuer.router(),
        "POST",
        &format!("/tenants/{}/types", tenant.id),
        Some(&tenant.token),
        Some(
            &json!({"id": TYPE, "schemaId": schema_id, "formats": ["dc+sd-jwt"],
            "validitySeconds": 3600}),
        ),
    )
    .await;
    assert_eq!(reply.status, 201, "{}", reply.text);
    let reply = call(
        issuer.router(),
        "POST",
        &format!("/tenants/{}/offers", tenant.id),
        Some(&tenant.token),
        Some(&json!({"type": TYPE, "claims": valid_claims(), "expires_in": 60})),
    )
    .await;
    assert_eq!(reply.status, 201, "{}", reply.text);
    assert_eq!(backend.counts().await.offer_claims, 1);
    time.advance(Duration::seconds(61));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while backend.counts().await.offer_claims != 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the claims were not swept"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(backend.counts().await.offers, 1, "the offer's row stays");
    issuer.application.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn the_well_known_documents_sit_at_the_root_beside_the_prefixed_issuer() {
    let registry = Registry::start().await;
    let backend = backends().await.remove(0);
    for prefix in ["/issuer", ""] {
        let mut options = ServiceOptions::new(&registry.url);
        options.public_url = PUBLIC_URL.into();
        options.prefix = prefix.into();
        let issuer = Issuer::with_options(backend.store.clone(), options, Clock::system());
        let tenant_id = if prefix.is_empty() {
            "bureau-b"
        } else {
            "bureau-a"
        };
        create_tenant(&issuer, tenant_id).await;
        // As `run` composes them: the issuer under its prefix, the documents at the root.
        let server = if prefix.is_empty() {
            issuer.router().clone()
        } else {
            axum::Router::new().nest(prefix, issuer.router().clone())
        }
        .merge(credence_issuer::well_known_router(
            issuer.state.clone(),
            prefix,
        ));
        let metadata = call(
            &server,
            "GET",
            &format!("/.well-known/openid-credential-issuer{prefix}/{tenant_id}"),
            None,
            None,
        )
        .await;
        assert_eq!(metadata.status, 200, "{prefix}: {}", metadata.text);
        let issuer_id = format!("{PUBLIC_URL}{prefix}/{tenant_id}");
        assert_eq!(metadata.body["credential_issuer"], issuer_id);
        let nonce = call(
            &server,
            "POST",
            &format!("{prefix}/{tenant_id}/nonce"),
            None,
            None,
        )
        .await;
        assert_eq!(nonce.status, 200, "{prefix}: {}", nonce.text);
        let admin = call(
            &server,
            "GET",
            &format!("{prefix}/tenants/{tenant_id}"),
            None,
            None,
        )
        .await;
        assert_problem(&admin, 401, "unauthenticated");
    }
}
