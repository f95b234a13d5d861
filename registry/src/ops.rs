//! The did:credence method: operations, their canonical encoding and hashes, validation against
//! the current state, and the DID document as a pure function of the operation list.
//!
//! Nothing here does IO or knows about HTTP or SQL; `registry.rs` feeds it, `store/` persists
//! what it accepts, and an auditor can replay a DID from its operations alone with [`replay`].
//! The method is specified in `registry/DID-METHOD.md`; section numbers below refer to it.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::did::Did;
use crate::keys::{KeyError, PublicKey, SignatureError};

/// Method name.
pub const METHOD: &str = "credence";
/// Largest canonical operation accepted (§4.4).
pub const MAX_OPERATION_BYTES: usize = 8 * 1024;
/// Limits on the contents of one operation (§4.4).
pub const MAX_ROTATION_KEYS: usize = 5;
pub const MAX_VERIFICATION_METHODS: usize = 10;
pub const MAX_SERVICES: usize = 10;
const MAX_FRAGMENT_LEN: usize = 64;
const MAX_SERVICE_FIELD_LEN: usize = 512;
/// Characters of the base32 genesis hash used as the method-specific id (§3): 32 characters are
/// 160 bits, far beyond any collision search.
const ID_LEN: usize = 32;

/// The hash of a signed operation: lowercase base32 (RFC 4648, no padding) of
/// SHA-256(JCS(operation)). It is both `prev` in the next operation and the `versionId`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct OpHash(String);

impl TryFrom<String> for OpHash {
    type Error = String;
    fn try_from(text: String) -> Result<Self, String> {
        Self::parse(&text).ok_or_else(|| {
            format!("{text:?} is not an operation hash (52 characters of lowercase base32)")
        })
    }
}

impl From<OpHash> for String {
    fn from(hash: OpHash) -> Self {
        hash.0
    }
}

impl OpHash {
    pub fn as_str(&self) -> &str {
        &self.0
    }
    /// Accepts only the 52-character form this module produces.
    pub fn parse(text: &str) -> Option<Self> {
        (text.len() == 52 && text.bytes().all(|b| matches!(b, b'a'..=b'z' | b'2'..=b'7')))
            .then(|| Self(text.to_owned()))
    }
}

/// Verification relationships a key may be given (DID Core §5.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Purpose {
    Authentication,
    AssertionMethod,
    CapabilityInvocation,
    CapabilityDelegation,
    KeyAgreement,
}

impl Purpose {
    const ALL: [Purpose; 5] = [
        Purpose::Authentication,
        Purpose::AssertionMethod,
        Purpose::CapabilityInvocation,
        Purpose::CapabilityDelegation,
        Purpose::KeyAgreement,
    ];
    fn property(self) -> &'static str {
        match self {
            Self::Authentication => "authentication",
            Self::AssertionMethod => "assertionMethod",
            Self::CapabilityInvocation => "capabilityInvocation",
            Self::CapabilityDelegation => "capabilityDelegation",
            Self::KeyAgreement => "keyAgreement",
        }
    }
}

/// A verification method as written in an operation. Exactly one of the key members is set.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct VerificationMethodSpec {
    /// Fragment, without `#`.
    pub id: String,
    /// `Multikey` or `JsonWebKey`.
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_key_multibase: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_key_jwk: Option<Value>,
    pub purposes: Vec<Purpose>,
}

/// A service endpoint as written in an operation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ServiceSpec {
    /// Fragment, without `#`.
    pub id: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub service_endpoint: String,
}

/// The body of an operation, without its signature (§4.1).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase", deny_unknown_fields)]
pub enum OperationBody {
    /// Genesis. Its signed form's hash names the DID.
    #[serde(rename_all = "camelCase")]
    Create {
        rotation_keys: Vec<String>,
        #[serde(default)]
        verification_methods: Vec<VerificationMethodSpec>,
        #[serde(default)]
        services: Vec<ServiceSpec>,
    },
    /// Replaces keys, verification methods and services as a whole.
    #[serde(rename_all = "camelCase")]
    Update {
        prev: OpHash,
        rotation_keys: Vec<String>,
        #[serde(default)]
        verification_methods: Vec<VerificationMethodSpec>,
        #[serde(default)]
        services: Vec<ServiceSpec>,
    },
    /// Final: no operation is accepted after it.
    Deactivate { prev: OpHash },
}

impl OperationBody {
    pub fn prev(&self) -> Option<&OpHash> {
        match self {
            Self::Create { .. } => None,
            Self::Update { prev, .. } | Self::Deactivate { prev } => Some(prev),
        }
    }
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Create { .. } => "create",
            Self::Update { .. } => "update",
            Self::Deactivate { .. } => "deactivate",
        }
    }
}

/// An operation with its signature: the body's members plus `sig`, a compact JWS with detached
/// payload over JCS(body) (§4.2).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SignedOperation {
    #[serde(flatten)]
    pub body: OperationBody,
    pub sig: String,
}

/// Why an operation was refused. Each maps to one problem type in `error.rs`.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum OpError {
    /// Not a well-formed operation: wrong members, bad types, limits exceeded.
    #[error("malformed operation: {0}")]
    Malformed(String),
    /// A key in the operation cannot be used.
    #[error("invalid key {key_ref}: {error}")]
    InvalidKey { key_ref: String, error: KeyError },
    /// The signature is missing, malformed or does not verify.
    #[error("bad signature: {0}")]
    BadSignature(String),
    /// Signed by a key that is not a current rotation key.
    #[error("operation is signed by {kid}, which is not a current rotation key of this DID")]
    NotARotationKey { kid: String },
    /// `prev` is not the current head: another operation came first (a fork) or it is stale.
    #[error("operation's prev {given} is not the current head {head}")]
    StalePrev { given: String, head: String },
    /// The DID has been deactivated; nothing may follow.
    #[error("the DID is deactivated; no further operations are accepted")]
    Deactivated,
    /// A genesis operation submitted for an existing DID, or a later operation for none.
    #[error("{0}")]
    WrongKind(&'static str),
}

impl SignedOperation {
    /// Decodes an operation from already strictly parsed JSON (`json::parse_strict`), enforcing
    /// the size limit on its canonical form.
    pub fn from_value(value: Value) -> Result<Self, OpError> {
        let op: SignedOperation =
            serde_json::from_value(value).map_err(|e| OpError::Malformed(e.to_string()))?;
        if op.canonical_bytes().len() > MAX_OPERATION_BYTES {
            return Err(OpError::Malformed(format!(
                "operation exceeds {MAX_OPERATION_BYTES} bytes in canonical form"
            )));
        }
        Ok(op)
    }

    /// JCS (RFC 8785) of the whole signed operation: what is hashed and stored.
    pub fn canonical_bytes(&self) -> Vec<u8> {
        canonical(self)
    }

    /// SHA-256 of the canonical form, base32 (§3).
    pub fn hash(&self) -> OpHash {
        OpHash(base32(&Sha256::digest(self.canonical_bytes())))
    }

    /// Signs `body` with `key`, naming `kid` (a did:key) in the JWS header.
    pub fn sign(body: OperationBody, key: &crate::keys::SecretKey) -> Self {
        let kid = key.public().to_did_key();
        let sig = key.sign_jws_detached(&kid, &canonical(&body));
        Self { body, sig }
    }

    /// Checks the signature against `allowed` rotation keys (did:key strings) and returns the
    /// signer.
    fn verify_signature(&self, allowed: &[String]) -> Result<String, OpError> {
        let header_b64 = self.sig.split('.').next().unwrap_or_default();
        let header_bytes = crate::keys::decode_b64url(header_b64)
            .map_err(|e| OpError::BadSignature(format!("JWS header: {e}")))?;
        let header = crate::json::parse_strict(&header_bytes)
            .map_err(|e| OpError::BadSignature(format!("JWS header: {e}")))?;
        let kid = header
            .get("kid")
            .and_then(Value::as_str)
            .ok_or_else(|| OpError::BadSignature("JWS header has no kid".into()))?;
        if header
            .as_object()
            .is_some_and(|h| h.keys().any(|k| k != "alg" && k != "kid"))
        {
            return Err(OpError::BadSignature(
                "JWS header may only carry alg and kid".into(),
            ));
        }
        if !allowed.iter().any(|k| k == kid) {
            return Err(OpError::NotARotationKey {
                kid: kid.to_owned(),
            });
        }
        let key = PublicKey::from_did_key(kid).map_err(|error| OpError::InvalidKey {
            key_ref: kid.to_owned(),
            error,
        })?;
        key.verify_jws(&self.sig, Some(&canonical(&self.body)))
            .map_err(|e: SignatureError| OpError::BadSignature(e.to_string()))?;
        Ok(kid.to_owned())
    }
}

/// The current state of a DID after applying its operations.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DidState {
    pub did: Did,
    pub rotation_keys: Vec<String>,
    pub verification_methods: Vec<VerificationMethodSpec>,
    pub services: Vec<ServiceSpec>,
    pub deactivated: bool,
    /// Hash of the last applied operation.
    pub head: OpHash,
}

/// Whether `msid` has the shape of a did:credence method-specific id (§2).
pub fn is_valid_id(msid: &str) -> bool {
    msid.len() == ID_LEN && msid.bytes().all(|b| matches!(b, b'a'..=b'z' | b'2'..=b'7'))
}

/// The DID a genesis operation creates: `did:credence:` + the first 32 characters of its hash.
pub fn did_for_genesis(genesis: &SignedOperation) -> Did {
    let hash = genesis.hash();
    Did::parse(&format!("did:{METHOD}:{}", &hash.as_str()[..ID_LEN]))
        .unwrap_or_else(|_| unreachable!("base32 is always a valid method-specific id"))
}

/// Validates `op` against `current` (None for a DID that does not exist yet) and returns the
/// state after it (§5). Pure: the same inputs always give the same answer.
pub fn apply(current: Option<&DidState>, op: &SignedOperation) -> Result<DidState, OpError> {
    match (current, &op.body) {
        (
            None,
            OperationBody::Create {
                rotation_keys,
                verification_methods,
                services,
            },
        ) => {
            check_contents(rotation_keys, verification_methods, services)?;
            op.verify_signature(rotation_keys)?;
            Ok(transition(None, &did_for_genesis(op), op))
        }
        (None, _) => Err(OpError::WrongKind(
            "the DID does not exist; the first operation must be a create",
        )),
        (Some(_), OperationBody::Create { .. }) => Err(OpError::WrongKind(
            "a create operation cannot follow another operation",
        )),
        (Some(state), body) => {
            if state.deactivated {
                return Err(OpError::Deactivated);
            }
            let prev = body
                .prev()
                .unwrap_or_else(|| unreachable!("non-create ops carry prev"));
            if *prev != state.head {
                return Err(OpError::StalePrev {
                    given: prev.as_str().to_owned(),
                    head: state.head.as_str().to_owned(),
                });
            }
            op.verify_signature(&state.rotation_keys)?;
            if let OperationBody::Update {
                rotation_keys,
                verification_methods,
                services,
                ..
            } = body
            {
                check_contents(rotation_keys, verification_methods, services)?;
            }
            Ok(transition(Some(state), &state.did, op))
        }
    }
}

/// The state after `op`, which the caller has validated (or trusts): the one state transition
/// of the method, shared by [`apply`] and [`fold_trusted`] so they cannot drift. `did` names
/// the DID a genesis creates.
fn transition(current: Option<&DidState>, did: &Did, op: &SignedOperation) -> DidState {
    let head = op.hash();
    let mut next = current.cloned().unwrap_or_else(|| DidState {
        did: did.clone(),
        rotation_keys: Vec::new(),
        verification_methods: Vec::new(),
        services: Vec::new(),
        deactivated: false,
        head: head.clone(),
    });
    next.head = head;
    match &op.body {
        OperationBody::Create {
            rotation_keys,
            verification_methods,
            services,
        }
        | OperationBody::Update {
            rotation_keys,
            verification_methods,
            services,
            ..
        } => {
            next.rotation_keys = rotation_keys.clone();
            next.verification_methods = verification_methods.clone();
            next.services = services.clone();
        }
        OperationBody::Deactivate { .. } => {
            next.deactivated = true;
            next.rotation_keys.clear();
            next.verification_methods.clear();
            next.services.clear();
        }
    }
    next
}

/// Re-validates a whole operation log from genesis: what an auditor runs. Returns the state
/// after each operation.
pub fn replay(ops: &[SignedOperation]) -> Result<Vec<DidState>, (usize, OpError)> {
    let mut states: Vec<DidState> = Vec::with_capacity(ops.len());
    for (index, op) in ops.iter().enumerate() {
        let next = apply(states.last(), op).map_err(|e| (index, e))?;
        states.push(next);
    }
    Ok(states)
}

/// Why an operation log is not a DID's valid history.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ChainError {
    #[error("there are no operations")]
    Empty,
    #[error("operation {position} does not verify: {error}")]
    Invalid { position: usize, error: OpError },
    #[error("they are the operations of {0}, not of this DID")]
    OtherDid(Did),
}

/// Re-validates `ops` as `did`'s whole history from its genesis ([`replay`], then the DID the
/// genesis derives must be `did`) and returns the state they lead to: what a client checks
/// before it believes (or builds on) a history someone else served.
pub fn replay_as(did: &Did, ops: &[SignedOperation]) -> Result<DidState, ChainError> {
    let state = replay(ops)
        .map_err(|(position, error)| ChainError::Invalid { position, error })?
        .pop()
        .ok_or(ChainError::Empty)?;
    if state.did != *did {
        return Err(ChainError::OtherDid(state.did));
    }
    Ok(state)
}

/// Applies already-validated operations (read back from our own store) without re-checking
/// signatures: used to build historical versions quickly. Audit and verifying clients use
/// [`replay`].
pub fn fold_trusted(did: &Did, ops: &[SignedOperation]) -> Option<DidState> {
    ops.iter()
        .fold(None, |state, op| Some(transition(state.as_ref(), did, op)))
}

/// The DID document for `state` (§6). A deactivated DID's document keeps only its id.
pub fn document(state: &DidState) -> Value {
    let did = state.did.as_str();
    let mut doc = json!({
        "@context": ["https://www.w3.org/ns/did/v1", "https://w3id.org/security/multikey/v1", "https://w3id.org/security/jwk/v1"],
        "id": did,
    });
    if state.deactivated {
        return doc;
    }
    let mut methods = Vec::new();
    for vm in &state.verification_methods {
        let mut entry = json!({
            "id": format!("{did}#{}", vm.id),
            "type": vm.kind,
            "controller": did,
        });
        if let Some(multibase) = &vm.public_key_multibase {
            entry["publicKeyMultibase"] = Value::String(multibase.clone());
        }
        if let Some(jwk) = &vm.public_key_jwk {
            entry["publicKeyJwk"] = jwk.clone();
        }
        methods.push(entry);
    }
    doc["verificationMethod"] = Value::Array(methods);
    for purpose in Purpose::ALL {
        let refs: Vec<Value> = state
            .verification_methods
            .iter()
            .filter(|vm| vm.purposes.contains(&purpose))
            .map(|vm| Value::String(format!("{did}#{}", vm.id)))
            .collect();
        if !refs.is_empty() {
            doc[purpose.property()] = Value::Array(refs);
        }
    }
    if !state.services.is_empty() {
        doc["service"] = state
            .services
            .iter()
            .map(|s| json!({"id": format!("{did}#{}", s.id), "type": s.kind, "serviceEndpoint": s.service_endpoint}))
            .collect();
    }
    doc
}

/// §4.4: rotation keys, verification methods and services are well formed and within limits.
fn check_contents(
    rotation_keys: &[String],
    verification_methods: &[VerificationMethodSpec],
    services: &[ServiceSpec],
) -> Result<(), OpError> {
    if rotation_keys.is_empty() || rotation_keys.len() > MAX_ROTATION_KEYS {
        return Err(OpError::Malformed(format!(
            "an operation needs 1 to {MAX_ROTATION_KEYS} rotation keys"
        )));
    }
    let mut seen = BTreeSet::new();
    for key_ref in rotation_keys {
        if !seen.insert(key_ref) {
            return Err(OpError::Malformed(format!(
                "rotation key {key_ref} is listed twice"
            )));
        }
        let key = PublicKey::from_did_key(key_ref).map_err(|error| OpError::InvalidKey {
            key_ref: key_ref.clone(),
            error,
        })?;
        // Operations are signed with EdDSA or ES256 only (§4.2).
        if matches!(key, PublicKey::Secp256k1(_)) {
            return Err(OpError::InvalidKey {
                key_ref: key_ref.clone(),
                error: KeyError::InvalidPublicKeyType(
                    "rotation keys must be Ed25519 or P-256".into(),
                ),
            });
        }
    }
    if verification_methods.len() > MAX_VERIFICATION_METHODS {
        return Err(OpError::Malformed(format!(
            "at most {MAX_VERIFICATION_METHODS} verification methods"
        )));
    }
    let mut fragments = BTreeSet::new();
    for vm in verification_methods {
        check_fragment(&vm.id)?;
        if !fragments.insert(vm.id.as_str()) {
            return Err(OpError::Malformed(format!(
                "fragment #{} is used twice",
                vm.id
            )));
        }
        let key = match (
            vm.kind.as_str(),
            &vm.public_key_multibase,
            &vm.public_key_jwk,
        ) {
            ("Multikey", Some(multibase), None) => PublicKey::from_multikey(multibase),
            ("JsonWebKey", None, Some(jwk)) => PublicKey::from_jwk(jwk),
            _ => {
                return Err(OpError::Malformed(format!(
                    "verification method #{}: type must be Multikey with publicKeyMultibase or JsonWebKey with publicKeyJwk",
                    vm.id
                )));
            }
        };
        key.map_err(|error| OpError::InvalidKey {
            key_ref: format!("#{}", vm.id),
            error,
        })?;
        let purposes: BTreeSet<_> = vm.purposes.iter().collect();
        if purposes.is_empty() || purposes.len() != vm.purposes.len() {
            return Err(OpError::Malformed(format!(
                "verification method #{} needs at least one purpose, each listed once",
                vm.id
            )));
        }
        if vm.purposes.contains(&Purpose::KeyAgreement) {
            return Err(OpError::Malformed(format!(
                "verification method #{}: keyAgreement needs an X25519 or ECDH key, which this version does not register",
                vm.id
            )));
        }
    }
    if services.len() > MAX_SERVICES {
        return Err(OpError::Malformed(format!(
            "at most {MAX_SERVICES} services"
        )));
    }
    for service in services {
        check_fragment(&service.id)?;
        if !fragments.insert(service.id.as_str()) {
            return Err(OpError::Malformed(format!(
                "fragment #{} is used twice",
                service.id
            )));
        }
        check_service_type(&service.kind)?;
        check_service_endpoint(&service.id, &service.service_endpoint)?;
    }
    Ok(())
}

/// §5.4 rule 12: a service type is 1..512 printable ASCII characters without spaces, so it
/// cannot carry control, NUL or bidi-override characters into a client's display.
fn check_service_type(kind: &str) -> Result<(), OpError> {
    if kind.is_empty()
        || kind.len() > MAX_SERVICE_FIELD_LEN
        || !kind.bytes().all(|b| b.is_ascii_graphic())
    {
        return Err(OpError::Malformed(
            "service type must be 1..512 printable ASCII characters without spaces".into(),
        ));
    }
    Ok(())
}

/// §5.4 rule 13: a service endpoint is an `https` URL naming a public host, or a DID URL; at
/// most 512 printable ASCII characters (checked on the raw text: the URL parser would silently
/// strip CR, LF and tabs). Schemes a client
/// might act on dangerously (`javascript:`, `data:`, `file:`, plain `http:`) and endpoints that
/// point into a private network or at the client itself are refused.
fn check_service_endpoint(id: &str, endpoint: &str) -> Result<(), OpError> {
    let bad = |why: &str| {
        Err(OpError::Malformed(format!(
            "service #{id}: serviceEndpoint {why}; it must be an https URL of a public host or a \
             DID URL, at most 512 printable ASCII characters"
        )))
    };
    if endpoint.is_empty()
        || endpoint.len() > MAX_SERVICE_FIELD_LEN
        || !endpoint.bytes().all(|b| b.is_ascii_graphic())
    {
        return bad("is empty, too long, or holds spaces or control characters");
    }
    if let Some(rest) = endpoint.strip_prefix("did:") {
        let did_part = rest.split(['/', '?', '#']).next().unwrap_or_default();
        return match crate::did::Did::parse(&format!("did:{did_part}")) {
            Ok(_) => Ok(()),
            Err(_) => bad("is not a valid DID URL"),
        };
    }
    let Ok(url) = url::Url::parse(endpoint) else {
        return bad("is not an absolute URL");
    };
    if url.scheme() != "https" {
        return bad(&format!("uses the scheme {:?}", url.scheme()));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return bad("carries credentials");
    }
    let public = match url.host() {
        Some(url::Host::Domain(domain)) => {
            let domain = domain.trim_end_matches('.');
            domain.contains('.') && !domain.ends_with(".localhost") && domain != "localhost"
        }
        Some(url::Host::Ipv4(ip)) => !crate::resolver::web::is_forbidden_ip(ip.into()),
        Some(url::Host::Ipv6(ip)) => !crate::resolver::web::is_forbidden_ip(ip.into()),
        None => false,
    };
    if !public {
        return bad("does not name a public host");
    }
    Ok(())
}

fn check_fragment(fragment: &str) -> Result<(), OpError> {
    let ok = !fragment.is_empty()
        && fragment.len() <= MAX_FRAGMENT_LEN
        && fragment
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if ok {
        Ok(())
    } else {
        Err(OpError::Malformed(format!(
            "fragment {fragment:?} must be 1..64 characters of letters, digits, '-', '_', '.'"
        )))
    }
}

/// JCS (RFC 8785). Cannot fail for operations: those built here hold only strings, and those
/// received were canonicalized once in `SignedOperation::from_value`, which refuses failures.
fn canonical<T: Serialize>(value: &T) -> Vec<u8> {
    serde_jcs::to_vec(value).unwrap_or_else(|e| unreachable!("JCS of an operation failed: {e}"))
}

fn base32(bytes: &[u8]) -> String {
    data_encoding::BASE32_NOPAD
        .encode(bytes)
        .to_ascii_lowercase()
}
