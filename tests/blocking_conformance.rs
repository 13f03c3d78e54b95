//! The transport conformance suite (`tests/common/`) run against the blocking server.

#[macro_use]
mod common;

conformance_tests!(common::transports::Blocking);
