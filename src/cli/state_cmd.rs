//! `state list|show|rm|mv`, `import` and `force-unlock`.

use std::fmt::Write as _;

use tenancy_sdk::ImportRequest;

use crate::cli::args::{ForceUnlockArgs, GlobalArgs, ImportArgs, StateCommand};
use crate::cli::ui::{self, Ui};
use crate::cli::workspace;
use crate::cli::{CliError, EXIT_ERROR, EXIT_OK, print_stdout};
use crate::lang;
use crate::plan::diff::is_within;
use crate::state::{self, ResourceState, StateBackend};

fn backend_for(global: &GlobalArgs) -> Result<Box<dyn StateBackend>, CliError> {
    let dir = workspace::config_dir(global);
    let config = lang::load(&dir, &workspace::var_inputs(&Default::default())).ok();
    workspace::open_backend(&dir, config.as_ref())
}

/// Runs a `state` subcommand.
pub fn run(global: &GlobalArgs, command: StateCommand, _ui: Ui) -> Result<u8, CliError> {
    let backend = backend_for(global)?;
    match command {
        StateCommand::List { addresses } => {
            let state = workspace::read_state(&*backend)?;
            let mut text = String::new();
            for address in state.resources.keys() {
                if addresses.is_empty() || addresses.iter().any(|filter| is_within(address, filter)) {
                    let _ = writeln!(text, "{address}");
                }
            }
            print_stdout(&text);
            Ok(EXIT_OK)
        }
        StateCommand::Show { address } => {
            let state = workspace::read_state(&*backend)?;
            let resource = state.resources.get(address.as_str()).ok_or_else(|| not_in_state(&address))?;
            print_stdout(&state::render_resource(resource));
            Ok(EXIT_OK)
        }
        StateCommand::Rm { addresses, lock_timeout } => {
            let backend = workspace::with_lock_timeout(backend, lock_timeout);
            let mut text = String::new();
            let mut count = 0;
            for address in &addresses {
                for removed in state::state_rm(&*backend, address)? {
                    let _ = writeln!(text, "Removed {removed}");
                    count += 1;
                }
            }
            let _ = writeln!(text, "Successfully removed {count} resource(s) from state.");
            print_stdout(&text);
            Ok(EXIT_OK)
        }
        StateCommand::Mv { from, to, lock_timeout } => {
            let backend = workspace::with_lock_timeout(backend, lock_timeout);
            let moved = state::state_mv(&*backend, &from, &to)?;
            print_stdout(&format!("Moved {from} to {to} ({} resource(s)).\n", moved.len()));
            Ok(EXIT_OK)
        }
    }
}

fn not_in_state(address: &str) -> CliError {
    CliError::message(
        format!("`{address}` is not in state"),
        Some("Run `tenancy state list` to see the addresses in state.".to_owned()),
    )
}

/// Runs `import`: reads an existing object by id and records it at an
/// address of the configuration.
pub async fn import(global: &GlobalArgs, args: &ImportArgs, _ui: Ui) -> Result<u8, CliError> {
    let workspace = workspace::load(global, &args.vars)?;
    let Some(resource) = workspace.desired.get(&args.address) else {
        return Err(CliError::message(
            format!("`{}` is not a resource of the configuration", args.address),
            Some("Add the tenant or resource to the configuration first, then import into its address.".to_owned()),
        ));
    };
    let backend = workspace::open_backend(&workspace.dir, Some(&workspace.config))?;
    let backend = workspace::with_lock_timeout(backend, args.lock_timeout);
    let _lock = backend.lock("import")?;
    let mut state = workspace::read_state(&*backend)?;
    if state.resources.contains_key(args.address.as_str()) {
        return Err(CliError::message(
            format!("`{}` is already in state", args.address),
            Some("Remove it with `tenancy state rm` first to import another object there.".to_owned()),
        ));
    }
    let registry = workspace::configure_providers(&workspace, &state).await?;
    let instance = registry
        .get(&resource.provider)
        .ok_or_else(|| CliError::message(format!("provider `{}` is not configured", resource.provider), None))?;
    let request = ImportRequest {
        type_name: resource.type_name.to_string(),
        address: resource.address.to_string(),
        id: args.id.clone(),
    };
    let attrs = instance.provider.import(&request).await.map_err(|error| {
        CliError::message(format!("failed to import `{}` as `{}`: {}", args.id, args.address, error.message), error.hint)
    })?;
    let recorded = ResourceState {
        address: resource.address.clone(),
        type_name: resource.type_name.clone(),
        provider: resource.provider.clone(),
        attrs,
        dependencies: resource.depends_on.clone(),
    };
    let attrs = crate::plan::refresh::mark_sensitive(&registry, &recorded, recorded.attrs.clone());
    state.resources.insert(recorded.address.clone(), ResourceState { attrs, ..recorded });
    backend.write(&mut state)?;
    print_stdout(&format!(
        "Imported `{}` into `{}`.\nRun `tenancy plan` to see how it differs from the configuration.\n",
        args.id, args.address
    ));
    Ok(EXIT_OK)
}

/// Runs `force-unlock`.
pub fn force_unlock(global: &GlobalArgs, args: &ForceUnlockArgs, _ui: Ui) -> Result<u8, CliError> {
    let backend = backend_for(global)?;
    if !args.force
        && !ui::confirm(
            "Do you really want to force-unlock?",
            "Removing the lock of a command that still runs can corrupt state.",
        )
    {
        print_stdout("\nForce-unlock cancelled.\n");
        return Ok(EXIT_ERROR);
    }
    backend.force_unlock(&args.id)?;
    print_stdout(&format!("The state lock `{}` has been removed.\n", args.id));
    Ok(EXIT_OK)
}
