//! The verification report: one outcome per named step, the overall verdict derived from them,
//! and the claims the holder disclosed.
//!
//! This module owns the vocabulary every format and every rendering (HTTP, CLI, wallet UI)
//! shares: [`Step`], [`Outcome`], [`Defect`] (why something is invalid, as a typed value with a
//! sentence a support desk can act on) and [`Verdict`]. It runs no check itself.
//!
//! "Invalid" and "could not check" are kept apart on purpose: a registry or a status list
//! that does not answer says nothing about the credential, so it is [`Outcome::CouldNotCheck`]
//! and the verdict is [`Verdict::CouldNotCheck`], never [`Verdict::Invalid`]. This is ssi's
//! split between "could we check?" and "is it valid?", kept inside one report so the support
//! desk also sees which steps did pass.

use std::fmt;

use chrono::{DateTime, Utc};
use serde_json::Value;

/// The steps of the pipeline, in the order they are reported (DESIGN.md, "The verifier").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Step {
    /// The input is a well-formed presentation of an accepted format.
    Parse,
    /// The issuer's DID resolves, as of the issuance time.
    Issuer,
    /// The issuer's signature (and, for SD-JWT, every Disclosure through its digest).
    Signature,
    /// `iat`, `nbf`, `exp` (and VCDM 2.0 `validFrom`, `validUntil`) against the verification
    /// time.
    Validity,
    /// The issuer's status list says the credential is valid.
    Status,
    /// The registry says the issuer was accredited for this type at issuance.
    Accreditation,
    /// The disclosed claims satisfy the registry's JSON Schema for the type.
    Schema,
    /// The holder proved possession of the bound key, for this verifier and this request.
    HolderBinding,
    /// The relying party's own rules.
    Policy,
}

impl Step {
    /// Every step, in report order.
    pub const ALL: [Step; 9] = [
        Step::Parse,
        Step::Issuer,
        Step::Signature,
        Step::Validity,
        Step::Status,
        Step::Accreditation,
        Step::Schema,
        Step::HolderBinding,
        Step::Policy,
    ];

    /// The step's stable name in renderings (`holder-binding`).
    pub fn name(self) -> &'static str {
        match self {
            Step::Parse => "parse",
            Step::Issuer => "issuer",
            Step::Signature => "signature",
            Step::Validity => "validity",
            Step::Status => "status",
            Step::Accreditation => "accreditation",
            Step::Schema => "schema",
            Step::HolderBinding => "holder-binding",
            Step::Policy => "policy",
        }
    }
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What one step found.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Passed,
    /// The credential or presentation is invalid, for this reason.
    Failed(Defect),
    /// The step did not apply or was not asked for (no status entry, no registry configured,
    /// an earlier step already failed); the reason says which.
    NotChecked(String),
    /// The step could not be carried out (a registry or status list unreachable or
    /// unusable); nothing is known about the credential from it.
    CouldNotCheck(String),
}

/// The overall answer, derived from the steps: any failure makes it invalid; otherwise any
/// step that could not be checked makes it "could not check"; otherwise it is valid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Valid,
    Invalid,
    CouldNotCheck,
}

/// The claims a holder disclosed, after SD-JWT processing (RFC 9901 §7.1: Disclosures put in
/// place, `_sd`, `_sd_alg` and undisclosed array elements removed). Personal data: `Debug`
/// prints only the claim names.
#[derive(Clone, PartialEq)]
pub struct DisclosedClaims(Value);

impl DisclosedClaims {
    pub(crate) fn new(value: Value) -> Self {
        Self(value)
    }

    pub fn as_value(&self) -> &Value {
        &self.0
    }

    pub fn into_value(self) -> Value {
        self.0
    }
}

impl fmt::Debug for DisclosedClaims {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self
            .0
            .as_object()
            .map(|object| object.keys().map(String::as_str).collect())
            .unwrap_or_default();
        write!(f, "DisclosedClaims({names:?}, values redacted)")
    }
}

/// One step and its outcome.
#[derive(Debug, Clone, PartialEq)]
pub struct StepReport {
    pub step: Step,
    pub outcome: Outcome,
}

/// The result of verifying one credential or presentation: every step of [`Step::ALL`], in
/// order, and the disclosed claims once the signature step passed.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    steps: Vec<StepReport>,
    disclosed: Option<DisclosedClaims>,
}

impl Report {
    /// A report whose steps are all "not checked" until set.
    pub(crate) fn new() -> Self {
        Self {
            steps: Step::ALL
                .iter()
                .map(|&step| StepReport {
                    step,
                    outcome: Outcome::NotChecked(NOT_REACHED.to_owned()),
                })
                .collect(),
            disclosed: None,
        }
    }

    pub(crate) fn set(&mut self, step: Step, outcome: Outcome) {
        if let Some(slot) = self.steps.iter_mut().find(|s| s.step == step) {
            slot.outcome = outcome;
        }
    }

    pub(crate) fn set_disclosed(&mut self, claims: DisclosedClaims) {
        self.disclosed = Some(claims);
    }

    /// Marks every step still at its initial state as not checked because of `why`.
    pub(crate) fn skip_rest(&mut self, why: &str) {
        for slot in &mut self.steps {
            if matches!(&slot.outcome, Outcome::NotChecked(reason) if reason == NOT_REACHED) {
                slot.outcome = Outcome::NotChecked(why.to_owned());
            }
        }
    }

    pub fn steps(&self) -> &[StepReport] {
        &self.steps
    }

    pub fn outcome(&self, step: Step) -> &Outcome {
        &self
            .steps
            .iter()
            .find(|s| s.step == step)
            .unwrap_or_else(|| unreachable!("a report holds every step"))
            .outcome
    }

    pub fn verdict(&self) -> Verdict {
        let outcomes = || self.steps.iter().map(|s| &s.outcome);
        if outcomes().any(|o| matches!(o, Outcome::Failed(_))) {
            Verdict::Invalid
        } else if outcomes().any(|o| matches!(o, Outcome::CouldNotCheck(_))) {
            Verdict::CouldNotCheck
        } else {
            Verdict::Valid
        }
    }

    /// The first failed step and why, in report order.
    pub fn first_failure(&self) -> Option<(Step, &Defect)> {
        self.steps.iter().find_map(|s| match &s.outcome {
            Outcome::Failed(defect) => Some((s.step, defect)),
            _ => None,
        })
    }

    /// The disclosed claims, only if the verdict is [`Verdict::Valid`].
    pub fn valid_claims(&self) -> Option<&DisclosedClaims> {
        (self.verdict() == Verdict::Valid)
            .then_some(self.disclosed.as_ref())
            .flatten()
    }

    /// The disclosed claims whatever the verdict (for showing a support desk what was
    /// presented); present once the issuer's signature and the Disclosures checked out.
    pub fn disclosed_unchecked(&self) -> Option<&DisclosedClaims> {
        self.disclosed.as_ref()
    }
}

impl fmt::Display for Report {
    /// One line per step, then the verdict: the form a CLI prints.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for StepReport { step, outcome } in &self.steps {
            match outcome {
                Outcome::Passed => writeln!(f, "{step:>15}: passed")?,
                Outcome::Failed(defect) => writeln!(f, "{step:>15}: FAILED: {defect}")?,
                Outcome::NotChecked(why) => writeln!(f, "{step:>15}: not checked: {why}")?,
                Outcome::CouldNotCheck(why) => writeln!(f, "{step:>15}: COULD NOT CHECK: {why}")?,
            }
        }
        write!(f, "verdict: {:?}", self.verdict())
    }
}

const NOT_REACHED: &str = "not reached";

/// Why a credential or presentation is invalid. Each variant is one condition a test pins; the
/// message names what is wrong and, where it helps, what the holder or issuer should do. Messages
/// never carry claim values (personal data) — at most claim names.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Defect {
    // ---- parse ----
    /// Larger than the verifier accepts.
    #[error("the presentation is {size} bytes, more than the {max} accepted")]
    TooLarge { size: usize, max: usize },
    /// Not text.
    #[error("the presentation is not UTF-8 text")]
    NotUtf8,
    /// Not the `<JWT>~<Disclosure>~...~[<KB-JWT>]` shape, or a JWS that is not three
    /// base64url parts of strict JSON.
    #[error("the presentation is malformed: {0}")]
    Malformed(String),
    /// A JWS header `typ` other than the one the format requires.
    #[error("{what} has typ {found:?}; expected {expected:?}")]
    WrongType {
        what: &'static str,
        found: Option<String>,
        expected: &'static str,
    },
    /// A JWS header `cty` other than the one the format allows (VC-JOSE-COSE §3.1.1: `vc`).
    #[error("{what} has cty {found:?}; if present it must be {expected:?}")]
    WrongContentType {
        what: &'static str,
        found: String,
        expected: &'static str,
    },
    /// The JWT `iss` and the credential's `issuer` name different parties.
    #[error(
        "the JWT names {iss} as its issuer (iss) but the credential names {issuer}; they must be \
         the same"
    )]
    IssuerMismatch { iss: String, issuer: String },
    /// The legacy SD-JWT VC `typ` (before draft-ietf-oauth-sd-jwt-vc-06), refused.
    #[error(
        "typ \"vc+sd-jwt\" is the SD-JWT VC media type used before 2025 (it collided with the W3C \
         one); ask the issuer to reissue the credential as \"dc+sd-jwt\""
    )]
    LegacyType,
    /// An `alg` outside the allowlist (EdDSA, ES256): `none`, MACs, RSA, ES256K...
    #[error("{what} uses algorithm {alg:?}; only EdDSA (Ed25519) and ES256 (P-256) are accepted")]
    AlgorithmNotAllowed { what: &'static str, alg: String },
    /// A `crit` header parameter: none is understood (RFC 7515 §4.1.11).
    #[error("{what} lists critical header extensions, none of which this verifier understands")]
    CriticalHeader { what: &'static str },
    /// The `kid` is not a DID URL of the `iss` DID.
    #[error(
        "the key id {kid:?} is not a key of the issuer {issuer}; kid must be <issuer DID>#<key>"
    )]
    KidNotOfIssuer { kid: String, issuer: String },
    /// A registered claim the pipeline needs is missing or of the wrong type.
    #[error("the credential's {claim} claim is missing or malformed: {detail}")]
    BadClaim { claim: &'static str, detail: String },
    /// `_sd_alg` names a hash algorithm not on the allowlist (sha-256).
    #[error("the credential hashes its Disclosures with {0:?}; only sha-256 is accepted")]
    UnsupportedSdAlg(String),
    /// A Disclosure that is not base64url of a JSON array of 2 or 3 elements with a string salt.
    #[error("Disclosure {index} is malformed: {detail}")]
    MalformedDisclosure { index: usize, detail: String },
    /// The same Disclosure sent twice (RFC 9901 §4).
    #[error("Disclosure {index} is sent twice; a holder must send each Disclosure once")]
    DuplicateDisclosure { index: usize },
    /// A Disclosure for a claim named `_sd` or `...` (RFC 9901 §7.1 step 3.2.2.2).
    #[error("Disclosure {index} names the reserved claim {name:?}")]
    ReservedClaimName { index: usize, name: String },
    /// A Data Integrity proof of another cryptosuite (or proof type) than `eddsa-rdfc-2022`.
    #[error(
        "unsupported cryptosuite {found}: this verifier checks Data Integrity proofs of the \
         eddsa-rdfc-2022 cryptosuite only"
    )]
    UnsupportedCryptosuite { found: String },
    /// A Data Integrity proof that is missing, of the wrong shape or purpose, or one of several.
    #[error("the Data Integrity proof is unusable: {0}")]
    BadProof(String),
    /// JSON-LD expansion refused the document: a term no context defines, a context URL this
    /// verifier does not bundle (none is ever fetched), an invalid value.
    #[error(
        "the document cannot be read as JSON-LD with the contexts this verifier bundles (none is \
         fetched): {0}"
    )]
    NotCanonicalizable(String),

    // ---- issuer ----
    /// The issuer's DID did not resolve to a document as of issuance (unknown, not yet created,
    /// deactivated, a method we do not resolve).
    #[error("the issuer {issuer} could not be found as of {at}: {detail}")]
    IssuerUnknown {
        issuer: String,
        at: DateTime<Utc>,
        detail: String,
    },

    // ---- signature ----
    /// The `kid` names no key the issuer's document (as of issuance) lists under
    /// `assertionMethod`: a key rotated out before issuance, or another DID's key.
    #[error("the signing key {kid} was not an assertion key of the issuer at issuance: {detail}")]
    KeyNotAuthorized { kid: String, detail: String },
    /// The issuer's signature does not verify (strict Ed25519, low-S P-256).
    #[error("the issuer's signature does not verify: {0}")]
    BadSignature(String),
    /// A Disclosure whose digest the issuer-signed data does not contain (RFC 9901 §7.1
    /// step 5): not issued for this credential.
    #[error(
        "Disclosure {index} ({claim}) was not issued with this credential: its digest is not in \
         the issuer-signed data"
    )]
    UnreferencedDisclosure { index: usize, claim: String },
    /// A digest appearing twice in the issuer-signed data and Disclosures (RFC 9901 §7.1 step 4).
    #[error("a Disclosure digest appears more than once in the credential")]
    DigestRepeated,
    /// An object-member Disclosure referenced from an array, or the reverse (§7.1 step 3).
    #[error("Disclosure {index} is of the wrong kind for where the credential references it")]
    DisclosureKindMismatch { index: usize },
    /// A Disclosure for a claim the credential already has at that level (§7.1 step 3.2.2.3).
    #[error("Disclosure {index} would overwrite the claim {name:?}")]
    DisclosureOverwritesClaim { index: usize, name: String },
    /// `_sd` or `...` of the wrong shape in the issuer-signed data.
    #[error("the credential's selective-disclosure data is malformed: {0}")]
    MalformedSdData(String),

    // ---- validity ----
    #[error("the credential expired at {exp}")]
    Expired { exp: DateTime<Utc> },
    #[error("the credential is not valid before {nbf}")]
    NotYetValid { nbf: DateTime<Utc> },
    #[error("the credential says it was issued at {iat}, in the future")]
    IssuedInFuture { iat: DateTime<Utc> },

    // ---- status ----
    /// Status 1 (INVALID) in the issuer's Token Status List, or the bit set in a W3C
    /// `revocation` bitstring list.
    #[error("the issuer has revoked this credential (status list {uri}, entry {index})")]
    Revoked { uri: String, index: u64 },
    /// Status 2 (SUSPENDED), or the bit set in a W3C `suspension` bitstring list.
    #[error(
        "the issuer has suspended this credential (status list {uri}, entry {index}); it may be \
         reinstated: ask the holder to contact the issuer"
    )]
    Suspended { uri: String, index: u64 },
    /// Another non-zero status value (application-specific): not valid.
    #[error("the status list gives this credential status {value}, which is not VALID")]
    OtherStatus { uri: String, index: u64, value: u8 },
    /// The issuer's DID has been deactivated since the credential was issued: its status lists
    /// are no longer kept, so the credential cannot be shown to be current (the decided rule;
    /// see `pipeline::ListError`).
    #[error(
        "the issuer {issuer} has deactivated its DID{}: its status lists are no longer \
         maintained, so no credential it issued can be shown to be current",
        since.as_deref().map(|t| format!(" (on {t})")).unwrap_or_default()
    )]
    IssuerDeactivated {
        issuer: String,
        since: Option<String>,
    },
    /// The credential's status entry is malformed or points outside its list.
    #[error("the credential's status entry is unusable: {0}")]
    BadStatusEntry(String),

    // ---- accreditation ----
    #[error("the issuer {issuer} was not accredited to issue {vct} at {at}: {reason}")]
    NotAccredited {
        issuer: String,
        vct: String,
        at: DateTime<Utc>,
        reason: String,
    },

    // ---- schema ----
    /// Claims failing the type's JSON Schema: instance locations and keywords only.
    #[error("the disclosed claims do not match the schema of {vct}: {}", problems.join("; "))]
    SchemaViolation { vct: String, problems: Vec<String> },

    // ---- holder binding ----
    #[error(
        "no key-binding JWT was presented; the holder must prove possession of the credential's key"
    )]
    KeyBindingMissing,
    #[error("the credential has no usable holder key (cnf.jwk): {0}")]
    NoHolderKey(String),
    /// Holder binding was required but a bare credential was presented: nothing in it proves
    /// who presents it.
    #[error(
        "a bare credential was presented where proof of the holder was required; the holder must \
         present it in a presentation signed with the key it was issued to"
    )]
    HolderProofMissing,
    #[error("the key-binding JWT is malformed: {0}")]
    KeyBindingMalformed(String),
    #[error("the key-binding JWT is not signed by the credential's holder key: {0}")]
    KeyBindingSignature(String),
    #[error(
        "the key-binding JWT answers another request (its nonce is not the one this verifier issued)"
    )]
    NonceMismatch,
    #[error("the key-binding JWT is addressed to {found:?}, not to this verifier ({expected})")]
    AudienceMismatch { found: String, expected: String },
    #[error(
        "the key-binding JWT was made at {iat}, outside the accepted window (now {now}); ask the \
         holder to present again"
    )]
    KeyBindingStale {
        iat: DateTime<Utc>,
        now: DateTime<Utc>,
    },
    #[error(
        "the key-binding JWT's sd_hash does not match the presented credential and Disclosures"
    )]
    SdHashMismatch,
    /// A Data Integrity presentation's proof: its `challenge` is not the verifier's nonce.
    #[error(
        "the presentation answers another request (its proof's challenge is not the nonce this \
         verifier issued)"
    )]
    ChallengeMismatch,
    /// A Data Integrity presentation's proof names another `domain` than this verifier.
    #[error("the presentation's proof is for domain {found:?}, not for this verifier ({expected})")]
    DomainMismatch { found: String, expected: String },
    /// A Data Integrity presentation's proof made outside the freshness window (or undated).
    #[error(
        "the presentation's proof was made at {created:?}, outside the accepted window (now \
         {now}); ask the holder to present again"
    )]
    PresentationStale {
        created: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    },
    /// The holder's proof on a presentation does not verify with the key it names.
    #[error("the presentation's proof does not verify with the holder's key: {0}")]
    PresentationSignature(String),
    /// The presentation is signed by someone other than the credential's subject.
    #[error(
        "the presentation is signed by {signer}, but the credential was issued to {subject}; only \
         its subject may present it"
    )]
    HolderNotSubject { signer: String, subject: String },
    /// A `vp+jwt` that does not bind its credentials to its signer and to this request
    /// (`vp_jwt::PresentationDefect` names which rule).
    #[error("{0}")]
    Presentation(crate::vp_jwt::PresentationDefect),

    // ---- policy ----
    #[error("credential type {vct} is not one this verifier accepts")]
    TypeNotAccepted { vct: String },
    #[error("issuer {issuer} is not one this verifier accepts")]
    IssuerNotAccepted { issuer: String },
    #[error("the credential was issued at {iat}, longer ago than the {max_seconds} s accepted")]
    TooOld {
        iat: DateTime<Utc>,
        max_seconds: i64,
    },
    #[error("the required claim {path} was not disclosed")]
    RequiredClaimMissing { path: String },
}
