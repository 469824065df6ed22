//! One PostgreSQL connection owned by a dedicated thread, so that the
//! synchronous [`crate::state::StateBackend`] methods can run statements
//! from any thread.
//!
//! The engine calls the backend from tasks of a multi-threaded tokio
//! runtime, where starting or blocking on another runtime would panic. Each
//! [`Session`] therefore starts a thread with its own current-thread
//! runtime, which connects and then runs the jobs sent to it one at a time.
//! The caller blocks on a channel until its job's result comes back. The
//! connection lives exactly as long as the session: dropping the session
//! closes it, which also ends any session-level advisory lock it held.

use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::mpsc as std_mpsc;
use std::thread;

use tokio::sync::mpsc;
use tokio_postgres::{Client, Config, NoTls};

use crate::state::postgres::error::PostgresStateError;

type Job = Box<dyn FnOnce(Rc<Client>) -> Pin<Box<dyn Future<Output = ()>>> + Send>;

/// A connection to the state database, served by its own thread.
#[derive(Debug)]
pub(crate) struct Session {
    location: String,
    jobs: Option<mpsc::UnboundedSender<Job>>,
    worker: Option<thread::JoinHandle<()>>,
}

impl Session {
    /// Starts the worker thread and waits until it has connected;
    /// `location` describes the state in errors.
    pub(crate) fn connect(config: &Config, location: &str) -> Result<Session, PostgresStateError> {
        let config = config.clone();
        let (ready_sender, ready) = std_mpsc::sync_channel(1);
        let (jobs, receiver) = mpsc::unbounded_channel();
        let ended = || PostgresStateError::SessionEnded {
            action: "connect",
            location: location.to_owned(),
        };

        let worker = thread::Builder::new()
            .name("tenancy-postgres-state".to_owned())
            .spawn(move || serve(config, ready_sender, receiver))
            .map_err(|error| {
                tracing::warn!(%error, "failed to start the thread of a PostgreSQL state connection");
                ended()
            })?;
        let session = Session {
            location: location.to_owned(),
            jobs: Some(jobs),
            worker: Some(worker),
        };
        match ready.recv() {
            Ok(Ok(())) => Ok(session),
            Ok(Err(source)) => Err(PostgresStateError::Connect {
                location: location.to_owned(),
                source,
            }),
            Err(_) => Err(ended()),
        }
    }

    /// Returns true while the connection is open.
    pub(crate) fn is_open(&self) -> bool {
        self.jobs.as_ref().is_some_and(|jobs| !jobs.is_closed())
    }

    /// Runs `job` on the connection and waits for its result; `action`
    /// names the step in the error raised when the connection ends first.
    pub(crate) fn run<T, F, Fut>(
        &self,
        action: &'static str,
        job: F,
    ) -> Result<T, PostgresStateError>
    where
        T: Send + 'static,
        F: FnOnce(Rc<Client>) -> Fut + Send + 'static,
        Fut: Future<Output = Result<T, PostgresStateError>> + 'static,
    {
        let ended = || PostgresStateError::SessionEnded {
            action,
            location: self.location.clone(),
        };
        let (reply, result) = std_mpsc::sync_channel(1);
        let boxed: Job = Box::new(move |client| {
            Box::pin(async move {
                // The job's future, with everything it captured, is dropped
                // before the reply. Otherwise the last handle on a backend
                // could be dropped on this thread, and dropping its sessions
                // would wait for this very thread.
                let result = job(client).await;
                // The caller may have stopped waiting, and then nothing
                // else needs the result.
                let _ = reply.send(result);
            })
        });
        let jobs = self.jobs.as_ref().ok_or_else(ended)?;
        jobs.send(boxed).map_err(|_| ended())?;
        result.recv().map_err(|_| ended())?
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        // Closing the channel ends the worker's loop, which closes the
        // connection before the thread exits.
        drop(self.jobs.take());
        if let Some(worker) = self.worker.take() {
            if worker.join().is_err() {
                tracing::warn!(location = %self.location, "the thread of a PostgreSQL state connection panicked");
            }
        }
    }
}

/// Runs the worker thread of a session. It connects, reports the outcome on
/// `ready`, then runs jobs until the channel closes or the connection ends.
fn serve(
    config: Config,
    ready: std_mpsc::SyncSender<Result<(), tokio_postgres::Error>>,
    mut jobs: mpsc::UnboundedReceiver<Job>,
) {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            // Dropping `ready` unanswered makes `connect` report a closed session.
            tracing::warn!(%error, "failed to start the runtime of a PostgreSQL state connection");
            return;
        }
    };
    runtime.block_on(async move {
        let (client, connection) = match config.connect(NoTls).await {
            Ok(pair) => pair,
            Err(error) => {
                let _ = ready.send(Err(error));
                return;
            }
        };
        let _ = ready.send(Ok(()));
        let client = Rc::new(client);
        let mut connection = tokio::spawn(connection);
        loop {
            tokio::select! {
                job = jobs.recv() => match job {
                    Some(job) => job(Rc::clone(&client)).await,
                    None => break,
                },
                ended = &mut connection => {
                    if let Ok(Err(error)) = ended {
                        tracing::debug!(%error, "the PostgreSQL state connection ended");
                    }
                    return;
                }
            }
        }
        // Dropping the last client handle sends Terminate; the connection
        // task then finishes.
        drop(client);
        let _ = connection.await;
    });
}
