//! Benchmarks of the engine's steps on generated configurations: load and
//! evaluate, lower, graph, refresh, diff and render.
//!
//! Each size gets one fixture: the configuration from `bench/generate.py`,
//! the embedded sqlite provider configured in a temporary directory, and a
//! real apply of the whole configuration, so the no-op diff and the refresh
//! run against real state. Sizes come from `TENANCY_BENCH_SIZES` (default
//! `1000,10000`).

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use criterion::{BatchSize, BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use tempfile::TempDir;
use tenancy::apply::{self, ApplyOptions};
use tenancy::config::Config;
use tenancy::graph;
use tenancy::lang::{self, VarInputs};
use tenancy::lower::{self, Desired};
use tenancy::plan::diff::{self, DiffOptions};
use tenancy::plan::refresh;
use tenancy::plan::{Plan, PlanMode, PlanOptions};
use tenancy::registry::Registry;
use tenancy::render;
use tenancy::state::{ResourceState, State};
use tokio::runtime::Runtime;
use tokio::sync::watch;

/// One generated configuration with everything the steps need.
struct Fixture {
    resources: usize,
    dir: TempDir,
    config: Config,
    desired: Desired,
    registry: Registry,
    /// The plan from empty state (every resource a create).
    create_plan: Plan,
    /// State after applying `create_plan` through the sqlite provider.
    applied: State,
}

fn fixture(runtime: &Runtime, resources: usize) -> Fixture {
    let dir = tempfile::tempdir().expect("a temporary directory");
    support::generate(resources, dir.path());
    let config = lang::load(dir.path(), &VarInputs::default()).expect("the generated configuration loads");
    let desired = lower::lower(&config).expect("the generated configuration lowers");
    let instances: BTreeSet<String> = desired.resources.iter().map(|resource| resource.provider.to_string()).collect();
    let registry = runtime
        .block_on(Registry::configure(&config, &instances, dir.path()))
        .expect("the sqlite provider configures");

    let options = PlanOptions {
        mode: PlanMode::Normal,
        refresh: false,
        diff: DiffOptions::default(),
        config_digest: String::new(),
    };
    let create_plan = runtime
        .block_on(tenancy::plan::make_plan(&config, &mut desired.clone(), &State::new(), &registry, &options))
        .expect("the plan from empty state succeeds")
        .plan;
    let applied = apply_plan(runtime, &create_plan, &registry);
    assert_eq!(applied.resources.len(), desired.resources.len(), "apply created every resource");
    Fixture {
        resources,
        dir,
        config,
        desired,
        registry,
        create_plan,
        applied,
    }
}

fn apply_plan(runtime: &Runtime, plan: &Plan, registry: &Registry) -> State {
    let (_sender, cancel) = watch::channel(false);
    let outcome = runtime
        .block_on(apply::apply(
            plan,
            State::new(),
            registry,
            &mut support::Discard,
            &apply::silent_reporter(),
            &ApplyOptions { parallelism: 10 },
            cancel,
        ))
        .expect("apply persists");
    assert!(outcome.errors.is_empty(), "apply failed: {:?}", outcome.errors.first());
    outcome.state
}

fn bench_steps(criterion: &mut Criterion) {
    let runtime = Runtime::new().expect("a tokio runtime");
    for resources in support::sizes() {
        let fixture = fixture(&runtime, resources);
        let mut group = criterion.benchmark_group("engine");
        group.sample_size(10);
        group.warm_up_time(Duration::from_millis(500));
        group.measurement_time(Duration::from_secs(3));
        group.throughput(Throughput::Elements(resources as u64));
        bench_front(&mut group, &fixture);
        bench_plan(&mut group, &fixture, &runtime);
        bench_render(&mut group, &fixture);
        group.finish();
        drop(fixture.dir);
    }
}

type Group<'a> = criterion::BenchmarkGroup<'a, criterion::measurement::WallTime>;

/// Load and evaluate, lower, graph.
fn bench_front(group: &mut Group<'_>, fixture: &Fixture) {
    let id = |name: &str| BenchmarkId::new(name, fixture.resources);
    group.bench_function(id("load"), |bench| {
        bench.iter(|| lang::load(fixture.dir.path(), &VarInputs::default()).expect("loads"))
    });
    group.bench_function(id("lower"), |bench| bench.iter(|| lower::lower(&fixture.config).expect("lowers")));
    group.bench_function(id("graph"), |bench| {
        bench.iter(|| graph::build_desired(&fixture.desired).expect("has no cycle"))
    });
}

/// Refresh through the sqlite provider, and the diff from empty and no-op
/// state.
fn bench_plan(group: &mut Group<'_>, fixture: &Fixture, runtime: &Runtime) {
    let id = |name: &str| BenchmarkId::new(name, fixture.resources);
    let empty: BTreeMap<tenancy_sdk::ArcStr, ResourceState> = BTreeMap::new();
    // The diff takes each resource's configuration, so each run diffs a
    // copy made outside the timed part.
    group.bench_function(id("diff_from_empty"), |bench| {
        bench.iter_batched(
            || fixture.desired.clone(),
            |mut desired| {
                diff::diff(PlanMode::Normal, &mut desired, &empty, &fixture.registry, &DiffOptions::default())
                    .expect("diffs")
            },
            BatchSize::LargeInput,
        )
    });
    group.bench_function(id("diff_no_op"), |bench| {
        bench.iter_batched(
            || fixture.desired.clone(),
            |mut desired| {
                let changes = diff::diff(
                    PlanMode::Normal,
                    &mut desired,
                    &fixture.applied.resources,
                    &fixture.registry,
                    &DiffOptions::default(),
                )
                .expect("diffs");
                assert!(changes.iter().all(|change| change.action == tenancy::plan::Action::NoOp));
                changes
            },
            BatchSize::LargeInput,
        )
    });
    group.bench_function(id("refresh"), |bench| {
        bench.iter(|| {
            runtime
                .block_on(refresh::refresh(&fixture.applied, &fixture.registry))
                .expect("refreshes")
        })
    });
}

/// Text and JSON rendering of the plan from empty state.
fn bench_render(group: &mut Group<'_>, fixture: &Fixture) {
    let id = |name: &str| BenchmarkId::new(name, fixture.resources);
    let options = render::TextOptions::default();
    group.bench_function(id("render_text"), |bench| {
        bench.iter(|| render::render_text(&fixture.create_plan, &options))
    });
    group.bench_function(id("plan_json"), |bench| {
        bench.iter(|| serde_json::to_string_pretty(&render::plan_json(&fixture.create_plan)).expect("encodes"))
    });
}

criterion_group!(benches, bench_steps);
criterion_main!(benches);
