//! The wallet file: one SQLite database holding a header and sealed records. The only SQL in
//! the crate.
//!
//! Layout (format 1):
//! - `PRAGMA application_id` = `CRED` marks the file as a Credence wallet, `user_version` = the
//!   format, so a stray SQLite file is refused as [`WalletError::NotAWallet`] before anything
//!   else happens.
//! - `header`: one row: the Argon2id parameters and salt the passphrase key was derived with,
//!   the data key wrapped under that key (the key-check value: its AEAD tag fails exactly when
//!   the passphrase is wrong), and a SHA-256 checksum of the row, so an edited or corrupted
//!   header is [`WalletError::Tampered`] rather than a confusing wrong passphrase.
//! - `records`: `(kind, id, nonce, ciphertext)`. Every holder key, credential, copy use and
//!   history entry is sealed with XChaCha20-Poly1305 under the data key, with
//!   `credence-wallet/1 | kind | id` as associated data, so a ciphertext moved to another row
//!   (another id or kind) does not open. Nothing personal is stored in the clear: the file shows
//!   how many records of each kind there are, and nothing else.
//!
//! Every write is one SQLite transaction in WAL mode with `synchronous = FULL`: the commit
//! appends the changed pages to `<file>-wal` and fsyncs it once before returning, so an
//! acknowledged write survives a crash and an interrupted one leaves the data as it was (a WAL
//! frame without its commit record is ignored on recovery). Reads never write.
//!
//! One file at rest: while a wallet is open SQLite keeps two side files, `<file>-wal` (the
//! committed writes not yet copied into the file) and `<file>-shm` (its index); when the last
//! connection closes it copies the WAL into the file, fsyncs, and deletes both. After a crash
//! they stay, and the next open recovers from them: a wallet file copied after a crash
//! without its `-wal` lacks the writes since the last checkpoint. Rollback-journal mode
//! (format 1's first choice) cost ~20 ms per write here against a few ms with WAL
//! (BENCHMARKS.md, session 6). What a tamper check cannot see (stated, not hidden): a whole row deleted,
//! or the whole file rolled back to an older copy; both need a counter kept outside the file.

use std::fmt;
use std::path::Path;

use rusqlite::{Connection, OpenFlags, OptionalExtension as _, Transaction, params};
use sha2::{Digest as _, Sha256};
use zeroize::Zeroizing;

use crate::crypto::{
    KdfParams, NONCE_BYTES, Passphrase, SALT_BYTES, Sealed, SecretKeyBytes, random_salt,
};
use crate::error::{TamperedPart, WalletError};

/// `CRED` in ASCII: SQLite's application id for a Credence wallet file.
const APPLICATION_ID: i32 = 0x4352_4544;
/// The file format this code writes and reads.
const FORMAT: i32 = 1;
/// The KDF named in the header: Argon2id, version 0x13 (RFC 9106 §3.1).
const KDF_NAME: &str = "argon2id-v19";

const SCHEMA: &str = "
    -- One row: how the passphrase key is derived and the data key it wraps.
    CREATE TABLE header (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        kdf TEXT NOT NULL,
        memory_kib INTEGER NOT NULL,
        iterations INTEGER NOT NULL,
        parallelism INTEGER NOT NULL,
        salt BLOB NOT NULL,
        -- The data key sealed under the passphrase key: the key-check value.
        key_check_nonce BLOB NOT NULL,
        key_check BLOB NOT NULL,
        -- SHA-256 over the columns above (see header_bytes): corruption and edits show.
        checksum BLOB NOT NULL
    );
    -- Sealed records; kind and id are the AEAD's associated data.
    CREATE TABLE records (
        kind TEXT NOT NULL,
        id TEXT NOT NULL,
        nonce BLOB NOT NULL,
        ciphertext BLOB NOT NULL,
        PRIMARY KEY (kind, id)
    ) WITHOUT ROWID;
";

/// A decrypted record, zeroized on drop.
pub(crate) type Plaintext = Zeroizing<Vec<u8>>;

/// What a record is. The name is part of the record's associated data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RecordKind {
    HolderKey,
    Credential,
    CopyUse,
    History,
}

impl RecordKind {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::HolderKey => "holder_key",
            Self::Credential => "credential",
            Self::CopyUse => "copy_use",
            Self::History => "history",
        }
    }
}

/// An open wallet: the database connection and the data key. `Debug` shows neither.
pub struct Wallet {
    connection: Connection,
    data_key: SecretKeyBytes,
    params: KdfParams,
}

impl fmt::Debug for Wallet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Wallet")
            .field("kdf", &self.params)
            .finish_non_exhaustive()
    }
}

impl Wallet {
    /// Creates a new wallet file at `path` (which must not exist) protected by `passphrase`.
    pub fn create(
        path: &Path,
        passphrase: &Passphrase,
        params: KdfParams,
    ) -> Result<Self, WalletError> {
        if !params.is_within_limits() {
            return Err(WalletError::InvalidKdfParams(format!("{params:?}")));
        }
        if path.exists() {
            return Err(WalletError::AlreadyExists(path.to_owned()));
        }
        let salt = random_salt();
        let passphrase_key = SecretKeyBytes::derive(passphrase, &salt, &params)?;
        let data_key = SecretKeyBytes::random();
        let key_check = passphrase_key.wrap(&data_key, &header_bytes(&params, &salt));
        let checksum = header_checksum(&params, &salt, &key_check);

        let mut connection = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE,
        )?;
        configure(&connection)?;
        let tx = connection.transaction()?;
        tx.pragma_update(None, "application_id", APPLICATION_ID)?;
        tx.pragma_update(None, "user_version", FORMAT)?;
        tx.execute_batch(SCHEMA)?;
        tx.execute(
            "INSERT INTO header (id, kdf, memory_kib, iterations, parallelism, salt,
                                 key_check_nonce, key_check, checksum)
             VALUES (1, ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            params![
                KDF_NAME,
                params.memory_kib,
                params.iterations,
                params.parallelism,
                salt.as_slice(),
                key_check.nonce.as_slice(),
                key_check.ciphertext,
                checksum.as_slice(),
            ],
        )?;
        tx.commit()?;
        Ok(Self {
            connection,
            data_key,
            params,
        })
    }

    /// Opens an existing wallet file. A wrong passphrase is [`WalletError::WrongPassphrase`];
    /// a header that was edited or corrupted is [`WalletError::Tampered`]. Opening writes
    /// nothing.
    pub fn open(path: &Path, passphrase: &Passphrase) -> Result<Self, WalletError> {
        if !path.exists() {
            return Err(WalletError::NotFound(path.to_owned()));
        }
        let connection = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_WRITE)?;
        let not_a_wallet = |reason: &str| WalletError::NotAWallet {
            path: path.to_owned(),
            reason: reason.to_owned(),
        };
        let application_id: i32 = connection
            .pragma_query_value(None, "application_id", |row| row.get(0))
            .map_err(|_| not_a_wallet("not an SQLite database"))?;
        if application_id != APPLICATION_ID {
            return Err(not_a_wallet("an SQLite database of another application"));
        }
        let format: i32 = connection.pragma_query_value(None, "user_version", |row| row.get(0))?;
        if format != FORMAT {
            return Err(WalletError::UnsupportedFormat(format));
        }
        configure(&connection)?;

        let header = read_header(&connection)?;
        let passphrase_key = SecretKeyBytes::derive(passphrase, &header.salt, &header.params)?;
        let data_key = passphrase_key
            .unwrap_key(
                &header.key_check,
                &header_bytes(&header.params, &header.salt),
            )
            .ok_or(WalletError::WrongPassphrase)?;
        Ok(Self {
            connection,
            data_key,
            params: header.params,
        })
    }

    /// The Argon2id parameters this file was created with.
    pub fn kdf_params(&self) -> KdfParams {
        self.params
    }

    /// Runs `work` in one transaction: all of its writes land, or none do.
    pub(crate) fn write<T>(
        &mut self,
        work: impl FnOnce(&mut Writer<'_>) -> Result<T, WalletError>,
    ) -> Result<T, WalletError> {
        let tx = self.connection.transaction()?;
        let mut writer = Writer {
            tx,
            data_key: &self.data_key,
        };
        let value = work(&mut writer)?;
        writer.tx.commit()?;
        Ok(value)
    }

    /// The plaintext of one record, or `None` if there is none with that id.
    pub(crate) fn read(
        &self,
        kind: RecordKind,
        id: &str,
    ) -> Result<Option<Zeroizing<Vec<u8>>>, WalletError> {
        let row: Option<(Vec<u8>, Vec<u8>)> = self
            .connection
            .query_row(
                "SELECT nonce, ciphertext FROM records WHERE kind = ?1 AND id = ?2",
                params![kind.name(), id],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )
            .optional()?;
        row.map(|(nonce, ciphertext)| self.unseal(kind, id, &nonce, &ciphertext))
            .transpose()
    }

    /// Every record of `kind` as `(id, plaintext)`, ordered by id (random, so no order leaks).
    pub(crate) fn read_all(
        &self,
        kind: RecordKind,
    ) -> Result<Vec<(String, Plaintext)>, WalletError> {
        let mut statement = self
            .connection
            .prepare("SELECT id, nonce, ciphertext FROM records WHERE kind = ?1 ORDER BY id")?;
        let rows = statement
            .query_map(params![kind.name()], |row| {
                Ok((row.get::<_, String>(0)?, row.get(1)?, row.get(2)?))
            })?
            .collect::<Result<Vec<(String, Vec<u8>, Vec<u8>)>, _>>()?;
        rows.into_iter()
            .map(|(id, nonce, ciphertext)| {
                let plain = self.unseal(kind, &id, &nonce, &ciphertext)?;
                Ok((id, plain))
            })
            .collect()
    }

    fn unseal(
        &self,
        kind: RecordKind,
        id: &str,
        nonce: &[u8],
        ciphertext: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, WalletError> {
        self.data_key
            .open(nonce, ciphertext, &record_aad(kind, id))
            .ok_or_else(|| {
                WalletError::Tampered(TamperedPart::Record {
                    kind: kind.name(),
                    id: id.to_owned(),
                })
            })
    }
}

/// The writes of one transaction.
pub(crate) struct Writer<'w> {
    tx: Transaction<'w>,
    data_key: &'w SecretKeyBytes,
}

impl Writer<'_> {
    /// Seals and inserts a new record; an existing id is an error, never overwritten.
    pub(crate) fn insert(
        &mut self,
        kind: RecordKind,
        id: &str,
        plaintext: &[u8],
    ) -> Result<(), WalletError> {
        let sealed = self.data_key.seal(plaintext, &record_aad(kind, id));
        self.tx.execute(
            "INSERT INTO records (kind, id, nonce, ciphertext) VALUES (?1, ?2, ?3, ?4)",
            params![kind.name(), id, sealed.nonce.as_slice(), sealed.ciphertext],
        )?;
        Ok(())
    }

    /// Seals and replaces an existing record (a fresh nonce every time).
    pub(crate) fn update(
        &mut self,
        kind: RecordKind,
        id: &str,
        plaintext: &[u8],
    ) -> Result<bool, WalletError> {
        let sealed = self.data_key.seal(plaintext, &record_aad(kind, id));
        let changed = self.tx.execute(
            "UPDATE records SET nonce = ?3, ciphertext = ?4 WHERE kind = ?1 AND id = ?2",
            params![kind.name(), id, sealed.nonce.as_slice(), sealed.ciphertext],
        )?;
        Ok(changed == 1)
    }

    /// Deletes a record; `false` if there was none.
    pub(crate) fn delete(&mut self, kind: RecordKind, id: &str) -> Result<bool, WalletError> {
        let changed = self.tx.execute(
            "DELETE FROM records WHERE kind = ?1 AND id = ?2",
            params![kind.name(), id],
        )?;
        Ok(changed == 1)
    }
}

/// Settings every connection uses. WAL (recorded in the file, so any connection to it uses
/// WAL) with `synchronous = FULL`, so a committed write is on disk, with one fsync of the WAL,
/// before `commit` returns (in WAL mode `NORMAL` would give that up after a power loss);
/// `secure_delete` so a deleted credential's ciphertext is overwritten, not left in free pages
/// (the file's pages are overwritten at the checkpoint).
fn configure(connection: &Connection) -> Result<(), WalletError> {
    let mode: String =
        connection.pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        // SQLite answers with the mode it kept: an in-memory or exotic VFS cannot do WAL.
        return Err(WalletError::Storage(rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_CANTOPEN),
            Some(format!(
                "the wallet file cannot use WAL mode (SQLite kept {mode})"
            )),
        )));
    }
    connection.pragma_update(None, "synchronous", "FULL")?;
    connection.pragma_update(None, "secure_delete", "ON")?;
    Ok(())
}

struct Header {
    params: KdfParams,
    salt: [u8; SALT_BYTES],
    key_check: Sealed,
}

fn read_header(connection: &Connection) -> Result<Header, WalletError> {
    let tampered = || WalletError::Tampered(TamperedPart::Header);
    type Row = (String, i64, i64, i64, Vec<u8>, Vec<u8>, Vec<u8>, Vec<u8>);
    let row: Option<Row> = connection
        .query_row(
            "SELECT kdf, memory_kib, iterations, parallelism, salt, key_check_nonce, key_check,
                    checksum
             FROM header WHERE id = 1",
            [],
            |row| {
                Ok((
                    row.get(0)?,
                    row.get(1)?,
                    row.get(2)?,
                    row.get(3)?,
                    row.get(4)?,
                    row.get(5)?,
                    row.get(6)?,
                    row.get(7)?,
                ))
            },
        )
        .optional()
        // A column whose type was changed under us is an edited header too.
        .map_err(|_| tampered())?;
    let (kdf, memory, iterations, parallelism, salt, nonce, key_check, checksum) =
        row.ok_or_else(tampered)?;
    let number = |value: i64| u32::try_from(value).map_err(|_| tampered());
    let params = KdfParams {
        memory_kib: number(memory)?,
        iterations: number(iterations)?,
        parallelism: number(parallelism)?,
    };
    let salt: [u8; SALT_BYTES] = salt.try_into().map_err(|_| tampered())?;
    let nonce: [u8; NONCE_BYTES] = nonce.try_into().map_err(|_| tampered())?;
    let key_check = Sealed {
        nonce,
        ciphertext: key_check,
    };
    if kdf != KDF_NAME || !params.is_within_limits() {
        return Err(tampered());
    }
    if checksum != header_checksum(&params, &salt, &key_check).as_slice() {
        return Err(tampered());
    }
    Ok(Header {
        params,
        salt,
        key_check,
    })
}

/// The header's fields as bytes: the key check's associated data, so the data key only
/// unwraps under the parameters and salt it was wrapped with.
fn header_bytes(params: &KdfParams, salt: &[u8]) -> Vec<u8> {
    let mut bytes = format!(
        "credence-wallet/{FORMAT}|{KDF_NAME}|m={}|t={}|p={}|salt=",
        params.memory_kib, params.iterations, params.parallelism
    )
    .into_bytes();
    bytes.extend_from_slice(salt);
    bytes
}

/// SHA-256 over the header and the key check. Not a secret check (anyone can recompute it):
/// it tells an edited or corrupted header apart from a wrong passphrase. A header rewritten
/// together with its checksum still fails, as a wrong passphrase, because the data key then
/// does not unwrap.
fn header_checksum(params: &KdfParams, salt: &[u8], key_check: &Sealed) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(header_bytes(params, salt));
    hasher.update(key_check.nonce);
    hasher.update(&key_check.ciphertext);
    hasher.finalize().into()
}

/// `credence-wallet/1 | kind | id`: binds a ciphertext to its row.
fn record_aad(kind: RecordKind, id: &str) -> Vec<u8> {
    format!("credence-wallet/{FORMAT}|{}|{id}", kind.name()).into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// WAL's side files exist only while the wallet is open: closed, it is one file again, and
    /// that file alone (copied elsewhere) holds every write acknowledged before the close.
    #[test]
    fn a_closed_wallet_is_one_file_holding_every_acknowledged_write() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("wallet.db");
        let passphrase = Passphrase::new("one file at rest");
        let mut wallet =
            Wallet::create(&path, &passphrase, KdfParams::INSECURE_FOR_TESTS).expect("create");
        wallet
            .write(|writer| writer.insert(RecordKind::History, "entry-1", b"presented"))
            .expect("write");
        assert!(
            dir.path().join("wallet.db-wal").exists(),
            "a WAL while open"
        );
        drop(wallet);
        let names: Vec<String> = std::fs::read_dir(dir.path())
            .expect("list")
            .map(|entry| {
                entry
                    .expect("entry")
                    .file_name()
                    .to_string_lossy()
                    .into_owned()
            })
            .collect();
        assert_eq!(names, ["wallet.db"]);

        let copy = dir.path().join("copy.db");
        std::fs::copy(&path, &copy).expect("copy");
        let wallet = Wallet::open(&copy, &passphrase).expect("open the copy");
        let entry = wallet.read(RecordKind::History, "entry-1").expect("read");
        assert_eq!(entry.as_deref().map(Vec::as_slice), Some(&b"presented"[..]));
    }
}
