//! The smol client against both of our servers (smol and blocking, serving the conformance
//! service) and against `tests/py/upstream_server.py`, the standard-library twin of the Python
//! server. The blocking client's side of the matrix is the conformance suite itself
//! (`tests/smol_conformance.rs`, `tests/blocking_conformance.rs`).

mod common;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::certs::{self, TestCerts};
use common::python::{require_numpy, UpstreamServer};
use common::service::{conformance_service, TINY_PNG};
use serde_json::json;
use tarp_core::http::Limits;
use tarp_core::wire::pickle::{DType, NdArray, Value};
use tarp_smol::{kwargs, Client, ClientError, EndpointKind, JobStatus, WebBody, WebData};

/// One of our servers, serving the conformance service on 127.0.0.1.
enum Server {
    Smol(tarp_smol::ServerHandle),
    Blocking(tarp_blocking::ServerHandle),
}

#[derive(Clone, Copy)]
enum Kind {
    Smol,
    Blocking,
}

impl Server {
    fn start(kind: Kind, limits: Limits, tls: Option<&TestCerts>) -> Server {
        let (service, gate) = conformance_service();
        gate.open();
        match kind {
            Kind::Smol => {
                let mut b = tarp_smol::Server::builder(service)
                    .address("127.0.0.1:0")
                    .threads(2)
                    .limits(limits);
                if let Some(pki) = tls {
                    b = b.tls(&pki.cert, &pki.key);
                }
                Server::Smol(b.build().unwrap().spawn().unwrap())
            }
            Kind::Blocking => {
                let mut b = tarp_blocking::Server::builder(service)
                    .address("127.0.0.1:0")
                    .limits(limits);
                if let Some(pki) = tls {
                    b = b.tls(&pki.cert, &pki.key);
                }
                Server::Blocking(b.build().unwrap().spawn().unwrap())
            }
        }
    }

    fn url(&self) -> String {
        match self {
            Server::Smol(h) => h.url(),
            Server::Blocking(h) => h.url(),
        }
    }

    /// Connections accepted since the start.
    fn accepted(&self) -> u64 {
        match self {
            Server::Smol(h) => h.stats().accepted,
            Server::Blocking(h) => h.stats().accepted,
        }
    }
}

fn connect(url: &str) -> Client {
    smol::block_on(Client::connect(url)).expect("the smol client connects")
}

fn linspace(n: usize, lower: f64, upper: f64) -> Vec<f64> {
    (0..n)
        .map(|i| lower + (upper - lower) * i as f64 / (n - 1) as f64)
        .collect()
}

/// The scenarios, each run against both servers by `against!` below.
mod scenarios {
    use super::*;

    pub fn discovery(kind: Kind) {
        let server = Server::start(kind, Limits::default(), None);
        let client = connect(&server.url());
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
        let ep = client.endpoint("pecho").unwrap();
        assert_eq!(ep.kind, EndpointKind::Post);
        assert_eq!(ep.payload_schema, Some(json!({"type": "object"})));
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
        assert_eq!(client.discovery().rpc.len(), 11);
        assert_eq!(client.base_url(), server.url());
    }

    pub fn sync_rpc(kind: Kind) {
        let server = Server::start(kind, Limits::default(), None);
        let client = connect(&server.url());
        smol::block_on(async {
            assert_eq!(client.call::<i64>("my_function", (1, 2)).await.unwrap(), 3);
            let xs: Vec<f64> = client
                .call_with("rpcExample", (15,), kwargs! {"lower" => 0, "upper" => 100})
                .await
                .unwrap();
            assert_eq!(xs, linspace(15, 0.0, 100.0));
            let array: NdArray = client
                .rpc("rpcExample")
                .arg(5)
                .kwarg("upper", 1)
                .call()
                .await
                .unwrap();
            assert_eq!((array.dtype(), array.shape()), (DType::F64, &[5usize][..]));
            assert_eq!(array.as_f64().unwrap(), [0.0, 0.25, 0.5, 0.75, 1.0]);
            // Keyword-only call, and a value of every common Python type round-tripped.
            let sum: f64 = client
                .call_with("add", (), kwargs! {"b" => 2.5, "a" => 1})
                .await
                .unwrap();
            assert_eq!(sum, 3.5);
            let value = Value::List(Arc::new(vec![
                Value::None,
                Value::Bool(true),
                Value::Int(-7),
                Value::BigInt(Arc::from(&[0u8, 0, 0, 0, 0, 0, 0, 0, 1][..])),
                Value::Float(2.5),
                Value::from("héllo"),
                Value::Bytes(b"\x00\xff".to_vec().into()),
                Value::Tuple(Arc::new(vec![Value::Int(1)])),
                Value::Dict(Arc::new(vec![(Value::from("k"), Value::Int(1))])),
                Value::NdArray(NdArray::from_vec(vec![1.5f64, 2.5])),
            ]));
            let back = client
                .call_value("echo_value", vec![value.clone()], kwargs! {})
                .await
                .unwrap();
            assert_eq!(back, value);
            // An async endpoint called like a sync one is started and waited for.
            assert_eq!(
                client
                    .call::<i64>("my_long_function", (2, 3))
                    .await
                    .unwrap(),
                5
            );
        });
    }

    pub fn typed_errors(kind: Kind) {
        let server = Server::start(kind, Limits::default(), None);
        let client = connect(&server.url());
        smol::block_on(async {
            match client.call::<()>("raises", ("bad",)).await {
                Err(ClientError::Remote {
                    status: 500,
                    kind,
                    message,
                }) => assert_eq!((kind.as_str(), message.as_str()), ("generic", "bad")),
                other => panic!("{other:?}"),
            }
            match client.call::<()>("busy", (3,)).await {
                Err(ClientError::OperationInProgress {
                    retry_after,
                    message,
                }) => assert_eq!(
                    (retry_after, message.as_str()),
                    (Duration::from_secs(3), "busy, come back later")
                ),
                other => panic!("{other:?}"),
            }
            assert!(matches!(
                client.call::<()>("invalid", ()).await,
                Err(ClientError::InvalidServerState { .. })
            ));
            assert!(matches!(
                client.call::<()>("no_such_endpoint", ()).await,
                Err(ClientError::NotFound { .. })
            ));
            match client.call::<i64>("my_function", (1,)).await {
                Err(ClientError::BadArgument { message }) => {
                    assert!(message.contains("'y'"), "{message}")
                }
                other => panic!("{other:?}"),
            }
            match client.call::<i64>("my_function", (1, "x")).await {
                Err(ClientError::BadArgument { message }) => {
                    assert!(message.contains("'y'"), "{message}")
                }
                other => panic!("{other:?}"),
            }
            match client.call::<()>("panics", ()).await {
                Err(ClientError::Remote {
                    status: 500,
                    message,
                    ..
                }) => assert!(message.contains("handler panicked"), "{message}"),
                other => panic!("{other:?}"),
            }
            // The result does not convert to the asked type.
            assert!(matches!(
                client.call::<String>("my_function", (1, 2)).await,
                Err(ClientError::Decode(_))
            ));
            // The server keeps serving after all that.
            assert_eq!(client.call::<i64>("my_function", (2, 2)).await.unwrap(), 4);
        });
    }

    pub fn async_jobs(kind: Kind) {
        let server = Server::start(kind, Limits::default(), None);
        let client = connect(&server.url());
        smol::block_on(async {
            let handle = client.start("my_long_function", (2, 3)).await.unwrap();
            assert_eq!(handle.suggested_wait(), Duration::from_secs(1));
            assert_eq!(handle.status().await.unwrap(), JobStatus::InProgress);
            assert_eq!(handle.try_get_value().await.unwrap(), None);
            let t0 = Instant::now();
            assert_eq!(handle.wait::<i64>().await.unwrap(), 5);
            assert!(
                t0.elapsed() >= Duration::from_millis(500),
                "waited Retry-After (1 s) at least once"
            );
            // Fetched: the server forgot the job.
            assert!(matches!(
                handle.probe().await,
                Err(ClientError::NotFound { .. })
            ));
            let handle = client
                .rpc("asyncRPCExample")
                .arg(3)
                .kwarg("upper", 1)
                .start()
                .await
                .unwrap();
            let mut cycles = 0;
            let xs: Vec<f64> = loop {
                cycles += 1;
                assert!(cycles < 20);
                if let Some(v) = handle.wait_cycle().await.unwrap() {
                    break v;
                }
            };
            assert_eq!(xs, [0.0, 0.5, 1.0]);
            // A failed job: probe says so with the error, wait_cycle reports it.
            let handle = client.start("failing_job", ()).await.unwrap();
            let failed = loop {
                match handle.wait_cycle::<()>().await {
                    Ok(None) => continue,
                    other => break other,
                }
            };
            match failed {
                Err(ClientError::JobFailed { message }) => {
                    assert_eq!(message, "the job failed")
                }
                other => panic!("{other:?}"),
            }
            let probe = handle.probe().await.unwrap();
            assert_eq!(probe.status, JobStatus::Failed);
            assert_eq!(probe.error.as_deref(), Some("the job failed"));
            // A panicking job is a failed job.
            let handle = client.start("panicking_job", ()).await.unwrap();
            match handle.wait_timeout::<()>(Duration::from_secs(10)).await {
                Err(ClientError::Remote { message, .. }) => {
                    assert!(message.contains("panicked"), "{message}")
                }
                other => panic!("{other:?}"),
            }
            // A job handle by ID, and unknown IDs.
            let started = client.start("my_long_function", (1, 1)).await.unwrap();
            let again = client.job(started.id());
            assert_eq!(again.wait::<i64>().await.unwrap(), 2);
            assert!(matches!(
                client.job("nope").status().await,
                Err(ClientError::NotFound { .. })
            ));
            // wait_timeout gives up without sleeping past its deadline.
            let slow = client.start("my_long_function", (1, 1)).await.unwrap();
            let t0 = Instant::now();
            assert!(matches!(
                slow.wait_timeout::<i64>(Duration::from_millis(100)).await,
                Err(ClientError::Timeout { .. })
            ));
            assert!(t0.elapsed() < Duration::from_secs(1));
        });
    }

    pub fn web_calls(kind: Kind) {
        let server = Server::start(kind, Limits::default(), None);
        let client = connect(&server.url());
        smol::block_on(async {
            let (mime, data) = client
                .get("echo")
                .query("a", 1)
                .query("b", "x y&z")
                .query("a", 2)
                .send()
                .await
                .unwrap();
            assert_eq!(mime.as_deref(), Some("application/json"));
            assert_eq!(
                data,
                WebData::Json(json!({"params": {"a": ["1", "2"], "b": "x y&z"}, "body": null}))
            );
            let (_, data) = client
                .post("pecho")
                .query("q", 3)
                .json(&json!({"k": [1, 2]}))
                .unwrap()
                .send()
                .await
                .unwrap();
            assert_eq!(
                data,
                WebData::Json(json!({"params": {"q": "3"}, "body": {"k": [1, 2]}}))
            );
            let (_, data) = client
                .post("pecho")
                .bytes(b"raw".to_vec())
                .send()
                .await
                .unwrap();
            assert_eq!(data, WebData::Json(json!({"params": {}, "body": "cmF3"})));
            let (_, data) = client
                .post("pecho")
                .body(WebBody::Typed {
                    content_type: "text/plain; charset=utf-8".into(),
                    bytes: "é".as_bytes().to_vec(),
                })
                .send()
                .await
                .unwrap();
            assert_eq!(data, WebData::Json(json!({"params": {}, "body": "é"})));
            assert_eq!(
                client.get("text").send().await.unwrap(),
                (Some("text/plain".into()), WebData::Text("hello".into()))
            );
            assert_eq!(
                client.get("blob").send().await.unwrap(),
                (
                    Some("application/octet-stream".into()),
                    WebData::Bytes(vec![1, 2, 3])
                )
            );
            assert_eq!(
                client.get("nothing").send().await.unwrap(),
                (None, WebData::Json(serde_json::Value::Null))
            );
            assert_eq!(
                client.get("get_plot").send().await.unwrap(),
                (
                    Some("image/png".into()),
                    WebData::Raw {
                        mime: "image/png".into(),
                        bytes: TINY_PNG.to_vec()
                    }
                )
            );
            match client.get("busy_get").send().await {
                Err(ClientError::OperationInProgress { retry_after, .. }) => {
                    assert_eq!(retry_after, Duration::from_secs(2))
                }
                other => panic!("{other:?}"),
            }
            assert!(matches!(
                client.get("invalid_get").send().await,
                Err(ClientError::InvalidServerState { .. })
            ));
            assert!(matches!(
                client.get("missing").send().await,
                Err(ClientError::NotFound { .. })
            ));
            let (_, data) = client
                .get("big_web")
                .query("n", 3 << 20)
                .send()
                .await
                .unwrap();
            assert!(matches!(data, WebData::Raw { bytes, .. } if bytes.len() == 3 << 20));
        });
    }

    /// Sequential calls reuse one kept-alive connection; a kept connection the server closed
    /// meanwhile is replaced transparently; concurrent calls from clones of one client work.
    pub fn keep_alive_and_concurrency(kind: Kind) {
        let limits = Limits {
            idle_timeout: Duration::from_millis(300),
            ..Limits::default()
        };
        let server = Server::start(kind, limits, None);
        let client = connect(&server.url());
        smol::block_on(async {
            for i in 0..20i64 {
                assert_eq!(
                    client.call::<i64>("my_function", (i, 1)).await.unwrap(),
                    i + 1
                );
            }
        });
        assert_eq!(
            server.accepted(),
            1,
            "discovery and 20 calls on one connection"
        );
        // The server closes the idle connection; the next call still succeeds.
        std::thread::sleep(Duration::from_millis(700));
        smol::block_on(async {
            assert_eq!(client.call::<i64>("my_function", (1, 1)).await.unwrap(), 2);
        });
        assert_eq!(server.accepted(), 2);
        // 16 calls at once, on a multi-threaded executor, from clones of one client.
        let ex = smol::Executor::new();
        let tasks: Vec<_> = (0..16i64)
            .map(|i| {
                let client = client.clone();
                ex.spawn(async move { client.call::<f64>("sleep", (0.2,)).await.map(|_| i) })
            })
            .collect();
        let t0 = Instant::now();
        let results = smol::block_on(ex.run(async {
            let mut out = Vec::new();
            for t in tasks {
                out.push(t.await.unwrap());
            }
            out
        }));
        assert_eq!(results, (0..16).collect::<Vec<_>>());
        assert!(
            t0.elapsed() < Duration::from_secs(2),
            "the calls ran concurrently: {:?}",
            t0.elapsed()
        );
    }

    pub fn tls(kind: Kind) {
        let pki = certs::generate();
        let server = Server::start(kind, Limits::default(), Some(&pki));
        let url = server.url();
        assert!(url.starts_with("https://"));
        smol::block_on(async {
            let client = Client::builder(&url)
                .ca_file(&pki.ca)
                .connect()
                .await
                .unwrap();
            assert_eq!(
                client.call::<i64>("my_function", (40, 2)).await.unwrap(),
                42
            );
            let (_, data) = client.get("blob").send().await.unwrap();
            assert_eq!(data, WebData::Bytes(vec![1, 2, 3]));
            // A localhost URL checks the name too.
            let by_name = url.replace("127.0.0.1", "localhost");
            let client = Client::builder(&by_name)
                .ca_file(&pki.ca)
                .connect()
                .await
                .unwrap();
            assert_eq!(client.call::<i64>("my_function", (1, 2)).await.unwrap(), 3);
            // An untrusted certificate is a TLS error.
            assert!(matches!(
                Client::builder(&url).ca_file(&pki.other_ca).connect().await,
                Err(ClientError::Tls { .. })
            ));
            // Plain HTTP to a TLS server is not silently accepted.
            assert!(Client::connect(&url.replace("https", "http"))
                .await
                .is_err());
        });
    }

    /// A response larger than the configured cap is refused, not buffered.
    pub fn response_cap(kind: Kind) {
        let server = Server::start(kind, Limits::default(), None);
        smol::block_on(async {
            let client = Client::builder(&server.url())
                .max_response_bytes(1 << 20)
                .connect()
                .await
                .unwrap();
            assert!(matches!(
                client.get("big_web").query("n", 2 << 20).send().await,
                Err(ClientError::Protocol(_))
            ));
            let (_, data) = client.get("big_web").query("n", 1000).send().await.unwrap();
            assert!(matches!(data, WebData::Raw { bytes, .. } if bytes.len() == 1000));
        });
    }
}

macro_rules! against {
    ($module:ident, $kind:expr) => {
        mod $module {
            use super::*;
            #[test]
            fn discovery() {
                scenarios::discovery($kind);
            }
            #[test]
            fn sync_rpc() {
                scenarios::sync_rpc($kind);
            }
            #[test]
            fn typed_errors() {
                scenarios::typed_errors($kind);
            }
            #[test]
            fn async_jobs() {
                scenarios::async_jobs($kind);
            }
            #[test]
            fn web_calls() {
                scenarios::web_calls($kind);
            }
            #[test]
            fn keep_alive_and_concurrency() {
                scenarios::keep_alive_and_concurrency($kind);
            }
            #[test]
            fn tls() {
                scenarios::tls($kind);
            }
            #[test]
            fn response_cap() {
                scenarios::response_cap($kind);
            }
        }
    };
}

against!(smol_server, Kind::Smol);
against!(blocking_server, Kind::Blocking);

// ---------------------------------------------------------------------------------------------
// Against the Python server's twin

fn upstream() -> (UpstreamServer, Client) {
    require_numpy();
    let server = UpstreamServer::start(&["--delay", "0.4", "--suggested-wait", "1"]);
    let client = connect(&server.url);
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
fn upstream_rpc_with_cpython_pickles() {
    let (_server, client) = upstream();
    let ep = client.endpoint("rpcExample").unwrap();
    assert_eq!(ep.kind, EndpointKind::Rpc);
    assert!(
        ep.params.is_empty(),
        "the Python server publishes no signature"
    );
    smol::block_on(async {
        assert_eq!(client.call::<i64>("my_function", (1, 2)).await.unwrap(), 3);
        let xs: Vec<f64> = client
            .call_with("rpcExample", (15,), kwargs! {"lower" => 0, "upper" => 100})
            .await
            .unwrap();
        assert_eq!(xs.len(), 15);
        for (a, b) in xs.iter().zip(linspace(15, 0.0, 100.0)) {
            assert!((a - b).abs() < 1e-12, "{xs:?}");
        }
        let v = client
            .call_value("python_types", (), kwargs! {})
            .await
            .unwrap();
        assert_eq!(dict_get(&v, "int"), &Value::Int(-7));
        assert!(matches!(dict_get(&v, "big"), Value::BigInt(_)));
        assert!(matches!(dict_get(&v, "i32"), Value::NdArray(a) if a.shape() == [2, 3]));
        // Our pickles load in CPython: echo_args returns [list(args), kwargs].
        let args = vec![
            Value::Int(1),
            Value::Bytes(b"\x00\x01".to_vec().into()),
            Value::NdArray(NdArray::from_vec(vec![1.5f64, 2.5])),
        ];
        let back = client
            .call_value("echo_args", args.clone(), kwargs! {"k" => 2})
            .await
            .unwrap();
        let Value::List(parts) = &back else {
            panic!("{back:?}")
        };
        assert_eq!(parts[0], Value::List(Arc::new(args)));
        // The Python server's errors.
        assert!(matches!(
            client.call::<()>("raises", ("bad",)).await,
            Err(ClientError::Remote { status: 500, message, .. }) if message == "bad"
        ));
        assert!(matches!(
            client.call::<()>("busy", (3,)).await,
            Err(ClientError::OperationInProgress { retry_after, .. })
                if retry_after == Duration::from_secs(3)
        ));
        assert!(matches!(
            client.call::<()>("no_such_endpoint", ()).await,
            Err(ClientError::NotFound { .. })
        ));
    });
}

#[test]
fn upstream_async_jobs_and_web_calls() {
    let (_server, client) = upstream();
    smol::block_on(async {
        let handle = client.start("my_long_function", (2, 3)).await.unwrap();
        assert_eq!(handle.suggested_wait(), Duration::from_secs(1));
        assert_eq!(handle.status().await.unwrap(), JobStatus::InProgress);
        assert_eq!(handle.wait::<i64>().await.unwrap(), 5);
        let handle = client
            .start_with("asyncRPCExample", (3,), kwargs! {"upper" => 1})
            .await
            .unwrap();
        let mut cycles = 0;
        let xs: Vec<f64> = loop {
            cycles += 1;
            assert!(cycles < 20);
            if let Some(v) = handle.wait_cycle().await.unwrap() {
                break v;
            }
        };
        assert_eq!(xs, [0.0, 0.5, 1.0]);
        let (_, data) = client
            .get("echo")
            .query("a", 1)
            .query("b", "x y")
            .send()
            .await
            .unwrap();
        assert_eq!(
            data,
            WebData::Json(json!({"params": {"a": "1", "b": "x y"}, "body": null}))
        );
        // Upstream quirk: a string comes back with mimetype null, base64-encoded.
        assert_eq!(
            client.get("text").send().await.unwrap(),
            (None, WebData::Json(json!("aGVsbG8=")))
        );
        match client.get("get_plot").send().await.unwrap() {
            (Some(mime), WebData::Raw { bytes, .. }) => {
                assert_eq!(mime, "image/png");
                assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n"));
            }
            other => panic!("{other:?}"),
        }
    });
}

#[test]
fn upstream_over_tls() {
    require_numpy();
    let pki = certs::generate();
    let server = UpstreamServer::start_tls(&pki.cert, &pki.key, &["--delay", "0"]);
    smol::block_on(async {
        let client = Client::builder(&server.url)
            .ca_file(&pki.ca)
            .connect()
            .await
            .unwrap();
        assert_eq!(
            client.call::<i64>("my_function", (40, 2)).await.unwrap(),
            42
        );
        let xs: Vec<f64> = client.call("rpcExample", (3,)).await.unwrap();
        assert_eq!(xs, [0.0, 5.0, 10.0]);
    });
}

// ---------------------------------------------------------------------------------------------
// What only a scripted peer shows

const DISCOVERY: &str = r#"{"status": "success", "mimetype": "application/json", "result": {"GET": [], "POST": [], "RPC": [{"name": "f", "description": "d"}], "ASYNCRPC": []}}"#;

/// A peer that answers every request with the discovery document and sends the request
/// heads back on the channel.
fn scripted_peer() -> (String, std::sync::mpsc::Receiver<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let tx = tx.clone();
            std::thread::spawn(move || {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                while let Ok(n) = stream.read(&mut chunk) {
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    while let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        let head: Vec<u8> = buf.drain(..end + 4).collect();
                        let _ = tx.send(String::from_utf8_lossy(&head).into_owned());
                        let answer = format!(
                            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{DISCOVERY}",
                            DISCOVERY.len()
                        );
                        if stream.write_all(answer.as_bytes()).is_err() {
                            return;
                        }
                    }
                }
            });
        }
    });
    (url, rx)
}

#[test]
fn credentials_in_the_url_become_basic_auth() {
    let (url, heads) = scripted_peer();
    let url = url.replace("http://", "http://alice:s%40cret@");
    let client = connect(&url);
    let head = heads.recv_timeout(Duration::from_secs(5)).unwrap();
    // base64("alice:s@cret")
    assert!(
        head.contains("\r\nAuthorization: Basic YWxpY2U6c0BjcmV0\r\n"),
        "{head}"
    );
    assert!(head.starts_with("GET / HTTP/1.1\r\n"), "{head}");
    assert!(!client.base_url().contains("alice"));
}

#[test]
fn timeouts_are_typed() {
    // A peer that accepts and never answers: the call timeout fires.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let held = std::thread::spawn(move || {
        let conns: Vec<_> = listener.incoming().take(2).collect();
        std::thread::sleep(Duration::from_secs(3));
        drop(conns);
    });
    smol::block_on(async {
        let t0 = Instant::now();
        let result = Client::builder(&format!("http://{addr}"))
            .call_timeout(Some(Duration::from_millis(300)))
            .connect()
            .await;
        assert!(
            matches!(result, Err(ClientError::Timeout { .. })),
            "{result:?}"
        );
        assert!(t0.elapsed() < Duration::from_secs(2));
        // Over TLS the handshake never completes: the connect timeout fires.
        let t0 = Instant::now();
        let result = Client::builder(&format!("https://{addr}"))
            .ca_file(certs::generate().ca)
            .connect_timeout(Some(Duration::from_millis(300)))
            .call_timeout(None)
            .connect()
            .await;
        assert!(
            matches!(result, Err(ClientError::Timeout { .. })),
            "{result:?}"
        );
        assert!(t0.elapsed() < Duration::from_secs(2));
    });
    held.join().unwrap();
    // Nothing listens: a transport error, at once.
    let closed = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = closed.local_addr().unwrap();
    drop(closed);
    assert!(matches!(
        smol::block_on(Client::connect(&format!("http://{addr}"))),
        Err(ClientError::Transport { .. })
    ));
}

#[test]
fn bad_urls_and_ca_files_are_clear_errors() {
    smol::block_on(async {
        for bad in ["ftp://x", "no-scheme", "http://", "http://h/p?q=1"] {
            assert!(
                matches!(
                    Client::connect(bad).await,
                    Err(ClientError::BadArgument { .. })
                ),
                "{bad}"
            );
        }
        assert!(matches!(
            Client::builder("https://127.0.0.1:1")
                .ca_file("/nonexistent/ca.pem")
                .connect()
                .await,
            Err(ClientError::Tls { .. })
        ));
    });
}
