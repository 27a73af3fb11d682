//! Commits per second for 1-page and 16-page write transactions at each durability level,
//! on a real file. A 1-page transaction inserts one 100-byte value; a 16-page transaction
//! writes sixteen values of one page each (4000 bytes at 4 KiB pages). After each, the
//! engine's counters say what the commits cost in syncs, bytes and pages.

use std::hint::black_box;

use brooklet::Durability;
use brooklet::engine::{Engine, EngineOptions};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};

fn commits(c: &mut Criterion) {
    let mut group = c.benchmark_group("commit");
    group.throughput(Throughput::Elements(1));
    group.sample_size(20);
    for (label, durability) in [
        ("none", Durability::None),
        ("immediate", Durability::Immediate),
        ("paranoid", Durability::Paranoid),
    ] {
        for pages in [1usize, 16] {
            let dir = tempfile::tempdir().expect("tempdir");
            let engine = Engine::open(dir.path().join("bench.brooklet"), &EngineOptions::default())
                .expect("open");
            let value_len = if pages == 1 { 100 } else { 4000 };
            let value = vec![7u8; value_len];
            let mut n = 0u64;
            let before = engine.stats();
            group.bench_function(BenchmarkId::new(label, format!("{pages}-page")), |b| {
                b.iter(|| {
                    let mut txn = engine.begin_write().expect("write");
                    for _ in 0..pages {
                        n += 1;
                        // Keys cycle so the tree stays a steady size and pages are reused.
                        let key = (n % 10_000).to_be_bytes();
                        txn.insert("bench", &key, &value).expect("insert");
                    }
                    black_box(txn.commit(durability).expect("commit"));
                });
            });
            print_counters(
                &format!("{label}/{pages}-page"),
                &engine.stats().since(&before),
            );
        }
    }
    group.finish();
}

/// What the timed commits cost by brooklet's own counters (warm-up included), so a
/// timing comes with its cause.
fn print_counters(what: &str, spent: &brooklet::Stats) {
    let commits = (spent.commits_none + spent.commits_immediate + spent.commits_paranoid).max(1);
    println!(
        "{what}: {commits} commits made {} fdatasyncs; per commit {} bytes written in {} \
         calls, {} bytes read, {} pages allocated ({} grown), {} freed",
        spent.fdatasyncs,
        spent.bytes_written / commits,
        spent.write_calls / commits,
        spent.bytes_read / commits,
        spent.pages_allocated / commits,
        spent.pages_grown / commits,
        spent.pages_freed / commits,
    );
}

criterion_group!(benches, commits);
criterion_main!(benches);
