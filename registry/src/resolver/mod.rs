//! The DID resolver every Credence crate uses: did:key, did:jwk, did:web and did:credence
//! (from a local registry or a remote one over HTTP), with DID Resolution error names.
//!
//! It also dereferences DID URLs ([`Resolver::dereference`]): a verifier finds the key a JWS
//! `kid` names this way. It implements `ssi`'s `DIDResolver` trait so `ssi` verification can
//! use it directly. Method modules turn an identifier into a document; this module dispatches
//! and shapes results. It does not cache: callers that need caching wrap it.

pub mod did_url;
pub mod jwk;
pub mod key;
pub mod web;

pub use did_url::DidUrl;

use std::sync::Arc;

use serde_json::Value;

use crate::client::RegistryClient;
use crate::did::Did;
use crate::error::Error;
use crate::wire::{DocumentMetadata, Resolution, VersionSelector};

/// A registry hosted in this process, resolving did:credence DIDs from its own store. The
/// registry server implements it; the base crate only calls it.
#[async_trait::async_trait]
pub trait LocalRegistry: Send + Sync + std::fmt::Debug {
    async fn resolve(&self, did: &Did, version: &VersionSelector) -> Result<Resolution, Error>;
}

/// Where did:credence DIDs are resolved.
#[derive(Clone, Debug)]
pub enum CredenceSource {
    /// This process hosts the registry.
    Local(Arc<dyn LocalRegistry>),
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

/// What a DID URL dereferences to (DID Resolution §"DID URL Dereferencing"): the content and
/// the metadata of the DID document version it came from.
#[derive(Clone, Debug, PartialEq)]
pub struct Dereferenced {
    pub content: Content,
    /// `contentMetadata`: the DID document metadata of the version the content was taken from.
    pub metadata: DocumentMetadata,
}

/// The resource a DID URL names.
#[derive(Clone, Debug, PartialEq)]
pub enum Content {
    /// A DID URL without path, query parameters other than the version ones, or fragment: the
    /// (version-selected) DID document.
    Document(Value),
    /// A fragment naming a verification method, as the document writes it.
    VerificationMethod(Value),
    /// A fragment naming a service, as the document writes it.
    Service(Value),
}

impl Content {
    /// The resource as JSON.
    pub fn value(&self) -> &Value {
        match self {
            Self::Document(value) | Self::VerificationMethod(value) | Self::Service(value) => value,
        }
    }
}

impl Dereferenced {
    /// The public key of the verification method this DID URL named; `DidUrlNotFound` if it
    /// named something else, `InvalidKey` if the method's key is unusable.
    pub fn public_key(&self) -> Result<crate::keys::PublicKey, Error> {
        let Content::VerificationMethod(method) = &self.content else {
            return Err(Error::DidUrlNotFound(
                "the DID URL does not name a verification method".into(),
            ));
        };
        match (
            method.get("publicKeyMultibase").and_then(Value::as_str),
            method.get("publicKeyJwk"),
        ) {
            (Some(multibase), _) => Ok(crate::keys::PublicKey::from_multikey(multibase)?),
            (None, Some(jwk)) => Ok(crate::keys::PublicKey::from_jwk(jwk)?),
            (None, None) => Err(Error::InvalidDocument(
                "the verification method has neither publicKeyMultibase nor publicKeyJwk".into(),
            )),
        }
    }
}

/// The verification relationships of DID Core §5.3, where verification methods may also be
/// embedded.
const RELATIONSHIPS: [&str; 5] = [
    "authentication",
    "assertionMethod",
    "keyAgreement",
    "capabilityInvocation",
    "capabilityDelegation",
];

impl Resolver {
    /// Dereferences a DID URL (DID Resolution, "DID URL Dereferencing Algorithm"):
    ///
    /// 1. resolves the DID, at the version `version` selects or the DID URL's own `versionId`
    ///    / `versionTime` parameters select (giving a version both ways is `InvalidOptions`);
    ///    resolution errors pass through (`NotFound`, ...), and a deactivated DID's URL is
    ///    `DeactivatedDid` (its content is gone; the resolution goes with the error);
    /// 2. a path, or any other query parameter, names nothing: no method we resolve defines
    ///    one, so it is `DidUrlNotFound` (the spec's `notFound` when nothing can dereference it);
    /// 3. a fragment selects the verification method or service whose `id` is this DID plus
    ///    the fragment, written absolute or relative (`#key-1`), looking in
    ///    `verificationMethod`, `service`, and methods embedded in verification relationships;
    ///    nothing with that id is `DidUrlNotFound`;
    /// 4. otherwise the content is the document.
    pub async fn dereference(
        &self,
        url: &DidUrl,
        version: &VersionSelector,
    ) -> Result<Dereferenced, Error> {
        let (url_version, unknown) = url.version_parameters()?;
        let version = match (&url_version, version) {
            (selected, VersionSelector::Latest) => selected.clone(),
            (VersionSelector::Latest, selected) => selected.clone(),
            _ => {
                return Err(Error::InvalidOptions(
                    "the version is selected twice: in the DID URL and in the options".into(),
                ));
            }
        };
        let resolution = self.resolve(url.did(), &version).await?;
        if resolution.metadata.deactivated {
            return Err(Error::DeactivatedDid(Box::new(resolution)));
        }
        let method = url.did().method();
        if !url.path().is_empty() {
            return Err(Error::DidUrlNotFound(format!(
                "did:{method} defines no DID URL paths (got {:?})",
                url.path()
            )));
        }
        if !unknown.is_empty() {
            return Err(Error::DidUrlNotFound(format!(
                "this resolver dereferences only the versionId and versionTime DID parameters, \
                 not {}",
                unknown.join(", ")
            )));
        }
        let content = match url.fragment() {
            None => Content::Document(resolution.document),
            Some(fragment) => select_fragment(&resolution.document, url.did(), fragment)
                .ok_or_else(|| {
                    Error::DidUrlNotFound(format!(
                        "{}'s DID document has no verification method or service #{fragment}",
                        url.did()
                    ))
                })?,
        };
        Ok(Dereferenced {
            content,
            metadata: resolution.metadata,
        })
    }
}

/// The object of `document` with id `<did>#<fragment>` (or the relative `#<fragment>`).
fn select_fragment(document: &Value, did: &Did, fragment: &str) -> Option<Content> {
    let absolute = format!("{did}#{fragment}");
    let relative = format!("#{fragment}");
    let is_it = |object: &&Value| {
        object
            .get("id")
            .and_then(Value::as_str)
            .is_some_and(|id| id == absolute || id == relative)
    };
    let objects = |member: &str| {
        document
            .get(member)
            .and_then(Value::as_array)
            .map(|items| {
                items
                    .iter()
                    .filter(|item| item.is_object())
                    .collect::<Vec<_>>()
            })
            .unwrap_or_default()
    };
    if let Some(method) = objects("verificationMethod").into_iter().find(is_it) {
        return Some(Content::VerificationMethod(method.clone()));
    }
    if let Some(service) = objects("service").into_iter().find(is_it) {
        return Some(Content::Service(service.clone()));
    }
    RELATIONSHIPS
        .iter()
        .flat_map(|relationship| objects(relationship))
        .find(is_it)
        .map(|method| Content::VerificationMethod(method.clone()))
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
