//! Public and secret keys: Multikey and JWK encodings, `did:key` identifiers, and compact JWS
//! signing and *strict* verification.
//!
//! All curve arithmetic comes from RustCrypto (`ed25519-dalek`, `p256`, `k256`); this module only
//! encodes, decodes and chooses the strict variants:
//! - Ed25519 signatures are checked with `verify_strict` and small-order ("weak") public keys are
//!   refused, so no signature verifies under more than one message/key pairing.
//! - ES256 signatures must be low-S. An operation's hash covers its signature, so accepting the
//!   malleated (r, n-s) twin would let anyone mint a second valid operation (the did:plc incident).
//! - base64url is decoded strictly (no padding, no stray trailing bits) for the same reason.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::Verifier as _;
use p256::ecdsa::signature::Signer as _;

use serde_json::{Value, json};
use zeroize::Zeroizing;

/// Multicodec prefixes (varint-encoded) for the public key types we accept.
/// Source: multiformats/multicodec table.csv.
const ED25519_PUB: [u8; 2] = [0xed, 0x01];
const P256_PUB: [u8; 2] = [0x80, 0x24];
const SECP256K1_PUB: [u8; 2] = [0xe7, 0x01];

/// Why a key could not be used. Names follow the did:key error conditions where they apply.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// Not base58btc multibase, not base64url, or not the expected JWK shape.
    #[error("key encoding is invalid: {0}")]
    InvalidEncoding(String),
    /// A multicodec or JWK type we do not support.
    #[error("unsupported public key type: {0}")]
    InvalidPublicKeyType(String),
    /// Right type, wrong number of bytes.
    #[error("public key has {actual} bytes, expected {expected}")]
    InvalidPublicKeyLength { expected: usize, actual: usize },
    /// Bytes that are not a point on the curve.
    #[error("public key is not a valid {0} point")]
    InvalidPublicKey(&'static str),
    /// An Ed25519 key of small order: signatures under it prove nothing.
    #[error("Ed25519 public key is of small order (weak) and is refused")]
    WeakKey,
    /// A key type name that is not one of [`KeyType::ALL`].
    #[error("unknown key type {0:?}; expected ed25519 or p256")]
    UnknownKeyType(String),
}

/// Why a signature did not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("JWS is malformed: {0}")]
    Malformed(String),
    #[error("JWS algorithm {alg:?} does not match a {key} key")]
    AlgorithmMismatch { alg: String, key: &'static str },
    #[error("ES256 signature is not in low-S form (malleable signatures are refused)")]
    HighS,
    #[error("signature does not verify")]
    Invalid,
}

/// The JWS algorithms we sign and verify with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JwsAlgorithm {
    EdDsa,
    Es256,
    Es256K,
}

impl JwsAlgorithm {
    pub fn name(self) -> &'static str {
        match self {
            Self::EdDsa => "EdDSA",
            Self::Es256 => "ES256",
            Self::Es256K => "ES256K",
        }
    }
}

/// A public key of one of the supported types.
#[derive(Clone, PartialEq, Eq)]
pub enum PublicKey {
    Ed25519(ed25519_dalek::VerifyingKey),
    P256(p256::PublicKey),
    Secp256k1(k256::PublicKey),
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({})", self.to_multikey())
    }
}

impl PublicKey {
    /// Human name of the key type, for messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            Self::Ed25519(_) => "Ed25519",
            Self::P256(_) => "P-256",
            Self::Secp256k1(_) => "secp256k1",
        }
    }

    /// The JWS algorithm this key signs with.
    pub fn algorithm(&self) -> JwsAlgorithm {
        match self {
            Self::Ed25519(_) => JwsAlgorithm::EdDsa,
            Self::P256(_) => JwsAlgorithm::Es256,
            Self::Secp256k1(_) => JwsAlgorithm::Es256K,
        }
    }

    /// Decodes multicodec-prefixed key bytes (the inside of a Multikey).
    pub fn from_multicodec(bytes: &[u8]) -> Result<Self, KeyError> {
        if bytes.len() < 2 {
            return Err(KeyError::InvalidEncoding(
                "shorter than a multicodec prefix".into(),
            ));
        }
        let (prefix, key) = bytes.split_at(2);
        match [prefix[0], prefix[1]] {
            ED25519_PUB => Self::ed25519_from_bytes(key),
            P256_PUB => {
                expect_len(key, 33)?;
                p256::PublicKey::from_sec1_bytes(key)
                    .map(Self::P256)
                    .map_err(|_| KeyError::InvalidPublicKey("P-256"))
            }
            SECP256K1_PUB => {
                expect_len(key, 33)?;
                k256::PublicKey::from_sec1_bytes(key)
                    .map(Self::Secp256k1)
                    .map_err(|_| KeyError::InvalidPublicKey("secp256k1"))
            }
            _ => Err(KeyError::InvalidPublicKeyType(format!(
                "multicodec prefix 0x{:02x}{:02x}",
                prefix[0], prefix[1]
            ))),
        }
    }

    fn ed25519_from_bytes(key: &[u8]) -> Result<Self, KeyError> {
        expect_len(key, 32)?;
        let mut array = [0u8; 32];
        array.copy_from_slice(key);
        let key = ed25519_dalek::VerifyingKey::from_bytes(&array)
            .map_err(|_| KeyError::InvalidPublicKey("Ed25519"))?;
        if key.is_weak() {
            return Err(KeyError::WeakKey);
        }
        Ok(Self::Ed25519(key))
    }

    /// Multicodec-prefixed bytes (compressed points for the EC curves).
    pub fn to_multicodec(&self) -> Vec<u8> {
        let (prefix, key): ([u8; 2], Vec<u8>) = match self {
            Self::Ed25519(k) => (ED25519_PUB, k.to_bytes().to_vec()),
            Self::P256(k) => (P256_PUB, compressed_p256(k)),
            Self::Secp256k1(k) => (SECP256K1_PUB, compressed_k256(k)),
        };
        let mut out = prefix.to_vec();
        out.extend_from_slice(&key);
        out
    }

    /// Parses a Multikey `publicKeyMultibase` value (base58btc, `z` prefix).
    pub fn from_multikey(multibase_value: &str) -> Result<Self, KeyError> {
        let rest = multibase_value.strip_prefix('z').ok_or_else(|| {
            KeyError::InvalidEncoding("Multikey must be base58btc multibase ('z' prefix)".into())
        })?;
        let bytes = multibase::Base::Base58Btc
            .decode(rest)
            .map_err(|e| KeyError::InvalidEncoding(format!("base58btc: {e}")))?;
        Self::from_multicodec(&bytes)
    }

    /// The Multikey `publicKeyMultibase` value.
    pub fn to_multikey(&self) -> String {
        multibase::encode(multibase::Base::Base58Btc, self.to_multicodec())
    }

    /// `did:key:<multikey>`.
    pub fn to_did_key(&self) -> String {
        format!("did:key:{}", self.to_multikey())
    }

    /// Parses `did:key:<multikey>` (no fragment).
    pub fn from_did_key(did: &str) -> Result<Self, KeyError> {
        let multikey = did
            .strip_prefix("did:key:")
            .ok_or_else(|| KeyError::InvalidEncoding("not a did:key".into()))?;
        Self::from_multikey(multikey)
    }

    /// Parses a public JWK (RFC 7517; OKP per RFC 8037). Private members are refused: a public
    /// key slot must never carry a secret.
    pub fn from_jwk(jwk: &Value) -> Result<Self, KeyError> {
        let object = jwk
            .as_object()
            .ok_or_else(|| KeyError::InvalidEncoding("JWK must be a JSON object".into()))?;
        if object.contains_key("d") {
            return Err(KeyError::InvalidEncoding(
                "JWK carries a private key ('d'); only public keys are accepted".into(),
            ));
        }
        let member = |name: &str| -> Result<Vec<u8>, KeyError> {
            let text = object
                .get(name)
                .and_then(Value::as_str)
                .ok_or_else(|| KeyError::InvalidEncoding(format!("JWK member {name:?} missing")))?;
            decode_b64url(text).map_err(|e| KeyError::InvalidEncoding(format!("JWK {name}: {e}")))
        };
        let kty = object
            .get("kty")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let crv = object
            .get("crv")
            .and_then(Value::as_str)
            .unwrap_or_default();
        match (kty, crv) {
            ("OKP", "Ed25519") => Self::ed25519_from_bytes(&member("x")?),
            ("EC", "P-256") | ("EC", "secp256k1") => {
                let (x, y) = (member("x")?, member("y")?);
                expect_len(&x, 32)?;
                expect_len(&y, 32)?;
                let mut sec1 = vec![0x04];
                sec1.extend_from_slice(&x);
                sec1.extend_from_slice(&y);
                if crv == "P-256" {
                    p256::PublicKey::from_sec1_bytes(&sec1)
                        .map(Self::P256)
                        .map_err(|_| KeyError::InvalidPublicKey("P-256"))
                } else {
                    k256::PublicKey::from_sec1_bytes(&sec1)
                        .map(Self::Secp256k1)
                        .map_err(|_| KeyError::InvalidPublicKey("secp256k1"))
                }
            }
            _ => Err(KeyError::InvalidPublicKeyType(format!(
                "JWK kty {kty:?} crv {crv:?}"
            ))),
        }
    }

    /// The public JWK.
    pub fn to_jwk(&self) -> Value {
        match self {
            Self::Ed25519(k) => {
                json!({"kty": "OKP", "crv": "Ed25519", "x": URL_SAFE_NO_PAD.encode(k.to_bytes())})
            }
            // Uncompressed points: a JWK needs both coordinates (k256 compresses by default).
            Self::P256(k) => {
                use p256::elliptic_curve::sec1::ToEncodedPoint as _;
                let point = k.to_encoded_point(false);
                ec_jwk(
                    "P-256",
                    point.x().map(|x| &x[..]),
                    point.y().map(|y| &y[..]),
                )
            }
            Self::Secp256k1(k) => {
                use k256::elliptic_curve::sec1::ToEncodedPoint as _;
                let point = k.to_encoded_point(false);
                ec_jwk(
                    "secp256k1",
                    point.x().map(|x| &x[..]),
                    point.y().map(|y| &y[..]),
                )
            }
        }
    }

    /// Verifies a compact JWS `header.payload.signature` (payload may be empty = detached, in
    /// which case `detached_payload` supplies it) and returns the decoded protected header.
    pub fn verify_jws(
        &self,
        compact: &str,
        detached_payload: Option<&[u8]>,
    ) -> Result<Value, SignatureError> {
        let mut parts = compact.split('.');
        let (Some(header_b64), Some(payload_b64), Some(sig_b64), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(SignatureError::Malformed(
                "a compact JWS has three parts".into(),
            ));
        };
        let header_bytes = decode_b64url(header_b64)
            .map_err(|e| SignatureError::Malformed(format!("header: {e}")))?;
        let header = crate::json::parse_strict(&header_bytes)
            .map_err(|e| SignatureError::Malformed(format!("header: {e}")))?;
        // RFC 7515 §4.1.11: a recipient must refuse a JWS whose `crit` lists an extension it
        // does not understand. We understand none (not even RFC 7797's `b64`).
        if let Some(crit) = header.get("crit") {
            return Err(SignatureError::Malformed(format!(
                "header lists critical extensions {crit}; none are supported (RFC 7515 §4.1.11)"
            )));
        }
        let alg = header
            .get("alg")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if alg != self.algorithm().name() {
            return Err(SignatureError::AlgorithmMismatch {
                alg: alg.to_owned(),
                key: self.type_name(),
            });
        }
        let signature = decode_b64url(sig_b64)
            .map_err(|e| SignatureError::Malformed(format!("signature: {e}")))?;
        // RFC 7515 §5.2: the signing input is ASCII(BASE64URL(header) || '.' || BASE64URL(payload)).
        let signing_input = match detached_payload {
            Some(payload) if payload_b64.is_empty() => {
                format!("{header_b64}.{}", URL_SAFE_NO_PAD.encode(payload))
            }
            Some(_) => {
                return Err(SignatureError::Malformed(
                    "expected a detached payload (header..signature)".into(),
                ));
            }
            None => format!("{header_b64}.{payload_b64}"),
        };
        self.verify_raw(signing_input.as_bytes(), &signature)?;
        Ok(header)
    }

    /// Verifies a raw JWS signature (Ed25519: 64 bytes; ECDSA: r||s, 64 bytes).
    pub fn verify_raw(&self, message: &[u8], signature: &[u8]) -> Result<(), SignatureError> {
        match self {
            Self::Ed25519(key) => {
                let signature = ed25519_dalek::Signature::from_slice(signature).map_err(|_| {
                    SignatureError::Malformed("Ed25519 signature must be 64 bytes".into())
                })?;
                key.verify_strict(message, &signature)
                    .map_err(|_| SignatureError::Invalid)
            }
            Self::P256(key) => {
                let signature = p256::ecdsa::Signature::from_slice(signature).map_err(|_| {
                    SignatureError::Malformed("ES256 signature must be 64 bytes".into())
                })?;
                if signature.normalize_s().is_some() {
                    return Err(SignatureError::HighS);
                }
                p256::ecdsa::VerifyingKey::from(key)
                    .verify(message, &signature)
                    .map_err(|_| SignatureError::Invalid)
            }
            Self::Secp256k1(key) => {
                let signature = k256::ecdsa::Signature::from_slice(signature).map_err(|_| {
                    SignatureError::Malformed("ES256K signature must be 64 bytes".into())
                })?;
                if signature.normalize_s().is_some() {
                    return Err(SignatureError::HighS);
                }
                k256::ecdsa::VerifyingKey::from(key)
                    .verify(message, &signature)
                    .map_err(|_| SignatureError::Invalid)
            }
        }
    }
}

/// Key types a DID owner can generate for signing operations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyType {
    Ed25519,
    P256,
}

impl KeyType {
    /// Every key type, for listing choices.
    pub const ALL: [KeyType; 2] = [KeyType::Ed25519, KeyType::P256];

    /// The name command lines and configuration use: `ed25519` or `p256`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Ed25519 => "ed25519",
            Self::P256 => "p256",
        }
    }
}

impl fmt::Display for KeyType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for KeyType {
    type Err = KeyError;

    fn from_str(name: &str) -> Result<Self, KeyError> {
        Self::ALL
            .into_iter()
            .find(|key_type| key_type.name() == name)
            .ok_or_else(|| KeyError::UnknownKeyType(name.to_owned()))
    }
}

/// A private signing key. `Debug` never prints key material; the bytes are zeroized on drop
/// (both dalek and RustCrypto keys zeroize themselves).
#[derive(Clone)]
pub enum SecretKey {
    Ed25519(ed25519_dalek::SigningKey),
    P256(p256::ecdsa::SigningKey),
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "SecretKey({}, public {}, secret redacted)",
            self.public().type_name(),
            self.public().to_multikey()
        )
    }
}

impl SecretKey {
    /// A fresh key from the operating system's CSPRNG.
    pub fn generate(key_type: KeyType) -> Self {
        let mut rng = rand_core::OsRng;
        match key_type {
            KeyType::Ed25519 => Self::Ed25519(ed25519_dalek::SigningKey::generate(&mut rng)),
            KeyType::P256 => Self::P256(p256::ecdsa::SigningKey::random(&mut rng)),
        }
    }

    pub fn public(&self) -> PublicKey {
        match self {
            Self::Ed25519(k) => PublicKey::Ed25519(k.verifying_key()),
            Self::P256(k) => PublicKey::P256(p256::PublicKey::from(k.verifying_key())),
        }
    }

    /// Raw JWS signature over `message` (ES256 signatures are produced in low-S form).
    pub fn sign_raw(&self, message: &[u8]) -> Vec<u8> {
        match self {
            Self::Ed25519(k) => ed25519_dalek::Signer::sign(k, message).to_bytes().to_vec(),
            Self::P256(k) => {
                let signature: p256::ecdsa::Signature = k.sign(message);
                signature
                    .normalize_s()
                    .unwrap_or(signature)
                    .to_bytes()
                    .to_vec()
            }
        }
    }

    /// A compact JWS with a detached payload (`header..signature`, RFC 7515 Appendix F).
    pub fn sign_jws_detached(&self, kid: &str, payload: &[u8]) -> String {
        let header = json!({"alg": self.public().algorithm().name(), "kid": kid});
        let header_b64 = URL_SAFE_NO_PAD.encode(header.to_string());
        let signing_input = format!("{header_b64}.{}", URL_SAFE_NO_PAD.encode(payload));
        let signature = self.sign_raw(signing_input.as_bytes());
        format!("{header_b64}..{}", URL_SAFE_NO_PAD.encode(signature))
    }

    /// The private JWK (public members plus `d`). Handle the result as a secret.
    ///
    /// Every copy of the private bytes made here is zeroized: the raw scalar, its base64url
    /// form, and the JSON (written into a buffer sized up front, so it never reallocates and
    /// leaves a copy behind). The public members are serialized on their own.
    pub fn to_private_jwk(&self) -> Zeroizing<String> {
        let raw: Zeroizing<[u8; 32]> = Zeroizing::new(match self {
            Self::Ed25519(k) => k.to_bytes(),
            Self::P256(k) => k.to_bytes().into(),
        });
        let d = Zeroizing::new(URL_SAFE_NO_PAD.encode(raw.as_slice()));
        let public = self.public().to_jwk().to_string();
        let head = public.strip_suffix('}').unwrap_or(&public);
        let mut jwk = Zeroizing::new(String::with_capacity(head.len() + d.len() + 10));
        jwk.push_str(head);
        jwk.push_str(",\"d\":\"");
        jwk.push_str(&d);
        jwk.push_str("\"}");
        jwk
    }

    /// Parses a private JWK written by [`SecretKey::to_private_jwk`].
    pub fn from_private_jwk(text: &str) -> Result<Self, KeyError> {
        let mut jwk: Value = serde_json::from_str(text)
            .map_err(|e| KeyError::InvalidEncoding(format!("private JWK is not JSON: {e}")))?;
        // `d` is taken out of the parsed JSON into a zeroizing string, so no copy outlives this.
        let d = match jwk.as_object_mut().and_then(|object| object.remove("d")) {
            Some(Value::String(d)) => Zeroizing::new(d),
            _ => return Err(KeyError::InvalidEncoding("private JWK has no 'd'".into())),
        };
        let d = Zeroizing::new(
            decode_b64url(&d).map_err(|e| KeyError::InvalidEncoding(e.to_string()))?,
        );
        let key = match (
            jwk.get("kty").and_then(Value::as_str),
            jwk.get("crv").and_then(Value::as_str),
        ) {
            (Some("OKP"), Some("Ed25519")) => {
                let seed: [u8; 32] =
                    d.as_slice()
                        .try_into()
                        .map_err(|_| KeyError::InvalidPublicKeyLength {
                            expected: 32,
                            actual: d.len(),
                        })?;
                Self::Ed25519(ed25519_dalek::SigningKey::from_bytes(&seed))
            }
            (Some("EC"), Some("P-256")) => Self::P256(
                p256::ecdsa::SigningKey::from_slice(&d)
                    .map_err(|_| KeyError::InvalidPublicKey("P-256"))?,
            ),
            (kty, crv) => {
                return Err(KeyError::InvalidPublicKeyType(format!(
                    "JWK kty {kty:?} crv {crv:?}"
                )));
            }
        };
        // The public half stored beside `d` must match it, or the file was tampered with.
        if PublicKey::from_jwk(&jwk)? != key.public() {
            return Err(KeyError::InvalidEncoding(
                "private JWK's public members do not match 'd'".into(),
            ));
        }
        Ok(key)
    }
}

/// Strict base64url without padding: rejects padding, whitespace and non-canonical trailing bits
/// (so one byte string has exactly one textual form).
pub fn decode_b64url(text: &str) -> Result<Vec<u8>, InvalidBase64> {
    URL_SAFE_NO_PAD
        .decode(text)
        .map_err(|e| InvalidBase64(e.to_string()))
}

/// Text that is not canonical unpadded base64url (RFC 4648 §5): padding, other alphabets and
/// non-zero trailing bits are all refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid base64url: {0}")]
pub struct InvalidBase64(pub String);

fn expect_len(bytes: &[u8], expected: usize) -> Result<(), KeyError> {
    if bytes.len() == expected {
        Ok(())
    } else {
        Err(KeyError::InvalidPublicKeyLength {
            expected,
            actual: bytes.len(),
        })
    }
}

fn compressed_p256(key: &p256::PublicKey) -> Vec<u8> {
    use p256::elliptic_curve::sec1::ToEncodedPoint as _;
    key.to_encoded_point(true).as_bytes().to_vec()
}

fn compressed_k256(key: &k256::PublicKey) -> Vec<u8> {
    use k256::elliptic_curve::sec1::ToEncodedPoint as _;
    key.to_encoded_point(true).as_bytes().to_vec()
}

fn ec_jwk(crv: &str, x: Option<&[u8]>, y: Option<&[u8]>) -> Value {
    json!({
        "kty": "EC",
        "crv": crv,
        "x": URL_SAFE_NO_PAD.encode(x.unwrap_or_default()),
        "y": URL_SAFE_NO_PAD.encode(y.unwrap_or_default()),
    })
}
