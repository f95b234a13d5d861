//! The journey, end to end (issue 13), with the real `credence` binary on loopback: a trust
//! anchor accredits a market regulator for business licences; the regulator publishes the
//! schema and offers a licence with a transaction code; `credence wallet receive` redeems it
//! (two copies, two keys), checked with the verifier library; a bank creates an OpenID4VP request
//! for "an accredited business licence: company name and status only"; `credence wallet present
//! --yes` shows and presents exactly those two claims; the bank's result holds those two claims
//! and nothing else, every step passed. Then revocation fails the next presentation at the
//! status step, and suspension and reinstatement do the same and undo it. Bad input on the way:
//! a malformed offer, a wrong tx_code (the issuer's error surfaces), an offer from an issuer
//! that is not accredited (refused, nothing stored), a request for a credential the wallet does
//! not hold (nothing matches, nothing sent), a declined consent (nothing sent). On SQLite, and
//! on PostgreSQL when CREDENCE_TEST_DATABASE_URL is set.

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use credence_tests::{Server, cli, json as json_of, log_state_dir, postgres_url, scratch, unique};
use serde_json::{Value, json};

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
const TEST_LOG_KEY: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/registry/server/testdata/log-signing.key"
);
const BANK_TOKEN: &str = "bank-api-token-0123456789abcdefghijklmnopqrstuv";
const PASSPHRASE: &str = "correct horse battery staple";

fn run(args: &[&str]) -> Output {
    cli(Path::new(BIN), args)
}

/// The citizen's wallet file, driven through `credence wallet`.
struct Citizen<'a> {
    file: String,
    registry: &'a str,
}

impl Citizen<'_> {
    /// `credence wallet <args> --wallet FILE [--registry R --allow-insecure]`, with `stdin`.
    fn wallet(&self, args: &[&str], network: bool, stdin: &str) -> Output {
        let mut all: Vec<&str> = vec!["wallet"];
        all.extend(args);
        all.extend(["--wallet", &self.file]);
        if network {
            all.extend(["--registry", self.registry, "--allow-insecure"]);
        }
        let mut child = Command::new(BIN)
            .args(&all)
            .env("RUST_LOG", "warn")
            .env("CREDENCE_LOG_STATE", log_state_dir())
            .env("CREDENCE_WALLET_PASSPHRASE", PASSPHRASE)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run credence wallet");
        use std::io::Write as _;
        let _ = child
            .stdin
            .take()
            .expect("stdin")
            .write_all(stdin.as_bytes());
        child.wait_with_output().expect("wait")
    }

    fn ok(&self, args: &[&str], network: bool) -> Value {
        let output = self.wallet(args, network, "");
        assert!(
            output.status.success(),
            "credence wallet {args:?} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        json_of(&String::from_utf8_lossy(&output.stdout))
    }

    fn credentials(&self) -> Vec<Value> {
        self.ok(&["list"], false).as_array().expect("list").clone()
    }

    fn history(&self) -> Vec<Value> {
        self.ok(&["history"], false)
            .as_array()
            .expect("history")
            .clone()
    }
}

/// A refusal: exit 1, a `refused:` line naming `expected`.
#[track_caller]
fn assert_refused(output: &Output, expected: &str) {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "stderr: {stderr}");
    assert!(
        stderr.contains("refused:") && stderr.contains(expected),
        "expected a refusal naming {expected:?}, got: {stderr}"
    );
}

fn journey(data: &Path, server_args: &[&str], keys: &Path) {
    std::fs::create_dir_all(keys).expect("keys dir");
    let mut args = server_args.to_vec();
    args.extend([
        "--verifier-api-token",
        BANK_TOKEN,
        // Verifiers may cache a status list this long: short, so revocation shows at once.
        "--status-ttl-seconds",
        "1",
    ]);
    let server = Server::start(Path::new(BIN), &args);
    let registry = server.registry();
    let issuer_url = format!("{}/issuer", server.base);
    let verifier_url = format!("{}/verifier", server.base);
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
    args.extend(["--trust-anchor", &anchor]);
    let server = Server::start_on(Path::new(BIN), &listen, &args);

    // The trust anchor publishes the licence schema (under a vct of this run's own).
    let vct = format!("{LICENCE}/{}", unique("journey"));
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

    // Two agencies: the market regulator (accredited) and an impostor (not).
    let admin = std::fs::read_to_string(data.join("issuer/admin-token")).expect("admin token");
    let admin = admin.trim();
    let agency = |name: &str| {
        let created = json_of(&run_ok(&[
            "issuer",
            "tenant",
            "create",
            "--issuer",
            &issuer_url,
            "--admin-token",
            admin,
            &unique(name),
            "--name",
            name,
        ]));
        (
            created["tenant"]["id"].as_str().expect("id").to_owned(),
            created["token"].as_str().expect("token").to_owned(),
            created["did"].as_str().expect("did").to_owned(),
        )
    };
    let regulator = agency("regulator");
    let impostor = agency("impostor");
    run_ok(&[
        "trust",
        "accredit",
        "--registry",
        &registry,
        "--keys",
        authority.to_str().unwrap(),
        &regulator.2,
        "--type",
        &vct,
        "--until",
        "2099-01-01T00:00:00Z",
    ]);
    // Accreditations count from the second the registry records them (see issuer.rs).
    std::thread::sleep(Duration::from_millis(1100));
    let as_tenant = |tenant: &(String, String, String), args: &[&str]| -> String {
        let mut all: Vec<&str> = args.to_vec();
        all.extend([
            "--issuer",
            &issuer_url,
            "--tenant",
            &tenant.0,
            "--token",
            &tenant.1,
        ]);
        run_ok(&all)
    };
    for tenant in [&regulator, &impostor] {
        as_tenant(
            tenant,
            &[
                "issuer",
                "type",
                "add",
                "business-licence",
                "--schema",
                &schema_id,
                "--formats",
                "dc+sd-jwt",
                "--disclosable",
                "/companyName,/unifiedSocialCreditCode,/legalRepresentative,/registrationStatus",
                "--status",
                "revocation,suspension",
            ],
        );
    }
    let claims = json!({
        "companyName": "Blue Harbour Trading Co.",
        "unifiedSocialCreditCode": "91310000MA1K3YJ12X",
        "legalRepresentative": "Li Wei",
        "registrationStatus": "active",
    })
    .to_string();

    // One licence issued directly first, and checked until its status list is at the registry:
    // the wallet's copies then land in a list verifiers can already fetch.
    let direct = json_of(&as_tenant(
        &regulator,
        &[
            "issuer",
            "issue",
            "--type",
            "business-licence",
            "--holder-jwk",
            &format!("@{HOLDER}"),
            "--claims",
            &claims,
        ],
    ));
    let direct_id = direct["id"].as_str().expect("id").to_owned();
    let direct_file = keys.join("direct.sd-jwt");
    std::fs::write(
        &direct_file,
        direct["credentials"]["dc+sd-jwt"].as_str().expect("sd-jwt"),
    )
    .expect("write");
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let verified = run(&[
            "verify",
            "--registry",
            &registry,
            direct_file.to_str().unwrap(),
        ]);
        if verified.status.code() == Some(0) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the status list did not reach the registry: {}",
            String::from_utf8_lossy(&verified.stdout)
        );
        std::thread::sleep(Duration::from_millis(250));
    }

    // The citizen's wallet.
    let citizen = Citizen {
        file: keys.join("wallet.db").to_str().unwrap().to_owned(),
        registry: &registry,
    };
    let init = citizen.ok(&["init"], false);
    assert_eq!(init["kdf"]["algorithm"], "argon2id", "{init}");

    // Bad input: a malformed offer.
    assert_refused(
        &citizen.wallet(&["receive", "https://not-an-offer.example/"], true, ""),
        "not a valid credential offer",
    );

    // The regulator's offer, with a transaction code.
    let offer = json_of(&as_tenant(
        &regulator,
        &[
            "issuer",
            "offer",
            "--type",
            "business-licence",
            "--tx-code-length",
            "6",
            "--claims",
            &claims,
        ],
    ));
    let offer_uri = offer["offer_uri_by_reference"].as_str().expect("uri");
    let tx_code = offer["tx_code"].as_str().expect("tx_code");
    // A wrong transaction code: the issuer's error surfaces, nothing stored.
    let wrong = if tx_code == "000000" {
        "111111"
    } else {
        "000000"
    };
    assert_refused(
        &citizen.wallet(&["receive", offer_uri, "--tx-code", wrong], true, ""),
        "invalid_grant",
    );
    assert!(citizen.credentials().is_empty());
    // The right one, typed at the prompt; two copies, two keys.
    let received = citizen.wallet(
        &["receive", offer_uri, "--copies", "2"],
        true,
        &format!("{tx_code}\n"),
    );
    assert!(
        received.status.success(),
        "receive: {}",
        String::from_utf8_lossy(&received.stderr)
    );
    assert!(String::from_utf8_lossy(&received.stderr).contains("Transaction code"));
    let received = json_of(&String::from_utf8_lossy(&received.stdout));
    assert_eq!(received["vct"], json!(vct), "{received}");
    assert_eq!(received["credentials"].as_array().map(Vec::len), Some(2));
    let held = citizen.credentials();
    assert_eq!(held.len(), 2);
    assert!(held.iter().all(|c| c["issuer"] == json!(regulator.2)));
    let shown = citizen.ok(&["show", held[0]["id"].as_str().unwrap()], false);
    assert!(
        shown["claims"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["path"] == "/companyName" && c["value"] == "Blue Harbour Trading Co."),
        "{shown}"
    );

    // Bad input: an offer from an issuer that is not accredited — refused, nothing stored.
    let impostor_offer = json_of(&as_tenant(
        &impostor,
        &[
            "issuer",
            "offer",
            "--type",
            "business-licence",
            "--claims",
            &claims,
        ],
    ));
    assert_refused(
        &citizen.wallet(
            &[
                "receive",
                impostor_offer["offer_uri"].as_str().expect("by value"),
            ],
            true,
            "",
        ),
        "accreditation",
    );
    assert_eq!(citizen.credentials().len(), 2);

    // The bank asks for "an accredited business licence: company name and status only".
    let bank = |dcql: &Value, mode: &str| -> (String, String) {
        let created = json_of(&run_ok(&[
            "verifier",
            "request",
            "--verifier",
            &verifier_url,
            "--token",
            BANK_TOKEN,
            "--dcql",
            &dcql.to_string(),
            "--response-mode",
            mode,
            "--purpose",
            "account opening",
        ]));
        (
            created["id"].as_str().expect("id").to_owned(),
            created["authorization_request_uri"]
                .as_str()
                .expect("uri")
                .to_owned(),
        )
    };
    let result = |id: &str| {
        json_of(&run_ok(&[
            "verifier",
            "result",
            "--verifier",
            &verifier_url,
            "--token",
            BANK_TOKEN,
            id,
        ]))
    };
    let licence_query = json!({"credentials": [{
        "id": "licence",
        "format": "dc+sd-jwt",
        "meta": {"vct_values": [vct]},
        "claims": [{"path": ["companyName"]}, {"path": ["registrationStatus"]}],
    }]});

    // Bad input: declining consent sends nothing; the request stays pending.
    let (declined_id, declined_uri) = bank(&licence_query, "direct_post");
    let declined = citizen.wallet(&["present", &declined_uri], true, "n\n");
    assert_refused(&declined, "declined");
    let consent_text = String::from_utf8_lossy(&declined.stderr).into_owned();
    assert!(
        consent_text.contains("/companyName = \"Blue Harbour Trading Co.\""),
        "{consent_text}"
    );
    assert!(
        consent_text.contains("/registrationStatus = \"active\""),
        "{consent_text}"
    );
    assert!(!consent_text.contains("Li Wei"), "{consent_text}");
    assert_eq!(result(&declined_id)["status"], "pending");
    assert!(citizen.history().is_empty());

    // Bad input: a request for a credential the wallet does not hold.
    let degree = json!({"credentials": [{
        "id": "degree", "format": "dc+sd-jwt",
        "meta": {"vct_values": ["https://credence.example/vct/degree"]},
        "claims": [{"path": ["degreeName"]}],
    }]});
    let (degree_id, degree_uri) = bank(&degree, "direct_post");
    assert_refused(
        &citizen.wallet(&["present", &degree_uri, "--yes"], true, ""),
        "nothing in the wallet matches",
    );
    assert_eq!(result(&degree_id)["status"], "pending");
    assert!(citizen.history().is_empty());

    // The presentation, in both response modes: exactly the two claims, every step passed.
    for mode in ["direct_post", "direct_post.jwt"] {
        let (id, uri) = bank(&licence_query, mode);
        let presented = citizen.ok(&["present", &uri, "--yes"], true);
        assert_eq!(
            presented["answer"]["answer"], "accepted",
            "{mode}: {presented}"
        );
        let outcome = result(&id);
        assert_eq!(outcome["status"], "verified", "{mode}: {outcome}");
        assert_eq!(
            outcome["claims"],
            json!({"licence": [{
                "companyName": "Blue Harbour Trading Co.",
                "registrationStatus": "active",
            }]}),
            "{mode}"
        );
        assert!(!outcome.to_string().contains("Li Wei"), "{mode}: {outcome}");
        let report = &outcome["report"]["licence"][0];
        assert_eq!(report["verdict"], "valid", "{mode}: {outcome}");
        for step in report["steps"].as_array().expect("steps") {
            assert_eq!(step["outcome"], "passed", "{mode}: {step}");
        }
    }
    let history = citizen.history();
    assert_eq!(history.len(), 2);
    assert!(history.iter().all(|h| h["answer"]["answer"] == "accepted"
        && h["claims"] == json!(["/companyName", "/registrationStatus"])));

    // --only a subset the bank requires both of: refused before anything is sent.
    let (only_id, only_uri) = bank(&licence_query, "direct_post");
    assert_refused(
        &citizen.wallet(
            &["present", &only_uri, "--yes", "--only", "companyName"],
            true,
            "",
        ),
        "required",
    );
    assert_eq!(result(&only_id)["status"], "pending");

    // Two credentials in one request (a query each): the consent view lists both, `--only` is
    // scoped per query, one response carries both and the bank gets each one's claims and
    // report.
    let two_queries = json!({"credentials": [
        {"id": "name", "format": "dc+sd-jwt", "meta": {"vct_values": [vct]},
         "claims": [{"path": ["companyName"]}]},
        {"id": "standing", "format": "dc+sd-jwt", "meta": {"vct_values": [vct]},
         "claims": [{"path": ["registrationStatus"]}]},
    ]});
    let (two_id, two_uri) = bank(&two_queries, "direct_post");
    let declined = citizen.wallet(&["present", &two_uri], true, "n\n");
    assert_refused(&declined, "declined");
    let consent_text = String::from_utf8_lossy(&declined.stderr).into_owned();
    for expected in [
        "2 credentials together",
        "(query name)",
        "(query standing)",
        "/companyName = \"Blue Harbour Trading Co.\"",
        "/registrationStatus = \"active\"",
    ] {
        assert!(
            consent_text.contains(expected),
            "{expected}: {consent_text}"
        );
    }
    assert_refused(
        &citizen.wallet(
            &[
                "present",
                &two_uri,
                "--yes",
                "--only",
                "passport:companyName",
            ],
            true,
            "",
        ),
        "does not answer",
    );
    assert_eq!(result(&two_id)["status"], "pending");
    let presented = citizen.ok(
        &[
            "present",
            &two_uri,
            "--yes",
            "--only",
            "name:companyName,standing:/registrationStatus",
        ],
        true,
    );
    assert_eq!(presented["answer"]["answer"], "accepted", "{presented}");
    assert_eq!(presented["presented"].as_array().map(Vec::len), Some(2));
    let outcome = result(&two_id);
    assert_eq!(outcome["status"], "verified", "{outcome}");
    assert_eq!(
        outcome["claims"],
        json!({
            "name": [{"companyName": "Blue Harbour Trading Co."}],
            "standing": [{"registrationStatus": "active"}],
        })
    );
    for query in ["name", "standing"] {
        assert_eq!(outcome["report"][query][0]["verdict"], "valid", "{outcome}");
    }

    // The regulator changes the status of the wallet's copies; the next presentation fails at
    // the status step and the bank sees why. Suspension, reinstatement, then revocation.
    let records = json_of(&as_tenant(&regulator, &["issuer", "credentials"]));
    let wallet_records: Vec<String> = records
        .as_array()
        .expect("records")
        .iter()
        .filter_map(|r| r["id"].as_str())
        .filter(|id| *id != direct_id)
        .map(str::to_owned)
        .collect();
    assert_eq!(wallet_records.len(), 2, "{records}");
    let set_status = |action: &str| {
        for record in &wallet_records {
            as_tenant(&regulator, &["issuer", action, record]);
        }
    };
    // Presents until the bank's verdict is `expected` (a list reaches the registry within a
    // republish round, and verifiers cache it for its 1 s TTL); returns the last result.
    let present_until = |expected: &str| -> Value {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let (id, uri) = bank(&licence_query, "direct_post");
            let _ = citizen.wallet(&["present", &uri, "--yes"], true, "");
            let outcome = result(&id);
            if outcome["status"] == expected {
                return outcome;
            }
            assert!(
                Instant::now() < deadline,
                "the bank never saw {expected}: {outcome}"
            );
            std::thread::sleep(Duration::from_millis(300));
        }
    };
    let status_failure = |outcome: &Value, word: &str| {
        let steps = outcome["report"]["licence"][0]["steps"]
            .as_array()
            .expect("steps")
            .clone();
        let status = steps
            .iter()
            .find(|s| s["step"] == "status")
            .expect("status step");
        assert_eq!(status["outcome"], "failed", "{outcome}");
        assert!(
            status["detail"].as_str().unwrap_or_default().contains(word),
            "{outcome}"
        );
        assert!(outcome.to_string().contains("status"), "{outcome}");
    };
    set_status("suspend");
    let suspended = present_until("failed");
    status_failure(&suspended, "suspended");
    set_status("reinstate");
    let reinstated = present_until("verified");
    assert_eq!(reinstated["report"]["licence"][0]["verdict"], "valid");
    set_status("revoke");
    let revoked = present_until("failed");
    status_failure(&revoked, "revoked");
    // The wallet recorded the bank's rejection.
    let last = citizen.history().pop().expect("history");
    assert_eq!(last["answer"]["answer"], "rejected", "{last}");
    assert!(
        last["answer"]["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("status"),
        "{last}"
    );

    // Backup and restore on "another device"; a wrong passphrase restores nothing.
    let backup = keys.join("wallet.backup");
    citizen.ok(&["backup", backup.to_str().unwrap()], false);
    let other = Citizen {
        file: keys.join("other-device.db").to_str().unwrap().to_owned(),
        registry: &registry,
    };
    let restored = other.ok(&["restore", backup.to_str().unwrap()], false);
    assert_eq!(restored["credentials"], 2, "{restored}");
    assert_eq!(other.credentials().len(), 2);
    assert_eq!(other.history().len(), citizen.history().len());

    // Delete: the credential goes, its history stays.
    let id = held[0]["id"].as_str().unwrap();
    citizen.ok(&["delete", id], false);
    assert_eq!(citizen.credentials().len(), 1);
    drop(server);
}

#[test]
fn a_citizen_receives_presents_and_sees_revocation_on_sqlite() {
    let (_dir, path) = scratch();
    let data = path.join("data");
    journey(
        &data,
        &["--data-dir", data.to_str().unwrap()],
        &path.join("keys"),
    );
}

#[test]
fn a_citizen_receives_presents_and_sees_revocation_on_postgres() {
    let Some(url) = postgres_url() else { return };
    let (_dir, path) = scratch();
    let data = path.join("data");
    let key = path.join("log-signing.key");
    std::fs::copy(TEST_LOG_KEY, &key).expect("copy log key");
    std::fs::set_permissions(&key, std::os::unix::fs::PermissionsExt::from_mode(0o600))
        .expect("chmod");
    journey(
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
}
