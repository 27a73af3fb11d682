//! Kafka-protocol requests against `brooklet serve`'s request handler, structure-aware: each
//! input is a run of frames, each naming an API the server answers and a version in its
//! range (so that the header decodes and the body reaches that API's decoder), then body
//! bytes from the input. One server over an in-memory file serves every input, so topics,
//! groups and producer ids created by one input meet the requests of the next.
//!
//! Nothing in brooklet may panic, and no request may make the process allocate out of
//! proportion to it (the codec's decoders are bounded by the bytes received: see
//! vendor/kafka-protocol/BROOKLET-PATCH.md). A panic inside the codec's decoders or the
//! `bytes` crate they call is caught by the server, which closes the connection; those
//! are tolerated here, and every other panic is a finding.

#![no_main]

use std::sync::{Arc, OnceLock};

use brooklet::serve::{ServeOptions, Server};
use brooklet::storage::{MemStorage, Storage};
use brooklet::{Brooklet, Options, TopicConfig};
use libfuzzer_sys::fuzz_target;

struct State {
    runtime: tokio::runtime::Runtime,
    server: Server,
    versions: Vec<(i16, i16, i16)>,
}

fn state() -> &'static State {
    static STATE: OnceLock<State> = OnceLock::new();
    STATE.get_or_init(|| {
        let default_hook = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let tolerated = info.location().is_some_and(|l| {
                l.file().contains("kafka-protocol") || l.file().contains("/bytes-")
            });
            if !tolerated {
                default_hook(info);
                std::process::abort();
            }
        }));
        let storage: Arc<dyn Storage> = Arc::new(MemStorage::new());
        let db = Brooklet::open_storage(storage, Options::default().maintain_on_open(false))
            .expect("an in-memory file");
        db.admin()
            .create_topic("orders", 2, TopicConfig::default())
            .expect("a topic");
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let options = ServeOptions {
            listen: "127.0.0.1:0".parse().expect("address"),
            ..ServeOptions::default()
        };
        let server = runtime.block_on(Server::bind(db, options)).expect("bind");
        State {
            runtime,
            server,
            versions: Server::versions(),
        }
    })
}

/// A request header at `version`'s header version: v1 (key, version, correlation id,
/// client id) or v2 (the same and an empty tagged-field section), chosen by `flexible`.
fn frame(key: i16, version: i16, flexible: bool, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(12 + body.len());
    out.extend_from_slice(&key.to_be_bytes());
    out.extend_from_slice(&version.to_be_bytes());
    out.extend_from_slice(&1i32.to_be_bytes());
    out.extend_from_slice(&6i16.to_be_bytes());
    out.extend_from_slice(b"fuzzer");
    if flexible {
        out.push(0);
    }
    out.extend_from_slice(body);
    out
}

fuzz_target!(|data: &[u8]| {
    let state = state();
    let mut rest = data;
    let mut frames = Vec::new();
    // Each frame: [api index, version pick, body length] then the body.
    while rest.len() >= 3 && frames.len() < 8 {
        let (key, min, max) = state.versions[usize::from(rest[0]) % state.versions.len()];
        let span = u8::try_from(max - min + 1).unwrap_or(u8::MAX);
        let version = min + i16::from(rest[1] % span);
        let flexible = rest[1] & 0x80 != 0;
        let length = usize::from(rest[2]).min(rest.len() - 3);
        frames.push(frame(key, version, flexible, &rest[3..3 + length]));
        rest = &rest[3 + length..];
    }
    // A fetch must not wait: the bodies are the fuzzer's, so a long poll could ask for
    // a minute; the handler caps waits, and a current-thread runtime's timers advance.
    state.runtime.block_on(async {
        for f in &frames {
            let _ = tokio::time::timeout(
                std::time::Duration::from_millis(50),
                state.server.answer_frame(f),
            )
            .await;
        }
    });
});
