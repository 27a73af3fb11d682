//! What `brooklet serve` costs beside the library, in one run: the library's durable bulk
//! append (1000-record commits) and sequential read, then the same records produced
//! through the server (`Produce` v9, acks=all, one 1000-record batch a request, as an
//! application batching 1000 records sends them) and fetched back (`Fetch` v12, 10 MiB a
//! partition), by a lean Rust client on loopback that decodes every record
//! (`kafka::decode_batch`: CRC, records, owned keys and values, as a Kafka consumer does).
//! The Kafka-client figures (confluent-kafka) are `tests/clients/bench.py`'s.
//!
//! ```text
//! cargo build --release --example serve_rates
//! target/release/examples/serve_rates 300000
//! ```

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::time::Instant;

use brooklet::serve::{ServeOptions, Server};
use brooklet::{BorrowedRecord, Brooklet, Durability, FetchLimits, Record, TopicConfig};
use bytes::{Buf as _, BufMut as _, Bytes, BytesMut};
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{
    ApiKey, FetchRequest, FetchResponse, ProduceRequest, ProduceResponse, RequestHeader,
    ResponseHeader, TopicName,
};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};

const BATCH: usize = 1000;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let count: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(300_000);
    let dir = tempfile::tempdir()?;
    let keys: Vec<Vec<u8>> = (0..count)
        .map(|i| format!("key-{i:010}").into_bytes())
        .collect();
    let value = vec![b'v'; 100];

    let (lib_append, lib_read) = library(&dir.path().join("library.brooklet"), &keys, &value)?;
    let db = Brooklet::open(dir.path().join("served.brooklet"))?;
    db.admin()
        .create_topic("bench", 1, TopicConfig::default())?;
    let runtime = tokio::runtime::Runtime::new()?;
    let options = ServeOptions {
        listen: "127.0.0.1:0".parse()?,
        ..ServeOptions::default()
    };
    let server = runtime.block_on(Server::bind(db, options))?;
    let mut client = Client::connect(server.local_addr())?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = runtime.spawn(server.run(async {
        let _ = stopped.await;
    }));

    let batches: Vec<Bytes> = keys
        .chunks(BATCH)
        .map(|chunk| {
            let records: Vec<Record> = chunk
                .iter()
                .map(|k| Record::new(Some(k.clone()), value.clone()))
                .collect();
            brooklet::kafka::encode_batch(0, &records, brooklet::TimestampType::CreateTime, 0)
                .map(Bytes::from)
        })
        .collect::<brooklet::Result<_>>()?;
    let start = Instant::now();
    for batch in batches {
        let response: ProduceResponse = client.call(ApiKey::Produce, 9, &produce(batch))?;
        let code = response.responses[0].partition_responses[0].error_code;
        assert_eq!(code, 0, "produce failed");
    }
    let served_append = rate(count, start);

    let start = Instant::now();
    fetch_all(&mut client, count, true)?;
    let served_read = rate(count, start);
    let start = Instant::now();
    fetch_all(&mut client, count, false)?;
    let served_batches = rate(count, start);
    let _ = stop.send(());
    runtime.block_on(running)??;

    println!("records: {count} of 14 B keys and 100 B values, one partition");
    println!("library durable bulk append (1000-record commits): {lib_append:.0} records/s");
    println!(
        "serve produce (acks=all, one 1000-record batch a request): {served_append:.0} records/s = {:.2} of the library",
        served_append / lib_append
    );
    println!("library read (fetch_batches): {lib_read:.0} records/s");
    println!(
        "serve fetch (10 MiB a partition, every record decoded): {served_read:.0} records/s = {:.2} of the library",
        served_read / lib_read
    );
    println!(
        "serve fetch (10 MiB a partition, batches CRC-checked, records counted): {served_batches:.0} records/s = {:.2} of the library",
        served_batches / lib_read
    );
    Ok(())
}

/// Fetches the partition from its start to `count` records. With `decode`, every record is
/// decoded into owned keys and values; without, each batch's CRC is checked and its
/// records counted (the server's and the transport's part alone).
fn fetch_all(
    client: &mut Client,
    count: usize,
    decode: bool,
) -> Result<(), Box<dyn std::error::Error>> {
    let (mut offset, mut read, mut touched) = (0i64, 0usize, 0usize);
    while read < count {
        let response: FetchResponse = client.call(ApiKey::Fetch, 12, &fetch(offset))?;
        let partition = &response.responses[0].partitions[0];
        let mut bytes = partition.records.clone().unwrap_or_default();
        while !bytes.is_empty() {
            let header = brooklet::kafka::verify_batch(&bytes)?;
            if decode {
                for record in brooklet::kafka::decode_batch(&bytes)?.records {
                    touched +=
                        record.key.map_or(0, |k| k.len()) + record.value.map_or(0, |v| v.len());
                }
            } else {
                touched += header.size();
            }
            read += header.record_count as usize;
            offset = i64::try_from(header.offset_last())? + 1;
            bytes.advance(header.size());
        }
    }
    assert_eq!(read, count, "every record read back");
    assert!(touched > 0);
    Ok(())
}

/// The library's durable bulk append and read of the same records.
fn library(path: &std::path::Path, keys: &[Vec<u8>], value: &[u8]) -> brooklet::Result<(f64, f64)> {
    let db = Brooklet::open(path)?;
    db.admin()
        .create_topic("bench", 1, TopicConfig::default())?;
    let producer = db.producer().with_durability(Durability::Immediate);
    let start = Instant::now();
    for chunk in keys.chunks(BATCH) {
        let records: Vec<BorrowedRecord<'_>> = chunk
            .iter()
            .map(|key| BorrowedRecord {
                key: Some(key),
                value: Some(value),
                ..BorrowedRecord::default()
            })
            .collect();
        producer.send_batch_borrowed_to("bench", 0, &records)?;
    }
    let append = rate(keys.len(), start);
    let limits = FetchLimits {
        max_records: 10_000,
        max_bytes: 4 << 20,
    };
    let start = Instant::now();
    let (mut offset, mut read) = (0, 0usize);
    loop {
        let fetched = db.fetch_batches("bench", 0, offset, limits)?;
        for record in fetched.records() {
            let record = record?;
            read += usize::from(record.key.is_some() && record.value.is_some());
        }
        if fetched.next_offset >= fetched.end_offset {
            break;
        }
        offset = fetched.next_offset;
    }
    assert_eq!(read, keys.len(), "every record read back");
    Ok((append, rate(keys.len(), start)))
}

fn produce(batch: Bytes) -> ProduceRequest {
    ProduceRequest::default()
        .with_acks(-1)
        .with_timeout_ms(30_000)
        .with_topic_data(vec![
            TopicProduceData::default()
                .with_name(topic())
                .with_partition_data(vec![
                    PartitionProduceData::default()
                        .with_index(0)
                        .with_records(Some(batch)),
                ]),
        ])
}

fn fetch(offset: i64) -> FetchRequest {
    FetchRequest::default()
        .with_max_wait_ms(500)
        .with_min_bytes(1)
        .with_max_bytes(50 << 20)
        .with_isolation_level(0)
        .with_session_epoch(-1)
        .with_topics(vec![
            FetchTopic::default()
                .with_topic(topic())
                .with_partitions(vec![
                    FetchPartition::default()
                        .with_partition(0)
                        .with_fetch_offset(offset)
                        .with_partition_max_bytes(10 << 20),
                ]),
        ])
}

fn topic() -> TopicName {
    TopicName(StrBytes::from_static_str("bench"))
}

fn rate(count: usize, start: Instant) -> f64 {
    #[allow(clippy::cast_precision_loss)] // record counts far below 2^52
    let count = count as f64;
    count / start.elapsed().as_secs_f64()
}

/// A blocking Kafka-protocol client: one request at a time, as a consumer's fetch loop.
struct Client {
    stream: TcpStream,
    correlation: i32,
}

impl Client {
    fn connect(addr: std::net::SocketAddr) -> std::io::Result<Self> {
        let stream = TcpStream::connect(addr)?;
        stream.set_nodelay(true)?;
        Ok(Self {
            stream,
            correlation: 0,
        })
    }

    fn call<Req: Encodable, Resp: Decodable>(
        &mut self,
        key: ApiKey,
        version: i16,
        request: &Req,
    ) -> Result<Resp, Box<dyn std::error::Error>> {
        self.correlation += 1;
        let header = RequestHeader::default()
            .with_request_api_key(key as i16)
            .with_request_api_version(version)
            .with_correlation_id(self.correlation)
            .with_client_id(Some(StrBytes::from_static_str("serve-rates")));
        let mut body = BytesMut::new();
        header.encode(&mut body, key.request_header_version(version))?;
        request.encode(&mut body, version)?;
        let mut frame = BytesMut::with_capacity(body.len() + 4);
        frame.put_i32(i32::try_from(body.len())?);
        frame.put_slice(&body);
        self.stream.write_all(&frame)?;
        let mut length = [0u8; 4];
        self.stream.read_exact(&mut length)?;
        let mut response = vec![0u8; usize::try_from(i32::from_be_bytes(length))?];
        self.stream.read_exact(&mut response)?;
        let mut response = Bytes::from(response);
        ResponseHeader::decode(&mut response, key.response_header_version(version))?;
        Ok(Resp::decode(&mut response, version)?)
    }
}
