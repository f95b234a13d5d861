//! The verification pipeline, one for every format: parse -> issuer (its DID resolved as of
//! issuance) -> signature -> validity -> status -> accreditation -> schema -> holder binding ->
//! policy, each step's outcome recorded in a [`Report`]. Entry points: [`verify_sd_jwt_vc`]
//! (`dc+sd-jwt`, with its key-binding JWT), [`verify_vc_jwt`] (VC-JOSE-COSE `vc+jwt`, a
//! bare credential: holder binding is a presentation's business), [`verify_vp_jwt`] (a
//! VC-JOSE-COSE `vp+jwt` presentation: one report per enclosed `vc+jwt`),
//! [`verify_data_integrity`] (a credential with an embedded `eddsa-rdfc-2022` proof) and
//! [`verify_data_integrity_presentation`] (a presentation with the holder's proof, which is its
//! holder binding). The format modules (`sd_jwt`, `vc_jwt`, `vp_jwt`, `data_integrity`) parse
//! and check; the steps that reach the network, and the caches, are
//! shared here, so both formats resolve issuers, fetch status lists and ask the registry the
//! same way.
//!
//! What it owns: the order of the steps, which outcome each condition is (invalid, or could not
//! check), and the caches in [`Context`]. What it must not do: read the clock (`now` is in
//! [`Expectations`]), choose keys from anything but the issuer's DID document and the
//! credential's `cnf`, or serve HTTP (routes render a [`Report`]; they add no logic).
//!
//! Execution order differs from report order in one way: the pure steps (signature, validity,
//! holder binding, policy) run before the ones that reach the network (status, accreditation,
//! schema), and when a pure step already failed the network ones are not run at all. An invalid
//! presentation costs no fetch, and cannot make us fetch on its behalf.
//!
//! The issuer is resolved as of `iat` (a Data Integrity proof's `created`; did:credence
//! `versionTime`): a credential signed before a key rotation still verifies with the key listed
//! then, and one signed with a key after it was rotated out does not. The flip side is that an issuer whose key leaked must revoke through
//! its status list what the thief backdates; resolving as of issuance cannot tell.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use credence_registry::client::{RegistryClient, fetch_status_list};
use credence_registry::did::Did;
use credence_registry::error::Error as RegistryError;
use credence_registry::keys::PublicKey;
use credence_registry::resolver::Resolver;
use credence_registry::status::{ListClaims, MAX_TTL_SECONDS, StatusFormat, verify_list};
use credence_registry::trust::Authorization;
use credence_registry::wire::VersionSelector;
use serde_json::Value;

use crate::cache::TtlCache;
use crate::data_integrity::{self, Canonicalizer, DiCredential, DiPresentation};
use crate::jose::{self, Jws};
use crate::report::{Defect, DisclosedClaims, Outcome, Report, Step};
use crate::sd_jwt::{self, KeyBindingExpectations, Presentation};
use crate::vc_jwt;
use crate::vp_jwt::{self, BindingExpectations, PresentationDefect};

/// How long a resolved issuer document, an accreditation answer or a schema is kept.
pub const DEFAULT_CACHE_SECONDS: i64 = 300;
/// Entries kept in each cache.
const CACHE_CAPACITY: usize = 4096;

/// Why a verification could not even be attempted: the caller's mistake, not the presenter's
/// and not the network's (those are in the [`Report`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// The expectations cannot be met by any presentation (an empty nonce or audience, a
    /// negative leeway or window).
    #[error("invalid expectations: {0}")]
    InvalidExpectations(&'static str),
}

/// Whether the relying party requires proof that the presenter holds the credential's key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HolderBinding {
    /// A key-binding JWT over this presentation, for this nonce and client id (OpenID4VP's
    /// request nonce and the verifier's `client_id`), made at most `max_age` ago.
    Required {
        nonce: String,
        audience: String,
        max_age: Duration,
    },
    /// Not asked for (a wallet checking what an issuer just sent it); reported "not checked".
    NotRequired,
}

/// The relying party's own rules, checked last.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Policy {
    /// Claims that must be disclosed, each a path of member names (array indexes as digits).
    pub required_claims: Vec<Vec<String>>,
    /// Accepted `vct`s; empty accepts any.
    pub accepted_types: Vec<String>,
    /// Accepted issuers; empty accepts any.
    pub accepted_issuers: Vec<Did>,
    /// Oldest accepted credential (from `iat`), if limited.
    pub max_age: Option<Duration>,
}

/// What this verification expects: the time it is as of, the clock skew tolerated, holder
/// binding and the policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expectations {
    pub now: DateTime<Utc>,
    /// Tolerance on `iat`, `nbf`, `exp` and the key-binding `iat`, for clock skew.
    pub leeway: Duration,
    pub holder_binding: HolderBinding,
    pub policy: Policy,
}

impl Expectations {
    /// Holder binding required for `nonce` and `audience`, a 60 s leeway, a 5 min window for
    /// the key-binding JWT, no policy.
    pub fn presentation(now: DateTime<Utc>, nonce: &str, audience: &str) -> Self {
        Self {
            now,
            leeway: Duration::seconds(60),
            holder_binding: HolderBinding::Required {
                nonce: nonce.to_owned(),
                audience: audience.to_owned(),
                max_age: Duration::minutes(5),
            },
            policy: Policy::default(),
        }
    }

    fn check(&self) -> Result<(), VerifyError> {
        if self.leeway < Duration::zero() {
            return Err(VerifyError::InvalidExpectations("leeway is negative"));
        }
        if let HolderBinding::Required {
            nonce,
            audience,
            max_age,
        } = &self.holder_binding
        {
            if nonce.is_empty() {
                return Err(VerifyError::InvalidExpectations("the nonce is empty"));
            }
            if audience.is_empty() {
                return Err(VerifyError::InvalidExpectations("the audience is empty"));
            }
            if *max_age < Duration::zero() {
                return Err(VerifyError::InvalidExpectations(
                    "the key-binding window is negative",
                ));
            }
        }
        Ok(())
    }
}

/// The issuer's DID document as of a time, with the keys it lists under `assertionMethod`
/// (absolute verification method id -> key, or why that key is unusable).
#[derive(Debug)]
struct IssuerKeys {
    keys: HashMap<String, Result<PublicKey, String>>,
}

/// Where the pipeline reaches DIDs, the registry and status lists, and what it keeps between
/// verifications. Build one per verifier and share it (`Arc`): the caches are what make the hot
/// path a matter of signatures.
#[derive(Debug)]
pub struct Context {
    resolver: Resolver,
    registry: Option<RegistryClient>,
    status_http: reqwest::Client,
    /// Whether status lists may be fetched from non-public IP literals (the client's DNS
    /// filter covers names).
    private_status_targets: bool,
    /// The registry the operator configured, as a URL prefix, and a client for it: lists
    /// under it are fetched wherever it is (a loopback or private registry is the operator's
    /// choice, not a credential's).
    trusted_status_base: Option<(String, reqwest::Client)>,
    issuers: TtlCache<(Did, Option<i64>), IssuerKeys>,
    status_lists: TtlCache<String, VerifiedList>,
    authorizations: TtlCache<(Did, String, i64), Authorization>,
    schemas: TtlCache<String, Option<Schema>>,
    /// Data Integrity: processed contexts and proof-configuration hashes.
    canonicalizer: Canonicalizer,
}

/// A status list whose signature was checked against its issuer, as cached.
#[derive(Debug)]
struct VerifiedList {
    claims: ListClaims,
    /// A W3C list's `credentialSubject.statusPurpose` (`revocation`, `suspension`).
    purpose: Option<String>,
}

/// A registry schema, compiled.
struct Schema {
    id: String,
    validator: jsonschema::Validator,
}

impl std::fmt::Debug for Schema {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Schema({})", self.id)
    }
}

impl Context {
    /// `resolver` finds issuers' DID documents; `registry`, if any, answers accreditation and
    /// schema questions (without one those steps are "not checked"); `status_http` fetches
    /// status lists (a service passes the SSRF-safe client its resolver uses).
    pub fn new(
        resolver: Resolver,
        registry: Option<RegistryClient>,
        status_http: reqwest::Client,
    ) -> Self {
        Self {
            resolver,
            registry,
            status_http,
            private_status_targets: true,
            trusted_status_base: None,
            issuers: TtlCache::new(CACHE_CAPACITY),
            status_lists: TtlCache::new(CACHE_CAPACITY),
            authorizations: TtlCache::new(CACHE_CAPACITY),
            schemas: TtlCache::new(CACHE_CAPACITY),
            canonicalizer: Canonicalizer::new(),
        }
    }

    /// Refuses status list URLs at non-public IP literals (a service's setting: a credential
    /// must not make the verifier reach into its own network). Pair it with the base crate's
    /// `resolver::web::public_http_client`, which refuses names resolving to such addresses.
    pub fn public_status_targets_only(mut self) -> Self {
        self.private_status_targets = false;
        self
    }

    /// Fetches status lists whose URL starts with `base` (the operator's registry) with
    /// `http`, whatever address the registry has: the address policy guards against URLs a
    /// credential chooses, and this one the operator chose.
    pub fn trusting_status_lists_under(mut self, base: &str, http: reqwest::Client) -> Self {
        let base = format!("{}/", base.trim_end_matches('/'));
        self.trusted_status_base = Some((base, http));
        self
    }
}

/// What the parse step reads from the issuer-signed JWT for the later steps, whatever the
/// format.
struct Credential {
    issuer: Did,
    /// The signing key's DID URL.
    kid: String,
    /// When it was issued: the issuer's keys, and its accreditation, are those of then.
    iat: DateTime<Utc>,
    /// Its types, for the policy: the `vct`, or the entries of `type` but the base type.
    types: Vec<String>,
    /// The type the registry is asked about (accreditation, schema): the `vct`, or
    /// `vc_jwt::registry_type`; `None` when it names none a registry could know.
    registry_type: Option<String>,
}

impl Credential {
    fn types_text(&self) -> String {
        if self.types.is_empty() {
            "(no type)".to_owned()
        } else {
            self.types.join(", ")
        }
    }
}

/// Verifies an SD-JWT VC presentation (`dc+sd-jwt`, optionally with a key-binding JWT).
/// `Err` only for expectations no presentation could meet; everything about the presentation
/// and about what could not be reached is in the report.
pub async fn verify_sd_jwt_vc(
    presentation: &[u8],
    expectations: &Expectations,
    context: &Context,
) -> Result<Report, VerifyError> {
    expectations.check()?;
    let mut report = Report::new();
    let now = expectations.now;

    // parse
    let parsed = std::str::from_utf8(presentation)
        .map_err(|_| Defect::NotUtf8)
        .and_then(|text| sd_jwt::parse(text, sd_jwt::SD_JWT_VC_TYPE))
        .and_then(|parsed| credential_claims(&parsed).map(|claims| (parsed, claims)));
    let (parsed, credential) = match parsed {
        Ok(ok) => ok,
        Err(defect) => return Ok(fail(report, Step::Parse, defect)),
    };
    report.set(Step::Parse, Outcome::Passed);

    // issuer, as of issuance
    let Some(issuer_keys) = issuer_step(&mut report, context, &credential, now).await else {
        return Ok(report);
    };

    // signature, and every Disclosure through its digest
    let processed = issuer_signature(&parsed.issuer_jwt, &credential, &issuer_keys)
        .and_then(|()| sd_jwt::process(&parsed.issuer_jwt.payload, &parsed.disclosures));
    let processed = match processed {
        Ok(processed) => processed,
        Err(defect) => return Ok(fail(report, Step::Signature, defect)),
    };
    report.set(Step::Signature, Outcome::Passed);
    let payload = &parsed.issuer_jwt.payload;

    // The pure steps first.
    report.set(
        Step::Validity,
        verdict(sd_jwt::check_times(payload, now, expectations.leeway)),
    );
    report.set(
        Step::HolderBinding,
        holder_binding(&parsed, &expectations.holder_binding, expectations),
    );
    report.set(
        Step::Policy,
        verdict(policy(
            &expectations.policy,
            &credential,
            &processed.claims,
            now,
        )),
    );
    let claims = DisclosedClaims::new(processed.claims);
    if report.first_failure().is_some() {
        report.set_disclosed(claims);
        report.skip_rest("the presentation is already invalid (see the failed step)");
        return Ok(report);
    }

    // Then the ones that may reach the network.
    report.set(
        Step::Status,
        token_status(context, payload, &credential, now).await,
    );
    report.set(
        Step::Accreditation,
        accreditation(context, &credential, now).await,
    );
    report.set(
        Step::Schema,
        schema(
            context,
            &credential,
            &[claims.as_value()],
            &processed.withheld_at,
            now,
        )
        .await,
    );
    report.set_disclosed(claims);
    Ok(report)
}

/// Verifies a VC-JOSE-COSE `vc+jwt` credential (VCDM 2.0), as a relying party that received
/// it on its own (W3C VC API `credentials/verify`) or a wallet that received it from an
/// issuer. Holder binding needs a presentation: with [`HolderBinding::Required`] a bare
/// credential fails that step. The disclosed claims are the whole credential. `Err` only for
/// expectations no credential could meet.
pub async fn verify_vc_jwt(
    credential: &[u8],
    expectations: &Expectations,
    context: &Context,
) -> Result<Report, VerifyError> {
    vc_jwt_steps(credential, expectations, context, None).await
}

/// The `vc+jwt` steps; `presented` is `Some` for a credential enclosed in a `vp+jwt`: the
/// presentation's own holder-binding result (see [`verify_vp_jwt`]).
async fn vc_jwt_steps(
    credential: &[u8],
    expectations: &Expectations,
    context: &Context,
    presented: Option<&Envelope>,
) -> Result<Report, VerifyError> {
    expectations.check()?;
    let mut report = Report::new();
    let now = expectations.now;

    // parse
    let parsed = std::str::from_utf8(credential)
        .map_err(|_| Defect::NotUtf8)
        .and_then(vc_jwt::parse);
    let parsed = match parsed {
        Ok(parsed) => parsed,
        Err(defect) => return Ok(fail(report, Step::Parse, defect)),
    };
    report.set(Step::Parse, Outcome::Passed);
    let summary = Credential {
        issuer: parsed.issuer.clone(),
        kid: parsed.kid.clone(),
        iat: parsed.issued,
        registry_type: vc_jwt::registry_type(&parsed.types).map(str::to_owned),
        types: parsed.types.clone(),
    };

    // issuer, as of issuance; signature
    let Some(issuer_keys) = issuer_step(&mut report, context, &summary, now).await else {
        return Ok(report);
    };
    if let Err(defect) = issuer_signature(&parsed.jws, &summary, &issuer_keys) {
        return Ok(fail(report, Step::Signature, defect));
    }
    report.set(Step::Signature, Outcome::Passed);

    // The pure steps first.
    report.set(
        Step::Validity,
        verdict(vc_jwt::check_times(&parsed, now, expectations.leeway)),
    );
    report.set(
        Step::HolderBinding,
        match (presented, &expectations.holder_binding) {
            (Some(envelope), _) => envelope_binding(envelope, parsed.credential()),
            (None, HolderBinding::NotRequired) => Outcome::NotChecked(
                "a credential verified on its own: holder binding is checked on presentations"
                    .into(),
            ),
            (None, HolderBinding::Required { .. }) => Outcome::Failed(Defect::HolderProofMissing),
        },
    );
    Ok(w3c_credential_steps(report, &summary, parsed.credential(), expectations, context).await)
}

/// The issuer step: its keys as of issuance, or the report finished with why not.
async fn issuer_step(
    report: &mut Report,
    context: &Context,
    credential: &Credential,
    now: DateTime<Utc>,
) -> Option<Arc<IssuerKeys>> {
    match issuer_keys(context, credential, now).await {
        Ok(keys) => {
            report.set(Step::Issuer, Outcome::Passed);
            Some(keys)
        }
        Err(outcome) => {
            report.set(Step::Issuer, outcome);
            report.skip_rest("the issuer's keys as of issuance are unknown");
            None
        }
    }
}

fn fail(mut report: Report, step: Step, defect: Defect) -> Report {
    report.set(step, Outcome::Failed(defect));
    report.skip_rest(&format!("the {step} step failed"));
    report
}

fn verdict(result: Result<(), Defect>) -> Outcome {
    match result {
        Ok(()) => Outcome::Passed,
        Err(defect) => Outcome::Failed(defect),
    }
}

/// The registered claims the pipeline needs: `iss` a DID, `kid` a DID URL of it naming a
/// verification method, `iat` (to resolve the issuer as of issuance), `vct`.
fn credential_claims(parsed: &Presentation<'_>) -> Result<Credential, Defect> {
    let payload = &parsed.issuer_jwt.payload;
    let issuer_text =
        payload
            .get("iss")
            .and_then(Value::as_str)
            .ok_or_else(|| Defect::BadClaim {
                claim: "iss",
                detail: "required, a string".into(),
            })?;
    let issuer = Did::parse(issuer_text).map_err(|e| Defect::BadClaim {
        claim: "iss",
        detail: format!("the issuer must be a DID: {e}"),
    })?;
    let kid = jose::issuer_kid(&parsed.issuer_jwt.header, &issuer)?;
    let iat = jose::numeric_date(payload, "iat")?.ok_or_else(|| Defect::BadClaim {
        claim: "iat",
        detail: "required: the issuer's keys are looked up as of issuance".into(),
    })?;
    let vct = payload
        .get("vct")
        .and_then(Value::as_str)
        .filter(|vct| !vct.is_empty())
        .ok_or_else(|| Defect::BadClaim {
            claim: "vct",
            detail: "required, a non-empty string (draft-ietf-oauth-sd-jwt-vc §3.2.2.1.1)".into(),
        })?
        .to_owned();
    Ok(Credential {
        issuer,
        kid,
        iat,
        types: vec![vct.clone()],
        registry_type: Some(vct),
    })
}

/// Whether a registry error means "nobody answered properly" (could not check) rather than a
/// definite answer about the thing asked: the base crate's exhaustive status mapping decides
/// (5xx: upstream, log verification, internal).
fn unreachable(error: &RegistryError) -> bool {
    error.status().is_server_error()
}

/// The issuer's `assertionMethod` keys as of `iat` (did:credence: the version current then;
/// other methods have one version).
async fn issuer_keys(
    context: &Context,
    credential: &Credential,
    now: DateTime<Utc>,
) -> Result<Arc<IssuerKeys>, Outcome> {
    let versioned = credential.issuer.method() == credence_registry::ops::METHOD;
    let cache_key = (
        credential.issuer.clone(),
        versioned.then(|| credential.iat.timestamp()),
    );
    if let Some(keys) = context.issuers.get(&cache_key, now) {
        return Ok(keys);
    }
    let version = if versioned {
        VersionSelector::Time(credential.iat)
    } else {
        VersionSelector::Latest
    };
    let resolution = context
        .resolver
        .resolve(&credential.issuer, &version)
        .await
        .map_err(|error| {
            if unreachable(&error) {
                Outcome::CouldNotCheck(format!(
                    "the issuer {} could not be resolved: {error}",
                    credential.issuer
                ))
            } else {
                Outcome::Failed(Defect::IssuerUnknown {
                    issuer: credential.issuer.to_string(),
                    at: credential.iat,
                    detail: error.to_string(),
                })
            }
        })?;
    // A DID deactivated before the credential was issued signs nothing (resolution answers it
    // with `deactivated: true`; its last document must not be trusted).
    if resolution.metadata.deactivated {
        return Err(Outcome::Failed(Defect::IssuerUnknown {
            issuer: credential.issuer.to_string(),
            at: credential.iat,
            detail: "the DID was deactivated at that time".into(),
        }));
    }
    let keys = Arc::new(assertion_keys(&resolution.document, &credential.issuer));
    context.issuers.insert(
        cache_key,
        keys.clone(),
        now,
        now + Duration::seconds(DEFAULT_CACHE_SECONDS),
    );
    Ok(keys)
}

/// The keys `document` lists under `assertionMethod`, by absolute id. The same rule as
/// `credence_registry::signed` (a reference to a `verificationMethod` entry, absolute or
/// `#relative`, or an embedded method), computed once per document so that the hot path does
/// not re-parse the JWS or re-decode keys (`signed::verify_against` does both per call).
fn assertion_keys(document: &Value, did: &Did) -> IssuerKeys {
    let absolute = |id: &str| {
        if id.starts_with('#') {
            format!("{did}{id}")
        } else {
            id.to_owned()
        }
    };
    let methods: HashMap<String, &Value> = document
        .get("verificationMethod")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|m| Some((absolute(m.get("id")?.as_str()?), m)))
        .collect();
    let mut keys = HashMap::new();
    for reference in document
        .get("assertionMethod")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let (id, method) = match reference {
            Value::String(id) => {
                let id = absolute(id);
                let method = methods.get(&id).copied();
                (id, method)
            }
            Value::Object(_) => match reference.get("id").and_then(Value::as_str) {
                Some(id) => (absolute(id), Some(reference)),
                None => continue,
            },
            _ => continue,
        };
        let key = match method {
            None => Err("listed under assertionMethod but not defined".to_owned()),
            Some(method) => match (
                method.get("publicKeyMultibase").and_then(Value::as_str),
                method.get("publicKeyJwk"),
            ) {
                (Some(multibase), _) => {
                    PublicKey::from_multikey(multibase).map_err(|e| e.to_string())
                }
                (None, Some(jwk)) => PublicKey::from_jwk(jwk).map_err(|e| e.to_string()),
                (None, None) => Err("the method has no public key".to_owned()),
            },
        };
        keys.insert(id, key);
    }
    IssuerKeys { keys }
}

fn issuer_signature(
    jws: &Jws<'_>,
    credential: &Credential,
    issuer: &IssuerKeys,
) -> Result<(), Defect> {
    let key = match issuer.keys.get(&credential.kid) {
        Some(Ok(key)) => key,
        Some(Err(why)) => {
            return Err(Defect::KeyNotAuthorized {
                kid: credential.kid.clone(),
                detail: format!("the key is unusable: {why}"),
            });
        }
        None => {
            return Err(Defect::KeyNotAuthorized {
                kid: credential.kid.clone(),
                detail: format!(
                    "{}'s DID document as of {} lists no such key under assertionMethod",
                    credential.issuer, credential.iat
                ),
            });
        }
    };
    jws.verify(key).map_err(Defect::BadSignature)
}

fn holder_binding(
    parsed: &Presentation<'_>,
    required: &HolderBinding,
    expectations: &Expectations,
) -> Outcome {
    let HolderBinding::Required {
        nonce,
        audience,
        max_age,
    } = required
    else {
        return Outcome::NotChecked("the relying party did not ask for holder binding".into());
    };
    let result = sd_jwt::holder_key(&parsed.issuer_jwt.payload).and_then(|holder| {
        sd_jwt::check_key_binding(
            parsed,
            &holder,
            &KeyBindingExpectations {
                nonce,
                audience,
                now: expectations.now,
                max_age: *max_age,
                leeway: expectations.leeway,
            },
        )
    });
    verdict(result)
}

fn policy(
    policy: &Policy,
    credential: &Credential,
    claims: &Value,
    now: DateTime<Utc>,
) -> Result<(), Defect> {
    if !policy.accepted_types.is_empty()
        && !credential
            .types
            .iter()
            .any(|t| policy.accepted_types.contains(t))
    {
        return Err(Defect::TypeNotAccepted {
            vct: credential.types_text(),
        });
    }
    if !policy.accepted_issuers.is_empty() && !policy.accepted_issuers.contains(&credential.issuer)
    {
        return Err(Defect::IssuerNotAccepted {
            issuer: credential.issuer.to_string(),
        });
    }
    if let Some(max_age) = policy.max_age {
        if now - credential.iat > max_age {
            return Err(Defect::TooOld {
                iat: credential.iat,
                max_seconds: max_age.num_seconds(),
            });
        }
    }
    for path in &policy.required_claims {
        let found = path.iter().try_fold(claims, |value, segment| match value {
            Value::Object(map) => map.get(segment),
            Value::Array(items) => segment.parse::<usize>().ok().and_then(|i| items.get(i)),
            _ => None,
        });
        if found.is_none() {
            return Err(Defect::RequiredClaimMissing {
                path: path.join("/"),
            });
        }
    }
    Ok(())
}

/// Token Status List (draft-ietf-oauth-status-list §6.1): `status.status_list {idx, uri}`.
async fn token_status(
    context: &Context,
    payload: &Value,
    credential: &Credential,
    now: DateTime<Utc>,
) -> Outcome {
    let Some(status) = payload.get("status") else {
        return Outcome::NotChecked(
            "the credential has no status entry, so it cannot be revoked or suspended".into(),
        );
    };
    let entry = status.get("status_list");
    let index = entry.and_then(|e| e.get("idx")).and_then(Value::as_u64);
    let uri = entry.and_then(|e| e.get("uri")).and_then(Value::as_str);
    let (Some(index), Some(uri)) = (index, uri) else {
        return Outcome::Failed(Defect::BadStatusEntry(
            "status must hold status_list {idx: a non-negative integer, uri: a string}".into(),
        ));
    };
    let list = match status_list(
        context,
        uri,
        &credential.issuer,
        StatusFormat::TokenStatusListJwt,
        now,
    )
    .await
    {
        Ok(list) => list,
        Err(ListError::IssuerDeactivated(defect)) => return Outcome::Failed(defect),
        Err(ListError::Unavailable(why)) => return Outcome::CouldNotCheck(why),
    };
    let list = &list.claims.list;
    match list.status(index) {
        None => Outcome::Failed(Defect::BadStatusEntry(format!(
            "entry {index} is outside the status list {uri} ({} entries)",
            list.len()
        ))),
        // §7.1: 0x00 VALID, 0x01 INVALID, 0x02 SUSPENDED.
        Some(0) => Outcome::Passed,
        Some(1) => Outcome::Failed(Defect::Revoked {
            uri: uri.to_owned(),
            index,
        }),
        Some(2) => Outcome::Failed(Defect::Suspended {
            uri: uri.to_owned(),
            index,
        }),
        Some(value) => Outcome::Failed(Defect::OtherStatus {
            uri: uri.to_owned(),
            index,
            value,
        }),
    }
}

/// W3C Bitstring Status List (v1.0 §3.2, "Validate Algorithm") for each revocation and
/// suspension `BitstringStatusListEntry`: the list fetched from `statusListCredential`, signed
/// by the credential's issuer, naming that URL as its own, of the entry's purpose and status
/// size; a set entry is revoked or suspended. A definite "revoked" or "suspended" wins over a
/// list that could not be had; otherwise one list that could not be had makes the step "could
/// not check".
async fn bitstring_status(
    context: &Context,
    document: &Value,
    credential: &Credential,
    now: DateTime<Utc>,
) -> Outcome {
    let entries = match vc_jwt::status_entries(document) {
        Ok(entries) => entries,
        Err(defect) => return Outcome::Failed(defect),
    };
    if entries.checked.is_empty() && entries.unsupported.is_empty() {
        let ignored = if entries.ignored_purposes.is_empty() {
            String::new()
        } else {
            format!(
                " (entries for {} are not about validity)",
                entries.ignored_purposes.join(", ")
            )
        };
        return Outcome::NotChecked(format!(
            "the credential has no revocation or suspension entry, so it cannot be revoked or \
             suspended{ignored}"
        ));
    }
    let mut checked = entries.checked.clone();
    // Revocation first: a revoked credential is reported as revoked even if also suspended.
    checked.sort_by_key(|entry| entry.purpose != vc_jwt::StatusPurpose::Revocation);
    let mut could_not = Vec::new();
    for entry in &checked {
        let uri = entry.list.as_str();
        let list = match status_list(
            context,
            uri,
            &credential.issuer,
            StatusFormat::BitstringVcJwt,
            now,
        )
        .await
        {
            Ok(list) => list,
            Err(ListError::IssuerDeactivated(defect)) => return Outcome::Failed(defect),
            Err(ListError::Unavailable(why)) => {
                could_not.push(why);
                continue;
            }
        };
        if list.purpose.as_deref() != Some(entry.purpose.name()) {
            could_not.push(format!(
                "the list at {uri} is for {}, but the credential's entry is for {}",
                list.purpose.as_deref().unwrap_or("(no purpose)"),
                entry.purpose.name()
            ));
            continue;
        }
        let bits = &list.claims.list;
        if bits.bits() != entry.size {
            return Outcome::Failed(Defect::BadStatusEntry(format!(
                "the entry says {} bits per status, the list at {uri} has {}",
                entry.size,
                bits.bits()
            )));
        }
        match bits.status(entry.index) {
            None => {
                return Outcome::Failed(Defect::BadStatusEntry(format!(
                    "entry {} is outside the status list {uri} ({} entries)",
                    entry.index,
                    bits.len()
                )));
            }
            Some(0) => {}
            Some(_) => {
                let (uri, index) = (uri.to_owned(), entry.index);
                return Outcome::Failed(match entry.purpose {
                    vc_jwt::StatusPurpose::Revocation => Defect::Revoked { uri, index },
                    vc_jwt::StatusPurpose::Suspension => Defect::Suspended { uri, index },
                });
            }
        }
    }
    if !entries.unsupported.is_empty() {
        could_not.push(format!(
            "status entries of type {} are not supported",
            entries.unsupported.join(", ")
        ));
    }
    if could_not.is_empty() {
        Outcome::Passed
    } else {
        Outcome::CouldNotCheck(could_not.join("; "))
    }
}

/// The verified list at `uri`, from the cache or fetched: signed by `issuer` (the credential's
/// issuer, with a key its DID document lists under `assertionMethod`), of the `format` the
/// credential's entry refers to, naming `uri` as its own. Kept for the list's `ttl` (at most a
/// day). `Err` says why the status could not be checked. The fetch is capped
/// (`fetch_status_list`) and inflation bounded (`status::parse_claims`), so an oversized list
/// or a decompression bomb is refused, and reported as a list that could not be used.
async fn status_list(
    context: &Context,
    uri: &str,
    issuer: &Did,
    format: StatusFormat,
    now: DateTime<Utc>,
) -> Result<Arc<VerifiedList>, ListError> {
    let cache_key = uri.to_owned();
    let list = match context.status_lists.get(&cache_key, now) {
        Some(list) => list,
        None => {
            let list = Arc::new(fetch_list(context, uri, issuer).await?);
            let ttl = list.claims.ttl_seconds.min(MAX_TTL_SECONDS);
            context.status_lists.insert(
                cache_key,
                list.clone(),
                now,
                now + Duration::seconds(i64::try_from(ttl).unwrap_or(0)),
            );
            list
        }
    };
    let claims = &list.claims;
    if claims.format != format {
        return Err(ListError::Unavailable(format!(
            "{uri} serves a {} list; the credential refers to a {}",
            claims.format.name(),
            format.name()
        )));
    }
    if &claims.issuer != issuer {
        return Err(ListError::Unavailable(format!(
            "the list at {uri} is {}'s, not the credential issuer's ({issuer})",
            claims.issuer
        )));
    }
    Ok(list)
}

/// Why a status list gave no answer.
enum ListError {
    /// The credential issuer's DID is deactivated today (the registry proved it). Decided rule:
    /// this FAILS the status step rather than leaving it "could not check". A deactivated DID
    /// signs nothing any more, so its status lists can no longer be kept or republished, and a
    /// revocation made after the deactivation could never be seen: no credential of a
    /// deactivated issuer can be shown to be current. Deactivation is a fact the registry
    /// proved, not an outage, so it is not "could not check" either. The issuer step (which
    /// resolves as of issuance) still passes: the credential was genuinely issued.
    IssuerDeactivated(Defect),
    /// The list could not be fetched or is not usable: "could not check", with why.
    Unavailable(String),
}

/// Fetches the list at `uri` and verifies its signature against the issuer it names.
async fn fetch_list(context: &Context, uri: &str, issuer: &Did) -> Result<VerifiedList, ListError> {
    match fetch_verified_list(context, uri).await {
        Ok(list) => Ok(list),
        // Asked only when the list did not verify (a deactivated DID's lists never do), so a
        // healthy issuer costs no extra resolution.
        Err(why) => match context
            .resolver
            .resolve(issuer, &VersionSelector::Latest)
            .await
        {
            Ok(resolution) if resolution.metadata.deactivated => {
                Err(ListError::IssuerDeactivated(Defect::IssuerDeactivated {
                    issuer: issuer.to_string(),
                    since: resolution.metadata.updated.clone(),
                }))
            }
            Err(RegistryError::DeactivatedDid(resolution)) => {
                Err(ListError::IssuerDeactivated(Defect::IssuerDeactivated {
                    issuer: issuer.to_string(),
                    since: resolution.metadata.updated.clone(),
                }))
            }
            _ => Err(ListError::Unavailable(why)),
        },
    }
}

async fn fetch_verified_list(context: &Context, uri: &str) -> Result<VerifiedList, String> {
    let http = match &context.trusted_status_base {
        Some((base, http)) if uri.starts_with(base.as_str()) => http,
        _ => {
            credence_registry::resolver::web::check_public_target(
                uri,
                context.private_status_targets,
            )
            .map_err(|e| format!("the status list was not fetched: {e}"))?;
            &context.status_http
        }
    };
    let fetched = fetch_status_list(http, uri)
        .await
        .map_err(|e| format!("the status list {uri} could not be fetched: {e}"))?;
    let (signed, claims) = verify_list(&context.resolver, &fetched.jws)
        .await
        .map_err(|e| format!("the status list served at {uri} is not usable: {e}"))?;
    if claims.uri != uri {
        return Err(format!(
            "the list served at {uri} says it is {}: not the list the credential refers to",
            claims.uri
        ));
    }
    let purpose = signed
        .payload
        .get("credentialSubject")
        .and_then(|subject| subject.get("statusPurpose"))
        .and_then(Value::as_str)
        .map(str::to_owned);
    Ok(VerifiedList { claims, purpose })
}

/// The registry's answer to "was the issuer accredited for this type at `iat`?". A credential
/// naming no type a registry could know fails here: a registry was asked, and nothing it
/// accredits was named.
async fn accreditation(context: &Context, credential: &Credential, now: DateTime<Utc>) -> Outcome {
    let Some(registry) = &context.registry else {
        return Outcome::NotChecked(
            "no registry is configured, so the issuer's accreditation was not checked".into(),
        );
    };
    let Some(vct) = credential.registry_type.as_deref() else {
        return Outcome::Failed(Defect::NotAccredited {
            issuer: credential.issuer.to_string(),
            vct: credential.types_text(),
            at: credential.iat,
            reason: "none of the credential's types is a URI, which is how the registry names \
                     the types it accredits issuers for"
                .into(),
        });
    };
    let cache_key = (
        credential.issuer.clone(),
        vct.to_owned(),
        credential.iat.timestamp(),
    );
    let answer = match context.authorizations.get(&cache_key, now) {
        Some(answer) => answer,
        None => match registry
            .authorization_at(&credential.issuer, vct, credential.iat)
            .await
        {
            Ok(answer) => {
                let answer = Arc::new(answer);
                context.authorizations.insert(
                    cache_key,
                    answer.clone(),
                    now,
                    now + Duration::seconds(DEFAULT_CACHE_SECONDS),
                );
                answer
            }
            Err(error) => {
                return Outcome::CouldNotCheck(format!(
                    "the registry did not answer whether {} was accredited for {}: {error}",
                    credential.issuer, vct
                ));
            }
        },
    };
    if answer.allowed {
        Outcome::Passed
    } else {
        Outcome::Failed(Defect::NotAccredited {
            issuer: credential.issuer.to_string(),
            vct: vct.to_owned(),
            at: credential.iat,
            reason: answer
                .reason
                .clone()
                .unwrap_or_else(|| "the registry gave no reason".into()),
        })
    }
}

/// The claims against the registry's JSON Schema for the credential's type: an SD-JWT VC's
/// disclosed claims, a `vc+jwt`'s `credentialSubject`s (`instances`). A `required` claim
/// missing where the holder withheld claims is not a violation: selective disclosure is the
/// point (the schema describes the credential as issued).
async fn schema(
    context: &Context,
    credential: &Credential,
    instances: &[&Value],
    withheld_at: &[String],
    now: DateTime<Utc>,
) -> Outcome {
    let Some(registry) = &context.registry else {
        return Outcome::NotChecked(
            "no registry is configured, so the claims were not checked against a schema".into(),
        );
    };
    let Some(vct) = credential.registry_type.as_deref() else {
        return Outcome::NotChecked(format!(
            "the credential's types ({}) name no schema a registry publishes",
            credential.types_text()
        ));
    };
    let schema = match context.schemas.get(&vct.to_owned(), now) {
        Some(schema) => schema,
        None => match fetch_schema(registry, vct).await {
            Ok(schema) => {
                let schema = Arc::new(schema);
                context.schemas.insert(
                    vct.to_owned(),
                    schema.clone(),
                    now,
                    now + Duration::seconds(DEFAULT_CACHE_SECONDS),
                );
                schema
            }
            Err(why) => return Outcome::CouldNotCheck(why),
        },
    };
    let Some(schema) = schema.as_ref() else {
        return Outcome::NotChecked(format!("the registry publishes no schema for {vct}"));
    };
    let problems: Vec<String> = instances
        .iter()
        .flat_map(|instance| schema.validator.iter_errors(instance))
        .filter_map(|error| {
            let at = error.instance_path().as_str().to_owned();
            match error.kind() {
                jsonschema::error::ValidationErrorKind::Required { property } => {
                    if withheld_at.contains(&at) {
                        None
                    } else {
                        Some(format!(
                            "at {at:?}: the required claim {property} is missing"
                        ))
                    }
                }
                // Keyword and location only: the error's own message quotes the claim's value.
                kind => Some(format!("at {at:?}: fails {:?}", kind.keyword())),
            }
        })
        .collect();
    if problems.is_empty() {
        Outcome::Passed
    } else {
        Outcome::Failed(Defect::SchemaViolation {
            vct: vct.to_owned(),
            problems,
        })
    }
}

/// The compiled schema of `vct`, `None` if the registry has none. `Err` says why it could not
/// be had.
async fn fetch_schema(registry: &RegistryClient, vct: &str) -> Result<Option<Schema>, String> {
    let metadata = match registry.type_metadata(vct).await {
        Ok(metadata) => metadata,
        Err(RegistryError::Remote(problem)) if problem.kind.ends_with("/schema-not-found") => {
            return Ok(None);
        }
        Err(error) => {
            return Err(format!(
                "the registry did not give the type metadata of {vct}: {error}"
            ));
        }
    };
    let id = metadata
        .get("schema_uri")
        .and_then(Value::as_str)
        .and_then(|uri| uri.strip_prefix("schemas/")?.strip_suffix("/schema"))
        .ok_or_else(|| format!("the registry's type metadata for {vct} names no schema_uri"))?;
    let published = registry
        .schema(id)
        .await
        .map_err(|e| format!("the registry did not give schema {id} of {vct}: {e}"))?;
    if published.vct != vct {
        return Err(format!(
            "the registry's schema {id} is for {}, not {vct}",
            published.vct
        ));
    }
    let validator = jsonschema::draft202012::new(&published.schema)
        .map_err(|e| format!("the registry's schema {id} for {vct} does not compile: {e}"))?;
    Ok(Some(Schema {
        id: id.to_owned(),
        validator,
    }))
}

/// The steps every W3C credential document shares once its signature, validity and holder
/// binding are set (`vc+jwt`, Data Integrity): policy, then — only if nothing failed — the
/// steps that may reach the network: Bitstring status, accreditation, and the schema over each
/// `credentialSubject`. The whole credential is what it discloses.
async fn w3c_credential_steps(
    mut report: Report,
    summary: &Credential,
    document: &Value,
    expectations: &Expectations,
    context: &Context,
) -> Report {
    let now = expectations.now;
    report.set(
        Step::Policy,
        verdict(policy(&expectations.policy, summary, document, now)),
    );
    let claims = DisclosedClaims::new(document.clone());
    if report.first_failure().is_some() {
        report.set_disclosed(claims);
        report.skip_rest("the credential is already invalid (see the failed step)");
        return report;
    }

    // Then the ones that may reach the network.
    report.set(
        Step::Status,
        bitstring_status(context, document, summary, now).await,
    );
    report.set(
        Step::Accreditation,
        accreditation(context, summary, now).await,
    );
    let subjects = vc_jwt::subject_claims(document);
    let instances: Vec<&Value> = subjects.iter().collect();
    report.set(
        Step::Schema,
        schema(context, summary, &instances, &[], now).await,
    );
    report.set_disclosed(claims);
    report
}

// ---- Data Integrity (`eddsa-rdfc-2022`): credentials and presentations ----

/// Verifies a W3C Verifiable Credential (VCDM 2.0) secured with a Data Integrity proof of the
/// `eddsa-rdfc-2022` cryptosuite (`data_integrity`), as a relying party that received it on its
/// own or a wallet that received it from an issuer: the same steps as [`verify_vc_jwt`], the
/// issuer resolved as of `proof.created` (else `validFrom`), the proof's `verificationMethod`
/// one of the issuer's `assertionMethod` keys then. Holder binding needs a presentation
/// ([`verify_data_integrity_presentation`]): with [`HolderBinding::Required`] a bare credential
/// fails that step. `Err` only for expectations no credential could meet.
pub async fn verify_data_integrity(
    credential: &[u8],
    expectations: &Expectations,
    context: &Context,
) -> Result<Report, VerifyError> {
    expectations.check()?;
    let mut report = Report::new();
    let parsed = match data_integrity::parse_credential(credential) {
        Ok(parsed) => parsed,
        Err(defect) => return Ok(fail(report, Step::Parse, defect)),
    };
    report.set(Step::Parse, Outcome::Passed);
    let binding = match &expectations.holder_binding {
        HolderBinding::NotRequired => Outcome::NotChecked(
            "a credential verified on its own: holder binding is checked on presentations".into(),
        ),
        HolderBinding::Required { .. } => Outcome::Failed(Defect::HolderProofMissing),
    };
    data_integrity_steps(
        report,
        &parsed,
        DiBinding::Decided(binding),
        expectations,
        context,
    )
    .await
}

/// Verifies a W3C Verifiable Presentation secured with the holder's `eddsa-rdfc-2022` proof
/// (`proofPurpose: authentication`) carrying one Data Integrity credential: every step of
/// [`verify_data_integrity`] for the credential, and as holder binding the presentation's
/// proof: its `challenge` the nonce and its `domain` the audience of
/// [`HolderBinding::Required`], `created` within `max_age` (and the leeway) of `now`, made by
/// a `did:key` or `did:jwk` key listed under `authentication` (resolved without any network),
/// whose DID is the credential's `credentialSubject.id`. A presentation is only ever verified
/// against a request: [`HolderBinding::NotRequired`] is [`VerifyError::InvalidExpectations`].
pub async fn verify_data_integrity_presentation(
    presentation: &[u8],
    expectations: &Expectations,
    context: &Context,
) -> Result<Report, VerifyError> {
    expectations.check()?;
    if expectations.holder_binding == HolderBinding::NotRequired {
        return Err(VerifyError::InvalidExpectations(
            "a presentation is verified against the nonce and audience it must answer",
        ));
    }
    let mut report = Report::new();
    let parsed = match data_integrity::parse_presentation(presentation) {
        Ok(parsed) => parsed,
        Err(defect) => return Ok(fail(report, Step::Parse, defect)),
    };
    report.set(Step::Parse, Outcome::Passed);
    data_integrity_steps(
        report,
        &parsed.credential,
        DiBinding::Presentation(&parsed),
        expectations,
        context,
    )
    .await
}

/// How the holder-binding step of a Data Integrity verification is decided.
enum DiBinding<'p> {
    /// Already known (a bare credential).
    Decided(Outcome),
    /// By the presentation's proof.
    Presentation(&'p DiPresentation),
}

/// The steps after parse, for a credential alone or inside a presentation.
async fn data_integrity_steps(
    mut report: Report,
    parsed: &DiCredential,
    binding: DiBinding<'_>,
    expectations: &Expectations,
    context: &Context,
) -> Result<Report, VerifyError> {
    let now = expectations.now;
    let summary = Credential {
        issuer: parsed.issuer.clone(),
        kid: parsed.secured.proof.verification_method.clone(),
        iat: parsed.issued,
        registry_type: vc_jwt::registry_type(&parsed.types).map(str::to_owned),
        types: parsed.types.clone(),
    };

    // issuer, as of issuance; signature
    let Some(issuer_keys) = issuer_step(&mut report, context, &summary, now).await else {
        return Ok(report);
    };
    let signature = match data_integrity_issuer_key(&issuer_keys, &summary) {
        Ok(key) => context.canonicalizer.verify(&parsed.secured, key).await,
        Err(defect) => Err(defect),
    };
    if let Err(defect) = signature {
        return Ok(fail(report, Step::Signature, defect));
    }
    report.set(Step::Signature, Outcome::Passed);

    // The pure steps first (a did:key / did:jwk holder resolves without the network).
    report.set(
        Step::Validity,
        verdict(data_integrity::check_times(
            parsed,
            now,
            expectations.leeway,
        )),
    );
    let binding = match binding {
        DiBinding::Decided(outcome) => outcome,
        DiBinding::Presentation(presentation) => {
            verdict(presentation_binding(presentation, expectations, context).await)
        }
    };
    report.set(Step::HolderBinding, binding);
    Ok(w3c_credential_steps(report, &summary, parsed.credential(), expectations, context).await)
}

/// The issuer's key the proof's `verificationMethod` names, among its `assertionMethod` keys
/// as of issuance.
fn data_integrity_issuer_key<'k>(
    issuer: &'k IssuerKeys,
    credential: &Credential,
) -> Result<&'k PublicKey, Defect> {
    match issuer.keys.get(&credential.kid) {
        Some(Ok(key)) => Ok(key),
        Some(Err(why)) => Err(Defect::KeyNotAuthorized {
            kid: credential.kid.clone(),
            detail: format!("the key is unusable: {why}"),
        }),
        None => Err(Defect::KeyNotAuthorized {
            kid: credential.kid.clone(),
            detail: format!(
                "{}'s DID document as of {} lists no such key under assertionMethod",
                credential.issuer, credential.iat
            ),
        }),
    }
}

/// The holder-binding step of a Data Integrity presentation (VC Data Integrity §2.1
/// `challenge`, `domain`; VCDM 2.0 §4.13): the request it answers, its freshness, who signed
/// it (the credential's subject, with a did:key / did:jwk `authentication` key), and the
/// signature.
async fn presentation_binding(
    presentation: &DiPresentation,
    expectations: &Expectations,
    context: &Context,
) -> Result<(), Defect> {
    let HolderBinding::Required {
        nonce,
        audience,
        max_age,
    } = &expectations.holder_binding
    else {
        unreachable!("verify_data_integrity_presentation refuses NotRequired")
    };
    let proof = &presentation.secured.proof;
    let now = expectations.now;
    if proof.challenge.as_deref() != Some(nonce.as_str()) {
        return Err(Defect::ChallengeMismatch);
    }
    if proof.domain.as_deref() != Some(audience.as_str()) {
        return Err(Defect::DomainMismatch {
            found: proof.domain.clone().unwrap_or_else(|| "(none)".into()),
            expected: audience.clone(),
        });
    }
    let fresh = proof.created.is_some_and(|created| {
        created <= now + expectations.leeway && now - created <= *max_age + expectations.leeway
    });
    let unexpired = proof.expires.is_none_or(|expires| now < expires);
    if !fresh || !unexpired {
        return Err(Defect::PresentationStale {
            created: proof.created,
            now,
        });
    }
    let signer = &proof.signer;
    let subjects: Vec<&str> = match presentation
        .credential
        .credential()
        .get("credentialSubject")
    {
        Some(Value::Array(subjects)) => subjects
            .iter()
            .filter_map(|s| s.get("id").and_then(Value::as_str))
            .collect(),
        Some(subject) => subject
            .get("id")
            .and_then(Value::as_str)
            .into_iter()
            .collect(),
        None => Vec::new(),
    };
    if !subjects.contains(&signer.as_str()) {
        return Err(Defect::HolderNotSubject {
            signer: signer.to_string(),
            subject: if subjects.is_empty() {
                "no identified subject (credentialSubject.id is absent)".into()
            } else {
                subjects.join(", ")
            },
        });
    }
    // A holder is a did:key or did:jwk: its document is a function of the DID, so this step
    // reaches no network whatever the presentation says.
    if !matches!(signer.method(), "key" | "jwk") {
        return Err(Defect::PresentationSignature(format!(
            "the holder {signer} must be a did:key or did:jwk"
        )));
    }
    let resolution = context
        .resolver
        .resolve(signer, &VersionSelector::Latest)
        .await
        .map_err(|e| {
            Defect::PresentationSignature(format!("the holder {signer} does not resolve: {e}"))
        })?;
    let key = relationship_key(
        &resolution.document,
        signer,
        &proof.verification_method,
        "authentication",
    )
    .map_err(Defect::PresentationSignature)?;
    context
        .canonicalizer
        .verify(&presentation.secured, &key)
        .await
        .map_err(|defect| match defect {
            Defect::BadSignature(why) => Defect::PresentationSignature(why),
            Defect::KeyNotAuthorized { detail, .. } => Defect::PresentationSignature(detail),
            other => other,
        })
}

/// The key `method` (an absolute DID URL) if `document` lists it under `relationship`, by
/// reference or embedded.
fn relationship_key(
    document: &Value,
    did: &Did,
    method: &str,
    relationship: &str,
) -> Result<PublicKey, String> {
    let absolute = |id: &str| {
        if id.starts_with('#') {
            format!("{did}{id}")
        } else {
            id.to_owned()
        }
    };
    let listed = document
        .get(relationship)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .find_map(|entry| match entry {
            Value::String(id) if absolute(id) == method => Some(None),
            Value::Object(_)
                if entry
                    .get("id")
                    .and_then(Value::as_str)
                    .map(absolute)
                    .as_deref()
                    == Some(method) =>
            {
                Some(Some(entry))
            }
            _ => None,
        })
        .ok_or_else(|| {
            format!("{method} is not listed under {relationship} in {did}'s document")
        })?;
    let definition = match listed {
        Some(embedded) => embedded,
        None => document
            .get("verificationMethod")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .find(|m| m.get("id").and_then(Value::as_str).map(absolute).as_deref() == Some(method))
            .ok_or_else(|| format!("{method} is listed under {relationship} but not defined"))?,
    };
    match (
        definition.get("publicKeyMultibase").and_then(Value::as_str),
        definition.get("publicKeyJwk"),
    ) {
        (Some(multibase), _) => PublicKey::from_multikey(multibase).map_err(|e| e.to_string()),
        (None, Some(jwk)) => PublicKey::from_jwk(jwk).map_err(|e| e.to_string()),
        (None, None) => Err(format!("{method} has no public key")),
    }
}

// ---- VC-JOSE-COSE presentations (`vp+jwt`) ----

/// A presentation's own holder-binding result, shared by the credentials it encloses: `None`
/// when the relying party did not ask for holder binding, else the signer's DID and key or why
/// the presentation binds nothing.
type Envelope = Option<Result<(Did, PublicKey), PresentationDefect>>;

fn envelope_binding(envelope: &Envelope, credential: &Value) -> Outcome {
    match envelope {
        None => Outcome::NotChecked("the relying party did not ask for holder binding".into()),
        Some(Err(defect)) => Outcome::Failed(defect.clone().into()),
        Some(Ok((signer, key))) => match vp_jwt::check_subject(credential, signer, key) {
            Ok(()) => Outcome::Passed,
            Err(defect) => Outcome::Failed(defect.into()),
        },
    }
}

/// Verifies a VC-JOSE-COSE `vp+jwt` presentation (VCDM 2.0, its credentials enveloped
/// `vc+jwt`s): one [`Report`] per enclosed credential, in order, each through the `vc+jwt`
/// steps, with the holder-binding step answered by the presentation (signed by the key of the
/// credential's `credentialSubject.id`, for this nonce and audience, made within `max_age`;
/// `vp_jwt` has the rules). A presentation that cannot be opened (malformed, wrong `typ`, no
/// credential) gives a single report failed at parse. Pure steps before network ones, as for
/// every format: a presentation whose binding fails costs no fetch. `Err` only for
/// expectations no presentation could meet.
pub async fn verify_vp_jwt(
    presentation: &[u8],
    expectations: &Expectations,
    context: &Context,
) -> Result<Vec<Report>, VerifyError> {
    expectations.check()?;
    let parsed = std::str::from_utf8(presentation)
        .map_err(|_| Defect::NotUtf8)
        .and_then(vp_jwt::parse);
    let parsed = match parsed {
        Ok(parsed) => parsed,
        Err(defect) => return Ok(vec![fail(Report::new(), Step::Parse, defect)]),
    };
    let envelope: Envelope = match &expectations.holder_binding {
        HolderBinding::NotRequired => None,
        HolderBinding::Required {
            nonce,
            audience,
            max_age,
        } => Some(vp_jwt::check_envelope(
            &parsed,
            &BindingExpectations {
                nonce,
                audience,
                now: expectations.now,
                max_age: *max_age,
                leeway: expectations.leeway,
            },
        )),
    };
    let mut reports = Vec::with_capacity(parsed.credentials.len());
    for credential in &parsed.credentials {
        reports.push(
            vc_jwt_steps(
                credential.as_bytes(),
                expectations,
                context,
                Some(&envelope),
            )
            .await?,
        );
    }
    Ok(reports)
}
