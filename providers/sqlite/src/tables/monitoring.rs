//! `catalog_monitoring`: each tenant's monitoring settings in the
//! `monitoring` table.

use rusqlite::{Connection, Row, params};
use tenancy_sdk::{Attrs, Value};

use super::CatalogTable;
use super::tenant::missing_tenant;
use crate::attrs::{Input, attrs_from, bool_value, integer_value, text_value};
use crate::error::Result;
use crate::schemas::ResourceType;

/// The `monitoring` table.
pub struct Monitoring;

/// One validated `monitoring` row.
pub struct MonitoringRow {
    tenant_id: String,
    enabled: bool,
    alert_email: Option<String>,
    metrics_retention_days: Option<i64>,
}

impl CatalogTable for Monitoring {
    const KIND: ResourceType = ResourceType::Monitoring;
    const TABLE: &'static str = "monitoring";
    const KEY: &'static str = "tenant_id";
    const COLUMNS: &'static str = "tenant_id, enabled, alert_email, metrics_retention_days";

    type Row = MonitoringRow;

    fn parse(input: &Input<'_>) -> Result<MonitoringRow> {
        Ok(MonitoringRow {
            tenant_id: input.tenant_id("tenant_id")?,
            enabled: input.bool("enabled")?.unwrap_or(true),
            alert_email: input.string("alert_email")?,
            metrics_retention_days: input.count("metrics_retention_days")?,
        })
    }

    fn key(row: &MonitoringRow) -> &str {
        &row.tenant_id
    }

    fn insert(connection: &Connection, row: &MonitoringRow, now: &str) -> rusqlite::Result<()> {
        let mut statement = connection.prepare_cached(
            "INSERT INTO monitoring (tenant_id, enabled, alert_email, metrics_retention_days,
                                     created_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?5)",
        )?;
        statement.execute(params![
            row.tenant_id,
            row.enabled,
            row.alert_email,
            row.metrics_retention_days,
            now
        ])?;
        Ok(())
    }

    fn update(connection: &Connection, row: &MonitoringRow, now: &str) -> rusqlite::Result<usize> {
        let mut statement = connection.prepare_cached(
            "UPDATE monitoring SET enabled = ?2, alert_email = ?3, metrics_retention_days = ?4,
                                   updated_at = ?5
             WHERE tenant_id = ?1",
        )?;
        statement.execute(params![
            row.tenant_id,
            row.enabled,
            row.alert_email,
            row.metrics_retention_days,
            now
        ])
    }

    fn from_row(row: &Row<'_>) -> rusqlite::Result<Attrs> {
        let tenant_id: String = row.get(0)?;
        Ok(attrs_from([
            ("id", Value::String(tenant_id.clone())),
            ("tenant_id", Value::String(tenant_id)),
            ("enabled", bool_value(row.get(1)?)),
            ("alert_email", text_value(row.get(2)?)),
            ("metrics_retention_days", integer_value(row.get(3)?)),
        ]))
    }

    fn missing_reference(
        connection: &Connection,
        row: &MonitoringRow,
    ) -> rusqlite::Result<Option<String>> {
        missing_tenant(connection, &row.tenant_id)
    }
}
