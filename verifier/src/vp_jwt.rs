//! The verifier's half of VC-JOSE-COSE `vp+jwt` (W3C "Securing Verifiable Credentials using
//! JOSE and COSE" §3.1.2): a holder-signed JWT whose payload is a VCDM 2.0
//! `VerifiablePresentation` enclosing `vc+jwt` credentials as `EnvelopedVerifiableCredential`s
//! (`id: data:application/vc+jwt,<compact JWT>`, VCDM 2.0 §4.13.1), bound to one OpenID4VP
//! request by the JWT claims `nonce` and `aud` and made at `iat` (OpenID4VP 1.0 Appendix
//! B.1.3.1.5). Strict parsing of the envelope, the holder's key, and the holder-binding rules;
//! the enclosed credentials are `vc_jwt`'s business, the JOSE rules `jose.rs`'s. Pure: no IO,
//! no clock (`now` is a parameter).
//!
//! What OpenID4VP 1.0 says and what we do: Appendix B.1.3.1 (`jwt_vc_json`) shows a VCDM 1.1
//! "JWT-VP" (the presentation inside a `vp` claim, the credentials as compact strings). This
//! verifier's credentials are VCDM 2.0 `vc+jwt`, which VC-JOSE-COSE presents as `vp+jwt`, so
//! that is what the wallet produces and what is accepted; the Appendix's `nonce` and `aud` rules
//! apply to its JWT claims unchanged. The 1.1 `vp`-claim form is refused with a message saying
//! so: the credentials it would carry are VCDM 1.1 ones, which `vc_jwt` refuses anyway.
//!
//! The rules, each a test (`tests/it/vp_jwt.rs`):
//! - JOSE: `typ` exactly `vp+jwt` (§3.1.2), `cty` absent or `vp`, `alg` EdDSA/ES256 bound to
//!   the key type, `crit` refused; `kid` a DID URL of a `did:key` or `did:jwk` (the holders
//!   Credence issues to need no registry), whose key verifies the signature. `iss` and
//!   `holder`, if present, must be that DID.
//! - VCDM 2.0: `@context` first entry the v2 context, `type` containing
//!   `VerifiablePresentation` (§4.12), `verifiableCredential` a non-empty array of
//!   `EnvelopedVerifiableCredential`s with a `data:application/vc+jwt,` id.
//! - Holder binding (each credential): `nonce` equal to the request's, `aud` exactly this
//!   verifier's client id (a string, or an array of exactly that one string), `iat` present
//!   and within the window (not older than `max_age`, not in the future beyond the leeway),
//!   `exp`/`nbf` honoured, and the credential's `credentialSubject.id` a DID whose key is the
//!   presentation's signing key.

use chrono::{DateTime, Duration, Utc};
use credence_registry::did::Did;
use credence_registry::keys::{PublicKey, decode_b64url};
use credence_registry::resolver::DidUrl;
use serde_json::Value;

use crate::jose::{self, Jws};
use crate::report::Defect;
use crate::vc_jwt::{self, VC_CONTEXT_V2};

/// The JWT `typ` of a presentation (VC-JOSE-COSE §3.1.2, media type `application/vp+jwt`).
pub const VP_JWT_TYPE: &str = "vp+jwt";
/// The only `cty` a `vp+jwt` may carry.
pub const VP_CONTENT_TYPE: &str = "vp";
/// The base type of every presentation (VCDM 2.0 §4.12).
pub const PRESENTATION_TYPE: &str = "VerifiablePresentation";
/// The type of an enclosed credential (VCDM 2.0 §4.13.1).
pub const ENVELOPED_CREDENTIAL_TYPE: &str = "EnvelopedVerifiableCredential";
/// The `data:` URL prefix of an enveloped `vc+jwt` (VC-JOSE-COSE §3.1.1, RFC 2397).
pub const VC_JWT_DATA_PREFIX: &str = "data:application/vc+jwt,";
/// Largest presentation accepted: a few credentials.
pub const MAX_PRESENTATION_BYTES: usize = 4 * vc_jwt::MAX_CREDENTIAL_BYTES;
/// Most credentials one presentation may enclose.
pub const MAX_CREDENTIALS: usize = 16;

/// Why a presentation does not bind its credentials to this holder and this request. The
/// holder-binding step's defects (`Defect::Presentation`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PresentationDefect {
    /// The `kid` is not a DID URL of a `did:key` or `did:jwk`, or its key is unusable.
    #[error(
        "the presentation's signing key {kid:?} cannot be resolved: {detail} (kid must be a \
         did:key or did:jwk DID URL of the holder)"
    )]
    HolderKeyUnknown { kid: String, detail: String },
    /// `iss` or `holder` names another party than the signing key's DID.
    #[error("the presentation names {named} as its {claim}, but it is signed by {signer}")]
    HolderMismatch {
        claim: &'static str,
        named: String,
        signer: String,
    },
    /// The signature does not verify with the key the `kid` names.
    #[error("the presentation's signature does not verify with its holder key: {0}")]
    Signature(String),
    /// `nonce` absent or not the request's.
    #[error(
        "the presentation answers another request (its nonce is not the one this verifier issued)"
    )]
    NonceMismatch,
    /// `aud` absent or not exactly this verifier's client id.
    #[error("the presentation is addressed to {found}, not to this verifier ({expected})")]
    AudienceMismatch { found: String, expected: String },
    /// `iat` absent: freshness cannot be judged.
    #[error("the presentation does not say when it was made (iat is required)")]
    IssuedAtMissing,
    /// `iat` outside the accepted window.
    #[error(
        "the presentation was made at {iat}, outside the accepted window (now {now}); ask the \
         holder to present again"
    )]
    Stale {
        iat: DateTime<Utc>,
        now: DateTime<Utc>,
    },
    /// The presentation's own `exp` / `nbf` exclude now.
    #[error("the presentation is not valid now: {0}")]
    Times(String),
    /// The credential names no subject (`credentialSubject.id`) to bind, or several.
    #[error("the credential names no single holder (credentialSubject.id): {0}")]
    NoSubject(String),
    /// The credential's subject is another key than the presentation's signer.
    #[error(
        "the credential was issued to {subject}, not to the key that signed the presentation \
         ({signer})"
    )]
    SubjectNotSigner { subject: String, signer: String },
}

impl From<PresentationDefect> for Defect {
    fn from(defect: PresentationDefect) -> Self {
        Defect::Presentation(defect)
    }
}

/// A parsed `vp+jwt`, its signature not yet verified.
#[derive(Debug, Clone)]
pub struct VpJwt<'a> {
    pub jws: Jws<'a>,
    /// The `kid` header (checked and resolved by [`check_envelope`]).
    pub kid: String,
    /// The compact `vc+jwt`s the presentation encloses, in order.
    pub credentials: Vec<String>,
}

/// Whether `text` is a compact JWS whose header says `typ: vp+jwt` (decides which parser a
/// `jwt_vc_json` answer goes to; the parser then checks everything).
pub fn is_presentation(text: &str) -> bool {
    text.trim()
        .split('.')
        .next()
        .and_then(|header| decode_b64url(header).ok())
        .and_then(|bytes| jose::strict_json(&bytes).ok())
        .is_some_and(|header| header.get("typ").and_then(Value::as_str) == Some(VP_JWT_TYPE))
}

/// Parses a compact `vp+jwt` and checks its header and its VCDM 2.0 presentation shape.
pub fn parse(text: &str) -> Result<VpJwt<'_>, Defect> {
    if text.len() > MAX_PRESENTATION_BYTES {
        return Err(Defect::TooLarge {
            size: text.len(),
            max: MAX_PRESENTATION_BYTES,
        });
    }
    let jws = Jws::parse(text.trim(), "the presentation", VP_JWT_TYPE)?;
    match jws.header.get("cty") {
        None => {}
        Some(Value::String(cty)) if cty == VP_CONTENT_TYPE => {}
        Some(other) => {
            return Err(Defect::WrongContentType {
                what: "the presentation",
                found: other
                    .as_str()
                    .map_or_else(|| other.to_string(), str::to_owned),
                expected: VP_CONTENT_TYPE,
            });
        }
    }
    let kid = jws
        .header
        .get("kid")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let payload = &jws.payload;
    let bad = |claim: &'static str, detail: &str| Defect::BadClaim {
        claim,
        detail: detail.to_owned(),
    };
    if payload.get("vp").is_some() && payload.get("@context").is_none() {
        return Err(bad(
            "vp",
            "this is a VCDM 1.1 JWT presentation (a vp claim); send a VC-JOSE-COSE vp+jwt whose \
             payload is the VCDM 2.0 presentation itself",
        ));
    }
    match payload
        .get("@context")
        .and_then(Value::as_array)
        .and_then(|c| c.first())
        .and_then(Value::as_str)
    {
        Some(VC_CONTEXT_V2) => {}
        _ => {
            return Err(bad(
                "@context",
                "must be an array whose first entry is https://www.w3.org/ns/credentials/v2 \
                 (VCDM 2.0 §4.3)",
            ));
        }
    }
    let typed = match payload.get("type") {
        Some(Value::String(one)) => one == PRESENTATION_TYPE,
        Some(Value::Array(many)) => many.iter().any(|t| t.as_str() == Some(PRESENTATION_TYPE)),
        _ => false,
    };
    if !typed {
        return Err(bad(
            "type",
            "must include VerifiablePresentation (VCDM 2.0 §4.12)",
        ));
    }
    let enclosed = match payload.get("verifiableCredential") {
        Some(Value::Array(items)) if !items.is_empty() => items,
        Some(Value::Object(_)) => std::slice::from_ref(&payload["verifiableCredential"]),
        _ => {
            return Err(bad(
                "verifiableCredential",
                "required, a non-empty array of EnvelopedVerifiableCredential (VCDM 2.0 §4.13)",
            ));
        }
    };
    if enclosed.len() > MAX_CREDENTIALS {
        return Err(bad(
            "verifiableCredential",
            &format!("at most {MAX_CREDENTIALS} credentials per presentation"),
        ));
    }
    let credentials = enclosed
        .iter()
        .map(enveloped_vc_jwt)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(VpJwt {
        jws,
        kid,
        credentials,
    })
}

/// One `EnvelopedVerifiableCredential` whose `id` is `data:application/vc+jwt,<JWT>`.
fn enveloped_vc_jwt(item: &Value) -> Result<String, Defect> {
    let bad = |detail: &str| Defect::BadClaim {
        claim: "verifiableCredential",
        detail: detail.to_owned(),
    };
    let Value::Object(object) = item else {
        return Err(bad(
            "each entry must be an EnvelopedVerifiableCredential object (VCDM 2.0 §4.13.1)",
        ));
    };
    let typed = match object.get("type") {
        Some(Value::String(one)) => one == ENVELOPED_CREDENTIAL_TYPE,
        Some(Value::Array(many)) => many
            .iter()
            .any(|t| t.as_str() == Some(ENVELOPED_CREDENTIAL_TYPE)),
        _ => false,
    };
    if !typed {
        return Err(bad(
            "each entry's type must be EnvelopedVerifiableCredential",
        ));
    }
    object
        .get("id")
        .and_then(Value::as_str)
        .and_then(|id| id.strip_prefix(VC_JWT_DATA_PREFIX))
        .filter(|jwt| !jwt.is_empty())
        .map(str::to_owned)
        .ok_or_else(|| {
            bad("each entry's id must be data:application/vc+jwt,<compact JWT> (VC-JOSE-COSE §3.1.1)")
        })
}

/// What the holder binding of a presentation is checked against.
#[derive(Debug, Clone, Copy)]
pub struct BindingExpectations<'a> {
    pub nonce: &'a str,
    /// This verifier's client id.
    pub audience: &'a str,
    pub now: DateTime<Utc>,
    /// Oldest accepted `iat`.
    pub max_age: Duration,
    pub leeway: Duration,
}

/// The key of a `did:key` or `did:jwk` (resolved from the DID itself: no registry, no network).
pub fn did_public_key(did: &Did) -> Result<PublicKey, String> {
    match did.method() {
        "key" => PublicKey::from_did_key(did.as_str()).map_err(|e| e.to_string()),
        "jwk" => {
            let bytes = decode_b64url(did.method_specific_id())
                .map_err(|e| format!("did:jwk id is not base64url: {e}"))?;
            let jwk = jose::strict_json(&bytes)?;
            if jwk.get("d").is_some() {
                return Err("did:jwk carries a private key".into());
            }
            PublicKey::from_jwk(&jwk).map_err(|e| e.to_string())
        }
        other => Err(format!(
            "did:{other} holders are not supported (did:key and did:jwk are)"
        )),
    }
}

/// The presentation's own checks, the same for every credential it encloses: the signing key
/// from `kid`, `iss`/`holder` naming it, the signature, `nonce`, `aud`, `iat` freshness and
/// `exp`/`nbf`. Returns the holder's DID and key, which each credential's subject must be.
pub fn check_envelope(
    vp: &VpJwt<'_>,
    expected: &BindingExpectations<'_>,
) -> Result<(Did, PublicKey), PresentationDefect> {
    let unknown = |detail: String| PresentationDefect::HolderKeyUnknown {
        kid: vp.kid.clone(),
        detail,
    };
    let url = DidUrl::parse(&vp.kid).map_err(|e| unknown(e.to_string()))?;
    if url.fragment().is_none_or(str::is_empty) {
        return Err(unknown(
            "it names no verification method (#fragment)".into(),
        ));
    }
    let signer = url.did().clone();
    let key = did_public_key(&signer).map_err(unknown)?;
    let payload = &vp.jws.payload;
    for claim in ["iss", "holder"] {
        if let Some(named) = payload.get(claim) {
            let named = named
                .as_str()
                .or_else(|| named.get("id").and_then(Value::as_str))
                .unwrap_or_default();
            if named != signer.as_str() {
                return Err(PresentationDefect::HolderMismatch {
                    claim,
                    named: named.to_owned(),
                    signer: signer.to_string(),
                });
            }
        }
    }
    vp.jws.verify(&key).map_err(PresentationDefect::Signature)?;
    if payload.get("nonce").and_then(Value::as_str) != Some(expected.nonce) {
        return Err(PresentationDefect::NonceMismatch);
    }
    // OpenID4VP 1.0 B.1.3.1.5: aud MUST be the Client Identifier. RFC 7519 allows an array;
    // one holding exactly our client id is the same statement, anything more is not for us
    // alone.
    let audience_ok = match payload.get("aud") {
        Some(Value::String(aud)) => aud == expected.audience,
        Some(Value::Array(auds)) => auds.len() == 1 && auds[0].as_str() == Some(expected.audience),
        _ => false,
    };
    if !audience_ok {
        return Err(PresentationDefect::AudienceMismatch {
            found: payload
                .get("aud")
                .map_or_else(|| "nobody (no aud)".to_owned(), Value::to_string),
            expected: expected.audience.to_owned(),
        });
    }
    let iat = jose::numeric_date(payload, "iat")
        .map_err(|e| PresentationDefect::Times(e.to_string()))?
        .ok_or(PresentationDefect::IssuedAtMissing)?;
    if iat > expected.now + expected.leeway
        || iat < expected.now - expected.max_age - expected.leeway
    {
        return Err(PresentationDefect::Stale {
            iat,
            now: expected.now,
        });
    }
    jose::check_times(payload, expected.now, expected.leeway)
        .map_err(|e| PresentationDefect::Times(e.to_string()))?;
    Ok((signer, key))
}

/// Whether `credential` was issued to the presentation's signer: its one `credentialSubject`'s
/// `id` is a DID (did:key or did:jwk) of the same key (so a did:key and a did:jwk of one key
/// bind alike).
pub fn check_subject(
    credential: &Value,
    signer: &Did,
    key: &PublicKey,
) -> Result<(), PresentationDefect> {
    let subject = match credential.get("credentialSubject") {
        Some(Value::Array(subjects)) if subjects.len() == 1 => &subjects[0],
        Some(Value::Array(_)) => {
            return Err(PresentationDefect::NoSubject(
                "it has several subjects".into(),
            ));
        }
        Some(subject) => subject,
        None => return Err(PresentationDefect::NoSubject("it has no subject".into())),
    };
    let id = subject
        .get("id")
        .and_then(Value::as_str)
        .ok_or_else(|| PresentationDefect::NoSubject("the subject has no id".into()))?;
    let not_signer = || PresentationDefect::SubjectNotSigner {
        subject: id.to_owned(),
        signer: signer.to_string(),
    };
    let did = Did::parse(id).map_err(|_| not_signer())?;
    match did_public_key(&did) {
        Ok(subject_key) if &subject_key == key => Ok(()),
        _ => Err(not_signer()),
    }
}
