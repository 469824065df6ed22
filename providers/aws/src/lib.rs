//! The AWS provider of tenancy: a tenant's network in the customer's AWS
//! account, made of a VPC (`aws_vpc`), its subnets (`aws_subnets`) and a
//! security group that admits only the tenant's allowed networks
//! (`aws_security_group`), all through the EC2 API.
//!
//! The provider block takes `region` (default `us-east-1`), `endpoint` (a
//! URL that replaces the EC2 endpoints, such as a local emulator),
//! `access_key` and `secret_key`. One instance serves every region: each
//! resource records its `region`, a change to it replaces the resource, and
//! the provider keeps one EC2 client per region. See `docs/providers/aws.md`
//! for every attribute.

pub mod attrs;
pub mod error;
pub mod plan;
pub mod rules;
pub mod schema;
pub mod security_group;
pub mod settings;
pub mod subnets;
pub mod tags;
pub mod vpc;

use std::collections::BTreeMap;

/// The EC2 SDK the provider is built on, for programs and tests that look at
/// the same objects directly.
pub use aws_sdk_ec2;

use async_trait::async_trait;
use tenancy_sdk::{
    Attrs, ImportRequest, Operation, PlannedChange, Provider, ProviderContext, ProviderError, ProviderResult,
    ReadRequest, ResourceSchema, Value,
};

use crate::attrs::check_region;
use crate::error::Error;
use crate::schema::{SUBNETS_TYPE, TYPES, VPC_TYPE};
use crate::security_group::SecurityGroupSpec;
use crate::settings::{Clients, DEFAULT_REGION, Settings};
use crate::subnets::SubnetsSpec;
use crate::vpc::VpcSpec;

/// The `aws` provider.
#[derive(Debug, Default)]
pub struct AwsProvider {
    instance: String,
    settings: Option<Settings>,
    clients: Option<Clients>,
}

impl AwsProvider {
    /// Returns an unconfigured provider.
    pub fn new() -> Self {
        Self::default()
    }

    fn default_region(&self) -> &str {
        self.settings.as_ref().map_or(DEFAULT_REGION, |settings| settings.region.as_str())
    }

    /// Returns the EC2 client of the region the attributes name.
    fn client(&self, attrs: &Attrs) -> Result<aws_sdk_ec2::Client, Error> {
        let region = attrs.get("region").and_then(Value::as_str).unwrap_or(self.default_region());
        self.client_in(region)
    }

    fn client_in(&self, region: &str) -> Result<aws_sdk_ec2::Client, Error> {
        let clients = self
            .clients
            .as_ref()
            .ok_or_else(|| Error::Invalid(format!("provider `{}` is used before it was configured", self.instance)))?;
        Ok(clients.client(region))
    }

    async fn read_group(&self, type_name: &str, region: &str, priors: &[&Attrs]) -> Result<Vec<Result<Option<Attrs>, Error>>, Error> {
        let client = self.client_in(region)?;
        match type_name {
            VPC_TYPE => vpc::read(&client, region, priors).await,
            SUBNETS_TYPE => subnets::read(&client, region, priors).await,
            _ => security_group::read(&client, region, priors).await,
        }
    }

    async fn create(&self, type_name: &str, planned: &Attrs) -> Result<Attrs, Error> {
        plan::check_known(&schema_of(type_name)?, planned)?;
        let client = self.client(planned)?;
        let region = self.default_region();
        match type_name {
            VPC_TYPE => vpc::create(&client, planned, &VpcSpec::from_attrs(planned, region)?).await,
            SUBNETS_TYPE => subnets::create(&client, planned, &SubnetsSpec::from_attrs(planned, region)?).await,
            _ => security_group::create(&client, planned, &SecurityGroupSpec::from_attrs(planned, region)?).await,
        }
    }

    async fn update(&self, type_name: &str, prior: &Attrs, planned: &Attrs) -> Result<Attrs, Error> {
        plan::check_known(&schema_of(type_name)?, planned)?;
        let client = self.client(planned)?;
        let region = self.default_region();
        match type_name {
            VPC_TYPE => vpc::update(&client, prior, planned, &VpcSpec::from_attrs(planned, region)?).await,
            SUBNETS_TYPE => subnets::update(&client, prior, planned, &SubnetsSpec::from_attrs(planned, region)?).await,
            _ => {
                let spec = SecurityGroupSpec::from_attrs(planned, region)?;
                security_group::update(&client, prior, planned, &spec).await
            }
        }
    }

    async fn delete(&self, type_name: &str, prior: &Attrs) -> Result<(), Error> {
        let client = self.client(prior)?;
        match type_name {
            VPC_TYPE => vpc::delete(&client, prior).await,
            SUBNETS_TYPE => subnets::delete(&client, prior).await,
            _ => security_group::delete(&client, prior).await,
        }
    }

    async fn import_object(&self, type_name: &str, id: &str) -> Result<Attrs, Error> {
        let (region, object_id) = split_import_id(id, self.default_region())?;
        let (prefix, example) = match type_name {
            VPC_TYPE => ("vpc-", "vpc-0a1b2c3d"),
            SUBNETS_TYPE => ("subnet-", "subnet-0a1b2c3d,subnet-4e5f6a7b"),
            _ => ("sg-", "sg-0a1b2c3d"),
        };
        if object_id.split(',').any(|part| !part.trim().starts_with(prefix)) {
            return Err(Error::Invalid(format!(
                "import id {id:?} is not an id of {type_name}; use an id such as {example}, optionally after a region and a slash (eu-west-1/{example})"
            )));
        }
        let client = self.client_in(region)?;
        match type_name {
            VPC_TYPE => vpc::import(&client, region, object_id).await,
            SUBNETS_TYPE => subnets::import(&client, region, object_id).await,
            _ => security_group::import(&client, region, object_id).await,
        }
    }
}

/// Splits an import id of the form `[REGION/]ID`.
fn split_import_id<'a>(id: &'a str, default_region: &'a str) -> Result<(&'a str, &'a str), Error> {
    match id.split_once('/') {
        Some((region, object_id)) => {
            check_region(region).map_err(|message| Error::Invalid(format!("the region of import id {id:?}: {message}")))?;
            Ok((region, object_id))
        }
        None => Ok((default_region, id)),
    }
}

fn schema_of(type_name: &str) -> Result<ResourceSchema, Error> {
    schema::schema(type_name).ok_or_else(|| Error::Invalid(format!("the aws provider has no resource type `{type_name}`")))
}

fn unknown_type(type_name: &str) -> ProviderError {
    ProviderError::invalid(format!(
        "the aws provider has no resource type `{type_name}`; its types are {}",
        TYPES.map(|name| format!("`{name}`")).join(", ")
    ))
}

#[async_trait]
impl Provider for AwsProvider {
    fn type_name(&self) -> &'static str {
        "aws"
    }

    fn schemas(&self) -> Vec<ResourceSchema> {
        TYPES.iter().filter_map(|type_name| schema::schema(type_name)).collect()
    }

    fn max_concurrency(&self) -> usize {
        8
    }

    async fn configure(&mut self, config: &Attrs, context: &ProviderContext) -> ProviderResult<()> {
        self.instance = context.instance.clone();
        let provider = format!("provider `{}`", self.instance);
        let settings = Settings::from_attrs(config).map_err(|error| error.for_resource(&provider))?;
        tracing::debug!(instance = %self.instance, region = %settings.region, endpoint = ?settings.endpoint, "configuring aws provider");
        self.clients = Some(Clients::load(&settings).await);
        self.settings = Some(settings);
        Ok(())
    }

    async fn read(&self, requests: &[ReadRequest]) -> Vec<ProviderResult<Option<Attrs>>> {
        let mut results: Vec<Option<ProviderResult<Option<Attrs>>>> = vec![None; requests.len()];
        let mut groups: BTreeMap<(&str, &str), Vec<usize>> = BTreeMap::new();
        for (index, request) in requests.iter().enumerate() {
            if !TYPES.contains(&request.type_name.as_str()) {
                results[index] = Some(Err(unknown_type(&request.type_name)));
                continue;
            }
            let region = request.prior.get("region").and_then(Value::as_str).unwrap_or(self.default_region());
            groups.entry((request.type_name.as_str(), region)).or_default().push(index);
        }

        for ((type_name, region), indexes) in groups {
            let priors: Vec<&Attrs> = indexes.iter().map(|&index| &requests[index].prior).collect();
            tracing::trace!(type_name, region, count = priors.len(), "refreshing aws objects");
            match self.read_group(type_name, region, &priors).await {
                Ok(read) => {
                    for (index, result) in indexes.into_iter().zip(read) {
                        results[index] = Some(result.map_err(|error| error.for_resource(&requests[index].address)));
                    }
                }
                Err(error) => {
                    for index in indexes {
                        results[index] = Some(Err(error.for_resource(&requests[index].address)));
                    }
                }
            }
        }
        results.into_iter().map(|result| result.unwrap_or(Ok(None))).collect()
    }

    fn plan(&self, type_name: &str, prior: Option<&Attrs>, config: &Attrs) -> ProviderResult<PlannedChange> {
        let schema = schema::schema(type_name).ok_or_else(|| unknown_type(type_name))?;
        plan::plan(&schema, prior, config, self.default_region()).map_err(|error| ProviderError::new(error.kind(), error.to_string()))
    }

    async fn apply(&self, type_name: &str, address: &str, operation: Operation<'_>) -> ProviderResult<Option<Attrs>> {
        if !TYPES.contains(&type_name) {
            return Err(unknown_type(type_name));
        }
        let result = match operation {
            Operation::Create { planned } => {
                tracing::debug!(address, type_name, "creating aws object");
                self.create(type_name, planned).await.map(Some)
            }
            Operation::Update { prior, planned } => {
                tracing::debug!(address, type_name, "updating aws object");
                self.update(type_name, prior, planned).await.map(Some)
            }
            Operation::Delete { prior } => {
                tracing::debug!(address, type_name, "deleting aws object");
                self.delete(type_name, prior).await.map(|()| None)
            }
        };
        result.map_err(|error| error.for_resource(address))
    }

    async fn import(&self, request: &ImportRequest) -> ProviderResult<Attrs> {
        if !TYPES.contains(&request.type_name.as_str()) {
            return Err(unknown_type(&request.type_name));
        }
        self.import_object(&request.type_name, request.id.trim())
            .await
            .map_err(|error| error.for_resource(&request.address))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn import_id_takes_optional_region() {
        assert_eq!(split_import_id("vpc-1", "us-east-1").unwrap(), ("us-east-1", "vpc-1"));
        assert_eq!(split_import_id("eu-west-1/vpc-1", "us-east-1").unwrap(), ("eu-west-1", "vpc-1"));
        assert!(split_import_id("Ireland/vpc-1", "us-east-1").is_err());
    }

    #[test]
    fn schemas_cover_every_type() {
        let names: Vec<&str> = AwsProvider::new().schemas().iter().map(|schema| schema.type_name).collect();

        assert_eq!(names, TYPES);
    }

    #[tokio::test]
    async fn import_rejects_id_of_another_type() {
        let mut provider = AwsProvider::new();
        let context = ProviderContext {
            working_dir: ".".into(),
            instance: "aws".into(),
        };
        let mut config = Attrs::new();
        config.insert("endpoint", "http://127.0.0.1:5000".into());
        config.insert("access_key", "test".into());
        config.insert("secret_key", Value::sensitive("test".into()));
        provider.configure(&config, &context).await.unwrap();
        let request = ImportRequest {
            type_name: VPC_TYPE.into(),
            address: "tenant.acme.network.aws".into(),
            id: "sg-1".into(),
        };

        let error = provider.import(&request).await.unwrap_err();

        assert!(error.message.contains("vpc-0a1b2c3d"), "{}", error.message);
    }
}
