//! Hostile requests through the whole core (connection machine, then the service), issue 9:
//! percent-encoding that decodes to invalid UTF-8 or NUL, hostile query strings and form
//! bodies, and hostile pickles sent as RPC arguments. Each case asserts the exact status,
//! the message naming the problem, whether the connection stays usable (a pipelined
//! follow-up request is or is not answered), and that the work stayed bounded: wall time
//! under a generous limit, and peak heap (counted by a global allocator, on this thread
//! only) under a stated multiple of the request size.
//!
//! `unsafe` appears only in the `GlobalAlloc` impl, a trait that can only be implemented
//! unsafely; it counts and delegates to the system allocator.

mod http_util;

mod alloc_util;

use std::cell::Cell;

use alloc_util::{LIVE, PEAK};
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{json, Value as Json};
use tarp_core::http::{ClientResponse, Limits, Next, ServerConn};
use tarp_core::service::{Body, Dispatch, Reply, Service};
use tarp_core::wire::pickle::{encode, Value};
use tarp_core::wire::query::Query;

// ------------------------------------------------------------------ counting allocator

#[global_allocator]
static GLOBAL: alloc_util::Counting = alloc_util::Counting;

// ------------------------------------------------------------------ the service and driver

/// Generous, for a debug build on a busy machine: the slowest case (a million MARKs) takes
/// about 1.5 s there and milliseconds in release. What it catches is work growing faster
/// than the input (a quadratic million-MARK case would take hours).
const TIME_LIMIT: Duration = Duration::from_secs(15);

/// The request every case pipelines after its own: answered only if the connection stays
/// usable.
const FOLLOW_UP: &[u8] = b"GET /text HTTP/1.1\r\nHost: x\r\n\r\n";

/// Times a handler ran: hostile arguments must never reach one.
static HANDLER_RUNS: AtomicUsize = AtomicUsize::new(0);

fn service() -> Arc<Service> {
    let mut s = Service::with_seed(9);
    s.rpc("add", |a: f64, b: f64| {
        HANDLER_RUNS.fetch_add(1, Ordering::SeqCst);
        Ok(a + b)
    })
    .params(["a", "b"]);
    s.rpc("total", |xs: Vec<f64>| Ok(xs.iter().sum::<f64>()))
        .params(["xs"]);
    s.rpc("matrix", |m: Vec<Vec<i64>>| Ok(m.len()))
        .params(["m"]);
    s.rpc("names", |d: HashMap<String, i64>| Ok(d.len()))
        .params(["d"]);
    s.rpc("echo_value", |v: Value| Ok(v)).params(["value"]);
    s.rpc("texts", |xs: Vec<String>| Ok(xs.len()))
        .params(["xs"]);
    s.get("echo", |q: &Query, _: Body| Ok(Reply::json(q.to_json())));
    s.post("form", |q: &Query, body: Body| {
        Ok(Reply::json(
            json!({"query": q.to_json(), "body": body.to_json()}),
        ))
    });
    s.get("text", |_: &Query, _: Body| Ok(Reply::text("hello")));
    Arc::new(s)
}

/// What the core did with one input.
struct Outcome {
    responses: Vec<ClientResponse>,
    /// The connection still reads once the input is used up.
    open: bool,
    elapsed: Duration,
    /// Peak heap on this thread above its level at the start.
    peak: usize,
}

impl Outcome {
    fn json(&self, i: usize) -> Json {
        serde_json::from_slice(&self.responses[i].body).unwrap_or_else(|e| {
            panic!(
                "response {i} is not JSON ({e}): {:?}",
                String::from_utf8_lossy(&self.responses[i].body)
            )
        })
    }

    fn message(&self, i: usize) -> String {
        self.json(i)["message"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }
}

/// Feeds `input` then the follow-up request to a connection machine serving `svc` (jobs
/// run inline), measuring time and peak heap.
fn exchange(svc: &Service, input: &[u8]) -> Outcome {
    let bytes = [input, FOLLOW_UP].concat();
    let start_live = LIVE.with(Cell::get);
    PEAK.with(|p| p.set(start_live));
    let t0 = Instant::now();
    let now = Instant::now();
    let mut conn = ServerConn::new(Limits::default(), now);
    let mut output = Vec::new();
    let mut heads = Vec::new();
    let mut fed = 0;
    let open = loop {
        match conn.poll(now) {
            Next::Request(req) => {
                heads.push(req.method() == "HEAD");
                let response = match svc.dispatch(req, now) {
                    Dispatch::Respond(r) => r,
                    Dispatch::Call(call) => call.run(),
                    Dispatch::Spawn { response, job } => {
                        svc.complete(job.run(), now);
                        response
                    }
                };
                conn.send_response(response).unwrap();
            }
            Next::Write => {
                let n = conn.transmit().len();
                output.extend_from_slice(conn.transmit());
                conn.advance(n);
            }
            Next::Read if fed == bytes.len() => break true,
            Next::Read => fed += conn.feed(&bytes[fed..]),
            Next::WaitForResponse => unreachable!("every request is answered at once"),
            Next::Close => break false,
        }
    };
    drop(conn);
    let elapsed = t0.elapsed();
    let peak = PEAK.with(Cell::get).saturating_sub(start_live) as usize;
    let responses = http_util::parse_responses(&output, &heads);
    Outcome {
        responses,
        open,
        elapsed,
        peak,
    }
}

/// Asserts the case's response (status, message) and the follow-up: answered when the
/// connection stays usable, absent (and the connection closed) when it does not.
#[track_caller]
fn expect(out: &Outcome, name: &str, status: u16, needle: &str, keeps_open: bool) {
    assert!(out.elapsed < TIME_LIMIT, "{name}: took {:?}", out.elapsed);
    let first = out
        .responses
        .first()
        .unwrap_or_else(|| panic!("{name}: no response"));
    assert_eq!(
        first.status,
        status,
        "{name}: {:?}",
        String::from_utf8_lossy(&first.body)
    );
    if !needle.is_empty() {
        let text = out.message(0);
        assert!(text.contains(needle), "{name}: {needle:?} not in {text:?}");
    }
    if keeps_open {
        assert_eq!(out.responses.len(), 2, "{name}: follow-up not answered");
        assert_eq!(out.responses[1].status, 200, "{name}: follow-up");
        assert_eq!(out.json(1)["result"], "hello", "{name}: follow-up");
        assert!(out.open, "{name}: connection closed");
    } else {
        assert_eq!(out.responses.len(), 1, "{name}: follow-up was served");
        assert!(!out.open, "{name}: connection left open");
        assert_eq!(first.header("connection"), Some(&b"close"[..]), "{name}");
    }
}

fn get(target: &str) -> Vec<u8> {
    format!("GET {target} HTTP/1.1\r\nHost: x\r\n\r\n").into_bytes()
}

fn post(target: &str, content_type: &str, body: &[u8]) -> Vec<u8> {
    let mut req = format!(
        "POST {target} HTTP/1.1\r\nHost: x\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    req.extend_from_slice(body);
    req
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// An RPC request as the Python client sends it, with raw argument pickles.
fn rpc(name: &str, args: &[u8], kwargs: &[u8]) -> Vec<u8> {
    let body = format!(
        r#"{{"args": "{}", "kwargs": "{}"}}"#,
        b64(args),
        b64(kwargs)
    );
    post(&format!("/{name}"), "application/json", body.as_bytes())
}

/// `(x,)` as a protocol-2 pickle whose element is the pickle body `x` (opcodes, no STOP).
fn one_arg(x: &[u8]) -> Vec<u8> {
    let mut v = vec![0x80, 2];
    v.extend_from_slice(x);
    v.extend_from_slice(b"\x85.");
    v
}

fn empty_kwargs() -> Vec<u8> {
    b"\x80\x02}.".to_vec()
}

fn repeat(prefix: &[u8], unit: &[u8], n: usize, suffix: &[u8]) -> Vec<u8> {
    let mut v = prefix.to_vec();
    for _ in 0..n {
        v.extend_from_slice(unit);
    }
    v.extend_from_slice(suffix);
    v
}

// ------------------------------------------------------------------ paths and queries

#[test]
fn percent_encoding_to_invalid_utf8_or_nul() {
    let svc = service();
    // In the path: the endpoint name cannot be decoded, a 400 naming why; the request was
    // framed correctly, so the connection stays usable.
    for (target, needle) in [
        ("/%ff", "path is not valid UTF-8 once percent-decoded"),
        ("/te%c3", "path is not valid UTF-8 once percent-decoded"),
        ("/%ed%a0%80", "path is not valid UTF-8 once percent-decoded"),
        ("/%c0%af", "path is not valid UTF-8 once percent-decoded"),
        ("/te%00xt", "path contains a NUL character"),
        ("/%00", "path contains a NUL character"),
        ("/%zz", "invalid percent-encoding in path"),
        ("/%4", "invalid percent-encoding in path"),
        ("/text%", "invalid percent-encoding in path"),
    ] {
        let out = exchange(&svc, &get(target));
        expect(&out, target, 400, needle, true);
        assert_eq!(out.json(0)["type"], "generic", "{target}");
    }
    // In the query: decoded as CPython's parse_qs does (U+FFFD for each invalid sequence, a
    // NUL kept as a NUL, bad escapes kept verbatim).
    for (target, want) in [
        ("/echo?a=%ff%00", json!({"a": "\u{fffd}\u{0}"})),
        ("/echo?a=%c3%28", json!({"a": "\u{fffd}("})),
        (
            "/echo?a=%ed%a0%80",
            json!({"a": "\u{fffd}\u{fffd}\u{fffd}"}),
        ),
        ("/echo?%00=%00", json!({"\u{0}": "\u{0}"})),
        ("/echo?a=%zz%4%", json!({"a": "%zz%4%"})),
        ("/echo?a=%%41&b=%%", json!({"a": "%A", "b": "%%"})),
        ("/echo?a=%2", json!({"a": "%2"})),
    ] {
        let out = exchange(&svc, &get(target));
        expect(&out, target, 200, "", true);
        assert_eq!(out.json(0)["result"], want, "{target}");
    }
}

#[test]
fn hostile_query_strings() {
    let svc = service();
    // Exactly at the parameter limit: served; one more: a 400 that names the limit.
    let many = |n: usize| vec!["a=1"; n].join("&");
    let out = exchange(&svc, &get(&format!("/echo?{}", many(1000))));
    expect(&out, "1000 params", 200, "", true);
    assert_eq!(out.json(0)["result"]["a"].as_array().unwrap().len(), 1000);
    let out = exchange(&svc, &get(&format!("/echo?{}", many(1001))));
    expect(
        &out,
        "1001 params",
        400,
        "query string: too many parameters (1001, at most 1000 allowed)",
        true,
    );
    // Empty fields count too (as CPython's max_num_fields counts them).
    let out = exchange(&svc, &get(&format!("/echo?{}", "&".repeat(1000))));
    expect(&out, "1001 empty fields", 400, "too many parameters", true);
    // Distinct keys up to the limit.
    let keys: Vec<String> = (0..1000).map(|i| format!("k{i}=v")).collect();
    let out = exchange(&svc, &get(&format!("/echo?{}", keys.join("&"))));
    expect(&out, "1000 keys", 200, "", true);
    assert_eq!(out.json(0)["result"].as_object().unwrap().len(), 1000);
    // A giant key within the head limit: served as is.
    let key = "k".repeat(30_000);
    let out = exchange(&svc, &get(&format!("/echo?{key}=1")));
    expect(&out, "30 KB key", 200, "", true);
    assert_eq!(out.json(0)["result"][&key], "1");
    // A giant escaped key: 10,000 escapes decode to 10,000 bytes of invalid UTF-8.
    let out = exchange(&svc, &get(&format!("/echo?{}=1", "%ff".repeat(10_000))));
    expect(&out, "10,000 invalid escapes", 200, "", true);
    // A query past the head limit: 431 from the HTTP layer, connection closed.
    let out = exchange(&svc, &get(&format!("/echo?a={}", "x".repeat(40_000))));
    expect(&out, "40 KB query", 431, "Limits::max_head_bytes", false);
    assert!(out.peak < 1 << 20, "peak {} B", out.peak);
}

#[test]
fn hostile_form_bodies() {
    let svc = service();
    let form = "application/x-www-form-urlencoded";
    // 100,000 fields: refused before any is decoded.
    let body = vec!["a=1"; 100_000].join("&");
    let out = exchange(&svc, &post("/form", form, body.as_bytes()));
    expect(
        &out,
        "100,000 form fields",
        400,
        "form body: too many parameters (100000, at most 1000 allowed)",
        true,
    );
    report("form: 100,000 fields", body.len(), &out);
    assert!(out.peak < 4 * body.len() + (256 << 10), "peak {}", out.peak);
    // A 900 KB key: served (the form limit is 1 MiB).
    let key = "k".repeat(900_000);
    let body = format!("{key}=v");
    let out = exchange(&svc, &post("/form", form, body.as_bytes()));
    expect(&out, "900 KB form key", 200, "", true);
    assert_eq!(out.json(0)["result"]["body"][&key], "v");
    report("form: 900 KB key", body.len(), &out);
    assert!(out.peak < 8 * body.len() + (256 << 10), "peak {}", out.peak);
    // Past 1 MiB: refused, naming the limit.
    let body = format!("{}=v", "k".repeat(1 << 20));
    let out = exchange(&svc, &post("/form", form, body.as_bytes()));
    expect(
        &out,
        "1 MiB form",
        400,
        "form body: too long (1048578 bytes, at most 1048576 allowed)",
        true,
    );
    // Invalid escapes and charsets.
    let out = exchange(&svc, &post("/form", form, b"a=%zz%4%&b=%ff&c=%00"));
    expect(&out, "form escapes", 200, "", true);
    assert_eq!(
        out.json(0)["result"]["body"],
        json!({"a": "%zz%4%", "b": "\u{fffd}", "c": "\u{0}"})
    );
    let out = exchange(
        &svc,
        &post("/form", &format!("{form}; charset=ebcdic"), b"a=1"),
    );
    expect(
        &out,
        "form charset",
        400,
        "unsupported charset \"ebcdic\"",
        true,
    );
}

// ------------------------------------------------------------------ pickles

/// Peak heap allowed per byte of request (the pickle decoder's own bound is 100x its input;
/// the request also holds the body, its JSON parse and the base64-decoded pickle).
const FACTOR: usize = 100;
const SLACK: usize = 512 << 10;

fn report(name: &str, request: usize, out: &Outcome) {
    println!(
        "{name:40} request {request:>9} B  peak {:>10} B  {:6.1}x  {:>6.1} ms",
        out.peak,
        out.peak as f64 / request as f64,
        out.elapsed.as_secs_f64() * 1e3
    );
}

/// Billion laughs through the memo: l0 = [0]; l(k+1) = [lk, lk] for 60 levels (2^60 leaves).
fn billion_laughs_memo() -> Vec<u8> {
    let mut body = vec![b']', b'q', 0, b'K', 0, b'a'];
    for level in 0..60u32 {
        body.extend_from_slice(b"]r");
        body.extend_from_slice(&(level + 1).to_le_bytes());
        body.extend_from_slice(b"(j");
        body.extend_from_slice(&level.to_le_bytes());
        body.push(b'j');
        body.extend_from_slice(&level.to_le_bytes());
        body.push(b'e');
    }
    body
}

/// `[[0]*10000]*10000`: one inner list shared 10,000 times (10^8 elements logically).
fn ten_thousand_squared() -> Vec<u8> {
    shared_square(10_000)
}

/// `[[0]*n]*n`: one memoised list of `n` zeros referenced `n` times (n <= 256 fits `K`).
fn shared_square(n: usize) -> Vec<u8> {
    let mut b = vec![b']', b'q', 0, b'('];
    b.extend(std::iter::repeat([b'K', 0]).take(n).flatten());
    b.extend_from_slice(b"e]q\x01(");
    b.extend(std::iter::repeat([b'h', 0]).take(n).flatten());
    b.push(b'e');
    b
}

#[test]
fn hostile_pickles_are_400s_naming_the_problem_in_bounded_time_and_memory() {
    let svc = service();
    let marker = std::env::temp_dir().join(format!("tarp-hostile-{}", std::process::id()));
    let _ = std::fs::remove_file(&marker);
    let touch = format!("touch {}", marker.display());
    let mut os_system = b"\x80\x02cos\nsystem\nq\x00X".to_vec();
    os_system.extend_from_slice(&(touch.len() as u32).to_le_bytes());
    os_system.extend_from_slice(touch.as_bytes());
    os_system.extend_from_slice(b"q\x01\x85q\x02Rq\x03\x85q\x04.");
    let mut prefix_2_62 = vec![0x80, 4, 0x8d];
    prefix_2_62.extend_from_slice(&(1u64 << 62).to_le_bytes());
    prefix_2_62.extend_from_slice(b"abc.");
    let mut frame_2_62 = vec![0x80, 4, 0x95];
    frame_2_62.extend_from_slice(&(1u64 << 62).to_le_bytes());
    frame_2_62.extend_from_slice(b"N.");
    let valid = encode(&Value::Tuple(Arc::new(vec![
        Value::Float(1.0),
        Value::Float(2.0),
    ])));

    // (name, endpoint, args pickle, expected message fragment)
    let cases: Vec<(&str, &str, Vec<u8>, &str)> = vec![
        (
            "os.system",
            "add",
            os_system,
            "global 'os.system' is not allowed",
        ),
        (
            "builtins.eval",
            "add",
            b"\x80\x02cbuiltins\neval\nX\x03\x00\x00\x001+1\x85R\x85.".to_vec(),
            "global 'builtins.eval' is not allowed",
        ),
        (
            "subprocess.Popen (protocol 4)",
            "add",
            b"\x80\x04\x8c\nsubprocess\x94\x8c\x05Popen\x94\x93\x94.".to_vec(),
            "global 'subprocess.Popen' is not allowed",
        ),
        (
            "REDUCE on a list",
            "add",
            b"\x80\x02]]R.".to_vec(),
            "REDUCE on a list",
        ),
        (
            "BUILD on a dict",
            "add",
            b"\x80\x02}}b.".to_vec(),
            "BUILD on a dict",
        ),
        (
            "INST os.system",
            "add",
            b"(ios\nsystem\nS'id'\n.".to_vec(),
            "INST (instantiating \"os\".\"system\") is not supported",
        ),
        (
            "OBJ",
            "add",
            b"(cbuiltins\nset\no.".to_vec(),
            "OBJ (instantiating a class) is not supported",
        ),
        (
            "NEWOBJ",
            "add",
            b"\x80\x02cbuiltins\nset\n)\x81.".to_vec(),
            "NEWOBJ (instantiating a class) is not supported",
        ),
        (
            "length prefix 2^62",
            "add",
            prefix_2_62,
            "length prefix 4611686018427387904 exceeds",
        ),
        ("FRAME of 2^62", "add", frame_2_62, "4611686018427387904"),
        (
            "nesting 100,000 deep",
            "add",
            repeat(b"\x80\x02", b"(", 100_000, &[b't'; 100_000])
                .into_iter()
                .chain(*b".")
                .collect(),
            "nested deeper",
        ),
        (
            "a million MARKs closed",
            "add",
            repeat(&[b'('; 1_000_000], b"t", 1_000_000, b"."),
            "nested deeper",
        ),
        (
            "million-digit int",
            "add",
            repeat(b"(I", b"7", 1_000_000, b"\nt."),
            "exceeds the limit of 4300 digits",
        ),
        (
            "8 MiB bad int literal",
            "add",
            repeat(b"(I", b"z", 8 << 20, b"\nt."),
            "invalid literal for int()",
        ),
        (
            "truncated",
            "add",
            valid[..valid.len() - 3].to_vec(),
            "truncated",
        ),
        (
            "protocol 6",
            "add",
            b"\x80\x06N.".to_vec(),
            "unsupported pickle protocol: 6",
        ),
        (
            "billion laughs (memo) as a typed list",
            "total",
            one_arg(&billion_laughs_memo()),
            "argument 'xs'",
        ),
        (
            "billion laughs (DUP) as a typed matrix",
            "matrix",
            one_arg(&repeat(b"K\x07", b"2\x86", 60, b"")),
            "argument 'm'",
        ),
        (
            "[[0]*10000]*10000 as a typed matrix",
            "matrix",
            one_arg(&ten_thousand_squared()),
            "expands",
        ),
        (
            "set copies of a memoised list",
            "add",
            {
                let mut b = vec![0x80, 2, b']', b'q', 0, b'('];
                b.extend(std::iter::repeat([b'M', 1, 2]).take(10_000).flatten());
                b.push(b'e');
                for _ in 0..10_000 {
                    b.extend_from_slice(b"cbuiltins\nset\nh\x00\x85R0");
                }
                b.push(b'.');
                b
            },
            "too many container entries created by copying",
        ),
        (
            "args not a tuple",
            "add",
            b"\x80\x02]q\x00.".to_vec(),
            "RPC args should be a tuple",
        ),
    ];
    println!("hostile pickles through the service:");
    for (name, endpoint, args, needle) in &cases {
        let request = rpc(endpoint, args, &empty_kwargs());
        let out = exchange(&svc, &request);
        report(name, request.len(), &out);
        expect(&out, name, 400, needle, true);
        let message = out.message(0);
        assert!(
            message.len() < 600,
            "{name}: message of {} bytes",
            message.len()
        );
        assert!(
            out.peak <= FACTOR * request.len() + SLACK,
            "{name}: peak {} B for a {} B request",
            out.peak,
            request.len()
        );
    }
    assert_eq!(HANDLER_RUNS.load(Ordering::SeqCst), 0, "a handler ran");
    assert!(!marker.exists(), "a pickle was executed");
}

/// `[n, n, ...]`: one memoised integer of `bytes` bytes (LONG4) referenced `refs` times.
fn shared_big_int(bytes: usize, refs: usize) -> Vec<u8> {
    let mut p = vec![0x80, 2, 0x8b];
    p.extend_from_slice(&(bytes as u32).to_le_bytes());
    p.extend(std::iter::repeat(0x7f).take(bytes));
    p.extend_from_slice(b"q\x00](");
    p.extend(std::iter::repeat([b'h', 0]).take(refs).flatten());
    p.extend_from_slice(b"e\x85.");
    p
}

#[test]
fn shared_arguments_expand_within_the_argument_budget() {
    // Bound to a typed parameter, a shared value may expand to ARG_EXPANSION_BASE units
    // (256 Ki) whatever it stores: [[0]*300]*300 (90,000 elements from 600 stored) is bound;
    // [[0]*600]*600 (360,000) is refused before any conversion, although the general
    // walk budget (1 Mi units) would take it.
    assert_eq!(tarp_core::service::ARG_EXPANSION_BASE, 1 << 18);
    let svc = service();
    let request = rpc("matrix", &one_arg(&shared_square(300)), &empty_kwargs());
    let out = exchange(&svc, &request);
    expect(&out, "[[0]*300]*300 as a typed matrix", 200, "", true);
    let request = rpc("matrix", &one_arg(&shared_square(600)), &empty_kwargs());
    let out = exchange(&svc, &request);
    report("[[0]*600]*600 as a typed matrix", request.len(), &out);
    expect(
        &out,
        "[[0]*600]*600 as a typed matrix",
        400,
        "expands",
        true,
    );
    assert!(
        out.peak <= FACTOR * request.len() + SLACK,
        "peak {} B for a {} B request",
        out.peak,
        request.len()
    );
    let general: Vec<Vec<i64>> = tarp_core::wire::pickle::from_value(
        &tarp_core::wire::pickle::decode(&shared_square_pickle(600)).unwrap(),
    )
    .unwrap();
    assert_eq!((general.len(), general[0].len()), (600, 600));
}

/// `[[0]*n]*n` as a whole pickle (protocol 2).
fn shared_square_pickle(n: usize) -> Vec<u8> {
    let mut p = vec![0x80, 2];
    p.extend_from_slice(&shared_square(n));
    p.push(b'.');
    p
}

#[test]
fn big_integers_converted_to_text_are_budgeted() {
    // Converting an integer to decimal text takes time quadratic in its size (about a
    // millisecond for 4000 digits): a 21 KB pickle referencing one such integer 10,000 times,
    // bound to a list of strings, once took 11 s of CPU (release build). It is charged for
    // that work against the walk's budget, and refused.
    let svc = service();
    let request = rpc("texts", &shared_big_int(1700, 10_000), &empty_kwargs());
    let out = exchange(&svc, &request);
    report("4094-digit int x 10,000 as strings", request.len(), &out);
    expect(
        &out,
        "shared big int as strings",
        400,
        "argument 'xs'",
        true,
    );
    assert!(out.message(0).contains("expands"), "{}", out.message(0));
    // A few big integers as text are fine.
    let request = rpc("texts", &shared_big_int(1700, 20), &empty_kwargs());
    let out = exchange(&svc, &request);
    expect(&out, "shared big int x 20", 200, "", true);
    // The same shape as values (no conversion) stays cheap and shared.
    let request = rpc("echo_value", &shared_big_int(1700, 10_000), &empty_kwargs());
    let out = exchange(&svc, &request);
    expect(&out, "shared big int echoed", 200, "", true);
}

#[test]
fn amplifying_but_valid_pickles_are_answered_in_bounded_time_and_memory() {
    let svc = service();
    // Values that share one object many times decode shared (no expansion); echoing them
    // back re-encodes them shared too.
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("billion laughs (memo)", one_arg(&billion_laughs_memo())),
        (
            "billion laughs (DUP)",
            one_arg(&repeat(b"K\x07", b"2\x86", 60, b"")),
        ),
        ("[[0]*10000]*10000", one_arg(&ten_thousand_squared())),
        (
            "a 1000-item list DUPed 30,000 times",
            one_arg(&{
                let mut b = vec![b'(', b']', b'('];
                b.extend(std::iter::repeat([b'K', 1]).take(1000).flatten());
                b.push(b'e');
                b.extend(std::iter::repeat(b'2').take(30_000));
                b.push(b't');
                b
            }),
        ),
        ("a million MARKs", repeat(b"", b"(", 1_000_000, b"N\x85.")),
        (
            "a million MEMOIZEs",
            repeat(b"\x80\x04]", b"\x94", 1_000_000, b"\x85."),
        ),
    ];
    println!("valid amplifying pickles echoed by the service:");
    for (name, args) in &cases {
        let request = rpc("echo_value", args, &empty_kwargs());
        let out = exchange(&svc, &request);
        report(name, request.len(), &out);
        expect(&out, name, 200, "", true);
        assert!(
            out.responses[0].body.len() < 8 * request.len() + 4096,
            "{name}: a {} B answer to a {} B request",
            out.responses[0].body.len(),
            request.len()
        );
        assert!(
            out.peak <= FACTOR * request.len() + SLACK,
            "{name}: peak {} B for a {} B request",
            out.peak,
            request.len()
        );
    }
    // The same shared value bound to a typed parameter would expand: refused by the budget.
    let request = rpc("names", &one_arg(&billion_laughs_memo()), &empty_kwargs());
    let out = exchange(&svc, &request);
    expect(&out, "billion laughs as a dict", 400, "argument 'd'", true);
}
