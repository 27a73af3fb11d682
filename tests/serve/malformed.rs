//! Malformed and unsupported input: the connection gets Kafka's error code or is closed,
//! the server goes on serving others, and the file stays intact.

use brooklet::TopicConfig;
use brooklet::serve::ServeOptions;
use kafka_protocol::messages::{ApiKey, ApiVersionsRequest, ApiVersionsResponse, MetadataRequest};

use crate::harness::{Served, batch, reseal, serve, serve_with};
use crate::records::{produce, produce_request};

/// The server still answers a new connection.
fn still_serving(served: &Served) {
    let mut client = served.connect();
    let response: ApiVersionsResponse =
        client.call(ApiKey::ApiVersions, 3, &ApiVersionsRequest::default());
    assert_eq!(response.error_code, 0);
}

#[test]
fn an_oversized_frame_closes_its_connection_before_it_is_read() {
    let served = serve_with(ServeOptions {
        max_request_bytes: 4096,
        ..ServeOptions::default()
    });
    let mut client = served.connect();
    client.send_frame(&vec![0u8; 5000]);
    assert!(client.closed());
    let mut client = served.connect();
    // A length of 2 GiB - 1, and no body: nothing is allocated for it.
    std::io::Write::write_all(&mut client.stream, &i32::MAX.to_be_bytes()).expect("write");
    assert!(client.closed());
    let mut client = served.connect();
    std::io::Write::write_all(&mut client.stream, &(-5i32).to_be_bytes()).expect("write");
    assert!(client.closed());
    still_serving(&served);
    served.stop();
}

#[test]
fn garbage_and_unknown_keys_close_the_connection() {
    let served = serve();
    for frame in [
        vec![1u8, 2, 3],
        vec![0xff; 64],
        // api key 9999, version 0, correlation 1, no client id.
        [9999i16.to_be_bytes(), 0i16.to_be_bytes()]
            .concat()
            .into_iter()
            .chain([0, 0, 0, 1, 0xff, 0xff])
            .collect(),
        // Metadata at a version not served.
        [3i16.to_be_bytes(), 99i16.to_be_bytes()]
            .concat()
            .into_iter()
            .chain([0, 0, 0, 1, 0xff, 0xff])
            .collect(),
        // Metadata v1 whose body is cut short inside its topic array's length.
        [3i16.to_be_bytes(), 1i16.to_be_bytes()]
            .concat()
            .into_iter()
            .chain([0, 0, 0, 1, 0xff, 0xff, 0, 0, 0])
            .collect(),
    ] {
        let mut client = served.connect();
        client.send_frame(&frame);
        assert!(client.closed(), "{frame:?}");
        still_serving(&served);
    }
    // A truncated but well-framed request of a served API.
    let mut client = served.connect();
    client.send(
        ApiKey::Metadata,
        1,
        &MetadataRequest::default().with_topics(Some(Vec::new())),
    );
    let _ = client
        .receive_frame()
        .expect("a well-formed request is answered");
    served.stop();
}

#[test]
fn api_versions_at_an_unknown_version_is_answered_at_version_0() {
    let served = serve();
    let mut client = served.connect();
    client.send(ApiKey::ApiVersions, 3, &ApiVersionsRequest::default());
    let _: ApiVersionsResponse = client.receive(ApiKey::ApiVersions, 3);
    // ApiVersions v77: header v2 (as a client of the future sends it), answered at v0.
    let frame: Vec<u8> = [18i16.to_be_bytes(), 77i16.to_be_bytes()]
        .concat()
        .into_iter()
        .chain([0, 0, 0, 9, 0, 0, 0])
        .collect();
    client.send_frame(&frame);
    let mut body = client.receive_frame().expect("answered");
    let header =
        <kafka_protocol::messages::ResponseHeader as kafka_protocol::protocol::Decodable>::decode(
            &mut body, 0,
        )
        .expect("header");
    assert_eq!(header.correlation_id, 9);
    let response =
        <ApiVersionsResponse as kafka_protocol::protocol::Decodable>::decode(&mut body, 0)
            .expect("v0");
    assert_eq!(response.error_code, 35, "UNSUPPORTED_VERSION");
    assert!(!response.api_keys.is_empty());
    served.stop();
}

#[test]
fn bad_batches_get_kafka_error_codes_and_store_nothing() {
    let served = serve();
    served
        .db
        .admin()
        .create_topic("t", 1, TopicConfig::default())
        .expect("create");
    let mut client = served.connect();
    let good = batch(&["ok"]);
    let mut bad_crc = good.clone();
    let last = bad_crc.len() - 1;
    bad_crc[last] ^= 1;
    let mut control = good.clone();
    control[22] |= 0x20;
    reseal(&mut control);
    let mut magic1 = good.clone();
    magic1[16] = 1;
    let mut transactional = good.clone();
    transactional[22] |= 0x10;
    reseal(&mut transactional);
    let truncated = good[..good.len() - 3].to_vec();
    let mut garbage_records = good.clone();
    let at = garbage_records.len() - 4;
    garbage_records[at..].copy_from_slice(&[0x7f; 4]);
    reseal(&mut garbage_records);
    for (records, code) in [
        (bad_crc, 2),
        (truncated, 2),
        (control, 87),
        (magic1, 43),
        (transactional, 87),
        (garbage_records, 87),
        (Vec::new(), 87),
    ] {
        assert_eq!(
            produce(&mut client, 9, &produce_request("t", 0, records, -1)).0,
            code
        );
    }
    assert_eq!(
        produce(&mut client, 9, &produce_request("t", 7, good.clone(), -1)).0,
        3
    );
    assert_eq!(
        produce(&mut client, 9, &produce_request("nope", 0, good, -1)).0,
        3
    );
    assert_eq!(served.db.end_offset("t", 0).expect("end"), 0);
    still_serving(&served);
    served.stop();
}

/// A request header (v1: key, version, correlation id, no client id) and `body`.
fn frame(key: i16, version: i16, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&key.to_be_bytes());
    out.extend_from_slice(&version.to_be_bytes());
    out.extend_from_slice(&7i32.to_be_bytes());
    out.extend_from_slice(&(-1i16).to_be_bytes());
    out.extend_from_slice(body);
    out
}

#[test]
fn lengths_that_claim_more_than_the_request_holds_allocate_nothing_and_keep_the_server_up() {
    let served = serve();
    let hostile = [
        // Metadata v1 whose topic array claims 2^31 - 1 entries (154 GB of capacity
        // before the codec's patch: the process aborted).
        frame(3, 1, &i32::MAX.to_be_bytes()),
        // Metadata v9 (flexible): a compact array claiming 2^32 - 2 entries.
        frame(3, 9, &[0x00, 0xff, 0xff, 0xff, 0xff, 0x0f]),
        // Produce v3: no transactional id, acks, timeout, then a topic array of 2^31 - 1.
        frame(
            0,
            3,
            &[
                &(-1i16).to_be_bytes()[..],
                &(-1i16).to_be_bytes(),
                &1000i32.to_be_bytes(),
                &i32::MAX.to_be_bytes(),
            ]
            .concat(),
        ),
        // ApiVersions v3 (flexible): a client software name claiming 2^32 - 2 bytes.
        frame(18, 3, &[0x00, 0xff, 0xff, 0xff, 0xff, 0x0f]),
    ];
    for request in &hostile {
        let mut client = served.connect();
        client.send_frame(request);
        // Either an error answer or a closed connection; never the process gone.
        let _ = client.receive_frame();
        still_serving(&served);
    }
    served.stop();
}
