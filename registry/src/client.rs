//! HTTP client for a remote registry: how the CLI, the issuer, the verifier and the wallet reach
//! one. Problem bodies from the registry come back as the same `Error` variants the registry
//! raised, so a caller cannot tell a remote refusal from a local one.

use std::time::Duration;

use serde_json::Value;
use url::Url;

use crate::did::Did;
use crate::error::{Error, Problem};
use crate::ops::SignedOperation;
use crate::wire::{DocumentMetadata, Resolution, VersionSelector, timestamp};

/// Default registry address: the local `credence serve`.
pub const DEFAULT_REGISTRY_URL: &str = "http://127.0.0.1:8080/registry";
/// Largest response we read from a registry (JSON answers, checkpoints, hash tiles).
const MAX_RESPONSE_BYTES: usize = 4 * 1024 * 1024;
/// Largest tile or entry bundle we read from a registry: a full bundle always fits, so no
/// honest log can serve one that a client (or `credence audit`) refuses.
pub const MAX_TILE_RESPONSE_BYTES: usize = if crate::log::MAX_BUNDLE_BYTES > MAX_RESPONSE_BYTES {
    crate::log::MAX_BUNDLE_BYTES
} else {
    MAX_RESPONSE_BYTES
};

/// Reads a response body, refusing it as soon as it passes `limit` bytes (a declared
/// `Content-Length` over the limit is refused before reading): a peer cannot make us buffer
/// more than `limit`, nor hold us with an endless body until the timeout.
pub async fn read_capped(
    mut response: reqwest::Response,
    limit: usize,
    what: &str,
) -> Result<Vec<u8>, Error> {
    let too_large = || Error::Upstream(format!("{what} too large (over {limit} bytes)"));
    if response
        .content_length()
        .is_some_and(|length| length > limit as u64)
    {
        return Err(too_large());
    }
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| Error::Upstream(format!("{what}: {}", causes(&e))))?
    {
        if body.len() + chunk.len() > limit {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// An error and its causes, outermost first ("error sending request: client error (Connect):
/// tcp connect error: Connection refused (os error 111)"), without repeating a URL the caller
/// already names.
pub fn causes(error: &reqwest::Error) -> String {
    let mut text = match error.url() {
        Some(_) => {
            let mut plain = error.to_string();
            if let Some(at) = plain.find(" for url (") {
                plain.truncate(at);
            }
            plain
        }
        None => error.to_string(),
    };
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

/// Checks that `key` is a signed-note verifier key (`<name>+<hex id>+<base64 key>`), the form
/// log and witness keys are given in. For argument parsers: the error is the reason.
pub fn check_verifier_key(key: &str) -> Result<String, String> {
    signed_note::StandardVerifier::new(key.trim())
        .map(|_| key.trim().to_owned())
        .map_err(|e| format!("not a verifier key <name>+<id>+<base64> ({e})"))
}

/// A client with the same limits as `RegistryClient` (timeout, no redirects), for fetching
/// documents a registry points at (status lists).
pub fn plain_http_client() -> Result<reqwest::Client, Error> {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(15))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| Error::Internal(e.to_string()))
}

/// A registry reached over HTTP at `base` (e.g. `http://127.0.0.1:8080/registry`).
#[derive(Clone, Debug)]
pub struct RegistryClient {
    base: Url,
    http: reqwest::Client,
}

/// A status list as served at its URI: the signed list, and the log index the registry states
/// for it (`Credence-Log-Index`), if any. Nothing in it is checked yet: see
/// [`crate::status::verify_list`] and `RegistryClient::prove_status_list`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchedList {
    pub jws: String,
    pub log_index: Option<crate::ids::LogIndex>,
}

/// Fetches the status list served at `url` with `http` (a verifying service passes an
/// SSRF-safe client; a CLI a plain one). The body is read up to the largest list a registry
/// accepts (`status::MAX_LIST_JWS_BYTES`); a problem body comes back as the error it names.
pub async fn fetch_status_list(http: &reqwest::Client, url: &str) -> Result<FetchedList, Error> {
    let response = http.get(url).send().await.map_err(|e| {
        Error::Upstream(format!(
            "{url} unreachable: {}; is the URL right, and is its server running?",
            causes(&e)
        ))
    })?;
    let status = response.status();
    let log_index = response
        .headers()
        .get(crate::status::LOG_INDEX_HEADER)
        .and_then(|v| v.to_str().ok()?.parse().ok())
        .map(crate::ids::LogIndex);
    let body = read_capped(response, crate::status::MAX_LIST_JWS_BYTES, "status list").await?;
    if !status.is_success() {
        return Err(
            match serde_json::from_slice::<crate::error::Problem>(&body) {
                Ok(problem) => Error::from_problem(problem),
                Err(_) => {
                    Error::Upstream(format!("{url} answered {status} without a problem body"))
                }
            },
        );
    }
    let jws = String::from_utf8(body)
        .map_err(|_| Error::Upstream(format!("{url} answered with a body that is not UTF-8")))?;
    Ok(FetchedList { jws, log_index })
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
            Err(Error::DeactivatedDid(resolution)) => return Ok(*resolution),
            other => other?,
        };
        parse_resolution(&response)
    }

    /// `1.0/identifiers/{did}` with the DID parameters that select `version`.
    fn resolution_url(&self, did: &Did, version: &VersionSelector) -> Result<Url, Error> {
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
        Ok(url)
    }

    /// Resolves a DID through the registry's DID Resolution endpoint. A deactivated DID (410)
    /// resolves, with `deactivated: true` in its metadata.
    pub async fn resolve(&self, did: &Did, version: &VersionSelector) -> Result<Resolution, Error> {
        let url = self.resolution_url(did, version)?;
        let (_, response) = self.send_allowing_gone(self.http.get(url)).await?;
        parse_resolution(&response)
    }

    /// Resolves with a log proof and checks it: the checkpoint through `watcher` (signature,
    /// witnesses, extends what was seen before), the inclusion of the version's operation, the
    /// whole chain up to it, and that the document is the one that chain defines. A deactivated
    /// DID resolves (`deactivated: true`), its deactivation proven the same way.
    pub async fn resolve_verified(
        &self,
        did: &Did,
        version: &VersionSelector,
        watcher: &LogWatcher,
    ) -> Result<Resolution, Error> {
        Ok(self.resolve_proven(did, version, watcher).await?.resolution)
    }

    /// Like [`resolve_verified`](Self::resolve_verified), but answers a deactivated DID as a
    /// (proven) resolution too, with the proof: where its operation is in the log.
    pub async fn resolve_proven(
        &self,
        did: &Did,
        version: &VersionSelector,
        watcher: &LogWatcher,
    ) -> Result<ProvenResolution, Error> {
        let mut url = self.resolution_url(did, version)?;
        url.query_pairs_mut().append_pair("proof", "true");
        // A deactivated DID (410) must be proven like any other state: its answer carries the
        // proof too, and without one nothing is believed.
        let (gone, body) = self.send_allowing_gone(self.http.get(url)).await?;
        let resolution = parse_resolution(&body)?;
        let proof: crate::wire::LogProof = serde_json::from_value(
            body.get("logProof").cloned().unwrap_or(Value::Null),
        )
        .map_err(|e| Error::LogVerification(format!("registry sent no usable logProof: {e}")))?;
        let checkpoint = watcher.accept(&proof.checkpoint, self).await?;
        crate::log::verify_log_proof(did, &resolution.document, &proof, &checkpoint)
            .map_err(|e| Error::LogVerification(e.to_string()))?;
        let deactivated = matches!(
            proof.operation.body,
            crate::ops::OperationBody::Deactivate { .. }
        );
        if gone != deactivated || resolution.metadata.deactivated != deactivated {
            return Err(Error::LogVerification(format!(
                "the registry says {did} is {}, the proven operation says it is {}",
                if gone { "deactivated" } else { "active" },
                if deactivated { "deactivated" } else { "active" }
            )));
        }
        Ok(ProvenResolution { resolution, proof })
    }

    /// Proves that `entry` is entry `index` of the registry's log: takes the latest checkpoint
    /// through `watcher` (signature, witnesses, extends what was seen before), fetches an
    /// inclusion proof and checks it against the entry's leaf hash. Returns the checkpoint the
    /// proof holds under.
    pub async fn prove_entry(
        &self,
        entry: &crate::log::Entry,
        index: crate::ids::LogIndex,
        watcher: &LogWatcher,
    ) -> Result<crate::log::VerifiedCheckpoint, Error> {
        let fail = |e: crate::log::LogError| Error::LogVerification(e.to_string());
        let checkpoint = watcher.accept(&self.checkpoint().await?, self).await?;
        let index = index.get();
        if index >= checkpoint.size {
            return Err(Error::LogVerification(format!(
                "entry {index} is not yet under the latest checkpoint ({} entries); try again \
                 after the next one",
                checkpoint.size
            )));
        }
        let proof = self.inclusion(index, checkpoint.size).await?;
        let path = proof
            .proof
            .iter()
            .map(|h| crate::log::hash_from_base64(h))
            .collect::<Result<Vec<_>, _>>()
            .map_err(fail)?;
        let leaf = crate::log::leaf_hash(&entry.to_bytes());
        crate::log::check_inclusion(&path, checkpoint.size, checkpoint.root, index, leaf)
            .map_err(fail)?;
        Ok(checkpoint)
    }

    /// Publishes a signed schema submission (compact JWS); returns the published schema.
    pub async fn publish_schema(
        &self,
        jws: &str,
    ) -> Result<crate::schemas::PublishedSchema, Error> {
        typed(self.post_jws(self.url("schemas")?, jws).await?)
    }

    /// Records a signed accreditation (compact JWS).
    pub async fn accredit(&self, jws: &str) -> Result<crate::trust::AccreditationView, Error> {
        typed(self.post_jws(self.url("accreditations")?, jws).await?)
    }

    /// Revokes accreditation `id` with a revocation signed by its accreditor.
    pub async fn revoke_accreditation(
        &self,
        id: &str,
        jws: &str,
    ) -> Result<crate::trust::AccreditationView, Error> {
        let url = self.url(&format!("accreditations/{id}/revoke"))?;
        typed(self.post_jws(url, jws).await?)
    }

    /// Every accreditation naming `did`, as the registry serves them (unproven: see
    /// `prove_accreditation`).
    pub async fn accreditations(
        &self,
        did: &Did,
    ) -> Result<crate::trust::IssuerAccreditations, Error> {
        let url = self.url(&format!("issuers/{did}"))?;
        typed(self.send(self.http.get(url)).await?)
    }

    /// The registry's answer to "may `did` issue `credential_type` now?", with its chain
    /// (unproven: see `prove_authorization`).
    pub async fn authorization(
        &self,
        did: &Did,
        credential_type: &str,
    ) -> Result<crate::trust::Authorization, Error> {
        let mut url = self.url(&format!("issuers/{did}/authorization"))?;
        url.query_pairs_mut().append_pair("type", credential_type);
        typed(self.send(self.http.get(url)).await?)
    }

    /// Publishes a signed status list version.
    pub async fn publish_status_list(
        &self,
        jws: &str,
    ) -> Result<crate::status::StatusListVersion, Error> {
        typed(self.post_jws(self.url("status-lists")?, jws).await?)
    }

    /// A published schema by id.
    pub async fn schema(&self, id: &str) -> Result<crate::schemas::PublishedSchema, Error> {
        typed(
            self.send(self.http.get(self.url(&format!("schemas/{id}"))?))
                .await?,
        )
    }

    /// The DID's operation log.
    pub async fn operations(&self, did: &Did) -> Result<Value, Error> {
        self.send(self.http.get(self.url(&format!("dids/{did}/ops"))?))
            .await
    }

    /// `did`'s current state as its own signed operations define it: the operation log the
    /// registry serves, re-validated here from the genesis (signatures by the then-current
    /// rotation keys, `prev` links, the DID derived from the genesis). What an owner builds its
    /// next operation on: the registry cannot slip anything into it (a withheld later
    /// operation only makes the owner's update a stale one, which the registry refuses).
    pub async fn owner_state(&self, did: &Did) -> Result<crate::ops::DidState, Error> {
        let served = self.operations(did).await?;
        let operations = served
            .get("operations")
            .and_then(Value::as_array)
            .ok_or_else(|| Error::Upstream("registry answered without operations".into()))?
            .iter()
            .map(|item| {
                SignedOperation::from_value(item.get("operation").cloned().unwrap_or(Value::Null))
                    .map_err(|e| {
                        Error::LogVerification(format!("an operation of {did} is malformed: {e}"))
                    })
            })
            .collect::<Result<Vec<_>, Error>>()?;
        crate::ops::replay_as(did, &operations).map_err(|e| {
            Error::LogVerification(format!("the history the registry serves for {did}: {e}"))
        })
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
    ) -> Result<crate::wire::ConsistencyProofBody, Error> {
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
    ) -> Result<crate::wire::InclusionProofBody, Error> {
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
            .map_err(|e| self.unreachable(&e))?;
        let status = response.status();
        let limit = if path.starts_with("log/tile/") {
            MAX_TILE_RESPONSE_BYTES
        } else {
            MAX_RESPONSE_BYTES
        };
        let bytes = read_capped(response, limit, "registry response").await?;
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

    /// A request that got no answer: what failed, why, and what to check.
    fn unreachable(&self, error: &reqwest::Error) -> Error {
        let hint = if error.is_timeout() {
            "it did not answer in time; is it overloaded, or is the URL right?"
        } else {
            "is it running, and is --registry (CREDENCE_REGISTRY) the right URL?"
        };
        Error::Upstream(format!(
            "registry unreachable at {}: {}; {hint}",
            self.base,
            causes(error)
        ))
    }

    /// POSTs a compact JWS (every signed submission to the registry travels this way).
    async fn post_jws(&self, url: Url, jws: &str) -> Result<Value, Error> {
        let request = self
            .http
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, "application/jose")
            .body(jws.to_owned());
        self.send(request).await
    }

    async fn send(&self, request: reqwest::RequestBuilder) -> Result<Value, Error> {
        match self.send_allowing_gone(request).await? {
            (false, body) => Ok(body),
            (true, body) => Err(Error::DeactivatedDid(Box::new(parse_resolution(&body)?))),
        }
    }

    /// Like `send`, but a 410 (a deactivated DID's resolution) is `Ok((true, body))`, so a
    /// caller can read what rides along with it (a log proof).
    async fn send_allowing_gone(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<(bool, Value), Error> {
        let response = request.send().await.map_err(|e| self.unreachable(&e))?;
        let status = response.status();
        let bytes = read_capped(response, MAX_RESPONSE_BYTES, "registry response").await?;
        let body: Value = serde_json::from_slice(&bytes).map_err(|e| {
            Error::Upstream(format!("registry answered {status} with non-JSON: {e}"))
        })?;
        if status.is_success() {
            return Ok((false, body));
        }
        if status == reqwest::StatusCode::GONE {
            return Ok((true, body));
        }
        let problem: Problem = serde_json::from_value(body).map_err(|e| {
            Error::Upstream(format!(
                "registry answered {status} without a problem body: {e}"
            ))
        })?;
        Err(Error::from_problem(problem))
    }

    /// The registry's answer to "was `did` accredited to issue `credential_type` at `at`?"
    /// (`GET issuers/{did}/authorization?type=T&at=RFC3339`), with its chain (unproven). A
    /// verifier asks it for a credential's issuance time.
    pub async fn authorization_at(
        &self,
        did: &Did,
        credential_type: &str,
        at: chrono::DateTime<chrono::Utc>,
    ) -> Result<crate::trust::Authorization, Error> {
        let mut url = self.url(&format!("issuers/{did}/authorization"))?;
        url.query_pairs_mut()
            .append_pair("type", credential_type)
            .append_pair("at", &timestamp(at));
        typed(self.send(self.http.get(url)).await?)
    }

    /// The newest SD-JWT VC type metadata for `vct` (`GET type-metadata?vct=`), with
    /// `schema_uri` naming its schema relative to the registry (`schemas/{id}/schema`).
    pub async fn type_metadata(&self, vct: &str) -> Result<Value, Error> {
        let mut url = self.url("type-metadata")?;
        url.query_pairs_mut().append_pair("vct", vct);
        self.send(self.http.get(url)).await
    }
}

/// The state file of a log: its verifier key's name and key hash (`<name>+<hash>+...`), made
/// safe as a file name.
fn state_file_name(log_key: &str) -> String {
    let mut parts = log_key.splitn(3, '+');
    let (name, hash) = (
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or_default(),
    );
    let safe: String = format!("{name}-{hash}")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("{safe}.checkpoint")
}

/// Reads a registry answer as its wire type; an answer of another shape is the registry's fault.
fn typed<T: serde::de::DeserializeOwned>(answer: Value) -> Result<T, Error> {
    serde_json::from_value(answer).map_err(|e| {
        Error::Upstream(format!(
            "the registry's answer is not of the expected shape: {e}"
        ))
    })
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

/// A resolution whose log proof verified, with that proof (`proof.inclusion.index` is where
/// the version's operation sits in the log).
#[derive(Debug, Clone)]
pub struct ProvenResolution {
    pub resolution: Resolution,
    pub proof: crate::wire::LogProof,
}

/// What a client trusts about a registry's log, and the latest checkpoint it has seen. Every
/// checkpoint it accepts must verify and extend the previous one: a registry that rolls back or
/// shows this client a different history is caught here.
///
/// In memory, a watcher only protects one process. [`LogWatcher::persistent`] remembers the
/// last accepted checkpoint in a file, so separate runs of a command (each a new process) are
/// held to one history too: a registry cannot show each run a different fork.
#[derive(Debug)]
pub struct LogWatcher {
    log_key: String,
    witness_keys: Vec<String>,
    min_witnesses: usize,
    last: tokio::sync::Mutex<Option<crate::log::VerifiedCheckpoint>>,
    /// Where the last accepted checkpoint is kept between runs, if anywhere.
    state_file: Option<std::path::PathBuf>,
}

impl LogWatcher {
    pub fn new(log_key: &str, witness_keys: Vec<String>, min_witnesses: usize) -> Self {
        Self {
            log_key: log_key.trim().to_owned(),
            witness_keys,
            min_witnesses,
            last: tokio::sync::Mutex::new(None),
            state_file: None,
        }
    }

    /// A watcher that starts from, and keeps, the last checkpoint accepted for this log in a
    /// file under `state_dir` (one file per log key). A remembered checkpoint that no longer
    /// verifies under the key is an error, not a fresh start.
    pub fn persistent(
        log_key: &str,
        witness_keys: Vec<String>,
        min_witnesses: usize,
        state_dir: &std::path::Path,
    ) -> Result<Self, Error> {
        let mut watcher = Self::new(log_key, witness_keys, min_witnesses);
        let file = state_dir.join(state_file_name(&watcher.log_key));
        let remembered = match std::fs::read_to_string(&file) {
            Ok(note) => Some(
                crate::log::verify_checkpoint(&note, &watcher.log_key).map_err(|e| {
                    Error::LogVerification(format!(
                        "the checkpoint remembered in {} does not verify: {e}",
                        file.display()
                    ))
                })?,
            ),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => None,
            Err(error) => {
                return Err(Error::Internal(format!("{}: {error}", file.display())));
            }
        };
        watcher.last = tokio::sync::Mutex::new(remembered);
        watcher.state_file = Some(file);
        Ok(watcher)
    }

    /// Writes the accepted checkpoint to the state file (atomically: a crash leaves the old
    /// one or the new one).
    fn remember(&self, checkpoint: &crate::log::VerifiedCheckpoint) -> Result<(), Error> {
        let Some(file) = &self.state_file else {
            return Ok(());
        };
        let failed = |e: std::io::Error| Error::Internal(format!("{}: {e}", file.display()));
        if let Some(parent) = file.parent() {
            std::fs::create_dir_all(parent).map_err(failed)?;
        }
        let temporary = file.with_extension("tmp");
        let mut out = std::fs::File::create(&temporary).map_err(failed)?;
        std::io::Write::write_all(&mut out, checkpoint.note.as_bytes())
            .and_then(|()| out.sync_all())
            .map_err(failed)?;
        std::fs::rename(&temporary, file).map_err(failed)
    }

    /// The latest checkpoint accepted so far.
    pub async fn last(&self) -> Option<crate::log::VerifiedCheckpoint> {
        self.last.lock().await.clone()
    }

    /// Verifies `note` and that it extends the last accepted checkpoint (fetching a consistency
    /// proof from `client` when it grew); remembers it.
    pub async fn accept(
        &self,
        note: &str,
        client: &RegistryClient,
    ) -> Result<crate::log::VerifiedCheckpoint, Error> {
        let fail = |e: crate::log::LogError| Error::LogVerification(e.to_string());
        let checkpoint = crate::witness::verify_cosigned(
            note,
            &self.log_key,
            &self.witness_keys,
            self.min_witnesses,
        )
        .map_err(fail)?;
        let mut last = self.last.lock().await;
        if let Some(previous) = last.as_ref() {
            if checkpoint.size < previous.size {
                return Err(fail(crate::log::LogError::NotAnExtension {
                    old: previous.size,
                    new: checkpoint.size,
                }));
            }
            if checkpoint.size > previous.size && previous.size > 0 {
                let proof = client.consistency(previous.size, checkpoint.size).await?;
                let hashes = proof
                    .proof
                    .iter()
                    .map(|h| crate::log::hash_from_base64(h))
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(fail)?;
                crate::log::check_consistency(
                    &hashes,
                    previous.size,
                    previous.root,
                    checkpoint.size,
                    checkpoint.root,
                )
                .map_err(fail)?;
            } else if checkpoint.size == previous.size && checkpoint.root != previous.root {
                return Err(fail(crate::log::LogError::NotAnExtension {
                    old: previous.size,
                    new: checkpoint.size,
                }));
            }
        }
        self.remember(&checkpoint)?;
        *last = Some(checkpoint.clone());
        Ok(checkpoint)
    }
}

/// A client of a Credence service's JSON API (the issuer's admin API, the verifier's relying
/// party API): a base URL, the bearer token it presents, and one way to call it. Answers are
/// JSON bodies; a refusal comes back as the service's problem (`Error::Remote`), an
/// unreachable or misbehaving service as `Error::Upstream` naming the URL and the option that
/// sets it.
#[derive(Clone, Debug)]
pub struct JsonApiClient {
    http: reqwest::Client,
    base: Url,
    token: Option<String>,
    /// The service as the user names it, and the option that points at it, for messages
    /// ("issuer", "--issuer (CREDENCE_ISSUER)").
    service: &'static str,
    option: &'static str,
}

impl JsonApiClient {
    /// Largest answer read.
    const MAX_RESPONSE_BYTES: usize = 4 * 1024 * 1024;

    /// A client of the `service` at `base` (http or https), presenting `token` if given.
    pub fn new(
        base: &str,
        token: Option<String>,
        service: &'static str,
        option: &'static str,
    ) -> Result<Self, Error> {
        let mut base = Url::parse(base)
            .map_err(|e| Error::Upstream(format!("{service} URL {base:?}: {e}")))?;
        if !matches!(base.scheme(), "http" | "https") {
            return Err(Error::Upstream(format!(
                "{service} URL {base} is not http(s)"
            )));
        }
        if !base.path().ends_with('/') {
            let path = format!("{}/", base.path());
            base.set_path(&path);
        }
        Ok(Self {
            http: plain_http_client()?,
            base,
            token,
            service,
            option,
        })
    }

    /// Sends one request to `segments` under the base (each percent-encoded as one path
    /// segment, so an id can never add a segment of its own) and reads its JSON answer.
    pub async fn call(
        &self,
        method: reqwest::Method,
        segments: &[&str],
        body: Option<&Value>,
    ) -> Result<Value, Error> {
        let service = self.service;
        let mut url = self.base.clone();
        url.path_segments_mut()
            .map_err(|()| Error::Upstream(format!("{service} URL {} has no path", self.base)))?
            .pop_if_empty()
            .extend(segments);
        let mut request = self.http.request(method, url.clone());
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await.map_err(|e| {
            Error::Upstream(format!(
                "{service} unreachable at {}: {}; is it running, and is {} the right URL?",
                self.base,
                causes(&e),
                self.option
            ))
        })?;
        let status = response.status();
        let bytes = read_capped(
            response,
            Self::MAX_RESPONSE_BYTES,
            &format!("{service} response"),
        )
        .await?;
        if status.is_success() {
            return serde_json::from_slice(&bytes).map_err(|e| {
                Error::Upstream(format!("{service} answered {status} with non-JSON: {e}"))
            });
        }
        match serde_json::from_slice::<Problem>(&bytes) {
            Ok(problem) => Err(Error::Remote(problem)),
            Err(_) => Err(Error::Upstream(format!(
                "{service} answered {status} to {url} without a problem body"
            ))),
        }
    }
}
