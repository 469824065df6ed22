//! The embedded `sqlite` provider of tenancy: a tenant catalog and one
//! database file per tenant, both SQLite, with no server to run.
//!
//! The catalog (`catalog_path`, `.tenancy/catalog.db` by default) records
//! tiers, security policies, tenants, subscriptions, monitoring settings and
//! where each tenant's data lives; applications and the billing ledger read
//! it. Tenant databases are files `DATA_DIR/<tenant_id>.db`. Refresh reads
//! both back, so hand edits of a row or a file show up as drift. A file
//! whose fingerprint still matches the one apply recorded is not opened
//! again: refresh uses the settings apply read back from it.

mod attrs;
mod catalog;
mod database;
mod error;
mod fingerprint;
mod inspections;
mod migrations;
mod plan;
mod provider;
mod refresh;
mod schemas;
mod settings;
mod tables;
mod tenant_file;

pub use catalog::Synchronous;
pub use error::SqliteError;
pub use provider::SqliteProvider;
pub use settings::{DEFAULT_CATALOG_PATH, DEFAULT_DATA_DIR};
pub use tenant_file::APPLICATION_ID;
