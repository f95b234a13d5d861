//! JWE (RFC 7516) compact serialization for exactly what OpenID4VP `direct_post.jwt` needs
//! (OpenID4VP 1.0 §8.3): key agreement `ECDH-ES` direct (RFC 7518 §4.6) on P-256, content
//! encryption `A128GCM` or `A256GCM` (RFC 7518 §5.3). The wallet encrypts its response to the
//! verifier's ephemeral key ([`encrypt`]); the verifier decrypts it ([`decrypt`]).
//!
//! Why not josekit (what DESIGN.md names): josekit links OpenSSL, and the wallet, which must
//! encrypt these responses, may not carry OpenSSL (ARCHITECTURE.md: one TLS stack, rustls,
//! nothing that builds OpenSSL for Android). No maintained pure-Rust JOSE crate with ECDH-ES
//! was small enough (jwt-simple brings its own key types and a boring-ssl option, polyjose is
//! new), so this module composes RustCrypto parts: `p256` ECDH, `aes-gcm`, `sha2` for the
//! Concat KDF (NIST SP 800-56A §5.8.1, as RFC 7518 §4.6.2 profiles it). It writes no
//! primitive by hand. Checked against RFC 7518 Appendix C's key agreement example.
//!
//! Strict on input: the protected header is strict JSON; `alg` must be `ECDH-ES`, `enc` one of
//! the caller's list, the encrypted key empty, `epk` a P-256 point on the curve; `zip` and
//! `crit` are refused. Pure: randomness comes from `OsRng` when encrypting only.

use aes_gcm::aead::consts::U12;
use aes_gcm::aead::{Aead as _, KeyInit as _, Payload};
use aes_gcm::{Aes128Gcm, Aes256Gcm, Nonce};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use p256::elliptic_curve::sec1::ToEncodedPoint as _;
use rand_core::{OsRng, RngCore as _};
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};
use zeroize::Zeroizing;

/// The content encryption algorithms accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Enc {
    A128Gcm,
    A256Gcm,
}

impl Enc {
    pub fn name(self) -> &'static str {
        match self {
            Enc::A128Gcm => "A128GCM",
            Enc::A256Gcm => "A256GCM",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "A128GCM" => Some(Enc::A128Gcm),
            "A256GCM" => Some(Enc::A256Gcm),
            _ => None,
        }
    }

    fn key_bytes(self) -> usize {
        match self {
            Enc::A128Gcm => 16,
            Enc::A256Gcm => 32,
        }
    }
}

/// Why a JWE was refused. The messages never carry plaintext.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JweError {
    #[error("the JWE is malformed: {0}")]
    Malformed(String),
    #[error("the JWE uses {0}; only ECDH-ES with A128GCM or A256GCM is accepted")]
    Unsupported(String),
    #[error("the JWE is not encrypted to this key, or was altered")]
    Undecryptable,
    #[error("the recipient key is unusable: {0}")]
    BadKey(String),
}

/// A P-256 public key as an EC JWK (RFC 7518 §6.2.1).
pub fn public_jwk(key: &p256::PublicKey) -> Value {
    let point = key.to_encoded_point(false);
    json!({
        "kty": "EC",
        "crv": "P-256",
        "x": URL_SAFE_NO_PAD.encode(point.x().map(|x| &x[..]).unwrap_or_default()),
        "y": URL_SAFE_NO_PAD.encode(point.y().map(|y| &y[..]).unwrap_or_default()),
    })
}

/// A P-256 public key from an EC JWK; the point must be on the curve.
pub fn public_from_jwk(jwk: &Value) -> Result<p256::PublicKey, JweError> {
    let field = |name: &str| jwk.get(name).and_then(Value::as_str);
    if field("kty") != Some("EC") || field("crv") != Some("P-256") {
        return Err(JweError::BadKey("not an EC P-256 JWK".into()));
    }
    let coordinate = |name: &str| -> Result<Vec<u8>, JweError> {
        let bytes = field(name)
            .and_then(|text| URL_SAFE_NO_PAD.decode(text).ok())
            .ok_or_else(|| JweError::BadKey(format!("{name} is not base64url")))?;
        if bytes.len() != 32 {
            return Err(JweError::BadKey(format!("{name} is not 32 bytes")));
        }
        Ok(bytes)
    };
    let mut sec1 = vec![0x04];
    sec1.extend(coordinate("x")?);
    sec1.extend(coordinate("y")?);
    p256::PublicKey::from_sec1_bytes(&sec1)
        .map_err(|_| JweError::BadKey("the point is not on P-256".into()))
}

/// Concat KDF (RFC 7518 §4.6.2) for ECDH-ES direct: one SHA-256 round is enough for 128 and
/// 256-bit keys. `AlgorithmID` is the `enc` name; `apu`/`apv` the decoded party infos.
fn concat_kdf(shared: &[u8], enc: Enc, apu: &[u8], apv: &[u8]) -> Zeroizing<Vec<u8>> {
    let length_prefixed = |data: &[u8]| {
        let mut out = (data.len() as u32).to_be_bytes().to_vec();
        out.extend_from_slice(data);
        out
    };
    let mut hasher = Sha256::new();
    hasher.update(1u32.to_be_bytes());
    hasher.update(shared);
    hasher.update(length_prefixed(enc.name().as_bytes()));
    hasher.update(length_prefixed(apu));
    hasher.update(length_prefixed(apv));
    hasher.update(((enc.key_bytes() * 8) as u32).to_be_bytes());
    let digest = hasher.finalize();
    Zeroizing::new(digest[..enc.key_bytes()].to_vec())
}

fn seal(enc: Enc, key: &[u8], iv: &[u8; 12], aad: &[u8], plaintext: &[u8]) -> Vec<u8> {
    let payload = Payload {
        msg: plaintext,
        aad,
    };
    let nonce = &Nonce::<U12>::from(*iv);
    let sealed = match enc {
        Enc::A128Gcm => Aes128Gcm::new_from_slice(key).map(|c| c.encrypt(nonce, payload)),
        Enc::A256Gcm => Aes256Gcm::new_from_slice(key).map(|c| c.encrypt(nonce, payload)),
    };
    match sealed {
        Ok(Ok(out)) => out,
        // The key length is the one `enc` names and GCM takes any message this size.
        _ => unreachable!("AES-GCM with a key of the right length cannot fail to encrypt"),
    }
}

/// Encrypts `plaintext` to `recipient` (ECDH-ES with a fresh ephemeral key), with `kid` in the
/// protected header if given. Returns the compact serialization.
pub fn encrypt(
    plaintext: &[u8],
    recipient: &p256::PublicKey,
    kid: Option<&str>,
    enc: Enc,
) -> String {
    let ephemeral = p256::ecdh::EphemeralSecret::random(&mut OsRng);
    let shared = ephemeral.diffie_hellman(recipient);
    let key = concat_kdf(&shared.raw_secret_bytes()[..], enc, b"", b"");
    let mut header = json!({
        "alg": "ECDH-ES",
        "enc": enc.name(),
        "epk": public_jwk(&ephemeral.public_key()),
    });
    if let Some(kid) = kid {
        header["kid"] = Value::String(kid.to_owned());
    }
    let protected = URL_SAFE_NO_PAD.encode(header.to_string());
    let mut iv = [0u8; 12];
    OsRng.fill_bytes(&mut iv);
    let mut sealed = seal(enc, &key, &iv, protected.as_bytes(), plaintext);
    let tag = sealed.split_off(sealed.len() - 16);
    format!(
        "{protected}..{}.{}.{}",
        URL_SAFE_NO_PAD.encode(iv),
        URL_SAFE_NO_PAD.encode(sealed),
        URL_SAFE_NO_PAD.encode(tag)
    )
}

/// What a decrypted JWE said in its protected header, besides the plaintext.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decrypted {
    pub plaintext: Vec<u8>,
    pub kid: Option<String>,
    pub enc: Enc,
}

/// Decrypts a compact JWE with the recipient's secret key, accepting only the `enc` values in
/// `accepted`.
pub fn decrypt(
    compact: &str,
    recipient: &p256::SecretKey,
    accepted: &[Enc],
) -> Result<Decrypted, JweError> {
    let parts: Vec<&str> = compact.split('.').collect();
    let [protected, encrypted_key, iv, ciphertext, tag] = parts[..] else {
        return Err(JweError::Malformed(
            "not five base64url parts separated by dots".into(),
        ));
    };
    let decode = |what: &str, text: &str| {
        URL_SAFE_NO_PAD
            .decode(text)
            .map_err(|_| JweError::Malformed(format!("the {what} is not base64url")))
    };
    let header = crate::jose::strict_json(&decode("protected header", protected)?)
        .map_err(|e| JweError::Malformed(format!("the protected header: {e}")))?;
    if !header.is_object() {
        return Err(JweError::Malformed(
            "the protected header is not an object".into(),
        ));
    }
    let text = |name: &str| header.get(name).and_then(Value::as_str);
    if text("alg") != Some("ECDH-ES") {
        return Err(JweError::Unsupported(format!(
            "alg {}",
            header.get("alg").map_or("(none)".into(), Value::to_string)
        )));
    }
    let enc = text("enc")
        .and_then(Enc::parse)
        .filter(|enc| accepted.contains(enc))
        .ok_or_else(|| {
            JweError::Unsupported(format!(
                "enc {}",
                header.get("enc").map_or("(none)".into(), Value::to_string)
            ))
        })?;
    for refused in ["zip", "crit"] {
        if header.get(refused).is_some() {
            return Err(JweError::Unsupported(format!("the {refused} header")));
        }
    }
    if !encrypted_key.is_empty() {
        return Err(JweError::Malformed(
            "ECDH-ES direct key agreement has an empty encrypted key".into(),
        ));
    }
    let epk = header
        .get("epk")
        .ok_or_else(|| JweError::Malformed("no epk".into()))
        .and_then(|jwk| {
            public_from_jwk(jwk).map_err(|e| JweError::Malformed(format!("epk: {e}")))
        })?;
    let party = |name: &str| match header.get(name) {
        None => Ok(Vec::new()),
        Some(Value::String(text)) => decode(name, text),
        Some(_) => Err(JweError::Malformed(format!("{name} is not a string"))),
    };
    let (apu, apv) = (party("apu")?, party("apv")?);
    let iv = decode("IV", iv)?;
    let iv: [u8; 12] = iv
        .try_into()
        .map_err(|_| JweError::Malformed("the IV is not 96 bits".into()))?;
    let mut sealed = decode("ciphertext", ciphertext)?;
    let tag = decode("tag", tag)?;
    if tag.len() != 16 {
        return Err(JweError::Malformed("the tag is not 128 bits".into()));
    }
    sealed.extend_from_slice(&tag);
    let shared = p256::ecdh::diffie_hellman(recipient.to_nonzero_scalar(), epk.as_affine());
    let key = concat_kdf(&shared.raw_secret_bytes()[..], enc, &apu, &apv);
    let payload = Payload {
        msg: &sealed,
        aad: protected.as_bytes(),
    };
    let nonce = &Nonce::<U12>::from(iv);
    let opened = match enc {
        Enc::A128Gcm => Aes128Gcm::new_from_slice(&key).map(|c| c.decrypt(nonce, payload)),
        Enc::A256Gcm => Aes256Gcm::new_from_slice(&key).map(|c| c.decrypt(nonce, payload)),
    };
    let plaintext = match opened {
        Ok(Ok(plaintext)) => plaintext,
        _ => return Err(JweError::Undecryptable),
    };
    Ok(Decrypted {
        plaintext,
        kid: text("kid").map(str::to_owned),
        enc,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 7518 Appendix C: Alice (ephemeral) and Bob (static) agree on the A128GCM key
    /// `VqqN6vgjbSBcIijNcacQGg` with apu "Alice", apv "Bob".
    #[test]
    fn rfc7518_appendix_c_key_agreement() {
        let d = |text: &str| URL_SAFE_NO_PAD.decode(text).unwrap();
        let bob =
            p256::SecretKey::from_slice(&d("VEmDZpDXXK8p8N0Cndsxs924q6nS1RXFASRl6BfUqdw")).unwrap();
        let alice_public = public_from_jwk(&json!({
            "kty": "EC", "crv": "P-256",
            "x": "gI0GAILBdu7T53akrFmMyGcsF3n5dO7MmwNBHKW5SV0",
            "y": "SLW_xSffzlPWrHEVI30DHM_4egVwt3NQqeUD7nMFpps"
        }))
        .unwrap();
        let shared = p256::ecdh::diffie_hellman(bob.to_nonzero_scalar(), alice_public.as_affine());
        let key = concat_kdf(
            &shared.raw_secret_bytes()[..],
            Enc::A128Gcm,
            b"Alice",
            b"Bob",
        );
        assert_eq!(
            URL_SAFE_NO_PAD.encode(key.as_slice()),
            "VqqN6vgjbSBcIijNcacQGg"
        );
    }

    #[test]
    fn round_trip_and_refusals() {
        let recipient = p256::SecretKey::random(&mut OsRng);
        let other = p256::SecretKey::random(&mut OsRng);
        for enc in [Enc::A128Gcm, Enc::A256Gcm] {
            let jwe = encrypt(
                b"{\"state\":\"s\"}",
                &recipient.public_key(),
                Some("k1"),
                enc,
            );
            let opened = decrypt(&jwe, &recipient, &[Enc::A128Gcm, Enc::A256Gcm]).unwrap();
            assert_eq!(opened.plaintext, b"{\"state\":\"s\"}");
            assert_eq!(opened.kid.as_deref(), Some("k1"));
            assert_eq!(
                decrypt(&jwe, &other, &[Enc::A128Gcm, Enc::A256Gcm]),
                Err(JweError::Undecryptable)
            );
            // A flipped ciphertext bit fails authentication.
            let mut parts: Vec<String> = jwe.split('.').map(str::to_owned).collect();
            let mut bytes = URL_SAFE_NO_PAD.decode(&parts[3]).unwrap();
            bytes[0] ^= 1;
            parts[3] = URL_SAFE_NO_PAD.encode(bytes);
            assert_eq!(
                decrypt(&parts.join("."), &recipient, &[enc]),
                Err(JweError::Undecryptable)
            );
        }
        let jwe = encrypt(b"x", &recipient.public_key(), None, Enc::A256Gcm);
        assert!(matches!(
            decrypt(&jwe, &recipient, &[Enc::A128Gcm]),
            Err(JweError::Unsupported(_))
        ));
        assert!(matches!(
            decrypt("a.b.c", &recipient, &[Enc::A128Gcm]),
            Err(JweError::Malformed(_))
        ));
    }
}
