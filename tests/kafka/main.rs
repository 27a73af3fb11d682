//! Kafka interop: brooklet's batches, as it encodes them and as it stores them in a real
//! file, decoded by an independent implementation (kafka-python, driven through the Python
//! scripts beside this file), and kafka-python's batches decoded by brooklet.

mod compat;
mod stored_batches;
mod transactional;

/// Helpers shared by the Kafka interop tests (`tests/support/`).
#[path = "../support"]
mod support {
    pub mod kafka;
}
