//! Selective disclosure with consent: what a verifier asks for, the view the user consents on,
//! and the presentation built from that consent only: an SD-JWT with a key-binding JWT, or for
//! a `vc+jwt` a VC-JOSE-COSE `vp+jwt` (§3.1.2) signed with the holder key, for the verifier's
//! nonce and client id (OpenID4VP 1.0 B.1.3.1.5). A `vc+jwt` cannot disclose less than all of
//! it: its view lists every claim as disclosed and none as optional
//! ([`ConsentView::discloses_everything`]).
//!
//! The type-level rule: [`build`] takes a [`Consent`], and the only way to get one is
//! [`ConsentView::consent`] with a subset of the claims that view shows. A presentation can
//! therefore hold only Disclosures the user saw and chose (plus the parent Disclosures a nested
//! claim cannot be seen without, RFC 9901 §6.3, which the view lists as disclosed too).
//!
//! Everything here is pure: no storage, no network, `now` a parameter. The OpenID4VP layer
//! (`openid4vp.rs`) fetches and checks the request and turns each credential it answers into a
//! [`PresentationRequest`].

use std::collections::BTreeSet;
use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use credence_registry::keys::SecretKey;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

use credence_verifier::dcql::Format;

use crate::credentials::{
    ClaimPath, CredentialId, Envelope, SdJwtVc, StoredCredential, VcJwt, digest,
};

/// The JWT `typ` of a key-binding JWT (RFC 9901 §4.3).
pub const KB_JWT_TYPE: &str = "kb+jwt";

/// Why a request, a choice or a consent was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConsentError {
    /// A client id that is empty, too long, or has whitespace or control characters.
    #[error("invalid client id {0:?}")]
    InvalidClientId(String),
    /// A nonce that is empty, too long, or has whitespace or control characters.
    #[error("invalid nonce")]
    InvalidNonce,
    /// The request asks for a claim the credential does not have.
    #[error("the credential has no claim {0}")]
    MissingClaim(ClaimPath),
    /// The user chose a claim the verifier did not ask for.
    #[error("claim {0} was not requested")]
    NotRequested(ClaimPath),
    /// The user left out a claim the verifier requires: that is declining, not consenting.
    #[error("claim {0} is required by the verifier")]
    RequiredNotChosen(ClaimPath),
    /// The consent was given on a view of another credential than the one presented.
    #[error("the consent was given for another credential")]
    OtherCredential,
}

/// A verifier's client id (OpenID4VP 1.0 §5.9): the `aud` of the key-binding JWT.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ClientId(String);

impl ClientId {
    pub fn parse(text: &str) -> Result<Self, ConsentError> {
        if is_token(text) {
            Ok(Self(text.to_owned()))
        } else {
            Err(ConsentError::InvalidClientId(
                text.chars().take(100).collect(),
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for ClientId {
    type Error = ConsentError;
    fn try_from(text: String) -> Result<Self, ConsentError> {
        Self::parse(&text)
    }
}

impl From<ClientId> for String {
    fn from(id: ClientId) -> Self {
        id.0
    }
}

impl fmt::Display for ClientId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for ClientId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ClientId({})", self.0)
    }
}

/// The verifier's nonce for this presentation (RFC 9901 §4.3: `nonce`).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Nonce(String);

impl Nonce {
    pub fn parse(text: &str) -> Result<Self, ConsentError> {
        if is_token(text) {
            Ok(Self(text.to_owned()))
        } else {
            Err(ConsentError::InvalidNonce)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn is_token(text: &str) -> bool {
    !text.is_empty()
        && text.len() <= 2048
        && !text.chars().any(|c| c.is_whitespace() || c.is_control())
}

/// Whether the request object's signature verified against the client id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestSignature {
    Verified,
    /// Unsigned, or signed by a key not of the client id: the app should warn.
    NotVerified,
}

/// Who asks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verifier {
    pub client_id: ClientId,
    /// The name in the verifier's metadata, if any (not authenticated unless the request is).
    pub display_name: Option<String>,
    pub request_signature: RequestSignature,
}

/// One claim a verifier asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestedClaim {
    pub path: ClaimPath,
    /// The user may leave it out and still present.
    pub optional: bool,
}

/// A presentation request, as the OpenID4VP layer will hand it over after checking it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PresentationRequest {
    pub verifier: Verifier,
    pub purpose: Option<String>,
    pub nonce: Nonce,
    /// The credential type asked for (`vct`).
    pub vct: String,
    pub claims: Vec<RequestedClaim>,
}

/// One claim the user is asked to disclose, as shown.
#[derive(Clone, PartialEq)]
pub struct ConsentItem {
    pub path: ClaimPath,
    pub value: Value,
    pub optional: bool,
}

impl fmt::Debug for ConsentItem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConsentItem")
            .field("path", &self.path)
            .field("optional", &self.optional)
            .finish_non_exhaustive()
    }
}

/// What the user sees before deciding: who asks, why, and exactly which claims of which
/// credential would be disclosed. Only [`ConsentView::new`] makes one and its fields are read
/// only, so the consent is given on exactly what the wallet computed.
#[derive(Debug, Clone)]
pub struct ConsentView {
    verifier: Verifier,
    purpose: Option<String>,
    credential: CredentialId,
    vct: Option<String>,
    issuer: Option<String>,
    requested: Vec<ConsentItem>,
    always_disclosed: Vec<ClaimPath>,
    nonce: Nonce,
    /// SHA-256 of the credential's compact form: the consent is for this credential only.
    fingerprint: [u8; 32],
    format: Format,
}

impl ConsentView {
    /// The view of `request` answered with `credential`.
    pub fn new(
        request: PresentationRequest,
        credential: &StoredCredential,
    ) -> Result<Self, ConsentError> {
        let requested = request
            .claims
            .iter()
            .map(|asked| {
                let claim = credential
                    .claim(&asked.path)
                    .ok_or_else(|| ConsentError::MissingClaim(asked.path.clone()))?;
                Ok(ConsentItem {
                    path: asked.path.clone(),
                    value: claim.value.clone(),
                    // A vc+jwt is presented whole: leaving a claim out is not possible.
                    optional: asked.optional && credential.format() == Format::SdJwtVc,
                })
            })
            .collect::<Result<Vec<_>, ConsentError>>()?;
        let none = BTreeSet::new();
        let always_disclosed = credential
            .claims()
            .iter()
            .filter(|claim| claim.visible_with(&none))
            .map(|claim| claim.path.clone())
            .collect();
        Ok(Self {
            verifier: request.verifier,
            purpose: request.purpose,
            credential: credential.id().clone(),
            vct: credential.vct().map(str::to_owned),
            issuer: credential.issuer().map(str::to_owned),
            requested,
            always_disclosed,
            nonce: request.nonce,
            fingerprint: fingerprint(credential),
            format: credential.format(),
        })
    }

    /// The credential's format (`dc+sd-jwt`, or `jwt_vc_json` for a `vc+jwt`).
    pub fn format(&self) -> Format {
        self.format
    }

    /// Whether presenting it discloses every claim whatever is chosen (a `vc+jwt`: no
    /// selective disclosure; [`ConsentView::always_disclosed`] then lists every claim).
    pub fn discloses_everything(&self) -> bool {
        self.format == Format::VcJwt
    }

    /// Who asks.
    pub fn verifier(&self) -> &Verifier {
        &self.verifier
    }

    /// Why, in the verifier's words.
    pub fn purpose(&self) -> Option<&str> {
        self.purpose.as_deref()
    }

    /// Which credential would be presented (the copy chosen for this verifier).
    pub fn credential(&self) -> &CredentialId {
        &self.credential
    }

    /// Its type (`vct`).
    pub fn vct(&self) -> Option<&str> {
        self.vct.as_deref()
    }

    /// Its issuer (`iss`).
    pub fn issuer(&self) -> Option<&str> {
        self.issuer.as_deref()
    }

    /// The claims asked for, with their values, optional ones marked.
    pub fn requested(&self) -> &[ConsentItem] {
        &self.requested
    }

    /// Claims every presentation of this credential shows (not selectively disclosable).
    pub fn always_disclosed(&self) -> &[ClaimPath] {
        &self.always_disclosed
    }

    /// The user's consent to disclose `chosen` (a subset of the requested claims that holds
    /// every required one). Declining is not calling this.
    pub fn consent<'v>(
        &'v self,
        chosen: impl IntoIterator<Item = ClaimPath>,
    ) -> Result<Consent<'v>, ConsentError> {
        let chosen: BTreeSet<ClaimPath> = chosen.into_iter().collect();
        if let Some(extra) = chosen
            .iter()
            .find(|path| !self.requested.iter().any(|item| &item.path == *path))
        {
            return Err(ConsentError::NotRequested(extra.clone()));
        }
        if let Some(required) = self
            .requested
            .iter()
            .find(|item| !item.optional && !chosen.contains(&item.path))
        {
            return Err(ConsentError::RequiredNotChosen(required.path.clone()));
        }
        Ok(Consent { view: self, chosen })
    }
}

/// The user's consent: a view and the claims chosen on it. Only [`ConsentView::consent`] makes
/// one.
#[derive(Debug, Clone)]
pub struct Consent<'v> {
    view: &'v ConsentView,
    chosen: BTreeSet<ClaimPath>,
}

impl Consent<'_> {
    pub fn view(&self) -> &ConsentView {
        self.view
    }

    pub fn chosen(&self) -> &BTreeSet<ClaimPath> {
        &self.chosen
    }

    /// Every claim the presentation will show: the chosen ones, what is inside them and not
    /// concealed, the parents they need, and what is always disclosed.
    pub fn disclosed(&self, credential: &StoredCredential) -> Vec<ClaimPath> {
        let set = credential
            .sd_jwt()
            .map(|sd_jwt| indexes_for(sd_jwt, &self.chosen))
            .unwrap_or_default();
        credential
            .claims()
            .iter()
            .filter(|claim| claim.visible_with(&set))
            .map(|claim| claim.path.clone())
            .collect()
    }
}

/// An SD-JWT presentation with its key-binding JWT, ready to send.
#[derive(Clone)]
pub struct Presentation {
    compact: String,
    credential: CredentialId,
    client_id: ClientId,
    chosen: Vec<ClaimPath>,
}

impl Presentation {
    /// `<issuer JWT>~<chosen Disclosures>~<KB-JWT>` (RFC 9901 §4).
    pub fn compact(&self) -> &str {
        &self.compact
    }

    pub fn credential(&self) -> &CredentialId {
        &self.credential
    }

    pub fn client_id(&self) -> &ClientId {
        &self.client_id
    }

    /// The claims the user chose.
    pub fn chosen(&self) -> &[ClaimPath] {
        &self.chosen
    }
}

impl fmt::Debug for Presentation {
    /// The presentation carries personal data: only who it is for and the claim paths.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Presentation")
            .field("credential", &self.credential)
            .field("client_id", &self.client_id)
            .field("chosen", &self.chosen)
            .finish_non_exhaustive()
    }
}

/// Builds the presentation `consent` allows, signed by `key` for the view's verifier and
/// nonce at `now`: for an SD-JWT VC, the issuer JWT, the Disclosures of the chosen claims and
/// of their parents (in the order issued) and a key-binding JWT (RFC 9901 §4.3); for a
/// `vc+jwt`, a `vp+jwt` enveloping it.
pub fn build(
    credential: &StoredCredential,
    key: &SecretKey,
    consent: &Consent<'_>,
    now: DateTime<Utc>,
) -> Result<Presentation, ConsentError> {
    let view = consent.view;
    if view.credential != *credential.id() || view.fingerprint != fingerprint(credential) {
        return Err(ConsentError::OtherCredential);
    }
    let sd_jwt = match credential.envelope() {
        Envelope::SdJwt(sd_jwt) => sd_jwt,
        Envelope::VcJwt(vc_jwt) => return build_vp_jwt(credential, vc_jwt, key, consent, now),
    };
    let mut compact = String::with_capacity(sd_jwt.compact().len() + 512);
    compact.push_str(sd_jwt.issuer_jwt());
    compact.push('~');
    for disclosure in disclosures_for(sd_jwt, &consent.chosen) {
        compact.push_str(disclosure);
        compact.push('~');
    }
    let sd_hash = sd_hash(&compact);
    let header = json!({ "alg": key.public().algorithm().name(), "typ": KB_JWT_TYPE });
    let payload = json!({
        "iat": now.timestamp(),
        "aud": view.verifier.client_id.as_str(),
        "nonce": view.nonce.as_str(),
        "sd_hash": sd_hash,
    });
    let signing_input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(payload.to_string())
    );
    let signature = key.sign_raw(signing_input.as_bytes());
    compact.push_str(&signing_input);
    compact.push('.');
    compact.push_str(&URL_SAFE_NO_PAD.encode(signature));

    Ok(Presentation {
        compact,
        credential: credential.id().clone(),
        client_id: view.verifier.client_id.clone(),
        chosen: consent.chosen.iter().cloned().collect(),
    })
}

/// The JWT `typ` of a VC-JOSE-COSE presentation (§3.1.2).
pub const VP_JWT_TYPE: &str = "vp+jwt";

/// A `vp+jwt` (VC-JOSE-COSE §3.1.2, VCDM 2.0 §4.13.1) enveloping `vc_jwt`, signed by the key
/// of its subject's DID (`kid` that DID's verification method: did:key `#<multikey>`, did:jwk
/// `#0`), with `nonce`, `aud` and `iat` for OpenID4VP (B.1.3.1.5).
fn build_vp_jwt(
    credential: &StoredCredential,
    vc_jwt: &VcJwt,
    key: &SecretKey,
    consent: &Consent<'_>,
    now: DateTime<Utc>,
) -> Result<Presentation, ConsentError> {
    let view = consent.view;
    let holder = vc_jwt
        .subject_id()
        .map_err(|_| ConsentError::OtherCredential)?;
    let kid = match holder.strip_prefix("did:key:") {
        Some(multikey) => format!("{holder}#{multikey}"),
        None => format!("{holder}#0"),
    };
    let header = json!({ "alg": key.public().algorithm().name(), "typ": VP_JWT_TYPE, "kid": kid });
    let payload = json!({
        "@context": ["https://www.w3.org/ns/credentials/v2"],
        "type": ["VerifiablePresentation"],
        "holder": holder,
        "verifiableCredential": [{
            "@context": ["https://www.w3.org/ns/credentials/v2"],
            "type": "EnvelopedVerifiableCredential",
            "id": format!("data:application/vc+jwt,{}", vc_jwt.compact()),
        }],
        "iss": holder,
        "aud": view.verifier.client_id.as_str(),
        "nonce": view.nonce.as_str(),
        "iat": now.timestamp(),
    });
    let signing_input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(payload.to_string())
    );
    let signature = key.sign_raw(signing_input.as_bytes());
    Ok(Presentation {
        compact: format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(signature)),
        credential: credential.id().clone(),
        client_id: view.verifier.client_id.clone(),
        chosen: consent.chosen.iter().cloned().collect(),
    })
}

/// The encoded Disclosures, in issued order, that a presentation of `chosen` carries: each
/// chosen claim's own and those of the claims it sits inside (RFC 9901 §6.3). Paths the
/// credential does not have add nothing.
pub fn disclosures_for<'c>(sd_jwt: &'c SdJwtVc, chosen: &BTreeSet<ClaimPath>) -> Vec<&'c str> {
    indexes_for(sd_jwt, chosen)
        .into_iter()
        .map(|index| sd_jwt.disclosure(index))
        .collect()
}

/// `sd_hash` (RFC 9901 §4.3.1): base64url(SHA-256) of the presentation up to and including the
/// last `~`, which is what `presented` must be.
pub fn sd_hash(presented: &str) -> String {
    digest(presented)
}

fn indexes_for(sd_jwt: &SdJwtVc, chosen: &BTreeSet<ClaimPath>) -> BTreeSet<usize> {
    chosen
        .iter()
        .filter_map(|path| sd_jwt.claim(path))
        .flat_map(|claim| claim.needs().collect::<Vec<_>>())
        .collect()
}

fn fingerprint(credential: &StoredCredential) -> [u8; 32] {
    Sha256::digest(credential.envelope().compact().as_bytes()).into()
}
