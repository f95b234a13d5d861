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

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

use crate::did::Did;
use crate::error::Error;
use crate::resolver::Resolver;
use crate::store::{DidStore, NewSchema, StoreError};
use crate::trust::TrustRegistry;

/// Largest canonical `{"schema", "typeMetadata"}` accepted.
pub const MAX_SCHEMA_BYTES: usize = 32 * 1024;
/// Largest signed schema submission (the JWS); with its log entry's other members it stays
/// under `log::MAX_ENTRY_BYTES`.
pub const MAX_SCHEMA_JWS_BYTES: usize = 48 * 1024;
const MAX_VCT_LEN: usize = 512;

/// A published schema as served.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PublishedSchema {
    pub id: String,
    pub vct: String,
    pub publisher: Did,
    pub schema: Value,
    pub type_metadata: Value,
    pub created: String,
    pub log_index: u64,
    /// The publisher's signed submission.
    pub jws: String,
}

impl PublishedSchema {
    /// The log entry that recorded it, rebuilt from what is served (see
    /// `RegistryClient::prove_entry`).
    pub fn log_entry(&self) -> crate::log::Entry {
        crate::log::Entry::Schema {
            id: self.id.clone(),
            vct: self.vct.clone(),
            publisher: self.publisher.clone(),
            jws: self.jws.clone(),
        }
    }
}

/// The payload a publisher signs.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Submission {
    schema: Value,
    type_metadata: Value,
}

/// The schema registry service.
#[derive(Clone)]
pub struct SchemaRegistry {
    store: Arc<dyn DidStore>,
    resolver: Arc<Resolver>,
    trust: Arc<TrustRegistry>,
    clock: crate::clock::Clock,
}

impl std::fmt::Debug for SchemaRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SchemaRegistry")
            .field("trust", &self.trust)
            .finish_non_exhaustive()
    }
}

impl SchemaRegistry {
    pub fn new(
        store: Arc<dyn DidStore>,
        resolver: Arc<Resolver>,
        trust: Arc<TrustRegistry>,
    ) -> Self {
        Self {
            store,
            resolver,
            trust,
            clock: crate::clock::Clock::system(),
        }
    }

    /// The same registry reading the time from `clock`.
    pub fn with_clock(mut self, clock: crate::clock::Clock) -> Self {
        self.clock = clock;
        self
    }

    /// Publishes a signed submission. Returns the schema and whether it is new (republishing
    /// identical content is idempotent and writes nothing).
    pub async fn publish(&self, jws: &str) -> Result<(PublishedSchema, bool), Error> {
        crate::error::check_size("schema submission", jws.trim(), MAX_SCHEMA_JWS_BYTES)?;
        let signed = crate::signed::verify(&self.resolver, jws, "assertionMethod").await?;
        let (id, vct, content) = check_submission(signed.payload)?;
        let is_anchor = self.trust.is_anchor(&signed.did);
        if !is_anchor {
            if let Err(reason) = self.trust.check_authorized_now(&signed.did, &vct).await? {
                return Err(Error::Forbidden(format!(
                    "{} may not publish a schema for {vct}: only the registry's trust anchors \
                     and issuers accredited for the type may ({reason})",
                    signed.did
                )));
            }
        }
        if let Some(existing) = self.store.schema(&id).await? {
            return Ok((to_published(existing)?, false));
        }
        let entry = crate::log::Entry::Schema {
            id: id.clone(),
            vct: vct.clone(),
            publisher: signed.did.clone(),
            jws: jws.trim().to_owned(),
        }
        .to_log_bytes()?;
        let record = NewSchema {
            id: &id,
            vct: &vct,
            publisher: &signed.did,
            publisher_is_trust_anchor: is_anchor,
            content: &content,
            jws: jws.trim(),
            now: self.clock.now(),
            log_entry: &entry,
        };
        match self.store.publish_schema(record).await {
            Ok(_) => {}
            // A concurrent identical publication won the race: same content, same id.
            Err(StoreError::AlreadyExists) => {}
            Err(StoreError::VctTaken { publisher }) => {
                return Err(Error::VctTaken(format!(
                    "{vct} is published by {publisher}; only it (while accredited for the type) \
                     and the registry's trust anchors may publish new versions"
                )));
            }
            Err(other) => return Err(other.into()),
        }
        let stored = self
            .store
            .schema(&id)
            .await?
            .ok_or_else(|| Error::Internal("schema vanished".into()))?;
        tracing::info!(id, vct, publisher = %signed.did, "schema published");
        Ok((to_published(stored)?, true))
    }

    pub async fn get(&self, id: &str) -> Result<PublishedSchema, Error> {
        let stored = self
            .store
            .schema(id)
            .await?
            .ok_or_else(|| Error::SchemaNotFound(format!("no schema {id:?}")))?;
        to_published(stored)
    }

    /// The newest version of the type `vct`.
    pub async fn latest_for_vct(&self, vct: &str) -> Result<PublishedSchema, Error> {
        let stored = self
            .store
            .latest_schema_for_vct(vct)
            .await?
            .ok_or_else(|| Error::SchemaNotFound(format!("no schema for vct {vct:?}")))?;
        to_published(stored)
    }
}

/// Validates a submission; returns (id, vct, canonical content).
pub(crate) fn check_submission(payload: Value) -> Result<(String, String, String), Error> {
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
    let id = data_encoding::BASE32_NOPAD
        .encode(&Sha256::digest(content.as_bytes()))
        .to_ascii_lowercase();
    Ok((id, vct, content))
}

/// SD-JWT VC type metadata (draft-ietf-oauth-sd-jwt-vc §6): `vct` required; `display` entries
/// carry a language tag and a name; `claims` entries a non-empty `path` and, optionally, `sd`.
fn check_type_metadata(metadata: &Value) -> Result<String, Error> {
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
    Ok(vct.to_owned())
}

fn to_published(stored: crate::store::StoredSchema) -> Result<PublishedSchema, Error> {
    let content: Value = serde_json::from_str(&stored.content)
        .map_err(|e| Error::Internal(format!("stored schema: {e}")))?;
    Ok(PublishedSchema {
        id: stored.id,
        vct: stored.vct,
        publisher: stored.publisher,
        schema: content["schema"].clone(),
        type_metadata: content["typeMetadata"].clone(),
        created: crate::registry::timestamp(stored.created),
        log_index: stored.log_index,
        jws: stored.jws,
    })
}
