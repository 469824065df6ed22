//! The Redis provider of tenancy: one ACL user per tenant, limited to the
//! keys and channels under the tenant's prefix and to the command rules its
//! policy allows.
//!
//! The provider block takes `url` (the admin connection, required and
//! sensitive). The only resource type is `redis_user`; see
//! `docs/providers/redis.md` for its attributes and the contract for
//! `command_categories` and `strict`.

pub mod acl;
pub mod error;

use std::time::Duration;

use async_trait::async_trait;
use rand::distr::Alphanumeric;
use rand::rngs::OsRng;
use rand::{Rng, TryRngCore};
use redis::aio::MultiplexedConnection;
use tenancy_sdk::{
    AttrType, AttributeSchema, Attrs, ImportRequest, Operation, PlannedChange, Provider, ProviderContext,
    ProviderError, ProviderResult, ReadRequest, ResourceSchema, Value, plan_by_schema,
};

use crate::acl::{USER_PREFIX, UserInfo, UserSpec, password_hash};
use crate::error::{Error, command};

/// The resource type name.
pub const USER_TYPE: &str = "redis_user";

/// Length of generated passwords: 40 alphanumeric characters, about 238 bits.
pub const PASSWORD_LENGTH: usize = 40;

/// How long opening a connection or waiting for a reply may take.
const TIMEOUT: Duration = Duration::from_secs(10);

/// The `redis` provider.
#[derive(Default)]
pub struct RedisProvider {
    client: Option<redis::Client>,
    admin_url: Option<url::Url>,
    instance: String,
}

impl std::fmt::Debug for RedisProvider {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("RedisProvider")
            .field("instance", &self.instance)
            .field("target", &self.target())
            .finish()
    }
}

impl RedisProvider {
    /// Returns an unconfigured provider.
    pub fn new() -> Self {
        Self::default()
    }

    fn target(&self) -> String {
        match &self.admin_url {
            Some(url) => format!("{}:{}", url.host_str().unwrap_or("localhost"), url.port().unwrap_or(6379)),
            None => "(not configured)".into(),
        }
    }

    async fn connect(&self) -> Result<MultiplexedConnection, Error> {
        let client = self
            .client
            .as_ref()
            .ok_or_else(|| Error::Invalid(format!("provider `{}` is used before it was configured", self.instance)))?;
        let config = redis::AsyncConnectionConfig::new()
            .set_connection_timeout(Some(TIMEOUT))
            .set_response_timeout(Some(TIMEOUT));
        client
            .get_multiplexed_async_connection_with_config(&config)
            .await
            .map_err(|source| Error::Connect {
                target: self.target(),
                source,
            })
    }

    /// Builds the tenant's URL: the admin URL with the tenant's user name
    /// and password in place of the admin's.
    fn tenant_url(&self, username: &str, password: &str) -> Value {
        let Some(mut url) = self.admin_url.clone() else {
            return Value::Null;
        };
        if url.set_username(username).is_err() || url.set_password(Some(password)).is_err() {
            // A Unix socket URL has no place for credentials.
            return Value::Null;
        }
        Value::sensitive(url.to_string().into())
    }

    fn build(&self, spec: &UserSpec, password: &str, acl_commands: &str) -> Attrs {
        let mut attrs = Attrs::new();
        let categories = spec.command_categories.iter().map(|rule| Value::from(rule.as_str())).collect();
        attrs.insert("tenant_id", spec.tenant_id.clone().into());
        attrs.insert("key_prefix", spec.key_prefix.clone().into());
        attrs.insert("strict", spec.strict.into());
        attrs.insert("command_categories", Value::List(categories));
        attrs.insert("id", spec.username.clone().into());
        attrs.insert("username", spec.username.clone().into());
        attrs.insert("password", Value::sensitive(password.into()));
        attrs.insert("url", self.tenant_url(&spec.username, password));
        attrs.insert("key_pattern", spec.key_pattern().into());
        attrs.insert("channel_pattern", spec.channel_pattern().into());
        attrs.insert("enabled", true.into());
        attrs.insert("acl_commands", acl_commands.into());
        attrs
    }

    /// Sets every rule of the user in one `ACL SETUSER` and returns the
    /// command rules as Redis renders them.
    async fn set_user(&self, connection: &mut MultiplexedConnection, spec: &UserSpec, password: &str) -> Result<String, Error> {
        redis::cmd("ACL")
            .arg("SETUSER")
            .arg(&spec.username)
            .arg(spec.setuser_rules(&password_hash(password)))
            .query_async::<()>(connection)
            .await
            .map_err(command(format!("set the rules of ACL user `{}`", spec.username)))?;
        let info = get_user(connection, &spec.username).await?;
        Ok(info.map(|info| info.commands).unwrap_or_default())
    }

    async fn create(&self, spec: &UserSpec) -> Result<Attrs, Error> {
        let mut connection = self.connect().await?;
        if get_user(&mut connection, &spec.username).await?.is_some() {
            return Err(Error::Conflict(format!(
                "ACL user `{}` exists already on {}",
                spec.username,
                self.target()
            )));
        }
        let password = generate_password();
        let commands = self.set_user(&mut connection, spec, &password).await?;
        Ok(self.build(spec, &password, &commands))
    }

    async fn update(&self, planned: &Attrs) -> Result<Attrs, Error> {
        let spec = UserSpec::from_attrs(planned)?;
        // An unknown planned password means the plan rotates it.
        let kept = planned
            .get("password")
            .filter(|value| !value.is_unknown())
            .and_then(Value::as_str);
        let password = match kept {
            Some(password) => password.to_owned(),
            None => generate_password(),
        };
        let mut connection = self.connect().await?;
        let commands = self.set_user(&mut connection, &spec, &password).await?;
        Ok(self.build(&spec, &password, &commands))
    }

    async fn delete(&self, prior: &Attrs) -> Result<(), Error> {
        let spec = UserSpec::from_attrs(prior)?;
        let mut connection = self.connect().await?;
        // Redis ends the user's open connections when it deletes the user.
        redis::cmd("ACL")
            .arg("DELUSER")
            .arg(&spec.username)
            .query_async::<i64>(&mut connection)
            .await
            .map_err(command(format!("delete ACL user `{}`", spec.username)))?;
        Ok(())
    }

    async fn read_all(&self, specs: &[(UserSpec, &Attrs)]) -> Result<Vec<Option<Attrs>>, Error> {
        let mut connection = self.connect().await?;
        let mut pipeline = redis::pipe();
        for (spec, _) in specs {
            pipeline.cmd("ACL").arg("GETUSER").arg(&spec.username);
        }
        let replies: Vec<redis::Value> = pipeline
            .query_async(&mut connection)
            .await
            .map_err(command("read ACL users with ACL GETUSER"))?;
        Ok(specs
            .iter()
            .zip(replies)
            .map(|((spec, prior), reply)| UserInfo::parse(&reply).map(|info| current_attrs(spec, prior, &info)))
            .collect())
    }

    fn spec(&self, attrs: &Attrs, address: &str) -> ProviderResult<UserSpec> {
        UserSpec::from_attrs(attrs).map_err(|error| error.for_resource(address))
    }
}

/// Returns the prior attributes overwritten with what Redis has. Command
/// rules that still match the rendering recorded at apply keep their
/// configured form, so a rule Redis rewrites does not show as drift.
fn current_attrs(spec: &UserSpec, prior: &Attrs, info: &UserInfo) -> Attrs {
    let mut attrs = prior.clone();
    attrs.insert("id", spec.username.clone().into());
    attrs.insert("username", spec.username.clone().into());
    attrs.insert("enabled", info.flags.iter().any(|flag| flag == "on").into());
    attrs.insert("key_pattern", info.keys.clone().into());
    attrs.insert("channel_pattern", info.channels.clone().into());
    if prior.get("acl_commands").and_then(Value::as_str) != Some(info.commands.as_str()) {
        let rules = info.commands.split_whitespace().map(Value::from).collect();
        attrs.insert("command_categories", Value::List(rules));
        attrs.insert("acl_commands", info.commands.clone().into());
    }

    // A password changed or added by hand makes the stored one invalid, so
    // refresh drops it from the attributes and the plan sets a new one.
    let expected = prior.get("password").and_then(Value::as_str).map(password_hash);
    if expected.is_none_or(|hash| info.passwords != [hash]) {
        attrs.insert("password", Value::Null);
        attrs.insert("url", Value::Null);
    }
    attrs
}

async fn get_user(connection: &mut MultiplexedConnection, username: &str) -> Result<Option<UserInfo>, Error> {
    let reply: redis::Value = redis::cmd("ACL")
        .arg("GETUSER")
        .arg(username)
        .query_async(connection)
        .await
        .map_err(command(format!("read ACL user `{username}`")))?;
    Ok(UserInfo::parse(&reply))
}

/// Returns a new random password drawn from the OS random source.
pub fn generate_password() -> String {
    let mut rng = OsRng.unwrap_err();
    (0..PASSWORD_LENGTH)
        .map(|_| char::from(rng.sample(Alphanumeric)))
        .collect()
}

/// Returns the schema of `redis_user`.
pub fn user_schema() -> ResourceSchema {
    let optional_computed = |name, attr_type, description| AttributeSchema {
        computed: true,
        ..AttributeSchema::optional(name, attr_type, description)
    };
    ResourceSchema {
        type_name: USER_TYPE,
        description: "A tenant's Redis ACL user, limited to the keys and channels under its prefix.",
        attributes: vec![
            AttributeSchema::required("tenant_id", AttrType::String, "The tenant id, matching [a-z_][a-z0-9_]*.")
                .force_new(),
            optional_computed("key_prefix", AttrType::String, "The key and channel namespace; defaults to the tenant id.")
                .force_new(),
            AttributeSchema::optional("strict", AttrType::Bool, "Whether `-@dangerous` ends the command rules."),
            optional_computed(
                "command_categories",
                AttrType::StringList,
                "Command rules in order, such as [\"+@all\", \"-@dangerous\"]; defaults to [\"+@all\"].",
            ),
            AttributeSchema::computed("id", AttrType::String, "The ACL user name, which identifies the resource."),
            AttributeSchema::computed("username", AttrType::String, "The ACL user name, tenant_<id>."),
            AttributeSchema::computed("password", AttrType::String, "The user's password.").sensitive(),
            AttributeSchema::computed("url", AttrType::String, "The tenant's connection URL.").sensitive(),
            AttributeSchema::computed("key_pattern", AttrType::String, "The user's key patterns, ~<prefix>:*."),
            AttributeSchema::computed("channel_pattern", AttrType::String, "The user's channel patterns, &<prefix>:*."),
            AttributeSchema::computed("enabled", AttrType::Bool, "Whether the user may log in."),
            AttributeSchema::computed(
                "acl_commands",
                AttrType::String,
                "The command rules as ACL GETUSER renders them after apply.",
            ),
        ],
    }
}

#[async_trait]
impl Provider for RedisProvider {
    fn type_name(&self) -> &'static str {
        "redis"
    }

    fn schemas(&self) -> Vec<ResourceSchema> {
        vec![user_schema()]
    }

    fn max_concurrency(&self) -> usize {
        8
    }

    async fn configure(&mut self, config: &Attrs, context: &ProviderContext) -> ProviderResult<()> {
        self.instance = context.instance.clone();
        let provider = format!("provider `{}`", self.instance);
        let invalid = |message: String| Error::Invalid(message).for_resource(&provider);
        let url = match config.get("url") {
            None | Some(Value::Null) => return Err(invalid("`url` is required, such as redis://127.0.0.1:6379".into())),
            Some(value) if value.contains_unknown() => return Err(invalid("`url` must be known before apply".into())),
            Some(value) => value
                .as_str()
                .ok_or_else(|| invalid(format!("`url` must be a string, found {}", value.type_name())))?,
        };
        // Neither error below repeats the URL, which may hold a password.
        let parsed = url::Url::parse(url).map_err(|error| invalid(format!("`url` is not a valid URL: {error}")))?;
        let client = redis::Client::open(url)
            .map_err(|error| invalid(format!("`url` is not a valid Redis URL ({:?})", error.kind())))?;
        self.client = Some(client);
        self.admin_url = Some(parsed);

        let mut connection = self.connect().await.map_err(|error| error.for_resource(&provider))?;
        redis::cmd("PING")
            .query_async::<String>(&mut connection)
            .await
            .map_err(command("run PING"))
            .map_err(|error| error.for_resource(&provider))?;
        Ok(())
    }

    async fn read(&self, requests: &[ReadRequest]) -> Vec<ProviderResult<Option<Attrs>>> {
        let mut results: Vec<Option<ProviderResult<Option<Attrs>>>> = vec![None; requests.len()];
        let mut specs = Vec::new();
        let mut positions = Vec::new();
        for (index, request) in requests.iter().enumerate() {
            if request.type_name != USER_TYPE {
                results[index] = Some(Err(unknown_type(&request.type_name)));
                continue;
            }
            match self.spec(&request.prior, &request.address) {
                Ok(spec) => {
                    specs.push((spec, &request.prior));
                    positions.push(index);
                }
                Err(error) => results[index] = Some(Err(error)),
            }
        }
        match self.read_all(&specs).await {
            Ok(read) => {
                for (position, attrs) in positions.into_iter().zip(read) {
                    results[position] = Some(Ok(attrs));
                }
            }
            Err(error) => {
                for position in positions {
                    results[position] = Some(Err(error.for_resource(&requests[position].address)));
                }
            }
        }
        results.into_iter().map(|result| result.unwrap_or(Ok(None))).collect()
    }

    fn plan(&self, type_name: &str, prior: Option<&Attrs>, config: &Attrs) -> ProviderResult<PlannedChange> {
        if type_name != USER_TYPE {
            return Err(unknown_type(type_name));
        }
        if config.values().any(Value::contains_unknown) {
            return Ok(plan_by_schema(&user_schema(), prior, config));
        }
        let spec = self.spec(config, USER_TYPE)?;
        let mut config = config.clone();
        let categories = spec.command_categories.iter().map(|rule| Value::from(rule.as_str())).collect();
        config.insert("key_prefix", spec.key_prefix.clone().into());
        config.insert("strict", spec.strict.into());
        config.insert("command_categories", Value::List(categories));

        let mut change = plan_by_schema(&user_schema(), prior, &config);
        if let Some(prior) = prior.filter(|_| change.requires_replace.is_empty()) {
            let planned = &mut change.planned;
            planned.insert("key_pattern", spec.key_pattern().into());
            planned.insert("channel_pattern", spec.channel_pattern().into());
            planned.insert("enabled", true.into());
            let same_rules = prior.get("command_categories").map(Value::strip_marks) == config.get("command_categories").cloned();
            if !same_rules {
                planned.insert("acl_commands", Value::Unknown);
            }
            if prior.get("password").is_none_or(Value::is_null) {
                planned.insert("password", Value::sensitive(Value::Unknown));
                planned.insert("url", Value::sensitive(Value::Unknown));
            }
        }
        Ok(change)
    }

    async fn apply(&self, type_name: &str, address: &str, operation: Operation<'_>) -> ProviderResult<Option<Attrs>> {
        if type_name != USER_TYPE {
            return Err(unknown_type(type_name));
        }
        let result = match operation {
            Operation::Create { planned } => {
                let spec = self.spec(planned, address)?;
                tracing::debug!(address, user = %spec.username, "creating redis ACL user");
                self.create(&spec).await.map(Some)
            }
            Operation::Update { planned, .. } => {
                tracing::debug!(address, "updating redis ACL user");
                self.update(planned).await.map(Some)
            }
            Operation::Delete { prior } => {
                tracing::debug!(address, "deleting redis ACL user");
                self.delete(prior).await.map(|()| None)
            }
        };
        result.map_err(|error| error.for_resource(address))
    }

    async fn import(&self, request: &ImportRequest) -> ProviderResult<Attrs> {
        if request.type_name != USER_TYPE {
            return Err(unknown_type(&request.type_name));
        }
        self.import_user(&request.id)
            .await
            .map_err(|error| error.for_resource(&request.address))
    }
}

impl RedisProvider {
    /// Reads an existing user by tenant id or user name. The password
    /// cannot be read back, so the next plan sets a new one.
    async fn import_user(&self, id: &str) -> Result<Attrs, Error> {
        let tenant_id = id.strip_prefix(USER_PREFIX).unwrap_or(id);
        acl::check_tenant_id(tenant_id)?;
        let username = format!("{USER_PREFIX}{tenant_id}");
        let mut connection = self.connect().await?;
        let Some(info) = get_user(&mut connection, &username).await? else {
            return Err(Error::Invalid(format!(
                "ACL user `{username}` does not exist on {}; the import id is a tenant id or a user name",
                self.target()
            )));
        };
        let key_prefix = info
            .keys
            .strip_prefix('~')
            .and_then(|pattern| pattern.strip_suffix(":*"))
            .filter(|prefix| acl::check_key_prefix(prefix).is_ok())
            .unwrap_or(tenant_id);
        let rules: Vec<&str> = info.commands.split_whitespace().collect();
        let mut prior = Attrs::new();
        prior.insert("tenant_id", tenant_id.into());
        prior.insert("key_prefix", key_prefix.into());
        prior.insert("strict", rules.last().is_some_and(|rule| *rule == acl::STRICT_RULE).into());
        let spec = UserSpec::from_attrs(&prior)?;
        Ok(current_attrs(&spec, &prior, &info))
    }
}

fn unknown_type(type_name: &str) -> ProviderError {
    ProviderError::invalid(format!(
        "the redis provider has no resource type `{type_name}`; its only type is `{USER_TYPE}`"
    ))
}
