#![forbid(unsafe_code)]

fn main() -> std::process::ExitCode {
    taem::cli::main()
}
