//! Every row of PROTOCOL.md, sections 2 to 7: request bytes in (as the Python client sends
//! them where it sends them), exact response out (status, headers, envelope), through the
//! HTTP connection machine and the service.

mod service_util;

use base64::Engine;
use serde_json::json;
use service_util::{
    get, post, python_request, python_requests, python_requests_via_requests, python_unpickle,
    raw_request, rpc, rpc_body, Harness, PyCall,
};
use tarp_core::service::{Body, Error, Reply, Service};
use tarp_core::wire::pickle::{to_pickle, NdArray};
use tarp_core::wire::query::Query;

const SHAPE: &str = r#"RPC body data should be a JSON object with \"args\" and \"kwargs\" keys"#;
const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR";

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// The payload text our encoder makes for a value (the exact bytes are checked against it,
/// and what CPython makes of them separately).
fn payload_of<T: serde::Serialize>(v: &T) -> String {
    b64(&to_pickle(v).unwrap())
}

fn echo(q: &Query, body: Body) -> Result<Reply, Error> {
    Ok(Reply::json(
        json!({"query": q.to_json(), "body": body.to_json()}),
    ))
}

fn demo() -> Harness {
    let mut svc = Service::with_seed(7);
    svc.rpc("add", |a: f64, b: f64| Ok(a + b))
        .params(["a", "b"])
        .describe("Add two numbers.");
    svc.rpc("rpcExample", |value: usize, lower: f64, upper: f64| {
        let step = if value > 1 {
            (upper - lower) / (value - 1) as f64
        } else {
            0.0
        };
        Ok(NdArray::from_vec(
            (0..value)
                .map(|i| lower + step * i as f64)
                .collect::<Vec<f64>>(),
        ))
    })
    .params(["value", "lower", "upper"])
    .default("lower", 0.0)
    .default("upper", 1.0);
    svc.rpc("fail", || Err::<(), _>(Error::failed("it broke")));
    svc.rpc("busy", || Err::<(), _>(Error::in_progress(7)));
    svc.rpc("broken_state", || {
        Err::<(), _>(Error::invalid_state("the laser is off"))
    });
    svc.rpc("panics", || -> Result<(), Error> { panic!("kaboom") });
    svc.async_rpc("slow", |x: f64| Ok(x * 2.0))
        .params(["x"])
        .suggested_wait(2.5);
    svc.async_rpc("slow_default", |x: f64| Ok(x)).params(["x"]);
    svc.async_rpc("slow_fail", |x: f64| {
        Err::<f64, _>(Error::failed(format!("bad x {x}")))
    })
    .params(["x"]);
    svc.get("echo", echo)
        .describe("Echo params and body.")
        .query_params(["a", "b"]);
    svc.post("pecho", echo)
        .payload_mimetype("application/json")
        .payload_schema(json!({"type": "object"}));
    svc.get("text", |_, _| Ok(Reply::text("héllo")));
    svc.get("csv", |_, _| Ok(Reply::text("a,b\n1,2\n")))
        .mimetype("text/csv");
    svc.get("bytes", |_, _| Ok(Reply::bytes(vec![0u8, 1, 2, 255])));
    svc.get("nothing", |_, _| Ok(Reply::None));
    svc.get("zero", |_, _| Ok(json!(0)));
    svc.get("false", |_, _| Ok(json!(false)));
    svc.get("empty_text", |_, _| Ok(""));
    svc.get("empty_list", |_, _| Ok(json!([])));
    svc.get("list", |_, _| Ok(json!([1, "two", null])));
    svc.get("plot", |_, _| Ok(Reply::raw("image/png", PNG)));
    svc.get("raw_default", |_, _| Ok(Reply::raw("", b"xyz".to_vec())));
    svc.get("busy_get", |_, _| {
        Err::<Reply, _>(Error::in_progress(3).with_message("warming up"))
    });
    svc.post("busy_post", |_, _| Err::<Reply, _>(Error::in_progress(4)));
    svc.get("state_get", |_, _| {
        Err::<Reply, _>(Error::invalid_state("door open"))
    });
    svc.post("fail_post", |_, _| {
        Err::<Reply, _>(Error::failed("no paper"))
    });
    svc.get("both", |_, _| Ok("get"));
    svc.post("both", |_, _| Ok("post"));
    Harness::new(svc)
}

fn success(mimetype: &str, result: &str) -> String {
    let mimetype = if mimetype == "null" {
        "null".to_owned()
    } else {
        format!("\"{mimetype}\"")
    };
    format!(r#"{{"status": "success", "mimetype": {mimetype}, "result": {result}}}"#)
}

fn error(kind: &str, message: &str) -> String {
    format!(r#"{{"status": "error", "type": "{kind}", "message": "{message}"}}"#)
}

fn payload_envelope(payload: &str) -> String {
    success(
        "application/json",
        &format!(r#"{{"payload": "{payload}"}}"#),
    )
}

// ---- Section 2: the envelope and its status codes ----

#[test]
fn s2_success_is_200_with_json_envelope() {
    let mut h = demo();
    let r = h.exchange(&python_request(rpc("add", "(1, 2)", "{}")));
    r.assert_envelope(200, &[], &payload_envelope(&payload_of(&3.0)));
    assert_eq!(python_unpickle(&[&payload_of(&3.0)]), ["3.0"]);
}

#[test]
fn s2_operation_in_progress_is_503_with_integer_retry_after() {
    let mut h = demo();
    let r = h.exchange(&python_request(rpc("busy", "()", "{}")));
    r.assert_envelope(
        503,
        &[("Retry-After", "7")],
        &error(
            "OperationInProgress",
            "Operation not completed. Please wait.",
        ),
    );
}

#[test]
fn s2_invalid_server_state_is_503() {
    let mut h = demo();
    let r = h.exchange(&python_request(rpc("broken_state", "()", "{}")));
    r.assert_envelope(503, &[], &error("InvalidServerState", "the laser is off"));
}

#[test]
fn s2_handler_failure_is_500_generic_with_its_text() {
    let mut h = demo();
    let r = h.exchange(&python_request(rpc("fail", "()", "{}")));
    r.assert_envelope(500, &[], &error("generic", "it broke"));
}

#[test]
fn s2_unknown_endpoint_is_404_endpoint_not_found() {
    let mut h = demo();
    let not_found = error("generic", "Endpoint not found");
    h.exchange(&python_request(get("nope", "{}")))
        .assert_envelope(404, &[], &not_found);
    h.exchange(&python_request(rpc("nope", "()", "{}")))
        .assert_envelope(404, &[], &not_found);
    h.exchange(&raw_request("DELETE", "/nope", &[], b""))
        .assert_envelope(404, &[], &not_found);
}

#[test]
fn s2_malformed_rpc_call_is_400_generic() {
    let mut h = demo();
    let r = h.exchange(&raw_request(
        "POST",
        "/add",
        &[("Content-Type", "application/json")],
        b"[]",
    ));
    r.assert_envelope(400, &[], &error("generic", SHAPE));
}

// ---- Section 3: discovery ----

#[test]
fn s3_discovery_document() {
    let mut h = demo();
    let r = h.exchange(&python_request(PyCall::Connect));
    let doc = r.json();
    assert_eq!(doc["status"], "success");
    assert_eq!(doc["mimetype"], "application/json");
    let result = &doc["result"];
    let keys: Vec<&str> = result
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(keys, ["GET", "POST", "RPC", "ASYNCRPC"]);
    assert_eq!(
        result["GET"][0],
        json!({"name": "echo", "description": "Echo params and body.", "query_params": ["a", "b"], "mimetype": null})
    );
    assert_eq!(
        result["POST"][0],
        json!({"name": "pecho", "description": "No description provided", "query_params": [],
               "payload_mimetype": "application/json", "payload_schema": {"type": "object"}, "mimetype": null})
    );
    assert_eq!(
        result["RPC"][0],
        json!({"name": "add", "description": "Add two numbers.", "params": ["a", "b"], "defaults": {}})
    );
    assert_eq!(
        result["RPC"][1],
        json!({"name": "rpcExample", "description": "No description provided",
               "params": ["value", "lower", "upper"], "defaults": {"lower": 0.0, "upper": 1.0}})
    );
    assert_eq!(
        result["ASYNCRPC"][0],
        json!({"name": "slow", "description": "No description provided", "params": ["x"], "defaults": {},
               "suggested_wait": 2.5})
    );
    assert_eq!(result["ASYNCRPC"][1]["suggested_wait"], json!(5));
    assert!(result["GET"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["name"] == "csv" && e["mimetype"] == "text/csv"));
    // Python's key order and separators, byte for byte, in each entry.
    assert!(r.text().starts_with(
        r#"{"status": "success", "mimetype": "application/json", "result": {"GET": [{"name": "echo", "description": "Echo params and body.", "query_params": ["a", "b"], "mimetype": null}, "#
    ));
    assert_eq!(r.header("Content-Type"), Some("application/json"));
}

#[test]
fn s3_head_of_discovery_has_headers_only() {
    let mut h = demo();
    let full = h.exchange(&raw_request("GET", "/", &[], b""));
    let raw = h.exchange_raw(&raw_request("HEAD", "/", &[], b""));
    let text = String::from_utf8(raw).unwrap();
    assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text}");
    assert!(
        text.contains(&format!("Content-Length: {}\r\n", full.body.len())),
        "{text}"
    );
    assert!(text.ends_with("\r\n\r\n"), "no body: {text}");
}

// ---- Section 4: synchronous RPC ----

#[test]
fn s4_add_under_every_pickle_protocol() {
    let mut h = demo();
    let calls: Vec<PyCall> = (0..=5)
        .map(|p| PyCall::Rpc {
            name: "add".into(),
            args: "(1, 2)".into(),
            kwargs: "{}".into(),
            protocol: Some(p),
        })
        .chain([
            rpc("add", "(1.5,)", "{'b': 2.25}"),
            rpc("add", "()", "{'b': 1, 'a': 2**40}"),
        ])
        .collect();
    let requests = python_requests(&calls);
    let expected = [3.0, 3.0, 3.0, 3.0, 3.0, 3.0, 3.75, 1_099_511_627_777.0];
    for (req, want) in requests.iter().zip(expected) {
        h.exchange(req)
            .assert_envelope(200, &[], &payload_envelope(&payload_of(&want)));
    }
}

#[test]
fn s4_signature_with_defaults_and_numpy_result() {
    let mut h = demo();
    let requests = python_requests(&[
        rpc("rpcExample", "(15,)", "{'lower': 0, 'upper': 100}"),
        rpc("rpcExample", "(3,)", "{}"),
        rpc("rpcExample", "()", "{'value': 2, 'upper': 4.0}"),
    ]);
    let mut payloads = Vec::new();
    for req in &requests {
        let r = h.exchange(req);
        assert_eq!(r.status, 200, "{}", r.text());
        payloads.push(r.json()["result"]["payload"].as_str().unwrap().to_owned());
    }
    let seen = python_unpickle(&payloads.iter().map(String::as_str).collect::<Vec<_>>());
    let compact: Vec<String> = seen
        .iter()
        .map(|s| s.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect();
    assert!(
        compact[0].starts_with("array([ 0. , 7.14285714, 14.28571429,"),
        "{}",
        compact[0]
    );
    assert!(
        compact[0].ends_with("92.85714286, 100. ])"),
        "{}",
        compact[0]
    );
    assert_eq!(compact[1], "array([0. , 0.5, 1. ])");
    assert_eq!(compact[2], "array([0., 4.])");
}

#[test]
fn s4_query_string_on_rpc_is_400() {
    let mut h = demo();
    let mut req = python_request(rpc("add", "(1, 2)", "{}"));
    let at = req.windows(4).position(|w| w == b"/add").unwrap() + 4;
    req.splice(at..at, b"?x=1".iter().copied());
    h.exchange(&req).assert_envelope(
        400,
        &[],
        &error("generic", "RPC endpoints should not have query parameters"),
    );
    // An empty query (`/add?`) is no query, as for Python.
    let mut req = python_request(rpc("add", "(1, 2)", "{}"));
    req.splice(at..at, b"?".iter().copied());
    assert_eq!(h.exchange(&req).status, 200);
}

#[test]
fn s4_body_must_be_json_object_with_args_and_kwargs() {
    let mut h = demo();
    let json_ct = [("Content-Type", "application/json")];
    let shape = error("generic", SHAPE);
    for body in [
        &b"not json"[..],
        b"[]",
        b"\"x\"",
        br#"{"args": "KQ=="}"#,
        br#"{"kwargs": "fQ=="}"#,
        b"{}",
    ] {
        h.exchange(&raw_request("POST", "/add", &json_ct, body))
            .assert_envelope(400, &[], &shape);
    }
    // No body, or not declared as JSON: the Python server never parses it either.
    h.exchange(&raw_request("POST", "/add", &json_ct, b""))
        .assert_envelope(400, &[], &shape);
    let good = rpc_body(
        &b64(b"\x80\x04\x95\x07\0\0\0\0\0\0\0K\x01K\x02\x86\x94."),
        &b64(b"\x80\x04}\x94."),
    );
    h.exchange(&raw_request(
        "POST",
        "/add",
        &[("Content-Type", "text/plain")],
        &good,
    ))
    .assert_envelope(400, &[], &shape);
    h.exchange(&raw_request("POST", "/add", &[], &good))
        .assert_envelope(400, &[], &shape);
    // Ours: the media type compares case-insensitively, without parameters.
    let r = h.exchange(&raw_request(
        "POST",
        "/add",
        &[("Content-Type", "Application/JSON; charset=utf-8")],
        &good,
    ));
    r.assert_envelope(200, &[], &payload_envelope(&payload_of(&3.0)));
    // args / kwargs that are not text.
    h.exchange(&raw_request(
        "POST",
        "/add",
        &json_ct,
        br#"{"args": 1, "kwargs": "fQ=="}"#,
    ))
    .assert_envelope(
        400,
        &[],
        &error("generic", "RPC args should be a base64 string"),
    );
    h.exchange(&raw_request(
        "POST",
        "/add",
        &json_ct,
        br#"{"args": "KQ==", "kwargs": null}"#,
    ))
    .assert_envelope(
        400,
        &[],
        &error("generic", "RPC kwargs should be a base64 string"),
    );
}

#[test]
fn s4_args_must_be_a_tuple_and_kwargs_a_dict() {
    let mut h = demo();
    // pickle.dumps([1, 2]) and pickle.dumps([]) at protocol 2.
    let list = b64(b"\x80\x02]q\x00(K\x01K\x02e.");
    let empty_list = b64(b"\x80\x02]q\x00.");
    let empty_tuple = b64(b"\x80\x02).");
    let empty_dict = b64(b"\x80\x02}q\x00.");
    let json_ct = [("Content-Type", "application/json")];
    h.exchange(&raw_request(
        "POST",
        "/add",
        &json_ct,
        &rpc_body(&list, &empty_dict),
    ))
    .assert_envelope(400, &[], &error("generic", "RPC args should be a tuple"));
    h.exchange(&raw_request(
        "POST",
        "/add",
        &json_ct,
        &rpc_body(&empty_tuple, &empty_list),
    ))
    .assert_envelope(400, &[], &error("generic", "RPC kwargs should be a dict"));
}

#[test]
fn s4_undecodable_base64_or_pickle_is_400_naming_the_part() {
    let mut h = demo();
    let json_ct = [("Content-Type", "application/json")];
    let empty_dict = b64(b"\x80\x02}q\x00.");
    let r = h.exchange(&raw_request(
        "POST",
        "/add",
        &json_ct,
        &rpc_body("!!!!", &empty_dict),
    ));
    assert_eq!(r.status, 400);
    assert!(
        r.json()["message"]
            .as_str()
            .unwrap()
            .starts_with("RPC args: invalid base64"),
        "{}",
        r.text()
    );
    let r = h.exchange(&raw_request(
        "POST",
        "/add",
        &json_ct,
        &rpc_body(&b64(b"\x80\x02)."), &b64(b"garbage")),
    ));
    assert_eq!(r.status, 400);
    assert!(
        r.json()["message"]
            .as_str()
            .unwrap()
            .starts_with("RPC kwargs: "),
        "{}",
        r.text()
    );
    // A hostile pickle: os.system("true") via REDUCE. Refused, never run.
    let evil = b64(b"cos\nsystem\n(S'true'\ntR.");
    let r = h.exchange(&raw_request(
        "POST",
        "/add",
        &json_ct,
        &rpc_body(&evil, &empty_dict),
    ));
    assert_eq!(r.status, 400);
    let message = r.json()["message"].as_str().unwrap().to_owned();
    assert!(
        message.starts_with("RPC args: ") && message.contains("os"),
        "{message}"
    );
}

#[test]
fn s4_binding_errors_name_the_argument() {
    let mut h = demo();
    let cases = [
        (
            rpc("add", "(1, 2, 3)", "{}"),
            "add() takes 2 positional arguments but 3 were given",
        ),
        (
            rpc("add", "(1,)", "{}"),
            "add() missing required argument 'b'",
        ),
        (
            rpc("add", "()", "{}"),
            "add() missing required arguments 'a' and 'b'",
        ),
        (
            rpc("add", "(1,)", "{'c': 2}"),
            "add() got an unexpected keyword argument 'c'",
        ),
        (
            rpc("add", "(1,)", "{'a': 2}"),
            "add() got multiple values for argument 'a'",
        ),
        (
            rpc("add", "('x', 2)", "{}"),
            "add() argument 'a': expected f64, got str",
        ),
        (
            rpc("add", "(1,)", "{'b': [1]}"),
            "add() argument 'b': expected f64, got list",
        ),
        (
            rpc("add", "(1,)", "{'b': None}"),
            "add() argument 'b': expected f64, got NoneType",
        ),
        (
            rpc("rpcExample", "(-1,)", "{}"),
            "rpcExample() argument 'value': invalid value: integer `-1`, expected usize",
        ),
        (
            rpc("fail", "(1,)", "{}"),
            "fail() takes 0 positional arguments but 1 was given",
        ),
    ];
    let calls: Vec<PyCall> = cases.iter().map(|(c, _)| c.clone()).collect();
    for (req, (_, message)) in python_requests(&calls).iter().zip(cases) {
        h.exchange(req)
            .assert_envelope(400, &[], &error("generic", message));
    }
}

#[test]
fn s4_handler_panic_costs_one_500_and_the_service_keeps_serving() {
    let mut h = demo();
    let requests = python_requests(&[rpc("panics", "()", "{}"), rpc("add", "(2, 2)", "{}")]);
    h.exchange(&requests[0]).assert_envelope(
        500,
        &[],
        &error("generic", "handler panicked: kaboom"),
    );
    h.exchange(&requests[1])
        .assert_envelope(200, &[], &payload_envelope(&payload_of(&4.0)));
}

// ---- Section 5: asynchronous RPC ----

fn start(h: &mut Harness, call: PyCall) -> String {
    let r = h.exchange(&python_request(call));
    assert_eq!(r.status, 200, "{}", r.text());
    let id = r.json()["result"]["ID"].as_str().unwrap().to_owned();
    let wait = r.json()["result"]["suggested_wait"].clone();
    r.assert_envelope(
        200,
        &[],
        &success(
            "application/json",
            &format!(r#"{{"ID": "{id}", "suggested_wait": {wait}}}"#),
        ),
    );
    id
}

#[test]
fn s5_async_lifecycle() {
    let mut h = demo();
    let id = start(&mut h, rpc("slow", "(21,)", "{}"));
    assert_eq!(id.len(), 36);
    assert_eq!(&id[14..15], "4");
    let [probe, fetch] =
        [PyCall::AsyncProbe(id.clone()), PyCall::AsyncGet(id.clone())].map(python_request);

    h.exchange(&probe).assert_envelope(
        200,
        &[],
        &success(
            "application/json",
            r#"{"status": "in_progress", "suggested_wait": 2.5}"#,
        ),
    );
    h.exchange(&fetch).assert_envelope(
        503,
        &[("Retry-After", "3")],
        &error("OperationInProgress", "Operation still underway"),
    );

    h.run_jobs();
    h.exchange(&probe).assert_envelope(
        200,
        &[],
        &success(
            "application/json",
            r#"{"status": "completed", "suggested_wait": 2.5}"#,
        ),
    );
    // A HEAD does not take the result (its body, and the result with it, would be lost).
    let head = h.exchange_raw(&raw_request(
        "HEAD",
        &format!("/asyncGet?UUID={id}"),
        &[],
        b"",
    ));
    assert!(String::from_utf8(head)
        .unwrap()
        .starts_with("HTTP/1.1 200 OK\r\n"));
    let r = h.exchange(&fetch);
    r.assert_envelope(200, &[], &payload_envelope(&payload_of(&42.0)));
    assert_eq!(python_unpickle(&[&payload_of(&42.0)]), ["42.0"]);
    // Forgotten once fetched.
    h.exchange(&fetch)
        .assert_envelope(404, &[], &error("generic", "UUID not found"));
    h.exchange(&probe)
        .assert_envelope(404, &[], &error("generic", "UUID not found"));
}

#[test]
fn s5_default_suggested_wait_is_5() {
    let mut h = demo();
    let r = h.exchange(&python_request(rpc("slow_default", "(1,)", "{}")));
    assert_eq!(r.json()["result"]["suggested_wait"], json!(5));
    let id = r.json()["result"]["ID"].as_str().unwrap().to_owned();
    let r = h.exchange(&python_request(PyCall::AsyncGet(id)));
    assert_eq!(r.header("Retry-After"), Some("5"));
}

#[test]
fn s5_failed_job_is_reported_then_forgotten() {
    let mut h = demo();
    let id = start(&mut h, rpc("slow_fail", "(3,)", "{}"));
    h.run_jobs();
    let [probe, fetch] = [PyCall::AsyncProbe(id.clone()), PyCall::AsyncGet(id)].map(python_request);
    let failed = success(
        "application/json",
        r#"{"status": "failed", "suggested_wait": 5, "error": "bad x 3"}"#,
    );
    h.exchange(&probe).assert_envelope(200, &[], &failed);
    h.exchange(&probe).assert_envelope(200, &[], &failed);
    h.exchange(&fetch)
        .assert_envelope(500, &[], &error("generic", "bad x 3"));
    h.exchange(&fetch)
        .assert_envelope(404, &[], &error("generic", "UUID not found"));
}

#[test]
fn s5_missing_or_unknown_uuid() {
    let mut h = demo();
    for path in ["asyncProbe", "asyncGet"] {
        for target in [
            format!("/{path}"),
            format!("/{path}?"),
            format!("/{path}?UUID="),
            format!("/{path}?uuid=x"),
        ] {
            h.exchange(&raw_request("GET", &target, &[], b""))
                .assert_envelope(400, &[], &error("generic", "UUID parameter is required"));
        }
        h.exchange(&raw_request(
            "GET",
            &format!("/{path}?UUID=00000000-0000-4000-8000-000000000000"),
            &[],
            b"",
        ))
        .assert_envelope(404, &[], &error("generic", "UUID not found"));
    }
}

#[test]
fn s5_bad_arguments_of_an_async_call_start_no_job() {
    let mut h = demo();
    h.exchange(&python_request(rpc("slow", "()", "{}")))
        .assert_envelope(
            400,
            &[],
            &error("generic", "slow() missing required argument 'x'"),
        );
    assert!(h.pending.is_empty());
    assert_eq!(h.svc.jobs_held(), 0);
}

// ---- Section 6: web endpoints ----

#[test]
fn s6_query_parameters_as_parse_qs_then_flattened() {
    let mut h = demo();
    let r = h.exchange(&raw_request("GET", "/echo?a=1&b=x%20y&a=2&c=&d", &[], b""));
    r.assert_envelope(
        200,
        &[],
        &success(
            "application/json",
            r#"{"query": {"a": ["1", "2"], "b": "x y"}, "body": null}"#,
        ),
    );
    // The Python client's own GET: no escaping, then requests quotes the space.
    let r = h.exchange(&python_request(get("echo", "{'a': 1, 'b': 'x y'}")));
    assert_eq!(
        r.json()["result"],
        json!({"query": {"a": "1", "b": "x y"}, "body": null})
    );
    let r = h.exchange(&python_request(get("echo", "{}")));
    assert_eq!(r.json()["result"], json!({"query": {}, "body": null}));
}

#[test]
fn s6_bodies_decoded_by_content_type() {
    let mut h = demo();
    type Case<'a> = (&'a [(&'a str, &'a str)], &'a [u8], serde_json::Value);
    let cases: [Case; 10] = [
        (
            &[("Content-Type", "application/json")],
            br#"{"k": [1, 2]}"#,
            json!({"k": [1, 2]}),
        ),
        (
            &[("Content-Type", "application/json")],
            b"{oops",
            json!(b64(b"{oops")),
        ),
        (
            &[("Content-Type", "application/json; charset=UTF-8")],
            b"[true]",
            json!([true]),
        ),
        (
            &[("Content-Type", "application/x-www-form-urlencoded")],
            b"a=1&b=x+y&a=2",
            json!({"a": ["1", "2"], "b": "x y"}),
        ),
        (
            &[("Content-Type", "text/plain")],
            "héllo".as_bytes(),
            json!("héllo"),
        ),
        (
            &[("Content-Type", "text/plain; charset=iso-8859-1")],
            b"h\xe9llo",
            json!("héllo"),
        ),
        (&[("Content-Type", "TEXT/PLAIN")], b"hi", json!("hi")),
        (
            &[("Content-Type", "application/octet-stream")],
            b"\x00\xff",
            json!(b64(b"\x00\xff")),
        ),
        (&[], b"raw", json!(b64(b"raw"))),
        (&[("Content-Type", "application/json")], b"", json!(null)),
    ];
    for (headers, body, expected) in cases {
        let r = h.exchange(&raw_request("POST", "/pecho", headers, body));
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(r.json()["result"]["body"], expected, "{headers:?} {body:?}");
    }
    // Bodies on a GET are decoded too.
    let r = h.exchange(&raw_request(
        "GET",
        "/echo",
        &[("Content-Type", "application/json")],
        b"{\"g\": 1}",
    ));
    assert_eq!(r.json()["result"]["body"], json!({"g": 1}));
    // Text that is not text is refused.
    h.exchange(&raw_request(
        "POST",
        "/pecho",
        &[("Content-Type", "text/plain")],
        b"\xff",
    ))
    .assert_envelope(
        400,
        &[],
        &error("generic", "text/plain body is not valid utf-8"),
    );
    h.exchange(&raw_request("POST", "/pecho", &[("Content-Type", "text/plain; charset=koi8-r")], b"x"))
        .assert_envelope(
            400,
            &[],
            &error("generic", r#"unsupported charset \"koi8-r\" for text/plain (supported: utf-8, iso-8859-1, us-ascii)"#),
        );
}

#[test]
fn s6_python_client_post_payloads() {
    let mut h = demo();
    let requests = python_requests(&[
        post("pecho", "{'x': 1, 'y': [1, 2]}", "{'mode': 'fast'}"),
        post("pecho", "b'\\x00\\x01binary'", "{}"),
        post("pecho", "None", "{}"),
    ]);
    let results: Vec<serde_json::Value> = requests
        .iter()
        .map(|r| h.exchange(r).json()["result"].clone())
        .collect();
    assert_eq!(
        results[0],
        json!({"query": {"mode": "fast"}, "body": {"x": 1, "y": [1, 2]}})
    );
    assert_eq!(
        results[1],
        json!({"query": {}, "body": b64(b"\x00\x01binary")})
    );
    assert_eq!(results[2], json!({"query": {}, "body": null}));
}

#[test]
fn s6_replies_map_to_envelopes() {
    let mut h = demo();
    let cases = [
        ("text", success("text/plain", r#""h\u00e9llo""#)),
        ("csv", success("text/csv", r#""a,b\n1,2\n""#)),
        (
            "bytes",
            success("application/octet-stream", r#""AAEC/w==""#),
        ),
        ("nothing", success("null", "null")),
        ("zero", success("application/json", "0")),
        ("false", success("application/json", "false")),
        ("empty_text", success("text/plain", r#""""#)),
        ("empty_list", success("application/json", "[]")),
        ("list", success("application/json", r#"[1, "two", null]"#)),
    ];
    for (name, body) in cases {
        h.exchange(&raw_request("GET", &format!("/{name}"), &[], b""))
            .assert_envelope(200, &[], &body);
    }
}

#[test]
fn s6_raw_payload_has_no_envelope() {
    let mut h = demo();
    let r = h.exchange(&python_request(get("plot", "{}")));
    assert_eq!(r.status, 200);
    assert_eq!(r.header("Content-Type"), Some("image/png"));
    assert_eq!(r.body, PNG);
    assert_eq!(r.headers.len(), 2, "{:?}", r.headers);
    let r = h.exchange(&raw_request("GET", "/raw_default", &[], b""));
    assert_eq!(r.header("Content-Type"), Some("application/octet-stream"));
    assert_eq!(r.body, b"xyz");
}

#[test]
fn s6_web_handlers_signal_retryable_states() {
    let mut h = demo();
    h.exchange(&raw_request("GET", "/busy_get", &[], b""))
        .assert_envelope(
            503,
            &[("Retry-After", "3")],
            &error("OperationInProgress", "warming up"),
        );
    // Ours: a POST handler's OperationInProgress keeps its type (upstream sends `generic`).
    h.exchange(&python_request(post("busy_post", "None", "{}")))
        .assert_envelope(
            503,
            &[("Retry-After", "4")],
            &error(
                "OperationInProgress",
                "Operation not completed. Please wait.",
            ),
        );
    h.exchange(&raw_request("GET", "/state_get", &[], b""))
        .assert_envelope(503, &[], &error("InvalidServerState", "door open"));
    h.exchange(&raw_request("POST", "/fail_post", &[], b""))
        .assert_envelope(500, &[], &error("generic", "no paper"));
}

#[test]
fn s6_hostile_query_strings_are_refused_clearly() {
    let mut h = demo();
    let many = vec!["a=1"; 1001].join("&");
    h.exchange(&raw_request("GET", &format!("/echo?{many}"), &[], b""))
        .assert_envelope(
            400,
            &[],
            &error(
                "generic",
                "query string: too many parameters (1001, at most 1000 allowed)",
            ),
        );
    let r = h.exchange(&raw_request("GET", "/echo?a=%zz%4&b=%ff%00", &[], b""));
    assert_eq!(
        r.json()["result"]["query"],
        json!({"a": "%zz%4", "b": "\u{fffd}\u{0}"})
    );
}

// ---- Routing (ours) ----

#[test]
fn routing_wrong_method_is_405_with_allow() {
    let mut h = demo();
    let cases = [
        (
            "GET",
            "/add",
            "POST",
            "method GET is not allowed on endpoint 'add' (allowed: POST)",
        ),
        (
            "POST",
            "/echo",
            "GET, HEAD",
            "method POST is not allowed on endpoint 'echo' (allowed: GET, HEAD)",
        ),
        (
            "PUT",
            "/both",
            "GET, HEAD, POST",
            "method PUT is not allowed on endpoint 'both' (allowed: GET, HEAD, POST)",
        ),
        (
            "POST",
            "/",
            "GET, HEAD",
            "method POST is not allowed on / (allowed: GET, HEAD)",
        ),
        (
            "POST",
            "/asyncGet",
            "GET, HEAD",
            "method POST is not allowed on endpoint 'asyncGet' (allowed: GET, HEAD)",
        ),
    ];
    for (method, target, allow, message) in cases {
        h.exchange(&raw_request(method, target, &[], b""))
            .assert_envelope(
                405,
                &[("Allow", allow)],
                &error("MethodNotAllowed", message),
            );
    }
    // One name, two methods.
    assert_eq!(
        h.exchange(&raw_request("GET", "/both", &[], b"")).json()["result"],
        "get"
    );
    assert_eq!(
        h.exchange(&raw_request("POST", "/both", &[], b"")).json()["result"],
        "post"
    );
}

#[test]
fn routing_percent_decoded_paths() {
    let mut h = demo();
    let good = rpc_body(
        &b64(b"\x80\x02K\x01K\x02\x86q\x00."),
        &b64(b"\x80\x02}q\x00."),
    );
    let json_ct = [("Content-Type", "application/json")];
    let r = h.exchange(&raw_request("POST", "/%61dd", &json_ct, &good));
    r.assert_envelope(200, &[], &payload_envelope(&payload_of(&3.0)));
    for (target, message) in [
        ("/%zz", "invalid percent-encoding in path"),
        ("/%ff", "path is not valid UTF-8 once percent-decoded"),
        ("/ad%00d", "path contains a NUL character"),
    ] {
        h.exchange(&raw_request("GET", target, &[], b""))
            .assert_envelope(400, &[], &error("generic", message));
    }
    // A fragment is not part of the name.
    assert_eq!(
        h.exchange(&raw_request("GET", "/text#frag", &[], b""))
            .status,
        200
    );
}

#[test]
fn pipelined_requests_are_answered_in_order() {
    let mut h = demo();
    let mut bytes = python_request(rpc("add", "(1, 2)", "{}"));
    bytes.extend(raw_request("GET", "/text", &[], b""));
    bytes.extend(raw_request("GET", "/nope", &[], b""));
    let responses = h.exchange_all(&bytes);
    let statuses: Vec<u16> = responses.iter().map(|r| r.status).collect();
    assert_eq!(statuses, [200, 200, 404]);
}

// ---- Section 7: the Python client's calls, in short ----

#[test]
fn s7_every_client_call_gets_what_the_client_accepts() {
    let mut h = demo();
    // connect
    let r = h.exchange(&python_request(PyCall::Connect));
    assert_eq!(
        (r.status, r.json()["mimetype"].clone()),
        (200, json!("application/json"))
    );
    // RPC: envelope mimetype application/json, result.payload.
    let r = h.exchange(&python_request(rpc("add", "(1, 2)", "{}")));
    assert_eq!(r.json()["mimetype"], "application/json");
    assert_eq!(
        python_unpickle(&[r.json()["result"]["payload"].as_str().unwrap()]),
        ["3.0"]
    );
    // async start: result.ID; probe: status and suggested_wait; wait: 503 + Retry-After, then payload.
    let id = start(&mut h, rpc("slow", "()", "{'x': 4}"));
    let r = h.exchange(&python_request(PyCall::AsyncProbe(id.clone())));
    assert_eq!(r.json()["result"]["status"], "in_progress");
    let r = h.exchange(&python_request(PyCall::AsyncGet(id.clone())));
    assert_eq!((r.status, r.header("Retry-After")), (503, Some("3")));
    h.run_jobs();
    let r = h.exchange(&python_request(PyCall::AsyncGet(id)));
    assert_eq!(
        python_unpickle(&[r.json()["result"]["payload"].as_str().unwrap()]),
        ["8.0"]
    );
    // web GET and POST: (mimetype, result) or raw.
    let r = h.exchange(&python_request(get("text", "{}")));
    assert_eq!(
        (r.json()["mimetype"].clone(), r.json()["result"].clone()),
        (json!("text/plain"), json!("héllo"))
    );
    let r = h.exchange(&python_request(post("pecho", "{'a': 1}", "{}")));
    assert_eq!(r.json()["result"]["body"], json!({"a": 1}));
}

#[test]
fn the_request_bytes_are_those_requests_sends() {
    let calls = [
        PyCall::Connect,
        rpc("add", "(1, 2)", "{}"),
        rpc("rpcExample", "(15,)", "{'lower': 0, 'upper': 100}"),
        get("echo", "{}"),
        get("echo", "{'a': 1, 'b': 'x y', 'c': 'é'}"),
        post("pecho", "{'x': [1, 2]}", "{'mode': 'fast'}"),
        post("pecho", "b'\\x00bytes'", "{}"),
        post("pecho", "None", "{}"),
        PyCall::AsyncProbe("5d0c8f5e-1b7c-4a3e-9f2d-0c1b2a3d4e5f".into()),
        PyCall::AsyncGet("5d0c8f5e-1b7c-4a3e-9f2d-0c1b2a3d4e5f".into()),
    ];
    let emulated = python_requests(&calls);
    let real = python_requests_via_requests(&calls);
    for (e, r) in emulated.iter().zip(&real) {
        assert_eq!(String::from_utf8_lossy(e), String::from_utf8_lossy(r));
    }
    assert_eq!(emulated.len(), calls.len());
}
