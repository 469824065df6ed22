//! Diff: compares desired resources with refreshed state and chooses an
//! action for each.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use tenancy_sdk::{ArcStr, Attrs, Name, ThinVec, Value};

use crate::lower::{Desired, DesiredResource};
use crate::plan::model::{Action, ActionReason, AttrRef, PlanMode, ResourceChange};
use crate::parallel::Slots;
use crate::plan::refresh::same_attrs;
use crate::registry::{Instance, Registry};
use crate::state::ResourceState;

/// Options that narrow or force parts of a plan.
#[derive(Debug, Clone, Default)]
pub struct DiffOptions {
    /// Plan only these addresses, what they own and what they depend on.
    pub targets: Vec<String>,
    /// Replace these addresses even if nothing changed.
    pub replace: Vec<String>,
}

/// A provider's refusal to plan one resource.
#[derive(Debug, thiserror::Error)]
#[error("failed to plan `{address}`: {message}")]
pub struct DiffError {
    /// The resource address.
    pub address: String,
    /// The provider's message.
    pub message: String,
}

/// Returns one change per resource of `desired` and `current`, sorted by
/// address.
///
/// The diff takes each resource's configuration and drops it once the
/// resource is planned, and moves the dependencies, owner and references
/// of each planned resource into its change, so a plan keeps one copy of
/// them. The resources of `desired` keep their addresses, types, providers
/// and spans, and its index stays whole.
pub fn diff<'a>(
    mode: PlanMode,
    desired: &mut Desired,
    current: impl Into<Current<'a>>,
    registry: &Registry,
    options: &DiffOptions,
) -> Result<Vec<ResourceChange>, Vec<DiffError>> {
    diff_on(mode, desired, current.into(), registry, options, crate::parallel::threads())
}

/// The resources a diff compares with: recorded state, seen through the
/// changes that refresh found. Resources that refresh read unchanged are
/// not copied: they read as recorded.
#[derive(Clone, Copy)]
pub struct Current<'a> {
    recorded: &'a BTreeMap<ArcStr, ResourceState>,
    refreshed: Option<&'a HashMap<String, Option<ResourceState>>>,
}

impl<'a> Current<'a> {
    /// Returns recorded state with the changes of a refresh: a changed
    /// resource, or `None` for an object that is gone, by address.
    pub fn refreshed(
        recorded: &'a BTreeMap<ArcStr, ResourceState>,
        changed: &'a HashMap<String, Option<ResourceState>>,
    ) -> Current<'a> {
        Current {
            recorded,
            refreshed: Some(changed).filter(|changed| !changed.is_empty()),
        }
    }

    /// Returns the current resource at an address.
    pub fn get(&self, address: &str) -> Option<&'a ResourceState> {
        match self.refreshed.and_then(|changed| changed.get(address)) {
            Some(changed) => changed.as_ref(),
            None => self.recorded.get(address),
        }
    }

    /// Returns every current resource with its address, in address order.
    pub fn iter(&self) -> impl Iterator<Item = (&'a ArcStr, &'a ResourceState)> + use<'a> {
        let refreshed = self.refreshed;
        self.recorded.iter().filter_map(move |(address, recorded)| {
            match refreshed.and_then(|changed| changed.get(address.as_str())) {
                Some(changed) => changed.as_ref().map(|resource| (address, resource)),
                None => Some((address, recorded)),
            }
        })
    }
}

impl<'a> From<&'a BTreeMap<ArcStr, ResourceState>> for Current<'a> {
    fn from(recorded: &'a BTreeMap<ArcStr, ResourceState>) -> Current<'a> {
        Current { recorded, refreshed: None }
    }
}

/// Runs [`diff`] with up to `threads` threads.
fn diff_on(
    mode: PlanMode,
    desired: &mut Desired,
    current: Current<'_>,
    registry: &Registry,
    options: &DiffOptions,
    threads: usize,
) -> Result<Vec<ResourceChange>, Vec<DiffError>> {
    let selected = select_targets(mode, desired, current, &options.targets);
    let replace: HashSet<&str> = options.replace.iter().map(String::as_str).collect();
    let mut changes = Vec::new();
    let mut errors = Vec::new();

    // Deletions come first so the vector of changes can be sized for them.
    let deletes = plan_deletes(mode, desired, current, selected.as_ref());

    if mode == PlanMode::Normal {
        let in_scope: Option<Vec<bool>> = selected.map(|set| {
            let addresses = desired.resources.iter();
            addresses.map(|resource| set.contains(resource.address.as_str())).collect()
        });
        let mut resources: Vec<&mut DesiredResource> = desired
            .resources
            .iter_mut()
            .enumerate()
            .filter(|(position, _)| in_scope.as_ref().is_none_or(|flags| flags[*position]))
            .map(|(_, resource)| resource)
            .collect();
        let has_refs = resources.iter().any(|resource| !resource.refs.is_empty());
        if has_refs || threads < 2 || resources.len() < PARALLEL_DIFF_MIN {
            changes.reserve(resources.len() + deletes.len());
            plan_in_order(&mut resources, current, registry, &replace, &mut changes, &mut errors);
        } else {
            // Without references between resources each plan depends on its
            // resource alone, so chunks are planned on all cores. Each chunk
            // writes its changes straight into the vector of changes while
            // it drops the configurations it has planned. The kernel backs
            // a large vector's pages only once they are written, so the
            // changes take memory about as fast as the configurations give
            // it back, and no second copy of them is made.
            changes.reserve_exact(resources.len() + deletes.len());
            let chunk_errors = crate::parallel::fill_chunks(&mut resources, threads, &mut changes, |_| 1, |chunk, slots| {
                plan_chunk(chunk, current, registry, &replace, slots)
            });
            errors.extend(chunk_errors.into_iter().flatten());
        }
    }

    if changes.is_empty() {
        changes = deletes;
    } else {
        changes.extend(deletes);
    }

    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(sort_by_address(changes))
}

/// Returns a delete for each current resource that the plan removes: in a
/// normal plan each one missing from `desired`, in a destroy plan every
/// one. When `selected` is given, only the resources in it are deleted.
fn plan_deletes(
    mode: PlanMode,
    desired: &Desired,
    current: Current<'_>,
    selected: Option<&HashSet<&str>>,
) -> Vec<ResourceChange> {
    let mut deletes = Vec::new();
    for (address, resource) in current.iter() {
        let keep = mode == PlanMode::Normal && desired.contains(address);
        let in_scope = selected.is_none_or(|set| set.contains(address.as_str()));
        if keep || !in_scope {
            continue;
        }
        let reason = match mode {
            PlanMode::Normal => ActionReason::DeleteBecauseNoResource,
            PlanMode::Destroy => ActionReason::DeleteBecauseDestroy,
        };
        deletes.push(ResourceChange {
            address: address.clone(),
            type_name: resource.type_name,
            provider: resource.provider,
            action: Action::Delete,
            reason: Some(reason),
            before: Some(resource.attrs.clone()),
            after: None,
            replace_paths: ThinVec::new(),
            depends_on: resource.dependencies.as_slice().into(),
            refs: ThinVec::new(),
            prior_depends_on: ThinVec::new(),
        });
    }
    deletes
}

// A change fits in the memory of the desired resource it is planned from,
// so `diff_taking` can plan into the vector of desired resources.
const _: () = assert!(std::mem::size_of::<ResourceChange>() <= std::mem::size_of::<DesiredResource>());
const _: () = assert!(std::mem::align_of::<ResourceChange>() == std::mem::align_of::<DesiredResource>());

/// The number of desired resources from which [`diff_taking`] plans in
/// place. Below it the diff runs on all cores: planning in place on one
/// thread made a plan of 4,000 resources from empty state about 1.5 ms
/// slower, for less than 1 MiB of memory.
const IN_PLACE_DIFF_MIN: usize = 25_000;

/// Returns the changes that [`diff`] returns, and takes `desired` whole.
///
/// A normal plan of [`IN_PLACE_DIFF_MIN`] resources or more, without
/// targets or references, plans on one thread. Each change is written in
/// the place of the desired resource it is planned from, so the changes
/// take no memory beside the resources. Other plans run [`diff`].
pub fn diff_taking<'a>(
    mode: PlanMode,
    mut desired: Desired,
    current: impl Into<Current<'a>>,
    registry: &Registry,
    options: &DiffOptions,
) -> Result<Vec<ResourceChange>, Vec<DiffError>> {
    let current = current.into();
    let has_refs = desired.resources.iter().any(|resource| !resource.refs.is_empty());
    let small = desired.resources.len() < IN_PLACE_DIFF_MIN;
    if mode != PlanMode::Normal || !options.targets.is_empty() || has_refs || small {
        return diff(mode, &mut desired, current, registry, options);
    }

    let deletes = plan_deletes(mode, &desired, current, None);
    let replace: HashSet<&str> = options.replace.iter().map(String::as_str).collect();
    let mut errors = Vec::new();
    let mut instances = InstanceCache::new(registry);
    // Collecting a vector's own iterator through `filter_map` reuses its
    // allocation when the new items are no larger than the old ones.
    let mut changes: Vec<ResourceChange> = desired
        .into_resources()
        .into_iter()
        .filter_map(|mut resource| {
            let config = std::mem::take(&mut resource.config).into_attrs();
            let planned = plan_resource(&mut resource, config, current, &mut instances, &replace);
            planned.map_err(|error| errors.push(error)).ok()
        })
        .collect();
    changes.extend(deletes);

    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(sort_by_address(changes))
}

/// Sorts changes by address. The sort orders positions, and each change
/// then moves once to its place, where sorting the changes themselves
/// would copy each of them many times.
fn sort_by_address(mut changes: Vec<ResourceChange>) -> Vec<ResourceChange> {
    if changes.is_sorted_by(|left, right| left.address <= right.address) {
        return changes;
    }
    // Addresses are unique, so an unstable sort gives the same order.
    let mut order: Vec<usize> = (0..changes.len()).collect();
    order.sort_unstable_by(|&left, &right| changes[left].address.cmp(&changes[right].address));
    let mut rank = vec![0; changes.len()];
    for (position, &index) in order.iter().enumerate() {
        rank[index] = position;
    }
    // Each swap puts the change at `index` where it belongs.
    for index in 0..changes.len() {
        while rank[index] != index {
            let target = rank[index];
            changes.swap(index, target);
            rank.swap(index, target);
        }
    }
    changes
}

/// The number of resources below which the diff stays on one thread.
const PARALLEL_DIFF_MIN: usize = 2048;

/// Plans `resources` in order, appending one change or one error for each.
/// References resolve against the changes appended before them.
fn plan_in_order(
    resources: &mut [&mut DesiredResource],
    current: Current<'_>,
    registry: &Registry,
    replace: &HashSet<&str>,
    changes: &mut Vec<ResourceChange>,
    errors: &mut Vec<DiffError>,
) {
    let has_refs = resources.iter().any(|resource| !resource.refs.is_empty());
    let mut planned_at: HashMap<String, usize> = HashMap::new();
    let mut instances = InstanceCache::new(registry);
    for resource in resources.iter_mut() {
        let config = if resource.refs.is_empty() {
            std::mem::take(&mut resource.config).into_attrs()
        } else {
            resolve_refs(&resource.config.to_attrs(), &resource.refs, changes, &planned_at, current)
        };
        match plan_resource(resource, config, current, &mut instances, replace) {
            Ok(change) => {
                if has_refs {
                    planned_at.insert(change.address.to_string(), changes.len());
                }
                changes.push(change);
            }
            Err(error) => errors.push(error),
        }
    }
}

/// Plans each resource of `chunk`, for resources without references, whose
/// plans do not depend on one another. Pushes the changes to `slots`, in
/// the order of `chunk`, and returns an error for each resource that fails.
fn plan_chunk(
    chunk: &mut [&mut DesiredResource],
    current: Current<'_>,
    registry: &Registry,
    replace: &HashSet<&str>,
    slots: &mut Slots<'_, ResourceChange>,
) -> Vec<DiffError> {
    let mut errors = Vec::new();
    let mut instances = InstanceCache::new(registry);
    for resource in chunk {
        let config = std::mem::take(&mut resource.config).into_attrs();
        match plan_resource(resource, config, current, &mut instances, replace) {
            Ok(change) => slots.push(change),
            Err(error) => errors.push(error),
        }
    }
    errors
}

/// Finds provider instances by name. Resources of one instance come in
/// runs, so the last instance found usually serves the next resource too.
struct InstanceCache<'a> {
    registry: &'a Registry,
    last: Option<(Name, Option<&'a Instance>)>,
}

impl<'a> InstanceCache<'a> {
    fn new(registry: &'a Registry) -> InstanceCache<'a> {
        InstanceCache { registry, last: None }
    }

    fn get(&mut self, name: Name) -> Option<&'a Instance> {
        match self.last {
            Some((last, instance)) if last == name => instance,
            _ => {
                let instance = self.registry.get(name.as_str());
                self.last = Some((name, instance));
                instance
            }
        }
    }
}

/// Plans one resource with its configuration, references already filled.
/// A planned resource's dependencies, owner and references move into its
/// change. A resource that fails to plan keeps them.
fn plan_resource(
    resource: &mut DesiredResource,
    config: Attrs,
    current: Current<'_>,
    instances: &mut InstanceCache<'_>,
    replace: &HashSet<&str>,
) -> Result<ResourceChange, DiffError> {
    let prior = current.get(&resource.address);
    let Some(instance) = instances.get(resource.provider) else {
        return Err(DiffError {
            address: resource.address.to_string(),
            message: format!("provider `{}` is not configured", resource.provider),
        });
    };
    let planned = match instance.provider.plan(&resource.type_name, prior.map(|prior| &prior.attrs), &config) {
        Ok(planned) => planned,
        Err(error) => {
            let known = config.values().chain(prior.into_iter().flat_map(|prior| prior.attrs.values()));
            return Err(DiffError {
                address: resource.address.to_string(),
                message: tenancy_sdk::redact_sensitive(&error.message, known),
            });
        }
    };
    let forced = replace.contains(resource.address.as_str());
    let (action, reason) = choose_action(prior, &planned.planned, &planned.requires_replace, forced);
    let after = match prior {
        // A planned set equal to the prior one shares its map.
        Some(prior) if action == Action::NoOp && planned.planned == prior.attrs => prior.attrs.clone(),
        _ => planned.planned,
    };
    drop(config);
    let prior_depends_on = prior
        .map(|prior| {
            prior
                .dependencies
                .iter()
                .filter(|dependency| !resource.depends_on.contains(dependency))
                .cloned()
                .collect()
        })
        .unwrap_or_default();
    Ok(ResourceChange {
        address: resource.address.clone(),
        type_name: resource.type_name,
        provider: resource.provider,
        action,
        reason,
        before: prior.map(|prior| prior.attrs.clone()),
        after: Some(after),
        replace_paths: planned.requires_replace.into(),
        depends_on: std::mem::take(&mut resource.depends_on).into_boxed_slice(),
        refs: std::mem::take(&mut resource.refs),
        prior_depends_on,
    })
}

/// Fills attributes that come from other resources: the planned value when
/// the other resource keeps it (no-op or update), the recorded value when it
/// is outside the plan, and unknown when it is created or replaced.
fn resolve_refs(
    config: &Attrs,
    refs: &[AttrRef],
    changes: &[ResourceChange],
    planned_at: &HashMap<String, usize>,
    current: Current<'_>,
) -> Attrs {
    let mut config = config.clone();
    for reference in refs {
        let value = match planned_at.get(reference.from.as_str()).map(|&index| &changes[index]) {
            Some(change) if matches!(change.action, Action::NoOp | Action::Update) => change
                .after
                .as_ref()
                .and_then(|after| after.get(&reference.from_attr))
                .cloned()
                .unwrap_or(Value::Unknown),
            Some(_) => Value::Unknown,
            None => current
                .get(&reference.from)
                .and_then(|resource| resource.attrs.get(&reference.from_attr))
                .cloned()
                .unwrap_or(Value::Unknown),
        };
        config.insert(reference.attr.clone(), value);
    }
    config
}

fn choose_action(
    prior: Option<&ResourceState>,
    planned: &Attrs,
    requires_replace: &[String],
    forced: bool,
) -> (Action, Option<ActionReason>) {
    let Some(prior) = prior else {
        return (Action::Create, None);
    };
    if forced {
        return (Action::Replace, Some(ActionReason::ReplaceByRequest));
    }
    if !requires_replace.is_empty() {
        return (Action::Replace, Some(ActionReason::ReplaceBecauseAttribute));
    }
    let unchanged = same_attrs(&prior.attrs, planned) && !planned.values().any(Value::contains_unknown);
    if unchanged {
        (Action::NoOp, None)
    } else {
        (Action::Update, None)
    }
}

/// Returns true when `address` is `target` or something `target` owns.
pub fn is_within(address: &str, target: &str) -> bool {
    address == target
        || address
            .strip_prefix(target)
            .is_some_and(|rest| rest.starts_with('.') || (rest.starts_with('[') && !target.ends_with(']')))
}

/// Resolves `-target` addresses to the set of addresses to plan: each
/// target and everything it owns, plus everything those depend on in a
/// normal plan, or everything that depends on them in a destroy plan (a
/// destroy of a tenant never takes its tier with it).
fn select_targets<'a>(
    mode: PlanMode,
    desired: &'a Desired,
    current: Current<'a>,
    targets: &[String],
) -> Option<HashSet<&'a str>> {
    if targets.is_empty() {
        return None;
    }
    let all: BTreeSet<&str> = desired
        .resources
        .iter()
        .map(|resource| resource.address.as_str())
        .chain(current.iter().map(|(address, _)| address.as_str()))
        .collect();
    let mut dependents: HashMap<&str, Vec<&str>> = HashMap::new();
    if mode == PlanMode::Destroy {
        for (_, resource) in current.iter() {
            for dependency in &resource.dependencies {
                dependents.entry(dependency.as_str()).or_default().push(resource.address.as_str());
            }
        }
    }
    let mut selected = HashSet::new();
    let mut pending: Vec<&str> = all
        .iter()
        .copied()
        .filter(|address| targets.iter().any(|target| is_within(address, target)))
        .collect();
    while let Some(address) = pending.pop() {
        if !selected.insert(address) {
            continue;
        }
        match mode {
            PlanMode::Normal => {
                if let Some(resource) = desired.get(address) {
                    pending.extend(resource.depends_on.iter().map(ArcStr::as_str));
                }
            }
            PlanMode::Destroy => {
                pending.extend(dependents.get(address).into_iter().flatten().copied());
            }
        }
    }
    Some(selected)
}

#[cfg(test)]
mod tests {
    use tenancy_sdk::{
        AttrType, AttributeSchema, ImportRequest, Operation, PlannedChange, Provider, ProviderContext, ProviderError, ProviderResult,
        ReadRequest, ResourceSchema,
    };

    use super::*;
    use crate::lang::source::Span;

    /// Plans the configuration as given, and fails when `n` is -1.
    struct EchoProvider;

    #[async_trait::async_trait]
    impl Provider for EchoProvider {
        fn type_name(&self) -> &'static str {
            "echo"
        }

        fn schemas(&self) -> Vec<ResourceSchema> {
            vec![ResourceSchema {
                type_name: "item",
                description: "An item.",
                attributes: vec![AttributeSchema::required("n", AttrType::Number, "A number.")],
            }]
        }

        async fn configure(&mut self, _: &Attrs, _: &ProviderContext) -> ProviderResult<()> {
            Ok(())
        }

        async fn read(&self, requests: &[ReadRequest]) -> Vec<ProviderResult<Option<Attrs>>> {
            requests.iter().map(|request| Ok(Some(request.prior.clone()))).collect()
        }

        fn plan(&self, _: &str, _: Option<&Attrs>, config: &Attrs) -> ProviderResult<PlannedChange> {
            if config.get("n") == Some(&Value::Number(-1.0)) {
                return Err(ProviderError::invalid("n must not be -1"));
            }
            Ok(PlannedChange {
                planned: config.clone(),
                requires_replace: Vec::new(),
            })
        }

        async fn apply(&self, _: &str, _: &str, _: Operation<'_>) -> ProviderResult<Option<Attrs>> {
            Ok(None)
        }

        async fn import(&self, request: &ImportRequest) -> ProviderResult<Attrs> {
            Err(ProviderError::other(format!("cannot import `{}`", request.id)))
        }
    }

    fn desired(count: usize) -> Desired {
        let mut desired = Desired::default();
        for index in 0..count {
            let number = if index == 1234 { -1.0 } else { index as f64 };
            let added = desired.add(DesiredResource {
                address: format!("item.i{index:05}").into(),
                type_name: "item".into(),
                provider: "echo".into(),
                config: Attrs::from([("n".to_owned(), Value::Number(number))]).into(),
                depends_on: Vec::new(),
                span: Span::new(0, 0..0),
                refs: Vec::new().into(),
            });
            assert!(added.is_ok(), "addresses are unique");
        }
        desired
    }

    /// Returns `count` desired resources that all plan, and a state that
    /// records every seventh of them with another value.
    fn plannable(count: usize) -> (Desired, BTreeMap<ArcStr, ResourceState>) {
        let mut desired = desired(count);
        let fixed = Attrs::from([("n".to_owned(), Value::Number(1234.0))]);
        desired.resources[1234].config = fixed.into();
        let mut current = BTreeMap::new();
        for resource in desired.resources.iter().step_by(7) {
            let mut attrs = resource.config.to_attrs();
            attrs.insert("n".to_owned(), Value::Number(-7.0));
            current.insert(resource.address.clone(), ResourceState::new(resource.address.clone(), "item", "echo", attrs));
        }
        (desired, current)
    }

    #[test]
    fn diff_taking_plans_in_place() {
        let mut registry = Registry::default();
        registry.insert("echo", Box::new(EchoProvider));
        let (desired, current) = plannable(IN_PLACE_DIFF_MIN + 100);
        let options = DiffOptions::default();
        let expected = diff(PlanMode::Normal, &mut desired.clone(), Current::from(&current), &registry, &options);
        let allocation = desired.resources.as_ptr() as usize;

        let changes = diff_taking(PlanMode::Normal, desired, Current::from(&current), &registry, &options).unwrap();

        assert_eq!(changes.as_ptr() as usize, allocation);
        assert_eq!(changes.len(), IN_PLACE_DIFF_MIN + 100);
        assert_eq!(format!("{changes:?}"), format!("{:?}", expected.unwrap()));
    }

    #[test]
    fn diff_taking_adds_deletes() {
        let mut registry = Registry::default();
        registry.insert("echo", Box::new(EchoProvider));
        let (desired, mut current) = plannable(IN_PLACE_DIFF_MIN + 100);
        current.insert("item.gone".into(), ResourceState::new("item.gone", "item", "echo", Attrs::new()));
        current.insert("item.j".into(), ResourceState::new("item.j", "item", "echo", Attrs::new()));
        let options = DiffOptions::default();
        let expected = diff(PlanMode::Normal, &mut desired.clone(), Current::from(&current), &registry, &options);

        let changes = diff_taking(PlanMode::Normal, desired, Current::from(&current), &registry, &options).unwrap();

        assert_eq!(changes.len(), IN_PLACE_DIFF_MIN + 102);
        assert_eq!(changes[0].address, "item.gone");
        assert_eq!(changes[0].action, Action::Delete);
        assert_eq!(format!("{changes:?}"), format!("{:?}", expected.unwrap()));
    }

    #[test]
    fn diff_taking_reports_each_error() {
        let mut registry = Registry::default();
        registry.insert("echo", Box::new(EchoProvider));
        let desired = desired(IN_PLACE_DIFF_MIN + 10);
        let options = DiffOptions::default();
        let current = BTreeMap::new();

        let errors = diff_taking(PlanMode::Normal, desired, Current::from(&current), &registry, &options).unwrap_err();

        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].address, "item.i01234");
    }

    #[test]
    fn shared_configs_plan_as_their_own() {
        let mut registry = Registry::default();
        registry.insert("echo", Box::new(EchoProvider));
        let own = desired(10);
        let mut current = BTreeMap::new();
        for (index, resource) in own.resources.iter().enumerate() {
            let mut attrs = resource.config.to_attrs();
            attrs.insert("id".to_owned(), Value::string(format!("id-{index}")));
            if index == 3 {
                attrs.insert("n".to_owned(), Value::Number(-5.0));
            }
            current.insert(
                resource.address.clone(),
                ResourceState::new(resource.address.clone(), "item", "echo", attrs),
            );
        }
        let mut shared = own.clone();
        for resource in current.values() {
            shared.share_recorded(&resource.address, &resource.attrs);
        }
        let options = DiffOptions::default();

        let expected = diff_on(PlanMode::Normal, &mut own.clone(), Current::from(&current), &registry, &options, 1);
        let planned = diff_on(PlanMode::Normal, &mut shared.clone(), Current::from(&current), &registry, &options, 1);

        let count = shared.resources.iter().filter(|resource| resource.config.is_shared()).count();
        assert_eq!(count, 9);
        assert_eq!(format!("{:?}", planned.unwrap()), format!("{:?}", expected.unwrap()));
    }

    #[test]
    fn parallel_diff_matches_sequential() {
        let mut registry = Registry::default();
        registry.insert("echo", Box::new(EchoProvider));
        let desired = desired(PARALLEL_DIFF_MIN + 100);
        let mut current = BTreeMap::new();
        for resource in desired.resources.iter().step_by(3) {
            let mut attrs = resource.config.to_attrs();
            attrs.insert("n".to_owned(), Value::Number(7.0));
            current.insert(
                resource.address.clone(),
                ResourceState::new(resource.address.clone(), "item", "echo", attrs),
            );
        }
        current.insert(
            "item.gone".to_owned().into(),
            ResourceState::new("item.gone", "item", "echo", Attrs::new()),
        );
        let options = DiffOptions::default();

        let sequential = diff_on(PlanMode::Normal, &mut desired.clone(), Current::from(&current), &registry, &options, 1);
        let parallel = diff_on(PlanMode::Normal, &mut desired.clone(), Current::from(&current), &registry, &options, 3);

        let (sequential, parallel) = (sequential.unwrap_err(), parallel.unwrap_err());
        assert_eq!(sequential.len(), 1);
        assert_eq!(parallel[0].address, sequential[0].address);

        let mut fixed = desired;
        let mut config = fixed.resources[1234].config.to_attrs();
        config.insert("n".to_owned(), Value::Number(1234.0));
        fixed.resources[1234].config = config.into();
        let sequential = diff_on(PlanMode::Normal, &mut fixed.clone(), Current::from(&current), &registry, &options, 1).unwrap();
        let parallel = diff_on(PlanMode::Normal, &mut fixed.clone(), Current::from(&current), &registry, &options, 3).unwrap();
        assert_eq!(format!("{parallel:?}"), format!("{sequential:?}"));
        assert_eq!(parallel.len(), PARALLEL_DIFF_MIN + 101);
    }

    #[test]
    fn sort_by_address_orders_shuffled_changes() {
        let change = |address: String| ResourceChange {
            address: address.into(),
            type_name: "item".into(),
            provider: "echo".into(),
            action: Action::NoOp,
            reason: None,
            before: None,
            after: None,
            replace_paths: Vec::new().into(),
            depends_on: Box::default(),
            refs: Vec::new().into(),
            prior_depends_on: Vec::new().into(),
        };
        // Stepping by 7 through 100 positions visits each one once, out of
        // order.
        let shuffled: Vec<ResourceChange> = (0..100).map(|step| change(format!("item.{:03}", step * 7 % 100))).collect();

        let sorted = sort_by_address(shuffled);

        let addresses: Vec<ArcStr> = sorted.into_iter().map(|change| change.address).collect();
        let expected: Vec<String> = (0..100).map(|number| format!("item.{number:03}")).collect();
        assert_eq!(addresses, expected);
    }

    #[test]
    fn within_covers_owned_addresses_only() {
        assert!(is_within("tenant.acme.database.sqlite", "tenant.acme"));
        assert!(is_within("tenant.studios[\"berlin\"]", "tenant.studios"));
        assert!(!is_within("tenant.acme2", "tenant.acme"));
        assert!(!is_within("tenant.studios[\"b\"]", "tenant.studios[\"a\"]"));
    }
}
