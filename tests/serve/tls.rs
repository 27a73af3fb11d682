//! TLS and mTLS, with certificates made here (rcgen): a tokio-rustls client speaks the
//! protocol over TLS; plaintext to a TLS port, a client without a certificate and one
//! with another CA's are closed while the server goes on serving; bad PEM is refused;
//! handshakes count against `max_connections`.

use std::io::Read as _;
use std::net::SocketAddr;
use std::sync::Arc;

use brooklet::TopicConfig;
use brooklet::serve::{ServeOptions, TlsConfig};
use bytes::{Buf as _, BufMut as _, Bytes, BytesMut};
use kafka_protocol::messages::{
    ApiKey, ApiVersionsRequest, ApiVersionsResponse, MetadataRequest, MetadataResponse,
    RequestHeader, ResponseHeader,
};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::rustls::pki_types::pem::PemObject as _;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio_rustls::rustls::{ClientConfig, RootCertStore};

use crate::harness::{Served, batch, serve_with};
use crate::records::produce_request;

/// A certificate authority made for one test.
pub struct Ca {
    issuer: Issuer<'static, KeyPair>,
    pub pem: String,
}

/// A certificate and its key, as PEM.
pub struct Leaf {
    pub cert: String,
    pub key: String,
}

impl Ca {
    pub fn new(name: &str) -> Self {
        let key = KeyPair::generate().expect("key");
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, name);
        let cert = params.self_signed(&key).expect("self-signed");
        Self {
            pem: cert.pem(),
            issuer: Issuer::new(params, key),
        }
    }

    /// A certificate for `names` (IP addresses or DNS names), signed by this CA.
    pub fn leaf(&self, names: &[&str]) -> Leaf {
        let key = KeyPair::generate().expect("key");
        let names: Vec<String> = names.iter().map(|&n| n.to_owned()).collect();
        let params = CertificateParams::new(names).expect("params");
        let cert = params.signed_by(&key, &self.issuer).expect("signed");
        Leaf {
            cert: cert.pem(),
            key: key.serialize_pem(),
        }
    }
}

/// A server over TLS with a certificate for 127.0.0.1 from `ca`, and mTLS against
/// `client_ca` if given.
pub fn serve_tls(ca: &Ca, client_ca: Option<&Ca>, options: ServeOptions) -> Served {
    let leaf = ca.leaf(&["127.0.0.1"]);
    let tls = TlsConfig::from_pem(
        leaf.cert.as_bytes(),
        leaf.key.as_bytes(),
        client_ca.map(|c| c.pem.as_bytes()),
    )
    .expect("TLS config");
    assert_eq!(tls.client_auth(), client_ca.is_some());
    serve_with(ServeOptions {
        tls: Some(tls),
        ..options
    })
}

/// A protocol client over TLS (tokio-rustls).
pub struct TlsClient {
    stream: TlsStream<TcpStream>,
    correlation: i32,
}

impl TlsClient {
    /// Connects to `addr` trusting `ca`, presenting `identity` if given; `None` if the
    /// handshake fails.
    pub async fn connect(addr: SocketAddr, ca: &Ca, identity: Option<&Leaf>) -> Option<Self> {
        let mut roots = RootCertStore::empty();
        roots
            .add(CertificateDer::from_pem_slice(ca.pem.as_bytes()).expect("CA PEM"))
            .expect("root");
        #[expect(
            deprecated,
            reason = "the server's provider: ring, without post-quantum"
        )]
        let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
        let builder = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("versions")
            .with_root_certificates(roots);
        let config = match identity {
            None => builder.with_no_client_auth(),
            Some(leaf) => builder
                .with_client_auth_cert(
                    vec![CertificateDer::from_pem_slice(leaf.cert.as_bytes()).expect("cert")],
                    PrivateKeyDer::from_pem_slice(leaf.key.as_bytes()).expect("key"),
                )
                .expect("client identity"),
        };
        let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
        let tcp = TcpStream::connect(addr).await.expect("connect");
        let name = ServerName::try_from("127.0.0.1").expect("name");
        let stream = connector.connect(name, tcp).await.ok()?;
        Some(Self {
            stream,
            correlation: 0,
        })
    }

    /// Sends `request` and decodes the response; `None` if the connection is closed.
    pub async fn call<Req: Encodable, Resp: Decodable>(
        &mut self,
        key: ApiKey,
        version: i16,
        request: &Req,
    ) -> Option<Resp> {
        self.correlation += 1;
        let header = RequestHeader::default()
            .with_request_api_key(key as i16)
            .with_request_api_version(version)
            .with_correlation_id(self.correlation)
            .with_client_id(Some(StrBytes::from_static_str("tls-test")));
        let mut body = BytesMut::new();
        header
            .encode(&mut body, key.request_header_version(version))
            .expect("encode header");
        request.encode(&mut body, version).expect("encode request");
        let mut frame = BytesMut::new();
        frame.put_i32(i32::try_from(body.len()).expect("small"));
        frame.put_slice(&body);
        self.stream.write_all(&frame).await.ok()?;
        self.stream.flush().await.ok()?;
        let mut length = [0u8; 4];
        self.stream.read_exact(&mut length).await.ok()?;
        let mut body = vec![0u8; usize::try_from(i32::from_be_bytes(length)).ok()?];
        self.stream.read_exact(&mut body).await.ok()?;
        let mut body = Bytes::from(body);
        let header = ResponseHeader::decode(&mut body, key.response_header_version(version))
            .expect("response header");
        assert_eq!(header.correlation_id, self.correlation);
        let response = Resp::decode(&mut body, version).expect("response body");
        assert_eq!(body.remaining(), 0, "bytes after the response");
        Some(response)
    }
}

/// Runs `body` on a runtime of the test's own.
pub fn block_on<T>(body: impl Future<Output = T>) -> T {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(body)
}

/// True if a client trusting `ca` with `identity` gets an `ApiVersions` answer.
fn answered(served: &Served, ca: &Ca, identity: Option<&Leaf>) -> bool {
    block_on(async {
        let Some(mut client) = TlsClient::connect(served.addr, ca, identity).await else {
            return false;
        };
        let response: Option<ApiVersionsResponse> = client
            .call(ApiKey::ApiVersions, 3, &ApiVersionsRequest::default())
            .await;
        response.is_some_and(|r| r.error_code == 0)
    })
}

#[test]
fn a_tls_client_lists_metadata_and_produces() {
    let ca = Ca::new("brooklet test CA");
    let served = serve_tls(&ca, None, ServeOptions::default());
    served
        .db
        .admin()
        .create_topic("orders", 1, TopicConfig::default())
        .expect("topic");
    block_on(async {
        let mut client = TlsClient::connect(served.addr, &ca, None)
            .await
            .expect("handshake");
        let versions: ApiVersionsResponse = client
            .call(ApiKey::ApiVersions, 3, &ApiVersionsRequest::default())
            .await
            .expect("answered");
        assert_eq!(versions.error_code, 0);
        assert!(
            !versions
                .api_keys
                .iter()
                .any(|k| k.api_key == ApiKey::SaslHandshake as i16),
            "no SASL without users"
        );
        let metadata: MetadataResponse = client
            .call(
                ApiKey::Metadata,
                9,
                &MetadataRequest::default().with_topics(None),
            )
            .await
            .expect("answered");
        assert_eq!(metadata.brokers.len(), 1);
        assert_eq!(metadata.brokers[0].port, i32::from(served.addr.port()));
        assert_eq!(metadata.topics.len(), 1);
        let response: kafka_protocol::messages::ProduceResponse = client
            .call(
                ApiKey::Produce,
                8,
                &produce_request("orders", 0, batch(&["a", "b", "c"]), -1),
            )
            .await
            .expect("answered");
        assert_eq!(response.responses[0].partition_responses[0].error_code, 0);
    });
    assert_eq!(served.db.end_offset("orders", 0).expect("end"), 3);
    served.stop();
}

#[test]
fn plaintext_to_a_tls_port_is_closed_and_the_server_goes_on() {
    let ca = Ca::new("brooklet test CA");
    let served = serve_tls(&ca, None, ServeOptions::default());
    let mut client = served.connect();
    client.send(ApiKey::ApiVersions, 3, &ApiVersionsRequest::default());
    let mut reply = Vec::new();
    client
        .stream
        .read_to_end(&mut reply)
        .expect("the server closes the connection");
    // At most a TLS alert record (content type 21), never a Kafka response.
    assert!(reply.is_empty() || reply[0] == 21, "{reply:?}");
    assert!(answered(&served, &ca, None));
    served.stop();
}

#[test]
fn mtls_accepts_only_certificates_from_the_client_ca() {
    let ca = Ca::new("brooklet server CA");
    let client_ca = Ca::new("brooklet client CA");
    let other_ca = Ca::new("another CA");
    let served = serve_tls(&ca, Some(&client_ca), ServeOptions::default());
    assert!(!answered(&served, &ca, None), "no client certificate");
    let stranger = other_ca.leaf(&["client.example"]);
    assert!(!answered(&served, &ca, Some(&stranger)), "another CA's");
    let client = client_ca.leaf(&["client.example"]);
    assert!(answered(&served, &ca, Some(&client)), "the client CA's");
    served.stop();
}

#[test]
fn a_pending_handshake_holds_a_connection_slot() {
    let ca = Ca::new("brooklet test CA");
    let served = serve_tls(
        &ca,
        None,
        ServeOptions {
            max_connections: 1,
            ..ServeOptions::default()
        },
    );
    // A connection that never starts its handshake holds the one slot (connections are
    // accepted in order), so a TLS client after it is closed at accept.
    let idle = std::net::TcpStream::connect(served.addr).expect("connect");
    assert!(
        !answered(&served, &ca, None),
        "refused while the first shakes hands"
    );
    drop(idle);
    let mut served_again = false;
    for _ in 0..200 {
        if answered(&served, &ca, None) {
            served_again = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert!(
        served_again,
        "the slot is freed when the first connection closes"
    );
    served.stop();
}

/// A certificate, a key, a client CA, and what the error says.
type Pems<'a> = (&'a [u8], &'a [u8], Option<&'a [u8]>, &'a str);

#[test]
fn bad_pem_is_refused_with_a_clear_error() {
    let ca = Ca::new("brooklet test CA");
    let leaf = ca.leaf(&["127.0.0.1"]);
    let other = ca.leaf(&["127.0.0.1"]);
    let cases: [Pems<'_>; 5] = [
        (b"", leaf.key.as_bytes(), None, "no certificate"),
        (b"not pem", leaf.key.as_bytes(), None, "no certificate"),
        (leaf.cert.as_bytes(), b"", None, "no usable private key"),
        (leaf.cert.as_bytes(), other.key.as_bytes(), None, "key pair"),
        (
            leaf.cert.as_bytes(),
            leaf.key.as_bytes(),
            Some(b"junk"),
            "no certificate",
        ),
    ];
    for (cert, key, client_ca, needle) in cases {
        let error = TlsConfig::from_pem(cert, key, client_ca).expect_err("refused");
        assert!(
            matches!(&error, brooklet::Error::InvalidArgument(m) if m.contains(needle)),
            "{error} should say {needle}"
        );
    }
    let missing = std::path::Path::new("/nonexistent/brooklet/cert.pem");
    let error = TlsConfig::from_pem_files(missing, missing, None).expect_err("refused");
    assert!(error.to_string().contains("cannot read"), "{error}");
}

/// A response larger than the socket takes at once (a fetch of several MiB) arrives whole over
/// TLS: the server flushes what the TLS stream still holds after each response.
#[test]
fn a_large_fetch_arrives_whole_over_tls() {
    let ca = Ca::new("brooklet test CA");
    let served = serve_tls(&ca, None, ServeOptions::default());
    served
        .db
        .admin()
        .create_topic("big", 1, TopicConfig::default())
        .expect("topic");
    let producer = served.db.producer();
    for _ in 0..11 {
        let records: Vec<brooklet::Record> = (0..12)
            .map(|i| brooklet::Record::value(vec![u8::try_from(i).expect("small"); 64 << 10]))
            .collect();
        producer.send_batch("big", records).expect("send");
    }
    let request = crate::records::fetch_request("big", 0, 0)
        .with_max_bytes(32 << 20)
        .with_topics(vec![
            kafka_protocol::messages::fetch_request::FetchTopic::default()
                .with_topic(crate::harness::name("big"))
                .with_partitions(vec![
                    kafka_protocol::messages::fetch_request::FetchPartition::default()
                        .with_partition(0)
                        .with_fetch_offset(0)
                        .with_partition_max_bytes(32 << 20),
                ]),
        ]);
    block_on(async {
        let mut client = TlsClient::connect(served.addr, &ca, None)
            .await
            .expect("handshake");
        let call = client.call(ApiKey::Fetch, 12, &request);
        let response: kafka_protocol::messages::FetchResponse =
            tokio::time::timeout(std::time::Duration::from_secs(60), call)
                .await
                .expect("the whole response arrives")
                .expect("answered");
        let records = response.responses[0].partitions[0]
            .records
            .as_ref()
            .expect("records");
        assert!(records.len() > 4 << 20, "{}", records.len());
    });
    served.stop();
}
