//! A malicious registry, as a test double on a loopback port: it runs its own log (it holds the
//! log key, as an operator does), so it can log anything and prove its inclusion. Verifying
//! clients must still refuse what the DID's owner never signed. Each test names the attack.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use credence_registry::client::{LogWatcher, RegistryClient};
use credence_registry::did::Did;
use credence_registry::error::Error;
use credence_registry::keys::{KeyType, SecretKey};
use credence_registry::log::{self, CheckpointSigner};
use credence_registry::ops::{self, OperationBody, SignedOperation};
use credence_registry::wire::VersionSelector;
use serde_json::{Value, json};

use crate::support::{Owner, serve_on_loopback};

/// What the double serves for one DID: a two-operation log (the genuine genesis and a second
/// operation of the attacker's choosing), a checkpoint over it signed with its own log key, and
/// the inclusion proof of the second operation.
struct Double {
    base: String,
    log_key: String,
}

async fn serve_double(did: &Did, genesis: &SignedOperation, second: &SignedOperation) -> Double {
    let (signer, _) = CheckpointSigner::generate("malicious.example/log").unwrap();
    let entries = [
        log::did_operation_entry(did, 0, genesis),
        log::did_operation_entry(did, 1, second),
    ];
    let (size, root) = log::root_from_entries(entries.iter().map(Vec::as_slice)).unwrap();
    let note = signer.sign(size, root).unwrap();
    // RFC 6962: in a tree of two leaves, the inclusion proof of leaf 1 is leaf 0's hash.
    let leaf = |entry: &[u8]| STANDARD.encode(log::leaf_hash(entry).0);
    let state = ops::fold_trusted(did, &[genesis.clone(), second.clone()]).unwrap();
    let body = json!({
        "didDocument": ops::document(&state),
        "didDocumentMetadata": {"versionId": second.hash().as_str()},
        "didResolutionMetadata": {"contentType": "application/did+json"},
        "logProof": {
            "position": 1,
            "operation": second,
            "history": [genesis],
            "checkpoint": note,
            "inclusion": {"index": 1, "size": 2, "leafHash": leaf(&entries[1]),
                "rootHash": STANDARD.encode(root.0), "proof": [leaf(&entries[0])]},
        },
    });
    let app = axum::Router::new().route(
        "/1.0/identifiers/{did}",
        axum::routing::get(move || {
            let body = body.clone();
            async move { axum::Json(body) }
        }),
    );
    Double {
        base: serve_on_loopback(app).await,
        log_key: signer.verifier_key().to_owned(),
    }
}

/// An update replacing the keys with `new_rotation`'s, signed by `signer`.
fn update(prev: &SignedOperation, new_rotation: &SecretKey, signer: &SecretKey) -> SignedOperation {
    let owner = Owner {
        rotation: new_rotation.clone(),
        signing: SecretKey::generate(KeyType::Ed25519),
    };
    SignedOperation::sign(
        OperationBody::Update {
            prev: prev.hash(),
            rotation_keys: vec![new_rotation.public().to_did_key()],
            verification_methods: vec![owner.vm()],
            services: vec![],
        },
        signer,
    )
}

async fn resolve_through(double: &Double, did: &Did) -> Result<Value, Error> {
    let client = RegistryClient::new(&double.base)?;
    let watcher = LogWatcher::new(&double.log_key, Vec::new(), 0);
    client
        .resolve_verified(did, &VersionSelector::Latest, &watcher)
        .await
        .map(|resolution| resolution.document)
}

/// Issue 9 item 1: the registry logs `Update{rotationKeys:[attacker]}` for a victim, signed by
/// the attacker, and proves its inclusion. Verified resolution folded logged operations without
/// checking them, so the client adopted the attacker's keys. It must re-validate the chain.
#[tokio::test]
async fn a_logged_operation_the_owner_never_signed_is_refused() {
    let victim = Owner::new(KeyType::Ed25519);
    let genesis = victim.genesis();
    let did = ops::did_for_genesis(&genesis);
    let attacker = SecretKey::generate(KeyType::Ed25519);

    let forged = update(&genesis, &attacker, &attacker);
    let double = serve_double(&did, &genesis, &forged).await;
    match resolve_through(&double, &did).await {
        Err(Error::LogVerification(detail)) => {
            assert!(detail.contains("does not verify"), "{detail}");
        }
        other => panic!("a forged operation was accepted: {other:?}"),
    }

    // The same registry serving the owner's own rotation is believed: the check can pass.
    let genuine = update(&genesis, &attacker, &victim.rotation);
    let double = serve_double(&did, &genesis, &genuine).await;
    let document = resolve_through(&double, &did).await.unwrap();
    assert_eq!(document["id"], did.as_str());
}

/// Issue 9 item 1: a chain that is valid but belongs to another DID (its genesis derives a
/// different DID) is not the victim's.
#[tokio::test]
async fn another_dids_chain_is_refused() {
    let victim = Owner::new(KeyType::Ed25519);
    let did = ops::did_for_genesis(&victim.genesis());
    let attacker = Owner::new(KeyType::Ed25519);
    let attacker_genesis = attacker.genesis();
    let attacker_update = update(
        &attacker_genesis,
        &SecretKey::generate(KeyType::Ed25519),
        &attacker.rotation,
    );
    let double = serve_double(&did, &attacker_genesis, &attacker_update).await;
    match resolve_through(&double, &did).await {
        Err(Error::LogVerification(detail)) => {
            assert!(detail.contains("not"), "{detail}");
        }
        other => panic!("another DID's history was accepted: {other:?}"),
    }
}

/// Issue 9 item 5: `--witness-key K --witness-key K --min-witnesses 2` was met by one witness,
/// because a repeated key counted twice.
#[test]
fn a_repeated_witness_key_counts_once() {
    let (signer, _) = CheckpointSigner::generate("registry.example/log").unwrap();
    let note = signer.sign(1, log::leaf_hash(b"entry")).unwrap();
    let (witness_secret, witness_key) =
        signed_note::generate_key(&mut rand_core::OsRng, "witness.example");
    let witness = signed_note::StandardSigner::new(&witness_secret).unwrap();
    let mut parsed = signed_note::Note::from_bytes(note.as_bytes()).unwrap();
    parsed.add_sigs(&[&witness]).unwrap();
    let cosigned = String::from_utf8(parsed.to_bytes()).unwrap();
    let verify = |keys: &[&str], required| {
        let keys: Vec<String> = keys.iter().map(|k| (*k).to_owned()).collect();
        credence_registry::witness::verify_cosigned(
            &cosigned,
            signer.verifier_key(),
            &keys,
            required,
        )
    };
    assert!(verify(&[&witness_key], 1).is_ok());
    assert!(verify(&[&witness_key, &witness_key], 2).is_err());
    let renamed = witness_key.replacen("witness.example", "witness-two.example", 1);
    assert!(verify(&[&witness_key, &renamed], 2).is_err());
}

/// A registry the tests can write to behind its own back, as a malicious operator writes to
/// its database: the app on a loopback port over a SQLite store.
struct Operator {
    backend: crate::support::Backend,
    client: RegistryClient,
}

impl Operator {
    async fn start() -> Self {
        Self::with_anchors(&[]).await
    }

    async fn with_anchors(anchors: &[&str]) -> Self {
        let backend = crate::support::sqlite().await;
        let app = crate::support::app_with_anchors(backend.store.clone(), anchors);
        let base = serve_on_loopback(app).await;
        let client = RegistryClient::new(&format!("{base}/registry")).unwrap();
        Self { backend, client }
    }

    async fn register(&self, owner: &Owner) -> Did {
        self.client.create(&owner.genesis()).await.unwrap().0
    }

    async fn audit(&self) -> credence_registry::audit::AuditReport {
        self.audit_with_anchors(None).await
    }

    async fn audit_with_anchors(
        &self,
        anchors: Option<Vec<Did>>,
    ) -> credence_registry::audit::AuditReport {
        let options = credence_registry::audit::AuditOptions {
            log_key: Some(crate::support::test_signer().verifier_key().to_owned()),
            check_served_dids: true,
            trust_anchors: anchors,
            ..Default::default()
        };
        credence_registry::audit::audit(&self.client, &options, &|_, _| {})
            .await
            .expect("audit runs")
    }

    /// Writes an accreditation straight into the store and the log, with no check at all.
    async fn log_accreditation(&self, jws: &str, subject: &Did, accreditor: &Did) {
        let id = credence_registry::trust::accreditation_id(jws);
        let entry = log::Entry::Accreditation {
            id: id.to_string(),
            jws: jws.to_owned(),
        }
        .to_bytes();
        let now = chrono::Utc::now();
        self.backend
            .store
            .accredit(credence_registry_server::store::NewAccreditation {
                id: &id,
                subject,
                accreditor,
                types: &["https://credence.example/vct/business-licence"
                    .parse()
                    .unwrap()],
                may_accredit: false,
                valid_from: now,
                valid_until: now + chrono::Duration::days(30),
                jws,
                now,
                log_entry: &entry,
            })
            .await
            .unwrap();
    }
}

fn accreditation(signing: &SecretKey, kid: &str, subject: &Did) -> String {
    let now = chrono::Utc::now();
    credence_registry::signed::sign(
        &json!({"type": "Accreditation", "subject": subject,
            "credentialTypes": ["https://credence.example/vct/business-licence"],
            "validFrom": now.to_rfc3339(), "validUntil": (now + chrono::Duration::days(30)).to_rfc3339()}),
        signing,
        kid,
    )
}

/// Issue 9 item 4: the audit counted accreditation, schema and status entries without
/// validating them, so an operator could log an accreditation its accreditor never signed.
/// Every signed entry is now checked against its signer's document as the log defined it.
#[tokio::test]
async fn an_audit_catches_signed_entries_their_signer_never_made() {
    let registry = Operator::start().await;
    let (anchor, subject) = (Owner::new(KeyType::Ed25519), Owner::new(KeyType::Ed25519));
    let anchor_did = registry.register(&anchor).await;
    let subject_did = registry.register(&subject).await;
    let kid = format!("{anchor_did}#key-1");

    // A genuine accreditation, logged: the audit is clean.
    let genuine = accreditation(&anchor.signing, &kid, &subject_did);
    registry
        .log_accreditation(&genuine, &subject_did, &anchor_did)
        .await;
    let report = registry.audit().await;
    assert!(report.is_clean(), "{:?}", report.discrepancies);
    assert_eq!(report.accreditations_seen, 1);

    // One the operator signed with its own key under the anchor's key id.
    let operator_key = SecretKey::generate(KeyType::Ed25519);
    let forged = accreditation(&operator_key, &kid, &subject_did);
    registry
        .log_accreditation(&forged, &subject_did, &anchor_did)
        .await;
    let report = registry.audit().await;
    assert_eq!(report.discrepancies.len(), 1, "{:?}", report.discrepancies);
    let finding = &report.discrepancies[0];
    assert!(
        finding.what.contains("does not verify under"),
        "{finding:?}"
    );
    assert!(finding.location.starts_with("log index "), "{finding:?}");
}

/// Issue 9 item 4: the audit compared the operations a registry serves, never the documents,
/// which come from a separate state row: an edited row passed.
#[tokio::test]
async fn an_audit_catches_a_served_document_the_log_does_not_define() {
    let registry = Operator::start().await;
    let owner = Owner::new(KeyType::Ed25519);
    let did = registry.register(&owner).await;
    assert!(registry.audit().await.is_clean());

    let pool = sqlx::SqlitePool::connect(&registry.backend.url)
        .await
        .unwrap();
    let state: String = sqlx::query_scalar("SELECT state FROM dids WHERE did = $1")
        .bind(did.as_str())
        .fetch_one(&pool)
        .await
        .unwrap();
    let mut state: Value = serde_json::from_str(&state).unwrap();
    state["services"] = json!([{"id": "evil", "type": "LinkedDomains",
        "serviceEndpoint": "https://attacker.example/"}]);
    sqlx::query("UPDATE dids SET state = $1 WHERE did = $2")
        .bind(state.to_string())
        .bind(did.as_str())
        .execute(&pool)
        .await
        .unwrap();

    let report = registry.audit().await;
    assert!(
        report.discrepancies.iter().any(|d| d
            .what
            .contains("serves a document its logged operations do not define")),
        "{:?}",
        report.discrepancies
    );
}

/// Issue 9 item 2: `did resolve <deactivated DID> --log-key <any key>` succeeded: the 410
/// carried no proof and the client did not insist. A deactivation is proven like any state.
#[tokio::test]
async fn a_deactivation_must_be_proven() {
    let registry = Operator::start().await;
    let owner = Owner::new(KeyType::Ed25519);
    let (did, resolution) = registry.client.create(&owner.genesis()).await.unwrap();
    let head = ops::OpHash::parse(resolution.metadata.version_id.as_deref().unwrap()).unwrap();
    registry
        .client
        .submit(&did, &owner.deactivate(&head))
        .await
        .unwrap();

    // The honest registry proves it: the client verifies, then reports the deactivation.
    let watcher = LogWatcher::new(crate::support::test_signer().verifier_key(), Vec::new(), 0);
    match registry
        .client
        .resolve_verified(&did, &VersionSelector::Latest, &watcher)
        .await
    {
        // Issue 10: a deactivated DID resolves (`Ok`), with its metadata saying so.
        Ok(resolution) => assert!(resolution.metadata.deactivated),
        other => panic!("expected a proven deactivation: {other:?}"),
    }
    // Under another log's key, nothing is believed.
    let (other_log, _) = CheckpointSigner::generate("other.example/log").unwrap();
    let watcher = LogWatcher::new(other_log.verifier_key(), Vec::new(), 0);
    assert!(matches!(
        registry
            .client
            .resolve_verified(&did, &VersionSelector::Latest, &watcher)
            .await,
        Err(Error::LogVerification(_))
    ));

    // A registry that answers 410 with no proof is not believed either.
    let body = json!({"didDocument": {"id": did.as_str()},
        "didDocumentMetadata": {"deactivated": true}});
    let app = axum::Router::new().route(
        "/1.0/identifiers/{did}",
        axum::routing::get(move || {
            let body = body.clone();
            async move { (axum::http::StatusCode::GONE, axum::Json(body)) }
        }),
    );
    let base = serve_on_loopback(app).await;
    let client = RegistryClient::new(&base).unwrap();
    let watcher = LogWatcher::new(crate::support::test_signer().verifier_key(), Vec::new(), 0);
    match client
        .resolve_verified(&did, &VersionSelector::Latest, &watcher)
        .await
    {
        Err(Error::LogVerification(detail)) => assert!(detail.contains("logProof"), "{detail}"),
        other => panic!("an unproven deactivation was believed: {other:?}"),
    }
}

/// Issue 9 item 5: each command built a fresh in-memory `LogWatcher`, so a registry could show
/// each run a different fork (or roll back) and no run could tell. A persistent watcher holds
/// every run to the history an earlier run accepted.
#[tokio::test]
async fn runs_are_held_to_one_history() {
    let (operator_key, _) = CheckpointSigner::generate("registry.example/log").unwrap();
    let sign = |entries: &[&[u8]]| {
        let (size, root) = log::root_from_entries(entries.iter().copied()).unwrap();
        operator_key.sign(size, root).unwrap()
    };
    let honest = sign(&[b"a", b"b"]);
    let fork = sign(&[b"a", b"c"]);
    let rollback = sign(&[b"a"]);
    let state = tempfile::tempdir().unwrap();
    // A client for consistency proofs; these refusals happen before any is asked for.
    let client = RegistryClient::new("http://127.0.0.1:9/registry").unwrap();
    let run = || {
        LogWatcher::persistent(operator_key.verifier_key(), Vec::new(), 0, state.path()).unwrap()
    };

    let first = run();
    assert_eq!(first.accept(&honest, &client).await.unwrap().size, 2);
    for other in [&fork, &rollback] {
        let next = run();
        match next.accept(other, &client).await {
            Err(Error::LogVerification(detail)) => {
                assert!(detail.contains("rollback or split view"), "{detail}")
            }
            outcome => panic!("a later run accepted another history: {outcome:?}"),
        }
    }
    // The honest history is still accepted, run after run.
    assert!(run().accept(&honest, &client).await.is_ok());
    // A remembered checkpoint the key does not verify is an error, not a fresh start.
    let (other_key, _) = CheckpointSigner::generate("registry.example/log").unwrap();
    let file = std::fs::read_dir(state.path())
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    std::fs::write(&file, other_key.sign(1, log::leaf_hash(b"x")).unwrap()).unwrap();
    assert!(matches!(
        LogWatcher::persistent(operator_key.verifier_key(), Vec::new(), 0, state.path()),
        Err(Error::LogVerification(_))
    ));
}

const LICENCE: &str = "https://credence.example/vct/business-licence";

/// Issue 9 item 3: `trust show --log-key` proved only each link's `{id, jws}` and printed the
/// served fields and the served `allowed`. A registry could answer `allowed: true` for anyone
/// with a chain reusing another subject's genuine accreditation, or edit a link's fields. The
/// client now reads every fact from the signed claims and recomputes the answer.
#[tokio::test]
async fn authorization_answers_are_recomputed_from_proven_links() {
    let anchor = Owner::new(KeyType::Ed25519);
    let anchor_did = ops::did_for_genesis(&anchor.genesis());
    let registry = Operator::with_anchors(&[anchor_did.as_str()]).await;
    registry.register(&anchor).await;
    let agency = Owner::new(KeyType::Ed25519);
    let agency_did = registry.register(&agency).await;
    let stranger = Owner::new(KeyType::Ed25519);
    let stranger_did = registry.register(&stranger).await;
    registry
        .client
        .accredit(&accreditation(
            &anchor.signing,
            &format!("{anchor_did}#key-1"),
            &agency_did,
        ))
        .await
        .unwrap();
    let watcher = LogWatcher::new(crate::support::test_signer().verifier_key(), Vec::new(), 0);
    let anchors = [anchor_did.clone()];
    let answer = |did: &Did| {
        let client = registry.client.clone();
        let did = did.clone();
        async move { client.authorization(&did, LICENCE).await.unwrap() }
    };

    // The honest answer is proven and recomputed: allowed.
    let honest = answer(&agency_did).await;
    assert!(honest.allowed);
    let proven = registry
        .client
        .prove_authorization(&honest, &anchors, &watcher)
        .await
        .unwrap();
    assert!(proven.allowed, "{:?}", proven.reason);
    assert_eq!(proven.chain[0].claims.subject, agency_did);
    // Without the anchor pinned, the client does not take the registry's word for it.
    let unpinned = registry
        .client
        .prove_authorization(&honest, &[], &watcher)
        .await
        .unwrap();
    assert!(!unpinned.allowed);

    // "Allowed" for a stranger, with the agency's genuine accreditation as its chain.
    let mut lie = honest.clone();
    lie.issuer = stranger_did.clone();
    let proven = registry
        .client
        .prove_authorization(&lie, &anchors, &watcher)
        .await
        .unwrap();
    assert!(!proven.allowed);
    assert!(
        proven
            .reason
            .as_deref()
            .unwrap()
            .contains("not did:credence"),
        "{:?}",
        proven.reason
    );
    // Edited served fields are ignored: the facts come from what the anchor signed.
    let mut edited = honest.clone();
    edited.chain[0].subject = stranger_did.clone();
    edited.chain[0].credential_types =
        vec!["https://credence.example/vct/anything".parse().unwrap()];
    let proven = registry
        .client
        .prove_accreditation(&edited.chain[0], &watcher)
        .await
        .unwrap();
    assert_eq!(proven.claims.subject, agency_did);
    assert_eq!(proven.claims.credential_types, vec![LICENCE.to_owned()]);
    // A served JWS that is not the logged one does not prove.
    let mut swapped = honest.chain[0].clone();
    swapped.jws = accreditation(
        &anchor.signing,
        &format!("{anchor_did}#key-1"),
        &stranger_did,
    );
    assert!(matches!(
        registry
            .client
            .prove_accreditation(&swapped, &watcher)
            .await,
        Err(Error::LogVerification(_))
    ));
}

/// Issue 9 item 3: a logged accreditation the operator signed with its own key under the
/// accreditor's key id does not prove, however it is served.
#[tokio::test]
async fn a_logged_accreditation_the_accreditor_never_signed_does_not_prove() {
    let registry = Operator::start().await;
    let (anchor, subject) = (Owner::new(KeyType::Ed25519), Owner::new(KeyType::Ed25519));
    let anchor_did = registry.register(&anchor).await;
    let subject_did = registry.register(&subject).await;
    let forged = accreditation(
        &SecretKey::generate(KeyType::Ed25519),
        &format!("{anchor_did}#key-1"),
        &subject_did,
    );
    registry
        .log_accreditation(&forged, &subject_did, &anchor_did)
        .await;
    let served = registry.client.accreditations(&subject_did).await.unwrap();
    let view = served.accreditations[0].clone();
    let watcher = LogWatcher::new(crate::support::test_signer().verifier_key(), Vec::new(), 0);
    match registry.client.prove_accreditation(&view, &watcher).await {
        Err(Error::LogVerification(detail)) => {
            assert!(detail.contains("does not verify"), "{detail}")
        }
        other => panic!("a forged accreditation proved: {other:?}"),
    }
}

/// Issue 9 item 3: `status show` verified a list against its issuer resolved through an
/// unverified source. A list proves only if it is logged and signed by the issuer's key as the
/// log had it; one the operator signed under the issuer's key id does not.
#[tokio::test]
async fn status_lists_prove_only_under_the_issuers_logged_keys() {
    let issuer = Owner::new(KeyType::Ed25519);
    let did = ops::did_for_genesis(&issuer.genesis());
    let registry = Operator::with_anchors(&[did.as_str()]).await;
    registry.register(&issuer).await;
    let list = |key: &SecretKey, name: &str| {
        let bits = credence_registry::status::one_bit_token_list(131_072, [5]).unwrap();
        credence_registry::signed::sign_typed(
            &json!({"iss": did, "sub": format!("https://registry.example/status-lists/{did}/{name}"),
                "iat": chrono::Utc::now().timestamp(),
                "status_list": {"bits": 1, "lst": credence_registry::status::compress_token_list(&bits)}}),
            key,
            &format!("{did}#key-1"),
            Some("statuslist+jwt"),
        )
    };
    let watcher = LogWatcher::new(crate::support::test_signer().verifier_key(), Vec::new(), 0);

    let genuine = list(&issuer.signing, "1");
    let published = registry.client.publish_status_list(&genuine).await.unwrap();
    let index = published.log_index;
    let claims = registry
        .client
        .prove_status_list(&genuine, index, &watcher)
        .await
        .unwrap();
    assert_eq!(claims.issuer, did);
    assert_eq!(claims.list.status(5), Some(1));

    // The operator logs a list it signed itself under the issuer's key id.
    let forged = list(&SecretKey::generate(KeyType::Ed25519), "2");
    let claims = credence_registry::status::parse_claims(
        &json!({"typ": "statuslist+jwt"}),
        &serde_json::from_slice::<Value>(
            &credence_registry::keys::decode_b64url(forged.split('.').nth(1).unwrap()).unwrap(),
        )
        .unwrap(),
    )
    .unwrap();
    let entry = claims.log_entry(&forged).to_bytes();
    let key = credence_registry::status::list_key(&claims.uri);
    let forged_index = registry
        .backend
        .store
        .publish_status_list(credence_registry_server::store::NewStatusList {
            key: &key,
            uri: &claims.uri,
            issuer: &did,
            format: "tokenStatusListJwt",
            version: claims.issued.timestamp_millis(),
            ttl_seconds: 300,
            jws: &forged,
            now: chrono::Utc::now(),
            log_entry: &entry,
        })
        .await
        .unwrap();
    match registry
        .client
        .prove_status_list(&forged, forged_index.into(), &watcher)
        .await
    {
        Err(Error::LogVerification(detail)) => {
            assert!(detail.contains("does not verify"), "{detail}")
        }
        other => panic!("a forged list proved: {other:?}"),
    }
}

/// Issue 9 item 7: `did rotate` re-signed the services of an unverified resolution, so a
/// registry (or anyone on the default plain-http connection) could inject a service the owner
/// then signed into the DID. Owners now build on the DID's own operations, re-validated.
#[tokio::test]
async fn owners_build_on_their_own_verified_operations() {
    let owner = Owner::new(KeyType::Ed25519);
    let genesis = owner.genesis();
    let did = ops::did_for_genesis(&genesis);
    let attacker = SecretKey::generate(KeyType::Ed25519);
    let injected = SignedOperation::sign(
        OperationBody::Update {
            prev: genesis.hash(),
            rotation_keys: vec![owner.rotation.public().to_did_key()],
            verification_methods: vec![owner.vm()],
            services: vec![credence_registry::ops::ServiceSpec {
                id: "evil".into(),
                kind: "LinkedDomains".into(),
                service_endpoint: "https://attacker.example/".into(),
            }],
        },
        &attacker,
    );
    let serve_ops = |operations: Vec<&SignedOperation>| {
        let body = json!({"did": did.as_str(), "operations": operations.iter()
            .enumerate().map(|(position, op)| json!({"position": position, "operation": op}))
            .collect::<Vec<_>>()});
        axum::Router::new().route(
            "/dids/{did}/ops",
            axum::routing::get(move || {
                let body = body.clone();
                async move { axum::Json(body) }
            }),
        )
    };
    let base = serve_on_loopback(serve_ops(vec![&genesis, &injected])).await;
    match RegistryClient::new(&base).unwrap().owner_state(&did).await {
        Err(Error::LogVerification(detail)) => {
            assert!(detail.contains("does not verify"), "{detail}")
        }
        other => panic!("an injected operation was built on: {other:?}"),
    }
    // The genuine history is what the owner builds on.
    let base = serve_on_loopback(serve_ops(vec![&genesis])).await;
    let state = RegistryClient::new(&base)
        .unwrap()
        .owner_state(&did)
        .await
        .unwrap();
    assert_eq!(state.head, genesis.hash());
    assert!(state.services.is_empty());
}

/// Issue 9 item 6: witness replies were stored unchecked: `200 junk` made the stored
/// checkpoint unreadable, and a bad line under a real witness's name, placed before its genuine
/// line, cancelled that witness's cosignature. Only valid cosignatures under the configured key
/// are kept now.
#[tokio::test]
async fn witness_replies_are_kept_only_if_they_are_cosignatures() {
    use credence_registry_server::transparency::Transparency;
    let backend = crate::support::sqlite().await;
    let app = crate::support::test_app(
        backend.store.clone(),
        credence_registry_server::store::WriteLimits::default(),
    );
    crate::support::post_op(
        &app,
        "/registry/dids",
        &Owner::new(KeyType::Ed25519).genesis(),
    )
    .await;
    let log_key = crate::support::test_signer().verifier_key().to_owned();
    let (witness_key, witness_secret) = CheckpointSigner::generate("witness.example").unwrap();
    let witness = signed_note::StandardSigner::new(&witness_secret).unwrap();
    // A witness that answers junk, then a forged line under its own name, then its genuine
    // cosignature.
    let app = axum::Router::new().fallback(move |body: String| {
        let witness = witness.clone();
        async move {
            let note = body
                .split_once("\n\n")
                .map_or("", |(_, note)| note)
                .to_owned();
            let mut signed = signed_note::Note::from_bytes(note.as_bytes()).unwrap();
            signed.add_sigs(&[&witness]).unwrap();
            let signed = String::from_utf8(signed.to_bytes()).unwrap();
            let genuine = signed.lines().last().unwrap().to_owned();
            let forged = format!(
                "{} {}",
                genuine.rsplit_once(' ').unwrap().0,
                STANDARD.encode([7u8; 68])
            );
            format!("junk\n{forged}\n{genuine}\n")
        }
    });
    let base = serve_on_loopback(app).await;
    let log = Transparency::with_witnesses(
        backend.store.clone(),
        crate::support::test_signer(),
        vec![
            format!("{base}={}", witness_key.verifier_key())
                .parse()
                .unwrap(),
        ],
    );
    log.publish().await.unwrap();
    let note = backend.store.latest_checkpoint().await.unwrap().unwrap().1;
    credence_registry::witness::verify_cosigned(
        &note,
        &log_key,
        &[witness_key.verifier_key().to_owned()],
        1,
    )
    .unwrap_or_else(|e| panic!("the genuine cosignature must count: {e}\n{note}"));
    assert!(!note.contains("junk"), "{note}");
    assert_eq!(
        note.lines().filter(|l| l.starts_with('—')).count(),
        2,
        "{note}"
    );
}

/// Witness URLs are https outside loopback, and come with the witness's key.
#[test]
fn witness_endpoints_need_https_and_a_key() {
    use credence_registry_server::transparency::WitnessEndpoint;
    let (key, _) = CheckpointSigner::generate("witness.example").unwrap();
    let key = key.verifier_key();
    for (text, ok) in [
        (format!("https://witness.example={key}"), true),
        (format!("http://127.0.0.1:8090={key}"), true),
        (format!("http://localhost:8090={key}"), true),
        (format!("http://witness.example={key}"), false),
        ("https://witness.example".to_owned(), false),
        ("https://witness.example=not-a-key".to_owned(), false),
    ] {
        assert_eq!(text.parse::<WitnessEndpoint>().is_ok(), ok, "{text}");
    }
}

/// Issue 9 item 4: the audit did not check authorization at the time. Given the anchors, an
/// accreditation signed by a DID that was neither an anchor nor accredited to accredit, when it
/// was logged, is a finding (however validly it is signed).
#[tokio::test]
async fn an_audit_given_the_anchors_checks_who_was_allowed_to_accredit() {
    let anchor = Owner::new(KeyType::Ed25519);
    let anchor_did = ops::did_for_genesis(&anchor.genesis());
    let registry = Operator::with_anchors(&[anchor_did.as_str()]).await;
    registry.register(&anchor).await;
    let (agency, outsider, subject) = (
        Owner::new(KeyType::Ed25519),
        Owner::new(KeyType::Ed25519),
        Owner::new(KeyType::Ed25519),
    );
    let agency_did = registry.register(&agency).await;
    let outsider_did = registry.register(&outsider).await;
    let subject_did = registry.register(&subject).await;
    // The anchor accredits the agency (through the registry's own checks).
    registry
        .client
        .accredit(&accreditation(
            &anchor.signing,
            &format!("{anchor_did}#key-1"),
            &agency_did,
        ))
        .await
        .unwrap();
    let anchors = Some(vec![anchor_did.clone()]);
    assert!(
        registry
            .audit_with_anchors(anchors.clone())
            .await
            .is_clean()
    );

    // The operator logs an accreditation the outsider really signed, though it may accredit
    // nobody.
    let unauthorized = accreditation(
        &outsider.signing,
        &format!("{outsider_did}#key-1"),
        &subject_did,
    );
    registry
        .log_accreditation(&unauthorized, &subject_did, &outsider_did)
        .await;
    let report = registry.audit_with_anchors(anchors).await;
    assert_eq!(report.discrepancies.len(), 1, "{:?}", report.discrepancies);
    assert!(
        report.discrepancies[0]
            .what
            .contains("neither a trust anchor"),
        "{:?}",
        report.discrepancies
    );
    // Without the anchors, authorization cannot be judged; the signature is fine.
    assert!(registry.audit().await.is_clean());
}
