//! The log's signed entries replayed as a timeline, for auditors: each signed entry (a schema,
//! an accreditation, its revocation, a status list version) must verify under its signer's DID
//! document *as the log defined it at that point* (the signer's `did:credence` operations logged
//! before the entry, `signed::verify_against`), and must agree with itself: content ids
//! recomputed, the revocation signed by the accreditation's own accreditor, a status list's
//! issuer, key and URI those its signed payload names.
//!
//! The DID chains themselves are re-validated by the audit (`ops::replay`), so the states here
//! are folded without checking signatures again (`ops::fold_trusted`): an invalid chain is a
//! finding of its own.
//!
//! Given the registry's trust anchors (configuration, not log content: the auditor names them),
//! it also checks authorization as the log stood: an accreditation's accreditor is an anchor or
//! held, logged before it and not revoked by then, an accreditation allowing it to accredit
//! every type listed, over a window containing the new one; a schema's publisher is an anchor or
//! held one for its `vct`; a status list's issuer is an anchor or held one for any type. (When
//! each accreditation took effect, the registry's clock, is not in the log: the log order is.)
//!
//! Pure: no IO, no clock. `audit.rs` feeds it the mirrored entries. did:web signers cannot be
//! checked (their documents are not in the log); such entries are counted as not checked.

use std::collections::BTreeMap;

use crate::did::Did;
use crate::log::Entry;
use crate::ops::{self, DidState, SignedOperation};
use crate::trust::AccreditationClaims;

/// What the replay found: (finding, location) pairs, and how many signed entries it could not
/// check (signer outside the log).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Replay {
    pub findings: Vec<(String, String)>,
    pub unchecked: u64,
}

/// Each DID's logged operations: (log index, position, operation), in log order.
pub type Chains = BTreeMap<Did, Vec<(u64, u64, SignedOperation)>>;

/// Replays the signed entries `signed` (log index, decoded entry; every kind but DID
/// operations), in log order, against the DID `chains` of the same log.
pub fn replay(chains: &Chains, signed: &[(u64, Entry)], anchors: Option<&[Did]>) -> Replay {
    let mut timeline = Timeline {
        chains,
        anchors,
        accreditations: BTreeMap::new(),
        outcome: Replay::default(),
    };
    for (index, entry) in signed {
        timeline.step(*index, entry);
    }
    timeline.outcome
}

struct Timeline<'a> {
    chains: &'a Chains,
    /// The trust anchors to check authorization against; `None`: not checked.
    anchors: Option<&'a [Did]>,
    /// Each accreditation's accreditor, its claims, and whether it was revoked.
    accreditations: BTreeMap<String, (Did, AccreditationClaims, bool)>,
    outcome: Replay,
}

impl Timeline<'_> {
    fn found(&mut self, index: u64, what: String) {
        self.outcome
            .findings
            .push((what, format!("log index {index}")));
    }

    fn step(&mut self, index: u64, entry: &Entry) {
        match entry {
            // Chains are the audit's to check; the timeline reads them.
            Entry::DidOperation { .. } => {}
            Entry::Schema {
                id,
                vct,
                publisher,
                jws,
            } => {
                let Some(signed) = self.verify(index, jws, "schema") else {
                    return;
                };
                if signed.did != *publisher {
                    self.found(
                        index,
                        format!(
                            "schema {id}: logged as published by {publisher}, signed by {}",
                            signed.did
                        ),
                    );
                }
                if let Err(why) = self.authorized(
                    &signed.did,
                    |types| types.iter().any(|t| t == vct),
                    false,
                    None,
                ) {
                    self.found(
                        index,
                        format!("schema {id} ({vct}) by {}: {why}", signed.did),
                    );
                }
                match crate::schemas::check_submission(signed.payload) {
                    Ok((computed_id, computed_vct, _)) => {
                        if computed_id != *id || computed_vct != *vct {
                            self.found(
                                index,
                                format!(
                                    "schema {id} ({vct}): its signed content has id {computed_id} \
                                     and vct {computed_vct}"
                                ),
                            );
                        }
                    }
                    Err(error) => self.found(
                        index,
                        format!("schema {id}: the signed submission: {error}"),
                    ),
                }
            }
            Entry::Accreditation { id, jws } => {
                let computed = crate::trust::accreditation_id(jws);
                if computed != *id {
                    self.found(
                        index,
                        format!("accreditation {id}: its JWS hashes to {computed}"),
                    );
                }
                let Some(signed) = self.verify(index, jws, "accreditation") else {
                    return;
                };
                match serde_json::from_value::<crate::trust::AccreditationClaims>(signed.payload) {
                    Ok(claims) if claims.subject == signed.did => self.found(
                        index,
                        format!("accreditation {id}: {} accredits itself", signed.did),
                    ),
                    Ok(claims) => {
                        let wanted = claims.credential_types.clone();
                        if let Err(why) = self.authorized(
                            &signed.did,
                            |types| wanted.iter().all(|t| types.contains(t)),
                            true,
                            Some((claims.valid_from, claims.valid_until)),
                        ) {
                            self.found(
                                index,
                                format!("accreditation {id} by {}: {why}", signed.did),
                            );
                        }
                        self.accreditations
                            .insert(id.clone(), (signed.did.clone(), claims, false));
                    }
                    Err(error) => self.found(
                        index,
                        format!("accreditation {id}: the signed claims: {error}"),
                    ),
                }
            }
            Entry::AccreditationRevocation { id, jws } => {
                let Some(signed) = self.verify(index, jws, "revocation") else {
                    return;
                };
                let names =
                    serde_json::from_value::<crate::trust::RevocationClaims>(signed.payload)
                        .ok()
                        .filter(|claims| claims.kind == "AccreditationRevocation")
                        .map(|claims| claims.accreditation);
                if names.as_deref() != Some(id.as_str()) {
                    self.found(
                        index,
                        format!("revocation of {id}: the signed revocation names {names:?}"),
                    );
                }
                match self.accreditations.get_mut(id) {
                    None => self.found(
                        index,
                        format!("revocation of {id}: no such accreditation earlier in the log"),
                    ),
                    Some((_, _, true)) => {
                        self.found(index, format!("revocation of {id}: revoked twice"))
                    }
                    Some((accreditor, _, revoked)) => {
                        if *accreditor == signed.did {
                            *revoked = true;
                        } else {
                            let accreditor = accreditor.clone();
                            self.found(
                                index,
                                format!(
                                    "revocation of {id}: signed by {}, but {accreditor} made \
                                     the accreditation",
                                    signed.did
                                ),
                            );
                        }
                    }
                }
            }
            Entry::StatusList {
                key,
                uri,
                issuer,
                jws,
            } => {
                let Some(signed) = self.verify(index, jws, "status list") else {
                    return;
                };
                if let Err(why) = self.authorized(&signed.did, |_| true, false, None) {
                    self.found(index, format!("status list {key} by {}: {why}", signed.did));
                }
                match crate::status::parse_claims(&signed.header, &signed.payload) {
                    Ok(claims) => {
                        if claims.issuer != signed.did || claims.issuer != *issuer {
                            self.found(
                                index,
                                format!(
                                    "status list {key}: logged for {issuer}, names {}, signed \
                                     by {}",
                                    claims.issuer, signed.did
                                ),
                            );
                        }
                        if claims.uri != *uri || crate::status::list_key(uri) != *key {
                            self.found(
                                index,
                                format!(
                                    "status list {key}: logged at {uri}, its signed URI is {}",
                                    claims.uri
                                ),
                            );
                        }
                    }
                    Err(error) => self.found(
                        index,
                        format!("status list {key}: the signed list: {error}"),
                    ),
                }
            }
        }
    }

    /// Whether `did` may do what an entry does, as the log stands at this point: it is an anchor,
    /// or holds an unrevoked accreditation logged earlier whose types satisfy `covers` (with the
    /// right to accredit if `to_accredit`, over a window containing `window` if given). `Ok`
    /// when no anchors were given (nothing to check against).
    fn authorized(
        &self,
        did: &Did,
        covers: impl Fn(&[crate::ids::CredentialType]) -> bool,
        to_accredit: bool,
        window: Option<(chrono::DateTime<chrono::Utc>, chrono::DateTime<chrono::Utc>)>,
    ) -> Result<(), String> {
        let Some(anchors) = self.anchors else {
            return Ok(());
        };
        if anchors.contains(did) {
            return Ok(());
        }
        let held = self.accreditations.values().any(|(_, claims, revoked)| {
            !revoked
                && claims.subject == *did
                && covers(&claims.credential_types)
                && (!to_accredit || claims.may_accredit)
                && window.is_none_or(|(from, until)| {
                    claims.valid_from <= from && until <= claims.valid_until
                })
        });
        if held {
            Ok(())
        } else {
            Err(format!(
                "neither a trust anchor nor holding, at that point of the log, an unrevoked \
                 accreditation that allows it{}",
                if to_accredit {
                    " to accredit these types"
                } else {
                    ""
                }
            ))
        }
    }

    /// `did`'s state as the operations logged before `index` define it.
    fn state_before(&self, did: &Did, index: u64) -> Option<DidState> {
        let chain = self.chains.get(did)?;
        let before: Vec<SignedOperation> = chain
            .iter()
            .take_while(|(logged_at, _, _)| *logged_at < index)
            .map(|(_, _, operation)| operation.clone())
            .collect();
        ops::fold_trusted(did, &before)
    }

    /// Verifies a signed entry against its signer's document as of this point of the log;
    /// `None` (with a finding, or counted as unchecked) if it cannot be believed.
    fn verify(&mut self, index: u64, jws: &str, what: &str) -> Option<crate::signed::SignedByDid> {
        let (did, _) = match crate::signed::signer_of(jws) {
            Ok(signer) => signer,
            Err(error) => {
                self.found(index, format!("{what}: {error}"));
                return None;
            }
        };
        let document = match did.method() {
            ops::METHOD => match self.state_before(&did, index) {
                Some(state) if state.deactivated => {
                    self.found(
                        index,
                        format!("{what} signed by {did}, deactivated earlier in the log"),
                    );
                    return None;
                }
                Some(state) => ops::document(&state),
                None => {
                    self.found(
                        index,
                        format!("{what} signed by {did}, which the log does not hold yet"),
                    );
                    return None;
                }
            },
            "key" => crate::resolver::key::document(&did).ok()?,
            "jwk" => crate::resolver::jwk::document(&did).ok()?,
            _ => {
                self.outcome.unchecked += 1;
                return None;
            }
        };
        match crate::signed::verify_against(jws, &document, "assertionMethod") {
            Ok(signed) => Some(signed),
            Err(error) => {
                self.found(
                    index,
                    format!(
                        "{what} does not verify under {did}'s document at that point of the \
                         log: {error}"
                    ),
                );
                None
            }
        }
    }
}
