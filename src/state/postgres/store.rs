//! Reading, writing and journaling the state rows of the PostgreSQL backend.
//!
//! Every statement here runs as a job on a [`Session`], so the functions are
//! async and take the session's client. A write checks the stored lineage
//! and serial under `SELECT … FOR UPDATE` and replaces the row in the same
//! transaction that removes the journal rows it contains.

use std::sync::atomic::Ordering;
use std::sync::{Arc, PoisonError};

use serde::{Deserialize, Serialize};
use tokio_postgres::Client;

use super::session::Session;
use super::{Inner, PostgresBackend, PostgresStateError, from_column, to_column};
use crate::state::backend::{Journal, StateBackend};
use crate::state::error::StateError;
use crate::state::format::{ResourceRecord, decode};
use crate::state::journal::JournalChange;
use crate::state::model::State;

/// One row of the journal table.
pub(super) struct JournalRow {
    seq: i64,
    lineage: String,
    base_serial: i64,
    change: String,
}

/// A journal change in the JSON shape of a local journal line.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
enum ChangeRecord {
    Upsert(Box<ResourceRecord>),
    Remove(String),
}

impl Inner {
    /// Returns the shared connection for reads, writes and the journal,
    /// connecting again when the previous one closed.
    pub(super) fn session(self: &Arc<Self>) -> Result<Arc<Session>, PostgresStateError> {
        let mut shared = self.shared.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(session) = shared.as_ref().filter(|session| session.is_open()) {
            return Ok(Arc::clone(session));
        }
        let session = Arc::new(Session::connect(&self.config, &self.location)?);
        self.ensure_tables(&session)?;
        *shared = Some(Arc::clone(&session));
        Ok(session)
    }

    /// Creates the schema and the three tables unless they exist, once per
    /// backend.
    pub(super) fn ensure_tables(
        self: &Arc<Self>,
        session: &Session,
    ) -> Result<(), PostgresStateError> {
        if self.tables_ready.load(Ordering::Acquire) {
            return Ok(());
        }
        let inner = Arc::clone(self);
        session.run("create the state tables", move |client| async move {
            inner.create_tables(&client).await
        })?;
        self.tables_ready.store(true, Ordering::Release);
        Ok(())
    }

    async fn create_tables(&self, client: &Client) -> Result<(), PostgresStateError> {
        let query = |source| self.query_error("create the state tables", source);
        let exists = client
            .query_one(
                "SELECT to_regnamespace($1) IS NOT NULL, to_regclass($2) IS NOT NULL \
                 AND to_regclass($3) IS NOT NULL AND to_regclass($4) IS NOT NULL",
                &[
                    &self.sql.schema,
                    &self.sql.states,
                    &self.sql.locks,
                    &self.sql.journal,
                ],
            )
            .await
            .map_err(query)?;
        let (schema_exists, tables_exist): (bool, bool) = (exists.get(0), exists.get(1));
        if tables_exist {
            return Ok(());
        }

        // CREATE … IF NOT EXISTS races with itself in parallel sessions, so
        // a transaction-level advisory lock lets one session at a time run it.
        // CREATE SCHEMA checks the CREATE privilege even when the schema
        // exists, so it only runs for a missing schema.
        let mut script = format!("BEGIN; SELECT pg_advisory_xact_lock({});", self.setup_key);
        if !schema_exists {
            script.push_str(&format!("CREATE SCHEMA IF NOT EXISTS {};", self.sql.schema));
        }
        script.push_str(&self.sql.create_tables());
        script.push_str("COMMIT;");
        if let Err(source) = client.batch_execute(&script).await {
            let _ = client.batch_execute("ROLLBACK").await;
            return Err(query(source));
        }
        Ok(())
    }

    /// Reads the state document and the journal rows from one snapshot.
    pub(super) async fn read_rows(
        &self,
        client: &Client,
    ) -> Result<(Option<String>, Vec<JournalRow>), PostgresStateError> {
        let query = |source| self.query_error("read the state", source);
        client
            .batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            .await
            .map_err(query)?;
        let rows = async {
            let document = client
                .query_opt(&format!("SELECT document FROM {} WHERE name = $1", self.sql.states), &[&self.name])
                .await?
                .map(|row| row.get::<_, String>(0));
            let journal = client
                .query(
                    &format!(
                        "SELECT seq, lineage, base_serial, change FROM {} WHERE name = $1 ORDER BY seq",
                        self.sql.journal
                    ),
                    &[&self.name],
                )
                .await?
                .into_iter()
                .map(|row| JournalRow {
                    seq: row.get(0),
                    lineage: row.get(1),
                    base_serial: row.get(2),
                    change: row.get(3),
                })
                .collect();
            Ok((document, journal))
        }
        .await;
        finish_transaction(client, rows).await.map_err(query)
    }

    /// Decodes a stored state document, reporting damage with this state's
    /// description instead of a file name.
    pub(super) fn decode(&self, document: &str) -> Result<State, StateError> {
        decode(document.as_bytes(), &self.location).map_err(|error| match error {
            StateError::Damaged { reason, .. } => PostgresStateError::Damaged {
                location: self.location.clone(),
                reason,
            }
            .into(),
            other => other,
        })
    }

    /// Replays journal rows onto the stored state, with the rules of the
    /// local journal: rows of an older serial of the same lineage were
    /// folded into a later write and are skipped.
    pub(super) fn replay(
        &self,
        stored: Option<State>,
        rows: Vec<JournalRow>,
    ) -> Result<Option<State>, PostgresStateError> {
        let Some(first) = rows.first() else {
            return Ok(stored);
        };
        let lineage = first.lineage.clone();
        let base_serial = from_column(first.base_serial, &self.location)?;
        if let Some(row) = rows
            .iter()
            .find(|row| row.lineage != lineage || row.base_serial != first.base_serial)
        {
            return Err(self.damaged(format!(
                "journal row {} belongs to another apply than journal row {}",
                row.seq, first.seq
            )));
        }

        let mut state = match stored {
            Some(state) => state,
            None if base_serial == 0 => State::with_lineage(lineage.clone(), 0),
            None => return Err(self.journal_mismatch(&lineage, base_serial, "(no state)", 0)),
        };
        if lineage != state.lineage || base_serial > state.serial {
            return Err(self.journal_mismatch(&lineage, base_serial, &state.lineage, state.serial));
        }
        if base_serial < state.serial {
            tracing::debug!(location = %self.location, base_serial, serial = state.serial, "skipping journal rows that a later write contains");
            return Ok(Some(state));
        }
        for row in rows {
            let change = parse_change(&row.change).map_err(|reason| {
                self.damaged(format!("journal row {} is invalid: {reason}", row.seq))
            })?;
            change.apply_to(&mut state);
        }
        Ok(Some(state))
    }

    /// Stores `document` as the state of `lineage` at `serial`, replacing
    /// the row stored at `replaced_serial`, and removes journal rows that
    /// the document contains.
    pub(super) fn store(
        self: &Arc<Self>,
        lineage: &str,
        replaced_serial: u64,
        serial: u64,
        document: String,
    ) -> Result<(), StateError> {
        let session = self.session()?;
        let inner = Arc::clone(self);
        let lineage = lineage.to_owned();
        let (replaced, serial) = (to_column(replaced_serial), to_column(serial));
        session.run("write the state", move |client| async move {
            let query = |source| inner.query_error("write the state", source);
            client.batch_execute("BEGIN").await.map_err(query)?;
            let written = inner
                .write_row(&client, &lineage, replaced, serial, &document)
                .await;
            match written {
                Ok(()) => client.batch_execute("COMMIT").await.map_err(query),
                Err(error) => {
                    let _ = client.batch_execute("ROLLBACK").await;
                    Err(error)
                }
            }
        })?;
        Ok(())
    }

    async fn write_row(
        &self,
        client: &Client,
        lineage: &str,
        replaced: i64,
        serial: i64,
        document: &str,
    ) -> Result<(), PostgresStateError> {
        let query = |source| self.query_error("write the state", source);
        let select = format!(
            "SELECT lineage, serial FROM {} WHERE name = $1 FOR UPDATE",
            self.sql.states
        );
        let mut stored = client
            .query_opt(&select, &[&self.name])
            .await
            .map_err(query)?;
        if stored.is_none() {
            let insert = format!(
                "INSERT INTO {} (name, lineage, serial, document, updated_at) VALUES ($1, $2, $3, $4, now()) \
                 ON CONFLICT (name) DO NOTHING",
                self.sql.states
            );
            let inserted = client
                .execute(&insert, &[&self.name, &lineage, &serial, &document])
                .await
                .map_err(query)?;
            if inserted == 1 {
                return self.remove_folded_journal(client, lineage, replaced).await;
            }
            // Another writer created the row after the SELECT, so the write
            // is checked against that row.
            stored = client
                .query_opt(&select, &[&self.name])
                .await
                .map_err(query)?;
        }

        if let Some(row) = stored {
            let (stored_lineage, stored_serial): (String, i64) = (row.get(0), row.get(1));
            self.check_replaceable(&stored_lineage, stored_serial, lineage, replaced)?;
            let update = format!(
                "UPDATE {} SET lineage = $2, serial = $3, document = $4, updated_at = now() WHERE name = $1",
                self.sql.states
            );
            client
                .execute(&update, &[&self.name, &lineage, &serial, &document])
                .await
                .map_err(query)?;
        }
        self.remove_folded_journal(client, lineage, replaced).await
    }

    fn check_replaceable(
        &self,
        stored_lineage: &str,
        stored_serial: i64,
        lineage: &str,
        read: i64,
    ) -> Result<(), PostgresStateError> {
        if stored_lineage != lineage {
            return Err(PostgresStateError::LineageMismatch {
                location: self.location.clone(),
                stored: stored_lineage.to_owned(),
                written: lineage.to_owned(),
            });
        }
        if stored_serial != read {
            return Err(PostgresStateError::ConcurrentWrite {
                location: self.location.clone(),
                stored: from_column(stored_serial, &self.location)?,
                read: from_column(read, &self.location)?,
            });
        }
        Ok(())
    }

    async fn remove_folded_journal(
        &self,
        client: &Client,
        lineage: &str,
        replaced: i64,
    ) -> Result<(), PostgresStateError> {
        let delete = format!(
            "DELETE FROM {} WHERE name = $1 AND lineage = $2 AND base_serial <= $3",
            self.sql.journal
        );
        client
            .execute(&delete, &[&self.name, &lineage, &replaced])
            .await
            .map_err(|source| self.query_error("remove the state journal", source))?;
        Ok(())
    }

    /// Prepares the journal rows for an apply from `lineage` at
    /// `base_serial`: rows of the same base are continued, rows of an
    /// older serial of the same lineage are removed, and any other rows are
    /// a mismatch.
    async fn open_journal(
        &self,
        client: &Client,
        lineage: &str,
        base_serial: i64,
    ) -> Result<(), PostgresStateError> {
        let query = |source| self.query_error("open the state journal", source);
        let pending = client
            .query(
                &format!(
                    "SELECT DISTINCT lineage, base_serial FROM {} WHERE name = $1",
                    self.sql.journal
                ),
                &[&self.name],
            )
            .await
            .map_err(query)?;
        for row in pending {
            let (pending_lineage, pending_serial): (String, i64) = (row.get(0), row.get(1));
            if pending_lineage == lineage && pending_serial == base_serial {
                continue;
            }
            if pending_lineage != lineage || pending_serial > base_serial {
                return Err(self.journal_mismatch(
                    &pending_lineage,
                    from_column(pending_serial, &self.location)?,
                    lineage,
                    from_column(base_serial, &self.location)?,
                ));
            }
            self.remove_folded_journal(client, lineage, pending_serial)
                .await?;
        }
        Ok(())
    }

    async fn append_journal(
        &self,
        client: &Client,
        lineage: &str,
        base_serial: i64,
        changes: &[String],
    ) -> Result<(), PostgresStateError> {
        // One statement is one transaction: either every change is stored or none.
        let insert = format!(
            "INSERT INTO {} (name, lineage, base_serial, change) \
             SELECT $1, $2, $3, change FROM unnest($4::text[]) WITH ORDINALITY AS new(change, position) \
             ORDER BY position",
            self.sql.journal
        );
        client
            .execute(&insert, &[&self.name, &lineage, &base_serial, &changes])
            .await
            .map_err(|source| self.query_error("append to the state journal", source))?;
        Ok(())
    }
}

/// The journal of a PostgreSQL state: rows appended to `TABLE_journal`.
#[derive(Debug)]
pub struct PostgresJournal {
    inner: Arc<Inner>,
    session: Arc<Session>,
    lineage: String,
    base_serial: u64,
}

impl PostgresJournal {
    /// Opens the journal of an apply that starts from `base`, continuing
    /// pending rows of the same base.
    pub(super) fn open(inner: &Arc<Inner>, base: &State) -> Result<PostgresJournal, StateError> {
        let session = inner.session()?;
        let job_inner = Arc::clone(inner);
        let lineage = base.lineage.clone();
        let base_serial = to_column(base.serial);
        session.run("open the state journal", move |client| async move {
            job_inner.open_journal(&client, &lineage, base_serial).await
        })?;
        Ok(PostgresJournal {
            inner: Arc::clone(inner),
            session,
            lineage: base.lineage.clone(),
            base_serial: base.serial,
        })
    }
}

impl Journal for PostgresJournal {
    fn append_many(&mut self, changes: &[JournalChange]) -> Result<(), StateError> {
        if changes.is_empty() {
            return Ok(());
        }
        let lines = changes
            .iter()
            .map(encode_change)
            .collect::<Result<Vec<_>, _>>()?;
        let inner = Arc::clone(&self.inner);
        let lineage = self.lineage.clone();
        let base_serial = to_column(self.base_serial);
        self.session
            .run("append to the state journal", move |client| async move {
                inner
                    .append_journal(&client, &lineage, base_serial, &lines)
                    .await
            })?;
        Ok(())
    }

    fn compact(self: Box<Self>, state: &mut State) -> Result<(), StateError> {
        if state.lineage != self.lineage || state.serial != self.base_serial {
            return Err(self
                .inner
                .journal_mismatch(
                    &self.lineage,
                    self.base_serial,
                    &state.lineage,
                    state.serial,
                )
                .into());
        }
        // The write stores the state and removes these rows in one transaction.
        PostgresBackend { inner: self.inner, lock_timeout: None }.write(state)
    }
}

fn encode_change(change: &JournalChange) -> Result<String, StateError> {
    let record = match change {
        JournalChange::Upsert(resource) => {
            ChangeRecord::Upsert(Box::new(ResourceRecord::from_resource(resource)?))
        }
        JournalChange::Remove(address) => ChangeRecord::Remove(address.clone()),
    };
    Ok(serde_json::to_string(&record).expect("a journal change is valid JSON"))
}

fn parse_change(text: &str) -> Result<JournalChange, String> {
    let record: ChangeRecord = serde_json::from_str(text).map_err(|error| error.to_string())?;
    Ok(match record {
        ChangeRecord::Upsert(record) => {
            record.validate()?;
            JournalChange::Upsert((*record).into_resource())
        }
        ChangeRecord::Remove(address) => JournalChange::Remove(address),
    })
}

/// Commits a transaction whose statements succeeded, or rolls it back.
async fn finish_transaction<T>(
    client: &Client,
    result: Result<T, tokio_postgres::Error>,
) -> Result<T, tokio_postgres::Error> {
    match result {
        Ok(value) => {
            client.batch_execute("COMMIT").await?;
            Ok(value)
        }
        Err(error) => {
            let _ = client.batch_execute("ROLLBACK").await;
            Err(error)
        }
    }
}
