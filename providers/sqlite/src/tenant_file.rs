//! Tenant database files: creating them, applying the settings that SQLite
//! can keep in the file, reading those settings back, and removing them.
//!
//! Persistent in the file itself: the WAL journal mode, the
//! `application_id` that marks the file as managed by tenancy, the
//! `user_version` of tenancy's own tables, and the audit triggers. Settings
//! that SQLite applies per connection (`secure_delete`, the size limit
//! through `max_page_count`) are stored in the `_tenancy_settings` table for
//! applications to apply when they connect.

use std::collections::HashSet;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use rusqlite::{Connection, OpenFlags, OptionalExtension, TransactionBehavior, params};

use crate::catalog::BUSY_TIMEOUT;
use crate::error::{Result, SqliteError};

/// The `application_id` header value of tenant databases: ASCII `Tncy`.
pub const APPLICATION_ID: i32 = 0x546e_6379;

/// The `user_version` header value: the layout of tenancy's own tables.
pub const LAYOUT_VERSION: i32 = 1;

/// The journal modes a tenant database accepts, the default first.
pub const JOURNAL_MODES: [&str; 2] = ["wal", "delete"];

/// The name prefix of the audit triggers.
const AUDIT_TRIGGER_PREFIX: &str = "_tenancy_audit_";

/// The row operations the audit triggers record.
const AUDITED_OPERATIONS: [&str; 3] = ["insert", "update", "delete"];

const LAYOUT_SQL: &str = "
CREATE TABLE IF NOT EXISTS _tenancy_settings (
    name   TEXT PRIMARY KEY,
    value  ANY
) STRICT;

CREATE TABLE IF NOT EXISTS _tenancy_audit (
    id          INTEGER PRIMARY KEY,
    table_name  TEXT NOT NULL,
    operation   TEXT NOT NULL CHECK (operation IN ('insert', 'update', 'delete')),
    row_id      INTEGER,
    changed_at  TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
) STRICT;
";

/// The settings of a tenant database that live in the file.
#[derive(Debug, Clone, PartialEq)]
pub struct FileSettings {
    /// `wal` or `delete`.
    pub journal_mode: String,
    /// The size limit in MiB that applications apply with `max_page_count`.
    pub max_size_mb: Option<f64>,
    /// Whether connections must turn on `PRAGMA secure_delete`.
    pub secure_delete: bool,
    /// Whether every user table carries the audit triggers.
    pub audit_logging: bool,
}

/// Returns the `-wal`, `-shm` and `-journal` companions of a database file.
pub fn companion_files(path: &Path) -> Vec<PathBuf> {
    ["-wal", "-shm", "-journal"]
        .iter()
        .map(|suffix| {
            let mut name = path.as_os_str().to_owned();
            name.push(suffix);
            PathBuf::from(name)
        })
        .collect()
}

fn open(subject: &str, path: &Path, create: bool) -> Result<Connection> {
    let mut flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    if create {
        flags |= OpenFlags::SQLITE_OPEN_CREATE;
    }
    let connection = Connection::open_with_flags(path, flags)
        .map_err(|error| SqliteError::tenant_database(subject, "open the file", path, error))?;
    connection.busy_timeout(BUSY_TIMEOUT).map_err(|error| {
        SqliteError::tenant_database(subject, "set the busy timeout", path, error)
    })?;
    Ok(connection)
}

/// Creates the file if needed and applies `settings` to it. An existing file
/// is adopted only when it is empty, or when tenancy created it for this
/// tenant. Returns the settings read back from the file.
pub fn provision(
    subject: &str,
    path: &Path,
    tenant_id: &str,
    settings: &FileSettings,
) -> Result<FileSettings> {
    let fail = |action: &str| {
        let subject = subject.to_owned();
        let action = action.to_owned();
        move |error| SqliteError::tenant_database(subject, action, path, error)
    };
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent)
            .map_err(|error| SqliteError::io(subject, "create the directory", parent, error))?;
    }

    let is_new = is_missing_or_empty(path);
    let mut connection = open(subject, path, true)?;
    if check_ownership(subject, path, tenant_id, &connection)? == Ownership::Marked {
        tracing::debug!(
            address = subject,
            path = %path.display(),
            "adopting the tenant database that tenancy created earlier"
        );
    }
    let previous = read_settings(&connection).map_err(fail("read `_tenancy_settings`"))?;

    set_journal_mode(subject, path, &connection, &settings.journal_mode)?;
    let transaction = connection
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(fail("begin a transaction"))?;
    transaction
        .execute_batch(&format!(
            "PRAGMA application_id = {APPLICATION_ID}; PRAGMA user_version = {LAYOUT_VERSION};{LAYOUT_SQL}"
        ))
        .map_err(fail("create tenancy's tables"))?;
    write_settings(&transaction, tenant_id, settings).map_err(fail("write `_tenancy_settings`"))?;
    sync_audit_triggers(&transaction, settings.audit_logging)
        .map_err(fail("update the audit triggers"))?;
    transaction.commit().map_err(fail("commit the settings"))?;

    // Turning secure delete on also purges what earlier deletes left in free
    // pages: VACUUM rebuilds the file from live content only. A file that
    // this call created has no deleted content to purge.
    let turned_on = settings.secure_delete
        && !previous
            .as_ref()
            .is_some_and(|previous| previous.secure_delete);
    if turned_on && !is_new {
        connection
            .execute_batch("PRAGMA secure_delete = ON; VACUUM;")
            .map_err(fail("purge free pages with VACUUM"))?;
    }

    let applied = inspect_connection(&connection).map_err(fail("read the settings back"))?;
    // Closing the last connection of a WAL database checkpoints into the
    // main file, so callers that look at the file afterwards see its final
    // state.
    connection.close().map_err(|(_, error)| {
        SqliteError::tenant_database(subject, "close the file", path, error)
    })?;
    Ok(applied)
}

/// Returns true when `path` does not exist or is empty, so SQLite will
/// create a new database there. Other failures return false, and opening
/// the file reports them.
fn is_missing_or_empty(path: &Path) -> bool {
    match fs::metadata(path) {
        Ok(metadata) => metadata.len() == 0,
        Err(error) => error.kind() == io::ErrorKind::NotFound,
    }
}

/// The reason an existing file may be provisioned.
#[derive(Debug, PartialEq, Eq)]
enum Ownership {
    /// The file has no table and no application id: new, or created by a
    /// run that stopped before it wrote the header.
    Empty,
    /// The file carries tenancy's application id and no other tenant's id.
    Marked,
}

/// Rejects a file that another program or another tenant owns: tenancy
/// adopts only files without any table, or files it marked with its
/// application id whose recorded tenant id, if any, is `tenant_id`.
fn check_ownership(
    subject: &str,
    path: &Path,
    tenant_id: &str,
    connection: &Connection,
) -> Result<Ownership> {
    let fail = |error| SqliteError::tenant_database(subject, "read the file header", path, error);
    let application_id: i32 = connection
        .pragma_query_value(None, "application_id", |row| row.get(0))
        .map_err(fail)?;
    if application_id == APPLICATION_ID {
        let recorded = recorded_tenant_id(connection).map_err(fail)?;
        return match recorded {
            Some(recorded) if recorded != tenant_id => Err(SqliteError::Conflict {
                subject: subject.to_owned(),
                message: format!(
                    "`{}` is the tenant database of tenant `{recorded}`, not of `{tenant_id}`",
                    path.display()
                ),
                hint: "Move the file away: tenancy never adopts another tenant's database."
                    .to_owned(),
            }),
            _ => Ok(Ownership::Marked),
        };
    }
    let objects: i64 = connection
        .query_row("SELECT count(*) FROM sqlite_schema", [], |row| row.get(0))
        .map_err(fail)?;
    if application_id == 0 && objects == 0 {
        return Ok(Ownership::Empty);
    }
    Err(SqliteError::Conflict {
        subject: subject.to_owned(),
        message: format!(
            "`{}` is a SQLite database that tenancy did not create (application_id {application_id:#x})",
            path.display()
        ),
        hint: "Move the file away, or set `PRAGMA application_id` to 0x546e6379 in it to let tenancy adopt it."
            .to_owned(),
    })
}

/// Reads the tenant id that `_tenancy_settings` records, if any.
fn recorded_tenant_id(connection: &Connection) -> rusqlite::Result<Option<String>> {
    if !has_settings_table(connection)? {
        return Ok(None);
    }
    let value: Option<rusqlite::types::Value> = connection
        .query_row(
            "SELECT value FROM _tenancy_settings WHERE name = 'tenant_id'",
            [],
            |row| row.get(0),
        )
        .optional()?;
    Ok(match value {
        Some(rusqlite::types::Value::Text(text)) => Some(text),
        _ => None,
    })
}

fn has_settings_table(connection: &Connection) -> rusqlite::Result<bool> {
    connection.query_row(
        "SELECT EXISTS (SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = '_tenancy_settings')",
        [],
        |row| row.get(0),
    )
}

fn set_journal_mode(subject: &str, path: &Path, connection: &Connection, mode: &str) -> Result<()> {
    let applied: String = connection
        .pragma_update_and_check(None, "journal_mode", mode, |row| row.get(0))
        .map_err(|error| {
            SqliteError::tenant_database(
                subject,
                format!("set journal_mode to `{mode}`"),
                path,
                error,
            )
        })?;
    if applied.eq_ignore_ascii_case(mode) {
        return Ok(());
    }
    Err(SqliteError::Conflict {
        subject: subject.to_owned(),
        message: format!(
            "SQLite kept journal_mode `{applied}` instead of `{mode}` for `{}`",
            path.display()
        ),
        hint: "Leaving WAL mode needs exclusive access: close the applications that have the file open, then apply again."
            .to_owned(),
    })
}

fn write_settings(
    connection: &Connection,
    tenant_id: &str,
    settings: &FileSettings,
) -> rusqlite::Result<()> {
    let mut statement = connection.prepare(
        "INSERT INTO _tenancy_settings (name, value) VALUES (?1, ?2)
         ON CONFLICT (name) DO UPDATE SET value = excluded.value",
    )?;
    statement.execute(params!["tenant_id", tenant_id])?;
    statement.execute(params!["max_size_mb", settings.max_size_mb])?;
    statement.execute(params!["secure_delete", settings.secure_delete])?;
    statement.execute(params!["audit_logging", settings.audit_logging])?;
    Ok(())
}

/// Reads `_tenancy_settings`, or `None` when the table does not exist.
fn read_settings(connection: &Connection) -> rusqlite::Result<Option<FileSettings>> {
    if !has_settings_table(connection)? {
        return Ok(None);
    }
    let setting = |name: &str| -> rusqlite::Result<Option<rusqlite::types::Value>> {
        connection
            .query_row(
                "SELECT value FROM _tenancy_settings WHERE name = ?1",
                [name],
                |row| row.get(0),
            )
            .optional()
    };
    let flag = |value: Option<rusqlite::types::Value>| {
        matches!(value, Some(rusqlite::types::Value::Integer(1)))
    };
    let max_size_mb = match setting("max_size_mb")? {
        Some(rusqlite::types::Value::Real(number)) => Some(number),
        Some(rusqlite::types::Value::Integer(number)) => Some(number as f64),
        _ => None,
    };
    Ok(Some(FileSettings {
        journal_mode: String::new(),
        max_size_mb,
        secure_delete: flag(setting("secure_delete")?),
        audit_logging: flag(setting("audit_logging")?),
    }))
}

/// Returns the user tables of the file with whether each has a rowid.
fn user_tables(connection: &Connection) -> rusqlite::Result<Vec<(String, bool)>> {
    let mut statement = connection.prepare(
        "SELECT name, wr FROM pragma_table_list
         WHERE schema = 'main' AND type = 'table'
           AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' AND name NOT LIKE '\\_tenancy\\_%' ESCAPE '\\'
         ORDER BY name",
    )?;
    let rows = statement.query_map([], |row| {
        Ok((row.get::<_, String>(0)?, row.get::<_, i64>(1)? == 0))
    })?;
    rows.collect()
}

fn audit_triggers(connection: &Connection) -> rusqlite::Result<HashSet<String>> {
    let mut statement = connection.prepare(
        "SELECT name FROM sqlite_schema WHERE type = 'trigger' AND name LIKE '\\_tenancy\\_audit\\_%' ESCAPE '\\'",
    )?;
    let rows = statement.query_map([], |row| row.get::<_, String>(0))?;
    rows.collect()
}

fn trigger_name(table: &str, operation: &str) -> String {
    format!("{AUDIT_TRIGGER_PREFIX}{table}_{operation}")
}

/// Installs the audit triggers on every user table, or drops them all.
fn sync_audit_triggers(connection: &Connection, enabled: bool) -> rusqlite::Result<()> {
    if !enabled {
        for trigger in audit_triggers(connection)? {
            connection.execute_batch(&format!(
                "DROP TRIGGER IF EXISTS {}",
                quote_identifier(&trigger)
            ))?;
        }
        return Ok(());
    }
    for (table, has_rowid) in user_tables(connection)? {
        for operation in AUDITED_OPERATIONS {
            let row = if operation == "delete" { "OLD" } else { "NEW" };
            let row_id = if has_rowid {
                format!("{row}.rowid")
            } else {
                "NULL".to_owned()
            };
            connection.execute_batch(&format!(
                "CREATE TRIGGER IF NOT EXISTS {trigger} AFTER {event} ON {table}
                 BEGIN
                     INSERT INTO _tenancy_audit (table_name, operation, row_id)
                     VALUES ({name}, '{operation}', {row_id});
                 END",
                trigger = quote_identifier(&trigger_name(&table, operation)),
                event = operation.to_ascii_uppercase(),
                table = quote_identifier(&table),
                name = quote_literal(&table),
            ))?;
        }
    }
    Ok(())
}

/// Returns true when every user table carries all audit triggers.
fn audit_complete(connection: &Connection) -> rusqlite::Result<bool> {
    let triggers = audit_triggers(connection)?;
    let tables = user_tables(connection)?;
    Ok(tables.iter().all(|(table, _)| {
        AUDITED_OPERATIONS
            .iter()
            .all(|operation| triggers.contains(&trigger_name(table, operation)))
    }))
}

fn inspect_connection(connection: &Connection) -> rusqlite::Result<FileSettings> {
    let journal_mode: String =
        connection.pragma_query_value(None, "journal_mode", |row| row.get(0))?;
    let stored = read_settings(connection)?;
    let audit_logging = match &stored {
        Some(stored) if stored.audit_logging => audit_complete(connection)?,
        _ => false,
    };
    Ok(FileSettings {
        journal_mode: journal_mode.to_ascii_lowercase(),
        max_size_mb: stored.as_ref().and_then(|stored| stored.max_size_mb),
        secure_delete: stored.as_ref().is_some_and(|stored| stored.secure_delete),
        audit_logging,
    })
}

/// Reads the settings of the file at `path`, or `None` when it does not
/// exist. `audit_logging` reads as false when a table lacks its triggers,
/// so a table created since the last apply shows up as drift.
pub fn inspect(subject: &str, path: &Path) -> Result<Option<FileSettings>> {
    if !path
        .try_exists()
        .map_err(|error| SqliteError::io(subject, "check", path, error))?
    {
        return Ok(None);
    }
    let connection = open(subject, path, false)?;
    inspect_connection(&connection)
        .map(Some)
        .map_err(|error| SqliteError::tenant_database(subject, "read the settings", path, error))
}

/// Removes the file and its companions; files already gone are skipped.
pub fn remove(subject: &str, path: &Path) -> Result<()> {
    for file in std::iter::once(path.to_path_buf()).chain(companion_files(path)) {
        match fs::remove_file(&file) {
            Ok(()) => {}
            Err(error) if error.kind() == io::ErrorKind::NotFound => {}
            Err(error) => return Err(SqliteError::io(subject, "remove", file, error)),
        }
    }
    Ok(())
}

/// Quotes an SQL identifier: double quotes, with inner quotes doubled.
pub fn quote_identifier(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Quotes an SQL string literal: single quotes, with inner quotes doubled.
pub fn quote_literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(audit_logging: bool) -> FileSettings {
        FileSettings {
            journal_mode: "wal".to_owned(),
            max_size_mb: Some(512.0),
            secure_delete: true,
            audit_logging,
        }
    }

    #[test]
    fn provision_round_trips_settings() {
        let directory = tempfile::tempdir().unwrap();
        let path = directory.path().join("acme.db");

        let applied = provision("t", &path, "acme", &settings(true)).unwrap();

        assert_eq!(applied, settings(true));
        assert_eq!(inspect("t", &path).unwrap(), Some(settings(true)));
    }

    #[test]
    fn audit_triggers_cover_tables_added_later() {
        let directory = tempfile::tempdir().unwrap();
        let path = directory.path().join("acme.db");
        provision("t", &path, "acme", &settings(true)).unwrap();
        let connection = Connection::open(&path).unwrap();
        connection
            .execute_batch("CREATE TABLE \"odd \"\"name\" (x)")
            .unwrap();

        assert!(!inspect("t", &path).unwrap().unwrap().audit_logging);

        provision("t", &path, "acme", &settings(true)).unwrap();
        connection
            .execute_batch("INSERT INTO \"odd \"\"name\" VALUES (1)")
            .unwrap();
        let logged: String = connection
            .query_row("SELECT table_name FROM _tenancy_audit", [], |row| {
                row.get(0)
            })
            .unwrap();
        assert_eq!(logged, "odd \"name");
    }

    #[test]
    fn secure_delete_purges_content_of_adopted_file() {
        let directory = tempfile::tempdir().unwrap();
        let path = directory.path().join("acme.db");
        let secret = b"deleted-customer-record";
        Connection::open(&path)
            .unwrap()
            .execute_batch(&format!(
                "PRAGMA application_id = {APPLICATION_ID};
                 CREATE TABLE notes (body TEXT);
                 INSERT INTO notes VALUES ('{}');
                 DELETE FROM notes;",
                std::str::from_utf8(secret).unwrap()
            ))
            .unwrap();
        let contains_secret = |path: &Path| {
            fs::read(path)
                .unwrap()
                .windows(secret.len())
                .any(|window| window == secret)
        };
        assert!(contains_secret(&path), "the delete left the bytes behind");

        provision("t", &path, "acme", &settings(false)).unwrap();

        assert!(!contains_secret(&path));
    }

    #[test]
    fn foreign_database_is_not_adopted() {
        let directory = tempfile::tempdir().unwrap();
        let path = directory.path().join("acme.db");
        Connection::open(&path)
            .unwrap()
            .execute_batch("CREATE TABLE mine (x)")
            .unwrap();

        let error = provision("t", &path, "acme", &settings(false)).unwrap_err();

        assert!(error.to_string().contains("did not create"));
    }

    #[test]
    fn remove_deletes_companions() {
        let directory = tempfile::tempdir().unwrap();
        let path = directory.path().join("acme.db");
        provision("t", &path, "acme", &settings(false)).unwrap();
        fs::write(companion_files(&path)[0].clone(), b"").unwrap();

        remove("t", &path).unwrap();

        assert!(!path.exists());
        assert!(!companion_files(&path)[0].exists());
    }
}
