//! `Producer::send_batch_routed`: records bound for several partitions in one atomic commit.

use std::num::NonZeroU32;

use brooklet::kafka::partition_for_key;
use brooklet::{Brooklet, Durability, Error, FetchLimits, Record, TopicConfig};

fn ends(db: &Brooklet) -> Vec<u64> {
    db.admin()
        .describe_topic("t")
        .expect("describe")
        .partitions
        .iter()
        .map(|p| p.end_offset)
        .collect()
}

#[test]
fn records_for_several_partitions_share_one_commit_all_or_none() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Brooklet::open(dir.path().join("t.brooklet")).expect("open");
    db.admin()
        .create_topic("t", 3, TopicConfig::default())
        .expect("create");
    let producer = db.producer().with_durability(Durability::Immediate);
    // A key that Kafka's partitioner sends to partition 2.
    let key = (0..100)
        .map(|i| format!("k{i}"))
        .find(|k| partition_for_key(k.as_bytes(), NonZeroU32::new(3).expect("3")) == 2)
        .expect("some key goes to partition 2");
    let syncs = db.engine().sync_count();
    let metas = producer
        .send_batch_routed(
            "t",
            vec![
                (Some(0), Record::value("a")),
                (Some(1), Record::value("b")),
                (None, Record::keyed(key.as_str(), "c")),
                (Some(0), Record::value("d")),
            ],
        )
        .expect("send");
    assert_eq!(db.engine().sync_count() - syncs, 1, "one durable commit");
    let placed: Vec<(u32, u64)> = metas.iter().map(|m| (m.partition, m.offset)).collect();
    assert_eq!(placed, [(0, 0), (1, 0), (2, 0), (0, 1)]);
    let first = db.fetch("t", 0, 0, FetchLimits::default()).expect("fetch");
    let values: Vec<&[u8]> = first
        .records
        .iter()
        .filter_map(|r| r.value.as_deref())
        .collect();
    assert_eq!(values, [b"a", b"d"], "partition 0 in input order");

    // A partition that does not exist fails the whole batch: nothing of it is stored.
    let before = ends(&db);
    let err = producer
        .send_batch_routed(
            "t",
            vec![(Some(2), Record::value("x")), (Some(3), Record::value("y"))],
        )
        .expect_err("partition 3 does not exist");
    assert!(
        matches!(
            err,
            Error::UnknownPartition {
                partition: 3,
                partitions: 3,
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(ends(&db), before);
}
