//! The two header pages as this handle last decoded them, so that a transaction that
//! begins where the last one left off reads them with one `pread` and decodes nothing.
//!
//! The state a transaction builds on follows from the header pages' bytes and the slots
//! recovery rejected, once both slots verify as first read (no wait for a writer in
//! another process to finish one). So when both pages read back byte for byte as they
//! were when the handle's current state was decoded from them, that state is still the
//! newest. A commit of this handle puts the slot page it wrote into the copy: it holds
//! the writer lock, so nothing else wrote a header page meanwhile.

use std::sync::Arc;
use std::time::Duration;

use super::recovery::{Candidate, best_of};
use super::{CommitState, Pager, Rejected};
use crate::error::{PageId, Result};
use crate::page::slot::Slot;

/// Both header pages as last read, and the state decoded from them.
#[derive(Debug, Default)]
pub(super) struct Headers {
    /// Both pages as read when `state` was decoded (empty: none held).
    seen: Vec<u8>,
    /// The buffer the next read goes into, kept to spare an allocation per read.
    spare: Vec<u8>,
    /// The state decoded from `seen`, and the rejected slots it was chosen against.
    state: Option<(Arc<CommitState>, Vec<Rejected>)>,
}

impl Pager {
    /// The newest committed state: re-reads the slots (both header pages in one `pread`)
    /// so commits by other processes are seen. Returns the cached state when nothing
    /// changed, without decoding a slot when the pages are as last decoded.
    ///
    /// The view never goes back to an older commit because of a read racing a writer: an
    /// older result is read again a few times before it is believed (it can be real only
    /// after a writer process died mid-commit, losing its non-durable commits).
    pub fn latest(&self) -> Result<Arc<CommitState>> {
        self.check_poisoned()?;
        let mut pages = std::mem::take(&mut self.headers.lock().expect("headers lock").spare);
        pages.resize(2 * self.page_size as usize, 0);
        match self.storage.read_at(0, &mut pages) {
            Ok(()) => {}
            // Shorter than two pages: a damaged file, read slot by slot.
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                let fresh = self.read_best_slot()?;
                return Ok(self.adopt(fresh, pages, None));
            }
            Err(e) => return Err(e.into()),
        }
        let rejected = self.rejected.lock().expect("rejected lock").clone();
        let pages = match self.unchanged(pages, &rejected) {
            Ok(state) => return Ok(state),
            Err(pages) => pages,
        };
        let (candidates, as_read) = self.candidates_in(&pages)?;
        let mut fresh = best_of(candidates, &rejected)?;
        let mut from_pages = as_read;
        for _ in 0..3 {
            let seen = self.state.lock().expect("state lock").txn();
            if fresh.txn() >= seen {
                break;
            }
            // Older than a state this handle has seen: a slot being rewritten, read again.
            from_pages = false;
            std::thread::sleep(Duration::from_micros(200));
            fresh = self.read_best_slot()?;
        }
        Ok(self.adopt(fresh, pages, from_pages.then_some(rejected)))
    }

    /// The handle's current state if `pages` are the bytes it was decoded from (against
    /// the same rejected slots); else the pages back.
    fn unchanged(
        &self,
        pages: Vec<u8>,
        rejected: &[Rejected],
    ) -> std::result::Result<Arc<CommitState>, Vec<u8>> {
        let mut headers = self.headers.lock().expect("headers lock");
        let current = self.state.lock().expect("state lock");
        match &headers.state {
            Some((state, against))
                if Arc::ptr_eq(state, &current) && against == rejected && headers.seen == pages =>
            {
                let state = Arc::clone(state);
                drop(current);
                headers.spare = pages;
                Ok(state)
            }
            _ => Err(pages),
        }
    }

    /// Makes `fresh` the current state (unless equal to it) and returns the current state.
    /// With `decoded_against`, `fresh` was decoded from `pages` alone and they are kept.
    fn adopt(
        &self,
        fresh: CommitState,
        pages: Vec<u8>,
        decoded_against: Option<Vec<Rejected>>,
    ) -> Arc<CommitState> {
        let state = {
            let mut state = self.state.lock().expect("state lock");
            if *state.as_ref() != fresh {
                *state = Arc::new(fresh);
            }
            Arc::clone(&state)
        };
        let mut headers = self.headers.lock().expect("headers lock");
        if let Some(rejected) = decoded_against {
            headers.spare = std::mem::replace(&mut headers.seen, pages);
            headers.state = Some((Arc::clone(&state), rejected));
        } else {
            headers.state = None;
            headers.spare = pages;
        }
        state
    }

    /// The slots of both header pages, `pages` (read at once), whose checksums verify, and
    /// whether both verified as first read (so the result follows from `pages` alone).
    fn candidates_in(&self, pages: &[u8]) -> Result<(Vec<Candidate>, bool)> {
        let page_size = self.page_size as usize;
        let mut out = Vec::with_capacity(2);
        let mut first_read = true;
        for (index, page) in (0..2u32).zip(pages.chunks_exact(page_size)) {
            match self.candidate(index, page)? {
                Some((candidate, as_read)) => {
                    out.push(candidate);
                    first_read &= as_read;
                }
                None => first_read = false,
            }
        }
        Ok((out, first_read))
    }

    /// After a commit of this handle built on `base` wrote header page `index` as `page`
    /// and made `state` current: the copy follows if it held `base` and the page decodes
    /// to `state`, else it is dropped.
    pub(super) fn wrote_slot(
        &self,
        base: &Arc<CommitState>,
        index: u32,
        page: &[u8],
        state: &Arc<CommitState>,
    ) {
        let page_size = self.page_size as usize;
        let mut headers = self.headers.lock().expect("headers lock");
        let follows = match &headers.state {
            Some((held, _)) => {
                Arc::ptr_eq(held, base)
                    && headers.seen.len() == 2 * page_size
                    && Slot::read(page, PageId(index)).is_ok_and(|slot| slot == state.slot)
            }
            None => false,
        };
        if follows {
            let at = index as usize * page_size;
            headers.seen[at..at + page_size].copy_from_slice(page);
            if let Some((held, _)) = &mut headers.state {
                *held = Arc::clone(state);
            }
        } else {
            headers.state = None;
        }
    }
}
