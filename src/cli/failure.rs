//! Why the command failed, which sets its exit status: shared by every part of the command that
//! can fail, so that none of them imports another for it.

/// Why the command failed, and so its exit status.
#[derive(Debug)]
pub enum Failure {
    /// The command line is wrong: exit 2.
    Usage(String),
    /// Anything else: exit 1.
    Runtime(String),
}
