//! [`SqliteProvider`]: the [`Provider`] implementation that routes each
//! resource type to its catalog table or to the tenant database files.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;
use tenancy_sdk::{
    Attrs, ImportRequest, Operation, PlannedChange, Provider, ProviderContext, ProviderError,
    ProviderResult, ReadRequest, ResourceSchema,
};

use crate::catalog::{Catalog, PROVIDER_SUBJECT};
use crate::error::{Result, SqliteError};
use crate::schemas::{ResourceType, all_schemas};
use crate::tables::monitoring::Monitoring;
use crate::tables::security_policy::SecurityPolicies;
use crate::tables::subscription::Subscriptions;
use crate::tables::tenant::Tenants;
use crate::tables::tier::Tiers;
use crate::tables::{self, CatalogTable};
use crate::{database, plan, refresh, settings};

/// How many operations the engine may run at once. The catalog writer
/// commits whatever is queued in one transaction, so more operations in
/// flight mean fewer commits. Tenant database files are provisioned in
/// parallel on the blocking pool.
const MAX_CONCURRENCY: usize = 32;

/// The provider's state after `configure`: the open catalog and the
/// directory of tenant databases.
pub struct Configured {
    /// The tenant catalog.
    pub catalog: Catalog,
    /// The absolute directory that contains the `<tenant_id>.db` files.
    pub data_dir: PathBuf,
    /// How many writes found the catalog row recording a file at another
    /// path that still exists, so the first few warn and the rest do not.
    pub left_behind: AtomicUsize,
    /// How many tenant database files refresh has opened with SQLite
    /// because their fingerprint did not match a recorded one.
    pub full_inspections: AtomicUsize,
}

/// The embedded provider: a SQLite tenant catalog and one SQLite database
/// file per tenant, with no server to run.
#[derive(Default)]
pub struct SqliteProvider {
    configured: Option<Arc<Configured>>,
}

impl SqliteProvider {
    /// Returns a provider that must be configured before use.
    pub fn new() -> Self {
        Self::default()
    }

    /// Returns how many tenant database files refresh has opened with
    /// SQLite since `configure`. Refresh does not count a file whose
    /// fingerprint still matches the one recorded when apply last wrote it.
    pub fn full_inspections(&self) -> usize {
        self.configured.as_ref().map_or(0, |configured| {
            configured.full_inspections.load(Ordering::Relaxed)
        })
    }

    fn configured(&self) -> ProviderResult<&Arc<Configured>> {
        self.configured.as_ref().ok_or_else(|| {
            ProviderError::other("the sqlite provider was used before `configure`").with_hint(
                "This is a bug in the engine: it must configure every provider before use.",
            )
        })
    }
}

fn resource_type(type_name: &str) -> ProviderResult<ResourceType> {
    ResourceType::parse(type_name).ok_or_else(|| {
        ProviderError::invalid(format!(
            "the sqlite provider has no resource type `{type_name}`"
        ))
    })
}

/// Creates, updates or deletes one catalog row.
async fn apply_row<T: CatalogTable + 'static>(
    configured: &Arc<Configured>,
    address: &str,
    operation: Operation<'_>,
) -> Result<Option<Attrs>> {
    let subject = address.to_owned();
    match operation {
        Operation::Create { planned } => {
            let planned = planned.clone();
            let work = move |connection: &_, path: &_| {
                tables::create::<T>(connection, path, &subject, &planned)
            };
            configured.catalog.write(address, work).await.map(Some)
        }
        Operation::Update { planned, .. } => {
            let planned = planned.clone();
            let work = move |connection: &_, path: &_| {
                tables::update::<T>(connection, path, &subject, &planned)
            };
            configured.catalog.write(address, work).await.map(Some)
        }
        Operation::Delete { prior } => {
            let key = crate::attrs::Input::new(address, prior)
                .required_string(T::KIND.key_attribute())?;
            let work = move |connection: &_, path: &_| {
                tables::delete::<T>(connection, path, &subject, &key)
            };
            configured.catalog.write(address, work).await.map(|()| None)
        }
    }
}

/// Reads one catalog row by key for import.
async fn import_row<T: CatalogTable + 'static>(
    configured: &Arc<Configured>,
    address: &str,
    id: &str,
) -> Result<Attrs> {
    let subject = address.to_owned();
    let key = id.to_owned();
    let row = configured
        .catalog
        .read(address, move |connection, path| {
            tables::select_one::<T>(connection, &key).map_err(|error| {
                SqliteError::catalog(&subject, format!("read `{}`", T::TABLE), path, error)
            })
        })
        .await?;
    row.ok_or_else(|| SqliteError::NotFound {
        subject: address.to_owned(),
        message: format!(
            "`{}` has no row with {} `{id}` in the tenant catalog `{}`",
            T::TABLE,
            T::KEY,
            configured.catalog.path().display()
        ),
    })
}

#[async_trait]
impl Provider for SqliteProvider {
    fn type_name(&self) -> &'static str {
        "sqlite"
    }

    fn schemas(&self) -> Vec<ResourceSchema> {
        all_schemas()
    }

    fn max_concurrency(&self) -> usize {
        MAX_CONCURRENCY
    }

    async fn configure(&mut self, config: &Attrs, context: &ProviderContext) -> ProviderResult<()> {
        let settings = settings::parse(config, context)?;
        let opened = tokio::task::spawn_blocking(move || -> Result<Configured> {
            for directory in [
                settings.catalog_path.parent(),
                Some(settings.data_dir.as_path()),
            ]
            .into_iter()
            .flatten()
            {
                std::fs::create_dir_all(directory).map_err(|error| {
                    SqliteError::io(PROVIDER_SUBJECT, "create the directory", directory, error)
                })?;
            }
            let catalog = Catalog::open(&settings.catalog_path, settings.synchronous)?;
            Ok(Configured {
                catalog,
                data_dir: settings.data_dir,
                left_behind: AtomicUsize::new(0),
                full_inspections: AtomicUsize::new(0),
            })
        })
        .await
        .map_err(|error| {
            ProviderError::other(format!(
                "{PROVIDER_SUBJECT}: configuration task failed: {error}"
            ))
        })??;
        self.configured = Some(Arc::new(opened));
        Ok(())
    }

    async fn read(&self, requests: &[ReadRequest]) -> Vec<ProviderResult<Option<Attrs>>> {
        match self.configured() {
            Ok(configured) => refresh::read(configured, requests).await,
            Err(error) => vec![Err(error); requests.len()],
        }
    }

    fn plan(
        &self,
        type_name: &str,
        prior: Option<&Attrs>,
        config: &Attrs,
    ) -> ProviderResult<PlannedChange> {
        let kind = resource_type(type_name)?;
        let data_dir = self
            .configured
            .as_ref()
            .map(|configured| configured.data_dir.as_path());
        Ok(plan::plan(kind, prior, config, data_dir)?)
    }

    async fn apply(
        &self,
        type_name: &str,
        address: &str,
        operation: Operation<'_>,
    ) -> ProviderResult<Option<Attrs>> {
        let configured = self.configured()?;
        let result = match resource_type(type_name)? {
            ResourceType::Tier => apply_row::<Tiers>(configured, address, operation).await,
            ResourceType::SecurityPolicy => {
                apply_row::<SecurityPolicies>(configured, address, operation).await
            }
            ResourceType::Tenant => apply_row::<Tenants>(configured, address, operation).await,
            ResourceType::Subscription => {
                apply_row::<Subscriptions>(configured, address, operation).await
            }
            ResourceType::Monitoring => {
                apply_row::<Monitoring>(configured, address, operation).await
            }
            ResourceType::Database => database::apply(configured, address, operation).await,
        };
        if let Err(error) = &result {
            tracing::debug!(address, %error, "sqlite apply failed");
        }
        Ok(result?)
    }

    async fn import(&self, request: &ImportRequest) -> ProviderResult<Attrs> {
        let configured = self.configured()?;
        let (address, id) = (request.address.as_str(), request.id.as_str());
        let kind = resource_type(&request.type_name)?;
        if kind.key_attribute() == "tenant_id" {
            crate::attrs::validate_tenant_id(address, id)?;
        } else {
            crate::attrs::validate_name(address, "id", id)?;
        }
        let result = match kind {
            ResourceType::Tier => import_row::<Tiers>(configured, address, id).await,
            ResourceType::SecurityPolicy => {
                import_row::<SecurityPolicies>(configured, address, id).await
            }
            ResourceType::Tenant => import_row::<Tenants>(configured, address, id).await,
            ResourceType::Subscription => {
                import_row::<Subscriptions>(configured, address, id).await
            }
            ResourceType::Monitoring => import_row::<Monitoring>(configured, address, id).await,
            ResourceType::Database => database::import(configured, address, id).await,
        };
        Ok(result?)
    }
}
