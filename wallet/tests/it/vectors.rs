//! IETF SD-JWT vectors (`testdata/sd-jwt/`, sources in its README and each `meta.json`):
//! every issuance parses; each reference presentation's Disclosures are exactly what the
//! wallet would present for the claims it discloses (parents included, RFC 9901 §6.3); our
//! `sd_hash` matches the reference KB-JWT's; the malformed ones are refused.

use std::collections::BTreeSet;
use std::path::PathBuf;

use credence_wallet::credentials::{SdJwtError, SdJwtVc};
use credence_wallet::present::{disclosures_for, sd_hash};
use serde_json::Value;

fn testdata() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("testdata/sd-jwt")
}

fn read(path: PathBuf) -> String {
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn reference_presentations_are_what_the_wallet_would_present() {
    let mut checked = 0;
    let mut with_kb = 0;
    let mut entries: Vec<_> = std::fs::read_dir(testdata())
        .expect("testdata")
        .map(|entry| entry.expect("entry").path())
        .filter(|path| path.join("meta.json").exists())
        .collect();
    entries.sort();
    for dir in entries {
        let name = dir
            .file_name()
            .expect("name")
            .to_string_lossy()
            .into_owned();
        let issuance = read(dir.join("sd_jwt_issuance.txt"));
        let presentation = read(dir.join("sd_jwt_presentation.txt"));
        let meta: Value = serde_json::from_str(&read(dir.join("meta.json"))).expect("meta");

        let sd_jwt = SdJwtVc::parse(&issuance).unwrap_or_else(|e| panic!("{name}: {e}"));
        let issued = issuance.trim_end_matches('~').split('~').count() - 1;
        let disclosable = sd_jwt
            .claims()
            .iter()
            .filter(|claim| claim.selectively_disclosable)
            .count();
        assert_eq!(disclosable, issued, "{name}: one claim per Disclosure");
        assert_eq!(
            Some(issued as u64),
            meta["disclosures_in_issuance"].as_u64(),
            "{name}"
        );

        let (presented, kb_jwt) = presentation.rsplit_once('~').expect("~");
        let reference: BTreeSet<&str> = presented.split('~').skip(1).collect();
        let chosen = sd_jwt
            .claims()
            .iter()
            .filter(|claim| {
                sd_jwt
                    .disclosure_of(&claim.path)
                    .is_some_and(|disclosure| reference.contains(disclosure))
            })
            .map(|claim| claim.path.clone())
            .collect();
        let ours: BTreeSet<&str> = disclosures_for(&sd_jwt, &chosen).into_iter().collect();
        assert_eq!(ours, reference, "{name}: Disclosures for {chosen:?}");

        if !kb_jwt.is_empty() {
            assert_eq!(
                meta["kb_jwt"]["sd_hash"].as_str(),
                Some(sd_hash(&format!("{presented}~")).as_str()),
                "{name}: sd_hash"
            );
            with_kb += 1;
        }
        checked += 1;
    }
    assert_eq!(
        (checked, with_kb),
        (18, 6),
        "every vector ran (6 use key binding)"
    );
}

#[test]
fn malformed_credentials_are_refused() {
    let negative = testdata().join("negative");
    let without_kb = |file: &str| {
        let text = read(negative.join(file));
        let (presented, _) = text.rsplit_once('~').expect("~").to_owned();
        format!("{presented}~")
    };
    fn check(input: &str, expected: fn(&SdJwtError) -> bool) {
        match SdJwtVc::parse(input) {
            Err(error) => assert!(expected(&error), "{input:.40}: {error:?}"),
            Ok(_) => panic!("{input:.40}: accepted"),
        }
    }
    check(&without_kb("unreferenced_disclosure.txt"), |e| {
        matches!(e, SdJwtError::UnreferencedDisclosure(_))
    });
    check(&without_kb("duplicate_disclosure.txt"), |e| {
        matches!(e, SdJwtError::DuplicateDisclosure(_))
    });
    let issued = read(testdata().join("sd-jwt-vc-01/sd_jwt_issuance.txt"));
    let presented = read(testdata().join("sd-jwt-vc-01/sd_jwt_presentation.txt"));
    check(&presented, |e| matches!(e, SdJwtError::KeyBindingPresent));
    check("no-tilde", |e| matches!(e, SdJwtError::NotCompact(_)));
    check("a.b~", |e| matches!(e, SdJwtError::NotCompact(_)));
    check(&format!("{issued}bm90IGpzb24~"), |e| {
        matches!(e, SdJwtError::InvalidDisclosure { .. })
    });
    check(&format!("{issued}WyJzYWx0Il0~"), |e| {
        matches!(e, SdJwtError::InvalidDisclosure { .. })
    });
}
