//! The state lock of the PostgreSQL backend: a session-level advisory lock
//! held by a connection of its own, and a record of the holder.
//!
//! PostgreSQL releases a session-level advisory lock only when its session
//! unlocks it or ends. The [`PostgresLock`] guard owns the connection, so
//! the lock ends with the guard or, when the process dies, with the session
//! that the server then closes. The record in `TABLE_locks` names the
//! holder for the error of a second locker. It carries the server process ID
//! of the holding session, so a record left by a session that has ended is
//! never reported as the holder and is replaced by the next locker.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio_postgres::Client;

use super::session::Session;
use super::{Inner, PostgresStateError};
use crate::state::backend::LockGuard;
use crate::state::error::StateError;
use crate::state::lock::LockInfo;

/// How long a blocked [`PostgresLock::acquire`] waits between attempts.
const LOCK_RETRY_INTERVAL: Duration = Duration::from_millis(500);

/// The result of trying the advisory lock.
enum LockAttempt {
    Acquired,
    Held(Option<LockInfo>),
}

/// The result of a force-unlock request.
enum ForceUnlock {
    Removed,
    NoRecord,
    OtherId(LockInfo),
    Held(LockInfo, Option<i32>),
}

impl Inner {
    /// Takes the advisory lock and records `record` as the holder, or
    /// returns the live holder's record.
    async fn try_lock(
        &self,
        client: &Client,
        id: &str,
        record: &str,
    ) -> Result<LockAttempt, PostgresStateError> {
        let query = |source| self.query_error("take the state lock", source);
        let acquired: bool = client
            .query_one("SELECT pg_try_advisory_lock($1)", &[&self.lock_key])
            .await
            .map_err(query)?
            .get(0);
        if !acquired {
            return self.live_holder(client).await.map(LockAttempt::Held);
        }

        // A record left by a holder that died is replaced.
        let upsert = format!(
            "INSERT INTO {} (name, id, info, session_pid, created_at) VALUES ($1, $2, $3, pg_backend_pid(), now()) \
             ON CONFLICT (name) DO UPDATE SET id = EXCLUDED.id, info = EXCLUDED.info, \
             session_pid = EXCLUDED.session_pid, created_at = EXCLUDED.created_at",
            self.sql.locks
        );
        if let Err(source) = client.execute(&upsert, &[&self.name, &id, &record]).await {
            let _ = client
                .execute("SELECT pg_advisory_unlock($1)", &[&self.lock_key])
                .await;
            return Err(query(source));
        }
        Ok(LockAttempt::Acquired)
    }

    /// Reads the record of the session that holds the advisory lock. Returns
    /// `None` when that session has not written its record yet.
    async fn live_holder(&self, client: &Client) -> Result<Option<LockInfo>, PostgresStateError> {
        let select = format!(
            "SELECT info FROM {} WHERE name = $1 AND session_pid IN ({})",
            self.sql.locks,
            lock_holder_pids(2)
        );
        let (high, low) = split_key(self.lock_key);
        let row = client
            .query_opt(&select, &[&self.name, &high, &low])
            .await
            .map_err(|source| self.query_error("read the state lock", source))?;
        row.map(|row| self.parse_lock_record(&row.get::<_, String>(0)))
            .transpose()
    }

    async fn remove_stale_record(
        &self,
        client: &Client,
        id: &str,
    ) -> Result<ForceUnlock, PostgresStateError> {
        let query = |source| self.query_error("remove the state lock", source);
        let select = format!("SELECT info FROM {} WHERE name = $1", self.sql.locks);
        let Some(row) = client
            .query_opt(&select, &[&self.name])
            .await
            .map_err(query)?
        else {
            return Ok(ForceUnlock::NoRecord);
        };
        let holder = self.parse_lock_record(&row.get::<_, String>(0))?;
        if holder.id != id {
            return Ok(ForceUnlock::OtherId(holder));
        }

        // Taking the advisory lock proves that no live session holds it.
        let acquired: bool = client
            .query_one("SELECT pg_try_advisory_lock($1)", &[&self.lock_key])
            .await
            .map_err(query)?
            .get(0);
        if !acquired {
            let (high, low) = split_key(self.lock_key);
            let pid = client
                .query_opt(&format!("{} LIMIT 1", lock_holder_pids(1)), &[&high, &low])
                .await
                .map_err(query)?
                .map(|row| row.get::<_, i32>(0));
            return Ok(ForceUnlock::Held(holder, pid));
        }
        let delete = format!("DELETE FROM {} WHERE name = $1 AND id = $2", self.sql.locks);
        let deleted = client.execute(&delete, &[&self.name, &id]).await;
        let unlocked = client
            .execute("SELECT pg_advisory_unlock($1)", &[&self.lock_key])
            .await;
        deleted.and(unlocked).map_err(query)?;
        Ok(ForceUnlock::Removed)
    }

    /// Removes this holder's record and releases the advisory lock.
    async fn release_lock(&self, client: &Client, id: &str) -> Result<(), PostgresStateError> {
        let query = |source| self.query_error("release the state lock", source);
        let delete = format!("DELETE FROM {} WHERE name = $1 AND id = $2", self.sql.locks);
        client
            .execute(&delete, &[&self.name, &id])
            .await
            .map_err(query)?;
        client
            .execute("SELECT pg_advisory_unlock($1)", &[&self.lock_key])
            .await
            .map_err(query)?;
        Ok(())
    }

    fn parse_lock_record(&self, text: &str) -> Result<LockInfo, PostgresStateError> {
        serde_json::from_str(text)
            .map_err(|error| self.damaged(format!("the lock record is invalid: {error}")))
    }
}

/// Returns a query for the server process IDs of the sessions that hold an
/// advisory lock in this database, whose key halves are the parameters
/// numbered `first` and `first + 1`. PostgreSQL shows a bigint advisory key
/// as its high half in `classid`, its low half in `objid`, and
/// `objsubid = 1`.
fn lock_holder_pids(first: usize) -> String {
    format!(
        "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted \
         AND database = (SELECT oid FROM pg_database WHERE datname = current_database()) \
         AND classid = ${first} AND objid = ${} AND objsubid = 1",
        first + 1
    )
}

/// A held lock on a PostgreSQL state: the connection that holds the
/// advisory lock. Dropping it releases the lock.
#[derive(Debug)]
pub struct PostgresLock {
    inner: Arc<Inner>,
    session: Option<Session>,
    info: LockInfo,
}

impl PostgresLock {
    /// Takes the advisory lock on a connection of its own and records this
    /// process as the holder. While another session holds it, tries again
    /// every [`LOCK_RETRY_INTERVAL`] until `timeout` has passed, then fails
    /// naming the live holder; without a timeout it fails at once.
    pub(super) fn acquire(
        inner: &Arc<Inner>,
        operation: &str,
        timeout: Option<Duration>,
    ) -> Result<PostgresLock, StateError> {
        let session = Session::connect(&inner.config, &inner.location)?;
        inner.ensure_tables(&session)?;

        let info = LockInfo::new(operation);
        let record = serde_json::to_string(&info).expect("a lock record is valid JSON");
        let started = Instant::now();
        loop {
            let job_inner = Arc::clone(inner);
            let (id, record) = (info.id.clone(), record.clone());
            let attempt = session.run("take the state lock", move |client| async move {
                job_inner.try_lock(&client, &id, &record).await
            })?;
            let holder = match attempt {
                LockAttempt::Acquired => {
                    return Ok(PostgresLock {
                        inner: Arc::clone(inner),
                        session: Some(session),
                        info,
                    });
                }
                LockAttempt::Held(holder) => holder,
            };
            let waited = started.elapsed();
            match timeout.and_then(|limit| limit.checked_sub(waited)) {
                Some(remaining) if !remaining.is_zero() => {
                    std::thread::sleep(remaining.min(LOCK_RETRY_INTERVAL));
                }
                _ => {
                    return Err(StateError::Locked {
                        location: inner.location.clone(),
                        holder: holder.map(Box::new),
                        waited,
                    });
                }
            }
        }
    }

    fn release(&mut self) -> Result<(), StateError> {
        let Some(session) = self.session.take() else {
            return Ok(());
        };
        let inner = Arc::clone(&self.inner);
        let id = self.info.id.clone();
        let released = session.run("release the state lock", move |client| async move {
            inner.release_lock(&client, &id).await
        });
        // Closing the connection ends the advisory lock even when the
        // statements failed. Only the record may then remain, and the next
        // locker replaces it.
        drop(session);
        Ok(released?)
    }
}

impl LockGuard for PostgresLock {
    fn info(&self) -> &LockInfo {
        &self.info
    }

    fn unlock(mut self: Box<Self>) -> Result<(), StateError> {
        self.release()
    }
}

impl Drop for PostgresLock {
    fn drop(&mut self) {
        if let Err(error) = self.release() {
            tracing::warn!(lock_id = %self.info.id, "failed to release the state lock: {error}");
        }
    }
}

/// Splits an advisory key into the `classid` and `objid` of `pg_locks`.
pub(super) fn split_key(key: i64) -> (u32, u32) {
    let bits = key as u64;
    ((bits >> 32) as u32, bits as u32)
}

/// Removes the lock record with this ID when no live session holds the
/// advisory lock.
pub(super) fn force_unlock(inner: &Arc<Inner>, id: &str) -> Result<(), StateError> {
    let session = inner.session()?;
    let job_inner = Arc::clone(inner);
    let requested_id = id.to_owned();
    let outcome = session.run("remove the state lock", move |client| async move {
        job_inner.remove_stale_record(&client, &requested_id).await
    })?;
    let location = inner.location.clone();
    match outcome {
        ForceUnlock::Removed => Ok(()),
        ForceUnlock::NoRecord => Err(StateError::NotLocked {
            location,
            id: id.to_owned(),
        }),
        ForceUnlock::OtherId(holder) => Err(StateError::LockIdMismatch {
            location,
            given: id.to_owned(),
            holder: Box::new(holder),
        }),
        ForceUnlock::Held(holder, session_pid) => Err(PostgresStateError::AdvisoryLockHeld {
            location,
            holder: Box::new(holder),
            session_pid,
        }
        .into()),
    }
}
