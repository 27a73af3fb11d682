//! The file format: golden files written by earlier builds (`tests/data/`) keep opening,
//! FORMAT.md's offset tables match the structs the code reads and writes through, and
//! FORMAT.md alone is enough to read a file (`spec_reader.py` beside this file) and a
//! consumer group's entries.

mod engine_compat;
mod format_tables;
mod group_format;
mod log_compat;
mod spec_reader;

/// Helpers shared with other test binaries (`tests/support/`).
#[path = "../support"]
mod support {
    pub mod engine;
}
