//! A server on an ephemeral port over a temporary file, and a blocking client that frames,
//! encodes and decodes with the `kafka-protocol` crate.

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use brooklet::serve::{ServeOptions, Server};
use brooklet::{Brooklet, Record, TimestampType};
use bytes::{Buf as _, BufMut as _, Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, RequestHeader, ResponseHeader};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};

/// A running server; stopped (and its file checked) on [`Served::stop`].
pub struct Served {
    pub db: Brooklet,
    pub addr: SocketAddr,
    runtime: tokio::runtime::Runtime,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    done: Option<tokio::task::JoinHandle<brooklet::Result<()>>>,
    dir: tempfile::TempDir,
}

pub fn serve() -> Served {
    serve_with(ServeOptions::default())
}

pub fn serve_with(mut options: ServeOptions) -> Served {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("served.brooklet");
    let db = Brooklet::open(&path).expect("open");
    options.listen = "127.0.0.1:0".parse().expect("address");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let server = runtime
        .block_on(Server::bind(db.clone(), options))
        .expect("bind");
    let addr = server.local_addr();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let done = runtime.spawn(server.run(async {
        let _ = stopped.await;
    }));
    Served {
        db,
        addr,
        runtime,
        stop: Some(stop),
        done: Some(done),
        dir,
    }
}

impl Served {
    pub fn connect(&self) -> Client {
        let stream = TcpStream::connect(self.addr).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .expect("timeout");
        Client {
            stream,
            correlation: 0,
        }
    }

    /// The served file.
    pub fn path(&self) -> std::path::PathBuf {
        self.dir.path().join("served.brooklet")
    }

    /// Drops the server without stopping it, as if its process died: its tasks are
    /// dropped where they are, and nothing of its shutdown runs. Returns the directory
    /// that holds the file.
    pub fn abandon(mut self) -> tempfile::TempDir {
        let idle = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime");
        // Dropping the runtime drops every task first; only then may the stop signal
        // go (a dropped sender would stop the server cleanly).
        drop(std::mem::replace(&mut self.runtime, idle));
        drop(self.done.take());
        drop(self.stop.take());
        let dir = tempfile::tempdir().expect("tempdir");
        std::mem::replace(&mut self.dir, dir)
    }

    /// Stops the server (it must return cleanly) and checks the file.
    pub fn stop(mut self) {
        let _ = self.stop.take().expect("running").send(());
        let done = self.done.take().expect("running");
        self.runtime
            .block_on(done)
            .expect("server task")
            .expect("server stops cleanly");
        let report = self.db.admin().check().expect("check");
        assert!(report.is_clean(), "{report:?}");
    }

    /// Stops the server as [`Served::stop`] does, and returns the directory that holds
    /// the file, to use it after.
    pub fn stop_keeping_file(mut self) -> tempfile::TempDir {
        let dir = tempfile::tempdir().expect("tempdir");
        let dir = std::mem::replace(&mut self.dir, dir);
        self.stop();
        dir
    }
}

pub struct Client {
    pub stream: TcpStream,
    correlation: i32,
}

impl Client {
    /// Sends `request` as `key` at `version` and decodes the response.
    pub fn call<Req: Encodable, Resp: Decodable>(
        &mut self,
        key: ApiKey,
        version: i16,
        request: &Req,
    ) -> Resp {
        self.send(key, version, request);
        self.receive(key, version)
    }

    pub fn send<Req: Encodable>(&mut self, key: ApiKey, version: i16, request: &Req) {
        self.correlation += 1;
        let header = RequestHeader::default()
            .with_request_api_key(key as i16)
            .with_request_api_version(version)
            .with_correlation_id(self.correlation)
            .with_client_id(Some(StrBytes::from_static_str("serve-test")));
        let mut body = BytesMut::new();
        header
            .encode(&mut body, key.request_header_version(version))
            .expect("encode header");
        request.encode(&mut body, version).expect("encode request");
        self.send_frame(&body);
    }

    pub fn send_frame(&mut self, body: &[u8]) {
        let mut frame = BytesMut::new();
        frame.put_i32(i32::try_from(body.len()).expect("small"));
        frame.put_slice(body);
        self.stream.write_all(&frame).expect("write");
    }

    pub fn receive<Resp: Decodable>(&mut self, key: ApiKey, version: i16) -> Resp {
        let mut body = self.receive_frame().expect("a response");
        let header = ResponseHeader::decode(&mut body, key.response_header_version(version))
            .expect("response header");
        assert_eq!(header.correlation_id, self.correlation);
        let response = Resp::decode(&mut body, version).expect("response body");
        assert_eq!(body.remaining(), 0, "bytes after the response");
        response
    }

    /// The next frame, or `None` if the server closed the connection.
    pub fn receive_frame(&mut self) -> Option<Bytes> {
        let mut length = [0u8; 4];
        self.stream.read_exact(&mut length).ok()?;
        let mut body = vec![0u8; usize::try_from(i32::from_be_bytes(length)).ok()?];
        self.stream.read_exact(&mut body).ok()?;
        Some(Bytes::from(body))
    }

    /// True if the server closed the connection (reads end).
    pub fn closed(&mut self) -> bool {
        self.receive_frame().is_none()
    }
}

/// A batch as a producer encodes it (base offset 0), of `values` with a key each.
pub fn batch(values: &[&str]) -> Vec<u8> {
    let records: Vec<Record> = values
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let mut record =
                Record::new(Some(format!("key-{i}").into_bytes()), v.as_bytes().to_vec());
            record.timestamp_ms = Some(1_700_000_000_000 + i64::try_from(i).expect("small"));
            record.headers = vec![brooklet::Header {
                key: "h".into(),
                value: Some(b"v".to_vec()),
            }];
            record
        })
        .collect();
    brooklet::kafka::encode_batch(0, &records, TimestampType::CreateTime, 1_700_000_000_000)
        .expect("encode")
}

/// Sets a batch's producer fields (id, epoch, base sequence) and its CRC.
pub fn stamp(batch: &mut [u8], producer_id: i64, epoch: i16, sequence: i32) {
    batch[43..51].copy_from_slice(&producer_id.to_be_bytes());
    batch[51..53].copy_from_slice(&epoch.to_be_bytes());
    batch[53..57].copy_from_slice(&sequence.to_be_bytes());
    reseal(batch);
}

/// Recomputes a batch's CRC.
pub fn reseal(batch: &mut [u8]) {
    let crc = crc32c::crc32c(&batch[21..]);
    batch[17..21].copy_from_slice(&crc.to_be_bytes());
}

pub fn name(s: &str) -> kafka_protocol::messages::TopicName {
    kafka_protocol::messages::TopicName(StrBytes::from_string(s.to_owned()))
}
