//! The file underneath: the storage engine under power cuts and I/O errors, the recovery
//! report, and vacuum (with a power cut at every step of one). Corrupt bytes are in
//! `tests/hostile/`.

mod crash_consistency;
mod io_errors;
mod recovery_report;
mod vacuum;
mod vacuum_crash;

/// Helpers shared with other test binaries (`tests/support/`).
#[path = "../support"]
mod support {
    pub mod engine;
    pub mod log;
}
