//! `catalog_security_policy`: security policies in the `security_policies`
//! table.

use rusqlite::{Connection, params};

use super::CatalogTable;
use super::fields::{Column, Field};
use crate::attrs::Input;
use crate::error::Result;
use crate::schemas::ResourceType;

/// The `security_policies` table.
pub struct SecurityPolicies;

/// One validated `security_policies` row.
pub struct PolicyRow {
    name: String,
    encryption_at_rest: Option<bool>,
    audit_logging: Option<bool>,
    mfa_required: Option<bool>,
    tls_min_version: Option<String>,
    allowed_networks: Option<String>,
    data_residency: Option<String>,
    compliance: Option<String>,
    password_rotation_days: Option<i64>,
    statement_timeout_seconds: Option<i64>,
    idle_timeout_seconds: Option<i64>,
    retention_days: Option<i64>,
}

impl CatalogTable for SecurityPolicies {
    const KIND: ResourceType = ResourceType::SecurityPolicy;
    const TABLE: &'static str = "security_policies";
    const KEY: &'static str = "name";
    const COLUMNS: &'static str = "name, encryption_at_rest, audit_logging, mfa_required, tls_min_version, \
         allowed_networks, data_residency, compliance, password_rotation_days, \
         statement_timeout_seconds, idle_timeout_seconds, retention_days";
    const FIELDS: &'static [Field] = &[
        Field::new("allowed_networks", Column::Json(5)),
        Field::new("audit_logging", Column::Bool(2)),
        Field::new("compliance", Column::Json(7)),
        Field::new("data_residency", Column::Json(6)),
        Field::new("encryption_at_rest", Column::Bool(1)),
        Field::new("id", Column::Key(0)),
        Field::new("idle_timeout_seconds", Column::Integer(10)),
        Field::new("mfa_required", Column::Bool(3)),
        Field::new("name", Column::Key(0)),
        Field::new("password_rotation_days", Column::Integer(8)),
        Field::new("retention_days", Column::Integer(11)),
        Field::new("statement_timeout_seconds", Column::Integer(9)),
        Field::new("tls_min_version", Column::Text(4)),
    ];

    type Row = PolicyRow;

    fn parse(input: &Input<'_>) -> Result<PolicyRow> {
        Ok(PolicyRow {
            name: input.name("name")?,
            encryption_at_rest: input.bool("encryption_at_rest")?,
            audit_logging: input.bool("audit_logging")?,
            mfa_required: input.bool("mfa_required")?,
            tls_min_version: input.string("tls_min_version")?,
            allowed_networks: input.string_list_json("allowed_networks")?,
            data_residency: input.string_list_json("data_residency")?,
            compliance: input.string_list_json("compliance")?,
            password_rotation_days: input.count("password_rotation_days")?,
            statement_timeout_seconds: input.count("statement_timeout_seconds")?,
            idle_timeout_seconds: input.count("idle_timeout_seconds")?,
            retention_days: input.count("retention_days")?,
        })
    }

    fn key(row: &PolicyRow) -> &str {
        &row.name
    }

    fn insert(connection: &Connection, row: &PolicyRow, now: &str) -> rusqlite::Result<()> {
        let mut statement = connection.prepare_cached(
            "INSERT INTO security_policies (name, encryption_at_rest, audit_logging, mfa_required,
                 tls_min_version, allowed_networks, data_residency, compliance,
                 password_rotation_days, statement_timeout_seconds, idle_timeout_seconds,
                 retention_days, created_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?13)",
        )?;
        statement.execute(params![
            row.name,
            row.encryption_at_rest,
            row.audit_logging,
            row.mfa_required,
            row.tls_min_version,
            row.allowed_networks,
            row.data_residency,
            row.compliance,
            row.password_rotation_days,
            row.statement_timeout_seconds,
            row.idle_timeout_seconds,
            row.retention_days,
            now
        ])?;
        Ok(())
    }

    fn update(connection: &Connection, row: &PolicyRow, now: &str) -> rusqlite::Result<usize> {
        let mut statement = connection.prepare_cached(
            "UPDATE security_policies SET encryption_at_rest = ?2, audit_logging = ?3,
                 mfa_required = ?4, tls_min_version = ?5, allowed_networks = ?6,
                 data_residency = ?7, compliance = ?8, password_rotation_days = ?9,
                 statement_timeout_seconds = ?10, idle_timeout_seconds = ?11,
                 retention_days = ?12, updated_at = ?13
             WHERE name = ?1",
        )?;
        statement.execute(params![
            row.name,
            row.encryption_at_rest,
            row.audit_logging,
            row.mfa_required,
            row.tls_min_version,
            row.allowed_networks,
            row.data_residency,
            row.compliance,
            row.password_rotation_days,
            row.statement_timeout_seconds,
            row.idle_timeout_seconds,
            row.retention_days,
            now
        ])
    }

    fn dependent_rows(connection: &Connection, key: &str) -> rusqlite::Result<Option<String>> {
        let tenants: i64 = connection
            .prepare_cached("SELECT count(*) FROM tenants WHERE security_policy = ?1")?
            .query_row([key], |row| row.get(0))?;
        Ok(Some(format!(
            "{tenants} tenant(s) still follow this policy"
        )))
    }
}
