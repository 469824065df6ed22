//! The gcp provider of tenancy: one private Cloud Storage bucket per tenant.
//!
//! The provider block takes `project`, `endpoint`, `credentials` and
//! `bucket_prefix` (see [`settings`]). The only resource type is
//! `gcp_bucket`, which a tenant's `storage "gcs"` block lowers to. Buckets
//! are managed through the Cloud Storage JSON API ([`api`]) with credentials
//! from google-cloud-auth ([`auth`]). `docs/providers/gcp.md` lists every
//! attribute and what the local tests check on an emulator.

pub mod api;
pub mod auth;
pub mod bucket;
pub mod error;
pub mod location;
pub mod plan;
pub mod settings;

use std::collections::HashMap;

use async_trait::async_trait;
use serde_json::Value as Json;
use tenancy_sdk::{
    AttrType, AttributeSchema, Attrs, ImportRequest, Operation, PlannedChange, Provider,
    ProviderContext, ProviderError, ProviderResult, ReadRequest, ResourceSchema, Value,
};

use crate::api::JsonApi;
use crate::bucket::{BucketSpec, check_bucket_name, observed_attrs};
use crate::error::Error;
use crate::settings::Settings;

/// The resource type name.
pub const BUCKET_TYPE: &str = "gcp_bucket";

/// The `gcp` provider.
#[derive(Debug, Default)]
pub struct GcpProvider {
    configured: Option<Configured>,
    instance: String,
}

#[derive(Debug)]
struct Configured {
    settings: Settings,
    api: JsonApi,
}

/// Returns the schema of `gcp_bucket`.
pub fn bucket_schema() -> ResourceSchema {
    ResourceSchema {
        type_name: BUCKET_TYPE,
        description: "A private Cloud Storage bucket for one tenant.",
        attributes: vec![
            AttributeSchema::required(
                "tenant_id",
                AttrType::String,
                "The tenant that owns the bucket.",
            )
            .force_new(),
            optional_computed(AttributeSchema::optional(
                "name",
                AttrType::String,
                "The bucket name; `PREFIX-TENANT` by default.",
            ))
            .force_new(),
            optional_computed(AttributeSchema::optional(
                "location",
                AttrType::String,
                "The bucket location in upper case; the tenant's region by default.",
            ))
            .force_new(),
            AttributeSchema::optional(
                "region",
                AttrType::String,
                "The tenant's region, the default location.",
            ),
            AttributeSchema::optional(
                "tier",
                AttrType::String,
                "The tenant's tier, copied to the `tier` label.",
            ),
            AttributeSchema::optional(
                "security_policy",
                AttrType::String,
                "The tenant's security policy, copied to the `policy` label.",
            ),
            optional_computed(AttributeSchema::optional(
                "labels",
                AttrType::StringMap,
                "Bucket labels: the configured ones plus `tenant`, `tier` and `policy`.",
            )),
            AttributeSchema::optional(
                "versioning",
                AttrType::Bool,
                "Whether object versioning is on.",
            ),
            AttributeSchema::optional(
                "retention_days",
                AttrType::Number,
                "Minimum days an object is kept, as the bucket's retention policy.",
            ),
            AttributeSchema::computed(
                "uniform_bucket_level_access",
                AttrType::Bool,
                "Whether access is controlled by IAM alone; always true.",
            ),
            AttributeSchema::computed(
                "public_access_prevention",
                AttrType::String,
                "Public access prevention; always `enforced`.",
            ),
            AttributeSchema::computed(
                "retention_locked",
                AttrType::Bool,
                "Whether the retention policy is locked and can only grow.",
            ),
            AttributeSchema::computed("id", AttrType::String, "The bucket ID, equal to its name."),
            AttributeSchema::computed("self_link", AttrType::String, "The bucket's JSON API URL."),
        ],
    }
}

const fn optional_computed(mut attribute: AttributeSchema) -> AttributeSchema {
    attribute.computed = true;
    attribute
}

impl GcpProvider {
    /// Returns an unconfigured provider.
    pub fn new() -> Self {
        Self::default()
    }

    fn configured(&self) -> ProviderResult<&Configured> {
        self.configured.as_ref().ok_or_else(|| {
            ProviderError::invalid(format!(
                "provider `{}` is used before it was configured",
                self.instance
            ))
        })
    }

    async fn create(&self, address: &str, planned: &Attrs) -> ProviderResult<Attrs> {
        let api = &self.configured()?.api;
        let spec = BucketSpec::from_attrs(planned).map_err(|error| error.for_resource(address))?;
        let bucket = api
            .insert_bucket(&spec.insert_body())
            .await
            .map_err(|error| error.for_resource(address))?;
        Ok(observed_attrs(planned, &bucket))
    }

    async fn update(&self, address: &str, prior: &Attrs, planned: &Attrs) -> ProviderResult<Attrs> {
        let api = &self.configured()?.api;
        let spec = BucketSpec::from_attrs(planned).map_err(|error| error.for_resource(address))?;
        // Labels added by hand since the last refresh are removed as well,
        // so the current labels are read first.
        let current = api
            .get_bucket(&spec.name)
            .await
            .map_err(|error| error.for_resource(address))?;
        let Some(current) = current else {
            let error = Error::Status {
                action: format!("update bucket `{}`", spec.name),
                status: 404,
                reason: None,
                message: "the bucket no longer exists".to_owned(),
            };
            return Err(error.for_resource(address));
        };
        let mut label_keys: Vec<String> = label_keys(prior);
        if let Some(labels) = current.get("labels").and_then(Json::as_object) {
            label_keys.extend(labels.keys().cloned());
        }
        let body = spec.patch_body(&label_keys);
        let bucket = api
            .patch_bucket(&spec.name, &body)
            .await
            .map_err(|error| error.for_resource(address))?;
        Ok(observed_attrs(planned, &bucket))
    }

    async fn delete(&self, address: &str, prior: &Attrs) -> ProviderResult<()> {
        let api = &self.configured()?.api;
        let name = prior.get("name").and_then(Value::as_str).ok_or_else(|| {
            Error::Invalid("the state records no bucket `name`".to_owned()).for_resource(address)
        })?;
        api.delete_bucket(name)
            .await
            .map_err(|error| error.for_resource(address))
    }

    /// Reads many buckets: one listing by their common name prefix, then a
    /// single read for each bucket the listing does not show (such as a
    /// bucket of another project).
    async fn read_many(&self, requests: &[ReadRequest]) -> Vec<ProviderResult<Option<Attrs>>> {
        let api = match self.configured() {
            Ok(configured) => &configured.api,
            Err(error) => return requests.iter().map(|_| Err(error.clone())).collect(),
        };
        let names: Vec<Option<&str>> = requests
            .iter()
            .map(|request| request.prior.get("name").and_then(Value::as_str))
            .collect();
        let mut listed: HashMap<String, Json> = HashMap::new();
        if requests.len() > 1 {
            let prefix = common_prefix(names.iter().flatten().copied());
            match api.list_buckets(&prefix).await {
                Ok(buckets) => listed = index_by_name(buckets),
                Err(error) => {
                    tracing::debug!(%error, "listing buckets failed; reading them one by one")
                }
            }
        }

        let mut results = Vec::with_capacity(requests.len());
        for (request, name) in requests.iter().zip(names) {
            let Some(name) = name else {
                let error = Error::Invalid("the state records no bucket `name`".to_owned());
                results.push(Err(error.for_resource(&request.address)));
                continue;
            };
            let bucket = match listed.remove(name) {
                Some(bucket) => Ok(Some(bucket)),
                None => api.get_bucket(name).await,
            };
            let result = bucket
                .map(|bucket| bucket.map(|bucket| observed_attrs(&request.prior, &bucket)))
                .map_err(|error| error.for_resource(&request.address));
            results.push(result);
        }
        results
    }
}

fn label_keys(attrs: &Attrs) -> Vec<String> {
    attrs
        .get("labels")
        .and_then(Value::as_map)
        .map(|labels| labels.keys().cloned().collect())
        .unwrap_or_default()
}

fn index_by_name(buckets: Vec<Json>) -> HashMap<String, Json> {
    buckets
        .into_iter()
        .filter_map(|bucket| {
            let name = bucket.get("name").and_then(Json::as_str)?.to_owned();
            Some((name, bucket))
        })
        .collect()
}

/// Returns the longest prefix that every name starts with.
fn common_prefix<'a>(mut names: impl Iterator<Item = &'a str>) -> String {
    let Some(first) = names.next() else {
        return String::new();
    };
    let mut prefix = first;
    for name in names {
        let shared = prefix
            .bytes()
            .zip(name.bytes())
            .take_while(|(left, right)| left == right)
            .count();
        prefix = &prefix[..shared];
    }
    prefix.to_owned()
}

/// Returns import attributes for a bucket: the tenant inputs come from its
/// `tenant`, `tier` and `policy` labels, or from the name after the prefix.
fn imported_attrs(bucket: &Json, name: &str, name_prefix: &str) -> Attrs {
    let label = |key: &str| {
        bucket
            .pointer(&format!("/labels/{key}"))
            .and_then(Json::as_str)
            .map(Value::string)
    };
    let tenant_id = label("tenant").unwrap_or_else(|| {
        let stripped = name
            .strip_prefix(&format!("{name_prefix}-"))
            .unwrap_or(name);
        Value::string(stripped)
    });
    let mut prior = Attrs::new();
    prior.insert("tenant_id".to_owned(), tenant_id);
    prior.insert("tier".to_owned(), label("tier").unwrap_or_default());
    prior.insert(
        "security_policy".to_owned(),
        label("policy").unwrap_or_default(),
    );
    prior.insert("region".to_owned(), Value::Null);
    observed_attrs(&prior, bucket)
}

#[async_trait]
impl Provider for GcpProvider {
    fn type_name(&self) -> &'static str {
        "gcp"
    }

    fn schemas(&self) -> Vec<ResourceSchema> {
        vec![bucket_schema()]
    }

    async fn configure(&mut self, config: &Attrs, context: &ProviderContext) -> ProviderResult<()> {
        self.instance = context.instance.clone();
        let settings = Settings::from_attrs(config, &context.working_dir)
            .map_err(|error| {
                ProviderError::new(
                    error.kind,
                    format!("provider `{}`: {}", self.instance, error.message),
                )
            })
            .map_err(|error| error.with_hint(CONFIGURE_HINT))?;
        let credentials = auth::build_credentials(&settings.credentials).map_err(|error| {
            ProviderError::new(
                error.kind(),
                format!("provider `{}`: {error}", self.instance),
            )
        })?;
        let api = JsonApi::new(&settings, credentials)
            .map_err(|error| error.for_resource(&self.instance))?;
        tracing::debug!(instance = %self.instance, endpoint = %settings.endpoint, project = %settings.project, "configured the gcp provider");
        self.configured = Some(Configured { settings, api });
        Ok(())
    }

    async fn read(&self, requests: &[ReadRequest]) -> Vec<ProviderResult<Option<Attrs>>> {
        self.read_many(requests).await
    }

    fn plan(
        &self,
        type_name: &str,
        prior: Option<&Attrs>,
        config: &Attrs,
    ) -> ProviderResult<PlannedChange> {
        if type_name != BUCKET_TYPE {
            return Err(ProviderError::invalid(format!(
                "unknown resource type `{type_name}`"
            )));
        }
        let name_prefix = self.configured()?.settings.name_prefix();
        plan::plan_bucket(&bucket_schema(), name_prefix, prior, config)
    }

    async fn apply(
        &self,
        type_name: &str,
        address: &str,
        operation: Operation<'_>,
    ) -> ProviderResult<Option<Attrs>> {
        if type_name != BUCKET_TYPE {
            return Err(ProviderError::invalid(format!(
                "unknown resource type `{type_name}`"
            )));
        }
        match operation {
            Operation::Create { planned } => self.create(address, planned).await.map(Some),
            Operation::Update { prior, planned } => {
                self.update(address, prior, planned).await.map(Some)
            }
            Operation::Delete { prior } => self.delete(address, prior).await.map(|()| None),
        }
    }

    async fn import(&self, request: &ImportRequest) -> ProviderResult<Attrs> {
        let configured = self.configured()?;
        let address = &request.address;
        check_bucket_name(&request.id).map_err(|error| error.for_resource(address))?;
        let bucket = configured
            .api
            .get_bucket(&request.id)
            .await
            .map_err(|error| error.for_resource(address))?;
        let Some(bucket) = bucket else {
            let error = Error::Status {
                action: format!("import bucket `{}`", request.id),
                status: 404,
                reason: None,
                message: format!("no bucket `{}` exists", request.id),
            };
            return Err(error.for_resource(address));
        };
        Ok(imported_attrs(
            &bucket,
            &request.id,
            configured.settings.name_prefix(),
        ))
    }
}

const CONFIGURE_HINT: &str = "A `provider \"gcp\"` block needs `project` and `credentials`, for example \
    `project = \"acme-test\"`, `endpoint = \"http://127.0.0.1:4443\"`, `credentials = \"anonymous\"` \
    for a local fake-gcs-server.";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn common_prefix_of_names() {
        assert_eq!(
            common_prefix(["acme-a", "acme-b", "acme-bc"].into_iter()),
            "acme-"
        );
        assert_eq!(common_prefix(["x"].into_iter()), "x");
        assert_eq!(common_prefix(std::iter::empty()), "");
    }

    #[test]
    fn import_takes_tenant_from_labels_or_name() {
        let labelled = serde_json::json!({"name": "acme-north", "labels": {"tenant": "north_wind", "tier": "pro"}});
        let bare = serde_json::json!({"name": "acme-north"});

        let from_labels = imported_attrs(&labelled, "acme-north", "acme");
        let from_name = imported_attrs(&bare, "acme-north", "acme");

        assert_eq!(from_labels["tenant_id"], Value::string("north_wind"));
        assert_eq!(from_labels["tier"], Value::string("pro"));
        assert_eq!(from_name["tenant_id"], Value::string("north"));
        assert_eq!(from_name["security_policy"], Value::Null);
    }

    #[test]
    fn schema_marks_replacing_attributes() {
        let schema = bucket_schema();
        let forces: Vec<&str> = schema
            .attributes
            .iter()
            .filter(|attribute| attribute.force_new)
            .map(|attribute| attribute.name)
            .collect();

        assert_eq!(forces, ["tenant_id", "name", "location"]);
    }
}
