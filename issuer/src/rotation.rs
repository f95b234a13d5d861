//! Tenant key rotation (issue 11: "key rotation is a DID update"). A rotation gives the
//! tenant fresh rotation and signing keys by a did:credence update signed with the *current*
//! rotation key, built by the base crate's owner protocol (`OwnerKeys::update_naming`), and
//! names the new signing key anew (`key-1` -> `key-2` -> ...), so a `kid` never names two
//! keys. Credentials signed before stay verifiable: a verifier resolves the DID as of their
//! `iat`, where the old key is listed.
//!
//! Crash safety follows `credence_registry::owner::rotate` and its pending directory: the next
//! keys are stored sealed (`IssuerStore::begin_rotation`) BEFORE the registry sees the update,
//! and installed (`finish_rotation`, which also makes every list of the tenant due for
//! republication with the new key) only after it accepted. A pending rotation found later (the
//! next rotation, or [`RotationRecovery`] at start-up) is finished if the registry's DID state
//! (re-validated by `RegistryClient::owner_state`) lists its rotation key, and discarded if
//! not. A registry refusal discards it at once: nothing changes. No answer leaves it pending,
//! since the registry may have accepted.
//!
//! A pending rotation younger than [`IN_FLIGHT`] may still be submitted by another instance
//! sharing the database; it is left alone (`RotationInProgress`), because discarding it while
//! the registry accepts it would lose the keys that control the DID.
//!
//! No axum and no SQL here.

use std::sync::Arc;

use chrono::Duration;
use credence_registry::did::Did;
use credence_registry::ops::DidState;
use credence_registry::owner::OwnerKeys;
use serde::Serialize;

use crate::error::Error;
use crate::ids::TenantId;
use crate::service::{IssuerService, TenantKeys};
use crate::store::{PendingRotation, StoreError, StoredTenant};

/// How long a pending rotation counts as being submitted by whoever began it: more than the
/// registry client's whole request timeout (15 s) and the store writes around it.
pub const IN_FLIGHT: Duration = Duration::minutes(2);

/// A finished rotation: the DID, the new signing key's id, and the DID version that lists it.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Rotation {
    #[schema(value_type = String)]
    pub did: Did,
    /// `<DID>#key-<n>`: the `kid` of what the tenant signs from now on.
    pub kid: String,
    /// The DID version (the hash of the update) that installed the keys.
    pub version_id: String,
}

/// What became of a pending rotation.
enum Settled {
    /// The registry had accepted it: its keys are installed now.
    Finished(Rotation),
    /// The registry never saw it: its keys are gone.
    Discarded,
}

impl IssuerService {
    /// Rotates `tenant`'s keys (see the module documentation). A pending rotation the
    /// registry had accepted is finished and answered instead of starting another, as
    /// `owner::rotate` does: retrying a rotation whose answer was lost does not rotate twice.
    pub async fn rotate_tenant_keys(&self, tenant: &TenantId) -> Result<Rotation, Error> {
        // One rotation at a time in this process; other instances are kept out by the
        // pending row's primary key.
        let _one_at_a_time = self.rotations.lock().await;
        let stored = self
            .store
            .tenant(tenant)
            .await?
            .ok_or_else(|| Error::TenantNotFound(tenant.to_string()))?;
        let state = self
            .registry
            .owner_state(&stored.did)
            .await
            .map_err(Error::from_registry)?;
        if let Some(pending) = self.store.pending_rotation(tenant).await? {
            if let Settled::Finished(rotation) = self.settle(&stored, &pending, &state).await? {
                return Ok(rotation);
            }
        }

        let current = TenantKeys::open(&self.master_key, &stored)?;
        let fragment = next_fragment(&current.signing_fragment)
            .ok_or_else(|| Error::Internal(format!("tenant {tenant}: unexpected key fragment")))?;
        let owner = OwnerKeys {
            rotation: current.rotation,
            signing: current.signing,
        };
        let next = OwnerKeys::generate(self.options.key_type);
        let sealed = TenantKeys {
            rotation: next.rotation.clone(),
            signing: next.signing.clone(),
            signing_fragment: fragment.clone(),
        }
        .seal(&self.master_key, tenant);
        let pending = PendingRotation {
            tenant: tenant.clone(),
            sealed_keys: sealed,
            started: self.clock.now(),
        };
        match self.store.begin_rotation(&pending).await {
            Ok(()) => {}
            Err(StoreError::AlreadyExists) => return Err(in_progress(tenant)),
            Err(other) => return Err(other.into()),
        }
        // Built on the DID's own (re-validated) operations, services carried over, so a
        // registry cannot slip anything into what the tenant signs.
        let update =
            owner.update_naming(state.head.clone(), &next, &fragment, state.services.clone());
        match self.registry.submit(&stored.did, &update).await {
            Ok(_) => {}
            Err(error) if error.is_refusal() => {
                self.store
                    .discard_rotation(tenant, &pending.sealed_keys)
                    .await?;
                return Err(Error::from_registry(error));
            }
            // No verdict: the registry may have accepted. The pending keys stay; the next
            // rotation or the next start finds out which.
            Err(error) => return Err(Error::from_registry(error)),
        }
        if !self
            .store
            .finish_rotation(tenant, &pending.sealed_keys)
            .await?
        {
            return Err(Error::Internal(format!(
                "tenant {tenant}: the registry accepted a rotation whose pending keys were removed"
            )));
        }
        self.republish.notify_one();
        tracing::info!(tenant = %tenant, did = %stored.did, kid = %fragment, "tenant keys rotated");
        Ok(Rotation {
            kid: format!("{}#{fragment}", stored.did),
            did: stored.did,
            // The version is the hash of the update we signed, never the registry's word.
            version_id: update.hash().as_str().to_owned(),
        })
    }

    /// Finishes or discards every pending rotation old enough not to be in flight, by what
    /// the registry says. Returns how many remain (younger ones, and those the registry could
    /// not be asked about).
    pub async fn settle_pending_rotations(&self) -> Result<usize, Error> {
        let _one_at_a_time = self.rotations.lock().await;
        let mut remaining = 0;
        for pending in self.store.pending_rotations().await? {
            let settled = async {
                let stored =
                    self.store.tenant(&pending.tenant).await?.ok_or_else(|| {
                        Error::Internal(format!("tenant {} is gone", pending.tenant))
                    })?;
                let state = self
                    .registry
                    .owner_state(&stored.did)
                    .await
                    .map_err(Error::from_registry)?;
                self.settle(&stored, &pending, &state).await
            }
            .await;
            match settled {
                Ok(_) => {}
                Err(error) => {
                    remaining += 1;
                    tracing::warn!(tenant = %pending.tenant, %error, "pending key rotation not settled; will retry");
                }
            }
        }
        Ok(remaining)
    }

    /// Finishes `pending` if the registry's `state` lists its rotation key, discards it if
    /// not (unless it may still be in flight).
    async fn settle(
        &self,
        stored: &StoredTenant,
        pending: &PendingRotation,
        state: &DidState,
    ) -> Result<Settled, Error> {
        let keys =
            TenantKeys::open_sealed(&self.master_key, &pending.tenant, &pending.sealed_keys)?;
        if state
            .rotation_keys
            .contains(&keys.rotation.public().to_did_key())
        {
            if !self
                .store
                .finish_rotation(&pending.tenant, &pending.sealed_keys)
                .await?
            {
                return Err(in_progress(&pending.tenant));
            }
            self.republish.notify_one();
            tracing::info!(tenant = %pending.tenant, "interrupted key rotation finished");
            return Ok(Settled::Finished(Rotation {
                did: stored.did.clone(),
                kid: format!("{}#{}", stored.did, keys.signing_fragment),
                version_id: state.head.as_str().to_owned(),
            }));
        }
        if self.clock.now() - pending.started < IN_FLIGHT {
            return Err(in_progress(&pending.tenant));
        }
        self.store
            .discard_rotation(&pending.tenant, &pending.sealed_keys)
            .await?;
        tracing::info!(tenant = %pending.tenant, "key rotation the registry never accepted discarded");
        Ok(Settled::Discarded)
    }
}

fn in_progress(tenant: &TenantId) -> Error {
    Error::RotationInProgress(tenant.to_string())
}

/// `key-<n+1>` after `key-<n>`.
fn next_fragment(current: &str) -> Option<String> {
    let generation: u32 = current.strip_prefix("key-")?.parse().ok()?;
    Some(format!("key-{}", generation.checked_add(1)?))
}

/// The task that settles the rotations a crash left pending, started with the service: it
/// tries every `interval` until none is left (the registry may be down, or, in the all-in-one
/// server, not serving yet when the issuer starts).
#[derive(Debug)]
pub struct RotationRecovery {
    handle: tokio::task::JoinHandle<()>,
}

impl RotationRecovery {
    /// Starts the task (inside a Tokio runtime).
    pub fn start(service: Arc<IssuerService>) -> Self {
        let interval = service.options.republish_interval;
        let handle = tokio::spawn(async move {
            loop {
                match service.settle_pending_rotations().await {
                    Ok(0) => return,
                    Ok(_) => {}
                    Err(error) => {
                        tracing::warn!(%error, "pending key rotations not read; will retry");
                    }
                }
                tokio::time::sleep(interval).await;
            }
        });
        Self { handle }
    }

    /// Stops the task. Stopping it midway is like a crash midway, which it is built for.
    pub async fn shutdown(self) {
        self.handle.abort();
        // A cancelled task's `JoinError` is the expected outcome here.
        let _ = self.handle.await;
    }

    /// Lets the task run for as long as the runtime.
    pub fn detach(self) {}
}

#[cfg(test)]
mod tests {
    use super::next_fragment;

    #[test]
    fn fragments_count_up() {
        assert_eq!(next_fragment("key-1").as_deref(), Some("key-2"));
        assert_eq!(next_fragment("key-41").as_deref(), Some("key-42"));
        assert_eq!(next_fragment("site"), None);
        assert_eq!(next_fragment("key-x"), None);
        assert_eq!(next_fragment(&format!("key-{}", u32::MAX)), None);
    }
}
