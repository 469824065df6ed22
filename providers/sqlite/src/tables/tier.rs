//! `catalog_tier`: billing tiers in the `tiers` table.

use rusqlite::{Connection, params};

use super::CatalogTable;
use super::fields::{Column, Field};
use crate::attrs::Input;
use crate::error::Result;
use crate::schemas::ResourceType;

/// The `tiers` table.
pub struct Tiers;

/// One validated `tiers` row.
pub struct TierRow {
    name: String,
    price: Option<f64>,
    currency: Option<String>,
    billing_cycle: Option<String>,
    trial_days: Option<i64>,
    limits: Option<String>,
    features: Option<String>,
    usage_prices: Option<String>,
    description: Option<String>,
}

impl CatalogTable for Tiers {
    const KIND: ResourceType = ResourceType::Tier;
    const TABLE: &'static str = "tiers";
    const KEY: &'static str = "name";
    const COLUMNS: &'static str = "name, price, currency, billing_cycle, trial_days, limits, features, usage_prices, description";
    const FIELDS: &'static [Field] = &[
        Field::new("billing_cycle", Column::Text(3)),
        Field::new("currency", Column::Text(2)),
        Field::new("description", Column::Text(8)),
        Field::new("features", Column::Json(6)),
        Field::new("id", Column::Key(0)),
        Field::new("limits", Column::Json(5)),
        Field::new("name", Column::Key(0)),
        Field::new("price", Column::Real(1)),
        Field::new("trial_days", Column::Integer(4)),
        Field::new("usage_prices", Column::Json(7)),
    ];

    type Row = TierRow;

    fn parse(input: &Input<'_>) -> Result<TierRow> {
        Ok(TierRow {
            name: input.name("name")?,
            price: input.number("price")?,
            currency: input.string("currency")?,
            billing_cycle: input.string("billing_cycle")?,
            trial_days: input.count("trial_days")?,
            limits: input.number_map_json("limits")?,
            features: input.string_list_json("features")?,
            usage_prices: input.number_map_json("usage_prices")?,
            description: input.string("description")?,
        })
    }

    fn key(row: &TierRow) -> &str {
        &row.name
    }

    fn insert(connection: &Connection, row: &TierRow, now: &str) -> rusqlite::Result<()> {
        let mut statement = connection.prepare_cached(
            "INSERT INTO tiers (name, price, currency, billing_cycle, trial_days, limits, features,
                                usage_prices, description, created_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?10)",
        )?;
        statement.execute(params![
            row.name,
            row.price,
            row.currency,
            row.billing_cycle,
            row.trial_days,
            row.limits,
            row.features,
            row.usage_prices,
            row.description,
            now
        ])?;
        Ok(())
    }

    fn update(connection: &Connection, row: &TierRow, now: &str) -> rusqlite::Result<usize> {
        let mut statement = connection.prepare_cached(
            "UPDATE tiers SET price = ?2, currency = ?3, billing_cycle = ?4, trial_days = ?5,
                              limits = ?6, features = ?7, usage_prices = ?8, description = ?9,
                              updated_at = ?10
             WHERE name = ?1",
        )?;
        statement.execute(params![
            row.name,
            row.price,
            row.currency,
            row.billing_cycle,
            row.trial_days,
            row.limits,
            row.features,
            row.usage_prices,
            row.description,
            now
        ])
    }

    fn dependent_rows(connection: &Connection, key: &str) -> rusqlite::Result<Option<String>> {
        let tenants: i64 = connection
            .prepare_cached("SELECT count(*) FROM tenants WHERE tier = ?1")?
            .query_row([key], |row| row.get(0))?;
        let subscriptions: i64 = connection
            .prepare_cached("SELECT count(*) FROM subscriptions WHERE tier = ?1")?
            .query_row([key], |row| row.get(0))?;
        Ok(Some(format!(
            "{tenants} tenant(s) and {subscriptions} subscription(s) are still on this tier"
        )))
    }
}
