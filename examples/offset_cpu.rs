//! The offset-commit workload, for instruction and system-call counts: one member of a
//! consumer group commits its partition's offset `commits` times at `Durability::None`
//! (or `immediate`). Run it under callgrind and count only the loop:
//!
//! ```text
//! cargo build --release --example offset_cpu
//! valgrind --tool=callgrind --toggle-collect='offset_cpu::commit_loop' \
//!     target/release/examples/offset_cpu none 10000
//! strace -c -f target/release/examples/offset_cpu none 10000
//! ```

use brooklet::{
    Brooklet, Consumer, ConsumerOptions, Durability, Position, TopicConfig, TopicPartition,
};

fn main() -> brooklet::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let durability = match args.get(1).map(String::as_str) {
        Some("immediate") => Durability::Immediate,
        _ => Durability::None,
    };
    let commits: u64 = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(10_000);
    let dir = tempfile::tempdir()?;
    let db = Brooklet::open(dir.path().join("offsets.brooklet"))?;
    db.admin().create_topic("log", 1, TopicConfig::default())?;
    let options = ConsumerOptions {
        auto_offset_reset: Some(Position::Beginning),
        auto_commit_interval: None,
        commit_durability: durability,
        ..ConsumerOptions::default()
    };
    let mut consumer = db.consumer("workers", &["log"], options)?;
    // One commit before the loop settles the member's first assignment.
    consumer.commit_offsets([(TopicPartition::new("log", 0), 0)])?;
    let started = std::time::Instant::now();
    commit_loop(&mut consumer, commits)?;
    let elapsed = started.elapsed();
    #[allow(clippy::cast_precision_loss)]
    let rate = commits as f64 / elapsed.as_secs_f64();
    println!("{commits} commits in {elapsed:?}: {rate:.0} commits/s");
    consumer.close()
}

/// The measured part: `commits` offset commits, each a transaction of its own.
#[inline(never)]
fn commit_loop(consumer: &mut Consumer, commits: u64) -> brooklet::Result<()> {
    for offset in 1..=commits {
        consumer.commit_offsets([(TopicPartition::new("log", 0), offset)])?;
    }
    Ok(())
}
