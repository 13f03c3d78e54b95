//! Heap held by the service while it answers an RPC carrying a large numpy array (issue 8,
//! scenario 4), counted by a global allocator. The request body (base64, 4/3 of the pickle)
//! is decoded in its own memory (the base64 text into the pickle's bytes), the pickle's
//! array is converted straight from those bytes, and the result's pickle is encoded into
//! the response body in its own memory: from the request's arrival to the response's body,
//! the heap never holds more than about 2 times the payload (the pickle and the array). It
//! held 4.33 times before (the body, the decoded pickle, a bytes copy of the array's data
//! and the array).
//!
//! The client's side of the same call, in the envelope module: the request body is built in
//! the memory of the args pickle, and the answer's payload decoded in the memory of the
//! answer's body, so neither holds the base64 text and its bytes at once.
//!
//! `unsafe` appears only in the `GlobalAlloc` impl, a trait that can only be implemented
//! unsafely; it counts and delegates to the system allocator.

mod alloc_util;

use std::cell::Cell;

use alloc_util::{LIVE, PEAK};
use std::time::Instant;

use tarp_core::http::{Request, Version};
use tarp_core::service::{Dispatch, Service};
use tarp_core::wire::envelope::{
    decode_payload_in_place, rpc_request_body, rpc_request_body_from, PayloadBody,
};
use tarp_core::wire::pickle::{decode, encode, NdArray, Value};

#[global_allocator]
static GLOBAL: alloc_util::Counting = alloc_util::Counting;

fn live() -> isize {
    LIVE.with(Cell::get)
}

fn reset_peak() {
    PEAK.with(|p| p.set(live()));
}

fn peak() -> isize {
    PEAK.with(Cell::get)
}

/// The payload: 12 MiB of float64.
const N: usize = 12 << 20;
/// Fixed allowance: the service's own small allocations during one call.
const SLACK: usize = 256 * 1024;

#[test]
fn an_echoed_array_is_answered_within_two_payloads_of_heap() {
    let mut svc = Service::new();
    svc.rpc("echo", |a: NdArray| Ok(a));
    let now = Instant::now();
    let sent = NdArray::from_vec((0..N / 8).map(|i| i as f64 - 7.5).collect::<Vec<f64>>());
    let body = {
        let args = encode(&Value::tuple(vec![Value::NdArray(sent.clone())]));
        let kwargs = encode(&Value::dict(Vec::new()));
        rpc_request_body(&args, &kwargs)
    };
    let request = Request::new(
        "POST",
        "/echo",
        Version::Http11,
        vec![("Content-Type".into(), b"application/json".to_vec())],
        body,
    );

    // Everything from here on is the service's: the request (its body 4/3 N) is counted from
    // the level before it was made.
    let before_request = live() - (N as isize * 4 / 3);
    reset_peak();
    let call = match svc.dispatch(request, now) {
        Dispatch::Call(call) => call,
        _ => panic!("a synchronous RPC is a call to run"),
    };
    let after_dispatch = live() - before_request;
    let dispatch_peak = peak() - before_request;
    let response = call.run();
    let run_peak = peak() - before_request;

    // After dispatch only the array remains (the body and the decoded pickle are freed).
    assert!(
        after_dispatch < (N + SLACK) as isize,
        "after dispatch {after_dispatch} bytes are held for a payload of {N}"
    );
    // The peaks: the decoded pickle and the array; later the array and the result's
    // pickle, which then becomes the response body.
    let limit = (N * 2 + SLACK) as isize;
    assert!(
        dispatch_peak <= limit && run_peak <= limit,
        "peaks {dispatch_peak} (dispatch) and {run_peak} (run) for a payload of {N}: more than 2x"
    );

    // And the answer is the array.
    assert_eq!(response.status, 200);
    let json: serde_json::Value = serde_json::from_slice(&response.body).expect("JSON");
    let text = json["result"]["payload"].as_str().expect("payload");
    use base64::Engine as _;
    let pickle = base64::engine::general_purpose::STANDARD
        .decode(text)
        .expect("base64");
    let back = decode(&pickle).expect("pickle");
    assert_eq!(back.as_ndarray(), Some(&sent));
}

#[test]
fn the_order_of_rpc_errors_is_kept() {
    let mut svc = Service::new();
    svc.rpc("f", |a: i64| Ok(a));
    let now = Instant::now();
    let answer = |body: &str| {
        let req = Request::new(
            "POST",
            "/f",
            Version::Http11,
            vec![("Content-Type".into(), b"application/json".to_vec())],
            body.as_bytes().to_vec(),
        );
        match svc.dispatch(req, now) {
            Dispatch::Respond(r) => {
                let json: serde_json::Value = serde_json::from_slice(&r.body).expect("JSON");
                json["message"].as_str().unwrap_or_default().to_owned()
            }
            _ => panic!("expected a 400"),
        }
    };
    // A bad args pickle is reported before bad kwargs base64, bad args base64 before all.
    let bad_pickle = "gAJ9"; // pickle.dumps({}, 2) without STOP: truncated
    let m = answer(&format!(r#"{{"args":"{bad_pickle}","kwargs":"!!"}}"#));
    assert!(m.starts_with("RPC args: ") && !m.contains("base64"), "{m}");
    let m = answer(r#"{"args":"!!","kwargs":"!!"}"#);
    assert!(m.starts_with("RPC args: invalid base64"), "{m}");
    let m = answer(r#"{"args":"gAIpLg==","kwargs":"!!"}"#); // () then bad kwargs
    assert!(m.starts_with("RPC kwargs: invalid base64"), "{m}");
}

#[test]
fn the_clients_request_body_is_built_in_the_pickles_memory() {
    let pickle: Vec<u8> = (0..N).map(|i| (i * 13 + 1) as u8).collect();
    let expected = rpc_request_body(&pickle, b"\x80\x03}q\x00.");
    let before = live() - N as isize;
    reset_peak();
    let body = rpc_request_body_from(pickle, b"\x80\x03}q\x00.");
    let peak = peak() - before;
    assert_eq!(body, expected);
    // The body (4/3 N) alone; building it beside the pickle held 7/3 N.
    assert!(
        peak <= (N * 4 / 3 + SLACK) as isize,
        "building the body of a {N}-byte pickle peaked at {peak} bytes"
    );
}

#[test]
fn the_clients_answer_is_decoded_in_the_bodys_memory() {
    use base64::Engine as _;
    let engine = &base64::engine::general_purpose::STANDARD;
    let pickle: Vec<u8> = (0..N).map(|i| (i * 29 + 3) as u8).collect();
    let body = format!(
        r#"{{"status": "success", "mimetype": "application/json", "result": {{"payload": "{}"}}}}"#,
        engine.encode(&pickle)
    )
    .into_bytes();
    let body_len = body.len() as isize;
    let before = live() - body_len;
    reset_peak();
    let decoded = decode_payload_in_place(body, engine);
    let peak = peak() - before;
    let held = live() - before;
    assert!(
        decoded == PayloadBody::Decoded(pickle),
        "the payload's bytes"
    );
    // The body alone, then only the bytes; decoding into a buffer of their own held both,
    // and reading the envelope into a JSON tree a second copy of the text besides.
    assert!(
        peak <= body_len + SLACK as isize,
        "decoding a {body_len}-byte answer peaked at {peak} bytes"
    );
    assert!(
        held <= (N + SLACK) as isize,
        "{held} bytes held after decoding"
    );
}

#[test]
fn a_plain_body_that_does_not_decode_is_answered_as_the_json_reader_answers_it() {
    use base64::Engine as _;
    let mut svc = Service::new();
    svc.rpc("len", |b: Vec<u8>| Ok(b.len()));
    let now = Instant::now();
    let answer = |body: String| {
        let req = Request::new(
            "POST",
            "/len",
            Version::Http11,
            vec![("Content-Type".into(), b"application/json".to_vec())],
            body.into_bytes(),
        );
        match svc.dispatch(req, now) {
            Dispatch::Respond(r) => (r.status, r.body),
            Dispatch::Call(call) => {
                let r = call.run();
                (r.status, r.body)
            }
            _ => panic!("a synchronous RPC"),
        }
    };
    let data: Vec<u8> = (0..40_000u32).map(|i| (i * 11) as u8).collect();
    let args = encode(&Value::tuple(vec![Value::bytes(data)]));
    let good = base64::engine::general_purpose::STANDARD.encode(&args);
    let kwargs = base64::engine::general_purpose::STANDARD.encode(encode(&Value::dict(vec![])));
    let mut texts = vec![good.clone()];
    for at in [0usize, 4094, 4095, 4096, 20_000, good.len() - 3] {
        for bad in ["!", "\"", "\\/", "\\u0041", "=", "=="] {
            let mut t = good.clone();
            t.replace_range(at..at + 1, bad);
            texts.push(t);
        }
    }
    for text in texts {
        // The plain shape (decoded in place, restored when it does not decode) against a
        // shape only the JSON reader reads (a space before a colon).
        let plain = answer(format!(r#"{{"args":"{text}","kwargs":"{kwargs}"}}"#));
        let read = answer(format!(r#"{{"args" : "{text}", "kwargs" : "{kwargs}"}}"#));
        assert_eq!(
            (plain.0, String::from_utf8_lossy(&plain.1)),
            (read.0, String::from_utf8_lossy(&read.1)),
            "args text of {} chars",
            text.len()
        );
    }
}
