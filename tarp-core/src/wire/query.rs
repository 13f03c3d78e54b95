//! Query strings and form bodies with CPython 3.11's `urllib.parse.parse_qs` semantics, then
//! flattened as the Python server flattens them (PROTOCOL.md section 6).
//!
//! What `parse_qs(qs)` does with its default arguments, and so what [`Query::parse`] does:
//! - fields are separated by `&` only (since 3.10, `;` is an ordinary character);
//! - a field without `=` is dropped, and so is a field whose value is empty (`a=`), judged
//!   before decoding; an empty name with a value (`=x`) is kept;
//! - in names and values, `+` becomes a space, then `%XX` (two hex digits, either case)
//!   becomes the byte `XX`; a `%` not followed by two hex digits stays as it is (`%zz`, `%4`);
//! - the bytes are decoded as UTF-8 with `errors='replace'`: each maximal invalid sequence
//!   becomes one U+FFFD; a decoded NUL stays a NUL;
//! - values of a name seen more than once are kept in order; names keep the order of their
//!   first appearance. Flattening maps a name seen once to its string, else to the list.
//!
//! Ours: a cap on the input's size and on its number of fields (counted as CPython's
//! `max_num_fields` counts them, empty fields included), so hostile input is refused before any
//! work. Form bodies (`application/x-www-form-urlencoded`) follow the same rules, with the
//! body's `charset` (UTF-8 by default) used instead of UTF-8.

use std::collections::HashMap;

use serde::ser::{Serialize, SerializeMap, Serializer};

/// Bounds on one query string or form body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueryLimits {
    /// Most fields accepted (`&`-separated pieces, empty ones included). Default 1000.
    pub max_params: usize,
    /// Most bytes accepted. Default 64 KiB.
    pub max_bytes: usize,
}

impl Default for QueryLimits {
    fn default() -> Self {
        QueryLimits {
            max_params: 1000,
            max_bytes: 64 * 1024,
        }
    }
}

/// Why a query string or form body was refused (answered with a 400).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueryError {
    /// More fields than [`QueryLimits::max_params`].
    #[error("too many parameters ({found}, at most {limit} allowed)")]
    TooManyParams {
        /// Fields found.
        found: usize,
        /// The limit.
        limit: usize,
    },
    /// More bytes than [`QueryLimits::max_bytes`].
    #[error("too long ({found} bytes, at most {limit} allowed)")]
    TooLong {
        /// Bytes found.
        found: usize,
        /// The limit.
        limit: usize,
    },
}

/// A text encoding named by a `charset` parameter, as far as TARP bodies need one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Charset {
    /// UTF-8 (the default everywhere).
    Utf8,
    /// ISO-8859-1: each byte is the code point of the same value.
    Latin1,
    /// US-ASCII: bytes from 0x80 on are not text.
    Ascii,
}

impl Charset {
    /// The charset a label names (case-insensitive, with the common aliases), if we know it.
    pub fn from_label(label: &str) -> Option<Charset> {
        let label = label.trim().trim_matches('"').to_ascii_lowercase();
        match label.as_str() {
            "utf-8" | "utf8" => Some(Charset::Utf8),
            "iso-8859-1" | "iso8859-1" | "iso_8859-1" | "latin-1" | "latin1" | "l1" | "cp819" => {
                Some(Charset::Latin1)
            }
            "us-ascii" | "ascii" | "us_ascii" => Some(Charset::Ascii),
            _ => None,
        }
    }

    /// Decodes, replacing what is not valid in this charset with U+FFFD (Python's
    /// `errors='replace'`).
    pub fn decode_lossy(self, bytes: Vec<u8>) -> String {
        match self {
            Charset::Utf8 => match String::from_utf8(bytes) {
                Ok(s) => s,
                Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
            },
            Charset::Latin1 => bytes.iter().map(|&b| char::from(b)).collect(),
            Charset::Ascii => bytes
                .iter()
                .map(|&b| {
                    if b.is_ascii() {
                        char::from(b)
                    } else {
                        '\u{fffd}'
                    }
                })
                .collect(),
        }
    }

    /// Decodes, or returns `None` if the bytes are not valid in this charset.
    pub fn decode_strict(self, bytes: Vec<u8>) -> Option<String> {
        match self {
            Charset::Utf8 => String::from_utf8(bytes).ok(),
            Charset::Latin1 => Some(bytes.iter().map(|&b| char::from(b)).collect()),
            Charset::Ascii => bytes
                .is_ascii()
                .then(|| bytes.iter().map(|&b| char::from(b)).collect()),
        }
    }
}

/// The value of one name: a single string, or the list of them when the name was repeated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QueryValue {
    /// The name appeared once.
    One(String),
    /// The name appeared more than once (always two values or more).
    Many(Vec<String>),
}

impl QueryValue {
    /// All values in order (one for [`QueryValue::One`]).
    pub fn as_slice(&self) -> &[String] {
        match self {
            QueryValue::One(v) => std::slice::from_ref(v),
            QueryValue::Many(vs) => vs,
        }
    }

    /// The first value (what the Python server reads as `params.get(k, [None])[0]`).
    pub fn first(&self) -> &str {
        match self {
            QueryValue::One(v) => v,
            QueryValue::Many(vs) => vs.first().map(String::as_str).unwrap_or(""),
        }
    }

    /// The value as JSON: a string, or a list of strings.
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            QueryValue::One(v) => serde_json::Value::String(v.clone()),
            QueryValue::Many(vs) => vs.iter().cloned().map(serde_json::Value::String).collect(),
        }
    }
}

/// Parsed and flattened query parameters (or form fields), in order of first appearance.
///
/// ```
/// use tarp_core::wire::query::{Query, QueryValue};
/// let q = Query::parse("a=1&b=x%20y&a=2&c=").unwrap();
/// assert_eq!(q.get("a"), Some(&QueryValue::Many(vec!["1".into(), "2".into()])));
/// assert_eq!(q.first("b"), Some("x y"));
/// assert_eq!(q.get("c"), None); // empty values are dropped
/// assert_eq!(q.to_json(), serde_json::json!({"a": ["1", "2"], "b": "x y"}));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Query {
    entries: Vec<(String, QueryValue)>,
}

impl Query {
    /// An empty query.
    pub fn new() -> Query {
        Query::default()
    }

    /// Parses a query string (without the `?`) with the default [`QueryLimits`].
    pub fn parse(query: &str) -> Result<Query, QueryError> {
        Query::parse_with(query.as_bytes(), Charset::Utf8, &QueryLimits::default())
    }

    /// Parses a query string or a form body: `charset` decodes the percent-decoded bytes
    /// (UTF-8 for query strings), `limits` bound the work.
    pub fn parse_with(
        input: &[u8],
        charset: Charset,
        limits: &QueryLimits,
    ) -> Result<Query, QueryError> {
        Ok(Query::from_pairs(parse_pairs(input, charset, limits)?))
    }

    /// Groups `(name, value)` pairs as `parse_qs` then flattening do.
    pub fn from_pairs<I: IntoIterator<Item = (String, String)>>(pairs: I) -> Query {
        let mut entries: Vec<(String, QueryValue)> = Vec::new();
        // A name → position index, only worth building for many names.
        let mut index: HashMap<String, usize> = HashMap::new();
        for (name, value) in pairs {
            let pos = if entries.len() < 16 {
                entries.iter().position(|(n, _)| *n == name)
            } else {
                if index.is_empty() {
                    index = entries
                        .iter()
                        .enumerate()
                        .map(|(i, (n, _))| (n.clone(), i))
                        .collect();
                }
                index.get(&name).copied()
            };
            match pos {
                Some(i) => {
                    let slot = &mut entries[i].1;
                    match slot {
                        QueryValue::One(first) => {
                            let first = std::mem::take(first);
                            *slot = QueryValue::Many(vec![first, value]);
                        }
                        QueryValue::Many(vs) => vs.push(value),
                    }
                }
                None => {
                    if !index.is_empty() {
                        index.insert(name.clone(), entries.len());
                    }
                    entries.push((name, QueryValue::One(value)));
                }
            }
        }
        Query { entries }
    }

    /// The value of a name.
    pub fn get(&self, name: &str) -> Option<&QueryValue> {
        self.entries.iter().find(|(n, _)| n == name).map(|(_, v)| v)
    }

    /// The first value of a name.
    pub fn first(&self, name: &str) -> Option<&str> {
        self.get(name).map(QueryValue::first)
    }

    /// Names and values in order of first appearance.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &QueryValue)> {
        self.entries.iter().map(|(n, v)| (n.as_str(), v))
    }

    /// Number of distinct names.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when no parameter survived parsing.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The flattened dict as JSON: `{"a": ["1", "2"], "b": "x y"}`.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::Value::Object(
            self.entries
                .iter()
                .map(|(n, v)| (n.clone(), v.to_json()))
                .collect(),
        )
    }

    /// Encodes as a query string that [`Query::parse`] reads back to the same value, the way
    /// Python's `urlencode(doseq=True)` does (`quote_plus`: letters, digits and `_.-~` kept,
    /// space as `+`, everything else `%XX`). Empty values cannot be represented (parsing drops
    /// them) and are left out.
    pub fn to_query_string(&self) -> String {
        let mut out = String::new();
        for (name, value) in &self.entries {
            for v in value.as_slice() {
                if v.is_empty() {
                    continue;
                }
                if !out.is_empty() {
                    out.push('&');
                }
                quote_plus_into(name, &mut out);
                out.push('=');
                quote_plus_into(v, &mut out);
            }
        }
        out
    }
}

impl From<Query> for serde_json::Value {
    fn from(q: Query) -> serde_json::Value {
        serde_json::Value::Object(
            q.entries
                .into_iter()
                .map(|(n, v)| {
                    let v = match v {
                        QueryValue::One(s) => serde_json::Value::String(s),
                        QueryValue::Many(vs) => {
                            vs.into_iter().map(serde_json::Value::String).collect()
                        }
                    };
                    (n, v)
                })
                .collect(),
        )
    }
}

impl Serialize for QueryValue {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            QueryValue::One(v) => s.serialize_str(v),
            QueryValue::Many(vs) => vs.serialize(s),
        }
    }
}

impl Serialize for Query {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.entries.len()))?;
        for (n, v) in &self.entries {
            map.serialize_entry(n, v)?;
        }
        map.end()
    }
}

/// `parse_qsl(qs)`: the decoded `(name, value)` pairs in order, before grouping.
pub fn parse_pairs(
    input: &[u8],
    charset: Charset,
    limits: &QueryLimits,
) -> Result<Vec<(String, String)>, QueryError> {
    if input.len() > limits.max_bytes {
        return Err(QueryError::TooLong {
            found: input.len(),
            limit: limits.max_bytes,
        });
    }
    // CPython's `max_num_fields` count: one more than the separators, zero for "".
    let fields = if input.is_empty() {
        0
    } else {
        1 + input.iter().filter(|&&b| b == b'&').count()
    };
    if fields > limits.max_params {
        return Err(QueryError::TooManyParams {
            found: fields,
            limit: limits.max_params,
        });
    }
    let mut pairs = Vec::new();
    for field in input.split(|&b| b == b'&') {
        let Some(eq) = field.iter().position(|&b| b == b'=') else {
            continue; // no `=`: dropped (keep_blank_values=False)
        };
        let (name, value) = (&field[..eq], &field[eq + 1..]);
        if value.is_empty() {
            continue; // empty value: dropped, judged before decoding
        }
        pairs.push((unquote_plus(name, charset), unquote_plus(value, charset)));
    }
    Ok(pairs)
}

/// `unquote_plus`: `+` to space, valid `%XX` to a byte, anything else kept; then decoded.
pub fn unquote_plus(input: &[u8], charset: Charset) -> String {
    if charset == Charset::Utf8 && !input.iter().any(|&b| b == b'%' || b == b'+') {
        if let Ok(s) = std::str::from_utf8(input) {
            return s.to_owned();
        }
    }
    let mut bytes = Vec::with_capacity(input.len());
    let mut i = 0;
    while i < input.len() {
        let b = input[i];
        match b {
            b'+' => bytes.push(b' '),
            b'%' => match (
                input.get(i + 1).and_then(hex),
                input.get(i + 2).and_then(hex),
            ) {
                (Some(hi), Some(lo)) => {
                    bytes.push(hi << 4 | lo);
                    i += 2;
                }
                _ => bytes.push(b'%'),
            },
            _ => bytes.push(b),
        }
        i += 1;
    }
    charset.decode_lossy(bytes)
}

fn hex(b: &u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Python's `quote_plus(s)` appended to `out`.
fn quote_plus_into(s: &str, out: &mut String) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &b in s.as_bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'_' | b'.' | b'-' | b'~' => {
                out.push(char::from(b))
            }
            b' ' => out.push('+'),
            _ => {
                out.push('%');
                out.push(char::from(HEX[usize::from(b >> 4)]));
                out.push(char::from(HEX[usize::from(b & 15)]));
            }
        }
    }
}

/// The query fuzz target's property, shared with the test that replays its seed corpus.
/// Panics when an invariant breaks: whatever `data` is, parsing (as a query string in UTF-8
/// and as a form in ISO-8859-1, under default and small limits) does not panic, refuses only
/// what is over a limit, yields at most `max_params` values that are never empty, decodes to
/// at most three bytes per input byte, and re-encodes to a string that parses back equal.
#[doc(hidden)]
pub fn check_input(data: &[u8]) {
    let small = QueryLimits {
        max_params: 8,
        max_bytes: 64,
    };
    for limits in [QueryLimits::default(), small] {
        for charset in [Charset::Utf8, Charset::Latin1] {
            let q = match Query::parse_with(data, charset, &limits) {
                Ok(q) => q,
                Err(QueryError::TooLong { found, limit }) => {
                    assert!(found > limit && found == data.len());
                    continue;
                }
                Err(QueryError::TooManyParams { found, limit }) => {
                    assert!(found > limit && data.len() <= limits.max_bytes);
                    continue;
                }
            };
            let values: usize = q.iter().map(|(_, v)| v.as_slice().len()).sum();
            assert!(values <= limits.max_params, "{values} values");
            let size: usize = q
                .iter()
                .map(|(n, v)| n.len() + v.as_slice().iter().map(String::len).sum::<usize>())
                .sum();
            assert!(size <= 3 * data.len(), "{size} bytes out of {}", data.len());
            for (_, v) in q.iter() {
                assert!(
                    v.as_slice().iter().all(|s| !s.is_empty()),
                    "an empty value survived"
                );
                if let QueryValue::Many(vs) = v {
                    assert!(vs.len() >= 2);
                }
            }
            let again = Query::parse_with(
                q.to_query_string().as_bytes(),
                Charset::Utf8,
                &QueryLimits {
                    max_params: usize::MAX,
                    max_bytes: usize::MAX,
                },
            );
            assert_eq!(again.as_ref(), Ok(&q), "re-encoding changed the query");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn flat(qs: &str) -> serde_json::Value {
        Query::parse(qs).unwrap().to_json()
    }

    #[test]
    fn protocol_example() {
        assert_eq!(
            flat("a=1&b=x%20y&a=2"),
            json!({"a": ["1", "2"], "b": "x y"})
        );
    }

    #[test]
    fn python_edge_cases() {
        assert_eq!(flat(""), json!({}));
        assert_eq!(flat("a"), json!({}));
        assert_eq!(flat("a="), json!({}));
        assert_eq!(flat("=x"), json!({"": "x"}));
        assert_eq!(flat("a=b=c"), json!({"a": "b=c"}));
        assert_eq!(flat("a=1;b=2"), json!({"a": "1;b=2"}));
        assert_eq!(flat("a+b=c+d"), json!({"a b": "c d"}));
        assert_eq!(flat("a=%2B"), json!({"a": "+"}));
        assert_eq!(flat("a=%zz%4%"), json!({"a": "%zz%4%"}));
        assert_eq!(flat("a=%e9"), json!({"a": "\u{fffd}"}));
        assert_eq!(flat("a=%C3%A9"), json!({"a": "é"}));
        assert_eq!(flat("a=%00"), json!({"a": "\u{0}"}));
        assert_eq!(flat("&&a=1&&"), json!({"a": "1"}));
        assert_eq!(flat("a=%"), json!({"a": "%"}));
    }

    #[test]
    fn limits_are_enforced_before_work() {
        let limits = QueryLimits {
            max_params: 3,
            max_bytes: 11,
        };
        assert_eq!(
            Query::parse_with(
                b"a=1&b=2&c=3&d=4",
                Charset::Utf8,
                &QueryLimits {
                    max_params: 3,
                    max_bytes: 100
                }
            ),
            Err(QueryError::TooManyParams { found: 4, limit: 3 })
        );
        assert_eq!(
            Query::parse_with(b"a=123456789012", Charset::Utf8, &limits),
            Err(QueryError::TooLong {
                found: 14,
                limit: 11
            })
        );
        assert!(Query::parse_with(b"a=1&b=2&c=3", Charset::Utf8, &limits).is_ok());
        let many = "a=1&".repeat(1000);
        assert!(matches!(
            Query::parse(&many),
            Err(QueryError::TooManyParams { found: 1001, .. })
        ));
    }

    #[test]
    fn charsets_decode_forms() {
        let latin = QueryLimits::default();
        let q = Query::parse_with(b"n=%E9t%E9", Charset::Latin1, &latin).unwrap();
        assert_eq!(q.first("n"), Some("été"));
        let q = Query::parse_with(b"n=%E9", Charset::Ascii, &latin).unwrap();
        assert_eq!(q.first("n"), Some("\u{fffd}"));
        assert_eq!(Charset::from_label(" \"UTF-8\" "), Some(Charset::Utf8));
        assert_eq!(Charset::from_label("Latin-1"), Some(Charset::Latin1));
        assert_eq!(Charset::from_label("koi8-r"), None);
    }

    #[test]
    fn many_names_keep_first_appearance_order() {
        let qs: Vec<String> = (0..40).map(|i| format!("k{}={i}", i % 20)).collect();
        let q = Query::parse(&qs.join("&")).unwrap();
        assert_eq!(q.len(), 20);
        let names: Vec<&str> = q.iter().map(|(n, _)| n).collect();
        assert_eq!(names[..3], ["k0", "k1", "k2"]);
        assert_eq!(
            q.get("k3"),
            Some(&QueryValue::Many(vec!["3".into(), "23".into()]))
        );
    }

    #[test]
    fn encoding_round_trips() {
        let q = Query::parse("a=1&b=x%20y&a=2&%C3%A9=%26%3D%2B").unwrap();
        assert_eq!(Query::parse(&q.to_query_string()).unwrap(), q);
        assert_eq!(q.to_query_string(), "a=1&a=2&b=x+y&%C3%A9=%26%3D%2B");
    }
}
