//! `brooklet serve`: the Kafka-protocol server over one file, until SIGTERM or SIGINT.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use brooklet::serve::{SaslUsers, ServeOptions, Server, TlsConfig};
use clap::Args;

use crate::common::{Access, CliError, CliResult, open};

/// Arguments of `brooklet serve`.
#[derive(Args, Debug)]
#[command(after_help = "\
Examples:
  brooklet serve events.brooklet
  brooklet serve events.brooklet --listen 127.0.0.1:19092 --auto-create-topics
  kcat -b 127.0.0.1:9092 -t orders -P        (then kcat -b 127.0.0.1:9092 -t orders -C)
  brooklet serve events.brooklet --listen 0.0.0.0:9093 --tls-cert server.pem \
    --tls-key server.key --sasl-users users.txt
  kcat -b HOST:9093 -X security.protocol=SASL_SSL -X ssl.ca.location=ca.pem \
    -X sasl.mechanisms=SCRAM-SHA-512 -X sasl.username=alice -X sasl.password=secret -L

Speaks Kafka's wire protocol, so Kafka clients (kcat and librdkafka, confluent-kafka,
kafka-python) produce to and consume from FILE as from a one-broker cluster at the listen
address, which metadata advertises. Produced batches are stored as the client sent them;
acks=all commits durably (one fdatasync, shared by concurrent producers), acks=1 and
acks=0 without a sync.

Without --tls-cert only loopback addresses are served (any other is refused, exit 2).
With --tls-cert and --tls-key (PEM: the certificate chain, the private key) every
connection is TLS (clients: security.protocol=SSL, ssl.ca.location); --tls-client-ca
(PEM) also requires a client certificate that chains to that CA (mTLS). --sasl-users
FILE turns on SASL PLAIN, SCRAM-SHA-256 and SCRAM-SHA-512 (clients: security.protocol=
SASL_SSL, or SASL_PLAINTEXT on loopback); FILE has one user:password a line (the
password is all after the first colon; blank lines and lines starting with # are
skipped). A file that cannot be read or does not parse is refused (exit 2).
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
    /// TLS: the server's certificate chain (PEM, the server's certificate first).
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// TLS: the server's private key (PEM: PKCS#8, PKCS#1 or SEC1).
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// mTLS: require client certificates that chain to this CA (PEM).
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    tls_client_ca: Option<PathBuf>,
    /// SASL (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512) with the users of FILE: one
    /// user:password a line.
    #[arg(long, value_name = "FILE")]
    sasl_users: Option<PathBuf>,
}

pub fn run(args: &ServeArgs) -> CliResult {
    if !args.listen.ip().is_loopback() && args.tls_cert.is_none() {
        return Err(CliError::usage(format!(
            "refusing to listen on {}: only loopback addresses are served without TLS (--tls-cert, --tls-key)",
            args.listen
        )));
    }
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => Some(
            TlsConfig::from_pem_files(cert, key, args.tls_client_ca.as_deref())
                .map_err(|e| CliError::usage(e.to_string()))?,
        ),
        _ => None,
    };
    let sasl = args
        .sasl_users
        .as_deref()
        .map(SaslUsers::from_file)
        .transpose()
        .map_err(|e| CliError::usage(e.to_string()))?;
    let db = open(&args.file, Access::Write)?;
    let options = ServeOptions {
        listen: args.listen,
        auto_create_topics: args.auto_create_topics,
        max_request_bytes: args.max_request_bytes,
        max_connections: args.max_connections,
        idle_timeout: Duration::from_secs(args.idle_timeout_secs),
        tls,
        sasl,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::failure(format!("cannot start the server's runtime: {e}")))?;
    runtime.block_on(async {
        let server = Server::bind(db, options)
            .await
            .map_err(|e| CliError::failure(format!("cannot listen on {}: {e}", args.listen)))?;
        let security = match (args.tls_cert.is_some(), args.sasl_users.is_some()) {
            (false, false) => "",
            (true, false) => ", TLS",
            (false, true) => ", SASL",
            (true, true) => ", TLS and SASL",
        };
        eprintln!(
            "brooklet: serving {} on {} (Kafka protocol{security})",
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
