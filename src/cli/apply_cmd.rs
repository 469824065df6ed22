//! `tenancy apply` and `tenancy destroy`.

use std::time::Instant;

use tenancy_sdk::ArcStr;
use tokio::sync::watch;

use crate::apply::{self, ApplyOptions, ApplyOutcome, Persist, Recorded};
use crate::cli::args::{ApplyArgs, DestroyArgs, GlobalArgs, PlanFormat, PlanningArgs};
use crate::cli::plan_cmd::{self, check_not_stale};
use crate::cli::ui::{self, ProgressReporter, Ui};
use crate::cli::workspace::{self, Workspace};
use crate::cli::{CliError, EXIT_ERROR, EXIT_OK, free_at_exit, print_stdout};
use crate::lower::Desired;
use crate::plan::{self, Action, Plan, PlanMode};
use crate::state::{Journal, JournalChange, OutputState, State, StateBackend};

/// Default number of concurrent operations, as in Terraform.
pub const DEFAULT_PARALLELISM: usize = 10;

/// Runs `apply`.
pub async fn apply(global: &GlobalArgs, args: &ApplyArgs, ui: Ui) -> Result<u8, CliError> {
    let saved = match &args.plan_file {
        Some(path) => {
            reject_planning_flags(&args.planning)?;
            Some(plan::file::load(path)?)
        }
        None => None,
    };
    let mode = saved.as_ref().map_or(PlanMode::Normal, |plan| plan.mode);
    run(global, &args.planning, saved, mode, args.auto_approve, args.parallelism, ui).await
}

/// Runs `destroy`.
pub async fn destroy(global: &GlobalArgs, args: &DestroyArgs, ui: Ui) -> Result<u8, CliError> {
    run(global, &args.planning, None, PlanMode::Destroy, args.auto_approve, args.parallelism, ui).await
}

async fn run(
    global: &GlobalArgs,
    planning: &PlanningArgs,
    saved: Option<Plan>,
    mode: PlanMode,
    auto_approve: bool,
    parallelism: Option<usize>,
    ui: Ui,
) -> Result<u8, CliError> {
    if parallelism == Some(0) {
        return Err(CliError::message(
            "parallelism must be at least 1".to_owned(),
            Some(format!("Use `-parallelism=N` with N of 1 or more; the default is {DEFAULT_PARALLELISM}.")),
        ));
    }
    let operation = if mode == PlanMode::Destroy { "destroy" } else { "apply" };
    let workspace::Opened {
        mut workspace,
        backend,
        lock,
        state,
    } = workspace::load_and_lock(global, &planning.vars, operation, planning.lock_timeout)?;
    workspace::print_warnings(&workspace, ui);
    let registry = workspace::configure_providers(&workspace, &state).await?;

    let mut plan = match saved {
        Some(plan) => {
            check_not_stale(&plan, &state, &workspace, &*backend)?;
            plan
        }
        None => {
            let planned = plan_cmd::make_plan(&mut workspace, &state, &registry, planning, mode).await?;
            plan_cmd::print_plan(&planned.plan, PlanFormat::Text, ui);
            if !planned.plan.has_changes() {
                write_unchanged(&workspace, &planned.plan, state, &*backend)?;
                return Ok(EXIT_OK);
            }
            if !auto_approve && !approved(mode) {
                print_stdout(&format!("\n{} cancelled.\n", capitalized(operation)));
                return Err(CliError::Exit(EXIT_ERROR));
            }
            planned.plan
        }
    };

    // After planning, only outputs that refer to `tenant` read the lowered
    // resources, so apply runs without them otherwise.
    if !plan::outputs::outputs_read_tenants(&workspace.config) {
        workspace.desired = Desired::default();
    }

    let mut journal = JournalPersist {
        journal: backend.journal(&state)?,
    };
    let state = record_moves(&workspace, state, &mut journal)?;
    let parallelism = parallelism
        .or(workspace.config.settings.parallelism)
        .unwrap_or(DEFAULT_PARALLELISM);
    let cancel = watch_interrupts(ui);
    let reporter = ProgressReporter::new(ui.color, false);
    let started = Instant::now();
    crate::cli::keep_going_on_closed_stdout();
    // Each change's planned values are dropped once it is applied, so an
    // apply of many resources does not keep them beside the results.
    let mut outcome = apply::apply_taking_planned(
        &mut plan,
        state,
        &registry,
        &mut journal,
        &reporter,
        &ApplyOptions { parallelism },
        cancel,
    )
    .await
    .map_err(|error| {
        CliError::message(
            error.to_string(),
            Some("Finished resources are in the state journal; run `tenancy plan` to see what is left.".to_owned()),
        )
    })?;

    let mut final_state = std::mem::take(&mut outcome.state);
    record_outputs(&workspace, &plan, &mut final_state, ui);
    journal.journal.compact(&mut final_state)?;
    drop(lock);
    tracing::debug!(elapsed = ?started.elapsed(), provider_time = ?outcome.provider_time, "apply finished");
    let code = report(&outcome, &final_state, mode, ui);
    free_at_exit((workspace, plan, outcome, final_state));
    code
}

/// Rejects planning flags next to a saved plan, which already fixes them.
fn reject_planning_flags(planning: &PlanningArgs) -> Result<(), CliError> {
    let flag = if !planning.targets.is_empty() {
        Some("-target")
    } else if !planning.replace.is_empty() {
        Some("-replace")
    } else if !planning.vars.vars.is_empty() || !planning.vars.var_files.is_empty() {
        Some("-var")
    } else if !planning.refresh {
        Some("-refresh=false")
    } else {
        None
    };
    match flag {
        Some(flag) => Err(CliError::message(
            format!("`{flag}` cannot be used with a saved plan"),
            Some(format!("The saved plan already fixes what it changes; give `{flag}` to `tenancy plan -out FILE` instead.")),
        )),
        None => Ok(()),
    }
}

/// Records the renames of `moved` blocks in the journal before anything
/// else changes, and returns the state with them applied.
fn record_moves(workspace: &Workspace, mut state: State, journal: &mut JournalPersist) -> Result<State, CliError> {
    if workspace.config.moved.is_empty() {
        return Ok(state);
    }
    let before: Vec<ArcStr> = state.resources.keys().cloned().collect();
    plan::apply_moved(&workspace.config, &mut state);
    let mut records: Vec<Recorded> = before
        .iter()
        .filter(|address| !state.resources.contains_key(address.as_str()))
        .map(|address| Recorded::Remove(address.to_string()))
        .collect();
    records.extend(
        state
            .resources
            .values()
            .filter(|resource| before.binary_search(&resource.address).is_err())
            .map(|resource| Recorded::Upsert(resource.clone())),
    );
    journal.persist(&records).map_err(|error| CliError::message(format!("failed to record moved resources: {error}"), None))?;
    Ok(state)
}

/// Writes the renames of `moved` blocks and the configured dependencies of
/// unchanged resources when nothing else changes.
fn write_unchanged(workspace: &Workspace, plan: &Plan, mut state: State, backend: &dyn StateBackend) -> Result<(), CliError> {
    let before: Vec<ArcStr> = state.resources.keys().cloned().collect();
    plan::apply_moved(&workspace.config, &mut state);
    let moved = !state.resources.keys().eq(before.iter());
    let refreshed = apply::refresh_dependencies(plan, &mut state);
    let forgotten = apply::forget_deleted(plan, &mut state);
    if !moved && refreshed.is_empty() && forgotten.is_empty() {
        return Ok(());
    }
    backend.write(&mut state)?;
    if moved {
        print_stdout("\nRecorded the moves of `moved` blocks in state.\n");
    }
    tracing::debug!(resources = refreshed.len(), "recorded the configured dependencies of unchanged resources");
    tracing::debug!(resources = forgotten.len(), "removed objects deleted outside tenancy from state");
    Ok(())
}

fn approved(mode: PlanMode) -> bool {
    if mode == PlanMode::Destroy {
        ui::confirm(
            "Do you really want to destroy all resources?",
            "tenancy will destroy all your managed infrastructure, as shown above.",
        )
    } else {
        ui::confirm(
            "Do you want to perform these actions?",
            "tenancy will perform the actions described above.",
        )
    }
}

fn capitalized(word: &str) -> String {
    let mut chars = word.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// Persists finished resources to the state journal.
struct JournalPersist {
    journal: Box<dyn Journal>,
}

impl Persist for JournalPersist {
    fn persist(&mut self, changes: &[Recorded]) -> Result<(), String> {
        if changes.is_empty() {
            return Ok(());
        }
        let entries: Vec<JournalChange> = changes
            .iter()
            .map(|change| match change {
                Recorded::Upsert(resource) => JournalChange::Upsert(resource.clone()),
                Recorded::Remove(address) => JournalChange::Remove(address.clone()),
            })
            .collect();
        self.journal.append_many(&entries).map_err(|error| error.to_string())
    }
}

/// Turns Ctrl-C into cancellation: the first stops scheduling new work, the
/// second exits at once. Everything finished is already in the journal, so
/// the next command replays it.
fn watch_interrupts(ui: Ui) -> watch::Receiver<bool> {
    let (sender, receiver) = watch::channel(false);
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_err() {
            return;
        }
        ui.warning("Interrupt received: waiting for running operations to finish. Press Ctrl-C again to stop at once.");
        let _ = sender.send(true);
        if tokio::signal::ctrl_c().await.is_ok() {
            ui.warning("Second interrupt: stopping now. Finished resources are recorded in the state journal.");
            std::process::exit(130);
        }
    });
    receiver
}

/// Evaluates outputs against the applied state and records them.
fn record_outputs(workspace: &Workspace, plan: &Plan, state: &mut State, ui: Ui) {
    if plan.mode == PlanMode::Destroy {
        state.outputs.clear();
        return;
    }
    let tenants = if plan::outputs::outputs_read_tenants(&workspace.config) {
        let attrs_by_address = state
            .resources
            .iter()
            .map(|(address, resource)| (address.as_str(), &resource.attrs))
            .collect();
        plan::outputs::tenant_tree(&workspace.config, &workspace.desired, &attrs_by_address)
    } else {
        tenancy_sdk::Value::Map(Default::default())
    };
    match crate::lang::evaluate_outputs(&workspace.config, &tenants) {
        Ok(values) => {
            state.outputs.clear();
            for (name, value) in values {
                if value.contains_unknown() {
                    ui.warning(&format!(
                        "output `{name}` is not recorded: it depends on a resource that was not created"
                    ));
                    continue;
                }
                let declared = workspace.config.outputs.iter().find(|output| output.name == name);
                let sensitive = declared.is_some_and(|output| output.sensitive);
                let value = if sensitive { tenancy_sdk::Value::sensitive(value) } else { value };
                state.outputs.insert(name, OutputState { value, sensitive });
            }
        }
        Err(diagnostics) => ui.diagnostics(&workspace.config.sources, &diagnostics),
    }
}

fn report(outcome: &ApplyOutcome, state: &State, mode: PlanMode, ui: Ui) -> Result<u8, CliError> {
    let count = |action| outcome.done.get(&action).copied().unwrap_or(0);
    let added = count(Action::Create) + count(Action::Replace);
    let changed = count(Action::Update);
    let destroyed = count(Action::Delete) + count(Action::Replace);
    let mut text = String::new();
    if outcome.errors.is_empty() && !outcome.interrupted && outcome.not_started.is_empty() {
        let heading = if mode == PlanMode::Destroy { "Destroy complete!" } else { "Apply complete!" };
        text.push_str(&format!(
            "\n{} Resources: {added} added, {changed} changed, {destroyed} destroyed.\n",
            ui.green(&ui.bold(heading))
        ));
        text.push_str(&render_outputs(state));
        print_stdout(&text);
        return Ok(EXIT_OK);
    }
    text.push_str(&format!(
        "\nApply stopped. Resources: {added} added, {changed} changed, {destroyed} destroyed.\n"
    ));
    print_stdout(&text);
    let mut message = String::new();
    if outcome.interrupted {
        message.push_str(&format!(
            "apply was interrupted: {} change(s) were not started",
            outcome.not_started.len()
        ));
    }
    if !outcome.interrupted && outcome.errors.is_empty() && !outcome.not_started.is_empty() {
        message.push_str(&format!(
            "{} change(s) never started because they wait on each other in a cycle: {}",
            outcome.not_started.len(),
            summarize(&outcome.not_started)
        ));
    }
    if !outcome.errors.is_empty() {
        if !message.is_empty() {
            message.push_str("; ");
        }
        message.push_str(&format!("{} change(s) failed", outcome.errors.len()));
        for error in &outcome.errors {
            message.push_str(&format!("\n  {error}"));
            if let Some(hint) = &error.hint {
                message.push_str(&format!("\n    hint: {hint}"));
            }
        }
        if !outcome.skipped.is_empty() {
            message.push_str(&format!(
                "\n  {} dependent change(s) were skipped: {}",
                outcome.skipped.len(),
                summarize(&outcome.skipped)
            ));
        }
    }
    Err(CliError::message(
        message,
        Some("Finished changes are recorded in state. Fix the cause and run `tenancy apply` again.".to_owned()),
    ))
}

fn summarize(addresses: &[String]) -> String {
    const SHOWN: usize = 5;
    let mut listed: Vec<&str> = addresses.iter().take(SHOWN).map(String::as_str).collect();
    let rest = addresses.len().saturating_sub(SHOWN);
    let more = format!("and {rest} more");
    if rest > 0 {
        listed.push(&more);
    }
    listed.join(", ")
}

/// Renders recorded outputs as `name = value` lines, hiding sensitive ones.
pub fn render_outputs(state: &State) -> String {
    if state.outputs.is_empty() {
        return String::new();
    }
    let mut text = String::from("\nOutputs:\n\n");
    for (name, output) in &state.outputs {
        let value = if output.sensitive {
            "<sensitive>".to_owned()
        } else {
            output.value.to_string()
        };
        text.push_str(&format!("{name} = {value}\n"));
    }
    text
}
