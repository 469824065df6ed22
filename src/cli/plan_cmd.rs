//! `tenancy plan`.

use std::time::Instant;

use crate::cli::args::{GlobalArgs, PlanArgs, PlanFormat, PlanningArgs};
use crate::cli::ui::Ui;
use crate::cli::workspace::{self, Workspace};
use crate::cli::{CliError, EXIT_CHANGES, EXIT_OK, free_at_exit, print_stdout};
use crate::plan::diff::DiffOptions;
use crate::plan::{self, Plan, PlanError, PlanMode, PlanOptions, Planned};
use crate::registry::Registry;
use crate::render;
use crate::state::{State, StateBackend};

/// Runs `plan`.
pub async fn plan(global: &GlobalArgs, args: &PlanArgs, ui: Ui) -> Result<u8, CliError> {
    let workspace::Opened {
        mut workspace,
        backend: _backend,
        lock,
        state,
    } = workspace::load_and_lock(global, &args.planning.vars, "plan", args.planning.lock_timeout)?;
    workspace::print_warnings(&workspace, ui);
    let registry = workspace::configure_providers(&workspace, &state).await?;
    let mode = if args.destroy { PlanMode::Destroy } else { PlanMode::Normal };
    let planned = make_plan(&mut workspace, &state, &registry, &args.planning, mode).await?;
    drop(lock);

    let format = if args.json { PlanFormat::Json } else { args.format };
    print_plan(&planned.plan, format, ui);
    if let Some(path) = &args.out {
        plan::file::save(path, &planned.plan)?;
        if format == PlanFormat::Text {
            print_stdout(&format!(
                "\nSaved the plan to: {}\n\nTo perform exactly these actions, run:\n    tenancy apply {}\n",
                path.display(),
                path.display()
            ));
        }
    }
    let code = if args.detailed_exitcode && planned.plan.has_changes() {
        EXIT_CHANGES
    } else {
        EXIT_OK
    };
    free_at_exit((workspace, state, planned));
    Ok(code)
}

/// Makes a plan, turning engine failures into CLI errors.
pub async fn make_plan(
    workspace: &mut Workspace,
    state: &State,
    registry: &Registry,
    args: &PlanningArgs,
    mode: PlanMode,
) -> Result<Planned, CliError> {
    let options = PlanOptions {
        mode,
        refresh: args.refresh,
        diff: DiffOptions {
            targets: args.targets.clone(),
            replace: args.replace.clone(),
        },
        config_digest: workspace.digest.clone(),
    };
    check_addresses(workspace, state, &options.diff)?;
    plan::make_plan(&workspace.config, &mut workspace.desired, state, registry, &options)
        .await
        .map_err(|error| plan_error(workspace, error))
}

fn check_addresses(workspace: &Workspace, state: &State, options: &DiffOptions) -> Result<(), CliError> {
    let known = |target: &str| {
        workspace
            .desired
            .resources
            .iter()
            .map(|resource| resource.address.as_str())
            .chain(state.resources.keys().map(|address| address.as_str()))
            .any(|address| plan::diff::is_within(address, target))
    };
    for address in &options.replace {
        let exact = workspace.desired.contains(address) || state.resources.contains_key(address.as_str());
        if !exact {
            return Err(CliError::message(
                format!("-replace `{address}` is not the address of one resource"),
                Some("Name one resource, such as `tenant.acme.database.sqlite` or `tenant.studios[\"berlin\"]`.".to_owned()),
            ));
        }
    }
    for (flag, address) in options
        .targets
        .iter()
        .map(|address| ("-target", address))
        .chain(options.replace.iter().map(|address| ("-replace", address)))
    {
        if !known(address) {
            return Err(CliError::message(
                format!("{flag} `{address}` matches no resource in the configuration or state"),
                Some("Use an address printed by `tenancy plan` or `tenancy state list`, such as `tenant.acme`.".to_owned()),
            ));
        }
    }
    Ok(())
}

fn plan_error(workspace: &Workspace, error: PlanError) -> CliError {
    match error {
        PlanError::Outputs(diagnostics) => CliError::Diagnostics(workspace.config.sources.clone(), diagnostics),
        PlanError::Refresh(errors) => {
            let lines: Vec<String> = errors.iter().map(|error| format!("  {error}")).collect();
            let hint = errors.iter().find_map(|error| error.hint.clone());
            CliError::message(format!("failed to read the real objects:\n{}", lines.join("\n")), hint)
        }
        PlanError::Cycle(addresses) => {
            let listed: Vec<String> = addresses.iter().map(|address| format!("`{address}`")).collect();
            CliError::message(
                format!("the changes of {} wait on each other in a cycle, so none of them can start", listed.join(", ")),
                Some(
                    "The order comes from dependencies recorded in state. Run `tenancy state show ADDRESS` to see each \
                     resource's dependencies, apply the configuration without one side of the cycle first, or remove \
                     a resource from state with `tenancy state rm` and delete its object by hand."
                        .to_owned(),
                ),
            )
        }
        PlanError::Diff(errors) => {
            let lines: Vec<String> = errors.iter().map(|error| format!("  {error}")).collect();
            CliError::message(format!("failed to plan:\n{}", lines.join("\n")), None)
        }
    }
}

/// Prints a plan in the requested format to stdout.
pub fn print_plan(plan: &Plan, format: PlanFormat, ui: Ui) {
    let started = Instant::now();
    let text = match format {
        PlanFormat::Text => {
            // The text is written as it is rendered, never held whole.
            let options = render::TextOptions {
                color: ui.color,
                ..render::TextOptions::default()
            };
            crate::cli::write_stdout(|stdout| render::write_text(plan, &options, stdout));
            tracing::debug!(elapsed = ?started.elapsed(), "rendered the plan");
            return;
        }
        PlanFormat::Json => {
            // Like the text, the document is written as it is built.
            crate::cli::write_stdout(|stdout| render::write_plan_json(plan, stdout));
            tracing::debug!(elapsed = ?started.elapsed(), "rendered the plan");
            return;
        }
        PlanFormat::Markdown => render::render_markdown(plan),
    };
    print_stdout(&text);
    tracing::debug!(elapsed = ?started.elapsed(), bytes = text.len(), "rendered the plan");
}

/// Checks that a saved plan was made against this state and configuration.
pub fn check_not_stale(plan: &Plan, state: &State, workspace: &Workspace, backend: &dyn StateBackend) -> Result<(), CliError> {
    let state_exists = state.serial > 0 || !state.resources.is_empty();
    let current_lineage = state_exists.then(|| state.lineage.clone());
    let hint = Some("Make a new plan with `tenancy plan -out FILE` and apply that one.".to_owned());
    if plan.base.lineage != current_lineage || plan.base.serial != state.serial {
        return Err(CliError::message(
            format!(
                "saved plan is stale: it was made against serial {} of {}, which is now at serial {}",
                plan.base.serial,
                backend.describe(),
                state.serial
            ),
            hint,
        ));
    }
    if plan.base.config_digest != workspace.digest {
        return Err(CliError::message(
            "saved plan is stale: the configuration files changed after the plan was made".to_owned(),
            hint,
        ));
    }
    Ok(())
}
