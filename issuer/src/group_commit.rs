//! Group commit of records of issuance. Each issuance must be durable before its credential
//! is handed out, and on SQLite every commit is an fsync that holds the database's one write
//! lock (`synchronous = FULL`), so committing issuances one by one caps a server at the
//! disk's commit rate (~1,000/s on the benchmark machine, BENCHMARKS.md). Here the
//! issuances waiting for the writer are committed together, in one transaction
//! ([`IssuerStore::record_issuances`]): one fsync for the batch, and each record still
//! accepted or refused on its own (a record refused with `IndexTaken` / `AlreadyExists` writes
//! nothing, and its issuance draws again).
//!
//! No background task: an issuance queues its record, then waits for the writer. Whoever
//! holds the writer takes everything queued (at most [`MAX_BATCH`]) and commits it in a
//! spawned task, so a caller that goes away (a closed connection drops its future) cannot
//! abandon the others' commit halfway. A caller whose record was committed by another's batch
//! finds its outcome when it gets the writer, and returns at once. Nobody returns before the
//! transaction holding its record has committed.

use std::sync::{Arc, Mutex};

use tokio::sync::oneshot::{self, error::TryRecvError};

use crate::store::{IssuanceRecord, IssuerStore, StoreError};

/// Most records in one transaction.
pub(crate) const MAX_BATCH: usize = 256;

type Waiter = (IssuanceRecord, oneshot::Sender<Result<(), StoreError>>);

/// The queue of records waiting for the writer, and the writer.
#[derive(Default)]
pub(crate) struct GroupCommit {
    queue: Arc<Mutex<Vec<Waiter>>>,
    writer: Arc<tokio::sync::Mutex<()>>,
}

impl GroupCommit {
    /// Commits `record` (with whatever else is waiting); its own outcome.
    pub(crate) async fn record(
        &self,
        store: &Arc<dyn IssuerStore>,
        record: IssuanceRecord,
    ) -> Result<(), StoreError> {
        let (sender, mut outcome) = oneshot::channel();
        self.queue
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push((record, sender));
        loop {
            let writer = self.writer.clone().lock_owned().await;
            match outcome.try_recv() {
                Ok(outcome) => return outcome,
                Err(TryRecvError::Closed) => return Err(abandoned()),
                Err(TryRecvError::Empty) => {}
            }
            let batch: Vec<Waiter> = {
                let mut queue = self
                    .queue
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                let n = queue.len().min(MAX_BATCH);
                queue.drain(..n).collect()
            };
            let store = store.clone();
            // Holding the writer until the batch is committed and every waiter told.
            let committed = tokio::spawn(async move {
                commit(store.as_ref(), batch).await;
                drop(writer);
            });
            if committed.await.is_err() {
                return Err(abandoned());
            }
        }
    }
}

fn abandoned() -> StoreError {
    StoreError::Batch("the commit of this record's batch did not finish".into())
}

async fn commit(store: &dyn IssuerStore, batch: Vec<Waiter>) {
    let (records, senders): (Vec<_>, Vec<_>) = batch.into_iter().unzip();
    match store.record_issuances(&records).await {
        Ok(outcomes) => {
            for (sender, outcome) in senders.into_iter().zip(outcomes) {
                let _ = sender.send(outcome);
            }
        }
        Err(error) => {
            let shared = error.to_string();
            for sender in senders {
                let _ = sender.send(Err(StoreError::Batch(shared.clone())));
            }
        }
    }
}
