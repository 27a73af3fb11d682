//! Consumer groups in one process: committed offsets, members sharing partitions, hand-over,
//! fencing, handler-style consumption, inspection, and the rebalance callbacks. Groups
//! across processes are in `tests/multi_process/`, their on-disk layout in `tests/format/`.

mod consumer_groups;
mod rebalance_callbacks;
