//! `brooklet serve`: the Kafka-protocol server over one file, until SIGTERM or SIGINT.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use brooklet::serve::{ServeOptions, Server};
use clap::Args;

use crate::common::{Access, CliError, CliResult, open};

/// Arguments of `brooklet serve`.
#[derive(Args, Debug)]
#[command(after_help = "\
Examples:
  brooklet serve events.brooklet
  brooklet serve events.brooklet --listen 127.0.0.1:19092 --auto-create-topics
  kcat -b 127.0.0.1:9092 -t orders -P        (then kcat -b 127.0.0.1:9092 -t orders -C)

Speaks Kafka's wire protocol, so Kafka clients (kcat and librdkafka, confluent-kafka,
kafka-python) produce to and consume from FILE as from a one-broker cluster at the listen
address, which metadata advertises. Produced batches are stored as the client sent them;
acks=all commits durably (one fdatasync, shared by concurrent producers), acks=1 and
acks=0 without a sync. Only loopback addresses are served: there is no TLS or
authentication yet, so any other address is refused (exit 2).
SIGTERM or SIGINT stops accepting, lets requests in progress finish, flushes and exits 0.")]
pub struct ServeArgs {
    /// The brooklet file (it must exist: see `brooklet init`).
    file: PathBuf,
    /// The address to listen on and advertise (port 0: any free port, printed at start).
    #[arg(long, default_value = "127.0.0.1:9092")]
    listen: SocketAddr,
    /// Create a topic (one partition) when a client asks for one that does not exist,
    /// as Kafka's auto.create.topics.enable.
    #[arg(long)]
    auto_create_topics: bool,
    /// The largest request accepted, in bytes (Kafka's socket.request.max.bytes).
    #[arg(long, default_value_t = 100 << 20)]
    max_request_bytes: u32,
    /// Connections served at once.
    #[arg(long, default_value_t = 1024)]
    max_connections: usize,
    /// Seconds a connection may stay idle before it is closed.
    #[arg(long, default_value_t = 600)]
    idle_timeout_secs: u64,
}

pub fn run(args: &ServeArgs) -> CliResult {
    if !args.listen.ip().is_loopback() {
        return Err(CliError::usage(format!(
            "refusing to listen on {}: only loopback addresses are served until TLS is configured",
            args.listen
        )));
    }
    let db = open(&args.file, Access::Write)?;
    let options = ServeOptions {
        listen: args.listen,
        auto_create_topics: args.auto_create_topics,
        max_request_bytes: args.max_request_bytes,
        max_connections: args.max_connections,
        idle_timeout: Duration::from_secs(args.idle_timeout_secs),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::failure(format!("cannot start the server's runtime: {e}")))?;
    runtime.block_on(async {
        let server = Server::bind(db, options)
            .await
            .map_err(|e| CliError::failure(format!("cannot listen on {}: {e}", args.listen)))?;
        eprintln!(
            "brooklet: serving {} on {} (Kafka protocol)",
            args.file.display(),
            server.local_addr()
        );
        server.run(stop_signal()).await.map_err(CliError::from)
    })
}

/// Completes at the first SIGTERM or SIGINT.
async fn stop_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = async {
            match term.as_mut() {
                Some(term) => { term.recv().await; }
                None => std::future::pending::<()>().await,
            }
        } => {}
    }
}
