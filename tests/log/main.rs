//! The event log through the `Brooklet` handle: produce, fetch and readers (with a seeded
//! model test under power cuts), retention (and the space it leaves), compaction (on request and by itself), compressed batches, topic
//! configs, what a partition costs, routed batches, and the handle's stats. Files with
//! hostile values are in `tests/hostile/`.

mod auto_compaction;
mod compaction;
mod compression;
mod delete_records;
mod event_log;
mod log_model;
mod partition_cost;
mod produce_borrowed;
mod produce_routed;
mod retention;
mod retention_space;
mod stats;
mod topic_configs;

/// Helpers shared with other test binaries (`tests/support/`).
#[path = "../support"]
mod support {
    pub mod log;
}
