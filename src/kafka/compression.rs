//! Kafka's compression codecs for the records section of a batch (attribute bits 0-2):
//! gzip, snappy, lz4 and zstd, each through its own well-kept crate, none written here.
//!
//! In a compressed batch everything after the 61-byte header (the records, back to back,
//! as an uncompressed batch holds them) is one compressed stream; the header, its CRC
//! (which covers the compressed bytes) and its record count are those of the batch.
//! The framing of each codec is Kafka's:
//! - gzip (1): a gzip stream (RFC 1952); several members are read as one stream.
//! - snappy (2): either one raw snappy block, as librdkafka writes it (and as brooklet
//!   writes it), or the "xerial" framing Kafka's Java client writes: the 8 bytes
//!   `82 'S' 'N' 'A' 'P' 'P' 'Y' 00`, two big-endian `i32` versions, then blocks, each a
//!   big-endian `i32` length and a raw snappy block of that many bytes.
//! - lz4 (3): LZ4 frames (the standard frame format, magic `04 22 4D 18`).
//! - zstd (4): zstd frames.
//!
//! Decompression is bounded: a section that expands past [`MAX_DECOMPRESSED_SIZE`] is a
//! corrupt batch, found while decompressing, never after allocating what it claims. Any
//! malformed stream is [`crate::CorruptionKind::BadBatch`] too.

use std::io::{Read, Write};

use super::wire::bad_batch;
use crate::error::{Error, Result};

/// Most bytes the records section of one compressed batch may expand to: 64 MiB. A batch is
/// at most [`super::MAX_BATCH_SIZE`] bytes as stored, so this allows a ratio of 64 to 1
/// and stops a "decompression bomb" well before it can exhaust memory.
pub const MAX_DECOMPRESSED_SIZE: usize = 64 << 20;

/// Largest zstd window accepted when decompressing (2^24 bytes, 16 MiB): every level up to
/// 19 uses less, and it bounds what a hostile frame header makes the decoder allocate.
const ZSTD_WINDOW_LOG_MAX: u32 = 24;
/// zstd's level when none is chosen (the level Kafka's producers use).
const ZSTD_LEVEL: i32 = 3;
/// The first 8 bytes of the xerial snappy framing.
const XERIAL_MAGIC: [u8; 8] = [0x82, b'S', b'N', b'A', b'P', b'P', b'Y', 0];
/// The xerial framing's header: the magic and two big-endian `i32` versions.
const XERIAL_HEADER_SIZE: usize = XERIAL_MAGIC.len() + 8;

/// A Kafka compression codec: what bits 0-2 of a batch's attributes name.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Compression {
    /// No compression (0).
    #[default]
    None,
    /// gzip (1).
    Gzip,
    /// snappy (2).
    Snappy,
    /// lz4 (3), LZ4 frames.
    Lz4,
    /// zstd (4).
    Zstd,
}

impl Compression {
    /// The codec Kafka's attribute bits 0-2 name, or `None` for 5 to 7 (not a codec).
    #[must_use]
    pub fn from_id(id: u16) -> Option<Self> {
        Some(match id {
            0 => Self::None,
            1 => Self::Gzip,
            2 => Self::Snappy,
            3 => Self::Lz4,
            4 => Self::Zstd,
            _ => return None,
        })
    }

    /// Kafka's id of the codec, as attribute bits 0-2 hold it.
    #[must_use]
    pub fn id(self) -> u16 {
        match self {
            Self::None => 0,
            Self::Gzip => 1,
            Self::Snappy => 2,
            Self::Lz4 => 3,
            Self::Zstd => 4,
        }
    }

    /// Kafka's name of the codec: `none`, `gzip`, `snappy`, `lz4` or `zstd`.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Gzip => "gzip",
            Self::Snappy => "snappy",
            Self::Lz4 => "lz4",
            Self::Zstd => "zstd",
        }
    }
}

/// Appends to `out` the records section `input` of a batch decompressed with `codec`. At
/// most [`MAX_DECOMPRESSED_SIZE`] bytes are appended: a longer section is an error. On
/// error `out` is cut back to its length on entry.
pub(crate) fn decompress(codec: Compression, input: &[u8], out: &mut Vec<u8>) -> Result<()> {
    let start = out.len();
    let result = match codec {
        Compression::None => {
            bounded(input.len())?;
            out.extend_from_slice(input);
            Ok(())
        }
        Compression::Gzip => read_bounded(flate2::read::MultiGzDecoder::new(input), out, "gzip"),
        Compression::Snappy if input.starts_with(&XERIAL_MAGIC) => xerial(input, out),
        Compression::Snappy => snappy_block(input, out, start),
        Compression::Lz4 => read_bounded(lz4_flex::frame::FrameDecoder::new(input), out, "lz4"),
        Compression::Zstd => {
            zstd_decoder(input).and_then(|decoder| read_bounded(decoder, out, "zstd"))
        }
    };
    if result.is_err() {
        out.truncate(start);
    }
    result
}

/// Appends `input` compressed with `codec` to `out` (each codec at its default level;
/// snappy as one raw block). `Compression::None` appends `input` as it is.
pub(crate) fn compress(codec: Compression, input: &[u8], out: &mut Vec<u8>) {
    match codec {
        Compression::None => out.extend_from_slice(input),
        Compression::Gzip => {
            let mut encoder = flate2::write::GzEncoder::new(out, flate2::Compression::default());
            encoder
                .write_all(input)
                .expect("writing to a Vec cannot fail");
            encoder.finish().expect("writing to a Vec cannot fail");
        }
        Compression::Snappy => {
            let start = out.len();
            out.resize(start + snap::raw::max_compress_len(input.len()), 0);
            let written = snap::raw::Encoder::new()
                .compress(input, &mut out[start..])
                .expect("the buffer has snappy's largest size for the input");
            out.truncate(start + written);
        }
        Compression::Lz4 => {
            // Independent 64 KiB blocks and no checksums, as Kafka's Java client writes
            // them: every LZ4 frame reader accepts that.
            let info = lz4_flex::frame::FrameInfo::new()
                .block_size(lz4_flex::frame::BlockSize::Max64KB)
                .block_mode(lz4_flex::frame::BlockMode::Independent);
            let mut encoder = lz4_flex::frame::FrameEncoder::with_frame_info(info, out);
            encoder
                .write_all(input)
                .expect("writing to a Vec cannot fail");
            encoder.finish().expect("writing to a Vec cannot fail");
        }
        Compression::Zstd => {
            let mut encoder =
                zstd::stream::write::Encoder::new(out, ZSTD_LEVEL).expect("a valid zstd level");
            // The size is known, so the frame records it and the window fits the input.
            encoder
                .set_pledged_src_size(Some(input.len() as u64))
                .expect("set before any input");
            encoder
                .write_all(input)
                .expect("writing to a Vec cannot fail");
            encoder.finish().expect("writing to a Vec cannot fail");
        }
    }
}

fn bounded(size: usize) -> Result<()> {
    if size > MAX_DECOMPRESSED_SIZE {
        return Err(bomb());
    }
    Ok(())
}

#[cold]
fn bomb() -> Error {
    bad_batch("compressed records expand past MAX_DECOMPRESSED_SIZE (64 MiB)")
}

/// Reads all of `reader` into `out`, failing once more than [`MAX_DECOMPRESSED_SIZE`]
/// bytes came out.
fn read_bounded(reader: impl Read, out: &mut Vec<u8>, codec: &'static str) -> Result<()> {
    let start = out.len();
    let limit = MAX_DECOMPRESSED_SIZE as u64 + 1;
    reader
        .take(limit)
        .read_to_end(out)
        .map_err(|_| malformed(codec))?;
    bounded(out.len() - start)
}

#[cold]
fn malformed(codec: &'static str) -> Error {
    bad_batch(match codec {
        "gzip" => "gzip records section is malformed or truncated",
        "lz4" => "lz4 records section is malformed or truncated",
        "zstd" => "zstd records section is malformed or truncated",
        _ => "snappy records section is malformed or truncated",
    })
}

fn zstd_decoder(input: &[u8]) -> Result<impl Read + '_> {
    let mut decoder = zstd::stream::read::Decoder::with_buffer(input)
        .map_err(|_| bad_batch("zstd decoder failed to start"))?;
    decoder
        .window_log_max(ZSTD_WINDOW_LOG_MAX)
        .map_err(|_| bad_batch("zstd decoder failed to start"))?;
    Ok(decoder)
}

/// One raw snappy block: its preamble gives its decompressed length, checked against the
/// bound before anything is allocated.
fn snappy_block(input: &[u8], out: &mut Vec<u8>, start: usize) -> Result<()> {
    let length = snap::raw::decompress_len(input).map_err(|_| malformed("snappy"))?;
    bounded(out.len() - start + length)?;
    let at = out.len();
    out.resize(at + length, 0);
    let written = snap::raw::Decoder::new()
        .decompress(input, &mut out[at..])
        .map_err(|_| malformed("snappy"))?;
    if written != length {
        return Err(malformed("snappy"));
    }
    Ok(())
}

/// The xerial framing: the header, then length-prefixed raw snappy blocks to the end.
fn xerial(input: &[u8], out: &mut Vec<u8>) -> Result<()> {
    let start = out.len();
    let Some(mut rest) = input.get(XERIAL_HEADER_SIZE..) else {
        return Err(bad_batch("snappy xerial header is truncated"));
    };
    while !rest.is_empty() {
        let Some((length, tail)) = rest.split_first_chunk::<4>() else {
            return Err(bad_batch("snappy xerial block length is truncated"));
        };
        let length = usize::try_from(i32::from_be_bytes(*length))
            .map_err(|_| bad_batch("snappy xerial block length is negative"))?;
        let Some(block) = tail.get(..length) else {
            return Err(bad_batch(
                "snappy xerial block runs past the records section",
            ));
        };
        snappy_block(block, out, start)?;
        rest = &tail[length..];
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const CODECS: [Compression; 5] = [
        Compression::None,
        Compression::Gzip,
        Compression::Snappy,
        Compression::Lz4,
        Compression::Zstd,
    ];

    fn sample() -> Vec<u8> {
        (0..100_000u32)
            .flat_map(|i| format!("{{\"n\":{},\"k\":\"v\"}}", i % 97).into_bytes())
            .collect()
    }

    #[test]
    fn every_codec_round_trips_and_ids_match_kafka() {
        let input = sample();
        for (id, codec) in CODECS.into_iter().enumerate() {
            assert_eq!(Compression::from_id(codec.id()), Some(codec));
            assert_eq!(usize::from(codec.id()), id);
            let mut packed = vec![7];
            compress(codec, &input, &mut packed);
            if codec != Compression::None {
                assert!(
                    packed.len() < input.len() / 4,
                    "{} compresses",
                    codec.name()
                );
            }
            let mut out = vec![9];
            decompress(codec, &packed[1..], &mut out).expect("decompresses");
            assert_eq!(&out[1..], &input[..], "{}", codec.name());
        }
        assert_eq!(Compression::from_id(5), None);
    }

    #[test]
    fn xerial_framing_is_read() {
        let input = sample();
        let mut framed = XERIAL_MAGIC.to_vec();
        framed.extend_from_slice(&1_i32.to_be_bytes());
        framed.extend_from_slice(&1_i32.to_be_bytes());
        for chunk in input.chunks(32 << 10) {
            let block = snap::raw::Encoder::new()
                .compress_vec(chunk)
                .expect("block");
            framed.extend_from_slice(&i32::try_from(block.len()).expect("small").to_be_bytes());
            framed.extend_from_slice(&block);
        }
        let mut out = Vec::new();
        decompress(Compression::Snappy, &framed, &mut out).expect("xerial");
        assert_eq!(out, input);
        // Cut inside a block: an error, and nothing appended.
        let mut out = vec![1];
        assert!(decompress(Compression::Snappy, &framed[..framed.len() - 3], &mut out).is_err());
        assert_eq!(out, [1]);
    }

    #[test]
    fn bombs_garbage_and_truncation_are_bad_batches() {
        let zeros = vec![0u8; MAX_DECOMPRESSED_SIZE + 1];
        for codec in CODECS.into_iter().skip(1) {
            let mut bomb_bytes = Vec::new();
            compress(codec, &zeros, &mut bomb_bytes);
            let mut out = Vec::new();
            let error = decompress(codec, &bomb_bytes, &mut out).expect_err("a bomb");
            assert!(
                error.to_string().contains("MAX_DECOMPRESSED_SIZE"),
                "{error}"
            );
            assert!(out.is_empty());

            let mut packed = Vec::new();
            compress(codec, &sample(), &mut packed);
            for cut in [0, 1, packed.len() / 2, packed.len() - 6] {
                let result = decompress(codec, &packed[..cut], &mut out);
                // An empty gzip/lz4/zstd input is an empty stream for some decoders; a
                // shorter one never yields the sample.
                assert!(
                    result.is_err() || out != sample(),
                    "{} cut {cut} of {}: {result:?} {} bytes",
                    codec.name(),
                    packed.len(),
                    out.len()
                );
                out.clear();
            }
            let garbage: Vec<u8> = (0..200u8).map(|b| b.wrapping_mul(37)).collect();
            assert!(
                decompress(codec, &garbage, &mut out).is_err(),
                "{}",
                codec.name()
            );
        }
    }
}
