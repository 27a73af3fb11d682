//! The event log through the `Brooklet` handle: produce, fetch and readers (with a seeded
//! model test under power cuts), retention, compaction, topic configs, what a partition
//! costs, routed batches, and files whose checksums are valid but whose values are hostile.
//!
//! `hostile_values` caps the global allocator of this binary at 1 GiB, so an allocation
//! sized by a damaged length aborts the run; the cap holds for every test here once it is
//! set.

mod compaction;
mod event_log;
mod hostile_values;
mod log_model;
mod partition_cost;
mod produce_routed;
mod retention;
mod topic_configs;

/// Helpers shared with other test binaries (`tests/support/`).
#[path = "../support"]
mod support {
    pub mod log;
}

#[global_allocator]
static ALLOCATOR: cap::Cap<std::alloc::System> = cap::Cap::new(std::alloc::System, usize::MAX);
