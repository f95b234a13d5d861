//! Facts a verifying client proves from a registry's log before it prints or acts on them. The
//! registry's word is used only to find things (which entry, which version); every fact shown
//! comes from signed, logged data:
//!
//! - a signed entry (accreditation, revocation, schema, status list) is proven logged at its
//!   index, and its signature verifies under the signer's DID document *as the log had it
//!   then*: the signer's version whose operation was logged before the entry, with the next
//!   version (if any) logged after it ([`RegistryClient::prove_signed_at`]);
//! - an accreditation's subject, types, validity and right to accredit are read from what the
//!   accreditor signed, never from the served fields; a revocation is proven the same way;
//! - an authorization ("may X issue T at t?") is recomputed from the proven chain; the anchor at
//!   its end must be one the client pins.
//!
//! What inclusion proofs cannot show is said so: that no revocation was *withheld*, and the
//! registry's own timestamps (`recorded`, `revoked`), are marked as the registry's word.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;

use crate::client::{LogWatcher, RegistryClient};
use crate::did::Did;
use crate::error::Error;
use crate::log::Entry;
use crate::signed::SignedByDid;
use crate::trust::{AccreditationClaims, AccreditationView, Authorization, RevocationClaims};
use crate::wire::VersionSelector;

/// An accreditation proven from the log.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ProvenAccreditation {
    pub id: crate::ids::AccreditationId,
    /// Who signed it (the signature verified under their document at the time).
    pub accreditor: Did,
    /// What the accreditor signed.
    pub claims: AccreditationClaims,
    pub log_index: crate::ids::LogIndex,
    /// When the registry says it recorded it (its clock; not provable from the log).
    pub recorded_as_served: DateTime<Utc>,
    pub revocation: ProvenRevocation,
}

/// What is known about an accreditation's revocation.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase", tag = "status")]
pub enum ProvenRevocation {
    /// A revocation signed by the accreditor, proven logged at `log_index`; `at` is the
    /// registry's timestamp of it.
    Revoked {
        log_index: crate::ids::LogIndex,
        at: DateTime<Utc>,
    },
    /// The registry shows no revocation. A log proves what it holds, not what it lacks: only
    /// an audit of the whole log shows none was withheld.
    NoneServed,
}

/// An authorization recomputed by the client from a proven chain.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ProvenAuthorization {
    pub issuer: Did,
    pub credential_type: crate::ids::CredentialType,
    pub at: DateTime<Utc>,
    pub allowed: bool,
    /// Why not, when not allowed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub chain: Vec<ProvenAccreditation>,
}

impl RegistryClient {
    /// Proves that `jws` is logged as `entry` at `index` and verifies its signature under its
    /// signer's DID document as the log had it at `index`. `hint` (a time the registry gives,
    /// such as when it recorded the entry) only selects which version to try: the version must
    /// have been logged before the entry, and the one after it (if any) after the entry.
    pub async fn prove_signed_at(
        &self,
        entry: &Entry,
        jws: &str,
        index: crate::ids::LogIndex,
        hint: DateTime<Utc>,
        watcher: &LogWatcher,
    ) -> Result<SignedByDid, Error> {
        self.prove_entry(entry, index, watcher).await?;
        let (signer, _) = crate::signed::signer_of(jws)?;
        let document = match signer.method() {
            crate::ops::METHOD => {
                let then = self
                    .resolve_proven(&signer, &VersionSelector::Time(hint), watcher)
                    .await?;
                let logged_at = then.proof.inclusion.index;
                if logged_at >= index.get() {
                    return Err(Error::LogVerification(format!(
                        "the version of {signer} the registry points to was logged at {logged_at}, \
                         after the entry it should vouch for ({index})"
                    )));
                }
                if let Some(next) = &then.resolution.metadata.next_version_id {
                    let after = self
                        .resolve_proven(&signer, &VersionSelector::Id(next.clone()), watcher)
                        .await?;
                    if after.proof.inclusion.index < index.get() {
                        return Err(Error::LogVerification(format!(
                            "{signer} had already moved on (log index {}) when the entry was \
                             logged ({index}): the registry pointed to an outdated version",
                            after.proof.inclusion.index
                        )));
                    }
                }
                then.resolution.document
            }
            "key" => crate::resolver::key::document(&signer)?,
            "jwk" => crate::resolver::jwk::document(&signer)?,
            other => {
                return Err(Error::LogVerification(format!(
                    "a did:{other} signer's keys are not in the log, so its signature cannot be \
                     proven from it"
                )));
            }
        };
        crate::signed::verify_against(jws, &document, "assertionMethod").map_err(|e| {
            Error::LogVerification(format!(
                "the logged entry at {index} does not verify under {signer}'s document at the \
                 time: {e}"
            ))
        })
    }

    /// Proves an accreditation as served: logged, signed by its accreditor's key of the time,
    /// its id the hash of what was signed; its facts read from the signed claims; its
    /// revocation, if served, proven the same way.
    pub async fn prove_accreditation(
        &self,
        view: &AccreditationView,
        watcher: &LogWatcher,
    ) -> Result<ProvenAccreditation, Error> {
        if crate::trust::accreditation_id(&view.jws) != view.id {
            return Err(Error::LogVerification(format!(
                "accreditation {} is not the hash of its JWS",
                view.id
            )));
        }
        let signed = self
            .prove_signed_at(
                &view.log_entry(),
                &view.jws,
                view.log_index,
                view.recorded,
                watcher,
            )
            .await?;
        let claims: AccreditationClaims = serde_json::from_value(signed.payload).map_err(|e| {
            Error::LogVerification(format!("accreditation {}: signed claims: {e}", view.id))
        })?;
        let revocation = match (&view.revocation_jws, view.revoked_log_index, view.revoked) {
            (Some(jws), Some(index), Some(at)) => {
                let entry = Entry::AccreditationRevocation {
                    id: view.id.to_string(),
                    jws: jws.clone(),
                };
                let revoker = self
                    .prove_signed_at(&entry, jws, index, at, watcher)
                    .await?;
                let names = serde_json::from_value::<RevocationClaims>(revoker.payload)
                    .ok()
                    .filter(|claims| claims.kind == "AccreditationRevocation")
                    .map(|claims| claims.accreditation);
                if revoker.did != signed.did || names.as_deref() != Some(view.id.as_str()) {
                    return Err(Error::LogVerification(format!(
                        "the revocation of {} is not {}'s revocation of it",
                        view.id, signed.did
                    )));
                }
                ProvenRevocation::Revoked {
                    log_index: index,
                    at,
                }
            }
            (None, None, None) => ProvenRevocation::NoneServed,
            _ => {
                return Err(Error::LogVerification(format!(
                    "accreditation {}: the registry serves a revocation without its signed \
                     revocation",
                    view.id
                )));
            }
        };
        Ok(ProvenAccreditation {
            id: view.id.clone(),
            accreditor: signed.did,
            claims,
            log_index: view.log_index,
            recorded_as_served: view.recorded,
            revocation,
        })
    }

    /// Recomputes the registry's authorization answer from its chain, each link proven: the
    /// links connect (each subject is the previous link's accreditor, the first is the issuer),
    /// each covers the type at `at` and is not revoked by then, every link above the first
    /// allows accrediting, and the last accreditor is one of `anchors` (the client's own pins).
    /// A registry that says "no" is not second-guessed: a refusal needs no proof to be safe.
    pub async fn prove_authorization(
        &self,
        answer: &Authorization,
        anchors: &[Did],
        watcher: &LogWatcher,
    ) -> Result<ProvenAuthorization, Error> {
        let mut chain = Vec::with_capacity(answer.chain.len());
        for link in &answer.chain {
            chain.push(self.prove_accreditation(link, watcher).await?);
        }
        let verdict = if answer.allowed {
            check_chain(
                &answer.issuer,
                &answer.credential_type,
                answer.at,
                &chain,
                anchors,
            )
        } else {
            Err(answer
                .reason
                .clone()
                .unwrap_or_else(|| "the registry says not allowed".into()))
        };
        Ok(ProvenAuthorization {
            issuer: answer.issuer.clone(),
            credential_type: answer.credential_type.clone(),
            at: answer.at,
            allowed: verdict.is_ok(),
            reason: verdict.err(),
            chain,
        })
    }
}

/// The authorization rule of `trust.rs`, applied to proven links. Pure.
pub fn check_chain(
    issuer: &Did,
    credential_type: &str,
    at: DateTime<Utc>,
    chain: &[ProvenAccreditation],
    anchors: &[Did],
) -> Result<(), String> {
    let mut subject = issuer;
    for (position, link) in chain.iter().enumerate() {
        let claims = &link.claims;
        if claims.subject != *subject {
            return Err(format!(
                "link {position} accredits {}, not {subject}",
                claims.subject
            ));
        }
        if !claims.credential_types.iter().any(|t| t == credential_type) {
            return Err(format!("link {position} does not cover {credential_type}"));
        }
        let takes_effect = claims.valid_from.max(link.recorded_as_served);
        if at < takes_effect || at > claims.valid_until {
            return Err(format!(
                "link {position} is in effect from {takes_effect} to {}, not at {at}",
                claims.valid_until
            ));
        }
        if let ProvenRevocation::Revoked { at: revoked, .. } = link.revocation {
            if revoked <= at {
                return Err(format!("link {position} was revoked at {revoked}"));
            }
        }
        if position > 0 && !claims.may_accredit {
            return Err(format!(
                "link {position} does not allow {subject}'s accreditor to accredit"
            ));
        }
        subject = &link.accreditor;
    }
    if chain.is_empty() {
        return Err("the chain is empty".into());
    }
    if !anchors.contains(subject) {
        return Err(format!(
            "the chain ends at {subject}, which is not one of the trust anchors given"
        ));
    }
    Ok(())
}

/// A schema proven from the log: published by its signer at its index, its content the signed
/// submission's, its id that content's hash.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ProvenSchema {
    pub id: crate::ids::SchemaId,
    pub vct: crate::ids::CredentialType,
    pub publisher: Did,
    pub log_index: crate::ids::LogIndex,
    /// The signed submission: `schema` and `typeMetadata`.
    pub content: Value,
}

impl RegistryClient {
    /// Proves a schema as served (`GET /schemas/{id}`).
    pub async fn prove_schema(
        &self,
        served: &crate::schemas::PublishedSchema,
        watcher: &LogWatcher,
    ) -> Result<ProvenSchema, Error> {
        let hint = DateTime::parse_from_rfc3339(&served.created)
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_else(|_| Utc::now());
        let signed = self
            .prove_signed_at(
                &served.log_entry(),
                &served.jws,
                served.log_index,
                hint,
                watcher,
            )
            .await?;
        let (id, vct, content) = crate::schemas::check_submission(signed.payload)
            .map_err(|e| Error::LogVerification(format!("schema {}: {e}", served.id)))?;
        if id != served.id || vct != served.vct || signed.did != served.publisher {
            return Err(Error::LogVerification(format!(
                "schema {}: the signed content is {id} ({vct}) by {}",
                served.id, signed.did
            )));
        }
        Ok(ProvenSchema {
            id,
            vct,
            publisher: signed.did,
            log_index: served.log_index,
            content: serde_json::from_str(&content).map_err(|e| Error::Internal(e.to_string()))?,
        })
    }
}

impl RegistryClient {
    /// Proves a status list version fetched from anywhere (`jws`, with the log index the
    /// registry names for it): logged as that list at `index`, signed by its issuer's key of the
    /// time. Returns the list's claims, read from the verified JWS.
    pub async fn prove_status_list(
        &self,
        jws: &str,
        index: crate::ids::LogIndex,
        watcher: &LogWatcher,
    ) -> Result<crate::status::ListClaims, Error> {
        let jws = jws.trim();
        let part = |n: usize| -> Result<Value, Error> {
            let text = jws.split('.').nth(n).unwrap_or_default();
            let bytes = crate::keys::decode_b64url(text)
                .map_err(|e| Error::BadSignature(format!("status list JWS: {e}")))?;
            Ok(crate::json::parse_strict(&bytes)?)
        };
        // Read unverified only to name the entry to prove; believed after the signature checks.
        let unverified = crate::status::parse_claims(&part(0)?, &part(1)?)?;
        let entry = unverified.log_entry(jws);
        let signed = self
            .prove_signed_at(&entry, jws, index, unverified.issued, watcher)
            .await?;
        let claims = crate::status::parse_claims(&signed.header, &signed.payload)?;
        if claims.issuer != signed.did {
            return Err(Error::LogVerification(format!(
                "the list names issuer {} but is signed by {}",
                claims.issuer, signed.did
            )));
        }
        Ok(claims)
    }
}
