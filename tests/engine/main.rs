//! The file underneath: the storage engine under power cuts, I/O errors and corrupt bytes,
//! the recovery report, and vacuum (with a power cut at every step of one).
//!
//! `corruption` caps the global allocator of this binary at 1 GiB, so an allocation sized
//! by a damaged length aborts the run; the cap holds for every test here once it is set.

mod corruption;
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

#[global_allocator]
static ALLOCATOR: cap::Cap<std::alloc::System> = cap::Cap::new(std::alloc::System, usize::MAX);
