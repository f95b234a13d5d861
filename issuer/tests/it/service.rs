//! The issuer service through its HTTP API, on every backend, against a real registry on
//! loopback: the whole journey (tenant, accreditation, type, one issuance in two envelopes,
//! revocation visible at the registry), and every bad input refused with its problem and
//! nothing written.

use std::time::{Duration, Instant};

use credence_registry::client::{RegistryClient, fetch_status_list, plain_http_client};
use credence_registry::resolver::{CredenceSource, Resolver};
use serde_json::{Value, json};

use crate::decode_jwt;
use crate::support::{
    Issuer, MASTER_KEY, Registry, assert_problem, backends, call, create_tenant, holder_jwk,
    request, send, valid_claims,
};

/// The status at `index` of the list served at `uri`, read with the registry client and
/// checked against the issuer's DID (`status::verify_list`); `None` while nothing is served.
async fn served_status(client: &RegistryClient, uri: &str, index: u64) -> Option<u8> {
    let http = plain_http_client().expect("http client");
    let fetched = fetch_status_list(&http, uri).await.ok()?;
    let resolver = Resolver::new(CredenceSource::Remote(client.clone()), Default::default());
    let (_, claims) = credence_registry::status::verify_list(&resolver, &fetched.jws)
        .await
        .expect("served list verifies");
    claims.list.status(index)
}

/// Polls until the list at `uri` shows `expected` at `index`, for at most 15 s.
pub(crate) async fn await_status(client: &RegistryClient, uri: &str, index: u64, expected: u8) {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if served_status(client, uri, index).await == Some(expected) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{uri} did not show {expected} at {index} in time"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn a_credential_issued_in_two_formats_revokes_at_the_registry() {
    let registry = Registry::start().await;
    for backend in backends().await {
        let issuer = Issuer::start(backend.store.clone(), &registry);
        let app = issuer.router();
        let tenant = create_tenant(&issuer, "market-regulator").await;
        let (schema_id, vct) = registry.publish_schema().await;
        registry.accredit(&tenant.did, &vct).await;

        let types = format!("/tenants/{}/types", tenant.id);
        let reply = call(
            app,
            "POST",
            &types,
            Some(&tenant.token),
            Some(&json!({
            "id": "business-licence", "schemaId": schema_id, "formats": ["dc+sd-jwt", "vc+jwt"],
            "disclosable": ["/companyName", "/address/city"], "validitySeconds": 31_536_000,
            "statusPurposes": ["revocation", "suspension"]})),
        )
        .await;
        assert_eq!(reply.status, 201, "{}: {}", backend.name, reply.text);
        assert_eq!(reply.body["vct"], vct.as_str());

        let holder = holder_jwk();
        let credentials = format!("/tenants/{}/credentials", tenant.id);
        let reply = call(
            app,
            "POST",
            &credentials,
            Some(&tenant.token),
            Some(&json!({
            "type": "business-licence", "formats": ["dc+sd-jwt", "vc+jwt"],
            "claims": valid_claims(), "holderJwk": holder})),
        )
        .await;
        assert_eq!(reply.status, 201, "{}: {}", backend.name, reply.text);
        let id = reply.body["id"].as_str().expect("id").to_owned();
        let uri = reply.body["status"]["uri"]
            .as_str()
            .expect("status uri")
            .to_owned();
        let index = reply.body["status"]["index"].as_u64().expect("index");
        assert!(uri.starts_with(&format!("{}/status-lists/{}/", registry.url, tenant.did)));

        // Both envelopes name the one status entry; the SD-JWT binds the holder's key.
        let sd_jwt = reply.body["credentials"]["dc+sd-jwt"]
            .as_str()
            .expect("sd-jwt");
        let (header, payload) = decode_jwt(sd_jwt.split('~').next().expect("jwt"));
        assert_eq!(header["typ"], "dc+sd-jwt");
        assert_eq!(header["kid"], format!("{}#key-1", tenant.did));
        assert_eq!(payload["iss"], tenant.did.as_str());
        assert_eq!(payload["vct"], vct.as_str());
        assert_eq!(payload["cnf"]["jwk"], holder);
        assert_eq!(
            payload["status"]["status_list"],
            json!({"idx": index, "uri": uri})
        );
        assert!(
            payload.get("companyName").is_none(),
            "companyName is disclosable"
        );
        let (header, vc) = decode_jwt(reply.body["credentials"]["vc+jwt"].as_str().expect("vc"));
        assert_eq!(header["typ"], "vc+jwt");
        assert_eq!(vc["id"], id.as_str());
        let entries = vc["credentialStatus"].as_array().expect("two entries");
        assert_eq!(entries.len(), 2);
        for (entry, purpose) in entries.iter().zip(["revocation", "suspension"]) {
            assert_eq!(entry["statusListIndex"], index.to_string());
            assert_eq!(entry["statusListCredential"], format!("{uri}.{purpose}"));
        }

        // The list is published when started: the entry is valid at the registry.
        await_status(&registry.client, &uri, index, 0).await;

        // One record, no claims in it.
        let reply = call(app, "GET", &credentials, Some(&tenant.token), None).await;
        assert_eq!(reply.status, 200, "{}", reply.text);
        let records = reply.body.as_array().expect("records");
        assert_eq!(records.len(), 1);
        assert_eq!(records[0]["formats"], json!(["dc+sd-jwt", "vc+jwt"]));
        assert!(!reply.text.contains("Acme"), "{}", reply.text);
        let counts = backend.counts().await;
        assert_eq!((counts.records, counts.entries, counts.lists), (1, 1, 1));

        let reply = call(
            app,
            "POST",
            &format!("{credentials}/{id}/revoke"),
            Some(&tenant.token),
            None,
        )
        .await;
        assert_eq!(reply.status, 200, "{}", reply.text);
        assert_eq!(reply.body["status"], "revoked");
        // Visible at the registry in both formats: Token Status List INVALID (1), and the
        // revocation bit set in the W3C bitstring list.
        await_status(&registry.client, &uri, index, 1).await;
        await_status(&registry.client, &format!("{uri}.revocation"), index, 1).await;
        assert_eq!(
            served_status(&registry.client, &format!("{uri}.suspension"), index).await,
            Some(0)
        );

        let reply = call(
            app,
            "GET",
            &format!("{credentials}/{id}"),
            Some(&tenant.token),
            None,
        )
        .await;
        assert_eq!(reply.body["currentStatus"], "revoked", "{}", reply.text);
        // Revocation is final.
        let reply = call(
            app,
            "POST",
            &format!("{credentials}/{id}/reinstate"),
            Some(&tenant.token),
            None,
        )
        .await;
        assert_problem(&reply, 409, "status-conflict");

        issuer
            .application
            .shutdown()
            .await
            .expect("republisher stops");
    }
}

#[tokio::test]
async fn suspension_is_published_and_lifted() {
    let registry = Registry::start().await;
    for backend in backends().await {
        let issuer = Issuer::start(backend.store.clone(), &registry);
        let app = issuer.router();
        let tenant = create_tenant(&issuer, "land-bureau").await;
        let (schema_id, vct) = registry.publish_schema().await;
        registry.accredit(&tenant.did, &vct).await;
        let reply = call(
            app,
            "POST",
            &format!("/tenants/{}/types", tenant.id),
            Some(&tenant.token),
            Some(&json!({
            "id": "permit", "schemaId": schema_id, "formats": ["dc+sd-jwt"],
            "validitySeconds": 3600, "statusPurposes": ["suspension"]})),
        )
        .await;
        assert_eq!(reply.status, 201, "{}", reply.text);
        let credentials = format!("/tenants/{}/credentials", tenant.id);
        let reply = call(app, "POST", &credentials, Some(&tenant.token), Some(&json!({
            "type": "permit", "formats": ["dc+sd-jwt"], "claims": valid_claims(), "holderJwk": holder_jwk()}))).await;
        assert_eq!(reply.status, 201, "{}", reply.text);
        let id = reply.body["id"].as_str().expect("id").to_owned();
        let uri = reply.body["status"]["uri"]
            .as_str()
            .expect("uri")
            .to_owned();
        let index = reply.body["status"]["index"].as_u64().expect("index");
        // A type without revocation cannot be revoked.
        let reply = call(
            app,
            "POST",
            &format!("{credentials}/{id}/revoke"),
            Some(&tenant.token),
            None,
        )
        .await;
        assert_problem(&reply, 409, "status-conflict");
        let reply = call(
            app,
            "POST",
            &format!("{credentials}/{id}/suspend"),
            Some(&tenant.token),
            None,
        )
        .await;
        assert_eq!(reply.body["status"], "suspended", "{}", reply.text);
        await_status(&registry.client, &uri, index, 2).await;
        let reply = call(
            app,
            "POST",
            &format!("{credentials}/{id}/reinstate"),
            Some(&tenant.token),
            None,
        )
        .await;
        assert_eq!(reply.body["status"], "valid", "{}", reply.text);
        await_status(&registry.client, &uri, index, 0).await;
        issuer
            .application
            .shutdown()
            .await
            .expect("republisher stops");
    }
}

/// The log index the registry states for the list served at `uri`.
async fn served_log_index(uri: &str) -> u64 {
    let http = plain_http_client().expect("http client");
    fetch_status_list(&http, uri)
        .await
        .expect("list served")
        .log_index
        .expect("log index")
        .get()
}

#[tokio::test]
async fn a_burst_of_revocations_is_one_publication() {
    for backend in backends().await {
        // A registry of its own: the log grows only by this issuer's publications.
        let registry = Registry::start().await;
        let issuer =
            Issuer::with_coalescing(backend.store.clone(), &registry, Duration::from_millis(500));
        let app = issuer.router();
        let tenant = create_tenant(&issuer, "tax-bureau").await;
        let (schema_id, vct) = registry.publish_schema().await;
        registry.accredit(&tenant.did, &vct).await;
        let reply = call(
            app,
            "POST",
            &format!("/tenants/{}/types", tenant.id),
            Some(&tenant.token),
            Some(&json!({
            "id": "invoice", "schemaId": schema_id, "formats": ["vc+jwt"],
            "validitySeconds": 3600, "statusPurposes": ["revocation"]})),
        )
        .await;
        assert_eq!(reply.status, 201, "{}", reply.text);
        let credentials = format!("/tenants/{}/credentials", tenant.id);
        let mut issued = Vec::new();
        for _ in 0..10 {
            let reply = call(app, "POST", &credentials, Some(&tenant.token), Some(&json!({
                "type": "invoice", "formats": ["vc+jwt"], "claims": valid_claims(), "holderJwk": holder_jwk()}))).await;
            assert_eq!(reply.status, 201, "{}", reply.text);
            issued.push((
                reply.body["id"].as_str().expect("id").to_owned(),
                reply.body["status"]["index"].as_u64().expect("index"),
            ));
        }
        let uri = reply_uri(app, &credentials, &tenant.token).await;
        await_status(&registry.client, &uri, issued[0].1, 0).await;
        let before = served_log_index(&uri).await;
        // One after the other, as an operator's script would send them.
        for (id, _) in &issued {
            let reply = call(
                app,
                "POST",
                &format!("{credentials}/{id}/revoke"),
                Some(&tenant.token),
                None,
            )
            .await;
            assert_eq!(reply.body["status"], "revoked", "{}", reply.text);
        }
        for (_, index) in &issued {
            await_status(&registry.client, &uri, *index, 1).await;
        }
        // One publication: the three documents of one version (the Token Status List and the
        // two bitstring lists) follow the previous version's in the log, and nothing else.
        assert_eq!(served_log_index(&uri).await, before + 3, "{}", backend.name);
        issuer
            .application
            .shutdown()
            .await
            .expect("republisher stops");
    }
}

/// The status list URI of the tenant's newest record.
async fn reply_uri(app: &axum::Router, credentials: &str, token: &str) -> String {
    let reply = call(app, "GET", credentials, Some(token), None).await;
    reply.body[0]["status"]["uri"]
        .as_str()
        .expect("uri")
        .to_owned()
}

/// One bad request: what it is, how it is sent, and the problem it must get.
struct Case {
    name: &'static str,
    method: &'static str,
    path: String,
    token: Option<String>,
    body: Option<String>,
    status: u16,
    kind: &'static str,
    /// Text the problem's detail must contain.
    detail: &'static str,
}

#[tokio::test]
async fn bad_requests_get_their_problem_and_write_nothing() {
    let registry = Registry::start().await;
    for backend in backends().await {
        let issuer = Issuer::start(backend.store.clone(), &registry);
        let app = issuer.router();
        let a = create_tenant(&issuer, "agency-a").await;
        let b = create_tenant(&issuer, "agency-b").await;
        let (schema_id, vct) = registry.publish_schema().await;
        registry.accredit(&a.did, &vct).await;
        for (tenant, id, formats) in [
            (&a, "licence", json!(["dc+sd-jwt", "vc+jwt"])),
            (&a, "vc-only", json!(["vc+jwt"])),
            (&b, "licence", json!(["vc+jwt"])),
        ] {
            let reply = call(
                app,
                "POST",
                &format!("/tenants/{}/types", tenant.id),
                Some(&tenant.token),
                Some(&json!({
                "id": id, "schemaId": schema_id, "formats": formats,
                "validitySeconds": 3600, "statusPurposes": ["revocation"]})),
            )
            .await;
            assert_eq!(reply.status, 201, "{}", reply.text);
        }
        let issue_body = |type_id: &str, formats: Value, claims: Value| {
            json!({"type": type_id, "formats": formats, "claims": claims, "holderJwk": holder_jwk()}).to_string()
        };
        let a_credentials = format!("/tenants/{}/credentials", a.id);
        let reply = send(
            app,
            request(
                "POST",
                &a_credentials,
                Some(&a.token),
                Some(&issue_body("licence", json!(["vc+jwt"]), valid_claims())),
            ),
        )
        .await;
        assert_eq!(reply.status, 201, "{}", reply.text);
        let a_credential = reply.body["id"].as_str().expect("id").to_owned();

        let good = issue_body("licence", json!(["dc+sd-jwt"]), valid_claims());
        let nested = format!("{}{}", "[".repeat(40), "]".repeat(40));
        let deep_claims = issue_body(
            "licence",
            json!(["vc+jwt"]),
            json!({"companyName": "x", "registrationNumber": "123456"}),
        )
        .replacen("\"x\"", &nested, 1);
        let oversized = issue_body(
            "licence",
            json!(["vc+jwt"]),
            json!({"companyName": "x".repeat(70_000), "registrationNumber": "123456"}),
        );
        let missing = json!({"registrationNumber": "12345678"});
        let wrong_type = json!({"companyName": 5, "registrationNumber": "12345678"});
        let bad_pattern = json!({"companyName": "Acme", "registrationNumber": "12"});
        let nested_violation = json!({"companyName": "Acme", "registrationNumber": "12345678", "address": {"city": 7}});
        let unknown_id = "urn:uuid:00000000-0000-4000-8000-000000000000";
        let (at, bt) = (Some(a.token.clone()), Some(b.token.clone()));
        let admin = Some(issuer.admin.expose().to_owned());
        let case = |name,
                    method,
                    path: &str,
                    token: &Option<String>,
                    body: Option<String>,
                    status,
                    kind,
                    detail| Case {
            name,
            method,
            path: path.to_owned(),
            token: token.clone(),
            body,
            status,
            kind,
            detail,
        };
        let cases = [
            case("unknown tenant", "POST", "/tenants/nobody/credentials", &at, Some(good.clone()), 404, "tenant-not-found", "nobody"),
            case("unknown type", "POST", &a_credentials, &at, Some(issue_body("no-such-type", json!(["vc+jwt"]), valid_claims())), 404, "credential-type-not-found", "no-such-type"),
            case("missing required claim", "POST", &a_credentials, &at, Some(issue_body("licence", json!(["vc+jwt"]), missing)), 422, "schema-violation", "/companyName"),
            case("claim of the wrong type", "POST", &a_credentials, &at, Some(issue_body("licence", json!(["vc+jwt"]), wrong_type)), 422, "schema-violation", "/companyName"),
            case("claim against its pattern", "POST", &a_credentials, &at, Some(issue_body("licence", json!(["vc+jwt"]), bad_pattern)), 422, "schema-violation", "/registrationNumber"),
            case("nested claim violation", "POST", &a_credentials, &at, Some(issue_body("licence", json!(["vc+jwt"]), nested_violation)), 422, "schema-violation", "/address/city"),
            case("format not offered", "POST", &a_credentials, &at, Some(issue_body("vc-only", json!(["dc+sd-jwt"]), valid_claims())), 422, "format-not-offered", "dc+sd-jwt"),
            case("unknown format", "POST", &a_credentials, &at, Some(issue_body("licence", json!(["jwt_vc_json"]), valid_claims())), 422, "format-not-offered", "jwt_vc_json"),
            case("format known but not offered", "POST", &a_credentials, &at, Some(issue_body("licence", json!(["ldp_vc"]), valid_claims())), 422, "format-not-offered", "ldp_vc"),
            case("no format", "POST", &a_credentials, &at, Some(issue_body("licence", json!([]), valid_claims())), 400, "invalid-request", "formats"),
            case("holder key not a JWK", "POST", &a_credentials, &at, Some(json!({"type": "licence", "formats": ["vc+jwt"], "claims": valid_claims(), "holderJwk": {"kty": "oct", "k": "c2VjcmV0"}}).to_string()), 400, "invalid-request", "holderJwk"),
            case("missing token", "POST", &a_credentials, &None, Some(good.clone()), 401, "unauthenticated", "Bearer"),
            case("wrong token", "POST", &a_credentials, &Some("not-a-token".into()), Some(good.clone()), 401, "unauthenticated", "Bearer"),
            case("admin token on tenant routes", "POST", &a_credentials, &admin, Some(good.clone()), 401, "unauthenticated", "Bearer"),
            case("tenant token creates tenants", "POST", "/tenants", &at, Some(json!({"id": "agency-c", "name": "C"}).to_string()), 401, "unauthenticated", "Bearer"),
            case("another tenant's token", "POST", &a_credentials, &bt, Some(good.clone()), 404, "tenant-not-found", "agency-a"),
            case("another tenant's token registers a type", "POST", &format!("/tenants/{}/types", a.id), &bt, Some(json!({"id": "x", "schemaId": schema_id, "formats": ["vc+jwt"], "validitySeconds": 60}).to_string()), 404, "tenant-not-found", "agency-a"),
            case("another tenant's token revokes", "POST", &format!("{a_credentials}/{a_credential}/revoke"), &bt, None, 404, "tenant-not-found", "agency-a"),
            case("revoke an unknown id", "POST", &format!("{a_credentials}/{unknown_id}/revoke"), &at, None, 404, "credential-not-found", unknown_id),
            case("revoke another tenant's id", "POST", &format!("/tenants/{}/credentials/{a_credential}/revoke", b.id), &bt, None, 404, "credential-not-found", "urn:uuid:"),
            case("revoke a malformed id", "POST", &format!("{a_credentials}/42/revoke"), &at, None, 404, "credential-not-found", "42"),
            case("oversized body", "POST", &a_credentials, &at, Some(oversized), 413, "body-too-large", "65536"),
            case("deeply nested body", "POST", &a_credentials, &at, Some(deep_claims), 400, "malformed-json", "nested"),
            case("duplicate keys", "POST", &a_credentials, &at, Some(good.replacen("{", "{\"type\":\"licence\",", 1)), 400, "malformed-json", "duplicate"),
            case("not JSON", "POST", &a_credentials, &at, Some("{\"type\":".into()), 400, "malformed-json", "malformed"),
            case("unknown member", "POST", &a_credentials, &at, Some(good.replacen("{", "{\"extra\":1,", 1)), 400, "invalid-request", "extra"),
            case("type with an unknown schema", "POST", &format!("/tenants/{}/types", a.id), &at, Some(json!({"id": "t2", "schemaId": "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "formats": ["vc+jwt"], "validitySeconds": 60}).to_string()), 422, "schema-not-found", "aaaa"),
            case("type with an undeclared disclosable claim", "POST", &format!("/tenants/{}/types", a.id), &at, Some(json!({"id": "t3", "schemaId": schema_id, "formats": ["dc+sd-jwt"], "disclosable": ["/nickname"], "validitySeconds": 60}).to_string()), 422, "invalid-credential-type", "/nickname"),
            case("type making a registered claim disclosable", "POST", &format!("/tenants/{}/types", a.id), &at, Some(json!({"id": "t4", "schemaId": schema_id, "formats": ["dc+sd-jwt"], "disclosable": ["/iss"], "validitySeconds": 60}).to_string()), 422, "invalid-credential-type", "/iss"),
            case("type id taken", "POST", &format!("/tenants/{}/types", a.id), &at, Some(json!({"id": "licence", "schemaId": schema_id, "formats": ["vc+jwt"], "validitySeconds": 60}).to_string()), 409, "credential-type-exists", "licence"),
            case("tenant id taken", "POST", "/tenants", &admin, Some(json!({"id": "agency-a", "name": "again"}).to_string()), 409, "tenant-exists", "agency-a"),
            case("tenant id not a slug", "POST", "/tenants", &admin, Some(json!({"id": "Agency A", "name": "A"}).to_string()), 400, "invalid-request", "Agency A"),
            case("no route", "GET", "/nothing-here", &at, None, 404, "route-not-found", "/nothing-here"),
        ];
        let before = backend.counts().await;
        let secrets = [
            MASTER_KEY,
            issuer.admin.expose(),
            a.token.as_str(),
            b.token.as_str(),
        ];
        for case in &cases {
            let reply = send(
                app,
                request(
                    case.method,
                    &case.path,
                    case.token.as_deref(),
                    case.body.as_deref(),
                ),
            )
            .await;
            assert_problem(&reply, case.status, case.kind);
            let detail = reply.body["detail"].as_str().unwrap_or_default();
            assert!(
                detail.contains(case.detail),
                "{} ({}): detail {detail:?} lacks {:?}",
                case.name,
                backend.name,
                case.detail
            );
            for secret in secrets {
                assert!(
                    !reply.text.contains(secret),
                    "{}: a secret in the response",
                    case.name
                );
            }
            assert_eq!(
                backend.counts().await,
                before,
                "{} ({}) wrote something",
                case.name,
                backend.name
            );
        }
        // A wrong content type is refused before the body is read.
        let mut wrong_type = request("POST", &a_credentials, Some(&a.token), Some(&good));
        wrong_type
            .headers_mut()
            .insert("content-type", "text/plain".parse().expect("header"));
        assert_problem(&send(app, wrong_type).await, 415, "unsupported-media-type");
        // A's credential is untouched by B's attempts.
        let reply = call(
            app,
            "GET",
            &format!("{a_credentials}/{a_credential}"),
            Some(&a.token),
            None,
        )
        .await;
        assert_eq!(reply.body["currentStatus"], "valid", "{}", reply.text);
        // The counts above can change: the same request with a good body writes a record.
        let reply = send(
            app,
            request("POST", &a_credentials, Some(&a.token), Some(&good)),
        )
        .await;
        assert_eq!(reply.status, 201, "{}", reply.text);
        let after = backend.counts().await;
        assert_eq!(
            (after.records, after.entries),
            (before.records + 1, before.entries + 1)
        );
        issuer
            .application
            .shutdown()
            .await
            .expect("republisher stops");
    }
}

#[tokio::test]
async fn the_openapi_document_lists_the_admin_routes() {
    let registry = Registry::start().await;
    let backend = backends().await.remove(0);
    let issuer = Issuer::start(backend.store.clone(), &registry);
    let reply = call(issuer.router(), "GET", "/openapi.json", None, None).await;
    assert_eq!(reply.status, 200);
    for path in [
        "/tenants",
        "/tenants/{tenant}/types",
        "/tenants/{tenant}/credentials",
        "/tenants/{tenant}/credentials/{id}/revoke",
    ] {
        assert!(reply.body["paths"].get(path).is_some(), "{path} missing");
    }
}

/// Issuances in flight together share group commits: every one is answered 201 with its own
/// status index, and every one is recorded, with its allocation, exactly once.
#[tokio::test]
async fn concurrent_issuances_are_each_recorded_once() {
    let registry = Registry::start().await;
    for backend in backends().await {
        let issuer = Issuer::start(backend.store.clone(), &registry);
        let app = issuer.router();
        let tenant = create_tenant(&issuer, "busy-bureau").await;
        let (schema_id, vct) = registry.publish_schema().await;
        registry.accredit(&tenant.did, &vct).await;
        let reply = call(
            app,
            "POST",
            &format!("/tenants/{}/types", tenant.id),
            Some(&tenant.token),
            Some(&json!({
            "id": "licence", "schemaId": schema_id, "formats": ["dc+sd-jwt"],
            "validitySeconds": 3600, "statusPurposes": ["revocation"]})),
        )
        .await;
        assert_eq!(reply.status, 201, "{}", reply.text);
        let credentials = format!("/tenants/{}/credentials", tenant.id);
        let body = json!({"type": "licence", "formats": ["dc+sd-jwt"],
                          "claims": valid_claims(), "holderJwk": holder_jwk()});
        let n = 48;
        let replies = futures::future::join_all((0..n).map(|_| {
            let app = app.clone();
            let (credentials, token, body) =
                (credentials.clone(), tenant.token.clone(), body.clone());
            tokio::spawn(async move {
                call(&app, "POST", &credentials, Some(&token), Some(&body)).await
            })
        }))
        .await;
        let mut slots = std::collections::BTreeSet::new();
        let mut ids = std::collections::BTreeSet::new();
        for reply in replies {
            let reply = reply.expect("task");
            assert_eq!(reply.status, 201, "{}: {}", backend.name, reply.text);
            ids.insert(reply.body["id"].as_str().expect("id").to_owned());
            slots.insert((
                reply.body["status"]["uri"]
                    .as_str()
                    .expect("uri")
                    .to_owned(),
                reply.body["status"]["index"].as_u64().expect("index"),
            ));
        }
        assert_eq!((ids.len(), slots.len()), (n, n), "{}", backend.name);
        let counts = backend.counts().await;
        assert_eq!(
            (counts.records, counts.entries),
            (n as i64, n as i64),
            "{}",
            backend.name
        );
        issuer
            .application
            .shutdown()
            .await
            .expect("republisher stops");
    }
}

/// Issuances racing past a list's nearly-full mark start one new list between them, not one
/// each (every list is published to the registry for good).
#[tokio::test]
async fn issuances_racing_past_a_nearly_full_list_start_one_new_list() {
    let registry = Registry::start().await;
    for backend in backends().await {
        let mut options = credence_issuer::service::ServiceOptions::new(&registry.url);
        options.list_entries = 20; // nearly full (under 2 free) after 19
        let issuer = Issuer::with_options(backend.store.clone(), options, Default::default());
        let app = issuer.router();
        let tenant = create_tenant(&issuer, "racing-bureau").await;
        let (schema_id, vct) = registry.publish_schema().await;
        registry.accredit(&tenant.did, &vct).await;
        let reply = call(
            app,
            "POST",
            &format!("/tenants/{}/types", tenant.id),
            Some(&tenant.token),
            Some(&json!({
            "id": "licence", "schemaId": schema_id, "formats": ["dc+sd-jwt"],
            "validitySeconds": 3600, "statusPurposes": ["revocation"]})),
        )
        .await;
        assert_eq!(reply.status, 201, "{}", reply.text);
        let credentials = format!("/tenants/{}/credentials", tenant.id);
        let body = json!({"type": "licence", "formats": ["dc+sd-jwt"],
                          "claims": valid_claims(), "holderJwk": holder_jwk()});
        for _ in 0..19 {
            let reply = call(app, "POST", &credentials, Some(&tenant.token), Some(&body)).await;
            assert_eq!(reply.status, 201, "{}", reply.text);
        }
        assert_eq!(backend.counts().await.lists, 1, "{}", backend.name);
        let replies = futures::future::join_all((0..16).map(|_| {
            let app = app.clone();
            let (credentials, token, body) =
                (credentials.clone(), tenant.token.clone(), body.clone());
            tokio::spawn(async move {
                call(&app, "POST", &credentials, Some(&token), Some(&body)).await
            })
        }))
        .await;
        for reply in replies {
            let reply = reply.expect("task");
            assert_eq!(reply.status, 201, "{}: {}", backend.name, reply.text);
        }
        let counts = backend.counts().await;
        assert_eq!((counts.records, counts.lists), (35, 2), "{}", backend.name);
        issuer
            .application
            .shutdown()
            .await
            .expect("republisher stops");
    }
}
