//! The desired shape of one tenant's PostgreSQL objects, checked and typed
//! from the resource attributes the engine sends.

use serde_json::json;
use tenancy_sdk::{Attrs, Value};

use crate::error::{Error, Result};
use crate::sql::{self, TableName};

/// The prefix of every tenant role name: tenant `acme` logs in as `tenant_acme`.
pub const ROLE_PREFIX: &str = "tenant_";

/// The prefix of the role comment that records the provider's metadata.
pub const COMMENT_PREFIX: &str = "tenancy:";

/// How a tenant's data is kept apart from other tenants' data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Isolation {
    /// A database per tenant, owned by the tenant's role.
    Database,
    /// A schema per tenant in a shared database.
    Schema,
    /// Shared tables with row-level security keyed on the tenant's role.
    Row,
}

impl Isolation {
    /// Parses the `isolation` attribute.
    pub fn parse(text: &str) -> Result<Isolation> {
        match text {
            "database" => Ok(Isolation::Database),
            "schema" => Ok(Isolation::Schema),
            "row" => Ok(Isolation::Row),
            other => Err(Error::Invalid(format!(
                "`isolation` is `{other}`, expected one of \"database\", \"schema\" or \"row\""
            ))),
        }
    }

    /// Returns the attribute value.
    pub fn as_str(self) -> &'static str {
        match self {
            Isolation::Database => "database",
            Isolation::Schema => "schema",
            Isolation::Row => "row",
        }
    }
}

/// One tenant's desired objects and role settings.
#[derive(Debug, Clone, PartialEq)]
pub struct TenantSpec {
    /// The tenant id, `[a-z_][a-z0-9_]*`.
    pub tenant_id: String,
    /// The login role, `tenant_<id>`.
    pub role: String,
    /// The isolation mode.
    pub isolation: Isolation,
    /// The database the tenant connects to: its own database (named after
    /// the role) or the shared database.
    pub database: String,
    /// The `database` attribute as configured, kept for state.
    pub shared_database: Option<String>,
    /// The role's connection limit, -1 for none.
    pub connection_limit: i64,
    /// `statement_timeout` in milliseconds.
    pub statement_timeout_ms: Option<i64>,
    /// `idle_in_transaction_session_timeout` in milliseconds.
    pub idle_timeout_ms: Option<i64>,
    /// Days after which the password is rotated.
    pub password_rotation_days: Option<i64>,
    /// Whether every statement of the role is logged.
    pub audit_logging: bool,
    /// Whether the tenant's URL requires SSL.
    pub ssl_required: bool,
    /// Shared tables under row-level security (row isolation only).
    pub tables: Vec<TableName>,
}

impl TenantSpec {
    /// Builds the spec from resource attributes. `default_tables` is the
    /// provider block's `tables`, used under row isolation when the resource
    /// sets none.
    pub fn from_attrs(attrs: &Attrs, default_tables: &[TableName]) -> Result<TenantSpec> {
        let tenant_id = required_string(attrs, "tenant_id")?;
        check_tenant_id(&tenant_id)?;
        let role = role_name(&tenant_id);
        let isolation = Isolation::parse(&required_string(attrs, "isolation")?)?;
        let shared_database = optional_string(attrs, "database")?;
        let database = match (isolation, &shared_database) {
            (Isolation::Database, _) => role.clone(),
            (_, Some(name)) => name.clone(),
            (_, None) => {
                return Err(Error::Invalid(format!(
                    "`database` is required for isolation \"{}\": it names the shared database",
                    isolation.as_str()
                )));
            }
        };
        sql::check_object_name("database", &database).map_err(Error::Invalid)?;

        let tables = match attrs.get("tables").filter(|value| !value.is_null()) {
            Some(value) => parse_tables(value)?,
            None if isolation == Isolation::Row => default_tables.to_vec(),
            None => Vec::new(),
        };
        Ok(TenantSpec {
            tenant_id,
            role,
            isolation,
            database,
            shared_database,
            connection_limit: connection_limit(attrs)?,
            statement_timeout_ms: optional_integer(attrs, "statement_timeout_ms", 0, i32::MAX as i64)?,
            idle_timeout_ms: optional_integer(attrs, "idle_timeout_ms", 0, i32::MAX as i64)?,
            password_rotation_days: optional_integer(attrs, "password_rotation_days", 1, 36_500)?,
            audit_logging: optional_bool(attrs, "audit_logging")?,
            ssl_required: optional_bool(attrs, "ssl_required")?,
            tables,
        })
    }

    /// Returns the tenant's schema under schema isolation.
    pub fn schema(&self) -> Option<&str> {
        (self.isolation == Isolation::Schema).then_some(self.role.as_str())
    }

    /// Returns the role comment that records the provider's metadata, so
    /// that import and refresh can recover what the server does not store.
    pub fn comment(&self, password_updated_at: &str) -> String {
        let metadata = json!({
            "tenant_id": self.tenant_id,
            "isolation": self.isolation.as_str(),
            "database": self.shared_database,
            "ssl_required": self.ssl_required,
            "password_updated_at": password_updated_at,
        });
        format!("{COMMENT_PREFIX}{metadata}")
    }
}

/// The provider metadata read back from a role comment.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Metadata {
    /// The tenant id.
    pub tenant_id: Option<String>,
    /// The isolation mode.
    pub isolation: Option<String>,
    /// The shared database.
    pub database: Option<String>,
    /// Whether SSL was required.
    pub ssl_required: Option<bool>,
    /// When the password was last set, RFC 3339.
    pub password_updated_at: Option<String>,
}

impl Metadata {
    /// Parses a role comment written by [`TenantSpec::comment`]; other
    /// comments give empty metadata.
    pub fn parse(comment: Option<&str>) -> Metadata {
        let Some(json) = comment.and_then(|text| text.strip_prefix(COMMENT_PREFIX)) else {
            return Metadata::default();
        };
        let Ok(value) = serde_json::from_str::<serde_json::Value>(json) else {
            return Metadata::default();
        };
        let text = |key: &str| value.get(key).and_then(|v| v.as_str()).map(str::to_owned);
        Metadata {
            tenant_id: text("tenant_id"),
            isolation: text("isolation"),
            database: text("database"),
            ssl_required: value.get("ssl_required").and_then(|v| v.as_bool()),
            password_updated_at: text("password_updated_at"),
        }
    }
}

/// Returns the role name of a tenant.
pub fn role_name(tenant_id: &str) -> String {
    format!("{ROLE_PREFIX}{tenant_id}")
}

/// Checks a tenant id: `[a-z_][a-z0-9_]*`, short enough that the role name
/// fits in 63 bytes.
pub fn check_tenant_id(tenant_id: &str) -> Result<()> {
    let max = sql::MAX_IDENTIFIER_BYTES - ROLE_PREFIX.len();
    if !sql::is_simple_identifier(tenant_id) {
        return Err(Error::Invalid(format!(
            "tenant id `{}` is invalid: it must match [a-z_][a-z0-9_]*",
            tenant_id.escape_debug()
        )));
    }
    if tenant_id.len() > max {
        return Err(Error::Invalid(format!(
            "tenant id `{tenant_id}` is {} bytes long; at most {max} fit in a PostgreSQL role name",
            tenant_id.len()
        )));
    }
    Ok(())
}

/// Parses a `tables` value: a list of `table` or `schema.table` strings.
pub fn parse_tables(value: &Value) -> Result<Vec<TableName>> {
    let items = value
        .as_list()
        .ok_or_else(|| Error::Invalid(format!("`tables` must be a list of strings, found {}", value.type_name())))?;
    let mut tables = Vec::with_capacity(items.len());
    for item in items {
        let text = item
            .as_str()
            .ok_or_else(|| Error::Invalid(format!("`tables` must contain strings, found {}", item.type_name())))?;
        tables.push(TableName::parse(text).map_err(Error::Invalid)?);
    }
    tables.sort();
    tables.dedup();
    Ok(tables)
}

/// Returns the `tables` attribute value for a list of tables.
pub fn tables_value(tables: &[TableName]) -> Value {
    Value::List(tables.iter().map(|table| Value::string(table.display())).collect())
}

fn required_string(attrs: &Attrs, name: &str) -> Result<String> {
    optional_string(attrs, name)?.ok_or_else(|| Error::Invalid(format!("`{name}` is required")))
}

fn optional_string(attrs: &Attrs, name: &str) -> Result<Option<String>> {
    match attrs.get(name).filter(|value| !value.is_null()) {
        None => Ok(None),
        Some(value) => value
            .as_str()
            .map(|text| Some(text.to_owned()))
            .ok_or_else(|| Error::Invalid(format!("`{name}` must be a string, found {}", value.type_name()))),
    }
}

fn optional_bool(attrs: &Attrs, name: &str) -> Result<bool> {
    match attrs.get(name).filter(|value| !value.is_null()) {
        None => Ok(false),
        Some(value) => value
            .as_bool()
            .ok_or_else(|| Error::Invalid(format!("`{name}` must be a bool, found {}", value.type_name()))),
    }
}

fn optional_integer(attrs: &Attrs, name: &str, min: i64, max: i64) -> Result<Option<i64>> {
    let Some(value) = attrs.get(name).filter(|value| !value.is_null()) else {
        return Ok(None);
    };
    match value.as_i64() {
        Some(number) if (min..=max).contains(&number) => Ok(Some(number)),
        _ => Err(Error::Invalid(format!(
            "`{name}` is {value}, expected a whole number from {min} to {max}"
        ))),
    }
}

fn connection_limit(attrs: &Attrs) -> Result<i64> {
    Ok(optional_integer(attrs, "connection_limit", -1, i32::MAX as i64)?.unwrap_or(-1))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attrs(pairs: &[(&str, Value)]) -> Attrs {
        pairs.iter().map(|(key, value)| (key.to_string(), value.clone())).collect()
    }

    #[test]
    fn database_isolation_uses_role_database() {
        let spec = TenantSpec::from_attrs(
            &attrs(&[("tenant_id", "acme".into()), ("isolation", "database".into()), ("connection_limit", 20i64.into())]),
            &[],
        )
        .unwrap();

        assert_eq!(spec.role, "tenant_acme");
        assert_eq!(spec.database, "tenant_acme");
        assert_eq!(spec.connection_limit, 20);
        assert_eq!(spec.schema(), None);
    }

    #[test]
    fn schema_isolation_requires_database() {
        let error = TenantSpec::from_attrs(&attrs(&[("tenant_id", "acme".into()), ("isolation", "schema".into())]), &[])
            .unwrap_err();

        assert!(error.to_string().contains("`database` is required"));
    }

    #[test]
    fn tenant_id_rejects_quotes_and_uppercase() {
        assert!(check_tenant_id("acme\"; drop role x").is_err());
        assert!(check_tenant_id("Acme").is_err());
        assert!(check_tenant_id(&"a".repeat(57)).is_err());
        assert!(check_tenant_id(&"a".repeat(56)).is_ok());
    }

    #[test]
    fn fractional_connection_limit_is_invalid() {
        let error = TenantSpec::from_attrs(
            &attrs(&[("tenant_id", "acme".into()), ("isolation", "database".into()), ("connection_limit", 2.5.into())]),
            &[],
        )
        .unwrap_err();

        assert!(error.to_string().contains("connection_limit"));
    }

    #[test]
    fn comment_round_trips_metadata() {
        let spec = TenantSpec::from_attrs(
            &attrs(&[
                ("tenant_id", "acme".into()),
                ("isolation", "row".into()),
                ("database", "shared".into()),
                ("ssl_required", true.into()),
            ]),
            &[],
        )
        .unwrap();

        let metadata = Metadata::parse(Some(&spec.comment("2026-01-01T00:00:00Z")));

        assert_eq!(metadata.tenant_id.as_deref(), Some("acme"));
        assert_eq!(metadata.isolation.as_deref(), Some("row"));
        assert_eq!(metadata.database.as_deref(), Some("shared"));
        assert_eq!(metadata.ssl_required, Some(true));
        assert_eq!(metadata.password_updated_at.as_deref(), Some("2026-01-01T00:00:00Z"));
    }

    #[test]
    fn provider_tables_apply_when_resource_sets_none() {
        let defaults = vec![TableName::parse("orders").unwrap()];

        let spec = TenantSpec::from_attrs(
            &attrs(&[("tenant_id", "acme".into()), ("isolation", "row".into()), ("database", "shared".into())]),
            &defaults,
        )
        .unwrap();

        assert_eq!(spec.tables, defaults);
    }
}
