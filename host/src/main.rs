//! `localsa`: the InfiniBand path cache daemon and its command-line tools.

fn main() -> std::process::ExitCode {
    localsa::cli::main()
}
