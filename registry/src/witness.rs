//! A checkpoint witness (the nearest faithful subset of C2SP tlog-witness): it remembers, per
//! log, the last size and root it cosigned, and cosigns a new checkpoint only if it verifies
//! under the log's key and a consistency proof shows it extends what was cosigned before. So a
//! registry operator cannot show two histories to two audiences while both carry this
//! witness's cosignature.
//!
//! Differences from C2SP tlog-witness, deliberately kept small: the cosignature is a plain
//! Ed25519 signed-note signature (algorithm 0x01) by the witness's key over the checkpoint
//! text, not a `cosignature/v1` timestamped signature, because `signed_note` 0.2 implements
//! only the former. The request body and status codes follow the spec.
//!
//! No HTTP here (`http/witness.rs` serves it); state is one JSON file, replaced atomically.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use signed_note::{Note, StandardSigner, StandardVerifier, VerifierList};
use tokio::sync::Mutex;

use crate::log::{self, LogHash};

/// What went wrong with an add-checkpoint request; each maps to the spec's status code.
#[derive(Debug, thiserror::Error)]
pub enum WitnessError {
    /// Malformed request body (400).
    #[error("malformed add-checkpoint request: {0}")]
    Malformed(String),
    /// The checkpoint's log is not one this witness follows (404).
    #[error("unknown log {0:?}")]
    UnknownLog(String),
    /// The checkpoint is not signed by the log's key (403).
    #[error("checkpoint signature does not verify: {0}")]
    BadSignature(String),
    /// `old` is not the size this witness last cosigned (409); carries that size.
    #[error("the witness's latest cosigned size for this log is {0}")]
    SizeMismatch(u64),
    /// The consistency proof does not show the new checkpoint extends the old one (422).
    #[error("{0}")]
    Inconsistent(String),
    /// State could not be saved (500).
    #[error("witness state: {0}")]
    State(String),
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct State {
    logs: BTreeMap<String, Cosigned>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Cosigned {
    size: u64,
    root: String,
}

/// A witness: its signing key, the logs it follows, its state file.
pub struct Witness {
    signer: StandardSigner,
    verifier_key: String,
    logs: BTreeMap<String, String>,
    state_file: PathBuf,
    state: Mutex<State>,
}

impl std::fmt::Debug for Witness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Witness")
            .field("key", &self.verifier_key)
            .field("logs", &self.logs)
            .finish_non_exhaustive()
    }
}

impl Witness {
    /// `signer_key` is the witness's own note key (`PRIVATE+KEY+...`); `logs` are the verifier
    /// keys of the logs it follows (`<origin>+<id>+<key>`); `state_file` keeps what it cosigned.
    pub fn open(
        signer_key: &str,
        logs: &[String],
        state_file: PathBuf,
    ) -> Result<Self, WitnessError> {
        let note_signer = StandardSigner::new(signer_key.trim())
            .map_err(|e| WitnessError::State(format!("witness key: {e}")))?;
        let signer = log::CheckpointSigner::from_private_key(signer_key)
            .map_err(|e| WitnessError::State(e.to_string()))?;
        let mut followed = BTreeMap::new();
        for vkey in logs {
            let verifier = StandardVerifier::new(vkey.trim())
                .map_err(|e| WitnessError::State(format!("log key {vkey:?}: {e}")))?;
            followed.insert(
                signed_note::Verifier::name(&verifier).to_owned(),
                vkey.trim().to_owned(),
            );
        }
        let state = match std::fs::read(&state_file) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map_err(|e| WitnessError::State(format!("{}: {e}", state_file.display())))?,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => State::default(),
            Err(error) => {
                return Err(WitnessError::State(format!(
                    "{}: {error}",
                    state_file.display()
                )));
            }
        };
        Ok(Self {
            signer: note_signer,
            verifier_key: signer.verifier_key().to_owned(),
            logs: followed,
            state_file,
            state: Mutex::new(state),
        })
    }

    /// The witness's public key, for clients that require its cosignature.
    pub fn verifier_key(&self) -> &str {
        &self.verifier_key
    }

    /// The size this witness last cosigned for `origin` (0 if never).
    pub async fn latest_size(&self, origin: &str) -> u64 {
        self.state
            .lock()
            .await
            .logs
            .get(origin)
            .map_or(0, |c| c.size)
    }

    /// Handles an add-checkpoint request body (C2SP tlog-witness §add-checkpoint):
    /// `old <size>\n` + consistency proof lines (base64) + `\n` + the signed checkpoint note.
    /// Returns the cosignature line(s) to append to the note.
    pub async fn add_checkpoint(&self, body: &str) -> Result<String, WitnessError> {
        let (head, note) = body.split_once("\n\n").ok_or_else(|| {
            WitnessError::Malformed("missing the blank line before the checkpoint".into())
        })?;
        let mut lines = head.lines();
        let old: u64 = lines
            .next()
            .and_then(|line| line.strip_prefix("old "))
            .and_then(|n| n.parse().ok())
            .ok_or_else(|| WitnessError::Malformed("first line must be `old <size>`".into()))?;
        let proof: Vec<LogHash> = lines
            .map(|line| {
                log::hash_from_base64(line).map_err(|e| WitnessError::Malformed(e.to_string()))
            })
            .collect::<Result<_, _>>()?;
        let origin = note.lines().next().unwrap_or_default().to_owned();
        let vkey = self
            .logs
            .get(&origin)
            .ok_or_else(|| WitnessError::UnknownLog(origin.clone()))?;
        let checkpoint = log::verify_checkpoint(note, vkey)
            .map_err(|e| WitnessError::BadSignature(e.to_string()))?;

        // Holding the lock across the check and the save makes concurrent requests serialize.
        let mut state = self.state.lock().await;
        let (latest_size, latest_root) = match state.logs.get(&origin) {
            Some(cosigned) => (
                cosigned.size,
                Some(
                    log::hash_from_base64(&cosigned.root)
                        .map_err(|e| WitnessError::State(e.to_string()))?,
                ),
            ),
            None => (0, None),
        };
        if old != latest_size {
            return Err(WitnessError::SizeMismatch(latest_size));
        }
        if checkpoint.size < latest_size {
            return Err(WitnessError::Inconsistent(format!(
                "checkpoint size {} is below the cosigned size {latest_size}",
                checkpoint.size
            )));
        }
        if let Some(root) = latest_root {
            if latest_size > 0 {
                log::check_consistency(&proof, latest_size, root, checkpoint.size, checkpoint.root)
                    .map_err(|e| WitnessError::Inconsistent(e.to_string()))?;
            }
        }
        state.logs.insert(
            origin,
            Cosigned {
                size: checkpoint.size,
                root: log::hash_to_base64(&checkpoint.root),
            },
        );
        self.save(&state)?;
        drop(state);

        let text = Note::from_bytes(note.as_bytes())
            .map_err(|e| WitnessError::Malformed(e.to_string()))?;
        let mut cosigned =
            Note::new(text.text(), &[]).map_err(|e| WitnessError::Malformed(e.to_string()))?;
        cosigned
            .add_sigs(&[&self.signer])
            .map_err(|e| WitnessError::State(e.to_string()))?;
        let bytes = cosigned.to_bytes();
        let rendered = String::from_utf8_lossy(&bytes);
        // The note is `text \n signature-lines`; return just the signature lines.
        let signatures = rendered
            .strip_prefix(&*String::from_utf8_lossy(text.text()))
            .unwrap_or_default();
        Ok(signatures.trim_start_matches('\n').to_owned())
    }

    fn save(&self, state: &State) -> Result<(), WitnessError> {
        let failed =
            |e: std::io::Error| WitnessError::State(format!("{}: {e}", self.state_file.display()));
        let temporary = self.state_file.with_extension("tmp");
        let bytes =
            serde_json::to_vec_pretty(state).map_err(|e| WitnessError::State(e.to_string()))?;
        let mut file = std::fs::File::create(&temporary).map_err(failed)?;
        std::io::Write::write_all(&mut file, &bytes)
            .and_then(|()| file.sync_all())
            .map_err(failed)?;
        std::fs::rename(&temporary, &self.state_file).map_err(failed)
    }
}

/// Whether `line` is a valid signature of checkpoint `note`'s text under `witness_key`, judged
/// on its own (the note's other signature lines play no part, so a line under an unknown name
/// cannot ride on a genuine cosignature already present).
pub fn is_cosignature(note: &str, line: &str, witness_key: &str) -> bool {
    let Some(end) = note.find("\n\n") else {
        return false;
    };
    let candidate = format!("{}{line}\n", &note[..end + 2]);
    let Ok(verifier) = StandardVerifier::new(witness_key.trim()) else {
        return false;
    };
    Note::from_bytes(candidate.as_bytes()).is_ok_and(|parsed| {
        parsed
            .verify(&VerifierList::new(vec![Box::new(verifier)]))
            .is_ok()
    })
}

/// The key part of a verifier key (`<name>+<key hash>+<base64 of algorithm and key>`; names and
/// hashes hold no '+', base64 may): what identifies a witness whatever name it is listed under.
fn key_material(verifier_key: &str) -> &str {
    verifier_key
        .trim()
        .splitn(3, '+')
        .nth(2)
        .unwrap_or_default()
}

/// Verifies a checkpoint under the log's key and counts valid cosignatures from `witnesses`;
/// refuses it unless at least `required` of them cosigned.
pub fn verify_cosigned(
    note: &str,
    log_key: &str,
    witnesses: &[String],
    required: usize,
) -> Result<log::VerifiedCheckpoint, log::LogError> {
    let checkpoint = log::verify_checkpoint(note, log_key)?;
    if required == 0 {
        return Ok(checkpoint);
    }
    let parsed = Note::from_bytes(note.as_bytes())
        .map_err(|e| log::LogError::MalformedCheckpoint(e.to_string()))?;
    // Each witness counts once, however often its key is listed: k-of-n means k distinct
    // witnesses. A key is its algorithm and public key bytes (the part after the name and key
    // hash), so the same key listed under two names is one witness too.
    let mut distinct: Vec<&str> = Vec::new();
    for witness in witnesses {
        let key = key_material(witness);
        if !distinct.contains(&key) {
            distinct.push(key);
        }
    }
    if distinct.len() < required {
        return Err(log::LogError::BadCheckpointSignature(format!(
            "{required} witness cosignatures are required but only {} distinct witness keys are \
             configured",
            distinct.len()
        )));
    }
    let mut cosigned: Vec<&str> = Vec::new();
    for witness in witnesses {
        let key = key_material(witness);
        let verifier = StandardVerifier::new(witness.trim())
            .map_err(|e| log::LogError::BadCheckpointSignature(format!("witness key: {e}")))?;
        if parsed
            .verify(&VerifierList::new(vec![Box::new(verifier)]))
            .is_ok()
            && !cosigned.contains(&key)
        {
            cosigned.push(key);
        }
    }
    let cosigners = cosigned.len();
    if cosigners < required {
        return Err(log::LogError::BadCheckpointSignature(format!(
            "{cosigners} of the required {required} witness cosignatures are present"
        )));
    }
    Ok(checkpoint)
}
