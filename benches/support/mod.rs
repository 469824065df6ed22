//! Fixtures shared by the benchmarks: generated configurations, the
//! resource counts to run, and an in-memory provider with a fixed latency.

#![allow(dead_code)]

use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use tenancy::apply::{Persist, Recorded};
use tenancy_sdk::{
    AttrType, AttributeSchema, Attrs, ImportRequest, Operation, PlannedChange, Provider, ProviderContext,
    ProviderError, ProviderResult, ReadRequest, ResourceSchema,
};

/// Returns the resource counts to benchmark: `TENANCY_BENCH_SIZES`
/// (comma-separated), or 1,000 and 10,000.
pub fn sizes() -> Vec<usize> {
    let text = std::env::var("TENANCY_BENCH_SIZES").unwrap_or_else(|_| "1000,10000".to_owned());
    text.split(',')
        .filter(|item| !item.trim().is_empty())
        .map(|item| {
            item.trim()
                .parse()
                .unwrap_or_else(|_| panic!("TENANCY_BENCH_SIZES item `{item}` is not a resource count"))
        })
        .collect()
}

/// Writes a configuration of `resources` resources into `dir` with
/// `bench/generate.py`, so the benchmarks and `bench/run.py` measure the
/// same shape.
pub fn generate(resources: usize, dir: &Path) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("bench/generate.py");
    let status = Command::new("python3")
        .arg(&script)
        .arg(resources.to_string())
        .arg(dir)
        .status()
        .unwrap_or_else(|error| panic!("failed to run python3 {}: {error}", script.display()));
    assert!(status.success(), "{} exited with {status}", script.display());
}

/// A persist sink that keeps nothing, so a benchmark measures the engine
/// without disk writes.
pub struct Discard;

impl Persist for Discard {
    fn persist(&mut self, _: &[Recorded]) -> Result<(), String> {
        Ok(())
    }
}

/// A provider that accepts every resource type of the embedded provider,
/// keeps nothing, and sleeps a fixed latency in each apply call.
pub struct MemoryProvider {
    /// Time each apply call takes.
    pub latency: Duration,
    /// Maximum operations in flight, as the provider declares it.
    pub concurrency: usize,
    /// Number of apply calls so far.
    pub calls: AtomicUsize,
}

impl MemoryProvider {
    /// Creates a provider with a fixed latency per apply call.
    pub fn new(latency: Duration, concurrency: usize) -> Self {
        MemoryProvider {
            latency,
            concurrency,
            calls: AtomicUsize::new(0),
        }
    }
}

const TYPE_NAMES: [&str; 6] = [
    "catalog_tier",
    "catalog_security_policy",
    "catalog_tenant",
    "catalog_subscription",
    "catalog_monitoring",
    "sqlite_database",
];

#[async_trait]
impl Provider for MemoryProvider {
    fn type_name(&self) -> &'static str {
        "memory"
    }

    fn schemas(&self) -> Vec<ResourceSchema> {
        TYPE_NAMES
            .iter()
            .map(|type_name| ResourceSchema {
                type_name,
                description: "An object kept nowhere.",
                attributes: vec![AttributeSchema::optional("name", AttrType::String, "Name.")],
            })
            .collect()
    }

    fn max_concurrency(&self) -> usize {
        self.concurrency
    }

    async fn configure(&mut self, _: &Attrs, _: &ProviderContext) -> ProviderResult<()> {
        Ok(())
    }

    async fn read(&self, requests: &[ReadRequest]) -> Vec<ProviderResult<Option<Attrs>>> {
        requests.iter().map(|request| Ok(Some(request.prior.clone()))).collect()
    }

    fn plan(&self, _: &str, _: Option<&Attrs>, config: &Attrs) -> ProviderResult<PlannedChange> {
        Ok(PlannedChange {
            planned: config.clone(),
            requires_replace: Vec::new(),
        })
    }

    async fn apply(&self, _: &str, _: &str, operation: Operation<'_>) -> ProviderResult<Option<Attrs>> {
        if !self.latency.is_zero() {
            tokio::time::sleep(self.latency).await;
        }
        self.calls.fetch_add(1, Ordering::Relaxed);
        Ok(match operation {
            Operation::Create { planned } | Operation::Update { planned, .. } => Some(planned.clone()),
            Operation::Delete { .. } => None,
        })
    }

    async fn import(&self, request: &ImportRequest) -> ProviderResult<Attrs> {
        Err(ProviderError::other(format!("cannot import `{}`", request.id)))
    }
}
