//! End-to-end tests of the `tenancy` binary with the aws provider against
//! moto's EC2 emulator.
//!
//! The emulator comes from `TENANCY_TEST_AWS_ENDPOINT` (default
//! `http://127.0.0.1:5000`, as `scripts/services start moto` provides) and
//! must be on a loopback address. The configuration sets static test
//! credentials and the binary runs with `AWS_EC2_METADATA_DISABLED=true`, so
//! no credential lookup leaves the machine. What apply and destroy did is
//! checked with a separate EC2 client.
#![cfg(feature = "aws")]

use std::path::Path;
use std::process::{Command, Output, Stdio};

use tenancy_provider_aws::aws_sdk_ec2;
use tenancy_provider_aws::aws_sdk_ec2::config::{BehaviorVersion, Credentials, Region};
use tenancy_provider_aws::aws_sdk_ec2::types::Filter;

const REGION: &str = "eu-west-1";

fn endpoint() -> String {
    let endpoint = std::env::var("TENANCY_TEST_AWS_ENDPOINT").unwrap_or_else(|_| "http://127.0.0.1:5000".to_owned());
    assert!(
        endpoint.starts_with("http://127.") || endpoint.starts_with("http://localhost") || endpoint.starts_with("http://[::1]"),
        "TENANCY_TEST_AWS_ENDPOINT must point at a loopback address, found {endpoint}"
    );
    endpoint
}

fn tenancy(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tenancy"))
        .arg("-C")
        .arg(dir)
        .args(args)
        .env("NO_COLOR", "1")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env_remove("TENANCY_LOG")
        .stdin(Stdio::null())
        .output()
        .expect("the tenancy binary runs")
}

fn describe(output: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        output.status.code(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

fn assert_exit(output: &Output, code: i32) {
    assert_eq!(output.status.code(), Some(code), "{}", describe(output));
}

/// The objects the emulator holds for one tenant.
#[derive(Debug, Default)]
struct Objects {
    vpc_cidrs: Vec<String>,
    subnet_cidrs: Vec<String>,
    group_rules: Vec<String>,
}

impl Objects {
    fn is_empty(&self) -> bool {
        self.vpc_cidrs.is_empty() && self.subnet_cidrs.is_empty() && self.group_rules.is_empty()
    }
}

/// Lists the emulator's objects tagged with the tenant, from a runtime of
/// its own.
fn tagged_objects(tenant: &str) -> Objects {
    let tenant = tenant.to_owned();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async move {
            let config = aws_sdk_ec2::Config::builder()
                .behavior_version(BehaviorVersion::latest())
                .region(Region::new(REGION))
                .endpoint_url(endpoint())
                .credentials_provider(Credentials::new("test", "test", None, None, "tests"))
                .build();
            let client = aws_sdk_ec2::Client::from_conf(config);
            let filter = || Filter::builder().name("tag:tenancy:tenant").values(&tenant).build();

            let vpcs = client.describe_vpcs().filters(filter()).send().await.expect("describe VPCs");
            let subnets = client.describe_subnets().filters(filter()).send().await.expect("describe subnets");
            let groups = client.describe_security_groups().filters(filter()).send().await.expect("describe groups");
            let mut objects = Objects {
                vpc_cidrs: vpcs.vpcs().iter().filter_map(|vpc| vpc.cidr_block()).map(str::to_owned).collect(),
                subnet_cidrs: subnets.subnets().iter().filter_map(|subnet| subnet.cidr_block()).map(str::to_owned).collect(),
                group_rules: Vec::new(),
            };
            for permission in groups.security_groups().iter().flat_map(|group| group.ip_permissions()) {
                for range in permission.ip_ranges() {
                    let port = permission.from_port().unwrap_or_default();
                    objects.group_rules.push(format!("{port} from {}", range.cidr_ip().unwrap_or_default()));
                }
            }
            objects.subnet_cidrs.sort();
            objects
        })
    })
    .join()
    .expect("the emulator check runs")
}

fn configuration(tenant: &str) -> String {
    format!(
        r#"
provider "aws" {{
  region     = "{REGION}"
  endpoint   = "{endpoint}"
  access_key = "test"
  secret_key = "test"
}}

tier "pro" {{
  price    = 49
  currency = "EUR"
}}

security_policy "office_only" {{
  allowed_networks = ["10.0.0.0/8"]
}}

tenant "{tenant}" {{
  name            = "End to end"
  tier            = tier.pro
  region          = "{REGION}"
  security_policy = security_policy.office_only

  network "aws" {{
    cidr         = "10.20.0.0/16"
    subnet_count = 2
  }}
}}
"#,
        endpoint = endpoint()
    )
}

#[test]
fn network_apply_plan_destroy_round_trip() {
    let tenant = format!("aws_{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
    let temp = tempfile::tempdir().unwrap();
    std::fs::write(temp.path().join("main.hcl"), configuration(&tenant)).unwrap();

    let apply = tenancy(temp.path(), &["apply", "-auto-approve"]);
    assert_exit(&apply, 0);
    let created = tagged_objects(&tenant);
    assert_eq!(created.vpc_cidrs, ["10.20.0.0/16"]);
    assert_eq!(created.subnet_cidrs, ["10.20.0.0/17", "10.20.128.0/17"]);
    assert_eq!(created.group_rules, ["443 from 10.0.0.0/8"]);

    let plan = tenancy(temp.path(), &["plan", "-detailed-exitcode"]);
    assert_exit(&plan, 0);

    let destroy = tenancy(temp.path(), &["destroy", "-auto-approve"]);
    assert_exit(&destroy, 0);
    let left = tagged_objects(&tenant);
    assert!(left.is_empty(), "destroy left {left:?}");
}
