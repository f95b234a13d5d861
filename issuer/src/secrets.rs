//! The issuer service's secrets: the master key that seals tenants' signing keys at rest
//! ([`MasterKey`]), bearer tokens ([`BearerToken`]: the operator's admin token and tenants'
//! API tokens), and where they come from (a file, the environment, or generated into the data
//! directory with mode 0600).
//!
//! Every type here redacts its `Debug` and zeroizes its bytes when dropped. Nothing here logs a
//! secret: loading logs the *path* of a generated file, never its content. Encryption is
//! XChaCha20-Poly1305 from RustCrypto's `chacha20poly1305` (a 192-bit nonce is drawn at random
//! for every record, so random nonces never collide in practice); no cryptography is written
//! here.

use std::fmt;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use chacha20poly1305::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use data_encoding::BASE64URL_NOPAD;
use rand::RngCore as _;
use sha2::{Digest as _, Sha256};
use zeroize::{Zeroize as _, Zeroizing};

/// Why a secret could not be loaded, created or used.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    /// A secret file could not be read or written.
    #[error("secret file {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The master key is not 32 bytes of unpadded base64url.
    #[error("the master key ({origin}) is not 32 bytes in unpadded base64url")]
    BadMasterKey { origin: String },
    /// A token (file or environment) shorter than 32 characters: too weak to guard an API.
    #[error("the admin token ({origin}) must be at least 32 characters")]
    WeakToken { origin: String },
    /// A sealed record did not open: another master key, another tenant's record, or tampering.
    #[error("a sealed record does not open under this master key (wrong key, or tampered)")]
    Unseal,
}

/// Text that is a secret (a token or key given on the command line or in the environment):
/// `Debug` prints `[redacted]`, the bytes are wiped on drop.
#[derive(Clone, Default)]
pub struct SecretText(Zeroizing<String>);

impl SecretText {
    pub fn new(text: String) -> Self {
        Self(Zeroizing::new(text))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SecretText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretText([redacted])")
    }
}

impl std::str::FromStr for SecretText {
    type Err = std::convert::Infallible;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Ok(Self::new(text.to_owned()))
    }
}

/// The key that seals tenants' signing keys (XChaCha20-Poly1305, 256 bits).
#[derive(Clone)]
pub struct MasterKey(Zeroizing<[u8; 32]>);

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MasterKey([redacted])")
    }
}

impl MasterKey {
    pub fn generate() -> Self {
        let mut key = Zeroizing::new([0u8; 32]);
        OsRng.fill_bytes(key.as_mut());
        Self(key)
    }

    /// Parses 32 bytes of unpadded base64url (surrounding whitespace ignored).
    pub fn from_text(text: &str, origin: &str) -> Result<Self, SecretError> {
        let bad = || SecretError::BadMasterKey {
            origin: origin.to_owned(),
        };
        let mut bytes = Zeroizing::new(
            BASE64URL_NOPAD
                .decode(text.trim().as_bytes())
                .map_err(|_| bad())?,
        );
        let key: [u8; 32] = bytes.as_slice().try_into().map_err(|_| bad())?;
        bytes.zeroize();
        Ok(Self(Zeroizing::new(key)))
    }

    /// The key as unpadded base64url, for writing a generated key to its file.
    fn to_text(&self) -> Zeroizing<String> {
        Zeroizing::new(BASE64URL_NOPAD.encode(self.0.as_ref()))
    }

    fn cipher(&self) -> XChaCha20Poly1305 {
        XChaCha20Poly1305::new(self.0.as_ref().into())
    }

    /// Seals `plaintext`: a fresh random 24-byte nonce followed by the ciphertext and tag.
    /// `associated` (the tenant id) is authenticated, not encrypted: the record opens only for
    /// the same `associated`.
    pub fn seal(&self, associated: &[u8], plaintext: &[u8]) -> Vec<u8> {
        let nonce = XChaCha20Poly1305::generate_nonce(&mut OsRng);
        let ciphertext = self
            .cipher()
            .encrypt(
                &nonce,
                Payload {
                    msg: plaintext,
                    aad: associated,
                },
            )
            .unwrap_or_else(|_| unreachable!("XChaCha20-Poly1305 encrypts any length we store"));
        let mut sealed = nonce.to_vec();
        sealed.extend_from_slice(&ciphertext);
        sealed
    }

    /// Opens what [`seal`](Self::seal) produced with the same `associated` data.
    pub fn open(
        &self,
        associated: &[u8],
        sealed: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, SecretError> {
        if sealed.len() < 24 {
            return Err(SecretError::Unseal);
        }
        let (nonce, ciphertext) = sealed.split_at(24);
        let nonce: [u8; 24] = nonce.try_into().map_err(|_| SecretError::Unseal)?;
        self.cipher()
            .decrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: ciphertext,
                    aad: associated,
                },
            )
            .map(Zeroizing::new)
            .map_err(|_| SecretError::Unseal)
    }
}

/// A bearer token: 256 random bits as unpadded base64url when generated. Only its SHA-256
/// ([`TokenHash`]) is stored or compared.
#[derive(Clone)]
pub struct BearerToken(Zeroizing<String>);

impl fmt::Debug for BearerToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BearerToken([redacted])")
    }
}

impl BearerToken {
    pub fn generate() -> Self {
        let mut bytes = Zeroizing::new([0u8; 32]);
        OsRng.fill_bytes(bytes.as_mut());
        Self(Zeroizing::new(BASE64URL_NOPAD.encode(bytes.as_ref())))
    }

    /// A token as presented (an `Authorization: Bearer` value) or configured.
    pub fn new(text: &str) -> Self {
        Self(Zeroizing::new(text.to_owned()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn hash(&self) -> TokenHash {
        TokenHash(Sha256::digest(self.0.as_bytes()).into())
    }
}

/// SHA-256 of a bearer token: what the store keeps and what requests are matched by. Comparing
/// hashes rather than tokens means a timing difference reveals bits of a hash of a 256-bit
/// secret, not of the secret.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct TokenHash(pub [u8; 32]);

impl fmt::Debug for TokenHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TokenHash(..)")
    }
}

/// Writes `content` to a new file at `path` readable by its owner only (mode 0600), creating
/// its directory. Refuses to overwrite.
fn write_private(path: &Path, content: &str) -> Result<(), SecretError> {
    let io = |source| SecretError::Io {
        path: path.to_owned(),
        source,
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut file = options.open(path).map_err(io)?;
    file.write_all(content.as_bytes()).map_err(io)?;
    file.sync_all().map_err(io)
}

fn read_secret(path: &Path) -> Result<Zeroizing<String>, SecretError> {
    std::fs::read_to_string(path)
        .map(|text| Zeroizing::new(text.trim().to_owned()))
        .map_err(|source| SecretError::Io {
            path: path.to_owned(),
            source,
        })
}

/// Where a secret is taken from: a file named on the command line, a value from the
/// environment, or (neither) a file in the data directory, generated at first start.
#[derive(Debug, Clone)]
pub struct SecretSource {
    pub file: Option<PathBuf>,
    pub value: Option<SecretText>,
    /// Where to generate one when neither is given.
    pub generated: PathBuf,
}

/// The master key from `source`; generated (with a warning: losing that file loses every
/// tenant's keys, and a file beside the database protects against less) when absent.
pub fn load_master_key(source: &SecretSource) -> Result<MasterKey, SecretError> {
    if let Some(value) = &source.value {
        return MasterKey::from_text(value.expose(), "CREDENCE_MASTER_KEY");
    }
    let path = source.file.as_ref().unwrap_or(&source.generated);
    if source.file.is_some() || path.exists() {
        return MasterKey::from_text(&read_secret(path)?, &path.display().to_string());
    }
    let key = MasterKey::generate();
    write_private(path, &key.to_text())?;
    tracing::warn!(
        path = %path.display(),
        "no master key configured (--master-key-file / CREDENCE_MASTER_KEY): generated one \
         beside the data; keep a copy elsewhere, tenants' keys cannot be opened without it"
    );
    Ok(key)
}

/// The operator's admin token from `source`; generated when absent, and then its file's path
/// (never the token) is logged.
pub fn load_admin_token(source: &SecretSource) -> Result<BearerToken, SecretError> {
    let check = |text: &str, origin: &str| {
        if text.len() < 32 {
            Err(SecretError::WeakToken {
                origin: origin.to_owned(),
            })
        } else {
            Ok(BearerToken::new(text))
        }
    };
    if let Some(value) = &source.value {
        return check(value.expose().trim(), "CREDENCE_ADMIN_TOKEN");
    }
    let path = source.file.as_ref().unwrap_or(&source.generated);
    if source.file.is_some() || path.exists() {
        return check(&read_secret(path)?, &path.display().to_string());
    }
    let token = BearerToken::generate();
    write_private(path, token.expose())?;
    tracing::info!(path = %path.display(), "generated the issuer admin token; read it from this file");
    Ok(token)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_records_open_only_with_their_key_and_associated_data() {
        let key = MasterKey::generate();
        let sealed = key.seal(b"tenant-a", b"secret");
        assert_eq!(
            key.open(b"tenant-a", &sealed).unwrap().as_slice(),
            b"secret"
        );
        assert!(key.open(b"tenant-b", &sealed).is_err());
        assert!(MasterKey::generate().open(b"tenant-a", &sealed).is_err());
        let mut tampered = sealed.clone();
        let last = tampered.len() - 1;
        tampered[last] ^= 1;
        assert!(key.open(b"tenant-a", &tampered).is_err());
        assert_ne!(
            key.seal(b"tenant-a", b"secret"),
            sealed,
            "fresh nonce each time"
        );
    }

    #[test]
    fn secrets_do_not_debug_print() {
        let token = BearerToken::generate();
        let key = MasterKey::generate();
        let text = SecretText::new("hunter2-hunter2".into());
        let printed = format!("{token:?} {key:?} {text:?} {:?}", token.hash());
        assert!(!printed.contains(token.expose()), "{printed}");
        assert!(!printed.contains(key.to_text().as_str()), "{printed}");
        assert!(!printed.contains("hunter2"), "{printed}");
    }

    #[test]
    fn generated_secrets_are_private_files_and_reloaded() {
        let dir = tempfile_dir();
        let source = SecretSource {
            file: None,
            value: None,
            generated: dir.join("admin-token"),
        };
        let first = load_admin_token(&source).unwrap();
        let again = load_admin_token(&source).unwrap();
        assert_eq!(first.hash(), again.hash());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(dir.join("admin-token"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let master = SecretSource {
            file: None,
            value: None,
            generated: dir.join("master-key"),
        };
        let key = load_master_key(&master).unwrap();
        let sealed = key.seal(b"t", b"x");
        assert!(
            load_master_key(&master)
                .unwrap()
                .open(b"t", &sealed)
                .is_ok()
        );
        let weak = SecretSource {
            file: None,
            value: Some(SecretText::new("short".into())),
            generated: dir.join("unused"),
        };
        assert!(matches!(
            load_admin_token(&weak),
            Err(SecretError::WeakToken { .. })
        ));
        std::fs::remove_dir_all(dir).unwrap();
    }

    fn tempfile_dir() -> PathBuf {
        let dir = std::env::temp_dir().join(format!("credence-secrets-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }
}
