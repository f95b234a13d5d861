//! The registry's transparency log as a service: publishing signed checkpoints (the "publish"
//! stage; "sequence" and "integrate" happen inside each write's transaction in `store/`),
//! serving tiles, entry bundles and proofs.
//!
//! No HTTP and no SQL: `http/log.rs` calls these functions; the Merkle math is in `log.rs`.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;

use std::sync::atomic::{AtomicU64, Ordering};

use crate::cache::FreshCache;
use credence_registry::error::Error;
use credence_registry::log::{self, CheckpointSigner, TileRequest, TwoPass as _};
use credence_registry::wire::{ConsistencyProofBody, InclusionProofBody, LogProof};

use crate::store::DidStore;

/// Most entries an inclusion/consistency request may name, as a sanity bound on sizes.
const MAX_TREE_SIZE: u64 = 1 << 40;

/// A served tile or entry bundle, and whether it can never change.
#[derive(Debug, Clone)]
pub struct TileBody {
    pub bytes: axum::body::Bytes,
    pub immutable: bool,
}

/// Weighs cached tiles by their size, so the tile cache is bounded in bytes.
#[derive(Clone, Copy, Debug)]
struct TileWeight;

impl quick_cache::Weighter<(Option<u8>, u64), axum::body::Bytes> for TileWeight {
    fn weight(&self, _: &(Option<u8>, u64), bytes: &axum::body::Bytes) -> u64 {
        bytes.len().max(1) as u64
    }
}

/// Bytes of full tiles and entry bundles kept in memory. A full tile never changes, so
/// serving one again needs no database read; this bounds what that costs.
const CACHED_TILE_BYTES: u64 = 64 * 1024 * 1024;

/// A witness the registry asks to cosign its checkpoints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WitnessEndpoint {
    /// Base URL; the witness serves `POST <url>/add-checkpoint`.
    pub url: String,
    /// The witness's verifier key: a reply line is added to a checkpoint only if it is a valid
    /// cosignature under this key.
    pub key: String,
}

impl std::str::FromStr for WitnessEndpoint {
    type Err = String;
    /// `URL=KEY`: the witness's base URL and its verifier key (`GET <url>/key`). The URL must be
    /// https, except for a loopback host (local deployments and tests).
    fn from_str(text: &str) -> Result<Self, String> {
        let (url_text, key) = text.split_once('=').ok_or_else(|| {
            format!("witness {text:?}: give URL=KEY (the witness's base URL and verifier key)")
        })?;
        let url =
            url::Url::parse(url_text).map_err(|e| format!("witness URL {url_text:?}: {e}"))?;
        let loopback = match url.host() {
            Some(url::Host::Domain(domain)) => domain == "localhost",
            Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
            Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
            None => false,
        };
        if url.scheme() != "https" && !(url.scheme() == "http" && loopback) {
            return Err(format!(
                "witness URL {url_text:?} must be https (plain http only on a loopback address)"
            ));
        }
        let key = credence_registry::client::check_verifier_key(key)
            .map_err(|e| format!("witness key of {url_text}: {e}"))?;
        Ok(Self {
            url: url_text.trim_end_matches('/').to_owned(),
            key,
        })
    }
}

/// The log service over a store.
#[derive(Clone)]
pub struct Transparency {
    store: Arc<dyn DidStore>,
    signer: Arc<CheckpointSigner>,
    witnesses: Arc<Vec<WitnessEndpoint>>,
    /// What each witness last cosigned, as far as we know (learned from 409 answers).
    witnessed: Arc<tokio::sync::Mutex<std::collections::HashMap<String, u64>>>,
    http: reqwest::Client,
    /// The largest log size seen: the log only grows, so a size at or below it needs no read.
    known_size: Arc<AtomicU64>,
    /// Stored hashes by index. A stored hash never changes once written, so entries need no
    /// age limit; proofs and tiles read what is missing from the store.
    hashes: Arc<FreshCache<u64, log::LogHash>>,
    /// Full (immutable) tiles and entry bundles by (level, index); `None` level = entries.
    full_tiles: Arc<quick_cache::sync::Cache<(Option<u8>, u64), axum::body::Bytes, TileWeight>>,
    /// Rung by a read that needs a checkpoint newer than the stored one; wakes the publisher.
    wanted: Arc<tokio::sync::Notify>,
    /// The size of the latest checkpoint this process's publisher stored (or found stored).
    published: Arc<tokio::sync::watch::Sender<u64>>,
    /// Longest a read waits for a covering checkpoint ([`COVERING_WAIT`] unless set).
    covering_wait: Duration,
}

/// Longest a read waits for the publisher to sign a checkpoint covering what it asks about.
pub const COVERING_WAIT: Duration = Duration::from_secs(10);

/// Largest witness reply read: a few signature lines (each well under 200 bytes) or a size.
const MAX_WITNESS_REPLY_BYTES: usize = 16 * 1024;

/// Stored hashes kept in memory (about 100 bytes each): the upper levels every proof shares
/// and the most recently asked lower ones.
const CACHED_HASHES: usize = 1 << 20;

impl std::fmt::Debug for Transparency {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transparency")
            .field("signer", &self.signer)
            .finish_non_exhaustive()
    }
}

impl Transparency {
    pub fn new(store: Arc<dyn DidStore>, signer: Arc<CheckpointSigner>) -> Self {
        Self::with_witnesses(store, signer, Vec::new())
    }

    /// A log that gathers cosignatures from `witnesses` each time it publishes.
    pub fn with_witnesses(
        store: Arc<dyn DidStore>,
        signer: Arc<CheckpointSigner>,
        witnesses: Vec<WitnessEndpoint>,
    ) -> Self {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap_or_default();
        Self {
            store,
            signer,
            witnesses: Arc::new(witnesses),
            witnessed: Arc::default(),
            http,
            known_size: Arc::default(),
            hashes: Arc::new(FreshCache::new(CACHED_HASHES, None)),
            full_tiles: Arc::new(quick_cache::sync::Cache::with_weighter(
                4096,
                CACHED_TILE_BYTES,
                TileWeight,
            )),
            wanted: Arc::default(),
            published: Arc::new(tokio::sync::watch::channel(0).0),
            covering_wait: COVERING_WAIT,
        }
    }

    /// The same, with reads waiting at most `wait` for a covering checkpoint.
    pub fn with_covering_wait(mut self, wait: Duration) -> Self {
        self.covering_wait = wait;
        self
    }

    /// The verifier key clients pin (`<origin>+<id>+<base64>`).
    pub fn verifier_key(&self) -> &str {
        self.signer.verifier_key()
    }

    /// Claims the database's log for this key, or refuses to serve it: one database holds one
    /// log, and a second key would split its history in two. Called once at startup, before
    /// anything is published.
    ///
    /// The claim is one atomic insert (`DidStore::claim_log_key`), so of several instances
    /// starting at once on a fresh database with different keys exactly one starts. A log
    /// started before keys were recorded is claimed only by a key that verifies its latest
    /// checkpoint, checked first.
    pub async fn check_key(&self) -> Result<(), Error> {
        let ours = self.signer.verifier_key();
        if let Some((size, note)) = self.store.latest_checkpoint().await? {
            if let Err(error) = log::verify_checkpoint(&note, ours) {
                return Err(Error::Internal(format!(
                    "the database's latest checkpoint (size {size}) was not signed by this log key ({error}); \
                     start with the key file this log was created with (--log-key-file)"
                )));
            }
        }
        let holder = self.store.claim_log_key(ours).await?;
        if holder != ours {
            return Err(Error::Internal(format!(
                "the database's log belongs to the log key {holder}, not to this instance's log key \
                 {ours}; one database holds one log with one key: start every instance with the key \
                 file the log was created with (--log-key-file)"
            )));
        }
        Ok(())
    }

    /// Publish stage: signs and records a checkpoint for the current tree if it grew since the
    /// last one. Returns the size now checkpointed.
    ///
    /// When the log did not grow, witnesses that have not cosigned the latest checkpoint yet
    /// (this process has not heard them cosign it: after a start with a new `--witness`, or a
    /// witness that was down) are asked again, and their cosignatures are added to it. So an idle
    /// log is cosigned at start, and a witness that was down catches up on the next tick.
    pub async fn publish(&self) -> Result<u64, Error> {
        let size = self.store.log_size().await?;
        if let Some((latest, note)) = self.store.latest_checkpoint().await? {
            if latest >= size {
                self.catch_up_witnesses(latest, note).await?;
                self.published.send_replace(latest);
                return Ok(latest);
            }
        }
        let root = self.root(size).await?;
        let note = self
            .signer
            .sign(size, root)
            .map_err(|e| Error::Internal(e.to_string()))?;
        let note = self.gather_cosignatures(note, size, false).await;
        self.store.save_checkpoint(size, &note, Utc::now()).await?;
        self.published.send_replace(size);
        tracing::debug!(size, "checkpoint published");
        Ok(size)
    }

    /// Asks the witnesses not known to have cosigned the checkpoint of `size` (`note`), and
    /// records the note with any cosignature they add.
    async fn catch_up_witnesses(&self, size: u64, note: String) -> Result<(), Error> {
        if size == 0 || !self.has_witness_behind(size).await {
            return Ok(());
        }
        let cosigned = self.gather_cosignatures(note.clone(), size, true).await;
        if cosigned != note {
            self.store
                .save_checkpoint(size, &cosigned, Utc::now())
                .await?;
            tracing::info!(size, "witness cosignatures added to the latest checkpoint");
        }
        Ok(())
    }

    async fn has_witness_behind(&self, size: u64) -> bool {
        let witnessed = self.witnessed.lock().await;
        self.witnesses
            .iter()
            .any(|witness| witnessed.get(&witness.url).is_none_or(|&at| at < size))
    }

    /// Asks each witness (with `only_behind`, each not yet known to have cosigned `size`) to
    /// cosign `note`, and appends the signature lines it does not carry yet.
    async fn gather_cosignatures(&self, mut note: String, size: u64, only_behind: bool) -> String {
        for witness in self.witnesses.iter() {
            if only_behind
                && self
                    .witnessed
                    .lock()
                    .await
                    .get(&witness.url)
                    .is_some_and(|&at| at >= size)
            {
                continue;
            }
            match self.cosign(witness, &note, size).await {
                Ok(lines) => {
                    for line in lines.lines().filter(|line| !line.is_empty()) {
                        if note.lines().any(|present| present == line) {
                            continue;
                        }
                        // Only a valid cosignature under the witness's configured key is kept:
                        // junk would make the note unreadable, and a bad line under a witness's
                        // name would cancel its genuine cosignature.
                        if credence_registry::witness::is_cosignature(&note, line, &witness.key) {
                            note.push_str(line);
                            note.push('\n');
                        } else {
                            tracing::warn!(
                                witness = %witness.url,
                                "witness reply line is not its cosignature of this checkpoint; dropped"
                            );
                        }
                    }
                }
                // A witness that is down delays its cosignature, never the log.
                Err(error) => {
                    tracing::warn!(witness = %witness.url, %error, "witness did not cosign")
                }
            }
        }
        note
    }

    /// The latest checkpoint, covering every entry appended before the call: the stored one
    /// if it does, else the one the publisher signs next, woken for it. A read: it signs
    /// nothing and writes nothing.
    pub async fn checkpoint(&self) -> Result<String, Error> {
        let size = self.store.log_size().await?;
        Ok(self.covering(size).await?.1)
    }

    /// The latest stored checkpoint whose size is at least `min_size`: the stored one if it
    /// covers that much, else the one the publisher signs next, woken for it (reads never
    /// sign). Waits at most [`COVERING_WAIT`] (or as set), then `CheckpointPending`.
    pub async fn covering(&self, min_size: u64) -> Result<(u64, String), Error> {
        let deadline = tokio::time::Instant::now() + self.covering_wait;
        let mut published = self.published.subscribe();
        loop {
            if let Some((size, note)) = self.store.latest_checkpoint().await? {
                if size >= min_size {
                    return Ok((size, note));
                }
            }
            self.wanted.notify_one();
            // Woken when this process's publisher stores a checkpoint; another instance's
            // publisher is seen on the next pass through the store.
            match tokio::time::timeout_at(deadline, published.changed()).await {
                Ok(Ok(())) => {}
                Ok(Err(_)) | Err(_) => {
                    if let Some((size, note)) = self.store.latest_checkpoint().await? {
                        if size >= min_size {
                            return Ok((size, note));
                        }
                    }
                    return Err(Error::CheckpointPending(min_size));
                }
            }
        }
    }

    /// The log proof for the last operation of `chain` (a DID's stored operations from its
    /// genesis up to the version asked for).
    pub async fn proof_for(&self, chain: &[crate::store::StoredOp]) -> Result<LogProof, Error> {
        let (stored, history) = chain
            .split_last()
            .ok_or_else(|| Error::Internal("a proof needs at least one operation".into()))?;
        let index = stored
            .log_index
            .ok_or_else(|| Error::Internal("operation has no log index".into()))?;
        // The latest stored checkpoint serves if it covers the operation (it is the largest
        // stored, so no client has seen a larger one); a newer operation waits for the
        // publisher's next checkpoint.
        let (size, checkpoint) = self.covering(index + 1).await?;
        Ok(LogProof {
            position: stored.position,
            operation: stored.operation.clone(),
            history: history.iter().map(|op| op.operation.clone()).collect(),
            checkpoint,
            inclusion: self.inclusion(index, size).await?,
        })
    }

    /// Asks one witness to cosign `note` (C2SP tlog-witness add-checkpoint), retrying once
    /// from the size the witness says it holds. Returns its signature line(s).
    async fn cosign(
        &self,
        witness: &WitnessEndpoint,
        note: &str,
        size: u64,
    ) -> Result<String, String> {
        let mut old = self
            .witnessed
            .lock()
            .await
            .get(&witness.url)
            .copied()
            .unwrap_or(0);
        for _ in 0..2 {
            let mut body = format!("old {old}\n");
            if old > 0 && old < size {
                let proof = self
                    .consistency(old, size)
                    .await
                    .map_err(|e| e.to_string())?;
                for hash in proof.proof {
                    body.push_str(&hash);
                    body.push('\n');
                }
            }
            body.push('\n');
            body.push_str(note);
            let response = self
                .http
                .post(format!("{}/add-checkpoint", witness.url))
                .body(body)
                .send()
                .await
                .map_err(|e| e.to_string())?;
            let status = response.status();
            let text = credence_registry::client::read_capped(
                response,
                MAX_WITNESS_REPLY_BYTES,
                "witness reply",
            )
            .await
            .map_err(|e| e.to_string())?;
            let text =
                String::from_utf8(text).map_err(|_| "witness reply is not UTF-8".to_owned())?;
            if status.is_success() {
                self.witnessed
                    .lock()
                    .await
                    .insert(witness.url.clone(), size);
                return Ok(text);
            }
            if status == reqwest::StatusCode::CONFLICT {
                old = text
                    .trim()
                    .parse()
                    .map_err(|_| format!("409 without a size: {text:?}"))?;
                if old > size {
                    return Err(format!(
                        "witness holds size {old}, beyond this log's {size}"
                    ));
                }
                continue;
            }
            return Err(format!("{status}: {text}"));
        }
        Err("witness kept refusing the size".into())
    }

    /// The stored hashes at `indexes`, from memory where they were read before.
    async fn stored_hashes(
        &self,
        indexes: &[u64],
    ) -> Result<std::collections::HashMap<u64, log::LogHash>, Error> {
        let mut found = std::collections::HashMap::with_capacity(indexes.len());
        let mut missing = Vec::new();
        for &index in indexes {
            match self.hashes.get(&index) {
                Some(hash) => {
                    found.insert(index, *hash);
                }
                None => missing.push(index),
            }
        }
        if !missing.is_empty() {
            for (index, hash) in self.store.read_hashes(&missing).await? {
                self.hashes.insert(index, Arc::new(hash));
                found.insert(index, hash);
            }
        }
        Ok(found)
    }

    async fn root(&self, size: u64) -> Result<log::LogHash, Error> {
        let computation = log::TreeHash(size);
        let hashes = self.stored_hashes(&computation.needs()).await?;
        computation
            .compute(&hashes)
            .map_err(|e| Error::Internal(e.to_string()))
    }

    async fn check_size(&self, size: u64, name: &str) -> Result<u64, Error> {
        let known = self.known_size.load(Ordering::Relaxed);
        let log_size = if size <= known {
            known
        } else {
            let read = self.store.log_size().await?;
            self.known_size.fetch_max(read, Ordering::Relaxed);
            read
        };
        if size == 0 || size > log_size.min(MAX_TREE_SIZE) {
            return Err(Error::InvalidLogRequest(format!(
                "{name}={size} is outside the log (1..={log_size})"
            )));
        }
        Ok(log_size)
    }

    /// Proof that entry `index` is in the tree of `size` entries.
    pub async fn inclusion(&self, index: u64, size: u64) -> Result<InclusionProofBody, Error> {
        self.check_size(size, "size").await?;
        if index >= size {
            return Err(Error::InvalidLogRequest(format!(
                "index={index} must be below size={size}"
            )));
        }
        let proof_computation = log::InclusionProof { index, size };
        let root_computation = log::TreeHash(size);
        let leaf_index = tlog_tiles::tlog::stored_hash_index(0, index);
        let mut needed = proof_computation.needs();
        needed.extend(root_computation.needs());
        needed.push(leaf_index);
        needed.sort_unstable();
        needed.dedup();
        let hashes = self.stored_hashes(&needed).await?;
        let corrupt = |e: log::LogError| Error::Internal(e.to_string());
        let proof = proof_computation.compute(&hashes).map_err(corrupt)?;
        let root = root_computation.compute(&hashes).map_err(corrupt)?;
        Ok(InclusionProofBody {
            index,
            size,
            leaf_hash: log::hash_to_base64(&hashes[&leaf_index]),
            root_hash: log::hash_to_base64(&root),
            proof: proof.iter().map(log::hash_to_base64).collect(),
        })
    }

    /// Proof that the tree of `to` entries extends the tree of `from` entries.
    pub async fn consistency(&self, from: u64, to: u64) -> Result<ConsistencyProofBody, Error> {
        self.check_size(to, "to").await?;
        if from == 0 || from > to {
            return Err(Error::InvalidLogRequest(format!(
                "from={from} must be in 1..=to ({to})"
            )));
        }
        let proof_computation = log::ConsistencyProof { from, to };
        let (from_root, to_root) = (log::TreeHash(from), log::TreeHash(to));
        let mut needed = proof_computation.needs();
        needed.extend(from_root.needs());
        needed.extend(to_root.needs());
        needed.sort_unstable();
        needed.dedup();
        let hashes = self.stored_hashes(&needed).await?;
        let corrupt = |e: log::LogError| Error::Internal(e.to_string());
        Ok(ConsistencyProofBody {
            from,
            to,
            from_root: log::hash_to_base64(&from_root.compute(&hashes).map_err(corrupt)?),
            to_root: log::hash_to_base64(&to_root.compute(&hashes).map_err(corrupt)?),
            proof: proof_computation
                .compute(&hashes)
                .map_err(corrupt)?
                .iter()
                .map(log::hash_to_base64)
                .collect(),
        })
    }

    /// A C2SP tlog-tiles tile or entry bundle (`path` is what follows `tile/`).
    pub async fn tile(&self, path: &str) -> Result<TileBody, Error> {
        let request =
            TileRequest::parse(path).map_err(|e| Error::InvalidLogRequest(e.to_string()))?;
        let immutable = request.partial_width.is_none();
        if immutable {
            if let Some(bytes) = self.full_tiles.get(&(request.level, request.index)) {
                return Ok(TileBody { bytes, immutable });
            }
        }
        let size = self.store.log_size().await?;
        if !request.exists_in(size) {
            return Err(Error::TileNotFound(format!(
                "tile/{path} is not in the log (size {size})"
            )));
        }
        let bytes = match request.level {
            None => {
                let entries = self
                    .store
                    .entries(request.index * log::TILE_WIDTH, request.width())
                    .await?;
                if entries.len() as u64 != request.width() {
                    return Err(Error::Internal(format!(
                        "log entries missing under tile/{path}"
                    )));
                }
                log::encode_bundle(&entries)
                    .map_err(|e| Error::Internal(format!("log entries under tile/{path}: {e}")))?
            }
            Some(_) => {
                let indexes = request.hash_indexes();
                let hashes = self.stored_hashes(&indexes).await?;
                indexes.iter().flat_map(|i| hashes[i].0).collect()
            }
        };
        let bytes = axum::body::Bytes::from(bytes);
        if immutable {
            self.full_tiles
                .insert((request.level, request.index), bytes.clone());
        }
        Ok(TileBody { bytes, immutable })
    }
}

/// Runs the publish stage every `interval`, and at once when a read is waiting for a
/// checkpoint covering a new entry, until `shutdown` fires; then publishes a last checkpoint.
/// The only caller of `publish`: reads never sign. Started by [`crate::Application::start`],
/// which keeps the handle and awaits it on shutdown.
pub fn spawn_publisher(
    transparency: Arc<Transparency>,
    interval: Duration,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let wanted = transparency.wanted.clone();
        // A dropped sender (`Application::into_router`) is no stop signal: keep publishing.
        let mut stoppable = true;
        loop {
            tokio::select! {
                _ = ticker.tick() => {}
                () = wanted.notified() => {}
                changed = shutdown.changed(), if stoppable => match changed {
                    Ok(()) if *shutdown.borrow() => break,
                    Ok(()) => continue,
                    Err(_) => {
                        stoppable = false;
                        continue;
                    }
                },
            }
            if let Err(error) = transparency.publish().await {
                tracing::warn!(%error, "checkpoint publication failed; will retry");
            }
        }
        // One last checkpoint so that every acknowledged write is covered.
        if let Err(error) = transparency.publish().await {
            tracing::warn!(%error, "final checkpoint publication failed");
        }
    })
}

/// Loads the checkpoint signing key from `path`, creating it (mode 0600) on first start.
/// Instances sharing a PostgreSQL database must share this file: one log, one key.
pub fn load_or_create_signer(
    path: &std::path::Path,
    origin: &str,
) -> Result<CheckpointSigner, Error> {
    let failed =
        |e: std::io::Error| Error::Internal(format!("log signing key {}: {e}", path.display()));
    match std::fs::read_to_string(path) {
        Ok(text) => {
            let text = zeroize::Zeroizing::new(text);
            check_owner_only(path)?;
            CheckpointSigner::from_private_key(&text).map_err(|e| Error::Internal(e.to_string()))
        }
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            let (signer, secret) =
                CheckpointSigner::generate(origin).map_err(|e| Error::Internal(e.to_string()))?;
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).map_err(failed)?;
            }
            let mut options = std::fs::OpenOptions::new();
            options.write(true).create_new(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            let mut file = options.open(path).map_err(failed)?;
            std::io::Write::write_all(&mut file, secret.as_bytes())
                .and_then(|()| file.sync_all())
                .map_err(failed)?;
            tracing::info!(key = signer.verifier_key(), "created a new log signing key");
            Ok(signer)
        }
        Err(error) => Err(failed(error)),
    }
}

/// Refuses a key file that others than its owner may read or write (like ssh does): its key
/// may already be copied, or be replaced under us.
fn check_owner_only(path: &std::path::Path) -> Result<(), Error> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(path)
            .map_err(|e| Error::Internal(format!("signing key {}: {e}", path.display())))?
            .permissions()
            .mode();
        if mode & 0o077 != 0 {
            return Err(Error::Internal(format!(
                "signing key {} is accessible to others (mode {:o}); `chmod 600` it, and \
                 replace the key if others may have read it",
                path.display(),
                mode & 0o777
            )));
        }
    }
    Ok(())
}
