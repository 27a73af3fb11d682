//! Windows: room cleared below the target for a segment that fits in no free extent
//! there.
//!
//! Free space below the target can lie in pieces, each smaller than a segment above it.
//! When the pieces are separated only by B-tree pages, copying those pages out of a
//! *window* joins the pieces (B-tree pages can go anywhere). When smaller segments lie
//! between them too (the extents of small segments deleted between larger ones, say), the
//! window may also hold those segments, if a dry run finds each of them room outside the
//! window and below its own place: they move out first, down, as every segment move does.
//! The segment the window is for moves into it in the next step, once the pages copied out
//! are free to reuse.

use std::collections::HashSet;

use crate::engine::{PageClass, WriteTransaction};
use crate::error::{PageId, Result};
use crate::log::relocate::{self, SegmentSlot};

/// Windows holding segments tried at most (dry runs) per stuck segment.
const WINDOW_TRIALS: usize = 64;

/// What clearing a window did in a step.
pub(super) struct Clearing<'h> {
    /// Pages copied: out of the window, and segments moved to their planned places.
    pub copied: u64,
    /// The segment the window is for: it moves in the next step.
    pub waiting: Option<&'h SegmentSlot>,
    /// The first `done` of the segments to move were moved already in this step.
    pub done: usize,
}

/// Clears a window for the first of `high` (segments above the target, in the order they
/// move) that a dry run cannot place below the target, unless one was cleared for it
/// already. The window keeps clear of the places the dry run found for the segments before
/// it (they go there in this step). A window of free and B-tree pages only is taken if it
/// ends at or below the target; else one that also holds smaller segments, if one ends
/// there; else whichever was found.
pub(super) fn clear_window_for_stuck<'h>(
    txn: &mut WriteTransaction,
    high: &'h [SegmentSlot],
    target: u32,
    cleared: &mut HashSet<Vec<u8>>,
) -> Result<Clearing<'h>> {
    let page_size = txn.page_size();
    let requests: Vec<(u32, PageId)> = high
        .iter()
        .map(|s| (s.pages_needed(page_size), PageId(target)))
        .collect();
    let places = txn.would_move(&requests, PageId(target));
    let Some(stuck) = places
        .iter()
        .zip(high)
        .position(|(place, s)| place.is_none() && !cleared.contains(&s.key))
    else {
        return Ok(Clearing {
            copied: 0,
            waiting: None,
            done: 0,
        });
    };
    let slot = &high[stuck];
    cleared.insert(slot.key.clone());
    let mut classes = txn.page_classes()?;
    for (place, &(count, _)) in places[..stuck].iter().zip(&requests) {
        if let Some(first) = place {
            let first = first.0 as usize;
            classes[first..first + count as usize].fill(PageClass::Fixed);
        }
    }
    let pages = requests[stuck].0;
    let trees_only = find_window(&classes, pages, slot.segment.first_page, target);
    let mut clearing = match trees_only {
        Some(first) if u64::from(first) + u64::from(pages) <= u64::from(target) => Clearing {
            copied: 0,
            waiting: None,
            done: 0,
        },
        _ => {
            let plan = Plan {
                high,
                places: &places,
                stuck,
                target,
            };
            clear_segment_window(txn, &plan, &classes, trees_only.is_some())?
        }
    };
    if clearing.waiting.is_none()
        && let Some(first) = trees_only
    {
        clearing.copied += txn.clear_window(PageId(first), pages)?;
        clearing.waiting = Some(slot);
    }
    Ok(clearing)
}

/// This step's plan for the segments above the target.
struct Plan<'p, 'h> {
    /// The segments above the target, in the order they move.
    high: &'h [SegmentSlot],
    /// Where a dry run places each below the target.
    places: &'p [Option<PageId>],
    /// The first one that fits nowhere there, which needs a window.
    stuck: usize,
    target: u32,
}

/// Clears a window that also holds segments for the stuck segment of `plan`, if one ends
/// at or below the target (or if any does, when `trees_only` says no window of free and
/// B-tree pages exists at all) and a dry run finds room for its segments. If one may be
/// tried, the segments planned before the stuck one move to their places first, so that
/// the dry runs see those places taken. Returns no waiting segment when no window was
/// cleared.
fn clear_segment_window<'h>(
    txn: &mut WriteTransaction,
    plan: &Plan<'_, 'h>,
    classes: &[PageClass],
    trees_only: bool,
) -> Result<Clearing<'h>> {
    let mut clearing = Clearing {
        copied: 0,
        waiting: None,
        done: 0,
    };
    let slot = &plan.high[plan.stuck];
    let all = relocate::all_segments(txn)?;
    let candidates = windows_with_segments(classes, &all, plan, txn.page_size());
    if !candidates
        .windows
        .first()
        .is_some_and(|w| !w.above || !trees_only)
    {
        return Ok(clearing);
    }
    for (moving, place) in plan.high[..plan.stuck].iter().zip(plan.places) {
        if place.is_some()
            && let Some(moved) = relocate::move_segment(txn, moving, PageId(plan.target))?
        {
            clearing.copied += u64::from(moved);
        }
    }
    clearing.done = plan.stuck;
    let Some((first, segments)) = feasible(txn, &candidates, &all, trees_only) else {
        return Ok(clearing);
    };
    txn.set_alloc_avoid(Some((PageId(first), candidates.count)));
    let best_limit = lowest(&segments);
    for evacuee in segments {
        if let Some(moved) = relocate::move_segment(txn, evacuee, best_limit)? {
            clearing.copied += u64::from(moved);
        }
    }
    clearing.copied += txn.clear_window(PageId(first), candidates.count)?;
    clearing.waiting = Some(slot);
    Ok(clearing)
}

/// A window of `count` pages from `first` whose segments are to move out of it.
struct Window {
    first: u32,
    /// Pages in use in it (B-tree pages and pages of segments).
    in_use: u32,
    /// True if it ends above the target.
    above: bool,
}

/// The segments with pages in `window` of `count` pages, lowest first (`owner` maps a
/// page to the index in `all` of the segment it belongs to).
fn evacuees<'a>(
    window: &Window,
    count: u32,
    owner: &[Option<u32>],
    all: &'a [SegmentSlot],
) -> Vec<&'a SegmentSlot> {
    let first = window.first as usize;
    let mut out: Vec<u32> = Vec::new();
    for &i in owner[first..first + count as usize].iter().flatten() {
        if out.last() != Some(&i) {
            out.push(i);
        }
    }
    out.into_iter().map(|i| &all[i as usize]).collect()
}

/// The first page of the lowest of `segments`: they move by best fit among the free
/// extents that end there (so below every one of them: segments only move down), else to
/// the lowest free extent below their own place.
fn lowest(segments: &[&SegmentSlot]) -> PageId {
    PageId(
        segments
            .iter()
            .map(|s| s.segment.first_page)
            .min()
            .unwrap_or(0),
    )
}

/// The first of `candidates` (best first; at most [`WINDOW_TRIALS`] tried) for which a
/// dry run finds room for each of its segments outside it and below its own place; only
/// one ending at or below the target unless there is no window of B-tree pages at all.
/// Returns it with its segments, in the order they are to move.
fn feasible<'a>(
    txn: &mut WriteTransaction,
    candidates: &Candidates,
    all: &'a [SegmentSlot],
    trees_only: bool,
) -> Option<(u32, Vec<&'a SegmentSlot>)> {
    let page_size = txn.page_size();
    for window in candidates.windows.iter().take(WINDOW_TRIALS) {
        if window.above && trees_only {
            return None;
        }
        let segments = evacuees(window, candidates.count, &candidates.owner, all);
        let requests: Vec<(u32, PageId)> = segments
            .iter()
            .map(|s| (s.pages_needed(page_size), PageId(s.segment.first_page)))
            .collect();
        txn.set_alloc_avoid(Some((PageId(window.first), candidates.count)));
        let places = txn.would_move(&requests, lowest(&segments));
        txn.set_alloc_avoid(None);
        if places.iter().all(Option::is_some) {
            return Some((window.first, segments));
        }
    }
    None
}

/// Windows of `count` pages that may be cleared of segments, best first.
struct Candidates {
    count: u32,
    windows: Vec<Window>,
    /// The index in the segment list of the segment each page belongs to, for the
    /// segments that may move out of a window.
    owner: Vec<Option<u32>>,
}

/// Windows for `stuck` (its pages, ending at or below its first page) that hold free
/// pages, B-tree pages and whole segments not above the target, nothing else, some
/// segment, and at most half of them in use. Tried are those that start a run of free
/// pages or end one: best first, that is those ending at or below `target` first, then
/// the fewest pages in use, then the lowest.
fn windows_with_segments(
    classes: &[PageClass],
    all: &[SegmentSlot],
    plan: &Plan<'_, '_>,
    page_size: u32,
) -> Candidates {
    let stuck = &plan.high[plan.stuck];
    let count = stuck.pages_needed(page_size);
    let limit = (stuck.segment.first_page as usize).min(classes.len());
    // The segments above the target move by this step's own plan, not out of windows.
    let high_keys: HashSet<&[u8]> = plan.high.iter().map(|h| h.key.as_slice()).collect();
    let mut owner: Vec<Option<u32>> = vec![None; classes.len()];
    for (i, slot) in all.iter().enumerate() {
        let end = usize::try_from(slot.end_page()).unwrap_or(usize::MAX);
        if end <= owner.len() && !high_keys.contains(slot.key.as_slice()) {
            let i = u32::try_from(i).expect("fewer segments than pages");
            owner[slot.segment.first_page as usize..end].fill(Some(i));
        }
    }
    // Running counts of pages in use, of segment pages, and of pages that block a window.
    let mut sums = vec![[0u32; 3]; limit + 1];
    for (page, class) in classes[..limit].iter().enumerate() {
        let [mut in_use, mut segment_pages, mut blocking] = sums[page];
        match (class, owner[page]) {
            (PageClass::Free, _) => {}
            (PageClass::Movable, _) => in_use += 1,
            (PageClass::Fixed, Some(_)) => {
                in_use += 1;
                segment_pages += 1;
            }
            (PageClass::Fixed, None) | (PageClass::Meta, _) => blocking += 1,
        }
        sums[page + 1] = [in_use, segment_pages, blocking];
    }
    let pages = count as usize;
    let mut windows: Vec<Window> = window_starts(classes, pages, limit)
        .into_iter()
        .filter_map(|start| {
            let [in_use, segment_pages, blocking] =
                std::array::from_fn(|k| sums[start + pages][k] - sums[start][k]);
            (blocking == 0 && segment_pages > 0 && u64::from(in_use) * 2 <= u64::from(count)).then(
                || Window {
                    first: u32::try_from(start).expect("page ids fit u32"),
                    in_use,
                    above: start + pages > plan.target as usize,
                },
            )
        })
        .collect();
    windows.sort_by_key(|w| (w.above, w.in_use, w.first));
    Candidates {
        count,
        windows,
        owner,
    }
}

/// Starts of the windows of `count` pages ending at or below `limit` that begin a run of
/// free pages or end one (where a window gains the most free pages), in order.
fn window_starts(classes: &[PageClass], count: usize, limit: usize) -> Vec<usize> {
    let mut starts = Vec::new();
    if count == 0 || limit < 2 + count {
        return starts;
    }
    let free = |page: usize| classes[page] == PageClass::Free;
    for page in 2..limit {
        if !free(page) {
            continue;
        }
        if (page == 2 || !free(page - 1)) && page + count <= limit {
            starts.push(page);
        }
        if (page + 1 == limit || !free(page + 1)) && page + 1 >= count + 2 {
            starts.push(page + 1 - count);
        }
    }
    starts.sort_unstable();
    starts.dedup();
    starts
}

/// The best window of `count` pages ending at or below `limit` to clear for a segment: no
/// fixed page in it, some movable ones but at most half; those ending at or below `target`
/// first, then the fewest movable pages, then the lowest. Returns its first page.
fn find_window(classes: &[PageClass], count: u32, limit: u32, target: u32) -> Option<u32> {
    let count = count as usize;
    let limit = (limit as usize).min(classes.len());
    if count == 0 || limit < 2 + count {
        return None;
    }
    // Fixed and movable pages in the window `start .. start + count`.
    let mut counts = [0usize; 2];
    let slot = |class: PageClass| match class {
        PageClass::Fixed | PageClass::Meta => Some(0),
        PageClass::Movable => Some(1),
        PageClass::Free => None,
    };
    for &class in &classes[2..2 + count] {
        if let Some(i) = slot(class) {
            counts[i] += 1;
        }
    }
    let mut best: Option<(bool, usize, usize)> = None;
    let mut start = 2;
    loop {
        let [fixed, movable] = counts;
        if fixed == 0 && movable > 0 && movable * 2 <= count {
            let key = (start + count > target as usize, movable, start);
            if best.is_none_or(|b| key < b) {
                best = Some(key);
            }
        }
        if start + count >= limit {
            break;
        }
        if let Some(i) = slot(classes[start]) {
            counts[i] -= 1;
        }
        if let Some(i) = slot(classes[start + count]) {
            counts[i] += 1;
        }
        start += 1;
    }
    best.map(|(_, _, start)| u32::try_from(start).expect("page ids fit u32"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_start_or_end_runs_of_free_pages() {
        use PageClass::{Fixed as X, Free as F, Movable as M};
        //              0  1  2  3  4  5  6  7  8  9 10 11
        let classes = [X, X, F, F, X, X, F, M, F, F, F, X];
        // Free runs 2..4, 6..7 and 8..11; windows of 3 pages ending by page 11.
        assert_eq!(window_starts(&classes, 3, 11), vec![2, 4, 6, 8]);
        // A window that ends a run but would start below page 2 is left out.
        assert_eq!(window_starts(&classes, 3, 4), Vec::<usize>::new());
        assert_eq!(window_starts(&classes, 2, 4), vec![2]);
        assert_eq!(window_starts(&classes, 0, 11), Vec::<usize>::new());
    }
}
