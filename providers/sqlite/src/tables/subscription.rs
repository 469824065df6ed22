//! `catalog_subscription`: each tenant's subscription in the
//! `subscriptions` table, with its trial period.

use chrono::{Duration, Utc};
use rusqlite::{Connection, OptionalExtension, params};

use super::CatalogTable;
use super::fields::{Column, Field};
use super::tenant::{missing_tenant, missing_tier_or_policy};
use crate::attrs::{Input, format_timestamp, parse_timestamp};
use crate::error::Result;
use crate::schemas::ResourceType;

/// The `subscriptions` table.
pub struct Subscriptions;

/// One validated `subscriptions` row, without the computed times.
pub struct SubscriptionRow {
    tenant_id: String,
    tier: Option<String>,
    price: Option<f64>,
    currency: Option<String>,
    billing_cycle: Option<String>,
    trial_days: Option<i64>,
}

/// Returns the end of the trial: `started_at` plus `trial_days` whole days,
/// as catalog timestamp text. Returns `None` without a trial length, or
/// when `started_at` is not an RFC 3339 time.
pub fn trial_end(started_at: &str, trial_days: Option<i64>) -> Option<String> {
    let started = parse_timestamp(started_at)?;
    let days = Duration::try_days(trial_days?)?;
    started.checked_add_signed(days).map(format_timestamp)
}

/// Returns `trialing` while the trial lasts at the current time, else
/// `active`.
pub fn status_at_now(trial_ends_at: Option<&str>) -> &'static str {
    let trialing = trial_ends_at
        .and_then(parse_timestamp)
        .is_some_and(|ends| Utc::now() < ends);
    if trialing { "trialing" } else { "active" }
}

impl CatalogTable for Subscriptions {
    const KIND: ResourceType = ResourceType::Subscription;
    const TABLE: &'static str = "subscriptions";
    const KEY: &'static str = "tenant_id";
    const COLUMNS: &'static str =
        "tenant_id, tier, price, currency, billing_cycle, trial_days, started_at, trial_ends_at";
    const FIELDS: &'static [Field] = &[
        Field::new("billing_cycle", Column::Text(4)),
        Field::new("currency", Column::Text(3)),
        Field::new("id", Column::Key(0)),
        Field::new("price", Column::Real(2)),
        Field::new("started_at", Column::Text(6)),
        Field::new("status", Column::TrialStatus(7)),
        Field::new("tenant_id", Column::Key(0)),
        Field::new("tier", Column::Text(1)),
        Field::new("trial_days", Column::Integer(5)),
        Field::new("trial_ends_at", Column::Text(7)),
    ];

    type Row = SubscriptionRow;

    fn parse(input: &Input<'_>) -> Result<SubscriptionRow> {
        Ok(SubscriptionRow {
            tenant_id: input.tenant_id("tenant_id")?,
            tier: input.reference("tier")?,
            price: input.number("price")?,
            currency: input.string("currency")?,
            billing_cycle: input.string("billing_cycle")?,
            trial_days: input.count("trial_days")?,
        })
    }

    fn key(row: &SubscriptionRow) -> &str {
        &row.tenant_id
    }

    fn insert(connection: &Connection, row: &SubscriptionRow, now: &str) -> rusqlite::Result<()> {
        let trial_ends_at = trial_end(now, row.trial_days);
        let mut statement = connection.prepare_cached(
            "INSERT INTO subscriptions (tenant_id, tier, price, currency, billing_cycle, trial_days,
                                        started_at, trial_ends_at, created_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?7, ?7)",
        )?;
        statement.execute(params![
            row.tenant_id,
            row.tier,
            row.price,
            row.currency,
            row.billing_cycle,
            row.trial_days,
            now,
            trial_ends_at
        ])?;
        Ok(())
    }

    fn update(
        connection: &Connection,
        row: &SubscriptionRow,
        now: &str,
    ) -> rusqlite::Result<usize> {
        // The trial keeps counting from the original start: a changed
        // `trial_days` moves its end, never its start.
        let started_at: Option<String> = connection
            .prepare_cached("SELECT started_at FROM subscriptions WHERE tenant_id = ?1")?
            .query_row([&row.tenant_id], |found| found.get(0))
            .optional()?;
        let Some(started_at) = started_at else {
            return Ok(0);
        };
        let mut statement = connection.prepare_cached(
            "UPDATE subscriptions SET tier = ?2, price = ?3, currency = ?4, billing_cycle = ?5,
                                      trial_days = ?6, trial_ends_at = ?7, updated_at = ?8
             WHERE tenant_id = ?1",
        )?;
        statement.execute(params![
            row.tenant_id,
            row.tier,
            row.price,
            row.currency,
            row.billing_cycle,
            row.trial_days,
            trial_end(&started_at, row.trial_days),
            now
        ])
    }

    fn missing_reference(
        connection: &Connection,
        row: &SubscriptionRow,
    ) -> rusqlite::Result<Option<String>> {
        if let Some(message) = missing_tenant(connection, &row.tenant_id)? {
            return Ok(Some(message));
        }
        missing_tier_or_policy(connection, row.tier.as_deref(), None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trial_end_adds_whole_days() {
        assert_eq!(
            trial_end("2025-01-25T10:00:00Z", Some(14)).as_deref(),
            Some("2025-02-08T10:00:00Z")
        );
    }

    #[test]
    fn trial_end_needs_days_and_valid_start() {
        assert_eq!(trial_end("2025-01-25T10:00:00Z", None), None);
        assert_eq!(trial_end("yesterday", Some(3)), None);
    }

    #[test]
    fn status_follows_trial_end() {
        assert_eq!(status_at_now(Some("2000-01-01T00:00:00Z")), "active");
        assert_eq!(status_at_now(Some("2999-01-01T00:00:00Z")), "trialing");
        assert_eq!(status_at_now(None), "active");
    }
}
