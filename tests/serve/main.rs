//! `brooklet::serve`: the Kafka-protocol server, spoken to through the `kafka-protocol`
//! crate as a client speaks it, in process on an ephemeral port. Each API's answers, and
//! malformed input (oversized frames, garbage, unknown keys and versions, bad batches)
//! that must leave the server serving and the file intact. TLS, mTLS and SASL, with
//! certificates made in the tests.

mod delete_records;
mod group_members;
mod groups;
mod harness;
mod malformed;
mod records;
mod sasl;
mod tls;
mod topics;
