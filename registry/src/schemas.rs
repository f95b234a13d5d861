//! The schema registry: credential types published as a JSON Schema (Draft 2020-12) plus SD-JWT
//! VC type metadata (`vct`, display names in several languages, claim metadata, which claims
//! are selectively disclosable), at a content-addressed, immutable id. Every publication is a
//! log entry.
//!
//! A publication is a compact JWS by the publisher's DID (`assertionMethod`) over
//! `{"schema": ..., "typeMetadata": ...}`. The registry's trust anchors may publish any type;
//! an issuer may publish a type it is accredited to issue (now, through a chain to an anchor).
//! The publisher of a `vct`'s latest version owns it: a new version may come from the owner
//! (while it is an anchor or accredited for the type, as above) or from any trust anchor, which
//! then owns the type. The store decides ownership under its write lock.
//!
//! No HTTP and no SQL here.

use serde::Deserialize;
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

use crate::error::Error;
pub use crate::wire::PublishedSchema;

/// Largest canonical `{"schema", "typeMetadata"}` accepted.
pub const MAX_SCHEMA_BYTES: usize = 32 * 1024;
/// Largest signed schema submission (the JWS); with its log entry's other members it stays
/// under `log::MAX_ENTRY_BYTES`.
pub const MAX_SCHEMA_JWS_BYTES: usize = 48 * 1024;
const MAX_VCT_LEN: usize = 512;

/// The payload a publisher signs.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Submission {
    schema: Value,
    type_metadata: Value,
}

/// Validates a submission; returns (id, vct, canonical content).
pub fn check_submission(
    payload: Value,
) -> Result<(crate::ids::SchemaId, crate::ids::CredentialType, String), Error> {
    let submission: Submission = serde_json::from_value(payload)
        .map_err(|e| Error::InvalidSchema(format!("submission: {e}")))?;
    let content_value =
        json!({"schema": submission.schema, "typeMetadata": submission.type_metadata});
    let content = serde_jcs::to_string(&content_value)
        .map_err(|e| Error::InvalidSchema(format!("cannot canonicalize: {e}")))?;
    if content.len() > MAX_SCHEMA_BYTES {
        return Err(Error::InvalidSchema(format!(
            "schema and metadata exceed {MAX_SCHEMA_BYTES} bytes"
        )));
    }
    if !submission.schema.is_object() {
        return Err(Error::InvalidSchema("schema must be a JSON object".into()));
    }
    // Compiling checks the schema against the 2020-12 meta-schema. Remote $refs cannot be
    // fetched (no retriever is compiled in), so a schema must be self-contained.
    jsonschema::draft202012::new(&submission.schema).map_err(|e| {
        Error::InvalidSchema(format!(
            "schema does not compile (JSON Schema 2020-12): {e}"
        ))
    })?;
    let vct = check_type_metadata(&submission.type_metadata)?;
    let id = crate::ids::SchemaId::computed(
        data_encoding::BASE32_NOPAD
            .encode(&Sha256::digest(content.as_bytes()))
            .to_ascii_lowercase(),
    );
    Ok((id, vct, content))
}

/// SD-JWT VC type metadata (draft-ietf-oauth-sd-jwt-vc §6): `vct` required; `display` entries
/// carry a language tag and a name; `claims` entries a non-empty `path` and, optionally, `sd`.
fn check_type_metadata(metadata: &Value) -> Result<crate::ids::CredentialType, Error> {
    let bad = |detail: &str| Error::InvalidSchema(format!("typeMetadata: {detail}"));
    let object = metadata
        .as_object()
        .ok_or_else(|| bad("must be a JSON object"))?;
    let vct = object
        .get("vct")
        .and_then(Value::as_str)
        .ok_or_else(|| bad("vct (a string) is required"))?;
    if vct.is_empty()
        || vct.len() > MAX_VCT_LEN
        || !vct.contains(':')
        || vct.chars().any(char::is_whitespace)
    {
        return Err(bad("vct must be a URI of at most 512 characters"));
    }
    if let Some(display) = object.get("display") {
        for entry in display
            .as_array()
            .ok_or_else(|| bad("display must be an array"))?
        {
            let has_lang = entry
                .get("lang")
                .or_else(|| entry.get("locale"))
                .and_then(Value::as_str)
                .is_some();
            if !has_lang || entry.get("name").and_then(Value::as_str).is_none() {
                return Err(bad("each display entry needs lang and name"));
            }
        }
    }
    if let Some(claims) = object.get("claims") {
        for claim in claims
            .as_array()
            .ok_or_else(|| bad("claims must be an array"))?
        {
            let path_ok = claim
                .get("path")
                .and_then(Value::as_array)
                .is_some_and(|p| !p.is_empty());
            if !path_ok {
                return Err(bad("each claim needs a non-empty path"));
            }
            if let Some(sd) = claim.get("sd") {
                if !matches!(sd.as_str(), Some("always" | "allowed" | "never")) {
                    return Err(bad("claim sd must be always, allowed or never"));
                }
            }
        }
    }
    crate::ids::CredentialType::parse(vct).map_err(|e| bad(&e.to_string()))
}
