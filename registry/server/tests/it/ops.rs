//! did:credence rules, checked through the library API (`ops::apply`, `ops::replay`).

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use credence_registry::keys::{KeyError, KeyType, SecretKey};
use credence_registry::ops::{self, OpError, OperationBody, SignedOperation};
use serde_json::json;

use crate::support::Owner;

#[test]
fn genesis_derives_the_did_and_replay_reproduces_every_state() {
    for key_type in [KeyType::Ed25519, KeyType::P256] {
        let owner = Owner::new(key_type);
        let genesis = owner.genesis();
        let state = ops::apply(None, &genesis).expect("valid genesis");
        assert_eq!(state.did, ops::did_for_genesis(&genesis));
        assert!(state.did.as_str().starts_with("did:credence:"));
        assert_eq!(state.did.method_specific_id().len(), 32);
        let next = SecretKey::generate(key_type);
        let update = owner.update(&state.head, &next);
        let after = ops::apply(Some(&state), &update).expect("valid update");
        assert_eq!(after.rotation_keys, vec![next.public().to_did_key()]);
        let replayed = ops::replay(&[genesis, update]).expect("replay");
        assert_eq!(replayed.last(), Some(&after));
    }
}

#[test]
fn signature_by_a_key_that_is_not_a_rotation_key_is_refused() {
    let owner = Owner::new(KeyType::Ed25519);
    let state = ops::apply(None, &owner.genesis()).unwrap();
    let intruder = SecretKey::generate(KeyType::Ed25519);
    let forged = SignedOperation::sign(
        OperationBody::Deactivate {
            prev: state.head.clone(),
        },
        &intruder,
    );
    assert!(matches!(
        ops::apply(Some(&state), &forged),
        Err(OpError::NotARotationKey { .. })
    ));
    // A genesis signed by a key it does not list is refused too.
    let orphan = SignedOperation::sign(owner.create_body(), &intruder);
    assert!(matches!(
        ops::apply(None, &orphan),
        Err(OpError::NotARotationKey { .. })
    ));
}

#[test]
fn a_forged_signature_naming_a_real_rotation_key_is_refused() {
    let owner = Owner::new(KeyType::Ed25519);
    let state = ops::apply(None, &owner.genesis()).unwrap();
    let intruder = SecretKey::generate(KeyType::Ed25519);
    let mut forged = SignedOperation::sign(
        OperationBody::Deactivate {
            prev: state.head.clone(),
        },
        &intruder,
    );
    // Keep the intruder's signature but claim the owner's rotation key in the header.
    let header = URL_SAFE_NO_PAD
        .encode(json!({"alg": "EdDSA", "kid": owner.rotation.public().to_did_key()}).to_string());
    let signature = forged.sig.rsplit('.').next().unwrap().to_owned();
    forged.sig = format!("{header}..{signature}");
    assert!(matches!(
        ops::apply(Some(&state), &forged),
        Err(OpError::BadSignature(_))
    ));
}

#[test]
fn a_changed_body_no_longer_verifies() {
    let owner = Owner::new(KeyType::P256);
    let mut genesis = owner.genesis();
    if let OperationBody::Create { services, .. } = &mut genesis.body {
        services.push(ops::ServiceSpec {
            id: "x".into(),
            kind: "LinkedDomains".into(),
            service_endpoint: "https://evil.example".into(),
        });
    }
    assert!(matches!(
        ops::apply(None, &genesis),
        Err(OpError::BadSignature(_))
    ));
}

/// Regression for the did:plc 2023 incident: the (r, n - s) twin of a valid ES256 signature
/// would be a second valid operation with a different hash.
#[test]
fn high_s_es256_signatures_are_refused() {
    let owner = Owner::new(KeyType::P256);
    let genesis = owner.genesis();
    assert!(ops::apply(None, &genesis).is_ok());
    let (header, signature_b64) = genesis.sig.split_once("..").unwrap();
    let signature =
        p256::ecdsa::Signature::from_slice(&URL_SAFE_NO_PAD.decode(signature_b64).unwrap())
            .unwrap();
    let (r, s) = signature.split_scalars();
    let high =
        p256::ecdsa::Signature::from_scalars(r.to_bytes(), (-*s.as_ref()).to_bytes()).unwrap();
    assert!(
        high.normalize_s().is_some(),
        "test must build a high-S signature"
    );
    let mut twin = genesis.clone();
    twin.sig = format!("{header}..{}", URL_SAFE_NO_PAD.encode(high.to_bytes()));
    assert_ne!(twin.hash(), genesis.hash());
    let refused = ops::apply(None, &twin).unwrap_err();
    assert!(refused.to_string().contains("low-S"), "{refused}");
}

/// A signature whose base64url text has non-zero padding bits decodes to the same bytes but
/// would hash differently: refused.
#[test]
fn non_canonical_base64_signatures_are_refused() {
    let owner = Owner::new(KeyType::Ed25519);
    let genesis = owner.genesis();
    let mut twin = genesis.clone();
    let last = twin.sig.pop().unwrap();
    let alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let index = alphabet.find(last).unwrap();
    // 64 bytes = 86 characters with 4 unused low bits in the last one; set one of them.
    twin.sig.push(alphabet.as_bytes()[index ^ 1] as char);
    assert!(matches!(
        ops::apply(None, &twin),
        Err(OpError::BadSignature(_))
    ));
}

#[test]
fn small_order_ed25519_keys_are_refused() {
    // The identity point (y = 1) has order 1: every signature "verifies" under it.
    let mut bytes = vec![0xed, 0x01, 1];
    bytes.extend([0u8; 31]);
    let weak = format!(
        "did:key:{}",
        multibase::encode(multibase::Base::Base58Btc, &bytes)
    );
    assert_eq!(
        credence_registry::keys::PublicKey::from_did_key(&weak).unwrap_err(),
        KeyError::WeakKey
    );
    let owner = Owner::new(KeyType::Ed25519);
    let body = OperationBody::Create {
        rotation_keys: vec![owner.rotation.public().to_did_key(), weak],
        verification_methods: vec![],
        services: vec![],
    };
    let op = SignedOperation::sign(body, &owner.rotation);
    assert!(matches!(
        ops::apply(None, &op),
        Err(OpError::InvalidKey {
            error: KeyError::WeakKey,
            ..
        })
    ));
}

#[test]
fn stale_prev_and_operations_after_deactivation_are_refused() {
    let owner = Owner::new(KeyType::Ed25519);
    let genesis = owner.genesis();
    let v1 = ops::apply(None, &genesis).unwrap();
    let update = owner.update(&v1.head, &owner.rotation);
    let v2 = ops::apply(Some(&v1), &update).unwrap();
    // A second operation on the old head is a fork.
    let fork = owner.deactivate(&v1.head);
    assert!(matches!(
        ops::apply(Some(&v2), &fork),
        Err(OpError::StalePrev { .. })
    ));
    // Replaying the same update against the new head is stale too.
    assert!(matches!(
        ops::apply(Some(&v2), &update),
        Err(OpError::StalePrev { .. })
    ));
    let dead = ops::apply(Some(&v2), &owner.deactivate(&v2.head)).unwrap();
    assert!(dead.deactivated);
    assert_eq!(
        ops::document(&dead),
        json!({
            "@context": ["https://www.w3.org/ns/did/v1", "https://w3id.org/security/multikey/v1", "https://w3id.org/security/jwk/v1"],
            "id": dead.did.as_str(),
        })
    );
    assert_eq!(
        ops::apply(Some(&dead), &owner.update(&dead.head, &owner.rotation)),
        Err(OpError::Deactivated)
    );
    // A create can never follow.
    assert!(matches!(
        ops::apply(Some(&v2), &genesis),
        Err(OpError::WrongKind(_))
    ));
}

#[test]
fn malformed_operations_are_refused_before_any_signature_work() {
    let owner = Owner::new(KeyType::Ed25519);
    let genesis = serde_json::to_value(owner.genesis()).unwrap();
    let check = |mutate: &dyn Fn(&mut serde_json::Value)| {
        let mut value = genesis.clone();
        mutate(&mut value);
        SignedOperation::from_value(value).and_then(|op| ops::apply(None, &op).map(|_| ()))
    };
    let service = |kind: &str, endpoint: &str| json!([{"id": "s", "type": kind, "serviceEndpoint": endpoint}]);
    let too_many: Vec<_> = (0..11)
        .map(
            |i| json!({"id": format!("s{i}"), "type": "T", "serviceEndpoint": "https://a.example"}),
        )
        .collect();
    let rotation_key = genesis["rotationKeys"][0].clone();
    // (what is wrong, the mutation, words the refusal must contain: the rule it names)
    type Mutation = Box<dyn Fn(&mut serde_json::Value)>;
    let cases: Vec<(&str, Mutation, &str)> = vec![
        (
            "unknown operation type",
            Box::new(|v| v["type"] = json!("recover")),
            "unknown variant `recover`",
        ),
        (
            "unknown member",
            Box::new(|v| v["extra"] = json!(1)),
            "unknown field `extra`",
        ),
        (
            "missing signature",
            Box::new(|v| {
                v.as_object_mut().unwrap().remove("sig");
            }),
            "missing field `sig`",
        ),
        (
            "no rotation key",
            Box::new(|v| v["rotationKeys"] = json!([])),
            "rotation keys",
        ),
        (
            "a rotation key twice",
            Box::new(move |v| v["rotationKeys"] = json!([rotation_key, rotation_key])),
            "listed twice",
        ),
        (
            "no purpose",
            Box::new(|v| v["verificationMethods"][0]["purposes"] = json!([])),
            "needs at least one purpose",
        ),
        (
            "bad fragment",
            Box::new(|v| v["verificationMethods"][0]["id"] = json!("a b")),
            "must be 1..64 characters",
        ),
        (
            "unknown VM member",
            Box::new(|v| v["verificationMethods"][0]["extra"] = json!(true)),
            "unknown field `extra`",
        ),
        (
            "endpoint not a URL",
            Box::new(move |v| v["services"] = service("T", "not a url")),
            "serviceEndpoint",
        ),
        (
            "javascript endpoint",
            Box::new(move |v| v["services"] = service("T", "javascript:alert(1)")),
            "serviceEndpoint",
        ),
        (
            "too many services",
            Box::new(move |v| v["services"] = json!(too_many)),
            "at most 10 services",
        ),
        (
            "type with a space",
            Box::new(move |v| v["services"] = service("Linked Domains", "https://a.example")),
            "service type must be",
        ),
        (
            "oversized",
            Box::new(move |v| v["services"] = service(&"x".repeat(9000), "https://a.example")),
            "exceeds",
        ),
    ];
    for (what, mutate, expected) in &cases {
        match check(mutate.as_ref()) {
            Err(OpError::Malformed(detail)) => {
                assert!(
                    detail.contains(expected),
                    "{what}: {detail:?} does not say {expected:?}"
                )
            }
            other => panic!("{what}: expected Malformed, got {other:?}"),
        }
    }
    // Rotation keys must be did:keys of a signing type we support.
    let bad_key = check(&|v| {
        v["rotationKeys"] = json!(["did:key:zQ3shokFTS3brHcDQrn82RUDfCZESWL1ZdCEJwekUDPQiYBme"])
    });
    assert!(
        matches!(bad_key, Err(OpError::InvalidKey { .. })),
        "{bad_key:?}"
    );
}
