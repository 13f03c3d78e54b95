//! Helpers shared by the HTTP engine's integration tests.
#![allow(dead_code)]

use std::time::Instant;

use tarp_core::http::check::check_server_stream;
use tarp_core::http::{
    ClientConn, ClientNext, ClientResponse, HttpError, Limits, Next, Request, Response, ServerConn,
    Version,
};

/// What a server connection did with an input.
#[derive(Debug)]
pub struct Outcome {
    /// Requests served, in order.
    pub requests: Vec<Request>,
    /// Responses written, parsed back.
    pub responses: Vec<ClientResponse>,
    /// Raw output.
    pub output: Vec<u8>,
    /// Whether the connection still waits for input once the input is used up (no EOF).
    pub open: bool,
    /// The refusal, if any.
    pub error: Option<HttpError>,
}

impl Outcome {
    /// Status codes of the responses, in order.
    pub fn statuses(&self) -> Vec<u16> {
        self.responses.iter().map(|r| r.status).collect()
    }
}

/// The response every test request gets: `200 text/plain` echoing method, path and body size.
pub fn answer(req: &Request) -> Response {
    let body = format!("{} {} {}", req.method(), req.path(), req.body().len());
    Response::new(200, Some("text/plain".into()), body.into_bytes())
}

/// Feeds `input` without an end of stream (whole, or one byte at a time), answering
/// every request; returns the requests, the output and whether the connection still reads.
fn drive_open(input: &[u8], limits: &Limits, byte_by_byte: bool) -> (Vec<Request>, Vec<u8>, bool) {
    let now = Instant::now();
    let mut conn = ServerConn::new(limits.clone(), now);
    let mut requests = Vec::new();
    let mut output = Vec::new();
    let mut pos = 0;
    loop {
        match conn.poll(now) {
            Next::Request(req) => {
                conn.send_response(answer(&req)).unwrap();
                requests.push(req);
            }
            Next::Write => {
                let n = conn.transmit().len();
                output.extend_from_slice(conn.transmit());
                conn.advance(n);
            }
            Next::Read if pos == input.len() => return (requests, output, true),
            Next::Read => {
                let end = if byte_by_byte { pos + 1 } else { input.len() };
                let n = conn.feed(&input[pos..end]);
                assert!(n > 0);
                pos += n;
            }
            Next::WaitForResponse => unreachable!(),
            Next::Close => return (requests, output, false),
        }
    }
}

/// Parses a server's output back into responses; `heads[i]` says request `i` was `HEAD`.
pub fn parse_responses(output: &[u8], heads: &[bool]) -> Vec<ClientResponse> {
    let mut client = ClientConn::new(Limits {
        max_body: u64::MAX,
        ..Limits::default()
    });
    for i in 0..heads.len() + 1 {
        let method = if heads.get(i).copied().unwrap_or(false) {
            "HEAD"
        } else {
            "GET"
        };
        client
            .send_request(Request::new(method, "/", Version::Http11, vec![], vec![]))
            .unwrap();
    }
    while !client.transmit().is_empty() {
        let n = client.transmit().len();
        client.advance(n);
    }
    assert_eq!(client.feed(output), output.len());
    client.feed_eof();
    let mut responses = Vec::new();
    loop {
        match client.poll() {
            Ok(ClientNext::Response(r)) => responses.push(r),
            Ok(ClientNext::Idle | ClientNext::Closed) => return responses,
            Ok(other) => panic!("unexpected {other:?}"),
            Err(tarp_core::http::ClientError::Closed) => return responses,
            Err(e) => panic!(
                "server output does not parse: {e}: {:?}",
                String::from_utf8_lossy(output)
            ),
        }
    }
}

/// Runs `input` through a server connection with `limits`: checks every invariant of
/// `check_server_stream` (every split, byte by byte, round trips), then finds out whether the
/// connection stays open after the input (fed whole and byte by byte, same answer).
pub fn serve_with(input: &[u8], limits: &Limits) -> Outcome {
    let run = check_server_stream(input, limits);
    let (requests, output, open) = drive_open(input, limits, false);
    let (requests_b, output_b, open_b) = drive_open(input, limits, true);
    assert_eq!(
        requests, requests_b,
        "byte-by-byte feed served other requests"
    );
    assert_eq!(
        open, open_b,
        "byte-by-byte feed changed whether the connection stays open"
    );
    let strip = |o: &[u8]| String::from_utf8_lossy(o).replace("HTTP/1.1 100 Continue\r\n\r\n", "");
    assert_eq!(strip(&output), strip(&output_b));
    assert_eq!(requests, run.requests[..requests.len()]);
    let heads: Vec<bool> = run.requests.iter().map(|r| r.method() == "HEAD").collect();
    let responses = parse_responses(&run.output, &heads);
    Outcome {
        requests: run.requests,
        responses,
        output: run.output,
        open,
        error: run.error,
    }
}

/// [`serve_with`] and the default limits.
pub fn serve(input: &[u8]) -> Outcome {
    serve_with(input, &Limits::default())
}

/// A request refused with `status`: exactly one response, that status, a JSON error
/// envelope, `Connection: close`, the connection closed, and nothing after it served
/// (every refusal test appends a valid pipelined request to its input).
#[track_caller]
pub fn assert_refused_with(input: &[u8], limits: &Limits, status: u16) -> Outcome {
    let mut bytes = input.to_vec();
    bytes.extend_from_slice(b"GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n");
    let out = serve_with(&bytes, limits);
    assert!(
        out.requests.iter().all(|r| r.path() != "/smuggled"),
        "request after a refused one was served: {:?}",
        out.requests
    );
    assert!(!out.open, "connection left open after {status}");
    let last = out
        .responses
        .last()
        .unwrap_or_else(|| panic!("no response at all for {input:?}"));
    assert_eq!(
        last.status,
        status,
        "for {:?}: {:?}",
        String::from_utf8_lossy(input),
        out.error
    );
    assert_eq!(out.error.as_ref().map(|e| e.status()), Some(status));
    assert_eq!(last.header("content-type"), Some(&b"application/json"[..]));
    assert_eq!(last.header("connection"), Some(&b"close"[..]));
    let json: serde_json::Value = serde_json::from_slice(&last.body).expect("JSON error body");
    assert_eq!(json["status"], "error");
    assert!(
        json["type"].is_string() && json["message"].is_string(),
        "{json}"
    );
    out
}

/// [`assert_refused_with`] and the default limits.
#[track_caller]
pub fn assert_refused(input: &[u8], status: u16) -> Outcome {
    assert_refused_with(input, &Limits::default(), status)
}
