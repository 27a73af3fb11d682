//! L9, a Kafka-protocol server over one file (`brooklet serve`): existing Kafka clients
//! (librdkafka and kcat, confluent-kafka, kafka-python) produce to and fetch from a
//! brooklet file as from a one-broker cluster.
//!
//! The server runs on tokio. Requests and responses are decoded and encoded by the
//! `kafka-protocol` crate; this module frames them (a 4-byte length), bounds them (the
//! frame length is checked against [`ServeOptions::max_request_bytes`] before anything is
//! allocated) and answers them from the file through the public API and a few
//! crate-internal calls (stored-batch produce, producer ids). All file work runs on
//! tokio's blocking pool (`blocking.rs`): the one place to change to an async API.
//!
//! Files: `conn.rs` (one connection: frames, headers, dispatch), `frame.rs` (decoding
//! request headers and bodies, encoding responses: shared by `conn.rs` and `sasl.rs`), `versions.rs` (the APIs
//! and versions served), `admin.rs` (metadata, topics, configs), `data.rs` (produce,
//! fetch, offsets, producer ids), `delete_records.rs` (moving partitions' log starts),
//! `groups.rs` (consumer groups, in memory),
//! `group_admin.rs` (their members recorded in the file; list, describe, delete groups),
//! `offsets.rs` (the coordinator and committed offsets, in the file), `blocking.rs` (the
//! file calls and error codes), `tls.rs` (rustls: certificates, mTLS, the handshake),
//! `sasl.rs` and `scram.rs` (SASL PLAIN and SCRAM before a connection's first request).
//!
//! A connection is: TCP, then the TLS handshake if [`ServeOptions::tls`] is set, then SASL
//! if [`ServeOptions::sasl`] is set, then requests. Without TLS only loopback addresses
//! are served.
//!
//! Invariants:
//! 1. A request is bounded before it is read: its length is at most
//!    `max_request_bytes`, and malformed or unsupported input is answered with Kafka's
//!    error code or closes the connection; it never panics the server or changes the
//!    file.
//! 2. A produced batch is stored as sent, after its CRC and header are checked, through
//!    the same commit queue as every send (group commit, retention, one `fdatasync` per
//!    durable commit).
//! 3. Shutdown stops accepting, lets requests in progress finish, flushes, and returns.
//! 4. A connection holds its `max_connections` slot from accept, through its TLS
//!    handshake (bounded by a timeout), to close. With SASL users, nothing but
//!    `ApiVersions` and the SASL exchange is answered before the client authenticates.
//!
//! May call: `db` (the public API and its crate-internal produce path), `kafka`, `error`.

mod admin;
mod blocking;
mod conn;
mod data;
mod delete_records;
mod frame;
mod group_admin;
mod groups;
mod offsets;
mod sasl;
mod scram;
mod tls;
mod versions;

pub use sasl::SaslUsers;
pub use tls::TlsConfig;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;

use crate::db::Brooklet;
use crate::error::{Error, Result};

/// Settings of a [`Server`].
#[derive(Clone, Debug)]
pub struct ServeOptions {
    /// The address to listen on; metadata advertises exactly this address (with the
    /// port bound when it is 0). Default `127.0.0.1:9092`.
    pub listen: SocketAddr,
    /// Create a topic (one partition, default configs) when a client asks for one that
    /// does not exist in metadata or produce, as Kafka's `auto.create.topics.enable`.
    /// Default false.
    pub auto_create_topics: bool,
    /// The largest request accepted, in bytes (Kafka's `socket.request.max.bytes`); a
    /// longer frame closes its connection before anything of it is read. Default 100 MiB.
    pub max_request_bytes: u32,
    /// Connections served at once; one more is closed at accept. Default 1024.
    pub max_connections: usize,
    /// A connection that sends nothing for this long is closed. Default 10 minutes
    /// (Kafka's `connections.max.idle.ms`).
    pub idle_timeout: Duration,
    /// TLS (and mTLS, if it has a client CA) on every connection; then any address may be
    /// listened on. Default none: plaintext, loopback only.
    pub tls: Option<TlsConfig>,
    /// SASL (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512) with these users: a connection must
    /// authenticate before its first request other than `ApiVersions`. Default none.
    pub sasl: Option<SaslUsers>,
}

impl Default for ServeOptions {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 9092)),
            auto_create_topics: false,
            max_request_bytes: 100 << 20,
            max_connections: 1024,
            idle_timeout: Duration::from_secs(600),
            tls: None,
            sasl: None,
        }
    }
}

/// What every connection shares: the file, the options, the advertised address.
#[derive(Debug)]
struct Context {
    db: Brooklet,
    options: ServeOptions,
    /// The address metadata names as the one broker's.
    advertised: SocketAddr,
    /// The consumer groups of Kafka clients.
    groups: groups::Coordinator,
    /// Set when the server stops: connections close between requests, and fetches that
    /// wait for records answer at once with what they have.
    stopping: watch::Sender<bool>,
}

/// The broker id the server gives itself: the controller and every partition's leader.
const NODE_ID: i32 = 0;

/// A Kafka-protocol server over one open file, bound and ready to [`Server::run`].
///
/// ```no_run
/// use brooklet::Brooklet;
/// use brooklet::serve::{ServeOptions, Server};
///
/// # async fn serve() -> brooklet::Result<()> {
/// let db = Brooklet::open("events.brooklet")?;
/// let server = Server::bind(db, ServeOptions::default()).await?;
/// println!("listening on {}", server.local_addr());
/// server.run(async { let _ = tokio::signal::ctrl_c().await; }).await?;
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct Server {
    listener: TcpListener,
    context: Arc<Context>,
}

impl Server {
    /// Binds the listening socket. An address that is not loopback is refused with
    /// [`Error::InvalidArgument`] unless [`ServeOptions::tls`] is set.
    pub async fn bind(db: Brooklet, options: ServeOptions) -> Result<Self> {
        if !options.listen.ip().is_loopback() && options.tls.is_none() {
            return Err(Error::invalid(format!(
                "refusing to listen on {}: only loopback addresses are served until TLS is configured",
                options.listen
            )));
        }
        if options.max_connections == 0 || options.max_request_bytes < 8 {
            return Err(Error::invalid(
                "max_connections must be at least 1 and max_request_bytes at least 8",
            ));
        }
        let listener = TcpListener::bind(options.listen).await?;
        let advertised = listener.local_addr()?;
        Ok(Self {
            listener,
            context: Arc::new(Context {
                groups: groups::Coordinator::new(db.kafka_host()?),
                db,
                options,
                advertised,
                stopping: watch::channel(false).0,
            }),
        })
    }

    /// Answers one request frame (its bytes after the 4-byte length) as a connection does,
    /// without a socket: the response frame (length included), or `None` when the request
    /// gets none (a produce with `acks=0`) or closes the connection. For the `requests`
    /// fuzz target (the `testing` feature).
    #[cfg(feature = "testing")]
    pub async fn answer_frame(&self, frame: &[u8]) -> Option<Vec<u8>> {
        match conn::handle(&self.context, bytes::Bytes::copy_from_slice(frame)).await {
            conn::Outcome::Respond(response) => Some(response.to_vec()),
            conn::Outcome::Silent | conn::Outcome::Close => None,
        }
    }

    /// The versions of each API the server answers: (api key, lowest, highest).
    #[cfg(feature = "testing")]
    #[must_use]
    pub fn versions() -> Vec<(i16, i16, i16)> {
        versions::SUPPORTED
            .iter()
            .map(|&(key, min, max)| (key as i16, min, max))
            .collect()
    }

    /// The address the server listens on (and advertises).
    #[must_use]
    pub fn local_addr(&self) -> SocketAddr {
        self.context.advertised
    }

    /// Serves until `shutdown` completes, then stops accepting, lets every request in
    /// progress finish (connections close between requests; a fetch waiting for records
    /// answers at once with what it has), flushes the file and returns.
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> Result<()> {
        let stop_rx = self.context.stopping.subscribe();
        let slots = Arc::new(Semaphore::new(self.context.options.max_connections));
        let mut connections = JoinSet::new();
        let sweeper = tokio::spawn(group_admin::sweep(
            Arc::clone(&self.context),
            stop_rx.clone(),
        ));
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                () = &mut shutdown => break,
                accepted = self.listener.accept() => {
                    let Ok((stream, _)) = accepted else { continue };
                    let Ok(slot) = Arc::clone(&slots).try_acquire_owned() else {
                        drop(stream); // over max_connections: closed at once
                        continue;
                    };
                    let context = Arc::clone(&self.context);
                    let stop = stop_rx.clone();
                    let peer = stream.peer_addr().ok();
                    connections.spawn(group_admin::PEER.scope(peer, async move {
                        connection(stream, &context, stop).await;
                        drop(slot);
                    }));
                }
                Some(_) = connections.join_next(), if !connections.is_empty() => {}
            }
        }
        drop(self.listener);
        self.context.stopping.send_replace(true);
        while connections.join_next().await.is_some() {}
        let _ = sweeper.await;
        let db = self.context.db.clone();
        let host = Arc::clone(&self.context.groups.host);
        blocking::run(move || {
            db.release_kafka_groups(&host)?;
            db.flush()
        })
        .await
    }
}

/// Serves one accepted connection: its TLS handshake first if TLS is on (a handshake that
/// fails, times out or is cut by shutdown closes it), then its requests.
async fn connection(stream: TcpStream, context: &Context, mut stop: watch::Receiver<bool>) {
    let _ = stream.set_nodelay(true);
    let Some(tls) = &context.options.tls else {
        return conn::serve(stream, context, stop).await;
    };
    let accepted = tokio::select! {
        accepted = tls.accept(stream) => accepted,
        _ = stop.changed() => None,
    };
    if let Some(stream) = accepted {
        conn::serve(stream, context, stop).await;
    }
}
