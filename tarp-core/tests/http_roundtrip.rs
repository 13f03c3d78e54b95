//! Property tests: arbitrary requests and responses, serialized and fed in arbitrary splits,
//! parse back equal; chunked encoding round-trips.

use std::time::Instant;

use proptest::prelude::*;
use tarp_core::http::check::same_request;
use tarp_core::http::{
    encode_chunk, encode_last_chunk, ClientConn, ClientNext, ClientResponse, Limits, Next, Request,
    Response, ServerConn, Version,
};

fn token() -> impl Strategy<Value = String> {
    "[A-Za-z0-9!#$%&'*+.^_`|~-]{1,12}"
}

fn field_name() -> impl Strategy<Value = String> {
    token().prop_filter("framing and connection fields are the engine's", |n| {
        ![
            "content-length",
            "transfer-encoding",
            "connection",
            "host",
            "expect",
        ]
        .contains(&n.to_ascii_lowercase().as_str())
    })
}

fn field_value() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        Just(Vec::new()),
        proptest::collection::vec(prop_oneof![0x21u8..0x7f, 0x80u8..=0xff], 1..2),
        (
            proptest::collection::vec(0x21u8..0x7f, 1..2),
            proptest::collection::vec(
                prop_oneof![Just(b' '), Just(b'\t'), 0x21u8..0x7f, 0x80u8..=0xff],
                0..20
            ),
            proptest::collection::vec(0x21u8..0x7f, 1..2),
        )
            .prop_map(|(a, b, c)| [a, b, c].concat()),
    ]
}

fn fields() -> impl Strategy<Value = Vec<(String, Vec<u8>)>> {
    proptest::collection::vec((field_name(), field_value()), 0..8)
}

fn target() -> impl Strategy<Value = String> {
    let segment = "/[A-Za-z0-9._~%!$&'()*+,;=:@-]{0,10}";
    (
        proptest::collection::vec(segment, 1..4),
        proptest::option::of("[A-Za-z0-9._~%!$&'()*+,;=:@/?-]{0,20}"),
    )
        .prop_map(|(segments, query)| match query {
            Some(q) => format!("{}?{q}", segments.concat()),
            None => segments.concat(),
        })
}

fn method() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("GET".to_owned()),
        Just("POST".to_owned()),
        Just("PUT".to_owned()),
        token()
    ]
    .prop_filter("HEAD bodies are not echoed", |m| m != "HEAD")
}

/// How a generated message's body is framed on the wire.
#[derive(Debug, Clone)]
enum Framing {
    Length,
    /// Chunk sizes (cycled), an extension on each size line, trailer fields.
    Chunked(Vec<usize>, bool, Vec<(String, Vec<u8>)>),
}

fn framing() -> impl Strategy<Value = Framing> {
    prop_oneof![
        Just(Framing::Length),
        (
            proptest::collection::vec(1usize..64, 1..6),
            any::<bool>(),
            proptest::collection::vec((field_name(), field_value()), 0..3)
        )
            .prop_map(|(sizes, ext, trailers)| Framing::Chunked(sizes, ext, trailers)),
    ]
}

fn encode_chunked(
    body: &[u8],
    sizes: &[usize],
    ext: bool,
    trailers: &[(String, Vec<u8>)],
    out: &mut Vec<u8>,
) {
    let mut rest = body;
    let mut i = 0;
    while !rest.is_empty() {
        let n = sizes[i % sizes.len()].min(rest.len());
        if ext {
            out.extend_from_slice(format!("{n:X};ext{i}=\"v\"\r\n").as_bytes());
            out.extend_from_slice(&rest[..n]);
            out.extend_from_slice(b"\r\n");
        } else {
            encode_chunk(&rest[..n], out);
        }
        rest = &rest[n..];
        i += 1;
    }
    if trailers.is_empty() {
        encode_last_chunk(out);
    } else {
        out.extend_from_slice(b"0\r\n");
        for (name, value) in trailers {
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(value);
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"\r\n");
    }
}

fn request() -> impl Strategy<Value = (Request, Framing)> {
    (
        method(),
        target(),
        any::<bool>(),
        fields(),
        proptest::collection::vec(any::<u8>(), 0..300),
        framing(),
    )
        .prop_map(|(method, target, http10, mut fields, body, framing)| {
            let version = if http10 {
                Version::Http10
            } else {
                Version::Http11
            };
            let framing = if http10 { Framing::Length } else { framing };
            if http10 {
                fields.push(("Connection".into(), b"keep-alive".to_vec()));
            }
            (
                Request::new(method, &target, version, fields, body),
                framing,
            )
        })
}

fn wire_request(req: &Request, framing: &Framing, out: &mut Vec<u8>) {
    match framing {
        Framing::Length => req.encode(out),
        Framing::Chunked(sizes, ext, trailers) => {
            out.extend_from_slice(format!("{} {}", req.method(), req.path()).as_bytes());
            if let Some(q) = req.query() {
                out.extend_from_slice(format!("?{q}").as_bytes());
            }
            out.extend_from_slice(format!(" {}\r\n", req.version().as_str()).as_bytes());
            for (n, v) in req.headers() {
                out.extend_from_slice(n.as_bytes());
                out.extend_from_slice(b": ");
                out.extend_from_slice(v);
                out.extend_from_slice(b"\r\n");
            }
            out.extend_from_slice(b"Transfer-Encoding: chunked\r\n\r\n");
            encode_chunked(req.body(), sizes, *ext, trailers, out);
        }
    }
}

/// Feeds `input` in pieces of the given sizes (cycled) through `recv_buf`, answering every
/// request; returns the requests.
fn serve_split(input: &[u8], splits: &[usize]) -> Vec<Request> {
    let now = Instant::now();
    let mut conn = ServerConn::new(Limits::default(), now);
    let mut pos = 0;
    let mut i = 0;
    let mut requests = Vec::new();
    loop {
        match conn.poll(now) {
            Next::Request(req) => {
                requests.push(req);
                conn.send_response(Response::new(204, None, vec![]))
                    .unwrap();
            }
            Next::Write => {
                let n = conn.transmit().len();
                conn.advance(n);
            }
            Next::Read if pos == input.len() => return requests,
            Next::Read => {
                let want = splits
                    .get(i % splits.len().max(1))
                    .copied()
                    .unwrap_or(input.len())
                    .max(1);
                i += 1;
                let buf = conn.recv_buf();
                let n = want.min(buf.len()).min(input.len() - pos);
                buf[..n].copy_from_slice(&input[pos..pos + n]);
                conn.recv_done(n);
                pos += n;
            }
            other => panic!("unexpected {other:?}: {:?}", conn.last_error()),
        }
    }
}

fn response() -> impl Strategy<Value = (ClientResponse, Framing)> {
    (
        (200u16..600).prop_filter("bodiless statuses", |s| *s != 204 && *s != 304),
        "([A-Za-z]([A-Za-z ]{0,10}[A-Za-z])?)?",
        any::<bool>(),
        fields(),
        proptest::collection::vec(any::<u8>(), 0..300),
        framing(),
    )
        .prop_map(|(status, reason, http10, mut headers, body, framing)| {
            let version = if http10 {
                Version::Http10
            } else {
                Version::Http11
            };
            if http10 {
                headers.push(("Connection".into(), b"keep-alive".to_vec()));
            }
            (
                ClientResponse {
                    status,
                    reason,
                    version,
                    headers,
                    body,
                },
                framing,
            )
        })
}

fn wire_response(resp: &ClientResponse, framing: &Framing, out: &mut Vec<u8>) {
    match framing {
        Framing::Length => resp.encode(out),
        Framing::Chunked(sizes, ext, trailers) => {
            out.extend_from_slice(
                format!(
                    "{} {} {}\r\n",
                    resp.version.as_str(),
                    resp.status,
                    resp.reason
                )
                .as_bytes(),
            );
            for (n, v) in &resp.headers {
                out.extend_from_slice(n.as_bytes());
                out.extend_from_slice(b": ");
                out.extend_from_slice(v);
                out.extend_from_slice(b"\r\n");
            }
            out.extend_from_slice(b"Transfer-Encoding: chunked\r\n\r\n");
            encode_chunked(&resp.body, sizes, *ext, trailers, out);
        }
    }
}

fn without_framing(r: &ClientResponse) -> ClientResponse {
    let mut r = r.clone();
    r.headers.retain(|(n, _)| {
        !n.eq_ignore_ascii_case("content-length") && !n.eq_ignore_ascii_case("transfer-encoding")
    });
    r
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn requests_round_trip_in_any_split(
        requests in proptest::collection::vec(request(), 1..4),
        splits in proptest::collection::vec(1usize..40, 0..12),
    ) {
        let mut input = Vec::new();
        for (req, framing) in &requests {
            wire_request(req, framing, &mut input);
        }
        let got = serve_split(&input, &splits);
        prop_assert_eq!(got.len(), requests.len());
        for ((want, _), got) in requests.iter().zip(&got) {
            prop_assert!(same_request(want, got), "{:?} != {:?}", want, got);
        }
    }

    #[test]
    fn responses_round_trip_in_any_split(
        responses in proptest::collection::vec(response(), 1..4),
        close_delimited_last in any::<bool>(),
        splits in proptest::collection::vec(1usize..40, 0..12),
    ) {
        let mut input = Vec::new();
        let last = responses.len() - 1;
        for (i, (resp, framing)) in responses.iter().enumerate() {
            if close_delimited_last && i == last {
                // No framing header at all: the body runs to the end of the stream.
                let mut r = resp.clone();
                r.headers.retain(|(n, _)| !n.eq_ignore_ascii_case("connection"));
                let mut head = Vec::new();
                r.encode(&mut head);
                let cut = head.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
                let head_end = head[..cut].windows(2).rposition(|w| w == b"\r\n").unwrap_or(cut);
                input.extend_from_slice(&head[..head_end]);
                input.extend_from_slice(b"\r\n\r\n");
                input.extend_from_slice(&r.body);
            } else {
                wire_response(resp, framing, &mut input);
            }
        }
        let mut conn = ClientConn::new(Limits::default());
        for _ in 0..responses.len() {
            conn.send_request(Request::new("GET", "/", Version::Http11, vec![], vec![])).unwrap();
        }
        while let Ok(ClientNext::Write) = conn.poll() {
            let n = conn.transmit().len();
            conn.advance(n);
        }
        let mut pos = 0;
        let mut i = 0;
        let mut got = Vec::new();
        loop {
            match conn.poll() {
                Ok(ClientNext::Response(r)) => got.push(r),
                Ok(ClientNext::Read) if pos == input.len() => conn.feed_eof(),
                Ok(ClientNext::Read) => {
                    let want = splits.get(i % splits.len().max(1)).copied().unwrap_or(input.len());
                    i += 1;
                    let n = conn.feed(&input[pos..(pos + want).min(input.len())]);
                    pos += n;
                }
                Ok(ClientNext::Idle | ClientNext::Closed) => break,
                Ok(ClientNext::Write) => unreachable!(),
                Err(e) => prop_assert!(false, "{e}"),
            }
        }
        prop_assert_eq!(got.len(), responses.len());
        for (i, ((want, _), got)) in responses.iter().zip(&got).enumerate() {
            let mut want = without_framing(want);
            if close_delimited_last && i == last {
                want.headers.retain(|(n, _)| !n.eq_ignore_ascii_case("connection"));
            }
            prop_assert_eq!(want, without_framing(got));
        }
    }

    #[test]
    fn chunked_encode_decode(
        body in proptest::collection::vec(any::<u8>(), 0..2000),
        sizes in proptest::collection::vec(1usize..700, 1..5),
        ext in any::<bool>(),
        splits in proptest::collection::vec(1usize..300, 1..8),
    ) {
        let mut input = b"POST /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
        encode_chunked(&body, &sizes, ext, &[], &mut input);
        let got = serve_split(&input, &splits);
        prop_assert_eq!(got.len(), 1);
        prop_assert_eq!(got[0].body(), &body[..]);
    }
}
