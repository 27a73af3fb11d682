//! Hostile files: byte flips and truncations of real files (`corruption`), hostile compressed
//! batches with valid CRCs (`compressed`), and files whose
//! checksums are valid but whose values brooklet never writes (`hostile_values`). Every
//! operation returns `Ok` or a typed error, never a panic and never an allocation sized by
//! a damaged length.
//!
//! Both tests cap this binary's global allocator at 1 GiB, so such an allocation aborts
//! the run. The cap holds for every test of the binary once set, which is why these tests
//! have a binary of their own: the compaction tests, for one, hold about 800 MB at once.

mod compressed;
mod corruption;
mod hostile_values;

/// Helpers shared with other test binaries (`tests/support/`).
#[path = "../support"]
mod support {
    pub mod engine;
}

#[global_allocator]
static ALLOCATOR: cap::Cap<std::alloc::System> = cap::Cap::new(std::alloc::System, usize::MAX);
