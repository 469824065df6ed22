//! Tests of the Redis provider against a real server.
//!
//! The server comes from `TENANCY_TEST_REDIS_URL` (default
//! `redis://127.0.0.1:6379`, as `scripts/services start` provides) and the
//! URL's user must be allowed the ACL commands. Each test uses its own random
//! tenant ids, so tests run in parallel, and a guard deletes the ACL users a
//! test made even when it fails.

use std::path::PathBuf;

use rand::Rng;
use rand::distr::Alphanumeric;
use redis::aio::MultiplexedConnection;
use tenancy_provider_redis::RedisProvider;
use tenancy_sdk::{Attrs, ErrorKind, ImportRequest, Operation, Provider, ProviderContext, ReadRequest, Value};

const TYPE: &str = "redis_user";
const ADDRESS: &str = "tenant.test.database.redis";

fn admin_url() -> String {
    std::env::var("TENANCY_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

fn tenant_id(stem: &str) -> String {
    let text: String = rand::rng().sample_iter(Alphanumeric).take(10).map(char::from).collect();
    format!("{stem}_{}", text.to_lowercase())
}

/// Deletes the ACL users of the given tenants, also when a test panics.
struct Cleanup(Vec<String>);

impl Drop for Cleanup {
    fn drop(&mut self) {
        let users: Vec<String> = self.0.iter().map(|id| format!("tenant_{id}")).collect();
        let worker = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            runtime.block_on(async move {
                let mut admin = connect(&admin_url()).await;
                let _: redis::RedisResult<i64> = redis::cmd("ACL").arg("DELUSER").arg(&users).query_async(&mut admin).await;
            });
        });
        let _ = worker.join();
    }
}

async fn connect(url: &str) -> MultiplexedConnection {
    let client = redis::Client::open(url).expect("valid URL");
    client.get_multiplexed_async_connection().await.expect("connect")
}

async fn provider() -> RedisProvider {
    let mut provider = RedisProvider::new();
    let mut config = Attrs::new();
    config.insert("url", Value::sensitive(admin_url().into()));
    let context = ProviderContext {
        working_dir: PathBuf::from("."),
        instance: "redis".into(),
    };
    provider.configure(&config, &context).await.expect("configure provider");
    provider
}

fn user_config(tenant_id: &str, strict: bool) -> Attrs {
    let mut config = Attrs::new();
    config.insert("tenant_id", tenant_id.into());
    config.insert("strict", strict.into());
    config
}

async fn create(provider: &RedisProvider, config: &Attrs) -> Attrs {
    let change = provider.plan(TYPE, None, config).expect("plan create");
    provider
        .apply(TYPE, ADDRESS, Operation::Create { planned: &change.planned })
        .await
        .expect("create")
        .expect("attributes after create")
}

async fn refresh(provider: &RedisProvider, prior: &Attrs) -> Option<Attrs> {
    let request = ReadRequest {
        type_name: TYPE.into(),
        address: ADDRESS.into(),
        prior: prior.clone(),
    };
    provider.read(&[request]).await.remove(0).expect("read")
}

async fn update(provider: &RedisProvider, prior: &Attrs, config: &Attrs) -> Attrs {
    let change = provider.plan(TYPE, Some(prior), config).expect("plan update");
    assert!(change.requires_replace.is_empty(), "update must be in place: {:?}", change.requires_replace);
    let operation = Operation::Update {
        prior,
        planned: &change.planned,
    };
    provider
        .apply(TYPE, ADDRESS, operation)
        .await
        .expect("update")
        .expect("attributes after update")
}

async fn get_user(admin: &mut MultiplexedConnection, username: &str) -> redis::Value {
    redis::cmd("ACL").arg("GETUSER").arg(username).query_async(admin).await.expect("ACL GETUSER")
}

fn field(reply: &redis::Value, name: &str) -> String {
    let redis::Value::Array(items) = reply else {
        panic!("unexpected ACL GETUSER reply {reply:?}");
    };
    let position = items
        .iter()
        .position(|item| matches!(item, redis::Value::BulkString(bytes) if bytes == name.as_bytes()))
        .expect("field present");
    match &items[position + 1] {
        redis::Value::BulkString(bytes) => String::from_utf8_lossy(bytes).into_owned(),
        redis::Value::Array(values) => format!("{values:?}"),
        other => format!("{other:?}"),
    }
}

fn url_of(attrs: &Attrs) -> String {
    attrs["url"].as_str().expect("url").to_owned()
}

async fn run(connection: &mut MultiplexedConnection, args: &[&str]) -> redis::RedisResult<redis::Value> {
    let mut command = redis::cmd(args[0]);
    for arg in &args[1..] {
        command.arg(*arg);
    }
    command.query_async(connection).await
}

#[tokio::test]
async fn create_makes_user_limited_to_prefix() {
    let id = tenant_id("mk");
    let _cleanup = Cleanup(vec![id.clone()]);
    let provider = provider().await;

    let attrs = create(&provider, &user_config(&id, true)).await;

    let mut admin = connect(&admin_url()).await;
    let reply = get_user(&mut admin, &format!("tenant_{id}")).await;
    assert_eq!(field(&reply, "keys"), format!("~{id}:*"));
    assert_eq!(field(&reply, "channels"), format!("&{id}:*"));
    assert_eq!(field(&reply, "commands"), "+@all -@dangerous");
    assert!(field(&reply, "flags").contains("on"));
    assert!(attrs["password"].is_sensitive());
    assert!(attrs["password"].as_str().unwrap().len() >= 32);

    let mut tenant = connect(&url_of(&attrs)).await;
    run(&mut tenant, &["SET", &format!("{id}:greeting"), "hello"]).await.expect("own prefix is writable");
    let error = run(&mut tenant, &["SET", "elsewhere:key", "x"]).await.expect_err("other keys are denied");
    assert_eq!(error.code(), Some("NOPERM"));
    let error = run(&mut tenant, &["FLUSHALL"]).await.expect_err("strict users run no dangerous commands");
    assert_eq!(error.code(), Some("NOPERM"));
    let _ = run(&mut admin, &["DEL", &format!("{id}:greeting")]).await;
}

#[tokio::test]
async fn tenants_cannot_read_each_other() {
    let (first, second) = (tenant_id("ra"), tenant_id("rb"));
    let _cleanup = Cleanup(vec![first.clone(), second.clone()]);
    let provider = provider().await;
    let first_attrs = create(&provider, &user_config(&first, false)).await;
    let second_attrs = create(&provider, &user_config(&second, false)).await;

    let mut owner = connect(&url_of(&first_attrs)).await;
    run(&mut owner, &["SET", &format!("{first}:secret"), "first only"]).await.unwrap();
    let mut intruder = connect(&url_of(&second_attrs)).await;
    let error = run(&mut intruder, &["GET", &format!("{first}:secret")])
        .await
        .expect_err("the second tenant must not read the first tenant's keys");

    assert_eq!(error.code(), Some("NOPERM"));
    let mut admin = connect(&admin_url()).await;
    let _ = run(&mut admin, &["DEL", &format!("{first}:secret")]).await;
}

#[tokio::test]
async fn command_change_updates_in_place() {
    let id = tenant_id("up");
    let _cleanup = Cleanup(vec![id.clone()]);
    let provider = provider().await;
    let attrs = create(&provider, &user_config(&id, false)).await;
    let mut config = user_config(&id, true);
    config.insert("command_categories", Value::list(vec!["+@read".into(), "+@write".into()]));

    let updated = update(&provider, &attrs, &config).await;

    // Redis 7.0 expands and reorders these rules in ACL GETUSER, so the
    // check goes through what the user may run.
    let mut tenant = connect(&url_of(&updated)).await;
    run(&mut tenant, &["SET", &format!("{id}:counter"), "1"]).await.expect("+@write allows SET");
    run(&mut tenant, &["GET", &format!("{id}:counter")]).await.expect("+@read allows GET");
    let error = run(&mut tenant, &["FLUSHALL"]).await.expect_err("strict denies FLUSHALL");
    assert_eq!(error.code(), Some("NOPERM"));
    let error = run(&mut tenant, &["CLIENT", "LIST"]).await.expect_err("-@all denies CLIENT LIST");
    assert_eq!(error.code(), Some("NOPERM"));
    assert_eq!(updated["password"], attrs["password"], "an update keeps the password");
    let mut admin = connect(&admin_url()).await;
    let _ = run(&mut admin, &["DEL", &format!("{id}:counter")]).await;
    let after = refresh(&provider, &updated).await.expect("user exists");
    let change = provider.plan(TYPE, Some(&after), &config).unwrap();
    assert_eq!(change.planned, after, "no drift right after apply");
}

#[tokio::test]
async fn refresh_detects_drift_and_update_repairs_it() {
    let id = tenant_id("dr");
    let username = format!("tenant_{id}");
    let _cleanup = Cleanup(vec![id.clone()]);
    let provider = provider().await;
    let config = user_config(&id, true);
    let attrs = create(&provider, &config).await;
    let mut admin = connect(&admin_url()).await;

    run(&mut admin, &["ACL", "SETUSER", &username, "~*", "+@dangerous"]).await.unwrap();
    let drifted = refresh(&provider, &attrs).await.expect("user exists");

    assert_eq!(drifted["key_pattern"], Value::from("~*"));
    assert_ne!(drifted["command_categories"], attrs["command_categories"]);
    let change = provider.plan(TYPE, Some(&drifted), &config).unwrap();
    assert!(change.requires_replace.is_empty());
    assert_ne!(change.planned, drifted);
    let repaired = update(&provider, &drifted, &config).await;
    let reply = get_user(&mut admin, &username).await;
    assert_eq!(field(&reply, "keys"), format!("~{id}:*"));
    assert_eq!(field(&reply, "commands"), "+@all -@dangerous");

    run(&mut admin, &["ACL", "SETUSER", &username, ">changed-by-hand"]).await.unwrap();
    let drifted = refresh(&provider, &repaired).await.expect("user exists");
    assert_eq!(drifted["password"], Value::Null);
    let change = provider.plan(TYPE, Some(&drifted), &config).unwrap();
    assert!(change.planned["password"].is_unknown(), "a password changed by hand is rotated");

    run(&mut admin, &["ACL", "DELUSER", &username]).await.unwrap();
    assert_eq!(refresh(&provider, &repaired).await, None);
}

#[tokio::test]
async fn delete_removes_user_and_batch_read_sees_it() {
    let ids = [tenant_id("da"), tenant_id("db")];
    let _cleanup = Cleanup(ids.to_vec());
    let provider = provider().await;
    let kept = create(&provider, &user_config(&ids[0], false)).await;
    let removed = create(&provider, &user_config(&ids[1], false)).await;

    let result = provider
        .apply(TYPE, ADDRESS, Operation::Delete { prior: &removed })
        .await
        .expect("delete");

    assert_eq!(result, None);
    let mut admin = connect(&admin_url()).await;
    assert_eq!(get_user(&mut admin, &format!("tenant_{}", ids[1])).await, redis::Value::Nil);
    let requests: Vec<ReadRequest> = [&kept, &removed]
        .into_iter()
        .map(|prior| ReadRequest {
            type_name: TYPE.into(),
            address: ADDRESS.into(),
            prior: prior.clone(),
        })
        .collect();
    let results = provider.read(&requests).await;
    assert!(results[0].as_ref().unwrap().is_some());
    assert!(results[1].as_ref().unwrap().is_none());
}

#[tokio::test]
async fn import_adopts_existing_user() {
    let id = tenant_id("im");
    let _cleanup = Cleanup(vec![id.clone()]);
    let provider = provider().await;
    let config = user_config(&id, true);
    create(&provider, &config).await;

    let request = ImportRequest {
        type_name: TYPE.into(),
        address: ADDRESS.into(),
        id: format!("tenant_{id}"),
    };
    let imported = provider.import(&request).await.expect("import");

    assert_eq!(imported["tenant_id"], Value::from(id.as_str()));
    assert_eq!(imported["key_prefix"], Value::from(id.as_str()));
    assert_eq!(imported["strict"], Value::from(true));
    assert_eq!(imported["password"], Value::Null);
    let change = provider.plan(TYPE, Some(&imported), &config).unwrap();
    assert!(change.requires_replace.is_empty());
    assert!(change.planned["password"].is_unknown());
}

#[tokio::test]
async fn existing_user_conflicts_on_create() {
    let id = tenant_id("cf");
    let _cleanup = Cleanup(vec![id.clone()]);
    let mut admin = connect(&admin_url()).await;
    run(&mut admin, &["ACL", "SETUSER", &format!("tenant_{id}")]).await.unwrap();
    let provider = provider().await;
    let change = provider.plan(TYPE, None, &user_config(&id, false)).unwrap();

    let error = provider
        .apply(TYPE, ADDRESS, Operation::Create { planned: &change.planned })
        .await
        .expect_err("user exists");

    assert_eq!(error.kind, ErrorKind::Conflict);
    assert!(error.message.starts_with(ADDRESS));
}

#[tokio::test]
async fn errors_never_show_the_password() {
    let mut provider = RedisProvider::new();
    let mut config = Attrs::new();
    config.insert("url", Value::sensitive("redis://admin:Sup3rSecretPw@127.0.0.1:1".into()));
    let context = ProviderContext {
        working_dir: PathBuf::from("."),
        instance: "redis".into(),
    };

    let error = provider.configure(&config, &context).await.expect_err("nothing listens on port 1");

    assert_eq!(error.kind, ErrorKind::Unavailable);
    assert!(error.hint.as_deref().unwrap_or_default().contains("scripts/services start"));
    for text in [error.to_string(), format!("{error:?}"), format!("{provider:?}")] {
        assert!(!text.contains("Sup3rSecretPw"), "{text}");
    }
}

#[tokio::test]
async fn invalid_rules_are_rejected_before_apply() {
    let provider = provider().await;
    let mut config = user_config(&tenant_id("iv"), false);
    config.insert("command_categories", Value::list(vec!["+@all".into(), "~*".into()]));

    let error = provider.plan(TYPE, None, &config).expect_err("a key rule is not a command rule");

    assert_eq!(error.kind, ErrorKind::Invalid);
    assert!(error.message.contains("`~*`"));
}
