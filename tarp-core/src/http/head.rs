//! Parsing a complete head with httparse, then judging its framing (RFC 9112 section 6).
//!
//! Called once per head, after [`scan`](super::scan) found its end and checked its bytes.
//! httparse borrows from the input; the request keeps one copy of the head and the index of
//! its fields, and nothing else is allocated (header slots live on the stack).

use std::mem::MaybeUninit;

use super::message::{Span, Version};
use super::{HttpError, Limits, Request};

/// Header slots kept on the stack; `Limits::max_headers` above this uses a heap array.
const STACK_HEADERS: usize = 128;

/// How the body of a message is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BodyKind {
    /// No body.
    Empty,
    /// Exactly this many bytes (`Content-Length`, above zero).
    Length(u64),
    /// `Transfer-Encoding: chunked`.
    Chunked,
    /// Until the connection closes (responses only).
    UntilClose,
}

/// A parsed request head and what it says about the connection.
#[derive(Debug)]
pub(crate) struct RequestHead {
    pub(crate) request: Request,
    pub(crate) body: BodyKind,
    pub(crate) keep_alive: bool,
    pub(crate) expect_continue: bool,
    pub(crate) is_head: bool,
}

/// The framing-relevant header fields of a message, gathered in one pass.
#[derive(Debug, Default)]
struct Framing {
    content_length: Option<u64>,
    chunked: Option<bool>,
    close: bool,
    keep_alive: bool,
    expect_continue: bool,
}

impl Framing {
    fn gather<'a>(
        fields: impl Iterator<Item = (&'a str, &'a [u8])>,
        is_request: bool,
    ) -> Result<Framing, HttpError> {
        let mut f = Framing::default();
        let mut hosts = 0;
        for (name, value) in fields {
            if name.eq_ignore_ascii_case("content-length") {
                if f.content_length.is_some() {
                    // Strict: even identical repeated lengths (`5` and `5`) are refused.
                    return Err(HttpError::Framing("more than one Content-Length"));
                }
                f.content_length = Some(parse_content_length(value)?);
            } else if name.eq_ignore_ascii_case("transfer-encoding") {
                if f.chunked.is_some() {
                    return Err(HttpError::Framing("more than one Transfer-Encoding line"));
                }
                f.chunked = Some(value.eq_ignore_ascii_case(b"chunked"));
            } else if name.eq_ignore_ascii_case("connection") {
                for token in value.split(|&b| b == b',') {
                    let token = token.trim_ascii();
                    f.close |= token.eq_ignore_ascii_case(b"close");
                    f.keep_alive |= token.eq_ignore_ascii_case(b"keep-alive");
                }
            } else if name.eq_ignore_ascii_case("expect") {
                f.expect_continue = value.eq_ignore_ascii_case(b"100-continue");
            } else if is_request && name.eq_ignore_ascii_case("host") {
                hosts += 1;
                if hosts > 1 {
                    return Err(HttpError::Framing("more than one Host"));
                }
            }
        }
        Ok(f)
    }

    /// The body of a request (RFC 9112 section 6.3, strict).
    fn request_body(&self, version: Version, limits: &Limits) -> Result<BodyKind, HttpError> {
        match (self.chunked, self.content_length) {
            (Some(_), Some(_)) => Err(HttpError::Framing(
                "both Content-Length and Transfer-Encoding",
            )),
            (Some(_), None) if version == Version::Http10 => Err(HttpError::Framing(
                "Transfer-Encoding in an HTTP/1.0 request",
            )),
            (Some(true), None) => Ok(BodyKind::Chunked),
            (Some(false), None) => Err(HttpError::TransferCoding(
                "only a single `chunked` transfer coding is accepted",
            )),
            (None, Some(n)) if n > limits.max_body => Err(HttpError::BodyTooLarge {
                limit: limits.max_body,
            }),
            (None, Some(0)) | (None, None) => Ok(BodyKind::Empty),
            (None, Some(n)) => Ok(BodyKind::Length(n)),
        }
    }

    fn keep_alive(&self, version: Version) -> bool {
        !self.close && (version == Version::Http11 || self.keep_alive)
    }
}

/// `Content-Length = 1*DIGIT`: no sign, no whitespace, no list, no overflow.
/// Leading zeros are valid digits and accepted (`007` is 7).
fn parse_content_length(value: &[u8]) -> Result<u64, HttpError> {
    if value.is_empty() {
        return Err(HttpError::Framing("empty Content-Length"));
    }
    let mut n: u64 = 0;
    for &b in value {
        if !b.is_ascii_digit() {
            return Err(HttpError::Framing(
                "Content-Length is not a plain decimal number",
            ));
        }
        n = n
            .checked_mul(10)
            .and_then(|n| n.checked_add(u64::from(b - b'0')))
            .ok_or(HttpError::Framing("Content-Length overflows"))?;
    }
    Ok(n)
}

/// Runs `f` with an uninitialised header array of `n` slots, on the stack when it fits.
fn with_slots<'b, R>(n: usize, f: impl FnOnce(&mut [MaybeUninit<httparse::Header<'b>>]) -> R) -> R {
    if n <= STACK_HEADERS {
        let mut slots = [MaybeUninit::<httparse::Header<'b>>::uninit(); STACK_HEADERS];
        f(&mut slots[..n])
    } else {
        let mut slots = vec![MaybeUninit::<httparse::Header<'b>>::uninit(); n];
        f(&mut slots)
    }
}

fn offset(base: &[u8], part: &[u8]) -> Span {
    let start = (part.as_ptr() as usize).saturating_sub(base.as_ptr() as usize);
    Span {
        start,
        end: start + part.len(),
    }
}

fn map_error(e: httparse::Error, head: &[u8], limits: &Limits, request: bool) -> HttpError {
    match e {
        httparse::Error::TooManyHeaders => HttpError::TooManyHeaders {
            limit: limits.max_headers,
        },
        httparse::Error::Version if looks_like_other_version(head, request) => HttpError::Version,
        httparse::Error::Version => HttpError::Malformed("invalid HTTP version"),
        httparse::Error::HeaderName => HttpError::Malformed(
            "invalid header name (whitespace before the colon, or a character outside a token)",
        ),
        httparse::Error::HeaderValue => HttpError::Malformed("invalid character in a header value"),
        httparse::Error::Token => HttpError::Malformed("invalid method"),
        httparse::Error::Status => HttpError::Malformed("invalid status code"),
        _ => HttpError::Malformed("invalid start line"),
    }
}

/// Whether the start line ends in a well-formed `HTTP/x.y` that is not 1.0 or 1.1 (505);
/// anything else httparse refused as a version is malformed (400).
fn looks_like_other_version(head: &[u8], request: bool) -> bool {
    let line = head.split(|&b| b == b'\r').next().unwrap_or_default();
    let parts: Vec<&[u8]> = line.split(|&b| b == b' ').collect();
    // Requests: `METHOD SP target SP version`. Responses: the version comes first.
    let version = match (request, parts.as_slice()) {
        (true, [_, _, v]) => v,
        (false, [v, ..]) => v,
        _ => return false,
    };
    matches!(version, [b'H', b'T', b'T', b'P', b'/', major, b'.', minor]
        if major.is_ascii_digit() && minor.is_ascii_digit())
}

/// Checks the request target is origin-form (`/path?query`), ASCII and visible.
fn check_target(target: &str) -> Result<(), HttpError> {
    if target == "*" {
        return Err(HttpError::Target(
            "asterisk-form (`*`); only origin-form (`/path?query`) is served",
        ));
    }
    if !target.starts_with('/') {
        return Err(HttpError::Target(
            "absolute-form or authority-form; only origin-form (`/path?query`) is served",
        ));
    }
    if !target.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(HttpError::Target(
            "non-ASCII byte in the target (percent-encode it)",
        ));
    }
    Ok(())
}

/// Parses a complete, scanned request head (no leading empty lines).
pub(crate) fn parse_request(head: &[u8], limits: &Limits) -> Result<RequestHead, HttpError> {
    with_slots(limits.max_headers, |slots| {
        let mut req = httparse::Request::new(&mut []);
        match req.parse_with_uninit_headers(head, slots) {
            Ok(httparse::Status::Complete(_)) => {}
            Ok(httparse::Status::Partial) => return Err(HttpError::Malformed("incomplete head")),
            Err(e) => return Err(map_error(e, head, limits, true)),
        }
        let (Some(method), Some(target), Some(minor)) = (req.method, req.path, req.version) else {
            return Err(HttpError::Malformed("incomplete request line"));
        };
        check_target(target)?;
        let version = if minor == 0 {
            Version::Http10
        } else {
            Version::Http11
        };
        let fields = req.headers.iter().map(|h| (h.name, h.value));
        let framing = Framing::gather(fields, true)?;
        let body = framing.request_body(version, limits)?;

        let owned = head.to_vec();
        let index = req
            .headers
            .iter()
            .map(|h| (offset(head, h.name.as_bytes()), offset(head, h.value)));
        let mut index_vec = Vec::with_capacity(req.headers.len());
        index_vec.extend(index);
        let request = Request::from_head(
            owned,
            offset(head, method.as_bytes()),
            offset(head, target.as_bytes()),
            version,
            index_vec,
        );
        Ok(RequestHead {
            is_head: method == "HEAD",
            keep_alive: framing.keep_alive(version),
            expect_continue: framing.expect_continue && version == Version::Http11,
            request,
            body,
        })
    })
}

/// A parsed response head (client side).
#[derive(Debug)]
pub(crate) struct ResponseHead {
    pub(crate) status: u16,
    pub(crate) reason: String,
    pub(crate) version: Version,
    pub(crate) headers: Vec<(String, Vec<u8>)>,
    pub(crate) body: BodyKind,
    pub(crate) keep_alive: bool,
}

/// Parses a complete, scanned response head. `head_request` says the request was `HEAD`.
pub(crate) fn parse_response(
    head: &[u8],
    limits: &Limits,
    head_request: bool,
) -> Result<ResponseHead, HttpError> {
    with_slots(limits.max_headers, |slots| {
        let mut resp = httparse::Response::new(&mut []);
        match httparse::ParserConfig::default()
            .parse_response_with_uninit_headers(&mut resp, head, slots)
        {
            Ok(httparse::Status::Complete(_)) => {}
            Ok(httparse::Status::Partial) => return Err(HttpError::Malformed("incomplete head")),
            Err(e) => return Err(map_error(e, head, limits, false)),
        }
        let (Some(minor), Some(status)) = (resp.version, resp.code) else {
            return Err(HttpError::Malformed("incomplete status line"));
        };
        if status < 100 {
            return Err(HttpError::Malformed("invalid status code"));
        }
        let version = if minor == 0 {
            Version::Http10
        } else {
            Version::Http11
        };
        let fields = resp.headers.iter().map(|h| (h.name, h.value));
        let framing = Framing::gather(fields, false)?;
        // RFC 9112 section 6.3: no body after HEAD, 1xx, 204 and 304, whatever the headers.
        let body = if head_request || status < 200 || status == 204 || status == 304 {
            BodyKind::Empty
        } else {
            match (framing.chunked, framing.content_length) {
                (Some(_), Some(_)) => {
                    return Err(HttpError::Framing(
                        "both Content-Length and Transfer-Encoding",
                    ))
                }
                (Some(true), None) => BodyKind::Chunked,
                (Some(false), None) | (None, None) => BodyKind::UntilClose,
                (None, Some(n)) if n > limits.max_body => {
                    return Err(HttpError::BodyTooLarge {
                        limit: limits.max_body,
                    })
                }
                (None, Some(0)) => BodyKind::Empty,
                (None, Some(n)) => BodyKind::Length(n),
            }
        };
        Ok(ResponseHead {
            status,
            reason: resp.reason.unwrap_or_default().to_owned(),
            version,
            headers: resp
                .headers
                .iter()
                .map(|h| (h.name.to_owned(), h.value.to_vec()))
                .collect(),
            keep_alive: framing.keep_alive(version) && body != BodyKind::UntilClose,
            body,
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_length_is_strict() {
        assert_eq!(parse_content_length(b"0"), Ok(0));
        assert_eq!(parse_content_length(b"007"), Ok(7));
        assert_eq!(parse_content_length(b"18446744073709551615"), Ok(u64::MAX));
        for bad in [
            &b""[..],
            b"+5",
            b"-5",
            b"5 ",
            b" 5",
            b"5, 5",
            b"0x5",
            b"18446744073709551616",
        ] {
            assert!(parse_content_length(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn version_shapes() {
        assert!(looks_like_other_version(b"GET / HTTP/2.0\r\n\r\n", true));
        assert!(looks_like_other_version(b"GET / HTTP/1.2\r\n\r\n", true));
        assert!(looks_like_other_version(b"GET / HTTP/0.9\r\n\r\n", true));
        assert!(!looks_like_other_version(b"GET / HTTP/2\r\n\r\n", true));
        assert!(looks_like_other_version(b"HTTP/2.0 200 OK\r\n\r\n", false));
        assert!(!looks_like_other_version(b"GET / http/1.1\r\n\r\n", true));
        assert!(!looks_like_other_version(b"GET /\r\n\r\n", true));
    }
}
