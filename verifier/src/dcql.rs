//! DCQL, the Digital Credentials Query Language of OpenID for Verifiable Presentations 1.0
//! (§6, claims path pointers §7): the query types with strict parsing and validation, the
//! verifier's check that what was presented satisfies a query ([`DcqlQuery::satisfied_by`]),
//! and the wallet's matcher ([`CredentialQuery::match_credential`]: which claim paths of one of
//! its credentials would be disclosed for a query).
//!
//! Pure: no IO, no clock, no serde derive (the default tree carries no server crate and the
//! wallet embeds this module); queries are read from and written to `serde_json::Value`.
//!
//! Written here rather than taken from a crate: the crates.io DCQL implementations come inside
//! whole OpenID4VP stacks (spruceid's `openid4vp` pulls the `ssi` verifiers and an HTTP client
//! of its own), too heavy for a module the wallet embeds.
//!
//! Unknown members: OpenID4VP 1.0 lets extensions and credential formats add parameters, and
//! asks the receiver to ignore the ones it does not understand, so unknown members are
//! tolerated, and dropped when a query is written back ([`DcqlQuery::to_value`]): the request
//! object a wallet sees carries exactly what this verifier checks. The one exception is
//! `trusted_authorities` (§6.1.1): a verifier that ignored it would accept credentials from
//! authorities the relying party excluded, so it is refused as unsupported.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde_json::{Map, Value, json};

/// The SD-JWT VC format identifier (OpenID4VP 1.0 Appendix B.3).
pub const FORMAT_SD_JWT_VC: &str = "dc+sd-jwt";
/// W3C VCs signed as JWTs (OpenID4VP 1.0 Appendix B.1.3.1): here VC-JOSE-COSE `vc+jwt`
/// credentials, presented bare or in a `vp+jwt` (see `vp_jwt`).
pub const FORMAT_JWT_VC_JSON: &str = "jwt_vc_json";
/// The name this verifier used for [`FORMAT_JWT_VC_JSON`] before it followed Appendix B; still
/// accepted in queries, written as `jwt_vc_json`.
pub const FORMAT_VC_JWT: &str = "vc+jwt";

/// Why a DCQL query is refused. Each names the member at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DcqlError {
    /// A member is missing, of the wrong JSON type, or empty where the spec requires content.
    #[error("{at}: {problem}")]
    Invalid { at: String, problem: String },
    /// Two credential queries (or two claims queries of one credential) share an id (§6.1,
    /// §6.3).
    #[error("{at}: the id {id:?} is used more than once")]
    DuplicateId { at: String, id: String },
    /// A credential format this verifier cannot check.
    #[error("{at}: format {format:?} is not supported (only dc+sd-jwt and jwt_vc_json)")]
    UnsupportedFormat { at: String, format: String },
    /// A feature this verifier does not implement and must not silently ignore.
    #[error("{at}: {feature} is not supported")]
    Unsupported { at: String, feature: &'static str },
}

fn invalid(at: impl Into<String>, problem: impl Into<String>) -> DcqlError {
    DcqlError::Invalid {
        at: at.into(),
        problem: problem.into(),
    }
}

/// A credential format a query asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// `dc+sd-jwt`: `meta.vct_values`.
    SdJwtVc,
    /// `jwt_vc_json` (alias `vc+jwt`): `meta.type_values`.
    VcJwt,
}

impl Format {
    pub fn as_str(self) -> &'static str {
        match self {
            Format::SdJwtVc => FORMAT_SD_JWT_VC,
            Format::VcJwt => FORMAT_JWT_VC_JSON,
        }
    }
}

/// One element of a claims path pointer (§7): a member name, every element of an array
/// (`null`), or one array index.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PathElement {
    Name(String),
    AllElements,
    Index(usize),
}

/// A claims path pointer (§7): a non-empty list of [`PathElement`]s.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ClaimPath(Vec<PathElement>);

/// One element of a concrete path to a claim that exists (no wildcard).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Segment {
    Name(String),
    Index(usize),
}

impl fmt::Display for Segment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Segment::Name(name) => write!(f, "{name:?}"),
            Segment::Index(index) => write!(f, "{index}"),
        }
    }
}

impl ClaimPath {
    /// Parses a JSON path array: strings, `null`, non-negative integers; at least one.
    pub fn from_value(value: &Value, at: &str) -> Result<Self, DcqlError> {
        let elements = value
            .as_array()
            .ok_or_else(|| invalid(at, "path must be an array"))?;
        if elements.is_empty() {
            return Err(invalid(at, "path must not be empty"));
        }
        elements
            .iter()
            .map(|element| match element {
                Value::String(name) => Ok(PathElement::Name(name.clone())),
                Value::Null => Ok(PathElement::AllElements),
                Value::Number(n) => n
                    .as_u64()
                    .and_then(|i| usize::try_from(i).ok())
                    .map(PathElement::Index)
                    .ok_or_else(|| invalid(at, "a path index must be a non-negative integer")),
                _ => Err(invalid(
                    at,
                    "path elements must be strings, null or non-negative integers",
                )),
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Self)
    }

    pub fn elements(&self) -> &[PathElement] {
        &self.0
    }

    pub fn to_value(&self) -> Value {
        Value::Array(
            self.0
                .iter()
                .map(|e| match e {
                    PathElement::Name(name) => Value::String(name.clone()),
                    PathElement::AllElements => Value::Null,
                    PathElement::Index(i) => json!(i),
                })
                .collect(),
        )
    }

    /// The claims this pointer selects in `claims` (§7.1), each with its concrete path. Empty
    /// when nothing is selected (a missing member, a name applied to an array, an index out
    /// of range): the claim is not there.
    pub fn select<'v>(&self, claims: &'v Value) -> Vec<(Vec<Segment>, &'v Value)> {
        let mut selected = vec![(Vec::new(), claims)];
        for element in &self.0 {
            let mut next = Vec::new();
            for (path, value) in selected {
                match (element, value) {
                    (PathElement::Name(name), Value::Object(object)) => {
                        if let Some(child) = object.get(name) {
                            next.push((with(&path, Segment::Name(name.clone())), child));
                        }
                    }
                    (PathElement::AllElements, Value::Array(items)) => {
                        for (index, child) in items.iter().enumerate() {
                            next.push((with(&path, Segment::Index(index)), child));
                        }
                    }
                    (PathElement::Index(index), Value::Array(items)) => {
                        if let Some(child) = items.get(*index) {
                            next.push((with(&path, Segment::Index(*index)), child));
                        }
                    }
                    // §7.1: any other combination is an error for this element; the claim
                    // is not found along it.
                    _ => {}
                }
            }
            selected = next;
        }
        selected
    }
}

fn with(path: &[Segment], segment: Segment) -> Vec<Segment> {
    let mut out = path.to_vec();
    out.push(segment);
    out
}

impl fmt::Display for ClaimPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_value().to_string())
    }
}

/// A claims query (§6.3).
#[derive(Debug, Clone, PartialEq)]
pub struct ClaimsQuery {
    /// Required when the credential query has `claim_sets`.
    pub id: Option<String>,
    pub path: ClaimPath,
    /// Accepted values (strings, integers, booleans); any if absent.
    pub values: Option<Vec<Value>>,
}

impl ClaimsQuery {
    /// Whether `claims` holds this claim, with an accepted value if values are given. The
    /// matching concrete paths, or none.
    fn find(&self, claims: &Value) -> Vec<Vec<Segment>> {
        self.path
            .select(claims)
            .into_iter()
            .filter(|(_, value)| {
                self.values
                    .as_ref()
                    .is_none_or(|accepted| accepted.contains(value))
            })
            .map(|(path, _)| path)
            .collect()
    }
}

/// Format-specific constraints on a credential (`meta`, Appendix B).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Meta {
    /// `vct_values`: the credential's `vct` must be one of them, if given (B.3.5).
    SdJwtVc { vct_values: Option<Vec<String>> },
    /// `type_values`: the credential's `type` must include every type of one entry, if given.
    VcJwt {
        type_values: Option<Vec<Vec<String>>>,
    },
}

/// A credential query (§6.1).
#[derive(Debug, Clone, PartialEq)]
pub struct CredentialQuery {
    pub id: String,
    pub format: Format,
    /// Whether more than one credential may answer it.
    pub multiple: bool,
    pub meta: Meta,
    pub require_cryptographic_holder_binding: bool,
    pub claims: Option<Vec<ClaimsQuery>>,
    pub claim_sets: Option<Vec<Vec<String>>>,
}

/// A credential set query (§6.2): one of `options` (each a list of credential query ids) must
/// be met if `required`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredentialSetQuery {
    pub options: Vec<Vec<String>>,
    pub required: bool,
}

/// A DCQL query (§6): validated, so every id is unique and every reference resolves.
#[derive(Debug, Clone, PartialEq)]
pub struct DcqlQuery {
    pub credentials: Vec<CredentialQuery>,
    pub credential_sets: Option<Vec<CredentialSetQuery>>,
}

/// One credential as presented, after verification: what a query is checked against.
#[derive(Debug, Clone, PartialEq)]
pub struct PresentedCredential {
    pub format: Format,
    /// The `vct` (SD-JWT VC) or the `type` entries (vc+jwt).
    pub types: Vec<String>,
    /// The disclosed claims (SD-JWT processed: undisclosed ones are not there).
    pub claims: Value,
    /// Whether the holder proved possession of the credential's key.
    pub holder_bound: bool,
}

/// Why a presentation does not answer a query.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Unmet {
    #[error("a presentation answers {0:?}, which the query does not ask for")]
    UnknownQueryId(String),
    #[error("{id:?} is answered by {count} presentations, but the query allows one")]
    NotMultiple { id: String, count: usize },
    #[error("{id:?} is answered by an empty list of presentations")]
    EmptyAnswer { id: String },
    #[error("the credential answering {id:?} is {found}, not the format {expected} asked for")]
    WrongFormat {
        id: String,
        found: &'static str,
        expected: &'static str,
    },
    #[error("the credential answering {id:?} is not of a type the query accepts")]
    WrongType { id: String },
    #[error("the credential answering {id:?} has no holder binding, which the query requires")]
    HolderBindingMissing { id: String },
    #[error(
        "the credential answering {id:?} does not disclose the claim {path} the query asks for"
    )]
    ClaimMissing { id: String, path: String },
    #[error("the credential answering {id:?} discloses none of the claim sets the query accepts")]
    NoClaimSet { id: String },
    #[error("no presentation answers {0}")]
    CredentialMissing(String),
}

fn object<'v>(value: &'v Value, at: &str) -> Result<&'v Map<String, Value>, DcqlError> {
    value
        .as_object()
        .ok_or_else(|| invalid(at, "must be an object"))
}

fn optional_bool(
    object: &Map<String, Value>,
    name: &str,
    at: &str,
) -> Result<Option<bool>, DcqlError> {
    match object.get(name) {
        None => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(_) => Err(invalid(format!("{at}.{name}"), "must be a boolean")),
    }
}

fn non_empty_array<'v>(value: &'v Value, at: &str) -> Result<&'v [Value], DcqlError> {
    match value.as_array() {
        Some(items) if !items.is_empty() => Ok(items),
        Some(_) => Err(invalid(at, "must not be empty")),
        None => Err(invalid(at, "must be an array")),
    }
}

fn strings(value: &Value, at: &str) -> Result<Vec<String>, DcqlError> {
    non_empty_array(value, at)?
        .iter()
        .map(|v| {
            v.as_str()
                .map(str::to_owned)
                .ok_or_else(|| invalid(at, "must hold strings only"))
        })
        .collect()
}

/// §6.1: "a non-empty string consisting of alphanumeric, underscore (_) or hyphen (-)".
fn identifier(value: Option<&Value>, at: &str) -> Result<String, DcqlError> {
    let text = value
        .and_then(Value::as_str)
        .ok_or_else(|| invalid(at, "required, a string"))?;
    if text.is_empty()
        || !text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        return Err(invalid(
            at,
            "must be a non-empty string of letters, digits, _ and -",
        ));
    }
    Ok(text.to_owned())
}

impl DcqlQuery {
    /// Parses and validates a DCQL query.
    pub fn from_value(value: &Value) -> Result<Self, DcqlError> {
        let root = object(value, "dcql_query")?;
        let credentials = non_empty_array(
            root.get("credentials")
                .ok_or_else(|| invalid("dcql_query.credentials", "required"))?,
            "dcql_query.credentials",
        )?;
        let mut ids = BTreeSet::new();
        let mut parsed = Vec::with_capacity(credentials.len());
        for (index, credential) in credentials.iter().enumerate() {
            let at = format!("dcql_query.credentials[{index}]");
            let query = CredentialQuery::from_value(credential, &at)?;
            if !ids.insert(query.id.clone()) {
                return Err(DcqlError::DuplicateId {
                    at: format!("{at}.id"),
                    id: query.id,
                });
            }
            parsed.push(query);
        }
        let credential_sets = match root.get("credential_sets") {
            None => None,
            Some(sets) => {
                let sets = non_empty_array(sets, "dcql_query.credential_sets")?;
                let mut out = Vec::with_capacity(sets.len());
                for (index, set) in sets.iter().enumerate() {
                    let at = format!("dcql_query.credential_sets[{index}]");
                    let set_object = object(set, &at)?;
                    let options = non_empty_array(
                        set_object
                            .get("options")
                            .ok_or_else(|| invalid(format!("{at}.options"), "required"))?,
                        &format!("{at}.options"),
                    )?;
                    let mut parsed_options = Vec::with_capacity(options.len());
                    for (o, option) in options.iter().enumerate() {
                        let option_at = format!("{at}.options[{o}]");
                        let option = strings(option, &option_at)?;
                        if let Some(unknown) = option.iter().find(|id| !ids.contains(*id)) {
                            return Err(invalid(
                                option_at,
                                format!("names {unknown:?}, which no credential query has as id"),
                            ));
                        }
                        parsed_options.push(option);
                    }
                    out.push(CredentialSetQuery {
                        options: parsed_options,
                        required: optional_bool(set_object, "required", &at)?.unwrap_or(true),
                    });
                }
                Some(out)
            }
        };
        Ok(Self {
            credentials: parsed,
            credential_sets,
        })
    }

    /// The query as JSON, with only the members this verifier understands.
    pub fn to_value(&self) -> Value {
        let mut out = json!({
            "credentials": self.credentials.iter().map(CredentialQuery::to_value).collect::<Vec<_>>(),
        });
        if let Some(sets) = &self.credential_sets {
            out["credential_sets"] = sets
                .iter()
                .map(|s| json!({"options": s.options, "required": s.required}))
                .collect();
        }
        out
    }

    pub fn credential(&self, id: &str) -> Option<&CredentialQuery> {
        self.credentials.iter().find(|c| c.id == id)
    }

    /// The verifier's check (§6.4): every presented credential answers the query it is listed
    /// under (format, `meta`, holder binding, claims or one claim set), no query is answered
    /// by more credentials than it allows, and the credentials the query requires are all
    /// there (every credential query without `credential_sets`; one option of each required
    /// set with them).
    pub fn satisfied_by(
        &self,
        presented: &BTreeMap<String, Vec<PresentedCredential>>,
    ) -> Result<(), Unmet> {
        for (id, answers) in presented {
            let query = self
                .credential(id)
                .ok_or_else(|| Unmet::UnknownQueryId(id.clone()))?;
            if answers.is_empty() {
                return Err(Unmet::EmptyAnswer { id: id.clone() });
            }
            if answers.len() > 1 && !query.multiple {
                return Err(Unmet::NotMultiple {
                    id: id.clone(),
                    count: answers.len(),
                });
            }
            for answer in answers {
                query.check(answer)?;
            }
        }
        let answered = |id: &String| presented.contains_key(id);
        match &self.credential_sets {
            None => {
                if let Some(missing) = self.credentials.iter().find(|c| !answered(&c.id)) {
                    return Err(Unmet::CredentialMissing(format!("{:?}", missing.id)));
                }
            }
            Some(sets) => {
                for set in sets.iter().filter(|s| s.required) {
                    if !set.options.iter().any(|option| option.iter().all(answered)) {
                        return Err(Unmet::CredentialMissing(format!(
                            "any option of the required credential set {:?}",
                            set.options
                        )));
                    }
                }
            }
        }
        Ok(())
    }
}

impl CredentialQuery {
    fn from_value(value: &Value, at: &str) -> Result<Self, DcqlError> {
        let query = object(value, at)?;
        let id = identifier(query.get("id"), &format!("{at}.id"))?;
        let format_text = query
            .get("format")
            .and_then(Value::as_str)
            .ok_or_else(|| invalid(format!("{at}.format"), "required, a string"))?;
        let format = match format_text {
            FORMAT_SD_JWT_VC => Format::SdJwtVc,
            FORMAT_JWT_VC_JSON | FORMAT_VC_JWT => Format::VcJwt,
            other => {
                return Err(DcqlError::UnsupportedFormat {
                    at: format!("{at}.format"),
                    format: other.to_owned(),
                });
            }
        };
        if query.contains_key("trusted_authorities") {
            return Err(DcqlError::Unsupported {
                at: format!("{at}.trusted_authorities"),
                feature: "trusted_authorities (accreditation is checked by the registry instead)",
            });
        }
        // OpenID4VP 1.0 §6.1: meta is REQUIRED (an empty object places no constraint).
        let meta_at = format!("{at}.meta");
        let meta_object = object(
            query.get("meta").ok_or_else(|| {
                invalid(&meta_at, "required (an empty object places no constraint)")
            })?,
            &meta_at,
        )?;
        let meta = match format {
            Format::SdJwtVc => Meta::SdJwtVc {
                vct_values: meta_object
                    .get("vct_values")
                    .map(|v| strings(v, &format!("{meta_at}.vct_values")))
                    .transpose()?,
            },
            Format::VcJwt => Meta::VcJwt {
                type_values: meta_object
                    .get("type_values")
                    .map(|v| {
                        let at = format!("{meta_at}.type_values");
                        non_empty_array(v, &at)?
                            .iter()
                            .map(|entry| strings(entry, &at))
                            .collect::<Result<Vec<_>, _>>()
                    })
                    .transpose()?,
            },
        };
        let claims = match query.get("claims") {
            None => None,
            Some(claims) => {
                let claims_at = format!("{at}.claims");
                let items = non_empty_array(claims, &claims_at)?;
                let mut parsed: Vec<ClaimsQuery> = Vec::with_capacity(items.len());
                for (index, item) in items.iter().enumerate() {
                    let item_at = format!("{claims_at}[{index}]");
                    let claim = object(item, &item_at)?;
                    let id = claim
                        .get("id")
                        .map(|v| identifier(Some(v), &format!("{item_at}.id")))
                        .transpose()?;
                    let path = ClaimPath::from_value(
                        claim
                            .get("path")
                            .ok_or_else(|| invalid(format!("{item_at}.path"), "required"))?,
                        &format!("{item_at}.path"),
                    )?;
                    let values = match claim.get("values") {
                        None => None,
                        Some(values) => {
                            let values_at = format!("{item_at}.values");
                            let values = non_empty_array(values, &values_at)?;
                            if values.iter().any(|v| {
                                !(v.is_string() || v.is_boolean() || v.is_i64() || v.is_u64())
                            }) {
                                return Err(invalid(
                                    values_at,
                                    "values must be strings, integers or booleans",
                                ));
                            }
                            Some(values.to_vec())
                        }
                    };
                    if let Some(id) = &id {
                        if parsed.iter().any(|c| c.id.as_ref() == Some(id)) {
                            return Err(DcqlError::DuplicateId {
                                at: format!("{item_at}.id"),
                                id: id.clone(),
                            });
                        }
                    }
                    // §6.3: "Verifiers MUST NOT point to the same claim more than once".
                    if parsed.iter().any(|c| c.path == path) {
                        return Err(invalid(
                            format!("{item_at}.path"),
                            format!("the claim {path} is asked for more than once"),
                        ));
                    }
                    parsed.push(ClaimsQuery { id, path, values });
                }
                Some(parsed)
            }
        };
        let claim_sets = match query.get("claim_sets") {
            None => None,
            Some(sets) => {
                let sets_at = format!("{at}.claim_sets");
                let Some(claims) = &claims else {
                    return Err(invalid(sets_at, "claim_sets needs claims"));
                };
                let mut out = Vec::new();
                for (index, set) in non_empty_array(sets, &sets_at)?.iter().enumerate() {
                    let set_at = format!("{sets_at}[{index}]");
                    let set = strings(set, &set_at)?;
                    if let Some(unknown) = set
                        .iter()
                        .find(|id| !claims.iter().any(|c| c.id.as_ref() == Some(*id)))
                    {
                        return Err(invalid(
                            set_at,
                            format!("names {unknown:?}, which no claims query has as id"),
                        ));
                    }
                    out.push(set);
                }
                Some(out)
            }
        };
        Ok(Self {
            id,
            format,
            multiple: optional_bool(query, "multiple", at)?.unwrap_or(false),
            meta,
            require_cryptographic_holder_binding: optional_bool(
                query,
                "require_cryptographic_holder_binding",
                at,
            )?
            .unwrap_or(true),
            claims,
            claim_sets,
        })
    }

    fn to_value(&self) -> Value {
        let meta = match &self.meta {
            Meta::SdJwtVc { vct_values: None } | Meta::VcJwt { type_values: None } => json!({}),
            Meta::SdJwtVc {
                vct_values: Some(values),
            } => json!({"vct_values": values}),
            Meta::VcJwt {
                type_values: Some(values),
            } => json!({"type_values": values}),
        };
        let mut out = json!({
            "id": self.id,
            "format": self.format.as_str(),
            "meta": meta,
        });
        if self.multiple {
            out["multiple"] = Value::Bool(true);
        }
        if !self.require_cryptographic_holder_binding {
            out["require_cryptographic_holder_binding"] = Value::Bool(false);
        }
        if let Some(claims) = &self.claims {
            out["claims"] = claims
                .iter()
                .map(|c| {
                    let mut claim = json!({"path": c.path.to_value()});
                    if let Some(id) = &c.id {
                        claim["id"] = Value::String(id.clone());
                    }
                    if let Some(values) = &c.values {
                        claim["values"] = Value::Array(values.clone());
                    }
                    claim
                })
                .collect();
        }
        if let Some(sets) = &self.claim_sets {
            out["claim_sets"] = json!(sets);
        }
        out
    }

    /// Whether a credential of `format` and `types` is one this query asks for (format and
    /// `meta`), before its claims are looked at.
    pub fn accepts(&self, format: Format, types: &[String]) -> bool {
        if format != self.format {
            return false;
        }
        match &self.meta {
            Meta::SdJwtVc { vct_values } => vct_values
                .as_ref()
                .is_none_or(|accepted| types.iter().any(|t| accepted.contains(t))),
            Meta::VcJwt { type_values } => type_values.as_ref().is_none_or(|accepted| {
                accepted
                    .iter()
                    .any(|needed| needed.iter().all(|t| types.contains(t)))
            }),
        }
    }

    /// The wallet's matcher: if a credential of `format` and `types` with `claims` can answer
    /// this query, the concrete paths of the claims to disclose (§6.4.1: every claims query
    /// without `claim_sets`, else the first claim set the credential can meet, the order
    /// expressing the verifier's preference). `None` if it cannot answer. No claims query:
    /// nothing selectively disclosable is asked for, so no path.
    pub fn match_credential(
        &self,
        format: Format,
        types: &[String],
        claims: &Value,
    ) -> Option<Vec<Vec<Segment>>> {
        if !self.accepts(format, types) {
            return None;
        }
        let Some(queries) = &self.claims else {
            return Some(Vec::new());
        };
        let found = |query: &ClaimsQuery| {
            let paths = query.find(claims);
            (!paths.is_empty()).then_some(paths)
        };
        let paths_of = |selected: Vec<&ClaimsQuery>| -> Option<Vec<Vec<Segment>>> {
            let mut out = Vec::new();
            for query in selected {
                out.extend(found(query)?);
            }
            Some(out)
        };
        match &self.claim_sets {
            None => paths_of(queries.iter().collect()),
            Some(sets) => sets.iter().find_map(|set| {
                paths_of(
                    set.iter()
                        .filter_map(|id| queries.iter().find(|q| q.id.as_ref() == Some(id)))
                        .collect(),
                )
            }),
        }
    }

    fn check(&self, answer: &PresentedCredential) -> Result<(), Unmet> {
        let id = || self.id.clone();
        if answer.format != self.format {
            return Err(Unmet::WrongFormat {
                id: id(),
                found: answer.format.as_str(),
                expected: self.format.as_str(),
            });
        }
        if !self.accepts(answer.format, &answer.types) {
            return Err(Unmet::WrongType { id: id() });
        }
        if self.require_cryptographic_holder_binding && !answer.holder_bound {
            return Err(Unmet::HolderBindingMissing { id: id() });
        }
        let Some(queries) = &self.claims else {
            return Ok(());
        };
        match &self.claim_sets {
            None => {
                for query in queries {
                    if query.find(&answer.claims).is_empty() {
                        return Err(Unmet::ClaimMissing {
                            id: id(),
                            path: query.path.to_string(),
                        });
                    }
                }
                Ok(())
            }
            Some(_) => self
                .match_credential(answer.format, &answer.types, &answer.claims)
                .map(|_| ())
                .ok_or(Unmet::NoClaimSet { id: id() }),
        }
    }

    /// Of `claims`, only the ones this query asked for (every claims query's selection, with
    /// the objects and arrays around them), so a relying party never receives a claim it did
    /// not ask for even if a wallet disclosed more. Without claims queries, `claims` whole.
    pub fn requested_claims(&self, claims: &Value) -> Value {
        let Some(queries) = &self.claims else {
            return claims.clone();
        };
        let mut out = Value::Object(Map::new());
        for query in queries {
            for (path, value) in query.path.select(claims) {
                insert_at(&mut out, &path, value.clone());
            }
        }
        out
    }
}

/// Puts `value` at `path` in `target`, making objects for names and arrays for indexes (array
/// elements not selected are left out: indexes are compacted in order).
fn insert_at(target: &mut Value, path: &[Segment], value: Value) {
    let Some((first, rest)) = path.split_first() else {
        *target = value;
        return;
    };
    match first {
        Segment::Name(name) => {
            if !target.is_object() {
                *target = Value::Object(Map::new());
            }
            let Value::Object(object) = target else {
                return;
            };
            let slot = object.entry(name.clone()).or_insert(Value::Null);
            insert_at(slot, rest, value);
        }
        Segment::Index(_) => {
            if !target.is_array() {
                *target = Value::Array(Vec::new());
            }
            let Value::Array(items) = target else {
                return;
            };
            let mut child = Value::Null;
            insert_at(&mut child, rest, value);
            items.push(child);
        }
    }
}
