//! Our `Resolver` through `ssi`'s `DIDResolver` trait, as `ssi`'s verifiers will call it.

use std::sync::Arc;

use credence_registry::keys::{KeyType, SecretKey};
use credence_registry::resolver::{CredenceSource, Resolver};
use credence_registry_server::registry::Registry;
use credence_registry_server::store::WriteLimits;
use ssi_dids_core::{DIDBuf, DIDResolver};

use crate::support::{Owner, sqlite};

#[tokio::test]
async fn ssi_resolves_did_key_and_did_credence_through_our_resolver() {
    let backend = sqlite().await;
    let registry = Arc::new(Registry::new(backend.store.clone(), WriteLimits::default()));
    let resolver = Resolver::new(CredenceSource::Local(registry.clone()), Default::default());

    let key = SecretKey::generate(KeyType::Ed25519).public().to_did_key();
    let did = DIDBuf::new(key.clone().into_bytes()).unwrap();
    let output = DIDResolver::resolve(&resolver, &did)
        .await
        .expect("did:key resolves");
    assert_eq!(output.document.id.as_str(), key);
    assert_eq!(output.document.verification_method.len(), 1);

    let owner = Owner::new(KeyType::P256);
    let resolution = registry
        .submit(None, &serde_json::to_vec(&owner.genesis()).unwrap())
        .await
        .unwrap();
    let id = resolution.document["id"].as_str().unwrap().to_owned();
    let did = DIDBuf::new(id.clone().into_bytes()).unwrap();
    let output = DIDResolver::resolve(&resolver, &did)
        .await
        .expect("did:credence resolves");
    assert_eq!(output.document.id.as_str(), id);
    assert_eq!(
        output.document.verification_method[0]
            .id
            .fragment()
            .map(|f| f.as_str()),
        Some("key-1")
    );

    let unknown = DIDBuf::new(b"did:credence:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa".to_vec()).unwrap();
    assert!(matches!(
        DIDResolver::resolve(&resolver, &unknown).await,
        Err(ssi_dids_core::resolution::Error::NotFound)
    ));
    let unsupported = DIDBuf::new(b"did:example:123".to_vec()).unwrap();
    assert!(matches!(
        DIDResolver::resolve(&resolver, &unsupported).await,
        Err(ssi_dids_core::resolution::Error::MethodNotSupported(_))
    ));
}
