//! Encrypted backups: every sealed record of the wallet (holder keys, credentials, copy uses,
//! history) in one passphrase-protected file that restores the wallet on another device.
//!
//! **Format: a JWE** (RFC 7516) in compact serialization, `alg` `dir`, `enc` `A256GCM`
//! (RFC 7518 §4.5, §5.3), whose content encryption key is Argon2id(passphrase, salt) with the
//! parameters and salt recorded in the protected header under the private header parameter
//! `credence_kdf` (`{"alg": "argon2id", "v": 19, "m", "t", "p", "salt"}`, RFC 7515 §4.3). The
//! protected header is the AEAD's associated data (RFC 7516 §5.1 step 14), so changing any
//! byte of the file — the KDF parameters included — fails the tag. The plaintext (`cty`
//! `credence-wallet-backup+json`) is the JSON list of records. Any JOSE library opens the file
//! given the derived key; `wallet/tests/it/backup.rs` checks that jwcrypto (an independent
//! implementation) opens ours and that ours opens one jwcrypto made.
//!
//! Why `dir` with Argon2id rather than the passphrase-based `PBES2-HS512+A256KW` (RFC 7518
//! §4.8): PBES2's PBKDF2 is cheap to guess on GPUs, and a backup is exactly the file that ends
//! up in a cloud folder; the wallet file itself is already under Argon2id with phone-sized
//! parameters, and the backup should not be the weaker copy. Why not josekit (what DESIGN.md
//! names): it links OpenSSL, which the embeddable wallet tree does not carry (the JWE here is a
//! few lines around RustCrypto's AES-GCM).
//!
//! A wrong passphrase and a modified backup are the same error
//! ([`WalletError::BackupUnreadable`]): an AEAD cannot tell them apart, and nothing is restored.
//! A file that is not this kind of JWE at all (another `alg`, a `zip`, a `crit` we do not know)
//! is refused before any key is derived.

use std::io::Write as _;
use std::path::Path;

use aes_gcm::aead::{Aead as _, Payload};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand_core::{OsRng, RngCore as _};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use zeroize::Zeroizing;

use crate::crypto::{KdfParams, Passphrase, SecretKeyBytes, random_salt};
use crate::error::WalletError;
use crate::store::{RecordKind, Wallet};

/// The JWE content type of a backup's plaintext (RFC 7516 §4.1.12; `application/` implied).
pub const BACKUP_CONTENT_TYPE: &str = "credence-wallet-backup+json";
/// The private protected-header parameter that carries the key derivation.
pub const KDF_HEADER: &str = "credence_kdf";
const KDF_NAME: &str = "argon2id";
/// Argon2 version 0x13 (RFC 9106 §3.1).
const ARGON2_VERSION: u32 = 19;
/// A GCM nonce is 96 bits (RFC 7518 §5.3) and its tag 128 bits.
const IV_BYTES: usize = 12;
const TAG_BYTES: usize = 16;
/// Restore reads at most this much: far above any wallet, far below a memory problem.
pub const MAX_BACKUP_BYTES: u64 = 256 * 1024 * 1024;

#[derive(Serialize, Deserialize)]
struct Kdf {
    alg: String,
    v: u32,
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
        if path.exists() {
            return Err(WalletError::AlreadyExists(path.to_owned()));
        }
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
        let header = json!({
            "alg": "dir",
            "enc": "A256GCM",
            "cty": BACKUP_CONTENT_TYPE,
            KDF_HEADER: Kdf {
                alg: KDF_NAME.to_owned(),
                v: ARGON2_VERSION,
                m: params.memory_kib,
                t: params.iterations,
                p: params.parallelism,
                salt: URL_SAFE_NO_PAD.encode(salt),
            },
        });
        let key = SecretKeyBytes::derive(passphrase, &salt, &params)?;
        let jwe = encrypt_compact(&key, &header, &plaintext);
        write_new(path, jwe.as_bytes())
    }

    /// Restores the backup at `path` into this wallet (usually a new, empty one), in one
    /// transaction: a wrong passphrase or a modified backup restores nothing, and a record this
    /// wallet already has is an error, never overwritten.
    pub fn restore(
        &mut self,
        path: &Path,
        passphrase: &Passphrase,
    ) -> Result<Restored, WalletError> {
        let text = read_limited(path)?;
        let plaintext = decrypt_compact(&text, passphrase)?;
        let records: Vec<Record> =
            serde_json::from_slice(&plaintext).map_err(|_| WalletError::BackupUnreadable)?;
        let mut restored = Restored::default();
        self.write(|writer| {
            for record in &records {
                let kind = KINDS
                    .into_iter()
                    .find(|kind| kind.name() == record.kind)
                    .ok_or(WalletError::BackupUnreadable)?;
                let data = Zeroizing::new(
                    URL_SAFE_NO_PAD
                        .decode(&record.data)
                        .map_err(|_| WalletError::BackupUnreadable)?,
                );
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

/// RFC 7516 §5.1 for `alg` `dir`: an empty encrypted key, a fresh 96-bit IV, and the ASCII of
/// the encoded protected header as the associated data.
fn encrypt_compact(key: &SecretKeyBytes, header: &Value, plaintext: &[u8]) -> String {
    let protected = URL_SAFE_NO_PAD.encode(header.to_string());
    let mut iv = [0u8; IV_BYTES];
    OsRng.fill_bytes(&mut iv);
    let sealed = key
        .aes256_gcm()
        .encrypt(
            (&iv).into(),
            Payload {
                msg: plaintext,
                aad: protected.as_bytes(),
            },
        )
        .unwrap_or_else(|_| unreachable!("AES-GCM encrypts any message below 64 GiB"));
    let (ciphertext, tag) = sealed.split_at(sealed.len() - TAG_BYTES);
    format!(
        "{protected}..{}.{}.{}",
        URL_SAFE_NO_PAD.encode(iv),
        URL_SAFE_NO_PAD.encode(ciphertext),
        URL_SAFE_NO_PAD.encode(tag)
    )
}

/// RFC 7516 §5.2 for the one JWE shape a backup is. The header is checked before the (slow)
/// key derivation, so a file that is not a backup costs nothing.
fn decrypt_compact(text: &str, passphrase: &Passphrase) -> Result<Zeroizing<Vec<u8>>, WalletError> {
    let not_a_backup = |why: &str| {
        WalletError::Backup(format!(
            "not a Credence wallet backup ({why}); expected a compact JWE with alg dir, enc \
             A256GCM and {KDF_HEADER}"
        ))
    };
    let parts: Vec<&str> = text.trim().split('.').collect();
    let [protected, encrypted_key, iv, ciphertext, tag] = parts[..] else {
        return Err(not_a_backup("not five compact JWE parts"));
    };
    let decode = |part: &str| {
        URL_SAFE_NO_PAD
            .decode(part)
            .map_err(|_| WalletError::BackupUnreadable)
    };
    let header: Value = serde_json::from_slice(&decode(protected)?)
        .map_err(|_| not_a_backup("the protected header is not JSON"))?;
    if header["alg"] != "dir" || header["enc"] != "A256GCM" || !encrypted_key.is_empty() {
        return Err(not_a_backup("another alg or enc"));
    }
    // RFC 7516 §4.1.3, RFC 7515 §4.1.11: compression is not used, and no extension is known.
    if header.get("zip").is_some() || header.get("crit").is_some() {
        return Err(not_a_backup("zip or crit"));
    }
    let kdf: Kdf = serde_json::from_value(header[KDF_HEADER].clone())
        .map_err(|_| not_a_backup("no key derivation parameters"))?;
    if kdf.alg != KDF_NAME || kdf.v != ARGON2_VERSION {
        return Err(not_a_backup("another key derivation"));
    }
    let params = KdfParams {
        memory_kib: kdf.m,
        iterations: kdf.t,
        parallelism: kdf.p,
    };
    if !params.is_within_limits() {
        return Err(WalletError::BackupUnreadable);
    }
    let iv: [u8; IV_BYTES] = decode(iv)?
        .try_into()
        .map_err(|_| WalletError::BackupUnreadable)?;
    let mut sealed = decode(ciphertext)?;
    let tag = decode(tag)?;
    if tag.len() != TAG_BYTES {
        return Err(WalletError::BackupUnreadable);
    }
    sealed.extend_from_slice(&tag);
    let key = SecretKeyBytes::derive(passphrase, &decode(&kdf.salt)?, &params)?;
    key.aes256_gcm()
        .decrypt(
            (&iv).into(),
            Payload {
                msg: &sealed,
                aad: protected.as_bytes(),
            },
        )
        .map(Zeroizing::new)
        .map_err(|_| WalletError::BackupUnreadable)
}

fn read_limited(path: &Path) -> Result<String, WalletError> {
    let failed = |e: std::io::Error| WalletError::Backup(format!("{}: {e}", path.display()));
    let size = std::fs::metadata(path).map_err(failed)?.len();
    if size > MAX_BACKUP_BYTES {
        return Err(WalletError::Backup(format!(
            "{}: {size} bytes, more than a backup can be ({MAX_BACKUP_BYTES})",
            path.display()
        )));
    }
    let bytes = std::fs::read(path).map_err(failed)?;
    String::from_utf8(bytes).map_err(|_| WalletError::BackupUnreadable)
}

/// Written beside the target and renamed into place: a crash leaves no half backup.
fn write_new(path: &Path, bytes: &[u8]) -> Result<(), WalletError> {
    let temporary = path.with_extension("partial");
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&temporary)
        .map_err(|e| WalletError::Backup(format!("{}: {e}", temporary.display())))?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .and_then(|()| std::fs::rename(&temporary, path))
        .map_err(|e| {
            let _ = std::fs::remove_file(&temporary);
            WalletError::Backup(format!("{}: {e}", path.display()))
        })
}

fn io_error(error: serde_json::Error) -> WalletError {
    WalletError::Backup(error.to_string())
}
