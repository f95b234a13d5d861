//! The tamper-evident log's pure side: entry encoding, the Merkle math (delegated to
//! `tlog_tiles`, RFC 6962 hashing), C2SP signed-note checkpoints (`signed_note`), C2SP
//! tlog-tiles paths and entry bundles, and client-side checks of checkpoints and proofs.
//!
//! No IO here. The store calls [`stored_hashes_for`] inside the write transaction (sequence and
//! integrate in one step); the publisher calls [`CheckpointSigner::sign`]; auditors and
//! resolvers call the `verify_*`/`check_*` functions.
//!
//! `tlog_tiles` reads hashes through a synchronous `HashReader`, while our hashes live behind
//! an async database. The indexes a computation reads depend only on the tree sizes involved,
//! never on hash values, so every computation runs twice: once with [`Recorder`] to learn which
//! indexes it needs, then, after the caller fetched them, with a map-backed reader.

use std::cell::RefCell;
use std::collections::HashMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};
use signed_note::{Note, StandardSigner, StandardVerifier, VerifierList};
use tlog_tiles::checkpoint::Checkpoint;
use tlog_tiles::tlog::{self, Hash, HashReader};

use crate::did::Did;
use crate::ops::SignedOperation;

pub use tlog_tiles::tlog::Hash as LogHash;

/// Tile height (C2SP tlog-tiles): tiles are 2^8 = 256 hashes wide.
pub const TILE_HEIGHT: u8 = 8;
pub const TILE_WIDTH: u64 = 256;
/// Largest entry the log accepts: what an entry bundle's uint16 length prefix can describe
/// (C2SP tlog-tiles). Every write path builds its entry with [`Entry::to_log_bytes`], which
/// refuses anything longer before it is appended; entries are immutable, so one that did not
/// fit would break the log's bundles for ever.
pub const MAX_ENTRY_BYTES: usize = u16::MAX as usize;
/// Largest full entry bundle: 256 entries at [`MAX_ENTRY_BYTES`], each with its 2-byte prefix
/// (16,777,472 bytes). A client that mirrors the log (the audit) must accept bundles this big.
pub const MAX_BUNDLE_BYTES: usize = TILE_WIDTH as usize * (2 + MAX_ENTRY_BYTES);

/// Why a log computation or check failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LogError {
    #[error("checkpoint is malformed: {0}")]
    MalformedCheckpoint(String),
    #[error("checkpoint signature does not verify with the pinned key: {0}")]
    BadCheckpointSignature(String),
    #[error("checkpoint is for log {found:?}, expected {expected:?}")]
    WrongOrigin { expected: String, found: String },
    #[error("inclusion proof does not verify: {0}")]
    BadInclusionProof(String),
    /// A DID's operation chain, as served, does not re-validate (a forged or foreign
    /// operation, a broken `prev` link, a DID not derived from its genesis).
    #[error("the DID's operation chain does not verify: {0}")]
    InvalidChain(String),
    #[error("consistency proof does not verify: {0}")]
    BadConsistencyProof(String),
    #[error(
        "checkpoint of size {new} does not extend the last one seen (size {old}): rollback or split view"
    )]
    NotAnExtension { old: u64, new: u64 },
    #[error("{0}")]
    InvalidRequest(String),
    #[error("stored hashes are inconsistent: {0}")]
    Corrupt(String),
    /// A logged entry that is not one of the kinds `Entry` defines, or not strict JSON.
    #[error("log entry is malformed: {0}")]
    MalformedEntry(String),
    /// An entry longer than [`MAX_ENTRY_BYTES`]: it cannot be logged (or bundled).
    #[error(
        "the log entry would be {size} bytes; the log holds entries of at most {MAX_ENTRY_BYTES}"
    )]
    EntryTooLarge { size: usize },
}

/// The canonical bytes of the log entry for a DID operation: enough to re-validate the DID's
/// whole chain from the log alone.
pub fn did_operation_entry(did: &Did, position: u64, operation: &SignedOperation) -> Vec<u8> {
    Entry::DidOperation {
        did: did.clone(),
        position,
        operation: operation.clone(),
    }
    .to_bytes()
}

/// A decoded log entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase", deny_unknown_fields)]
pub enum Entry {
    DidOperation {
        did: Did,
        position: u64,
        operation: SignedOperation,
    },
    /// A published credential schema (`schemas.rs`); `jws` is the publisher's signed
    /// submission, from which the id can be recomputed.
    Schema {
        id: String,
        vct: String,
        publisher: Did,
        jws: String,
    },
    /// An accreditation (`trust.rs`): the accreditor's signed JWS; id = hash of the JWS.
    Accreditation { id: String, jws: String },
    /// The revocation of an accreditation, signed by its accreditor.
    AccreditationRevocation { id: String, jws: String },
    /// A status list version (`status.rs`), as the issuer signed it.
    StatusList {
        key: String,
        uri: String,
        issuer: Did,
        jws: String,
    },
}

impl Entry {
    /// The canonical bytes of the entry (JCS), as appended to the log. Anyone holding what an
    /// entry records (e.g. an accreditation's id and JWS, as served) can rebuild them and check
    /// an inclusion proof.
    pub fn to_bytes(&self) -> Vec<u8> {
        serde_jcs::to_vec(self).unwrap_or_else(|e| unreachable!("JCS of a log entry failed: {e}"))
    }

    /// The bytes to append, refused if they would not fit an entry bundle. Every write path
    /// calls this before its store transaction, so an oversized write leaves no trace.
    pub fn to_log_bytes(&self) -> Result<Vec<u8>, LogError> {
        let bytes = self.to_bytes();
        if bytes.len() > MAX_ENTRY_BYTES {
            return Err(LogError::EntryTooLarge { size: bytes.len() });
        }
        Ok(bytes)
    }

    /// Reads a logged entry back (strict JSON: no duplicate members, bounded nesting).
    pub fn parse(bytes: &[u8]) -> Result<Self, LogError> {
        let value = crate::json::parse_strict(bytes)
            .map_err(|e| LogError::MalformedEntry(e.to_string()))?;
        serde_json::from_value(value).map_err(|e| LogError::MalformedEntry(e.to_string()))
    }
}

/// RFC 6962 leaf hash: SHA-256(0x00 || entry).
pub fn leaf_hash(entry: &[u8]) -> Hash {
    tlog::record_hash(entry)
}

/// Records the indexes a computation reads, answering with placeholder hashes.
#[derive(Default)]
pub struct Recorder(RefCell<Vec<u64>>);

impl HashReader for Recorder {
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, tlog::Error> {
        self.0.borrow_mut().extend_from_slice(indexes);
        Ok(vec![Hash([0; 32]); indexes.len()])
    }
}

impl Recorder {
    fn into_indexes(self) -> Vec<u64> {
        let mut indexes = self.0.into_inner();
        indexes.sort_unstable();
        indexes.dedup();
        indexes
    }
}

/// Hashes fetched by the caller, keyed by stored-hash index.
pub struct MapReader<'a>(pub &'a HashMap<u64, Hash>);

impl HashReader for MapReader<'_> {
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, tlog::Error> {
        indexes
            .iter()
            .map(|i| self.0.get(i).copied().ok_or(tlog::Error::IndexesNotInTree))
            .collect()
    }
}

/// What a computation over a tree needs, then the computation itself.
pub trait TwoPass {
    type Output;
    fn run<R: HashReader>(&self, reader: &R) -> Result<Self::Output, tlog::Error>;
    /// The stored-hash indexes `run` will read.
    fn needs(&self) -> Vec<u64> {
        let recorder = Recorder::default();
        // With placeholder hashes a computation can only fail on bad input, which `run` will
        // report again with real hashes.
        let _ = self.run(&recorder);
        recorder.into_indexes()
    }
    fn compute(&self, hashes: &HashMap<u64, Hash>) -> Result<Self::Output, LogError> {
        self.run(&MapReader(hashes))
            .map_err(|e| LogError::Corrupt(e.to_string()))
    }
}

/// The hashes to store when appending entry number `index`: its leaf hash and every subtree
/// it completes, at consecutive indexes from `tlog::stored_hash_index(0, index)`.
pub struct AppendHashes<'a> {
    pub index: u64,
    pub entry: &'a [u8],
}

impl TwoPass for AppendHashes<'_> {
    type Output = Vec<Hash>;
    fn run<R: HashReader>(&self, reader: &R) -> Result<Vec<Hash>, tlog::Error> {
        tlog::stored_hashes(self.index, self.entry, reader)
    }
}

/// The first stored-hash index written for entry `index`.
pub fn first_stored_index(index: u64) -> u64 {
    tlog::stored_hash_index(0, index)
}

/// Root hash of the tree of `size` entries.
pub struct TreeHash(pub u64);

impl TwoPass for TreeHash {
    type Output = Hash;
    fn run<R: HashReader>(&self, reader: &R) -> Result<Hash, tlog::Error> {
        tlog::tree_hash(self.0, reader)
    }
}

/// Inclusion proof of entry `index` in the tree of `size` entries (RFC 6962 §2.1.1).
pub struct InclusionProof {
    pub index: u64,
    pub size: u64,
}

impl TwoPass for InclusionProof {
    type Output = Vec<Hash>;
    fn run<R: HashReader>(&self, reader: &R) -> Result<Vec<Hash>, tlog::Error> {
        tlog::prove_record(self.size, self.index, reader)
    }
}

/// Consistency proof from `from` entries to `to` entries (RFC 6962 §2.1.2).
pub struct ConsistencyProof {
    pub from: u64,
    pub to: u64,
}

impl TwoPass for ConsistencyProof {
    type Output = Vec<Hash>;
    fn run<R: HashReader>(&self, reader: &R) -> Result<Vec<Hash>, tlog::Error> {
        tlog::prove_tree(self.to, self.from, reader)
    }
}

/// Checks an inclusion proof of the entry with leaf hash `leaf` at `index` in a tree of `size`
/// entries whose root is `root`.
pub fn check_inclusion(
    proof: &[Hash],
    size: u64,
    root: Hash,
    index: u64,
    leaf: Hash,
) -> Result<(), LogError> {
    tlog::check_record(&proof.to_vec(), size, root, index, leaf)
        .map_err(|e| LogError::BadInclusionProof(e.to_string()))
}

/// Checks that the tree (`to`, `to_root`) extends the tree (`from`, `from_root`).
pub fn check_consistency(
    proof: &[Hash],
    from: u64,
    from_root: Hash,
    to: u64,
    to_root: Hash,
) -> Result<(), LogError> {
    if from == to {
        return if from_root == to_root {
            Ok(())
        } else {
            Err(LogError::BadConsistencyProof(
                "same size, different roots".into(),
            ))
        };
    }
    tlog::check_tree(&proof.to_vec(), to, to_root, from, from_root)
        .map_err(|e| LogError::BadConsistencyProof(e.to_string()))
}

/// Base64 (standard, as checkpoints and tlog-tiles use) of a hash.
pub fn hash_to_base64(hash: &Hash) -> String {
    STANDARD.encode(hash.0)
}

pub fn hash_from_base64(text: &str) -> Result<Hash, LogError> {
    let bytes = STANDARD
        .decode(text)
        .map_err(|e| LogError::InvalidRequest(format!("hash {text:?}: {e}")))?;
    let array: [u8; 32] = bytes
        .try_into()
        .map_err(|_| LogError::InvalidRequest("a hash is 32 bytes".into()))?;
    Ok(Hash(array))
}

/// The registry's checkpoint signing key (C2SP signed-note Ed25519). Secret: `Debug` redacts.
pub struct CheckpointSigner {
    signer: StandardSigner,
    origin: String,
    verifier_key: String,
}

impl std::fmt::Debug for CheckpointSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "CheckpointSigner({}, secret redacted)",
            self.verifier_key
        )
    }
}

impl CheckpointSigner {
    /// A new key for the log named `origin` (e.g. `registry.city.example/log`). Returns the
    /// signer and its encoded private key (`PRIVATE+KEY+...`) to store.
    pub fn generate(origin: &str) -> Result<(Self, zeroize::Zeroizing<String>), LogError> {
        let (skey, _) = signed_note::generate_key(&mut rand_core::OsRng, origin);
        let skey = zeroize::Zeroizing::new(skey);
        Ok((Self::from_private_key(&skey)?, skey))
    }

    /// Loads an encoded private key (`PRIVATE+KEY+<origin>+<id>+<base64>`).
    pub fn from_private_key(skey: &str) -> Result<Self, LogError> {
        let signer = StandardSigner::new(skey.trim())
            .map_err(|e| LogError::InvalidRequest(format!("log signing key: {e}")))?;
        let origin = signed_note::Signer::name(&signer).to_owned();
        // The verifier key is derived from the private key's seed.
        // PRIVATE+KEY+<name>+<id>+<base64>: names and ids hold no '+', base64 may.
        let seed = skey.trim().splitn(5, '+').nth(4).unwrap_or_default();
        let bytes = zeroize::Zeroizing::new(
            STANDARD
                .decode(seed)
                .map_err(|e| LogError::InvalidRequest(format!("log signing key: {e}")))?,
        );
        let secret: zeroize::Zeroizing<[u8; 32]> = bytes
            .get(1..33)
            .and_then(|s| s.try_into().ok())
            .map(zeroize::Zeroizing::new)
            .ok_or_else(|| {
                LogError::InvalidRequest("log signing key has the wrong length".into())
            })?;
        let public = ed25519_dalek::SigningKey::from_bytes(&secret).verifying_key();
        let verifier_key = signed_note::new_ed25519_verifier_key(&origin, &public);
        Ok(Self {
            signer,
            origin,
            verifier_key,
        })
    }

    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// The public verifier key (`<origin>+<id>+<base64>`) clients pin.
    pub fn verifier_key(&self) -> &str {
        &self.verifier_key
    }

    /// A signed checkpoint note (C2SP tlog-checkpoint) for a tree of `size` with `root`.
    pub fn sign(&self, size: u64, root: Hash) -> Result<String, LogError> {
        let checkpoint = Checkpoint::new(&self.origin, size, root, "")
            .map_err(|e| LogError::MalformedCheckpoint(e.to_string()))?;
        let mut note = Note::new(&checkpoint.to_bytes(), &[])
            .map_err(|e| LogError::MalformedCheckpoint(e.to_string()))?;
        note.add_sigs(&[&self.signer])
            .map_err(|e| LogError::MalformedCheckpoint(e.to_string()))?;
        String::from_utf8(note.to_bytes()).map_err(|e| LogError::MalformedCheckpoint(e.to_string()))
    }
}

/// A checkpoint whose signature has been verified.
#[derive(Debug, Clone, PartialEq)]
pub struct VerifiedCheckpoint {
    pub origin: String,
    pub size: u64,
    pub root: Hash,
    /// The whole signed note, for passing on (witnesses add their cosignatures to it).
    pub note: String,
}

/// Verifies a signed checkpoint note against the pinned verifier key `vkey`.
pub fn verify_checkpoint(note: &str, vkey: &str) -> Result<VerifiedCheckpoint, LogError> {
    let verifier = StandardVerifier::new(vkey)
        .map_err(|e| LogError::BadCheckpointSignature(format!("verifier key: {e}")))?;
    let expected_origin = signed_note::Verifier::name(&verifier).to_owned();
    let parsed = Note::from_bytes(note.as_bytes())
        .map_err(|e| LogError::MalformedCheckpoint(e.to_string()))?;
    parsed
        .verify(&VerifierList::new(vec![Box::new(verifier)]))
        .map_err(|e| LogError::BadCheckpointSignature(e.to_string()))?;
    let checkpoint = Checkpoint::from_bytes(parsed.text())
        .map_err(|e| LogError::MalformedCheckpoint(e.to_string()))?;
    if checkpoint.origin() != expected_origin {
        return Err(LogError::WrongOrigin {
            expected: expected_origin,
            found: checkpoint.origin().to_owned(),
        });
    }
    Ok(VerifiedCheckpoint {
        origin: checkpoint.origin().to_owned(),
        size: checkpoint.size(),
        root: *checkpoint.hash(),
        note: note.to_owned(),
    })
}

/// A request for a tile or an entry bundle, parsed from a C2SP tlog-tiles path (the part after
/// `tile/`): `<L>/<N>[.p/<W>]` or `entries/<N>[.p/<W>]`, where N is written in 3-digit groups,
/// all but the last prefixed with `x` (e.g. `x001/x234/067`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TileRequest {
    /// `None` for an entry bundle.
    pub level: Option<u8>,
    pub index: u64,
    /// `Some(w)` for a partial tile of width w (1..=255).
    pub partial_width: Option<u64>,
}

impl TileRequest {
    pub fn parse(path: &str) -> Result<Self, LogError> {
        let bad = || LogError::InvalidRequest(format!("not a tlog-tiles path: tile/{path}"));
        let (head, rest) = path.split_once('/').ok_or_else(bad)?;
        let level = match head {
            "entries" => None,
            digits => Some(
                digits
                    .parse::<u8>()
                    .ok()
                    .filter(|l| *l <= 63 && digits.len() <= 2)
                    .ok_or_else(bad)?,
            ),
        };
        let (index_path, partial_width) = match rest.split_once(".p/") {
            Some((index_path, width)) => {
                let width: u64 = width
                    .parse()
                    .ok()
                    .filter(|w| (1..TILE_WIDTH).contains(w) && !width.starts_with('0'))
                    .ok_or_else(bad)?;
                (index_path, Some(width))
            }
            None => (rest, None),
        };
        let groups: Vec<&str> = index_path.split('/').collect();
        let mut index: u64 = 0;
        for (position, group) in groups.iter().enumerate() {
            let last = position + 1 == groups.len();
            let digits = if last {
                *group
            } else {
                group.strip_prefix('x').ok_or_else(bad)?
            };
            if digits.len() != 3 || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad());
            }
            index = index
                .checked_mul(1000)
                .and_then(|i| i.checked_add(digits.parse::<u64>().unwrap_or(0)))
                .ok_or_else(bad)?;
        }
        let request = Self {
            level,
            index,
            partial_width,
        };
        // Only the canonical spelling is accepted, so each tile has exactly one URL.
        if request.path() != path {
            return Err(bad());
        }
        Ok(request)
    }

    /// The C2SP path after `tile/`.
    pub fn path(&self) -> String {
        let mut groups = Vec::new();
        let mut n = self.index;
        loop {
            groups.push(n % 1000);
            n /= 1000;
            if n == 0 {
                break;
            }
        }
        let index_path: Vec<String> = groups
            .iter()
            .rev()
            .enumerate()
            .map(|(i, g)| {
                if i + 1 == groups.len() {
                    format!("{g:03}")
                } else {
                    format!("x{g:03}")
                }
            })
            .collect();
        let head = self
            .level
            .map_or_else(|| "entries".to_owned(), |l| l.to_string());
        let mut path = format!("{head}/{}", index_path.join("/"));
        if let Some(width) = self.partial_width {
            path.push_str(&format!(".p/{width}"));
        }
        path
    }

    /// Number of items (hashes or entries) in the tile.
    pub fn width(&self) -> u64 {
        self.partial_width.unwrap_or(TILE_WIDTH)
    }

    /// Whether a tree of `size` entries holds this tile: a full tile once complete; a partial
    /// tile of width w once w items exist there (C2SP lets partial tiles outlive completion).
    pub fn exists_in(&self, size: u64) -> bool {
        let level = u32::from(self.level.unwrap_or(0)) * u32::from(TILE_HEIGHT);
        let available = if level >= 64 { 0 } else { size >> level };
        let start = self.index.saturating_mul(TILE_WIDTH);
        match self.partial_width {
            None => start.saturating_add(TILE_WIDTH) <= available,
            Some(width) => start.saturating_add(width) <= available,
        }
    }

    /// Stored-hash indexes of the hashes in a hash tile (level L tile holds the tree's nodes at
    /// height 8L).
    pub fn hash_indexes(&self) -> Vec<u64> {
        let level = self.level.unwrap_or(0) * TILE_HEIGHT;
        let start = self.index * TILE_WIDTH;
        (start..start + self.width())
            .map(|n| tlog::stored_hash_index(level, n))
            .collect()
    }
}

/// An entry bundle: each entry as a big-endian uint16 length then its bytes (C2SP tlog-tiles).
/// An entry too long for its prefix is an error, never truncated: a truncated entry would no
/// longer hash to the signed tree.
pub fn encode_bundle(entries: &[Vec<u8>]) -> Result<Vec<u8>, LogError> {
    let mut out = Vec::with_capacity(entries.iter().map(|e| e.len() + 2).sum());
    for entry in entries {
        let length = u16::try_from(entry.len())
            .map_err(|_| LogError::EntryTooLarge { size: entry.len() })?;
        out.extend_from_slice(&length.to_be_bytes());
        out.extend_from_slice(entry);
    }
    Ok(out)
}

/// Splits an entry bundle; refuses truncated bundles.
pub fn decode_bundle(mut bytes: &[u8]) -> Result<Vec<Vec<u8>>, LogError> {
    let mut entries = Vec::new();
    while !bytes.is_empty() {
        if bytes.len() < 2 {
            return Err(LogError::InvalidRequest(
                "entry bundle ends inside a length prefix".into(),
            ));
        }
        let length = usize::from(u16::from_be_bytes([bytes[0], bytes[1]]));
        let rest = &bytes[2..];
        if rest.len() < length {
            return Err(LogError::InvalidRequest(
                "entry bundle ends inside an entry".into(),
            ));
        }
        entries.push(rest[..length].to_vec());
        bytes = &rest[length..];
    }
    Ok(entries)
}

/// A whole tree in memory, built from its entries (what an auditor does). Stored hashes are
/// dense from index 0, so a `Vec` holds them: 1,000,000 entries take about 64 MB.
#[derive(Debug, Default, Clone)]
pub struct MemoryTree {
    hashes: Vec<Hash>,
    size: u64,
}

struct VecReader<'a>(&'a [Hash]);

impl HashReader for VecReader<'_> {
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, tlog::Error> {
        indexes
            .iter()
            .map(|i| {
                usize::try_from(*i)
                    .ok()
                    .and_then(|i| self.0.get(i))
                    .copied()
                    .ok_or(tlog::Error::IndexesNotInTree)
            })
            .collect()
    }
}

impl MemoryTree {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    /// Appends one entry.
    pub fn push(&mut self, entry: &[u8]) -> Result<(), LogError> {
        let hashes = AppendHashes {
            index: self.size,
            entry,
        }
        .run(&VecReader(&self.hashes))
        .map_err(|e| LogError::Corrupt(e.to_string()))?;
        self.hashes.extend(hashes);
        self.size += 1;
        Ok(())
    }

    /// Appends one entry known only by its leaf hash: an auditor that could not fetch an entry
    /// bundle takes the leaves from the level-0 hash tile, so the rest of the tree still checks
    /// against the signed root.
    pub fn push_leaf_hash(&mut self, leaf: Hash) -> Result<(), LogError> {
        let hashes = tlog::stored_hashes_for_record_hash(self.size, leaf, &VecReader(&self.hashes))
            .map_err(|e| LogError::Corrupt(e.to_string()))?;
        self.hashes.extend(hashes);
        self.size += 1;
        Ok(())
    }

    /// Root of the first `size` entries (any size up to the current one).
    pub fn root_at(&self, size: u64) -> Result<Hash, LogError> {
        if size > self.size {
            return Err(LogError::InvalidRequest(format!(
                "tree has {} entries, not {size}",
                self.size
            )));
        }
        TreeHash(size)
            .run(&VecReader(&self.hashes))
            .map_err(|e| LogError::Corrupt(e.to_string()))
    }
}

/// Computes the root of a tree from all its entries in memory.
pub fn root_from_entries<'a>(
    entries: impl IntoIterator<Item = &'a [u8]>,
) -> Result<(u64, Hash), LogError> {
    let mut tree = MemoryTree::new();
    for entry in entries {
        tree.push(entry)?;
    }
    Ok((tree.size(), tree.root_at(tree.size())?))
}

/// Checks a log proof for `did`'s resolved `document` against a checkpoint the caller already
/// verified (signature, witnesses, consistency with what it saw before): the operation is the
/// log's entry at the proven index, the chain from the genesis to it re-validates exactly as the
/// registry validates on intake (`ops::replay`: each signature by the then-current rotation
/// keys, each `prev` link, the DID derived from the genesis), and the document is the one that
/// chain defines. A registry that logs an operation it forged (or serves a chain that is not
/// the DID's) is caught here, not trusted.
pub fn verify_log_proof(
    did: &crate::did::Did,
    document: &serde_json::Value,
    proof: &crate::wire::LogProof,
    checkpoint: &crate::log::VerifiedCheckpoint,
) -> Result<(), crate::log::LogError> {
    let inclusion = &proof.inclusion;
    if inclusion.size != checkpoint.size {
        return Err(crate::log::LogError::BadInclusionProof(format!(
            "proof is for size {}, checkpoint has {}",
            inclusion.size, checkpoint.size
        )));
    }
    if proof.history.len() as u64 != proof.position {
        return Err(crate::log::LogError::InvalidChain(format!(
            "the proof is for the operation at position {} but carries {} operations before it",
            proof.position,
            proof.history.len()
        )));
    }
    let entry = crate::log::did_operation_entry(did, proof.position, &proof.operation);
    let leaf = crate::log::leaf_hash(&entry);
    let path = inclusion
        .proof
        .iter()
        .map(|h| crate::log::hash_from_base64(h))
        .collect::<Result<Vec<_>, _>>()?;
    crate::log::check_inclusion(
        &path,
        checkpoint.size,
        checkpoint.root,
        inclusion.index,
        leaf,
    )?;
    let chain: Vec<crate::ops::SignedOperation> = proof
        .history
        .iter()
        .chain(std::iter::once(&proof.operation))
        .cloned()
        .collect();
    let state = crate::ops::replay_as(did, &chain).map_err(|e| {
        crate::log::LogError::InvalidChain(format!(
            "the history the registry served for {did}: {e}"
        ))
    })?;
    if crate::ops::document(&state) != *document {
        return Err(crate::log::LogError::InvalidChain(
            "the served document is not the one the logged operations define".into(),
        ));
    }
    Ok(())
}
