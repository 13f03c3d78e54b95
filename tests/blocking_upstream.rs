//! Our blocking client against `tests/py/upstream_server.py`, a standard-library twin of the
//! Python TARP server: CPython pickles (numpy arrays included), HTTP/1.0 with a close after
//! each response, and the upstream quirks PROTOCOL.md documents.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::python::{require_numpy, UpstreamServer};
use serde_json::json;
use tarp_blocking::{kwargs, Client, ClientError, EndpointKind, JobStatus, WebData};
use tarp_core::wire::pickle::{DType, NdArray, Value};

fn upstream() -> (UpstreamServer, Client) {
    require_numpy();
    let server = UpstreamServer::start(&["--delay", "0.4", "--suggested-wait", "1"]);
    let client = Client::connect(&server.url).expect("connects to the Python-like server");
    (server, client)
}

fn dict_get<'a>(v: &'a Value, key: &str) -> &'a Value {
    match v {
        Value::Dict(items) => items
            .iter()
            .find(|(k, _)| matches!(k, Value::Str(s) if &**s == key))
            .map(|(_, v)| v)
            .unwrap_or_else(|| panic!("no key {key} in {v:?}")),
        other => panic!("not a dict: {other:?}"),
    }
}

#[test]
fn discovery_of_the_python_server() {
    let (_server, client) = upstream();
    let ep = client.endpoint("rpcExample").unwrap();
    assert_eq!(ep.kind, EndpointKind::Rpc);
    assert_eq!(
        ep.description,
        "An example RPC function that returns a value."
    );
    assert!(
        ep.params.is_empty() && ep.defaults.is_empty(),
        "the Python server publishes no signature"
    );
    assert_eq!(
        client.endpoint("asyncRPCExample").unwrap().kind,
        EndpointKind::AsyncRpc
    );
    let ep = client.endpoint("pecho").unwrap();
    assert_eq!(ep.payload_schema, Some(json!({"type": "object"})));
    assert_eq!(
        client.endpoint("set_params").unwrap().query_params,
        ["lower", "upper"]
    );
}

#[test]
fn rpc_results_pickled_by_cpython_with_numpy() {
    let (_server, client) = upstream();
    assert_eq!(client.call::<i64>("my_function", (1, 2)).unwrap(), 3);
    assert_eq!(
        client.call::<String>("my_function", ("a", "b")).unwrap(),
        "ab"
    );
    // The README's call: c.rpcExample(15, lower=0, upper=100) returns numpy.linspace(0, 100, 15).
    let t0 = Instant::now();
    let xs: Vec<f64> = client
        .call_with("rpcExample", (15,), kwargs! {"lower" => 0, "upper" => 100})
        .unwrap();
    assert!(
        t0.elapsed() >= Duration::from_millis(400),
        "the call waited for the function"
    );
    let expected: Vec<f64> = (0..15).map(|i| 100.0 * i as f64 / 14.0).collect();
    assert_eq!(xs.len(), 15);
    for (a, b) in xs.iter().zip(&expected) {
        assert!((a - b).abs() < 1e-12, "{xs:?}");
    }
    let array: NdArray = client
        .rpc("rpcExample")
        .arg(5)
        .kwarg("upper", 1)
        .call()
        .unwrap();
    assert_eq!((array.dtype(), array.shape()), (DType::F64, &[5usize][..]));
    assert_eq!(array.as_f64().unwrap(), [0.0, 0.25, 0.5, 0.75, 1.0]);
    // Many Python types at once, as CPython pickles them.
    let v = client
        .call_value("python_types", (), Default::default())
        .unwrap();
    assert_eq!(dict_get(&v, "int"), &Value::Int(-7));
    assert_eq!(dict_get(&v, "str"), &Value::from("héllo"));
    assert_eq!(
        dict_get(&v, "bytes"),
        &Value::Bytes(b"\x00\xff".to_vec().into())
    );
    assert!(
        matches!(dict_get(&v, "big"), Value::BigInt(_)),
        "2**100 kept exactly"
    );
    assert!(matches!(dict_get(&v, "set"), Value::Set(s) if s.len() == 1));
    assert!(matches!(dict_get(&v, "frozenset"), Value::FrozenSet(s) if s.len() == 1));
    assert!(matches!(dict_get(&v, "tuple"), Value::Tuple(t) if t.len() == 2));
    match dict_get(&v, "i32") {
        Value::NdArray(a) => {
            assert_eq!((a.dtype(), a.shape()), (DType::I32, &[2usize, 3][..]));
            assert_eq!(a.as_i32().unwrap(), [0, 1, 2, 3, 4, 5]);
        }
        other => panic!("{other:?}"),
    }
    let scalar: f64 = tarp_core::wire::pickle::from_value(dict_get(&v, "f64scalar")).unwrap();
    assert_eq!(scalar, 2.5);
}

#[test]
fn our_pickles_load_in_cpython() {
    let (_server, client) = upstream();
    // echo_args returns [list(args), kwargs]: CPython unpickled what we sent.
    let big = Value::BigInt(Arc::from(&[0u8, 0, 0, 0, 0, 0, 0, 0, 1][..])); // 2**64
    let args = vec![
        Value::Int(1),
        Value::from("a"),
        Value::Bytes(b"\x00\x01".to_vec().into()),
        big.clone(),
        Value::NdArray(NdArray::from_vec(vec![1.5f64, 2.5])),
    ];
    let back = client
        .call_value("echo_args", args.clone(), kwargs! {"k" => vec![1, 2]})
        .unwrap();
    let Value::List(parts) = &back else {
        panic!("{back:?}")
    };
    assert_eq!(parts[0], Value::List(Arc::new(args)));
    assert_eq!(
        parts[1],
        Value::Dict(Arc::new(vec![(
            Value::from("k"),
            Value::List(Arc::new(vec![Value::Int(1), Value::Int(2)]))
        )]))
    );
}

#[test]
fn errors_of_the_python_server_map_to_typed_errors() {
    let (_server, client) = upstream();
    match client.call::<()>("raises", ("bad",)) {
        Err(ClientError::Remote {
            status: 500,
            kind,
            message,
        }) => assert_eq!((kind.as_str(), message.as_str()), ("generic", "bad")),
        other => panic!("{other:?}"),
    }
    // Upstream quirk: an RPC's OperationInProgress comes back typed `generic`, with 503 and
    // Retry-After; we still report it as OperationInProgress.
    match client.call::<()>("busy", (3,)) {
        Err(ClientError::OperationInProgress {
            retry_after,
            message,
        }) => {
            assert_eq!(
                (retry_after, message.as_str()),
                (Duration::from_secs(3), "busy, come back later")
            );
        }
        other => panic!("{other:?}"),
    }
    match client.get("busy_get").send() {
        Err(ClientError::OperationInProgress { retry_after, .. }) => {
            assert_eq!(retry_after, Duration::from_secs(2))
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        client.get("invalid_get").send(),
        Err(ClientError::InvalidServerState { .. })
    ));
    assert!(matches!(
        client.call::<()>("no_such_endpoint", ()),
        Err(ClientError::NotFound { .. })
    ));
    // Upstream: an unknown UUID gets a 404 head and no body.
    assert!(matches!(
        client.job("nope").probe(),
        Err(ClientError::NotFound { .. })
    ));
}

#[test]
fn async_jobs_on_the_python_server() {
    let (_server, client) = upstream();
    let handle = client.start("my_long_function", (2, 3)).unwrap();
    assert_eq!(handle.suggested_wait(), Duration::from_secs(1));
    assert_eq!(handle.status().unwrap(), JobStatus::InProgress);
    assert_eq!(handle.wait::<i64>().unwrap(), 5);
    let handle = client
        .start_with("asyncRPCExample", (3,), kwargs! {"upper" => 1})
        .unwrap();
    let mut cycles = 0;
    let xs: Vec<f64> = loop {
        cycles += 1;
        assert!(cycles < 20);
        if let Some(v) = handle.wait_cycle().unwrap() {
            break v;
        }
    };
    assert_eq!(xs, [0.0, 0.5, 1.0]);
    // Upstream quirk: a job that raised makes probe and get drop the connection.
    let handle = client.start("failing_job", ()).unwrap();
    let mut probe = handle.probe();
    let deadline = Instant::now() + Duration::from_secs(10);
    while matches!(&probe, Ok(p) if p.status == JobStatus::InProgress) && Instant::now() < deadline
    {
        std::thread::sleep(Duration::from_millis(50));
        probe = handle.probe();
    }
    assert!(
        matches!(
            probe,
            Err(ClientError::Transport { .. } | ClientError::Protocol(_))
        ),
        "{probe:?}"
    );
}

#[test]
#[allow(clippy::approx_constant)] // the README's 3.14159
fn web_endpoints_of_the_python_server() {
    let (_server, client) = upstream();
    let (mime, data) = client
        .get("echo")
        .query("a", 1)
        .query("b", "x y")
        .send()
        .unwrap();
    assert_eq!(mime.as_deref(), Some("application/json"));
    assert_eq!(
        data,
        WebData::Json(json!({"params": {"a": "1", "b": "x y"}, "body": null}))
    );
    let (_, data) = client
        .post("pecho")
        .query("q", 3)
        .json(&json!({"k": [1, 2]}))
        .unwrap()
        .send()
        .unwrap();
    assert_eq!(
        data,
        WebData::Json(json!({"params": {"q": "3"}, "body": {"k": [1, 2]}}))
    );
    let (_, data) = client.post("pecho").bytes(b"raw".to_vec()).send().unwrap();
    assert_eq!(data, WebData::Json(json!({"params": {}, "body": "cmF3"})));
    // Upstream quirk: a string comes back with mimetype null, base64-encoded.
    assert_eq!(
        client.get("text").send().unwrap(),
        (None, WebData::Json(json!("aGVsbG8=")))
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
    match client.get("get_plot").send().unwrap() {
        (Some(mime), WebData::Raw { bytes, .. }) => {
            assert_eq!(mime, "image/png");
            assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n"));
        }
        other => panic!("{other:?}"),
    }
    let (_, data) = client
        .get("set_params")
        .query("lower", 0)
        .query("upper", 3.14159)
        .send()
        .unwrap();
    assert_eq!(data, WebData::Json(json!({"lower": 0.0, "upper": 3.14159})));
    let (_, data) = client.get("get_data").send().unwrap();
    let WebData::Json(doc) = data else { panic!() };
    assert_eq!(doc["x"].as_array().unwrap().len(), 100);
    assert_eq!(doc["x"][99], json!(3.14159));
}

#[test]
fn tls_to_the_python_server() {
    require_numpy();
    let pki = common::certs::generate();
    let server = UpstreamServer::start_tls(&pki.cert, &pki.key, &["--delay", "0"]);
    let client = Client::builder(&server.url)
        .ca_file(&pki.ca)
        .connect()
        .unwrap();
    assert_eq!(client.call::<i64>("my_function", (40, 2)).unwrap(), 42);
    let xs: Vec<f64> = client.call("rpcExample", (3,)).unwrap();
    assert_eq!(xs, [0.0, 5.0, 10.0]);
    assert!(matches!(
        Client::builder(&server.url)
            .ca_file(&pki.other_ca)
            .connect(),
        Err(ClientError::Tls { .. })
    ));
}
