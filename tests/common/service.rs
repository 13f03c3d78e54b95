//! The service every transport serves in the conformance suite. Its endpoint names match
//! those of `tests/py/upstream_server.py` where the behaviour is the same, so one Python
//! scenario can drive either server.

use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use serde_json::json;
use tarp_core::service::{Body, Error, Reply, Service};
use tarp_core::wire::pickle::{NdArray, Value};
use tarp_core::wire::query::Query;

/// How long `my_long_function` and the other slow endpoints take.
pub const SLOW: Duration = Duration::from_millis(400);

/// A gate a test opens to let the `gated` RPC return (for shutdown-in-flight tests).
#[derive(Default)]
pub struct Gate {
    open: Mutex<bool>,
    cv: Condvar,
    /// Calls currently waiting at the gate.
    waiting: Mutex<usize>,
}

impl Gate {
    /// Lets every waiting and future call through.
    pub fn open(&self) {
        *self.open.lock().unwrap() = true;
        self.cv.notify_all();
    }

    /// Blocks until the gate opens (or 30 s pass).
    pub fn pass(&self) {
        *self.waiting.lock().unwrap() += 1;
        let mut open = self.open.lock().unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while !*open && std::time::Instant::now() < deadline {
            open = self
                .cv
                .wait_timeout(open, Duration::from_millis(50))
                .unwrap()
                .0;
        }
        drop(open);
        *self.waiting.lock().unwrap() -= 1;
    }

    /// Calls waiting now.
    pub fn waiting(&self) -> usize {
        *self.waiting.lock().unwrap()
    }
}

/// A 1x1 PNG (valid signature and chunks), as a raw payload.
pub const TINY_PNG: &[u8] = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x02\x00\x00\x00\x90wS\xde\x00\x00\x00\x0cIDATx\x9cc\xf8\xcf\xc0\x00\x00\x03\x01\x01\x00\xc9\xfe\x92\xef\x00\x00\x00\x00IEND\xaeB`\x82";

fn linspace(n: usize, lower: f64, upper: f64) -> Vec<f64> {
    match n {
        0 => Vec::new(),
        1 => vec![lower],
        _ => (0..n)
            .map(|i| lower + (upper - lower) * i as f64 / (n - 1) as f64)
            .collect(),
    }
}

fn echo(q: &Query, body: Body) -> Result<Reply, Error> {
    Ok(Reply::json(
        json!({"params": q.to_json(), "body": body.to_json()}),
    ))
}

/// The conformance service, and the gate of its `gated` endpoint.
pub fn conformance_service() -> (Arc<Service>, Arc<Gate>) {
    let gate = Arc::new(Gate::default());
    let mut s = Service::with_config(tarp_blocking::service_config());
    s.rpc("my_function", |x: i64, y: i64| Ok(x + y))
        .params(["x", "y"])
        .describe("Adds two numbers.");
    s.rpc("add", |a: f64, b: f64| Ok(a + b))
        .params(["a", "b"])
        .describe("Add two numbers.");
    s.rpc("rpcExample", |value: usize, lower: f64, upper: f64| {
        if value > 10_000_000 {
            return Err(Error::failed("too many points"));
        }
        Ok(NdArray::from_vec(linspace(value, lower, upper)))
    })
    .params(["value", "lower", "upper"])
    .default("lower", 0)
    .default("upper", 10)
    .describe("numpy.linspace(lower, upper, value).");
    s.rpc("echo_value", |v: Value| Ok(v))
        .params(["value"])
        .describe("Returns its argument.");
    s.rpc("raises", |message: String| {
        Err::<(), _>(Error::failed(message))
    })
    .params(["message"])
    .default("message", "boom");
    s.rpc("busy", |retry_after: u64| {
        Err::<(), _>(Error::in_progress(retry_after).with_message("busy, come back later"))
    })
    .params(["retry_after"])
    .default("retry_after", 2);
    s.rpc("invalid", || {
        Err::<(), _>(Error::invalid_state("not ready"))
    });
    s.rpc("panics", || -> Result<(), Error> {
        panic!("handler panic (expected by this test)")
    });
    s.rpc("sleep", |secs: f64| {
        std::thread::sleep(Duration::from_secs_f64(secs.clamp(0.0, 30.0)));
        Ok(secs)
    })
    .params(["secs"]);
    let g = Arc::clone(&gate);
    s.rpc("gated", move |x: i64| {
        g.pass();
        Ok(x)
    })
    .params(["x"]);
    s.rpc("big", |n: usize| Ok(serde_bytes_vec(n.min(256 << 20))))
        .params(["n"]);

    s.async_rpc("my_long_function", |x: i64, y: i64| {
        std::thread::sleep(SLOW);
        Ok(x + y)
    })
    .params(["x", "y"])
    .suggested_wait(1.0)
    .describe("Adds two numbers, slowly.");
    s.async_rpc("asyncRPCExample", |value: usize, lower: f64, upper: f64| {
        std::thread::sleep(SLOW);
        Ok(NdArray::from_vec(linspace(
            value.min(1_000_000),
            lower,
            upper,
        )))
    })
    .params(["value", "lower", "upper"])
    .default("lower", 0)
    .default("upper", 10)
    .suggested_wait(1.0);
    s.async_rpc("failing_job", || -> Result<(), Error> {
        std::thread::sleep(SLOW);
        Err(Error::failed("the job failed"))
    })
    .suggested_wait(1.0);
    s.async_rpc("panicking_job", || -> Result<(), Error> {
        panic!("job panic (expected by this test)")
    })
    .suggested_wait(1.0);

    s.get("echo", echo)
        .query_params(["a", "b"])
        .describe("Returns the query parameters and the body.");
    s.post("pecho", echo)
        .payload_mimetype("application/json")
        .payload_schema(json!({"type": "object"}))
        .describe("Returns the query parameters and the body.");
    s.get("text", |_: &Query, _: Body| Ok(Reply::text("hello")));
    s.get("blob", |_: &Query, _: Body| {
        Ok(Reply::bytes(vec![1u8, 2, 3]))
    });
    s.get("nothing", |_: &Query, _: Body| Ok(Reply::None));
    s.get("get_plot", |_: &Query, _: Body| {
        Ok(Reply::raw("image/png", TINY_PNG.to_vec()))
    });
    s.get("busy_get", |_: &Query, _: Body| {
        Err::<Reply, _>(Error::in_progress(2).with_message("busy, come back later"))
    });
    s.get("invalid_get", |_: &Query, _: Body| {
        Err::<Reply, _>(Error::invalid_state("not ready"))
    });
    s.post("busy_post", |_: &Query, _: Body| {
        Err::<Reply, _>(Error::in_progress(2).with_message("busy, come back later"))
    });
    s.get("big_web", |q: &Query, _: Body| {
        let n: usize = q.first("n").and_then(|n| n.parse().ok()).unwrap_or(1 << 20);
        Ok(Reply::raw(
            "application/octet-stream",
            vec![b'x'; n.min(256 << 20)],
        ))
    })
    .query_params(["n"]);
    (Arc::new(s), gate)
}

/// `n` bytes as a Python `bytes` value.
fn serde_bytes_vec(n: usize) -> Value {
    Value::Bytes(vec![b'x'; n].into())
}
