//! brooklet's C library: a thin, stable C ABI over brooklet's public Rust API, declared in
//! `include/brooklet.h` (generated from this crate by cbindgen; `tests/header.rs` fails
//! when the checked-in header is stale).
//!
//! The rules every exported function follows (the header's preamble states them for C):
//! - It returns a [`brooklet_status`]; outputs go through out-pointers. On failure
//!   `brooklet_errmsg()` gives the message, per thread. A handle output (`T **out`) is set
//!   to NULL first, so a failed call leaves NULL there.
//! - No panic crosses the boundary: every body runs in [`status::entry`], and a panic
//!   becomes `BROOKLET_INTERNAL`. (This needs the default `panic = "unwind"`.)
//! - A NULL where a pointer is required is `BROOKLET_MISUSE`; names must be UTF-8
//!   (`BROOKLET_INVALID` otherwise).
//! - The pointer contract, which C cannot check: every non-NULL pointer points to what
//!   the header says (a live handle of the right kind, a NUL-terminated string, `len`
//!   readable bytes, `count` items), and a handle is not used after its `*_free` (or
//!   `brooklet_close`, for a database).
//!
//! Layout: `status` (codes, messages, the entry wrapper, argument checks), `owned`
//! (results handed to C as a visible struct plus hidden storage), `db` (open, close,
//! topics, offsets), `produce`, `records` (fetch and the record iterator), `reader`,
//! `consumer`, `admin` (groups and check).
//!
//! Ownership: every object brooklet allocates for the caller is freed by the caller with
//! the matching `*_free` (or `brooklet_close`), each of which accepts NULL. Memory the
//! caller passes in is only read during the call and never kept.

// The header lists the functions in this order (the order of these modules).
mod status;

mod db;

mod produce;

mod records;

mod reader;

mod consumer;

mod admin;

mod owned;

use std::ffi::{c_char, c_int};

pub use admin::*;
pub use consumer::*;
pub use db::*;
pub use produce::*;
pub use reader::*;
pub use records::*;
pub use status::brooklet_status;

/// The version of the brooklet library, such as `"0.1.0"`: a static string, never freed.
#[unsafe(no_mangle)]
pub extern "C" fn brooklet_version() -> *const c_char {
    concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr().cast()
}

/// The message of the last call on the calling thread that failed, such as
/// `topic "orders" does not exist`. Calls that succeed leave it unchanged. The string is
/// owned by brooklet and stays valid until the next brooklet call on this thread; copy it
/// to keep it. Never NULL (an empty string before any failure).
#[unsafe(no_mangle)]
pub extern "C" fn brooklet_errmsg() -> *const c_char {
    status::message_ptr()
}

/// A fixed description of a status, such as `"not found"` for `BROOKLET_NOT_FOUND`: a
/// static string, never freed. An int that is no status gives `"unknown status"`.
#[unsafe(no_mangle)]
pub extern "C" fn brooklet_errstr(status: c_int) -> *const c_char {
    status::status_from_int(status)
        .map_or(c"unknown status", brooklet_status::description)
        .as_ptr()
}
