//! Exactly-once: transactions over records and group offsets, isolation, fencing, timeouts,
//! and idempotent producers (sequence checks, duplicates), through the public API.

mod basic;
