//! The PostgreSQL provider of tenancy: one login role per tenant, isolated
//! by a database of its own, a schema of its own in a shared database, or
//! row-level security on shared tables.
//!
//! The provider block takes `url` (the admin connection, required and
//! sensitive) and `tables` (the default shared tables for row isolation).
//! The only resource type is `postgres_database`; see [`attrs::database_schema`]
//! for its attributes and `docs/providers/postgres.md` for the design.

pub mod apply;
pub mod attrs;
pub mod connection;
pub mod credentials;
pub mod error;
pub mod import;
pub mod read;
pub mod rls;
pub mod spec;
pub mod sql;

use async_trait::async_trait;
use tenancy_sdk::{
    Attrs, ImportRequest, Operation, PlannedChange, Provider, ProviderContext, ProviderError, ProviderResult,
    ReadRequest, ResourceSchema, ThinVec, Value, plan_by_schema,
};

use crate::apply::Credentials;
use crate::attrs::{DATABASE_TYPE, database_schema};
use crate::connection::Server;
use crate::error::Error;
use crate::spec::{TenantSpec, parse_tables, tables_value};
use crate::sql::TableName;

/// The `postgres` provider.
#[derive(Debug, Default)]
pub struct PostgresProvider {
    server: Option<Server>,
    default_tables: Vec<TableName>,
    instance: String,
}

impl PostgresProvider {
    /// Returns an unconfigured provider.
    pub fn new() -> Self {
        Self::default()
    }

    fn server(&self) -> ProviderResult<&Server> {
        self.server.as_ref().ok_or_else(|| {
            ProviderError::other(format!(
                "provider `{}` is used before it was configured",
                self.instance_name()
            ))
        })
    }

    fn instance_name(&self) -> &str {
        if self.instance.is_empty() { "postgres" } else { &self.instance }
    }

    fn spec(&self, attrs: &Attrs, address: &str) -> ProviderResult<TenantSpec> {
        TenantSpec::from_attrs(attrs, &self.default_tables).map_err(|error| error.for_resource(address))
    }

    /// Fills in the defaults of optional attributes, so that a value left
    /// out of configuration compares equal to what refresh reads.
    fn with_defaults(&self, config: &Attrs) -> Attrs {
        let mut config = config.clone();
        let mut default = |name: &str, value: Value| {
            let entry = config.get_or_insert(name, Value::Null);
            if entry.is_null() {
                *entry = value;
            }
        };
        default("connection_limit", Value::from(-1i64));
        default("audit_logging", false.into());
        default("ssl_required", false.into());
        let row = config.get("isolation").and_then(Value::as_str) == Some("row");
        let tables = if row { tables_value(&self.default_tables) } else { Value::List(ThinVec::new()) };
        let entry = config.get_or_insert("tables", Value::Null);
        if entry.is_null() {
            *entry = tables;
        }
        config
    }
}

#[async_trait]
impl Provider for PostgresProvider {
    fn type_name(&self) -> &'static str {
        "postgres"
    }

    fn schemas(&self) -> Vec<ResourceSchema> {
        vec![database_schema()]
    }

    fn max_concurrency(&self) -> usize {
        4
    }

    async fn configure(&mut self, config: &Attrs, context: &ProviderContext) -> ProviderResult<()> {
        self.instance = context.instance.clone();
        let instance = self.instance.clone();
        let invalid = |message: String| Error::Invalid(message).for_provider(&instance);

        let url = match config.get("url") {
            None | Some(Value::Null) => return Err(invalid("`url` is required, such as postgres://postgres@127.0.0.1:5432/postgres".into())),
            Some(value) if value.contains_unknown() => return Err(invalid("`url` must be known before apply".into())),
            Some(value) => value
                .as_str()
                .ok_or_else(|| invalid(format!("`url` must be a string, found {}", value.type_name())))?,
        };
        let server = Server::parse(url).map_err(|error| error.for_provider(&instance))?;
        if let Some(tables) = config.get("tables").filter(|value| !value.is_null()) {
            self.default_tables = parse_tables(tables).map_err(|error| error.for_provider(&instance))?;
        }

        let client = server.connect().await.map_err(|error| error.for_provider(&instance))?;
        client
            .simple_query("SELECT 1")
            .await
            .map_err(error::query("run a check query"))
            .map_err(|error| error.for_provider(&instance))?;
        self.server = Some(server);
        Ok(())
    }

    async fn read(&self, requests: &[ReadRequest]) -> Vec<ProviderResult<Option<Attrs>>> {
        let server = match self.server() {
            Ok(server) => server,
            Err(error) => return requests.iter().map(|_| Err(error.clone())).collect(),
        };
        let mut results: Vec<Option<ProviderResult<Option<Attrs>>>> = vec![None; requests.len()];
        let mut items = Vec::new();
        let mut positions = Vec::new();
        for (index, request) in requests.iter().enumerate() {
            if request.type_name != DATABASE_TYPE {
                results[index] = Some(Err(unknown_type(&request.type_name)));
                continue;
            }
            match self.spec(&request.prior, &request.address) {
                Ok(spec) => {
                    items.push((spec, request.prior.clone(), request.address.clone()));
                    positions.push(index);
                }
                Err(error) => results[index] = Some(Err(error)),
            }
        }
        let read = read::read_many(server, &items).await;
        for (position, result) in positions.into_iter().zip(read) {
            results[position] = Some(result);
        }
        results.into_iter().map(|result| result.unwrap_or(Ok(None))).collect()
    }

    fn plan(&self, type_name: &str, prior: Option<&Attrs>, config: &Attrs) -> ProviderResult<PlannedChange> {
        if type_name != DATABASE_TYPE {
            return Err(unknown_type(type_name));
        }
        let config = self.with_defaults(config);
        let known = !config.values().any(Value::contains_unknown);
        if known {
            self.spec(&config, type_name)?;
        }

        // Under database isolation `database` names nothing, so a change to
        // it must not replace the tenant.
        let mut prior = prior.cloned();
        let database_mode = |attrs: &Attrs| attrs.get("isolation").and_then(Value::as_str) == Some("database");
        if let Some(prior) = prior.as_mut().filter(|prior| database_mode(prior) && database_mode(&config)) {
            prior.insert("database", config.get("database").cloned().unwrap_or_default());
        }

        let mut change = plan_by_schema(&database_schema(), prior.as_ref(), &config);
        if let Some(prior) = prior.as_ref().filter(|_| change.requires_replace.is_empty()) {
            plan_update(self, prior, &config, known, &mut change.planned);
        }
        Ok(change)
    }

    async fn apply(&self, type_name: &str, address: &str, operation: Operation<'_>) -> ProviderResult<Option<Attrs>> {
        if type_name != DATABASE_TYPE {
            return Err(unknown_type(type_name));
        }
        let server = self.server()?;
        match operation {
            Operation::Create { planned } => {
                let spec = self.spec(planned, address)?;
                tracing::debug!(address, role = %spec.role, "creating postgres tenant");
                let credentials = apply::create(server, &spec)
                    .await
                    .map_err(|error| error.for_resource(address))?;
                warn_about_ssl(server, &spec, address).await;
                Ok(Some(attrs::build(server, &spec, &credentials.password, &credentials.updated_at)))
            }
            Operation::Update { prior, planned } => self.update(server, address, prior, planned).await.map(Some),
            Operation::Delete { prior } => {
                let spec = self.spec(prior, address)?;
                tracing::debug!(address, role = %spec.role, "deleting postgres tenant");
                apply::delete(server, &spec)
                    .await
                    .map_err(|error| error.for_resource(address))?;
                Ok(None)
            }
        }
    }

    async fn import(&self, request: &ImportRequest) -> ProviderResult<Attrs> {
        if request.type_name != DATABASE_TYPE {
            return Err(unknown_type(&request.type_name));
        }
        import::import(self.server()?, &request.id, &self.default_tables, &request.address).await
    }
}

impl PostgresProvider {
    async fn update(&self, server: &Server, address: &str, prior: &Attrs, planned: &Attrs) -> ProviderResult<Attrs> {
        let spec = self.spec(planned, address)?;
        let prior_tables = match prior.get("tables").filter(|value| !value.is_null()) {
            Some(value) => parse_tables(value).map_err(|error| error.for_resource(address))?,
            None => Vec::new(),
        };
        let rotate = planned.get("password").is_none_or(Value::is_unknown);
        let (password, updated_at) = if rotate {
            (credentials::generate_password(), credentials::now_text())
        } else {
            let password = prior.get("password").and_then(Value::as_str).unwrap_or_default().to_owned();
            let updated_at = prior.get("password_updated_at").and_then(Value::as_str).unwrap_or_default();
            (password, updated_at.to_owned())
        };
        tracing::debug!(address, role = %spec.role, rotate, "updating postgres tenant");
        let rotated = rotate.then(|| Credentials {
            password: password.clone(),
            updated_at: updated_at.clone(),
        });
        apply::update(server, &spec, &prior_tables, rotated.as_ref(), &updated_at)
            .await
            .map_err(|error| error.for_resource(address))?;
        warn_about_ssl(server, &spec, address).await;
        Ok(attrs::build(server, &spec, &password, &updated_at))
    }
}

/// Adjusts an in-place update plan: isolation is always planned intact, the
/// password rotates when due or missing, and the dates and URL follow.
fn plan_update(provider: &PostgresProvider, prior: &Attrs, config: &Attrs, known: bool, planned: &mut Attrs) {
    planned.insert("isolation_intact", true.into());
    let password = prior.get("password").filter(|value| !value.is_null() && !value.is_unknown());
    let updated_at = prior.get("password_updated_at").and_then(Value::as_str);
    let rotation_days = config.get("password_rotation_days").and_then(Value::as_i64);
    let due = match (updated_at, rotation_days) {
        (Some(updated_at), Some(days)) => credentials::rotation_due(updated_at, days, chrono::Utc::now()),
        (None, _) => true,
        (Some(_), None) => false,
    };

    if password.is_none() || due {
        planned.insert("password", Value::sensitive(Value::Unknown));
        planned.insert("password_updated_at", Value::Unknown);
        planned.insert("valid_until", Value::Unknown);
        planned.insert("url", Value::sensitive(Value::Unknown));
        return;
    }
    let valid_until = updated_at.and_then(|updated_at| credentials::valid_until(updated_at, rotation_days));
    planned.insert("valid_until", attrs::optional_text(valid_until));

    // The URL depends on `ssl_required` and the server address, which can
    // change without a new password.
    let url = match (known, provider.server.as_ref(), password.and_then(Value::as_str)) {
        (true, Some(server), Some(password)) => match TenantSpec::from_attrs(config, &provider.default_tables) {
            Ok(spec) => Value::sensitive(credentials::tenant_url(server, &spec, password).into()),
            Err(_) => Value::sensitive(Value::Unknown),
        },
        _ => Value::sensitive(Value::Unknown),
    };
    planned.insert("url", url);
}

/// Logs a warning when a tenant requires SSL but the server has it off:
/// the tenant URL carries `sslmode=require`, so its clients will fail to
/// connect rather than fall back to plaintext.
async fn warn_about_ssl(server: &Server, spec: &TenantSpec, address: &str) {
    if !spec.ssl_required {
        return;
    }
    let Ok(client) = server.connect().await else { return };
    let ssl_on = match client.query_one("SELECT current_setting('ssl') = 'on'", &[]).await {
        Ok(row) => row.get::<_, bool>(0),
        Err(_) => return,
    };
    if !ssl_on {
        tracing::warn!(
            address,
            "ssl_required is set but the server has ssl = off; clients using the tenant URL will not connect until SSL is enabled"
        );
    }
}

fn unknown_type(type_name: &str) -> ProviderError {
    ProviderError::invalid(format!(
        "the postgres provider has no resource type `{type_name}`; its only type is `{DATABASE_TYPE}`"
    ))
}
