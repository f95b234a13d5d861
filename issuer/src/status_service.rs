//! Status management: revoke, suspend and reinstate a credential by its id within its tenant,
//! and the republisher that brings the registry's copy of every changed list up to date.
//!
//! A change is a compare-and-set on the entry's status in the store that also bumps the list's
//! version; then the republisher's doorbell rings. The republisher ([`Republisher`], started by
//! `Application::start`, stopped by its `shutdown`) waits a moment for more changes (a burst of
//! revocations becomes one publication), then signs each changed list with the tenant's key as
//! a Token Status List and as the two W3C bitstring lists and publishes them to the registry.
//! A list is marked published with the version it read, so a change made during publication is
//! published next round, and one no instance managed to publish (registry down) is retried on
//! every tick, by any instance.
//!
//! The registry orders versions by their issuance time in whole seconds (`iat`), so a list is
//! published at most once per second: a change in the same second as the last publication
//! waits for the next tick.

use std::sync::Arc;

use serde::Serialize;

use crate::error::Error;
use crate::ids::RecordId;
use crate::service::IssuerService;
use crate::status::{IssuerStatusList, Status, StatusIndex, StatusListUri, StatusPurpose};
use crate::store::{StoredList, StoredTenant};

/// What an operator does to a credential's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusAction {
    /// Permanently invalid.
    Revoke,
    /// Temporarily invalid.
    Suspend,
    /// Valid again after a suspension.
    Reinstate,
}

impl StatusAction {
    fn target(self) -> Status {
        match self {
            Self::Revoke => Status::Invalid,
            Self::Suspend => Status::Suspended,
            Self::Reinstate => Status::Valid,
        }
    }
}

/// A credential's status, as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct StatusView {
    pub id: String,
    /// `valid`, `revoked` or `suspended`.
    pub status: &'static str,
}

/// The name the API uses for a status.
pub fn status_name(status: Status) -> &'static str {
    match status {
        Status::Valid => "valid",
        Status::Invalid => "revoked",
        Status::Suspended => "suspended",
    }
}

/// The status a stored Token Status List code stands for.
pub(crate) fn status_from_code(code: u8) -> Result<Status, Error> {
    [Status::Valid, Status::Invalid, Status::Suspended]
        .into_iter()
        .find(|status| status.code() == code)
        .ok_or_else(|| Error::Internal(format!("stored status code {code}")))
}

/// Whether `action` may take a credential from `current`, given the purposes its type has.
/// Revocation is final (Token Status List §7.1, Bitstring Status List §2.1).
fn check_transition(
    current: Status,
    action: StatusAction,
    revocation: bool,
    suspension: bool,
) -> Result<(), Error> {
    let refuse = |detail: &str| Err(Error::StatusConflict(detail.to_owned()));
    match action {
        StatusAction::Revoke if !revocation => refuse("this credential's type cannot be revoked"),
        StatusAction::Suspend | StatusAction::Reinstate if !suspension => {
            refuse("this credential's type has no suspension")
        }
        StatusAction::Suspend | StatusAction::Reinstate if current == Status::Invalid => {
            refuse("the credential is revoked; revocation is final")
        }
        _ => Ok(()),
    }
}

/// How many times a compare-and-set lost to a concurrent change is retried.
const CAS_ATTEMPTS: usize = 4;

impl IssuerService {
    /// Changes the status of credential `id` of `tenant`. Setting the status it already has is
    /// a success that writes nothing. Another tenant's credential is `CredentialNotFound`.
    pub async fn change_status(
        &self,
        tenant: &StoredTenant,
        id: &RecordId,
        action: StatusAction,
    ) -> Result<StatusView, Error> {
        for _ in 0..CAS_ATTEMPTS {
            let (record, code) = self
                .store
                .record(&tenant.id, id)
                .await?
                .ok_or_else(|| Error::CredentialNotFound(id.to_string()))?;
            let (Some((uri, index)), Some(code)) = (record.status, code) else {
                return Err(Error::StatusConflict(
                    "this credential's type has no status; it cannot be revoked or suspended"
                        .into(),
                ));
            };
            let current = status_from_code(code)?;
            let credential_type = self
                .store
                .credential_type(&tenant.id, &record.type_id)
                .await?
                .ok_or_else(|| Error::Internal(format!("type of {id} is gone")))?;
            check_transition(
                current,
                action,
                credential_type.revocation,
                credential_type.suspension,
            )?;
            let target = action.target();
            if current == target {
                return Ok(StatusView {
                    id: id.to_string(),
                    status: status_name(current),
                });
            }
            if self
                .store
                .set_status(&uri, index, current.code(), target.code())
                .await?
            {
                tracing::info!(tenant = %tenant.id, credential = %id, status = status_name(target), "status changed");
                self.republish.notify_one();
                return Ok(StatusView {
                    id: id.to_string(),
                    status: status_name(target),
                });
            }
        }
        Err(Error::StatusConflict(
            "the status is being changed concurrently; try again".into(),
        ))
    }

    /// Publishes every list changed since its last publication. Returns how many were
    /// published; a list that could not be (registry refused or unreachable, or published
    /// this second already) stays dirty for the next round.
    pub async fn publish_changed_lists(&self) -> Result<usize, Error> {
        let mut published = 0;
        for list in self.store.dirty_lists().await? {
            match self.publish_list(&list).await {
                Ok(true) => published += 1,
                Ok(false) => {}
                // The operator reads this: an internal cause is named (it never reaches a client).
                Err(Error::Internal(cause)) => {
                    tracing::warn!(uri = %list.uri, %cause, "status list not published; will retry");
                }
                Err(error) => {
                    tracing::warn!(uri = %list.uri, %error, "status list not published; will retry");
                }
            }
        }
        Ok(published)
    }

    /// Signs and publishes one list (three documents); `Ok(false)` if it must wait for the
    /// next second.
    async fn publish_list(&self, list: &StoredList) -> Result<bool, Error> {
        let now = self.clock.now();
        let tenant = self
            .store
            .tenant(&list.tenant)
            .await?
            .ok_or_else(|| Error::Internal(format!("tenant of {} is gone", list.uri)))?;
        // `iat` is in whole seconds: it must be later than the last publication's second (the
        // registry wants each version newer) and not before the DID existed.
        let second_ms = now.timestamp() * 1000;
        if second_ms <= list.published_ms - list.published_ms.rem_euclid(1000)
            || second_ms < tenant.created.timestamp_millis()
        {
            return Ok(false);
        }
        let entries = self.store.list_entries(&list.uri).await?;
        let uri = StatusListUri::parse(&list.uri, &tenant.did)
            .map_err(|e| Error::Internal(e.to_string()))?;
        let statuses = entries
            .into_iter()
            .map(|(index, code)| Ok((StatusIndex::new(index), status_from_code(code)?)))
            .collect::<Result<Vec<_>, Error>>()?;
        let status_list =
            IssuerStatusList::restore(tenant.did.clone(), uri, list.entries, statuses)
                .map_err(|e| Error::Internal(e.to_string()))?;
        let key = self.issuer_key(&tenant)?;
        let ttl = self.options.status_ttl;
        let internal = |e: crate::status::StatusError| Error::Internal(e.to_string());
        let documents = [
            status_list
                .token_status_list_jwt(&key, now, ttl)
                .map_err(internal)?,
            status_list
                .bitstring_status_list_jwt(&key, StatusPurpose::Revocation, now, ttl)
                .map_err(internal)?,
            status_list
                .bitstring_status_list_jwt(&key, StatusPurpose::Suspension, now, ttl)
                .map_err(internal)?,
        ];
        for jws in &documents {
            self.registry
                .publish_status_list(jws)
                .await
                .map_err(Error::from_registry)?;
        }
        self.store
            .mark_published(&list.uri, list.version, now)
            .await?;
        tracing::info!(uri = %list.uri, version = list.version, "status list published");
        Ok(true)
    }
}

/// The background task that republishes changed lists, and how to stop it.
#[derive(Debug)]
pub struct Republisher {
    handle: tokio::task::JoinHandle<()>,
    stop: tokio::sync::watch::Sender<bool>,
}

impl Republisher {
    /// Starts the task (inside a Tokio runtime).
    pub fn start(service: Arc<IssuerService>) -> Self {
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let handle = tokio::spawn(run(service, stopped));
        Self { handle, stop }
    }

    /// Stops the task after one last round, so changes acknowledged before shutdown are
    /// published if the registry takes them.
    pub async fn shutdown(self) -> Result<(), tokio::task::JoinError> {
        let _ = self.stop.send(true);
        self.handle.await
    }

    /// Lets the task run for as long as the runtime (tests and tools that never shut down).
    pub fn detach(self) {
        // A dropped sender is not a stop: `stopped` below waits for `true`.
        drop(self.stop);
    }
}

/// Resolves once `true` is sent; never if the sender is dropped without sending it.
async fn stopped(receiver: &mut tokio::sync::watch::Receiver<bool>) {
    while receiver.changed().await.is_ok() {
        if *receiver.borrow() {
            return;
        }
    }
    std::future::pending().await
}

async fn run(service: Arc<IssuerService>, mut stop: tokio::sync::watch::Receiver<bool>) {
    let mut ticks = tokio::time::interval(service.options.republish_interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let last_round = tokio::select! {
            () = service.republish.notified() => {
                // Let the rest of a burst join this round.
                tokio::select! {
                    () = tokio::time::sleep(service.options.coalesce) => false,
                    () = stopped(&mut stop) => true,
                }
            }
            _ = ticks.tick() => false,
            () = stopped(&mut stop) => true,
        };
        if let Err(error) = service.publish_changed_lists().await {
            tracing::warn!(%error, "republishing status lists failed; will retry");
        }
        if last_round {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transitions() {
        use Status::*;
        use StatusAction::*;
        let check = |current, action, revocation, suspension, ok: bool| {
            assert_eq!(
                check_transition(current, action, revocation, suspension).is_ok(),
                ok,
                "{current:?} {action:?} revocation={revocation} suspension={suspension}"
            );
        };
        check(Valid, Revoke, true, false, true);
        check(Valid, Revoke, false, true, false);
        check(Valid, Suspend, true, true, true);
        check(Valid, Suspend, true, false, false);
        check(Suspended, Reinstate, true, true, true);
        check(Suspended, Revoke, true, true, true);
        check(Invalid, Reinstate, true, true, false);
        check(Invalid, Suspend, true, true, false);
        check(Invalid, Revoke, true, true, true);
    }
}
