//! X.509 client identifiers of OpenID4VP request objects (OpenID4VP 1.0 §5.9.3), for wallets of
//! the EU high-assurance profile: `x509_san_dns:<dns name>` (the name is a dNSName SAN of the
//! leaf certificate) and `x509_hash:<base64url SHA-256 of the leaf's DER>`. In both, the request
//! object is signed with the leaf certificate's key and carries the chain in its `x5c` header
//! (RFC 7515 §4.1.6: standard base64 DER, leaf first, the trust anchor left out).
//!
//! What this owns: reading `x5c`, building and checking the path to the caller's trust anchors
//! as of `now` (rustls-webpki: the path validator rustls uses, already in every tree that does
//! TLS), matching the client identifier to the leaf, and verifying the request object's
//! signature with the leaf's key through [`crate::jose`] (the same `alg` allowlist bound to the
//! key type, `typ`, `crit` rules as every other JWS here). The verifier side's half — the
//! chain and the client identifier to put in a request — is [`CertificateChain`].
//!
//! What it must not do: trust a certificate because the token sent it (only a path to a
//! configured anchor counts), read the clock, or reach the network (no AIA fetching, no CRL or
//! OCSP: revocation of verifier certificates is the trust list's business, not checked here).

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use chrono::{DateTime, Utc};
use credence_registry::keys::PublicKey;
use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};
use serde_json::Value;
use sha2::{Digest as _, Sha256};

use crate::jose::Jws;

/// `client_id` prefix: the client identifier is a DNS name in the leaf's SAN (§5.9.3).
pub const SAN_DNS_PREFIX: &str = "x509_san_dns:";
/// `client_id` prefix: the client identifier is the leaf certificate's SHA-256 hash (§5.9.3).
pub const HASH_PREFIX: &str = "x509_hash:";
/// At most this many certificates in `x5c`: a verifier's chain is two or three long.
const MAX_CHAIN: usize = 5;

/// Why an X.509-authenticated request object is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum X509Error {
    /// A `client_id` with an X.509 prefix whose value is empty or not of the prefix's form.
    #[error("malformed X.509 client_id {0:?}")]
    MalformedClientId(String),
    /// PEM or DER that is not a certificate (configuration or `x5c`).
    #[error("not a usable certificate: {0}")]
    BadCertificate(String),
    /// The request object has no `x5c`, or it is not a list of base64 certificates.
    #[error("the request object's x5c header is missing or malformed: {0}")]
    MalformedX5c(String),
    /// No path from the leaf to a trusted anchor (unknown CA, expired or not yet valid
    /// certificate, a bad signature in the chain, a CA constraint violated).
    #[error("the verifier's certificate is not trusted: {0}")]
    Untrusted(String),
    /// The chain is trusted, but the leaf does not carry the client identifier.
    #[error("the certificate does not match the client_id: {0}")]
    ClientIdMismatch(String),
    /// The request object is not a JWS we accept, or its signature does not verify with the
    /// leaf's key.
    #[error("the request object's signature does not verify with the certificate: {0}")]
    BadSignature(String),
}

/// An X.509 client identifier, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum X509ClientId {
    /// `x509_san_dns:<name>`.
    SanDns(String),
    /// `x509_hash:<base64url SHA-256 of the leaf DER>`.
    Hash(String),
}

impl X509ClientId {
    /// `None` when `client_id` has no X.509 prefix (another scheme's business).
    pub fn parse(client_id: &str) -> Option<Result<Self, X509Error>> {
        let malformed = || X509Error::MalformedClientId(client_id.to_owned());
        if let Some(name) = client_id.strip_prefix(SAN_DNS_PREFIX) {
            return Some(
                ServerName::try_from(name)
                    .ok()
                    .filter(|name| matches!(name, ServerName::DnsName(_)))
                    .map(|_| Self::SanDns(name.to_owned()))
                    .ok_or_else(malformed),
            );
        }
        if let Some(hash) = client_id.strip_prefix(HASH_PREFIX) {
            let valid = URL_SAFE_NO_PAD
                .decode(hash)
                .is_ok_and(|bytes| bytes.len() == 32);
            return Some(if valid {
                Ok(Self::Hash(hash.to_owned()))
            } else {
                Err(malformed())
            });
        }
        None
    }

    /// The `client_id` text.
    pub fn as_client_id(&self) -> String {
        match self {
            Self::SanDns(name) => format!("{SAN_DNS_PREFIX}{name}"),
            Self::Hash(hash) => format!("{HASH_PREFIX}{hash}"),
        }
    }
}

/// The base64url SHA-256 of a certificate's DER: the value of an `x509_hash` client id.
pub fn certificate_hash(der: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(der))
}

/// The certificates a wallet trusts to vouch for verifiers (a trust list's CAs).
#[derive(Debug, Clone, Default)]
pub struct TrustAnchors {
    certificates: Vec<CertificateDer<'static>>,
}

impl TrustAnchors {
    /// Every certificate in PEM text.
    pub fn from_pem(pem: &[u8]) -> Result<Self, X509Error> {
        let certificates = read_pem_certificates(pem)?;
        // Each must be usable as an anchor now, not at the first request.
        for der in &certificates {
            webpki::anchor_from_trusted_cert(der)
                .map_err(|e| X509Error::BadCertificate(format!("trust anchor: {e}")))?;
        }
        Ok(Self { certificates })
    }

    pub fn is_empty(&self) -> bool {
        self.certificates.is_empty()
    }
}

/// A verifier's certificate chain, leaf first, as configured: what goes into `x5c`, and the
/// client identifiers it can support.
#[derive(Debug, Clone)]
pub struct CertificateChain {
    certificates: Vec<CertificateDer<'static>>,
}

impl CertificateChain {
    /// The certificates of PEM text, leaf first.
    pub fn from_pem(pem: &[u8]) -> Result<Self, X509Error> {
        let certificates = read_pem_certificates(pem)?;
        webpki::EndEntityCert::try_from(&certificates[0])
            .map_err(|e| X509Error::BadCertificate(format!("leaf: {e}")))?;
        Ok(Self { certificates })
    }

    /// The `x5c` header value (RFC 7515 §4.1.6: standard base64, not base64url).
    pub fn x5c(&self) -> Value {
        Value::Array(
            self.certificates
                .iter()
                .map(|der| Value::String(STANDARD.encode(der.as_ref())))
                .collect(),
        )
    }

    /// The leaf's public key: the key the request object must be signed with.
    pub fn leaf_key(&self) -> Result<PublicKey, X509Error> {
        let leaf = webpki::EndEntityCert::try_from(&self.certificates[0])
            .map_err(|e| X509Error::BadCertificate(format!("leaf: {e}")))?;
        spki_key(&leaf)
    }

    /// The leaf's dNSName subject alternative names, in order.
    pub fn leaf_dns_names(&self) -> Vec<String> {
        webpki::EndEntityCert::try_from(&self.certificates[0])
            .map(|leaf| leaf.valid_dns_names().map(str::to_owned).collect())
            .unwrap_or_default()
    }

    /// `x509_hash:<hash of the leaf>`.
    pub fn hash_client_id(&self) -> X509ClientId {
        X509ClientId::Hash(certificate_hash(self.certificates[0].as_ref()))
    }

    /// `x509_san_dns:<name>`, if `name` is a dNSName SAN of the leaf.
    pub fn san_dns_client_id(&self, name: &str) -> Result<X509ClientId, X509Error> {
        let leaf = webpki::EndEntityCert::try_from(&self.certificates[0])
            .map_err(|e| X509Error::BadCertificate(format!("leaf: {e}")))?;
        let server_name = ServerName::try_from(name)
            .map_err(|_| X509Error::MalformedClientId(format!("{SAN_DNS_PREFIX}{name}")))?;
        leaf.verify_is_valid_for_subject_name(&server_name)
            .map_err(|_| {
                X509Error::ClientIdMismatch(format!("{name} is not a DNS name of the leaf"))
            })?;
        Ok(X509ClientId::SanDns(name.to_owned()))
    }
}

/// Verifies an X.509-authenticated request object (§5.9.3): the `x5c` chain leads to one of
/// `anchors` as of `now`, the leaf carries `client_id` (SAN dNSName, or its hash), and the
/// JWS verifies with the leaf's key under the JOSE rules of [`Jws::parse`] (`typ` is
/// `expected_typ`). Returns the decoded JWS for the caller's claim checks.
pub fn verify_request_object<'a>(
    compact: &'a str,
    expected_typ: &'static str,
    client_id: &X509ClientId,
    anchors: &TrustAnchors,
    now: DateTime<Utc>,
) -> Result<Jws<'a>, X509Error> {
    let jws = Jws::parse(compact, "the request object", expected_typ)
        .map_err(|defect| X509Error::BadSignature(defect.to_string()))?;
    let chain = x5c(&jws.header)?;
    let leaf = webpki::EndEntityCert::try_from(&chain[0])
        .map_err(|e| X509Error::BadCertificate(format!("x5c leaf: {e}")))?;
    if anchors.is_empty() {
        return Err(X509Error::Untrusted(
            "this wallet trusts no certificate authority for verifiers".into(),
        ));
    }
    let trust_anchors = anchors
        .certificates
        .iter()
        .map(|der| webpki::anchor_from_trusted_cert(der))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| X509Error::BadCertificate(format!("trust anchor: {e}")))?;
    let seconds = u64::try_from(now.timestamp())
        .map_err(|_| X509Error::Untrusted("the time is before 1970".into()))?;
    leaf.verify_for_usage(
        SIGNATURE_ALGORITHMS,
        &trust_anchors,
        &chain[1..],
        UnixTime::since_unix_epoch(std::time::Duration::from_secs(seconds)),
        // RFC 5280 §4.2.1.12: a verifier certificate need not carry an EKU; if it does, it
        // must allow server authentication (what HAIP's access certificates carry).
        webpki::KeyUsage::server_auth(),
        None,
        None,
    )
    .map_err(|e| X509Error::Untrusted(e.to_string()))?;
    match client_id {
        X509ClientId::SanDns(name) => {
            let server_name = ServerName::try_from(name.as_str())
                .map_err(|_| X509Error::MalformedClientId(client_id.as_client_id()))?;
            leaf.verify_is_valid_for_subject_name(&server_name)
                .map_err(|_| {
                    X509Error::ClientIdMismatch(format!(
                        "{name} is not a DNS name of the leaf certificate"
                    ))
                })?;
        }
        X509ClientId::Hash(hash) => {
            if certificate_hash(chain[0].as_ref()) != *hash {
                return Err(X509Error::ClientIdMismatch(
                    "the leaf certificate's SHA-256 is not the client_id's".into(),
                ));
            }
        }
    }
    let key = spki_key(&leaf)?;
    jws.verify(&key).map_err(X509Error::BadSignature)?;
    Ok(jws)
}

/// Path building accepts CA signatures with the curves and hashes a verifier PKI uses.
static SIGNATURE_ALGORITHMS: &[&dyn rustls_pki_types::SignatureVerificationAlgorithm] = &[
    webpki::aws_lc_rs::ECDSA_P256_SHA256,
    webpki::aws_lc_rs::ECDSA_P256_SHA384,
    webpki::aws_lc_rs::ECDSA_P384_SHA256,
    webpki::aws_lc_rs::ECDSA_P384_SHA384,
    webpki::aws_lc_rs::ED25519,
    webpki::aws_lc_rs::RSA_PKCS1_2048_8192_SHA256,
    webpki::aws_lc_rs::RSA_PKCS1_2048_8192_SHA384,
    webpki::aws_lc_rs::RSA_PSS_2048_8192_SHA256_LEGACY_KEY,
];

fn x5c(header: &Value) -> Result<Vec<CertificateDer<'static>>, X509Error> {
    let list = header
        .get("x5c")
        .and_then(Value::as_array)
        .ok_or_else(|| X509Error::MalformedX5c("no x5c list".into()))?;
    if list.is_empty() || list.len() > MAX_CHAIN {
        return Err(X509Error::MalformedX5c(format!(
            "{} certificates (1 to {MAX_CHAIN} expected)",
            list.len()
        )));
    }
    list.iter()
        .map(|entry| {
            entry
                .as_str()
                .and_then(|text| STANDARD.decode(text).ok())
                .map(CertificateDer::from)
                .ok_or_else(|| X509Error::MalformedX5c("an entry is not base64 DER".into()))
        })
        .collect()
}

fn read_pem_certificates(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, X509Error> {
    let certificates = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| X509Error::BadCertificate(e.to_string()))?;
    if certificates.is_empty() {
        return Err(X509Error::BadCertificate(
            "no CERTIFICATE in the PEM text".into(),
        ));
    }
    Ok(certificates)
}

/// The leaf's key as a JOSE key: Ed25519 or P-256 (the JWS algorithms we accept). The SPKI
/// DER of each is a fixed prefix followed by the key (RFC 8410 §4, RFC 5480 §2).
fn spki_key(leaf: &webpki::EndEntityCert<'_>) -> Result<PublicKey, X509Error> {
    const ED25519: &[u8] = &[
        0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
    ];
    const P256: &[u8] = &[
        0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08,
        0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
    ];
    let spki = leaf.subject_public_key_info();
    let spki = spki.as_ref();
    if let Some(key) = spki.strip_prefix(ED25519) {
        let mut multicodec = vec![0xed, 0x01];
        multicodec.extend_from_slice(key);
        return PublicKey::from_multicodec(&multicodec)
            .map_err(|e| X509Error::BadCertificate(format!("leaf key: {e}")));
    }
    if let Some(point) = spki.strip_prefix(P256) {
        return p256::PublicKey::from_sec1_bytes(point)
            .map(PublicKey::P256)
            .map_err(|_| X509Error::BadCertificate("leaf key: not a P-256 point".into()));
    }
    Err(X509Error::BadCertificate(
        "the leaf's key is neither Ed25519 nor P-256, so it cannot sign an accepted JWS".into(),
    ))
}
