//! The front of a store's dedicated writer thread, shared by the SQLite and PostgreSQL
//! stores: requests go in over a channel with oneshot replies; dropping the front closes the
//! channel, lets the writer finish what is queued, and waits for it.

use std::{
    sync::{Mutex, mpsc},
    thread,
};

use tokio::sync::oneshot;

use super::{Batch, Commit, Load, Snapshot, StoreError};

/// What a writer thread is asked to do.
pub(crate) enum WriterRequest {
    /// Make the batch durable, then answer.
    Commit(Box<Batch>, oneshot::Sender<Result<(), StoreError>>),
    /// Answer with everything stored, once earlier commits are durable.
    Load(oneshot::Sender<Result<Snapshot, StoreError>>),
}

/// The sending side of a writer thread, and the thread to wait for on drop.
#[derive(Debug)]
pub(crate) struct WriterThread {
    requests: Mutex<Option<mpsc::Sender<WriterRequest>>>,
    thread: Mutex<Option<thread::JoinHandle<()>>>,
}

impl WriterThread {
    /// The front of `thread`, which reads its requests from the receiver of `requests`.
    pub(crate) fn new(
        requests: mpsc::Sender<WriterRequest>,
        thread: thread::JoinHandle<()>,
    ) -> Self {
        Self {
            requests: Mutex::new(Some(requests)),
            thread: Mutex::new(Some(thread)),
        }
    }

    /// Asks for everything stored; `Closed` once the writer has stopped.
    pub(crate) fn load(&self) -> Load {
        let (tx, rx) = oneshot::channel();
        if let Err(WriterRequest::Load(tx)) = self.send(WriterRequest::Load(tx)) {
            let _ = tx.send(Err(StoreError::Closed));
        }
        rx
    }

    /// Queues `batch`; `Closed` once the writer has stopped.
    pub(crate) fn commit(&self, batch: Batch) -> Commit {
        let (tx, rx) = oneshot::channel();
        if let Err(WriterRequest::Commit(_, tx)) =
            self.send(WriterRequest::Commit(Box::new(batch), tx))
        {
            let _ = tx.send(Err(StoreError::Closed));
        }
        rx
    }

    fn send(&self, request: WriterRequest) -> Result<(), WriterRequest> {
        let guard = self.requests.lock().unwrap_or_else(|e| e.into_inner());
        match guard.as_ref() {
            Some(tx) => tx.send(request).map_err(|e| e.0),
            None => Err(request),
        }
    }
}

impl Drop for WriterThread {
    fn drop(&mut self) {
        // Closing the channel lets the writer finish queued commits and exit.
        self.requests
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(writer) = self.thread.lock().unwrap_or_else(|e| e.into_inner()).take() {
            let _ = writer.join();
        }
    }
}
