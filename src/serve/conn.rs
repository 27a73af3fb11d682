//! One connection: read a frame (a 4-byte big-endian length, checked against the largest
//! request before anything is allocated), decode its header and body with the
//! `kafka-protocol` crate, answer it, write the response. Requests on one connection are
//! answered one at a time and in order, as Kafka's clients expect.
//!
//! A frame that is too short or too long, a header that does not decode, an API key not
//! served or a version not served (but for `ApiVersions`, which is answered with
//! `UNSUPPORTED_VERSION` at version 0, as Kafka's broker answers it) closes the
//! connection: no response can be encoded for them.

use std::future::{Future, ready};

use bytes::{Bytes, BytesMut};
use kafka_protocol::ResponseError;
use kafka_protocol::messages::{ApiKey, ApiVersionsRequest, RequestHeader};
use kafka_protocol::protocol::{Decodable, Encodable};
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _};
use tokio::sync::watch;

use super::frame::{self, decode};
use super::{Context, admin, data, delete_records, group_admin, offsets, sasl, versions};

/// What a request gets.
pub(super) enum Outcome {
    /// This response frame.
    Respond(BytesMut),
    /// Nothing (a produce with `acks=0`).
    Silent,
    /// The connection is closed.
    Close,
}

/// The smallest request: api key, version and correlation id.
const REQUEST_MIN: u32 = 8;

/// Serves one connection until the client closes it, it idles past the timeout, it sends
/// something that closes it, fails its SASL authentication, or the server stops (between
/// requests). `stream` is the TCP stream or the TLS stream over it.
pub(super) async fn serve(
    mut stream: impl AsyncRead + AsyncWrite + Unpin,
    context: &Context,
    mut stop: watch::Receiver<bool>,
) {
    let mut session = sasl::Session::new(context.options.sasl.as_ref());
    loop {
        if *stop.borrow() {
            return;
        }
        let mut length = [0u8; 4];
        tokio::select! {
            read = tokio::time::timeout(context.options.idle_timeout, stream.read_exact(&mut length)) => {
                if !matches!(read, Ok(Ok(_))) {
                    return;
                }
            }
            _ = stop.changed() => return,
        }
        let Ok(size) = u32::try_from(i32::from_be_bytes(length)) else {
            return;
        };
        if !(REQUEST_MIN..=context.options.max_request_bytes).contains(&size) {
            return;
        }
        let mut frame = vec![0u8; size as usize];
        let read =
            tokio::time::timeout(context.options.idle_timeout, stream.read_exact(&mut frame));
        if !matches!(read.await, Ok(Ok(_))) {
            return;
        }
        let frame = Bytes::from(frame);
        let outcome = match session.check(&frame) {
            sasl::Outcome::Serve => handle(context, frame).await,
            sasl::Outcome::Respond(response) => Outcome::Respond(response),
            sasl::Outcome::Close => Outcome::Close,
        };
        match outcome {
            Outcome::Respond(response) => {
                // A TLS stream keeps what the socket did not take until it is flushed.
                let sent =
                    stream.write_all(&response).await.is_ok() && stream.flush().await.is_ok();
                if !sent || session.failed() {
                    return;
                }
            }
            Outcome::Silent => {}
            Outcome::Close => return,
        }
    }
}

/// Encodes a response frame: the length, the response header, the body.
fn encode<T: Encodable>(
    correlation_id: i32,
    header_version: i16,
    body: &T,
    version: i16,
) -> Outcome {
    frame::encode(correlation_id, header_version, body, version)
        .map_or(Outcome::Close, Outcome::Respond)
}

/// Decodes the body as `Req`, answers it with `answer`, and encodes the response.
async fn answer<Req, Resp, Fut>(
    mut frame: Bytes,
    (key, header): (ApiKey, &RequestHeader),
    answer: impl FnOnce(Req) -> Fut,
) -> Outcome
where
    Req: Decodable,
    Resp: Encodable,
    Fut: Future<Output = Resp>,
{
    let version = header.request_api_version;
    let Some(request) = decode::<Req>(&mut frame, version) else {
        return Outcome::Close;
    };
    let response = answer(request).await;
    encode(
        header.correlation_id,
        key.response_header_version(version),
        &response,
        version,
    )
}

/// Answers one request frame.
pub(super) async fn handle(context: &Context, mut frame: Bytes) -> Outcome {
    let Some((header, key)) = frame::request_header(&mut frame) else {
        return Outcome::Close;
    };
    let version = header.request_api_version;
    if !versions::supports(key, version) {
        if key == ApiKey::ApiVersions {
            let sasl = context.options.sasl.is_some();
            let response = versions::response_with(Some(ResponseError::UnsupportedVersion), sasl);
            return encode(header.correlation_id, 0, &response, 0);
        }
        return Outcome::Close;
    }
    let at = (key, &header);
    match key {
        ApiKey::ApiVersions => {
            answer(frame, at, |_: ApiVersionsRequest| async {
                versions::response_with(None, context.options.sasl.is_some())
            })
            .await
        }
        ApiKey::Metadata => answer(frame, at, |r| admin::metadata(context, r, version)).await,
        ApiKey::CreateTopics => answer(frame, at, |r| admin::create_topics(context, r)).await,
        ApiKey::DeleteTopics => answer(frame, at, |r| admin::delete_topics(context, r)).await,
        ApiKey::DescribeConfigs => answer(frame, at, |r| admin::describe_configs(context, r)).await,
        ApiKey::IncrementalAlterConfigs => {
            answer(frame, at, |r| admin::alter_configs(context, r)).await
        }
        ApiKey::Produce => {
            let Some(request) = decode(&mut frame, version) else {
                return Outcome::Close;
            };
            let (acks, response) = data::produce(context, request).await;
            if acks == 0 {
                Outcome::Silent
            } else {
                encode(
                    header.correlation_id,
                    key.response_header_version(version),
                    &response,
                    version,
                )
            }
        }
        ApiKey::Fetch => answer(frame, at, |r| data::fetch(context, r, version)).await,
        ApiKey::ListOffsets => answer(frame, at, |r| data::list_offsets(context, r)).await,
        ApiKey::DeleteRecords => {
            answer(frame, at, |r| delete_records::delete_records(context, r)).await
        }
        ApiKey::InitProducerId => answer(frame, at, |r| data::init_producer_id(context, r)).await,
        ApiKey::FindCoordinator => {
            answer(frame, at, |r| async move {
                offsets::find_coordinator(context, &r)
            })
            .await
        }
        ApiKey::JoinGroup => answer(frame, at, |r| group_admin::join(context, r, &header)).await,
        ApiKey::SyncGroup => answer(frame, at, |r| group_admin::sync(context, r)).await,
        ApiKey::Heartbeat => {
            answer(frame, at, |r| async move { context.groups.heartbeat(&r) }).await
        }
        ApiKey::LeaveGroup => answer(frame, at, |r| ready(group_admin::leave(context, &r))).await,
        ApiKey::ListGroups => answer(frame, at, |r| group_admin::list(context, r)).await,
        ApiKey::DescribeGroups => answer(frame, at, |r| group_admin::describe(context, r)).await,
        ApiKey::DeleteGroups => answer(frame, at, |r| group_admin::delete(context, r)).await,
        ApiKey::OffsetCommit => answer(frame, at, |r| offsets::commit(context, r)).await,
        ApiKey::OffsetFetch => answer(frame, at, |r| offsets::fetch(context, r)).await,
        _ => Outcome::Close,
    }
}
