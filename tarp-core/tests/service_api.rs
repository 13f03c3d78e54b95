//! The registration API: typed handlers of every arity, natural argument and result types
//! from Python values, `?` in handlers, discovery from the registry, and clear panics for
//! programming errors at registration.

mod service_util;

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use serde_json::json;
use service_util::{python_requests, python_unpickle, rpc, Harness};
use tarp_core::service::{Error, ErrorKind, Reply, Service};
use tarp_core::wire::pickle::NdArray;

#[derive(Debug, Serialize, Deserialize, PartialEq)]
struct Settings {
    gain: f64,
    label: String,
}

fn typed() -> Harness {
    let mut svc = Service::with_seed(1);
    svc.rpc("nothing", || Ok(()));
    svc.rpc(
        "eight",
        |a: i64, b: i64, c: i64, d: i64, e: i64, f: i64, g: i64, h: i64| {
            Ok([a, b, c, d, e, f, g, h].iter().sum::<i64>())
        },
    );
    svc.rpc("mean", |xs: Vec<f64>| {
        if xs.is_empty() {
            return Err(Error::failed("mean of nothing"));
        }
        Ok(xs.iter().sum::<f64>() / xs.len() as f64)
    })
    .params(["xs"]);
    svc.rpc("shape", |a: NdArray| Ok(a.shape().to_vec()))
        .params(["a"]);
    svc.rpc("greet", |name: String, excited: bool| {
        Ok(format!("hello {name}{}", if excited { "!" } else { "" }))
    })
    .params(["name", "excited"])
    .default("excited", false);
    svc.rpc("maybe", |x: Option<i32>| Ok(x.map(|v| v + 1)))
        .params(["x"]);
    svc.rpc("settings", |s: Settings| {
        Ok(Settings {
            gain: s.gain * 2.0,
            label: s.label.to_uppercase(),
        })
    })
    .params(["s"]);
    svc.rpc("counts", |words: Vec<String>| {
        let mut m: HashMap<String, i64> = HashMap::new();
        for w in words {
            *m.entry(w).or_default() += 1;
        }
        Ok(m)
    })
    .params(["words"]);
    svc.rpc("parse", |s: String| {
        let n: i64 = s.trim().parse()?; // any std error converts with `?`
        Ok(n)
    })
    .params(["s"]);
    svc.rpc("big", |x: i128| Ok(x.to_string())).params(["x"]);
    svc.rpc("raw_bytes", |b: serde_bytes_like::Bytes| Ok(b.0.len()))
        .params(["b"]);
    Harness::new(svc)
}

/// Bytes as a handler argument without an extra crate.
mod serde_bytes_like {
    pub struct Bytes(pub Vec<u8>);
    impl<'de> serde::Deserialize<'de> for Bytes {
        fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Bytes, D::Error> {
            struct V;
            impl serde::de::Visitor<'_> for V {
                type Value = Bytes;
                fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                    f.write_str("bytes")
                }
                fn visit_bytes<E>(self, v: &[u8]) -> Result<Bytes, E> {
                    Ok(Bytes(v.to_vec()))
                }
            }
            d.deserialize_bytes(V)
        }
    }
}

/// Calls each RPC as the Python client would and returns what CPython unpickles, or the
/// error envelope's `(status, message)`.
fn call_all(h: &mut Harness, calls: &[(&str, &str, &str)]) -> Vec<Result<String, (u16, String)>> {
    let requests = python_requests(
        &calls
            .iter()
            .map(|(n, a, k)| rpc(n, a, k))
            .collect::<Vec<_>>(),
    );
    let mut results = Vec::new();
    let mut payloads = Vec::new();
    for req in &requests {
        let r = h.exchange(req);
        let body = r.json();
        if r.status == 200 {
            payloads.push(body["result"]["payload"].as_str().unwrap().to_owned());
            results.push(Ok(String::new()));
        } else {
            results.push(Err((
                r.status,
                body["message"].as_str().unwrap().to_owned(),
            )));
        }
    }
    let mut seen =
        python_unpickle(&payloads.iter().map(String::as_str).collect::<Vec<_>>()).into_iter();
    for s in results.iter_mut().flatten() {
        *s = seen.next().unwrap();
    }
    results
}

#[test]
fn typed_arguments_and_results_from_and_to_python() {
    let mut h = typed();
    let results = call_all(
        &mut h,
        &[
            ("nothing", "()", "{}"),
            ("eight", "(1, 2, 3, 4, 5, 6, 7, 8)", "{}"),
            ("mean", "([1, 2, 3.5],)", "{}"),
            ("mean", "((1.0, 2.0),)", "{}"),
            ("mean", "(numpy.array([1.0, 2.0, 6.0]),)", "{}"),
            ("mean", "([],)", "{}"),
            ("shape", "(numpy.zeros((2, 3), dtype=numpy.float32),)", "{}"),
            ("greet", "('Ada',)", "{}"),
            ("greet", "()", "{'name': 'Bob', 'excited': True}"),
            ("maybe", "(None,)", "{}"),
            ("maybe", "(41,)", "{}"),
            ("settings", "({'gain': 1.5, 'label': 'x'},)", "{}"),
            ("counts", "(['a', 'b', 'a'],)", "{}"),
            ("parse", "(' 42 ',)", "{}"),
            ("parse", "('forty',)", "{}"),
            ("big", "(2**100,)", "{}"),
            ("raw_bytes", "(b'\\x00\\x01\\x02',)", "{}"),
            ("raw_bytes", "(bytearray(b'ab'),)", "{}"),
        ],
    );
    let ok = |s: &str| Ok(s.to_owned());
    assert_eq!(results[0], ok("None"));
    assert_eq!(results[1], ok("36"));
    assert_eq!(results[2], ok("2.1666666666666665"));
    assert_eq!(results[3], ok("1.5"));
    assert_eq!(results[4], ok("3.0"));
    assert_eq!(results[5], Err((500, "mean of nothing".to_owned())));
    assert_eq!(results[6], ok("[2, 3]"));
    assert_eq!(results[7], ok("'hello Ada'"));
    assert_eq!(results[8], ok("'hello Bob!'"));
    assert_eq!(results[9], ok("None"));
    assert_eq!(results[10], ok("42"));
    assert_eq!(results[11], ok("{'gain': 3.0, 'label': 'X'}"));
    assert!(
        results[12] == ok("{'a': 2, 'b': 1}") || results[12] == ok("{'b': 1, 'a': 2}"),
        "{:?}",
        results[12]
    );
    assert_eq!(results[13], ok("42"));
    assert_eq!(
        results[14],
        Err((500, "invalid digit found in string".to_owned()))
    );
    assert_eq!(results[15], ok("'1267650600228229401496703205376'"));
    assert_eq!(results[16], ok("3"));
    assert_eq!(results[17], ok("2"));
}

#[test]
fn nested_type_errors_say_where() {
    let mut h = typed();
    let results = call_all(
        &mut h,
        &[
            ("mean", "([1.0, 'x'],)", "{}"),
            ("settings", "({'gain': 'loud', 'label': 'x'},)", "{}"),
            ("settings", "({'gain': 1.0},)", "{}"),
            ("greet", "(1,)", "{}"),
            ("eight", "(1, 2, 3, 4, 5, 6, 7, 2**70)", "{}"),
        ],
    );
    let err = |m: &str| Err((400u16, m.to_owned()));
    assert_eq!(
        results[0],
        err("mean() argument 'xs': expected f64, got str (at [1])")
    );
    assert_eq!(
        results[1],
        err("settings() argument 's': expected f64, got str (at .gain)")
    );
    assert_eq!(
        results[2],
        err("settings() argument 's': missing field `label`")
    );
    assert_eq!(
        results[3],
        err("greet() argument 'name': expected a string, got int")
    );
    match &results[4] {
        Err((400, m)) => assert!(
            m.starts_with("eight() argument 'arg7': integer of 71 bits"),
            "{m}"
        ),
        other => panic!("{other:?}"),
    }
}

#[test]
fn default_parameter_names_and_discovery() {
    let h = typed();
    let d = h.svc.discovery();
    let eight = d.rpc.iter().find(|e| e.name == "eight").unwrap();
    assert_eq!(
        eight.params,
        (0..8).map(|i| format!("arg{i}")).collect::<Vec<_>>()
    );
    let greet = d.rpc.iter().find(|e| e.name == "greet").unwrap();
    assert_eq!(greet.defaults, vec![("excited".to_owned(), json!(false))]);
    assert_eq!(d.to_json()["RPC"][0]["name"], "nothing");
}

#[test]
fn errors_convert_and_carry_their_kind() {
    let e: Error = "x".parse::<i32>().unwrap_err().into();
    assert_eq!(
        (e.kind(), e.message()),
        (ErrorKind::Generic, "invalid digit found in string")
    );
    let e = Error::in_progress(9);
    assert_eq!(e.kind(), ErrorKind::OperationInProgress { retry_after: 9 });
    assert_eq!(e.to_response().header("Retry-After"), Some("9"));
    assert_eq!(Error::bad_request("no").to_response().status, 400);
    assert_eq!(Error::invalid_state("s").to_response().status, 503);
    assert_eq!(format!("{}", Error::failed("shown")), "shown");
    assert_eq!(Reply::from(json!({"a": 1})), Reply::Json(json!({"a": 1})));
}

fn panics(f: impl FnOnce() + std::panic::UnwindSafe) -> String {
    let err = std::panic::catch_unwind(f).expect_err("registration must panic");
    err.downcast_ref::<String>()
        .cloned()
        .or_else(|| err.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap()
}

#[test]
fn registration_mistakes_panic_with_a_clear_message() {
    let m = panics(|| {
        let mut svc = Service::new();
        svc.rpc("add", |a: f64, b: f64| Ok(a + b))
            .params(["a", "b", "c"]);
    });
    assert_eq!(
        m,
        "endpoint \"add\": .params() names 3 parameter(s) but the function takes 2"
    );
    let m = panics(|| {
        let mut svc = Service::new();
        svc.rpc("add", |a: f64, b: f64| Ok(a + b))
            .params(["a", "a"]);
    });
    assert_eq!(m, "endpoint \"add\": parameter \"a\" is named twice");
    let m = panics(|| {
        let mut svc = Service::new();
        svc.rpc("add", |a: f64, b: f64| Ok(a + b))
            .params(["a", "b"])
            .default("c", 1);
    });
    assert_eq!(
        m,
        "endpoint \"add\": .default(\"c\") names no parameter (parameters: a, b)"
    );
    let m = panics(|| {
        let mut svc = Service::new();
        svc.rpc("f", |a: f64| Ok(a))
            .default("arg0", 1.0)
            .params(["x"]);
    });
    assert_eq!(m, "endpoint \"f\": call .params() before .default()");
    let m = panics(|| {
        let mut svc = Service::new();
        svc.get("asyncGet", |_, _| Ok(()));
    });
    assert_eq!(m, "endpoint name \"asyncGet\" is reserved by the protocol");
    let m = panics(|| {
        let mut svc = Service::new();
        svc.rpc("x", || Ok(1));
        svc.post("x", |_, _| Ok(()));
    });
    assert_eq!(m, "an endpoint named \"x\" already answers POST");
    let m = panics(|| {
        let mut svc = Service::new();
        svc.async_rpc("x", || Ok(1)).suggested_wait(f64::NAN);
    });
    assert!(
        m.starts_with("endpoint \"x\": suggested_wait must be a finite number"),
        "{m}"
    );
    let m = panics(|| {
        Service::new().get("", |_, _| Ok(()));
    });
    assert!(m.starts_with("an endpoint name must not be empty"), "{m}");
}

/// A typed result, as a handler returning a struct builds it.
#[derive(Serialize)]
struct Typed {
    x: i64,
    y: Vec<f64>,
    text: String,
    flags: std::collections::BTreeMap<String, Option<bool>>,
    nested: Vec<(u8, char)>,
}

fn same_answer<T: Serialize>(value: &T, mimetype: Option<&str>) {
    let direct = Reply::serialize(value).unwrap().into_response(mimetype);
    let tree = Reply::json(serde_json::to_value(value).unwrap()).into_response(mimetype);
    assert_eq!(direct.status, tree.status);
    assert_eq!(direct.content_type, tree.content_type);
    assert_eq!(
        String::from_utf8_lossy(&direct.body),
        String::from_utf8_lossy(&tree.body)
    );
}

#[test]
fn serialized_replies_answer_the_same_bytes_as_json_values() {
    let typed = Typed {
        x: -7,
        y: vec![0.5, 1.0, -2.25e-7, 1e300],
        text: "tab\t quote\" backslash\\ é 😀 \u{1}".into(),
        flags: [("a".to_owned(), Some(true)), ("b\"".to_owned(), None)].into(),
        nested: vec![(1, 'x'), (255, '\u{2028}')],
    };
    for mimetype in [
        None,
        Some("application/json"),
        Some("text/x-\"quoted\"\\"),
        Some("é"),
    ] {
        same_answer(&typed, mimetype);
        same_answer(&json!({"x": 1, "y": [1, 2, 3]}), mimetype);
        same_answer(&"just a string", mimetype);
        same_answer(&Option::<u8>::None, mimetype);
    }
    let text = Reply::serialize(&json!({"x": 1, "y": [1, 2, 3]})).unwrap();
    let Reply::Serialized(json) = text else {
        panic!("not written at once: {text:?}")
    };
    assert_eq!(json.as_str(), r#"{"x": 1, "y": [1, 2, 3]}"#);
}

#[test]
fn unserializable_replies_are_an_error_naming_the_problem() {
    let keys: HashMap<(u8, u8), u8> = [((1, 2), 3)].into();
    let err = Reply::serialize(&keys).unwrap_err();
    assert!(
        err.to_string().contains("not representable as JSON"),
        "{err}"
    );
}

proptest::proptest! {
    #[test]
    fn serialized_replies_match_json_values_for_any_text_and_numbers(
        text in ".*",
        key in ".*",
        n in proptest::num::i64::ANY,
        f in proptest::num::f64::NORMAL | proptest::num::f64::ZERO | proptest::num::f64::SUBNORMAL,
    ) {
        let value = json!({ key: [text, n, f] });
        same_answer(&value, Some("application/json"));
    }
}
