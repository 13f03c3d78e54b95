//! Every limit and deadline of an HTTP connection, in one place, with documented defaults.
//!
//! The defaults suit a TARP server on a lab network: request bodies of hundreds of MiB
//! (numpy arrays) are normal, heads are small, and a client that trickles bytes or stops
//! reading must not hold a connection forever (see `shared/notes/http-hardening.md`).

use std::time::Duration;

/// Limits and deadlines of one connection (server or client side).
///
/// Build one with struct-update syntax and change only what you need:
///
/// ```
/// use std::time::Duration;
/// use tarp_core::http::Limits;
///
/// let limits = Limits { max_body: 4 << 30, header_timeout: Duration::from_secs(5), ..Limits::default() };
/// assert_eq!(limits.max_headers, 100);
/// ```
///
/// Every limit is checked against bytes actually received, never against what a header
/// announces ahead of the data: a `Content-Length` of 1 GiB allocates nothing until the bytes
/// arrive (the body buffer grows at most 64 KiB or 2x ahead of what was received).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Largest request head (request line, header lines and the empty line), in bytes.
    /// Default 32 KiB. Every buffered byte of an unfinished head counts, whatever the read
    /// sizes: a head with no end within this many bytes is refused with 431. Chunked
    /// trailers are held to the same limit.
    pub max_head_bytes: usize,
    /// Largest number of header fields in a head (and of trailer fields). Default 100;
    /// above it: 431.
    pub max_headers: usize,
    /// Largest request body, in bytes (after de-chunking). Default 1 GiB. A larger
    /// `Content-Length` is refused with 413 before any byte of the body is read; a chunked
    /// body is refused as soon as its chunk sizes add up past the limit.
    pub max_body: u64,
    /// Time allowed to receive a complete request head. Default 10 s. It runs from the start
    /// of the connection for the first request, and from the first byte of the head for the
    /// following ones (waiting for that first byte is bounded by `idle_timeout`); never per
    /// read, so a client sending one byte per second is cut off. On expiry: 408 if part of a
    /// head arrived, otherwise the connection just closes.
    pub header_timeout: Duration,
    /// Time a kept-alive connection may wait for the first byte of its next request.
    /// Default 60 s. On expiry the connection closes without a response.
    pub idle_timeout: Duration,
    /// Longest time without receiving any body byte while a body is awaited. Default 30 s.
    /// Also the grace period of `min_body_rate`. On expiry: 408 and close.
    pub body_timeout: Duration,
    /// Minimum average body rate in bytes per second, enforced after `body_timeout` of grace
    /// (the body must have arrived at `min_body_rate * (elapsed - body_timeout)` bytes or
    /// more). Default 1024 B/s; 0 disables the check. Defeats a client that sends one byte
    /// just before each `body_timeout`.
    pub min_body_rate: u64,
    /// Longest time the peer may leave pending output unread (no write progress). Default
    /// 30 s. On expiry the connection closes at once.
    pub write_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_head_bytes: 32 * 1024,
            max_headers: 100,
            max_body: 1 << 30,
            header_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            body_timeout: Duration::from_secs(30),
            min_body_rate: 1024,
            write_timeout: Duration::from_secs(30),
        }
    }
}
