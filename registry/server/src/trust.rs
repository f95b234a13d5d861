//! The trust registry: accreditation chains in the manner of EBSI's Trusted Issuers Registry.
//!
//! An accreditation says "DID `subject` may issue credential types T1, T2 (and, if
//! `mayAccredit`, accredit others for them) from `validFrom` until `validUntil`". It is a
//! compact JWS by the accreditor's DID (`assertionMethod`). The registry accepts it only if the
//! accreditor is a configured trust anchor, or holds an accreditation that lets it accredit
//! every listed type for the whole window, itself chained to an anchor. Accreditations and
//! their revocations are log entries. They never contain personal data: subjects are
//! organisations' DIDs.
//!
//! An accreditation takes effect when the registry records it, or at `validFrom` if that is
//! later: an answer about time t never depends on anything recorded after t. So an accreditor
//! whose own accreditation was revoked cannot backdate a new one into the time it was still
//! trusted, and a verifier asking about a past date gets the answer the registry gave then.
//!
//! The query "was X allowed to issue T at time t?" walks the chain back to an anchor and
//! returns it with the log indexes that prove each link. No HTTP and no SQL here.

use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::cache::{FreshCache, SHARED_STORE_STALENESS};
use credence_registry::did::Did;
use credence_registry::error::Error;
use credence_registry::resolver::Resolver;
use credence_registry::trust::{
    MAX_ACCREDITATION_JWS_BYTES, MAX_CHAIN, accreditation_id, check_claims,
};
use credence_registry::wire::{
    AccreditationClaims, AccreditationView, Authorization, RevocationClaims,
};

use crate::store::{DidStore, NewAccreditation, Revocation, StoreError, StoredAccreditation};

/// The trust registry service.
#[derive(Clone)]
pub struct TrustRegistry {
    store: Arc<dyn DidStore>,
    resolver: Arc<Resolver>,
    anchors: Arc<Vec<Did>>,
    /// Each DID's accreditations, for chain walks: invalidated when this process records or
    /// revokes one, at most `cache::SHARED_STORE_STALENESS` old otherwise.
    by_subject: Arc<FreshCache<Did, Vec<AccreditationView>>>,
    clock: credence_registry::clock::Clock,
}

/// Subjects whose accreditations are kept in memory.
const CACHED_SUBJECTS: usize = 16_384;

impl std::fmt::Debug for TrustRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TrustRegistry")
            .field("anchors", &self.anchors)
            .finish_non_exhaustive()
    }
}

impl TrustRegistry {
    pub fn new(store: Arc<dyn DidStore>, resolver: Arc<Resolver>, anchors: Vec<Did>) -> Self {
        Self {
            store,
            resolver,
            anchors: Arc::new(anchors),
            by_subject: Arc::new(FreshCache::new(
                CACHED_SUBJECTS,
                Some(SHARED_STORE_STALENESS),
            )),
            clock: credence_registry::clock::Clock::system(),
        }
    }

    /// The same registry reading the time from `clock`.
    pub fn with_clock(mut self, clock: credence_registry::clock::Clock) -> Self {
        self.clock = clock;
        self
    }

    /// Now, by this registry's clock (the default time of an authorization query).
    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// Whether `did` is a configured root of trust.
    pub fn is_anchor(&self, did: &Did) -> bool {
        self.anchors.contains(did)
    }

    /// Accepts a signed accreditation after checking the accreditor's chain.
    pub async fn accredit(&self, jws: &str) -> Result<AccreditationView, Error> {
        credence_registry::error::check_size(
            "accreditation",
            jws.trim(),
            MAX_ACCREDITATION_JWS_BYTES,
        )?;
        let signed =
            credence_registry::signed::verify(&self.resolver, jws, "assertionMethod").await?;
        let claims: AccreditationClaims = serde_json::from_value(signed.payload)
            .map_err(|e| Error::InvalidAccreditation(format!("accreditation: {e}")))?;
        check_claims(&claims, self.clock.now())?;
        if claims.subject == signed.did {
            return Err(Error::InvalidAccreditation(
                "a DID cannot accredit itself".into(),
            ));
        }
        // The subject must be a DID that exists now: an accreditation of a DID nobody controls
        // would be logged for ever and could later be claimed by no one, or by a squatter.
        match self
            .resolver
            .resolve(
                &claims.subject,
                &credence_registry::wire::VersionSelector::Latest,
            )
            .await
        {
            Ok(resolution) if resolution.metadata.deactivated => {
                return Err(Error::InvalidAccreditation(format!(
                    "the subject {} is deactivated",
                    claims.subject
                )));
            }
            Ok(_) => {}
            Err(Error::NotFound(_) | Error::VersionNotFound(_)) => {
                return Err(Error::InvalidAccreditation(format!(
                    "the subject {} is not a registered DID",
                    claims.subject
                )));
            }
            Err(other) => return Err(other),
        }
        if !self.is_anchor(&signed.did) {
            // Every listed type must be within a chain that lets the accreditor accredit it
            // when the new accreditation takes effect (now, or validFrom if later), and that
            // chain's first link must cover the whole new window.
            let takes_effect = claims.valid_from.max(self.clock.now());
            for credential_type in &claims.credential_types {
                let chain = self
                    .chain(&signed.did, credential_type, takes_effect, true, true)
                    .await?
                    .map_err(|reason| {
                        Error::Forbidden(format!(
                            "{} may not accredit {credential_type}: {reason}",
                            signed.did
                        ))
                    })?;
                let first = &chain[0];
                if claims.valid_from < first.valid_from || claims.valid_until > first.valid_until {
                    return Err(Error::Forbidden(format!(
                        "the accreditation's window lies outside the accreditor's ({} to {})",
                        first.valid_from, first.valid_until
                    )));
                }
            }
        }
        let id = accreditation_id(jws);
        let entry = credence_registry::log::Entry::Accreditation {
            id: id.to_string(),
            jws: jws.trim().to_owned(),
        }
        .to_log_bytes()?;
        let record = NewAccreditation {
            id: &id,
            subject: &claims.subject,
            accreditor: &signed.did,
            types: &claims.credential_types,
            may_accredit: claims.may_accredit,
            valid_from: claims.valid_from,
            valid_until: claims.valid_until,
            jws: jws.trim(),
            now: self.clock.now(),
            log_entry: &entry,
        };
        match self.store.accredit(record).await {
            Ok(_) | Err(StoreError::AlreadyExists) => {}
            Err(other) => return Err(other.into()),
        }
        self.by_subject.invalidate(&claims.subject);
        tracing::info!(%id, subject = %claims.subject, accreditor = %signed.did, "accreditation recorded");
        self.get(&id).await
    }

    /// Revokes an accreditation; only its accreditor may.
    pub async fn revoke(&self, id: &str, jws: &str) -> Result<AccreditationView, Error> {
        credence_registry::error::check_size(
            "revocation",
            jws.trim(),
            MAX_ACCREDITATION_JWS_BYTES,
        )?;
        let signed =
            credence_registry::signed::verify(&self.resolver, jws, "assertionMethod").await?;
        let claims: RevocationClaims = serde_json::from_value(signed.payload)
            .map_err(|e| Error::InvalidAccreditation(format!("revocation: {e}")))?;
        if claims.kind != "AccreditationRevocation" || claims.accreditation != id {
            return Err(Error::InvalidAccreditation(format!(
                "the signed revocation must name accreditation {id}"
            )));
        }
        let existing = self.get(id).await?;
        if existing.accreditor != signed.did {
            return Err(Error::Forbidden(format!(
                "only {} may revoke this accreditation",
                existing.accreditor
            )));
        }
        let entry = credence_registry::log::Entry::AccreditationRevocation {
            id: id.to_owned(),
            jws: jws.trim().to_owned(),
        }
        .to_log_bytes()?;
        match self
            .store
            .revoke_accreditation(Revocation {
                id,
                now: self.clock.now(),
                log_entry: &entry,
            })
            .await
        {
            Ok(_) => {}
            Err(StoreError::AlreadyExists) => {
                return Err(Error::Replayed(format!(
                    "accreditation {id} is already revoked"
                )));
            }
            Err(other) => return Err(other.into()),
        }
        self.by_subject.invalidate(&existing.subject);
        self.get(id).await
    }

    pub async fn get(&self, id: &str) -> Result<AccreditationView, Error> {
        let stored = self
            .store
            .accreditation(id)
            .await?
            .ok_or_else(|| Error::AccreditationNotFound(format!("no accreditation {id:?}")))?;
        self.view(stored).await
    }

    /// Every accreditation naming `did`.
    pub async fn list(&self, did: &Did) -> Result<Vec<AccreditationView>, Error> {
        Ok(self.accreditations_of(did, false).await?.to_vec())
    }

    /// `did`'s accreditations, from memory unless `fresh` (writes decide on the store's
    /// current answer, never on a cached one).
    async fn accreditations_of(
        &self,
        did: &Did,
        fresh: bool,
    ) -> Result<Arc<Vec<AccreditationView>>, Error> {
        if fresh {
            self.by_subject.invalidate(did);
        }
        self.by_subject
            .get_or_load(did, async {
                let mut views = Vec::new();
                for stored in self.store.accreditations_for(did).await? {
                    views.push(self.view(stored).await?);
                }
                Ok::<_, Error>(views)
            })
            .await
    }

    /// Was `issuer` allowed to issue `credential_type` at `at`?
    pub async fn authorization(
        &self,
        issuer: &Did,
        credential_type: &credence_registry::ids::CredentialType,
        at: DateTime<Utc>,
    ) -> Result<Authorization, Error> {
        let outcome = self
            .chain(issuer, credential_type.as_str(), at, false, false)
            .await?;
        let (allowed, chain, reason) = match outcome {
            Ok(chain) => (true, chain, None),
            Err(reason) => (false, Vec::new(), Some(reason)),
        };
        Ok(Authorization {
            issuer: issuer.clone(),
            credential_type: credential_type.clone(),
            at,
            allowed,
            chain,
            reason,
        })
    }

    /// Whether `issuer` may issue `credential_type` now, decided on the store's current state
    /// (for writes that depend on it, such as publishing the type's schema); `Err` of the inner
    /// result says why not.
    pub async fn check_authorized_now(
        &self,
        issuer: &Did,
        credential_type: &str,
    ) -> Result<Result<(), String>, Error> {
        Ok(self
            .chain(issuer, credential_type, self.clock.now(), false, true)
            .await?
            .map(|_| ()))
    }

    /// Whether `did` is a trust anchor or, now, accredited for at least one credential type
    /// through a chain to an anchor; decided on the store's current state (for writes). `Err`
    /// of the inner result says why not.
    pub async fn check_accredited_now(&self, did: &Did) -> Result<Result<(), String>, Error> {
        if self.is_anchor(did) {
            return Ok(Ok(()));
        }
        let now = self.clock.now();
        let mut types: Vec<credence_registry::ids::CredentialType> = self
            .accreditations_of(did, true)
            .await?
            .iter()
            .flat_map(|a| a.credential_types.iter().cloned())
            .collect();
        types.sort_unstable();
        types.dedup();
        for credential_type in &types {
            if self
                .chain(did, credential_type, now, false, true)
                .await?
                .is_ok()
            {
                return Ok(Ok(()));
            }
        }
        Ok(Err(format!(
            "{did} is neither a trust anchor nor accredited for any credential type now"
        )))
    }

    /// The chain that authorizes `did` for `credential_type` at `at` (to accredit it, if
    /// `to_accredit`), or why there is none; read from the store if `fresh` (for writes),
    /// else possibly from memory. `Err` of the outer result: the lookup failed.
    async fn chain(
        &self,
        did: &Did,
        credential_type: &str,
        at: DateTime<Utc>,
        to_accredit: bool,
        fresh: bool,
    ) -> Result<Result<Vec<AccreditationView>, String>, Error> {
        let mut chain = Vec::new();
        let mut subject = did.clone();
        let mut need_accredit = to_accredit;
        for _ in 0..MAX_CHAIN {
            let candidates = self.accreditations_of(&subject, fresh).await?;
            let valid = candidates.iter().find(|a| {
                a.credential_types.iter().any(|t| t == credential_type)
                    && a.valid_from.max(a.recorded) <= at
                    && at <= a.valid_until
                    && a.revoked.is_none_or(|revoked| at < revoked)
                    && (!need_accredit || a.may_accredit)
            });
            let Some(link) = valid.cloned() else {
                let what = if need_accredit {
                    "accredited to accredit"
                } else {
                    "accredited"
                };
                return Ok(Err(format!(
                    "{subject} is not {what} for {credential_type} at {at}"
                )));
            };
            let accreditor = link.accreditor.clone();
            chain.push(link);
            if self.is_anchor(&accreditor) {
                return Ok(Ok(chain));
            }
            subject = accreditor;
            need_accredit = true;
        }
        Ok(Err(format!(
            "no chain to a trust anchor within {MAX_CHAIN} links"
        )))
    }
}

impl TrustRegistry {
    /// The served form of a stored accreditation, with its revocation's JWS read back from the
    /// log entry that recorded it.
    async fn view(&self, stored: StoredAccreditation) -> Result<AccreditationView, Error> {
        let revocation_jws = match stored.revoked_log_index {
            None => None,
            Some(index) => {
                let entry = self.store.entries(index, 1).await?;
                match entry
                    .first()
                    .map(|bytes| credence_registry::log::Entry::parse(bytes))
                {
                    Some(Ok(credence_registry::log::Entry::AccreditationRevocation {
                        id,
                        jws,
                    })) if id == stored.id => Some(jws),
                    _ => {
                        return Err(Error::Internal(format!(
                            "log entry {index} is not the revocation of {}",
                            stored.id
                        )));
                    }
                }
            }
        };
        Ok(AccreditationView {
            revocation_jws,
            ..view(stored)
        })
    }
}

fn view(stored: StoredAccreditation) -> AccreditationView {
    AccreditationView {
        revocation_jws: None,
        id: credence_registry::ids::AccreditationId::parse(&stored.id)
            .unwrap_or_else(|_| credence_registry::trust::accreditation_id(&stored.jws)),
        subject: stored.subject,
        accreditor: stored.accreditor,
        credential_types: stored.types,
        may_accredit: stored.may_accredit,
        valid_from: stored.valid_from,
        valid_until: stored.valid_until,
        recorded: stored.created,
        log_index: stored.log_index.into(),
        revoked: stored.revoked,
        revoked_log_index: stored.revoked_log_index.map(Into::into),
        jws: stored.jws,
    }
}
