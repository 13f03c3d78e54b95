//! The `tarp` command across implementations: the Python client (standard-library copy of
//! its wire behaviour, `tests/py/python_client.py`) against `tarp demo`, `tarp` against the
//! Python-like server (`tests/py/upstream_server.py`), and `tarp demo` over HTTPS.

#[allow(dead_code)]
#[path = "common/certs.rs"]
mod certs;
mod cli_support;
#[allow(dead_code)]
#[path = "common/python.rs"]
mod python;

use cli_support::{png_size, tarp, temp_dir, Demo};

#[test]
fn python_client_drives_the_demo() {
    python::require_numpy();
    let demo = Demo::start(&[]);
    python::run_client(
        &demo.url,
        None,
        r#"
import numpy
assert c.my_function(1, 2) == 3
assert c.my_function("a", "b") == "ab"
assert "Adds two numbers" in c.my_function.__doc__
r = c.rpcExample(5, upper=1)
assert isinstance(r, numpy.ndarray) and r.dtype == numpy.float64, type(r)
assert r.tolist() == [0.0, 0.25, 0.5, 0.75, 1.0], r
h = c.my_long_function(1, 2)
assert h.status() == "in_progress"
assert h.wait() == 3
h = c.asyncRPCExample(3, lower=1, upper=3)
v = None
while v is None:
    v = h.waitCycle()
assert v.tolist() == [1.0, 2.0, 3.0], v
assert c.set_params(lower=0, upper=2) == ("application/json", {"lower": 0.0, "upper": 2.0})
mime, data = c.get_data()
assert mime == "application/json" and len(data["x"]) == 100 and data["x"][-1] == 2.0
mime, png = c.get_plot()
assert mime == "image/png" and png[:8] == b"\x89PNG\r\n\x1a\n", mime
assert c.setRange(lower=1)[1] == {"lower": 1.0, "upper": 2.0}
expect_error(InvalidServerState, c.getData)
c.generateData()
e = expect_error(OperationInProgress, c.showFigure)
assert e.retry_after == 1, e.retry_after
time.sleep(1.1)
mime, data = c.getData()
assert data["x"][0] == 1.0 and data["x"][-1] == 2.0
mime, png = c.showFigure()
assert mime == "image/png" and png[:4] == b"\x89PNG"
"#,
    );
}

#[test]
fn tarp_drives_the_python_server() {
    python::require_numpy();
    let server = python::UpstreamServer::start(&["--delay", "0.3", "--suggested-wait", "1"]);
    let url = server.url.as_str();
    // The Python server publishes no parameter names.
    let out = tarp(&["ls", url]).expect(0);
    assert!(out.stdout.contains("  rpcExample(...)\n"), "{}", out.stdout);
    assert!(
        out.stdout.contains("An example RPC function"),
        "{}",
        out.stdout
    );
    assert_eq!(
        tarp(&["call", url, "my_function", "1", "2"])
            .expect(0)
            .line(),
        "3"
    );
    // numpy.linspace pickled by CPython, printed as a list.
    let out = tarp(&["call", url, "rpcExample", "3"]).expect(0);
    assert_eq!(out.json(), serde_json::json!([0.0, 5.0, 10.0]));
    let out = tarp(&["call", url, "asyncRPCExample", "3", "-k", "upper=1"]).expect(0);
    assert_eq!(out.json(), serde_json::json!([0.0, 0.5, 1.0]));
    let out = tarp(&["call", url, "my_long_function", "1", "2"]).expect(0);
    assert_eq!(out.line(), "3");
    // Python values of many types.
    let v = tarp(&["call", url, "python_types"]).expect(0).json();
    assert_eq!(v["big"], "1267650600228229401496703205376");
    assert_eq!(v["i32"], serde_json::json!([[0, 1, 2], [3, 4, 5]]));
    assert_eq!(v["bytes"], "AP8=");
    // Raw payloads and errors.
    let dir = temp_dir("upstream");
    let file = dir.join("plot.png");
    tarp(&["get", url, "get_plot", "-o", file.to_str().unwrap()]).expect(0);
    assert_eq!(png_size(&std::fs::read(&file).unwrap()), (1, 1));
    // POST bodies as the Python client sends them: JSON for --json, octet-stream bytes for
    // --data (echoed back base64-encoded), query parameters as text.
    let out = tarp(&[
        "post",
        url,
        "pecho",
        "a=1",
        "b=x y",
        "--json",
        r#"{"k": [1, null]}"#,
    ])
    .expect(0);
    assert_eq!(
        out.json(),
        serde_json::json!({"params": {"a": "1", "b": "x y"}, "body": {"k": [1, null]}})
    );
    let body = dir.join("body.bin");
    std::fs::write(&body, b"\x00\x01raw").unwrap();
    let arg = format!("@{}", body.display());
    let out = tarp(&["post", url, "pecho", "--data", &arg]).expect(0);
    assert_eq!(
        out.json(),
        serde_json::json!({"params": {}, "body": "AAFyYXc="})
    );
    let out = tarp(&["call", url, "raises", "bad things"]).expect(6);
    assert!(out.error_line().ends_with("bad things"), "{}", out.stderr);
    let out = tarp(&["get", url, "busy_get"]).expect(7);
    assert!(
        out.error_line().contains("retry after 2 s"),
        "{}",
        out.stderr
    );
}

#[test]
fn demo_over_https() {
    let pki = certs::generate();
    let demo = Demo::start(&[
        "--tls-cert",
        pki.cert.to_str().unwrap(),
        "--tls-key",
        pki.key.to_str().unwrap(),
    ]);
    assert!(demo.url.starts_with("https://127.0.0.1:"), "{}", demo.url);
    let ca = pki.ca.to_str().unwrap();
    assert_eq!(
        tarp(&["call", &demo.url, "my_function", "1", "2", "--cacert", ca])
            .expect(0)
            .line(),
        "3"
    );
    // Not trusted: cannot reach it (TLS), one line saying so.
    let other = pki.other_ca.to_str().unwrap();
    let out = tarp(&["ls", &demo.url, "--cacert", other]).expect(3);
    assert!(out.error_line().contains("TLS"), "{}", out.stderr);
    // The Python client with its server_key.
    python::run_client(&demo.url, Some(&pki.ca), "assert c.my_function(2, 3) == 5");
}

#[test]
fn bad_tls_files_are_a_usage_error() {
    let dir = temp_dir("badtls");
    let cert = dir.join("cert.pem");
    std::fs::write(&cert, "not a certificate").unwrap();
    let out = tarp(&[
        "demo",
        "--port",
        "0",
        "--tls-cert",
        cert.to_str().unwrap(),
        "--tls-key",
        cert.to_str().unwrap(),
    ])
    .expect(2);
    assert!(
        out.error_line().starts_with("tarp: TLS: "),
        "{}",
        out.stderr
    );
}
