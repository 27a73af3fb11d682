//! Several OS processes on one file: producers and readers, consumer-group members, a
//! member killed with SIGKILL. The child processes are this test binary run again on one
//! test (`child_process`, `child_member`) with `--exact`, its role in an environment
//! variable; [`test_name`] gives the name to pass.

mod group_liveness;
mod group_processes;
mod log_processes;

/// Helpers shared with other test binaries (`tests/support/`).
#[path = "../support"]
mod support {
    pub mod log;
}

/// The name the test harness gives `function` of the module `module_path` (its
/// `module_path!()`): the path without the crate's name, as `--exact` matches it.
fn test_name(module_path: &str, function: &str) -> String {
    let (_crate, module) = module_path
        .split_once("::")
        .expect("a module of the test binary");
    format!("{module}::{function}")
}
