//! The server connection's framing rules and refusals (RFC 9112), each checked whole, byte
//! by byte and in random splits (see `http_util::serve_with`), with the exact status and
//! whether the connection stays open.

mod http_util;

use http_util::{assert_refused, assert_refused_with, serve, serve_with};
use tarp_core::http::{HttpError, Limits, Version};

const GET: &[u8] = b"GET /next HTTP/1.1\r\nHost: x\r\n\r\n";

fn with_next(first: &[u8]) -> Vec<u8> {
    [first, GET].concat()
}

// ---------------------------------------------------------------- accepted framing

#[test]
fn get_without_body() {
    let out = serve(b"GET /echo?a=1&b=%20 HTTP/1.1\r\nHost: x\r\nAccept: */*\r\n\r\n");
    assert_eq!(out.statuses(), [200]);
    assert!(out.open);
    let req = &out.requests[0];
    assert_eq!(
        (req.method(), req.path(), req.query()),
        ("GET", "/echo", Some("a=1&b=%20"))
    );
    assert_eq!(req.version(), Version::Http11);
    assert_eq!(req.header("ACCEPT"), Some(&b"*/*"[..]));
    assert_eq!(req.body(), b"");
    let resp = &out.responses[0];
    assert_eq!(resp.header("content-length"), Some(&b"11"[..])); // "GET /echo 0"
    assert_eq!(resp.header("connection"), None);
}

#[test]
fn empty_query_and_no_query() {
    let out = serve(b"GET /a? HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\n\r\n");
    assert_eq!(out.requests[0].query(), Some(""));
    assert_eq!(out.requests[1].query(), None);
}

#[test]
fn content_length_body() {
    let out = serve(&with_next(
        b"POST /add HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello",
    ));
    assert_eq!(out.statuses(), [200, 200]);
    assert_eq!(out.requests[0].body(), b"hello");
    assert_eq!(out.requests[1].path(), "/next");
    assert!(out.open);
}

#[test]
fn content_length_zero_and_leading_zeros() {
    let out = serve(b"POST /a HTTP/1.1\r\nContent-Length: 0\r\n\r\nPOST /b HTTP/1.1\r\nContent-Length: 005\r\n\r\nhello");
    assert_eq!(out.requests[0].body(), b"");
    assert_eq!(out.requests[1].body(), b"hello");
}

#[test]
fn content_length_with_surrounding_whitespace_is_fine() {
    // OWS around a field value is not part of it (RFC 9110 section 5.5).
    let out = serve(b"POST /a HTTP/1.1\r\nContent-Length:   5 \t\r\n\r\nhello");
    assert_eq!(out.requests[0].body(), b"hello");
}

#[test]
fn no_framing_headers_means_no_body() {
    // The bytes after the head are the next request, not a body.
    let out = serve(&with_next(b"POST /a HTTP/1.1\r\nHost: x\r\n\r\n"));
    assert_eq!(out.statuses(), [200, 200]);
    assert_eq!(out.requests[0].body(), b"");
    assert_eq!(out.requests[1].path(), "/next");
}

#[test]
fn chunked_with_extensions_and_trailers() {
    let out = serve(&with_next(
        b"POST /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n\
          5;name=value\r\nhello\r\n6;a;b=\"q;x\"\r\n world\r\n0000;last\r\nTrailer-A: 1\r\nB:\r\n\r\n",
    ));
    assert_eq!(out.statuses(), [200, 200]);
    assert_eq!(out.requests[0].body(), b"hello world");
    assert_eq!(out.requests[1].path(), "/next");
    assert!(out.open);
}

#[test]
fn chunked_spelling_variants_accepted() {
    for te in [
        "chunked",
        "Chunked",
        "CHUNKED",
        " chunked",
        "chunked ",
        "\tchunked",
    ] {
        let input = format!(
            "POST /c HTTP/1.1\r\nTransfer-Encoding:{te}\r\n\r\nA\r\n0123456789\r\n0\r\n\r\n"
        );
        let out = serve(input.as_bytes());
        assert_eq!(out.requests[0].body(), b"0123456789", "{te:?}");
    }
}

#[test]
fn chunk_sizes_in_any_case_with_leading_zeros() {
    let out = serve(b"POST /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0000b\r\nhello world\r\nB\r\nhello world\r\n0\r\n\r\n");
    assert_eq!(out.requests[0].body(), b"hello worldhello world");
}

#[test]
fn chunk_extension_may_hold_nul_free_bytes_but_not_controls() {
    assert_refused(
        b"POST /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n1;a=\0\r\nx\r\n0\r\n\r\n",
        400,
    );
    let out = serve(
        b"POST /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n1;a=\xff\t\r\nx\r\n0\r\n\r\n",
    );
    assert_eq!(out.requests[0].body(), b"x");
}

#[test]
fn pipelining_keeps_order() {
    let input = b"GET /1 HTTP/1.1\r\n\r\nPOST /2 HTTP/1.1\r\nContent-Length: 2\r\n\r\nabGET /3 HTTP/1.1\r\n\r\n";
    let out = serve(input);
    let paths: Vec<&str> = out.requests.iter().map(|r| r.path()).collect();
    assert_eq!(paths, ["/1", "/2", "/3"]);
    let bodies: Vec<&[u8]> = out.responses.iter().map(|r| &r.body[..]).collect();
    assert_eq!(bodies, [&b"GET /1 0"[..], b"POST /2 2", b"GET /3 0"]);
    assert!(out.open);
}

#[test]
fn leading_empty_lines_are_ignored() {
    let out = serve(b"\r\n\r\nGET /a HTTP/1.1\r\n\r\n");
    assert_eq!(out.requests[0].path(), "/a");
}

#[test]
fn http10_closes_by_default() {
    let out = serve(&with_next(b"GET /a HTTP/1.0\r\n\r\n"));
    assert_eq!(out.statuses(), [200]);
    assert!(!out.open);
    assert_eq!(out.requests[0].version(), Version::Http10);
    assert_eq!(out.responses[0].header("connection"), Some(&b"close"[..]));
    assert!(
        out.output.starts_with(b"HTTP/1.1 200 OK\r\n"),
        "always answers HTTP/1.1"
    );
}

#[test]
fn http10_keep_alive() {
    let out = serve(&with_next(
        b"GET /a HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n",
    ));
    assert_eq!(out.statuses(), [200, 200]);
    assert!(out.open);
    assert_eq!(
        out.responses[0].header("connection"),
        Some(&b"keep-alive"[..])
    );
}

#[test]
fn http11_connection_close() {
    for value in ["close", "Close", "keep-alive, CLOSE", "upgrade,close"] {
        let input =
            format!("GET /a HTTP/1.1\r\nConnection: {value}\r\n\r\nGET /b HTTP/1.1\r\n\r\n");
        let out = serve(input.as_bytes());
        assert_eq!(out.statuses(), [200], "{value}");
        assert!(!out.open);
        assert_eq!(out.responses[0].header("connection"), Some(&b"close"[..]));
    }
}

#[test]
fn expect_continue_when_the_body_is_awaited() {
    let head = b"POST /a HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n";
    // The body never comes: 100 Continue (stripped by the split check), then 400 at the end.
    let out = serve(head);
    assert_eq!(out.statuses(), [400]);
    let (_, output, open) = {
        let limits = Limits::default();
        let now = std::time::Instant::now();
        let mut conn = tarp_core::http::ServerConn::new(limits, now);
        assert_eq!(conn.feed(head), head.len());
        let mut output = Vec::new();
        while let tarp_core::http::Next::Write = conn.poll(now) {
            output.extend_from_slice(conn.transmit());
            let n = conn.transmit().len();
            conn.advance(n);
        }
        let open = matches!(conn.poll(now), tarp_core::http::Next::Read);
        conn.feed(b"abc");
        let tarp_core::http::Next::Request(req) = conn.poll(now) else {
            panic!()
        };
        assert_eq!(req.body(), b"abc");
        ((), output, open)
    };
    assert_eq!(output, b"HTTP/1.1 100 Continue\r\n\r\n");
    assert!(open);
}

#[test]
fn expect_continue_skipped_when_the_body_is_here() {
    let out = serve(b"POST /a HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\nabc");
    assert_eq!(out.requests[0].body(), b"abc");
    // Whole-input runs never see the interim response (the check strips it from split runs).
    let now = std::time::Instant::now();
    let mut conn = tarp_core::http::ServerConn::new(Limits::default(), now);
    conn.feed(b"POST /a HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\nabc");
    assert!(matches!(conn.poll(now), tarp_core::http::Next::Request(_)));
}

#[test]
fn expect_continue_ignored_in_http10() {
    let now = std::time::Instant::now();
    let mut conn = tarp_core::http::ServerConn::new(Limits::default(), now);
    conn.feed(b"POST /a HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n");
    assert!(matches!(conn.poll(now), tarp_core::http::Next::Read));
}

#[test]
fn head_response_has_length_but_no_body() {
    let out = serve(&with_next(b"HEAD /a HTTP/1.1\r\n\r\n"));
    assert_eq!(out.statuses(), [200, 200]);
    assert_eq!(out.responses[0].header("content-length"), Some(&b"9"[..]));
    assert_eq!(out.responses[0].body, b"");
    let text = String::from_utf8(out.output.clone()).unwrap();
    assert!(
        text.contains("Content-Length: 9\r\n\r\nHTTP/1.1 200 OK\r\n"),
        "{text}"
    );
}

#[test]
fn obs_text_in_values_and_duplicate_plain_headers() {
    let out = serve(b"GET / HTTP/1.1\r\nX-Latin: caf\xe9\r\nAccept: a\r\nAccept: b\r\n\r\n");
    let req = &out.requests[0];
    assert_eq!(req.header("x-latin"), Some(&b"caf\xe9"[..]));
    let accepts: Vec<&[u8]> = req
        .headers()
        .filter(|(n, _)| *n == "Accept")
        .map(|(_, v)| v)
        .collect();
    assert_eq!(accepts, [&b"a"[..], b"b"]);
}

#[test]
fn missing_host_is_tolerated() {
    assert_eq!(serve(b"GET / HTTP/1.1\r\n\r\n").statuses(), [200]);
}

#[test]
fn exact_limits_are_accepted() {
    let head = b"GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\n\r\n";
    let limits = Limits {
        max_head_bytes: head.len(),
        max_headers: 2,
        max_body: 3,
        ..Limits::default()
    };
    let out = serve_with(head, &limits);
    assert_eq!(out.statuses(), [200]);
    let post = b"POST / HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc";
    let limits = Limits {
        max_body: 3,
        ..Limits::default()
    };
    assert_eq!(serve_with(post, &limits).statuses(), [200]);
    let chunked =
        b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n1\r\nc\r\n0\r\n\r\n";
    let limits = Limits {
        max_body: 3,
        ..Limits::default()
    };
    assert_eq!(serve_with(chunked, &limits).requests[0].body(), b"abc");
}

// ---------------------------------------------------------------- refusals: head syntax

#[test]
fn malformed_request_lines() {
    for line in [
        &b"GET /\r\n\r\n"[..],
        b"GET / HTTP/1.1 \r\n\r\n",
        b"GET  / HTTP/1.1\r\n\r\n",
        b"GET / HTTP/1.1 extra\r\n\r\n",
        b"G(T / HTTP/1.1\r\n\r\n",
        b"GET / http/1.1\r\n\r\n",
        b"GET / HTTP/1\r\n\r\n",
        b"GET / HTTP/1.1x\r\n\r\n",
        b"/ HTTP/1.1\r\n\r\n",
        b"GET\r\n\r\n",
        b"GET /a b HTTP/1.1\r\n\r\n",
    ] {
        assert_refused(line, 400);
    }
}

#[test]
fn malformed_header_lines() {
    for header in [
        &b"NoColon\r\n"[..],
        b"Space : before-colon\r\n",
        b"Tab\t: before-colon\r\n",
        b": empty-name\r\n",
        b"Bad@Name: x\r\n",
        b"Bad(Name): x\r\n",
        b"Ctl: a\x01b\r\n",
        b"Del: a\x7fb\r\n",
        b"Vt: \x0bchunked\r\n",
    ] {
        let input = [b"GET / HTTP/1.1\r\n", header, b"\r\n"].concat();
        let out = assert_refused(&input, 400);
        assert!(
            matches!(out.error, Some(HttpError::Malformed(_))),
            "{:?}",
            out.error
        );
    }
}

#[test]
fn obs_fold_is_refused() {
    assert_refused(b"GET / HTTP/1.1\r\nX-A: a\r\n b\r\n\r\n", 400);
    assert_refused(b"GET / HTTP/1.1\r\nX-A: a\r\n\tb\r\n\r\n", 400);
    // Folded into Transfer-Encoding, the classic smuggling shape.
    assert_refused(
        b"POST / HTTP/1.1\r\nTransfer-Encoding:\r\n chunked\r\n\r\n0\r\n\r\n",
        400,
    );
    // Whitespace before the first header line.
    assert_refused(b"GET / HTTP/1.1\r\n Host: x\r\n\r\n", 400);
}

#[test]
fn bare_cr_bare_lf_and_nul_are_refused() {
    for input in [
        &b"GET / HTTP/1.1\nHost: x\n\n"[..],
        b"GET / HTTP/1.1\r\nHost: x\n\r\n",
        b"GET / HTTP/1.1\r\nHost: x\r\n\n",
        b"GET / HTTP/1.1\rHost: x\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a\rb\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: x\r\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a\0b\r\n\r\n",
        b"GET /a\0b HTTP/1.1\r\n\r\n",
        b"\nGET / HTTP/1.1\r\n\r\n",
    ] {
        let out = assert_refused(input, 400);
        assert!(
            matches!(out.error, Some(HttpError::Malformed(_))),
            "{input:?}: {:?}",
            out.error
        );
    }
}

#[test]
fn targets_other_than_origin_form_are_refused() {
    for input in [
        &b"GET http://example.com/a HTTP/1.1\r\n\r\n"[..],
        b"OPTIONS * HTTP/1.1\r\n\r\n",
        b"CONNECT example.com:443 HTTP/1.1\r\n\r\n",
        b"GET a/b HTTP/1.1\r\n\r\n",
        b"GET /caf\xc3\xa9 HTTP/1.1\r\n\r\n",
    ] {
        let out = assert_refused(input, 400);
        assert!(
            matches!(out.error, Some(HttpError::Target(_))),
            "{input:?}: {:?}",
            out.error
        );
    }
}

#[test]
fn unsupported_versions_get_505() {
    for version in ["HTTP/2.0", "HTTP/1.2", "HTTP/0.9", "HTTP/3.0", "HTTP/9.9"] {
        let input = format!("GET / {version}\r\nHost: x\r\n\r\n");
        let out = assert_refused(input.as_bytes(), 505);
        assert_eq!(
            out.responses[0].header("content-type"),
            Some(&b"application/json"[..])
        );
    }
    // The HTTP/2 connection preface.
    assert_refused(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 505);
}

#[test]
fn duplicate_host_is_refused() {
    assert_refused(b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400);
}

// ---------------------------------------------------------------- refusals: framing

#[test]
fn content_length_and_transfer_encoding_together() {
    assert_refused(
        b"POST / HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        400,
    );
    assert_refused(
        b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n",
        400,
    );
    // Even when the coding is one we refuse anyway.
    assert_refused(
        b"POST / HTTP/1.1\r\nTransfer-Encoding: identity\r\nContent-Length: 0\r\n\r\n",
        400,
    );
}

#[test]
fn content_length_duplicates_and_lists() {
    for cl in [
        &b"Content-Length: 5\r\nContent-Length: 6\r\n"[..],
        b"Content-Length: 5\r\nContent-Length: 5\r\n",
        b"Content-Length: 5, 5\r\n",
        b"Content-Length: 5, 6\r\n",
        b"Content-Length: 5,5\r\n",
        b"content-length: 5\r\nCONTENT-LENGTH: 5\r\n",
    ] {
        let input = [b"POST / HTTP/1.1\r\n", cl, b"\r\nhello"].concat();
        let out = assert_refused(&input, 400);
        assert!(
            matches!(out.error, Some(HttpError::Framing(_))),
            "{:?}",
            out.error
        );
    }
}

#[test]
fn content_length_values() {
    for value in [
        "+5",
        "-5",
        "5 5",
        "x5",
        "5x",
        "0x5",
        "5.0",
        "",
        "18446744073709551616",
        "99999999999999999999999",
    ] {
        let input = format!("POST / HTTP/1.1\r\nContent-Length: {value}\r\n\r\nhello");
        let out = assert_refused(input.as_bytes(), 400);
        assert!(
            matches!(out.error, Some(HttpError::Framing(_))),
            "{value:?}: {:?}",
            out.error
        );
    }
}

#[test]
fn transfer_codings_other_than_chunked_get_501() {
    for te in [
        "identity",
        "chunked, identity",
        "chunked, gzip",
        "gzip, chunked",
        "chunked, chunked",
        "gzip",
        "chunked;q=1",
        "chunkedx",
        ", chunked",
        "chunked,",
    ] {
        let input = format!("POST / HTTP/1.1\r\nTransfer-Encoding: {te}\r\n\r\n0\r\n\r\n");
        let out = assert_refused(input.as_bytes(), 501);
        assert!(
            matches!(out.error, Some(HttpError::TransferCoding(_))),
            "{te:?}"
        );
    }
}

#[test]
fn repeated_transfer_encoding_lines_get_400() {
    assert_refused(b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400);
    assert_refused(b"POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400);
}

#[test]
fn transfer_encoding_in_http10_gets_400() {
    assert_refused(
        b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        400,
    );
}

#[test]
fn bad_chunk_sizes() {
    for size in [" 5", "5 ", "5 ;a", "+5", "-5", "0x5", "", "g", "5\t", "1_0"] {
        let input = format!(
            "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n{size}\r\nhello\r\n0\r\n\r\n"
        );
        let out = assert_refused(input.as_bytes(), 400);
        assert!(
            matches!(out.error, Some(HttpError::Chunk(_))),
            "{size:?}: {:?}",
            out.error
        );
    }
}

#[test]
fn chunk_size_overflow() {
    // 17 hex digits overflow u64; h11 would swallow the next request as body.
    let out = assert_refused(
        b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n10000000000000000\r\nx\r\n0\r\n\r\n",
        400,
    );
    assert!(matches!(out.error, Some(HttpError::Chunk(_))));
    // Within 64 bits but beyond the body limit: 413.
    assert_refused(
        b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffff\r\nx\r\n0\r\n\r\n",
        413,
    );
}

#[test]
fn chunk_framing_line_ends() {
    for body in [
        &b"5\r\nhelloX\r\n0\r\n\r\n"[..],
        b"5\r\nhello0\r\n\r\n",
        b"5\nhello\r\n0\r\n\r\n",
        b"5\r\nhello\n0\r\n\r\n",
        b"5\r\nhello\r\r\n0\r\n\r\n",
        b"5\rhello\r\n0\r\n\r\n",
        b"5\r\nhello\r\n0\n\r\n",
    ] {
        let input = [
            &b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"[..],
            body,
        ]
        .concat();
        assert_refused(&input, 400);
    }
}

#[test]
fn bad_trailers() {
    for trailer in [
        &b" folded\r\n"[..],
        b"No-Colon\r\n",
        b"Space : x\r\n",
        b"Ctl: \x01\r\n",
        b"Bare: lf\n",
    ] {
        let input = [
            &b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n"[..],
            trailer,
            b"\r\n",
        ]
        .concat();
        assert_refused(&input, 400);
    }
}

#[test]
fn chunk_size_line_is_bounded() {
    let ext = "a".repeat(5000);
    let input =
        format!("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n1;{ext}\r\nx\r\n0\r\n\r\n");
    assert_refused(input.as_bytes(), 400);
}

// ---------------------------------------------------------------- refusals: limits

#[test]
fn head_too_large() {
    let limits = Limits {
        max_head_bytes: 64,
        ..Limits::default()
    };
    let long = format!("GET / HTTP/1.1\r\nX: {}\r\n\r\n", "a".repeat(60));
    let out = assert_refused_with(long.as_bytes(), &limits, 431);
    assert_eq!(out.error, Some(HttpError::HeadTooLarge { limit: 64 }));
    // The default limit, hit by one big read with no end of head in sight.
    let flood = vec![b'a'; 1 << 20];
    let out = serve(&flood);
    assert_eq!(out.statuses(), [431]);
    assert!(!out.open);
}

#[test]
fn too_many_headers() {
    let fields = |n: usize| (0..n).map(|i| format!("X-{i}: v\r\n")).collect::<String>();
    let ok = format!("GET / HTTP/1.1\r\n{}\r\n", fields(100));
    assert_eq!(serve(ok.as_bytes()).statuses(), [200]);
    let bad = format!("GET / HTTP/1.1\r\n{}\r\n", fields(101));
    let out = assert_refused(bad.as_bytes(), 431);
    assert_eq!(out.error, Some(HttpError::TooManyHeaders { limit: 100 }));
    // Trailers are held to the same count.
    let trailers = format!(
        "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n{}\r\n",
        fields(101)
    );
    assert_refused(trailers.as_bytes(), 431);
}

#[test]
fn body_too_large_names_the_limit() {
    let limits = Limits {
        max_body: 4,
        ..Limits::default()
    };
    let out = assert_refused_with(
        b"POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello",
        &limits,
        413,
    );
    let json: serde_json::Value = serde_json::from_slice(&out.responses[0].body).unwrap();
    assert_eq!(json["type"], "PayloadTooLarge");
    let message = json["message"].as_str().unwrap();
    assert!(
        message.contains("4 bytes") && message.contains("Limits::max_body"),
        "{message}"
    );
    // Chunked: refused when the announced sizes pass the limit, before the data.
    let chunked =
        b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n";
    assert_refused_with(chunked, &limits, 413);
    // The default limit, announced by a 2 GiB Content-Length: no body byte is awaited.
    assert_refused(
        b"POST / HTTP/1.1\r\nContent-Length: 2147483648\r\n\r\n",
        413,
    );
}

#[test]
fn expect_continue_with_a_too_large_body_gets_413_not_100() {
    let limits = Limits {
        max_body: 4,
        ..Limits::default()
    };
    let out = assert_refused_with(
        b"POST / HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n",
        &limits,
        413,
    );
    assert!(out.output.starts_with(b"HTTP/1.1 413 "));
}

#[test]
fn incomplete_messages_at_end_of_input() {
    for input in [
        &b"GET / HTTP/1.1\r\nHost: x\r\n"[..],
        b"POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\nhel",
        b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n",
        b"\r",
    ] {
        let out = serve(input);
        assert_eq!(out.statuses(), [400], "{input:?}");
        assert!(matches!(out.error, Some(HttpError::Incomplete(_))));
    }
    // A clean end between requests is not an error.
    let out = serve(b"GET / HTTP/1.1\r\n\r\n");
    assert_eq!((out.statuses(), out.error), (vec![200], None));
    let out = serve(b"");
    assert!(out.responses.is_empty() && out.error.is_none());
}

#[test]
fn refusal_envelope_is_exact() {
    let out = assert_refused(b"GET / HTTP/1.1\r\nA : b\r\n\r\n", 400);
    let text = String::from_utf8(out.output).unwrap();
    assert!(text.starts_with(
        "HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\nContent-Length: "
    ));
    let body = text.split("\r\n\r\n").nth(1).unwrap();
    assert!(
        body.starts_with(
            r#"{"status": "error", "type": "BadRequest", "message": "malformed head: "#
        ),
        "{body}"
    );
}

#[test]
fn a_slow_application_holds_back_input() {
    // Pipelined requests are not buffered without bound while the application works: the
    // connection takes what fits in its read buffer, then nothing until the next response.
    let now = std::time::Instant::now();
    let mut conn = tarp_core::http::ServerConn::new(Limits::default(), now);
    let input = b"GET /p HTTP/1.1\r\n\r\n".repeat(20_000);
    let mut pos = conn.feed(&input);
    assert!(pos < 64 * 1024, "took {pos} bytes ahead");
    let mut served = 0;
    loop {
        match conn.poll(now) {
            tarp_core::http::Next::Request(req) => {
                assert_eq!(req.path(), "/p");
                assert!(matches!(
                    conn.poll(now),
                    tarp_core::http::Next::WaitForResponse
                ));
                // Reading ahead fills the buffer (compacting it once), then stops.
                pos += conn.feed(&input[pos..]);
                if pos < input.len() {
                    assert_eq!(
                        conn.feed(&input[pos..]),
                        0,
                        "input taken with a full buffer"
                    );
                }
                served += 1;
                conn.send_response(http_util::answer(&req)).unwrap();
            }
            tarp_core::http::Next::Write => {
                let n = conn.transmit().len();
                conn.advance(n);
            }
            tarp_core::http::Next::Read if pos == input.len() => break,
            tarp_core::http::Next::Read => pos += conn.feed(&input[pos..]),
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(served, 20_000);
}

#[test]
fn one_byte_at_a_time_is_linear() {
    // A quadratic parser re-scans from byte 0 after each read. Ours keeps a scan offset, so
    // every head byte is examined exactly once however the input is split: counted, not timed
    // (the wall-clock cost per byte is measured by `cargo bench -p tarp-core --bench http`).
    use tarp_core::http::{Next, ServerConn};
    for size in [3_000usize, 30_000] {
        let head = format!("GET / HTTP/1.1\r\nX-Big: {}\r\n\r\n", "a".repeat(size));
        let now = std::time::Instant::now();
        let mut conn = ServerConn::new(Limits::default(), now);
        let mut served = 0;
        for (i, b) in head.bytes().enumerate() {
            assert_eq!(conn.feed(&[b]), 1);
            match conn.poll(now) {
                Next::Read => assert!(i + 1 < head.len(), "the complete head was not served"),
                Next::Request(req) => {
                    assert_eq!(i + 1, head.len(), "served before the head was complete");
                    assert_eq!(req.header("x-big").map(<[u8]>::len), Some(size));
                    served += 1;
                }
                other => panic!("unexpected {other:?} after byte {i}"),
            }
        }
        assert_eq!(served, 1);
        assert_eq!(
            conn.head_bytes_scanned() as usize,
            head.len(),
            "each head byte is examined exactly once"
        );
    }
}

#[test]
fn release_buffers_between_requests_and_not_under_a_read() {
    let now = std::time::Instant::now();
    let mut conn = tarp_core::http::ServerConn::new(Limits::default(), now);
    let input = b"GET /a HTTP/1.1\r\n\r\n";
    let buf = conn.recv_buf();
    buf[..input.len()].copy_from_slice(input);
    // Room handed out and not yet reported is kept.
    conn.release_buffers();
    conn.recv_done(input.len());
    let tarp_core::http::Next::Request(req) = conn.poll(now) else {
        panic!()
    };
    assert_eq!(req.path(), "/a");
    conn.send_response(http_util::answer(&req)).unwrap();
    while let tarp_core::http::Next::Write = conn.poll(now) {
        let n = conn.transmit().len();
        conn.advance(n);
    }
    // Idle: releasing is harmless and the next request is served.
    conn.release_buffers();
    assert_eq!(conn.feed(b"GET /b HTTP/1.1\r\n\r\n"), 19);
    let tarp_core::http::Next::Request(req) = conn.poll(now) else {
        panic!()
    };
    assert_eq!(req.path(), "/b");
}

#[test]
fn pooled_buffers_move_between_connections_without_their_old_bytes() {
    use tarp_core::http::{BufferPool, Next, ServerConn};
    let now = std::time::Instant::now();
    let mut pool = BufferPool::new(2);
    let mut a = ServerConn::new(Limits::default(), now);
    let mut b = ServerConn::new(Limits::default(), now);
    // One connection serves a long request, then releases its buffers into the pool.
    let long = format!(
        "GET /{} HTTP/1.1\r\nX-Pad: {}\r\n\r\n",
        "a".repeat(300),
        "p".repeat(2000)
    );
    assert_eq!(a.feed(long.as_bytes()), long.len());
    let Next::Request(req) = a.poll(now) else {
        panic!()
    };
    a.send_response(http_util::answer(&req)).unwrap();
    while let Next::Write = a.poll(now) {
        let n = a.transmit().len();
        a.advance(n);
    }
    assert!(matches!(a.poll(now), Next::Read));
    a.release_buffers_into(&mut pool);
    assert_eq!(pool.spare(), 2, "the read and the write buffer");
    // Another takes them: it reads only what it is given, never the stale bytes.
    b.reuse_buffers_from(&mut pool);
    assert_eq!(pool.spare(), 0);
    let short = b"GET /b HTTP/1.1\r\n\r\n";
    let buf = b.recv_buf();
    buf[..short.len()].copy_from_slice(short);
    b.recv_done(short.len());
    let Next::Request(req) = b.poll(now) else {
        panic!()
    };
    assert_eq!(req.path(), "/b");
    assert_eq!(req.headers().count(), 0);
    b.send_response(http_util::answer(&req)).unwrap();
    let mut out = Vec::new();
    while let Next::Write = b.poll(now) {
        let chunk = b.transmit().to_vec();
        b.advance(chunk.len());
        out.extend_from_slice(&chunk);
    }
    let text = String::from_utf8(out).unwrap();
    assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text}");
    assert_eq!(text.matches("HTTP/1.1").count(), 1, "{text}");
    // A connection holding its own buffers takes none; a full pool keeps no more.
    a.reuse_buffers_from(&mut pool);
    b.release_buffers_into(&mut pool);
    b.reuse_buffers_from(&mut pool);
    assert_eq!(pool.spare(), 0);
    let mut small = BufferPool::new(1);
    let mut fresh: Vec<ServerConn> = (0..3)
        .map(|_| ServerConn::new(Limits::default(), now))
        .collect();
    for conn in &mut fresh {
        let _ = conn.recv_buf(); // allocates a read buffer
        conn.recv_done(0);
        conn.release_buffers_into(&mut small);
    }
    assert_eq!(small.spare(), 1, "at most one read buffer kept");
}

#[test]
fn buffers_under_a_read_are_not_pooled() {
    use tarp_core::http::{BufferPool, Next, ServerConn};
    let now = std::time::Instant::now();
    let mut pool = BufferPool::default();
    let mut conn = ServerConn::new(Limits::default(), now);
    let input = b"GET /a HTTP/1.1\r\n\r\n";
    let buf = conn.recv_buf();
    buf[..input.len()].copy_from_slice(input);
    // Room handed out and not yet reported stays with the connection.
    conn.release_buffers_into(&mut pool);
    assert_eq!(pool.spare(), 0);
    conn.recv_done(input.len());
    let Next::Request(req) = conn.poll(now) else {
        panic!()
    };
    assert_eq!(req.path(), "/a");
}

#[test]
fn a_write_buffer_grown_by_a_large_answer_is_not_pooled() {
    use tarp_core::http::{BufferPool, Next, Response, ServerConn};
    let now = std::time::Instant::now();
    let mut pool = BufferPool::default();
    let mut conn = ServerConn::new(Limits::default(), now);
    assert_eq!(conn.feed(b"GET /big HTTP/1.1\r\n\r\n"), 21);
    let Next::Request(_) = conn.poll(now) else {
        panic!()
    };
    // 12 KiB: copied behind the head, so the write buffer grows past what a pool keeps.
    conn.send_response(Response::new(200, None, vec![b'x'; 12 * 1024]))
        .unwrap();
    while let Next::Write = conn.poll(now) {
        let n = conn.transmit().len();
        conn.advance(n);
    }
    conn.release_buffers_into(&mut pool);
    assert_eq!(pool.spare(), 1, "the read buffer only");
}
