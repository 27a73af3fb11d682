//! The `brooklet` command-line tool, run as a user runs it (the binary Cargo built for this
//! test, `CARGO_BIN_EXE_brooklet`): every command's behaviour and output, compressed topics, bad input, topic
//! configs, import, operator messages, files it writes, vacuum, and the CLI beside other
//! processes.

mod commands;
mod compression;
mod configs;
mod delete_records;
mod errors;
mod import;
mod live;
mod messages;
mod mirror;
mod outputs;
mod serve;
mod transactions;
mod vacuum;

/// Helpers shared by the CLI tests (`tests/support/`).
#[path = "../support"]
mod support {
    pub mod cli;
}
