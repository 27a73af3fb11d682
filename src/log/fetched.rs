//! What [`crate::Brooklet::fetch_batches`] returns: whole stored batches of one partition,
//! whose records are read in place through [`crate::kafka`]'s [`Records`].

use crate::kafka::Records;

/// Whole batches fetched from one partition by [`crate::Brooklet::fetch_batches`]: the
/// stored Kafka `RecordBatch` v2 bytes, back to back, each CRC-checked. The first batch may
/// start before the offset asked for; [`FetchedBatches::records`] skips those records.
/// Holds no lock and no snapshot.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FetchedBatches {
    pub(crate) bytes: Vec<u8>,
    pub(crate) from: u64,
    /// The offset to fetch from next.
    pub next_offset: u64,
    /// The partition's end offset in the snapshot read.
    pub end_offset: u64,
    /// The partition's first offset in the snapshot read.
    pub beginning_offset: u64,
    /// The partition's last stable offset in the snapshot read (see
    /// [`crate::Isolation::ReadCommitted`]).
    pub last_stable_offset: u64,
}

impl FetchedBatches {
    /// The batches as stored: Kafka `RecordBatch` v2 bytes, ready for any Kafka decoder.
    #[must_use]
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// True if no batch was fetched.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// The records at or after the offset asked for, borrowed from the batches.
    #[must_use]
    pub fn records(&self) -> Records<'_> {
        Records::new(&self.bytes, self.from)
    }
}
