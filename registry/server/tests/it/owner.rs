//! The DID owner's protocols (`owner::create`, `owner::rotate`) through the library, against a
//! registry on loopback, including the crashes they are built to survive: a creation whose
//! answer was lost or never came, a rotation that died after or before the registry accepted
//! it. (Issue 10: this logic lived untested in the CLI.)

use credence_registry::client::RegistryClient;
use credence_registry::keys::KeyType;
use credence_registry::ops::{self, ServiceSpec};
use credence_registry::owner::{CreateError, KeyDir, OwnerKeys, Rotated, create, rotate};
use credence_registry::wire::VersionSelector;
use credence_registry_server::store::WriteLimits;

use crate::support::{backends, serve_on_loopback, test_app};

/// A registry on loopback over `store`, and a client for it.
async fn registry(
    store: std::sync::Arc<dyn credence_registry_server::store::DidStore>,
) -> RegistryClient {
    let base = serve_on_loopback(test_app(store, WriteLimits::default())).await;
    RegistryClient::new(&format!("{base}/registry")).unwrap()
}

/// A registry URL nobody answers at (a port bound, then released).
async fn unreachable() -> RegistryClient {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    drop(listener);
    RegistryClient::new(&format!("http://{address}/registry")).unwrap()
}

fn site() -> Vec<ServiceSpec> {
    vec![ServiceSpec {
        id: "site".into(),
        kind: "LinkedDomains".into(),
        service_endpoint: "https://agency.example".into(),
    }]
}

#[tokio::test]
async fn create_registers_once_and_survives_a_lost_or_missing_answer() {
    for backend in backends().await {
        let name = backend.name;
        let client = registry(backend.store.clone()).await;

        // The plain case.
        let dir = tempfile::tempdir().unwrap();
        let keys = KeyDir::new(dir.path().join("k"));
        let created = create(&client, &keys, KeyType::Ed25519, site())
            .await
            .unwrap();
        assert!(!created.resumed);
        assert_eq!(keys.did().unwrap(), created.did, "{name}");
        let resolved = client
            .resolve(&created.did, &VersionSelector::Latest)
            .await
            .unwrap();
        assert_eq!(
            resolved.document["service"][0]["serviceEndpoint"],
            "https://agency.example"
        );
        // A directory that holds a DID is not created again.
        assert!(matches!(
            create(&client, &keys, KeyType::Ed25519, site()).await,
            Err(CreateError::Keys(_))
        ));

        // No answer at all: keys and genesis kept; the same call against the registry finishes
        // the very DID the saved genesis defines.
        let unfinished = KeyDir::new(dir.path().join("u"));
        let error = create(&unreachable().await, &unfinished, KeyType::P256, site())
            .await
            .unwrap_err();
        assert!(
            matches!(error, CreateError::Unfinished(_)),
            "{name}: {error:?}"
        );
        assert!(
            unfinished.did().is_err(),
            "no DID saved before the registry took it"
        );
        let saved_keys = unfinished.load_keys().unwrap();
        let expected = ops::did_for_genesis(&saved_keys.genesis(site()));
        let finished = create(&client, &unfinished, KeyType::P256, Vec::new())
            .await
            .unwrap();
        assert!(finished.resumed);
        assert_eq!(
            finished.did, expected,
            "{name}: resumed with the saved genesis"
        );

        // The registry took it, and its answer was lost: the next call recognises the replay.
        let lost = KeyDir::new(dir.path().join("l"));
        let (genesis, _) = lost.begin_creation(KeyType::Ed25519, Vec::new()).unwrap();
        client.create(&genesis).await.unwrap();
        let recovered = create(&client, &lost, KeyType::Ed25519, Vec::new())
            .await
            .unwrap();
        assert_eq!(recovered.did, ops::did_for_genesis(&genesis), "{name}");
        assert_eq!(lost.did().unwrap(), recovered.did);
    }
}

#[tokio::test]
async fn a_refused_creation_leaves_the_directory_as_it_was() {
    let backend = crate::support::sqlite().await;
    let client = registry(backend.store.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    let keys = KeyDir::new(dir.path().join("k"));
    let unsafe_service = vec![ServiceSpec {
        id: "x".into(),
        kind: "LinkedDomains".into(),
        service_endpoint: "javascript:alert(1)".into(),
    }];
    let error = create(&client, &keys, KeyType::Ed25519, unsafe_service)
        .await
        .unwrap_err();
    let CreateError::Refused { error, kept } = error else {
        panic!("expected a refusal, got {error:?}");
    };
    assert!(!kept);
    assert_eq!(error.problem().status, 400);
    assert!(
        keys.load_keys().is_err(),
        "keys of a refused creation are removed"
    );
    // A corrected command starts afresh in the same directory.
    create(&client, &keys, KeyType::Ed25519, site())
        .await
        .unwrap();
}

#[tokio::test]
async fn rotation_survives_a_crash_after_or_before_the_registry_accepted_it() {
    for backend in backends().await {
        let name = backend.name;
        let client = registry(backend.store.clone()).await;
        let dir = tempfile::tempdir().unwrap();
        let keys = KeyDir::new(dir.path().join("k"));
        let did = create(&client, &keys, KeyType::Ed25519, site())
            .await
            .unwrap()
            .did;
        let rotation_key = |keys: &OwnerKeys| keys.rotation.public().to_did_key();
        let registered = || async { client.owner_state(&did).await.unwrap().rotation_keys };

        // A plain rotation: fresh keys, registered, installed; services kept.
        let before = keys.load_keys().unwrap();
        let Rotated::Submitted(resolution) = rotate(&client, &keys, KeyType::P256).await.unwrap()
        else {
            panic!("{name}: expected a submitted rotation");
        };
        let after = keys.load_keys().unwrap();
        assert_ne!(rotation_key(&after), rotation_key(&before));
        assert_eq!(registered().await, vec![rotation_key(&after)], "{name}");
        assert_eq!(
            resolution.document["service"][0]["id"],
            format!("{did}#site")
        );

        // Died after the registry accepted: the pending keys control the DID; the next call
        // installs them and submits nothing.
        let head = client.owner_state(&did).await.unwrap().head;
        let next = OwnerKeys::generate(KeyType::Ed25519);
        keys.save_pending(&next).unwrap();
        client
            .submit(&did, &after.update(head, &next, site()))
            .await
            .unwrap();
        assert_eq!(
            rotate(&client, &keys, KeyType::Ed25519).await.unwrap(),
            Rotated::FinishedInterrupted,
            "{name}"
        );
        assert_eq!(
            rotation_key(&keys.load_keys().unwrap()),
            rotation_key(&next)
        );
        assert_eq!(registered().await, vec![rotation_key(&next)]);

        // Died before the registry saw it: the pending keys are set aside, fresh ones used.
        let orphan = OwnerKeys::generate(KeyType::Ed25519);
        keys.save_pending(&orphan).unwrap();
        let Rotated::Submitted(_) = rotate(&client, &keys, KeyType::Ed25519).await.unwrap() else {
            panic!("{name}: expected a submitted rotation");
        };
        let installed = keys.load_keys().unwrap();
        assert_ne!(rotation_key(&installed), rotation_key(&orphan));
        assert_ne!(rotation_key(&installed), rotation_key(&next));
        assert_eq!(registered().await, vec![rotation_key(&installed)], "{name}");
        let abandoned = std::fs::read_dir(dir.path().join("k/retired"))
            .unwrap()
            .filter_map(Result::ok)
            .filter(|entry| {
                entry
                    .file_name()
                    .to_string_lossy()
                    .starts_with("abandoned-")
            })
            .count();
        assert_eq!(abandoned, 1, "{name}");
    }
}
