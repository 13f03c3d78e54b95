//! HTTP/1.1 as pure state machines (RFC 9112), knowing nothing of TARP.
//!
//! - [`Request`] and [`Response`]: the messages.
//! - [`Limits`]: every limit and deadline, with documented defaults.
//! - [`ServerConn`]: one server-side connection (bytes in, requests out, responses in,
//!   bytes out), driven through [`ServerConn::poll`] and its [`Next`].
//! - [`ClientConn`]: the mirror image for our clients and tests, yielding [`ClientResponse`]s.
//! - [`HttpError`]: why a message was refused, with the status a server answers.
//!
//! The rules, and where we are stricter than RFC 9112 allows (a TARP server has no proxy
//! in front of it to normalise requests, so the strict reading plus a closed connection is
//! the safe one; see `shared/notes/http-hardening.md`):
//!
//! | input | answer |
//! |---|---|
//! | bare LF or bare CR as a line end, NUL, obs-fold, whitespace before a colon | 400 |
//! | `Content-Length` and `Transfer-Encoding` together | 400 |
//! | two `Content-Length` lines, even equal (`5` and `5`), or a list (`5, 5`) | 400 |
//! | `Content-Length` with a sign, inner space, other non-digit, or beyond 64 bits | 400 (leading zeros and surrounding whitespace are fine) |
//! | `Transfer-Encoding` other than one `chunked` (any case): `identity`, `gzip, chunked`, `chunked, identity` | 501 |
//! | two `Transfer-Encoding` lines; `Transfer-Encoding` in an HTTP/1.0 request | 400 |
//! | chunk size with sign, whitespace, prefix or beyond 64 bits; no CRLF after chunk data | 400 |
//! | two `Host` lines | 400 (a missing `Host` is tolerated: TARP does not route on it) |
//! | absolute-form (`http://h/p`), authority-form or asterisk-form (`*`) target; non-ASCII target | 400 |
//! | well-formed version other than 1.0 and 1.1 (`HTTP/2.0`, `HTTP/1.2`, `HTTP/0.9`) | 505 (malformed versions: 400) |
//! | head (or trailer section) beyond [`Limits::max_head_bytes`]; more than [`Limits::max_headers`] fields | 431 |
//! | body beyond [`Limits::max_body`] | 413 |
//! | head or body not received in time | 408 |
//!
//! Also: leading empty lines before a request line are skipped; `Expect: 100-continue`
//! (HTTP/1.1) gets `HTTP/1.1 100 Continue` when the body is awaited and none of it has
//! arrived, other expectations are ignored; chunk extensions and trailer fields are checked
//! for shape and dropped.
//!
//! Every refusal closes the connection: a request pipelined behind a refused one is never
//! served. Percent-decoding of the target is the service's job, not this module's.

mod body;
pub mod check;
mod chunked;
mod client;
mod error;
mod head;
mod inbuf;
mod limits;
mod message;
mod pool;
mod scan;
mod server;
mod timer;
mod write;

pub use chunked::{encode_chunk, encode_last_chunk};
pub use client::{ClientConn, ClientError, ClientNext, ClientResponse};
pub use error::HttpError;
pub use limits::Limits;
pub use message::{Request, Response, Version};
pub use pool::BufferPool;
pub use server::{Next, SendError, ServerConn};
