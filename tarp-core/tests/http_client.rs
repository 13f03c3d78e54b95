//! The client connection: response framing, interim responses, HEAD, pipelining, errors.

use tarp_core::http::check::check_client_stream;
use tarp_core::http::{
    ClientConn, ClientError, ClientNext, ClientResponse, HttpError, Limits, Request, Version,
};

fn get(path: &str) -> Request {
    Request::new(
        "GET",
        path,
        Version::Http11,
        vec![("Host".into(), b"x".to_vec())],
        vec![],
    )
}

/// Sends `requests`, feeds `input` (whole, then checks every split with the invariant check
/// when the requests are the check's own), returns responses and the final error.
fn receive(
    requests: Vec<Request>,
    input: &[u8],
) -> (Vec<ClientResponse>, Option<ClientError>, bool) {
    let mut conn = ClientConn::new(Limits::default());
    for r in requests {
        conn.send_request(r).unwrap();
    }
    while let Ok(ClientNext::Write) = conn.poll() {
        let n = conn.transmit().len();
        conn.advance(n);
    }
    conn.feed(input);
    let mut responses = Vec::new();
    let mut fed_eof = false;
    loop {
        match conn.poll() {
            Ok(ClientNext::Response(r)) => responses.push(r),
            Ok(ClientNext::Read) if !fed_eof => {
                conn.feed_eof();
                fed_eof = true;
            }
            Ok(ClientNext::Idle) => return (responses, None, conn.is_reusable()),
            Ok(other) => return (responses, None, matches!(other, ClientNext::Idle)),
            Err(e) => return (responses, Some(e), false),
        }
    }
}

#[test]
fn content_length_and_keep_alive() {
    let (r, err, reusable) = receive(
        vec![get("/")],
        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Type: text/plain\r\n\r\nhello",
    );
    assert_eq!(err, None);
    assert!(reusable);
    assert_eq!(
        (r[0].status, r[0].reason.as_str(), &r[0].body[..]),
        (200, "OK", &b"hello"[..])
    );
    assert_eq!(r[0].header("content-type"), Some(&b"text/plain"[..]));
}

#[test]
fn chunked_with_trailers() {
    let (r, err, _) = receive(
        vec![get("/")],
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3;x=y\r\nabc\r\n0\r\nT: 1\r\n\r\n",
    );
    assert_eq!((err, &r[0].body[..]), (None, &b"abc"[..]));
}

#[test]
fn close_delimited_body() {
    let (r, err, reusable) = receive(vec![get("/")], b"HTTP/1.0 200 OK\r\n\r\nuntil the end");
    assert_eq!((err, &r[0].body[..]), (None, &b"until the end"[..]));
    assert_eq!(r[0].version, Version::Http10);
    assert!(!reusable);
    // Python's http.server answers HTTP/1.0 with a length and closes.
    let (r, _, reusable) = receive(
        vec![get("/")],
        b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok",
    );
    assert_eq!(&r[0].body[..], b"ok");
    assert!(!reusable);
}

#[test]
fn interim_responses_are_skipped() {
    let (r, err, _) = receive(
        vec![get("/")],
        b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n",
    );
    assert_eq!(err, None);
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].status, 201);
    let (_, err, _) = receive(vec![get("/")], b"HTTP/1.1 101 Switching Protocols\r\n\r\n");
    assert_eq!(err, Some(ClientError::Upgrade));
}

#[test]
fn head_and_bodiless_statuses() {
    let head = Request::new("HEAD", "/", Version::Http11, vec![], vec![]);
    let input = b"HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\nHTTP/1.1 204 No Content\r\n\r\nHTTP/1.1 304 Not Modified\r\nContent-Length: 9\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nz";
    let (r, err, reusable) = receive(vec![head, get("/a"), get("/b"), get("/c")], input);
    assert_eq!(err, None);
    let got: Vec<(u16, &[u8])> = r.iter().map(|r| (r.status, &r.body[..])).collect();
    assert_eq!(got, [(200, &b""[..]), (204, b""), (304, b""), (200, b"z")]);
    assert!(reusable);
}

#[test]
fn connection_close_ends_reuse() {
    let (r, err, reusable) = receive(
        vec![get("/"), get("/b")],
        b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
    );
    assert_eq!((r.len(), err, reusable), (1, None, false));
}

/// An input and a test of the error it must give.
type ErrorCase = (&'static [u8], fn(&ClientError) -> bool);

#[test]
fn protocol_errors() {
    let cases: [ErrorCase; 8] = [
        (b"HTTP/1.1 200 OK\nContent-Length: 0\n\n", |e| {
            matches!(e, ClientError::Invalid(HttpError::Malformed(_)))
        }),
        (
            b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
            |e| matches!(e, ClientError::Invalid(HttpError::Framing(_))),
        ),
        (
            b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
            |e| matches!(e, ClientError::Invalid(HttpError::Framing(_))),
        ),
        (
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
            |e| matches!(e, ClientError::Invalid(HttpError::Chunk(_))),
        ),
        (b"HTTP/2.0 200 OK\r\n\r\n", |e| {
            matches!(e, ClientError::Invalid(HttpError::Version))
        }),
        (b"HTTP/1.1 099 Odd\r\n\r\n", |e| {
            matches!(e, ClientError::Invalid(HttpError::Malformed(_)))
        }),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort", |e| {
            matches!(e, ClientError::Invalid(HttpError::Incomplete(_)))
        }),
        (b"", |e| *e == ClientError::Closed),
    ];
    for (input, expected) in cases {
        let (_, err, _) = receive(vec![get("/")], input);
        let err = err.unwrap_or_else(|| panic!("no error for {input:?}"));
        assert!(expected(&err), "{input:?}: {err:?}");
    }
    let (_, err, _) = receive(vec![], b"HTTP/1.1 200 OK\r\n\r\n");
    assert_eq!(err, Some(ClientError::Unsolicited));
}

#[test]
fn body_limit() {
    let mut conn = ClientConn::new(Limits {
        max_body: 3,
        ..Limits::default()
    });
    conn.send_request(get("/")).unwrap();
    let n = conn.transmit().len();
    conn.advance(n);
    conn.feed(b"HTTP/1.1 200 OK\r\n\r\nabcd");
    assert_eq!(
        conn.poll().unwrap_err(),
        ClientError::BodyTooLarge { limit: 3 }
    );
}

#[test]
fn request_serialization() {
    let mut conn = ClientConn::new(Limits::default());
    let req = Request::new(
        "POST",
        "/add?x=1",
        Version::Http11,
        vec![
            ("Host".into(), b"h".to_vec()),
            ("Content-Length".into(), b"999".to_vec()),
            ("Content-Type".into(), b"application/json".to_vec()),
        ],
        b"{}".to_vec(),
    );
    conn.send_request(req).unwrap();
    let mut wire = Vec::new();
    while let Ok(ClientNext::Write) = conn.poll() {
        wire.extend_from_slice(conn.transmit());
        let n = conn.transmit().len();
        conn.advance(n);
    }
    assert_eq!(
        String::from_utf8(wire).unwrap(),
        "POST /add?x=1 HTTP/1.1\r\nHost: h\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"
    );
    // An empty POST still says its length; a GET does not.
    let mut conn = ClientConn::new(Limits::default());
    conn.send_request(Request::new("POST", "/a", Version::Http11, vec![], vec![]))
        .unwrap();
    assert_eq!(
        conn.transmit(),
        b"POST /a HTTP/1.1\r\nContent-Length: 0\r\n\r\n"
    );
}

#[test]
fn invalid_requests_are_not_sent() {
    let mut conn = ClientConn::new(Limits::default());
    for req in [
        Request::new("GE T", "/", Version::Http11, vec![], vec![]),
        Request::new("GET", "/a b", Version::Http11, vec![], vec![]),
        Request::new("GET", "http://x/", Version::Http11, vec![], vec![]),
        Request::new(
            "GET",
            "/",
            Version::Http11,
            vec![("X".into(), b"a\r\nEvil: 1".to_vec())],
            vec![],
        ),
        Request::new(
            "GET",
            "/",
            Version::Http11,
            vec![("X Y".into(), b"a".to_vec())],
            vec![],
        ),
    ] {
        assert!(matches!(
            conn.send_request(req),
            Err(ClientError::InvalidRequest(_))
        ));
    }
    assert!(conn.transmit().is_empty());
}

#[test]
fn split_independence_of_the_check_requests() {
    // The same checks the fuzz target runs, on a well-formed pipelined stream.
    let input = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi\
HTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\n\
HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n\
HTTP/1.0 200 OK\r\n\r\nrest of stream";
    let run = check_client_stream(input, &Limits::default());
    assert_eq!(run.error, None);
    let got: Vec<(u16, &[u8])> = run
        .responses
        .iter()
        .map(|r| (r.status, &r.body[..]))
        .collect();
    assert_eq!(
        got,
        [
            (200, &b"hi"[..]),
            (200, b""),
            (201, b"{}"),
            (200, b"rest of stream")
        ]
    );
}
