//! The Azure provider of tenancy: one private Blob Storage container per
//! tenant, in one storage account per provider instance.
//!
//! The provider block takes `account_name`, `account_key` (sensitive) and
//! `endpoint`. Requests go through the official `azure_storage_blob` client,
//! whose pipeline carries [`shared_key::SharedKeyPolicy`] to sign them with
//! the account key. The only resource type is `azure_container`; see
//! `docs/providers/azure.md` for its attributes.

pub mod account;
pub mod container;
pub mod error;
pub mod plan;
pub mod settings;
pub mod shared_key;

use async_trait::async_trait;
use tenancy_sdk::{
    Attrs, ErrorKind, ImportRequest, Operation, PlannedChange, Provider, ProviderContext, ProviderError,
    ProviderResult, ReadRequest, ResourceSchema,
};

use crate::account::{Account, ContainerState};
use crate::container::{CONTAINER_TYPE, ContainerSpec, PRIVATE_ACCESS, check_name, container_schema, string_attr};
use crate::error::Error;
use crate::plan::{current_attrs, imported_attrs, plan_container};

/// The `azure` provider.
#[derive(Debug, Default)]
pub struct AzureProvider {
    account: Option<Account>,
    instance: String,
}

impl AzureProvider {
    /// Returns an unconfigured provider.
    pub fn new() -> Self {
        Self::default()
    }

    fn account(&self) -> Result<&Account, Error> {
        self.account
            .as_ref()
            .ok_or_else(|| Error::Invalid(format!("provider `{}` is used before it was configured", self.instance)))
    }

    fn subject(&self) -> String {
        format!("provider `{}`", self.instance)
    }

    async fn create(&self, planned: &Attrs) -> Result<Attrs, Error> {
        let account = self.account()?;
        let spec = ContainerSpec::from_attrs(planned)?;
        account.create(&spec.name, &spec.metadata).await?;
        Ok(applied_attrs(planned, &spec, account))
    }

    /// Replaces the metadata, which also drops keys added by hand, and turns
    /// public access off when refresh found it on.
    async fn update(&self, prior: &Attrs, planned: &Attrs) -> Result<Attrs, Error> {
        let account = self.account()?;
        let spec = ContainerSpec::from_attrs(planned)?;
        account.set_metadata(&spec.name, &spec.metadata).await?;
        let public_access = string_attr(prior, "public_access")?;
        if public_access.as_deref().is_some_and(|access| access != PRIVATE_ACCESS) {
            account.make_private(&spec.name).await?;
        }
        Ok(applied_attrs(planned, &spec, account))
    }

    async fn delete(&self, prior: &Attrs) -> Result<(), Error> {
        let name = container_name(prior)?;
        if !self.account()?.delete(&name).await? {
            tracing::debug!(container = %name, "container was already deleted");
        }
        Ok(())
    }

    async fn import_container(&self, name: &str) -> Result<Attrs, Error> {
        check_name(name)?;
        let account = self.account()?;
        match account.find(name).await? {
            Some(state) => Ok(imported_attrs(&state, account.settings())),
            None => Err(Error::NotFound(format!(
                "container `{name}` does not exist in account `{}`",
                account.settings().account_name
            ))),
        }
    }

    /// Reads many containers with one paged List Containers call, narrowed
    /// to the longest prefix that all their names share.
    async fn read_many(&self, names: &[String]) -> Result<Vec<Option<ContainerState>>, Error> {
        let account = self.account()?;
        let prefix = common_prefix(names);
        let listed = account.list(prefix).await?;
        Ok(names
            .iter()
            .map(|name| listed.iter().find(|state| &state.name == name).cloned())
            .collect())
    }
}

/// Returns the planned attributes with every value the create or update
/// made known.
fn applied_attrs(planned: &Attrs, spec: &ContainerSpec, account: &Account) -> Attrs {
    let state = ContainerState {
        name: spec.name.clone(),
        metadata: spec.metadata.clone(),
        public_access: PRIVATE_ACCESS.to_owned(),
    };
    current_attrs(planned, &state, account.settings())
}

fn container_name(attrs: &Attrs) -> Result<String, Error> {
    let name = match string_attr(attrs, "name")? {
        Some(name) => name,
        None => string_attr(attrs, "id")?
            .ok_or_else(|| Error::Invalid("the state records neither `name` nor `id` of the container".into()))?,
    };
    check_name(&name)?;
    Ok(name)
}

fn common_prefix(names: &[String]) -> &str {
    let Some(first) = names.first() else {
        return "";
    };
    let mut length = first.len();
    for name in &names[1..] {
        length = first
            .bytes()
            .zip(name.bytes())
            .take(length)
            .take_while(|(a, b)| a == b)
            .count();
    }
    &first[..length]
}

fn unknown_type(type_name: &str) -> ProviderError {
    ProviderError::invalid(format!(
        "the azure provider has no resource type `{type_name}`; its only type is `{CONTAINER_TYPE}`"
    ))
}

#[async_trait]
impl Provider for AzureProvider {
    fn type_name(&self) -> &'static str {
        "azure"
    }

    fn schemas(&self) -> Vec<ResourceSchema> {
        vec![container_schema()]
    }

    fn max_concurrency(&self) -> usize {
        8
    }

    async fn configure(&mut self, config: &Attrs, context: &ProviderContext) -> ProviderResult<()> {
        self.instance = context.instance.clone();
        let subject = self.subject();
        let settings = settings::parse(config).map_err(|error| error.for_subject(&subject))?;
        let account = Account::new(settings).map_err(|error| error.for_subject(&subject))?;
        account.check_access().await.map_err(|error| error.for_subject(&subject))?;
        self.account = Some(account);
        Ok(())
    }

    async fn read(&self, requests: &[ReadRequest]) -> Vec<ProviderResult<Option<Attrs>>> {
        let mut results: Vec<Option<ProviderResult<Option<Attrs>>>> = vec![None; requests.len()];
        let mut names = Vec::new();
        let mut positions = Vec::new();
        for (index, request) in requests.iter().enumerate() {
            if request.type_name != CONTAINER_TYPE {
                results[index] = Some(Err(unknown_type(&request.type_name)));
                continue;
            }
            match container_name(&request.prior) {
                Ok(name) => {
                    names.push(name);
                    positions.push(index);
                }
                Err(error) => results[index] = Some(Err(error.for_subject(&request.address))),
            }
        }
        if !names.is_empty() {
            match (self.read_many(&names).await, self.account()) {
                (Ok(states), Ok(account)) => {
                    for (position, state) in positions.into_iter().zip(states) {
                        let prior = &requests[position].prior;
                        let attrs = state.map(|state| current_attrs(prior, &state, account.settings()));
                        results[position] = Some(Ok(attrs));
                    }
                }
                (Err(error), _) | (_, Err(error)) => {
                    for position in positions {
                        results[position] = Some(Err(error.for_subject(&requests[position].address)));
                    }
                }
            }
        }
        results.into_iter().map(|result| result.unwrap_or(Ok(None))).collect()
    }

    fn plan(&self, type_name: &str, prior: Option<&Attrs>, config: &Attrs) -> ProviderResult<PlannedChange> {
        if type_name != CONTAINER_TYPE {
            return Err(unknown_type(type_name));
        }
        let settings = self.account.as_ref().map(Account::settings);
        plan_container(prior, config, settings).map_err(|error| error.for_subject(type_name))
    }

    async fn apply(&self, type_name: &str, address: &str, operation: Operation<'_>) -> ProviderResult<Option<Attrs>> {
        if type_name != CONTAINER_TYPE {
            return Err(unknown_type(type_name));
        }
        let result = match operation {
            Operation::Create { planned } => {
                tracing::debug!(address, "creating azure container");
                self.create(planned).await.map(Some)
            }
            Operation::Update { prior, planned } => {
                tracing::debug!(address, "updating azure container");
                self.update(prior, planned).await.map(Some)
            }
            Operation::Delete { prior } => {
                tracing::debug!(address, "deleting azure container");
                self.delete(prior).await.map(|()| None)
            }
        };
        result.map_err(|error| error.for_subject(address))
    }

    async fn import(&self, request: &ImportRequest) -> ProviderResult<Attrs> {
        if request.type_name != CONTAINER_TYPE {
            return Err(unknown_type(&request.type_name));
        }
        self.import_container(&request.id).await.map_err(|error| {
            let provider_error = error.for_subject(&request.address);
            if provider_error.kind == ErrorKind::NotFound {
                provider_error.with_hint("The import id is the container name, such as `acme-corp`; check its spelling.")
            } else {
                provider_error
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|name| name.to_string()).collect()
    }

    #[test]
    fn common_prefix_narrows_listing() {
        assert_eq!(common_prefix(&names(&["acme-eu", "acme-us"])), "acme-");
        assert_eq!(common_prefix(&names(&["acme", "globex"])), "");
        assert_eq!(common_prefix(&names(&["acme"])), "acme");
        assert_eq!(common_prefix(&[]), "");
    }

    #[test]
    fn plan_rejects_unknown_type() {
        let error = AzureProvider::new().plan("azure_blob", None, &Attrs::new()).unwrap_err();

        assert!(error.message.contains("only type is `azure_container`"));
    }
}
