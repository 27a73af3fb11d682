//! The consumer groups' part of the integrity check: every key and value of the five group
//! trees decodes as readers decode it, every record belongs to a named group, every group
//! has a state, and every owner and pending owner of a partition is a member of its group
//! (invariant 1 of the module docs). Group ids lie below `next-group-id`, names are valid
//! and unique, and a generation can still rise.

use std::collections::{BTreeMap, BTreeSet};

use super::kafka::KafkaGroup;
use super::{
    Committed, GroupState, Member, TREE_GROUPS, TREE_KAFKA, TREE_MEMBERS, TREE_OFFSETS, TREE_STATE,
    group_key_id, member_key_parts, offset_key_all,
};
use crate::engine::{CheckReport, Problem, ReadTransaction};
use crate::error::{Error, Result};

/// Group names by id.
type Names = BTreeMap<u32, String>;
/// Member ids by group id.
type Members = BTreeMap<u32, BTreeSet<u64>>;

fn problem(report: &mut CheckReport, message: String) {
    report.problems.push(Problem {
        page: None,
        message,
    });
}

/// Checks every consumer-group record, adding problems to `report`.
pub(crate) fn check_groups(read: &ReadTransaction, report: &mut CheckReport) {
    let next_id = match crate::counters::next_group_id(read) {
        Ok(next) => Some(next.unwrap_or(1)),
        Err(e) => {
            problem(report, format!("next-group-id: {e}"));
            None
        }
    };
    let names = groups(read, report, next_id);
    let members = members(read, report, &names);
    states(read, report, &names, &members);
    offsets(read, report, &names);
    kafka(read, report, &names);
}

/// `group.groups`: ids in `1..next-group-id`, valid and unique names.
fn groups(read: &ReadTransaction, report: &mut CheckReport, next_id: Option<u32>) -> Names {
    let names: Names = walk(
        read,
        report,
        TREE_GROUPS,
        |report, names: &mut Names, key, value| {
            let id = group_key_id(TREE_GROUPS, key)?;
            let Ok(name) = String::from_utf8(value) else {
                problem(report, format!("group id {id}: name is not UTF-8"));
                return Ok(());
            };
            if crate::catalog::validate_topic_name(&name).is_err() {
                problem(
                    report,
                    format!("group id {id}: {name:?} is not a valid group id"),
                );
            }
            if id == 0 || next_id.is_some_and(|next| id >= next) {
                problem(
                    report,
                    format!("group {name}: id {id} is not in 1..next-group-id"),
                );
            }
            names.insert(id, name);
            Ok(())
        },
    )
    .unwrap_or_default();
    let mut ids_by_name: BTreeMap<&str, u32> = BTreeMap::new();
    for (id, name) in &names {
        if let Some(other) = ids_by_name.insert(name, *id) {
            problem(
                report,
                format!("group {name}: ids {other} and {id} share the name"),
            );
        }
    }
    names
}

/// `group.members`: members of existing groups, non-zero ids, values that decode.
fn members(read: &ReadTransaction, report: &mut CheckReport, names: &Names) -> Members {
    walk(
        read,
        report,
        TREE_MEMBERS,
        |report, members: &mut Members, key, value| {
            let (id, member) = member_key_parts(key)?;
            let Some(name) = names.get(&id) else {
                problem(
                    report,
                    format!("{TREE_MEMBERS}: member of group id {id}, which does not exist"),
                );
                return Ok(());
            };
            if member == 0 {
                problem(report, format!("group {name}: member id 0"));
            }
            if let Err(e) = Member::decode(&value) {
                problem(report, format!("group {name}: member {member}: {e}"));
            }
            members.entry(id).or_default().insert(member);
            Ok(())
        },
    )
    .unwrap_or_default()
}

/// `group.state`: one state per group, decoding, owned only by members.
fn states(read: &ReadTransaction, report: &mut CheckReport, names: &Names, members: &Members) {
    let states = walk(
        read,
        report,
        TREE_STATE,
        |report, states: &mut BTreeSet<u32>, key, value| {
            let id = group_key_id(TREE_STATE, key)?;
            let Some(name) = names.get(&id) else {
                problem(
                    report,
                    format!("{TREE_STATE}: state of group id {id}, which does not exist"),
                );
                return Ok(());
            };
            states.insert(id);
            match GroupState::decode(&value) {
                Ok(state) => owners(report, name, &state, members.get(&id)),
                Err(e) => problem(report, format!("group {name}: state: {e}")),
            }
            Ok(())
        },
    );
    if let Some(states) = states {
        for (id, name) in names {
            if !states.contains(id) {
                problem(report, format!("group {name}: state missing"));
            }
        }
    }
}

/// `group.offsets`: committed offsets of existing groups, values that decode.
fn offsets(read: &ReadTransaction, report: &mut CheckReport, names: &Names) {
    let _ = walk(
        read,
        report,
        TREE_OFFSETS,
        |report, (): &mut (), key, value| {
            let (id, topic_id, partition) = offset_key_all(key)?;
            let Some(name) = names.get(&id) else {
                problem(
                    report,
                    format!(
                        "{TREE_OFFSETS}: committed offset of group id {id}, which does not exist"
                    ),
                );
                return Ok(());
            };
            if let Err(e) = Committed::decode(&value) {
                problem(
                    report,
                    format!(
                        "group {name}: committed offset of topic id {topic_id} partition \
                     {partition}: {e}"
                    ),
                );
            }
            Ok(())
        },
    );
}

/// `group.kafka`: records of existing groups, values that decode, member ids that are
/// not empty and not repeated.
fn kafka(read: &ReadTransaction, report: &mut CheckReport, names: &Names) {
    let _ = walk(
        read,
        report,
        TREE_KAFKA,
        |report, (): &mut (), key, value| {
            let id = group_key_id(TREE_KAFKA, key)?;
            let Some(name) = names.get(&id) else {
                problem(
                    report,
                    format!(
                        "{TREE_KAFKA}: Kafka-protocol members of group id {id}, which does not exist"
                    ),
                );
                return Ok(());
            };
            match KafkaGroup::decode(&value) {
                Ok(group) => {
                    let mut ids = BTreeSet::new();
                    for member in &group.members {
                        if member.member_id.is_empty() || !ids.insert(member.member_id.as_str()) {
                            problem(
                                report,
                                format!(
                                    "group {name}: Kafka-protocol member id {:?} is empty or repeated",
                                    member.member_id
                                ),
                            );
                        }
                    }
                }
                Err(e) => problem(report, format!("group {name}: Kafka-protocol members: {e}")),
            }
            Ok(())
        },
    );
}

/// Calls `visit` with every entry of `tree` and an accumulator. A key that does not decode
/// is reported and skipped; an entry that cannot be read ends the walk, and then `None` is
/// returned (the engine's check names the damaged page).
fn walk<T: Default>(
    read: &ReadTransaction,
    report: &mut CheckReport,
    tree: &'static str,
    mut visit: impl FnMut(&mut CheckReport, &mut T, &[u8], Vec<u8>) -> Result<()>,
) -> Option<T> {
    let mut acc = T::default();
    let entries = match read.range(tree, ..) {
        Ok(entries) => entries,
        Err(e) => {
            problem(report, format!("{tree}: {e}"));
            return None;
        }
    };
    for item in entries {
        let result = item.and_then(|(key, value)| visit(report, &mut acc, &key, value));
        match result {
            Ok(()) => {}
            // A key of the wrong length: reported, and the walk goes on.
            Err(e @ Error::Corrupt { page: None, .. }) => problem(report, e.to_string()),
            Err(e) => {
                problem(report, format!("{tree}: {e}"));
                return None;
            }
        }
    }
    Some(acc)
}

/// A group's owner entries: every owner and pending owner is a member, and the
/// generation can still rise.
fn owners(
    report: &mut CheckReport,
    name: &str,
    state: &GroupState,
    members: Option<&BTreeSet<u64>>,
) {
    let is_member = |m: u64| members.is_some_and(|set| set.contains(&m));
    if state.generation == u64::MAX {
        problem(
            report,
            format!("group {name}: generation is at its largest value: no rebalance can change it"),
        );
    }
    for owner in &state.owners {
        if !is_member(owner.member) || (owner.pending != 0 && !is_member(owner.pending)) {
            problem(
                report,
                format!(
                    "group {name}: topic id {} partition {} is owned by a member not in the group",
                    owner.topic_id, owner.partition
                ),
            );
        }
    }
}
