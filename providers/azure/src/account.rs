//! Container operations on one storage account, through the official
//! `azure_storage_blob` client with [`SharedKeyPolicy`] in its pipeline.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use azure_core::http::{ExponentialRetryOptions, RequestContent, RetryOptions, StatusCode};
use azure_core::time::Duration;
use azure_storage_blob::models::{
    BlobContainerClientCreateOptions, BlobServiceClientListContainersOptions, ContainerItem,
    ListContainersIncludeType,
};
use azure_storage_blob::{BlobContainerClient, BlobServiceClient, BlobServiceClientOptions};
use futures::{StreamExt, TryStreamExt};

use crate::container::PRIVATE_ACCESS;
use crate::error::{Error, request, status};
use crate::settings::ProviderSettings;
use crate::shared_key::SharedKeyPolicy;

/// A container as List Containers returns it.
#[derive(Debug, Clone, PartialEq)]
pub struct ContainerState {
    /// The container name.
    pub name: String,
    /// The container's metadata.
    pub metadata: BTreeMap<String, String>,
    /// The public access level: `none`, `blob` or `container`.
    pub public_access: String,
}

impl ContainerState {
    fn from_item(item: ContainerItem) -> Option<Self> {
        let public_access = item
            .properties
            .and_then(|properties| properties.public_access)
            .map_or_else(|| PRIVATE_ACCESS.to_owned(), |access| access.to_string());
        Some(Self {
            name: item.name?,
            metadata: item.metadata.unwrap_or_default().into_iter().collect(),
            public_access,
        })
    }
}

/// A client for the containers of one storage account.
pub struct Account {
    settings: ProviderSettings,
    service: BlobServiceClient,
}

impl std::fmt::Debug for Account {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.debug_struct("Account").field("settings", &self.settings).finish_non_exhaustive()
    }
}

impl Account {
    /// Creates a client that signs every request with the account key.
    pub fn new(settings: ProviderSettings) -> Result<Self, Error> {
        let policy = SharedKeyPolicy::new(settings.account_name.clone(), settings.account_key.clone());
        let mut options = BlobServiceClientOptions::default();
        options.client_options.per_try_policies.push(Arc::new(policy));
        options.client_options.retry = RetryOptions::exponential(retry_options());
        let service = BlobServiceClient::new(settings.endpoint.clone(), None, Some(options)).map_err(|error| {
            Error::Invalid(format!("`endpoint` `{}` is not usable: {error}", settings.endpoint))
        })?;
        Ok(Self { settings, service })
    }

    /// Returns the validated provider settings.
    pub fn settings(&self) -> &ProviderSettings {
        &self.settings
    }

    /// Lists the containers whose names start with `prefix`, with their
    /// metadata, following every continuation marker.
    pub async fn list(&self, prefix: &str) -> Result<Vec<ContainerState>, Error> {
        self.list_with(prefix, None).await
    }

    /// Lists at most one container: a cheap check of the endpoint and key.
    pub async fn check_access(&self) -> Result<(), Error> {
        self.list_with("", Some(1)).await.map(|_| ())
    }

    async fn list_with(&self, prefix: &str, max_results: Option<i32>) -> Result<Vec<ContainerState>, Error> {
        let options = BlobServiceClientListContainersOptions {
            include: Some(vec![ListContainersIncludeType::Metadata]),
            prefix: (!prefix.is_empty()).then(|| prefix.to_owned()),
            maxresults: max_results,
            ..Default::default()
        };
        let action = format!("list the containers of account `{}`", self.settings.account_name);
        let pager = self
            .service
            .list_containers(Some(options))
            .map_err(request(action.clone()))?;
        let pager = match max_results {
            // Stopping after `limit` items keeps a check to one page.
            Some(limit) => pager.take(limit.max(1) as usize),
            None => pager.take(usize::MAX),
        };
        let items: Vec<ContainerItem> = pager.try_collect().await.map_err(request(action))?;
        Ok(items.into_iter().filter_map(ContainerState::from_item).collect())
    }

    /// Returns the container of that exact name, if it exists.
    pub async fn find(&self, name: &str) -> Result<Option<ContainerState>, Error> {
        let listed = self.list(name).await?;
        Ok(listed.into_iter().find(|container| container.name == name))
    }

    /// Creates a private container with the given metadata.
    pub async fn create(&self, name: &str, metadata: &BTreeMap<String, String>) -> Result<(), Error> {
        let options = BlobContainerClientCreateOptions {
            metadata: Some(to_hash_map(metadata)),
            ..Default::default()
        };
        self.container(name)
            .create(Some(options))
            .await
            .map_err(request(format!("create container `{name}` in account `{}`", self.settings.account_name)))?;
        Ok(())
    }

    /// Replaces every metadata pair of the container.
    pub async fn set_metadata(&self, name: &str, metadata: &BTreeMap<String, String>) -> Result<(), Error> {
        self.container(name)
            .set_metadata(&to_hash_map(metadata), None)
            .await
            .map_err(request(format!("set the metadata of container `{name}`")))?;
        Ok(())
    }

    /// Turns off public access, keeping the container's stored access
    /// policies: Set Container ACL replaces both, so the policies are read
    /// first and sent back unchanged.
    pub async fn make_private(&self, name: &str) -> Result<(), Error> {
        let action = format!("turn off public access to container `{name}`");
        let container = self.container(name);
        let identifiers = container
            .get_access_policy(None)
            .await
            .and_then(|response| response.into_model())
            .map_err(request(action.clone()))?;
        let body = RequestContent::try_from(identifiers).map_err(request(action.clone()))?;
        container.set_access_policy(body, None).await.map_err(request(action))?;
        Ok(())
    }

    /// Deletes the container. Returns false when it did not exist.
    pub async fn delete(&self, name: &str) -> Result<bool, Error> {
        match self.container(name).delete(None).await {
            Ok(_) => Ok(true),
            Err(error) if status(&error) == Some(StatusCode::NotFound) => Ok(false),
            Err(error) => Err(request(format!("delete container `{name}`"))(error)),
        }
    }

    fn container(&self, name: &str) -> BlobContainerClient {
        self.service.blob_container_client(name)
    }
}

/// Returns retry options that retry transient failures 4 times within 30
/// seconds, so that an unreachable endpoint fails in seconds rather than
/// after the client's default minute.
fn retry_options() -> ExponentialRetryOptions {
    ExponentialRetryOptions {
        initial_delay: Duration::milliseconds(200),
        max_retries: 4,
        max_delay: Duration::seconds(5),
        max_total_elapsed: Duration::seconds(30),
    }
}

fn to_hash_map(metadata: &BTreeMap<String, String>) -> HashMap<String, String> {
    metadata.iter().map(|(key, value)| (key.clone(), value.clone())).collect()
}
