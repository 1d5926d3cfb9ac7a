#![forbid(unsafe_code)]

/// mimalloc, not the system allocator: a fifth of `taem serve`'s time under
/// load went to glibc's malloc and free (docs/PERFORMANCE.md, session 16).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    taem::cli::main()
}
