//! The demo service: every endpoint of the Python TARP library's README and example server,
//! in Rust. `tarp demo` serves it; tests and the README tour drive it.
//!
//! | endpoint | kind | what it does |
//! |---|---|---|
//! | `my_function(x, y)` | RPC | `x + y` with Python's meaning of `+` (numbers, strings, lists, tuples, bytes) |
//! | `my_long_function(x, y)` | async RPC | the same after the simulated work time |
//! | `rpcExample(value, lower=0, upper=10)` | RPC | after the work time, `numpy.linspace(lower, upper, value)` as a float64 array |
//! | `asyncRPCExample(value, lower=0, upper=10)` | async RPC | the same as a job |
//! | `set_params?lower=&upper=` | GET | sets the sine wave's range, returns it |
//! | `get_data` | GET | the sine wave's 100 points, `{"x": [...], "y": [...]}` |
//! | `get_plot` | GET | the sine wave as a PNG image (a raw `image/png` payload) |
//! | `setRange?lower=&upper=` | POST | sets the range (also from a JSON or form body) |
//! | `generateData` | GET | starts "generating" the data from the current range |
//! | `getData` | GET | the generated data; `InvalidServerState` before `generateData`, `OperationInProgress` (503 + `Retry-After`) during the work time |
//! | `showFigure` | GET | the generated data as a PNG, with the same two states |
//!
//! The two Python programs each keep a `lower`/`upper` pair; here they are one range, so
//! `set_params` and `setRange` both move what `get_data`, `get_plot` and `generateData` use.
//! The work time (`delay`, 10 s in the originals) is what `my_long_function`, `rpcExample`,
//! `asyncRPCExample` and the `generateData` window take; async endpoints suggest polling
//! after `min(delay, 5 s)` (at least 1 s).
//!
//! ```
//! use std::time::Duration;
//! let service = tarp::demo::service(Duration::from_secs(1));
//! assert_eq!(service.discovery().rpc.len(), 2);
//! ```

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use serde_json::json;
use tarp_core::service::{Body, Error, Reply, Service, ServiceConfig};
use tarp_core::wire::pickle::{NdArray, Value};
use tarp_core::wire::query::Query;

use crate::plot::{self, Figure};

/// The simulated work time of the Python examples.
pub const DEFAULT_DELAY: Duration = Duration::from_secs(10);

/// Most points `rpcExample` and `asyncRPCExample` return (8 MB of float64): a bound on what
/// one call can make the server allocate.
pub const MAX_POINTS: i64 = 1_000_000;

/// The endpoint names, in the order `tarp demo` lists them.
pub const ENDPOINTS: [&str; 11] = [
    "my_function",
    "my_long_function",
    "rpcExample",
    "asyncRPCExample",
    "set_params",
    "get_data",
    "get_plot",
    "setRange",
    "generateData",
    "getData",
    "showFigure",
];

/// The demo service with a job-ID key from the OS's random source.
pub fn service(delay: Duration) -> Service {
    service_with_config(delay, tarp_blocking::service_config())
}

/// The demo service with this configuration (limits, job-ID key).
pub fn service_with_config(delay: Duration, config: ServiceConfig) -> Service {
    let state = Arc::new(Shared::new(delay));
    let mut svc = Service::with_config(config);
    // Async endpoints: the README's default of 5 s, sooner when the work is shorter.
    let wait = delay.as_secs_f64().clamp(1.0, 5.0);

    svc.rpc("my_function", |x: Value, y: Value| py_add(&x, &y))
        .params(["x", "y"])
        .describe("Adds two numbers (any two values Python's + accepts).");
    svc.async_rpc("my_long_function", move |x: Value, y: Value| {
        std::thread::sleep(delay);
        py_add(&x, &y)
    })
    .params(["x", "y"])
    .describe("Adds two numbers, slowly: an async job that takes the demo's work time.")
    .suggested_wait(wait);

    let rpc_example = move |value: i64, lower: f64, upper: f64| {
        let points = check_points(value)?;
        std::thread::sleep(delay);
        Ok(NdArray::from_vec(plot::linspace(lower, upper, points)))
    };
    svc.rpc("rpcExample", rpc_example)
        .params(["value", "lower", "upper"])
        .default("lower", 0)
        .default("upper", 10)
        .describe("An example RPC function that returns a value: numpy.linspace(lower, upper, value) after the work time.");
    svc.async_rpc("asyncRPCExample", rpc_example)
        .params(["value", "lower", "upper"])
        .default("lower", 0)
        .default("upper", 10)
        .describe("rpcExample as an async job: numpy.linspace(lower, upper, value).")
        .suggested_wait(wait);

    let st = Arc::clone(&state);
    svc.get("set_params", move |q: &Query, _body: Body| {
        let mut s = st.lock();
        s.set_range(range_from(q, None)?);
        Ok(s.range_json())
    })
    .query_params(["lower", "upper"])
    .describe("Sets the lower and upper bounds of the sine wave; returns them.")
    .cheap();

    let st = Arc::clone(&state);
    svc.get("get_data", move |_q: &Query, _body: Body| {
        let (lower, upper) = st.lock().range;
        let (xs, ys) = plot::sine_wave(lower, upper);
        Ok(Reply::json(json!({"x": xs, "y": ys})))
    })
    .describe("The sine wave's 100 points as JSON: {\"x\": [...], \"y\": [...]}.")
    .cheap();

    let st = Arc::clone(&state);
    svc.get("get_plot", move |_q: &Query, _body: Body| {
        let (lower, upper) = st.lock().range;
        let png = plot::sine_wave_png(lower, upper).map_err(|e| Error::failed(e.to_string()))?;
        Ok(Reply::raw("image/png", png))
    })
    .describe("The sine wave as a PNG image (open it in a browser).");

    let st = Arc::clone(&state);
    svc.post("setRange", move |q: &Query, body: Body| {
        let mut s = st.lock();
        s.set_range(range_from(q, Some(&body))?);
        Ok(s.range_json())
    })
    .query_params(["lower", "upper"])
    .describe("Sets the range generateData uses (query parameters, or a JSON or form body).")
    .cheap();

    let st = Arc::clone(&state);
    svc.get("generateData", move |_q: &Query, _body: Body| {
        let mut s = st.lock();
        let (lower, upper) = s.range;
        s.generated = Some(Generated {
            wave: plot::sine_wave(lower, upper),
            started: Instant::now(),
        });
        Ok(Reply::json(json!({
            "generating": true,
            "lower": lower,
            "upper": upper,
            "ready_in": delay.as_secs_f64(),
        })))
    })
    .describe("Starts generating the data (it is ready after the work time): then call getData or showFigure.")
    .cheap();

    let st = Arc::clone(&state);
    svc.get("getData", move |_q: &Query, _body: Body| {
        let (xs, ys) = st.lock().ready("Data")?;
        Ok(Reply::json(json!({"x": xs, "y": ys})))
    })
    .describe("The generated data as JSON; OperationInProgress while it is being generated.")
    .cheap();

    let st = Arc::clone(&state);
    svc.get("showFigure", move |_q: &Query, _body: Body| {
        let (xs, ys) = st.lock().ready("Figure")?;
        let figure = Figure {
            title: "Sine Wave".into(),
            x_label: "X-axis".into(),
            y_label: "Y-axis".into(),
            ..Figure::default()
        };
        let png = plot::line_png(&xs, &ys, &figure).map_err(|e| Error::failed(e.to_string()))?;
        Ok(Reply::raw("image/png", png))
    })
    .describe(
        "The generated data as a PNG image; OperationInProgress while it is being generated.",
    );

    svc
}

/// The URLs worth opening against a demo served at `base` (`http://127.0.0.1:8080`), with what
/// each shows: what `tarp demo` prints at start.
pub fn urls_to_try(base: &str) -> Vec<(String, &'static str)> {
    let base = base.trim_end_matches('/');
    vec![
        (format!("{base}/"), "the endpoints (discovery document)"),
        (
            format!("{base}/get_plot"),
            "the sine wave as a PNG: open it in a browser",
        ),
        (
            format!("{base}/set_params?lower=0&upper=3.14159"),
            "set the range",
        ),
        (format!("{base}/get_data"), "the points as JSON"),
        (
            format!("{base}/generateData"),
            "start generating, then within the work time:",
        ),
        (
            format!("{base}/showFigure"),
            "503 + Retry-After until the data is ready, then a PNG",
        ),
    ]
}

/// The demo's mutable state, shared by its web endpoints.
struct State {
    delay: Duration,
    range: (f64, f64),
    generated: Option<Generated>,
}

struct Generated {
    wave: (Vec<f64>, Vec<f64>),
    started: Instant,
}

struct Shared(Mutex<State>);

impl State {
    fn set_range(&mut self, (lower, upper): (Option<f64>, Option<f64>)) {
        if let Some(l) = lower {
            self.range.0 = l;
        }
        if let Some(u) = upper {
            self.range.1 = u;
        }
    }

    fn range_json(&self) -> Reply {
        Reply::json(json!({"lower": self.range.0, "upper": self.range.1}))
    }

    /// The generated wave, or the state that keeps it from being served (`what` names it in
    /// the messages: "Data", "Figure").
    fn ready(&self, what: &str) -> Result<(Vec<f64>, Vec<f64>), Error> {
        let Some(g) = &self.generated else {
            return Err(Error::invalid_state(
                "No figure generated yet. Call generateData first.",
            ));
        };
        let elapsed = g.started.elapsed();
        if elapsed < self.delay {
            let left = (self.delay - elapsed).as_secs_f64().ceil().max(1.0) as u64;
            return Err(Error::in_progress(left).with_message(format!(
                "{what} is still being generated. Please wait a moment."
            )));
        }
        Ok(g.wave.clone())
    }
}

impl Shared {
    fn new(delay: Duration) -> Shared {
        Shared(Mutex::new(State {
            delay,
            range: (0.0, 10.0),
            generated: None,
        }))
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // The state stays consistent even if a handler panicked while holding it.
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// `lower` and `upper` from the query, else from a JSON object or form body; each must be a
/// number (the Python examples call `float()` on them).
fn range_from(q: &Query, body: Option<&Body>) -> Result<(Option<f64>, Option<f64>), Error> {
    let field = |name: &str| -> Result<Option<f64>, Error> {
        if let Some(text) = q.first(name) {
            return parse_float(name, text).map(Some);
        }
        match body {
            Some(Body::Json(serde_json::Value::Object(map))) => match map.get(name) {
                None | Some(serde_json::Value::Null) => Ok(None),
                Some(serde_json::Value::Number(n)) => Ok(n.as_f64()),
                Some(serde_json::Value::String(s)) => parse_float(name, s).map(Some),
                Some(other) => Err(Error::bad_request(format!(
                    "{name}: expected a number, got {other}"
                ))),
            },
            Some(Body::Form(form)) => form.first(name).map(|t| parse_float(name, t)).transpose(),
            _ => Ok(None),
        }
    };
    Ok((field("lower")?, field("upper")?))
}

/// Python's `float(text)`: decimal numbers, `inf` and `nan` spellings, surrounding spaces.
fn parse_float(name: &str, text: &str) -> Result<f64, Error> {
    let t = text.trim();
    let parsed = match t.to_ascii_lowercase().trim_start_matches(['+', '-']) {
        "inf" | "infinity" | "nan" => t.parse::<f64>().ok(),
        _ if t
            .chars()
            .all(|c| c.is_ascii_digit() || "+-.eE_".contains(c)) =>
        {
            t.replace('_', "").parse::<f64>().ok()
        }
        _ => None,
    };
    parsed.ok_or_else(|| {
        Error::bad_request(format!(
            "{name}: could not convert string to float: {text:?}"
        ))
    })
}

/// The number of points asked of `rpcExample`, as numpy checks it.
fn check_points(value: i64) -> Result<usize, Error> {
    if value < 0 {
        return Err(Error::failed(format!(
            "Number of samples, {value}, must be non-negative."
        )));
    }
    if value > MAX_POINTS {
        return Err(Error::failed(format!(
            "Number of samples, {value}, is more than the demo serves ({MAX_POINTS})."
        )));
    }
    Ok(value as usize)
}

/// Python's `x + y` for the built-in types: `bool` counts as `int`, `int` overflows into a
/// big `int`, `int` and `float` mix into `float`, and sequences of one type concatenate.
/// Anything else fails with Python's `TypeError` message.
pub fn py_add(x: &Value, y: &Value) -> Result<Value, Error> {
    use Value as V;
    let int = |v: &Value| -> Option<i128> {
        match v {
            V::Bool(b) => Some(i128::from(*b)),
            other => other.as_i128(),
        }
    };
    let float = |v: &Value| -> Option<f64> {
        match v {
            V::Bool(b) => Some(f64::from(u8::from(*b))),
            other => other.as_f64(),
        }
    };
    let concat = |a: &[Value], b: &[Value]| -> Vec<Value> { a.iter().chain(b).cloned().collect() };
    Ok(match (x, y) {
        (V::Float(_), _) | (_, V::Float(_)) if float(x).is_some() && float(y).is_some() => {
            V::Float(float(x).unwrap_or_default() + float(y).unwrap_or_default())
        }
        (V::Str(a), V::Str(b)) => V::str(format!("{a}{b}")),
        (V::Bytes(a), V::Bytes(b)) => V::bytes(concat_bytes(a, b)),
        (V::List(a), V::List(b)) => V::list(concat(a, b)),
        (V::Tuple(a), V::Tuple(b)) => V::tuple(concat(a, b)),
        _ => match (int(x), int(y)) {
            (Some(a), Some(b)) => match a.checked_add(b) {
                Some(s) => V::from_i128(s),
                None => {
                    return Err(Error::failed(
                        "the sum of these integers is beyond what the demo adds (128 bits)",
                    ))
                }
            },
            _ => {
                return Err(Error::failed(format!(
                    "unsupported operand type(s) for +: '{}' and '{}'",
                    x.type_name(),
                    y.type_name()
                )))
            }
        },
    })
}

fn concat_bytes(a: &[u8], b: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(a.len() + b.len());
    v.extend_from_slice(a);
    v.extend_from_slice(b);
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn add_follows_python() {
        let add = |a: Value, b: Value| py_add(&a, &b);
        assert_eq!(add(1i64.into(), 2i64.into()).unwrap(), Value::Int(3));
        assert_eq!(add(1i64.into(), 2.5.into()).unwrap(), Value::Float(3.5));
        assert_eq!(add(true.into(), true.into()).unwrap(), Value::Int(2));
        assert_eq!(
            add(i64::MAX.into(), 1i64.into()).unwrap(),
            Value::from_i128(i128::from(i64::MAX) + 1)
        );
        assert_eq!(add("ab".into(), "cd".into()).unwrap(), Value::str("abcd"));
        assert_eq!(
            add(
                Value::list(vec![1i64.into()]),
                Value::list(vec!["x".into()])
            )
            .unwrap(),
            Value::list(vec![1i64.into(), "x".into()])
        );
        assert_eq!(
            add(Value::bytes(&b"a"[..]), Value::bytes(&b"b"[..])).unwrap(),
            Value::bytes(&b"ab"[..])
        );
        let e = add(1i64.into(), "x".into()).unwrap_err();
        assert_eq!(
            e.message(),
            "unsupported operand type(s) for +: 'int' and 'str'"
        );
        assert!(add(Value::None, 1.0.into()).is_err());
    }

    #[test]
    fn floats_parse_as_python_float() {
        assert_eq!(parse_float("x", " 3.5 ").unwrap(), 3.5);
        assert_eq!(parse_float("x", "-1e3").unwrap(), -1000.0);
        assert_eq!(parse_float("x", "1_000").unwrap(), 1000.0);
        assert!(parse_float("x", "-inf").unwrap().is_infinite());
        assert!(parse_float("x", "nan").unwrap().is_nan());
        let e = parse_float("lower", "abc").unwrap_err();
        assert_eq!(
            e.message(),
            "lower: could not convert string to float: \"abc\""
        );
        assert!(parse_float("x", "").is_err());
        assert!(parse_float("x", "0x10").is_err());
    }

    #[test]
    fn points_are_bounded() {
        assert_eq!(check_points(0).unwrap(), 0);
        assert_eq!(check_points(15).unwrap(), 15);
        assert!(check_points(-1).is_err());
        assert!(check_points(MAX_POINTS + 1).is_err());
    }

    #[test]
    fn generated_data_goes_through_its_states() {
        let shared = Shared::new(Duration::from_millis(200));
        assert!(shared.lock().ready("Data").is_err());
        let mut s = shared.lock();
        s.generated = Some(Generated {
            wave: plot::sine_wave(0.0, 1.0),
            started: Instant::now(),
        });
        let e = s.ready("Data").unwrap_err();
        assert_eq!(
            e.kind(),
            tarp_core::service::ErrorKind::OperationInProgress { retry_after: 1 }
        );
        assert_eq!(
            e.message(),
            "Data is still being generated. Please wait a moment."
        );
        drop(s);
        std::thread::sleep(Duration::from_millis(250));
        let (xs, ys) = shared.lock().ready("Data").unwrap();
        assert_eq!((xs.len(), ys.len()), (100, 100));
    }

    #[test]
    fn every_endpoint_is_registered() {
        let svc = service(Duration::ZERO);
        let d = svc.discovery();
        let mut names: Vec<String> = d
            .get
            .iter()
            .chain(&d.post)
            .map(|e| e.name.clone())
            .chain(d.rpc.iter().chain(&d.async_rpc).map(|e| e.name.clone()))
            .collect();
        names.sort();
        let mut expected: Vec<String> = ENDPOINTS.iter().map(|s| s.to_string()).collect();
        expected.sort();
        assert_eq!(names, expected);
    }
}
