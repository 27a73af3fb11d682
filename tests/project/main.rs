//! The crate as a whole: its layering and file sizes, read from `src/`, and the public
//! API's contract as a caller sees it.

mod api;
mod layers;
mod sizes;
