//! Apply: walks the plan's changes in dependency order with bounded
//! parallelism and records every finished resource as it finishes.
//!
//! Creates and updates wait for the changes of what they depend on; deletes
//! wait for the deletes of what depends on them. A failed change skips its
//! dependents while independent branches finish. Cancellation stops the
//! scheduling of new work and lets running operations finish.

mod schedule;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tenancy_sdk::{Attrs, Operation, Provider, ProviderError};
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;

use crate::plan::model::{Action, Plan, ResourceChange};
use crate::registry::Registry;
use crate::state::strings::StringTable;
use crate::state::{ResourceState, State};
use schedule::{Op, Phase, Scheduler};

/// One change to recorded state, persisted as soon as a resource finishes.
#[derive(Debug, Clone)]
pub enum Recorded {
    /// The resource exists with these attributes.
    Upsert(ResourceState),
    /// The resource no longer exists.
    Remove(String),
}

/// A durable sink for finished resources, written in batches during apply.
pub trait Persist: Send {
    /// Durably records the changes, in order.
    fn persist(&mut self, changes: &[Recorded]) -> Result<(), String>;
}

/// Receives progress events; the engine never prints.
pub trait Reporter: Send + Sync {
    /// Reports that a change started.
    fn started(&self, change: &ResourceChange);
    /// Reports that a change finished.
    fn finished(&self, change: &ResourceChange, elapsed: Duration);
    /// Reports that a change failed.
    fn failed(&self, change: &ResourceChange, elapsed: Duration, error: &ApplyError);
    /// Reports that a change was skipped because a change it depends on failed.
    fn skipped(&self, change: &ResourceChange, failed_dependency: &str);
}

/// A failed change.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{action} of `{address}` failed: {message}")]
pub struct ApplyError {
    /// The resource address.
    pub address: String,
    /// The verb of the failed operation.
    pub action: &'static str,
    /// The provider's message.
    pub message: String,
    /// The provider's hint.
    pub hint: Option<String>,
}

/// Options of one apply.
#[derive(Debug, Clone)]
pub struct ApplyOptions {
    /// Maximum number of changes in flight.
    pub parallelism: usize,
}

/// The result of an apply.
#[derive(Debug)]
pub struct ApplyOutcome {
    /// State with every finished change applied.
    pub state: State,
    /// Counts of finished changes by action.
    pub done: HashMap<Action, usize>,
    /// Failed changes.
    pub errors: Vec<ApplyError>,
    /// Addresses skipped because a dependency failed.
    pub skipped: Vec<String>,
    /// Addresses not started because apply was interrupted.
    pub not_started: Vec<String>,
    /// Whether apply was interrupted.
    pub interrupted: bool,
    /// Time spent inside provider calls, summed over all changes.
    pub provider_time: Duration,
}

/// Failure to persist state during apply: apply stops at once.
#[derive(Debug, thiserror::Error)]
#[error("failed to record state: {0}")]
pub struct PersistError(pub String);

/// Returns the addresses of changes that can never start because they wait
/// on each other in a cycle, in plan order, or an empty list when every
/// change can run. A cycle comes from recorded dependencies, such as two
/// resources that each depended on the other in earlier applies.
pub fn blocked_by_cycle(plan: &Plan) -> Vec<String> {
    let mut scheduler = Scheduler::new(plan);
    let mut ready = scheduler.initially_ready();
    let mut done = vec![false; scheduler.ops.len()];
    while let Some(index) = ready.pop() {
        done[index] = true;
        scheduler.release(index, &mut ready);
    }
    let mut blocked: Vec<String> = Vec::new();
    for (index, op) in scheduler.ops.iter().enumerate() {
        let address = op.change.address.as_str();
        if !done[index] && blocked.last().map(String::as_str) != Some(address) {
            blocked.push(address.to_string());
        }
    }
    blocked
}

/// Records the configured dependencies of resources that the plan leaves
/// unchanged, so state never keeps an order the configuration dropped.
/// Returns the resources whose dependencies changed.
pub fn refresh_dependencies(plan: &Plan, state: &mut State) -> Vec<ResourceState> {
    let mut updated = Vec::new();
    for change in plan.changes.iter().filter(|change| change.action == Action::NoOp) {
        let Some(resource) = state.resources.get_mut(&change.address) else {
            continue;
        };
        if *resource.dependencies != *change.depends_on {
            resource.dependencies = change.depends_on.to_vec();
            updated.push(resource.clone());
        }
    }
    updated
}

/// Removes from `state` the resources that refresh found deleted outside
/// tenancy and that the plan does not create again, such as a deleted
/// object whose configuration is gone too, or any deleted object in a
/// destroy plan. Returns their addresses.
pub fn forget_deleted(plan: &Plan, state: &mut State) -> Vec<String> {
    let mut forgotten = Vec::new();
    for entry in plan.drift.iter().filter(|entry| entry.after.is_none()) {
        let planned = plan
            .changes
            .binary_search_by(|change| change.address.as_str().cmp(&entry.address))
            .is_ok();
        if !planned && state.resources.remove(entry.address.as_str()).is_some() {
            forgotten.push(entry.address.clone());
        }
    }
    forgotten
}

/// The progress of one apply: what is ready, blocked, started and running.
struct Walk {
    /// Changes whose dependencies have finished, popped from the end.
    ready: Vec<usize>,
    /// Changes skipped because a dependency failed.
    blocked: Vec<bool>,
    started: Vec<bool>,
    tasks: JoinSet<TaskResult>,
    parallelism: usize,
}

impl Walk {
    /// Starts ready changes until `parallelism` are in flight and returns
    /// the positions started, for the caller to report.
    fn start_ready(
        &mut self,
        scheduler: &Scheduler<'_>,
        planned: &Planned,
        state: &State,
        registry: &Registry,
    ) -> Vec<usize> {
        let mut started = Vec::new();
        while self.tasks.len() < self.parallelism {
            let Some(index) = self.ready.pop() else { break };
            if self.blocked[index] {
                continue;
            }
            self.started[index] = true;
            let op = scheduler.ops[index];
            let resolved = resolve_refs(op.change, planned.get(op), state);
            self.tasks.spawn(run_change(index, resolved, op.phase, registry_handle(registry, op.change)));
            started.push(index);
        }
        started
    }
}

struct TaskResult {
    index: usize,
    elapsed: Duration,
    records: Vec<Recorded>,
    error: Option<ApplyError>,
}

/// The planned values that an apply sends to providers: the plan's own, or
/// values taken out of the plan, each dropped once its change is applied.
struct Planned {
    /// The values taken out of the plan, by change position, or `None` to
    /// read them from the plan.
    owned: Option<Vec<Option<Attrs>>>,
}

impl Planned {
    fn get(&self, op: Op<'_>) -> Option<Attrs> {
        match &self.owned {
            Some(values) => values[op.position as usize].clone(),
            None => op.change.after.clone(),
        }
    }

    /// Drops the planned values of an applied change, when they were taken.
    fn release(&mut self, op: Op<'_>) {
        if let Some(values) = &mut self.owned {
            values[op.position as usize] = None;
        }
    }
}

/// Applies a plan to `state`.
///
/// Returns an error only when state cannot be persisted; provider failures
/// are collected in the outcome.
pub async fn apply(
    plan: &Plan,
    state: State,
    registry: &Registry,
    persist: &mut dyn Persist,
    reporter: &dyn Reporter,
    options: &ApplyOptions,
    cancel: watch::Receiver<bool>,
) -> Result<ApplyOutcome, PersistError> {
    let planned = Planned { owned: None };
    apply_with(plan, planned, state, registry, persist, reporter, options, cancel).await
}

/// Applies a plan as [`apply`] does, but takes the planned values out of
/// `plan` and drops each once its change is applied, so they are not kept
/// beside the values that providers return. Every other field of `plan`
/// stays.
pub async fn apply_taking_planned(
    plan: &mut Plan,
    state: State,
    registry: &Registry,
    persist: &mut dyn Persist,
    reporter: &dyn Reporter,
    options: &ApplyOptions,
    cancel: watch::Receiver<bool>,
) -> Result<ApplyOutcome, PersistError> {
    let owned = plan.changes.iter_mut().map(|change| change.after.take()).collect();
    let planned = Planned { owned: Some(owned) };
    apply_with(plan, planned, state, registry, persist, reporter, options, cancel).await
}

#[allow(clippy::too_many_arguments)]
async fn apply_with(
    plan: &Plan,
    mut planned: Planned,
    mut state: State,
    registry: &Registry,
    persist: &mut dyn Persist,
    reporter: &dyn Reporter,
    options: &ApplyOptions,
    mut cancel: watch::Receiver<bool>,
) -> Result<ApplyOutcome, PersistError> {
    let mut refreshed: Vec<Recorded> = refresh_dependencies(plan, &mut state)
        .into_iter()
        .map(Recorded::Upsert)
        .collect();
    refreshed.extend(forget_deleted(plan, &mut state).into_iter().map(Recorded::Remove));
    if !refreshed.is_empty() {
        persist.persist(&refreshed).map_err(PersistError)?;
    }

    // The values providers return repeat many strings across resources,
    // such as a tenant's id in each of its resources. The state keeps one
    // copy of each. Providers build their results on other threads, among
    // their own short-lived values, so the state keeps a copy made on this
    // thread. The results themselves kept the other threads' pages
    // resident: about 6 MiB more at the end of an apply of 100,000
    // resources.
    let mut strings = StringTable::new();
    let mut scheduler = Scheduler::new(plan);
    let mut walk = Walk {
        ready: scheduler.initially_ready(),
        blocked: vec![false; scheduler.ops.len()],
        started: vec![false; scheduler.ops.len()],
        tasks: JoinSet::new(),
        parallelism: options.parallelism.max(1),
    };
    let mut outcome = ApplyOutcome {
        state: State::new(),
        done: HashMap::new(),
        errors: Vec::new(),
        skipped: Vec::new(),
        not_started: Vec::new(),
        interrupted: *cancel.borrow(),
        provider_time: Duration::ZERO,
    };

    loop {
        if !outcome.interrupted {
            for index in walk.start_ready(&scheduler, &planned, &state, registry) {
                report_started(reporter, scheduler.ops[index]);
            }
        }
        if walk.tasks.is_empty() {
            break;
        }

        let first = tokio::select! {
            joined = walk.tasks.join_next() => joined,
            _ = cancel.changed(), if !outcome.interrupted => {
                outcome.interrupted = true;
                continue;
            }
        };
        let mut results = Vec::new();
        results.extend(first.map(unwrap_task));
        while let Some(joined) = walk.tasks.try_join_next() {
            results.push(unwrap_task(joined));
        }

        // Work that was ready before this batch does not depend on it, so it
        // starts now and runs while the batch is made durable; dependents of
        // the batch start only after the persist below. Reports wait for the
        // persist too, so that a reporter blocked on a full terminal never
        // holds finished work back from the journal.
        let started_early = if outcome.interrupted {
            Vec::new()
        } else {
            walk.start_ready(&scheduler, &planned, &state, registry)
        };
        let records: Vec<Recorded> = results.iter_mut().flat_map(|result| result.records.drain(..)).collect();
        persist.persist(&records).map_err(PersistError)?;
        for index in started_early {
            report_started(reporter, scheduler.ops[index]);
        }
        for record in records {
            match record {
                Recorded::Upsert(mut resource) => {
                    resource.attrs = strings.copy_attrs(&resource.attrs);
                    state.resources.insert(resource.address.clone(), resource);
                }
                Recorded::Remove(address) => {
                    state.resources.remove(address.as_str());
                }
            }
        }

        for result in results {
            let op = scheduler.ops[result.index];
            let change = op.change;
            outcome.provider_time += result.elapsed;
            match result.error {
                None => {
                    if op.phase != Phase::DeleteHalf {
                        reporter.finished(change, result.elapsed);
                        *outcome.done.entry(change.action).or_default() += 1;
                        planned.release(op);
                    }
                    scheduler.release(result.index, &mut walk.ready);
                }
                Some(error) => {
                    reporter.failed(change, result.elapsed, &error);
                    for dependent in scheduler.transitive_dependents(result.index) {
                        let skipped = scheduler.ops[dependent];
                        let first_half = skipped.phase != Phase::CreateHalf || !walk.blocked[dependent - 1];
                        let same_resource = skipped.change.address == change.address;
                        if !std::mem::replace(&mut walk.blocked[dependent], true) && first_half && !same_resource {
                            reporter.skipped(skipped.change, &change.address);
                            outcome.skipped.push(skipped.change.address.to_string());
                        }
                    }
                    outcome.errors.push(error);
                }
            }
        }
    }

    for (index, op) in scheduler.ops.iter().enumerate() {
        let counted = op.phase != Phase::CreateHalf || walk.started[index - 1];
        if !walk.started[index] && !walk.blocked[index] && counted {
            outcome.not_started.push(op.change.address.to_string());
        }
    }
    outcome.state = state;
    Ok(outcome)
}

/// Returns the change with `planned` as its planned values, and attributes
/// from other resources filled in from state, where those resources have
/// finished by now.
fn resolve_refs(change: &ResourceChange, planned: Option<Attrs>, state: &State) -> ResourceChange {
    let mut resolved = change.clone();
    resolved.after = planned;
    if let Some(after) = resolved.after.as_mut() {
        for reference in &change.refs {
            let value = state
                .resources
                .get(reference.from.as_str())
                .and_then(|resource| resource.attrs.get(&reference.from_attr));
            if let Some(value) = value {
                after.insert(reference.attr.clone(), value.clone());
            }
        }
    }
    resolved
}

fn unwrap_task(joined: Result<TaskResult, tokio::task::JoinError>) -> TaskResult {
    match joined {
        Ok(result) => result,
        Err(error) => std::panic::resume_unwind(error.into_panic()),
    }
}

/// The provider handle a task needs, cloned out of the registry so tasks
/// own what they use.
struct Handle {
    provider: Option<Arc<dyn Provider>>,
    permits: Arc<Semaphore>,
    sensitive: Vec<&'static str>,
}

fn registry_handle(registry: &Registry, change: &ResourceChange) -> Handle {
    match registry.get(&change.provider) {
        Some(instance) => Handle {
            provider: Some(instance.provider.clone()),
            permits: instance.permits.clone(),
            sensitive: instance
                .schemas
                .get(change.type_name.as_str())
                .map(|schema| {
                    schema
                        .attributes
                        .iter()
                        .filter(|attribute| attribute.sensitive)
                        .map(|attribute| attribute.name)
                        .collect()
                })
                .unwrap_or_default(),
        },
        None => Handle {
            provider: None,
            permits: Arc::new(Semaphore::new(1)),
            sensitive: Vec::new(),
        },
    }
}

fn report_started(reporter: &dyn Reporter, op: Op<'_>) {
    if op.phase != Phase::CreateHalf {
        reporter.started(op.change);
    }
}

async fn run_change(index: usize, change: ResourceChange, phase: Phase, handle: Handle) -> TaskResult {
    let mut result = TaskResult {
        index,
        elapsed: Duration::ZERO,
        records: Vec::new(),
        error: None,
    };
    let Some(provider) = handle.provider.clone() else {
        result.error = Some(ApplyError {
            address: change.address.to_string(),
            action: verb(change.action),
            message: format!("provider `{}` is not configured", change.provider),
            hint: Some("Run `tenancy plan` again to configure the providers this plan needs.".to_owned()),
        });
        return result;
    };
    let Ok(_permit) = handle.permits.acquire().await else {
        return result;
    };
    let begin = Instant::now();
    let outcome = execute(&*provider, &change, phase, &mut result.records, &handle.sensitive).await;
    result.elapsed = begin.elapsed();
    if let Err((action, error)) = outcome {
        let known = change.before.iter().chain(&change.after).flat_map(|attrs| attrs.values());
        result.error = Some(ApplyError {
            address: change.address.to_string(),
            action,
            message: tenancy_sdk::redact_sensitive(&error.message, known),
            hint: error.hint,
        });
    }
    result
}

async fn execute(
    provider: &dyn Provider,
    change: &ResourceChange,
    phase: Phase,
    records: &mut Vec<Recorded>,
    sensitive: &[&'static str],
) -> Result<(), (&'static str, ProviderError)> {
    let empty = Attrs::new();
    let before = change.before.as_ref().unwrap_or(&empty);
    let after = change.after.as_ref().unwrap_or(&empty);
    let type_name = change.type_name.as_str();
    let address = change.address.as_str();

    if matches!(change.action, Action::Delete | Action::Replace) && phase != Phase::CreateHalf {
        provider
            .apply(type_name, address, Operation::Delete { prior: before })
            .await
            .map_err(|error| ("delete", error))?;
        records.push(Recorded::Remove(change.address.to_string()));
    }
    if phase == Phase::DeleteHalf {
        return Ok(());
    }
    let operation = match change.action {
        Action::Create | Action::Replace => Operation::Create { planned: after },
        Action::Update => Operation::Update {
            prior: before,
            planned: after,
        },
        Action::Delete | Action::NoOp => return Ok(()),
    };
    let verb = if change.action == Action::Update { "update" } else { "create" };
    let attrs = provider
        .apply(type_name, address, operation)
        .await
        .map_err(|error| (verb, error))?;
    if let Some(attrs) = attrs {
        records.push(Recorded::Upsert(ResourceState {
            address: change.address.clone(),
            type_name: change.type_name.clone(),
            provider: change.provider.clone(),
            attrs: {
                let mut attrs = mark_attrs(attrs, sensitive);
                crate::plan::refresh::carry_marks(&mut attrs, after);
                attrs
            },
            dependencies: change.depends_on.to_vec(),
        }));
    }
    Ok(())
}

fn mark_attrs(mut attrs: Attrs, sensitive: &[&'static str]) -> Attrs {
    for name in sensitive {
        if let Some(value) = attrs.get_mut(*name) {
            if !value.is_null() && !value.is_sensitive() {
                *value = tenancy_sdk::Value::sensitive(std::mem::take(value));
            }
        }
    }
    attrs
}

fn verb(action: Action) -> &'static str {
    match action {
        Action::Create | Action::Replace => "create",
        Action::Update => "update",
        Action::Delete => "delete",
        Action::NoOp => "read",
    }
}

/// Returns a reporter that ignores every event.
pub fn silent_reporter() -> impl Reporter {
    struct Silent;
    impl Reporter for Silent {
        fn started(&self, _: &ResourceChange) {}
        fn finished(&self, _: &ResourceChange, _: Duration) {}
        fn failed(&self, _: &ResourceChange, _: Duration, _: &ApplyError) {}
        fn skipped(&self, _: &ResourceChange, _: &str) {}
    }
    Silent
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::sync::Mutex;

    use async_trait::async_trait;
    use tenancy_sdk::{AttrType, AttributeSchema, ImportRequest, ProviderContext, ProviderResult, ReadRequest, ResourceSchema, Value};

    use super::*;
    use crate::plan::model::{PlanBase, PlanMode};

    /// A provider whose objects live in memory, with a fixed latency per call
    /// and addresses that always fail.
    struct MemoryProvider {
        latency: Duration,
        failing: Vec<String>,
        calls: Arc<Mutex<Vec<String>>>,
    }

    #[async_trait]
    impl Provider for MemoryProvider {
        fn type_name(&self) -> &'static str {
            "memory"
        }

        fn schemas(&self) -> Vec<ResourceSchema> {
            vec![ResourceSchema {
                type_name: "memory_object",
                description: "An object in memory.",
                attributes: vec![AttributeSchema::optional("name", AttrType::String, "Name.")],
            }]
        }

        fn max_concurrency(&self) -> usize {
            64
        }

        async fn configure(&mut self, _: &Attrs, _: &ProviderContext) -> ProviderResult<()> {
            Ok(())
        }

        async fn read(&self, requests: &[ReadRequest]) -> Vec<ProviderResult<Option<Attrs>>> {
            requests.iter().map(|request| Ok(Some(request.prior.clone()))).collect()
        }

        async fn apply(&self, _: &str, address: &str, operation: Operation<'_>) -> ProviderResult<Option<Attrs>> {
            tokio::time::sleep(self.latency).await;
            self.calls.lock().unwrap().push(address.to_owned());
            if self.failing.iter().any(|failing| failing == address) {
                return Err(ProviderError::other(format!("`{address}` is set up to fail")));
            }
            Ok(match operation {
                Operation::Create { planned } | Operation::Update { planned, .. } => Some(planned.clone()),
                Operation::Delete { .. } => None,
            })
        }

        async fn import(&self, request: &ImportRequest) -> ProviderResult<Attrs> {
            Err(ProviderError::other(format!("cannot import `{}`", request.id)))
        }
    }

    fn change(address: &str, action: Action, depends_on: &[&str]) -> ResourceChange {
        let attrs = Attrs::from([("name".to_owned(), Value::string(address))]);
        ResourceChange {
            address: address.to_owned().into(),
            type_name: "memory_object".into(),
            provider: "memory".into(),
            action,
            reason: None,
            before: (action != Action::Create).then(|| attrs.clone()),
            after: (action != Action::Delete).then_some(attrs),
            replace_paths: Vec::new().into(),
            depends_on: depends_on.iter().map(|address| tenancy_sdk::ArcStr::from(*address)).collect(),
            refs: Vec::new().into(),
            prior_depends_on: Vec::new().into(),
        }
    }

    fn plan(changes: Vec<ResourceChange>) -> Plan {
        Plan {
            mode: PlanMode::Normal,
            base: PlanBase {
                lineage: None,
                serial: 0,
                config_digest: String::new(),
            },
            changes,
            drift: Vec::new(),
            outputs: Vec::new(),
            targets: Vec::new(),
            created_at: String::new(),
            variables: BTreeMap::new(),
        }
    }

    fn registry(latency: Duration, failing: &[&str]) -> (Registry, Arc<Mutex<Vec<String>>>) {
        let mut registry = Registry::default();
        let calls = Arc::new(Mutex::new(Vec::new()));
        let provider = MemoryProvider {
            latency,
            failing: failing.iter().map(|address| (*address).to_owned()).collect(),
            calls: calls.clone(),
        };
        registry.insert("memory", Box::new(provider));
        (registry, calls)
    }

    #[derive(Default)]
    struct Batches(Vec<usize>);

    impl Persist for Batches {
        fn persist(&mut self, changes: &[Recorded]) -> Result<(), String> {
            self.0.push(changes.len());
            Ok(())
        }
    }

    fn no_cancel() -> watch::Receiver<bool> {
        let (sender, receiver) = watch::channel(false);
        std::mem::forget(sender);
        receiver
    }

    async fn run(plan: &Plan, registry: &Registry, parallelism: usize, cancel: watch::Receiver<bool>) -> ApplyOutcome {
        let mut batches = Batches::default();
        let options = ApplyOptions { parallelism };
        apply(plan, State::new(), registry, &mut batches, &silent_reporter(), &options, cancel)
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn taking_planned_values_applies_the_same() {
        let changes = vec![
            change("tenant.a", Action::Create, &[]),
            change("tenant.a.database.sqlite", Action::Create, &["tenant.a"]),
            change("tenant.b", Action::Update, &[]),
            change("tenant.c", Action::Replace, &[]),
        ];
        let (registry, _) = registry(Duration::ZERO, &[]);
        let borrowed = run(&plan(changes.clone()), &registry, 2, no_cancel()).await;

        let mut taken_plan = plan(changes);
        let options = ApplyOptions { parallelism: 2 };
        let mut batches = Batches::default();
        let reporter = silent_reporter();
        let applying = apply_taking_planned(&mut taken_plan, State::new(), &registry, &mut batches, &reporter, &options, no_cancel());
        let taken = applying.await.unwrap();

        assert!(taken.errors.is_empty(), "{:?}", taken.errors);
        assert_eq!(taken.state.resources.len(), 4);
        assert_eq!(taken.state.resources, borrowed.state.resources);
        assert!(taken_plan.changes.iter().all(|change| change.after.is_none()));
        assert_eq!(taken_plan.changes[3].action, Action::Replace);
    }

    #[tokio::test]
    async fn failed_change_skips_dependents_only() {
        let plan = plan(vec![
            change("tenant.a", Action::Create, &[]),
            change("tenant.a.database.sqlite", Action::Create, &["tenant.a"]),
            change("tenant.a.monitoring", Action::Create, &["tenant.a.database.sqlite"]),
            change("tenant.b", Action::Create, &[]),
            change("tenant.b.database.sqlite", Action::Create, &["tenant.b"]),
        ]);
        let (registry, _) = registry(Duration::ZERO, &["tenant.a"]);

        let outcome = run(&plan, &registry, 4, no_cancel()).await;

        assert_eq!(outcome.errors.len(), 1);
        assert_eq!(outcome.errors[0].address, "tenant.a");
        assert_eq!(outcome.skipped.len(), 2);
        assert!(outcome.state.resources.contains_key("tenant.b.database.sqlite"));
        assert!(!outcome.state.resources.contains_key("tenant.a.database.sqlite"));
    }

    #[tokio::test]
    async fn creates_follow_dependencies_and_deletes_reverse_them() {
        let plan = plan(vec![
            change("tenant.a", Action::Create, &["tier.pro"]),
            change("tier.pro", Action::Create, &[]),
            change("tenant.old", Action::Delete, &[]),
            change("tenant.old.database.sqlite", Action::Delete, &["tenant.old"]),
        ]);
        let (registry, calls) = registry(Duration::from_millis(2), &[]);

        let outcome = run(&plan, &registry, 1, no_cancel()).await;

        assert!(outcome.errors.is_empty());
        let calls = calls.lock().unwrap().clone();
        let position = |address: &str| calls.iter().position(|call| call == address).unwrap();
        assert!(position("tier.pro") < position("tenant.a"));
        assert!(position("tenant.old.database.sqlite") < position("tenant.old"));
    }

    #[tokio::test]
    async fn replacement_deletes_dependents_first() {
        let plan = plan(vec![
            change("tenant.a.network.aws", Action::Replace, &[]),
            change("tenant.a.network.aws.subnets", Action::Replace, &["tenant.a.network.aws"]),
        ]);
        let (registry, calls) = registry(Duration::from_millis(2), &[]);

        let outcome = run(&plan, &registry, 4, no_cancel()).await;

        assert!(outcome.errors.is_empty());
        assert_eq!(outcome.done.get(&Action::Replace), Some(&2));
        let calls = calls.lock().unwrap().clone();
        let expected = [
            "tenant.a.network.aws.subnets",
            "tenant.a.network.aws",
            "tenant.a.network.aws",
            "tenant.a.network.aws.subnets",
        ];
        assert_eq!(calls, expected);
    }

    #[tokio::test]
    async fn cancellation_stops_scheduling_and_keeps_finished_work() {
        let changes = (0..50).map(|index| change(&format!("tenant.t{index:02}"), Action::Create, &[])).collect();
        let plan = plan(changes);
        let (registry, _) = registry(Duration::from_millis(20), &[]);
        let (sender, receiver) = watch::channel(false);

        let cancel_later = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(50)).await;
            sender.send(true).unwrap();
            sender
        });
        let outcome = run(&plan, &registry, 4, receiver).await;
        drop(cancel_later.await);

        assert!(outcome.interrupted);
        assert!(!outcome.not_started.is_empty());
        let finished = outcome.state.resources.len();
        assert!(finished > 0 && finished < 50, "{finished} finished");
        assert_eq!(finished + outcome.not_started.len(), 50);
    }

    #[tokio::test]
    async fn parallelism_bounds_wall_time() {
        let changes = (0..40).map(|index| change(&format!("tenant.t{index:02}"), Action::Create, &[])).collect();
        let plan = plan(changes);
        let (registry, _) = registry(Duration::from_millis(25), &[]);

        let started = Instant::now();
        let outcome = run(&plan, &registry, 10, no_cancel()).await;
        let elapsed = started.elapsed();

        assert_eq!(outcome.state.resources.len(), 40);
        // 40 changes of 25 ms at 10 at a time need at least 100 ms, and far
        // less than the 1 s they would take one by one.
        assert!(elapsed >= Duration::from_millis(100), "{elapsed:?}");
        assert!(elapsed < Duration::from_millis(800), "{elapsed:?}");
    }

    #[test]
    fn cycle_blocks_only_its_members() {
        let mut first = change("tenant.a", Action::Delete, &["tenant.b"]);
        first.after = None;
        let mut second = change("tenant.b", Action::Delete, &["tenant.a"]);
        second.after = None;
        let mut free = change("tier.free", Action::Delete, &[]);
        free.after = None;

        let blocked = blocked_by_cycle(&plan(vec![first, second, free]));

        assert_eq!(blocked, ["tenant.a", "tenant.b"]);
    }

    #[test]
    fn unchanged_resources_take_new_dependencies() {
        let mut state = State::new();
        let mut recorded = ResourceState::new("tenant.a", "catalog_tenant", "memory", Attrs::new());
        recorded.dependencies = vec!["tenant.b".to_owned().into()];
        state.upsert_resource(recorded);
        let unchanged = change("tenant.a", Action::NoOp, &["tier.free"]);

        let updated = refresh_dependencies(&plan(vec![unchanged]), &mut state);

        assert_eq!(updated.len(), 1);
        assert_eq!(state.resources["tenant.a"].dependencies, ["tier.free"]);
    }
}
