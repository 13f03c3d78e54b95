//! Protocol errors: why a peer's bytes were refused, with the status a server answers.

/// A request (or response) the engine refuses, with the status code a server answers it with.
///
/// On the server side every variant is answered by [`ServerConn`](super::ServerConn) itself
/// with [`status`](HttpError::status), a JSON error envelope whose `type` is
/// [`kind`](HttpError::kind) and whose `message` is this error's text, then the connection
/// closes (a peer that sent one broken message cannot be trusted to frame the next one).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HttpError {
    /// 400: the request line or a header line breaks RFC 9112 syntax (bare CR or LF, NUL,
    /// obs-fold, whitespace before a colon, invalid token, ...).
    #[error("malformed head: {0}")]
    Malformed(&'static str),
    /// 400: the request target is not in origin-form (`/path?query`).
    #[error("unsupported request target: {0}")]
    Target(&'static str),
    /// 400: the message framing headers are missing, invalid or contradictory
    /// (`Content-Length` and `Transfer-Encoding` together, differing lengths, ...).
    #[error("invalid message framing: {0}")]
    Framing(&'static str),
    /// 400: the chunked body is malformed.
    #[error("invalid chunked body: {0}")]
    Chunk(&'static str),
    /// 400: the connection ended in the middle of a message.
    #[error("the connection ended before the {0} was complete")]
    Incomplete(&'static str),
    /// 408: a deadline of [`Limits`](super::Limits) passed while a message was being received.
    #[error("the {what} did not arrive in time (Limits::{field})")]
    Timeout {
        /// What was being received (`request head`, `request body`).
        what: &'static str,
        /// The [`Limits`](super::Limits) field whose deadline passed.
        field: &'static str,
    },
    /// 413: the body is larger than [`Limits::max_body`](super::Limits::max_body).
    #[error(
        "the request body is larger than the server's limit of {limit} bytes; \
         the server's operator can raise it with Limits::max_body"
    )]
    BodyTooLarge {
        /// The limit in bytes.
        limit: u64,
    },
    /// 431: the head is larger than [`Limits::max_head_bytes`](super::Limits::max_head_bytes).
    #[error(
        "the message head (or trailer section) is larger than the limit of {limit} bytes \
         (Limits::max_head_bytes)"
    )]
    HeadTooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// 431: more header fields than [`Limits::max_headers`](super::Limits::max_headers).
    #[error("more than {limit} header fields (Limits::max_headers)")]
    TooManyHeaders {
        /// The limit.
        limit: usize,
    },
    /// 501: a transfer coding other than a single `chunked`.
    #[error("unsupported transfer coding: {0}")]
    TransferCoding(&'static str),
    /// 505: an HTTP version other than 1.0 or 1.1.
    #[error("unsupported HTTP version: only HTTP/1.0 and HTTP/1.1 are served")]
    Version,
}

impl HttpError {
    /// The status code a server answers this error with.
    pub fn status(&self) -> u16 {
        match self {
            HttpError::Malformed(_)
            | HttpError::Target(_)
            | HttpError::Framing(_)
            | HttpError::Chunk(_)
            | HttpError::Incomplete(_) => 400,
            HttpError::Timeout { .. } => 408,
            HttpError::BodyTooLarge { .. } => 413,
            HttpError::HeadTooLarge { .. } | HttpError::TooManyHeaders { .. } => 431,
            HttpError::TransferCoding(_) => 501,
            HttpError::Version => 505,
        }
    }

    /// The `type` of the JSON error envelope (PROTOCOL.md section 2 allows our own types).
    pub fn kind(&self) -> &'static str {
        match self.status() {
            408 => "RequestTimeout",
            413 => "PayloadTooLarge",
            431 => "RequestHeaderFieldsTooLarge",
            501 => "NotImplemented",
            505 => "HTTPVersionNotSupported",
            _ => "BadRequest",
        }
    }
}
