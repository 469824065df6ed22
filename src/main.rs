//! The `tenancy` command.

// Plans of many resources allocate hundreds of megabytes of small values.
// With mimalloc on 2 MiB pages, a plan of 100,000 resources spent 0.1 s in
// the kernel against 1.1 s with the system allocator (docs/benchmarks.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    // SAFETY: no other thread exists yet, and the option only changes the
    // page size of mimalloc's requests to the operating system.
    unsafe {
        libmimalloc_sys::mi_option_set_enabled(libmimalloc_sys::mi_option_large_os_pages, true);
    }
    tenancy::cli::main(std::env::args_os())
}
