//! End-to-end: the real `credence` binary serving on loopback, driven by its own CLI, on SQLite
//! and (when CREDENCE_TEST_DATABASE_URL is set) PostgreSQL.

use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::process::Command;

use credence_tests::{Server, cli, json, postgres_url, scratch};

const BIN: &str = env!("CARGO_BIN_EXE_credence");

fn run_ok(args: &[&str]) -> String {
    credence_tests::cli_ok(Path::new(BIN), args)
}
/// The shared test log key: PostgreSQL runs share one database, hence one log and one key.
const TEST_LOG_KEY: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/registry/server/testdata/log-signing.key"
);

/// The README walkthrough: create, resolve, rotate, resolve the old version, deactivate.
fn walkthrough(server: &Server, keys: &Path) {
    let registry = server.registry();
    let keys = keys.to_str().unwrap();
    let did = run_ok(&[
        "did",
        "create",
        "--registry",
        &registry,
        "--keys",
        keys,
        "--service",
        "site=LinkedDomains=https://agency.example",
    ]);
    let did = did.trim();
    assert!(did.starts_with("did:credence:"), "{did}");
    for file in ["rotation-key.jwk", "signing-key.jwk"] {
        let mode = std::fs::metadata(Path::new(keys).join(file))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{file} must be private");
    }

    let v1 = json(&run_ok(&["did", "resolve", did, "--registry", &registry]));
    assert_eq!(
        v1["didDocument"]["service"][0]["serviceEndpoint"],
        "https://agency.example"
    );
    let v1_id = v1["didDocumentMetadata"]["versionId"]
        .as_str()
        .unwrap()
        .to_owned();
    let v1_key = v1["didDocument"]["verificationMethod"][0]["publicKeyMultibase"].clone();

    let rotated = json(&run_ok(&[
        "did",
        "rotate",
        "--registry",
        &registry,
        "--keys",
        keys,
    ]));
    assert_ne!(
        rotated["didDocument"]["verificationMethod"][0]["publicKeyMultibase"],
        v1_key
    );
    assert_eq!(
        rotated["didDocument"]["service"], v1["didDocument"]["service"],
        "rotation keeps services"
    );
    assert!(
        Path::new(keys)
            .join("retired")
            .join(&v1_id)
            .join("rotation-key.jwk")
            .exists()
    );

    let old = json(&run_ok(&[
        "did",
        "resolve",
        did,
        "--registry",
        &registry,
        "--version-id",
        &v1_id,
    ]));
    assert_eq!(
        old["didDocument"]["verificationMethod"][0]["publicKeyMultibase"],
        v1_key
    );

    let updated = json(&run_ok(&[
        "did",
        "update",
        "--registry",
        &registry,
        "--keys",
        keys,
        "--service",
        "api=CredentialRegistry=https://api.agency.example",
    ]));
    assert_eq!(
        updated["didDocument"]["service"][0]["type"],
        "CredentialRegistry"
    );

    let deactivated = json(&run_ok(&[
        "did",
        "deactivate",
        "--registry",
        &registry,
        "--keys",
        keys,
    ]));
    assert_eq!(deactivated["didDocumentMetadata"]["deactivated"], true);

    // After deactivation the registry refuses: exit code 1 with the reason.
    let refused = cli(
        Path::new(BIN),
        &["did", "update", "--registry", &registry, "--keys", keys],
    );
    assert_eq!(refused.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("deactivated"),
        "{refused:?}"
    );
}

#[test]
fn walkthrough_on_sqlite() {
    let (_dir, path) = scratch();
    let data = path.join("data");
    let server = Server::start(Path::new(BIN), &["--data-dir", data.to_str().unwrap()]);
    walkthrough(&server, &path.join("keys"));
    assert!(data.join("credence.db").exists());
}

#[test]
fn walkthrough_on_postgres() {
    let Some(url) = postgres_url() else { return };
    let (_dir, path) = scratch();
    let key = private_test_log_key(&path);
    let server = Server::start(
        Path::new(BIN),
        &["--database-url", &url, "--log-key-file", &key],
    );
    walkthrough(&server, &path.join("keys"));
}

#[test]
fn cli_exit_codes() {
    // Usage errors exit 2.
    assert_eq!(
        cli(Path::new(BIN), &["did", "create"]).status.code(),
        Some(2)
    );
    assert_eq!(cli(Path::new(BIN), &["frobnicate"]).status.code(), Some(2));
    // A malformed DID is refused (1) with the reason, without any server.
    let refused = cli(Path::new(BIN), &["did", "resolve", "not-a-did"]);
    assert_eq!(refused.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("Invalid DID"),
        "{refused:?}"
    );
    // did:key resolves offline.
    let key = json(&run_ok(&[
        "did",
        "resolve",
        "did:key:z6MkiTBz1ymuepAQ4HEHYSF1H8quG5GLVVQR3djdX3mDooWp",
    ]));
    assert_eq!(
        key["didDocument"]["verificationMethod"][0]["type"],
        "Multikey"
    );
    // `did create` refuses to overwrite existing keys.
    let (_dir, path) = scratch();
    std::fs::write(path.join("did.txt"), "did:credence:x\n").unwrap();
    let existing = cli(
        Path::new(BIN),
        &[
            "did",
            "create",
            "--keys",
            path.to_str().unwrap(),
            "--registry",
            "http://127.0.0.1:9",
        ],
    );
    assert_eq!(existing.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&existing.stderr).contains("already holds keys"),
        "{existing:?}"
    );
}

#[test]
fn sigterm_shuts_down_cleanly() {
    let (_dir, path) = scratch();
    let server = Server::start(Path::new(BIN), &["--data-dir", path.to_str().unwrap()]);
    let status = server.signal("TERM");
    assert!(status.success(), "{status}");
}

/// Every DID acknowledged before a `kill -9` is there after a restart on the same files.
#[test]
fn acknowledged_creates_survive_kill_9() {
    let (_dir, path) = scratch();
    let data = path.join("data");
    let data = data.to_str().unwrap();
    let server = Server::start(Path::new(BIN), &["--data-dir", data]);
    let dids: Vec<String> = (0..5)
        .map(|i| {
            let keys = path.join(format!("keys-{i}"));
            run_ok(&[
                "did",
                "create",
                "--registry",
                &server.registry(),
                "--keys",
                keys.to_str().unwrap(),
            ])
            .trim()
            .to_owned()
        })
        .collect();
    let listen = server.listen.clone();
    let status = server.signal("KILL");
    assert!(!status.success());
    let restarted = Server::start_on(Path::new(BIN), &listen, &["--data-dir", data]);
    for did in &dids {
        run_ok(&["did", "resolve", did, "--registry", &restarted.registry()]);
    }
}

/// `credence registry serve` runs the registry alone, its routes at the root path.
#[test]
fn registry_alone_serves_at_the_root() {
    let (_dir, path) = scratch();
    let listen = credence_tests::free_loopback_address();
    let server = Server::start_command(
        Path::new(BIN),
        &["registry", "serve"],
        &listen,
        &["--data-dir", path.to_str().unwrap()],
    );
    let keys = path.join("keys");
    let did = run_ok(&[
        "did",
        "create",
        "--registry",
        &server.base,
        "--keys",
        keys.to_str().unwrap(),
    ]);
    let resolved = json(&run_ok(&[
        "did",
        "resolve",
        did.trim(),
        "--registry",
        &server.base,
    ]));
    assert_eq!(resolved["didDocument"]["id"], did.trim());
}

/// Crash safety of the log: kill -9 while many creates are in flight, restart, and every
/// acknowledged DID is there, the log extends the checkpoint audited before the crash, and
/// `credence audit` is clean.
fn crash_during_writes(extra: &[&str]) {
    use std::sync::{Arc, Mutex};
    let (_dir, path) = scratch();
    let server = Server::start(Path::new(BIN), extra);
    let registry = server.registry();
    let state = path.join("audit-state");
    for i in 0..3 {
        run_ok(&[
            "did",
            "create",
            "--registry",
            &registry,
            "--keys",
            path.join(format!("warm-{i}")).to_str().unwrap(),
        ]);
    }
    run_ok(&[
        "audit",
        "--registry",
        &registry,
        "--state",
        state.to_str().unwrap(),
    ]);

    let acknowledged = Arc::new(Mutex::new(Vec::new()));
    let writers: Vec<_> = (0..6)
        .map(|writer| {
            let (registry, path, acknowledged) =
                (registry.clone(), path.clone(), acknowledged.clone());
            std::thread::spawn(move || {
                for n in 0..20 {
                    let keys = path.join(format!("w{writer}-{n}"));
                    let output = cli(
                        Path::new(BIN),
                        &[
                            "did",
                            "create",
                            "--registry",
                            &registry,
                            "--keys",
                            keys.to_str().unwrap(),
                        ],
                    );
                    if !output.status.success() {
                        return;
                    }
                    acknowledged
                        .lock()
                        .unwrap()
                        .push(String::from_utf8(output.stdout).unwrap().trim().to_owned());
                }
            })
        })
        .collect();
    // Kill once some writes were acknowledged, with others still in flight.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while acknowledged.lock().unwrap().len() < 15 && std::time::Instant::now() < deadline {
        std::thread::yield_now();
    }
    let listen = server.listen.clone();
    server.signal("KILL");
    for writer in writers {
        writer.join().unwrap();
    }
    let acknowledged = acknowledged.lock().unwrap().clone();
    assert!(
        acknowledged.len() >= 15,
        "only {} writes acknowledged",
        acknowledged.len()
    );

    let restarted = Server::start_on(Path::new(BIN), &listen, extra);
    for did in &acknowledged {
        run_ok(&["did", "resolve", did, "--registry", &restarted.registry()]);
    }
    let report = run_ok(&[
        "audit",
        "--registry",
        &restarted.registry(),
        "--state",
        state.to_str().unwrap(),
    ]);
    assert!(report.contains("CLEAN"), "{report}");
    assert!(report.contains("previous audit"), "{report}");
}

#[test]
fn crash_during_writes_on_sqlite() {
    let (_dir, path) = scratch();
    crash_during_writes(&["--data-dir", path.to_str().unwrap()]);
}

#[test]
fn crash_during_writes_on_postgres() {
    let Some(url) = postgres_url() else { return };
    let (_dir, path) = scratch();
    let key = private_test_log_key(&path);
    crash_during_writes(&["--database-url", &url, "--log-key-file", &key]);
}

/// The trust-authority walkthrough: a root publishes a schema and accredits an agency, which
/// accredits a district office; the authorization query follows the chain; audit is clean.
#[test]
fn trust_authority_walkthrough() {
    let (_dir, path) = scratch();
    let data = path.join("data");
    let data = data.to_str().unwrap();
    let keys = |name: &str| path.join(name).to_str().unwrap().to_owned();
    let server = Server::start(Path::new(BIN), &["--data-dir", data]);
    let registry = server.registry();
    let root = run_ok(&[
        "did",
        "create",
        "--registry",
        &registry,
        "--keys",
        &keys("root"),
    ])
    .trim()
    .to_owned();
    let listen = server.listen.clone();
    assert!(server.signal("TERM").success());
    let server = Server::start_on(
        Path::new(BIN),
        &listen,
        &["--data-dir", data, "--trust-anchor", &root],
    );
    let registry = server.registry();
    let agency = run_ok(&[
        "did",
        "create",
        "--registry",
        &registry,
        "--keys",
        &keys("agency"),
    ])
    .trim()
    .to_owned();
    let district = run_ok(&[
        "did",
        "create",
        "--registry",
        &registry,
        "--keys",
        &keys("district"),
    ])
    .trim()
    .to_owned();

    let schema = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/examples/schemas/business-licence.json"
    );
    let degree_schema = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/examples/schemas/university-degree.json"
    );
    let id = run_ok(&[
        "schema",
        "publish",
        "--registry",
        &registry,
        "--keys",
        &keys("root"),
        schema,
    ]);
    let shown = json(&run_ok(&[
        "schema",
        "show",
        "--registry",
        &registry,
        id.trim(),
    ]));
    assert_eq!(
        shown["vct"],
        "https://credence.example/vct/business-licence"
    );

    let licence = "https://credence.example/vct/business-licence";
    let degree = "https://credence.example/vct/university-degree";
    let until = "2099-01-01T00:00:00Z";
    run_ok(&[
        "trust",
        "accredit",
        "--registry",
        &registry,
        "--keys",
        &keys("root"),
        &agency,
        "--type",
        licence,
        "--type",
        degree,
        "--may-accredit",
        "--until",
        until,
    ]);
    // Accredited for degrees, the agency publishes the degree schema itself.
    let degree_id = run_ok(&[
        "schema",
        "publish",
        "--registry",
        &registry,
        "--keys",
        &keys("agency"),
        degree_schema,
    ]);
    run_ok(&[
        "trust",
        "accredit",
        "--registry",
        &registry,
        "--keys",
        &keys("agency"),
        &district,
        "--type",
        licence,
        "--until",
        "2098-01-01T00:00:00Z",
    ]);
    let answer = json(&run_ok(&[
        "trust",
        "show",
        "--registry",
        &registry,
        &district,
        "--type",
        licence,
    ]));
    assert_eq!(answer["allowed"], true, "{answer}");
    assert_eq!(answer["chain"].as_array().unwrap().len(), 2);
    // The district may not pass the licence on: refused, exit 1.
    let refused = cli(
        Path::new(BIN),
        &[
            "trust",
            "accredit",
            "--registry",
            &registry,
            "--keys",
            &keys("district"),
            &agency,
            "--type",
            licence,
            "--until",
            until,
        ],
    );
    assert_eq!(refused.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("Not authorized"),
        "{refused:?}"
    );

    // The district publishes a status list. A client holding the log's key proves each fact
    // (the accreditation chain, the agency's schema, the status list) from the log.
    let list_uri = format!("{registry}/status-lists/{district}/1");
    let url = run_ok(&[
        "status",
        "publish",
        "--registry",
        &registry,
        "--keys",
        &keys("district"),
        "--uri",
        &list_uri,
        "--set",
        "7",
    ]);
    let (status, log_key) = credence_tests::http_get(&format!("{registry}/log/key")).unwrap();
    assert_eq!(status, 200);
    let log_key = log_key.trim();
    let proven_chain = json(&run_ok(&[
        "trust",
        "show",
        "--registry",
        &registry,
        &district,
        "--type",
        licence,
        "--log-key",
        log_key,
        "--trust-anchor",
        &root,
    ]));
    // Recomputed by the client from the proven links, each read from what was signed.
    assert_eq!(proven_chain["allowed"], true, "{proven_chain}");
    let chain = proven_chain["chain"].as_array().unwrap();
    assert_eq!(chain.len(), 2);
    assert_eq!(chain[0]["claims"]["subject"], district.as_str());
    assert_eq!(chain[1]["claims"]["subject"], agency.as_str());
    assert_eq!(chain[1]["accreditor"], root.as_str());
    for link in chain {
        assert!(link["logIndex"].is_u64(), "{link}");
    }
    // Without the anchor pinned, the registry's "allowed" is not taken on its word.
    let unpinned = json(&run_ok(&[
        "trust",
        "show",
        "--registry",
        &registry,
        &district,
        "--type",
        licence,
        "--log-key",
        log_key,
    ]));
    assert_eq!(unpinned["allowed"], false, "{unpinned}");
    let proven_schema = json(&run_ok(&[
        "schema",
        "show",
        "--registry",
        &registry,
        degree_id.trim(),
        "--log-key",
        log_key,
    ]));
    assert_eq!(proven_schema["publisher"], agency.as_str());
    assert!(proven_schema["logIndex"].is_u64(), "{proven_schema}");
    assert!(
        proven_schema["content"]["schema"].is_object(),
        "{proven_schema}"
    );
    let proven_list = json(&run_ok(&[
        "status",
        "show",
        "--registry",
        &registry,
        url.trim(),
        "--index",
        "7",
        "--log-key",
        log_key,
    ]));
    assert_eq!(proven_list["status"], 1);
    assert!(proven_list["logProof"]["index"].is_u64(), "{proven_list}");
    // Against another log's key, nothing is proven: exit 1.
    let (other_log, _) =
        credence_registry::log::CheckpointSigner::generate("credence.localhost/registry").unwrap();
    let other_key = other_log.verifier_key();
    let unproven = cli(
        Path::new(BIN),
        &[
            "schema",
            "show",
            "--registry",
            &registry,
            degree_id.trim(),
            "--log-key",
            other_key,
        ],
    );
    assert_eq!(unproven.status.code(), Some(1), "{unproven:?}");
    assert!(
        String::from_utf8_lossy(&unproven.stderr).contains("signature does not verify"),
        "{unproven:?}"
    );

    let report = run_ok(&["audit", "--registry", &registry]);
    assert!(report.contains("CLEAN"), "{report}");
    // Given the anchor, the audit also checks who was allowed to accredit, publish the schema
    // and the list, as the log stood: all of it was.
    let report = run_ok(&["audit", "--registry", &registry, "--trust-anchor", &root]);
    assert!(report.contains("CLEAN"), "{report}");
}

/// An issuer publishes a status list through the CLI; anyone reads an entry's status.
#[test]
fn status_list_publish_and_show() {
    let (_dir, path) = scratch();
    let server = Server::start(
        Path::new(BIN),
        &["--data-dir", path.join("data").to_str().unwrap()],
    );
    let registry = server.registry();
    let keys = path.join("issuer");
    let issuer = run_ok(&[
        "did",
        "create",
        "--registry",
        &registry,
        "--keys",
        keys.to_str().unwrap(),
    ])
    .trim()
    .to_owned();
    // Only trust anchors and accredited issuers publish status lists: restart trusting the
    // issuer.
    let listen = server.listen.clone();
    assert!(server.signal("TERM").success());
    let server = Server::start_on(
        Path::new(BIN),
        &listen,
        &[
            "--data-dir",
            path.join("data").to_str().unwrap(),
            "--trust-anchor",
            &issuer,
        ],
    );
    let registry = server.registry();
    let list_uri = format!("{registry}/status-lists/{issuer}/1");
    let url = run_ok(&[
        "status",
        "publish",
        "--registry",
        &registry,
        "--keys",
        keys.to_str().unwrap(),
        "--uri",
        &list_uri,
        "--set",
        "42",
    ]);
    let url = url.trim();
    let revoked = json(&run_ok(&[
        "status",
        "show",
        "--registry",
        &registry,
        url,
        "--index",
        "42",
    ]));
    assert_eq!(revoked["status"], 1, "{revoked}");
    assert_eq!(revoked["entries"], 131_072);
    let fine = json(&run_ok(&[
        "status",
        "show",
        "--registry",
        &registry,
        url,
        "--index",
        "43",
    ]));
    assert_eq!(fine["status"], 0);
    let outside = cli(
        Path::new(BIN),
        &[
            "status",
            "show",
            "--registry",
            &registry,
            url,
            "--index",
            "200000",
        ],
    );
    assert_eq!(outside.status.code(), Some(1));
}

/// A private copy of the shared test log key: `serve` refuses a key file others can read.
fn private_test_log_key(dir: &Path) -> String {
    let copy = dir.join("log-signing.key");
    std::fs::copy(TEST_LOG_KEY, &copy).unwrap();
    std::fs::set_permissions(&copy, std::fs::Permissions::from_mode(0o600)).unwrap();
    copy.to_str().unwrap().to_owned()
}

fn stderr_of(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Regression (issue 8, item 9): a `did create` that failed (registry down) left its keys, then
/// `did create` said the directory already held keys and `did update` that it held no DID. The
/// same command, run again once the registry is up, finishes the creation.
fn did_create_resumes_after_the_registry_was_down(extra: &[&str]) {
    let (_dir, path) = scratch();
    let listen = credence_tests::free_loopback_address();
    let registry = format!("http://{listen}/registry");
    let keys = path.join("keys");
    let keys = keys.to_str().unwrap();
    let create = [
        "did",
        "create",
        "--registry",
        &registry,
        "--keys",
        keys,
        "--service",
        "site=LinkedDomains=https://agency.example",
    ];
    let down = cli(Path::new(BIN), &create);
    assert_eq!(down.status.code(), Some(1), "{down:?}");
    assert!(stderr_of(&down).contains("unreachable"), "{down:?}");
    assert!(
        stderr_of(&down).contains("again"),
        "says how to finish: {down:?}"
    );

    let server = Server::start_on(Path::new(BIN), &listen, extra);
    let did = run_ok(&create);
    let did = did.trim();
    assert!(did.starts_with("did:credence:"), "{did}");
    let resolved = json(&run_ok(&["did", "resolve", did, "--registry", &registry]));
    assert_eq!(
        resolved["didDocument"]["service"][0]["serviceEndpoint"],
        "https://agency.example"
    );
    run_ok(&[
        "did",
        "update",
        "--registry",
        &server.registry(),
        "--keys",
        keys,
    ]);
    // Once registered, the directory is taken.
    let again = cli(Path::new(BIN), &create);
    assert_eq!(again.status.code(), Some(1));
    assert!(stderr_of(&again).contains("already holds"), "{again:?}");
}

#[test]
fn did_create_resumes_after_the_registry_was_down_on_sqlite() {
    let (_dir, path) = scratch();
    did_create_resumes_after_the_registry_was_down(&["--data-dir", path.to_str().unwrap()]);
}

#[test]
fn did_create_resumes_after_the_registry_was_down_on_postgres() {
    let Some(url) = postgres_url() else { return };
    let (_dir, path) = scratch();
    let key = private_test_log_key(&path);
    did_create_resumes_after_the_registry_was_down(&[
        "--database-url",
        &url,
        "--log-key-file",
        &key,
    ]);
}

/// Regression (issue 8, item 9): a `did create` the registry refused left keys nobody could
/// use; a refused creation leaves the directory as it found it, so a corrected command works.
#[test]
fn a_refused_did_create_leaves_nothing_behind() {
    let (_dir, path) = scratch();
    let server = Server::start(
        Path::new(BIN),
        &["--data-dir", path.join("data").to_str().unwrap()],
    );
    let keys = path.join("keys");
    let keys = keys.to_str().unwrap();
    let too_many: Vec<String> = (0..40)
        .map(|i| format!("s{i}=LinkedDomains=https://agency.example/{i}"))
        .collect();
    let registry = server.registry();
    let mut args = vec!["did", "create", "--registry", &registry, "--keys", keys];
    for service in &too_many {
        args.extend(["--service", service.as_str()]);
    }
    let refused = cli(Path::new(BIN), &args);
    assert_eq!(refused.status.code(), Some(1), "{refused:?}");
    assert!(stderr_of(&refused).starts_with("refused: "), "{refused:?}");
    let did = run_ok(&["did", "create", "--registry", &registry, "--keys", keys]);
    assert!(did.trim().starts_with("did:credence:"), "{did}");
}

/// Regression (issue 11): `write_secret` followed a symlink planted at its temporary name, so
/// the private key went wherever the link pointed.
#[test]
fn key_files_are_not_written_through_planted_symlinks() {
    let (_dir, path) = scratch();
    let keys = path.join("keys");
    std::fs::create_dir_all(&keys).unwrap();
    let stolen = path.join("stolen");
    std::fs::write(&stolen, "").unwrap();
    for file in [".rotation-key.jwk.tmp", ".signing-key.jwk.tmp"] {
        std::os::unix::fs::symlink(&stolen, keys.join(file)).unwrap();
    }
    let _ = cli(
        Path::new(BIN),
        &[
            "did",
            "create",
            "--registry",
            &format!(
                "http://{}/registry",
                credence_tests::free_loopback_address()
            ),
            "--keys",
            keys.to_str().unwrap(),
        ],
    );
    assert_eq!(std::fs::read_to_string(&stolen).unwrap(), "", "key leaked");
    let mode = std::fs::metadata(keys.join("rotation-key.jwk"))
        .map(|m| m.permissions().mode() & 0o777)
        .unwrap_or(0o600);
    assert_eq!(mode, 0o600);
}

/// Regression (issue 11): an existing log key file's permissions were never checked.
#[test]
fn serve_refuses_a_log_key_file_others_can_read() {
    let (_dir, path) = scratch();
    let key = path.join("log.key");
    std::fs::copy(TEST_LOG_KEY, &key).unwrap();
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let mut child = Command::new(BIN)
        .args([
            "serve",
            "--listen",
            &credence_tests::free_loopback_address(),
        ])
        .arg("--data-dir")
        .arg(path.join("data"))
        .arg("--log-key-file")
        .arg(&key)
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // A server that starts never exits by itself: poll with a deadline, then stop it.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while child.try_wait().unwrap().is_none() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    if child.try_wait().unwrap().is_none() {
        let _ = child.kill();
    }
    let output = child.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    assert!(stderr_of(&output).contains("chmod 600"), "{output:?}");
}

/// Regression (issue 8, item 9): `status publish --uri` with something that is not an http(s)
/// URL exited 0 and was logged for ever. The registry refuses; the CLI says so and exits 1.
#[test]
fn status_publish_of_a_bad_uri_is_refused() {
    let (_dir, path) = scratch();
    let data = path.join("data");
    let data = data.to_str().unwrap();
    let server = Server::start(Path::new(BIN), &["--data-dir", data]);
    let keys = path.join("issuer");
    let keys = keys.to_str().unwrap();
    let issuer = run_ok(&[
        "did",
        "create",
        "--registry",
        &server.registry(),
        "--keys",
        keys,
    ]);
    let issuer = issuer.trim().to_owned();
    // The issuer is a trust anchor, so it may publish lists: only the URI is in question.
    let listen = server.listen.clone();
    assert!(server.signal("TERM").success());
    let server = Server::start_on(
        Path::new(BIN),
        &listen,
        &["--data-dir", data, "--trust-anchor", &issuer],
    );
    let registry = server.registry();
    let publish = |uri: &str| {
        cli(
            Path::new(BIN),
            &[
                "status",
                "publish",
                "--registry",
                &registry,
                "--keys",
                keys,
                "--uri",
                uri,
            ],
        )
    };
    let good = publish(&format!("{registry}/status-lists/{issuer}/1"));
    assert_eq!(good.status.code(), Some(0), "{good:?}");
    for uri in ["garbage", "", "ftp://x y"] {
        let refused = publish(uri);
        assert_eq!(refused.status.code(), Some(1), "{uri:?}: {refused:?}");
        let text = stderr_of(&refused);
        assert!(
            text.starts_with("refused: Invalid status list: the list URI"),
            "{uri:?}: {text}"
        );
    }
}

/// Regression (issue 8, item 9): CLI errors in one style (README, "Errors"): no made-up status
/// code for failures on the client's side, the cause and a hint when the registry is
/// unreachable, a problem's title and detail rather than raw JSON, usage errors exit 2.
#[test]
fn cli_errors_have_one_style() {
    let down = format!(
        "http://{}/registry",
        credence_tests::free_loopback_address()
    );
    let unregistered = &format!("did:credence:{}", "a".repeat(32));
    let unreachable = cli(
        Path::new(BIN),
        &["did", "resolve", unregistered, "--registry", &down],
    );
    assert_eq!(unreachable.status.code(), Some(1));
    let text = stderr_of(&unreachable);
    assert!(text.starts_with("error: registry unreachable"), "{text}");
    assert!(text.contains(&down), "names the URL: {text}");
    assert!(text.contains("onnection refused"), "says the cause: {text}");
    assert!(text.contains("is it running"), "gives a hint: {text}");
    assert!(!text.contains("(502)"), "{text}");

    let unsupported = cli(Path::new(BIN), &["did", "resolve", "did:example:123"]);
    assert_eq!(unsupported.status.code(), Some(1));
    assert!(!stderr_of(&unsupported).contains("(50"), "{unsupported:?}");
    assert!(
        stderr_of(&unsupported).contains("not supported"),
        "{unsupported:?}"
    );

    // A malformed --log-key is a usage error, like any other bad argument.
    let bad_key = cli(
        Path::new(BIN),
        &["did", "resolve", unregistered, "--log-key", "not-a-key"],
    );
    assert_eq!(bad_key.status.code(), Some(2), "{bad_key:?}");
    assert!(stderr_of(&bad_key).contains("--log-key"), "{bad_key:?}");

    let garbage = cli(
        Path::new(BIN),
        &["status", "show", "garbage", "--index", "0"],
    );
    assert_eq!(garbage.status.code(), Some(2), "a bad argument");
    assert!(
        !stderr_of(&garbage).contains("builder error"),
        "{garbage:?}"
    );
    assert!(stderr_of(&garbage).contains("not a URL"), "{garbage:?}");

    let (_dir, path) = scratch();
    let server = Server::start(
        Path::new(BIN),
        &["--data-dir", path.join("data").to_str().unwrap()],
    );
    let registry = server.registry();
    let not_found = cli(
        Path::new(BIN),
        &["did", "resolve", unregistered, "--registry", &registry],
    );
    assert_eq!(not_found.status.code(), Some(1));
    let text = stderr_of(&not_found);
    assert!(text.starts_with("refused: DID not found: "), "{text}");
    assert!(!text.contains('{'), "no raw JSON: {text}");
    let no_list = cli(
        Path::new(BIN),
        &[
            "status",
            "show",
            "--registry",
            &registry,
            &format!("{registry}/status-lists/{}", "a".repeat(32)),
            "--index",
            "0",
        ],
    );
    assert_eq!(no_list.status.code(), Some(1));
    let text = stderr_of(&no_list);
    assert!(
        text.starts_with("refused: Status list not found: "),
        "{text}"
    );
    assert!(!text.contains('{'), "no raw JSON: {text}");

    let keys = path.join("keys");
    let keys = keys.to_str().unwrap();
    run_ok(&["did", "create", "--registry", &registry, "--keys", keys]);
    let revoke = cli(
        Path::new(BIN),
        &[
            "trust",
            "revoke",
            "--registry",
            &registry,
            "--keys",
            keys,
            &"a".repeat(52),
        ],
    );
    assert_eq!(revoke.status.code(), Some(1));
    let text = stderr_of(&revoke);
    assert!(
        text.starts_with("refused: Accreditation not found: "),
        "{text}"
    );
}

/// Regression (issue 8, item 9): `serve` on a taken port created the data directory and a new
/// log signing key before failing to bind.
#[test]
fn serve_on_a_taken_port_creates_nothing() {
    let (_dir, path) = scratch();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let data = path.join("data");
    let output = cli(
        Path::new(BIN),
        &[
            "serve",
            "--listen",
            &taken.local_addr().unwrap().to_string(),
            "--data-dir",
            data.to_str().unwrap(),
        ],
    );
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    assert!(stderr_of(&output).contains("binding"), "{output:?}");
    assert!(!data.exists(), "the data directory was created");
}

/// Regression (issue 8, item 9): an unreachable PostgreSQL URL hung 30 s, then printed a pool
/// timeout without the cause.
#[test]
fn serve_with_an_unreachable_database_fails_fast_with_the_cause() {
    let nothing_there = credence_tests::free_loopback_address();
    let started = std::time::Instant::now();
    let output = cli(
        Path::new(BIN),
        &[
            "serve",
            "--listen",
            &credence_tests::free_loopback_address(),
            "--database-url",
            &format!("postgres://postgres@{nothing_there}/credence"),
            "--log-key-file",
            TEST_LOG_KEY,
        ],
    );
    let elapsed = started.elapsed();
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    assert!(
        elapsed < std::time::Duration::from_secs(15),
        "took {elapsed:?}"
    );
    assert!(
        stderr_of(&output).contains("onnection refused"),
        "{output:?}"
    );
}

/// Regression (issue 8, item 9): unknown paths answered an empty 404, not a problem body.
#[test]
fn unknown_paths_answer_a_problem() {
    let (_dir, path) = scratch();
    let server = Server::start(Path::new(BIN), &["--data-dir", path.to_str().unwrap()]);
    for unknown in ["/nope", "/registry/nope"] {
        let (status, body) =
            credence_tests::http_get(&format!("{}{unknown}", server.base)).unwrap();
        assert_eq!(status, 404, "{unknown}");
        let problem = json(&body);
        assert_eq!(
            problem["type"], "https://credence.example/problems/route-not-found",
            "{unknown}: {problem}"
        );
        assert_eq!(problem["status"], 404);
    }
}

/// Regression (issue 8, item 9): ANSI colours went into log files. Logs carry none when stderr
/// is not a terminal, nor in JSON.
#[test]
fn logs_carry_no_colours_when_not_on_a_terminal() {
    let (_dir, path) = scratch();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let (log, _) =
        credence_registry::log::CheckpointSigner::generate("credence.localhost/registry").unwrap();
    for format in ["text", "json"] {
        let output = Command::new(BIN)
            .args(["--log-format", format, "witness", "serve", "--listen"])
            .arg(taken.local_addr().unwrap().to_string())
            .args(["--log", log.verifier_key()])
            .arg("--key-file")
            .arg(path.join("w.key"))
            .arg("--state-file")
            .arg(path.join("w.json"))
            .env("RUST_LOG", "info")
            .output()
            .unwrap();
        let text = stderr_of(&output);
        assert!(text.contains("witness key"), "{format}: {text}");
        assert!(!text.contains('\u{1b}'), "{format}: {text:?}");
    }
}

/// Regression (issue 8, item 10): `status show` read the list's whole body before any size
/// check, so a server sending an endless body held it until the timeout. Cut off at the cap.
#[test]
fn status_show_cuts_off_an_endless_list() {
    use std::io::{Read as _, Write as _};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    let endless = std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        let mut request = [0u8; 4096];
        let _ = stream.read(&mut request);
        let _ = stream.write_all(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
        let chunk = vec![b'e'; 0x10000];
        // Until the client hangs up.
        while stream
            .write_all(b"10000\r\n")
            .and_then(|()| stream.write_all(&chunk))
            .and_then(|()| stream.write_all(b"\r\n"))
            .is_ok()
        {}
    });
    let started = std::time::Instant::now();
    let output = cli(
        Path::new(BIN),
        &[
            "status",
            "show",
            &format!("http://{address}/status-lists/x"),
            "--index",
            "0",
        ],
    );
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    assert!(stderr_of(&output).contains("too large"), "{output:?}");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(14),
        "cut off at the cap, not by the 15 s timeout"
    );
    endless.join().unwrap();
}

/// Regression (issue 8, item 9): keys saved, then the process died (or the registry's answer
/// was lost) after the registry registered the DID: `did create` again finds the DID already
/// registered and records it, instead of refusing a directory that "already holds keys".
#[test]
fn did_create_finishes_a_creation_whose_answer_was_lost() {
    let (_dir, path) = scratch();
    let server = Server::start(
        Path::new(BIN),
        &["--data-dir", path.join("data").to_str().unwrap()],
    );
    let registry = server.registry();
    let first = path.join("first");
    let did = run_ok(&[
        "did",
        "create",
        "--registry",
        &registry,
        "--keys",
        first.to_str().unwrap(),
    ]);
    // The same keys, without the DID file: what a creation that died after registering leaves.
    let lost = path.join("lost");
    std::fs::create_dir_all(&lost).unwrap();
    for file in ["rotation-key.jwk", "signing-key.jwk"] {
        std::fs::copy(first.join(file), lost.join(file)).unwrap();
    }
    let again = run_ok(&[
        "did",
        "create",
        "--registry",
        &registry,
        "--keys",
        lost.to_str().unwrap(),
    ]);
    assert_eq!(again.trim(), did.trim());
    assert_eq!(
        std::fs::read_to_string(lost.join("did.txt"))
            .unwrap()
            .trim(),
        did.trim()
    );
}

/// Regression (issue 8, item 9): README's witness walkthrough on an idle log. After a restart
/// with `--witness`, the checkpoint was cosigned only once the log grew, so
/// `audit --min-witnesses 1` reported a discrepancy. Now the registry asks at start.
#[test]
fn an_idle_log_is_cosigned_after_a_restart_with_a_witness() {
    let (_dir, path) = scratch();
    let data = path.join("data");
    let data = data.to_str().unwrap();
    let server = Server::start(Path::new(BIN), &["--data-dir", data]);
    run_ok(&[
        "did",
        "create",
        "--registry",
        &server.registry(),
        "--keys",
        path.join("keys").to_str().unwrap(),
    ]);
    let (status, log_key) =
        credence_tests::http_get(&format!("{}/log/key", server.registry())).unwrap();
    assert_eq!(status, 200);
    let listen = server.listen.clone();
    assert!(server.signal("TERM").success());

    let witness_listen = credence_tests::free_loopback_address();
    let mut witness = Command::new(BIN)
        .args([
            "witness",
            "serve",
            "--listen",
            &witness_listen,
            "--log",
            log_key.trim(),
        ])
        .arg("--key-file")
        .arg(path.join("witness.key"))
        .arg("--state-file")
        .arg(path.join("witness.json"))
        .env("RUST_LOG", "warn")
        .spawn()
        .unwrap();
    let key_url = format!("http://{witness_listen}/key");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let witness_key = loop {
        if let Ok((200, key)) = credence_tests::http_get(&key_url) {
            break key.trim().to_owned();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "witness did not start"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    };

    let server = Server::start_on(
        Path::new(BIN),
        &listen,
        &[
            "--data-dir",
            data,
            "--witness",
            &format!("http://{witness_listen}={witness_key}"),
        ],
    );
    // No write since the restart: the registry asks the witness on its own. Poll the audit with
    // a deadline (the first publisher tick runs as the server starts).
    let audit = |registry: &str| {
        cli(
            Path::new(BIN),
            &[
                "audit",
                "--registry",
                registry,
                "--witness-key",
                &witness_key,
                "--min-witnesses",
                "1",
            ],
        )
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let report = loop {
        let report = audit(&server.registry());
        if report.status.success() || std::time::Instant::now() > deadline {
            break report;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    let _ = witness.kill();
    let _ = witness.wait();
    assert!(report.status.success(), "{report:?}");
    assert!(String::from_utf8_lossy(&report.stdout).contains("CLEAN"));
}

/// Issue 9 item 7: `did create` saved whatever id the registry answered. A registry answering
/// with another DID is refused; the DID is computed from the signed genesis.
#[test]
fn did_create_refuses_a_registry_that_answers_with_another_did() {
    use std::io::{BufRead as _, BufReader, Read as _, Write as _};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    // A registry that accepts any creation and answers with a DID of its choosing.
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut length = 0;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if let Some(value) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = value.trim().parse().unwrap_or(0);
                }
            }
            let mut body = vec![0; length];
            let _ = reader.read_exact(&mut body);
            let answer = serde_json::json!({
                "didDocument": {"id": "did:credence:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"},
                "didDocumentMetadata": {},
            })
            .to_string();
            let _ = write!(
                stream,
                "HTTP/1.1 201 Created\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{answer}",
                answer.len()
            );
        }
    });
    let (_dir, path) = scratch();
    let keys = path.join("keys");
    let created = cli(
        Path::new(BIN),
        &[
            "did",
            "create",
            "--registry",
            &format!("http://{address}/registry"),
            "--keys",
            keys.to_str().unwrap(),
        ],
    );
    assert_eq!(created.status.code(), Some(1), "{created:?}");
    assert!(created.stdout.is_empty(), "{created:?}");
    let stderr = String::from_utf8_lossy(&created.stderr);
    assert!(stderr.contains("but this genesis creates"), "{stderr}");
}
