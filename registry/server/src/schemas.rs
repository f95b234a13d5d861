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

use credence_registry::error::Error;
use credence_registry::resolver::Resolver;
use credence_registry::schemas::{MAX_SCHEMA_JWS_BYTES, check_submission};
use credence_registry::wire::PublishedSchema;
use serde_json::Value;

use crate::store::{DidStore, NewSchema, StoreError};
use crate::trust::TrustRegistry;

/// The schema registry service.
#[derive(Clone)]
pub struct SchemaRegistry {
    store: Arc<dyn DidStore>,
    resolver: Arc<Resolver>,
    trust: Arc<TrustRegistry>,
    clock: credence_registry::clock::Clock,
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
            clock: credence_registry::clock::Clock::system(),
        }
    }

    /// The same registry reading the time from `clock`.
    pub fn with_clock(mut self, clock: credence_registry::clock::Clock) -> Self {
        self.clock = clock;
        self
    }

    /// Publishes a signed submission. Returns the schema and whether it is new (republishing
    /// identical content is idempotent and writes nothing).
    pub async fn publish(&self, jws: &str) -> Result<(PublishedSchema, bool), Error> {
        credence_registry::error::check_size(
            "schema submission",
            jws.trim(),
            MAX_SCHEMA_JWS_BYTES,
        )?;
        let signed =
            credence_registry::signed::verify(&self.resolver, jws, "assertionMethod").await?;
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
        let entry = credence_registry::log::Entry::Schema {
            id: id.to_string(),
            vct: vct.to_string(),
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
        tracing::info!(%id, %vct, publisher = %signed.did, "schema published");
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

fn to_published(stored: crate::store::StoredSchema) -> Result<PublishedSchema, Error> {
    let content: Value = serde_json::from_str(&stored.content)
        .map_err(|e| Error::Internal(format!("stored schema: {e}")))?;
    Ok(PublishedSchema {
        id: stored.id.parse().map_err(stored_id)?,
        vct: stored.vct.parse().map_err(stored_id)?,
        publisher: stored.publisher,
        schema: content["schema"].clone(),
        type_metadata: content["typeMetadata"].clone(),
        created: credence_registry::wire::timestamp(stored.created),
        log_index: stored.log_index.into(),
        jws: stored.jws,
    })
}

/// A stored identifier that does not parse: the database holds what this code never wrote.
fn stored_id(error: credence_registry::ids::InvalidId) -> Error {
    Error::Internal(format!("stored schema: {error}"))
}
