//! What TARP means on top of HTTP: envelopes, pickles, query strings, discovery.
//! Knows nothing of sockets or endpoints.

pub mod discovery;
pub mod envelope;
pub mod pickle;
pub mod query;
