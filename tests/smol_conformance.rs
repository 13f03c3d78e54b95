//! The transport conformance suite (`tests/common/`) run against the smol server.

#[macro_use]
mod common;

conformance_tests!(common::transports::Smol);
