//! Benchmarks of apply's scheduling on the dependency shape of a generated
//! configuration, with an in-memory provider in place of the real one.
//!
//! `apply/overhead` runs with zero provider latency, so its time per
//! element is the engine's cost per resource. `apply/latency_1ms` gives
//! every provider call 1 ms. At parallelism 10 its ideal is the summed
//! provider time ÷ 10, because the critical path of the generated shape is
//! only three calls deep. The bench prints the measured ratio to it.
//! Sizes come from `TENANCY_BENCH_SIZES` (default `1000,10000`); the
//! latency runs use the sizes up to 10,000.

mod support;

use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use tenancy::apply::{self, ApplyOptions};
use tenancy::lang::{self, VarInputs};
use tenancy::plan::{Plan, PlanMode, PlanOptions};
use tenancy::registry::Registry;
use tenancy::state::State;
use tokio::runtime::Runtime;
use tokio::sync::watch;

const PARALLELISM: usize = 10;

/// Makes the plan from empty state of a generated configuration, with every
/// resource moved onto the in-memory provider instance `memory`.
fn memory_plan(runtime: &Runtime, resources: usize) -> Plan {
    let dir = tempfile::tempdir().expect("a temporary directory");
    support::generate(resources, dir.path());
    let config = lang::load(dir.path(), &VarInputs::default()).expect("the generated configuration loads");
    let mut desired = tenancy::lower::lower(&config).expect("the generated configuration lowers");
    for resource in &mut desired.resources {
        resource.provider = "memory".into();
    }
    let registry = registry(Duration::ZERO);
    let options = PlanOptions {
        mode: PlanMode::Normal,
        refresh: false,
        diff: Default::default(),
        config_digest: String::new(),
    };
    runtime
        .block_on(tenancy::plan::make_plan(&config, &mut desired, &State::new(), &registry, &options))
        .expect("the plan from empty state succeeds")
        .plan
}

fn registry(latency: Duration) -> Registry {
    let mut registry = Registry::default();
    registry.insert("memory", Box::new(support::MemoryProvider::new(latency, 64)));
    registry
}

fn run(runtime: &Runtime, plan: &Plan, registry: &Registry) -> apply::ApplyOutcome {
    let (_sender, cancel) = watch::channel(false);
    let outcome = runtime
        .block_on(apply::apply(
            plan,
            State::new(),
            registry,
            &mut support::Discard,
            &apply::silent_reporter(),
            &ApplyOptions {
                parallelism: PARALLELISM,
            },
            cancel,
        ))
        .expect("apply persists");
    assert!(outcome.errors.is_empty(), "apply failed: {:?}", outcome.errors.first());
    outcome
}

/// Prints one apply's wall time beside the provider time divided by the
/// parallelism, the ideal when the engine adds nothing. The provider time
/// is measured, not assumed, because a 1 ms tokio sleep lasts longer than
/// 1 ms on a timer with millisecond ticks.
fn report_latency(runtime: &Runtime, plan: &Plan, registry: &Registry) {
    let started = Instant::now();
    let outcome = run(runtime, plan, registry);
    let wall = started.elapsed();
    let calls = plan.changes.len().max(1) as u32;
    let ideal = outcome.provider_time / PARALLELISM as u32;
    eprintln!(
        "apply with 1 ms latency, {} changes: wall {wall:.3?}, mean provider call {:.3?}, \
         provider time / parallelism {ideal:.3?}, wall / ideal {:.2}",
        plan.changes.len(),
        outcome.provider_time / calls,
        wall.as_secs_f64() / ideal.as_secs_f64(),
    );
}

fn bench_apply(criterion: &mut Criterion) {
    let runtime = Runtime::new().expect("a tokio runtime");
    for resources in support::sizes() {
        let plan = memory_plan(&runtime, resources);
        let mut group = criterion.benchmark_group("apply");
        group.sample_size(10);
        group.warm_up_time(Duration::from_millis(500));
        group.measurement_time(Duration::from_secs(3));
        group.throughput(Throughput::Elements(plan.changes.len() as u64));

        let instant = registry(Duration::ZERO);
        group.bench_function(BenchmarkId::new("overhead", resources), |bench| {
            bench.iter(|| run(&runtime, &plan, &instant))
        });
        if resources <= 10_000 {
            let slow = registry(Duration::from_millis(1));
            report_latency(&runtime, &plan, &slow);
            group.bench_function(BenchmarkId::new("latency_1ms", resources), |bench| {
                bench.iter(|| run(&runtime, &plan, &slow))
            });
        }
        group.finish();
    }
}

criterion_group!(benches, bench_apply);
criterion_main!(benches);
