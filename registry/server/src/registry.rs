//! The registry service for did:credence: admits operations (validate with `ops`, persist with
//! `store`) and resolves DIDs, at the latest or at an earlier version.
//!
//! No HTTP and no SQL here; `http/` calls these functions and maps their errors.

use std::sync::Arc;

use chrono::{DateTime, Utc};

use credence_registry::did::Did;
use credence_registry::error::Error;
use credence_registry::ops::{self, DidState, SignedOperation};
use credence_registry::wire::{DocumentMetadata, Resolution, VersionSelector, timestamp};

use crate::store::{Append, DidStore, StoredOp, WriteLimits};

/// Most appends committed in one transaction.
const MAX_BATCH: usize = 256;

/// An append, owned, as it travels to the group committer.
struct OwnedAppend {
    did: Did,
    expected_head: Option<ops::OpHash>,
    operation: SignedOperation,
    hash: ops::OpHash,
    new_state: DidState,
    now: DateTime<Utc>,
    limits: WriteLimits,
    log_entry: Vec<u8>,
}

/// An append waiting for the group commit, with where to send its outcome.
struct PendingAppend {
    append: OwnedAppend,
    reply: tokio::sync::oneshot::Sender<Result<u64, crate::store::StoreError>>,
}

/// The did:credence registry.
#[derive(Clone)]
pub struct Registry {
    store: Arc<dyn DidStore>,
    limits: WriteLimits,
    /// The group committer's queue, started on the first write (it needs the runtime) and
    /// stopped when the last `Registry` clone is dropped.
    committer: Arc<std::sync::OnceLock<tokio::sync::mpsc::Sender<PendingAppend>>>,
    /// When operations are recorded (their `created`/`updated` times).
    clock: credence_registry::clock::Clock,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry")
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

impl Registry {
    pub fn new(store: Arc<dyn DidStore>, limits: WriteLimits) -> Self {
        Self {
            store,
            limits,
            committer: Arc::default(),
            clock: credence_registry::clock::Clock::system(),
        }
    }

    /// The same registry reading the time from `clock`.
    pub fn with_clock(mut self, clock: credence_registry::clock::Clock) -> Self {
        self.clock = clock;
        self
    }

    /// Group commit: appends that arrive while a transaction is being made durable wait and
    /// then commit together, one sync for all of them. Under no load a batch is one append, so
    /// latency is unchanged; under load throughput is bounded by syncs, not by requests.
    async fn commit(&self, append: OwnedAppend) -> Result<u64, Error> {
        let queue = self.committer.get_or_init(|| {
            let (sender, receiver) = tokio::sync::mpsc::channel(MAX_BATCH * 4);
            tokio::spawn(run_committer(self.store.clone(), receiver));
            sender
        });
        let (reply, outcome) = tokio::sync::oneshot::channel();
        queue
            .send(PendingAppend { append, reply })
            .await
            .map_err(|_| Error::Internal("the group committer stopped".into()))?;
        let index = outcome
            .await
            .map_err(|_| Error::Internal("the group committer dropped a write".into()))??;
        Ok(index)
    }

    pub fn store(&self) -> &Arc<dyn DidStore> {
        &self.store
    }

    /// Admits a genesis operation (`did = None`) or a later operation on `did`. `body` is the
    /// raw request body; it is parsed strictly here. Returns the new latest resolution.
    pub async fn submit(&self, did: Option<&Did>, body: &[u8]) -> Result<Resolution, Error> {
        let value = credence_registry::json::parse_strict(body)?;
        let operation = SignedOperation::from_value(value)?;
        let current = match did {
            None => None,
            Some(did) => {
                check_method(did)?;
                Some(
                    self.store
                        .current(did)
                        .await?
                        .ok_or_else(|| Error::NotFound(format!("{did} was not found")))?,
                )
            }
        };
        if did.is_none() && !matches!(operation.body, ops::OperationBody::Create { .. }) {
            return Err(ops::OpError::WrongKind(
                "POST /dids takes a create operation; send updates to /dids/{did}/ops",
            )
            .into());
        }
        let current_state = current.as_ref().map(|record| &record.state);
        let new_state = ops::apply(current_state, &operation)?;
        let hash = operation.hash();
        let position = current.as_ref().map_or(0, |record| record.op_count);
        // Operations are at most 8 KiB (`ops::MAX_OPERATION_BYTES`), far below the entry
        // limit, but every write path goes through the same check.
        let log_entry = credence_registry::log::Entry::DidOperation {
            did: new_state.did.clone(),
            position,
            operation: operation.clone(),
        }
        .to_log_bytes()?;
        let log_index = self
            .commit(OwnedAppend {
                did: new_state.did.clone(),
                expected_head: current_state.map(|s| s.head.clone()),
                operation: operation.clone(),
                hash: hash.clone(),
                new_state: new_state.clone(),
                now: self.clock.now(),
                limits: self.limits,
                log_entry,
            })
            .await?;
        tracing::info!(did = %new_state.did, op = operation.body.kind(), hash = hash.as_str(), log_index, "operation accepted");
        self.resolve(&new_state.did, &VersionSelector::Latest).await
    }

    /// Resolves a did:credence DID. A deactivated DID resolves too, with `deactivated: true` in
    /// its metadata (HTTP answers it with 410).
    pub async fn resolve(&self, did: &Did, version: &VersionSelector) -> Result<Resolution, Error> {
        check_method(did)?;
        let resolution = match version {
            // The common case is one row read of the cached state.
            VersionSelector::Latest => {
                let record = self
                    .store
                    .current(did)
                    .await?
                    .ok_or_else(|| Error::NotFound(format!("{did} was not found")))?;
                Resolution {
                    document: ops::document(&record.state),
                    metadata: DocumentMetadata {
                        created: Some(timestamp(record.created)),
                        updated: (record.op_count > 1).then(|| timestamp(record.updated)),
                        deactivated: record.state.deactivated,
                        version_id: Some(record.state.head.as_str().to_owned()),
                        ..DocumentMetadata::default()
                    },
                }
            }
            selector => {
                let history = self.store.ops(did).await?;
                if history.is_empty() {
                    return Err(Error::NotFound(format!("{did} was not found")));
                }
                resolve_version(did, &history, selector)?
            }
        };
        Ok(resolution)
    }

    /// The stored operations from the genesis up to the one that produced the selected version
    /// (for log proofs, which carry the whole chain).
    pub async fn version_chain(
        &self,
        did: &Did,
        version: &VersionSelector,
    ) -> Result<Vec<StoredOp>, Error> {
        let mut history = self.operations(did).await?;
        let position = select_position(did, &history, version)?;
        history.truncate(position + 1);
        Ok(history)
    }

    /// The DID's whole signed operation log, for audit.
    pub async fn operations(&self, did: &Did) -> Result<Vec<StoredOp>, Error> {
        check_method(did)?;
        let history = self.store.ops(did).await?;
        if history.is_empty() {
            return Err(Error::NotFound(format!("{did} was not found")));
        }
        Ok(history)
    }
}

/// The group committer: takes whatever is queued (up to `MAX_BATCH`), commits it as one
/// transaction, answers each waiter. Ends when every sender is gone.
#[async_trait::async_trait]
impl credence_registry::resolver::LocalRegistry for Registry {
    async fn resolve(&self, did: &Did, version: &VersionSelector) -> Result<Resolution, Error> {
        Registry::resolve(self, did, version).await
    }
}

async fn run_committer(
    store: Arc<dyn DidStore>,
    mut queue: tokio::sync::mpsc::Receiver<PendingAppend>,
) {
    while let Some(first) = queue.recv().await {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match queue.try_recv() {
                Ok(next) => batch.push(next),
                Err(_) => break,
            }
        }
        let appends: Vec<Append<'_>> = batch
            .iter()
            .map(|PendingAppend { append: a, .. }| Append {
                did: &a.did,
                expected_head: a.expected_head.as_ref(),
                operation: &a.operation,
                hash: &a.hash,
                new_state: &a.new_state,
                now: a.now,
                limits: a.limits,
                log_entry: &a.log_entry,
            })
            .collect();
        let outcome = store.append_batch(&appends).await;
        drop(appends);
        match outcome {
            Ok(results) => {
                for (pending, result) in batch.into_iter().zip(results) {
                    let _ = pending.reply.send(result);
                }
            }
            Err(error) => {
                tracing::error!(%error, size = batch.len(), "group commit failed; nothing in it was written");
                let message = error.to_string();
                for pending in batch {
                    let _ = pending
                        .reply
                        .send(Err(crate::store::StoreError::BatchFailed(message.clone())));
                }
            }
        }
    }
}

/// Refuses DIDs of other methods (501) and did:credence ids that cannot exist (400).
fn check_method(did: &Did) -> Result<(), Error> {
    if did.method() != ops::METHOD {
        return Err(Error::MethodNotSupported(did.method().to_owned()));
    }
    if !ops::is_valid_id(did.method_specific_id()) {
        return Err(Error::InvalidDid(
            "a did:credence id is 32 characters of lowercase base32 (a-z, 2-7)".into(),
        ));
    }
    Ok(())
}

/// Builds the document as of the selected operation from the stored history.
fn resolve_version(
    did: &Did,
    history: &[StoredOp],
    selector: &VersionSelector,
) -> Result<Resolution, Error> {
    let position = select_position(did, history, selector)?;
    let applied: Vec<SignedOperation> = history[..=position]
        .iter()
        .map(|op| op.operation.clone())
        .collect();
    let state: DidState =
        ops::fold_trusted(did, &applied).ok_or_else(|| Error::Internal("empty history".into()))?;
    let next = history.get(position + 1);
    Ok(Resolution {
        document: ops::document(&state),
        metadata: DocumentMetadata {
            created: Some(timestamp(history[0].created)),
            updated: (position > 0).then(|| timestamp(history[position].created)),
            deactivated: state.deactivated,
            version_id: Some(history[position].hash.as_str().to_owned()),
            next_version_id: next.map(|op| op.hash.as_str().to_owned()),
            next_update: next.map(|op| timestamp(op.created)),
        },
    })
}

/// Index in `history` of the selected version.
fn select_position(
    did: &Did,
    history: &[StoredOp],
    selector: &VersionSelector,
) -> Result<usize, Error> {
    Ok(match selector {
        VersionSelector::Latest => history.len() - 1,
        VersionSelector::Id(id) => history
            .iter()
            .position(|op| op.hash.as_str() == id)
            .ok_or_else(|| Error::VersionNotFound(format!("{did} has no version {id:?}")))?,
        VersionSelector::Time(at) => history
            .iter()
            // Timestamps are published at whole seconds (DID Core §7.1.3), so compare at that
            // granularity: asking for a published `updated` value returns that version.
            .rposition(|op| op.created.timestamp() <= at.timestamp())
            .ok_or_else(|| {
                Error::VersionNotFound(format!("{did} did not exist at {}", timestamp(*at)))
            })?,
    })
}
