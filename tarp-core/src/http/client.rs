//! [`ClientConn`]: the client side of one HTTP/1.1 connection, for our clients and tests.

use std::collections::VecDeque;

use super::body::BodyReader;
use super::head::{self, BodyKind, ResponseHead};
use super::inbuf::InBuf;
use super::message::{is_framing_header, Version};
use super::scan::{leading_empty_lines, HeadScanner};
use super::write::OutBuf;
use super::{HttpError, Limits, Request};

/// A response as the client received it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientResponse {
    /// Status code (never 1xx: interim responses are skipped).
    pub status: u16,
    /// Reason phrase as sent (empty when absent).
    pub reason: String,
    /// The response's HTTP version.
    pub version: Version,
    /// All header fields in order, names as sent, values without surrounding whitespace.
    pub headers: Vec<(String, Vec<u8>)>,
    /// The body (de-chunked); empty for `HEAD`, 204 and 304.
    pub body: Vec<u8>,
}

impl ClientResponse {
    /// The first header with this name (ASCII case-insensitive).
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_slice())
    }

    /// Appends this response as it goes on the wire, framed by `Content-Length` (framing
    /// headers of the original are dropped): parsing it back gives an equal response.
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(
            format!(
                "{} {} {}\r\n",
                self.version.as_str(),
                self.status,
                self.reason
            )
            .as_bytes(),
        );
        for (name, value) in &self.headers {
            if is_framing_header(name.as_bytes()) {
                continue;
            }
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(value);
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(format!("Content-Length: {}\r\n\r\n", self.body.len()).as_bytes());
        out.extend_from_slice(&self.body);
    }
}

/// Why a [`ClientConn`] gave up.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClientError {
    /// The response breaks the protocol (or a limit on its head).
    #[error("invalid response: {0}")]
    Invalid(HttpError),
    /// The response body is larger than [`Limits::max_body`].
    #[error("the response body is larger than the limit of {limit} bytes (Limits::max_body)")]
    BodyTooLarge {
        /// The limit in bytes.
        limit: u64,
    },
    /// The server sent bytes while no request was outstanding.
    #[error("the server sent bytes with no request outstanding")]
    Unsolicited,
    /// The connection ended before a response began.
    #[error("the server closed the connection without a response")]
    Closed,
    /// The server switched protocols (101), which this client never asks for.
    #[error("the server answered 101 Switching Protocols")]
    Upgrade,
    /// The request cannot be written as valid HTTP/1.1.
    #[error("invalid request: {0}")]
    InvalidRequest(&'static str),
}

/// What a [`ClientConn`] needs from its caller now (see [`ClientConn::poll`]).
#[derive(Debug)]
pub enum ClientNext {
    /// The response to the oldest outstanding request.
    Response(ClientResponse),
    /// Output is pending: write [`ClientConn::transmit`], then [`ClientConn::advance`].
    Write,
    /// A response is awaited: read into [`ClientConn::recv_buf`], then
    /// [`ClientConn::recv_done`] (or [`ClientConn::feed_eof`]).
    Read,
    /// No request is outstanding: send one with [`ClientConn::send_request`].
    Idle,
    /// The connection cannot carry more requests (the server closed it or asked to);
    /// requests still outstanding were not answered.
    Closed,
}

#[derive(Debug)]
enum State {
    Head(HeadScanner),
    Body {
        head: ResponseHead,
        reader: BodyReader,
    },
    Closed,
}

/// The client side of one connection: requests in, bytes out, bytes in, responses out, in
/// any split of the input. Responses are framed by `Content-Length`, `chunked` or the end
/// of the connection; interim 1xx responses are skipped; a `HEAD` request's response has
/// no body. Requests may be pipelined; responses come back in order.
///
/// ```
/// use tarp_core::http::{ClientConn, ClientNext, Limits, Request, Version};
///
/// let mut conn = ClientConn::new(Limits::default());
/// let req = Request::new("GET", "/", Version::Http11, vec![("Host".into(), b"x".to_vec())], vec![]);
/// conn.send_request(req).unwrap();
/// assert!(matches!(conn.poll(), Ok(ClientNext::Write)));
/// assert_eq!(conn.transmit(), b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
/// conn.advance(conn.transmit().len());
/// assert!(matches!(conn.poll(), Ok(ClientNext::Read)));
/// conn.feed(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n");
/// let Ok(ClientNext::Response(resp)) = conn.poll() else { panic!() };
/// assert_eq!((resp.status, &resp.body[..]), (200, &b"hi"[..]));
/// assert!(conn.is_reusable());
/// ```
#[derive(Debug)]
pub struct ClientConn {
    limits: Limits,
    inbuf: InBuf,
    out: OutBuf,
    /// Per outstanding request: whether it was `HEAD`.
    inflight: VecDeque<bool>,
    state: State,
    ready: Option<ClientResponse>,
    eof: bool,
    recv_direct: bool,
    error: Option<ClientError>,
}

impl From<HttpError> for ClientError {
    fn from(e: HttpError) -> Self {
        match e {
            HttpError::BodyTooLarge { limit } => ClientError::BodyTooLarge { limit },
            e => ClientError::Invalid(e),
        }
    }
}

fn valid_token(s: &[u8]) -> bool {
    !s.is_empty()
        && s.iter().all(|&b| {
            b.is_ascii_alphanumeric()
                || matches!(
                    b,
                    b'!' | b'#'
                        | b'$'
                        | b'%'
                        | b'&'
                        | b'\''
                        | b'*'
                        | b'+'
                        | b'-'
                        | b'.'
                        | b'^'
                        | b'_'
                        | b'`'
                        | b'|'
                        | b'~'
                )
        })
}

fn check_request(req: &Request) -> Result<(), ClientError> {
    let (method, path, query) = req.raw_line();
    if !valid_token(method) {
        return Err(ClientError::InvalidRequest("the method is not a token"));
    }
    let target_ok = |s: &[u8]| s.iter().all(|b| b.is_ascii_graphic());
    if !path.starts_with(b"/") || !target_ok(path) || !query.map_or(true, target_ok) {
        return Err(ClientError::InvalidRequest(
            "the target must start with `/` and be visible ASCII (percent-encode the rest)",
        ));
    }
    for (name, value) in req.raw_headers() {
        if !valid_token(name) {
            return Err(ClientError::InvalidRequest("a header name is not a token"));
        }
        if value.iter().any(|&b| (b < 0x20 && b != b'\t') || b == 0x7f) {
            return Err(ClientError::InvalidRequest(
                "a header value holds a control byte",
            ));
        }
    }
    Ok(())
}

impl ClientConn {
    /// A new connection; `limits` bound the responses (head size, header count, body size).
    pub fn new(limits: Limits) -> Self {
        ClientConn {
            inbuf: InBuf::new(limits.max_head_bytes.saturating_mul(2)),
            limits,
            out: OutBuf::default(),
            inflight: VecDeque::new(),
            state: State::Head(HeadScanner::default()),
            ready: None,
            eof: false,
            recv_direct: false,
            error: None,
        }
    }

    /// Queues a request: its request line, its headers (without `Content-Length` and
    /// `Transfer-Encoding`), `Content-Length` when it has a body (or is a `POST`, `PUT` or
    /// `PATCH`), and the body, which is sent from its own memory, not copied. The caller
    /// provides `Host`.
    pub fn send_request(&mut self, req: Request) -> Result<(), ClientError> {
        check_request(&req)?;
        if matches!(self.state, State::Closed) {
            return Err(ClientError::Closed);
        }
        self.out.write_with(|out| req.encode_head(out));
        self.inflight.push_back(req.method() == "HEAD");
        let mut req = req;
        self.out.push_body(req.take_body());
        Ok(())
    }

    /// What to do next. An error is returned once; the connection is closed afterwards.
    pub fn poll(&mut self) -> Result<ClientNext, ClientError> {
        self.process();
        if let Some(e) = self.error.take() {
            self.state = State::Closed;
            return Err(e);
        }
        if let Some(resp) = self.ready.take() {
            return Ok(ClientNext::Response(resp));
        }
        if !self.out.is_empty() && !matches!(self.state, State::Closed) {
            return Ok(ClientNext::Write);
        }
        Ok(match self.state {
            State::Closed => ClientNext::Closed,
            _ if self.inflight.is_empty() => ClientNext::Idle,
            _ => ClientNext::Read,
        })
    }

    /// Whether another request may be sent on this connection and be answered.
    pub fn is_reusable(&self) -> bool {
        !matches!(self.state, State::Closed) && self.error.is_none() && !self.eof
    }

    /// The next bytes to write.
    pub fn transmit(&self) -> &[u8] {
        self.out.pending()
    }

    /// Records that the first `n` bytes of [`transmit`](ClientConn::transmit) were written.
    pub fn advance(&mut self, n: usize) {
        self.out.advance(n);
    }

    /// Room to read into (the body's own memory while a large body is expected).
    pub fn recv_buf(&mut self) -> &mut [u8] {
        self.recv_direct = false;
        match &mut self.state {
            State::Body { reader, .. } if self.inbuf.is_empty() && reader.direct_len() >= 4096 => {
                self.recv_direct = true;
                reader.direct_buf()
            }
            State::Head(_) | State::Body { .. } => self.inbuf.space(true),
            State::Closed => &mut [],
        }
    }

    /// Records `n` bytes read into the last [`recv_buf`](ClientConn::recv_buf).
    pub fn recv_done(&mut self, n: usize) {
        let direct = std::mem::take(&mut self.recv_direct);
        match &mut self.state {
            State::Body { reader, .. } if direct => {
                if let Err(e) = reader.direct_done(n) {
                    self.fail(e.into());
                }
            }
            State::Head(_) | State::Body { .. } => self.inbuf.filled(n),
            State::Closed => {}
        }
        self.process();
    }

    /// Copies input from `data`; returns how many bytes were taken.
    pub fn feed(&mut self, data: &[u8]) -> usize {
        let mut used = 0;
        while used < data.len() {
            let buf = self.recv_buf();
            let n = buf.len().min(data.len() - used);
            if n == 0 {
                break;
            }
            buf[..n].copy_from_slice(&data[used..used + n]);
            self.recv_done(n);
            used += n;
        }
        used
    }

    /// The server ended its stream: completes a close-delimited body.
    pub fn feed_eof(&mut self) {
        self.eof = true;
        self.recv_direct = false;
        self.process();
    }

    fn fail(&mut self, e: ClientError) {
        if self.error.is_none() {
            self.error = Some(e);
        }
        self.state = State::Closed;
        self.inbuf.clear();
    }

    fn process(&mut self) {
        while self.ready.is_none() && self.error.is_none() {
            let progressed = match self.state {
                State::Head(_) => self.step_head(),
                State::Body { .. } => self.step_body(),
                State::Closed => false,
            };
            if !progressed {
                return;
            }
        }
    }

    fn step_head(&mut self) -> bool {
        let State::Head(scan) = &mut self.state else {
            return false;
        };
        if scan.at_start() {
            let skip = leading_empty_lines(self.inbuf.data());
            self.inbuf.consume(skip);
        }
        let data = self.inbuf.data();
        // A lone CR may start one more empty line: wait for the byte after it.
        let data = if scan.at_start() && data == b"\r" && !self.eof {
            &[][..]
        } else {
            data
        };
        let Some(&head_request) = self.inflight.front() else {
            if !data.is_empty() {
                self.fail(ClientError::Unsolicited);
                return true;
            }
            if self.eof {
                self.state = State::Closed;
                return true;
            }
            return false;
        };
        if data.is_empty() {
            if self.eof {
                self.fail(ClientError::Closed);
                return true;
            }
            return false;
        }
        let parsed = match scan.scan(data, self.limits.max_head_bytes) {
            Err(e) => Err(e),
            Ok(None) if self.eof => Err(HttpError::Incomplete("response head")),
            Ok(None) => return false,
            Ok(Some(n)) => {
                let parsed = head::parse_response(&data[..n], &self.limits, head_request);
                self.inbuf.consume(n);
                parsed
            }
        };
        match parsed {
            Err(e) => self.fail(e.into()),
            Ok(head) if head.status == 101 => self.fail(ClientError::Upgrade),
            // Interim responses (100 Continue, 103 Early Hints) are skipped.
            Ok(head) if head.status < 200 => self.state = State::Head(HeadScanner::default()),
            Ok(head) => match BodyReader::new(head.body, self.limits.max_body) {
                None => self.complete(head, Vec::new()),
                Some(reader) => self.state = State::Body { head, reader },
            },
        }
        true
    }

    fn step_body(&mut self) -> bool {
        let State::Body { reader, .. } = &mut self.state else {
            return false;
        };
        match reader.decode(self.inbuf.data(), &self.limits) {
            Ok(n) => self.inbuf.consume(n),
            Err(e) => {
                self.fail(e.into());
                return true;
            }
        }
        let at_eof = self.eof && self.inbuf.is_empty();
        if reader.is_done() || at_eof {
            if !reader.is_done() {
                if let Err(e) = reader.finish_at_eof() {
                    self.fail(e.into());
                    return true;
                }
            }
            let State::Body { head, reader } = std::mem::replace(&mut self.state, State::Closed)
            else {
                return false;
            };
            self.complete(head, reader.into_body());
            return true;
        }
        false
    }

    fn complete(&mut self, head: ResponseHead, body: Vec<u8>) {
        self.inflight.pop_front();
        let keep_alive = head.keep_alive && head.body != BodyKind::UntilClose;
        self.ready = Some(ClientResponse {
            status: head.status,
            reason: head.reason,
            version: head.version,
            headers: head.headers,
            body,
        });
        if keep_alive {
            self.state = State::Head(HeadScanner::default());
        } else {
            self.state = State::Closed;
            self.inbuf.clear();
        }
    }
}
