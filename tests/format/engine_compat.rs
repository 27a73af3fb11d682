//! Format compatibility: files written by earlier builds are checked in under `tests/data`
//! and must keep opening, reading and checking clean. Regenerate a golden file only with a
//! format version bump: `BROOKLET_WRITE_GOLDEN=1 cargo test --test format engine_compat`.

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::support::engine::{Model, read_all};
use brooklet::Durability;
use brooklet::engine::{Engine, EngineOptions};

const GOLDEN_ENGINE_V2: &str = "engine-v2-512.brooklet";

fn data_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

/// The content of the engine golden file: small values, blobs, several trees.
fn golden_content() -> Model {
    let mut alpha = BTreeMap::new();
    for i in 0..200u32 {
        let len = if i % 25 == 0 { 700 } else { (i % 40) as usize };
        let value = (0..len)
            .map(|j| u8::try_from((i as usize + j) % 251).expect("small"))
            .collect();
        alpha.insert(format!("key-{i:04}").into_bytes(), value);
    }
    let mut beta = BTreeMap::new();
    beta.insert(b"empty".to_vec(), Vec::new());
    beta.insert(vec![0, 255, 1], b"binary key".to_vec());
    let mut model = Model::new();
    model.insert("alpha".to_owned(), alpha);
    model.insert("beta".to_owned(), beta);
    model
}

fn write_golden(path: &PathBuf) {
    let _ = std::fs::remove_file(path);
    let options = EngineOptions {
        page_size: 512,
        ..EngineOptions::default()
    };
    let engine = Engine::open(path, &options).expect("create golden file");
    for (tree, entries) in golden_content() {
        // Several commits, including a non-durable one, so the file has a history.
        for chunk in entries.into_iter().collect::<Vec<_>>().chunks(50) {
            let mut txn = engine.begin_write().expect("write");
            for (k, v) in chunk {
                txn.insert(&tree, k, v).expect("insert");
            }
            txn.commit(Durability::None).expect("commit");
        }
    }
    engine.flush().expect("flush");
}

#[test]
fn engine_v2_golden_file_reads() {
    let golden = data_path(GOLDEN_ENGINE_V2);
    if std::env::var_os("BROOKLET_WRITE_GOLDEN").is_some() {
        write_golden(&golden);
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let copy = dir.path().join("copy.brooklet");
    std::fs::copy(&golden, &copy).expect("golden file is checked in");
    let engine = Engine::open_existing(&copy, &EngineOptions::default()).expect("open golden");
    assert_eq!(engine.page_size(), 512);
    let read = engine.begin_read().expect("read");
    assert_eq!(read_all(&read).expect("read all"), golden_content());
    drop(read);
    let report = engine.check().expect("check");
    assert!(report.is_clean(), "{:?}", report.problems);
    // The old file takes new commits.
    let mut txn = engine.begin_write().expect("write");
    txn.insert("gamma", b"new", b"commit").expect("insert");
    txn.commit(Durability::Immediate).expect("commit");
    assert!(engine.check().expect("check").is_clean());
}
