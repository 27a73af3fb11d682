//! The file side of the consumer groups that `brooklet serve` coordinates for Kafka
//! clients: the server records each group's members in `group.kafka`, held live by the
//! serving process's liveness lock, so that other handles and processes see them while
//! it runs, and not after it stopped or died.

use super::{Brooklet, now_ms};
use crate::error::Result;
use crate::group::Assignor;
use crate::group::kafka::{self, KafkaGroup, KafkaMember};
use crate::group::store as groups;
use crate::os::LivenessGuard;
use crate::pager::Durability;

/// The liveness lock of a serving process: the records of its groups are live while it
/// is held (it is released when the holder drops or its process dies).
#[derive(Debug)]
pub(crate) struct KafkaHost {
    slot: u64,
    _guard: Option<LivenessGuard>,
}

/// One Kafka client of a group, as the server records it.
#[derive(Clone, Debug, Default)]
pub(crate) struct KafkaClient {
    pub member_id: String,
    pub instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    /// Its assigned partitions: (topic, partition).
    pub assigned: Vec<(String, u32)>,
}

/// A group of Kafka clients, as the server records it.
#[derive(Clone, Debug, Default)]
pub(crate) struct KafkaGroupView {
    pub generation: i32,
    pub protocol_type: String,
    pub protocol: String,
    pub members: Vec<KafkaClient>,
}

impl Brooklet {
    /// Takes a liveness lock on a fresh random slot for a serving process.
    pub(crate) fn kafka_host(&self) -> Result<KafkaHost> {
        let slot = fastrand::u64(1..);
        let guard = self.inner.engine.lock_liveness(slot)?;
        Ok(KafkaHost {
            slot,
            _guard: guard,
        })
    }

    /// Records the Kafka clients of group `name` (created if missing), or with `None`
    /// removes the record of a group that has none left. One commit. Fails with
    /// [`crate::Error::InconsistentGroupProtocol`] while the file's own consumers are live
    /// members of the group, or another live server records it.
    pub(crate) fn record_kafka_group(
        &self,
        host: &KafkaHost,
        name: &str,
        view: Option<&KafkaGroupView>,
    ) -> Result<()> {
        let engine = &self.inner.engine;
        let mut txn = engine.begin_write()?;
        let now = now_ms().cast_unsigned();
        let Some(view) = view else {
            let Some(id) = groups::find(&txn, name)? else {
                return Ok(());
            };
            if kafka::get(&txn, id)?.is_none_or(|g| g.server != host.slot) {
                return Ok(());
            }
            kafka::remove(&mut txn, id)?;
            txn.commit(Durability::None)?;
            return Ok(());
        };
        let id = groups::find_or_create(&mut txn, name, Assignor::Range)?;
        kafka::refuse_embedded_members(&mut txn, engine, (id, name), host.slot, now)?;
        let mut members = Vec::with_capacity(view.members.len());
        for client in &view.members {
            let mut partitions = Vec::with_capacity(client.assigned.len());
            for (topic, partition) in &client.assigned {
                // A partition of a topic that is gone (or never was) is not recorded.
                let meta = self
                    .inner
                    .catalog
                    .lock()
                    .expect("catalog lock")
                    .lookup(&txn, topic);
                if let Ok(meta) = meta
                    && *partition < meta.partitions
                {
                    partitions.push((meta.id, *partition));
                }
            }
            partitions.sort_unstable();
            partitions.dedup();
            members.push(KafkaMember {
                member_id: client.member_id.clone(),
                instance_id: client.instance_id.clone().unwrap_or_default(),
                client_id: client.client_id.clone(),
                client_host: client.client_host.clone(),
                partitions,
            });
        }
        let record = KafkaGroup {
            server: host.slot,
            updated_ms: now,
            pid: std::process::id(),
            generation: view.generation,
            protocol_type: view.protocol_type.clone(),
            protocol: view.protocol.clone(),
            members,
        };
        kafka::put(&mut txn, id, &record)?;
        txn.commit(Durability::None)?;
        Ok(())
    }

    /// Removes every record of the serving process `host`, as it stops.
    pub(crate) fn release_kafka_groups(&self, host: &KafkaHost) -> Result<()> {
        let mut txn = self.inner.engine.begin_write()?;
        let mut removed = false;
        for (id, group) in kafka::all(&txn)? {
            if group.server == host.slot {
                kafka::remove(&mut txn, id)?;
                removed = true;
            }
        }
        if removed {
            txn.commit(Durability::Immediate)?;
        }
        Ok(())
    }
}
