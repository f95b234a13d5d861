//! The W3C VC API's issuer operations (w3c-ccg/vc-api `issuer.yml`: `issueCredential`,
//! `updateCredentialStatus`) in terms of this service: a VC API request becomes an
//! [`Issuance`] or a [`StatusAction`], and goes through the same issuance and status paths as
//! the admin API (one record, one status entry, the registry's lists).
//!
//! How a VC API credential maps to a tenant's credential type:
//! - `@context` must be `["https://www.w3.org/ns/credentials/v2"]` (VCDM 2.0 §4.3). Other
//!   contexts are refused rather than ignored: the issued credential expresses its claims in the
//!   type's own vocabulary (see `data_integrity`), so a client's context could not keep the
//!   meaning it gives its terms.
//! - `type` is `VerifiableCredential` and one more type: the `w3cType` of one of the tenant's
//!   credential types.
//! - `issuer`, when present (a string or an object with `id`), must be the tenant's DID, or
//!   the did:key of the tenant's signing key: then the credential is issued as that did:key
//!   (`SignAs::DidKey`), for verifiers that resolve only did:key.
//! - `credentialSubject` holds the claims, validated against the type's schema; its `id`, when
//!   present, must be a DID and becomes `credentialSubject.id`. Holder binding: when that DID
//!   is a did:key, its key is the holder key (`cnf.jwk`, the record's thumbprint); otherwise
//!   the credential binds no key.
//! - `id`, `validFrom`, `validUntil`, `credentialStatus` and any other member are set by the
//!   issuer (the record id, the type's validity, the tenant's status lists) and refused in the
//!   request, so nothing a client sends is silently replaced.
//!
//! The answer is `{verifiableCredential}`: the Data Integrity credential (`ldp_vc`, the
//! default), or for `options.format = "vc+jwt"` the enveloped form VCDM 2.0 §4.13 defines
//! (`EnvelopedVerifiableCredential` with a `data:application/vc+jwt,` URL).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::error::Error;
use crate::ids::{Format, RecordId};
use crate::issue::{HolderInput, Issuance, SignAs};
use crate::service::IssuerService;
use crate::status::{StatusPurpose, VC_CONTEXT_V2};
use crate::status_service::{StatusAction, StatusView, status_from_code, status_name};
use crate::store::StoredTenant;
use crate::vc_jwt::BASE_TYPE;

/// The `type` of an enveloped credential (VCDM 2.0 §4.13).
pub const ENVELOPED_TYPE: &str = "EnvelopedVerifiableCredential";

/// `POST /{tenant}/credentials/issue`'s body (VC API `IssueCredentialRequest`).
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IssueCredentialRequest {
    /// A VCDM 2.0 credential without proof: `@context`, `type`, `credentialSubject`, and
    /// optionally `issuer` (the tenant's DID).
    #[schema(value_type = Object)]
    pub credential: Value,
    #[serde(default)]
    pub options: IssueCredentialOptions,
}

/// Issuance options.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct IssueCredentialOptions {
    /// How to secure the credential: `ldp_vc` (Data Integrity `eddsa-rdfc-2022`, the default)
    /// or `vc+jwt` (VC-JOSE-COSE, answered enveloped).
    pub format: Option<String>,
}

/// The answer (VC API `VerifiableCredentialResponse`).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct IssueCredentialResponse {
    #[schema(value_type = Object)]
    pub verifiable_credential: Value,
}

/// `POST /{tenant}/credentials/status`'s body (VC API `UpdateCredentialStatusRequest`).
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpdateStatusRequest {
    /// The issued credential's `id` (`urn:uuid:...`).
    pub credential_id: String,
    /// Which entry: `{type: "BitstringStatusListEntry", statusPurpose}`, or an array holding
    /// one such object; `statusListIndex` and `statusListCredential`, when given, must be the
    /// credential's.
    #[schema(value_type = Object)]
    pub credential_status: Value,
    /// The new value of the entry's bit: `true` revokes or suspends, `false` lifts a
    /// suspension (a revocation is final).
    pub status: bool,
}

/// One status entry as the request names it.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct EntryRequest {
    #[serde(rename = "type")]
    kind: String,
    status_purpose: String,
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    status_list_index: Option<String>,
    #[serde(default)]
    status_list_credential: Option<String>,
}

fn invalid(detail: impl Into<String>) -> Error {
    Error::InvalidRequest(detail.into())
}

/// What a VC API credential asks for, checked against the tenant (not yet its types).
#[derive(Debug)]
struct Requested {
    w3c_type: String,
    sign_as: SignAs,
    subject: Option<credence_registry::did::Did>,
    claims: Map<String, Value>,
}

/// Reads a VC API credential; `did_key` is the did:key of the tenant's signing key.
fn read_credential(
    tenant: &StoredTenant,
    did_key: &str,
    credential: &Value,
) -> Result<Requested, Error> {
    let object = credential
        .as_object()
        .ok_or_else(|| invalid("credential must be a JSON object"))?;
    for name in object.keys() {
        if !matches!(
            name.as_str(),
            "@context" | "type" | "issuer" | "credentialSubject"
        ) {
            return Err(invalid(format!(
                "credential.{name} is not accepted: id, validity, status and proof are set by \
                 the issuer; send @context, type, issuer and credentialSubject"
            )));
        }
    }
    match object.get("@context") {
        Some(Value::Array(contexts)) if contexts.len() == 1 && contexts[0] == VC_CONTEXT_V2 => {}
        Some(Value::String(context)) if context == VC_CONTEXT_V2 => {}
        _ => {
            return Err(invalid(format!(
                "credential.@context must be [\"{VC_CONTEXT_V2}\"]: claims are expressed in the \
                 credential type's own vocabulary"
            )));
        }
    }
    let types: Vec<&str> = match object.get("type") {
        Some(Value::Array(types)) => types
            .iter()
            .map(|t| {
                t.as_str()
                    .ok_or_else(|| invalid("credential.type holds strings"))
            })
            .collect::<Result<_, _>>()?,
        _ => return Err(invalid("credential.type must be an array of strings")),
    };
    let specific: Vec<&str> = types.iter().copied().filter(|t| *t != BASE_TYPE).collect();
    let w3c_type = match (types.contains(&BASE_TYPE), specific.as_slice()) {
        (true, [one]) => (*one).to_owned(),
        _ => {
            return Err(invalid(
                "credential.type must be [\"VerifiableCredential\", <one of the tenant's credential types>]",
            ));
        }
    };
    let sign_as = match object.get("issuer") {
        None => SignAs::TenantDid,
        Some(issuer) => {
            let id = match issuer {
                Value::String(id) => Some(id.as_str()),
                Value::Object(issuer) => issuer.get("id").and_then(Value::as_str),
                _ => None,
            };
            match id {
                Some(id) if id == tenant.did.as_str() => SignAs::TenantDid,
                Some(id) if id == did_key => SignAs::DidKey,
                _ => {
                    return Err(invalid(format!(
                        "credential.issuer must be this tenant's DID {} or its did:key {did_key}",
                        tenant.did
                    )));
                }
            }
        }
    };
    let mut claims = match object.get("credentialSubject") {
        Some(Value::Object(subject)) => subject.clone(),
        _ => {
            return Err(invalid(
                "credential.credentialSubject must be a JSON object",
            ));
        }
    };
    let subject = match claims.remove("id") {
        None => None,
        Some(Value::String(id)) => Some(credence_registry::did::Did::parse(&id).map_err(|e| {
            invalid(format!(
                "credential.credentialSubject.id must be a DID: {e}"
            ))
        })?),
        Some(_) => {
            return Err(invalid(
                "credential.credentialSubject.id must be a DID string",
            ));
        }
    };
    Ok(Requested {
        w3c_type,
        sign_as,
        subject,
        claims,
    })
}

fn read_entry(credential_status: Value) -> Result<EntryRequest, Error> {
    let entry = match credential_status {
        Value::Array(mut entries) if entries.len() == 1 => entries.remove(0),
        Value::Array(_) => {
            return Err(invalid(
                "credentialStatus names one entry (an object, or an array of one)",
            ));
        }
        other => other,
    };
    let entry: EntryRequest =
        serde_json::from_value(entry).map_err(|e| invalid(format!("credentialStatus: {e}")))?;
    if !matches!(
        entry.kind.as_str(),
        "BitstringStatusListEntry" | "BitstringStatusList"
    ) {
        return Err(invalid(format!(
            "credentialStatus.type {:?} is not served here; use BitstringStatusListEntry",
            entry.kind
        )));
    }
    Ok(entry)
}

impl IssuerService {
    /// VC API `issueCredential`: issues `request.credential` as the tenant's credential type
    /// its `type` names.
    pub async fn vc_api_issue(
        &self,
        tenant: &StoredTenant,
        request: IssueCredentialRequest,
    ) -> Result<IssueCredentialResponse, Error> {
        let format = match request.options.format.as_deref() {
            None | Some("ldp_vc") => Format::LdpVc,
            Some("vc+jwt") => Format::VcJwt,
            Some(other) => {
                return Err(invalid(format!(
                    "options.format {other:?} is not issued over the VC API; use ldp_vc or vc+jwt"
                )));
            }
        };
        let did_key = self
            .signing_key(tenant, SignAs::DidKey)?
            .issuer()
            .to_string();
        let requested = read_credential(tenant, &did_key, &request.credential)?;
        let types = self.store.credential_types(&tenant.id).await?;
        let mut matching = types.iter().filter(|t| t.w3c_type == requested.w3c_type);
        let credential_type = match (matching.next(), matching.next()) {
            (Some(one), None) => one,
            (None, _) => return Err(Error::TypeNotFound(requested.w3c_type.clone())),
            (Some(_), Some(_)) => {
                return Err(invalid(format!(
                    "several of this tenant's credential types have type {}; use the admin API",
                    requested.w3c_type
                )));
            }
        };
        let issued = self
            .issue_credential(
                tenant,
                Issuance {
                    type_id: credential_type.id.to_string(),
                    formats: vec![format.name().to_owned()],
                    claims: Value::Object(requested.claims),
                    holder: HolderInput::Subject(requested.subject),
                    sign_as: requested.sign_as,
                },
            )
            .await?;
        let envelope = issued
            .credentials
            .get(format.name())
            .ok_or_else(|| Error::Internal(format!("issuance returned no {format}")))?;
        let verifiable_credential = match format {
            Format::LdpVc => serde_json::from_str(envelope)
                .map_err(|e| Error::Internal(format!("issued ldp_vc is not JSON: {e}")))?,
            // VCDM 2.0 §4.13: an enveloped credential names the secured one by a data: URL.
            Format::VcJwt => json!({
                "@context": [VC_CONTEXT_V2],
                "type": ENVELOPED_TYPE,
                "id": format!("data:application/vc+jwt,{envelope}"),
            }),
            Format::DcSdJwt => {
                return Err(Error::Internal("dc+sd-jwt chosen for the VC API".into()));
            }
        };
        Ok(IssueCredentialResponse {
            verifiable_credential,
        })
    }

    /// VC API `updateCredentialStatus`: sets the named entry's bit through the same status
    /// change as revoke / suspend / reinstate.
    pub async fn vc_api_update_status(
        &self,
        tenant: &StoredTenant,
        request: UpdateStatusRequest,
    ) -> Result<StatusView, Error> {
        let entry = read_entry(request.credential_status)?;
        let purpose = match entry.status_purpose.as_str() {
            "revocation" => StatusPurpose::Revocation,
            "suspension" => StatusPurpose::Suspension,
            other => {
                return Err(invalid(format!(
                    "credentialStatus.statusPurpose {other:?} is not one of revocation, suspension"
                )));
            }
        };
        let id = RecordId::parse(&request.credential_id)
            .map_err(|_| Error::CredentialNotFound(request.credential_id.clone()))?;
        let (record, code) = self
            .store
            .record(&tenant.id, &id)
            .await?
            .ok_or_else(|| Error::CredentialNotFound(id.to_string()))?;
        // What the request says about the entry must be the credential's own.
        if let Some((uri, index)) = &record.status {
            let list = format!("{uri}.{}", purpose.name());
            let named = [
                (entry.status_list_index.as_deref(), index.to_string()),
                (entry.status_list_credential.as_deref(), list.clone()),
                (entry.id.as_deref(), format!("{list}#{index}")),
            ];
            if named
                .iter()
                .any(|(given, actual)| given.is_some_and(|given| given != actual))
            {
                return Err(invalid(
                    "credentialStatus names another entry than this credential's",
                ));
            }
        }
        let action = match (purpose, request.status) {
            (StatusPurpose::Revocation, true) => StatusAction::Revoke,
            (StatusPurpose::Suspension, true) => StatusAction::Suspend,
            (StatusPurpose::Suspension, false) => StatusAction::Reinstate,
            (StatusPurpose::Revocation, false) => {
                let current = code.map(status_from_code).transpose()?;
                return match current {
                    Some(crate::status::Status::Invalid) => Err(Error::StatusConflict(
                        "the credential is revoked; revocation is final".into(),
                    )),
                    // Not revoked already: clearing the bit changes nothing.
                    Some(status) => Ok(StatusView {
                        id: id.to_string(),
                        status: status_name(status),
                    }),
                    None => Err(Error::StatusConflict(
                        "this credential's type has no status".into(),
                    )),
                };
            }
        };
        self.change_status(tenant, &id, action).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_entries() {
        let check = |value: Value, ok: bool| {
            assert_eq!(read_entry(value.clone()).is_ok(), ok, "{value}");
        };
        let entry = json!({"type": "BitstringStatusListEntry", "statusPurpose": "revocation"});
        check(entry.clone(), true);
        check(json!([entry.clone()]), true);
        check(json!([entry.clone(), entry]), false);
        check(
            json!({"type": "StatusList2021Entry", "statusPurpose": "revocation"}),
            false,
        );
        check(json!({"type": "BitstringStatusListEntry"}), false);
        check(
            json!({"type": "BitstringStatusListEntry", "statusPurpose": "revocation", "x": 1}),
            false,
        );
    }
}
