//! Request-smuggling permutations from the public differential corpora, written from their
//! published lists: smuggler's and PortSwigger http-request-smuggler's `Transfer-Encoding`
//! mutations, their `Content-Length` counterparts, and HTTP Garden's classes of parser
//! disagreement (chunk sizes, line ends, request lines). Each is followed by a pipelined
//! `GET /smuggled`, as an attacker's payload would be.
//!
//! Every case has one exact answer. A refusal ([`Expect::Refused`]) means: that status, a
//! JSON error envelope, `Connection: close`, the connection closed, and `/smuggled` never
//! served (`http_util::assert_refused`, which also runs the input whole, byte by byte and in
//! random splits). An acceptance ([`Expect::Served`]) means: the request is served with
//! exactly the body its framing says, then the pipelined request is served too, and the
//! connection stays open. Where respected servers disagree (see
//! `shared/notes/http-hardening.md`), the strict answer is ours.
//!
//! The same inputs are seeds of the `http_server` fuzz target (`fuzz/corpus/http_server/
//! garden_*`): a test below checks that the files match this table, and
//! `TARP_WRITE_SEEDS=1 cargo test -p tarp-core --test hostile_framing` rewrites them.

mod http_util;

use std::path::PathBuf;

use http_util::{assert_refused, serve};

/// The payload every case carries after its own request.
const SMUGGLED: &[u8] = b"GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n";

/// What the server must do with a case.
#[derive(Debug, Clone, Copy)]
enum Expect {
    /// Refused with this status; nothing after it served.
    Refused(u16),
    /// Served with this body; the pipelined request served too.
    Served(&'static str),
}

use Expect::{Refused, Served};

/// A chunked POST with `te_line` as its `Transfer-Encoding` line(s) and a 5-byte body.
fn te(te_lines: &[u8]) -> Vec<u8> {
    [
        &b"POST /a HTTP/1.1\r\nHost: x\r\n"[..],
        te_lines,
        b"\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
    ]
    .concat()
}

/// A POST with `cl_lines` as its `Content-Length` line(s) and the body `hello`.
fn cl(cl_lines: &[u8]) -> Vec<u8> {
    [
        &b"POST /a HTTP/1.1\r\nHost: x\r\n"[..],
        cl_lines,
        b"\r\n\r\nhello",
    ]
    .concat()
}

/// A chunked POST with this body (chunk framing included).
fn chunked(body: &[u8]) -> Vec<u8> {
    [
        &b"POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"[..],
        body,
    ]
    .concat()
}

fn raw(bytes: &[u8]) -> Vec<u8> {
    bytes.to_vec()
}

/// Every case: (seed name, request, answer).
fn cases() -> Vec<(&'static str, Vec<u8>, Expect)> {
    vec![
        // ---- Transfer-Encoding, smuggler / PortSwigger mutation names ----
        (
            "te_vanilla",
            te(b"Transfer-Encoding: chunked"),
            Served("hello"),
        ),
        (
            "te_nospace",
            te(b"Transfer-Encoding:chunked"),
            Served("hello"),
        ),
        (
            "te_valueprefix",
            te(b"Transfer-Encoding:  chunked"),
            Served("hello"),
        ),
        (
            "te_tabprefix",
            te(b"Transfer-Encoding:\tchunked"),
            Served("hello"),
        ),
        (
            "te_tabsuffix",
            te(b"Transfer-Encoding: chunked\t"),
            Served("hello"),
        ),
        (
            "te_yelling",
            te(b"TRANSFER-ENCODING: CHUNKED"),
            Served("hello"),
        ),
        (
            "te_sarcasm",
            te(b"TrAnSFer-EnCODinG: cHuNkeD"),
            Served("hello"),
        ),
        (
            "te_connection",
            te(b"Connection: Transfer-Encoding\r\nTransfer-Encoding: chunked"),
            Served("hello"),
        ),
        (
            "te_nameprefix",
            te(b" Transfer-Encoding: chunked"),
            Refused(400),
        ),
        (
            "te_nameprefix_fold",
            te(b"X: y\r\n Transfer-Encoding: chunked"),
            Refused(400),
        ),
        (
            "te_tabprefix2",
            te(b"Transfer-Encoding\t:\tchunked"),
            Refused(400),
        ),
        (
            "te_space1",
            te(b"Transfer-Encoding : chunked"),
            Refused(400),
        ),
        (
            "te_spacejoin",
            te(b"Transfer Encoding: chunked"),
            Refused(400),
        ),
        ("te_smashed", te(b"Transfer Encoding:chunked"), Refused(400)),
        (
            "te_spjunk",
            te(b"Transfer-Encoding x: chunked"),
            Refused(400),
        ),
        (
            "te_backslash",
            te(b"Transfer\\Encoding: chunked"),
            Refused(400),
        ),
        (
            "te_accent_name",
            te(b"Transf\x7fr-Encoding: chunked"),
            Refused(400),
        ),
        (
            "te_vertprefix",
            te(b"Transfer-Encoding:\x0bchunked"),
            Refused(400),
        ),
        (
            "te_formfeed",
            te(b"Transfer-Encoding:\x0cchunked"),
            Refused(400),
        ),
        (
            "te_nul_suffix",
            te(b"Transfer-Encoding: chunked\0"),
            Refused(400),
        ),
        (
            "te_0dsuffix",
            te(b"Transfer-Encoding: chunked\r"),
            Refused(400),
        ),
        (
            "te_0dspam",
            te(b"Transfer\r-Encoding: chunked"),
            Refused(400),
        ),
        (
            "te_linewrapped",
            te(b"Transfer-Encoding:\n chunked"),
            Refused(400),
        ),
        (
            "te_gareth",
            te(b"Transfer-Encoding\n : chunked"),
            Refused(400),
        ),
        (
            "te_tabwrap",
            te(b"Transfer-Encoding: \r\n\tchunked"),
            Refused(400),
        ),
        (
            "te_vertwrap",
            te(b"Transfer-Encoding: \r\n\x0bchunked"),
            Refused(400),
        ),
        (
            "te_badsetup_cr",
            te(b"Foo: bar\rTransfer-Encoding: chunked"),
            Refused(400),
        ),
        (
            "te_badsetup_lf",
            te(b"Foo: bar\nTransfer-Encoding: chunked"),
            Refused(400),
        ),
        (
            "te_0dwrap",
            te(b"Foo: bar\r\n\rTransfer-Encoding: chunked"),
            Refused(400),
        ),
        (
            "te_dualchunk",
            te(b"Transfer-Encoding: chunked\r\nTransfer-Encoding: identity"),
            Refused(400),
        ),
        (
            "te_revdualchunk",
            te(b"Transfer-Encoding: identity\r\nTransfer-Encoding: chunked"),
            Refused(400),
        ),
        (
            "te_twice_chunked",
            te(b"Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked"),
            Refused(400),
        ),
        (
            "te_identity",
            te(b"Transfer-Encoding: identity"),
            Refused(501),
        ),
        (
            "te_chunked_identity",
            te(b"Transfer-Encoding: chunked, identity"),
            Refused(501),
        ),
        (
            "te_comma_cow",
            te(b"Transfer-Encoding: chunked, cow"),
            Refused(501),
        ),
        (
            "te_cow_comma",
            te(b"Transfer-Encoding: cow, chunked"),
            Refused(501),
        ),
        (
            "te_gzip_after",
            te(b"Transfer-Encoding: chunked, gzip"),
            Refused(501),
        ),
        (
            "te_nested",
            te(b"Transfer-Encoding: cow chunked bar"),
            Refused(501),
        ),
        (
            "te_quoted",
            te(b"Transfer-Encoding: \"chunked\""),
            Refused(501),
        ),
        (
            "te_aposed",
            te(b"Transfer-Encoding: 'chunked'"),
            Refused(501),
        ),
        ("te_lazygrep", te(b"Transfer-Encoding: chunk"), Refused(501)),
        (
            "te_param",
            te(b"Transfer-Encoding: chunked;q=1.0"),
            Refused(501),
        ),
        (
            "te_space_ff",
            te(b"Transfer-Encoding:\xffchunked"),
            Refused(501),
        ),
        (
            "te_unispace",
            te(b"Transfer-Encoding:\xa0chunked"),
            Refused(501),
        ),
        (
            "te_accent_value",
            te(b"Transfer-Encoding: ch\x96nked"),
            Refused(501),
        ),
        ("te_empty", te(b"Transfer-Encoding:"), Refused(501)),
        (
            "te_http10",
            raw(b"POST /a HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"),
            Refused(400),
        ),
        // The body is then the next request: "5" is not a request line.
        (
            "te_underjoin",
            te(b"Transfer_Encoding: chunked"),
            Refused(400),
        ),
        (
            "te_content_encoding",
            te(b"Content-Encoding: chunked"),
            Refused(400),
        ),
        // ---- Content-Length with Transfer-Encoding (CL.TE, TE.CL) ----
        (
            "clte_cl_first",
            te(b"Content-Length: 6\r\nTransfer-Encoding: chunked"),
            Refused(400),
        ),
        (
            "clte_te_first",
            te(b"Transfer-Encoding: chunked\r\nContent-Length: 6"),
            Refused(400),
        ),
        (
            "clte_te_mangled",
            te(b"Content-Length: 6\r\nTransfer-Encoding: xchunked"),
            Refused(400),
        ),
        (
            "clte_zero",
            te(b"Content-Length: 0\r\nTransfer-Encoding: chunked"),
            Refused(400),
        ),
        // ---- Content-Length values ----
        ("cl_vanilla", cl(b"Content-Length: 5"), Served("hello")),
        (
            "cl_leading_zeros",
            cl(b"Content-Length: 0005"),
            Served("hello"),
        ),
        (
            "cl_twenty_digits",
            cl(b"Content-Length: 00000000000000000005"),
            Served("hello"),
        ),
        ("cl_tab_ows", cl(b"Content-Length:\t5\t"), Served("hello")),
        ("cl_plus", cl(b"Content-Length: +5"), Refused(400)),
        ("cl_minus", cl(b"Content-Length: -5"), Refused(400)),
        ("cl_list_same", cl(b"Content-Length: 5, 5"), Refused(400)),
        ("cl_list_diff", cl(b"Content-Length: 5, 6"), Refused(400)),
        ("cl_list_nospace", cl(b"Content-Length: 5,5"), Refused(400)),
        ("cl_two_numbers", cl(b"Content-Length: 5 5"), Refused(400)),
        (
            "cl_twice_same",
            cl(b"Content-Length: 5\r\nContent-Length: 5"),
            Refused(400),
        ),
        (
            "cl_twice_diff",
            cl(b"Content-Length: 5\r\nContent-Length: 6"),
            Refused(400),
        ),
        ("cl_hex", cl(b"Content-Length: 0x5"), Refused(400)),
        ("cl_exponent", cl(b"Content-Length: 5e0"), Refused(400)),
        ("cl_decimal", cl(b"Content-Length: 5.0"), Refused(400)),
        ("cl_quoted", cl(b"Content-Length: \"5\""), Refused(400)),
        ("cl_nul", cl(b"Content-Length: 5\0"), Refused(400)),
        ("cl_vtab", cl(b"Content-Length: \x0b5"), Refused(400)),
        ("cl_empty", cl(b"Content-Length:"), Refused(400)),
        (
            "cl_arabic_digit",
            cl(b"Content-Length: \xd9\xa5"),
            Refused(400),
        ),
        (
            "cl_space_before_colon",
            cl(b"Content-Length : 5"),
            Refused(400),
        ),
        ("cl_nameprefix", cl(b" Content-Length: 5"), Refused(400)),
        (
            "cl_u64_overflow",
            cl(b"Content-Length: 18446744073709551616"),
            Refused(400),
        ),
        (
            "cl_huge_overflow",
            cl(b"Content-Length: 99999999999999999999999999"),
            Refused(400),
        ),
        (
            "cl_u64_max",
            cl(b"Content-Length: 18446744073709551615"),
            Refused(413),
        ),
        (
            "cl_beyond_limit",
            cl(b"Content-Length: 1073741825"),
            Refused(413),
        ),
        // ---- chunk framing (HTTP Garden classes) ----
        (
            "chunk_vanilla",
            chunked(b"5\r\nhello\r\n0\r\n\r\n"),
            Served("hello"),
        ),
        (
            "chunk_upper_hex",
            chunked(b"A\r\nhellohello\r\n0\r\n\r\n"),
            Served("hellohello"),
        ),
        (
            "chunk_many_zeros",
            chunked(b"00000000000000000000000005\r\nhello\r\n0000\r\n\r\n"),
            Served("hello"),
        ),
        (
            "chunk_ext",
            chunked(b"5;a=b;c=\"d;e\"\r\nhello\r\n0;z\r\n\r\n"),
            Served("hello"),
        ),
        (
            "chunk_trailer",
            chunked(b"5\r\nhello\r\n0\r\nX-T: 1\r\n\r\n"),
            Served("hello"),
        ),
        (
            "chunk_space_before",
            chunked(b" 5\r\nhello\r\n0\r\n\r\n"),
            Refused(400),
        ),
        (
            "chunk_space_after",
            chunked(b"5 \r\nhello\r\n0\r\n\r\n"),
            Refused(400),
        ),
        (
            "chunk_tab_after",
            chunked(b"5\t\r\nhello\r\n0\r\n\r\n"),
            Refused(400),
        ),
        (
            "chunk_space_before_ext",
            chunked(b"5 ;a\r\nhello\r\n0\r\n\r\n"),
            Refused(400),
        ),
        (
            "chunk_plus",
            chunked(b"+5\r\nhello\r\n0\r\n\r\n"),
            Refused(400),
        ),
        (
            "chunk_minus",
            chunked(b"-5\r\nhello\r\n0\r\n\r\n"),
            Refused(400),
        ),
        (
            "chunk_0x",
            chunked(b"0x5\r\nhello\r\n0\r\n\r\n"),
            Refused(400),
        ),
        (
            "chunk_underscore",
            chunked(b"0_5\r\nhello\r\n0\r\n\r\n"),
            Refused(400),
        ),
        (
            "chunk_empty_size",
            chunked(b"\r\nhello\r\n0\r\n\r\n"),
            Refused(400),
        ),
        (
            "chunk_hex_overflow",
            chunked(b"10000000000000005\r\nhello\r\n0\r\n\r\n"),
            Refused(400),
        ),
        (
            "chunk_u64_max",
            chunked(b"ffffffffffffffff\r\nhello\r\n0\r\n\r\n"),
            Refused(413),
        ),
        (
            "chunk_missing_crlf",
            chunked(b"5\r\nhello0\r\n\r\n"),
            Refused(400),
        ),
        (
            "chunk_extra_data",
            chunked(b"5\r\nhelloXX\r\n0\r\n\r\n"),
            Refused(400),
        ),
        (
            "chunk_short_data",
            chunked(b"5\r\nhell\r\n0\r\n\r\n"),
            Refused(400),
        ),
        (
            "chunk_data_lf",
            chunked(b"5\r\nhello\n0\r\n\r\n"),
            Refused(400),
        ),
        (
            "chunk_data_cr",
            chunked(b"5\r\nhello\r0\r\n\r\n"),
            Refused(400),
        ),
        (
            "chunk_size_lf",
            chunked(b"5\nhello\r\n0\r\n\r\n"),
            Refused(400),
        ),
        (
            "chunk_size_cr",
            chunked(b"5\rhello\r\n0\r\n\r\n"),
            Refused(400),
        ),
        (
            "chunk_last_lf",
            chunked(b"5\r\nhello\r\n0\n\r\n"),
            Refused(400),
        ),
        (
            "chunk_end_lf",
            chunked(b"5\r\nhello\r\n0\r\n\n"),
            Refused(400),
        ),
        (
            "chunk_ext_lf",
            chunked(b"5;a\nb\r\nhello\r\n0\r\n\r\n"),
            Refused(400),
        ),
        (
            "chunk_ext_nul",
            chunked(b"5;a=\0\r\nhello\r\n0\r\n\r\n"),
            Refused(400),
        ),
        (
            "chunk_trailer_fold",
            chunked(b"5\r\nhello\r\n0\r\n folded\r\n\r\n"),
            Refused(400),
        ),
        (
            "chunk_trailer_lf",
            chunked(b"5\r\nhello\r\n0\r\nX: 1\n\r\n"),
            Refused(400),
        ),
        // ---- request lines and line ends ----
        (
            "line_bare_lf",
            raw(b"GET /a HTTP/1.1\nHost: x\n\n"),
            Refused(400),
        ),
        (
            "line_bare_cr",
            raw(b"GET /a HTTP/1.1\rHost: x\r\n\r\n"),
            Refused(400),
        ),
        (
            "line_bare_cr_value",
            raw(b"GET /a HTTP/1.1\r\nX: a\rb\r\n\r\n"),
            Refused(400),
        ),
        (
            "line_lf_end_of_head",
            raw(b"GET /a HTTP/1.1\r\nHost: x\r\n\n"),
            Refused(400),
        ),
        (
            "line_tab_separators",
            raw(b"GET\t/a\tHTTP/1.1\r\n\r\n"),
            Refused(400),
        ),
        (
            "line_double_space",
            raw(b"GET  /a HTTP/1.1\r\n\r\n"),
            Refused(400),
        ),
        (
            "line_leading_space",
            raw(b" GET /a HTTP/1.1\r\n\r\n"),
            Refused(400),
        ),
        (
            "line_nul_in_version",
            raw(b"GET /a HTTP/1.1\0\r\n\r\n"),
            Refused(400),
        ),
        (
            "line_lowercase_version",
            raw(b"GET /a http/1.1\r\n\r\n"),
            Refused(400),
        ),
        ("line_http12", raw(b"GET /a HTTP/1.2\r\n\r\n"), Refused(505)),
        ("line_http20", raw(b"GET /a HTTP/2.0\r\n\r\n"), Refused(505)),
        ("line_http09", raw(b"GET /a HTTP/0.9\r\n\r\n"), Refused(505)),
        (
            "line_h2_preface",
            raw(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"),
            Refused(505),
        ),
        (
            "target_absolute",
            raw(b"GET http://x/a HTTP/1.1\r\nHost: x\r\n\r\n"),
            Refused(400),
        ),
        (
            "target_asterisk",
            raw(b"OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n"),
            Refused(400),
        ),
        (
            "target_authority",
            raw(b"CONNECT x:443 HTTP/1.1\r\nHost: x\r\n\r\n"),
            Refused(400),
        ),
        (
            "target_relative",
            raw(b"GET a HTTP/1.1\r\n\r\n"),
            Refused(400),
        ),
        (
            "target_utf8",
            raw(b"GET /\xc3\xa9 HTTP/1.1\r\n\r\n"),
            Refused(400),
        ),
        (
            "host_twice",
            raw(b"GET /a HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n"),
            Refused(400),
        ),
        (
            "host_folded",
            raw(b"GET /a HTTP/1.1\r\nHost: x\r\n y\r\n\r\n"),
            Refused(400),
        ),
        (
            "header_empty_name",
            raw(b"GET /a HTTP/1.1\r\n: x\r\n\r\n"),
            Refused(400),
        ),
        (
            "header_nul_value",
            raw(b"GET /a HTTP/1.1\r\nX: a\0b\r\n\r\n"),
            Refused(400),
        ),
    ]
}

/// The seed file of a case: the request, then the smuggled one.
fn seed(request: &[u8]) -> Vec<u8> {
    [request, SMUGGLED].concat()
}

#[test]
fn every_permutation_gets_its_exact_answer() {
    let cases = cases();
    assert!(cases.len() > 120, "{} cases", cases.len());
    for (name, request, expect) in cases {
        match expect {
            Refused(status) => {
                // assert_refused pipelines its own `GET /smuggled` after the input.
                let out = assert_refused(&request, status);
                assert!(out.error.is_some(), "{name}");
            }
            Served(body) => {
                let out = serve(&seed(&request));
                assert_eq!(out.error, None, "{name}");
                let paths: Vec<&str> = out.requests.iter().map(|r| r.path()).collect();
                assert_eq!(paths, ["/a", "/smuggled"], "{name}");
                assert_eq!(out.requests[0].body(), body.as_bytes(), "{name}");
                assert_eq!(out.statuses(), [200, 200], "{name}");
                assert!(out.open, "{name}: connection closed");
            }
        }
    }
}

#[test]
fn the_fuzz_corpus_holds_every_permutation() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/http_server");
    let write = std::env::var_os("TARP_WRITE_SEEDS").is_some();
    let mut missing = Vec::new();
    for (name, request, _) in cases() {
        let path = dir.join(format!("garden_{name}"));
        let want = seed(&request);
        if write {
            std::fs::write(&path, &want).unwrap();
        } else if std::fs::read(&path).ok().as_deref() != Some(&want[..]) {
            missing.push(name);
        }
    }
    assert!(
        missing.is_empty(),
        "seeds missing or different in {}: {missing:?}; rewrite them with \
         TARP_WRITE_SEEDS=1 cargo test -p tarp-core --test hostile_framing",
        dir.display()
    );
}
