//! `brooklet`: the command-line tool, brooklet's counterpart of `sqlite3` and Kafka's console
//! tools. It uses the library's public API only.
//!
//! Conventions for every command: data on stdout, summaries and errors on stderr; an error
//! is one line (`brooklet: error: ...`) and exit code 1 (run time) or 2 (command line);
//! only `init` and `demo` create files, and files that are not brooklet's are never
//! written (see `common::open`).

mod args;
mod common;
mod compact;
mod consume;
mod demo;
mod dump;
mod group;
mod inspect;
mod json;
mod mirror;
mod output;
mod produce;
mod segments;
mod serve;
mod time;
mod topic;
mod transactions;
mod transfer;
mod txnindex;
mod vacuum;

use std::io::Write as _;
use std::process::ExitCode;

use clap::Parser as _;
use clap::error::ErrorKind;

use args::{Cli, Command};
use common::{CliResult, EXIT_USAGE};

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => return clap_exit(&err),
    };
    match run(cli.command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            if !err.message.is_empty() {
                let _ = writeln!(std::io::stderr().lock(), "brooklet: error: {}", err.message);
            }
            ExitCode::from(err.code)
        }
    }
}

fn run(command: Command) -> CliResult {
    match command {
        Command::Init { file, page_size } => topic::init(&file, page_size),
        Command::Topic(command) => topic::run(command),
        Command::Produce(args) => produce::run(&args),
        Command::Consume(args) => consume::run(&args),
        Command::Group(command) => group::run(command),
        Command::Transactions(command) => transactions::run(command),
        Command::Check { file, json } => inspect::check(&file, json),
        Command::Info { file, json } => inspect::info(&file, json),
        Command::Dump { file, page, json } => dump::run(&file, page, json),
        Command::Vacuum { file, json } => vacuum::run(&file, json),
        Command::Compact { file, topic, json } => compact::run(&file, topic.as_deref(), json),
        Command::Export(args) => transfer::export(&args),
        Command::Import(args) => transfer::import(&args),
        Command::Demo { file } => demo::run(file),
        Command::Mirror(args) => mirror::run(&args),
        Command::Serve(args) => serve::run(&args),
    }
}

/// Prints help and version as clap does; prints a usage error as one line and exits 2.
fn clap_exit(err: &clap::Error) -> ExitCode {
    match err.kind() {
        ErrorKind::DisplayHelp
        | ErrorKind::DisplayVersion
        | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            let _ = err.print();
            if err.use_stderr() {
                ExitCode::from(EXIT_USAGE)
            } else {
                ExitCode::SUCCESS
            }
        }
        _ => {
            let line = one_line(&err.render().to_string());
            let _ = writeln!(std::io::stderr().lock(), "brooklet: error: {line}");
            ExitCode::from(EXIT_USAGE)
        }
    }
}

/// Folds clap's multi-line message into one line: the message and the lines that continue
/// it, its tips, and a pointer to `--help`.
fn one_line(rendered: &str) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut in_message = true;
    for line in rendered.lines().map(str::trim) {
        if line.is_empty() || line.starts_with("Usage:") || line.starts_with("For more") {
            in_message = false;
        } else if line.starts_with("tip:") {
            parts.push(format!("({line})"));
        } else if in_message {
            parts.push(line.strip_prefix("error: ").unwrap_or(line).to_owned());
        }
    }
    parts.push("(see --help)".to_owned());
    parts.join(" ")
}
