//! After a power cut: the file a reboot finds must hold the model state after some commit
//! at or after the last durable one, or after the interrupted commit; pass `check`; and
//! accept new records.

use std::sync::Arc;

use brooklet::storage::{MemStorage, Storage};
use brooklet::{Brooklet, FetchLimits, Record, StoredRecord};

use super::workload::{Op, TopicSpec, Workload, options};
use super::{Lengths, Model, Outcome, lengths};
use crate::support::log::{PartitionModel, expected_partition, read_partition, stored};

/// Every partition of every topic in the file, indexed like the specs.
type Recovered = Vec<Option<Vec<Vec<StoredRecord>>>>;

/// Which state a crash image recovered to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Recovery {
    /// The state after the last commit that returned.
    Newest,
    /// An older state: non-durable commits after it were lost.
    Older,
    /// The state after the commit the power cut interrupted.
    InFlight,
}

/// Opens a crash image and checks it against the run.
pub(crate) fn verify_image(
    image: Vec<u8>,
    work: &Workload,
    outcome: &Outcome,
    label: &str,
) -> Recovery {
    let storage: Arc<dyn Storage> = Arc::new(MemStorage::from_bytes(image));
    let db = Brooklet::open_storage(storage, options(work.seed))
        .unwrap_or_else(|e| panic!("{label}: open after the power cut failed: {e}"));
    let recovered =
        read_recovered(&db, work, label).unwrap_or_else(|e| panic!("{label}: read failed: {e}"));
    let found = recovered_lengths(&recovered);
    let committed = (outcome.last_durable..outcome.states.len())
        .rev()
        .find(|&k| outcome.states[k] == found);
    let (ok, recovery) = match committed {
        Some(k) if k + 1 == outcome.states.len() => (
            is_model_prefix(&recovered, &outcome.model),
            Recovery::Newest,
        ),
        Some(_) => (is_model_prefix(&recovered, &outcome.model), Recovery::Older),
        None => (
            matches_in_flight(&recovered, work, outcome),
            Recovery::InFlight,
        ),
    };
    assert!(
        ok,
        "{label}: the file holds no committed state at or after the last durable one \
         (found lengths {found:?}; last durable {:?}; newest {:?}; committed match \
         {committed:?}; in flight {:?})",
        outcome.states[outcome.last_durable],
        outcome.states.last(),
        outcome.in_flight.map(|s| &work.ops[s]),
    );
    let report = db.admin().check().expect("check runs");
    assert!(
        report.is_clean(),
        "{label}: check found {:?}",
        report.problems
    );
    append_after_recovery(&db, work, &recovered, label);
    recovery
}

fn read_recovered(db: &Brooklet, work: &Workload, label: &str) -> brooklet::Result<Recovered> {
    let mut out: Recovered = vec![None; work.specs.len()];
    for info in db.admin().topics()? {
        let t = work
            .specs
            .iter()
            .position(|s| s.name == info.name)
            .unwrap_or_else(|| panic!("{label}: unknown topic {:?}", info.name));
        assert_eq!(
            info.partitions, work.specs[t].partitions,
            "{label}: partitions"
        );
        let parts = (0..info.partitions)
            .map(|p| read_partition(db, &info.name, p))
            .collect::<brooklet::Result<_>>()?;
        out[t] = Some(parts);
    }
    Ok(out)
}

fn recovered_lengths(recovered: &Recovered) -> Lengths {
    recovered
        .iter()
        .map(|t| {
            t.as_ref()
                .map(|parts| parts.iter().map(|p| p.len() as u64).collect())
        })
        .collect()
}

/// Whether every recovered partition is a prefix of the model's.
fn is_model_prefix(recovered: &Recovered, model: &Model) -> bool {
    recovered.iter().zip(model).all(|(r, m)| match (r, m) {
        (None, _) => true,
        (Some(_), None) => false,
        (Some(r), Some(m)) => r
            .iter()
            .zip(m)
            .all(|(r, m)| r.len() <= m.records.len() && r[..] == m.records[..r.len()]),
    })
}

/// Whether the file holds the model state after the interrupted step.
fn matches_in_flight(recovered: &Recovered, work: &Workload, outcome: &Outcome) -> bool {
    let Some(step) = outcome.in_flight else {
        return false;
    };
    match &work.ops[step] {
        Op::CreateTopic(t) => {
            let mut model = outcome.model.clone();
            model[*t] = Some(vec![
                PartitionModel::default();
                work.specs[*t].partitions as usize
            ]);
            recovered_lengths(recovered) == lengths(&model) && is_model_prefix(recovered, &model)
        }
        Op::Send {
            topic,
            partition,
            records,
            ..
        } => {
            let others_equal =
                recovered
                    .iter()
                    .zip(&outcome.model)
                    .enumerate()
                    .all(|(t, (r, m))| {
                        t == *topic
                            || match (r, m) {
                                (None, None) => true,
                                (Some(r), Some(m)) => r.iter().zip(m).all(|(r, m)| *r == m.records),
                                _ => false,
                            }
                    });
            let spec = &work.specs[*topic];
            let (Some(got), Some(model)) = (&recovered[*topic], &outcome.model[*topic]) else {
                return false;
            };
            others_equal
                && (0..spec.partitions)
                    .any(|sticky| send_applied(got, model, spec, *partition, records, sticky))
        }
        _ => false,
    }
}

/// Whether `got` is `model` plus `records` sent with keyless records going to `sticky`.
/// Records without a create time (and all records of an append-time topic) must share one
/// append time.
fn send_applied(
    got: &[Vec<StoredRecord>],
    model: &[PartitionModel],
    spec: &TopicSpec,
    explicit: Option<u32>,
    records: &[Record],
    sticky: u32,
) -> bool {
    let mut placed: Vec<Vec<&Record>> = vec![Vec::new(); model.len()];
    for r in records {
        let p = expected_partition(explicit, r.key.as_deref(), spec.partitions).unwrap_or(sticky);
        placed[p as usize].push(r);
    }
    let mut append_time = None;
    for ((got, m), extra) in got.iter().zip(model).zip(placed) {
        let base = m.records.len();
        if got.len() != base + extra.len() || got[..base] != m.records[..] {
            return false;
        }
        for (i, r) in extra.into_iter().enumerate() {
            let found = &got[base + i];
            let ts = match r.timestamp_ms {
                Some(ts) if !spec.log_append => ts,
                _ => *append_time.get_or_insert(found.timestamp_ms),
            };
            if *found != stored(r, (base + i) as u64, ts) {
                return false;
            }
        }
    }
    true
}

/// New records go after the recovered ones, in every recovered topic.
fn append_after_recovery(db: &Brooklet, work: &Workload, recovered: &Recovered, label: &str) {
    let mut sent = 0;
    for (t, parts) in recovered.iter().enumerate() {
        let Some(parts) = parts else { continue };
        let name = &work.specs[t].name;
        for (p, records) in parts.iter().enumerate() {
            let partition = p as u32;
            let meta = db
                .producer()
                .send_to(name, partition, Record::keyed("after", "crash"))
                .unwrap_or_else(|e| panic!("{label}: send after recovery failed: {e}"));
            assert_eq!(
                meta.offset,
                records.len() as u64,
                "{label}: offset after recovery"
            );
            let fetched = db
                .fetch(name, partition, meta.offset, FetchLimits::default())
                .expect("fetch after recovery");
            assert_eq!(
                fetched.records.len(),
                1,
                "{label}: the new record reads back"
            );
            sent += 1;
        }
    }
    if sent == 0 {
        let spec = &work.specs[0];
        db.admin()
            .create_topic(&spec.name, spec.partitions, spec.config())
            .unwrap_or_else(|e| panic!("{label}: create after recovery failed: {e}"));
        db.producer()
            .send(&spec.name, Record::value("first"))
            .unwrap_or_else(|e| panic!("{label}: send after recovery failed: {e}"));
    }
    let report = db.admin().check().expect("check runs");
    assert!(
        report.is_clean(),
        "{label}: unclean after new sends: {:?}",
        report.problems
    );
}
