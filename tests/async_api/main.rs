//! The async API (feature `tokio`, which the tests' dev-dependency turns on): async sends
//! and group commit (`produce`), record streams, their shared commit watcher and the async
//! wait (`streams`). Some tests run this binary again as a child process on one test
//! (`--exact`, its role in an environment variable), as `multi_process` does: a producer
//! in another process, and a test that counts the process's threads, which must run
//! alone.

mod produce;
mod streams;

use std::time::Duration;

use brooklet::{Brooklet, TopicConfig};

/// A runtime as an application builds one, its blocking pool capped at four threads so
/// that a test can tell "one thread per stream" from "one watcher".
fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .max_blocking_threads(4)
        .enable_all()
        .build()
        .expect("runtime")
}

fn open_with_topic(dir: &tempfile::TempDir, partitions: u32) -> Brooklet {
    let db = Brooklet::open(dir.path().join("async.brooklet")).expect("open");
    db.admin()
        .create_topic("t", partitions, TopicConfig::default())
        .expect("create");
    db
}

/// Waits, up to a minute, until `done` holds; panics naming `what` otherwise. For state
/// that settles eventually (a watcher thread stopping), not a timing assertion.
fn eventually(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while !done() {
        assert!(std::time::Instant::now() < deadline, "never: {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// The name the test harness gives `function` of the module `module_path` (its
/// `module_path!()`): the path without the crate's name, as `--exact` matches it.
fn test_name(module_path: &str, function: &str) -> String {
    let (_crate, module) = module_path
        .split_once("::")
        .expect("a module of the test binary");
    format!("{module}::{function}")
}
