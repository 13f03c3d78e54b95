//! The error a handler returns, and how it is answered (PROTOCOL.md sections 2 and 6).

use std::fmt;

use crate::http::Response;
use crate::wire::envelope::{self, ErrorKind};

/// The Python library's message for "operation in progress" when none is given.
pub const IN_PROGRESS_MESSAGE: &str = "Operation not completed. Please wait.";

/// Why a handler did not produce a result.
///
/// - [`Error::failed`]: 500, type `generic`, the message as given.
/// - [`Error::in_progress`]: 503 with `Retry-After`, type `OperationInProgress`; the Python
///   client's `wait()` sleeps that long and retries.
/// - [`Error::invalid_state`]: 503, type `InvalidServerState`.
/// - [`Error::bad_request`]: 400, for a web handler refusing its input.
///
/// Any `std::error::Error` converts into a failure carrying its text, so `?` works in
/// handlers. (For that blanket conversion to exist, this type is deliberately not itself a
/// `std::error::Error`, as with `anyhow::Error`.)
///
/// ```
/// use tarp_core::service::Error;
/// fn parse(s: &str) -> Result<i64, Error> {
///     Ok(s.parse::<i64>()?)
/// }
/// assert_eq!(parse("x").unwrap_err().message(), "invalid digit found in string");
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Error {
    kind: ErrorKind,
    message: String,
}

impl Error {
    /// An error of any kind with a message.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Error {
        Error {
            kind,
            message: message.into(),
        }
    }

    /// The handler failed: 500 with this message.
    pub fn failed(message: impl Into<String>) -> Error {
        Error::new(ErrorKind::Generic, message)
    }

    /// The operation is in progress; retry after this many seconds: 503 + `Retry-After`.
    /// The message is the Python library's default; change it with [`Error::with_message`].
    pub fn in_progress(retry_after_secs: u64) -> Error {
        Error::new(
            ErrorKind::OperationInProgress {
                retry_after: retry_after_secs,
            },
            IN_PROGRESS_MESSAGE,
        )
    }

    /// The server is in a state where it cannot do this: 503.
    pub fn invalid_state(message: impl Into<String>) -> Error {
        Error::new(ErrorKind::InvalidServerState, message)
    }

    /// The request's input is unacceptable: 400.
    pub fn bad_request(message: impl Into<String>) -> Error {
        Error::new(ErrorKind::BadRequest, message)
    }

    /// The same error with another message.
    pub fn with_message(mut self, message: impl Into<String>) -> Error {
        self.message = message.into();
        self
    }

    /// The kind, which decides the status code.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The message sent to the client.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The error envelope answering this error.
    pub fn to_response(&self) -> Response {
        envelope::error(self.kind, &self.message)
    }
}

impl<E: std::error::Error> From<E> for Error {
    fn from(e: E) -> Error {
        Error::failed(e.to_string())
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Error({:?}, {:?})", self.kind, self.message)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}
