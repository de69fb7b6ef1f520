//! `mmdagent-remote`: MMDAgent-EX's Plugin_Remote without the agent, on standard input and output.
//! See `mmdagent-remote --help`, and the `cli` module.

// The library forbids unsafe code; the binary allows it only in `cli::signal` (signal handlers).
#![deny(unsafe_code)]

mod cli;

fn main() -> std::process::ExitCode {
    cli::main()
}
