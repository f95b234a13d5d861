//! End-to-end: an agency operator drives the issuer inside `credence serve` with the
//! `credence issuer` commands, as the README does — tenant, type, issuance in three envelopes,
//! an offer with its QR code, revocation seen at the registry — and is refused where she
//! should be, with nothing issued. On SQLite, and on PostgreSQL when
//! CREDENCE_TEST_DATABASE_URL is set (the issuer then keeps its tables in the registry's
//! database, schema `credence_issuer`).

use std::path::Path;
use std::process::Output;

use credence_tests::{Server, cli, json as json_of, postgres_url, scratch, unique};
use serde_json::json;

const BIN: &str = env!("CARGO_BIN_EXE_credence");

fn run_ok(args: &[&str]) -> String {
    credence_tests::cli_ok(Path::new(BIN), args)
}
const SCHEMA: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/examples/schemas/business-licence.json"
);
const HOLDER: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/holder-key.jwk");
const LICENCE: &str = "https://credence.example/vct/business-licence";
/// The shared test log key (PostgreSQL runs share one database, hence one log and one key).
const TEST_LOG_KEY: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/registry/server/testdata/log-signing.key"
);

fn run(args: &[&str]) -> Output {
    cli(Path::new(BIN), args)
}

fn as_strs(args: &[String]) -> Vec<&str> {
    args.iter().map(String::as_str).collect()
}

/// A refusal: exit 1, one `refused:` line naming `expected`.
fn assert_refused(output: &Output, expected: &str) {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "stderr: {stderr}");
    assert!(
        stderr.starts_with("refused:") && stderr.contains(expected),
        "expected a refusal naming {expected:?}, got: {stderr}"
    );
}

fn issuer_journey(data: &Path, server_args: &[&str], keys: &Path) {
    let server = Server::start(Path::new(BIN), server_args);
    let registry = server.registry();
    let issuer_url = format!("{}/issuer", server.base);
    let authority = keys.join("authority");
    let anchor = run_ok(&[
        "did",
        "create",
        "--registry",
        &registry,
        "--keys",
        authority.to_str().unwrap(),
    ])
    .trim()
    .to_owned();
    let listen = server.listen.clone();
    assert!(server.signal("TERM").success());
    let mut with_anchor = server_args.to_vec();
    with_anchor.extend(["--trust-anchor", &anchor]);
    let server = Server::start_on(Path::new(BIN), &listen, &with_anchor);

    // The schema, under a vct of this run's own (PostgreSQL runs share the registry).
    let vct = format!("{LICENCE}/{}", unique("run"));
    let mut schema = json_of(&std::fs::read_to_string(SCHEMA).expect("schema"));
    schema["typeMetadata"]["vct"] = json!(vct);
    let schema_file = keys.join("schema.json");
    std::fs::write(&schema_file, schema.to_string()).expect("write schema");
    let schema_id = run_ok(&[
        "schema",
        "publish",
        "--registry",
        &registry,
        "--keys",
        authority.to_str().unwrap(),
        schema_file.to_str().unwrap(),
    ])
    .trim()
    .to_owned();

    // The operator's token was generated into the issuer's data dir, inside --data-dir.
    let admin = std::fs::read_to_string(data.join("issuer/admin-token")).expect("admin token");
    let admin = admin.trim();
    let tenant_id = unique("regulator");
    let refused = run(&[
        "issuer",
        "tenant",
        "create",
        "--issuer",
        &issuer_url,
        "--admin-token",
        &"x".repeat(43),
        &tenant_id,
        "--name",
        "Impostor",
    ]);
    assert_refused(&refused, "");
    let created = json_of(&run_ok(&[
        "issuer",
        "tenant",
        "create",
        "--issuer",
        &issuer_url,
        "--admin-token",
        admin,
        &tenant_id,
        "--name",
        "Market Regulator",
    ]));
    let token = created["token"].as_str().expect("token").to_owned();
    let did = created["did"].as_str().expect("did").to_owned();
    assert!(did.starts_with("did:credence:"), "{created}");
    assert_eq!(created["tenant"]["id"], json!(tenant_id));
    // The tenant's DID is registered at the registry.
    run_ok(&["did", "resolve", "--registry", &registry, &did]);

    let tenant = |args: &[&str]| -> Vec<String> {
        let mut all: Vec<String> = args.iter().map(|s| (*s).to_owned()).collect();
        all.extend([
            "--issuer".into(),
            issuer_url.clone(),
            "--tenant".into(),
            tenant_id.clone(),
            "--token".into(),
            token.clone(),
        ]);
        all
    };

    run_ok(&[
        "trust",
        "accredit",
        "--registry",
        &registry,
        "--keys",
        authority.to_str().unwrap(),
        &did,
        "--type",
        &vct,
        "--until",
        "2099-01-01T00:00:00Z",
    ]);
    // A credential's `iat` is in whole seconds and an accreditation counts from the moment
    // the registry records it: issue from the next second on, or the accreditation would
    // (rightly) not cover the issuance.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let registered = json_of(&run_ok(&as_strs(&tenant(&[
        "issuer",
        "type",
        "add",
        "business-licence",
        "--schema",
        &schema_id,
        "--formats",
        "dc+sd-jwt,vc+jwt,ldp_vc",
        "--disclosable",
        "/companyName,/unifiedSocialCreditCode,/legalRepresentative",
        "--status",
        "revocation,suspension",
    ]))));
    assert_eq!(registered["vct"], json!(vct));

    let claims = json!({
        "companyName": "Blue Harbour Trading Co.",
        "unifiedSocialCreditCode": "91310000MA1K3YJ12X",
        "legalRepresentative": "Li Wei",
        "registrationStatus": "active",
    })
    .to_string();
    let holder = format!("@{HOLDER}");
    let issued = json_of(&run_ok(&as_strs(&tenant(&[
        "issuer",
        "issue",
        "--type",
        "business-licence",
        "--formats",
        "dc+sd-jwt,vc+jwt,ldp_vc",
        "--holder-jwk",
        &holder,
        "--claims",
        &claims,
    ]))));
    let id = issued["id"].as_str().expect("id").to_owned();
    let envelopes = issued["credentials"].as_object().expect("credentials");
    assert_eq!(envelopes.len(), 3, "{issued}");
    let sd_jwt = envelopes["dc+sd-jwt"].as_str().expect("sd-jwt");
    assert!(
        sd_jwt.ends_with('~') && sd_jwt.matches('~').count() >= 4,
        "{sd_jwt}"
    );
    assert_eq!(
        envelopes["vc+jwt"]
            .as_str()
            .expect("jwt")
            .split('.')
            .count(),
        3
    );
    let ldp = json_of(envelopes["ldp_vc"].as_str().expect("ldp_vc"));
    assert_eq!(ldp["proof"]["cryptosuite"], "eddsa-rdfc-2022", "{ldp}");
    assert_eq!(ldp["issuer"], json!(did));

    // Any enterprise can check them with `credence verify`, step by step.
    let envelope_file = |name: &str, text: &str| {
        let path = keys.join(name);
        std::fs::write(&path, text).expect("write envelope");
        path.to_str().unwrap().to_owned()
    };
    let vc_jwt_file = envelope_file("licence.jwt", envelopes["vc+jwt"].as_str().unwrap());
    let sd_jwt_file = envelope_file("licence.sd-jwt", sd_jwt);
    for file in [&vc_jwt_file, &sd_jwt_file] {
        // A new status list reaches the registry with the republisher's next round.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        let (verified, report) = loop {
            let verified = run(&["verify", "--registry", &registry, file]);
            let report = String::from_utf8_lossy(&verified.stdout).into_owned();
            if verified.status.code() != Some(2) || std::time::Instant::now() > deadline {
                break (verified, report);
            }
            std::thread::sleep(std::time::Duration::from_millis(250));
        };
        assert_eq!(verified.status.code(), Some(0), "{file}: {report}");
        for step in ["signature", "status", "accreditation", "schema"] {
            assert!(
                report
                    .lines()
                    .any(|l| l.trim_start().starts_with(&format!("{step}: passed"))),
                "{step} not passed for {file}: {report}"
            );
        }
    }

    // Bad input: nothing issued.
    let mut violating = json_of(&claims);
    violating["registrationStatus"] = json!("dormant");
    assert_refused(
        &run(&as_strs(&tenant(&[
            "issuer",
            "issue",
            "--type",
            "business-licence",
            "--holder-jwk",
            &holder,
            "--claims",
            &violating.to_string(),
        ]))),
        "registrationStatus",
    );
    assert_refused(
        &run(&as_strs(&tenant(&[
            "issuer",
            "issue",
            "--type",
            "no-such-type",
            "--holder-jwk",
            &holder,
            "--claims",
            &claims,
        ]))),
        "no-such-type",
    );
    let wrong_token = run(&[
        "issuer",
        "issue",
        "--issuer",
        &issuer_url,
        "--tenant",
        &tenant_id,
        "--token",
        &"y".repeat(43),
        "--type",
        "business-licence",
        "--holder-jwk",
        &holder,
        "--claims",
        &claims,
    ]);
    assert_refused(&wrong_token, "");
    // Another tenant's token on this tenant's credentials.
    let other = json_of(&run_ok(&[
        "issuer",
        "tenant",
        "create",
        "--issuer",
        &issuer_url,
        "--admin-token",
        admin,
        &unique("bureau"),
        "--name",
        "Land Bureau",
    ]));
    let foreign = run(&[
        "issuer",
        "revoke",
        "--issuer",
        &issuer_url,
        "--tenant",
        &tenant_id,
        "--token",
        other["token"].as_str().expect("token"),
        &id,
    ]);
    assert_refused(&foreign, "");
    assert_refused(
        &run(&as_strs(&tenant(&[
            "issuer",
            "revoke",
            "urn:uuid:00000000-0000-4000-8000-000000000000",
        ]))),
        "",
    );
    let records = json_of(&run_ok(&as_strs(&tenant(&["issuer", "credentials"]))));
    assert_eq!(records.as_array().expect("records").len(), 1, "{records}");

    // An offer a wallet can redeem, with its QR code as a PNG.
    let png = data.join("offer.png");
    let offer = json_of(&run_ok(&as_strs(&tenant(&[
        "issuer",
        "offer",
        "--type",
        "business-licence",
        "--tx-code-length",
        "6",
        "--png",
        png.to_str().unwrap(),
        "--claims",
        &claims,
    ]))));
    let by_reference = offer["offer_uri_by_reference"].as_str().expect("uri");
    assert!(
        by_reference.starts_with("openid-credential-offer://?credential_offer_uri="),
        "{offer}"
    );
    assert_eq!(offer["tx_code"].as_str().map(str::len), Some(6), "{offer}");
    let image = std::fs::read(&png).expect("png");
    assert_eq!(&image[..8], b"\x89PNG\r\n\x1a\n");
    let (status, metadata) = credence_tests::http_get(&format!(
        "{}/.well-known/openid-credential-issuer/issuer/{tenant_id}",
        server.base
    ))
    .expect("metadata");
    assert_eq!(status, 200, "{metadata}");
    assert_eq!(
        json_of(&metadata)["credential_issuer"],
        json!(format!("{issuer_url}/{tenant_id}"))
    );

    // Revocation: the registry's list shows it within seconds.
    let revoked = json_of(&run_ok(&as_strs(&tenant(&["issuer", "revoke", &id]))));
    assert_eq!(revoked["status"], "revoked", "{revoked}");
    let uri = issued["status"]["uri"]
        .as_str()
        .expect("status uri")
        .to_owned();
    let index = issued["status"]["index"].to_string();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    loop {
        let shown = run(&[
            "status",
            "show",
            "--registry",
            &registry,
            &uri,
            "--index",
            &index,
        ]);
        if shown.status.success() && json_of(&String::from_utf8_lossy(&shown.stdout))["status"] == 1
        {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the registry did not show the revocation within 15 s: {}",
            String::from_utf8_lossy(&shown.stderr)
        );
        std::thread::sleep(std::time::Duration::from_millis(250));
    }
    // The enterprise's check now fails at the status step, in both envelopes (the bitstring
    // list of the vc+jwt may follow the token list by a publication).
    for file in [&vc_jwt_file, &sd_jwt_file] {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
        loop {
            let verified = run(&["verify", "--registry", &registry, file]);
            let report = String::from_utf8_lossy(&verified.stdout).into_owned();
            if verified.status.code() == Some(1) {
                assert!(
                    report
                        .lines()
                        .any(|l| l.trim_start().starts_with("status: FAILED")),
                    "{report}"
                );
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{file} still verifies after revocation: {report}"
            );
            std::thread::sleep(std::time::Duration::from_millis(250));
        }
    }
    drop(server);
}

#[test]
fn agency_issues_offers_and_revokes_on_sqlite() {
    let (_dir, path) = scratch();
    let data = path.join("data");
    issuer_journey(
        &data,
        &["--data-dir", data.to_str().unwrap()],
        &path.join("keys"),
    );
    assert!(data.join("issuer/issuer.db").exists());
}

#[test]
fn agency_issues_offers_and_revokes_on_postgres() {
    let Some(url) = postgres_url() else { return };
    let (_dir, path) = scratch();
    let data = path.join("data");
    let key = path.join("log-signing.key");
    std::fs::copy(TEST_LOG_KEY, &key).expect("copy log key");
    std::fs::set_permissions(&key, std::os::unix::fs::PermissionsExt::from_mode(0o600))
        .expect("chmod");
    issuer_journey(
        &data,
        &[
            "--data-dir",
            data.to_str().unwrap(),
            "--database-url",
            &url,
            "--log-key-file",
            key.to_str().unwrap(),
        ],
        &path.join("keys"),
    );
    // The issuer kept its data in PostgreSQL, not in a file.
    assert!(!data.join("issuer/issuer.db").exists());
}
