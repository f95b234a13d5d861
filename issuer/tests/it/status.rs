//! Issuer-side status lists: random allocation without reuse, status changes, and the signed
//! lists read back with the registry's own parser (`credence_registry::status::parse_claims`,
//! the one publication runs).

use std::collections::{HashMap, HashSet};

use chrono::Duration;
use credence_issuer::status::{
    DEFAULT_ENTRIES, IssuerStatusList, Status, StatusError, StatusIndex, StatusListUri,
    StatusPurpose, Ttl,
};
use credence_registry::did::Did;
use credence_registry::keys::KeyType;
use credence_registry::status::{StatusFormat, check_list_uri, parse_claims};
use rand::Rng as _;

use crate::{decode_jwt, issuer_key, now};

fn list_of(issuer: &Did) -> IssuerStatusList {
    let uri = StatusListUri::for_list("https://registry.example", issuer, "list-1").expect("uri");
    IssuerStatusList::new(issuer.clone(), uri, DEFAULT_ENTRIES).expect("list")
}

#[test]
fn allocation_is_random_without_reuse_and_warns_before_exhaustion() {
    let issuer = Did::parse("did:credence:issuer1").expect("did");
    let mut list = list_of(&issuer);
    let mut seen = HashSet::new();
    let mut order = Vec::new();
    let mut first_nearly_full = None;
    for n in 0..DEFAULT_ENTRIES {
        assert!(!list.is_nearly_full() || first_nearly_full.is_some());
        let index = list.allocate().expect("a free index");
        assert!(index.get() < DEFAULT_ENTRIES);
        assert!(seen.insert(index), "index {index} handed out twice");
        order.push(index.get());
        if first_nearly_full.is_none() && list.is_nearly_full() {
            first_nearly_full = Some(n + 1);
        }
    }
    assert_eq!(seen.len(), DEFAULT_ENTRIES as usize);
    assert_eq!(list.remaining(), 0);
    // Not sequential: the first 100 indexes are not an increasing run (chance 1/100!).
    assert!(
        order[..100].windows(2).any(|w| w[0] > w[1]),
        "{:?}",
        &order[..100]
    );
    // Nor clustered at the start: the first 1000 spread over the whole list.
    assert!(order[..1000].iter().any(|&i| i > DEFAULT_ENTRIES / 2));
    assert!(order[..1000].iter().any(|&i| i < DEFAULT_ENTRIES / 2));
    // Trips when fewer than a tenth are free, long before the list is exhausted.
    let tripped = first_nearly_full.expect("is_nearly_full tripped");
    assert_eq!(tripped, DEFAULT_ENTRIES - DEFAULT_ENTRIES / 10 + 1);
    assert!(matches!(
        list.allocate(),
        Err(StatusError::ListFull {
            entries: DEFAULT_ENTRIES,
            ..
        })
    ));
}

#[test]
fn status_changes() {
    let issuer = Did::parse("did:credence:issuer1").expect("did");
    let mut list = list_of(&issuer);
    let index = list.allocate().expect("index");
    let never = StatusIndex::new(
        (0..DEFAULT_ENTRIES)
            .find(|&i| i != index.get())
            .expect("other"),
    );
    let mut check = |index: StatusIndex, status: Status, expected: Result<Status, StatusError>| {
        assert_eq!(list.set(index, status), expected, "{index} -> {status:?}");
    };
    check(index, Status::Suspended, Ok(Status::Valid));
    check(index, Status::Valid, Ok(Status::Suspended));
    check(index, Status::Invalid, Ok(Status::Valid));
    check(index, Status::Invalid, Ok(Status::Invalid));
    check(
        index,
        Status::Valid,
        Err(StatusError::AlreadyRevoked(index.get())),
    );
    check(
        index,
        Status::Suspended,
        Err(StatusError::AlreadyRevoked(index.get())),
    );
    check(
        never,
        Status::Invalid,
        Err(StatusError::NotAllocated(never.get())),
    );
    check(
        StatusIndex::new(DEFAULT_ENTRIES),
        Status::Invalid,
        Err(StatusError::IndexOutOfRange {
            index: DEFAULT_ENTRIES,
            entries: DEFAULT_ENTRIES,
        }),
    );
    assert_eq!(list.status(index), Ok(Status::Invalid));
}

#[test]
fn lists_too_small_or_of_another_issuer_are_refused() {
    let issuer = Did::parse("did:credence:issuer1").expect("did");
    let uri = StatusListUri::for_list("https://registry.example", &issuer, "l").expect("uri");
    assert_eq!(
        IssuerStatusList::new(issuer.clone(), uri.clone(), DEFAULT_ENTRIES - 1).map(|_| ()),
        Err(StatusError::TooFewEntries {
            entries: DEFAULT_ENTRIES - 1,
            min: DEFAULT_ENTRIES
        })
    );
    let list = IssuerStatusList::new(issuer, uri, DEFAULT_ENTRIES).expect("list");
    let stranger = issuer_key(KeyType::Ed25519);
    assert!(matches!(
        list.token_status_list_jwt(&stranger, now(), Ttl { seconds: 300 }),
        Err(StatusError::SignerNotListIssuer { .. })
    ));
}

/// A list with statuses 0, 1 and 2 at random allocated indexes, signed in both formats, must
/// pass the registry's URI check and parser and decode back to the same statuses.
#[test]
fn signed_lists_round_trip_through_the_registry_parser() {
    for key_type in [KeyType::Ed25519, KeyType::P256] {
        let key = issuer_key(key_type);
        let mut list = list_of(key.issuer());
        let mut expected = HashMap::new();
        for n in 0..3000 {
            let index = list.allocate().expect("index");
            let status = [Status::Valid, Status::Invalid, Status::Suspended][n % 3];
            list.set(index, status).expect("set");
            expected.insert(index, status);
        }
        let at = |index: StatusIndex| expected.get(&index).copied().unwrap_or(Status::Valid);
        let ttl = Ttl { seconds: 600 };

        let jwt = list
            .token_status_list_jwt(&key, now(), ttl)
            .expect("token list");
        key.public().verify_jws(&jwt, None).expect("signature");
        let (header, payload) = decode_jwt(&jwt);
        assert_eq!(header["typ"], "statuslist+jwt");
        let claims = parse_claims(&header, &payload).expect("registry accepts the token list");
        assert_eq!(claims.format, StatusFormat::TokenStatusListJwt);
        assert_eq!(claims.uri, list.uri().as_str());
        assert_eq!(&claims.issuer, key.issuer());
        assert_eq!(claims.issued, now());
        assert_eq!(claims.ttl_seconds, 600);
        check_list_uri(&claims.uri, &claims.issuer).expect("registry's URI rule");
        assert_eq!(claims.list.bits(), 2);
        assert_eq!(claims.list.len(), u64::from(DEFAULT_ENTRIES));
        for i in 0..DEFAULT_ENTRIES {
            let status = at(StatusIndex::new(i));
            assert_eq!(
                claims.list.status(u64::from(i)),
                Some(status.code()),
                "token list entry {i}"
            );
        }

        for purpose in [StatusPurpose::Revocation, StatusPurpose::Suspension] {
            let jwt = list
                .bitstring_status_list_jwt(&key, purpose, now() + Duration::seconds(1), ttl)
                .expect("bitstring list");
            key.public().verify_jws(&jwt, None).expect("signature");
            let (header, payload) = decode_jwt(&jwt);
            assert_eq!(header["typ"], "vc+jwt");
            assert_eq!(
                payload["credentialSubject"]["statusPurpose"],
                purpose.name()
            );
            let claims = parse_claims(&header, &payload).expect("registry accepts the bitstring");
            assert_eq!(claims.format, StatusFormat::BitstringVcJwt);
            assert_eq!(claims.uri, list.bitstring_uri(purpose).as_str());
            assert_eq!(claims.issued, now() + Duration::seconds(1));
            assert_eq!(claims.ttl_seconds, 600);
            check_list_uri(&claims.uri, &claims.issuer).expect("registry's URI rule");
            assert_eq!(
                (claims.list.bits(), claims.list.len()),
                (1, u64::from(DEFAULT_ENTRIES))
            );
            let set = match purpose {
                StatusPurpose::Revocation => Status::Invalid,
                StatusPurpose::Suspension => Status::Suspended,
            };
            for i in 0..DEFAULT_ENTRIES {
                let bit = u8::from(at(StatusIndex::new(i)) == set);
                assert_eq!(
                    claims.list.status(u64::from(i)),
                    Some(bit),
                    "{purpose:?} entry {i}"
                );
            }
        }
    }
}

#[test]
fn restored_lists_keep_statuses_and_never_reuse_an_index() {
    let key = issuer_key(KeyType::Ed25519);
    let mut list = list_of(key.issuer());
    let recorded: Vec<(StatusIndex, Status)> = (0..500)
        .map(|n| {
            (
                list.allocate().expect("index"),
                [Status::Valid, Status::Suspended][n % 2],
            )
        })
        .collect();
    let restored = || {
        IssuerStatusList::restore(
            key.issuer().clone(),
            list.uri().clone(),
            DEFAULT_ENTRIES,
            recorded.clone(),
        )
    };
    let mut again = restored().expect("restored");
    assert_eq!(again.remaining(), DEFAULT_ENTRIES - 500);
    for (index, status) in &recorded {
        assert_eq!(again.status(*index), Ok(*status));
    }
    let taken: HashSet<StatusIndex> = recorded.iter().map(|(i, _)| *i).collect();
    while let Ok(index) = again.allocate() {
        assert!(!taken.contains(&index), "{index} reused");
    }

    let mut twice = recorded.clone();
    twice.push(recorded[0]);
    assert_eq!(
        IssuerStatusList::restore(
            key.issuer().clone(),
            list.uri().clone(),
            DEFAULT_ENTRIES,
            twice
        )
        .map(|_| ()),
        Err(StatusError::AllocatedTwice(recorded[0].0.get()))
    );
}

/// Statuses that do not compress (random over the whole list) make a long list larger than
/// the registry accepts: a typed error here, not a refusal at publication. (At 131,072 entries
/// even random statuses fit: about 1.6 bits of entropy each, 46 KiB once signed.)
#[test]
fn incompressible_lists_are_refused_before_publication() {
    let key = issuer_key(KeyType::Ed25519);
    let uri =
        StatusListUri::for_list("https://registry.example", key.issuer(), "noisy").expect("uri");
    let mut rng = rand::thread_rng();
    let entries = 2 * DEFAULT_ENTRIES;
    let statuses = (0..entries).map(|i| {
        let status = [Status::Valid, Status::Invalid, Status::Suspended][rng.gen_range(0..3)];
        (StatusIndex::new(i), status)
    });
    let list =
        IssuerStatusList::restore(key.issuer().clone(), uri, entries, statuses).expect("list");
    assert!(matches!(
        list.token_status_list_jwt(&key, now(), Ttl { seconds: 60 }),
        Err(StatusError::EncodedTooLarge { .. })
    ));
}

/// One status entry, two envelopes: a `dc+sd-jwt` and a `vc+jwt` issued with the same index
/// are both revoked by one `set`, as the registry reads the published lists.
#[test]
fn envelopes_sharing_an_entry_revoke_together() {
    use credence_issuer::claims::Claims;
    use credence_issuer::sd_jwt::{self, Decoys, SdJwtVcRequest, Vct};
    use credence_issuer::vc_jwt::{self, CredentialType, VcJwtRequest};
    use credence_registry::keys::SecretKey;
    use serde_json::json;

    let key = issuer_key(KeyType::Ed25519);
    let mut list = list_of(key.issuer());
    let index = list.allocate().expect("index");
    let claims = Claims::from_value(json!({"licence": "B-123"})).expect("object");
    let sd_jwt = sd_jwt::issue(
        &key,
        &SdJwtVcRequest {
            vct: Vct::parse("BusinessLicence").expect("vct"),
            holder: SecretKey::generate(KeyType::Ed25519).public(),
            status: Some(list.token_reference(index)),
            not_before: None,
            expires: None,
            claims: claims.clone(),
            disclosable: vec![],
            decoys: Decoys::default(),
        },
        now(),
    )
    .expect("sd-jwt");
    let vc = vc_jwt::issue(
        &key,
        &VcJwtRequest {
            id: None,
            credential_type: CredentialType::parse("BusinessLicence").expect("type"),
            holder: None,
            subject: claims,
            valid_from: None,
            valid_until: None,
            status: vec![list.bitstring_entry(index, StatusPurpose::Revocation)],
        },
        now(),
    )
    .expect("vc+jwt");
    list.set(index, Status::Invalid).expect("revoke");

    let (_, sd_payload) = decode_jwt(sd_jwt.jwt());
    let reference = &sd_payload["status"]["status_list"];
    let token = list
        .token_status_list_jwt(&key, now(), Ttl { seconds: 60 })
        .expect("list");
    let (header, payload) = decode_jwt(&token);
    let token_list = parse_claims(&header, &payload).expect("token list");
    assert_eq!(reference["uri"], token_list.uri.as_str());
    let idx = reference["idx"].as_u64().expect("idx");
    assert_eq!(token_list.list.status(idx), Some(Status::Invalid.code()));

    let (_, vc_payload) = decode_jwt(&vc);
    let entry = &vc_payload["credentialStatus"];
    let bitstring = list
        .bitstring_status_list_jwt(&key, StatusPurpose::Revocation, now(), Ttl { seconds: 60 })
        .expect("list");
    let (header, payload) = decode_jwt(&bitstring);
    let bitstring_list = parse_claims(&header, &payload).expect("bitstring list");
    assert_eq!(entry["statusListCredential"], bitstring_list.uri.as_str());
    let position: u64 = entry["statusListIndex"]
        .as_str()
        .expect("string")
        .parse()
        .expect("integer");
    assert_eq!(position, idx);
    assert_eq!(bitstring_list.list.status(position), Some(1));
}
