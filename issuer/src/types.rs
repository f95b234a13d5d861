//! Credential types: what a tenant issues. Registering one fetches the schema from the registry
//! by id (its `vct` comes from the schema's type metadata), and checks that the type can work:
//! known formats, disclosable paths that the schema declares and that no format reserves, a
//! validity, status purposes. The schema is kept with the type, so issuance validates claims
//! without asking the registry.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::claims::ClaimPath;
use crate::error::Error;
use crate::ids::{CredentialTypeId, Format, TenantId};
use crate::sd_jwt::{REGISTERED_CLAIMS, Vct};
use crate::service::IssuerService;
use crate::store::{StoreError, StoredTenant, StoredType};
use crate::vc_jwt::CredentialType;

/// Longest validity a type may give its credentials: ten years.
pub const MAX_VALIDITY_SECONDS: u64 = 10 * 366 * 24 * 3600;

/// A request to register a credential type (the admin API's body).
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TypeRequest {
    /// The type's id within the tenant (a slug).
    pub id: String,
    /// The id of a schema published in the registry.
    pub schema_id: String,
    /// Formats offered: `dc+sd-jwt`, `vc+jwt`, `ldp_vc` (Data Integrity `eddsa-rdfc-2022`, for
    /// tenants whose key is Ed25519).
    pub formats: Vec<String>,
    /// RFC 6901 JSON Pointers of the claims a holder may disclose selectively (SD-JWT).
    #[serde(default)]
    pub disclosable: Vec<String>,
    /// How long credentials of this type are valid, in seconds.
    pub validity_seconds: u64,
    /// Status purposes: `revocation`, `suspension` (none: credentials without status).
    #[serde(default)]
    pub status_purposes: Vec<String>,
    /// The W3C `type` of `vc+jwt` credentials; the schema's `vct` when absent.
    #[serde(default)]
    pub w3c_type: Option<String>,
}

/// A credential type as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TypeView {
    pub id: String,
    pub schema_id: String,
    pub vct: String,
    pub w3c_type: String,
    #[schema(value_type = Vec<String>)]
    pub formats: Vec<Format>,
    pub disclosable: Vec<String>,
    pub validity_seconds: i64,
    pub status_purposes: Vec<String>,
    #[schema(value_type = String, format = DateTime)]
    pub created: DateTime<Utc>,
}

impl From<&StoredType> for TypeView {
    fn from(t: &StoredType) -> Self {
        let mut purposes = Vec::new();
        if t.revocation {
            purposes.push("revocation".to_owned());
        }
        if t.suspension {
            purposes.push("suspension".to_owned());
        }
        Self {
            id: t.id.to_string(),
            schema_id: t.schema_id.clone(),
            vct: t.vct.clone(),
            w3c_type: t.w3c_type.clone(),
            formats: t.formats.clone(),
            disclosable: t.disclosable.clone(),
            validity_seconds: t.validity_seconds,
            status_purposes: purposes,
            created: t.created,
        }
    }
}

/// The checks that need no registry: returns (id, formats, disclosable, revocation,
/// suspension).
type Checked = (CredentialTypeId, Vec<Format>, Vec<ClaimPath>, bool, bool);

fn check_request(request: &TypeRequest) -> Result<Checked, Error> {
    let id = CredentialTypeId::parse(&request.id)?;
    let mut formats = Vec::new();
    for name in &request.formats {
        let format = Format::parse(name).map_err(|e| Error::InvalidType(e.to_string()))?;
        if !formats.contains(&format) {
            formats.push(format);
        }
    }
    if formats.is_empty() {
        return Err(Error::InvalidType(
            "a type offers at least one format".into(),
        ));
    }
    let mut disclosable = Vec::new();
    for pointer in &request.disclosable {
        let path = ClaimPath::parse(pointer).map_err(|e| Error::InvalidType(e.to_string()))?;
        if path.segments().len() == 1 && REGISTERED_CLAIMS.contains(&path.top_level_name()) {
            return Err(Error::InvalidType(format!(
                "{path} is set by the issuer and cannot be selectively disclosable"
            )));
        }
        if disclosable.contains(&path) {
            return Err(Error::InvalidType(format!("{path} is listed twice")));
        }
        disclosable.push(path);
    }
    if request.validity_seconds == 0 || request.validity_seconds > MAX_VALIDITY_SECONDS {
        return Err(Error::InvalidType(format!(
            "validitySeconds must be 1 to {MAX_VALIDITY_SECONDS}"
        )));
    }
    let (mut revocation, mut suspension) = (false, false);
    for purpose in &request.status_purposes {
        match purpose.as_str() {
            "revocation" => revocation = true,
            "suspension" => suspension = true,
            other => {
                return Err(Error::InvalidType(format!(
                    "unknown status purpose {other:?}; use revocation, suspension"
                )));
            }
        }
    }
    Ok((id, formats, disclosable, revocation, suspension))
}

/// Whether the schema declares `path`: each segment must be a member of `properties` of the
/// object schema it is in, or (digits) an element of an array schema with `items`.
fn schema_declares(schema: &Value, path: &ClaimPath) -> bool {
    let mut at = schema;
    for segment in path.segments() {
        if let Some(next) = at.get("properties").and_then(|p| p.get(segment)) {
            at = next;
        } else if segment.bytes().all(|b| b.is_ascii_digit()) && !segment.is_empty() {
            match at.get("items") {
                Some(items) if items.is_object() => at = items,
                _ => return false,
            }
        } else {
            return false;
        }
    }
    true
}

/// A credential type as issuance uses it: the stored type and its schema compiled once.
pub(crate) struct IssuableType {
    pub(crate) stored: StoredType,
    pub(crate) validator: jsonschema::Validator,
}

/// Types already read and compiled, by tenant and type id. A stored type is never updated or
/// deleted (the store has no statement that would), so an entry is never stale, on this
/// instance or any other sharing the database; only types found are kept, so one registered
/// after a miss is found on the next request.
#[derive(Default)]
pub(crate) struct TypeCache(
    std::sync::RwLock<std::collections::HashMap<(TenantId, CredentialTypeId), Arc<IssuableType>>>,
);

impl IssuerService {
    /// `tenant`'s type `id` with its compiled schema: from the cache, or read and compiled
    /// once. `None` if the tenant has no such type.
    pub(crate) async fn issuable_type(
        &self,
        tenant: &TenantId,
        id: &CredentialTypeId,
    ) -> Result<Option<Arc<IssuableType>>, Error> {
        let key = (tenant.clone(), id.clone());
        if let Some(found) = self
            .types
            .0
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(&key)
        {
            return Ok(Some(found.clone()));
        }
        let Some(stored) = self.store.credential_type(tenant, id).await? else {
            return Ok(None);
        };
        let validator = jsonschema::validator_for(&stored.schema)
            .map_err(|e| Error::Internal(format!("stored schema does not compile: {e}")))?;
        let compiled = Arc::new(IssuableType { stored, validator });
        self.types
            .0
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(key, compiled.clone());
        Ok(Some(compiled))
    }

    /// Registers a credential type for `tenant`.
    pub async fn register_type(
        &self,
        tenant: &StoredTenant,
        request: TypeRequest,
    ) -> Result<TypeView, Error> {
        let (id, formats, disclosable, revocation, suspension) = check_request(&request)?;
        if formats.contains(&Format::LdpVc) {
            crate::data_integrity::check_key(&self.issuer_key(tenant)?)
                .map_err(|e| Error::InvalidType(e.to_string()))?;
        }
        if self.store.credential_type(&tenant.id, &id).await?.is_some() {
            return Err(Error::TypeExists(id.to_string()));
        }
        let published = match self.registry.schema(&request.schema_id).await {
            Ok(published) => published,
            Err(error) if error.problem().status == 404 => {
                return Err(Error::SchemaNotFound(request.schema_id.clone()));
            }
            Err(error) if error.is_refusal() => {
                return Err(Error::InvalidType(format!(
                    "schema id {:?}: {}",
                    request.schema_id,
                    error.problem().detail
                )));
            }
            Err(error) => return Err(Error::from_registry(error)),
        };
        // The registry compiled the schema when it was published; a schema that does not
        // compile here would refuse every issuance, so say so now.
        jsonschema::validator_for(&published.schema)
            .map_err(|e| Error::InvalidType(format!("the schema does not compile here: {e}")))?;
        for path in &disclosable {
            if !schema_declares(&published.schema, path) {
                return Err(Error::InvalidType(format!(
                    "disclosable claim {path} is not declared by the schema's properties"
                )));
            }
        }
        let vct = Vct::parse(&published.vct).map_err(|e| Error::InvalidType(e.to_string()))?;
        let w3c_type = request.w3c_type.as_deref().unwrap_or(vct.as_str());
        let w3c_type =
            CredentialType::parse(w3c_type).map_err(|e| Error::InvalidType(e.to_string()))?;
        let stored = StoredType {
            tenant: tenant.id.clone(),
            id,
            schema_id: published.id.to_string(),
            vct: vct.as_str().to_owned(),
            w3c_type: w3c_type.as_str().to_owned(),
            schema: published.schema,
            formats,
            disclosable: disclosable.iter().map(ToString::to_string).collect(),
            validity_seconds: i64::try_from(request.validity_seconds)
                .unwrap_or_else(|_| unreachable!("checked against MAX_VALIDITY_SECONDS")),
            revocation,
            suspension,
            created: self.clock.now(),
        };
        match self.store.add_type(&stored).await {
            Ok(()) => Ok(TypeView::from(&stored)),
            Err(StoreError::AlreadyExists) => Err(Error::TypeExists(stored.id.to_string())),
            Err(other) => Err(other.into()),
        }
    }

    /// The tenant's credential types.
    pub async fn types(&self, tenant: &StoredTenant) -> Result<Vec<TypeView>, Error> {
        Ok(self
            .store
            .credential_types(&tenant.id)
            .await?
            .iter()
            .map(TypeView::from)
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn disclosable_paths_must_be_declared() {
        let schema = json!({"type": "object", "properties": {
            "name": {"type": "string"},
            "address": {"type": "object", "properties": {"city": {"type": "string"}}},
            "tags": {"type": "array", "items": {"type": "string"}}}});
        let check = |path: &str, expected: bool| {
            let path = ClaimPath::parse(path).unwrap();
            assert_eq!(schema_declares(&schema, &path), expected, "{path}");
        };
        check("/name", true);
        check("/address/city", true);
        check("/address/zip", false);
        check("/tags/0", true);
        check("/nickname", false);
        check("/name/0", false);
    }
}
