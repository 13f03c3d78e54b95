//! # tarp-blocking: TARP over plain threads
//!
//! A server and a client for programs that block: the server runs the sans-IO core of
//! [`tarp_core`] over `std::net` sockets and threads, the client speaks over `ureq`. Both
//! interoperate with the Python TARP library (see `PROTOCOL.md`), over HTTP or HTTPS (rustls
//! with the `ring` provider).
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod pool;
pub mod tls;
