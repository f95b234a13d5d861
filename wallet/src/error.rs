//! The wallet's error type: one enum, each variant a condition an app can show or act on.
//!
//! No variant carries a secret or personal data: passphrases and keys never appear, and a
//! credential is named by its id, never by its content.

use std::path::PathBuf;

use crate::credentials::{CredentialId, SdJwtError};
use crate::holder::HolderKeyId;
use crate::present::ConsentError;

/// Why a wallet operation failed.
#[derive(Debug, thiserror::Error)]
pub enum WalletError {
    /// The passphrase does not unlock this wallet (the key-check value did not open).
    #[error("wrong passphrase")]
    WrongPassphrase,
    /// An empty passphrase protects nothing.
    #[error("the passphrase is empty")]
    EmptyPassphrase,
    /// Part of the file was changed or corrupted since the wallet wrote it. Nothing was
    /// decrypted from it and nothing was written.
    #[error("the wallet file was modified or corrupted: {0}")]
    Tampered(TamperedPart),
    /// Argon2id parameters outside what a wallet may use.
    #[error("invalid key-derivation parameters: {0}")]
    InvalidKdfParams(String),
    /// `create` never overwrites a file.
    #[error("{0} already exists; a new wallet is never written over a file")]
    AlreadyExists(PathBuf),
    /// `open` of a path with no file.
    #[error("no wallet file at {0}")]
    NotFound(PathBuf),
    /// The file is not a Credence wallet (not SQLite, or another application's database).
    #[error("{path} is not a Credence wallet: {reason}")]
    NotAWallet { path: PathBuf, reason: String },
    /// A wallet file of a format this version does not read.
    #[error("wallet file format {0} is not supported by this version (it reads format 1)")]
    UnsupportedFormat(i32),
    /// The SQLite layer failed (disk full, file locked, I/O error).
    #[error("wallet storage failed: {0}")]
    Storage(#[from] rusqlite::Error),
    /// A decrypted record that is not what this version wrote (a bug or a newer format); the
    /// AEAD tag verified, so it is not tampering.
    #[error("a stored {kind} record could not be read: {reason}")]
    CorruptRecord { kind: &'static str, reason: String },
    /// No credential with this id.
    #[error("no credential {0}")]
    UnknownCredential(CredentialId),
    /// No holder key with this id.
    #[error("no holder key {0}")]
    UnknownHolderKey(HolderKeyId),
    /// No history entry with this id.
    #[error("no history entry {0}")]
    UnknownHistoryEntry(String),
    /// A received credential is not a well-formed SD-JWT VC or `vc+jwt`.
    #[error("the credential is malformed: {0}")]
    InvalidCredential(#[from] SdJwtError),
    /// The credential check (the verifier library) refused a received credential.
    #[error("the credential did not verify: {0}")]
    CredentialRefused(String),
    /// The credential could not be checked (the issuer's DID did not resolve, the registry or
    /// a status list did not answer): nothing is known about it, so it is not stored.
    #[error("the credential could not be checked: {0}")]
    CheckUnavailable(String),
    /// The backup does not open: a wrong passphrase, or a modified or corrupted file (the
    /// AEAD cannot tell which). Nothing was restored.
    #[error("the backup does not open: wrong passphrase, or the file was modified")]
    BackupUnreadable,
    /// The backup file could not be read or written.
    #[error("backup file: {0}")]
    Backup(String),
    /// The credential's `cnf` key is not the holder key it was requested for.
    #[error("the credential is bound to another key than holder key {0}")]
    HolderKeyMismatch(HolderKeyId),
    /// A holder key binds one credential copy only (unlinkability).
    #[error("holder key {0} is already bound to a credential")]
    HolderKeyInUse(HolderKeyId),
    /// The wallet holds no credential of the requested type.
    #[error("the wallet holds no credential of type {0:?}")]
    NothingMatches(String),
    /// The request asks for claims the chosen credential does not have.
    #[error("the credential has no claim {0}")]
    MissingClaim(String),
    /// Consent could not be built from the user's choice, or does not fit the credential.
    #[error(transparent)]
    Consent(#[from] ConsentError),
}

/// Which part of the file failed its integrity check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TamperedPart {
    /// The header: KDF parameters, salt, or key-check value (its checksum does not match, or a
    /// value is out of range).
    Header,
    /// A sealed record whose AEAD tag does not verify (ciphertext, nonce, kind or id changed).
    Record { kind: &'static str, id: String },
}

impl std::fmt::Display for TamperedPart {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Header => f.write_str("header (KDF parameters, salt or key-check value)"),
            Self::Record { kind, id } => write!(f, "{kind} record {id}"),
        }
    }
}
