//! The DID resolver every Credence crate uses: did:key, did:jwk, did:web and did:credence
//! (from a local registry or a remote one over HTTP), with DID Resolution error names.
//!
//! It also implements `ssi`'s `DIDResolver` trait so `ssi` verification can use it directly.
//! Method modules turn an identifier into a document; this module dispatches and shapes
//! results. It does not cache: callers that need caching wrap it.

pub mod jwk;
pub mod key;
pub mod web;

use std::sync::Arc;

use serde_json::Value;

use crate::client::RegistryClient;
use crate::did::Did;
use crate::error::Error;
use crate::registry::{DocumentMetadata, Registry, Resolution, VersionSelector};

/// Where did:credence DIDs are resolved.
#[derive(Clone, Debug)]
pub enum CredenceSource {
    /// This process hosts the registry.
    Local(Arc<Registry>),
    /// A registry reached over HTTP, trusted as it answers.
    Remote(RegistryClient),
    /// A registry reached over HTTP whose every answer must carry a log proof that verifies
    /// against checkpoints this watcher accepts.
    VerifiedRemote(RegistryClient, Arc<crate::client::LogWatcher>),
    /// did:credence is not resolvable here.
    Disabled,
}

/// The multi-method resolver.
#[derive(Clone, Debug)]
pub struct Resolver {
    credence: CredenceSource,
    web: web::WebResolver,
}

impl Resolver {
    pub fn new(credence: CredenceSource, web_config: web::WebResolverConfig) -> Self {
        Self {
            credence,
            web: web::WebResolver::new(web_config),
        }
    }

    /// Resolves `did`. Version selection applies to did:credence; other methods have a single
    /// version and refuse a selector with `VersionNotFound`.
    pub async fn resolve(&self, did: &Did, version: &VersionSelector) -> Result<Resolution, Error> {
        let static_document = |document: Value| {
            if *version != VersionSelector::Latest {
                return Err(Error::VersionNotFound(format!(
                    "did:{} has no version history; versionId/versionTime do not apply",
                    did.method()
                )));
            }
            Ok(Resolution {
                document,
                metadata: DocumentMetadata::default(),
            })
        };
        match did.method() {
            "key" => static_document(key::document(did)?),
            "jwk" => static_document(jwk::document(did)?),
            "web" => {
                let document = self
                    .web
                    .resolve(did.as_str(), did.method_specific_id())
                    .await
                    .map_err(web_error)?;
                static_document(document)
            }
            crate::ops::METHOD => match &self.credence {
                CredenceSource::Local(registry) => registry.resolve(did, version).await,
                CredenceSource::Remote(client) => client.resolve(did, version).await,
                CredenceSource::VerifiedRemote(client, watcher) => {
                    client.resolve_verified(did, version, watcher).await
                }
                CredenceSource::Disabled => Err(Error::MethodNotSupported(did.method().to_owned())),
            },
            other => Err(Error::MethodNotSupported(other.to_owned())),
        }
    }
}

fn web_error(error: web::WebError) -> Error {
    use web::WebError as W;
    match error {
        W::InvalidDid(detail) => Error::InvalidDid(detail),
        W::ForbiddenTarget(detail) => Error::ForbiddenTarget(detail),
        W::NotFound(detail) => Error::NotFound(detail),
        W::Unreachable(detail) => Error::Upstream(detail),
        W::InvalidDocument(detail) => Error::InvalidDocument(detail),
    }
}

/// `ssi` integration: lets `ssi`'s verifiers resolve through us (same methods, same limits).
impl ssi_dids_core::DIDResolver for Resolver {
    async fn resolve_representation<'a>(
        &'a self,
        did: &'a ssi_dids_core::DID,
        options: ssi_dids_core::resolution::Options,
    ) -> Result<ssi_dids_core::resolution::Output<Vec<u8>>, ssi_dids_core::resolution::Error> {
        use ssi_dids_core::resolution::Error as E;
        let ours = Did::parse(did.as_str()).map_err(|e| E::internal(e.to_string()))?;
        let version = match (
            &options.parameters.version_id,
            &options.parameters.version_time,
        ) {
            (Some(id), _) => VersionSelector::Id(id.clone()),
            (None, Some(time)) => VersionSelector::at_time(time)
                .map_err(|e| E::internal(format!("versionTime {e}")))?,
            (None, None) => VersionSelector::Latest,
        };
        let resolution = match self.resolve(&ours, &version).await {
            Ok(resolution) => resolution,
            Err(Error::Deactivated(resolution)) => *resolution,
            Err(Error::NotFound(_)) | Err(Error::VersionNotFound(_)) => return Err(E::NotFound),
            Err(Error::MethodNotSupported(method)) => return Err(E::MethodNotSupported(method)),
            Err(other) => return Err(E::internal(other.to_string())),
        };
        let bytes =
            serde_json::to_vec(&resolution.document).map_err(|e| E::internal(e.to_string()))?;
        let metadata = ssi_dids_core::document::Metadata {
            deactivated: Some(resolution.metadata.deactivated),
        };
        Ok(ssi_dids_core::resolution::Output::new(
            bytes,
            metadata,
            ssi_dids_core::resolution::Metadata::from_content_type(Some(
                "application/did+json".to_owned(),
            )),
        ))
    }
}
