//! The `tenancy` command.

// Plans of many resources allocate hundreds of megabytes of small values.
// With mimalloc on 2 MiB pages, a plan of 100,000 resources spent 0.1 s in
// the kernel against 1.1 s with the system allocator (docs/benchmarks.md).
// Runs of 25,000 resources or more turn transparent huge pages and
// mimalloc's purge delay off once the configuration is loaded, because
// their RSS grows more than their time shrinks (`save_memory_in_large_run`
// in src/cli/workspace.rs).
#[cfg(feature = "mimalloc")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// mimalloc's `mi_option_destroy_on_exit`, which the bindings do not name.
/// Its position in the option enum is fixed: mimalloc keeps retired options
/// in place as `deprecated_` entries.
const MI_OPTION_DESTROY_ON_EXIT: libmimalloc_sys::mi_option_t = 22;

fn main() -> std::process::ExitCode {
    // SAFETY: no other thread exists yet. The first option only changes the
    // page size of mimalloc's requests to the operating system. The second,
    // at 2, makes mimalloc skip its cleanup at exit. That cleanup returned
    // each free page to the kernel in a few hundred calls after a plan of
    // 4,000 resources, for memory the kernel reclaims with the process.
    unsafe {
        libmimalloc_sys::mi_option_set_enabled(libmimalloc_sys::mi_option_large_os_pages, true);
        libmimalloc_sys::mi_option_set(MI_OPTION_DESTROY_ON_EXIT, 2);
    }
    tenancy::cli::main(std::env::args_os())
}
