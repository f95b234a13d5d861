//! `credence audit`: mirror a registry's log, recompute every hash, check the checkpoint
//! signature and that it extends the last audited one, re-validate every DID's operation chain
//! from the log entries alone, replay every signed entry (schema, accreditation, revocation,
//! status list) against its signer's document as the log defined it then (`replay.rs`), and
//! check that what the registry serves per DID is what the log recorded.
//!
//! IO goes through `RegistryClient` and the state directory; the checks themselves are `log`
//! and `ops` functions. A discrepancy is a finding (the report), not an error: `Err` means the
//! audit could not run at all.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::client::RegistryClient;
use crate::did::Did;
use crate::error::Error;
use crate::log::{self, Entry, MemoryTree, TILE_WIDTH, TileRequest};
use crate::ops::{self, SignedOperation};

/// What to audit and how.
#[derive(Debug, Clone, Default)]
pub struct AuditOptions {
    /// Where to keep the pinned key, the last audited checkpoint and mirrored entry bundles.
    /// Without it, nothing is remembered between runs.
    pub state_dir: Option<PathBuf>,
    /// The log's verifier key, if known out of band. Otherwise the pinned one, or (first run)
    /// the key the registry announces, which is then pinned.
    pub log_key: Option<String>,
    /// Also compare each DID's operations as the registry serves them with the log.
    pub check_served_dids: bool,
    /// Witness verifier keys whose cosignatures count.
    pub witness_keys: Vec<String>,
    /// How many of them must have cosigned the checkpoint.
    pub min_witnesses: usize,
    /// The registry's trust anchors: when given, every accreditation, schema and status list
    /// is also checked for authorization as the log stood when it was logged.
    pub trust_anchors: Option<Vec<Did>>,
}

/// One thing found wrong, with where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Discrepancy {
    pub what: String,
    pub location: String,
}

/// The outcome of an audit.
#[derive(Debug, Clone, Default)]
pub struct AuditReport {
    pub origin: String,
    pub checkpoint_size: u64,
    pub previous_size: Option<u64>,
    pub entries_verified: u64,
    pub entries_mirrored_from_cache: u64,
    pub dids_checked: u64,
    pub schemas_seen: u64,
    pub status_lists_seen: u64,
    /// Accreditations and their revocations.
    pub accreditations_seen: u64,
    /// Signed entries whose signer's document is not in the log (did:web), so their
    /// signatures were not checked.
    pub signed_entries_not_checked: u64,
    pub key_pinned_now: bool,
    pub discrepancies: Vec<Discrepancy>,
}

impl AuditReport {
    pub fn is_clean(&self) -> bool {
        self.discrepancies.is_empty()
    }

    fn found(&mut self, what: impl Into<String>, location: impl Into<String>) {
        self.discrepancies.push(Discrepancy {
            what: what.into(),
            location: location.into(),
        });
    }
}

/// Runs an audit. `progress(done, total)` is called as entries are verified.
pub async fn audit(
    client: &RegistryClient,
    options: &AuditOptions,
    progress: &dyn Fn(u64, u64),
) -> Result<AuditReport, Error> {
    let mut report = AuditReport::default();
    let state = options.state_dir.as_deref();
    if let Some(dir) = state {
        std::fs::create_dir_all(dir.join("entries")).map_err(|e| io_error(dir, e))?;
    }

    // 1. The key: given, pinned, or announced (trust on first use, then pinned).
    let pinned = state.and_then(|dir| std::fs::read_to_string(dir.join("log.key")).ok());
    let key = match (&options.log_key, pinned) {
        (Some(key), _) => key.trim().to_owned(),
        (None, Some(key)) => key.trim().to_owned(),
        (None, None) => {
            report.key_pinned_now = true;
            client.log_key().await?
        }
    };

    // 2. The checkpoint, verified.
    let note = client.checkpoint().await?;
    let checkpoint = match crate::witness::verify_cosigned(
        &note,
        &key,
        &options.witness_keys,
        options.min_witnesses,
    ) {
        Ok(checkpoint) => checkpoint,
        Err(error) => {
            report.found(error.to_string(), "GET /log/checkpoint");
            return Ok(report);
        }
    };
    report.origin = checkpoint.origin.clone();
    report.checkpoint_size = checkpoint.size;

    // 3. The last audited checkpoint must be a prefix of this one.
    let previous = match state.and_then(|dir| std::fs::read_to_string(dir.join("checkpoint")).ok())
    {
        Some(text) => match log::verify_checkpoint(&text, &key) {
            Ok(previous) => Some(previous),
            Err(error) => {
                report.found(
                    format!("saved checkpoint does not verify: {error}"),
                    "state/checkpoint",
                );
                None
            }
        },
        None => None,
    };
    report.previous_size = previous.as_ref().map(|p| p.size);
    if let Some(previous) = &previous {
        if previous.size > checkpoint.size {
            report.found(
                format!("checkpoint size {} is smaller than the last audited size {}: rollback or split view", checkpoint.size, previous.size),
                "GET /log/checkpoint",
            );
            return Ok(report);
        }
    }

    // 4. Mirror every entry, recompute the tree. Bundles are kept in the state directory once
    // verified (a full one never changes; a partial one is the prefix of every later version of
    // its bundle), so a later audit reads them from there and fetches only what is new. A
    // bundle that cannot be fetched (too large, refused, missing) is a finding, never the end
    // of the audit: its leaf hashes come from the level-0 hash tile, so the rest of the log is
    // still verified against the signed root.
    let mut tree = MemoryTree::new();
    let mut chains: crate::replay::Chains = BTreeMap::new();
    // Schemas, accreditations, revocations and status lists, for the timeline replay (step 5).
    let mut signed_entries: Vec<(u64, Entry)> = Vec::new();
    let mut unfetched: Vec<std::ops::Range<u64>> = Vec::new();
    let mut last_partial: Option<(Mirror, Vec<Vec<u8>>)> = None;
    let tiles = checkpoint.size.div_ceil(TILE_WIDTH);
    for n in 0..tiles {
        let width = (checkpoint.size - n * TILE_WIDTH).min(TILE_WIDTH);
        let request = TileRequest {
            level: None,
            index: n,
            partial_width: (width < TILE_WIDTH).then_some(width),
        };
        let mirror = state.map(|dir| Mirror::new(dir, n));
        let mirrored = mirror.as_ref().and_then(Mirror::read).unwrap_or_default();
        let from_mirror = mirrored.len() as u64 == width;
        let entries = if from_mirror {
            mirrored
        } else {
            match fetch_bundle(client, &request, width, &mirrored).await {
                Ok(entries) => entries,
                Err(finding) => {
                    report.found(finding, format!("tile/{}", request.path()));
                    match leaf_hashes(client, n, width).await {
                        Ok(leaves) => {
                            for leaf in leaves {
                                tree.push_leaf_hash(leaf)
                                    .map_err(|e| Error::Internal(e.to_string()))?;
                            }
                            unfetched.push(n * TILE_WIDTH..n * TILE_WIDTH + width);
                            progress(tree.size(), checkpoint.size);
                            continue;
                        }
                        // Without the leaves the tree cannot be rebuilt past this point.
                        Err(error) => {
                            report.found(
                                format!(
                                    "its hash tile could not be fetched either, so nothing after it can be checked: {}",
                                    error.problem().detail
                                ),
                                format!("the hash tile of tile/{}", request.path()),
                            );
                            return Ok(report);
                        }
                    }
                }
            }
        };
        for (offset, entry) in entries.iter().enumerate() {
            let index = n * TILE_WIDTH + offset as u64;
            tree.push(entry)
                .map_err(|e| Error::Internal(e.to_string()))?;
            match Entry::parse(entry) {
                Ok(Entry::DidOperation {
                    did,
                    position,
                    operation,
                }) => {
                    chains
                        .entry(did)
                        .or_default()
                        .push((index, position, operation));
                }
                Ok(signed) => {
                    match signed {
                        Entry::Schema { .. } => report.schemas_seen += 1,
                        Entry::StatusList { .. } => report.status_lists_seen += 1,
                        _ => report.accreditations_seen += 1,
                    }
                    signed_entries.push((index, signed));
                }
                Err(error) => report.found(
                    format!("entry does not decode: {error}"),
                    format!("log index {index}"),
                ),
            }
        }
        if from_mirror {
            report.entries_mirrored_from_cache += width;
        } else if let Some(mirror) = mirror {
            if width == TILE_WIDTH {
                mirror.write(&entries, true)?;
            } else {
                // The last bundle is kept only once the tree is known to match the root.
                last_partial = Some((mirror, entries));
            }
        }
        progress(tree.size(), checkpoint.size);
    }
    report.entries_verified = tree.size() - unfetched.iter().map(|r| r.end - r.start).sum::<u64>();
    let root = tree
        .root_at(checkpoint.size)
        .map_err(|e| Error::Internal(e.to_string()))?;
    if root != checkpoint.root {
        report.found(
            "the entries served do not hash to the checkpoint's root: an entry was altered, removed or reordered",
            format!("tree of size {}", checkpoint.size),
        );
    } else if let Some((mirror, entries)) = last_partial {
        mirror.write(&entries, false)?;
    }
    if let Some(previous) = &previous {
        let earlier = tree
            .root_at(previous.size)
            .map_err(|e| Error::Internal(e.to_string()))?;
        if earlier != previous.root {
            report.found(
                format!("the log's first {} entries no longer hash to the root audited before: history was rewritten", previous.size),
                "state/checkpoint",
            );
        }
        // The registry's own consistency proof must agree too.
        if previous.size > 0 && previous.size < checkpoint.size {
            let proof = client.consistency(previous.size, checkpoint.size).await?;
            let hashes: Result<Vec<_>, _> = proof
                .proof
                .iter()
                .map(|h| log::hash_from_base64(h))
                .collect();
            let verdict = hashes.map_err(|e| e.to_string()).and_then(|hashes| {
                log::check_consistency(
                    &hashes,
                    previous.size,
                    previous.root,
                    checkpoint.size,
                    checkpoint.root,
                )
                .map_err(|e| e.to_string())
            });
            if let Err(error) = verdict {
                report.found(
                    error,
                    format!(
                        "GET /log/proof/consistency?from={}&to={}",
                        previous.size, checkpoint.size
                    ),
                );
            }
        }
    }

    // 5. Every DID's chain re-validates from the log alone: signature checks dominate the
    // audit, so the chains are split over the machine's cores; findings keep DID order.
    // With bundles missing, a chain may have gaps that are ours, not the registry's: only
    // chains that hold every position from 0 are checked (the missing bundle is a finding).
    let whole = |chain: &Vec<(u64, u64, SignedOperation)>| {
        unfetched.is_empty()
            || chain
                .iter()
                .enumerate()
                .all(|(at, (_, position, _))| *position == at as u64)
    };
    let chains_in_order: Vec<_> = chains.iter().filter(|(_, chain)| whole(chain)).collect();
    let threads = std::thread::available_parallelism().map_or(1, usize::from);
    let per_thread = chains_in_order.len().div_ceil(threads).max(1);
    let findings: Vec<Vec<(String, String)>> = std::thread::scope(|scope| {
        let workers: Vec<_> = chains_in_order
            .chunks(per_thread)
            .map(|part| {
                scope.spawn(move || {
                    part.iter()
                        .flat_map(|(did, chain)| check_chain(did, chain))
                        .collect()
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|worker| {
                worker
                    .join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            })
            .collect()
    });
    for (what, location) in findings.into_iter().flatten() {
        report.found(what, location);
    }
    // Every signed entry verifies under its signer's document as the log defined it then, and
    // agrees with itself (content ids, revocations by the accreditor, list keys).
    // With bundles missing, a signer's document (or an entry an entry refers to) may be among
    // them: the signed entries are then counted as not checked rather than misreported.
    if unfetched.is_empty() {
        let replayed =
            crate::replay::replay(&chains, &signed_entries, options.trust_anchors.as_deref());
        report.signed_entries_not_checked = replayed.unchecked;
        for (what, location) in replayed.findings {
            report.found(what, location);
        }
    } else {
        report.signed_entries_not_checked = signed_entries.len() as u64;
    }

    // 6. What the registry serves per DID is what the log recorded.
    if options.check_served_dids {
        for (did, chain) in chains.iter().filter(|(_, chain)| whole(chain)) {
            report.dids_checked += 1;
            let served = match client.operations(did).await {
                Ok(served) => served,
                Err(error) => {
                    report.found(
                        format!(
                            "{did}: operations could not be fetched: {}",
                            error.problem().detail
                        ),
                        format!("GET /dids/{did}/ops"),
                    );
                    continue;
                }
            };
            // Operations logged after the audited checkpoint are not part of this audit.
            let served_ops: Vec<Value> = served["operations"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .filter(|op| {
                    op["logIndex"].as_u64().is_none_or(|index| {
                        index < checkpoint.size && !unfetched.iter().any(|r| r.contains(&index))
                    })
                })
                .collect();
            if served_ops.len() != chain.len() {
                report.found(
                    format!("{did}: registry serves {} operations up to this checkpoint, the log holds {}", served_ops.len(), chain.len()),
                    format!("GET /dids/{did}/ops"),
                );
                continue;
            }
            if let Some(finding) = check_served_document(client, did, chain).await {
                report.found(finding, format!("GET /1.0/identifiers/{did}"));
            }
            for ((index, position, operation), served) in chain.iter().zip(&served_ops) {
                let expected = serde_json::to_value(operation).unwrap_or(Value::Null);
                if served["operation"] != expected || served["logIndex"].as_u64() != Some(*index) {
                    report.found(
                        format!(
                            "{did}: operation {position} as served differs from log entry {index}"
                        ),
                        format!("GET /dids/{did}/ops"),
                    );
                }
            }
        }
    }

    // 7. Remember this checkpoint (only a clean one) and the key.
    if let Some(dir) = state {
        write_state(&dir.join("log.key"), &key)?;
        if report.is_clean() {
            write_state(&dir.join("checkpoint"), &checkpoint.note)?;
        }
    }
    Ok(report)
}

/// Whether the document the registry serves for `did` now is the one its logged `chain`
/// defines. The latest document comes from a state row apart from the operations, so an edited
/// row would otherwise go unseen. Compared only when the served version is the chain's last
/// operation (later operations, logged after the audited checkpoint, change the document).
async fn check_served_document(
    client: &RegistryClient,
    did: &Did,
    chain: &[(u64, u64, SignedOperation)],
) -> Option<String> {
    let resolution = match client
        .resolve(did, &crate::wire::VersionSelector::Latest)
        .await
    {
        Ok(resolution) => resolution,
        Err(error) => {
            return Some(format!(
                "{did}: could not be resolved: {}",
                error.problem().detail
            ));
        }
    };
    let (_, _, last) = chain.last()?;
    if resolution.metadata.version_id.as_deref() != Some(last.hash().as_str()) {
        return None;
    }
    let operations: Vec<SignedOperation> = chain.iter().map(|(_, _, op)| op.clone()).collect();
    let state = ops::fold_trusted(did, &operations)?;
    (ops::document(&state) != resolution.document).then(|| {
        format!("{did}: the registry serves a document its logged operations do not define")
    })
}

/// What is wrong with one DID's chain as the log records it: positions out of log order, an
/// operation that does not apply, a genesis that does not derive the DID. (finding, location)
fn check_chain(did: &Did, chain: &[(u64, u64, SignedOperation)]) -> Vec<(String, String)> {
    let mut findings = Vec::new();
    for (expected, (index, position, _)) in chain.iter().enumerate() {
        if *position != expected as u64 {
            findings.push((
                format!("{did}: entry says position {position}, the log order gives {expected}"),
                format!("log index {index}"),
            ));
        }
    }
    let operations: Vec<SignedOperation> = chain.iter().map(|(_, _, op)| op.clone()).collect();
    match ops::replay(&operations) {
        Ok(states) => {
            if states.first().map(|s| &s.did) != Some(did) {
                findings.push((
                    format!("{did}: genesis does not derive this DID"),
                    format!("log index {}", chain[0].0),
                ));
            }
        }
        Err((at, error)) => findings.push((
            format!("{did}: operation {at} is invalid: {error}"),
            format!("log index {}", chain[at].0),
        )),
    }
    findings
}

/// Fetches entry bundle `request` and decodes it; `mirrored` (a shorter version of it kept
/// before) must be its prefix. `Err` is the finding.
async fn fetch_bundle(
    client: &RegistryClient,
    request: &TileRequest,
    width: u64,
    mirrored: &[Vec<u8>],
) -> Result<Vec<Vec<u8>>, String> {
    let bytes = client.tile(request).await.map_err(|error| {
        format!(
            "entry bundle could not be fetched: {}",
            error.problem().detail
        )
    })?;
    let entries = log::decode_bundle(&bytes).map_err(|error| error.to_string())?;
    if entries.len() as u64 != width {
        return Err(format!(
            "entry bundle holds {} entries, expected {width}",
            entries.len()
        ));
    }
    if !entries.starts_with(mirrored) {
        return Err(
            "entry bundle differs from the entries mirrored at the last audit: history was rewritten"
                .into(),
        );
    }
    Ok(entries)
}

/// The leaf hashes of entry bundle `n` (`width` entries), from its level-0 hash tile.
async fn leaf_hashes(
    client: &RegistryClient,
    n: u64,
    width: u64,
) -> Result<Vec<log::LogHash>, Error> {
    let request = TileRequest {
        level: Some(0),
        index: n,
        partial_width: (width < TILE_WIDTH).then_some(width),
    };
    let bytes = client.tile(&request).await?;
    if bytes.len() as u64 != width * 32 {
        return Err(Error::Upstream(format!(
            "hash tile {} holds {} bytes, expected {}",
            request.path(),
            bytes.len(),
            width * 32
        )));
    }
    Ok(bytes
        .chunks_exact(32)
        .map(|chunk| {
            let mut hash = [0u8; 32];
            hash.copy_from_slice(chunk);
            log::LogHash(hash)
        })
        .collect())
}

/// Entry bundle `n` as kept in the state directory: `entries/<n>` once full, `entries/<n>.partial`
/// while the log's last bundle is still filling.
struct Mirror {
    full: PathBuf,
    partial: PathBuf,
}

impl Mirror {
    fn new(dir: &Path, n: u64) -> Self {
        let full = dir.join("entries").join(n.to_string());
        Self {
            partial: full.with_extension("partial"),
            full,
        }
    }

    /// The mirrored entries of this bundle, if any (an unreadable mirror is refetched).
    fn read(&self) -> Option<Vec<Vec<u8>>> {
        let bytes = std::fs::read(&self.full)
            .or_else(|_| std::fs::read(&self.partial))
            .ok()?;
        log::decode_bundle(&bytes).ok()
    }

    /// Keeps verified entries; a full bundle replaces the partial one.
    fn write(&self, entries: &[Vec<u8>], full: bool) -> Result<(), Error> {
        // Entries that decoded from a bundle always encode again.
        let bytes = log::encode_bundle(entries).map_err(|e| Error::Internal(e.to_string()))?;
        if full {
            write_bytes(&self.full, &bytes)?;
            match std::fs::remove_file(&self.partial) {
                Err(error) if error.kind() != std::io::ErrorKind::NotFound => {
                    Err(io_error(&self.partial, error))
                }
                _ => Ok(()),
            }
        } else {
            write_bytes(&self.partial, &bytes)
        }
    }
}

fn write_bytes(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    let temporary = path.with_extension("tmp");
    std::fs::write(&temporary, bytes).map_err(|e| io_error(path, e))?;
    std::fs::rename(&temporary, path).map_err(|e| io_error(path, e))
}

fn write_state(path: &Path, text: &str) -> Result<(), Error> {
    let temporary = path.with_extension("tmp");
    std::fs::write(&temporary, text).map_err(|e| io_error(path, e))?;
    std::fs::rename(&temporary, path).map_err(|e| io_error(path, e))
}

fn io_error(path: &Path, error: std::io::Error) -> Error {
    Error::Internal(format!("audit state {}: {error}", path.display()))
}
