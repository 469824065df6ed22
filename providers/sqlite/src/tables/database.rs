//! The `database_files` table: where each tenant's SQLite database file
//! lives and the settings it was given. The file itself is handled by
//! [`crate::tenant_file`].

use rusqlite::{Connection, params};

use super::CatalogTable;
use super::fields::{Column, Field};
use super::tenant::missing_tenant;
use crate::attrs::Input;
use crate::error::Result;
use crate::schemas::ResourceType;
use crate::tenant_file::JOURNAL_MODES;

/// The `database_files` table.
pub struct Databases;

/// One validated `database_files` row.
pub struct DatabaseRow {
    /// The owning tenant.
    pub tenant_id: String,
    /// The absolute file path.
    pub path: String,
    /// `sqlite://` and the path.
    pub url: String,
    /// `wal` or `delete`.
    pub journal_mode: String,
    /// The size limit in MiB.
    pub max_size_mb: Option<f64>,
    /// Whether deleted content must be overwritten.
    pub secure_delete: bool,
    /// Whether changes are audited.
    pub audit_logging: bool,
    /// Whether the policy asks for encryption at rest.
    pub encryption_at_rest: bool,
    /// The policy's minimum TLS version.
    pub tls_min_version: Option<String>,
}

impl CatalogTable for Databases {
    const KIND: ResourceType = ResourceType::Database;
    const TABLE: &'static str = "database_files";
    const KEY: &'static str = "tenant_id";
    const COLUMNS: &'static str = "tenant_id, path, url, journal_mode, max_size_mb, secure_delete, \
         audit_logging, encryption_at_rest, tls_min_version";
    const FIELDS: &'static [Field] = &[
        Field::new("audit_logging", Column::Bool(6)),
        Field::new("encryption_at_rest", Column::Bool(7)),
        Field::new("id", Column::Key(0)),
        Field::new("journal_mode", Column::Text(3)),
        Field::new("max_size_mb", Column::Real(4)),
        Field::new("path", Column::Text(1)),
        Field::new("secure_delete", Column::Bool(5)),
        Field::new("tenant_id", Column::Key(0)),
        Field::new("tls_min_version", Column::Text(8)),
        Field::new("url", Column::Text(2)),
    ];

    type Row = DatabaseRow;

    /// Validates planned attributes, which must already carry the computed
    /// `path` and `url`.
    fn parse(input: &Input<'_>) -> Result<DatabaseRow> {
        let max_size_mb = input.number("max_size_mb")?;
        if let Some(size) = max_size_mb.filter(|size| *size <= 0.0) {
            return Err(crate::error::SqliteError::invalid(
                input.subject(),
                format!(
                    "attribute `max_size_mb` is {size}, but it must be greater than zero or null"
                ),
            ));
        }
        Ok(DatabaseRow {
            tenant_id: input.tenant_id("tenant_id")?,
            path: input.required_string("path")?,
            url: input.required_string("url")?,
            journal_mode: input.choice("journal_mode", &JOURNAL_MODES, JOURNAL_MODES[0])?,
            max_size_mb,
            secure_delete: input.bool("secure_delete")?.unwrap_or(false),
            audit_logging: input.bool("audit_logging")?.unwrap_or(false),
            encryption_at_rest: input.bool("encryption_at_rest")?.unwrap_or(false),
            tls_min_version: input.string("tls_min_version")?,
        })
    }

    fn key(row: &DatabaseRow) -> &str {
        &row.tenant_id
    }

    /// Inserts the row, or updates it when it exists: a create re-adopts a
    /// row whose file was deleted.
    fn insert(connection: &Connection, row: &DatabaseRow, now: &str) -> rusqlite::Result<()> {
        let mut statement = connection.prepare_cached(
            "INSERT INTO database_files (tenant_id, path, url, journal_mode, max_size_mb,
                 secure_delete, audit_logging, encryption_at_rest, tls_min_version,
                 created_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?10)
             ON CONFLICT (tenant_id) DO UPDATE SET
                 path = excluded.path, url = excluded.url, journal_mode = excluded.journal_mode,
                 max_size_mb = excluded.max_size_mb, secure_delete = excluded.secure_delete,
                 audit_logging = excluded.audit_logging,
                 encryption_at_rest = excluded.encryption_at_rest,
                 tls_min_version = excluded.tls_min_version, updated_at = excluded.updated_at",
        )?;
        statement.execute(params![
            row.tenant_id,
            row.path,
            row.url,
            row.journal_mode,
            row.max_size_mb,
            row.secure_delete,
            row.audit_logging,
            row.encryption_at_rest,
            row.tls_min_version,
            now
        ])?;
        Ok(())
    }

    /// Writes the row whether or not it exists, because an imported file may
    /// have no row yet.
    fn update(connection: &Connection, row: &DatabaseRow, now: &str) -> rusqlite::Result<usize> {
        Self::insert(connection, row, now)?;
        Ok(1)
    }

    fn missing_reference(
        connection: &Connection,
        row: &DatabaseRow,
    ) -> rusqlite::Result<Option<String>> {
        missing_tenant(connection, &row.tenant_id)
    }
}
