//! FORMAT.md's *Consumer groups* section is enough to read a group: this test decodes the
//! raw entries of `group.groups`, `group.state`, `group.members`, `group.offsets` and the
//! `next-group-id` counter by the byte layout the document gives, and compares the result
//! with what `describe_group` and the consumers report.

use std::collections::BTreeMap;
use std::time::Duration;

use brooklet::engine::ReadTransaction;
use brooklet::{
    Assignor, Brooklet, ConsumerOptions, GroupDescription, Position, Record, TopicConfig,
    TopicPartition,
};

/// Reads little-endian integers and length-prefixed strings, as FORMAT.md lays them out.
struct Bytes<'a>(&'a [u8]);

impl Bytes<'_> {
    fn take(&mut self, n: usize) -> &[u8] {
        assert!(self.0.len() >= n, "value too short");
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        head
    }
    fn u8(&mut self) -> u8 {
        self.take(1)[0]
    }
    fn u16(&mut self) -> u16 {
        u16::from_le_bytes(self.take(2).try_into().expect("2 bytes"))
    }
    fn u32(&mut self) -> u32 {
        u32::from_le_bytes(self.take(4).try_into().expect("4 bytes"))
    }
    fn u64(&mut self) -> u64 {
        u64::from_le_bytes(self.take(8).try_into().expect("8 bytes"))
    }
    fn string(&mut self) -> String {
        let len = usize::from(self.u16());
        String::from_utf8(self.take(len).to_vec()).expect("UTF-8")
    }
    fn done(&self) {
        assert!(self.0.is_empty(), "{} bytes left over", self.0.len());
    }
}

fn be32(bytes: &[u8]) -> u32 {
    u32::from_be_bytes(bytes.try_into().expect("4 bytes"))
}

fn be64(bytes: &[u8]) -> u64 {
    u64::from_be_bytes(bytes.try_into().expect("8 bytes"))
}

fn entries(read: &ReadTransaction, tree: &str) -> Vec<(Vec<u8>, Vec<u8>)> {
    read.range(tree, ..)
        .expect("range")
        .collect::<brooklet::Result<_>>()
        .expect("entries")
}

#[derive(Debug)]
struct Owner {
    member: u64,
    pending: u64,
}

/// `group.members`: group id u32 BE, member id u64 BE -> member. Returns the member ids.
fn decode_members(read: &ReadTransaction, described: &GroupDescription) -> Vec<u64> {
    let mut member_ids = Vec::new();
    for (key, value) in entries(read, "group.members") {
        assert_eq!(key.len(), 12);
        assert_eq!(be32(&key[..4]), 1);
        let id = be64(&key[4..]);
        assert_ne!(id, 0);
        let mut v = Bytes(&value);
        let (heartbeat_ms, polled_ms) = (v.u64(), v.u64());
        assert_eq!((v.u32(), v.u32()), (43_210, 98_765), "session, max poll");
        assert_eq!(v.u32(), std::process::id(), "pid");
        let topics: Vec<String> = (0..v.u16()).map(|_| v.string()).collect();
        v.done();
        assert_eq!(topics, ["orders"]);
        // Every poll is also a heartbeat; ms since the Unix epoch.
        assert!(polled_ms <= heartbeat_ms && polled_ms > 1_600_000_000_000);
        let shown = described
            .members
            .iter()
            .find(|m| m.id == format!("{id:016x}"))
            .expect("describe_group lists the member");
        assert_eq!(shown.heartbeat_ms, heartbeat_ms);
        member_ids.push(id);
    }
    member_ids
}

/// `group.state` of group 1: generation u64, assignor u8, count u32, then 24-byte owner
/// entries, sorted.
fn decode_state(read: &ReadTransaction) -> (u64, u8, BTreeMap<(u32, u32), Owner>) {
    let state = entries(read, "group.state");
    assert_eq!(state.len(), 1);
    assert_eq!(state[0].0, 1u32.to_be_bytes());
    let mut v = Bytes(&state[0].1);
    let (generation, assignor) = (v.u64(), v.u8());
    let mut owners: BTreeMap<(u32, u32), Owner> = BTreeMap::new();
    for _ in 0..v.u32() {
        let at = (v.u32(), v.u32());
        let owner = Owner {
            member: v.u64(),
            pending: v.u64(),
        };
        assert!(owners.keys().all(|k| *k < at), "sorted, one entry each");
        owners.insert(at, owner);
    }
    v.done();
    (generation, assignor, owners)
}

#[test]
fn group_records_decode_as_format_md_says() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Brooklet::open(dir.path().join("g.brooklet")).expect("open");
    db.admin()
        .create_topic("other", 1, TopicConfig::default())
        .expect("topic 1");
    db.admin()
        .create_topic("orders", 3, TopicConfig::default())
        .expect("topic 2");
    for p in 0..3 {
        db.producer()
            .send_to("orders", p, Record::value("x"))
            .expect("send");
    }
    let options = ConsumerOptions {
        auto_offset_reset: Some(Position::Beginning),
        auto_commit_interval: None,
        session_timeout: Duration::from_millis(43_210),
        max_poll_interval: Duration::from_millis(98_765),
        // No background heartbeat writes between `describe_group` and the raw reads.
        heartbeat_interval: Duration::from_secs(60),
        assignor: Assignor::Sticky,
        ..ConsumerOptions::default()
    };
    let mut first = db
        .consumer("workers", &["orders"], options.clone())
        .expect("first joins");
    first
        .commit_with_metadata([(TopicPartition::new("orders", 2), 1)], "done: 1")
        .expect("commit");
    let second = db
        .consumer("workers", &["orders"], options)
        .expect("second joins");
    let described = db.admin().describe_group("workers").expect("describe");

    let read = db.engine().begin_read().expect("read");
    // `next-group-id` in `log.meta`: u32 little-endian.
    let meta: BTreeMap<Vec<u8>, Vec<u8>> = entries(&read, "log.meta").into_iter().collect();
    assert_eq!(meta[&b"next-group-id"[..]], 2u32.to_le_bytes());

    // `group.groups`: group id u32 BE -> the name's bytes, no length prefix.
    let groups = entries(&read, "group.groups");
    assert_eq!(
        groups,
        vec![(1u32.to_be_bytes().to_vec(), b"workers".to_vec())]
    );

    let member_ids = decode_members(&read, &described);
    assert_eq!(member_ids.len(), 2);

    let (generation, assignor, owners) = decode_state(&read);
    assert_eq!(generation, described.generation);
    assert_eq!(assignor, 2, "sticky");
    assert_eq!(owners.len(), 3, "the three partitions of topic 2");
    let mut pending = 0;
    for ((topic_id, partition), owner) in &owners {
        assert_eq!(*topic_id, 2);
        assert!(member_ids.contains(&owner.member), "invariant 1");
        if owner.pending != 0 {
            assert!(member_ids.contains(&owner.pending), "invariant 1");
            assert_ne!(owner.pending, owner.member);
            pending += 1;
        }
        let shown = &described.partitions[*partition as usize];
        assert_eq!(shown.owner, Some(format!("{:016x}", owner.member)));
    }
    // The second member's share is still with the first, pending, until the first polls.
    assert!(pending >= 1, "{owners:?}");
    assert!(second.assignment().len() < 2);

    // `group.offsets`: group id, topic id, partition (u32 BE each) -> offset, time, metadata.
    let offsets = entries(&read, "group.offsets");
    assert_eq!(offsets.len(), 1);
    let (key, value) = &offsets[0];
    assert_eq!(
        (be32(&key[..4]), be32(&key[4..8]), be32(&key[8..])),
        (1, 2, 2)
    );
    let mut v = Bytes(value);
    let (offset, time_ms, metadata) = (v.u64(), v.u64(), v.string());
    v.done();
    assert_eq!((offset, metadata.as_str()), (1, "done: 1"));
    assert!(time_ms > 1_600_000_000_000, "ms since the Unix epoch");
    assert_eq!(described.partitions[2].committed, Some(1));
    drop(read);

    // The release the document describes: after the first member polls, no entry is
    // pending, the generation rose, and the second member owns what was pending for it.
    // (A poll syncs with the group at most every 200 ms; the records returned first do not
    // wait for that.)
    let keep = owners.len() - pending;
    for _ in 0..50 {
        first.poll(Duration::from_millis(50)).expect("poll");
        if first.assignment().len() == keep {
            break;
        }
    }
    let read = db.engine().begin_read().expect("read");
    let (after, _, owners_after) = decode_state(&read);
    assert!(after > generation);
    for (at, owner) in &owners_after {
        assert_eq!(owner.pending, 0, "{at:?} released");
        if owners[at].pending != 0 {
            assert_eq!(
                owner.member, owners[at].pending,
                "{at:?} moved to its pending owner"
            );
        }
    }
    drop((read, first, second));
}

/// `check` verifies group records: a state that gives a partition to a member not in the
/// group, and a member record that does not decode, are reported.
#[test]
fn check_reports_damaged_group_records() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Brooklet::open(dir.path().join("g.brooklet")).expect("open");
    db.admin()
        .create_topic("orders", 2, TopicConfig::default())
        .expect("topic");
    let options = ConsumerOptions {
        heartbeat_interval: Duration::from_secs(60),
        ..ConsumerOptions::default()
    };
    let consumer = db.consumer("workers", &["orders"], options).expect("joins");
    assert!(db.admin().check().expect("check").is_clean());
    drop(consumer);
    let read = db.engine().begin_read().expect("read");
    let (group_key, _) = entries(&read, "group.groups").remove(0);
    drop(read);
    // generation 9, range assignor, one owner: topic 1 partition 0 to member 77.
    let mut state = Vec::new();
    state.extend_from_slice(&9u64.to_le_bytes());
    state.push(0);
    state.extend_from_slice(&1u32.to_le_bytes());
    state.extend_from_slice(&1u32.to_le_bytes());
    state.extend_from_slice(&0u32.to_le_bytes());
    state.extend_from_slice(&77u64.to_le_bytes());
    state.extend_from_slice(&0u64.to_le_bytes());
    let mut member_key = group_key.clone();
    member_key.extend_from_slice(&5u64.to_be_bytes());
    let mut txn = db.engine().begin_write().expect("write");
    txn.insert("group.state", &group_key, &state)
        .expect("state");
    txn.insert("group.members", &member_key, b"short")
        .expect("member");
    txn.commit(brooklet::Durability::Immediate).expect("commit");
    let report = db.admin().check().expect("check");
    let messages: Vec<&str> = report.problems.iter().map(|p| p.message.as_str()).collect();
    assert!(
        messages
            .iter()
            .any(|m| m.contains("owned by a member not in the group")),
        "{messages:?}"
    );
    assert!(
        messages.iter().any(|m| m.contains("workers: member 5")),
        "{messages:?}"
    );
}
