//! The scenarios: every behaviour of PROTOCOL.md and of issue 9's "slow and vanishing
//! clients" and "faults", each a function generic over the [`Transport`] under test.

use std::io::{Read, Write};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use serde_json::json;
use tarp_blocking::{kwargs, Client, ClientError, EndpointKind, JobStatus, WebBody, WebData};
use tarp_core::http::Limits;
use tarp_core::wire::pickle::{self, NdArray, Value};

use super::raw::{self, RawConn};
use super::service::{conformance_service, Gate, TINY_PNG};
use super::{certs, eventually, python, Options, RunningServer, Transport};

fn start<T: Transport>(options: Options) -> (Box<dyn RunningServer>, Arc<Gate>) {
    let (service, gate) = conformance_service();
    (T::start(service, &options), gate)
}

fn start_default<T: Transport>() -> Box<dyn RunningServer> {
    start::<T>(Options::default()).0
}

fn connect(server: &dyn RunningServer) -> Client {
    Client::connect(&server.url()).expect("client connects")
}

/// Waits until the server holds no connection (every client gone), or fails the test.
fn settles(server: &dyn RunningServer) {
    assert!(
        eventually(Duration::from_secs(5), || server.connections() == 0),
        "the server still holds {} connection(s)",
        server.connections()
    );
}

fn linspace(n: usize, lower: f64, upper: f64) -> Vec<f64> {
    (0..n)
        .map(|i| lower + (upper - lower) * i as f64 / (n - 1) as f64)
        .collect()
}

/// The JSON body of an RPC call, pickled here.
fn rpc_body(args: &Value, kwargs: &Value) -> Vec<u8> {
    rpc_body_raw(&pickle::encode(args), &pickle::encode(kwargs))
}

fn rpc_body_raw(args_pickle: &[u8], kwargs_pickle: &[u8]) -> Vec<u8> {
    serde_json::to_vec(
        &json!({"args": B64.encode(args_pickle), "kwargs": B64.encode(kwargs_pickle)}),
    )
    .unwrap()
}

fn tuple(items: Vec<Value>) -> Value {
    Value::Tuple(Arc::new(items))
}

fn empty_dict() -> Value {
    Value::Dict(Arc::new(Vec::new()))
}

// ---------------------------------------------------------------------------------------------
// Discovery and sync RPC

/// PROTOCOL.md 3: `GET /` lists every endpoint with its kind, description and our extras.
pub fn discovery_lists_every_endpoint<T: Transport>() {
    let server = start_default::<T>();
    let client = connect(&*server);
    let ep = client.endpoint("rpcExample").expect("rpcExample listed");
    assert_eq!(ep.kind, EndpointKind::Rpc);
    assert_eq!(ep.description, "numpy.linspace(lower, upper, value).");
    assert_eq!(ep.params, ["value", "lower", "upper"]);
    assert_eq!(
        ep.defaults,
        [
            ("lower".to_owned(), json!(0)),
            ("upper".to_owned(), json!(10))
        ]
    );
    let ep = client.endpoint("my_long_function").unwrap();
    assert_eq!(
        (ep.kind, ep.suggested_wait),
        (EndpointKind::AsyncRpc, Some(1.0))
    );
    let ep = client.endpoint("echo").unwrap();
    assert_eq!(
        (ep.kind, ep.query_params.clone()),
        (EndpointKind::Get, vec!["a".to_owned(), "b".to_owned()])
    );
    let ep = client.endpoint("pecho").unwrap();
    assert_eq!(ep.kind, EndpointKind::Post);
    assert_eq!(ep.payload_mimetype.as_deref(), Some("application/json"));
    assert_eq!(ep.payload_schema, Some(json!({"type": "object"})));
    assert_eq!(
        client.endpoint("invalid").unwrap().description,
        "No description provided"
    );
    let count = |k| client.endpoints().iter().filter(|e| e.kind == k).count();
    assert_eq!(
        [
            count(EndpointKind::Get),
            count(EndpointKind::Post),
            count(EndpointKind::Rpc),
            count(EndpointKind::AsyncRpc)
        ],
        [8, 2, 11, 4]
    );
    // The document's shape on the wire: the Python library's sections, in its order.
    let mut conn = RawConn::connect(server.addr());
    conn.send(&raw::get("/", "")).unwrap();
    let resp = conn.expect_response();
    assert_eq!(resp.status, 200);
    let text = String::from_utf8(resp.body.clone()).unwrap();
    assert!(
        text.starts_with(
            r#"{"status": "success", "mimetype": "application/json", "result": {"GET": ["#
        ),
        "{text}"
    );
    let doc = resp.json();
    let keys: Vec<&String> = doc["result"].as_object().unwrap().keys().collect();
    assert_eq!(keys, ["GET", "POST", "RPC", "ASYNCRPC"]);
}

/// PROTOCOL.md 4: positional and keyword arguments, typed results, numpy arrays.
pub fn sync_rpc_with_positional_and_keyword_arguments<T: Transport>() {
    let server = start_default::<T>();
    let client = connect(&*server);
    assert_eq!(client.call::<i64>("my_function", (1, 2)).unwrap(), 3);
    assert_eq!(client.call::<f64>("add", (1.5, 2)).unwrap(), 3.5);
    let xs: Vec<f64> = client
        .call_with("rpcExample", (5,), kwargs! {"upper" => 1})
        .unwrap();
    assert_eq!(xs, [0.0, 0.25, 0.5, 0.75, 1.0]);
    let xs: Vec<f64> = client
        .rpc("rpcExample")
        .arg(3)
        .kwarg("lower", -1)
        .kwarg("upper", 1)
        .call()
        .unwrap();
    assert_eq!(xs, [-1.0, 0.0, 1.0]);
    let array: NdArray = client.call("rpcExample", (4,)).unwrap();
    assert_eq!(array.shape(), [4]);
    assert_eq!(array.as_f64().unwrap(), linspace(4, 0.0, 10.0).as_slice());
    assert_eq!(
        client
            .call_with::<i64>("my_function", (), kwargs! {"y" => 5, "x" => 2})
            .unwrap(),
        7
    );
    // Any pickle value goes there and back: containers, bytes, big ints, sets, arrays.
    let value = tuple(vec![
        Value::Int(1),
        Value::from("a"),
        Value::List(Arc::new(vec![Value::Float(1.5), Value::None])),
        Value::Dict(Arc::new(vec![(
            Value::from("k"),
            Value::Bytes(b"bytes".to_vec().into()),
        )])),
        Value::FrozenSet(Arc::new(vec![Value::Int(2)])),
        Value::NdArray(NdArray::from_shape_vec(vec![2, 2], vec![1i32, 2, 3, 4]).unwrap()),
    ]);
    let back = client
        .call_value("echo_value", vec![value.clone()], Default::default())
        .unwrap();
    assert_eq!(back, value);
    // A big result arrives whole.
    let big: Value = client.call("big", (3 << 20,)).unwrap();
    assert!(matches!(&big, Value::Bytes(b) if b.len() == 3 << 20));
}

/// PROTOCOL.md 4 (ours): wrong arguments are a 400 naming the argument.
pub fn rpc_argument_errors_are_400_naming_the_argument<T: Transport>() {
    let server = start_default::<T>();
    let client = connect(&*server);
    let bad = |r: Result<i64, ClientError>| match r {
        Err(ClientError::BadArgument { message }) => message,
        other => panic!("expected BadArgument, got {other:?}"),
    };
    let m = bad(client.call("my_function", (1,)));
    assert!(m.contains("'y'"), "{m}");
    let m = bad(client.call("my_function", (1, 2, 3)));
    assert!(m.contains("positional"), "{m}");
    let m = bad(client.call_with("my_function", (1, 2), kwargs! {"z" => 1}));
    assert!(m.contains("'z'"), "{m}");
    let m = bad(client.call("my_function", ("one", 2)));
    assert!(m.contains('x'), "{m}");
    // A body that is not {args, kwargs}: 400 too.
    let mut conn = RawConn::connect(server.addr());
    conn.send(&raw::post(
        "/my_function",
        "application/json",
        b"{\"args\": \"\"}",
    ))
    .unwrap();
    let resp = conn.expect_response();
    assert_eq!(resp.status, 400);
    assert_eq!(resp.json()["status"], "error");
}

/// PROTOCOL.md 2: handler failures become 500/503 envelopes; the client types them.
pub fn handler_errors_map_to_typed_client_errors<T: Transport>() {
    let server = start_default::<T>();
    let client = connect(&*server);
    match client.call::<()>("raises", ("bad thing",)) {
        Err(ClientError::Remote {
            status,
            kind,
            message,
        }) => {
            assert_eq!(
                (status, kind.as_str(), message.as_str()),
                (500, "generic", "bad thing")
            );
        }
        other => panic!("{other:?}"),
    }
    match client.call::<()>("busy", (3,)) {
        Err(ClientError::OperationInProgress {
            retry_after,
            message,
        }) => {
            assert_eq!(retry_after, Duration::from_secs(3));
            assert_eq!(message, "busy, come back later");
        }
        other => panic!("{other:?}"),
    }
    match client.call::<()>("invalid", ()) {
        Err(ClientError::InvalidServerState { message }) => assert_eq!(message, "not ready"),
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        client.call::<()>("no_such_endpoint", ()),
        Err(ClientError::NotFound { .. })
    ));
    // A result of the wrong Rust type is a decoding error, not a remote one.
    assert!(matches!(
        client.call::<String>("my_function", (1, 2)),
        Err(ClientError::Decode(_))
    ));
}

/// Issue 9, faults: a panicking handler costs its request a 500; the server keeps serving.
pub fn panicking_handler_is_500_and_the_server_keeps_serving<T: Transport>() {
    let server = start_default::<T>();
    let client = connect(&*server);
    for _ in 0..3 {
        match client.call::<()>("panics", ()) {
            Err(ClientError::Remote {
                status: 500,
                message,
                ..
            }) => assert!(message.contains("panicked"), "{message}"),
            other => panic!("{other:?}"),
        }
    }
    for i in 0..20 {
        assert_eq!(client.call::<i64>("my_function", (i, 1)).unwrap(), i + 1);
    }
    drop(client);
    settles(&*server);
}

/// PROTOCOL.md 4: an RPC with a query string is refused.
pub fn rpc_with_a_query_string_is_400<T: Transport>() {
    let server = start_default::<T>();
    let mut conn = RawConn::connect(server.addr());
    let body = rpc_body(&tuple(vec![Value::Int(1), Value::Int(2)]), &empty_dict());
    conn.send(&raw::post("/my_function?x=1", "application/json", &body))
        .unwrap();
    let resp = conn.expect_response();
    assert_eq!(resp.status, 400);
    assert_eq!(
        resp.json()["message"],
        "RPC endpoints should not have query parameters"
    );
}

/// PROTOCOL.md 4 and issue 9: hostile pickles get a 400 quickly, and nothing runs.
pub fn hostile_pickles_are_400_and_never_executed<T: Transport>() {
    let server = start_default::<T>();
    let marker = certs::temp_dir("hostile").join("executed");
    // pickle.dumps of os.system("touch <marker>"), as a malicious client would send.
    let cmd = format!("touch {}", marker.display());
    let mut evil = b"\x80\x02cos\nsystem\nq\x00X".to_vec();
    evil.extend_from_slice(&(cmd.len() as u32).to_le_bytes());
    evil.extend_from_slice(cmd.as_bytes());
    evil.extend_from_slice(b"q\x01\x85q\x02Rq\x03\x85q\x04.");
    let mut huge = b"\x80\x04\x8d".to_vec(); // BINUNICODE8 claiming 2^62 bytes
    huge.extend_from_slice(&(1u64 << 62).to_le_bytes());
    huge.push(b'.');
    let mut deep = b"\x80\x02".to_vec(); // 100,000 nested tuples
    deep.extend(vec![b'('; 100_000]);
    deep.extend(vec![b't'; 100_000]);
    deep.push(b'.');
    let kwargs = pickle::encode(&empty_dict());
    for (name, args) in [
        ("os.system", evil),
        ("huge length", huge),
        ("deep nesting", deep),
    ] {
        let mut conn = RawConn::connect(server.addr());
        let t0 = Instant::now();
        conn.send(&raw::post(
            "/echo_value",
            "application/json",
            &rpc_body_raw(&args, &kwargs),
        ))
        .unwrap();
        let resp = conn.expect_response();
        assert_eq!(
            resp.status,
            400,
            "{name}: {:?}",
            String::from_utf8_lossy(&resp.body)
        );
        assert!(
            t0.elapsed() < Duration::from_secs(2),
            "{name} took {:?}",
            t0.elapsed()
        );
    }
    std::thread::sleep(Duration::from_millis(100));
    assert!(!marker.exists(), "a pickle was executed");
    assert_eq!(
        connect(&*server)
            .call::<i64>("my_function", (1, 1))
            .unwrap(),
        2
    );
}

// ---------------------------------------------------------------------------------------------
// Async RPC

/// PROTOCOL.md 5: start, status, probe, wait (honouring Retry-After), then forgotten.
pub fn async_job_wait_status_and_probe<T: Transport>() {
    let server = start_default::<T>();
    let client = connect(&*server);
    let handle = client.start("my_long_function", (1, 2)).unwrap();
    assert_eq!(handle.id().len(), 36, "a UUID string: {}", handle.id());
    assert_eq!(handle.suggested_wait(), Duration::from_secs(1));
    assert_eq!(handle.status().unwrap(), JobStatus::InProgress);
    let probe = handle.probe().unwrap();
    assert_eq!(
        (probe.status, probe.suggested_wait, probe.error),
        (JobStatus::InProgress, Duration::from_secs(1), None)
    );
    let t0 = Instant::now();
    assert_eq!(handle.wait::<i64>().unwrap(), 3);
    // The first asyncGet answered 503 + Retry-After: 1, and wait() slept that long.
    assert!(
        t0.elapsed() >= Duration::from_millis(900),
        "{:?}",
        t0.elapsed()
    );
    assert!(t0.elapsed() < Duration::from_secs(5), "{:?}", t0.elapsed());
    // Fetched, then forgotten.
    assert!(matches!(
        handle.try_get_value(),
        Err(ClientError::NotFound { .. })
    ));
    assert!(matches!(handle.probe(), Err(ClientError::NotFound { .. })));
    // call() on an async endpoint starts and waits.
    let xs: Vec<f64> = client.call("asyncRPCExample", (3,)).unwrap();
    assert_eq!(xs, [0.0, 5.0, 10.0]);
    // A completed job is reported so before it is fetched.
    let handle = client.start("my_long_function", (2, 2)).unwrap();
    assert!(eventually(Duration::from_secs(5), || handle
        .status()
        .unwrap()
        == JobStatus::Completed));
    assert_eq!(handle.try_get_value().unwrap(), Some(Value::Int(4)));
    assert!(eventually(Duration::from_secs(5), || server.jobs_active() == 0));
}

/// PROTOCOL.md 5: `waitCycle` probes, sleeps the suggested wait, returns None until done.
pub fn async_job_wait_cycle<T: Transport>() {
    let server = start_default::<T>();
    let client = connect(&*server);
    let handle = client
        .rpc("my_long_function")
        .arg(2)
        .kwarg("y", 3)
        .start()
        .unwrap();
    let mut cycles = 0;
    let value = loop {
        cycles += 1;
        assert!(cycles < 20, "never completed");
        if let Some(v) = handle.wait_cycle::<i64>().unwrap() {
            break v;
        }
    };
    assert_eq!(value, 5);
    assert!(
        cycles >= 2,
        "the first probe saw it running ({cycles} cycles)"
    );
}

/// PROTOCOL.md 5 (ours): a failed or panicking job is reported `failed` with its message.
pub fn async_job_failures_are_reported<T: Transport>() {
    let server = start_default::<T>();
    let client = connect(&*server);
    let handle = client.start("failing_job", ()).unwrap();
    assert!(eventually(Duration::from_secs(5), || handle
        .status()
        .unwrap()
        == JobStatus::Failed));
    assert_eq!(
        handle.probe().unwrap().error.as_deref(),
        Some("the job failed")
    );
    match handle.wait_cycle::<()>() {
        Err(ClientError::JobFailed { message }) => assert_eq!(message, "the job failed"),
        other => panic!("{other:?}"),
    }
    match handle.wait::<()>() {
        Err(ClientError::Remote {
            status: 500,
            message,
            ..
        }) => assert_eq!(message, "the job failed"),
        other => panic!("{other:?}"),
    }
    assert!(matches!(handle.probe(), Err(ClientError::NotFound { .. })));
    let handle = client.start("panicking_job", ()).unwrap();
    assert!(eventually(Duration::from_secs(5), || handle
        .status()
        .unwrap()
        == JobStatus::Failed));
    let error = handle.probe().unwrap().error.unwrap_or_default();
    assert!(error.contains("panicked"), "{error}");
    // The workers survived: the next job runs.
    assert_eq!(client.call::<i64>("my_long_function", (1, 1)).unwrap(), 2);
}

/// PROTOCOL.md 5: missing UUID is 400, unknown UUID is 404.
pub fn async_probe_and_get_refuse_missing_and_unknown_ids<T: Transport>() {
    let server = start_default::<T>();
    let mut conn = RawConn::connect(server.addr());
    for (target, status) in [
        ("/asyncProbe", 400),
        ("/asyncGet", 400),
        ("/asyncProbe?UUID=00000000-0000-4000-8000-000000000000", 404),
        ("/asyncGet?UUID=nope", 404),
    ] {
        conn.send(&raw::get(target, "")).unwrap();
        let resp = conn.expect_response();
        assert_eq!(resp.status, status, "{target}");
        assert_eq!(resp.json()["status"], "error", "{target}");
    }
    let client = connect(&*server);
    assert!(matches!(
        client.job("nope").status(),
        Err(ClientError::NotFound { .. })
    ));
}

// ---------------------------------------------------------------------------------------------
// Web-like endpoints

/// PROTOCOL.md 6: query parameters, bodies by content type, every kind of result.
pub fn web_get_and_post_with_query_and_body<T: Transport>() {
    let server = start_default::<T>();
    let client = connect(&*server);
    let json_of = |r: (Option<String>, WebData)| match r {
        (Some(m), WebData::Json(v)) if m == "application/json" => v,
        other => panic!("{other:?}"),
    };
    let v = json_of(
        client
            .get("echo")
            .query("a", 1)
            .query("b", "x y+z")
            .query("a", 2)
            .send()
            .unwrap(),
    );
    assert_eq!(
        v,
        json!({"params": {"a": ["1", "2"], "b": "x y+z"}, "body": null})
    );
    let v = json_of(
        client
            .post("pecho")
            .query("q", 3)
            .json(&json!({"k": [1, 2]}))
            .unwrap()
            .send()
            .unwrap(),
    );
    assert_eq!(v, json!({"params": {"q": "3"}, "body": {"k": [1, 2]}}));
    let v = json_of(client.post("pecho").bytes(b"raw".to_vec()).send().unwrap());
    assert_eq!(v["body"], "cmF3");
    let v = json_of(
        client
            .post("pecho")
            .body(WebBody::Typed {
                content_type: "application/x-www-form-urlencoded".into(),
                bytes: b"a=1&a=2&b=z".to_vec(),
            })
            .send()
            .unwrap(),
    );
    assert_eq!(v["body"], json!({"a": ["1", "2"], "b": "z"}));
    let v = json_of(
        client
            .post("pecho")
            .body(WebBody::Typed {
                content_type: "text/plain; charset=utf-8".into(),
                bytes: "héllo".as_bytes().to_vec(),
            })
            .send()
            .unwrap(),
    );
    assert_eq!(v["body"], "héllo");
    let v = json_of(
        client
            .get("echo")
            .json(&json!({"x": 1}))
            .unwrap()
            .send()
            .unwrap(),
    );
    assert_eq!(v["body"], json!({"x": 1}), "a GET may carry a body");
    assert_eq!(
        client.get("text").send().unwrap(),
        (Some("text/plain".into()), WebData::Text("hello".into()))
    );
    assert_eq!(
        client.get("blob").send().unwrap(),
        (
            Some("application/octet-stream".into()),
            WebData::Bytes(vec![1, 2, 3])
        )
    );
    assert_eq!(
        client.get("nothing").send().unwrap(),
        (None, WebData::Json(serde_json::Value::Null))
    );
    assert_eq!(
        client.get("get_plot").send().unwrap(),
        (
            Some("image/png".into()),
            WebData::Raw {
                mime: "image/png".into(),
                bytes: TINY_PNG.to_vec()
            }
        )
    );
    // Raw query strings decode as Python's parse_qs: %-escapes, + as space, empty values dropped.
    let mut conn = RawConn::connect(server.addr());
    conn.send(&raw::get("/echo?a=1&b=x%20y&a=2&c=&d=1+2", ""))
        .unwrap();
    let resp = conn.expect_response();
    assert_eq!(
        resp.json()["result"]["params"],
        json!({"a": ["1", "2"], "b": "x y", "d": "1 2"})
    );
}

/// PROTOCOL.md 6: a web handler's retryable states, typed (ours, even for POST).
pub fn web_retryable_errors<T: Transport>() {
    let server = start_default::<T>();
    let client = connect(&*server);
    for call in [client.get("busy_get"), client.post("busy_post")] {
        match call.send() {
            Err(ClientError::OperationInProgress { retry_after, .. }) => {
                assert_eq!(retry_after, Duration::from_secs(2))
            }
            other => panic!("{other:?}"),
        }
    }
    assert!(matches!(
        client.get("invalid_get").send(),
        Err(ClientError::InvalidServerState { .. })
    ));
    assert!(matches!(
        client.get("no_such_page").send(),
        Err(ClientError::NotFound { .. })
    ));
}

/// PROTOCOL.md 1-2: `Content-Type` exactly `application/json`, `Content-Length` always, the
/// envelope written as the Python library writes it.
pub fn envelopes_are_exactly_json_with_content_length<T: Transport>() {
    let server = start_default::<T>();
    let mut conn = RawConn::connect(server.addr());
    conn.send(&raw::get("/text", "")).unwrap();
    let resp = conn.expect_response();
    assert_eq!((resp.version.as_str(), resp.status), ("HTTP/1.1", 200));
    assert_eq!(resp.header("Content-Type"), Some("application/json"));
    assert_eq!(
        resp.header("Content-Length"),
        Some(&*resp.body.len().to_string())
    );
    assert_eq!(
        resp.body,
        br#"{"status": "success", "mimetype": "text/plain", "result": "hello"}"#
    );
    conn.send(&raw::get("/no_such_page", "")).unwrap();
    let resp = conn.expect_response();
    assert_eq!(resp.status, 404);
    assert_eq!(
        resp.body,
        br#"{"status": "error", "type": "generic", "message": "Endpoint not found"}"#
    );
    conn.send(&raw::get("/busy_get", "")).unwrap();
    let resp = conn.expect_response();
    assert_eq!((resp.status, resp.header("Retry-After")), (503, Some("2")));
    assert_eq!(resp.json()["type"], "OperationInProgress");
    conn.send(&raw::get("/get_plot", "")).unwrap();
    let resp = conn.expect_response();
    assert_eq!(
        (resp.header("Content-Type"), resp.body.as_slice()),
        (Some("image/png"), TINY_PNG)
    );
}

/// PROTOCOL.md 1 (ours): keep-alive, pipelining in order, HTTP/1.0 closes unless asked.
pub fn keep_alive_pipelining_and_http10<T: Transport>() {
    let server = start_default::<T>();
    let mut conn = RawConn::connect(server.addr());
    let mut burst = raw::get("/text", "");
    burst.extend(raw::get("/blob", ""));
    burst.extend(raw::post("/pecho", "application/json", b"{\"n\": 3}"));
    conn.send(&burst).unwrap();
    let results: Vec<serde_json::Value> = (0..3)
        .map(|_| conn.expect_response().json()["result"].clone())
        .collect();
    assert_eq!(
        results,
        [
            json!("hello"),
            json!("AQID"),
            json!({"params": {}, "body": {"n": 3}})
        ]
    );
    conn.send(&raw::get("/text", "")).unwrap();
    assert_eq!(
        conn.expect_response().status,
        200,
        "still open after the burst"
    );

    let mut conn = RawConn::connect(server.addr());
    conn.send(b"GET /text HTTP/1.0\r\n\r\n").unwrap();
    let resp = conn.expect_response();
    assert_eq!(resp.status, 200);
    assert!(
        conn.closed_within(Duration::from_secs(2)),
        "HTTP/1.0 without keep-alive closes"
    );

    let mut conn = RawConn::connect(server.addr());
    conn.send(b"GET /text HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        .unwrap();
    assert_eq!(conn.expect_response().status, 200);
    conn.send(b"GET /blob HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        .unwrap();
    assert_eq!(conn.expect_response().status, 200);
}

// ---------------------------------------------------------------------------------------------
// Slow and vanishing clients (issue 9)

fn short_limits() -> Limits {
    Limits {
        header_timeout: Duration::from_millis(600),
        idle_timeout: Duration::from_millis(400),
        body_timeout: Duration::from_millis(600),
        write_timeout: Duration::from_millis(500),
        ..Limits::default()
    }
}

/// A client sending its head one byte at a time is answered 408 and cut off at the head
/// deadline; others are served meanwhile.
pub fn slowloris_is_cut_after_the_head_deadline<T: Transport>() {
    let (server, _) = start::<T>(Options {
        limits: short_limits(),
        ..Options::default()
    });
    let mut slow = RawConn::connect(server.addr());
    let t0 = Instant::now();
    let head = b"GET /text HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Padding: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n";
    let mut answered = false;
    for (i, byte) in head.iter().enumerate() {
        if slow.stream.write_all(&[*byte]).is_err() {
            break;
        }
        // Between bytes, see whether the server has answered (or closed).
        slow.stream
            .set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        let mut peek = [0u8; 1];
        match slow.stream.peek(&mut peek) {
            Ok(_) => {
                answered = true;
                break;
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => break,
        }
        if i == 3 {
            // Meanwhile a well-behaved client is served.
            assert_eq!(
                connect(&*server)
                    .call::<i64>("my_function", (1, 2))
                    .unwrap(),
                3
            );
        }
    }
    assert!(answered, "the server never answered the slow client");
    let elapsed = t0.elapsed();
    slow.stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let resp = slow.expect_response();
    assert_eq!(resp.status, 408);
    assert!(slow.closed_within(Duration::from_secs(3)));
    assert!(
        elapsed >= Duration::from_millis(500) && elapsed < Duration::from_millis(2500),
        "cut after {elapsed:?}"
    );
    settles(&*server);
}

/// A kept-alive connection left idle is closed at the idle deadline, without a response.
pub fn idle_keep_alive_connection_is_closed<T: Transport>() {
    let (server, _) = start::<T>(Options {
        limits: short_limits(),
        ..Options::default()
    });
    let mut conn = RawConn::connect(server.addr());
    conn.send(&raw::get("/text", "")).unwrap();
    assert_eq!(conn.expect_response().status, 200);
    let t0 = Instant::now();
    assert!(
        conn.closed_within(Duration::from_secs(3)),
        "idle connection kept open"
    );
    assert!(
        t0.elapsed() >= Duration::from_millis(300),
        "closed too early: {:?}",
        t0.elapsed()
    );
    assert!(conn.leftover().is_empty(), "no response for an idle close");
    // A connection that never sends a byte is closed too.
    let mut silent = RawConn::connect(server.addr());
    assert!(silent.closed_within(Duration::from_secs(3)));
    settles(&*server);
}

/// A client that disconnects mid-request, mid-response or mid-pipeline costs only its own
/// connection; async jobs it started still complete; the server keeps serving.
pub fn vanishing_clients_cost_only_their_connection<T: Transport>() {
    let server = start_default::<T>();
    let client = connect(&*server);
    assert_eq!(client.call::<i64>("my_function", (1, 2)).unwrap(), 3);
    drop(client);
    settles(&*server);
    let addr = server.addr();
    for round in 0..3 {
        // Mid-head.
        RawConn::connect(addr)
            .send(b"GET /text HTTP/1.1\r\nHost: x\r\nX-Half")
            .unwrap();
        // Mid-body.
        RawConn::connect(addr)
            .send(b"POST /pecho HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"a\":")
            .unwrap();
        // Mid-response: a 32 MiB answer nobody reads.
        let mut c = RawConn::connect(addr);
        c.send(&raw::get("/big_web?n=33554432", "")).unwrap();
        let mut first = [0u8; 1024];
        let _ = c.stream.read(&mut first);
        drop(c);
        // Mid-pipeline.
        let mut burst = raw::get("/text", "");
        burst.extend(raw::get("/big_web?n=8388608", ""));
        burst.extend(raw::get("/blob", ""));
        RawConn::connect(addr).send(&burst).unwrap();
        // An async job whose client is gone still runs to completion.
        let body = rpc_body(
            &tuple(vec![Value::Int(round), Value::Int(1)]),
            &empty_dict(),
        );
        RawConn::connect(addr)
            .send(&raw::post("/my_long_function", "application/json", &body))
            .unwrap();
    }
    settles(&*server);
    assert!(
        eventually(Duration::from_secs(10), || server.jobs_active() == 0),
        "jobs did not finish"
    );
    assert_eq!(
        connect(&*server)
            .call::<i64>("my_function", (2, 2))
            .unwrap(),
        4
    );
}

/// A client that stops reading its response is cut at the write deadline, while it still
/// holds its socket open.
pub fn client_that_stops_reading_is_cut_after_the_write_deadline<T: Transport>() {
    let (server, _) = start::<T>(Options {
        limits: short_limits(),
        ..Options::default()
    });
    let mut stalled = RawConn::connect(server.addr());
    stalled.send(&raw::get("/big_web?n=134217728", "")).unwrap();
    assert!(eventually(Duration::from_secs(2), || server.connections() == 1));
    let t0 = Instant::now();
    assert!(
        eventually(Duration::from_secs(10), || server.connections() == 0),
        "a peer that does not read held its connection"
    );
    assert!(
        t0.elapsed() >= Duration::from_millis(300),
        "cut too early: {:?}",
        t0.elapsed()
    );
    drop(stalled);
    assert_eq!(
        connect(&*server)
            .call::<i64>("my_function", (1, 2))
            .unwrap(),
        3
    );
}

/// A handler that takes long holds only its own request.
pub fn slow_handler_does_not_block_other_clients<T: Transport>() {
    let server = start_default::<T>();
    let url = server.url();
    let slow =
        std::thread::spawn(move || Client::connect(&url).unwrap().call::<f64>("sleep", (2.0,)));
    std::thread::sleep(Duration::from_millis(100));
    let client = connect(&*server);
    for i in 0..10 {
        assert_eq!(client.call::<i64>("my_function", (i, i)).unwrap(), 2 * i);
    }
    assert!(
        !slow.is_finished(),
        "the quick calls waited for the slow one"
    );
    assert_eq!(slow.join().unwrap().unwrap(), 2.0);
}

/// Issue 9, faults: shutdown stops accepting, answers the request in flight, closes idle
/// connections, then returns.
pub fn graceful_shutdown_finishes_the_request_in_flight<T: Transport>() {
    let (server, gate) = start::<T>(Options::default());
    let addr = server.addr();
    let url = server.url();
    let in_flight =
        std::thread::spawn(move || Client::connect(&url).unwrap().call::<i64>("gated", (7,)));
    assert!(
        eventually(Duration::from_secs(5), || gate.waiting() == 1),
        "the call never reached the handler"
    );
    let mut idle = RawConn::connect(addr);
    idle.send(&raw::get("/text", "")).unwrap();
    assert_eq!(idle.expect_response().status, 200);
    let t0 = Instant::now();
    let stopper = std::thread::spawn(move || server.shutdown());
    assert!(
        idle.closed_within(Duration::from_secs(3)),
        "idle connection kept open during shutdown"
    );
    assert!(
        eventually(Duration::from_secs(3), || std::net::TcpStream::connect(
            addr
        )
        .is_err()),
        "still accepting during shutdown"
    );
    assert!(
        !stopper.is_finished(),
        "shutdown returned with a request in flight"
    );
    gate.open();
    assert_eq!(
        in_flight.join().unwrap().unwrap(),
        7,
        "the request in flight was answered"
    );
    stopper.join().unwrap();
    assert!(t0.elapsed() < Duration::from_secs(8), "{:?}", t0.elapsed());
}

// ---------------------------------------------------------------------------------------------
// TLS and the Python client

/// TLS with a certificate made at test time: trusted CA works, anything else is a TLS error.
pub fn tls_end_to_end_with_our_client<T: Transport>() {
    let pki = certs::generate();
    let (server, _) = start::<T>(Options {
        tls: Some((pki.cert.clone(), pki.key.clone())),
        ..Options::default()
    });
    let url = server.url();
    assert!(url.starts_with("https://"), "{url}");
    let client = Client::builder(&url).ca_file(&pki.ca).connect().unwrap();
    assert_eq!(client.call::<i64>("my_function", (20, 22)).unwrap(), 42);
    assert_eq!(
        client
            .start("my_long_function", (1, 2))
            .unwrap()
            .wait::<i64>()
            .unwrap(),
        3
    );
    assert_eq!(
        client.get("text").send().unwrap().1,
        WebData::Text("hello".into())
    );
    let big: Value = client.call("big", (5 << 20,)).unwrap();
    assert!(matches!(&big, Value::Bytes(b) if b.len() == 5 << 20));
    let localhost = url.replace("127.0.0.1", "localhost");
    assert!(
        Client::builder(&localhost)
            .ca_file(&pki.ca)
            .connect()
            .is_ok(),
        "DNS name in the certificate"
    );
    assert!(matches!(
        Client::builder(&url).ca_file(&pki.other_ca).connect(),
        Err(ClientError::Tls { .. })
    ));
    assert!(
        matches!(Client::connect(&url), Err(ClientError::Tls { .. })),
        "not in the system's roots"
    );
    assert!(
        Client::connect(&url.replace("https://", "http://")).is_err(),
        "plain HTTP to a TLS port"
    );
    drop(client);
    settles(&*server);
}

/// PROTOCOL.md 7: the Python client (standard-library twin) drives every feature.
pub fn python_client_speaks_the_whole_protocol<T: Transport>() {
    python::require_numpy();
    let server = start_default::<T>();
    python::run_client(&server.url(), None, PYTHON_SCENARIO);
    settles(&*server);
}

/// The Python client over TLS, trusting the CA file as `server_key`.
pub fn python_client_over_tls<T: Transport>() {
    let pki = certs::generate();
    let (server, _) = start::<T>(Options {
        tls: Some((pki.cert.clone(), pki.key.clone())),
        ..Options::default()
    });
    python::run_client(
        &server.url(),
        Some(&pki.ca),
        r#"
assert c.my_function(1, 2) == 3
assert c.echo(a=1) == ("application/json", {"params": {"a": "1"}, "body": None})
assert c.my_long_function(2, 2).wait() == 4
"#,
    );
}

/// What `python_client_speaks_the_whole_protocol` runs, with `c` the connected client.
pub const PYTHON_SCENARIO: &str = r#"
import numpy
assert c.my_function(1, 2) == 3
assert c.my_function(x=2, y=5) == 7
assert c.my_function.__doc__ == "Adds two numbers."
xs = c.rpcExample(5, upper=1)
assert isinstance(xs, numpy.ndarray) and xs.dtype == numpy.float64, repr(xs)
assert xs.tolist() == [0.0, 0.25, 0.5, 0.75, 1.0]
assert c.rpcExample(3, lower=-1, upper=1).tolist() == [-1.0, 0.0, 1.0]
arr = numpy.arange(6, dtype="<i4").reshape(2, 3)
value = (1, "a", [1.5, None], {"k": b"bytes"}, frozenset({2}), {3}, 2 ** 100, -(2 ** 70), True, arr)
back = c.echo_value(value)
assert back[:9] == value[:9], repr(back)
assert isinstance(back[9], numpy.ndarray) and back[9].dtype == arr.dtype and (back[9] == arr).all()
shared = ["s"]
assert c.echo_value((shared, shared)) == (["s"], ["s"])
assert c.echo_value(numpy.float64(2.5)) == 2.5

h = c.my_long_function(1, 2)
assert h.status() == "in_progress"
assert h.probe() == {"status": "in_progress", "suggested_wait": 1}
assert h.wait() == 3
h = c.my_long_function(2, 3)
r, cycles = None, 0
while r is None:
    r = h.waitCycle()
    cycles += 1
assert r == 5 and cycles >= 2, (r, cycles)
h = c.failing_job()
deadline = time.time() + 10
while h.status() == "in_progress" and time.time() < deadline:
    time.sleep(0.05)
assert h.status() == "failed"
e = expect_error(Exception, h.waitCycle)
assert "the job failed" in str(e), str(e)
e = expect_error(Exception, h.wait)
assert str(e) == "the job failed", str(e)
e = expect_error(Exception, h.probe)
assert str(e) == "API endpoint not found.", str(e)

assert c.echo(a=1, b="x y") == ("application/json", {"params": {"a": "1", "b": "x y"}, "body": None})
assert c.pecho({"k": [1, 2]}, q=3) == ("application/json", {"params": {"q": "3"}, "body": {"k": [1, 2]}})
assert c.pecho(b"raw")[1]["body"] == "cmF3"
assert c.text() == ("text/plain", "hello")
assert c.blob() == ("application/octet-stream", "AQID")
assert c.nothing() == (None, None)
mime, png = c.get_plot()
assert mime == "image/png" and png.startswith(b"\x89PNG\r\n\x1a\n"), (mime, png[:8])

e = expect_error(OperationInProgress, c.busy, 3)
assert e.retry_after == 3 and e.message == "busy, come back later", (e.retry_after, e.message)
e = expect_error(InvalidServerState, c.invalid)
assert e.message == "not ready"
e = expect_error(Exception, c.raises, "bad thing")
assert str(e) == "bad thing", str(e)
e = expect_error(Exception, c.panics)
assert "panicked" in str(e), str(e)
assert expect_error(OperationInProgress, c.busy_get).retry_after == 2
assert expect_error(OperationInProgress, c.busy_post).retry_after == 2
assert expect_error(InvalidServerState, c.invalid_get).message == "not ready"
e = expect_error(Exception, c.my_function, 1)
assert "'y'" in str(e), str(e)
e = expect_error(Exception, c.probe, "nope")
assert str(e) == "API endpoint not found.", str(e)
"#;
