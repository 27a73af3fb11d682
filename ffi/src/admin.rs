//! Consumer groups (list, describe) and the file's check, handed to C as read-only
//! structs freed by one call each.

use std::ffi::{c_char, c_int};

use brooklet_core::{Assignor, GroupDescription};

use crate::db::{BROOKLET_NO_OFFSET, brooklet_db, nullable_offset};
use crate::owned::{Strings, items, publish, release};
use crate::status::{FfiResult, brooklet_status, entry, handle_output, name, required};

/// Every consumer group of the file, by name (`brooklet_list_groups`). Read-only for the
/// caller; freed by `brooklet_group_list_free`.
#[repr(C)]
#[derive(Debug)]
pub struct brooklet_group_list {
    /// `count` NUL-terminated names (NULL when there are none).
    pub names: *const *const c_char,
    /// The number of groups.
    pub count: usize,
}

/// Lists every consumer group. On success `*list_out` is new, freed by the caller with
/// `brooklet_group_list_free`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn brooklet_list_groups(
    db: *const brooklet_db,
    list_out: *mut *mut brooklet_group_list,
) -> brooklet_status {
    entry(|| {
        // SAFETY: pointer contract: NULL or writable.
        let out = unsafe { handle_output(list_out, "list_out") }?;
        // SAFETY: pointer contract: NULL or a live handle.
        let db = unsafe { required(db, "db") }?;
        let mut strings = Strings::default();
        let names: Vec<*const c_char> = db
            .db
            .admin()
            .groups()?
            .iter()
            .map(|g| strings.add(g))
            .collect();
        let public = brooklet_group_list {
            names: items(&names),
            count: names.len(),
        };
        out.write(publish(public, (strings, names)));
        Ok(())
    })
}

/// Frees a group list. NULL is a no-op.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn brooklet_group_list_free(list: *mut brooklet_group_list) {
    crate::status::free_guard(|| {
        // SAFETY: pointer contract: NULL or from brooklet_list_groups, freed once.
        unsafe { release::<_, (Strings, Vec<*const c_char>)>(list) };
    });
}

/// A member of a group, in a `brooklet_group_description`.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct brooklet_group_member {
    /// The member id, 16 hex digits.
    pub id: *const c_char,
    /// The member's process id.
    pub pid: u32,
    /// Its last heartbeat, ms since the Unix epoch.
    pub heartbeat_ms: u64,
    /// Non-zero while the member is live; 0 once past its session timeout or max poll
    /// interval (it is removed at the next rebalance).
    pub live: c_int,
    /// The topics it subscribes to (`topic_count` NUL-terminated names).
    pub topics: *const *const c_char,
    /// The number of topics.
    pub topic_count: usize,
}

/// A partition of a group, in a `brooklet_group_description`.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct brooklet_group_partition {
    /// The topic.
    pub topic: *const c_char,
    /// The partition.
    pub partition: u32,
    /// The group's committed offset, or `BROOKLET_NO_OFFSET`.
    pub committed: i64,
    /// The partition's end offset.
    pub end_offset: u64,
    /// Records between the committed offset (or the log start, if none) and the end.
    pub lag: u64,
    /// The id of the member that owns it, or NULL.
    pub owner: *const c_char,
}

/// A consumer group (`brooklet_describe_group`). Read-only for the caller; freed by
/// `brooklet_group_description_free`.
#[repr(C)]
#[derive(Debug)]
pub struct brooklet_group_description {
    /// The group's name.
    pub group: *const c_char,
    /// Rises with every change of partition ownership.
    pub generation: u64,
    /// How partitions are spread: `range`, `roundrobin` or `sticky`.
    pub assignor: *const c_char,
    /// The members (`member_count`; NULL when there are none).
    pub members: *const brooklet_group_member,
    /// The number of members.
    pub member_count: usize,
    /// Every partition the group subscribes to or has committed offsets for, sorted by
    /// topic and partition (`partition_count`; NULL when there are none).
    pub partitions: *const brooklet_group_partition,
    /// The number of partitions.
    pub partition_count: usize,
}

/// Storage of a group description.
type GroupStorage = (
    Strings,
    Vec<Vec<*const c_char>>,
    Vec<brooklet_group_member>,
    Vec<brooklet_group_partition>,
);

/// Describes a consumer group: members, and per partition the committed offset, end and
/// lag. On success `*description_out` is new, freed by the caller with
/// `brooklet_group_description_free`. An unknown group is `BROOKLET_NOT_FOUND`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn brooklet_describe_group(
    db: *const brooklet_db,
    group: *const c_char,
    description_out: *mut *mut brooklet_group_description,
) -> brooklet_status {
    entry(|| {
        // SAFETY: pointer contract: NULL or writable.
        let out = unsafe { handle_output(description_out, "description_out") }?;
        // SAFETY: pointer contract: NULL or a live handle.
        let db = unsafe { required(db, "db") }?;
        // SAFETY: pointer contract: NULL or a NUL-terminated string.
        let group = unsafe { name(group, "group") }?;
        let description = db.db.admin().describe_group(group)?;
        let (public, storage) = group_for_c(&description)?;
        out.write(publish(public, storage));
        Ok(())
    })
}

fn group_for_c(d: &GroupDescription) -> FfiResult<(brooklet_group_description, GroupStorage)> {
    let mut strings = Strings::default();
    let topic_lists: Vec<Vec<*const c_char>> = d
        .members
        .iter()
        .map(|m| m.topics.iter().map(|t| strings.add(t)).collect())
        .collect();
    let members: Vec<brooklet_group_member> = d
        .members
        .iter()
        .zip(&topic_lists)
        .map(|(m, topics)| brooklet_group_member {
            id: strings.add(&m.id),
            pid: m.pid,
            heartbeat_ms: m.heartbeat_ms,
            live: c_int::from(m.live),
            topics: items(topics),
            topic_count: topics.len(),
        })
        .collect();
    let mut partitions = Vec::with_capacity(d.partitions.len());
    for p in &d.partitions {
        partitions.push(brooklet_group_partition {
            topic: strings.add(&p.topic),
            partition: p.partition,
            committed: p
                .committed
                .map_or(Ok(BROOKLET_NO_OFFSET), nullable_offset)?,
            end_offset: p.end,
            lag: p.lag,
            owner: strings.add_opt(p.owner.as_deref()),
        });
    }
    let assignor = match d.assignor {
        Assignor::Range => "range",
        Assignor::RoundRobin => "roundrobin",
        Assignor::Sticky => "sticky",
        _ => "other",
    };
    let public = brooklet_group_description {
        group: strings.add(&d.group),
        generation: d.generation,
        assignor: strings.add(assignor),
        members: items(&members),
        member_count: members.len(),
        partitions: items(&partitions),
        partition_count: partitions.len(),
    };
    Ok((public, (strings, topic_lists, members, partitions)))
}

/// Frees a group description. NULL is a no-op.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn brooklet_group_description_free(
    description: *mut brooklet_group_description,
) {
    crate::status::free_guard(|| {
        // SAFETY: pointer contract: NULL or from brooklet_describe_group, freed once.
        unsafe { release::<_, GroupStorage>(description) };
    });
}

/// Deletes a consumer group: its members, assignment and committed offsets. An unknown
/// group is `BROOKLET_NOT_FOUND`; a group with live members is `BROOKLET_INVALID` and is
/// left as it was.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn brooklet_delete_group(
    db: *const brooklet_db,
    group: *const c_char,
) -> brooklet_status {
    entry(|| {
        // SAFETY: pointer contract: NULL or a live handle.
        let db = unsafe { required(db, "db") }?;
        // SAFETY: pointer contract: NULL or a NUL-terminated string.
        let group = unsafe { name(group, "group") }?;
        db.db.admin().delete_group(group)?;
        Ok(())
    })
}

/// What `brooklet_check` found. Read-only for the caller; freed by
/// `brooklet_check_report_free`.
#[repr(C)]
#[derive(Debug)]
pub struct brooklet_check_report {
    /// Non-zero when no problem was found and no commit was rolled back when the handle
    /// opened the file.
    pub clean: c_int,
    /// The number of problems found.
    pub problem_count: usize,
    /// Each problem in words (`problem_count` NUL-terminated strings; NULL when clean).
    pub problems: *const *const c_char,
    /// The file's page size.
    pub page_size: u32,
    /// The committed page count.
    pub page_count: u32,
    /// The commit (transaction id) that was checked.
    pub txn: u64,
    /// The number of newer commits that did not verify when this handle opened the file
    /// and were rolled back (their records are gone; see the README's *Guarantees*). 0
    /// after a clean open. A report with rolled-back commits is not `clean`.
    pub rolled_back_count: usize,
    /// Each rolled-back commit in words (`rolled_back_count` NUL-terminated strings; NULL
    /// when none).
    pub rolled_back: *const *const c_char,
    /// Non-zero when a rolled-back commit was durable: a commit its writer was told had
    /// reached the disk is gone.
    pub lost_durable: c_int,
}

/// Verifies the whole file (pages, trees, every record batch, every consumer group) on one
/// snapshot, without writing or locking. On success `*report_out` is new, freed by the
/// caller with `brooklet_check_report_free`; the status is `BROOKLET_OK` even when problems
/// were found (they are in the report).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn brooklet_check(
    db: *const brooklet_db,
    report_out: *mut *mut brooklet_check_report,
) -> brooklet_status {
    entry(|| {
        // SAFETY: pointer contract: NULL or writable.
        let out = unsafe { handle_output(report_out, "report_out") }?;
        // SAFETY: pointer contract: NULL or a live handle.
        let db = unsafe { required(db, "db") }?;
        let report = db.db.admin().check()?;
        let recovery = db.db.recovery_report();
        let mut strings = Strings::default();
        let problems: Vec<*const c_char> = report
            .problems
            .iter()
            .map(|p| strings.add(&p.to_string()))
            .collect();
        let rolled_back: Vec<*const c_char> = recovery
            .rolled_back
            .iter()
            .map(|commit| strings.add(&commit.to_string()))
            .collect();
        let public = brooklet_check_report {
            clean: c_int::from(report.is_clean() && recovery.is_clean()),
            problem_count: problems.len(),
            problems: items(&problems),
            page_size: report.page_size,
            page_count: report.page_count,
            txn: report.txn,
            rolled_back_count: rolled_back.len(),
            rolled_back: items(&rolled_back),
            lost_durable: c_int::from(recovery.lost_durable_commit()),
        };
        out.write(publish(public, (strings, problems, rolled_back)));
        Ok(())
    })
}

/// Frees a check report. NULL is a no-op.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn brooklet_check_report_free(report: *mut brooklet_check_report) {
    crate::status::free_guard(|| {
        // SAFETY: pointer contract: NULL or from brooklet_check, freed once.
        unsafe { release::<_, (Strings, Vec<*const c_char>, Vec<*const c_char>)>(report) };
    });
}
