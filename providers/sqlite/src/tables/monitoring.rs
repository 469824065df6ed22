//! `catalog_monitoring`: each tenant's monitoring settings in the
//! `monitoring` table.

use rusqlite::{Connection, params};

use super::CatalogTable;
use super::fields::{Column, Field};
use super::tenant::missing_tenant;
use crate::attrs::Input;
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
    const FIELDS: &'static [Field] = &[
        Field::new("alert_email", Column::Text(2)),
        Field::new("enabled", Column::Bool(1)),
        Field::new("id", Column::Key(0)),
        Field::new("metrics_retention_days", Column::Integer(3)),
        Field::new("tenant_id", Column::Key(0)),
    ];

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

    fn missing_reference(
        connection: &Connection,
        row: &MonitoringRow,
    ) -> rusqlite::Result<Option<String>> {
        missing_tenant(connection, &row.tenant_id)
    }
}
