//! The journal of the GCS backend: each appended batch of changes is a new
//! object `PREFIX/journal/LINEAGE-BASE-SEQUENCE.json`, created with
//! `ifGenerationMatch=0`, so an append never rewrites earlier batches.

use serde::{Deserialize, Serialize};

use super::GcsBackend;
use crate::state::backend::{Journal, StateBackend};
use crate::state::error::StateError;
use crate::state::format::ResourceRecord;
use crate::state::journal::{JOURNAL_VERSION, JournalChange};
use crate::state::model::{State, TENANCY_VERSION};

/// One batch of journal changes, the content of a journal object.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct JournalBatch {
    pub(super) journal_version: u64,
    pub(super) tenancy_version: String,
    pub(super) lineage: String,
    pub(super) base_serial: u64,
    pub(super) changes: Vec<ChangeRecord>,
}

/// A journal change in the JSON shape of a local journal line.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub(super) enum ChangeRecord {
    Upsert(ResourceRecord),
    Remove(String),
}

/// The parts of a journal object name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct BatchName {
    pub(super) lineage: String,
    pub(super) base_serial: u64,
    pub(super) sequence: u64,
}

/// The journal of the GCS backend: one object per appended batch.
#[derive(Debug)]
pub struct GcsJournal {
    backend: GcsBackend,
    lineage: String,
    base_serial: u64,
    next_sequence: u64,
}

impl GcsJournal {
    pub(super) fn open(backend: GcsBackend, base: &State) -> Result<Self, StateError> {
        let mut next_sequence = 0;
        for batch in backend.list_batches()? {
            let same_lineage = batch.lineage == base.lineage;
            if same_lineage && batch.base_serial == base.serial {
                next_sequence = next_sequence.max(batch.sequence + 1);
            } else if same_lineage && batch.base_serial < base.serial {
                let store = backend.store()?;
                store
                    .delete(&backend.batch_object(&batch), None)
                    .map_err(|error| backend.error(error))?;
            } else {
                return Err(StateError::JournalMismatch {
                    path: backend.gs_url(&backend.batch_object(&batch)),
                    journal_lineage: batch.lineage,
                    journal_serial: batch.base_serial,
                    state_lineage: base.lineage.clone(),
                    state_serial: base.serial,
                });
            }
        }
        Ok(GcsJournal {
            backend,
            lineage: base.lineage.clone(),
            base_serial: base.serial,
            next_sequence,
        })
    }
}

impl Journal for GcsJournal {
    fn append_many(&mut self, changes: &[JournalChange]) -> Result<(), StateError> {
        let batch = JournalBatch {
            journal_version: JOURNAL_VERSION,
            tenancy_version: TENANCY_VERSION.to_owned(),
            lineage: self.lineage.clone(),
            base_serial: self.base_serial,
            changes: changes
                .iter()
                .map(ChangeRecord::from_change)
                .collect::<Result<_, _>>()?,
        };
        let text = serde_json::to_string(&batch).expect("a journal batch is valid JSON");
        let name = BatchName {
            lineage: self.lineage.clone(),
            base_serial: self.base_serial,
            sequence: self.next_sequence,
        };
        let store = self.backend.store()?;
        store
            .write(&self.backend.batch_object(&name), text, 0)
            .map_err(|error| self.backend.error(error))?;
        self.next_sequence += 1;
        Ok(())
    }

    fn compact(self: Box<Self>, state: &mut State) -> Result<(), StateError> {
        if state.lineage != self.lineage || state.serial != self.base_serial {
            return Err(StateError::JournalMismatch {
                path: self.backend.gs_url(&self.backend.journal_prefix()),
                journal_lineage: self.lineage.clone(),
                journal_serial: self.base_serial,
                state_lineage: state.lineage.clone(),
                state_serial: state.serial,
            });
        }
        // The write replaces the state object, then deletes the batches.
        self.backend.write(state)
    }
}

impl ChangeRecord {
    fn from_change(change: &JournalChange) -> Result<Self, StateError> {
        Ok(match change {
            JournalChange::Upsert(resource) => {
                ChangeRecord::Upsert(ResourceRecord::from_resource(resource)?)
            }
            JournalChange::Remove(address) => ChangeRecord::Remove(address.clone()),
        })
    }

    pub(super) fn into_change(self) -> JournalChange {
        match self {
            ChangeRecord::Upsert(record) => JournalChange::Upsert(record.into_resource()),
            ChangeRecord::Remove(address) => JournalChange::Remove(address),
        }
    }
}

/// Parses `LINEAGE-BASE-SEQUENCE.json`, where the lineage may contain `-`.
pub(super) fn parse_batch_name(name: &str) -> Option<BatchName> {
    let stem = name.strip_suffix(".json")?;
    let (rest, sequence) = stem.rsplit_once('-')?;
    let (lineage, base_serial) = rest.rsplit_once('-')?;
    if lineage.is_empty() || lineage.contains('/') {
        return None;
    }
    Some(BatchName {
        lineage: lineage.to_owned(),
        base_serial: base_serial.parse().ok()?,
        sequence: sequence.parse().ok()?,
    })
}
