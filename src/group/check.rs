//! The consumer groups' part of the integrity check: every group record decodes, belongs to
//! a named group, and every owner and pending owner of a partition is a member of its group
//! (invariant 1 of the module docs).

use std::collections::{BTreeMap, BTreeSet};

use super::{Committed, GroupState, Member, TREE_GROUPS, TREE_MEMBERS, TREE_OFFSETS, TREE_STATE};
use crate::engine::{CheckReport, Problem, ReadTransaction};
use crate::error::Result;

fn problem(report: &mut CheckReport, message: String) {
    report.problems.push(Problem {
        page: None,
        message,
    });
}

fn group_of(key: &[u8], len: usize) -> Option<u32> {
    (key.len() == len)
        .then(|| key.get(..4)?.try_into().ok().map(u32::from_be_bytes))
        .flatten()
}

/// Checks every consumer-group record, adding problems to `report`.
pub(crate) fn check_groups(read: &ReadTransaction, report: &mut CheckReport) {
    if let Err(e) = check(read, report) {
        problem(report, format!("consumer groups: {e}"));
    }
}

fn check(read: &ReadTransaction, report: &mut CheckReport) -> Result<()> {
    let mut names: BTreeMap<u32, String> = BTreeMap::new();
    for item in read.range(TREE_GROUPS, ..)? {
        let (key, value) = item?;
        let Some(id) = group_of(&key, 4) else {
            problem(report, format!("{TREE_GROUPS}: key of {} bytes", key.len()));
            continue;
        };
        match String::from_utf8(value) {
            Ok(name) => {
                names.insert(id, name);
            }
            Err(_) => problem(report, format!("group {id}: name is not UTF-8")),
        }
    }
    let mut members: BTreeMap<u32, BTreeSet<u64>> = BTreeMap::new();
    for item in read.range(TREE_MEMBERS, ..)? {
        let (key, value) = item?;
        let Some(id) = group_of(&key, 12).filter(|id| names.contains_key(id)) else {
            problem(report, "group member of no group".to_owned());
            continue;
        };
        let member = u64::from_be_bytes(key[4..12].try_into().expect("12-byte key"));
        if let Err(e) = Member::decode(&value) {
            problem(
                report,
                format!("group {}: member {member}: {e}", names[&id]),
            );
        }
        members.entry(id).or_default().insert(member);
    }
    for item in read.range(TREE_STATE, ..)? {
        let (key, value) = item?;
        let Some(id) = group_of(&key, 4).filter(|id| names.contains_key(id)) else {
            problem(report, "group state of no group".to_owned());
            continue;
        };
        let name = &names[&id];
        let state = match GroupState::decode(&value) {
            Ok(state) => state,
            Err(e) => {
                problem(report, format!("group {name}: state: {e}"));
                continue;
            }
        };
        let live = members.get(&id);
        let is_member = |m: u64| live.is_some_and(|set| set.contains(&m));
        for pair in state.owners.windows(2) {
            if (pair[0].topic_id, pair[0].partition) >= (pair[1].topic_id, pair[1].partition) {
                problem(report, format!("group {name}: owners out of order"));
            }
        }
        for owner in &state.owners {
            if !is_member(owner.member) || (owner.pending != 0 && !is_member(owner.pending)) {
                problem(
                    report,
                    format!(
                        "group {name}: topic id {} partition {} is owned by a member not in \
                         the group",
                        owner.topic_id, owner.partition
                    ),
                );
            }
        }
    }
    for item in read.range(TREE_OFFSETS, ..)? {
        let (key, value) = item?;
        let Some(id) = group_of(&key, 12).filter(|id| names.contains_key(id)) else {
            problem(report, "committed offset of no group".to_owned());
            continue;
        };
        if let Err(e) = Committed::decode(&value) {
            problem(
                report,
                format!("group {}: committed offset: {e}", names[&id]),
            );
        }
    }
    Ok(())
}
