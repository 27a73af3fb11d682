//! A small blocking Kafka-protocol client: one connection to one broker, requests and
//! responses encoded by the `kafka-protocol` crate, the API versions negotiated once.
//!
//! Enough for `mirror`: `ApiVersions`, Metadata, `CreateTopics`, `InitProducerId`, Produce and
//! `ListOffsets`. Every response is read under a size bound before it is allocated, and a
//! response that does not decode, or answers another request, is an error.

use std::collections::HashMap;
use std::io::{Read as _, Write as _};
use std::net::{TcpStream, ToSocketAddrs as _};
use std::ops::RangeInclusive;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::{
    ApiKey, ApiVersionsRequest, ApiVersionsResponse, RequestHeader, ResponseHeader,
};
use kafka_protocol::protocol::{
    Decodable as _, Encodable as _, HeaderVersion as _, Request, StrBytes,
};

use crate::common::CliError;

/// Largest response read: Kafka's own default bound on a request (socket.request.max.bytes).
const RESPONSE_MAX: usize = 100 << 20;

/// The client id brooklet sends.
const CLIENT_ID: &str = "brooklet-mirror";

/// One connection to a Kafka-protocol broker.
pub struct Client {
    stream: TcpStream,
    address: String,
    correlation_id: i32,
    /// The broker's version range per API key, from `ApiVersions`.
    versions: HashMap<i16, (i16, i16)>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("address", &self.address)
            .field("correlation_id", &self.correlation_id)
            .finish_non_exhaustive()
    }
}

impl Client {
    /// Connects to `address` (`HOST:PORT`) and asks which API versions the broker speaks.
    pub fn connect(address: &str, timeout: Duration) -> Result<Self, CliError> {
        let addrs: Vec<_> = address
            .to_socket_addrs()
            .map_err(|e| CliError::usage(format!("cannot resolve {address}: {e}")))?
            .collect();
        let mut last = None;
        let mut stream = None;
        for addr in &addrs {
            match TcpStream::connect_timeout(addr, timeout) {
                Ok(s) => {
                    stream = Some(s);
                    break;
                }
                Err(e) => last = Some(e),
            }
        }
        let stream = stream.ok_or_else(|| {
            let why = last.map_or_else(|| "no address".to_owned(), |e| e.to_string());
            CliError::failure(format!("cannot connect to {address}: {why}"))
        })?;
        stream
            .set_read_timeout(Some(timeout))
            .and_then(|()| stream.set_write_timeout(Some(timeout)))
            .and_then(|()| stream.set_nodelay(true))
            .map_err(|e| CliError::failure(format!("{address}: {e}")))?;
        let mut client = Self {
            stream,
            address: address.to_owned(),
            correlation_id: 0,
            versions: HashMap::new(),
        };
        client.negotiate()?;
        Ok(client)
    }

    /// The broker's address, as given.
    pub fn address(&self) -> &str {
        &self.address
    }

    /// `ApiVersions` at v0, which every broker answers, records what the broker speaks.
    fn negotiate(&mut self) -> Result<(), CliError> {
        let request = ApiVersionsRequest::default()
            .with_client_software_name(StrBytes::from_static_str(CLIENT_ID))
            .with_client_software_version(StrBytes::from_static_str(env!("CARGO_PKG_VERSION")));
        let response: ApiVersionsResponse = self.call(0, &request)?;
        if response.error_code != 0 {
            return Err(self.kafka_error("ApiVersions", response.error_code));
        }
        self.versions = response
            .api_keys
            .iter()
            .map(|k| (k.api_key, (k.min_version, k.max_version)))
            .collect();
        Ok(())
    }

    /// The highest version of `R` both sides speak within `ours`, or `None`.
    pub fn version<R: Request>(&self, ours: RangeInclusive<i16>) -> Option<i16> {
        let (min, max) = *self.versions.get(&R::KEY)?;
        let high = max.min(*ours.end());
        (high >= min.max(*ours.start())).then_some(high)
    }

    /// Like [`Client::version`], but an error naming the API when there is none.
    pub fn require<R: Request>(&self, ours: RangeInclusive<i16>) -> Result<i16, CliError> {
        self.version::<R>(ours.clone()).ok_or_else(|| {
            let name =
                ApiKey::try_from(R::KEY).map_or_else(|()| R::KEY.to_string(), |k| format!("{k:?}"));
            CliError::failure(format!(
                "{}: the broker does not speak {name} at versions {}..={}",
                self.address,
                ours.start(),
                ours.end()
            ))
        })
    }

    /// Sends `request` at `version` and reads its response.
    pub fn call<R: Request>(&mut self, version: i16, request: &R) -> Result<R::Response, CliError> {
        let mut body = self.send::<R>(version, request)?;
        R::Response::decode(&mut body, version).map_err(|e| self.protocol(&format!("{e}")))
    }

    fn send<R: Request>(&mut self, version: i16, request: &R) -> Result<Bytes, CliError> {
        let correlation_id = self.write_request::<R>(version, request)?;
        let mut body = self.read_frame()?;
        let header_version = R::Response::header_version(version);
        let header = ResponseHeader::decode(&mut body, header_version)
            .map_err(|e| self.protocol(&format!("response header: {e}")))?;
        if header.correlation_id != correlation_id {
            return Err(self.protocol(&format!(
                "response {} answers request {correlation_id}",
                header.correlation_id
            )));
        }
        Ok(body)
    }

    fn write_request<R: Request>(&mut self, version: i16, request: &R) -> Result<i32, CliError> {
        self.correlation_id = self.correlation_id.wrapping_add(1);
        let header = RequestHeader::default()
            .with_request_api_key(R::KEY)
            .with_request_api_version(version)
            .with_correlation_id(self.correlation_id)
            .with_client_id(Some(StrBytes::from_static_str(CLIENT_ID)));
        let mut buf = BytesMut::with_capacity(64);
        buf.extend_from_slice(&[0; 4]);
        header
            .encode(&mut buf, R::header_version(version))
            .and_then(|()| request.encode(&mut buf, version))
            .map_err(|e| self.protocol(&format!("encoding a request: {e}")))?;
        let size =
            i32::try_from(buf.len() - 4).map_err(|_| self.protocol("a request over 2 GiB"))?;
        buf[..4].copy_from_slice(&size.to_be_bytes());
        self.stream.write_all(&buf).map_err(|e| self.io_error(&e))?;
        Ok(self.correlation_id)
    }

    fn read_frame(&mut self) -> Result<Bytes, CliError> {
        let mut size = [0u8; 4];
        self.stream
            .read_exact(&mut size)
            .map_err(|e| self.io_error(&e))?;
        let size = usize::try_from(i32::from_be_bytes(size))
            .map_err(|_| self.protocol("a negative response size"))?;
        if size > RESPONSE_MAX {
            return Err(self.protocol(&format!(
                "a response of {size} bytes, over the bound of {RESPONSE_MAX}"
            )));
        }
        let mut body = vec![0u8; size];
        self.stream
            .read_exact(&mut body)
            .map_err(|e| self.io_error(&e))?;
        Ok(Bytes::from(body))
    }

    /// An error code in a response, named.
    pub fn kafka_error(&self, what: &str, code: i16) -> CliError {
        CliError::failure(format!(
            "{}: {what} failed: {}",
            self.address,
            error_name(code)
        ))
    }

    fn protocol(&self, why: &str) -> CliError {
        CliError::failure(format!("{}: protocol error: {why}", self.address))
    }

    fn io_error(&self, err: &std::io::Error) -> CliError {
        CliError::failure(format!("{}: {err}", self.address))
    }
}

/// Kafka's name for an error code, e.g. `UNKNOWN_TOPIC_OR_PARTITION (3)`.
pub fn error_name(code: i16) -> String {
    match kafka_protocol::ResponseError::try_from_code(code) {
        None => "NONE (0)".to_owned(),
        Some(kafka_protocol::ResponseError::Unknown(c)) => format!("unknown error code {c}"),
        Some(e) => format!("{e:?} ({code})"),
    }
}

/// Whether an error code is worth retrying the same request for.
pub fn is_retriable(code: i16) -> bool {
    kafka_protocol::ResponseError::try_from_code(code).is_some_and(|e| e.is_retriable())
}
