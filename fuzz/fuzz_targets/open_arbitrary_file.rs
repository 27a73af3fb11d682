//! Opens arbitrary bytes as a brooklet file, reads every tree in both directions and runs
//! `check`. Any panic, abort or unbounded allocation is a bug: damaged files must yield
//! typed errors.

#![no_main]

use std::sync::Arc;

use brooklet::engine::{Engine, EngineOptions};
use brooklet::storage::{MemStorage, Storage};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if data.is_empty() {
        return; // an empty file is a new file, not a damaged one
    }
    let storage: Arc<dyn Storage> = Arc::new(MemStorage::from_bytes(data.to_vec()));
    let options = EngineOptions {
        cache_bytes: 64 * 1024,
        ..EngineOptions::default()
    };
    let Ok(engine) = Engine::open_storage(storage, &options) else {
        return;
    };
    if let Ok(read) = engine.begin_read() {
        if let Ok(names) = read.tree_names() {
            for name in names {
                if let Ok(entries) = read.range(&name, ..) {
                    for item in entries.take(10_000) {
                        if item.is_err() {
                            break;
                        }
                    }
                }
                if let Ok(entries) = read.range_rev(&name, ..) {
                    for item in entries.take(10_000) {
                        if item.is_err() {
                            break;
                        }
                    }
                }
                let _ = read.get(&name, b"key");
            }
        }
    }
    let _ = engine.check();
});
