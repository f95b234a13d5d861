//! The trust registry over HTTP, on every backend: root -> agency -> sub-agency chains,
//! authorization queries with the chain and log indexes, revocation; and each bad accreditation
//! refused with nothing written.

use chrono::{Duration, Utc};
use credence_registry::keys::KeyType;
use credence_registry::ops;
use serde_json::{Value, json};

use crate::support::{Owner, assert_problem, backends, get, post, post_op, test_signer};

const LICENCE: &str = "https://credence.example/vct/business-licence";
const DEGREE: &str = "https://credence.example/vct/university-degree";
const INVOICE: &str = "https://credence.example/vct/e-invoice";

struct Party {
    owner: Owner,
    did: String,
}

impl Party {
    fn new() -> Self {
        let owner = Owner::new(KeyType::Ed25519);
        let did = ops::did_for_genesis(&owner.genesis()).to_string();
        Self { owner, did }
    }
    fn sign(&self, payload: &Value) -> String {
        credence_registry::signed::sign(
            payload,
            &self.owner.signing,
            &format!("{}#key-1", self.did),
        )
    }
    fn accredit(
        &self,
        subject: &Party,
        types: &[&str],
        may_accredit: bool,
        days: (i64, i64),
    ) -> String {
        let now = Utc::now();
        self.sign(&json!({
            "type": "Accreditation",
            "subject": subject.did,
            "credentialTypes": types,
            "mayAccredit": may_accredit,
            "validFrom": (now + Duration::days(days.0)).to_rfc3339(),
            "validUntil": (now + Duration::days(days.1)).to_rfc3339(),
        }))
    }
}

async fn setup(
    store: std::sync::Arc<dyn credence_registry_server::store::DidStore>,
    root: &Party,
    others: &[&Party],
) -> axum::Router {
    let app = crate::support::app_with_anchors(store, &[&root.did]);
    for party in std::iter::once(root).chain(others.iter().copied()) {
        assert_eq!(
            post_op(&app, "/registry/dids", &party.owner.genesis())
                .await
                .status,
            201
        );
    }
    app
}

fn authorization_uri(
    did: &str,
    credential_type: &str,
    at: Option<chrono::DateTime<Utc>>,
) -> String {
    let mut uri = format!(
        "/registry/issuers/{did}/authorization?type={}",
        credential_type.replace(':', "%3A").replace('/', "%2F")
    );
    if let Some(at) = at {
        uri.push_str(&format!(
            "&at={}",
            at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        ));
    }
    uri
}

#[tokio::test]
async fn a_three_level_chain_authorizes_and_revocation_ends_it() {
    for backend in backends().await {
        let (root, agency, district) = (Party::new(), Party::new(), Party::new());
        let app = setup(backend.store.clone(), &root, &[&agency, &district]).await;

        let to_agency = post(
            &app,
            "/registry/accreditations",
            root.accredit(&agency, &[LICENCE, DEGREE], true, (-1, 365)),
        )
        .await;
        assert_eq!(
            to_agency.status, 201,
            "{}: {}",
            backend.name, to_agency.body
        );
        let to_district = post(
            &app,
            "/registry/accreditations",
            agency.accredit(&district, &[LICENCE], false, (0, 30)),
        )
        .await;
        assert_eq!(to_district.status, 201, "{}", to_district.body);

        let answer = get(&app, &authorization_uri(&district.did, LICENCE, None))
            .await
            .body;
        assert_eq!(answer["allowed"], true, "{answer}");
        let chain = answer["chain"].as_array().unwrap();
        assert_eq!(chain.len(), 2);
        assert_eq!(chain[0]["accreditor"], agency.did.as_str());
        assert_eq!(chain[1]["accreditor"], root.did.as_str());
        assert!(chain.iter().all(|link| link["logIndex"].is_u64()));

        // Not for a type outside its accreditation, not before it started.
        assert_eq!(
            get(&app, &authorization_uri(&district.did, DEGREE, None))
                .await
                .body["allowed"],
            false
        );
        let last_year = Utc::now() - Duration::days(365);
        let before = get(
            &app,
            &authorization_uri(&district.did, LICENCE, Some(last_year)),
        )
        .await
        .body;
        assert_eq!(before["allowed"], false);
        assert!(
            before["reason"]
                .as_str()
                .unwrap()
                .contains("not accredited"),
            "{before}"
        );

        let listed = get(&app, &format!("/registry/issuers/{}", district.did))
            .await
            .body;
        assert_eq!(listed["accreditations"].as_array().unwrap().len(), 1);

        // Revoking the agency's accreditation breaks the district's chain from then on.
        let id = to_agency.body["id"].as_str().unwrap();
        let revocation =
            root.sign(&json!({"type": "AccreditationRevocation", "accreditation": id}));
        let revoked = post(
            &app,
            &format!("/registry/accreditations/{id}/revoke"),
            revocation.clone(),
        )
        .await;
        assert_eq!(revoked.status, 200, "{}", revoked.body);
        assert!(revoked.body["revokedLogIndex"].is_u64());
        let after = get(
            &app,
            &authorization_uri(
                &district.did,
                LICENCE,
                Some(Utc::now() + Duration::seconds(5)),
            ),
        )
        .await
        .body;
        assert_eq!(after["allowed"], false, "{after}");
        // A second revocation is a replay.
        assert_problem(
            &post(
                &app,
                &format!("/registry/accreditations/{id}/revoke"),
                revocation,
            )
            .await,
            409,
            "replayed",
        );
    }
}

#[tokio::test]
async fn bad_accreditations_are_refused_and_nothing_is_written() {
    for backend in backends().await {
        bad_accreditations_on(&backend).await;
    }
}

async fn bad_accreditations_on(backend: &crate::support::Backend) {
    let (root, agency, district, stranger) =
        (Party::new(), Party::new(), Party::new(), Party::new());
    let app = setup(
        backend.store.clone(),
        &root,
        &[&agency, &district, &stranger],
    )
    .await;
    // The agency may issue licences and degrees, and accredit others for licences only.
    assert_eq!(
        post(
            &app,
            "/registry/accreditations",
            root.accredit(&agency, &[LICENCE], true, (-1, 100))
        )
        .await
        .status,
        201
    );
    assert_eq!(
        post(
            &app,
            "/registry/accreditations",
            root.accredit(&agency, &[DEGREE], false, (-1, 100))
        )
        .await
        .status,
        201
    );
    let size = backend.exclusive_log_size().await;

    // A DID that is not accredited to accredit anything.
    let reply = post(
        &app,
        "/registry/accreditations",
        stranger.accredit(&district, &[LICENCE], false, (0, 10)),
    )
    .await;
    assert_problem(&reply, 403, "not-authorized");
    // Scope wider than the accreditor's: degrees may be issued but not accredited; invoices not at all.
    assert_problem(
        &post(
            &app,
            "/registry/accreditations",
            agency.accredit(&district, &[LICENCE, DEGREE], false, (0, 10)),
        )
        .await,
        403,
        "not-authorized",
    );
    assert_problem(
        &post(
            &app,
            "/registry/accreditations",
            agency.accredit(&district, &[INVOICE], false, (0, 10)),
        )
        .await,
        403,
        "not-authorized",
    );
    // Outside the accreditor's validity window.
    assert_problem(
        &post(
            &app,
            "/registry/accreditations",
            agency.accredit(&district, &[LICENCE], false, (0, 500)),
        )
        .await,
        403,
        "not-authorized",
    );
    // A broken chain: the district was never accredited, so it cannot pass anything on.
    assert_problem(
        &post(
            &app,
            "/registry/accreditations",
            district.accredit(&stranger, &[LICENCE], false, (0, 10)),
        )
        .await,
        403,
        "not-authorized",
    );
    // Malformed claims.
    assert_problem(
        &post(
            &app,
            "/registry/accreditations",
            root.accredit(&agency, &[], false, (0, 10)),
        )
        .await,
        400,
        "invalid-accreditation",
    );
    assert_problem(
        &post(
            &app,
            "/registry/accreditations",
            root.accredit(&agency, &[LICENCE], false, (10, 0)),
        )
        .await,
        400,
        "invalid-accreditation",
    );
    assert_problem(
        &post(
            &app,
            "/registry/accreditations",
            root.accredit(&root, &[LICENCE], false, (0, 10)),
        )
        .await,
        400,
        "invalid-accreditation",
    );
    let unknown_member = root.sign(&json!({"type": "Accreditation", "subject": agency.did, "credentialTypes": [LICENCE],
        "validFrom": Utc::now().to_rfc3339(), "validUntil": (Utc::now() + Duration::days(1)).to_rfc3339(), "note": "x"}));
    assert_problem(
        &post(&app, "/registry/accreditations", unknown_member).await,
        400,
        "invalid-accreditation",
    );
    // Forged: signed with the wrong key.
    let forged = credence_registry::signed::sign(
        &json!({"type": "Accreditation"}),
        &root.owner.rotation,
        &format!("{}#key-1", root.did),
    );
    assert_problem(
        &post(&app, "/registry/accreditations", forged).await,
        400,
        "invalid-signature",
    );
    // Only the accreditor may revoke.
    let listed = get(&app, &format!("/registry/issuers/{}", agency.did))
        .await
        .body;
    let id = listed["accreditations"][0]["id"].as_str().unwrap();
    let by_stranger =
        stranger.sign(&json!({"type": "AccreditationRevocation", "accreditation": id}));
    assert_problem(
        &post(
            &app,
            &format!("/registry/accreditations/{id}/revoke"),
            by_stranger,
        )
        .await,
        403,
        "not-authorized",
    );
    let mismatched =
        root.sign(&json!({"type": "AccreditationRevocation", "accreditation": "other"}));
    assert_problem(
        &post(
            &app,
            &format!("/registry/accreditations/{id}/revoke"),
            mismatched,
        )
        .await,
        400,
        "invalid-accreditation",
    );
    assert_problem(
        &get(&app, "/registry/accreditations/nope").await,
        404,
        "accreditation-not-found",
    );
    assert_problem(
        &get(
            &app,
            &format!("/registry/issuers/{}/authorization", agency.did),
        )
        .await,
        400,
        "invalid-query",
    );
    assert_problem(
        &get(
            &app,
            &format!(
                "{}&at=yesterday",
                authorization_uri(&agency.did, LICENCE, None)
            ),
        )
        .await,
        400,
        "invalid-accreditation",
    );

    assert_eq!(
        backend.exclusive_log_size().await,
        size,
        "nothing was written"
    );
    for (party, count) in [(&root, 0), (&agency, 2), (&district, 0), (&stranger, 0)] {
        let listed = get(&app, &format!("/registry/issuers/{}", party.did))
            .await
            .body;
        let accreditations = listed["accreditations"].as_array().unwrap();
        assert_eq!(accreditations.len(), count, "{}: {listed}", backend.name);
        assert!(accreditations.iter().all(|a| a["revoked"].is_null()));
    }
}

/// An accreditation takes effect when it is recorded: an accreditor whose accreditation was
/// revoked cannot backdate a new one into the time it was still trusted, and nothing recorded
/// now answers for a past date.
#[tokio::test]
async fn accreditations_cannot_be_backdated() {
    for backend in backends().await {
        let (root, agency, district) = (Party::new(), Party::new(), Party::new());
        let app = setup(backend.store.clone(), &root, &[&agency, &district]).await;
        let to_agency = post(
            &app,
            "/registry/accreditations",
            root.accredit(&agency, &[LICENCE], true, (-30, 100)),
        )
        .await;
        assert_eq!(to_agency.status, 201, "{}", to_agency.body);
        // Recorded now, with validFrom a week ago: it answers from now, not from last week.
        let backdated = post(
            &app,
            "/registry/accreditations",
            agency.accredit(&district, &[LICENCE], false, (-7, 10)),
        )
        .await;
        assert_eq!(backdated.status, 201, "{}", backdated.body);
        assert!(backdated.body["recorded"].is_string());
        let yesterday = Utc::now() - Duration::days(1);
        let answer = get(
            &app,
            &authorization_uri(&district.did, LICENCE, Some(yesterday)),
        )
        .await
        .body;
        assert_eq!(answer["allowed"], false, "{answer}");
        assert_eq!(
            get(&app, &authorization_uri(&district.did, LICENCE, None))
                .await
                .body["allowed"],
            true
        );

        // Once revoked, the agency cannot accredit anyone, not even for last week.
        let id = to_agency.body["id"].as_str().unwrap();
        let revoked = post(
            &app,
            &format!("/registry/accreditations/{id}/revoke"),
            root.sign(&json!({"type": "AccreditationRevocation", "accreditation": id})),
        )
        .await;
        assert_eq!(revoked.status, 200, "{}", revoked.body);
        let size = backend.exclusive_log_size().await;
        let other = Party::new();
        assert_eq!(
            post_op(&app, "/registry/dids", &other.owner.genesis())
                .await
                .status,
            201
        );
        let size = size.map(|s| s + 1);
        assert_problem(
            &post(
                &app,
                "/registry/accreditations",
                agency.accredit(&other, &[LICENCE], false, (-7, 10)),
            )
            .await,
            403,
            "not-authorized",
        );
        assert_eq!(
            backend.exclusive_log_size().await,
            size,
            "nothing was written"
        );
        let listed = get(&app, &format!("/registry/issuers/{}", other.did))
            .await
            .body;
        assert_eq!(listed["accreditations"], json!([]), "{listed}");
    }
}

/// A client proves an accreditation from the log: it rebuilds the log entry from the served
/// accreditation and checks its inclusion against a verified checkpoint.
#[tokio::test]
async fn an_accreditation_is_provable_from_the_log() {
    use credence_registry::log::{self, Entry, LogHash};
    let backend = crate::support::sqlite().await;
    let (root, agency) = (Party::new(), Party::new());
    let app = setup(backend.store.clone(), &root, &[&agency]).await;
    let recorded = post(
        &app,
        "/registry/accreditations",
        root.accredit(&agency, &[LICENCE], false, (0, 10)),
    )
    .await
    .body;
    let (id, jws, index) = (
        recorded["id"].as_str().unwrap(),
        recorded["jws"].as_str().unwrap(),
        recorded["logIndex"].as_u64().unwrap(),
    );
    let leaf = log::leaf_hash(
        &Entry::Accreditation {
            id: id.to_owned(),
            jws: jws.to_owned(),
        }
        .to_bytes(),
    );
    let note = get(&app, "/registry/log/checkpoint")
        .await
        .body
        .as_str()
        .unwrap()
        .to_owned();
    let checkpoint = log::verify_checkpoint(&note, test_signer().verifier_key()).unwrap();
    let proof = get(
        &app,
        &format!(
            "/registry/log/proof/inclusion?index={index}&size={}",
            checkpoint.size
        ),
    )
    .await
    .body;
    let path: Vec<LogHash> = proof["proof"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| log::hash_from_base64(h.as_str().unwrap()).unwrap())
        .collect();
    log::check_inclusion(&path, checkpoint.size, checkpoint.root, index, leaf).unwrap();
    // A served accreditation that differs from what was logged would not verify.
    let altered = log::leaf_hash(
        &Entry::Accreditation {
            id: id.to_owned(),
            jws: format!("{jws}x"),
        }
        .to_bytes(),
    );
    assert!(log::check_inclusion(&path, checkpoint.size, checkpoint.root, index, altered).is_err());
}

/// Regression (issue 8, item 9): an accreditation of a well-formed did:credence that was never
/// registered was recorded and logged for ever. The subject must resolve; nothing is written.
#[tokio::test]
async fn an_accreditation_of_an_unregistered_did_is_refused_and_nothing_is_written() {
    for backend in backends().await {
        let (root, unregistered) = (Party::new(), Party::new());
        let app = setup(backend.store.clone(), &root, &[]).await;
        let size = backend.exclusive_log_size().await;
        assert_problem(
            &post(
                &app,
                "/registry/accreditations",
                root.accredit(&unregistered, &[LICENCE], false, (0, 10)),
            )
            .await,
            400,
            "invalid-accreditation",
        );
        assert_eq!(backend.exclusive_log_size().await, size, "{}", backend.name);
        let subject: credence_registry::did::Did = unregistered.did.parse().unwrap();
        assert!(
            backend
                .store
                .accreditations_for(&subject)
                .await
                .unwrap()
                .is_empty(),
            "{}: nothing recorded for the unregistered subject",
            backend.name
        );
    }
}

/// Regression (issue 8, item 9): revoking an accreditation that does not exist answered "DID
/// not found"; it is the accreditation that was not found.
#[tokio::test]
async fn revoking_an_unknown_accreditation_says_the_accreditation_was_not_found() {
    for backend in backends().await {
        let root = Party::new();
        let app = setup(backend.store.clone(), &root, &[]).await;
        let size = backend.exclusive_log_size().await;
        let id = "a".repeat(52);
        let revocation =
            root.sign(&json!({"type": "AccreditationRevocation", "accreditation": id}));
        let reply = post(
            &app,
            &format!("/registry/accreditations/{id}/revoke"),
            revocation,
        )
        .await;
        assert_problem(&reply, 404, "accreditation-not-found");
        assert_eq!(reply.body["title"], "Accreditation not found");
        assert_eq!(backend.exclusive_log_size().await, size, "{}", backend.name);
    }
}
