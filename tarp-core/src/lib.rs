//! # tarp-core: the sans-IO heart of TARP
//!
//! TARP ("Tiny Asynchronous Remote Procedure") calls functions on another machine over
//! HTTP/1.1, wire-compatible with the Python TARP library (see `PROTOCOL.md`).
//! This crate owns no socket, thread, clock or random source: bytes, time and job IDs come in
//! as arguments, so every rule can be tested, fuzzed and property-checked in isolation.
//!
//! Three rooms, each ignorant of the next:
//! - [`http`]: HTTP/1.1 framing as state machines (server connection, client response parser).
//! - [`wire`]: what TARP means on top of HTTP: envelopes, pickles, query strings, discovery.
//! - [`service`]: endpoints, argument binding, dispatch and the async job table.
//!
//! [`client`] holds what both adapters' clients do without I/O (arguments, URLs, request
//! bodies, the Python client's reading of every answer, typed errors); [`listen`] holds
//! what both server adapters decide the same way around their sockets (the
//! address, the policy past the connection cap, the over-capacity answer).
//!
//! With the feature `tls`, `tls` builds the rustls configurations both adapters use from PEM
//! files (configuration only: the TLS connections belong to the adapters).
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod client;
pub mod http;
pub mod listen;
pub mod service;
#[cfg(feature = "tls")]
pub mod tls;
pub mod wire;
