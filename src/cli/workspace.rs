//! Loading a configuration directory and opening its state, shared by the
//! commands.

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use crate::cli::CliError;
use crate::cli::args::{GlobalArgs, VarArgs};
use crate::config::Config;
use crate::graph;
use crate::lang::{self, VarInputs};
use crate::lower::{self, Desired};
use crate::registry::{self, Registry};
use crate::state::strings::StringTable;
use crate::state::{self, LockGuard, ResourceState, State, StateBackend};

/// A loaded configuration with its resources.
pub struct Workspace {
    /// The configuration directory.
    pub dir: PathBuf,
    /// The evaluated configuration.
    pub config: Config,
    /// Desired resources, checked for dependency cycles.
    pub desired: Desired,
    /// SHA-256 of the configuration files.
    pub digest: String,
}

/// Returns the configuration directory from `-chdir`.
pub fn config_dir(global: &GlobalArgs) -> PathBuf {
    global.chdir.clone().unwrap_or_else(|| PathBuf::from("."))
}

/// Loads, evaluates, checks and lowers the configuration.
pub fn load(global: &GlobalArgs, vars: &VarArgs) -> Result<Workspace, CliError> {
    let (dir, config) = load_config(global, vars)?;
    lower_config(dir, config)
}

/// The configuration, its state backend, the state lock and the state.
pub struct Opened {
    /// The loaded configuration.
    pub workspace: Workspace,
    /// The storage of the state.
    pub backend: Box<dyn StateBackend>,
    /// The state lock, released on drop.
    pub lock: Box<dyn LockGuard>,
    /// The recorded state.
    pub state: State,
}

/// Loads the configuration, takes the state lock for `operation` and reads
/// state. State is read on a second thread while the configuration is
/// lowered. A configuration error is reported before a lock or state error,
/// as when the two steps ran in turn.
///
/// When no configuration file contains the word `tenancy`, no file can
/// declare a state backend, because that takes a `tenancy` block. If the
/// default state file exists, the second thread then starts on it as soon
/// as the files are read, while they are parsed and evaluated.
///
/// A state of [`state::LARGE_STATE_BYTES`] or more is read after lowering instead,
/// once the syntax trees and the evaluated tenants are freed, so its peak
/// memory does not add to theirs.
///
/// `lock_timeout`, from `-lock-timeout`, replaces the state block's.
pub fn load_and_lock(
    global: &GlobalArgs,
    vars: &VarArgs,
    operation: &str,
    lock_timeout: Option<Duration>,
) -> Result<Opened, CliError> {
    let dir = config_dir(global);
    let mut early = None;
    let loaded = load_config_observing(&dir, vars, |sources| {
        let may_name_backend = sources.files.iter().any(|file| file.text.contains("tenancy"));
        let size = std::fs::metadata(dir.join(state::DEFAULT_STATE_PATH))
            .ok()
            .filter(std::fs::Metadata::is_file)
            .map(|metadata| metadata.len());
        if !may_name_backend && size.is_some_and(|size| size < state::LARGE_STATE_BYTES) {
            let (dir, operation) = (dir.clone(), operation.to_owned());
            early = Some(std::thread::spawn(move || {
                let backend = with_lock_timeout(open_backend(&dir, None)?, lock_timeout);
                lock_and_read(backend, &operation)
            }));
        }
    });
    let config = match loaded {
        Ok(config) => config,
        Err(error) => {
            // A read that is done releases its lock here. One that is still
            // waiting on the file is left to end with the process, so a
            // slow read never delays the configuration error.
            if let Some(reader) = early.filter(|reader| reader.is_finished()) {
                drop(reader.join());
            }
            return Err(error);
        }
    };
    let reader = match early {
        Some(reader) if config.settings.state.is_none() => StateRead::Started(reader),
        other => {
            // The default backend's lock must go before another backend is
            // locked.
            if let Some(reader) = other {
                drop(reader.join());
            }
            let backend = with_lock_timeout(open_backend(&dir, Some(&config))?, lock_timeout);
            if backend.stored_size().is_some_and(|size| size >= state::LARGE_STATE_BYTES) {
                StateRead::Deferred(backend)
            } else {
                let operation = operation.to_owned();
                StateRead::Started(std::thread::spawn(move || lock_and_read(backend, &operation)))
            }
        }
    };
    let workspace = lower_config(dir, config);
    let (workspace, (backend, lock, state)) = match reader {
        StateRead::Started(reader) => {
            let locked = reader.join().unwrap_or_else(|_| {
                Err(CliError::message(
                    "the thread that reads state panicked".to_owned(),
                    Some("Run the command again; if it fails the same way, report it with the output of `-v`.".to_owned()),
                ))
            });
            (workspace?, locked?)
        }
        // A configuration error returns before the lock is taken.
        StateRead::Deferred(backend) => {
            let mut workspace = workspace?;
            let locked = read_sharing_configs(&mut workspace.desired, || lock_and_read(backend, operation));
            (workspace, locked?)
        }
    };
    Ok(Opened {
        workspace,
        backend,
        lock,
        state,
    })
}

/// Runs `read`, a read of a large state, so that the state and `desired`
/// share what they repeat. Each decoded string equal to an address or a
/// configured string of `desired` shares its allocation. Each configuration
/// that the recorded attributes repeat becomes a selection of them as soon
/// as its resource is decoded ([`Desired::share_recorded`]). The peak of a
/// plan then keeps one copy of most values, not two.
fn read_sharing_configs<T>(desired: &mut Desired, read: impl FnOnce() -> T) -> T {
    let known = known_strings(desired);
    let shared = Rc::new(RefCell::new(std::mem::take(desired)));
    let observer = {
        let shared = Rc::clone(&shared);
        Box::new(move |resource: &ResourceState| shared.borrow_mut().share_recorded(&resource.address, &resource.attrs))
    };
    let result = state::format::with_known_strings(known, || state::format::with_resource_observer(observer, read));
    *desired = shared.take();
    result
}

/// Returns the addresses and configured strings of `desired`, for the
/// state decoder to share: a large state read after lowering then keeps
/// one copy of a tenant's addresses, id and name for both.
fn known_strings(desired: &Desired) -> StringTable {
    let mut known = StringTable::new();
    for resource in &desired.resources {
        known.insert(&resource.address);
        let config = resource.config.to_attrs();
        for value in config.values() {
            known.insert_strings(value);
        }
    }
    known
}

/// The read of state that accompanies lowering.
enum StateRead {
    /// A thread takes the lock and reads state while lowering runs.
    Started(std::thread::JoinHandle<Result<Locked, CliError>>),
    /// The state is large, so it is locked and read once lowering is done.
    Deferred(Box<dyn StateBackend>),
}

/// A state backend with its lock taken and its state read.
type Locked = (Box<dyn StateBackend>, Box<dyn LockGuard>, State);

/// Returns `backend` with `timeout` as its lock timeout, when one is given.
pub fn with_lock_timeout(mut backend: Box<dyn StateBackend>, timeout: Option<Duration>) -> Box<dyn StateBackend> {
    if let Some(timeout) = timeout {
        backend.set_lock_timeout(timeout);
    }
    backend
}

fn lock_and_read(backend: Box<dyn StateBackend>, operation: &str) -> Result<Locked, CliError> {
    let lock = backend.lock(operation)?;
    let state = read_state(&*backend)?;
    Ok((backend, lock, state))
}

fn load_config(global: &GlobalArgs, vars: &VarArgs) -> Result<(PathBuf, Config), CliError> {
    let dir = config_dir(global);
    let config = load_config_observing(&dir, vars, |_| {})?;
    Ok((dir, config))
}

fn load_config_observing(dir: &Path, vars: &VarArgs, observe: impl FnOnce(&lang::SourceMap)) -> Result<Config, CliError> {
    if !dir.is_dir() {
        return Err(CliError::message(
            format!("configuration directory `{}` does not exist", dir.display()),
            Some("Pass an existing directory with `-chdir=DIR`.".to_owned()),
        ));
    }
    let inputs = var_inputs(vars);
    let started = Instant::now();
    let large = std::cell::Cell::new(false);
    let observe = |sources: &lang::SourceMap| {
        // Syntax trees take about 30 bytes per byte of text, so a large
        // configuration saves memory from its parse on. Before large files
        // were parsed a group of tenant blocks at a time, that took about
        // 17 MiB off a plan of 100,000 resources (docs/benchmarks.md).
        let bytes = sources.files.iter().map(|file| file.text.len()).sum();
        large.set(is_large_config_text(bytes));
        if large.get() {
            save_memory();
        }
        observe(sources);
    };
    // The tenant blocks of large files are parsed next, a group at a time,
    // and each group's tree reuses the pages of the group before. Purging
    // them at once took 0.1 to 0.2 s longer, in page faults, for 100,000
    // resources. Lowering turns the delay off again.
    let parsed = || {
        if large.get() {
            restore_purge_delay();
        }
    };
    let mut config = lang::load_observing(dir, &inputs, observe, parsed)
        .map_err(|failure| CliError::Diagnostics(failure.sources, failure.diagnostics))?;
    let rules = lang::evaluate_policy_rules(&config);
    if rules.has_errors() {
        // The loader's warnings still matter when a rule fails, so they are
        // reported with the rule errors.
        let mut diagnostics = std::mem::take(&mut config.warnings);
        diagnostics.extend(rules);
        return Err(CliError::Diagnostics(config.sources.clone(), diagnostics));
    }
    config.warnings.extend(rules);
    tracing::debug!(elapsed = ?started.elapsed(), tenants = config.tenants.len(), "loaded the configuration");
    Ok(config)
}

fn lower_config(dir: PathBuf, mut config: Config) -> Result<Workspace, CliError> {
    let started = Instant::now();
    // Lowering makes most of the run's long-lived values, so the choice
    // comes before it.
    save_memory_in_large_run(expected_resources(&config));
    // Only outputs that refer to `tenant` read the tenants after lowering.
    // Otherwise lowering takes them, so their memory is free for the plan.
    let lowered = if crate::plan::outputs::outputs_read_tenants(&config) {
        lower::lower(&config)
    } else {
        lower::lower_taking_tenants(&mut config)
    };
    let desired = lowered.map_err(|diagnostics| CliError::Diagnostics(config.sources.clone(), diagnostics))?;
    // The graph is only needed to find cycles here: plans and applies order
    // their changes from the plan. Dropping it frees its copy of every
    // address before state is read.
    graph::build_desired(&desired).map_err(|diagnostics| CliError::Diagnostics(config.sources.clone(), diagnostics))?;
    tracing::debug!(elapsed = ?started.elapsed(), resources = desired.resources.len(), "lowered the configuration and checked its graph");
    let digest = config_digest(&config);
    Ok(Workspace {
        dir,
        config,
        desired,
        digest,
    })
}

/// Returns about how many resources `config` lowers to: a tenant lowers to
/// a catalog entry, a subscription and at least one resource per nested
/// block.
fn expected_resources(config: &Config) -> usize {
    let tenants: usize = config.tenants.iter().map(|tenant| 2 + tenant.components.len()).sum();
    config.tiers.len() + config.security_policies.len() + config.resources.len() + tenants
}

/// The number of resources from which a run gives up transparent huge pages
/// and returns freed memory to the kernel at once.
const LARGE_RUN_RESOURCES: usize = 25_000;

/// mimalloc's `mi_option_purge_delay` in the v3 sources that
/// libmimalloc-sys 0.1.49 builds, which its bindings do not name.
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Trades speed for memory in a run of [`LARGE_RUN_RESOURCES`] resources
/// or more: turns off transparent huge pages and mimalloc's delay before it
/// returns free pages to the kernel.
///
/// Lowering, refresh and the diff allocate on several threads, and the
/// kernel backs each 2 MiB region they touch with a whole huge page. A
/// no-op plan of 100,000 resources peaked at 357 to 360 MiB of RSS with
/// huge pages and at 292 to 295 MiB without, in the same time. Purging at
/// once took another 10 to 30 MiB off, and turning huge pages off before
/// lowering instead of after it about 13 MiB more (docs/benchmarks.md). Smaller runs keep both:
/// without huge pages, a no-op plan of 4,000 resources took about 2.5 ms
/// longer in page faults, and purging at once made it about a third slower.
fn save_memory_in_large_run(resources: usize) {
    if resources >= LARGE_RUN_RESOURCES {
        save_memory();
    }
}

/// The configuration text size from which a run saves memory as
/// [`save_memory_in_large_run`] does before the files are parsed: the
/// benchmark configuration of 25,000 resources takes about 800 KiB.
const LARGE_CONFIG_BYTES: usize = 800 << 10;

/// Returns true when configuration files of `bytes` bytes in total are
/// large enough to save memory before they are parsed.
fn is_large_config_text(bytes: usize) -> bool {
    bytes >= LARGE_CONFIG_BYTES
}

/// mimalloc's purge delay before [`save_memory`] first turned it off.
static DEFAULT_PURGE_DELAY: std::sync::OnceLock<std::ffi::c_long> = std::sync::OnceLock::new();

/// Turns off transparent huge pages and mimalloc's purge delay.
fn save_memory() {
    // SAFETY: mi_option_get and mi_option_set read and store one integer
    // option. mimalloc reads the purge delay each time it decides to purge,
    // so the change takes effect from the next decision. Without mimalloc
    // as the allocator it does nothing.
    unsafe {
        DEFAULT_PURGE_DELAY.get_or_init(|| libmimalloc_sys::mi_option_get(MI_OPTION_PURGE_DELAY));
        libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, 0);
    }
    turn_off_huge_pages();
}

/// Gives mimalloc's purge delay back the value it had before
/// [`save_memory`] turned it off.
fn restore_purge_delay() {
    if let Some(&delay) = DEFAULT_PURGE_DELAY.get() {
        // SAFETY: as in `save_memory`.
        unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, delay) };
    }
}

fn turn_off_huge_pages() {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: PR_SET_THP_DISABLE sets a flag of this process and reads
        // no memory of the caller.
        let result = unsafe { libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0) };
        if result == 0 {
            tracing::debug!("turned off transparent huge pages for a large run");
        } else {
            let error = std::io::Error::last_os_error();
            tracing::debug!(%error, "failed to turn off transparent huge pages");
        }
    }
}

/// Prints the configuration's warnings, such as failed `policy` rules of
/// severity `warning`.
pub fn print_warnings(workspace: &Workspace, ui: crate::cli::ui::Ui) {
    if !workspace.config.warnings.is_empty() {
        ui.diagnostics(&workspace.config.sources, &workspace.config.warnings);
    }
}

/// Returns the variable inputs from flags and the environment.
pub fn var_inputs(vars: &VarArgs) -> VarInputs {
    let pairs = vars
        .vars
        .iter()
        .map(|pair| match pair.split_once('=') {
            Some((name, value)) => (name.to_owned(), value.to_owned()),
            None => (pair.clone(), String::new()),
        })
        .collect();
    VarInputs::from_env(pairs, vars.var_files.clone())
}

/// Returns the SHA-256 of the configuration files, in name order.
pub fn config_digest(config: &Config) -> String {
    let mut hasher = Sha256::new();
    for file in &config.sources.files {
        hasher.update(file.path.to_string_lossy().as_bytes());
        hasher.update([0]);
        hasher.update(file.text.as_bytes());
        hasher.update([0]);
    }
    hex::encode(hasher.finalize())
}

/// Opens the state backend the configuration names (the local file by
/// default).
pub fn open_backend(dir: &Path, config: Option<&Config>) -> Result<Box<dyn StateBackend>, CliError> {
    let block = config.and_then(|config| config.settings.state.as_ref());
    state::open_backend(dir, block).map_err(CliError::from)
}

/// Reads state, or returns a new empty state when none exists yet.
pub fn read_state(backend: &dyn StateBackend) -> Result<State, CliError> {
    let started = Instant::now();
    let state = backend.read()?.unwrap_or_default();
    tracing::debug!(elapsed = ?started.elapsed(), resources = state.resources.len(), "read state");
    Ok(state)
}

/// Configures every provider instance that desired resources or state use.
pub async fn configure_providers(workspace: &Workspace, state: &State) -> Result<Registry, CliError> {
    let names: BTreeSet<&str> = workspace
        .desired
        .resources
        .iter()
        .map(|resource| resource.provider.as_str())
        .chain(state.resources.values().map(|resource| resource.provider.as_str()))
        .collect();
    let instances: BTreeSet<String> = names.into_iter().map(str::to_owned).collect();
    let started = Instant::now();
    let registry = Registry::configure(&workspace.config, &instances, &workspace.dir)
        .await
        .map_err(|error| CliError::message(error.to_string(), error.hint()))?;
    tracing::debug!(elapsed = ?started.elapsed(), instances = instances.len(), "configured the providers");
    Ok(registry)
}

/// Returns the registry instance list for `state` alone, for commands that
/// run without configuration.
pub fn provider_types_available() -> Vec<&'static str> {
    registry::provider_types()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Returns whether the kernel may back this process with transparent
    /// huge pages, or `None` on a kernel that does not report it.
    #[cfg(target_os = "linux")]
    fn huge_pages_enabled() -> Option<bool> {
        let status = std::fs::read_to_string("/proc/self/status").ok()?;
        let line = status.lines().find(|line| line.starts_with("THP_enabled:"))?;
        Some(line.ends_with('1'))
    }

    #[test]
    fn large_config_text_starts_at_threshold() {
        assert!(!is_large_config_text(0));
        assert!(!is_large_config_text(LARGE_CONFIG_BYTES - 1));
        assert!(is_large_config_text(LARGE_CONFIG_BYTES));
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn large_run_turns_off_huge_pages_and_purge_delay() {
        // SAFETY: mi_option_get reads one integer option.
        let purge_delay = || unsafe { libmimalloc_sys::mi_option_get(MI_OPTION_PURGE_DELAY) };
        let delay_before = purge_delay();
        assert_ne!(delay_before, 0, "mimalloc's default purge delay");
        let Some(before) = huge_pages_enabled() else { return };

        save_memory_in_large_run(LARGE_RUN_RESOURCES - 1);
        assert_eq!(huge_pages_enabled(), Some(before));
        assert_eq!(purge_delay(), delay_before);

        save_memory_in_large_run(LARGE_RUN_RESOURCES);
        assert_eq!(huge_pages_enabled(), Some(false));
        assert_eq!(purge_delay(), 0);

        restore_purge_delay();
        assert_eq!(purge_delay(), delay_before);
        save_memory_in_large_run(LARGE_RUN_RESOURCES);
        assert_eq!(purge_delay(), 0);
    }
}
