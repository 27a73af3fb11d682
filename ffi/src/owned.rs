//! Results handed to C as a visible struct (`brooklet_topic_list`, ...) whose pointers
//! point into storage hidden behind it: one allocation, [`Owned`], freed by one `*_free`.
//!
//! Invariants: the visible struct is the first field of a `#[repr(C)]` [`Owned`], so a
//! pointer to the whole is a pointer to the visible part and back; the storage is never
//! changed after the pointers into it were taken (a moved `Vec` or `CString` keeps its
//! heap buffer where it was, so building the storage first and boxing it after is fine).

use std::ffi::{CString, c_char};

use crate::status::c_string;

/// A visible struct `P` followed by the storage `S` its pointers point into.
#[repr(C)]
struct Owned<P, S> {
    public: P,
    storage: S,
}

/// Moves `public` and `storage` into one allocation and returns the pointer C sees.
pub fn publish<P, S>(public: P, storage: S) -> *mut P {
    Box::into_raw(Box::new(Owned { public, storage })).cast::<P>()
}

/// Frees what [`publish`] returned. NULL is a no-op.
///
/// # Safety
/// `ptr` is NULL or came from `publish::<P, S>` with the same `P` and `S`, and is not used
/// again.
pub unsafe fn release<P, S>(ptr: *mut P) {
    if ptr.is_null() {
        return;
    }
    // SAFETY: `ptr` came from `Box::into_raw` of an `Owned<P, S>` whose first field is at
    // offset 0 (repr(C)), so casting back gives the original box, freed exactly once.
    drop(unsafe { Box::from_raw(ptr.cast::<Owned<P, S>>()) });
}

/// The C strings of a result; each pointer handed out stays valid while the arena lives.
#[derive(Debug, Default)]
pub struct Strings {
    strings: Vec<CString>,
}

impl Strings {
    /// A NUL-terminated copy of `text`, owned by the arena.
    pub fn add(&mut self, text: &str) -> *const c_char {
        let string = c_string(text);
        let ptr = string.as_ptr();
        self.strings.push(string);
        ptr
    }

    /// [`Strings::add`] for an optional text; NULL for `None`.
    pub fn add_opt(&mut self, text: Option<&str>) -> *const c_char {
        text.map_or(std::ptr::null(), |t| self.add(t))
    }
}

/// A pointer to a slice's items for C: NULL when it is empty.
pub fn items<T>(slice: &[T]) -> *const T {
    if slice.is_empty() {
        std::ptr::null()
    } else {
        slice.as_ptr()
    }
}
