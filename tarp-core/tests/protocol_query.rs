//! Query strings and form bodies (PROTOCOL.md section 6): cross-checked against CPython's
//! `urllib.parse.parse_qs` on many generated strings, and round-tripped with proptest.

use std::io::Write;
use std::process::{Command, Stdio};

use proptest::prelude::*;
use tarp_core::wire::query::{Charset, Query, QueryError, QueryLimits, QueryValue};

/// A small deterministic generator (SplitMix64), so the cross-check is reproducible.
struct Gen(u64);

impl Gen {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// Pieces chosen to hit every rule: separators, escapes valid and not, UTF-8 sequences valid,
/// truncated and overlong, surrogates, NUL, `+`, `;`, non-ASCII literals.
const PIECES: &[&str] = &[
    "a",
    "b",
    "k",
    "x",
    "=",
    "=",
    "&",
    "&",
    "+",
    ";",
    "%",
    "%2",
    "%20",
    "%2B",
    "%26",
    "%3D",
    "%zz",
    "%g1",
    "%C3",
    "%A9",
    "%c3%a9",
    "%E2%82%AC",
    "%E2%82",
    "%F0%9F%98%80",
    "%F0%9F",
    "%ED%A0%80",
    "%C0%AF",
    "%FF",
    "%80",
    "%00",
    "%0a",
    "é",
    "€",
    "😀",
    " ",
    "#",
    "?",
    "/",
    "%%",
    "%+1",
    "%E2",
    "%F4%90%80%80",
    "%EF%BF%BD",
    "0",
    "9",
    "F",
    "f",
];

fn generated(count: usize) -> Vec<String> {
    let mut gen = Gen(0x7a49_0c0f_fee0);
    let mut out = Vec::with_capacity(count);
    for _ in 0..count {
        let len = gen.below(12);
        let mut s = String::new();
        for _ in 0..len {
            s.push_str(PIECES[gen.below(PIECES.len())]);
        }
        out.push(s);
    }
    out
}

const FIXED: &[&str] = &[
    "",
    "a=1&b=x%20y&a=2",
    "a",
    "a=",
    "=",
    "=x",
    "&",
    "a=1&&b=2",
    "a=b=c",
    "a=1;b=2",
    "a+b=c+d",
    "a=%2B+%2b",
    "a=%zz%4%",
    "a=%",
    "a=%e9",
    "a=%C3%A9",
    "a=%C3é%A9",
    "a=%00",
    "a=%ED%A0%80",
    "a=%F0%9F%98%80%F0%9F",
    "a=1&a=2&a=3&b=&b=4",
    "UUID=0a1b&UUID=ffff",
];

/// Runs CPython's `parse_qs` plus the Python server's flattening on every input, and returns
/// the results as JSON lists of `[name, value]` pairs (order preserved).
fn python_parse(inputs: &[String]) -> Vec<Vec<(String, serde_json::Value)>> {
    let script = r#"
import json, sys
from urllib.parse import parse_qs
inputs = json.load(sys.stdin)
out = []
for s in inputs:
    flat = {k: v[0] if len(v) == 1 else v for k, v in parse_qs(s).items()}
    out.append(list(flat.items()))
json.dump(out, sys.stdout)
"#;
    let mut child = Command::new("python3")
        .args(["-c", script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3 is required for the parse_qs cross-check");
    let input = serde_json::to_vec(inputs).unwrap();
    child.stdin.take().unwrap().write_all(&input).unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "python3 failed");
    serde_json::from_slice(&output.stdout).unwrap()
}

fn ours(input: &str) -> Vec<(String, serde_json::Value)> {
    let q = Query::parse(input).unwrap();
    q.iter().map(|(n, v)| (n.to_owned(), v.to_json())).collect()
}

#[test]
fn matches_cpython_parse_qs() {
    let mut inputs: Vec<String> = FIXED.iter().map(|s| s.to_string()).collect();
    inputs.extend(generated(4000));
    let expected = python_parse(&inputs);
    assert_eq!(expected.len(), inputs.len());
    let mut mismatches = Vec::new();
    for (input, want) in inputs.iter().zip(&expected) {
        let got = ours(input);
        if &got != want {
            mismatches.push(format!("{input:?}: ours {got:?}, python {want:?}"));
        }
    }
    assert!(
        mismatches.is_empty(),
        "{} mismatches:\n{}",
        mismatches.len(),
        mismatches[..mismatches.len().min(20)].join("\n")
    );
}

#[test]
fn hostile_inputs_are_refused_or_bounded() {
    // Thousands of parameters.
    let many = "a=1&".repeat(5000);
    assert!(matches!(
        Query::parse(&many),
        Err(QueryError::TooManyParams {
            found: 5001,
            limit: 1000
        })
    ));
    // A giant key.
    let giant = format!("{}=1", "k".repeat(100_000));
    assert!(matches!(
        Query::parse(&giant),
        Err(QueryError::TooLong { limit: 65536, .. })
    ));
    // Invalid escapes are kept literally, never an error.
    let q = Query::parse(&"%".repeat(10_000).replace("%%", "%=")).unwrap();
    assert_eq!(q.len(), 1);
    // Exactly at the limits is accepted.
    let limits = QueryLimits {
        max_params: 1000,
        max_bytes: 4000,
    };
    let at_limit = vec!["a=b"; 1000].join("&");
    assert_eq!(at_limit.len(), 3999);
    let q = Query::parse_with(at_limit.as_bytes(), Charset::Utf8, &limits).unwrap();
    assert_eq!(q.get("a").unwrap().as_slice().len(), 1000);
}

/// A name → values map as a user would build it (values never empty: parsing drops those).
fn query_strategy() -> impl Strategy<Value = Vec<(String, Vec<String>)>> {
    let text = "[a-zA-Z0-9 _.~&=+%;#?/é€😀\u{0}-\u{1f}-]{0,12}";
    let value = "[a-zA-Z0-9 _.~&=+%;#?/é€😀\u{0}-\u{1f}-]{1,12}";
    proptest::collection::vec((text, proptest::collection::vec(value, 1..4)), 0..8)
}

fn build(entries: &[(String, Vec<String>)]) -> Query {
    Query::from_pairs(
        entries
            .iter()
            .flat_map(|(n, vs)| vs.iter().map(move |v| (n.clone(), v.clone()))),
    )
}

proptest! {
    #[test]
    fn query_strings_round_trip(entries in query_strategy()) {
        let q = build(&entries);
        let encoded = q.to_query_string();
        prop_assert_eq!(Query::parse(&encoded).unwrap(), q);
    }

    #[test]
    fn form_bodies_round_trip_in_utf8_and_latin1(entries in query_strategy()) {
        let q = build(&entries);
        let body = q.to_query_string().into_bytes();
        let limits = QueryLimits::default();
        prop_assert_eq!(Query::parse_with(&body, Charset::Utf8, &limits).unwrap(), q.clone());

        // The same fields sent as latin-1: only strings within U+00FF can be encoded.
        let latin: Vec<(String, Vec<String>)> = entries
            .iter()
            .map(|(n, vs)| (n.chars().filter(|&c| (c as u32) < 256).collect::<String>(),
                            vs.iter().map(|v| v.chars().filter(|&c| (c as u32) < 256).collect()).collect::<Vec<String>>()))
            .collect();
        let mut body = Vec::new();
        for (n, vs) in &latin {
            for v in vs {
                if v.is_empty() { continue; }
                if !body.is_empty() { body.push(b'&'); }
                latin1_quote(n, &mut body);
                body.push(b'=');
                latin1_quote(v, &mut body);
            }
        }
        let expected = Query::from_pairs(latin.iter().flat_map(|(n, vs)| vs.iter().filter(|v| !v.is_empty()).map(move |v| (n.clone(), v.clone()))));
        prop_assert_eq!(Query::parse_with(&body, Charset::Latin1, &limits).unwrap(), expected);
    }

    #[test]
    fn arbitrary_bytes_never_panic_and_stay_bounded(input in proptest::collection::vec(any::<u8>(), 0..300)) {
        let limits = QueryLimits { max_params: 20, max_bytes: 200 };
        match Query::parse_with(&input, Charset::Utf8, &limits) {
            Ok(q) => {
                prop_assert!(input.len() <= 200);
                let values: usize = q.iter().map(|(_, v)| v.as_slice().len()).sum();
                prop_assert!(values <= 20);
                for (_, v) in q.iter() {
                    if let QueryValue::Many(vs) = v { prop_assert!(vs.len() >= 2); }
                }
            }
            Err(QueryError::TooLong { found, .. }) => prop_assert!(found > 200),
            Err(QueryError::TooManyParams { found, .. }) => prop_assert!(found > 20),
        }
    }
}

/// Percent-encodes a latin-1 string: unreserved ASCII kept, space as `+`, else `%XX` of the
/// latin-1 byte.
fn latin1_quote(s: &str, out: &mut Vec<u8>) {
    for c in s.chars() {
        let b = c as u32 as u8;
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'_' | b'.' | b'-' | b'~' => out.push(b),
            b' ' => out.push(b'+'),
            _ => out.extend_from_slice(format!("%{b:02X}").as_bytes()),
        }
    }
}
