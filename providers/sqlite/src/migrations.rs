//! The tenant catalog's schema, as an ordered list of migrations.
//!
//! Each migration runs once, in its own transaction, and is recorded in
//! `schema_migrations`; opening a catalog runs the ones it lacks. Published
//! migrations never change: a new table or column is a new migration.

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

/// One schema change of the catalog.
struct Migration {
    version: i64,
    description: &'static str,
    sql: &'static str,
}

/// Every migration, in version order.
const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        description: "tiers, security policies, tenants, subscriptions, monitoring and tenant databases",
        sql: SCHEMA_V1,
    },
    Migration {
        version: 2,
        description: "fingerprints and settings of inspected tenant database files",
        sql: SCHEMA_V2,
    },
];

/// The catalog schema of version 1. Timestamps are RFC 3339 UTC text with
/// second precision (`2025-01-31T09:30:00Z`), so text comparison orders them.
/// List and map attributes are JSON text.
const SCHEMA_V1: &str = "
CREATE TABLE tiers (
    name           TEXT PRIMARY KEY,
    price          REAL,
    currency       TEXT,
    billing_cycle  TEXT,
    trial_days     INTEGER CHECK (trial_days >= 0),
    limits         TEXT CHECK (limits IS NULL OR json_type(limits) = 'object'),
    features       TEXT CHECK (features IS NULL OR json_type(features) = 'array'),
    usage_prices   TEXT CHECK (usage_prices IS NULL OR json_type(usage_prices) = 'object'),
    description    TEXT,
    created_at     TEXT NOT NULL,
    updated_at     TEXT NOT NULL
) STRICT;

CREATE TABLE security_policies (
    name                       TEXT PRIMARY KEY,
    encryption_at_rest         INTEGER CHECK (encryption_at_rest IN (0, 1)),
    audit_logging              INTEGER CHECK (audit_logging IN (0, 1)),
    mfa_required               INTEGER CHECK (mfa_required IN (0, 1)),
    tls_min_version            TEXT,
    allowed_networks           TEXT CHECK (allowed_networks IS NULL OR json_type(allowed_networks) = 'array'),
    data_residency             TEXT CHECK (data_residency IS NULL OR json_type(data_residency) = 'array'),
    compliance                 TEXT CHECK (compliance IS NULL OR json_type(compliance) = 'array'),
    password_rotation_days     INTEGER,
    statement_timeout_seconds  INTEGER,
    idle_timeout_seconds       INTEGER,
    retention_days             INTEGER,
    created_at                 TEXT NOT NULL,
    updated_at                 TEXT NOT NULL
) STRICT;

CREATE TABLE tenants (
    tenant_id        TEXT PRIMARY KEY,
    display_name     TEXT,
    tier             TEXT REFERENCES tiers (name) ON UPDATE CASCADE ON DELETE RESTRICT,
    security_policy  TEXT REFERENCES security_policies (name) ON UPDATE CASCADE ON DELETE RESTRICT,
    region           TEXT,
    labels           TEXT CHECK (labels IS NULL OR json_type(labels) = 'object'),
    status           TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'suspended')),
    contact_email    TEXT,
    created_at       TEXT NOT NULL,
    updated_at       TEXT NOT NULL
) STRICT;

CREATE INDEX tenants_by_tier ON tenants (tier);
CREATE INDEX tenants_by_security_policy ON tenants (security_policy);

CREATE TABLE tenant_databases (
    tenant_id  TEXT NOT NULL REFERENCES tenants (tenant_id) ON DELETE CASCADE,
    engine     TEXT NOT NULL,
    position   INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, engine)
) STRICT, WITHOUT ROWID;

CREATE TABLE subscriptions (
    tenant_id      TEXT PRIMARY KEY REFERENCES tenants (tenant_id) ON DELETE RESTRICT,
    tier           TEXT REFERENCES tiers (name) ON UPDATE CASCADE ON DELETE RESTRICT,
    price          REAL,
    currency       TEXT,
    billing_cycle  TEXT,
    trial_days     INTEGER CHECK (trial_days >= 0),
    started_at     TEXT NOT NULL,
    trial_ends_at  TEXT,
    created_at     TEXT NOT NULL,
    updated_at     TEXT NOT NULL
) STRICT;

CREATE INDEX subscriptions_by_tier ON subscriptions (tier);

CREATE TABLE monitoring (
    tenant_id               TEXT PRIMARY KEY REFERENCES tenants (tenant_id) ON DELETE RESTRICT,
    enabled                 INTEGER NOT NULL CHECK (enabled IN (0, 1)),
    alert_email             TEXT,
    metrics_retention_days  INTEGER,
    created_at              TEXT NOT NULL,
    updated_at              TEXT NOT NULL
) STRICT;

CREATE TABLE database_files (
    tenant_id           TEXT PRIMARY KEY REFERENCES tenants (tenant_id) ON DELETE RESTRICT,
    path                TEXT NOT NULL UNIQUE,
    url                 TEXT NOT NULL,
    journal_mode        TEXT NOT NULL CHECK (journal_mode IN ('wal', 'delete')),
    max_size_mb         REAL,
    secure_delete       INTEGER NOT NULL CHECK (secure_delete IN (0, 1)),
    audit_logging       INTEGER NOT NULL CHECK (audit_logging IN (0, 1)),
    encryption_at_rest  INTEGER NOT NULL CHECK (encryption_at_rest IN (0, 1)),
    tls_min_version     TEXT,
    created_at          TEXT NOT NULL,
    updated_at          TEXT NOT NULL
) STRICT;

CREATE VIEW subscription_status AS
SELECT
    tenant_id,
    tier,
    CASE
        WHEN trial_ends_at IS NOT NULL AND trial_ends_at > strftime('%Y-%m-%dT%H:%M:%SZ', 'now')
        THEN 'trialing'
        ELSE 'active'
    END AS status,
    trial_ends_at
FROM subscriptions;
";

/// Version 2: `_tenancy_file_inspections`, tenancy's internal record of
/// each tenant database file's fingerprint and the settings read from it
/// (see `crate::inspections`). `dev` and `ino` are the unsigned `st_dev` and
/// `st_ino` reinterpreted as signed 64-bit integers.
const SCHEMA_V2: &str = "
CREATE TABLE _tenancy_file_inspections (
    tenant_id       TEXT PRIMARY KEY,
    dev             INTEGER NOT NULL,
    ino             INTEGER NOT NULL,
    size            INTEGER NOT NULL,
    mtime_sec       INTEGER NOT NULL,
    mtime_nsec      INTEGER NOT NULL,
    ctime_sec       INTEGER NOT NULL,
    ctime_nsec      INTEGER NOT NULL,
    change_counter  INTEGER NOT NULL,
    schema_cookie   INTEGER NOT NULL,
    write_version   INTEGER NOT NULL,
    read_version    INTEGER NOT NULL,
    user_version    INTEGER NOT NULL,
    application_id  INTEGER NOT NULL,
    journal_mode    TEXT NOT NULL,
    max_size_mb     REAL,
    secure_delete   INTEGER NOT NULL CHECK (secure_delete IN (0, 1)),
    audit_logging   INTEGER NOT NULL CHECK (audit_logging IN (0, 1))
) STRICT, WITHOUT ROWID;
";

/// Brings the catalog schema up to the newest version. Returns the version
/// the catalog has afterwards.
pub fn migrate(connection: &mut Connection) -> rusqlite::Result<i64> {
    run(connection, MIGRATIONS)
}

/// Runs the migrations of `migrations` that the catalog lacks, in order.
/// Returns the version the catalog has afterwards.
fn run(connection: &mut Connection, migrations: &[Migration]) -> rusqlite::Result<i64> {
    // The check only reads, so a catalog that is up to date opens while
    // another process has a write transaction open on it.
    if all_applied(connection, migrations)? {
        return current_version(connection);
    }
    connection.execute_batch(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
            version      INTEGER PRIMARY KEY,
            description  TEXT NOT NULL,
            applied_at   TEXT NOT NULL
        ) STRICT;",
    )?;

    for migration in migrations {
        let transaction = connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let applied: Option<i64> = transaction
            .query_row(
                "SELECT version FROM schema_migrations WHERE version = ?1",
                [migration.version],
                |row| row.get(0),
            )
            .optional()?;
        if applied.is_none() {
            transaction.execute_batch(migration.sql)?;
            transaction.execute(
                "INSERT INTO schema_migrations (version, description, applied_at)
                 VALUES (?1, ?2, strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))",
                params![migration.version, migration.description],
            )?;
            tracing::debug!(version = migration.version, "applied catalog migration");
        }
        transaction.commit()?;
    }
    current_version(connection)
}

/// Returns true when the catalog records every migration of `migrations`.
fn all_applied(connection: &Connection, migrations: &[Migration]) -> rusqlite::Result<bool> {
    let has_table: bool = connection.query_row(
        "SELECT count(*) > 0 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'",
        [],
        |row| row.get(0),
    )?;
    if !has_table {
        return Ok(false);
    }
    let mut statement = connection.prepare("SELECT version FROM schema_migrations")?;
    let applied = statement
        .query_map([], |row| row.get::<_, i64>(0))?
        .collect::<rusqlite::Result<Vec<i64>>>()?;
    Ok(migrations
        .iter()
        .all(|migration| applied.contains(&migration.version)))
}

/// Returns the newest migration version recorded in the catalog.
pub fn current_version(connection: &Connection) -> rusqlite::Result<i64> {
    connection.query_row(
        "SELECT coalesce(max(version), 0) FROM schema_migrations",
        [],
        |row| row.get(0),
    )
}

/// Returns the newest migration version this build knows.
pub fn latest_version() -> i64 {
    MIGRATIONS.last().map_or(0, |migration| migration.version)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrate_is_idempotent() {
        let mut connection = Connection::open_in_memory().unwrap();

        let first = migrate(&mut connection).unwrap();
        let second = migrate(&mut connection).unwrap();

        assert_eq!(first, latest_version());
        assert_eq!(second, latest_version());
        let rows: i64 = connection
            .query_row("SELECT count(*) FROM schema_migrations", [], |row| {
                row.get(0)
            })
            .unwrap();
        assert_eq!(rows, MIGRATIONS.len() as i64);
    }

    #[test]
    fn current_catalog_opens_beside_a_writer() {
        let directory = tempfile::tempdir().unwrap();
        let path = directory.path().join("catalog.db");
        let mut first = Connection::open(&path).unwrap();
        first.pragma_update(None, "journal_mode", "WAL").unwrap();
        migrate(&mut first).unwrap();
        first.execute_batch("BEGIN IMMEDIATE;").unwrap();

        let mut second = Connection::open(&path).unwrap();
        second.busy_timeout(std::time::Duration::ZERO).unwrap();

        assert_eq!(migrate(&mut second).unwrap(), latest_version());
    }

    #[test]
    fn catalog_at_version_one_upgrades() {
        let mut connection = Connection::open_in_memory().unwrap();
        assert_eq!(run(&mut connection, &MIGRATIONS[..1]).unwrap(), 1);
        connection
            .execute(
                "INSERT INTO tiers (name, created_at, updated_at) VALUES ('pro', 'x', 'x')",
                [],
            )
            .unwrap();

        let version = migrate(&mut connection).unwrap();

        assert_eq!(version, 2);
        let tiers: i64 = connection
            .query_row("SELECT count(*) FROM tiers", [], |row| row.get(0))
            .unwrap();
        assert_eq!(tiers, 1);
        let inspections: i64 = connection
            .query_row(
                "SELECT count(*) FROM _tenancy_file_inspections",
                [],
                |row| row.get(0),
            )
            .unwrap();
        assert_eq!(inspections, 0);
    }

    #[test]
    fn status_check_rejects_unknown_value() {
        let mut connection = Connection::open_in_memory().unwrap();
        migrate(&mut connection).unwrap();

        let result = connection.execute(
            "INSERT INTO tenants (tenant_id, status, created_at, updated_at) VALUES ('a', 'gone', 'x', 'x')",
            [],
        );

        assert!(result.is_err());
    }
}
