//! Rebalance callbacks: `on_revoked` names only partitions the member was given.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use brooklet::{Assignor, Brooklet, ConsumerOptions, Position, TopicConfig, TopicPartition};

fn options() -> ConsumerOptions {
    ConsumerOptions {
        auto_offset_reset: Some(Position::Beginning),
        auto_commit_interval: None,
        heartbeat_interval: Duration::from_millis(50),
        assignor: Assignor::Sticky,
        ..ConsumerOptions::default()
    }
}

/// Member `b` is given partitions 3, 4 and 5 when `a` releases them, but before `b` polls,
/// `c` joins and the sticky assignment moves partition 5 on to `c`. `b`'s next poll then
/// calls `on_revoked` with partition 5, which `b` never owned: it was in no `assignment()`
/// and no `on_assigned` call. (`Consumer::sync` takes every partition the group state
/// lists as `b`'s with a pending new owner as revoked, without checking `self.owned`.)
#[test]
fn on_revoked_names_only_partitions_the_member_was_given() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Brooklet::open(dir.path().join("g.brooklet")).expect("open");
    db.admin()
        .create_topic("t", 6, TopicConfig::default())
        .expect("create");
    let mut a = db.consumer("g", &["t"], options()).expect("a joins");
    assert_eq!(a.assignment().len(), 6, "a, alone, owns every partition");
    let given = Arc::new(Mutex::new(Vec::<TopicPartition>::new()));
    let revoked = Arc::new(Mutex::new(Vec::<TopicPartition>::new()));
    let b = db.consumer("g", &["t"], options()).expect("b joins");
    given.lock().expect("given").extend(b.assignment());
    let (to_given, to_revoked) = (Arc::clone(&given), Arc::clone(&revoked));
    let mut b = b
        .on_assigned(move |tps| to_given.lock().expect("given").extend_from_slice(tps))
        .on_revoked(move |tps| to_revoked.lock().expect("revoked").extend_from_slice(tps));
    // `a` polls (the topic is empty, so the poll waits and syncs) and releases 3, 4, 5.
    a.poll(Duration::from_millis(200)).expect("poll a");
    assert_eq!(a.assignment().len(), 3);
    let c = db.consumer("g", &["t"], options()).expect("c joins");
    b.poll(Duration::from_millis(200)).expect("poll b");
    let (given, revoked) = (
        given.lock().expect("given").clone(),
        revoked.lock().expect("revoked").clone(),
    );
    for tp in &revoked {
        assert!(
            given.contains(tp),
            "on_revoked named {tp:?}, never given to b (given {given:?}, revoked {revoked:?})"
        );
    }
    drop((a, b, c));
}
