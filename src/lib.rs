//! # tarp: Tiny Asynchronous Remote Procedure calls, for Rust
//!
//! The facade of the TARP crates: the sans-IO core ([`core`]), the blocking transport
//! ([`blocking`]) and the smol transport ([`smol`]), plus the pieces of the `tarp` command that
//! are useful on their own: the [`demo`] service and [`plot`] (PNG line plots).
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod demo;
pub mod plot;

/// The blocking transport: a threaded server and a `ureq` client.
pub use tarp_blocking as blocking;
/// The sans-IO core: HTTP/1.1 state machines, pickles, envelopes, endpoints and jobs.
pub use tarp_core as core;
/// The async transport on `smol`.
pub use tarp_smol as smol;

/// The README's Rust snippets, compiled and run as doc tests so the tour cannot drift from
/// the code.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
