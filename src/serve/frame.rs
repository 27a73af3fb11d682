//! Request and response frames, as every part of the server decodes and encodes them.

use std::panic::{AssertUnwindSafe, catch_unwind};

use bytes::{BufMut as _, Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, RequestHeader, ResponseHeader};
use kafka_protocol::protocol::{Decodable, Encodable, decode_request_header_from_buffer};

/// Decodes `T` at `version`; `None` if the bytes are not one. A panic in the decoder is
/// caught and counted as malformed input.
pub(super) fn decode<T: Decodable>(frame: &mut Bytes, version: i16) -> Option<T> {
    catch_unwind(AssertUnwindSafe(|| T::decode(frame, version)))
        .ok()?
        .ok()
}

/// Encodes a response frame: the length, the response header, the body; `None` if it
/// cannot be encoded (the connection is then closed).
pub(super) fn encode<T: Encodable>(
    correlation_id: i32,
    header_version: i16,
    body: &T,
    version: i16,
) -> Option<BytesMut> {
    let mut buf = BytesMut::with_capacity(64);
    buf.put_i32(0);
    let header = ResponseHeader::default().with_correlation_id(correlation_id);
    if header.encode(&mut buf, header_version).is_err() || body.encode(&mut buf, version).is_err() {
        return None;
    }
    let length = i32::try_from(buf.len() - 4).ok()?;
    buf[..4].copy_from_slice(&length.to_be_bytes());
    Some(buf)
}

/// Decodes a request's header from the front of `frame`, and its API key; `None` if the
/// header is malformed (a decoder panic included) or the key unknown.
pub(super) fn request_header(frame: &mut Bytes) -> Option<(RequestHeader, ApiKey)> {
    let header = catch_unwind(AssertUnwindSafe(|| {
        decode_request_header_from_buffer(frame)
    }))
    .ok()?
    .ok()?;
    let key = ApiKey::try_from(header.request_api_key).ok()?;
    Some((header, key))
}
