//! Pending output, and how responses and error answers are written.

use super::{HttpError, Response};

/// Bodies up to this size are copied behind the head, so a small response is one write;
/// larger ones are sent from their own `Vec` (no copy).
const COPY_BODY_MAX: usize = 16 * 1024;

/// Largest write buffer handed to a [`BufferPool`](super::BufferPool) for reuse: room for
/// a small response and its head.
pub(crate) const SPARE_MAX: usize = 8 * 1024;

/// Bytes waiting to be written: `head[head_pos..]`, then `body[body_pos..]`.
#[derive(Debug, Default)]
pub(crate) struct OutBuf {
    head: Vec<u8>,
    head_pos: usize,
    body: Vec<u8>,
    body_pos: usize,
}

impl OutBuf {
    pub(crate) fn is_empty(&self) -> bool {
        self.head_pos == self.head.len() && self.body_pos == self.body.len()
    }

    /// The next bytes to write (empty when nothing is pending).
    pub(crate) fn pending(&self) -> &[u8] {
        if self.head_pos < self.head.len() {
            &self.head[self.head_pos..]
        } else {
            &self.body[self.body_pos..]
        }
    }

    /// Marks `n` bytes of [`pending`](OutBuf::pending) as written; returns whether all
    /// output is now written.
    pub(crate) fn advance(&mut self, n: usize) -> bool {
        if self.head_pos < self.head.len() {
            self.head_pos = self.head_pos.saturating_add(n).min(self.head.len());
        } else {
            self.body_pos = self.body_pos.saturating_add(n).min(self.body.len());
        }
        if self.is_empty() {
            self.head.clear();
            self.head_pos = 0;
            self.body = Vec::new();
            self.body_pos = 0;
            if self.head.capacity() > 4 * COPY_BODY_MAX {
                self.head = Vec::new();
            }
            true
        } else {
            false
        }
    }

    /// The memory of the head buffer while nothing is pending, for reuse by another
    /// connection; `None` when there is none or it is larger than [`SPARE_MAX`] (a pool
    /// keeps small buffers only, so what it holds stays bounded).
    pub(crate) fn take_spare(&mut self) -> Option<Vec<u8>> {
        let cap = self.head.capacity();
        if !self.is_empty() || cap == 0 || cap > SPARE_MAX {
            return None;
        }
        self.head_pos = 0;
        let mut head = std::mem::take(&mut self.head);
        head.clear();
        Some(head)
    }

    /// Whether nothing is pending and the head buffer holds no memory.
    pub(crate) fn has_no_memory(&self) -> bool {
        self.head.capacity() == 0 && self.is_empty()
    }

    /// Adopts `head` (from [`take_spare`](OutBuf::take_spare)) as the head buffer when
    /// this one holds no memory; hands it back otherwise.
    pub(crate) fn adopt(&mut self, mut head: Vec<u8>) -> Option<Vec<u8>> {
        if self.head.capacity() == 0 && self.is_empty() {
            head.clear();
            self.head = head;
            self.head_pos = 0;
            None
        } else {
            Some(head)
        }
    }

    /// Makes room for `n` more bytes, so a response's head is not regrown piece by piece.
    fn reserve(&mut self, n: usize) {
        self.head.reserve(n);
    }

    /// Drops all pending output.
    pub(crate) fn clear(&mut self) {
        *self = OutBuf::default();
    }

    /// Lets `write` append to the pending bytes in place (a head encoded straight into the
    /// buffer, which stays allocated from one message to the next).
    pub(crate) fn write_with(&mut self, write: impl FnOnce(&mut Vec<u8>)) {
        write(&mut self.head);
    }

    pub(crate) fn push(&mut self, bytes: &[u8]) {
        self.head.extend_from_slice(bytes);
    }

    /// Queues a body after the bytes pushed so far. Only one large body may be pending.
    pub(crate) fn push_body(&mut self, body: Vec<u8>) {
        if body.len() <= COPY_BODY_MAX || !self.body.is_empty() {
            self.head.extend_from_slice(&body);
        } else {
            self.body = body;
            self.body_pos = 0;
        }
    }
}

/// How a response is framed on this connection.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Framing {
    /// The request was `HEAD`: headers only.
    pub(crate) head_request: bool,
    /// The connection closes after this response: `Connection: close`.
    pub(crate) close: bool,
    /// An HTTP/1.0 client asked for keep-alive: `Connection: keep-alive`.
    pub(crate) keep_alive_10: bool,
}

/// The reason phrase of the statuses TARP and this engine use ("" for others: the
/// phrase is optional, and clients ignore it).
pub(crate) fn reason(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        204 => "No Content",
        301 => "Moved Permanently",
        302 => "Found",
        304 => "Not Modified",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        409 => "Conflict",
        411 => "Length Required",
        413 => "Content Too Large",
        415 => "Unsupported Media Type",
        417 => "Expectation Failed",
        422 => "Unprocessable Content",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        505 => "HTTP Version Not Supported",
        _ => "",
    }
}

/// Writes `n` in decimal without allocating.
fn push_decimal(out: &mut OutBuf, n: u64) {
    let mut digits = [0u8; 20];
    out.push(decimal(n, &mut digits));
}

/// `n` in decimal, written at the end of `digits`, without allocating.
pub(crate) fn decimal(mut n: u64, digits: &mut [u8; 20]) -> &[u8] {
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    &digits[i..]
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

fn valid_value(value: &str) -> bool {
    value
        .bytes()
        .all(|b| b == b'\t' || (b >= b' ' && b != 0x7f))
}

/// Headers the engine writes itself; a response's own copies are dropped (and
/// `Content-Type` too when the response sets its `content_type`).
fn reserved(name: &str, has_content_type: bool) -> bool {
    ["content-length", "transfer-encoding", "connection"]
        .iter()
        .any(|r| name.eq_ignore_ascii_case(r))
        || (has_content_type && name.eq_ignore_ascii_case("content-type"))
}

/// Queues `resp` (status already checked to be 200..=999).
pub(crate) fn write_response(out: &mut OutBuf, resp: Response, framing: Framing) {
    let status = resp.status;
    // The status line and our own fields take under 100 bytes; a small body is copied in.
    let fields: usize = resp
        .headers
        .iter()
        .map(|(n, v)| n.len() + v.len() + 4)
        .sum();
    let body = if resp.body.len() <= COPY_BODY_MAX {
        resp.body.len()
    } else {
        0
    };
    out.reserve(128 + resp.content_type.as_deref().map_or(0, str::len) + fields + body);
    out.push(b"HTTP/1.1 ");
    push_decimal(out, status as u64);
    out.push(b" ");
    out.push(reason(status).as_bytes());
    out.push(b"\r\n");
    if let Some(ct) = &resp.content_type {
        if valid_value(ct) {
            out.push(b"Content-Type: ");
            out.push(ct.as_bytes());
            out.push(b"\r\n");
        } else {
            log::warn!("dropping a Content-Type with control characters");
        }
    }
    for (name, value) in &resp.headers {
        if reserved(name, resp.content_type.is_some()) {
            log::warn!("dropping response header {name}: the connection writes it");
        } else if !valid_name(name) || !valid_value(value) {
            log::warn!("dropping an invalid response header {name:?}");
        } else {
            out.push(name.as_bytes());
            out.push(b": ");
            out.push(value.as_bytes());
            out.push(b"\r\n");
        }
    }
    // RFC 9110 section 8.6: no Content-Length in 1xx and 204; 304 describes another
    // representation, so it gets none either. None of the three has a body.
    let bodiless = status == 204 || status == 304;
    if !bodiless {
        out.push(b"Content-Length: ");
        push_decimal(out, resp.body.len() as u64);
        out.push(b"\r\n");
    }
    if framing.close {
        out.push(b"Connection: close\r\n");
    } else if framing.keep_alive_10 {
        out.push(b"Connection: keep-alive\r\n");
    }
    out.push(b"\r\n");
    if !framing.head_request && !bodiless {
        out.push_body(resp.body);
    }
}

/// The JSON error envelope answering `err` (PROTOCOL.md section 2), always closing.
pub(crate) fn error_response(err: &HttpError) -> Response {
    let message = serde_json::to_string(&err.to_string()).unwrap_or_else(|_| "\"\"".into());
    let body = format!(
        r#"{{"status": "error", "type": "{}", "message": {}}}"#,
        err.kind(),
        message
    );
    Response::new(
        err.status(),
        Some("application/json".into()),
        body.into_bytes(),
    )
}
