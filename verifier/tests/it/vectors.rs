//! The IETF SD-JWT (RFC 9901) and SD-JWT VC examples, and the negative set built from them
//! (`testdata/sd-jwt/`, sources in `testdata/README.md`), through `sd_jwt`'s checks with the
//! example issuer key given directly: these issuers are https URLs with plain `kid`s, not DIDs,
//! so the pipeline's DID rules do not apply; every other rule does.

use std::path::PathBuf;

use chrono::{Duration, TimeZone as _, Utc};
use credence_registry::keys::PublicKey;
use credence_verifier::Defect;
use credence_verifier::sd_jwt::{self, KeyBindingExpectations};
use serde_json::Value;

const NONCE: &str = "1234567890";

fn dir(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("testdata/sd-jwt")
        .join(name)
}

fn read_json(path: PathBuf) -> Value {
    serde_json::from_str(&std::fs::read_to_string(&path).expect("read")).expect("json")
}

/// Every check an SD-JWT verifier makes, in order; the processed payload or the first defect.
fn verify(name: &str, presentation: &str) -> Result<Value, Defect> {
    let meta = read_json(dir(name).join("meta.json"));
    let typ: &'static str = match meta["issuer_jwt_header"]["typ"].as_str().unwrap() {
        "dc+sd-jwt" => "dc+sd-jwt",
        "example+sd-jwt" => "example+sd-jwt",
        other => panic!("unexpected typ {other}"),
    };
    let issuer = PublicKey::from_jwk(&read_json(dir(name).join("issuer.jwk.json"))).unwrap();
    let parsed = sd_jwt::parse(presentation, typ)?;
    parsed
        .issuer_jwt
        .verify(&issuer)
        .map_err(Defect::BadSignature)?;
    let processed = sd_jwt::process(&parsed.issuer_jwt.payload, &parsed.disclosures)?;
    if meta["key_binding"] == true {
        let iat = meta["kb_jwt"]["iat"].as_i64().unwrap();
        let now = Utc.timestamp_opt(iat + 60, 0).unwrap();
        sd_jwt::check_times(&parsed.issuer_jwt.payload, now, Duration::seconds(60))?;
        let holder = sd_jwt::holder_key(&parsed.issuer_jwt.payload)?;
        sd_jwt::check_key_binding(
            &parsed,
            &holder,
            &KeyBindingExpectations {
                nonce: NONCE,
                audience: meta["kb_jwt"]["aud"].as_str().unwrap(),
                now,
                max_age: Duration::minutes(5),
                leeway: Duration::seconds(60),
            },
        )?;
    } else {
        assert!(parsed.key_binding.is_none(), "{name}");
    }
    Ok(processed.claims)
}

const EXAMPLES: [&str; 18] = [
    "simple",
    "simple_structured",
    "complex_ekyc",
    "complex_eidas",
    "arf-pid",
    "address_only_flat",
    "address_only_structured",
    "address_only_structured_one_open",
    "address_only_recursive",
    "jsonld",
    "w3c-vc",
    "sd-jwt-vc-01",
    "sd-jwt-vc-02-no-kb",
    "sd-jwt-vc-03-pid",
    "refimpl-recursions",
    "refimpl-array_recursive_sd",
    "refimpl-array_of_nulls",
    "refimpl-object_data_types",
];

/// RFC 9901 §7.1: the processed payload equals the one the reference implementation outputs.
#[test]
fn every_example_verifies_to_the_expected_payload() {
    for name in EXAMPLES {
        let presentation =
            std::fs::read_to_string(dir(name).join("sd_jwt_presentation.txt")).unwrap();
        let claims = verify(name, &presentation).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(
            claims,
            read_json(dir(name).join("expected_verified_payload.json")),
            "{name}"
        );
    }
}

/// `negative/README.md`: five presentations with one defect each; two of them a popular
/// library wrongly accepts.
#[test]
fn the_negative_set_is_rejected_for_the_right_reason() {
    fn check(file: &str, expected: fn(&Defect) -> bool) {
        let text = std::fs::read_to_string(dir("negative").join(file)).unwrap();
        let result = verify("sd-jwt-vc-01", &text);
        assert!(
            matches!(&result, Err(defect) if expected(defect)),
            "{file}: {result:?}"
        );
    }
    check(
        "unreferenced_disclosure.txt",
        |d| matches!(d, Defect::UnreferencedDisclosure { index: 2, claim } if claim == "given_name"),
    );
    check("duplicate_disclosure.txt", |d| {
        matches!(d, Defect::DuplicateDisclosure { .. })
    });
    check("kb_wrong_sd_hash.txt", |d| {
        matches!(d, Defect::SdHashMismatch)
    });
    check("kb_wrong_key.txt", |d| {
        matches!(d, Defect::KeyBindingSignature(_))
    });
    check("issuer_sig_flipped_byte.txt", |d| {
        matches!(d, Defect::BadSignature(_))
    });
}

/// The same example with the wrong nonce, audience or time fails at the key-binding check.
#[test]
fn the_example_key_binding_is_bound_to_nonce_audience_and_time() {
    let name = "sd-jwt-vc-01";
    let text = std::fs::read_to_string(dir(name).join("sd_jwt_presentation.txt")).unwrap();
    let parsed = sd_jwt::parse(&text, "dc+sd-jwt").unwrap();
    let holder = sd_jwt::holder_key(&parsed.issuer_jwt.payload).unwrap();
    let at = |seconds: i64| Utc.timestamp_opt(1_787_325_881 + seconds, 0).unwrap();
    let check = |nonce, audience, now, expected: fn(&Defect) -> bool| {
        let expect = KeyBindingExpectations {
            nonce,
            audience,
            now,
            max_age: Duration::minutes(5),
            leeway: Duration::seconds(60),
        };
        let result = sd_jwt::check_key_binding(&parsed, &holder, &expect);
        assert!(
            matches!(&result, Err(d) if expected(d)),
            "{nonce} {audience} {now}: {result:?}"
        );
    };
    let aud = "https://example.com/verifier";
    check("123456789", aud, at(60), |d| {
        matches!(d, Defect::NonceMismatch)
    });
    check(NONCE, "https://example.com/verifier2", at(60), |d| {
        matches!(d, Defect::AudienceMismatch { .. })
    });
    check(NONCE, aud, at(6 * 60 + 61), |d| {
        matches!(d, Defect::KeyBindingStale { .. })
    });
    check(NONCE, aud, at(-61), |d| {
        matches!(d, Defect::KeyBindingStale { .. })
    });
    // Parsed as an SD-JWT VC, an `example+sd-jwt` example is refused by its typ.
    let simple = std::fs::read_to_string(dir("simple").join("sd_jwt_presentation.txt")).unwrap();
    assert!(matches!(
        sd_jwt::parse(&simple, "dc+sd-jwt"),
        Err(Defect::WrongType { .. })
    ));
}
