//! The wallet's encryption at rest: the passphrase, the Argon2id key derivation (RFC 9106) and
//! the XChaCha20-Poly1305 AEAD every record is sealed with.
//!
//! This module owns every secret byte the file's protection depends on: the passphrase, the key
//! derived from it, and the random data key that key wraps. Each lives in a zeroize-on-drop type
//! whose `Debug` prints nothing secret. It writes no cryptography: Argon2id comes from RustCrypto
//! `argon2`, the AEAD from RustCrypto `chacha20poly1305`, randomness from the operating system.
//! It knows nothing about SQL or about what the records mean (`store.rs` and the modules above).
//!
//! Why two keys: the passphrase-derived key only wraps a random 256-bit data key, and the data
//! key seals the records. The wrapped data key is the file's key-check value (an AEAD tag fails
//! exactly when the passphrase is wrong), and changing the passphrase later re-wraps 32 bytes
//! instead of re-encrypting every record.

use std::fmt;

use chacha20poly1305::aead::{Aead as _, KeyInit as _, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand_core::{OsRng, RngCore as _};
use zeroize::Zeroizing;

use crate::error::WalletError;

/// Salt length: RFC 9106 §3.1 recommends 128 bits for password hashing.
pub(crate) const SALT_BYTES: usize = 16;
/// XChaCha20-Poly1305 nonces are 192 bits, large enough to draw at random for every write
/// (draft-irtf-cfrg-xchacha §2), so no counter has to survive a crash.
pub(crate) const NONCE_BYTES: usize = 24;
const KEY_BYTES: usize = 32;

/// A passphrase the user typed. Zeroized on drop; `Debug` redacts it.
pub struct Passphrase(Zeroizing<String>);

impl Passphrase {
    pub fn new(text: impl Into<String>) -> Self {
        Self(Zeroizing::new(text.into()))
    }

    fn as_bytes(&self) -> &[u8] {
        self.0.as_bytes()
    }

    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Passphrase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Passphrase(redacted)")
    }
}

/// Argon2id cost parameters (RFC 9106 §3.1), recorded in the wallet file's header so a file
/// opens with the parameters it was created with, whatever the defaults are by then.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KdfParams {
    /// Memory in KiB (`m`).
    pub memory_kib: u32,
    /// Passes over the memory (`t`).
    pub iterations: u32,
    /// Lanes (`p`).
    pub parallelism: u32,
}

impl KdfParams {
    /// The parameters new wallets use: 64 MiB, 3 passes, 1 lane.
    ///
    /// RFC 9106 §4 recommends 64 MiB with t = 3 where memory is constrained; a phone app can
    /// spend 64 MiB for the moment of unlocking. One lane, because the pure-Rust `argon2` crate
    /// computes lanes one after the other: more lanes would cost the user time without costing an
    /// attacker with many cores more. Measured on the 2-core development machine (2026-12-01):
    /// 0.59 s per derivation in a release build (19 MiB/t=2, OWASP's floor: 63 ms; 128 MiB/t=3:
    /// 1.9 s), 0.7-1.3 s in the dev-profile bench (`benches/wallet.rs`). A mid-range phone is
    /// slower by perhaps two to three times: about 1-2 s, once per unlock, which is what buys
    /// the time a thief's guessing costs. Apps may pass other parameters to `Wallet::create`;
    /// the file records them.
    pub const PHONE: Self = Self {
        memory_kib: 64 * 1024,
        iterations: 3,
        parallelism: 1,
    };

    /// Cheap parameters for tests only: an attacker tries passphrases against them millions of
    /// times faster. Never use them for a real wallet.
    pub const INSECURE_FOR_TESTS: Self = Self {
        memory_kib: 64,
        iterations: 1,
        parallelism: 1,
    };

    /// The range a header may hold. A file with parameters outside it was not written by us:
    /// refusing it keeps a tampered header from making `open` allocate gigabytes or loop for
    /// hours before the passphrase is even checked.
    pub(crate) fn is_within_limits(&self) -> bool {
        (8..=4 * 1024 * 1024).contains(&self.memory_kib)
            && (1..=64).contains(&self.iterations)
            && (1..=16).contains(&self.parallelism)
            && self.memory_kib >= 8 * self.parallelism
    }

    fn argon2(&self) -> Result<argon2::Argon2<'static>, WalletError> {
        let params = argon2::Params::new(
            self.memory_kib,
            self.iterations,
            self.parallelism,
            Some(KEY_BYTES),
        )
        .map_err(|e| WalletError::InvalidKdfParams(e.to_string()))?;
        Ok(argon2::Argon2::new(
            argon2::Algorithm::Argon2id,
            argon2::Version::V0x13,
            params,
        ))
    }
}

impl Default for KdfParams {
    fn default() -> Self {
        Self::PHONE
    }
}

/// A 256-bit AEAD key (the passphrase-derived key or the data key). Zeroized on drop.
pub(crate) struct SecretKeyBytes(Zeroizing<[u8; KEY_BYTES]>);

impl fmt::Debug for SecretKeyBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretKeyBytes(redacted)")
    }
}

impl SecretKeyBytes {
    /// A fresh random key (the data key of a new wallet).
    pub(crate) fn random() -> Self {
        let mut key = Zeroizing::new([0u8; KEY_BYTES]);
        OsRng.fill_bytes(key.as_mut_slice());
        Self(key)
    }

    /// Argon2id(passphrase, salt) with `params`.
    pub(crate) fn derive(
        passphrase: &Passphrase,
        salt: &[u8],
        params: &KdfParams,
    ) -> Result<Self, WalletError> {
        if passphrase.is_empty() {
            return Err(WalletError::EmptyPassphrase);
        }
        let mut key = Zeroizing::new([0u8; KEY_BYTES]);
        params
            .argon2()?
            .hash_password_into(passphrase.as_bytes(), salt, key.as_mut_slice())
            .map_err(|e| WalletError::InvalidKdfParams(e.to_string()))?;
        Ok(Self(key))
    }

    /// AES-256-GCM under this key, for the backup's JWE (`enc` `A256GCM`, RFC 7518 §5.3).
    pub(crate) fn aes256_gcm(&self) -> aes_gcm::Aes256Gcm {
        use aes_gcm::KeyInit as _;
        aes_gcm::Aes256Gcm::new_from_slice(self.0.as_slice())
            .unwrap_or_else(|_| unreachable!("the key is 32 bytes"))
    }

    fn cipher(&self) -> XChaCha20Poly1305 {
        // The cipher keeps its own copy of the key and zeroizes it on drop.
        XChaCha20Poly1305::new_from_slice(self.0.as_slice())
            .unwrap_or_else(|_| unreachable!("the key is 32 bytes"))
    }

    /// Seals `plaintext` under a fresh random nonce; `aad` is authenticated, not stored.
    pub(crate) fn seal(&self, plaintext: &[u8], aad: &[u8]) -> Sealed {
        let mut nonce = [0u8; NONCE_BYTES];
        OsRng.fill_bytes(&mut nonce);
        let ciphertext = self
            .cipher()
            .encrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: plaintext,
                    aad,
                },
            )
            .unwrap_or_else(|_| unreachable!("XChaCha20-Poly1305 encrypts any message < 256 GiB"));
        Sealed { nonce, ciphertext }
    }

    /// Opens a sealed value; `None` when the tag does not verify (wrong key, or the nonce,
    /// ciphertext or associated data changed). The caller names which it was.
    pub(crate) fn open(
        &self,
        nonce: &[u8],
        ciphertext: &[u8],
        aad: &[u8],
    ) -> Option<Zeroizing<Vec<u8>>> {
        let nonce: [u8; NONCE_BYTES] = nonce.try_into().ok()?;
        self.cipher()
            .decrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: ciphertext,
                    aad,
                },
            )
            .ok()
            .map(Zeroizing::new)
    }

    /// Wraps `other` (the data key) under this key.
    pub(crate) fn wrap(&self, other: &SecretKeyBytes, aad: &[u8]) -> Sealed {
        self.seal(other.0.as_slice(), aad)
    }

    /// Unwraps a data key; `None` if the tag fails (for the key-check value: wrong passphrase).
    pub(crate) fn unwrap_key(&self, sealed: &Sealed, aad: &[u8]) -> Option<SecretKeyBytes> {
        let plain = self.open(&sealed.nonce, &sealed.ciphertext, aad)?;
        let bytes: [u8; KEY_BYTES] = plain.as_slice().try_into().ok()?;
        Some(Self(Zeroizing::new(bytes)))
    }
}

/// A nonce and the AEAD ciphertext (with its 16-byte tag), as stored.
#[derive(Clone)]
pub(crate) struct Sealed {
    pub(crate) nonce: [u8; NONCE_BYTES],
    pub(crate) ciphertext: Vec<u8>,
}

/// A fresh random salt for a new wallet.
pub(crate) fn random_salt() -> [u8; SALT_BYTES] {
    let mut salt = [0u8; SALT_BYTES];
    OsRng.fill_bytes(&mut salt);
    salt
}

/// A random identifier for a record: 128 bits, base64url, so ids reveal neither order nor count.
pub(crate) fn random_id() -> String {
    use base64::Engine as _;
    let mut bytes = [0u8; 16];
    OsRng.fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}
