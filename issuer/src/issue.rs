//! Issuance: one request, one record, one status entry, as many envelopes as formats asked.
//!
//! The steps, in order: find the type; check the formats are offered; validate the claims
//! against the registry's JSON Schema (the `jsonschema` crate; a violation names the claim
//! path); read the holder's key; pick a status list with room (starting a new one while the
//! current still has a tenth of its entries free) and a free index in it; sign every envelope
//! with that index; then store the allocation and the record in one transaction. Nothing is
//! returned before that commit, and if it fails nothing was issued. Concurrent issuances share
//! that transaction (`group_commit`: one savepoint each, one fsync for all). The claims
//! themselves are not stored.
//!
//! Index choice is uniform over the free indexes of the list (herd privacy, W3C Bitstring
//! Status List §6.1): candidates are drawn uniformly from the whole list by the thread CSPRNG
//! and the first one not taken is used, which is rejection sampling. The store's primary key
//! is the authority, so instances sharing a database never hand out one index twice; a race
//! lost between the check and the commit draws again. (`status::IssuerStatusList::allocate`
//! does the same in memory, but would need the whole list loaded, and held by one process.)

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use credence_registry::did::Did;
use credence_registry::keys::PublicKey;
use data_encoding::{BASE32_NOPAD, HEXLOWER};
use rand::Rng as _;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest as _, Sha256};

use crate::claims::{ClaimPath, Claims};
use crate::data_integrity::{self, Vocabulary};
use crate::error::Error;
use crate::ids::{CredentialTypeId, Format, RecordId};
use crate::sd_jwt::{self, Decoys, SdJwtVcRequest, Vct};
use crate::service::IssuerService;
use crate::status::{
    BitstringStatusEntry, NEARLY_FULL_DIVISOR, StatusIndex, StatusListUri, StatusPurpose,
    TokenStatusReference,
};
use crate::store::{IssuanceRecord, StoreError, StoredList, StoredTenant, StoredType};
use crate::vc_jwt::{self, CredentialId, CredentialType, VcJwtRequest};

/// Most candidate indexes checked per read.
const CANDIDATES: usize = 32;
/// How likely a draw may be to find every candidate taken (then it draws again).
const MISS_PROBABILITY: f64 = 1e-3;
/// How many times a lost race (or an unlucky draw) is retried before giving up.
const ATTEMPTS: usize = 8;

/// An issuance request (the admin API's body; the VC API and OpenID4VCI build it too).
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct IssueRequest {
    /// The credential type's id.
    #[serde(rename = "type")]
    pub type_id: String,
    /// Envelopes to produce, each of the same claims: `dc+sd-jwt`, `vc+jwt`, `ldp_vc`.
    pub formats: Vec<String>,
    /// The claims (a JSON object), validated against the type's schema.
    #[schema(value_type = Object)]
    pub claims: Value,
    /// The holder's public key as a JWK (bound as `cnf.jwk`; `credentialSubject.id` is its
    /// did:key).
    #[schema(value_type = Object)]
    pub holder_jwk: Value,
    /// Which DID the credential names as issuer: `tenant-did` (the default, the tenant's
    /// registered DID) or `did:key` (the did:key of the tenant's signing key).
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub sign_as: SignAs,
}

/// Which DID a credential is issued as. Both sign with the tenant's one signing key; they
/// differ in the `iss` / `issuer` and `kid` / `verificationMethod` a verifier resolves.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
pub enum SignAs {
    /// The tenant's registered DID, key `<DID>#key-1`: accreditation, rotation and history
    /// are the registry's.
    #[default]
    #[serde(rename = "tenant-did")]
    TenantDid,
    /// `did:key:<multikey>`, key `did:key:<multikey>#<multikey>`: checkable by tools that
    /// resolve only did:key, with no registry. The key is the signing key as of issuance, so a
    /// rotation does not carry over, and the registry's accreditations name the tenant DID,
    /// not this one.
    #[serde(rename = "did:key")]
    DidKey,
}

/// Where a credential's status is.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct StatusRef {
    /// The Token Status List URI at the registry (the bitstring lists append `.revocation`
    /// and `.suspension`).
    pub uri: String,
    pub index: u32,
}

/// Who a credential is bound to, as the caller gave it. Parsed where issuance checks it (after
/// the claims), so every API reports the same error first.
#[derive(Debug, Clone)]
pub enum HolderInput {
    /// A public JWK (admin API, OpenID4VCI): bound as `cnf.jwk`; `credentialSubject.id` is its
    /// did:key.
    Jwk(Value),
    /// A subject DID (W3C VC API): `credentialSubject.id`; when it is a did:key its key is also
    /// the holder key (`cnf.jwk`, the record's thumbprint); otherwise, or with no DID, the
    /// credential binds no key.
    Subject(Option<Did>),
}

/// An issuance as the domain takes it, whichever API it came from.
#[derive(Debug, Clone)]
pub struct Issuance {
    pub type_id: String,
    pub formats: Vec<String>,
    pub claims: Value,
    pub holder: HolderInput,
    pub sign_as: SignAs,
}

impl From<IssueRequest> for Issuance {
    fn from(request: IssueRequest) -> Self {
        Self {
            type_id: request.type_id,
            formats: request.formats,
            claims: request.claims,
            holder: HolderInput::Jwk(request.holder_jwk),
            sign_as: request.sign_as,
        }
    }
}

/// The holder as issuance uses it: the key bound (if any) and the subject DID (if any).
#[derive(Debug, Clone)]
struct Holder {
    key: Option<PublicKey>,
    subject: Option<Did>,
}

impl HolderInput {
    fn resolve(self) -> Result<Holder, Error> {
        match self {
            Self::Jwk(jwk) => {
                let key = PublicKey::from_jwk(&jwk)
                    .map_err(|e| Error::InvalidRequest(format!("holderJwk: {e}")))?;
                let subject =
                    Did::parse(&key.to_did_key()).map_err(|e| Error::Internal(e.to_string()))?;
                Ok(Holder {
                    key: Some(key),
                    subject: Some(subject),
                })
            }
            Self::Subject(subject) => {
                let key = subject
                    .as_ref()
                    .filter(|did| did.as_str().starts_with("did:key:"))
                    .map(|did| PublicKey::from_did_key(did.as_str()))
                    .transpose()
                    .map_err(|e| {
                        Error::InvalidRequest(format!(
                            "credentialSubject.id is not a usable did:key: {e}"
                        ))
                    })?;
                Ok(Holder { key, subject })
            }
        }
    }
}

/// What an issuance produced.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Issued {
    pub id: String,
    /// Format name -> the credential: the compact serialization for the JWT formats, the JSON
    /// text for `ldp_vc` (exactly the bytes whose hash the record keeps).
    pub credentials: BTreeMap<String, String>,
    pub status: Option<StatusRef>,
    #[schema(value_type = String, format = DateTime)]
    pub valid_from: DateTime<Utc>,
    #[schema(value_type = String, format = DateTime)]
    pub valid_until: DateTime<Utc>,
}

/// An issuance as its record shows it.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RecordView {
    pub id: String,
    #[serde(rename = "type")]
    pub type_id: String,
    #[schema(value_type = Vec<String>)]
    pub formats: Vec<Format>,
    pub status: Option<StatusRef>,
    /// RFC 7638 thumbprint of the bound holder key; empty when the credential binds none
    /// (a VC API issuance whose subject is not a did:key).
    pub holder_thumbprint: String,
    #[schema(value_type = String, format = DateTime)]
    pub valid_from: DateTime<Utc>,
    #[schema(value_type = String, format = DateTime)]
    pub valid_until: DateTime<Utc>,
    #[schema(value_type = String, format = DateTime)]
    pub issued: DateTime<Utc>,
    /// Format name -> hex SHA-256 of the envelope.
    pub envelope_hashes: BTreeMap<String, String>,
}

impl From<&IssuanceRecord> for RecordView {
    fn from(record: &IssuanceRecord) -> Self {
        Self {
            id: record.id.to_string(),
            type_id: record.type_id.to_string(),
            formats: record.formats.clone(),
            status: record.status.as_ref().map(|(uri, index)| StatusRef {
                uri: uri.clone(),
                index: *index,
            }),
            holder_thumbprint: record.holder_thumbprint.clone(),
            valid_from: record.valid_from,
            valid_until: record.valid_until,
            issued: record.issued,
            envelope_hashes: record.envelope_hashes.clone(),
        }
    }
}

/// RFC 7638 JWK thumbprint (SHA-256, base64url): the required members of the key, in
/// lexicographic order, without whitespace (§3.2). `serde_json` writes a map with sorted keys
/// (no `preserve_order` in this workspace) and no whitespace.
pub fn jwk_thumbprint(key: &PublicKey) -> String {
    let jwk = key.to_jwk();
    let required: &[&str] = match jwk.get("kty").and_then(Value::as_str) {
        Some("EC") => &["crv", "kty", "x", "y"],
        _ => &["crv", "kty", "x"],
    };
    let members: BTreeMap<&str, &Value> = required
        .iter()
        .filter_map(|name| jwk.get(*name).map(|value| (*name, value)))
        .collect();
    let canonical = serde_json::to_string(&members).unwrap_or_default();
    data_encoding::BASE64URL_NOPAD.encode(&Sha256::digest(canonical.as_bytes()))
}

/// The first violation of `schema` by `claims`, as (JSON Pointer of the claim, reason). A
/// missing required property is reported at the property's own path.
pub(crate) fn schema_violation(
    schema: &Value,
    claims: &Value,
) -> Result<Option<(String, String)>, Error> {
    let validator = jsonschema::validator_for(schema)
        .map_err(|e| Error::Internal(format!("stored schema does not compile: {e}")))?;
    Ok(first_violation(&validator, claims))
}

/// The first violation of a compiled schema by `claims`, as [`schema_violation`] reports it.
pub(crate) fn first_violation(
    validator: &jsonschema::Validator,
    claims: &Value,
) -> Option<(String, String)> {
    let error = validator.iter_errors(claims).next()?;
    let mut path = error.instance_path().to_string();
    if let jsonschema::error::ValidationErrorKind::Required { property } = error.kind() {
        if let Some(name) = property.as_str() {
            path = format!("{path}/{}", name.replace('~', "~0").replace('/', "~1"));
        }
    }
    if path.is_empty() {
        path = "/".to_owned();
    }
    Some((path, error.to_string()))
}

impl IssuerService {
    /// Issues one credential in every requested format (the admin API's request).
    pub async fn issue(
        &self,
        tenant: &StoredTenant,
        request: IssueRequest,
    ) -> Result<Issued, Error> {
        self.issue_credential(tenant, request.into()).await
    }

    /// Issues one credential in every requested format: one record, one status entry.
    pub async fn issue_credential(
        &self,
        tenant: &StoredTenant,
        request: Issuance,
    ) -> Result<Issued, Error> {
        let type_id = CredentialTypeId::parse(&request.type_id)?;
        let issuable = self
            .issuable_type(&tenant.id, &type_id)
            .await?
            .ok_or_else(|| Error::TypeNotFound(type_id.to_string()))?;
        let credential_type = &issuable.stored;
        let formats = check_formats(credential_type, &request.formats)?;
        if let Some((path, reason)) = first_violation(&issuable.validator, &request.claims) {
            return Err(Error::SchemaViolation { path, reason });
        }
        let claims = Claims::from_value(request.claims).map_err(|e| Error::SchemaViolation {
            path: "/".into(),
            reason: e.to_string(),
        })?;
        let holder = request.holder.resolve()?;
        let key = self.signing_key(tenant, request.sign_as)?;
        // What can be refused without an index is refused before a list is touched.
        if formats.contains(&Format::DcSdJwt) && holder.key.is_none() {
            return Err(Error::Unissuable(
                "dc+sd-jwt binds the holder's key (cnf.jwk); give a holder key or a did:key subject"
                    .into(),
            ));
        }
        let vocabulary = if formats.contains(&Format::LdpVc) {
            data_integrity::preflight(&key, &claims).map_err(|e| unissuable(&e))?;
            Some(Vocabulary::for_type(&credential_type.vct).map_err(|e| unissuable(&e))?)
        } else {
            None
        };
        let now = self.clock.now();
        let valid_until = now + Duration::seconds(credential_type.validity_seconds);
        let has_status = credential_type.revocation || credential_type.suspension;

        for _ in 0..ATTEMPTS {
            let status = if has_status {
                let list = self.list_with_room(tenant).await?;
                match self.free_index(&list).await? {
                    Some(index) => Some((
                        StatusListUri::parse(&list.uri, &tenant.did)
                            .map_err(|e| Error::Internal(e.to_string()))?,
                        index,
                    )),
                    None => continue,
                }
            } else {
                None
            };
            let id = RecordId::generate();
            let envelopes = build_envelopes(
                &key,
                credential_type,
                &formats,
                &claims,
                &holder,
                vocabulary.as_ref(),
                &id,
                status.as_ref(),
                now,
                valid_until,
            )
            .await?;
            let record = IssuanceRecord {
                id: id.clone(),
                tenant: tenant.id.clone(),
                type_id: type_id.clone(),
                formats: formats.clone(),
                status: status
                    .as_ref()
                    .map(|(uri, index)| (uri.as_str().to_owned(), index.get())),
                holder_thumbprint: holder.key.as_ref().map(jwk_thumbprint).unwrap_or_default(),
                valid_from: now,
                valid_until,
                issued: now,
                envelope_hashes: envelopes
                    .iter()
                    .map(|(format, envelope)| {
                        (
                            format.clone(),
                            HEXLOWER.encode(&Sha256::digest(envelope.as_bytes())),
                        )
                    })
                    .collect(),
            };
            let status = record.status.clone();
            // Committed with whatever other issuances are waiting (one fsync for all).
            match self.commits.record(&self.store, record).await {
                Ok(()) => {
                    return Ok(Issued {
                        id: id.to_string(),
                        credentials: envelopes,
                        status: status.map(|(uri, index)| StatusRef { uri, index }),
                        valid_from: now,
                        valid_until,
                    });
                }
                Err(StoreError::IndexTaken | StoreError::AlreadyExists) => continue,
                Err(other) => return Err(other.into()),
            }
        }
        Err(Error::Internal(format!(
            "no free status index found in {ATTEMPTS} attempts"
        )))
    }

    /// The key `tenant` signs with as `sign_as`: its signing key under the tenant DID
    /// (`<DID>#key-1`) or under that key's own did:key (`did:key:<mk>#<mk>`, the did:key
    /// method's verification method id).
    pub(crate) fn signing_key(
        &self,
        tenant: &StoredTenant,
        sign_as: SignAs,
    ) -> Result<crate::jws::IssuerKey, Error> {
        match sign_as {
            SignAs::TenantDid => self.issuer_key(tenant),
            SignAs::DidKey => {
                let (signing, _) =
                    crate::service::TenantKeys::open_signing(&self.master_key, tenant)?;
                let public = signing.public();
                let did =
                    Did::parse(&public.to_did_key()).map_err(|e| Error::Internal(e.to_string()))?;
                let kid = crate::jws::Kid::parse(&format!("{did}#{}", public.to_multikey()))
                    .map_err(|e| Error::Internal(e.to_string()))?;
                crate::jws::IssuerKey::for_issuer(signing, kid, &did)
                    .map_err(|e| Error::Internal(e.to_string()))
            }
        }
    }

    /// The tenant's newest list if it still has a tenth of its entries free; otherwise a new
    /// list, created now (and published by the republisher, so its URI resolves before any
    /// status changes).
    async fn list_with_room(&self, tenant: &StoredTenant) -> Result<StoredList, Error> {
        let with_room = |lists: Vec<StoredList>| {
            lists
                .into_iter()
                .rev()
                .find(|list| list.entries - list.allocated >= list.entries / NEARLY_FULL_DIVISOR)
        };
        if let Some(list) = with_room(self.store.lists(&tenant.id).await?) {
            return Ok(list);
        }
        // Issuances that all found the list nearly full start one new list between them, not
        // one each: one at a time here, and each looks again first. (Instances sharing a
        // database may still each start one; lists are published for good, so that is rare
        // waste, not an error.)
        let _starting = self.new_list.lock().await;
        if let Some(list) = with_room(self.store.lists(&tenant.id).await?) {
            return Ok(list);
        }
        let name = BASE32_NOPAD
            .encode(&rand::thread_rng().r#gen::<[u8; 10]>())
            .to_ascii_lowercase();
        let uri = StatusListUri::for_list(&self.options.registry_url, &tenant.did, &name)
            .map_err(|e| Error::Internal(e.to_string()))?;
        let list = StoredList {
            uri: uri.as_str().to_owned(),
            tenant: tenant.id.clone(),
            entries: self.options.list_entries,
            allocated: 0,
            version: 1,
            published_version: 0,
            published_ms: 0,
        };
        self.store.create_list(&list, self.clock.now()).await?;
        tracing::info!(tenant = %tenant.id, uri = %list.uri, "status list started");
        self.republish.notify_one();
        Ok(list)
    }

    /// A free index of `list`, uniform over its free indexes; `None` if this draw found none
    /// (the caller draws again).
    async fn free_index(&self, list: &StoredList) -> Result<Option<StatusIndex>, Error> {
        let count = candidate_count(list.allocated, list.entries);
        let candidates: Vec<u32> = {
            let mut rng = rand::thread_rng();
            (0..count).map(|_| rng.gen_range(0..list.entries)).collect()
        };
        let taken = self.store.taken_indexes(&list.uri, &candidates).await?;
        Ok(candidates
            .into_iter()
            .find(|candidate| !taken.contains(candidate))
            .map(StatusIndex::new))
    }
}

/// How many candidates to draw from a list with `allocated` of `entries` taken: enough that
/// all are taken with probability at most [`MISS_PROBABILITY`] (`fill^k`), at most
/// [`CANDIDATES`]. Each candidate is an index lookup in the store, and most lists are far
/// from full: 2 suffice below 3 % full, 6 at 30 %, 32 from 80 %. The count does not bias the
/// choice: the first free candidate is uniform over the free indexes whatever their number.
fn candidate_count(allocated: u32, entries: u32) -> usize {
    let fill = f64::from(allocated.min(entries)) / f64::from(entries.max(1));
    if fill <= 0.0 {
        return 1;
    }
    let needed = (MISS_PROBABILITY.ln() / fill.ln()).ceil();
    if needed.is_finite() && needed < CANDIDATES as f64 {
        (needed as usize).max(1)
    } else {
        CANDIDATES
    }
}

fn check_formats(credential_type: &StoredType, requested: &[String]) -> Result<Vec<Format>, Error> {
    let offered = || {
        credential_type
            .formats
            .iter()
            .map(|f| f.name())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut formats = Vec::new();
    for name in requested {
        let format = Format::parse(name).map_err(|_| Error::FormatNotOffered {
            type_id: credential_type.id.to_string(),
            format: name.clone(),
            offered: offered(),
        })?;
        if !credential_type.formats.contains(&format) {
            return Err(Error::FormatNotOffered {
                type_id: credential_type.id.to_string(),
                format: name.clone(),
                offered: offered(),
            });
        }
        if !formats.contains(&format) {
            formats.push(format);
        }
    }
    if formats.is_empty() {
        return Err(Error::InvalidRequest(format!(
            "formats must name at least one of: {}",
            offered()
        )));
    }
    Ok(formats)
}

fn unissuable(error: &dyn std::fmt::Display) -> Error {
    Error::Unissuable(error.to_string())
}

/// The `BitstringStatusListEntry`s of a credential at `status`: one per purpose its type has,
/// at the same index of the purpose's list (W3C Bitstring Status List §2.1).
fn bitstring_entries(
    credential_type: &StoredType,
    status: Option<&(StatusListUri, StatusIndex)>,
) -> Vec<BitstringStatusEntry> {
    let Some((uri, index)) = status else {
        return Vec::new();
    };
    let entry = |purpose| BitstringStatusEntry {
        purpose,
        index: *index,
        list: uri.for_purpose(purpose),
    };
    let mut entries = Vec::new();
    if credential_type.revocation {
        entries.push(entry(StatusPurpose::Revocation));
    }
    if credential_type.suspension {
        entries.push(entry(StatusPurpose::Suspension));
    }
    entries
}

/// The W3C credential both `vc+jwt` and `ldp_vc` secure: the same id, type, subject, validity
/// and status entries.
fn w3c_request(
    credential_type: &StoredType,
    claims: &Claims,
    holder: &Holder,
    id: &RecordId,
    status: Option<&(StatusListUri, StatusIndex)>,
    now: DateTime<Utc>,
    valid_until: DateTime<Utc>,
) -> Result<VcJwtRequest, Error> {
    Ok(VcJwtRequest {
        id: Some(CredentialId::parse(id.as_str()).map_err(|e| unissuable(&e))?),
        credential_type: CredentialType::parse(&credential_type.w3c_type)
            .map_err(|e| unissuable(&e))?,
        holder: holder.subject.clone(),
        subject: claims.clone(),
        valid_from: Some(now),
        valid_until: Some(valid_until),
        status: bitstring_entries(credential_type, status),
    })
}

/// Signs one envelope per format, all naming the same status entry.
#[allow(clippy::too_many_arguments)]
async fn build_envelopes(
    key: &crate::jws::IssuerKey,
    credential_type: &StoredType,
    formats: &[Format],
    claims: &Claims,
    holder: &Holder,
    vocabulary: Option<&Vocabulary>,
    id: &RecordId,
    status: Option<&(StatusListUri, StatusIndex)>,
    now: DateTime<Utc>,
    valid_until: DateTime<Utc>,
) -> Result<BTreeMap<String, String>, Error> {
    let mut envelopes = BTreeMap::new();
    for format in formats {
        let envelope = match format {
            Format::DcSdJwt => {
                let holder_key = holder.key.clone().ok_or_else(|| {
                    Error::Internal("dc+sd-jwt without a holder key got past the check".into())
                })?;
                // The type lists what may be disclosed selectively; an optional claim this
                // issuance leaves out is simply not there to conceal.
                let disclosable = credential_type
                    .disclosable
                    .iter()
                    .map(|p| ClaimPath::parse(p))
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| Error::Internal(e.to_string()))?
                    .into_iter()
                    .filter(|path| claims.contains(path))
                    .collect();
                let request = SdJwtVcRequest {
                    vct: Vct::parse(&credential_type.vct).map_err(|e| unissuable(&e))?,
                    holder: holder_key,
                    status: status.map(|(uri, index)| TokenStatusReference {
                        idx: *index,
                        uri: uri.clone(),
                    }),
                    not_before: None,
                    expires: Some(valid_until),
                    claims: claims.clone(),
                    disclosable,
                    decoys: Decoys::default(),
                };
                sd_jwt::issue(key, &request, now)
                    .map_err(|e| unissuable(&e))?
                    .to_compact()
            }
            Format::VcJwt => {
                let request = w3c_request(
                    credential_type,
                    claims,
                    holder,
                    id,
                    status,
                    now,
                    valid_until,
                )?;
                vc_jwt::issue(key, &request, now).map_err(|e| unissuable(&e))?
            }
            Format::LdpVc => {
                let vocabulary = vocabulary.ok_or_else(|| {
                    Error::Internal("ldp_vc without a vocabulary got past the check".into())
                })?;
                let request = w3c_request(
                    credential_type,
                    claims,
                    holder,
                    id,
                    status,
                    now,
                    valid_until,
                )?;
                let credential = data_integrity::issue(key, &request, vocabulary, now)
                    .await
                    .map_err(|e| unissuable(&e))?;
                credential.to_string()
            }
        };
        envelopes.insert(format.name().to_owned(), envelope);
    }
    Ok(envelopes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn candidate_count_keeps_a_miss_rare_and_is_capped() {
        let entries = 131_072;
        assert_eq!(candidate_count(0, entries), 1);
        for allocated in [1, 1_000, 10_000, 40_000, 80_000, 100_000, 117_964] {
            let k = candidate_count(allocated, entries);
            let fill = f64::from(allocated) / f64::from(entries);
            assert!(
                k == CANDIDATES || fill.powi(k as i32) <= MISS_PROBABILITY,
                "{allocated}: {k}"
            );
            assert!((1..=CANDIDATES).contains(&k), "{allocated}: {k}");
        }
        assert_eq!(candidate_count(3_900, entries), 2);
        assert_eq!(candidate_count(40_000, entries), 6);
        assert_eq!(candidate_count(120_000, entries), CANDIDATES);
        assert_eq!(candidate_count(entries, entries), CANDIDATES);
    }
}
