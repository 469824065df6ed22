//! The catalog's `_tenancy_file_inspections` table: for each tenant
//! database file, the fingerprint it had after apply closed it and the
//! settings apply read back from it.
//!
//! Refresh uses a recorded row instead of opening the file with SQLite when
//! the file's current fingerprint is equal to the recorded one. The table is
//! internal to tenancy: applications read `database_files`, and no read of a
//! resource returns these rows.

use std::collections::HashMap;

use rusqlite::{Connection, Row, params};

use crate::fingerprint::Fingerprint;
use crate::tenant_file::FileSettings;

/// A tenant database file's fingerprint and the settings read from it while
/// it had that fingerprint.
#[derive(Debug, Clone, PartialEq)]
pub struct Inspection {
    /// The file's fingerprint after the connection that wrote it closed.
    pub fingerprint: Fingerprint,
    /// The settings read back from the file.
    pub settings: FileSettings,
}

const COLUMNS: &str = "tenant_id, dev, ino, size, mtime_sec, mtime_nsec, ctime_sec, ctime_nsec, \
     change_counter, schema_cookie, write_version, read_version, user_version, application_id, \
     journal_mode, max_size_mb, secure_delete, audit_logging";

/// Records the inspection of `tenant_id`'s file, replacing an earlier one.
/// `None` removes the earlier one, so refresh opens the file with SQLite.
pub fn record(
    connection: &Connection,
    tenant_id: &str,
    inspection: Option<&Inspection>,
) -> rusqlite::Result<()> {
    let Some(Inspection {
        fingerprint,
        settings,
    }) = inspection
    else {
        return forget(connection, tenant_id);
    };
    let sql = format!(
        "INSERT OR REPLACE INTO _tenancy_file_inspections ({COLUMNS})
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18)"
    );
    connection.prepare_cached(&sql)?.execute(params![
        tenant_id,
        fingerprint.dev,
        fingerprint.ino,
        fingerprint.size,
        fingerprint.mtime_sec,
        fingerprint.mtime_nsec,
        fingerprint.ctime_sec,
        fingerprint.ctime_nsec,
        fingerprint.change_counter,
        fingerprint.schema_cookie,
        fingerprint.write_version,
        fingerprint.read_version,
        fingerprint.user_version,
        fingerprint.application_id,
        settings.journal_mode,
        settings.max_size_mb,
        settings.secure_delete,
        settings.audit_logging,
    ])?;
    Ok(())
}

/// Removes the recorded inspection of `tenant_id`'s file, if any.
pub fn forget(connection: &Connection, tenant_id: &str) -> rusqlite::Result<()> {
    connection
        .prepare_cached("DELETE FROM _tenancy_file_inspections WHERE tenant_id = ?1")?
        .execute([tenant_id])?;
    Ok(())
}

/// Reads the recorded inspections of every tenant in `keys` with one
/// statement; returns them by tenant id.
pub fn select_many(
    connection: &Connection,
    keys: &[&str],
) -> rusqlite::Result<HashMap<String, Inspection>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM {}",
        crate::tables::requested_rows("_tenancy_file_inspections", "tenant_id")
    );
    let keys_json = serde_json::to_string(keys).unwrap_or_else(|_| "[]".to_owned());
    let mut statement = connection.prepare_cached(&sql)?;
    let rows = statement.query_map([keys_json], |row| {
        Ok((row.get::<_, String>(0)?, from_row(row)?))
    })?;
    rows.collect()
}

fn from_row(row: &Row<'_>) -> rusqlite::Result<Inspection> {
    Ok(Inspection {
        fingerprint: Fingerprint {
            dev: row.get(1)?,
            ino: row.get(2)?,
            size: row.get(3)?,
            mtime_sec: row.get(4)?,
            mtime_nsec: row.get(5)?,
            ctime_sec: row.get(6)?,
            ctime_nsec: row.get(7)?,
            change_counter: row.get(8)?,
            schema_cookie: row.get(9)?,
            write_version: row.get(10)?,
            read_version: row.get(11)?,
            user_version: row.get(12)?,
            application_id: row.get(13)?,
        },
        settings: FileSettings {
            journal_mode: row.get(14)?,
            max_size_mb: row.get(15)?,
            secure_delete: row.get(16)?,
            audit_logging: row.get(17)?,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inspection(ino: i64) -> Inspection {
        Inspection {
            fingerprint: Fingerprint {
                dev: -1,
                ino,
                size: 8192,
                mtime_sec: 1_700_000_000,
                mtime_nsec: 123_456_789,
                ctime_sec: 1_700_000_001,
                ctime_nsec: 987_654_321,
                change_counter: u32::MAX.into(),
                schema_cookie: 3,
                write_version: 2,
                read_version: 2,
                user_version: 1,
                application_id: 0x546e_6379,
            },
            settings: FileSettings {
                journal_mode: "wal".to_owned(),
                max_size_mb: Some(51200.0),
                secure_delete: true,
                audit_logging: false,
            },
        }
    }

    #[test]
    fn record_round_trips_and_replaces() {
        let mut connection = Connection::open_in_memory().unwrap();
        crate::migrations::migrate(&mut connection).unwrap();

        record(&connection, "acme", Some(&inspection(1))).unwrap();
        record(&connection, "acme", Some(&inspection(2))).unwrap();
        record(&connection, "globex", Some(&inspection(3))).unwrap();

        let found = select_many(&connection, &["acme", "missing"]).unwrap();
        assert_eq!(found.len(), 1);
        assert_eq!(found["acme"], inspection(2));
    }

    #[test]
    fn record_without_inspection_forgets() {
        let mut connection = Connection::open_in_memory().unwrap();
        crate::migrations::migrate(&mut connection).unwrap();
        record(&connection, "acme", Some(&inspection(1))).unwrap();

        record(&connection, "acme", None).unwrap();

        assert!(select_many(&connection, &["acme"]).unwrap().is_empty());
    }
}
