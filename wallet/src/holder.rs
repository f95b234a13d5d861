//! Holder keys and credential copies: a fresh key for every credential copy, and the choice of
//! which copy to show to which relying party.
//!
//! Unlinkability (issue 13, DESIGN.md "The issuer": batch issuance): an issuer can give the
//! wallet several copies of one credential, each bound to its own holder key (`cnf`,
//! RFC 7800 §3.2) and each with its own salts and signature. Two verifiers that see different
//! copies cannot join their records on a key, a signature or a digest. The wallet therefore
//! shows each relying party one copy, the same one every time (it already knows that copy), and
//! a copy no other relying party has seen while one is left. Every use is recorded (sealed, like
//! everything else), so the choice survives restarts.
//!
//! Private keys are stored as private JWKs in sealed records and held in memory as
//! `credence_registry::keys::SecretKey`, which redacts its `Debug` and zeroizes on drop.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use chrono::{DateTime, Utc};
use credence_registry::keys::{KeyType, PublicKey, SecretKey};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::credentials::CredentialId;
use crate::crypto::random_id;
use crate::error::WalletError;
use crate::present::ClientId;
use crate::store::{RecordKind, Wallet};

/// The id of a holder key in this wallet (random; says nothing about the key).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct HolderKeyId(String);

impl HolderKeyId {
    pub(crate) fn new_random() -> Self {
        Self(random_id())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for HolderKeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for HolderKeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "HolderKeyId({})", self.0)
    }
}

/// The public half of a holder key: what the wallet sends an issuer to bind a copy to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HolderKey {
    pub id: HolderKeyId,
    pub public: PublicKey,
}

impl HolderKey {
    /// The `cnf` claim value an issuer binds the credential to (RFC 7800 §3.2).
    pub fn cnf(&self) -> Value {
        json!({ "jwk": self.public.to_jwk() })
    }
}

/// One copy of a credential type and the relying parties it has been shown to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Copy {
    pub credential: CredentialId,
    pub holder_key: HolderKeyId,
    pub shown_to: BTreeSet<ClientId>,
}

/// Which copy to show a relying party, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopyChoice {
    pub credential: CredentialId,
    pub reason: CopyReason,
}

/// Why a copy was chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CopyReason {
    /// This relying party has seen this copy before: showing it again links nothing new.
    ShownBefore,
    /// No relying party has seen this copy.
    Unused,
    /// Every copy has been shown to someone else: this one (the least shown) will link this
    /// relying party with the others that saw it. An app should ask the issuer for more copies.
    Reused,
}

/// A sealed copy-use record: this copy was shown to this relying party at this time.
#[derive(Serialize, Deserialize)]
struct CopyUse {
    credential: CredentialId,
    client_id: ClientId,
    at: i64,
}

impl Wallet {
    /// Generates a holder key and stores it, for one credential copy.
    pub fn new_holder_key(&mut self, key_type: KeyType) -> Result<HolderKey, WalletError> {
        let mut keys = self.new_holder_keys(key_type, 1)?;
        Ok(keys.remove(0))
    }

    /// Generates `count` holder keys in one transaction, for a batch of copies (one key each).
    pub fn new_holder_keys(
        &mut self,
        key_type: KeyType,
        count: usize,
    ) -> Result<Vec<HolderKey>, WalletError> {
        self.write(|writer| {
            (0..count)
                .map(|_| {
                    let secret = SecretKey::generate(key_type);
                    let id = HolderKeyId(random_id());
                    writer.insert(
                        RecordKind::HolderKey,
                        id.as_str(),
                        secret.to_private_jwk().as_bytes(),
                    )?;
                    Ok(HolderKey {
                        id,
                        public: secret.public(),
                    })
                })
                .collect()
        })
    }

    /// Stores an existing private key as a holder key (restoring a backup, or a key made
    /// outside the wallet). Like a generated key, it may bind one credential copy.
    pub fn import_holder_key(&mut self, secret: &SecretKey) -> Result<HolderKey, WalletError> {
        let id = HolderKeyId(random_id());
        self.write(|writer| {
            writer.insert(
                RecordKind::HolderKey,
                id.as_str(),
                secret.to_private_jwk().as_bytes(),
            )
        })?;
        Ok(HolderKey {
            id,
            public: secret.public(),
        })
    }

    /// The public half of a stored holder key.
    pub fn holder_key(&self, id: &HolderKeyId) -> Result<HolderKey, WalletError> {
        Ok(HolderKey {
            id: id.clone(),
            public: self.holder_secret(id)?.public(),
        })
    }

    /// The private key, for signing a key-binding JWT. Never leaves the crate.
    pub(crate) fn holder_secret(&self, id: &HolderKeyId) -> Result<SecretKey, WalletError> {
        let plain = self
            .read(RecordKind::HolderKey, id.as_str())?
            .ok_or_else(|| WalletError::UnknownHolderKey(id.clone()))?;
        let text = std::str::from_utf8(&plain).map_err(|_| corrupt("not UTF-8"))?;
        SecretKey::from_private_jwk(text).map_err(|e| corrupt(&e.to_string()))
    }

    /// Every copy of credential type `vct` the wallet holds, with whom each was shown to.
    pub fn copies_for(&self, vct: &str) -> Result<Vec<Copy>, WalletError> {
        let mut shown: BTreeMap<CredentialId, BTreeSet<ClientId>> = BTreeMap::new();
        for (_, plain) in self.read_all(RecordKind::CopyUse)? {
            let record: CopyUse =
                serde_json::from_slice(&plain).map_err(|e| WalletError::CorruptRecord {
                    kind: RecordKind::CopyUse.name(),
                    reason: e.to_string(),
                })?;
            shown
                .entry(record.credential)
                .or_default()
                .insert(record.client_id);
        }
        Ok(self
            .credentials()?
            .into_iter()
            .filter(|credential| credential.vct() == Some(vct))
            .map(|credential| Copy {
                shown_to: shown.remove(credential.id()).unwrap_or_default(),
                holder_key: credential.holder_key().clone(),
                credential: credential.id().clone(),
            })
            .collect())
    }

    /// Chooses the copy of `vct` to show `client_id`: the one it saw before, else one nobody
    /// saw, else the least shown (and says so).
    pub fn pick_copy(&self, vct: &str, client_id: &ClientId) -> Result<CopyChoice, WalletError> {
        let copies = self.copies_for(vct)?;
        if let Some(copy) = copies.iter().find(|copy| copy.shown_to.contains(client_id)) {
            return Ok(CopyChoice {
                credential: copy.credential.clone(),
                reason: CopyReason::ShownBefore,
            });
        }
        let least_shown = copies
            .iter()
            .min_by_key(|copy| copy.shown_to.len())
            .ok_or_else(|| WalletError::NothingMatches(vct.to_owned()))?;
        Ok(CopyChoice {
            credential: least_shown.credential.clone(),
            reason: if least_shown.shown_to.is_empty() {
                CopyReason::Unused
            } else {
                CopyReason::Reused
            },
        })
    }

    /// Records that `credential` was shown to `client_id` (inside the presentation's
    /// transaction, with its history entry).
    pub(crate) fn record_copy_use(
        writer: &mut crate::store::Writer<'_>,
        credential: &CredentialId,
        client_id: &ClientId,
        at: DateTime<Utc>,
    ) -> Result<(), WalletError> {
        let record = CopyUse {
            credential: credential.clone(),
            client_id: client_id.clone(),
            at: at.timestamp(),
        };
        let bytes = serde_json::to_vec(&record).map_err(|e| corrupt(&e.to_string()))?;
        writer.insert(RecordKind::CopyUse, &random_id(), &bytes)
    }
}

fn corrupt(reason: &str) -> WalletError {
    WalletError::CorruptRecord {
        kind: RecordKind::HolderKey.name(),
        reason: reason.to_owned(),
    }
}
