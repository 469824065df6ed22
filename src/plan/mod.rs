//! Planning: refresh, diff and the plan model.
//!
//! [`make_plan`] is the entry point: it applies `moved` blocks to the
//! recorded state, refreshes it through the providers, diffs it with the
//! desired resources and evaluates the outputs.

pub mod diff;
pub mod file;
pub mod model;
pub mod outputs;
pub mod refresh;

pub use model::*;

use std::time::Instant;

use tenancy_sdk::ArcStr;

use crate::config::Config;
use crate::lang::Diagnostics;
use crate::lower::Desired;
use crate::registry::Registry;
use crate::state::State;

/// Options of one plan.
#[derive(Debug, Clone)]
pub struct PlanOptions {
    /// Normal or destroy.
    pub mode: PlanMode,
    /// Whether to read the real objects first (`-refresh=false` skips it).
    pub refresh: bool,
    /// `-target` and `-replace`.
    pub diff: diff::DiffOptions,
    /// SHA-256 of the configuration files.
    pub config_digest: String,
}

/// Failure to make a plan.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    /// Providers failed to read some resources.
    #[error("failed to refresh {} resource(s)", .0.len())]
    Refresh(Vec<refresh::RefreshError>),
    /// Providers failed to plan some resources.
    #[error("failed to plan {} resource(s)", .0.len())]
    Diff(Vec<diff::DiffError>),
    /// Output expressions failed to evaluate.
    #[error("failed to evaluate outputs")]
    Outputs(Diagnostics),
    /// Changes wait on each other in a cycle, so none of them could start.
    #[error("{} change(s) wait on each other in a cycle", .0.len())]
    Cycle(Vec<String>),
}

/// A plan, as [`make_plan`] returns it.
#[derive(Debug)]
pub struct Planned {
    /// The plan.
    pub plan: Plan,
}

/// Makes a plan for `desired` against `state`.
///
/// The diff takes the configuration of each resource in `desired`: see
/// [`diff::diff`]. When no output reads the `tenant` tree, the plan has no
/// further use for the lowered resources, so the diff takes them whole
/// ([`diff::diff_taking`]) and `desired` is left empty.
pub async fn make_plan(
    config: &Config,
    desired: &mut Desired,
    state: &State,
    registry: &Registry,
    options: &PlanOptions,
) -> Result<Planned, PlanError> {
    // Copy state only when `moved` blocks rename something in it.
    let moved_state;
    let base = if config.moved.is_empty() {
        state
    } else {
        let mut renamed = state.clone();
        apply_moved(config, &mut renamed);
        moved_state = renamed;
        &moved_state
    };

    let started = Instant::now();
    let changed;
    let (current, drift) = if options.refresh {
        let refreshed = refresh::refresh(base, registry).await.map_err(PlanError::Refresh)?;
        tracing::debug!(elapsed = ?started.elapsed(), drift = refreshed.drift.len(), "refreshed state");
        changed = refreshed.changed;
        (diff::Current::refreshed(&base.resources, &changed), refreshed.drift)
    } else {
        (diff::Current::from(&base.resources), Vec::new())
    };

    let started = Instant::now();
    let keep_desired = outputs::outputs_read_tenants(config);
    let changes = if keep_desired {
        diff::diff(options.mode, desired, current, registry, &options.diff)
    } else {
        diff::diff_taking(options.mode, std::mem::take(desired), current, registry, &options.diff)
    };
    let mut changes = changes.map_err(PlanError::Diff)?;
    let mut drift = drift;
    if !options.diff.targets.is_empty() {
        // A targeted plan reports drift of the resources it covers only,
        // because it plans nothing for the others.
        drift.retain(|entry| {
            changes
                .binary_search_by(|change| change.address.as_str().cmp(&entry.address))
                .is_ok()
        });
    }
    mark_missing_objects(&mut changes, &drift);
    tracing::debug!(elapsed = ?started.elapsed(), changes = changes.len(), "diffed the configuration with state");
    let started = Instant::now();
    let outputs = match options.mode {
        PlanMode::Normal => outputs::plan_outputs(config, desired, &changes, state).map_err(PlanError::Outputs)?,
        PlanMode::Destroy => outputs::destroy_outputs(state),
    };
    tracing::debug!(elapsed = ?started.elapsed(), outputs = outputs.len(), "planned the outputs");

    let plan = Plan {
        mode: options.mode,
        base: PlanBase {
            lineage: Some(state.lineage.clone()).filter(|_| state.serial > 0 || !state.resources.is_empty()),
            serial: state.serial,
            config_digest: options.config_digest.clone(),
        },
        changes,
        drift,
        outputs,
        targets: options.diff.targets.clone(),
        created_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        variables: config
            .variables
            .iter()
            .map(|(name, variable)| (name.clone(), variable.value.clone()))
            .collect(),
    };
    check_depths(&plan).map_err(PlanError::Diff)?;
    let blocked = crate::apply::blocked_by_cycle(&plan);
    if !blocked.is_empty() {
        return Err(PlanError::Cycle(blocked));
    }
    Ok(Planned { plan })
}

/// Rejects planned values that state could not record, so the plan fails
/// before apply changes anything.
fn check_depths(plan: &Plan) -> Result<(), Vec<diff::DiffError>> {
    let planned = plan.changes.iter().flat_map(|change| {
        let attrs = change.after.iter().flatten();
        attrs.map(move |(name, value)| (change.address.as_str(), name.as_str(), value))
    });
    let outputs = plan
        .outputs
        .iter()
        .filter_map(|output| output.after.as_ref().map(|value| (output.name.as_str(), "value", value)));
    let mut errors = Vec::new();
    for (address, attribute, value) in planned {
        if let Err(error) = crate::state::format::check_depth(address, attribute, value) {
            errors.push(depth_error(address.to_owned(), &error));
        }
    }
    for (name, attribute, value) in outputs {
        let address = format!("output.{name}");
        if let Err(error) = crate::state::format::check_depth(&address, attribute, value) {
            errors.push(depth_error(address, &error));
        }
    }
    if errors.is_empty() { Ok(()) } else { Err(errors) }
}

fn depth_error(address: String, error: &crate::state::StateError) -> diff::DiffError {
    diff::DiffError {
        address,
        message: format!("{error}. {}", error.hint().unwrap_or_default()),
    }
}

/// Marks creates of objects that refresh found deleted, so the plan says why.
fn mark_missing_objects(changes: &mut [ResourceChange], drift: &[Drift]) {
    for change in changes.iter_mut().filter(|change| change.action == Action::Create) {
        let deleted = drift
            .binary_search_by(|entry| entry.address.as_str().cmp(&change.address))
            .is_ok_and(|position| drift[position].after.is_none());
        if deleted {
            change.reason = Some(ActionReason::CreateBecauseMissing);
        }
    }
}

/// Renames state addresses as `moved` blocks say, with everything each
/// moved address owns, unless the new address is taken already.
pub fn apply_moved(config: &Config, state: &mut State) {
    for moved in &config.moved {
        // A move keeps the kind of object: a tenant cannot become a tier.
        if moved.from.split(['.', '[']).next() != moved.to.split(['.', '[']).next() {
            continue;
        }
        let renames: Vec<(ArcStr, String)> = state
            .resources
            .keys()
            .filter(|address| diff::is_within(address, &moved.from))
            .map(|address| (address.clone(), format!("{}{}", moved.to, &address[moved.from.len()..])))
            .collect();
        for (from, to) in renames {
            if state.resources.contains_key(to.as_str()) {
                continue;
            }
            if let Some(mut resource) = state.resources.remove(from.as_str()) {
                resource.address = to.into();
                state.resources.insert(resource.address.clone(), resource);
            }
        }
    }
}
