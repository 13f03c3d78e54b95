//! A web endpoint's request body, decoded by its `Content-Type` (PROTOCOL.md section 6).
//!
//! | `Content-Type` (media type, case-insensitive) | [`Body`] |
//! |---|---|
//! | no body at all (length 0), whatever the type | [`Body::Null`] |
//! | `application/json` | [`Body::Json`]; if it does not parse, [`Body::Bytes`] (as Python) |
//! | `application/x-www-form-urlencoded` | [`Body::Form`], like a query string |
//! | `text/plain` | [`Body::Text`] |
//! | anything else, or none | [`Body::Bytes`] |
//!
//! Ours, where the Python server compares the whole header as an exact string: parameters
//! are ignored except `charset`, which is honoured for text, forms and JSON (UTF-8,
//! ISO-8859-1 and US-ASCII are known; UTF-8 is the default). A `text/plain` or form body in an
//! unknown charset, or text that is not valid in its charset, is refused with a 400 naming
//! the problem (a handler should not receive text that was never text); JSON in an unknown
//! charset does not parse, so it arrives as bytes.

use base64::Engine;

use crate::wire::query::{Charset, Query, QueryLimits};

/// A decoded request body, as a web handler receives it.
#[derive(Debug, Clone, PartialEq)]
pub enum Body {
    /// No body.
    Null,
    /// `application/json` that parsed.
    Json(serde_json::Value),
    /// `application/x-www-form-urlencoded`, parsed like a query string.
    Form(Query),
    /// `text/plain`, decoded by its charset.
    Text(String),
    /// Anything else: the raw bytes.
    Bytes(Vec<u8>),
}

impl Body {
    /// True for [`Body::Null`].
    pub fn is_null(&self) -> bool {
        matches!(self, Body::Null)
    }

    /// The JSON value, if the body was JSON.
    pub fn as_json(&self) -> Option<&serde_json::Value> {
        match self {
            Body::Json(v) => Some(v),
            _ => None,
        }
    }

    /// The text, if the body was text.
    pub fn as_text(&self) -> Option<&str> {
        match self {
            Body::Text(t) => Some(t),
            _ => None,
        }
    }

    /// The bytes, if the body was kept as bytes.
    pub fn as_bytes(&self) -> Option<&[u8]> {
        match self {
            Body::Bytes(b) => Some(b),
            _ => None,
        }
    }

    /// The fields, if the body was a form.
    pub fn as_form(&self) -> Option<&Query> {
        match self {
            Body::Form(q) => Some(q),
            _ => None,
        }
    }

    /// The body as JSON, the way the Python server would put it in a result: bytes become
    /// base64 text, a form its flattened dict, no body `null`.
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            Body::Null => serde_json::Value::Null,
            Body::Json(v) => v.clone(),
            Body::Form(q) => q.to_json(),
            Body::Text(t) => serde_json::Value::String(t.clone()),
            Body::Bytes(b) => {
                serde_json::Value::String(base64::engine::general_purpose::STANDARD.encode(b))
            }
        }
    }
}

/// A `Content-Type` value: its media type (without parameters) and its `charset`.
pub(crate) struct ContentType<'a> {
    media_type: &'a str,
    charset: Option<&'a str>,
}

impl<'a> ContentType<'a> {
    /// Parses a header value; `None` if it is not text.
    pub(crate) fn parse(value: &'a [u8]) -> Option<ContentType<'a>> {
        if value == b"application/json" {
            // What every TARP client sends with an RPC: no parameters to look for.
            return Some(ContentType {
                media_type: "application/json",
                charset: None,
            });
        }
        let value = std::str::from_utf8(value).ok()?;
        let mut parts = value.split(';');
        let media_type = parts.next().unwrap_or("").trim();
        let charset = parts.find_map(|p| {
            let (name, v) = p.split_once('=')?;
            name.trim()
                .eq_ignore_ascii_case("charset")
                .then(|| v.trim().trim_matches('"'))
        });
        Some(ContentType {
            media_type,
            charset,
        })
    }

    /// True if the media type is this one (case-insensitive, as RFC 9110 section 8.3.1 says).
    pub(crate) fn is(&self, media_type: &str) -> bool {
        self.media_type.eq_ignore_ascii_case(media_type)
    }
}

/// Decodes a body per the table in the module doc. `Err` is a 400 message.
pub(crate) fn decode(
    content_type: Option<&[u8]>,
    bytes: Vec<u8>,
    form_limits: &QueryLimits,
) -> Result<Body, String> {
    if bytes.is_empty() {
        return Ok(Body::Null);
    }
    let Some(ct) = content_type.and_then(ContentType::parse) else {
        return Ok(Body::Bytes(bytes));
    };
    let charset = |what: &str| match ct.charset {
        None => Ok(Charset::Utf8),
        Some(label) => Charset::from_label(label).ok_or_else(|| {
            format!(
                "unsupported charset {label:?} for {what} (supported: utf-8, iso-8859-1, us-ascii)"
            )
        }),
    };
    if ct.is("application/json") {
        let parsed = match charset("application/json") {
            Ok(Charset::Utf8) => serde_json::from_slice(&bytes).ok(),
            Ok(cs) => cs
                .decode_strict(bytes.clone())
                .and_then(|t| serde_json::from_str(&t).ok()),
            Err(_) => None,
        };
        Ok(parsed.map_or(Body::Bytes(bytes), Body::Json))
    } else if ct.is("application/x-www-form-urlencoded") {
        let cs = charset("application/x-www-form-urlencoded")?;
        Query::parse_with(&bytes, cs, form_limits)
            .map(Body::Form)
            .map_err(|e| format!("form body: {e}"))
    } else if ct.is("text/plain") {
        let cs = charset("text/plain")?;
        cs.decode_strict(bytes).map(Body::Text).ok_or_else(|| {
            let name = match cs {
                Charset::Utf8 => "utf-8",
                Charset::Latin1 => "iso-8859-1",
                Charset::Ascii => "us-ascii",
            };
            format!("text/plain body is not valid {name}")
        })
    } else {
        Ok(Body::Bytes(bytes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn content_types_parse_the_same_with_or_without_the_short_path() {
        fn parts(v: &[u8]) -> Option<(&str, Option<&str>)> {
            ContentType::parse(v).map(|c| (c.media_type, c.charset))
        }
        assert_eq!(parts(b"application/json"), Some(("application/json", None)));
        assert_eq!(
            parts(b" application/json"),
            Some(("application/json", None))
        );
        assert_eq!(parts(b"APPLICATION/JSON"), Some(("APPLICATION/JSON", None)));
        assert_eq!(
            parts(b"application/json; charset=\"latin-1\""),
            Some(("application/json", Some("latin-1")))
        );
        assert_eq!(parts(b"\xff"), None);
    }

    fn dec(ct: Option<&str>, body: &[u8]) -> Result<Body, String> {
        decode(
            ct.map(str::as_bytes),
            body.to_vec(),
            &QueryLimits::default(),
        )
    }

    #[test]
    fn by_media_type() {
        assert_eq!(dec(Some("application/json"), b""), Ok(Body::Null));
        assert_eq!(dec(None, b""), Ok(Body::Null));
        assert_eq!(
            dec(Some("application/json"), br#"{"a": 1}"#),
            Ok(Body::Json(json!({"a": 1})))
        );
        assert_eq!(
            dec(Some("Application/JSON; charset=UTF-8"), b"[1]"),
            Ok(Body::Json(json!([1])))
        );
        assert_eq!(
            dec(Some("application/json"), b"{nope"),
            Ok(Body::Bytes(b"{nope".to_vec()))
        );
        assert_eq!(
            dec(Some("application/json"), b"\xff"),
            Ok(Body::Bytes(b"\xff".to_vec()))
        );
        assert_eq!(
            dec(Some("application/json; charset=latin-1"), b"\"\xe9\""),
            Ok(Body::Json(json!("é")))
        );
        assert_eq!(
            dec(Some("application/json; charset=koi8-r"), b"1"),
            Ok(Body::Bytes(b"1".to_vec()))
        );
        let form = dec(Some("application/x-www-form-urlencoded"), b"a=1&b=x+y&a=2").unwrap();
        assert_eq!(form.to_json(), json!({"a": ["1", "2"], "b": "x y"}));
        assert_eq!(
            dec(Some("text/plain"), "héllo".as_bytes()),
            Ok(Body::Text("héllo".into()))
        );
        assert_eq!(
            dec(Some("text/plain; charset=\"ISO-8859-1\""), b"h\xe9"),
            Ok(Body::Text("hé".into()))
        );
        assert_eq!(
            dec(Some("application/octet-stream"), b"\x00\x01"),
            Ok(Body::Bytes(vec![0, 1]))
        );
        assert_eq!(
            dec(Some("image/png"), b"PNG"),
            Ok(Body::Bytes(b"PNG".to_vec()))
        );
        assert_eq!(dec(None, b"raw"), Ok(Body::Bytes(b"raw".to_vec())));
        assert_eq!(
            dec(Some("text/csv"), b"a,b"),
            Ok(Body::Bytes(b"a,b".to_vec()))
        );
    }

    #[test]
    fn text_errors_name_the_problem() {
        assert_eq!(
            dec(Some("text/plain"), b"\xff"),
            Err("text/plain body is not valid utf-8".into())
        );
        assert_eq!(
            dec(Some("text/plain; charset=us-ascii"), b"\xe9"),
            Err("text/plain body is not valid us-ascii".into())
        );
        let e = dec(Some("text/plain; charset=koi8-r"), b"x").unwrap_err();
        assert!(
            e.contains("unsupported charset \"koi8-r\" for text/plain"),
            "{e}"
        );
        let e = dec(
            Some("application/x-www-form-urlencoded"),
            "a=1&".repeat(1001).as_bytes(),
        )
        .unwrap_err();
        assert!(e.starts_with("form body: too many parameters"), "{e}");
    }

    #[test]
    fn to_json_encodes_bytes_as_base64() {
        assert_eq!(Body::Bytes(b"hi".to_vec()).to_json(), json!("aGk="));
        assert_eq!(Body::Null.to_json(), json!(null));
    }
}
