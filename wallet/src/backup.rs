//! Encrypted backups: every sealed record of the wallet (holder keys, credentials, copy uses,
//! history) in one passphrase-protected file that restores the wallet on another device.
//!
//! Format (`credence-wallet-backup/1`), a JSON envelope:
//! `{"format", "kdf": {"alg": "argon2id-v19", "m", "t", "p", "salt"}, "nonce", "ciphertext"}`
//! with base64url fields. The key is Argon2id(passphrase, salt) with the recorded parameters;
//! the ciphertext is XChaCha20-Poly1305 over the JSON list of records, with the format and KDF
//! fields as associated data, so changing any byte of the file — parameters included — fails
//! the tag. A wrong passphrase and a modified backup are therefore the same error
//! ([`WalletError::BackupUnreadable`]): an AEAD cannot tell them apart, and nothing is restored.
//!
//! Why not a JWE with PBES2 (what DESIGN.md names): josekit links OpenSSL, which the wallet
//! may not carry, and no maintained pure-Rust JOSE crate does PBES2; PBES2's PBKDF2 is also
//! far weaker against guessing than the Argon2id the wallet file already uses. So the backup
//! reuses the wallet's own sealing (`crypto.rs`) in this documented envelope.

use std::io::Write as _;
use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::crypto::{KdfParams, NONCE_BYTES, Passphrase, SecretKeyBytes, random_salt};
use crate::error::WalletError;
use crate::store::{RecordKind, Wallet};

/// The envelope's format name.
pub const BACKUP_FORMAT: &str = "credence-wallet-backup/1";
const KDF_NAME: &str = "argon2id-v19";

#[derive(Serialize, Deserialize)]
struct Envelope {
    format: String,
    kdf: Kdf,
    nonce: String,
    ciphertext: String,
}

#[derive(Serialize, Deserialize)]
struct Kdf {
    alg: String,
    m: u32,
    t: u32,
    p: u32,
    salt: String,
}

#[derive(Serialize, Deserialize)]
struct Record {
    kind: String,
    id: String,
    data: String,
}

/// What a restore brought back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Restored {
    pub holder_keys: usize,
    pub credentials: usize,
    pub history: usize,
}

fn aad(kdf: &Kdf) -> Vec<u8> {
    format!(
        "{BACKUP_FORMAT}|{}|m={}|t={}|p={}|salt={}",
        kdf.alg, kdf.m, kdf.t, kdf.p, kdf.salt
    )
    .into_bytes()
}

const KINDS: [RecordKind; 4] = [
    RecordKind::HolderKey,
    RecordKind::Credential,
    RecordKind::CopyUse,
    RecordKind::History,
];

impl Wallet {
    /// Writes an encrypted backup of everything in the wallet to `path` (a new file, never
    /// written over an existing one), under `passphrase` with this wallet's KDF parameters.
    pub fn backup(&self, path: &Path, passphrase: &Passphrase) -> Result<(), WalletError> {
        let mut records = Vec::new();
        for kind in KINDS {
            for (id, plain) in self.read_all(kind)? {
                records.push(Record {
                    kind: kind.name().to_owned(),
                    id,
                    data: URL_SAFE_NO_PAD.encode(plain.as_slice()),
                });
            }
        }
        let plaintext = Zeroizing::new(serde_json::to_vec(&records).map_err(io_error)?);
        let params = self.kdf_params();
        let salt = random_salt();
        let kdf = Kdf {
            alg: KDF_NAME.to_owned(),
            m: params.memory_kib,
            t: params.iterations,
            p: params.parallelism,
            salt: URL_SAFE_NO_PAD.encode(salt),
        };
        let key = SecretKeyBytes::derive(passphrase, &salt, &params)?;
        let sealed = key.seal(&plaintext, &aad(&kdf));
        let envelope = Envelope {
            format: BACKUP_FORMAT.to_owned(),
            nonce: URL_SAFE_NO_PAD.encode(sealed.nonce),
            ciphertext: URL_SAFE_NO_PAD.encode(&sealed.ciphertext),
            kdf,
        };
        let text = serde_json::to_vec_pretty(&envelope).map_err(io_error)?;
        if path.exists() {
            return Err(WalletError::AlreadyExists(path.to_owned()));
        }
        // Written beside the target and renamed into place: a crash leaves no half backup.
        let temporary = path.with_extension("partial");
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&temporary)
            .map_err(|e| WalletError::Backup(format!("{}: {e}", temporary.display())))?;
        file.write_all(&text)
            .and_then(|()| file.sync_all())
            .and_then(|()| std::fs::rename(&temporary, path))
            .map_err(|e| {
                let _ = std::fs::remove_file(&temporary);
                WalletError::Backup(format!("{}: {e}", path.display()))
            })
    }

    /// Restores the backup at `path` into this wallet (usually a new, empty one), in one
    /// transaction: a wrong passphrase or a modified backup restores nothing, and a record this
    /// wallet already has is an error, never overwritten.
    pub fn restore(
        &mut self,
        path: &Path,
        passphrase: &Passphrase,
    ) -> Result<Restored, WalletError> {
        let text = std::fs::read(path)
            .map_err(|e| WalletError::Backup(format!("{}: {e}", path.display())))?;
        let envelope: Envelope =
            serde_json::from_slice(&text).map_err(|_| WalletError::BackupUnreadable)?;
        if envelope.format != BACKUP_FORMAT || envelope.kdf.alg != KDF_NAME {
            return Err(WalletError::BackupUnreadable);
        }
        let params = KdfParams {
            memory_kib: envelope.kdf.m,
            iterations: envelope.kdf.t,
            parallelism: envelope.kdf.p,
        };
        if !params.is_within_limits() {
            return Err(WalletError::BackupUnreadable);
        }
        let decode = |text: &str| {
            URL_SAFE_NO_PAD
                .decode(text)
                .map_err(|_| WalletError::BackupUnreadable)
        };
        let salt = decode(&envelope.kdf.salt)?;
        let nonce = decode(&envelope.nonce)?;
        if nonce.len() != NONCE_BYTES {
            return Err(WalletError::BackupUnreadable);
        }
        let key = SecretKeyBytes::derive(passphrase, &salt, &params)?;
        let plaintext = key
            .open(&nonce, &decode(&envelope.ciphertext)?, &aad(&envelope.kdf))
            .ok_or(WalletError::BackupUnreadable)?;
        let records: Vec<Record> =
            serde_json::from_slice(&plaintext).map_err(|_| WalletError::BackupUnreadable)?;
        let mut restored = Restored::default();
        self.write(|writer| {
            for record in &records {
                let kind = KINDS
                    .into_iter()
                    .find(|kind| kind.name() == record.kind)
                    .ok_or(WalletError::BackupUnreadable)?;
                let data = Zeroizing::new(decode(&record.data)?);
                writer.insert(kind, &record.id, &data)?;
                match kind {
                    RecordKind::HolderKey => restored.holder_keys += 1,
                    RecordKind::Credential => restored.credentials += 1,
                    RecordKind::History => restored.history += 1,
                    RecordKind::CopyUse => {}
                }
            }
            Ok(())
        })?;
        Ok(restored)
    }
}

fn io_error(error: serde_json::Error) -> WalletError {
    WalletError::Backup(error.to_string())
}
