//! The history of disclosures, and the wallet's present step that writes it.
//!
//! Every presentation the wallet builds is recorded before it is handed out to be sent, in the
//! same transaction as the copy-use record (`holder.rs`): when, to whom, which claims of which
//! credential. The verifier's answer is added when it comes ([`Wallet::record_answer`]); until
//! then the entry says [`VerifierAnswer::Pending`], so a crash between sending and answering
//! leaves an honest record. Entries are sealed records like everything else.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::credentials::{ClaimPath, CredentialId};
use crate::crypto::random_id;
use crate::error::WalletError;
use crate::present::{self, ClientId, ConsentView, Presentation, PresentationRequest};
use crate::store::{RecordKind, Wallet};

/// The id of a history entry.
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct HistoryId(String);

impl HistoryId {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for HistoryId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for HistoryId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "HistoryId({})", self.0)
    }
}

/// What the verifier said about a presentation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "answer", rename_all = "snake_case")]
pub enum VerifierAnswer {
    /// Built and handed out; no answer recorded yet.
    Pending,
    Accepted,
    Rejected {
        reason: String,
    },
    /// It could not be delivered (the claims may still have left the device).
    NotDelivered {
        reason: String,
    },
}

/// One disclosure.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryEntry {
    #[serde(skip, default = "placeholder_id")]
    pub id: HistoryId,
    // Milliseconds: presentations a moment apart (a retry, a script) keep their order.
    #[serde(with = "chrono::serde::ts_milliseconds")]
    pub at: DateTime<Utc>,
    pub client_id: ClientId,
    pub verifier_name: Option<String>,
    pub credential: CredentialId,
    pub vct: Option<String>,
    /// The claims chosen, as consented.
    pub claims: Vec<ClaimPath>,
    /// Every claim the verifier could see (chosen, their parents, and the always disclosed).
    pub disclosed: Vec<ClaimPath>,
    pub answer: VerifierAnswer,
}

fn placeholder_id() -> HistoryId {
    HistoryId(String::new())
}

impl Wallet {
    /// The consent view for `request`: picks the copy of the requested type to show this
    /// verifier (`pick_copy`) and lists what would be disclosed.
    pub fn prepare_presentation(
        &self,
        request: PresentationRequest,
    ) -> Result<ConsentView, WalletError> {
        let choice = self.pick_copy(&request.vct, &request.verifier.client_id)?;
        let credential = self.credential(&choice.credential)?;
        Ok(ConsentView::new(request, &credential)?)
    }

    /// Builds the presentation the user consented to and records it (history entry and copy
    /// use, one transaction) before returning it.
    pub fn present(
        &mut self,
        consent: &present::Consent<'_>,
        now: DateTime<Utc>,
    ) -> Result<(Presentation, HistoryId), WalletError> {
        let view = consent.view();
        let credential = self.credential(view.credential())?;
        let key = self.holder_secret(credential.holder_key())?;
        let presentation = present::build(&credential, &key, consent, now)?;
        let entry = HistoryEntry {
            id: placeholder_id(),
            at: now,
            client_id: view.verifier().client_id.clone(),
            verifier_name: view.verifier().display_name.clone(),
            credential: credential.id().clone(),
            vct: credential.vct().map(str::to_owned),
            claims: presentation.chosen().to_vec(),
            disclosed: consent.disclosed(&credential),
            answer: VerifierAnswer::Pending,
        };
        let id = HistoryId(random_id());
        let bytes = encode(&entry)?;
        self.write(|writer| {
            writer.insert(RecordKind::History, id.as_str(), &bytes)?;
            Wallet::record_copy_use(writer, credential.id(), &view.verifier().client_id, now)
        })?;
        Ok((presentation, id))
    }

    /// Records the verifier's answer to a presentation.
    pub fn record_answer(
        &mut self,
        id: &HistoryId,
        answer: VerifierAnswer,
    ) -> Result<(), WalletError> {
        let plain = self
            .read(RecordKind::History, id.as_str())?
            .ok_or_else(|| WalletError::UnknownHistoryEntry(id.to_string()))?;
        let mut entry = decode(&plain)?;
        entry.answer = answer;
        let bytes = encode(&entry)?;
        self.write(|writer| writer.update(RecordKind::History, id.as_str(), &bytes))?;
        Ok(())
    }

    /// Every disclosure, oldest first.
    pub fn history(&self) -> Result<Vec<HistoryEntry>, WalletError> {
        let mut entries = self
            .read_all(RecordKind::History)?
            .into_iter()
            .map(|(id, plain)| {
                let mut entry = decode(&plain)?;
                entry.id = HistoryId(id);
                Ok(entry)
            })
            .collect::<Result<Vec<_>, WalletError>>()?;
        entries.sort_by_key(|entry| entry.at);
        Ok(entries)
    }
}

fn encode(entry: &HistoryEntry) -> Result<zeroize::Zeroizing<Vec<u8>>, WalletError> {
    serde_json::to_vec(entry)
        .map(zeroize::Zeroizing::new)
        .map_err(|e| corrupt(e.to_string()))
}

fn decode(plain: &[u8]) -> Result<HistoryEntry, WalletError> {
    serde_json::from_slice(plain).map_err(|e| corrupt(e.to_string()))
}

fn corrupt(reason: String) -> WalletError {
    WalletError::CorruptRecord {
        kind: RecordKind::History.name(),
        reason,
    }
}
