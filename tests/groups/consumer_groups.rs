//! Consumer groups: committed offsets, sharing partitions between members, hand-over on
//! leave, fencing of members that lost their partitions, handler-style consumption, and
//! the inspection API.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use brooklet::{
    Assignor, Brooklet, ConsumerOptions, Error, OnHandlerError, Position, Record, RunError,
    TopicConfig, TopicPartition,
};

fn options() -> ConsumerOptions {
    ConsumerOptions {
        auto_offset_reset: Some(Position::Beginning),
        auto_commit_interval: None,
        heartbeat_interval: Duration::from_millis(50),
        ..ConsumerOptions::default()
    }
}

fn fill(db: &Brooklet, topic: &str, partitions: u32, per_partition: u64) {
    db.admin()
        .create_topic(topic, partitions, TopicConfig::default())
        .expect("create");
    for p in 0..partitions {
        let records = (0..per_partition)
            .map(|i| Record::value(format!("{p}:{i}")))
            .collect();
        db.producer()
            .send_batch_to(topic, p, records)
            .expect("send");
    }
}

#[test]
fn a_member_resumes_from_the_committed_offset() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Brooklet::open(dir.path().join("g.brooklet")).expect("open");
    fill(&db, "jobs", 2, 10);
    let mut c = db.consumer("workers", &["jobs"], options()).expect("join");
    assert_eq!(c.assignment().len(), 2);
    let mut got = Vec::new();
    while got.len() < 12 {
        got.extend(c.poll(Duration::from_millis(100)).expect("poll"));
    }
    // Commit only part: 6 of partition 0, 6 of partition 1.
    c.commit_offsets([
        (TopicPartition::new("jobs", 0), 6),
        (TopicPartition::new("jobs", 1), 6),
    ])
    .expect("commit");
    assert_eq!(c.committed("jobs", 0).expect("committed"), Some(6));
    c.close().expect("close");
    let mut again = db
        .consumer("workers", &["jobs"], options())
        .expect("rejoin");
    assert_eq!(again.position("jobs", 0), Some(6));
    let mut rest = Vec::new();
    while rest.len() < 8 {
        rest.extend(again.poll(Duration::from_millis(100)).expect("poll"));
    }
    assert!(rest.iter().all(|r| r.record.offset >= 6));
    assert_eq!(again.lag("jobs", 0).expect("lag"), Some(0));
}

#[test]
fn members_share_partitions_and_hand_them_over_on_leave() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Brooklet::open(dir.path().join("g.brooklet")).expect("open");
    fill(&db, "t", 6, 5);
    for assignor in [Assignor::Range, Assignor::RoundRobin, Assignor::Sticky] {
        let group = format!("g-{assignor:?}").to_lowercase();
        let opts = ConsumerOptions {
            assignor,
            ..options()
        };
        let mut a = db.consumer(&group, &["t"], opts.clone()).expect("a");
        let mut b = db.consumer(&group, &["t"], opts.clone()).expect("b");
        // Polling lets `a` release the partitions the new assignment gives to `b`.
        for _ in 0..5 {
            a.poll(Duration::from_millis(20)).expect("poll a");
            b.poll(Duration::from_millis(20)).expect("poll b");
        }
        let (sa, sb): (BTreeSet<_>, BTreeSet<_>) = (
            a.assignment().into_iter().collect(),
            b.assignment().into_iter().collect(),
        );
        assert_eq!(sa.len() + sb.len(), 6, "{assignor:?}: {sa:?} {sb:?}");
        assert!(
            sa.is_disjoint(&sb),
            "{assignor:?}: a partition has two owners"
        );
        assert_eq!(
            (sa.len(), sb.len()),
            (3, 3),
            "{assignor:?} balances 6 over 2"
        );
        let described = db.admin().describe_group(&group).expect("describe");
        assert_eq!(described.members.len(), 2);
        assert!(described.partitions.iter().all(|p| p.owner.is_some()));
        b.close().expect("close b");
        a.poll(Duration::from_millis(20)).expect("poll a");
        assert_eq!(
            a.assignment().len(),
            6,
            "{assignor:?}: b's partitions move to a at once"
        );
        a.close().expect("close a");
    }
}

#[test]
fn a_member_stuck_past_max_poll_interval_loses_its_partitions_and_is_fenced() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Brooklet::open(dir.path().join("g.brooklet")).expect("open");
    fill(&db, "t", 2, 3);
    let opts = ConsumerOptions {
        max_poll_interval: Duration::from_millis(300),
        ..options()
    };
    let mut stuck = db.consumer("g", &["t"], opts.clone()).expect("stuck");
    stuck.poll(Duration::from_millis(50)).expect("poll");
    assert_eq!(stuck.assignment().len(), 2);
    // The member is busy in its handler (no poll) for longer than max_poll_interval; its
    // heartbeat thread keeps running, but that is not enough.
    std::thread::sleep(Duration::from_millis(500));
    let mut other = db.consumer("g", &["t"], opts).expect("other");
    other.poll(Duration::from_millis(50)).expect("poll");
    assert_eq!(
        other.assignment().len(),
        2,
        "the stuck member's partitions moved"
    );
    // The stuck member's late commit is rejected and does not move the offsets.
    other
        .commit_offsets([(TopicPartition::new("t", 0), 2)])
        .expect("owner commits");
    let err = stuck
        .commit_offsets([(TopicPartition::new("t", 0), 1)])
        .expect_err("fenced");
    assert!(matches!(err, Error::Fenced(_)), "{err}");
    assert_eq!(other.committed("t", 0).expect("committed"), Some(2));
}

#[test]
fn run_commits_what_the_handler_finished() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Brooklet::open(dir.path().join("g.brooklet")).expect("open");
    fill(&db, "t", 1, 10);
    let mut c = db.consumer("g", &["t"], options()).expect("join");
    let mut seen = Vec::new();
    let result = c.run(
        Some(Duration::from_millis(200)),
        OnHandlerError::Stop,
        |r| {
            if r.record.offset == 7 {
                return Err("boom");
            }
            seen.push(r.record.offset);
            Ok(())
        },
    );
    match result {
        Err(RunError::Handler {
            partition,
            offset,
            error,
            ..
        }) => {
            assert_eq!((partition, offset, error), (0, 7, "boom"));
        }
        other => panic!("expected a handler error, got {other:?}"),
    }
    assert_eq!(seen, (0..7).collect::<Vec<u64>>());
    assert_eq!(
        c.committed("t", 0).expect("committed"),
        Some(7),
        "commits up to the failure"
    );
    // Retries: fails twice, then succeeds.
    let mut failures = 0;
    let handled = c
        .run(
            Some(Duration::from_millis(200)),
            OnHandlerError::Retry {
                attempts: 3,
                backoff: Duration::from_millis(1),
            },
            |_| {
                if failures < 2 {
                    failures += 1;
                    return Err("transient");
                }
                Ok(())
            },
        )
        .expect("run");
    assert_eq!(handled, 3);
    assert_eq!(c.committed("t", 0).expect("committed"), Some(10));
}

#[test]
fn inspection_lists_describes_resets_and_deletes_groups() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Brooklet::open(dir.path().join("g.brooklet")).expect("open");
    fill(&db, "t", 2, 4);
    let mut c = db.consumer("readers", &["t"], options()).expect("join");
    c.commit_offsets([
        (TopicPartition::new("t", 0), 3),
        (TopicPartition::new("t", 1), 1),
    ])
    .expect("commit");
    assert_eq!(
        db.admin().groups().expect("groups"),
        vec!["readers".to_owned()]
    );
    let d = db.admin().describe_group("readers").expect("describe");
    let lag: BTreeMap<u32, (Option<u64>, u64, u64)> = d
        .partitions
        .iter()
        .map(|p| (p.partition, (p.committed, p.end, p.lag)))
        .collect();
    assert_eq!(lag[&0], (Some(3), 4, 1));
    assert_eq!(lag[&1], (Some(1), 4, 3));
    assert!(
        db.admin()
            .reset_group_offsets("readers", Position::Beginning, None)
            .is_err(),
        "live member"
    );
    assert!(db.admin().delete_group("readers").is_err(), "live member");
    c.close().expect("close");
    let reset = db
        .admin()
        .reset_group_offsets("readers", Position::End, Some("t"))
        .expect("reset");
    assert_eq!(
        reset,
        vec![
            (TopicPartition::new("t", 0), 4),
            (TopicPartition::new("t", 1), 4)
        ]
    );
    let reset = db
        .admin()
        .reset_group_offsets("readers", Position::Offset(2), None)
        .expect("reset");
    assert_eq!(reset.iter().map(|r| r.1).collect::<Vec<_>>(), vec![2, 2]);
    db.admin().delete_group("readers").expect("delete");
    assert!(db.admin().groups().expect("groups").is_empty());
    assert!(db.admin().describe_group("readers").is_err());
    let report = db.admin().check().expect("check");
    assert!(report.is_clean(), "{:?}", report.problems);
}
