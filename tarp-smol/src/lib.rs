//! # tarp-smol: TARP on smol
//!
//! The async transport: a server and a client for `smol` (or any executor) programs, driving
//! the sans-IO core of [`tarp_core`] over `async-io` sockets, with TLS by `futures-rustls`
//! (rustls, `ring` provider). Both interoperate with the Python TARP library (see
//! `PROTOCOL.md`) and behave as `tarp-blocking`'s server and client do.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod tls;
