//! The provider registry: the one place where the engine names provider
//! crates.
//!
//! It maps configuration blocks and resource types to provider types,
//! creates and configures provider instances, and hands the rest of the
//! engine `Arc<dyn Provider>` handles with a concurrency limit each.

use std::collections::{BTreeSet, HashMap};
use std::path::Path;
use std::sync::Arc;

use tenancy_sdk::{Attrs, Provider, ProviderContext, ProviderError, ResourceSchema};
use tokio::sync::Semaphore;

use crate::config::{ComponentKind, Config};

/// The provider instance that holds the tenant catalog.
pub const CATALOG_INSTANCE: &str = "sqlite";

/// Provider types compiled into this build.
pub fn provider_types() -> Vec<&'static str> {
    let mut types = vec!["sqlite"];
    if cfg!(feature = "postgres") {
        types.push("postgres");
    }
    if cfg!(feature = "redis") {
        types.push("redis");
    }
    if cfg!(feature = "aws") {
        types.push("aws");
    }
    if cfg!(feature = "azure") {
        types.push("azure");
    }
    if cfg!(feature = "gcp") {
        types.push("gcp");
    }
    types
}

/// Creates an unconfigured provider of a type compiled into this build.
pub fn new_provider(type_name: &str) -> Option<Box<dyn Provider>> {
    match type_name {
        "sqlite" => Some(Box::new(tenancy_provider_sqlite::SqliteProvider::new())),
        #[cfg(feature = "postgres")]
        "postgres" => Some(Box::new(tenancy_provider_postgres::PostgresProvider::new())),
        #[cfg(feature = "redis")]
        "redis" => Some(Box::new(tenancy_provider_redis::RedisProvider::new())),
        #[cfg(feature = "aws")]
        "aws" => Some(Box::new(tenancy_provider_aws::AwsProvider::new())),
        #[cfg(feature = "azure")]
        "azure" => Some(Box::new(tenancy_provider_azure::AzureProvider::new())),
        #[cfg(feature = "gcp")]
        "gcp" => Some(Box::new(tenancy_provider_gcp::GcpProvider::new())),
        _ => None,
    }
}

/// Returns the provider type and resource type for a block nested in a
/// tenant, when this build has a provider for it.
pub fn component_resource(kind: ComponentKind, label: &str) -> Option<(&'static str, &'static str)> {
    let pair = match (kind, label) {
        (ComponentKind::Database, "sqlite") => ("sqlite", "sqlite_database"),
        (ComponentKind::Database, "postgres") => ("postgres", "postgres_database"),
        (ComponentKind::Database, "redis") => ("redis", "redis_user"),
        (ComponentKind::Storage, "gcs") => ("gcp", "gcp_bucket"),
        (ComponentKind::Storage, "azure_blob") => ("azure", "azure_container"),
        (ComponentKind::Network, "aws") => ("aws", "aws_vpc"),
        (ComponentKind::Monitoring, _) => (CATALOG_INSTANCE, "catalog_monitoring"),
        _ => return None,
    };
    provider_types().contains(&pair.0).then_some(pair)
}

/// Returns the help line for a nested block that no provider of this build
/// manages.
pub fn component_help(kind: ComponentKind) -> String {
    let available: Vec<&str> = match kind {
        ComponentKind::Database => ["sqlite", "postgres", "redis"]
            .into_iter()
            .filter(|label| component_resource(kind, label).is_some())
            .collect(),
        ComponentKind::Storage => ["gcs", "azure_blob"]
            .into_iter()
            .filter(|label| component_resource(kind, label).is_some())
            .collect(),
        ComponentKind::Network => ["aws"]
            .into_iter()
            .filter(|label| component_resource(kind, label).is_some())
            .collect(),
        ComponentKind::Monitoring => Vec::new(),
    };
    let listed = if available.is_empty() {
        "none".to_owned()
    } else {
        available.join(", ")
    };
    format!(
        "This build of tenancy manages these `{}` kinds: {listed}. Other kinds need a build with the \
         provider's cargo feature (for example `--features postgres,redis,aws,azure,gcp`).",
        kind.keyword()
    )
}

/// Returns the provider type that manages a resource type, when this build
/// has it.
pub fn provider_for_resource_type(type_name: &str) -> Option<&'static str> {
    provider_types().into_iter().find(|provider_type| {
        new_provider(provider_type).is_some_and(|provider| {
            provider.schemas().iter().any(|schema| schema.type_name == type_name)
        })
    })
}

/// Returns every resource type of this build, sorted.
pub fn resource_types() -> Vec<&'static str> {
    let mut types: Vec<&'static str> = provider_types()
        .into_iter()
        .filter_map(new_provider)
        .flat_map(|provider| provider.schemas().into_iter().map(|schema| schema.type_name))
        .collect();
    types.sort_unstable();
    types
}

/// A configured provider instance.
pub struct Instance {
    /// The instance name, such as `postgres.eu`.
    pub name: String,
    /// The configured provider.
    pub provider: Arc<dyn Provider>,
    /// Bounds concurrent operations to the provider's limit.
    pub permits: Arc<Semaphore>,
    /// Schemas by resource type.
    pub schemas: HashMap<String, ResourceSchema>,
}

/// Failure to set up a provider instance.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// The provider type is not compiled into this build.
    #[error("provider `{instance}` is not available in this build of tenancy")]
    NotCompiled {
        /// The instance name.
        instance: String,
    },
    /// The provider rejected its configuration or could not connect.
    #[error("failed to configure provider `{instance}`: {source}")]
    Configure {
        /// The instance name.
        instance: String,
        /// The provider's error.
        #[source]
        source: ProviderError,
    },
}

impl RegistryError {
    /// Returns the next step for the user.
    pub fn hint(&self) -> Option<String> {
        match self {
            RegistryError::NotCompiled { .. } => Some(
                "Build tenancy with the provider's cargo feature, for example `cargo build --features postgres,redis`."
                    .to_owned(),
            ),
            RegistryError::Configure { source, .. } => source.hint.clone(),
        }
    }
}

/// Every configured provider instance of one run.
#[derive(Default)]
pub struct Registry {
    instances: HashMap<String, Instance>,
}

impl Registry {
    /// Configures each named instance with its `provider` block, or with an
    /// empty configuration when the configuration has none.
    pub async fn configure(
        config: &Config,
        instances: &BTreeSet<String>,
        working_dir: &Path,
    ) -> Result<Registry, RegistryError> {
        let mut registry = Registry::default();
        for name in instances {
            let type_name = name.split('.').next().unwrap_or(name);
            let mut provider = new_provider(type_name).ok_or_else(|| RegistryError::NotCompiled {
                instance: name.clone(),
            })?;
            let block_attrs = config
                .providers
                .iter()
                .find(|block| &block.instance() == name)
                .map(|block| block.attrs.clone())
                .unwrap_or_else(Attrs::new);
            let context = ProviderContext {
                working_dir: working_dir.to_path_buf(),
                instance: name.clone(),
            };
            provider
                .configure(&block_attrs, &context)
                .await
                .map_err(|source| RegistryError::Configure {
                    instance: name.clone(),
                    source,
                })?;
            let schemas = provider
                .schemas()
                .into_iter()
                .map(|schema| (schema.type_name.to_owned(), schema))
                .collect();
            let permits = Arc::new(Semaphore::new(provider.max_concurrency().max(1)));
            let instance = Instance {
                name: name.clone(),
                provider: Arc::from(provider),
                permits,
                schemas,
            };
            registry.instances.insert(name.clone(), instance);
        }
        Ok(registry)
    }

    /// Adds an instance of a provider configured by the caller, for programs
    /// that embed the engine with providers of their own.
    pub fn insert(&mut self, name: &str, provider: Box<dyn Provider>) {
        let schemas = provider
            .schemas()
            .into_iter()
            .map(|schema| (schema.type_name.to_owned(), schema))
            .collect();
        let permits = Arc::new(Semaphore::new(provider.max_concurrency().max(1)));
        let instance = Instance {
            name: name.to_owned(),
            provider: Arc::from(provider),
            permits,
            schemas,
        };
        self.instances.insert(name.to_owned(), instance);
    }

    /// Returns a configured instance.
    pub fn get(&self, name: &str) -> Option<&Instance> {
        self.instances.get(name)
    }
}
