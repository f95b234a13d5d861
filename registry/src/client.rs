//! HTTP client for a remote registry: how the CLI, the issuer, the verifier and the wallet reach
//! one. Problem bodies from the registry come back as the same `Error` variants the registry
//! raised, so a caller cannot tell a remote refusal from a local one.

use std::time::Duration;

use serde_json::Value;
use url::Url;

use crate::did::Did;
use crate::error::{Error, Problem};
use crate::ops::SignedOperation;
use crate::registry::{DocumentMetadata, Resolution, VersionSelector, timestamp};

/// Default registry address: the local `credence serve`.
pub const DEFAULT_REGISTRY_URL: &str = "http://127.0.0.1:8080/registry";
/// Largest response we read from a registry.
const MAX_RESPONSE_BYTES: usize = 4 * 1024 * 1024;

/// A registry reached over HTTP at `base` (e.g. `http://127.0.0.1:8080/registry`).
#[derive(Clone, Debug)]
pub struct RegistryClient {
    base: Url,
    http: reqwest::Client,
}

impl RegistryClient {
    pub fn new(base: &str) -> Result<Self, Error> {
        let mut base =
            Url::parse(base).map_err(|e| Error::Upstream(format!("registry URL {base:?}: {e}")))?;
        if !base.path().ends_with('/') {
            base.set_path(&format!("{}/", base.path()));
        }
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(15))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| Error::Internal(e.to_string()))?;
        Ok(Self { base, http })
    }

    fn url(&self, path: &str) -> Result<Url, Error> {
        self.base
            .join(path)
            .map_err(|e| Error::Internal(e.to_string()))
    }

    /// Submits a genesis operation; returns the new DID's resolution.
    pub async fn create(&self, operation: &SignedOperation) -> Result<(Did, Resolution), Error> {
        let response = self
            .send(self.http.post(self.url("dids")?).json(operation))
            .await?;
        let resolution = parse_resolution(&response)?;
        let did = resolution
            .document
            .get("id")
            .and_then(Value::as_str)
            .and_then(|id| Did::parse(id).ok())
            .ok_or_else(|| {
                Error::InvalidDocument("registry returned a document without a valid id".into())
            })?;
        Ok((did, resolution))
    }

    /// Submits a later operation on `did`.
    pub async fn submit(
        &self,
        did: &Did,
        operation: &SignedOperation,
    ) -> Result<Resolution, Error> {
        let url = self.url(&format!("dids/{did}/ops"))?;
        let response = match self.send(self.http.post(url).json(operation)).await {
            // A deactivate succeeds with the 410 resolution of the now-deactivated DID.
            Err(Error::Deactivated(resolution)) => return Ok(*resolution),
            other => other?,
        };
        parse_resolution(&response)
    }

    /// Resolves a DID through the registry's DID Resolution endpoint.
    pub async fn resolve(&self, did: &Did, version: &VersionSelector) -> Result<Resolution, Error> {
        let mut url = self.url(&format!("1.0/identifiers/{did}"))?;
        match version {
            VersionSelector::Latest => {}
            VersionSelector::Id(id) => {
                url.query_pairs_mut().append_pair("versionId", id);
            }
            VersionSelector::Time(at) => {
                url.query_pairs_mut()
                    .append_pair("versionTime", &timestamp(*at));
            }
        }
        let response = self.send(self.http.get(url)).await?;
        parse_resolution(&response)
    }

    /// The DID's operation log.
    pub async fn operations(&self, did: &Did) -> Result<Value, Error> {
        self.send(self.http.get(self.url(&format!("dids/{did}/ops"))?))
            .await
    }

    /// The log's verifier key as the registry announces it (pin it; do not re-fetch it).
    pub async fn log_key(&self) -> Result<String, Error> {
        Ok(String::from_utf8_lossy(&self.get_bytes("log/key").await?)
            .trim()
            .to_owned())
    }

    /// The latest signed checkpoint note (unverified: check it with `log::verify_checkpoint`).
    pub async fn checkpoint(&self) -> Result<String, Error> {
        Ok(String::from_utf8_lossy(&self.get_bytes("log/checkpoint").await?).into_owned())
    }

    /// A tile or entry bundle, by its C2SP path.
    pub async fn tile(&self, request: &crate::log::TileRequest) -> Result<Vec<u8>, Error> {
        self.get_bytes(&format!("log/tile/{}", request.path()))
            .await
    }

    /// A consistency proof between two tree sizes.
    pub async fn consistency(
        &self,
        from: u64,
        to: u64,
    ) -> Result<crate::transparency::ConsistencyProofBody, Error> {
        let body = self
            .send(
                self.http
                    .get(self.url(&format!("log/proof/consistency?from={from}&to={to}"))?),
            )
            .await?;
        serde_json::from_value(body).map_err(|e| Error::Upstream(format!("consistency proof: {e}")))
    }

    /// An inclusion proof of entry `index` in the tree of `size` entries.
    pub async fn inclusion(
        &self,
        index: u64,
        size: u64,
    ) -> Result<crate::transparency::InclusionProofBody, Error> {
        let body = self
            .send(
                self.http
                    .get(self.url(&format!("log/proof/inclusion?index={index}&size={size}"))?),
            )
            .await?;
        serde_json::from_value(body).map_err(|e| Error::Upstream(format!("inclusion proof: {e}")))
    }

    async fn get_bytes(&self, path: &str) -> Result<Vec<u8>, Error> {
        let response = self
            .http
            .get(self.url(path)?)
            .send()
            .await
            .map_err(|e| Error::Upstream(format!("registry unreachable: {e}")))?;
        let status = response.status();
        let bytes = response
            .bytes()
            .await
            .map_err(|e| Error::Upstream(format!("registry response: {e}")))?;
        if bytes.len() > MAX_RESPONSE_BYTES {
            return Err(Error::Upstream("registry response too large".into()));
        }
        if status.is_success() {
            return Ok(bytes.to_vec());
        }
        match serde_json::from_slice::<Problem>(&bytes) {
            Ok(problem) => Err(Error::from_problem(problem)),
            Err(_) => Err(Error::Upstream(format!(
                "registry answered {status} to {path}"
            ))),
        }
    }

    async fn send(&self, request: reqwest::RequestBuilder) -> Result<Value, Error> {
        let response = request
            .send()
            .await
            .map_err(|e| Error::Upstream(format!("registry unreachable: {e}")))?;
        let status = response.status();
        let bytes = response
            .bytes()
            .await
            .map_err(|e| Error::Upstream(format!("registry response: {e}")))?;
        if bytes.len() > MAX_RESPONSE_BYTES {
            return Err(Error::Upstream("registry response too large".into()));
        }
        let body: Value = serde_json::from_slice(&bytes).map_err(|e| {
            Error::Upstream(format!("registry answered {status} with non-JSON: {e}"))
        })?;
        if status.is_success() {
            return Ok(body);
        }
        if status == reqwest::StatusCode::GONE {
            return Err(Error::Deactivated(Box::new(parse_resolution(&body)?)));
        }
        let problem: Problem = serde_json::from_value(body).map_err(|e| {
            Error::Upstream(format!(
                "registry answered {status} without a problem body: {e}"
            ))
        })?;
        Err(Error::from_problem(problem))
    }
}

/// Reads a DID Resolution result (`didDocument`, `didDocumentMetadata`).
fn parse_resolution(body: &Value) -> Result<Resolution, Error> {
    let document = body
        .get("didDocument")
        .cloned()
        .ok_or_else(|| Error::InvalidDocument("resolution result has no didDocument".into()))?;
    let metadata: DocumentMetadata = serde_json::from_value(
        body.get("didDocumentMetadata")
            .cloned()
            .unwrap_or(Value::Null),
    )
    .unwrap_or_default();
    Ok(Resolution { document, metadata })
}
