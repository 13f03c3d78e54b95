//! HTTP/1.1 as pure state machines (RFC 9112), knowing nothing of TARP.
//!
//! - [`Request`] and [`Response`]: the messages.
//! - [`Limits`]: every limit and deadline, with documented defaults.
//! - `ServerConn`: one server-side connection (bytes in, requests out, responses in, bytes out).
//! - `ClientConn`: the mirror image for our clients and tests.

mod message;

pub use message::{Request, Response, Version};
