//! Tests of the AWS provider against moto's EC2 emulator.
//!
//! The emulator comes from `TENANCY_TEST_AWS_ENDPOINT` (default
//! `http://127.0.0.1:5000`, as `scripts/services start moto` provides), and
//! must be on a loopback address: the tests refuse any other. Credentials
//! are static test values, so no credential lookup (IMDS, profiles) runs.
//! Each test uses its own random tenant ids, so tests run in parallel, and a
//! guard deletes every object tagged with those tenants, also when a test
//! fails. Expectations are checked with a separate EC2 client, not through
//! the provider.

use std::path::PathBuf;

use aws_sdk_ec2::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_ec2::types::{Filter, IpPermission, IpRange, Tag};
use rand::Rng;
use rand::distr::Alphanumeric;
use tenancy_provider_aws::AwsProvider;
use tenancy_sdk::{Attrs, ErrorKind, ImportRequest, Operation, PlannedChange, Provider, ProviderContext, ReadRequest, Value};

const VPC: &str = "aws_vpc";
const SUBNETS: &str = "aws_subnets";
const GROUP: &str = "aws_security_group";
const REGION: &str = "eu-west-1";

fn endpoint() -> String {
    let endpoint = std::env::var("TENANCY_TEST_AWS_ENDPOINT").unwrap_or_else(|_| "http://127.0.0.1:5000".into());
    assert!(
        endpoint.starts_with("http://127.") || endpoint.starts_with("http://localhost") || endpoint.starts_with("http://[::1]"),
        "TENANCY_TEST_AWS_ENDPOINT must point at a loopback address, found {endpoint}"
    );
    endpoint
}

fn address(type_name: &str) -> &'static str {
    match type_name {
        VPC => "tenant.test.network.aws",
        SUBNETS => "tenant.test.network.aws.subnets",
        _ => "tenant.test.network.aws.security_group",
    }
}

fn tenant_id(stem: &str) -> String {
    let text: String = rand::rng().sample_iter(Alphanumeric).take(10).map(char::from).collect();
    format!("{stem}_{}", text.to_lowercase())
}

/// Returns an EC2 client of the emulator, built apart from the provider.
fn ec2() -> aws_sdk_ec2::Client {
    let config = aws_sdk_ec2::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(REGION))
        .endpoint_url(endpoint())
        .credentials_provider(Credentials::new("test", "test", None, None, "tests"))
        .build();
    aws_sdk_ec2::Client::from_conf(config)
}

fn tag_filter(tenant: &str) -> Filter {
    Filter::builder().name("tag:tenancy:tenant").values(tenant).build()
}

/// Deletes every security group, subnet and VPC tagged with the given
/// tenants, also when a test panics.
struct Cleanup(Vec<String>);

impl Drop for Cleanup {
    fn drop(&mut self) {
        let tenants = self.0.clone();
        let worker = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            runtime.block_on(async move {
                let client = ec2();
                for tenant in tenants {
                    delete_tagged(&client, &tenant).await;
                }
            });
        });
        let _ = worker.join();
    }
}

async fn delete_tagged(client: &aws_sdk_ec2::Client, tenant: &str) {
    if let Ok(groups) = client.describe_security_groups().filters(tag_filter(tenant)).send().await {
        for group in groups.security_groups() {
            let _ = client.delete_security_group().group_id(group.group_id().unwrap_or_default()).send().await;
        }
    }
    if let Ok(subnets) = client.describe_subnets().filters(tag_filter(tenant)).send().await {
        for subnet in subnets.subnets() {
            let _ = client.delete_subnet().subnet_id(subnet.subnet_id().unwrap_or_default()).send().await;
        }
    }
    if let Ok(vpcs) = client.describe_vpcs().filters(tag_filter(tenant)).send().await {
        for vpc in vpcs.vpcs() {
            let _ = client.delete_vpc().vpc_id(vpc.vpc_id().unwrap_or_default()).send().await;
        }
    }
}

async fn provider_at(endpoint: &str) -> AwsProvider {
    let mut provider = AwsProvider::new();
    let mut config = Attrs::new();
    config.insert("region", REGION.into());
    config.insert("endpoint", endpoint.into());
    config.insert("access_key", "test".into());
    config.insert("secret_key", Value::sensitive("test".into()));
    let context = ProviderContext {
        working_dir: PathBuf::from("."),
        instance: "aws".into(),
    };
    provider.configure(&config, &context).await.expect("configure provider");
    provider
}

async fn provider() -> AwsProvider {
    provider_at(&endpoint()).await
}

fn strings(items: &[&str]) -> Value {
    Value::List(items.iter().map(|item| Value::from(*item)).collect())
}

/// Returns what the engine sends for `network "aws" { cidr = CIDR }`.
fn vpc_config(tenant: &str, cidr: &str) -> Attrs {
    let mut config = Attrs::new();
    config.insert("tenant_id", tenant.into());
    config.insert("cidr", cidr.into());
    config.insert("subnet_count", 2i64.into());
    config.insert("region", Value::Null);
    config.insert("tier", "pro".into());
    config.insert("security_policy", "strict".into());
    config.insert("allowed_networks", strings(&["10.0.0.0/8"]));
    config.insert("retention_days", Value::Null);
    config
}

fn subnets_config(tenant: &str, vpc_id: Value, cidrs: &[&str]) -> Attrs {
    let mut config = vpc_config(tenant, "unused");
    config.remove("cidr");
    config.insert("vpc_id", vpc_id);
    config.insert("cidrs", strings(cidrs));
    config
}

fn group_config(tenant: &str, vpc_id: Value, networks: &[&str]) -> Attrs {
    let mut config = vpc_config(tenant, "unused");
    config.remove("cidr");
    config.insert("vpc_id", vpc_id);
    config.insert("allowed_networks", strings(networks));
    config
}

/// Plans and applies a create the way the engine does: unknown references
/// are filled in from `known` before apply.
async fn create(provider: &AwsProvider, type_name: &str, config: &Attrs, known: &[(&str, Value)]) -> (PlannedChange, Attrs) {
    let change = provider.plan(type_name, None, config).expect("plan create");
    let mut planned = change.planned.clone();
    for (name, value) in known {
        planned.insert((*name).to_owned(), value.clone());
    }
    let attrs = provider
        .apply(type_name, address(type_name), Operation::Create { planned: &planned })
        .await
        .expect("create")
        .expect("attributes after create");
    (change, attrs)
}

async fn refresh(provider: &AwsProvider, type_name: &str, prior: &Attrs) -> Option<Attrs> {
    let request = ReadRequest {
        type_name: type_name.into(),
        address: address(type_name).into(),
        prior: prior.clone(),
    };
    provider.read(&[request]).await.remove(0).expect("read")
}

async fn update(provider: &AwsProvider, type_name: &str, prior: &Attrs, config: &Attrs) -> Attrs {
    let change = provider.plan(type_name, Some(prior), config).expect("plan update");
    assert!(change.requires_replace.is_empty(), "update must be in place: {:?}", change.requires_replace);
    let operation = Operation::Update {
        prior,
        planned: &change.planned,
    };
    provider
        .apply(type_name, address(type_name), operation)
        .await
        .expect("update")
        .expect("attributes after update")
}

async fn delete(provider: &AwsProvider, type_name: &str, prior: &Attrs) {
    let result = provider
        .apply(type_name, address(type_name), Operation::Delete { prior })
        .await
        .expect("delete");
    assert!(result.is_none());
}

/// Asserts that planning `config` against `prior` changes nothing.
fn assert_no_change(provider: &AwsProvider, type_name: &str, prior: &Attrs, config: &Attrs) {
    let change = provider.plan(type_name, Some(prior), config).expect("plan");
    assert!(change.requires_replace.is_empty(), "{type_name}: replace {:?}", change.requires_replace);
    for (name, value) in &change.planned {
        let before = prior.get(name).cloned().unwrap_or(Value::Null);
        assert_eq!(before.strip_marks(), value.strip_marks(), "{type_name}: attribute `{name}` would change");
    }
}

fn text<'a>(attrs: &'a Attrs, name: &str) -> &'a str {
    attrs.get(name).and_then(Value::as_str).unwrap_or_else(|| panic!("`{name}` is not a string in {attrs:?}"))
}

fn list(attrs: &Attrs, name: &str) -> Vec<String> {
    attrs
        .get(name)
        .and_then(Value::as_list)
        .unwrap_or_else(|| panic!("`{name}` is not a list in {attrs:?}"))
        .iter()
        .map(|item| item.as_str().expect("string item").to_owned())
        .collect()
}

fn tag_value<'a>(tags: &'a [Tag], key: &str) -> Option<&'a str> {
    tags.iter().find(|tag| tag.key() == Some(key)).and_then(Tag::value)
}

/// The three resources of one tenant network, created as the engine would.
struct Network {
    vpc: Attrs,
    subnets: Attrs,
    group: Attrs,
}

async fn create_network(provider: &AwsProvider, tenant: &str, cidr: &str, subnet_cidrs: &[&str], networks: &[&str]) -> Network {
    let (_, vpc) = create(provider, VPC, &vpc_config(tenant, cidr), &[]).await;
    let vpc_id = Value::from(text(&vpc, "vpc_id"));
    let subnets_config = subnets_config(tenant, Value::Unknown, subnet_cidrs);
    let (_, subnets) = create(provider, SUBNETS, &subnets_config, &[("vpc_id", vpc_id.clone())]).await;
    let group_config = group_config(tenant, Value::Unknown, networks);
    let (_, group) = create(provider, GROUP, &group_config, &[("vpc_id", vpc_id)]).await;
    Network { vpc, subnets, group }
}

#[tokio::test]
async fn apply_creates_what_plan_showed() {
    let tenant = tenant_id("create");
    let _cleanup = Cleanup(vec![tenant.clone()]);
    let provider = provider().await;
    let client = ec2();

    let (vpc_change, vpc) = create(&provider, VPC, &vpc_config(&tenant, "10.1.0.0/16"), &[]).await;
    assert!(vpc_change.planned["vpc_id"].is_unknown());
    let vpc_id = text(&vpc, "vpc_id").to_owned();
    let described = client.describe_vpcs().vpc_ids(&vpc_id).send().await.expect("describe VPC");
    let real = &described.vpcs()[0];
    assert_eq!(real.cidr_block(), Some("10.1.0.0/16"));
    assert_eq!(tag_value(real.tags(), "Name"), Some(format!("tenancy-{tenant}").as_str()));
    assert_eq!(tag_value(real.tags(), "tenancy:tenant"), Some(tenant.as_str()));
    assert_eq!(tag_value(real.tags(), "tenancy:tier"), Some("pro"));
    assert_eq!(tag_value(real.tags(), "tenancy:policy"), Some("strict"));
    assert_eq!(vpc["tags"], vpc_change.planned["tags"]);

    let config = subnets_config(&tenant, Value::Unknown, &["10.1.0.0/17", "10.1.128.0/17"]);
    let (_, subnets) = create(&provider, SUBNETS, &config, &[("vpc_id", vpc_id.as_str().into())]).await;
    let subnet_ids = list(&subnets, "subnet_ids");
    assert_eq!(subnet_ids.len(), 2);
    assert_eq!(text(&subnets, "id"), subnet_ids.join(","));
    let described = client.describe_subnets().set_subnet_ids(Some(subnet_ids.clone())).send().await.expect("describe subnets");
    let mut cidrs: Vec<&str> = described.subnets().iter().filter_map(|subnet| subnet.cidr_block()).collect();
    cidrs.sort_unstable();
    assert_eq!(cidrs, ["10.1.0.0/17", "10.1.128.0/17"]);
    assert!(described.subnets().iter().all(|subnet| subnet.vpc_id() == Some(vpc_id.as_str())));
    let zones = list(&subnets, "availability_zones");
    assert_ne!(zones[0], zones[1], "subnets must spread over availability zones");

    let config = group_config(&tenant, Value::Unknown, &["10.0.0.0/8", "192.168.0.0/16"]);
    let (group_change, group) = create(&provider, GROUP, &config, &[("vpc_id", vpc_id.as_str().into())]).await;
    assert_eq!(group_change.planned["ingress_rules"], strings(&["tcp 443 from 10.0.0.0/8", "tcp 443 from 192.168.0.0/16"]));
    let group_id = text(&group, "group_id");
    let described = client.describe_security_groups().group_ids(group_id).send().await.expect("describe group");
    let real = &described.security_groups()[0];
    assert_eq!(real.vpc_id(), Some(vpc_id.as_str()));
    assert_eq!(real.group_name(), Some(format!("tenancy-{tenant}").as_str()));
    let permissions = real.ip_permissions();
    assert_eq!(permissions.len(), 1, "{permissions:?}");
    assert_eq!(permissions[0].from_port(), Some(443));
    assert_eq!(permissions[0].to_port(), Some(443));
    let mut sources: Vec<&str> = permissions[0].ip_ranges().iter().filter_map(|range| range.cidr_ip()).collect();
    sources.sort_unstable();
    assert_eq!(sources, ["10.0.0.0/8", "192.168.0.0/16"]);
}

#[tokio::test]
async fn plan_after_apply_is_empty() {
    let tenant = tenant_id("noop");
    let _cleanup = Cleanup(vec![tenant.clone()]);
    let provider = provider().await;
    let network = create_network(&provider, &tenant, "10.2.0.0/16", &["10.2.0.0/17", "10.2.128.0/17"], &["10.0.0.0/8"]).await;
    let vpc_id = Value::from(text(&network.vpc, "vpc_id"));

    let vpc = refresh(&provider, VPC, &network.vpc).await.expect("VPC exists");
    let subnets = refresh(&provider, SUBNETS, &network.subnets).await.expect("subnets exist");
    let group = refresh(&provider, GROUP, &network.group).await.expect("group exists");

    assert_eq!(vpc, network.vpc);
    assert_eq!(subnets, network.subnets);
    assert_eq!(group, network.group);
    assert_no_change(&provider, VPC, &vpc, &vpc_config(&tenant, "10.2.0.0/16"));
    assert_no_change(&provider, SUBNETS, &subnets, &subnets_config(&tenant, vpc_id.clone(), &["10.2.0.0/17", "10.2.128.0/17"]));
    assert_no_change(&provider, GROUP, &group, &group_config(&tenant, vpc_id, &["10.0.0.0/8"]));
}

#[tokio::test]
async fn refresh_batches_and_reports_missing_objects() {
    let first = tenant_id("batch");
    let second = tenant_id("batch");
    let _cleanup = Cleanup(vec![first.clone(), second.clone()]);
    let provider = provider().await;
    let (_, one) = create(&provider, VPC, &vpc_config(&first, "10.3.0.0/16"), &[]).await;
    let (_, two) = create(&provider, VPC, &vpc_config(&second, "10.4.0.0/16"), &[]).await;
    let mut deleted = one.clone();
    deleted.insert("vpc_id", "vpc-00000000000000000".into());
    deleted.insert("id", "vpc-00000000000000000".into());

    let requests: Vec<ReadRequest> = [&one, &deleted, &two]
        .iter()
        .map(|prior| ReadRequest {
            type_name: VPC.into(),
            address: address(VPC).into(),
            prior: (*prior).clone(),
        })
        .collect();
    let results = provider.read(&requests).await;

    assert_eq!(results.len(), 3);
    assert_eq!(results[0].as_ref().expect("first read"), &Some(one));
    assert_eq!(results[1].as_ref().expect("missing read"), &None);
    assert_eq!(results[2].as_ref().expect("second read"), &Some(two));
}

#[tokio::test]
async fn hand_tag_change_is_repaired() {
    let tenant = tenant_id("tags");
    let _cleanup = Cleanup(vec![tenant.clone()]);
    let provider = provider().await;
    let client = ec2();
    let network = create_network(&provider, &tenant, "10.5.0.0/16", &["10.5.0.0/17"], &[]).await;
    let vpc_id = text(&network.vpc, "vpc_id").to_owned();
    let subnet_id = list(&network.subnets, "subnet_ids")[0].clone();

    let tier = Tag::builder().key("tenancy:tier").value("free").build();
    let extra = Tag::builder().key("owner").value("someone").build();
    client
        .create_tags()
        .resources(&vpc_id)
        .resources(&subnet_id)
        .tags(tier)
        .tags(extra)
        .send()
        .await
        .expect("tag by hand");

    let vpc = refresh(&provider, VPC, &network.vpc).await.expect("VPC exists");
    let tags = vpc["tags"].as_map().expect("tags map");
    assert_eq!(tags["tenancy:tier"], Value::from("free"));
    assert_eq!(tags["owner"], Value::from("someone"));
    let config = vpc_config(&tenant, "10.5.0.0/16");
    let change = provider.plan(VPC, Some(&vpc), &config).expect("plan");
    assert!(change.requires_replace.is_empty());
    assert_ne!(change.planned["tags"], vpc["tags"], "drift must show in the plan");

    let repaired = update(&provider, VPC, &vpc, &config).await;
    let subnets = refresh(&provider, SUBNETS, &network.subnets).await.expect("subnets exist");
    let subnets = update(&provider, SUBNETS, &subnets, &subnets_config(&tenant, vpc_id.as_str().into(), &["10.5.0.0/17"])).await;

    let described = client.describe_vpcs().vpc_ids(&vpc_id).send().await.expect("describe VPC");
    let real_tags = described.vpcs()[0].tags();
    assert_eq!(tag_value(real_tags, "tenancy:tier"), Some("pro"));
    assert_eq!(tag_value(real_tags, "owner"), None);
    let described = client.describe_subnets().subnet_ids(&subnet_id).send().await.expect("describe subnet");
    assert_eq!(tag_value(described.subnets()[0].tags(), "tenancy:tier"), Some("pro"));
    assert_eq!(tag_value(described.subnets()[0].tags(), "owner"), None);
    assert_eq!(refresh(&provider, VPC, &repaired).await, Some(repaired));
    assert_eq!(refresh(&provider, SUBNETS, &subnets).await, Some(subnets));
}

#[tokio::test]
async fn tier_and_policy_change_update_tags_in_place() {
    let tenant = tenant_id("tier");
    let _cleanup = Cleanup(vec![tenant.clone()]);
    let provider = provider().await;
    let client = ec2();
    let network = create_network(&provider, &tenant, "10.6.0.0/16", &["10.6.0.0/17"], &["10.0.0.0/8"]).await;
    let vpc_id = text(&network.vpc, "vpc_id").to_owned();

    let mut config = group_config(&tenant, vpc_id.as_str().into(), &["10.0.0.0/8"]);
    config.insert("tier", "enterprise".into());
    config.insert("security_policy", Value::Null);
    let group = update(&provider, GROUP, &network.group, &config).await;

    let group_id = text(&group, "group_id");
    let described = client.describe_security_groups().group_ids(group_id).send().await.expect("describe group");
    let real_tags = described.security_groups()[0].tags();
    assert_eq!(tag_value(real_tags, "tenancy:tier"), Some("enterprise"));
    assert_eq!(tag_value(real_tags, "tenancy:policy"), None);
    let refreshed = refresh(&provider, GROUP, &group).await.expect("group exists");
    assert_no_change(&provider, GROUP, &refreshed, &config);
}

#[tokio::test]
async fn hand_rule_changes_are_repaired() {
    let tenant = tenant_id("rules");
    let _cleanup = Cleanup(vec![tenant.clone()]);
    let provider = provider().await;
    let client = ec2();
    let network = create_network(&provider, &tenant, "10.7.0.0/16", &["10.7.0.0/17"], &["10.0.0.0/8", "172.16.0.0/12"]).await;
    let group_id = text(&network.group, "group_id").to_owned();
    let vpc_id = text(&network.vpc, "vpc_id").to_owned();

    let ssh = IpPermission::builder()
        .ip_protocol("tcp")
        .from_port(22)
        .to_port(22)
        .ip_ranges(IpRange::builder().cidr_ip("0.0.0.0/0").build())
        .build();
    client
        .authorize_security_group_ingress()
        .group_id(&group_id)
        .ip_permissions(ssh)
        .send()
        .await
        .expect("add a rule by hand");
    let removed = IpPermission::builder()
        .ip_protocol("tcp")
        .from_port(443)
        .to_port(443)
        .ip_ranges(IpRange::builder().cidr_ip("172.16.0.0/12").build())
        .build();
    client
        .revoke_security_group_ingress()
        .group_id(&group_id)
        .ip_permissions(removed)
        .send()
        .await
        .expect("remove a rule by hand");

    let drifted = refresh(&provider, GROUP, &network.group).await.expect("group exists");
    assert_eq!(list(&drifted, "ingress_rules"), ["tcp 22 from 0.0.0.0/0", "tcp 443 from 10.0.0.0/8"]);
    let config = group_config(&tenant, vpc_id.as_str().into(), &["10.0.0.0/8", "172.16.0.0/12"]);
    let change = provider.plan(GROUP, Some(&drifted), &config).expect("plan");
    assert!(change.requires_replace.is_empty());
    assert_eq!(list(&change.planned, "ingress_rules"), ["tcp 443 from 10.0.0.0/8", "tcp 443 from 172.16.0.0/12"]);

    let repaired = update(&provider, GROUP, &drifted, &config).await;

    let described = client.describe_security_groups().group_ids(&group_id).send().await.expect("describe group");
    let permissions = described.security_groups()[0].ip_permissions();
    assert!(permissions.iter().all(|permission| permission.from_port() == Some(443)), "{permissions:?}");
    assert_eq!(refresh(&provider, GROUP, &repaired).await, Some(repaired));
}

#[tokio::test]
async fn allowed_networks_and_ports_change_in_place() {
    let tenant = tenant_id("networks");
    let _cleanup = Cleanup(vec![tenant.clone()]);
    let provider = provider().await;
    let network = create_network(&provider, &tenant, "10.8.0.0/16", &["10.8.0.0/17"], &["10.0.0.0/8"]).await;
    let vpc_id = text(&network.vpc, "vpc_id").to_owned();

    let mut config = group_config(&tenant, vpc_id.as_str().into(), &["192.168.0.0/16"]);
    config.insert("ingress_ports", Value::list(vec![443i64.into(), 5432i64.into()]));
    let group = update(&provider, GROUP, &network.group, &config).await;

    assert_eq!(text(&group, "group_id"), text(&network.group, "group_id"));
    let refreshed = refresh(&provider, GROUP, &group).await.expect("group exists");
    assert_eq!(list(&refreshed, "ingress_rules"), ["tcp 443 from 192.168.0.0/16", "tcp 5432 from 192.168.0.0/16"]);
    assert_no_change(&provider, GROUP, &refreshed, &config);

    let closed = update(&provider, GROUP, &refreshed, &group_config(&tenant, vpc_id.as_str().into(), &[])).await;
    let refreshed = refresh(&provider, GROUP, &closed).await.expect("group exists");
    assert!(list(&refreshed, "ingress_rules").is_empty(), "no allowed network means no ingress");
}

#[tokio::test]
async fn cidr_change_forces_replacement() {
    let tenant = tenant_id("replace");
    let _cleanup = Cleanup(vec![tenant.clone()]);
    let provider = provider().await;
    let network = create_network(&provider, &tenant, "10.9.0.0/16", &["10.9.0.0/17"], &[]).await;

    let vpc_change = provider.plan(VPC, Some(&network.vpc), &vpc_config(&tenant, "10.10.0.0/16")).expect("plan");
    let subnets_change = provider
        .plan(SUBNETS, Some(&network.subnets), &subnets_config(&tenant, Value::Unknown, &["10.10.0.0/17"]))
        .expect("plan");

    assert_eq!(vpc_change.requires_replace, ["cidr"]);
    assert!(vpc_change.planned["vpc_id"].is_unknown());
    assert!(subnets_change.requires_replace.contains(&"cidrs".to_owned()));
    assert!(subnets_change.requires_replace.contains(&"vpc_id".to_owned()));
}

#[tokio::test]
async fn destroy_leaves_nothing_behind() {
    let tenant = tenant_id("destroy");
    let _cleanup = Cleanup(vec![tenant.clone()]);
    let provider = provider().await;
    let client = ec2();
    let network = create_network(&provider, &tenant, "10.11.0.0/16", &["10.11.0.0/17", "10.11.128.0/17"], &["10.0.0.0/8"]).await;

    delete(&provider, GROUP, &network.group).await;
    delete(&provider, SUBNETS, &network.subnets).await;
    delete(&provider, VPC, &network.vpc).await;

    let groups = client.describe_security_groups().filters(tag_filter(&tenant)).send().await.expect("describe groups");
    let subnets = client.describe_subnets().filters(tag_filter(&tenant)).send().await.expect("describe subnets");
    let vpcs = client.describe_vpcs().filters(tag_filter(&tenant)).send().await.expect("describe VPCs");
    assert!(groups.security_groups().is_empty());
    assert!(subnets.subnets().is_empty());
    assert!(vpcs.vpcs().is_empty());
    assert_eq!(refresh(&provider, VPC, &network.vpc).await, None);
    assert_eq!(refresh(&provider, SUBNETS, &network.subnets).await, None);
    assert_eq!(refresh(&provider, GROUP, &network.group).await, None);

    // Deleting what is gone already succeeds, so an interrupted destroy can
    // run again.
    delete(&provider, VPC, &network.vpc).await;
}

#[tokio::test]
async fn import_adopts_existing_objects() {
    let tenant = tenant_id("import");
    let _cleanup = Cleanup(vec![tenant.clone()]);
    let provider = provider().await;
    let network = create_network(&provider, &tenant, "10.12.0.0/16", &["10.12.0.0/17", "10.12.128.0/17"], &["10.0.0.0/8"]).await;
    let vpc_id = text(&network.vpc, "vpc_id").to_owned();

    let import = |type_name: &str, id: String| ImportRequest {
        type_name: type_name.into(),
        address: address(type_name).into(),
        id,
    };
    let vpc = provider.import(&import(VPC, vpc_id.clone())).await.expect("import VPC");
    let subnets = provider
        .import(&import(SUBNETS, format!("{REGION}/{}", text(&network.subnets, "id"))))
        .await
        .expect("import subnets");
    let group = provider.import(&import(GROUP, text(&network.group, "group_id").to_owned())).await.expect("import group");

    assert_eq!(text(&vpc, "tenant_id"), tenant);
    assert_eq!(text(&vpc, "cidr"), "10.12.0.0/16");
    assert_eq!(list(&subnets, "subnet_ids"), list(&network.subnets, "subnet_ids"));
    assert_eq!(list(&group, "allowed_networks"), ["10.0.0.0/8"]);
    assert_no_change(&provider, VPC, &vpc, &vpc_config(&tenant, "10.12.0.0/16"));
    let subnets_config = subnets_config(&tenant, vpc_id.as_str().into(), &["10.12.0.0/17", "10.12.128.0/17"]);
    assert_no_change(&provider, SUBNETS, &subnets, &subnets_config);
    assert_no_change(&provider, GROUP, &group, &group_config(&tenant, vpc_id.as_str().into(), &["10.0.0.0/8"]));
}

#[tokio::test]
async fn import_of_missing_vpc_is_not_found() {
    let provider = provider().await;
    let request = ImportRequest {
        type_name: VPC.into(),
        address: address(VPC).into(),
        id: "vpc-00000000000000000".into(),
    };

    let error = provider.import(&request).await.unwrap_err();

    assert_eq!(error.kind, ErrorKind::NotFound);
    assert!(error.message.starts_with(address(VPC)), "{}", error.message);
    assert!(error.message.contains("vpc-00000000000000000"), "{}", error.message);
}

#[tokio::test]
async fn vpc_in_use_fails_to_delete_with_conflict() {
    let tenant = tenant_id("conflict");
    let _cleanup = Cleanup(vec![tenant.clone()]);
    let provider = provider().await;
    let network = create_network(&provider, &tenant, "10.13.0.0/16", &["10.13.0.0/17"], &[]).await;

    let error = provider
        .apply(VPC, address(VPC), Operation::Delete { prior: &network.vpc })
        .await
        .unwrap_err();

    assert_eq!(error.kind, ErrorKind::Conflict);
    assert!(error.message.starts_with(address(VPC)), "{}", error.message);
    assert!(error.message.contains("DependencyViolation"), "{}", error.message);
    assert!(error.hint.is_some());
}

#[tokio::test]
async fn subnet_outside_vpc_is_invalid() {
    let tenant = tenant_id("range");
    let _cleanup = Cleanup(vec![tenant.clone()]);
    let provider = provider().await;
    let (_, vpc) = create(&provider, VPC, &vpc_config(&tenant, "10.14.0.0/16"), &[]).await;
    let vpc_id = Value::from(text(&vpc, "vpc_id"));
    let config = subnets_config(&tenant, vpc_id, &["10.99.0.0/24"]);
    let change = provider.plan(SUBNETS, None, &config).expect("plan");

    let error = provider
        .apply(SUBNETS, address(SUBNETS), Operation::Create { planned: &change.planned })
        .await
        .unwrap_err();

    assert_eq!(error.kind, ErrorKind::Invalid);
    assert!(error.message.starts_with(address(SUBNETS)), "{}", error.message);
    assert!(error.message.contains("InvalidSubnet.Range"), "{}", error.message);
}

#[tokio::test]
async fn duplicate_group_name_is_conflict() {
    let tenant = tenant_id("duplicate");
    let _cleanup = Cleanup(vec![tenant.clone()]);
    let provider = provider().await;
    let network = create_network(&provider, &tenant, "10.15.0.0/16", &["10.15.0.0/17"], &[]).await;
    let config = group_config(&tenant, Value::from(text(&network.vpc, "vpc_id")), &[]);
    let change = provider.plan(GROUP, None, &config).expect("plan");

    let error = provider
        .apply(GROUP, address(GROUP), Operation::Create { planned: &change.planned })
        .await
        .unwrap_err();

    assert_eq!(error.kind, ErrorKind::Conflict);
    assert!(error.message.contains("InvalidGroup.Duplicate"), "{}", error.message);
}

#[tokio::test]
async fn unreachable_endpoint_is_unavailable() {
    // Port 9 on loopback (discard) has no listener on a test machine.
    let provider = provider_at("http://127.0.0.1:9").await;
    let prior = vpc_config("unreachable", "10.16.0.0/16");
    let mut prior = provider.plan(VPC, None, &prior).expect("plan").planned;
    prior.insert("vpc_id", "vpc-00000000000000000".into());

    let request = ReadRequest {
        type_name: VPC.into(),
        address: address(VPC).into(),
        prior,
    };
    let error = provider.read(&[request]).await.remove(0).unwrap_err();

    assert_eq!(error.kind, ErrorKind::Unavailable);
    assert!(error.message.starts_with(address(VPC)), "{}", error.message);
    assert!(error.hint.is_some());
}
