//! `init`, `validate`, `fmt`, `show`, `output`, `graph` and `tenants`.

use std::fmt::Write as _;

use crate::cli::args::{FmtArgs, GlobalArgs, GraphArgs, InitArgs, OutputArgs, PlanFormat, ShowArgs, TenantsArgs, ValidateArgs};
use crate::cli::ui::Ui;
use crate::cli::workspace;
use crate::cli::{CliError, EXIT_ERROR, EXIT_OK, plan_cmd, print_stdout};
use crate::lang;
use crate::plan;
use crate::state::{self, State};

/// Runs `init`: loads the configuration, creates the state directory and
/// configures every provider so connection problems show up early.
pub async fn init(global: &GlobalArgs, args: &InitArgs, ui: Ui) -> Result<u8, CliError> {
    let workspace = workspace::load(global, &args.vars)?;
    let backend = workspace::open_backend(&workspace.dir, Some(&workspace.config))?;
    let state = workspace::read_state(&*backend)?;
    let registry_instances = workspace::configure_providers(&workspace, &state).await;
    registry_instances?;
    print_stdout(&format!(
        "{}\n\nState: {}\nProviders: {}\n\nYou may now run `tenancy plan`.\n",
        ui.green(&ui.bold("tenancy has been successfully initialized!")),
        backend.describe(),
        workspace::provider_types_available().join(", ")
    ));
    Ok(EXIT_OK)
}

/// Runs `validate`.
pub fn validate(global: &GlobalArgs, args: &ValidateArgs, ui: Ui) -> Result<u8, CliError> {
    let dir = workspace::config_dir(global);
    let result = workspace::load(global, &args.vars);
    if args.json {
        let (valid, diagnostics) = match &result {
            Ok(workspace) => (true, workspace.config.warnings.clone()),
            Err(CliError::Diagnostics(_, diagnostics)) => (false, diagnostics.clone()),
            Err(CliError::Message { message, .. }) => {
                let json = serde_json::json!({"valid": false, "error_count": 1, "warning_count": 0, "diagnostics": [{"severity": "error", "summary": message}]});
                print_stdout(&format!("{json:#}\n"));
                return Ok(EXIT_ERROR);
            }
            Err(CliError::Exit(code)) => return Ok(*code),
        };
        let sources = match &result {
            Ok(workspace) => workspace.config.sources.clone(),
            Err(CliError::Diagnostics(sources, _)) => sources.clone(),
            Err(_) => Default::default(),
        };
        print_stdout(&format!("{:#}\n", diagnostics.to_json(&sources, valid)));
        return Ok(if valid { EXIT_OK } else { EXIT_ERROR });
    }
    let workspace = result?;
    if !workspace.config.warnings.is_empty() {
        ui.diagnostics(&workspace.config.sources, &workspace.config.warnings);
    }
    print_stdout(&format!(
        "{} The configuration in `{}` is valid: {} resources.\n",
        ui.green(&ui.bold("Success!")),
        dir.display(),
        workspace.desired.resources.len()
    ));
    Ok(EXIT_OK)
}

/// Runs `fmt`.
pub fn fmt(global: &GlobalArgs, args: &FmtArgs, ui: Ui) -> Result<u8, CliError> {
    let dir = workspace::config_dir(global);
    let results = lang::format_dir(&dir, args.check || args.diff).map_err(|failure| match failure {
        lang::FormatFailure::Diagnostics(sources, diagnostics) => CliError::Diagnostics(sources, diagnostics),
        other => CliError::message(other.to_string(), None),
    })?;
    let mut changed = 0;
    for result in results.iter().filter(|result| result.changed) {
        changed += 1;
        print_stdout(&format!("{}\n", result.path.display()));
        if args.diff {
            print_stdout(&unified_diff(&result.path.display().to_string(), &result.original, &result.formatted));
        }
    }
    let _ = ui;
    if args.check && changed > 0 {
        Ok(EXIT_ERROR)
    } else {
        Ok(EXIT_OK)
    }
}

fn unified_diff(name: &str, original: &str, formatted: &str) -> String {
    similar::TextDiff::from_lines(original, formatted)
        .unified_diff()
        .context_radius(3)
        .header(&format!("old/{name}"), &format!("new/{name}"))
        .to_string()
}

/// Runs `show`: a saved plan, or the state.
pub fn show(global: &GlobalArgs, args: &ShowArgs, ui: Ui) -> Result<u8, CliError> {
    if let Some(path) = &args.file {
        let plan = plan::file::load(path)?;
        let format = if args.json { PlanFormat::Json } else { args.format };
        plan_cmd::print_plan(&plan, format, ui);
        return Ok(EXIT_OK);
    }
    let state = read_state_only(global)?;
    // Both forms are written as they are built, because at 100,000
    // resources the state's JSON document alone is over 50 MB.
    if args.json {
        let document = state::format::encoder(&state)?;
        crate::cli::write_stdout(|stdout| document.write_to(stdout));
        return Ok(EXIT_OK);
    }
    if state.resources.is_empty() && state.outputs.is_empty() {
        print_stdout("The state is empty. Run `tenancy apply` to create resources.\n");
        return Ok(EXIT_OK);
    }
    crate::cli::write_stdout(|stdout| {
        let mut text = String::new();
        for resource in state.resources.values() {
            let _ = writeln!(text, "# {}:", resource.address);
            let _ = writeln!(text, "resource \"{}\" \"{}\" {{", resource.type_name, resource.address);
            let width = resource.attrs.keys().map(|name| name.len()).max().unwrap_or(0);
            for (name, value) in &resource.attrs {
                text.push_str("    ");
                crate::render::push_padded(&mut text, name, width);
                let _ = writeln!(text, " = {value}");
            }
            text.push_str("}\n\n");
            stdout.write_all(text.as_bytes())?;
            text.clear();
        }
        stdout.write_all(crate::cli::apply_cmd::render_outputs(&state).as_bytes())
    });
    Ok(EXIT_OK)
}

/// Reads state without loading the configuration beyond its `tenancy`
/// block.
pub fn read_state_only(global: &GlobalArgs) -> Result<State, CliError> {
    let dir = workspace::config_dir(global);
    let config = lang::load(&dir, &workspace::var_inputs(&Default::default())).ok();
    let backend = workspace::open_backend(&dir, config.as_ref())?;
    workspace::read_state(&*backend)
}

/// Runs `output`.
pub fn output(global: &GlobalArgs, args: &OutputArgs, ui: Ui) -> Result<u8, CliError> {
    let state = read_state_only(global)?;
    if let Some(name) = &args.name {
        let Some(output) = state.outputs.get(name) else {
            return Err(CliError::message(
                format!("output `{name}` is not in state"),
                Some("Run `tenancy output` to list outputs, or `tenancy apply` to record new ones.".to_owned()),
            ));
        };
        let text = if args.json {
            format!("{:#}\n", output.value.to_json())
        } else if args.raw {
            match output.value.strip_marks() {
                tenancy_sdk::Value::String(text) => format!("{text}\n"),
                tenancy_sdk::Value::Number(number) => format!("{}\n", tenancy_sdk::format_number(number)),
                tenancy_sdk::Value::Bool(flag) => format!("{flag}\n"),
                other => {
                    return Err(CliError::message(
                        format!("output `{name}` is a {}, which `-raw` cannot print", other.type_name()),
                        Some("`-raw` prints strings, numbers and booleans; use `-json` for lists and maps.".to_owned()),
                    ));
                }
            }
        } else if output.sensitive {
            "<sensitive>\n".to_owned()
        } else {
            format!("{}\n", output.value)
        };
        print_stdout(&text);
        return Ok(EXIT_OK);
    }
    if args.json {
        let map: serde_json::Map<String, serde_json::Value> = state
            .outputs
            .iter()
            .map(|(name, output)| {
                let value = serde_json::json!({"sensitive": output.sensitive, "value": output.value.to_json()});
                (name.clone(), value)
            })
            .collect();
        print_stdout(&format!("{:#}\n", serde_json::Value::Object(map)));
        return Ok(EXIT_OK);
    }
    if state.outputs.is_empty() {
        ui.warning("No outputs found: the state has no output values. Declare `output` blocks and run `tenancy apply`.");
        return Ok(EXIT_OK);
    }
    let rendered = crate::cli::apply_cmd::render_outputs(&state);
    print_stdout(rendered.trim_start_matches("\nOutputs:\n\n"));
    Ok(EXIT_OK)
}

/// Runs `graph`.
pub fn graph(global: &GlobalArgs, args: &GraphArgs) -> Result<u8, CliError> {
    let workspace = workspace::load(global, &args.vars)?;
    let graph = crate::graph::build_desired(&workspace.desired).map_err(|diagnostics| CliError::Diagnostics(workspace.config.sources.clone(), diagnostics))?;
    print_stdout(&graph.to_dot());
    Ok(EXIT_OK)
}

/// Runs `tenants`: one row per tenant in state.
pub fn tenants(global: &GlobalArgs, args: &TenantsArgs, _ui: Ui) -> Result<u8, CliError> {
    let state = read_state_only(global)?;
    let rows = tenant_rows(&state);
    if args.json {
        let json: Vec<serde_json::Value> = rows.iter().map(TenantRow::to_json).collect();
        print_stdout(&format!("{:#}\n", serde_json::Value::Array(json)));
        return Ok(EXIT_OK);
    }
    if rows.is_empty() {
        print_stdout("No tenants in state. Run `tenancy apply` to create them.\n");
        return Ok(EXIT_OK);
    }
    let cells: Vec<[String; 6]> = rows.iter().map(TenantRow::to_text).collect();
    print_stdout(&table(&["ADDRESS", "ID", "TIER", "REGION", "DATABASES", "STATUS"], &cells));
    Ok(EXIT_OK)
}

/// One tenant of the `tenants` listing, with its attributes as stored in
/// state, marks included.
struct TenantRow<'s> {
    address: &'s str,
    id: Option<&'s tenancy_sdk::Value>,
    tier: Option<&'s tenancy_sdk::Value>,
    region: Option<&'s tenancy_sdk::Value>,
    databases: Vec<&'s str>,
    status: Option<&'s tenancy_sdk::Value>,
}

impl TenantRow<'_> {
    fn to_text(&self) -> [String; 6] {
        [
            self.address.to_owned(),
            cell_text(self.id),
            cell_text(self.tier),
            cell_text(self.region),
            self.databases.join(", "),
            cell_text(self.status),
        ]
    }

    /// Returns the row as JSON. A sensitive attribute is `null`, as in
    /// `plan -json`.
    fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "address": self.address,
            "id": cell_json(self.id),
            "tier": cell_json(self.tier),
            "region": cell_json(self.region),
            "databases": self.databases,
            "status": cell_json(self.status),
        })
    }
}

/// Returns an attribute as table text: `-` when it is missing or not a
/// string, and `(sensitive value)` when it is sensitive.
fn cell_text(value: Option<&tenancy_sdk::Value>) -> String {
    match value {
        Some(value) if value.is_sensitive() => "(sensitive value)".to_owned(),
        Some(value) => value.as_str().unwrap_or("-").to_owned(),
        None => "-".to_owned(),
    }
}

fn cell_json(value: Option<&tenancy_sdk::Value>) -> serde_json::Value {
    match value {
        Some(value) if value.is_sensitive() => serde_json::Value::Null,
        _ => serde_json::Value::String(cell_text(value)),
    }
}

fn tenant_rows(state: &State) -> Vec<TenantRow<'_>> {
    state
        .resources
        .values()
        .filter(|resource| resource.type_name == "catalog_tenant")
        .map(|resource| {
            let prefix = format!("{}.database.", resource.address);
            let databases: Vec<&str> = state
                .resources
                .range::<str, _>((std::ops::Bound::Included(prefix.as_str()), std::ops::Bound::Unbounded))
                .take_while(|(address, _)| address.starts_with(&prefix))
                .map(|(address, _)| &address[prefix.len()..])
                .collect();
            TenantRow {
                address: &resource.address,
                id: resource.attrs.get("tenant_id"),
                tier: resource.attrs.get("tier"),
                region: resource.attrs.get("region"),
                databases,
                status: resource.attrs.get("status"),
            }
        })
        .collect()
}

fn table(headers: &[&str], rows: &[[String; 6]]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|header| header.chars().count()).collect();
    for row in rows {
        for (column, cell) in row.iter().enumerate() {
            widths[column] = widths[column].max(cell.chars().count());
        }
    }
    let mut text = String::new();
    let mut line = |cells: Vec<&str>| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(cell, &width)| {
                let mut padded = String::new();
                crate::render::push_padded(&mut padded, cell, width);
                padded
            })
            .collect();
        let _ = writeln!(text, "{}", padded.join("  ").trim_end());
    };
    line(headers.to_vec());
    for row in rows {
        line(row.iter().map(String::as_str).collect());
    }
    text
}

