//! `mmdagent-remote`: MMDAgent-EX's Plugin_Remote without the agent, on standard input and output.
//! See `mmdagent-remote --help`, and the `cli` module.

mod cli;

fn main() -> std::process::ExitCode {
    cli::main()
}
