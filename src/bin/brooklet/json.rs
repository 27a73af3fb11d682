//! The JSON record form shared by `consume --format json`, `export --format jsonl` and
//! `import`:
//!
//! `{"topic":..,"partition":..,"offset":..,"timestamp":..,"key":..,"value":..,"headers":[[k,v],..]}`
//!
//! Byte strings (key, value, header values) are a JSON string when they are UTF-8, `null`
//! for Kafka's null, and `{"base64": "..."}` (standard alphabet, padded) otherwise.

use brooklet::{Header, Record, StoredRecord};
use serde_json::{Map, Value, json};

/// One record as a JSON line (without the newline).
pub fn record_line(topic: &str, partition: u32, record: &StoredRecord) -> String {
    let headers: Vec<Value> = record
        .headers
        .iter()
        .map(|h| json!([h.key, bytes_value(h.value.as_deref())]))
        .collect();
    json!({
        "topic": topic,
        "partition": partition,
        "offset": record.offset,
        "timestamp": record.timestamp_ms,
        "key": bytes_value(record.key.as_deref()),
        "value": bytes_value(record.value.as_deref()),
        "headers": headers,
    })
    .to_string()
}

/// A byte string as JSON: a string, null, or `{"base64": ...}`.
pub fn bytes_value(bytes: Option<&[u8]>) -> Value {
    let Some(bytes) = bytes else {
        return Value::Null;
    };
    if let Ok(text) = std::str::from_utf8(bytes) {
        Value::String(text.to_owned())
    } else {
        let mut map = Map::new();
        map.insert("base64".to_owned(), Value::String(base64_encode(bytes)));
        Value::Object(map)
    }
}

/// A record parsed from a JSON line, with the partition it names, if any.
#[derive(Debug)]
pub struct ParsedRecord {
    pub partition: Option<u32>,
    pub record: Record,
}

/// Parses one JSON line into a record.
pub fn parse_record(line: &[u8]) -> Result<ParsedRecord, String> {
    let value: Value = serde_json::from_slice(line).map_err(|e| format!("not valid JSON: {e}"))?;
    let Value::Object(object) = value else {
        return Err("expected a JSON object".to_owned());
    };
    let partition = match object.get("partition") {
        None | Some(Value::Null) => None,
        Some(v) => Some(
            v.as_u64()
                .and_then(|p| u32::try_from(p).ok())
                .ok_or("\"partition\" must be a non-negative integer")?,
        ),
    };
    let timestamp_ms = match object.get("timestamp") {
        None | Some(Value::Null) => None,
        Some(v) => Some(
            v.as_i64()
                .filter(|t| *t >= 0)
                .ok_or("\"timestamp\" must be a non-negative integer (milliseconds)")?,
        ),
    };
    let key = parse_bytes(object.get("key"), "key")?;
    let value = parse_bytes(object.get("value"), "value")?;
    let headers = match object.get("headers") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items
            .iter()
            .map(parse_header)
            .collect::<Result<_, String>>()?,
        Some(_) => return Err("\"headers\" must be a list of [key, value] pairs".to_owned()),
    };
    Ok(ParsedRecord {
        partition,
        record: Record {
            key,
            value,
            headers,
            timestamp_ms,
        },
    })
}

fn parse_header(item: &Value) -> Result<Header, String> {
    match item.as_array().map(Vec::as_slice) {
        Some([Value::String(key), value]) => Ok(Header {
            key: key.clone(),
            value: parse_bytes(Some(value), "header value")?,
        }),
        _ => Err("each header must be a [key, value] pair with a string key".to_owned()),
    }
}

fn parse_bytes(value: Option<&Value>, what: &str) -> Result<Option<Vec<u8>>, String> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => Ok(Some(text.as_bytes().to_vec())),
        Some(Value::Object(map)) if map.len() == 1 => match map.get("base64") {
            Some(Value::String(encoded)) => base64_decode(encoded)
                .map(Some)
                .ok_or_else(|| format!("{what}: invalid base64")),
            _ => Err(format!(
                "{what} must be a string, null or {{\"base64\": \"...\"}}"
            )),
        },
        Some(_) => Err(format!(
            "{what} must be a string, null or {{\"base64\": \"...\"}}"
        )),
    }
}

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Standard base64 with padding (RFC 4648).
pub fn base64_encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[(n >> (18 - 6 * i)) as usize & 63]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Decodes standard base64 with padding; `None` if malformed.
pub fn base64_decode(text: &str) -> Option<Vec<u8>> {
    let bytes = text.as_bytes();
    if !bytes.len().is_multiple_of(4) {
        return None;
    }
    let mut out = Vec::with_capacity(bytes.len() / 4 * 3);
    let quads = bytes.len() / 4;
    for (index, quad) in bytes.chunks(4).enumerate() {
        let padding = quad.iter().rev().take_while(|&&b| b == b'=').count();
        if padding > 2 || (padding > 0 && index + 1 != quads) {
            return None;
        }
        let mut n = 0u32;
        for &b in &quad[..4 - padding] {
            let digit = ALPHABET.iter().position(|&a| a == b)?;
            n = (n << 6) | u32::try_from(digit).expect("digit < 64");
        }
        n <<= 6 * padding;
        let decoded = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
        out.extend_from_slice(&decoded[..3 - padding]);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_round_trips() {
        for (plain, encoded) in [
            (&b""[..], ""),
            (b"f", "Zg=="),
            (b"fo", "Zm8="),
            (b"foo", "Zm9v"),
            (b"foob", "Zm9vYg=="),
            (b"\xff\xfe\x00", "//4A"),
        ] {
            assert_eq!(base64_encode(plain), encoded);
            assert_eq!(base64_decode(encoded).as_deref(), Some(plain));
        }
        for bad in ["Zg=", "Z===", "Zg==Zg==", "Zm9*"] {
            assert_eq!(base64_decode(bad), None, "{bad}");
        }
    }

    #[test]
    fn records_round_trip_through_json() {
        let stored = StoredRecord {
            offset: 3,
            timestamp_ms: 1_700_000_000_000,
            key: Some(b"\xffkey".to_vec()),
            value: None,
            headers: vec![
                Header {
                    key: "a".to_owned(),
                    value: Some(b"1".to_vec()),
                },
                Header {
                    key: "a".to_owned(),
                    value: None,
                },
            ],
        };
        let line = record_line("t", 2, &stored);
        let parsed = parse_record(line.as_bytes()).expect("parses");
        assert_eq!(parsed.partition, Some(2));
        assert_eq!(parsed.record.key, stored.key);
        assert_eq!(parsed.record.value, None);
        assert_eq!(parsed.record.headers, stored.headers);
        assert_eq!(parsed.record.timestamp_ms, Some(stored.timestamp_ms));
        assert!(parse_record(b"[1]").is_err());
        assert!(parse_record(b"{\"key\": 5}").is_err());
    }
}
