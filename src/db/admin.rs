//! [`Admin`]: the administration of a file, where Kafka users look for it (Kafka's
//! `Admin` client): topics (create, list, describe, alter, delete), consumer groups
//! (list, describe, reset, delete), and the file's upkeep (retention and compaction,
//! vacuum, check), with the inspection tools use.

use super::{Brooklet, TopicDescription, TopicInfo};
use crate::PartitionInfo;
use crate::catalog::TopicConfig;
use crate::engine::CheckReport;
use crate::error::Result;
use crate::log::meta::{Segment, TREE_SEGMENTS, offset_key};
use crate::log::read;
use crate::os::now_ms;
use crate::pager::Durability;

/// The administration of an open file: topics, consumer groups and upkeep. Get one with
/// [`Brooklet::admin`]; it is a cheap handle on the same file, and may be cloned and sent
/// to other threads.
///
/// ```
/// use brooklet::{Brooklet, Error, TopicConfig};
///
/// # fn main() -> brooklet::Result<()> {
/// # let dir = tempfile::tempdir()?;
/// let db = Brooklet::open(dir.path().join("events.brooklet"))?;
/// let admin = db.admin();
/// admin.create_topic("orders", 3, TopicConfig::default())?;
/// // Create if missing: branch on the error, not on its text.
/// match admin.create_topic("orders", 3, TopicConfig::default()) {
///     Ok(()) | Err(Error::TopicExists(_)) => {}
///     Err(e) => return Err(e),
/// }
/// assert_eq!(admin.describe_topic("orders")?.partitions.len(), 3);
/// assert!(admin.check()?.is_clean());
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct Admin {
    pub(super) db: Brooklet,
}

/// An aborted transaction in a partition, from [`Admin::aborted_transactions`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct AbortedTransaction {
    /// The producer that wrote it.
    pub producer_id: i64,
    /// Its first offset in the partition.
    pub first_offset: u64,
    /// The offset of its ABORT marker.
    pub last_offset: u64,
}

/// One segment of a partition, from [`Admin::segments`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SegmentInfo {
    /// The offset of the segment's first batch (Kafka's segment base offset).
    pub base_offset: u64,
    /// The first page of the segment's extent in the file.
    pub first_page: u32,
    /// The pages the extent spans.
    pub page_count: u32,
    /// Bytes of record batches stored in it.
    pub bytes_used: u32,
}

/// A named B-tree of the file (FORMAT.md, *Named trees*), from [`Admin::trees`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TreeInfo {
    /// The tree's name, such as `log.segments`.
    pub name: String,
    /// How many keys it holds.
    pub entries: u64,
}

impl Brooklet {
    /// The administration of this file: topics, consumer groups and upkeep.
    #[must_use]
    pub fn admin(&self) -> Admin {
        Admin { db: self.clone() }
    }
}

impl Admin {
    /// Creates a topic with `partitions` partitions.
    pub fn create_topic(&self, name: &str, partitions: u32, config: TopicConfig) -> Result<()> {
        let mut txn = self.db.inner.engine.begin_write()?;
        let topic =
            crate::catalog::create(&mut txn, name, partitions, config, now_ms().cast_unsigned())?;
        crate::log::partitions::create(&mut txn, &topic)?;
        txn.commit(Durability::Immediate)?;
        Ok(())
    }

    /// Every topic, by name.
    pub fn topics(&self) -> Result<Vec<TopicInfo>> {
        self.db.with_snapshot(|read| {
            Ok(crate::catalog::list(read)?
                .into_iter()
                .map(|t| TopicInfo {
                    name: t.name,
                    partitions: t.partitions,
                    config: t.config,
                })
                .collect())
        })
    }

    /// A topic's config and each partition's offsets and size.
    pub fn describe_topic(&self, name: &str) -> Result<TopicDescription> {
        self.db.with_snapshot(|read| {
            let topic = self.db.topic_in(read, name)?;
            let partitions = (0..topic.partitions)
                .map(|p| {
                    let state = read::partition_state(read, topic.id, p)?;
                    Ok(PartitionInfo {
                        partition: p,
                        beginning_offset: state.log_start,
                        end_offset: state.next_offset,
                        last_stable_offset: read::last_stable(read, topic.id, p, &state)?,
                        bytes: state.bytes_total,
                        segments: state.segment_count,
                    })
                })
                .collect::<Result<_>>()?;
            Ok(TopicDescription {
                name: topic.name.clone(),
                config: topic.config.clone(),
                partitions,
            })
        })
    }

    /// The aborted transactions of a partition still in its log, oldest first: what
    /// Kafka's `.txnindex` holds, and what a `read_committed` reader of raw batches needs
    /// to skip (a transactional batch of `producer_id` at an offset in
    /// `first_offset..=last_offset` was aborted).
    pub fn aborted_transactions(
        &self,
        topic: &str,
        partition: u32,
    ) -> Result<Vec<AbortedTransaction>> {
        self.db.with_snapshot(|read| {
            let meta = self.db.topic_in(read, topic)?;
            Brooklet::check_partition(&meta, partition)?;
            Ok(
                crate::log::producers::aborted_all(read, meta.id, partition)?
                    .into_iter()
                    .map(|a| AbortedTransaction {
                        producer_id: a.producer_id,
                        first_offset: a.first_offset,
                        last_offset: a.last_offset,
                    })
                    .collect(),
            )
        })
    }

    /// Changes configs of a topic by their Kafka names; returns the new config.
    pub fn alter_topic_config(&self, name: &str, pairs: &[(&str, &str)]) -> Result<TopicConfig> {
        let mut txn = self.db.inner.engine.begin_write()?;
        let meta = crate::catalog::alter(&mut txn, name, pairs)?;
        txn.commit(Durability::Immediate)?;
        Ok(meta.config)
    }

    /// Appends a pre-encoded Kafka `RecordBatch` v2 to a partition as it was sent (the
    /// `testing` feature only): only its base offset and partition leader epoch, which its
    /// CRC does not cover, are set, as a Kafka broker sets them; its records, compressed
    /// or not, are stored byte for byte and not decoded, so that tests can store batches
    /// made by other encoders, and hostile ones. Returns the batch's base offset. The
    /// batch must be a plain data batch: no producer id, not transactional, not control.
    #[cfg(feature = "testing")]
    pub fn append_raw_batch(&self, topic: &str, partition: u32, batch: &[u8]) -> Result<u64> {
        let mut txn = self.db.inner.engine.begin_write()?;
        let meta = crate::catalog::get(&txn, topic)?;
        if partition >= meta.partitions {
            return Err(crate::error::Error::UnknownPartition {
                topic: meta.name.clone(),
                partition,
                partitions: meta.partitions,
            });
        }
        let offset = crate::log::append::append_raw_batch(&mut txn, &meta, partition, batch)?;
        txn.commit(Durability::Immediate)?;
        Ok(offset)
    }

    /// Deletes the records of a partition below offset `before` (Kafka's
    /// `Admin.deleteRecords`): its log start (beginning offset) moves up to `before`, so
    /// readers and consumers start there at once, and the segments wholly below it are
    /// freed, in one commit. Returns the new log start. `before` may be the end offset
    /// (delete every record); past it is [`Error::OffsetOutOfRange`](crate::Error). At or
    /// below the log start, nothing changes and the log start is returned.
    ///
    /// ```
    /// # use brooklet::{Brooklet, Record, TopicConfig};
    /// # fn main() -> brooklet::Result<()> {
    /// # let dir = tempfile::tempdir()?;
    /// let db = Brooklet::open(dir.path().join("events.brooklet"))?;
    /// db.admin().create_topic("orders", 1, TopicConfig::default())?;
    /// for i in 0..10 {
    ///     db.producer().send_to("orders", 0, Record::value(format!("order {i}")))?;
    /// }
    /// assert_eq!(db.admin().delete_records("orders", 0, 4)?, 4);
    /// assert_eq!(db.beginning_offset("orders", 0)?, 4);
    /// # Ok(())
    /// # }
    /// ```
    pub fn delete_records(&self, topic: &str, partition: u32, before: u64) -> Result<u64> {
        let mut txn = self.db.inner.engine.begin_write()?;
        let meta = crate::catalog::get(&txn, topic)?;
        Brooklet::check_partition(&meta, partition)?;
        let log_start = crate::log::retention::delete_before(&mut txn, &meta, partition, before)?;
        txn.commit(Durability::Immediate)?;
        Ok(log_start)
    }

    /// Deletes a topic and frees all its pages.
    pub fn delete_topic(&self, name: &str) -> Result<()> {
        let mut txn = self.db.inner.engine.begin_write()?;
        let topic = crate::catalog::get(&txn, name)?;
        crate::log::partitions::drop_all(&mut txn, &topic)?;
        crate::catalog::delete(&mut txn, &topic)?;
        txn.commit(Durability::Immediate)?;
        Ok(())
    }

    /// Verifies the whole file: the storage engine's check, every record batch of every
    /// partition (CRC, offsets strictly increasing, segment bounds), every consumer
    /// group record (decodes, belongs to a group, partitions owned only by members), and
    /// the transactions' records (producer state, open and aborted transactions, the
    /// transactional ids: each decodes and agrees with the others).
    ///
    /// Every part reads one snapshot, pinned so that writers in this and other processes
    /// go on but reuse none of its pages until the check ends: the report is about one
    /// committed state, whatever other processes do. (Where the storage cannot pin a
    /// snapshot for other processes, as in memory, a check that found problems while the
    /// file changed under it runs again on a fresh snapshot.) The check takes no lock and
    /// writes nothing.
    pub fn check(&self) -> Result<CheckReport> {
        self.db.inner.engine.check_with(|read, report| {
            crate::log::check::check_partitions(read, report);
            crate::group::check::check_groups(read, report);
            super::coordinator::check_transactions(read, report);
        })
    }

    /// The segments of one partition, oldest first: where each lies in the file and how
    /// much of it is used. For tools (`brooklet segments`, `dump`).
    pub fn segments(&self, topic: &str, partition: u32) -> Result<Vec<SegmentInfo>> {
        self.db.with_snapshot(|read| {
            let meta = self.db.topic_in(read, topic)?;
            Brooklet::check_partition(&meta, partition)?;
            let low = offset_key(meta.id, partition, 0);
            let high = offset_key(meta.id, partition, u64::MAX);
            let mut out = Vec::new();
            for item in read.range(TREE_SEGMENTS, &low[..]..=&high[..])? {
                let (k, v) = item?;
                let seg = Segment::decode(&v, read.bounds())?;
                out.push(SegmentInfo {
                    base_offset: crate::log::meta::key_suffix(TREE_SEGMENTS, &k)?,
                    first_page: seg.first_page,
                    page_count: seg.page_count,
                    bytes_used: seg.bytes_used,
                });
            }
            Ok(out)
        })
    }

    /// The bytes of the segment of `partition` whose base offset is `base_offset` (its
    /// batches back to back, as a Kafka `.log` file holds them), as the newest commit holds
    /// them: the file's bytes with the commit slot's pending data laid over them (FORMAT.md,
    /// *Pending data and entries*). `None` if the partition has no such segment now. For
    /// tools; the batches are not verified here.
    pub fn segment_bytes(
        &self,
        topic: &str,
        partition: u32,
        base_offset: u64,
    ) -> Result<Option<Vec<u8>>> {
        self.db.with_snapshot(|read| {
            let meta = self.db.topic_in(read, topic)?;
            let key = offset_key(meta.id, partition, base_offset);
            let Some(value) = read.get(TREE_SEGMENTS, &key)? else {
                return Ok(None);
            };
            let seg = Segment::decode(&value, read.bounds())?;
            let mut bytes = vec![0u8; seg.bytes_used as usize];
            read.read_data(crate::PageId(seg.first_page), 0, &mut bytes)?;
            Ok(Some(bytes))
        })
    }

    /// Every named B-tree of the file with its entry count, from one snapshot. For tools
    /// (`brooklet dump`).
    pub fn trees(&self) -> Result<Vec<TreeInfo>> {
        self.db.with_snapshot(|read| {
            let mut out = Vec::new();
            for name in read.tree_names()? {
                let mut entries = 0;
                for item in read.range(&name, ..)? {
                    item?;
                    entries += 1;
                }
                out.push(TreeInfo { name, entries });
            }
            Ok(out)
        })
    }
}
