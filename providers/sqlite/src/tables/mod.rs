//! Catalog tables: one module per resource type, sharing the generic
//! create, update, delete and batched read in this module.
//!
//! Every write runs inside the catalog writer's savepoint (see
//! [`crate::catalog::Catalog::write`]) and reads the row back before the
//! commit, so apply returns exactly what a later refresh reads. Batched
//! reads select all requested keys with one statement that takes the keys
//! as a single JSON array parameter (`json_each`), whatever their number. Table and column names in formatted SQL come only from
//! constants of this crate; every value is bound as a parameter.

pub mod database;
pub mod fields;
pub mod monitoring;
pub mod security_policy;
pub mod subscription;
pub mod tenant;
pub mod tier;

use std::collections::HashMap;
use std::path::Path;

use rusqlite::{Connection, OptionalExtension, Row, ffi};
use tenancy_sdk::Attrs;

use crate::attrs::{Input, now_timestamp};
use crate::error::{Result, SqliteError};
use crate::schemas::ResourceType;
use crate::tables::fields::Field;

/// A catalog table that stores one resource type, one row per resource.
pub trait CatalogTable {
    /// The resource type stored in the table.
    const KIND: ResourceType;
    /// The table name.
    const TABLE: &'static str;
    /// The key column, which contains the resource's id.
    const KEY: &'static str;
    /// The select list that [`CatalogTable::from_row`] reads.
    const COLUMNS: &'static str;
    /// The attributes of a row, sorted by name, with the columns of
    /// [`CatalogTable::COLUMNS`] they read.
    const FIELDS: &'static [Field];

    /// The validated values of one row, ready to bind.
    type Row;

    /// Validates planned attributes into a row.
    fn parse(input: &Input<'_>) -> Result<Self::Row>;

    /// Returns the row's key.
    fn key(row: &Self::Row) -> &str;

    /// Inserts the row, stamping `now` as its creation time.
    fn insert(connection: &Connection, row: &Self::Row, now: &str) -> rusqlite::Result<()>;

    /// Updates the existing row with this key; returns the changed row count.
    fn update(connection: &Connection, row: &Self::Row, now: &str) -> rusqlite::Result<usize>;

    /// Builds attributes from a row selected with [`CatalogTable::COLUMNS`].
    fn from_row(row: &Row<'_>) -> rusqlite::Result<Attrs> {
        fields::build(row, Self::FIELDS)
    }

    /// Explains a foreign key violation of a write: which referenced row is
    /// missing, in words a user can act on.
    fn missing_reference(
        _connection: &Connection,
        _row: &Self::Row,
    ) -> rusqlite::Result<Option<String>> {
        Ok(None)
    }

    /// Explains a foreign key violation of a delete: which rows still refer
    /// to this one.
    fn dependent_rows(_connection: &Connection, _key: &str) -> rusqlite::Result<Option<String>> {
        Ok(None)
    }

    /// Removes the rows that refer to the row with `key` but describe
    /// objects that are gone, just before that row is deleted.
    fn remove_orphans(_connection: &Connection, _key: &str) -> rusqlite::Result<()> {
        Ok(())
    }
}

/// Returns the extended SQLite result code of a failed statement.
fn extended_code(error: &rusqlite::Error) -> Option<i32> {
    error.sqlite_error().map(|failure| failure.extended_code)
}

/// Inserts a new row from planned attributes and returns its attributes.
///
/// A row that already has the key is adopted: it is updated to the planned
/// values instead. Such a row is what an apply leaves behind when it is
/// killed after the catalog commit but before the engine records the result,
/// so the next apply plans the same create and must converge.
pub fn create<T: CatalogTable>(
    connection: &Connection,
    path: &Path,
    subject: &str,
    planned: &Attrs,
) -> Result<Attrs> {
    let row = T::parse(&Input::new(subject, planned))?;
    let key = T::key(&row);
    let exists = row_exists(connection, T::TABLE, T::KEY, key).map_err(|error| {
        SqliteError::catalog(subject, format!("read `{}`", T::TABLE), path, error)
    })?;
    let now = now_timestamp();
    let (written, action) = if exists {
        tracing::debug!(
            address = subject,
            table = T::TABLE,
            key,
            "create adopts the existing catalog row"
        );
        let written = T::update(connection, &row, &now).map(|_| ());
        (written, format!("adopt the existing row in `{}`", T::TABLE))
    } else {
        let written = T::insert(connection, &row, &now);
        (written, format!("insert the row into `{}`", T::TABLE))
    };
    if let Err(error) = written {
        return Err(explain_write_error::<T>(
            connection, path, subject, &row, error, &action,
        ));
    }
    read_back::<T>(connection, path, subject, key)
}

/// Updates an existing row from planned attributes and returns its
/// attributes; a row deleted outside tenancy is a not-found error.
pub fn update<T: CatalogTable>(
    connection: &Connection,
    path: &Path,
    subject: &str,
    planned: &Attrs,
) -> Result<Attrs> {
    let row = T::parse(&Input::new(subject, planned))?;
    let changed = match T::update(connection, &row, &now_timestamp()) {
        Ok(changed) => changed,
        Err(error) => {
            let action = format!("update the row in `{}`", T::TABLE);
            return Err(explain_write_error::<T>(
                connection, path, subject, &row, error, &action,
            ));
        }
    };
    if changed == 0 {
        return Err(SqliteError::other_missing(
            subject,
            T::TABLE,
            T::key(&row),
            path,
        ));
    }
    read_back::<T>(connection, path, subject, T::key(&row))
}

/// Reads a row that the same transaction just wrote.
fn read_back<T: CatalogTable>(
    connection: &Connection,
    path: &Path,
    subject: &str,
    key: &str,
) -> Result<Attrs> {
    select_one::<T>(connection, key)
        .map_err(|error| SqliteError::catalog(subject, "read back the row", path, error))?
        .ok_or_else(|| SqliteError::other_missing(subject, T::TABLE, key, path))
}

/// Deletes the row with `key`; a row that is already gone is not an error.
pub fn delete<T: CatalogTable>(
    connection: &Connection,
    path: &Path,
    subject: &str,
    key: &str,
) -> Result<()> {
    T::remove_orphans(connection, key).map_err(|error| {
        SqliteError::catalog(subject, format!("remove rows that refer to `{key}`"), path, error)
    })?;
    let sql = format!("DELETE FROM {} WHERE {} = ?1", T::TABLE, T::KEY);
    let deleted = connection
        .prepare_cached(&sql)
        .and_then(|mut statement| statement.execute([key]));
    match deleted {
        Ok(_) => Ok(()),
        // SQLite reports an `ON DELETE RESTRICT` violation with the trigger
        // constraint code, and a `NO ACTION` one with the foreign key code.
        Err(error)
            if matches!(
                extended_code(&error),
                Some(ffi::SQLITE_CONSTRAINT_FOREIGNKEY | ffi::SQLITE_CONSTRAINT_TRIGGER)
            ) =>
        {
            let dependents = T::dependent_rows(connection, key).ok().flatten();
            Err(match dependents {
                Some(message) => SqliteError::Conflict {
                    subject: subject.to_owned(),
                    message: format!(
                        "cannot delete `{key}` from `{}` in the tenant catalog `{}`: {message}",
                        T::TABLE,
                        path.display()
                    ),
                    hint: "Delete the resources that refer to it first, for example with \
                           `tenancy destroy -target=ADDRESS` for each of them, then apply again."
                        .to_owned(),
                },
                None => SqliteError::catalog(
                    subject,
                    format!("delete the row from `{}`", T::TABLE),
                    path,
                    error,
                ),
            })
        }
        Err(error) => Err(SqliteError::catalog(
            subject,
            format!("delete the row from `{}`", T::TABLE),
            path,
            error,
        )),
    }
}

/// Reads the row with `key`, or `None` when there is none.
pub fn select_one<T: CatalogTable>(
    connection: &Connection,
    key: &str,
) -> rusqlite::Result<Option<Attrs>> {
    let sql = format!(
        "SELECT {} FROM {} WHERE {} = ?1",
        T::COLUMNS,
        T::TABLE,
        T::KEY
    );
    let mut statement = connection.prepare_cached(&sql)?;
    statement.query_row([key], T::from_row).optional()
}

/// Reads every row whose key is in `keys` with one statement; returns the
/// attributes by key. A row that contains exactly the attributes `recorded`
/// has for its key returns that set itself, shared, without building a
/// copy.
pub fn select_many<T: CatalogTable>(
    connection: &Connection,
    keys: &[&str],
    recorded: &HashMap<&str, &Attrs>,
) -> rusqlite::Result<HashMap<String, Attrs>> {
    let sql = format!(
        "SELECT {} FROM {}",
        T::COLUMNS,
        requested_rows(T::TABLE, T::KEY)
    );
    let keys_json = serde_json::to_string(keys).unwrap_or_else(|_| "[]".to_owned());
    let mut statement = connection.prepare_cached(&sql)?;
    let mut rows = statement.query([keys_json])?;
    let mut found = HashMap::with_capacity(keys.len());
    while let Some(row) = rows.next()? {
        let key: String = row.get(0)?;
        let unchanged = recorded
            .get(key.as_str())
            .filter(|attrs| fields::matches(row, T::FIELDS, attrs));
        let attrs = match unchanged {
            Some(attrs) => Attrs::clone(attrs),
            None => T::from_row(row)?,
        };
        found.insert(key, attrs);
    }
    Ok(found)
}

/// Returns the `FROM` clause that selects the rows of `table` whose `key`
/// is in the JSON array `?1`. Each key is looked up in the key's index in
/// turn, where `IN` would first copy the keys into a temporary index. A key
/// that is given twice returns its row twice.
pub fn requested_rows(table: &str, key: &str) -> String {
    format!(
        "(SELECT value AS requested_key FROM json_each(?1)) \
         CROSS JOIN {table} ON {table}.{key} = requested_key"
    )
}

/// Turns a failed insert or update into an error that names the cause: an
/// existing row in the table that really has it, or a missing referenced
/// row.
fn explain_write_error<T: CatalogTable>(
    connection: &Connection,
    path: &Path,
    subject: &str,
    row: &T::Row,
    error: rusqlite::Error,
    action: &str,
) -> SqliteError {
    match extended_code(&error) {
        Some(ffi::SQLITE_CONSTRAINT_PRIMARYKEY | ffi::SQLITE_CONSTRAINT_UNIQUE) => {
            match unique_violation(&error) {
                Some(violation) => explain_unique::<T>(path, subject, row, &violation),
                None => SqliteError::catalog(subject, action, path, error),
            }
        }
        Some(ffi::SQLITE_CONSTRAINT_FOREIGNKEY) => match T::missing_reference(connection, row) {
            Ok(Some(message)) => SqliteError::Conflict {
                subject: subject.to_owned(),
                message: format!("{message} in the tenant catalog `{}`", path.display()),
                hint: "Create the referenced resource first: make this resource depend on it."
                    .to_owned(),
            },
            _ => SqliteError::catalog(subject, action, path, error),
        },
        _ => SqliteError::catalog(subject, action, path, error),
    }
}

/// The table and columns of a failed `UNIQUE` or `PRIMARY KEY` constraint.
#[derive(Debug, PartialEq, Eq)]
struct UniqueViolation {
    table: String,
    columns: Vec<String>,
}

/// Reads the table and columns from SQLite's message for a failed unique
/// constraint, such as `UNIQUE constraint failed: tenant_databases.tenant_id,
/// tenant_databases.engine`. The row in the way can be in another table than
/// the one the operation writes, because a write may touch several tables.
fn unique_violation(error: &rusqlite::Error) -> Option<UniqueViolation> {
    let rusqlite::Error::SqliteFailure(_, Some(message)) = error else {
        return None;
    };
    let list = message.strip_prefix("UNIQUE constraint failed: ")?;
    let mut table = None;
    let mut columns = Vec::new();
    for item in list.split(", ") {
        let (item_table, column) = item.split_once('.')?;
        table.get_or_insert_with(|| item_table.to_owned());
        columns.push(column.to_owned());
    }
    Some(UniqueViolation {
        table: table?,
        columns,
    })
}

/// Builds the conflict error for a failed unique constraint, naming the
/// table and columns that really clash.
fn explain_unique<T: CatalogTable>(
    path: &Path,
    subject: &str,
    row: &T::Row,
    violation: &UniqueViolation,
) -> SqliteError {
    let UniqueViolation { table, columns } = violation;
    if table == T::TABLE && columns.len() == 1 && columns[0] == T::KEY {
        return SqliteError::Conflict {
            subject: subject.to_owned(),
            message: format!(
                "`{table}` already has a row with {} `{}` in the tenant catalog `{}`",
                T::KEY,
                T::key(row),
                path.display()
            ),
            hint: format!(
                "Adopt the existing row with `tenancy import {subject} {}`, or delete it from the catalog.",
                T::key(row)
            ),
        };
    }
    let columns = columns
        .iter()
        .map(|column| format!("`{column}`"))
        .collect::<Vec<_>>()
        .join(", ");
    SqliteError::Conflict {
        subject: subject.to_owned(),
        message: format!(
            "another row of `{table}` has the same {columns} in the tenant catalog `{}`",
            path.display()
        ),
        hint: format!(
            "Find the row of `{table}` with these values in the catalog, delete it or change it, \
             then apply again."
        ),
    }
}

impl SqliteError {
    /// Returns the error for a row that should exist but does not.
    fn other_missing(subject: &str, table: &str, key: &str, path: &Path) -> Self {
        SqliteError::NotFound {
            subject: subject.to_owned(),
            message: format!(
                "`{table}` has no row `{key}` in the tenant catalog `{}`; it was deleted outside tenancy",
                path.display()
            ),
        }
    }
}

/// Returns true when a row with `key` exists in `table`.
pub fn row_exists(
    connection: &Connection,
    table: &str,
    column: &str,
    key: &str,
) -> rusqlite::Result<bool> {
    let sql = format!("SELECT EXISTS (SELECT 1 FROM {table} WHERE {column} = ?1)");
    connection
        .prepare_cached(&sql)?
        .query_row([key], |row| row.get(0))
}

/// Returns the names of `tables` (each keyed by `tenant_id`) that still have
/// a row for `tenant_id`.
pub fn tables_with_tenant(
    connection: &Connection,
    tables: &[&str],
    tenant_id: &str,
) -> rusqlite::Result<Vec<String>> {
    let mut found = Vec::new();
    for table in tables {
        if row_exists(connection, table, "tenant_id", tenant_id)? {
            found.push(format!("`{table}`"));
        }
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Returns the names of `T`'s fields when they are sorted and unique,
    /// as [`fields::matches`] needs to walk them beside a recorded set.
    fn sorted_names<T: CatalogTable>() -> Vec<&'static str> {
        let names: Vec<&str> = T::FIELDS.iter().map(|field| field.name).collect();
        assert!(
            names.is_sorted_by(|left, right| left < right),
            "{}: {names:?}",
            T::TABLE
        );
        names
    }

    #[test]
    fn fields_are_sorted_and_cover_the_schema() {
        let tables = [
            (ResourceType::Tier, sorted_names::<tier::Tiers>()),
            (
                ResourceType::SecurityPolicy,
                sorted_names::<security_policy::SecurityPolicies>(),
            ),
            (ResourceType::Tenant, sorted_names::<tenant::Tenants>()),
            (
                ResourceType::Subscription,
                sorted_names::<subscription::Subscriptions>(),
            ),
            (
                ResourceType::Monitoring,
                sorted_names::<monitoring::Monitoring>(),
            ),
            (
                ResourceType::Database,
                sorted_names::<database::Databases>(),
            ),
        ];
        for (kind, names) in tables {
            let mut schema: Vec<&str> = kind
                .schema()
                .attributes
                .iter()
                .map(|attribute| attribute.name)
                .collect();
            schema.sort_unstable();

            assert_eq!(names, schema, "{}", kind.name());
        }
    }

    #[test]
    fn unique_violation_names_table_and_columns() {
        let mut connection = Connection::open_in_memory().unwrap();
        crate::migrations::migrate(&mut connection).unwrap();
        connection
            .execute_batch(
                "PRAGMA foreign_keys = OFF;
                 INSERT INTO tenant_databases (tenant_id, engine, position) VALUES ('acme', 'sqlite', 0);",
            )
            .unwrap();

        let error = connection
            .execute(
                "INSERT INTO tenant_databases (tenant_id, engine, position) VALUES ('acme', 'sqlite', 0)",
                [],
            )
            .unwrap_err();

        let violation = unique_violation(&error).unwrap();
        assert_eq!(violation.table, "tenant_databases");
        assert_eq!(violation.columns, vec!["tenant_id", "engine"]);
    }

    #[test]
    fn unique_violation_ignores_other_failures() {
        let error = rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_CONSTRAINT),
            Some("CHECK constraint failed: status IN ('active', 'suspended')".to_owned()),
        );

        assert_eq!(unique_violation(&error), None);
    }
}
