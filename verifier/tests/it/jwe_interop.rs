//! The `direct_post.jwt` JWE (ECDH-ES on P-256, A128GCM / A256GCM) against jwcrypto, an
//! independent JOSE implementation (Python, `scripts/jose_interop.py`): jwcrypto opens what our
//! wallet side encrypts, and our verifier side opens what jwcrypto encrypts, in both content
//! encryptions, with `apu`/`apv` absent and present (RFC 7518 §4.6.2 puts them in the KDF).

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use credence_verifier::jwe::{self, Enc};
use rand_core::OsRng;
use serde_json::json;

use crate::support::jwcrypto;

#[test]
fn jwcrypto_decrypts_ours_and_we_decrypt_jwcryptos() {
    let recipient = p256::SecretKey::random(&mut OsRng);
    let public = jwe::public_jwk(&recipient.public_key());
    let mut private = public.clone();
    private["d"] = json!(URL_SAFE_NO_PAD.encode(recipient.to_bytes()));
    let plaintext = br#"{"vp_token":{"licence":["x"]},"state":"s-1"}"#;
    for enc in [Enc::A128Gcm, Enc::A256Gcm] {
        // Ours -> jwcrypto.
        let ours = jwe::encrypt(plaintext, &recipient.public_key(), Some("k-1"), enc);
        let Some(opened) = jwcrypto("decrypt", &private, None, ours.as_bytes()) else {
            return;
        };
        assert_eq!(
            opened.unwrap_or_else(|e| panic!("jwcrypto refused our {enc:?}: {e}")),
            plaintext
        );

        // jwcrypto -> ours, with and without apu/apv.
        for party_info in [false, true] {
            let mut header = json!({"alg": "ECDH-ES", "enc": enc.name()});
            if party_info {
                header["apu"] = json!(URL_SAFE_NO_PAD.encode("wallet"));
                header["apv"] = json!(URL_SAFE_NO_PAD.encode("nonce-123"));
            }
            let theirs = jwcrypto("encrypt", &public, Some(&header), plaintext)
                .expect("ran")
                .expect("jwcrypto encrypts");
            let theirs = String::from_utf8(theirs).expect("compact JWE");
            let decrypted = jwe::decrypt(&theirs, &recipient, &[Enc::A128Gcm, Enc::A256Gcm])
                .unwrap_or_else(|e| {
                    panic!("we refused jwcrypto's {enc:?} (apu/apv {party_info}): {e}")
                });
            assert_eq!(decrypted.plaintext, plaintext);
            assert_eq!(decrypted.enc, enc);
        }
    }
    // jwcrypto's JWE to another key: refused by ours.
    let other = p256::SecretKey::random(&mut OsRng);
    let theirs = jwcrypto(
        "encrypt",
        &jwe::public_jwk(&other.public_key()),
        Some(&json!({"alg": "ECDH-ES", "enc": "A128GCM"})),
        b"{}",
    )
    .expect("ran")
    .expect("jwcrypto encrypts");
    let theirs = String::from_utf8(theirs).unwrap();
    assert!(jwe::decrypt(&theirs, &recipient, &[Enc::A128Gcm]).is_err());
}
