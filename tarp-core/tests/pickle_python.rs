//! Cross-checks against the real peer: CPython (with numpy) unpickles what we encode, and
//! pickles values under protocols 0 to 5 that we then decode. Both sides describe values in
//! the same tagged JSON form (`tests/py/pickle_peer.py`), compared exactly.
//!
//! numpy is required: without it this test fails, unless `TARP_SKIP_NUMPY=1` is set, in which
//! case only the numpy cases are left out (and say so).

use std::io::Write;
use std::process::{Command, Stdio};
use std::sync::Arc;

use base64::Engine as _;
use serde::Serialize;
use serde_json::{json, Value as Json};
use tarp_core::wire::pickle::{decode, encode, to_value, ArrayData, DType, NdArray, Scalar, Value};

const PEER: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/py/pickle_peer.py");

fn b64(b: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(b)
}

fn fbits(x: f64) -> String {
    format!("{:016x}", x.to_bits())
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Compact JSON with sorted keys, as Python's `json.dumps(sort_keys=True, ensure_ascii=False)`.
fn canon(j: &Json) -> String {
    match j {
        Json::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            let parts: Vec<String> = keys
                .iter()
                .map(|k| format!("{}:{}", Json::String((*k).clone()), canon(&m[*k])))
                .collect();
            format!("{{{}}}", parts.join(","))
        }
        Json::Array(a) => format!("[{}]", a.iter().map(canon).collect::<Vec<_>>().join(",")),
        other => other.to_string(),
    }
}

fn scalar_tag(s: Scalar) -> Json {
    match s {
        Scalar::Bool(b) => json!({ "bool": b }),
        Scalar::Int(i) => json!({ "int": i.to_string() }),
        Scalar::UInt(u) => json!({ "int": u.to_string() }),
        Scalar::Float(x) => json!({ "float": fbits(x) }),
        Scalar::Complex(re, im) => json!({ "complex": [fbits(re), fbits(im)] }),
    }
}

/// The tagged description of a value (the same form as `tag()` in the Python peer).
fn tag(v: &Value) -> Json {
    let seq = |items: &[Value]| Json::Array(items.iter().map(tag).collect());
    let set = |items: &[Value]| {
        let mut t: Vec<Json> = items.iter().map(tag).collect();
        t.sort_by_key(canon);
        Json::Array(t)
    };
    match v {
        Value::None => json!({ "none": null }),
        Value::Bool(b) => json!({ "bool": b }),
        Value::Int(_) | Value::BigInt(_) => json!({ "int": v.int_to_string().unwrap() }),
        Value::Float(x) => json!({ "float": fbits(*x) }),
        Value::Str(s) => json!({ "str": &**s }),
        Value::Bytes(b) => json!({ "bytes": hex(b) }),
        Value::List(items) => json!({ "list": seq(items) }),
        Value::Tuple(items) => json!({ "tuple": seq(items) }),
        Value::Set(items) => json!({ "set": set(items) }),
        Value::FrozenSet(items) => json!({ "frozenset": set(items) }),
        Value::Dict(entries) => {
            let pairs: Vec<Json> = entries
                .iter()
                .map(|(k, x)| json!([tag(k), tag(x)]))
                .collect();
            json!({ "dict": pairs })
        }
        Value::NdArray(a) => {
            let data: Vec<Json> = (0..a.len())
                .map(|i| scalar_tag(a.get(i).unwrap()))
                .collect();
            json!({ "ndarray": { "dtype": a.dtype().code(), "shape": a.shape(), "data": data } })
        }
    }
}

struct Peer {
    header: Json,
    lines: Vec<Json>,
    ok: bool,
}

fn run_peer(mode: &str, input: &str) -> Peer {
    let mut child = Command::new("python3")
        .args(["-W", "error", PEER, mode])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 must be installed to cross-check pickles with CPython");
    let mut stdin = child.stdin.take().unwrap();
    let input = input.to_string();
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap().unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    let mut lines = stdout
        .lines()
        .map(|l| serde_json::from_str::<Json>(l).unwrap());
    let header = lines.next().unwrap_or_else(|| {
        panic!(
            "the Python peer printed nothing: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    Peer {
        header,
        lines: lines.collect(),
        ok: out.status.success(),
    }
}

/// Whether numpy cases run: numpy present, or explicitly skipped; otherwise the test fails.
fn numpy_available(header: &Json) -> bool {
    if !header["numpy"].is_null() {
        return true;
    }
    if std::env::var("TARP_SKIP_NUMPY").as_deref() == Ok("1") {
        eprintln!("NOTE: numpy is not importable by python3; numpy cross-checks SKIPPED (TARP_SKIP_NUMPY=1)");
        return false;
    }
    panic!(
        "numpy is not importable by python3 ({}): install it (python3 -m pip install numpy) \
         or set TARP_SKIP_NUMPY=1 to skip the numpy cross-checks",
        header["python"]
    );
}

// ---- values we encode for CPython ----

#[derive(Serialize)]
struct Reading {
    channel: u8,
    volts: Vec<f64>,
    label: Option<String>,
    window: (f64, f64),
    trace: NdArray,
}

fn array(dtype: DType, shape: Vec<usize>) -> NdArray {
    let n: usize = shape.iter().product();
    let f = |i: usize| [0.0, -0.0, 1.5, f64::INFINITY, f64::NEG_INFINITY, f64::NAN][i % 6];
    let data = match dtype {
        DType::Bool => ArrayData::Bool((0..n).map(|i| i % 3 == 0).collect()),
        DType::I8 => ArrayData::I8((0..n).map(|i| [i8::MIN, i8::MAX, 0, -1][i % 4]).collect()),
        DType::U8 => ArrayData::U8((0..n).map(|i| [0, 255, 7][i % 3]).collect()),
        DType::I16 => ArrayData::I16((0..n).map(|i| [i16::MIN, i16::MAX][i % 2]).collect()),
        DType::U16 => ArrayData::U16((0..n).map(|i| [0, u16::MAX][i % 2]).collect()),
        DType::I32 => ArrayData::I32((0..n).map(|i| [i32::MIN, i32::MAX, 5][i % 3]).collect()),
        DType::U32 => ArrayData::U32((0..n).map(|i| [0, u32::MAX][i % 2]).collect()),
        DType::I64 => ArrayData::I64((0..n).map(|i| [i64::MIN, i64::MAX, 3][i % 3]).collect()),
        DType::U64 => ArrayData::U64((0..n).map(|i| [0, u64::MAX, 9][i % 3]).collect()),
        DType::F16 => ArrayData::F16(
            (0..n)
                .map(|i| [0x3c00, 0x8000, 0x7c00, 0x7e00, 0x0001][i % 5])
                .collect(),
        ),
        DType::F32 => ArrayData::F32((0..n).map(|i| f(i) as f32).collect()),
        DType::F64 => ArrayData::F64((0..n).map(f).collect()),
        DType::C64 => ArrayData::C64((0..n).map(|i| [f(i) as f32, -(i as f32)]).collect()),
        DType::C128 => ArrayData::C128((0..n).map(|i| [f(i), i as f64 * 0.5]).collect()),
    };
    NdArray::new(shape, data).unwrap()
}

fn our_values(with_numpy: bool) -> Vec<(String, Value)> {
    let s = |x: &str| Value::str(x);
    let mut v: Vec<(String, Value)> = vec![
        ("none".into(), Value::None),
        (
            "bools".into(),
            Value::list(vec![Value::Bool(true), Value::Bool(false)]),
        ),
        (
            "ints".into(),
            Value::list(
                [
                    0,
                    1,
                    -1,
                    255,
                    256,
                    65535,
                    65536,
                    i32::MAX as i64,
                    i32::MIN as i64,
                    1 << 31,
                    i64::MAX,
                    i64::MIN,
                ]
                .iter()
                .map(|&i| Value::Int(i))
                .collect(),
            ),
        ),
        (
            "big_ints".into(),
            Value::list(vec![
                Value::from(u64::MAX),
                Value::from_i128(i128::MIN),
                Value::from_u128(u128::MAX),
                Value::int_from_le_bytes(&[0x5a; 300]),
                Value::int_from_le_bytes(&[0xa5; 300]),
            ]),
        ),
        (
            "floats".into(),
            Value::list(
                [
                    0.0,
                    -0.0,
                    1.5,
                    f64::NAN,
                    f64::INFINITY,
                    f64::NEG_INFINITY,
                    f64::MAX,
                    5e-324,
                    0.1,
                ]
                .iter()
                .map(|&x| Value::Float(x))
                .collect(),
            ),
        ),
        ("str_empty".into(), s("")),
        (
            "str_unicode".into(),
            s("h\u{e9}llo \u{2603} \u{1F600} \\u1234 \n\0"),
        ),
        ("str_long".into(), s(&"abc\u{e9}".repeat(20_000))),
        (
            "bytes".into(),
            Value::list(vec![
                Value::bytes(&b""[..]),
                Value::bytes(&b"\x00\xff"[..]),
                Value::bytes((0..=255u8).collect::<Vec<u8>>()),
                Value::bytes(vec![b'y'; 70_000]),
            ]),
        ),
        (
            "tuples".into(),
            Value::tuple(
                (0..6)
                    .map(|n| Value::tuple((0..n).map(Value::Int).collect()))
                    .collect(),
            ),
        ),
        (
            "list_batches".into(),
            Value::list((0..2500).map(Value::Int).collect()),
        ),
        (
            "dict_batches".into(),
            Value::dict(
                (0..1500)
                    .map(|i| (s(&format!("k{i}")), Value::Int(i)))
                    .collect(),
            ),
        ),
        (
            "dict_keys".into(),
            Value::dict(vec![
                (Value::Int(1), s("int")),
                (Value::tuple(vec![Value::Int(1), s("a")]), s("tuple")),
                (Value::None, s("none")),
                (Value::bytes(&b"b"[..]), s("bytes")),
                (Value::Float(2.5), s("float")),
            ]),
        ),
        (
            "sets".into(),
            Value::tuple(vec![
                Value::Set(Arc::new(vec![])),
                Value::Set(Arc::new(vec![Value::Int(3), Value::Int(1), Value::Int(2)])),
                Value::FrozenSet(Arc::new(vec![])),
                Value::FrozenSet(Arc::new(vec![s("b"), s("a")])),
                Value::Set(Arc::new((0..1500).map(Value::Int).collect())),
                Value::Set(Arc::new(vec![Value::FrozenSet(Arc::new(vec![
                    Value::Int(1),
                ]))])),
            ]),
        ),
        (
            "nested".into(),
            Value::dict(vec![(
                s("a"),
                Value::list(vec![
                    Value::list(vec![Value::list(vec![Value::tuple(vec![])])]),
                    Value::dict(vec![]),
                ]),
            )]),
        ),
    ];
    let shared_list = Value::list(vec![Value::Int(1), s("x")]);
    let shared_dict = Value::dict(vec![(s("a"), Value::Int(1))]);
    let shared_str = s("a shared string");
    let shared_tuple = Value::tuple(vec![Value::Int(1), Value::Int(2)]);
    let shared_set = Value::Set(Arc::new(vec![Value::Int(1)]));
    let mid = Value::list(vec![shared_list.clone(), shared_list.clone()]);
    v.extend([
        (
            "shared_list".into(),
            Value::list(vec![shared_list.clone(), shared_list]),
        ),
        (
            "shared_dict".into(),
            Value::tuple(vec![shared_dict.clone(), shared_dict]),
        ),
        (
            "shared_str".into(),
            Value::list(vec![shared_str.clone(), shared_str]),
        ),
        (
            "shared_tuple".into(),
            Value::list(vec![shared_tuple.clone(), shared_tuple]),
        ),
        (
            "shared_set".into(),
            Value::list(vec![shared_set.clone(), shared_set]),
        ),
        ("shared_nested".into(), Value::list(vec![mid.clone(), mid])),
    ]);
    // Rust types through serde.
    #[derive(Serialize)]
    enum Mode {
        Idle,
        Sweep { from: f64, to: f64 },
    }
    v.push(("serde_unit".into(), to_value(&()).unwrap()));
    v.push((
        "serde_enum".into(),
        to_value(&vec![Mode::Idle, Mode::Sweep { from: 0.0, to: 1.0 }]).unwrap(),
    ));
    v.push((
        "serde_tuple".into(),
        to_value(&(1u64 << 63, -1i8, "x", Some(2.5f32), None::<u8>)).unwrap(),
    ));
    if with_numpy {
        for dtype in DType::ALL {
            let name = dtype.name();
            v.push((
                format!("array_{name}"),
                Value::NdArray(array(dtype, vec![6])),
            ));
            v.push((
                format!("array_{name}_2x3"),
                Value::NdArray(array(dtype, vec![2, 3])),
            ));
            v.push((
                format!("array_{name}_0d"),
                Value::NdArray(array(dtype, vec![])),
            ));
            v.push((
                format!("array_{name}_empty"),
                Value::NdArray(array(dtype, vec![0])),
            ));
        }
        v.push((
            "array_3d".into(),
            Value::NdArray(array(DType::F64, vec![2, 3, 4])),
        ));
        v.push((
            "array_4d".into(),
            Value::NdArray(array(DType::I32, vec![2, 1, 3, 2])),
        ));
        v.push((
            "array_2x0".into(),
            Value::NdArray(array(DType::U8, vec![2, 0])),
        ));
        v.push((
            "array_large".into(),
            Value::NdArray(array(DType::F64, vec![20_000])),
        ));
        let a = Value::NdArray(array(DType::F32, vec![3]));
        v.push(("shared_array".into(), Value::list(vec![a.clone(), a])));
        let r = Reading {
            channel: 3,
            volts: vec![0.5, 1.5],
            label: None,
            window: (0.0, 1.0),
            trace: array(DType::F64, vec![2, 2]),
        };
        v.push(("serde_struct_with_array".into(), to_value(&r).unwrap()));
    }
    v
}

#[test]
fn cpython_loads_what_we_encode() {
    let probe = run_peer("check", "");
    let with_numpy = numpy_available(&probe.header);
    let cases = our_values(with_numpy);
    let mut input = String::new();
    for (name, value) in &cases {
        let line = json!({ "name": name, "pickle": b64(&encode(value)), "expect": tag(value) });
        input.push_str(&line.to_string());
        input.push('\n');
    }
    let peer = run_peer("check", &input);
    let failures: Vec<String> = peer
        .lines
        .iter()
        .filter(|r| r["ok"] != true)
        .map(|r| format!("{}: {}", r["name"], r["error"]))
        .collect();
    assert!(
        failures.is_empty(),
        "CPython disagrees:\n{}",
        failures.join("\n")
    );
    assert_eq!(peer.lines.len(), cases.len(), "every case was checked");
    assert!(peer.ok);
    if with_numpy {
        assert!(cases.len() > 80, "{} cases", cases.len());
    }
}

#[test]
fn we_decode_what_cpython_pickles_under_every_protocol() {
    let peer = run_peer("dump", "");
    assert!(peer.ok, "the Python peer failed");
    let with_numpy = numpy_available(&peer.header);
    let mut failures = Vec::new();
    let mut protocols = [0usize; 6];
    let mut numpy_cases = 0;
    for case in &peer.lines {
        let name = case["name"].as_str().unwrap();
        let proto = case["protocol"].as_u64().unwrap() as usize;
        protocols[proto] += 1;
        numpy_cases += usize::from(name.starts_with("array") || name.contains("scalar"));
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(case["pickle"].as_str().unwrap())
            .unwrap();
        let label = format!("{name} (protocol {proto})");
        let v = match decode(&bytes) {
            Ok(v) => v,
            Err(e) => {
                failures.push(format!("{label}: {e}"));
                continue;
            }
        };
        let got = tag(&v);
        // bytearray arrives as bytes; CPython's tag already says "bytes" for both.
        if got != case["expect"] {
            failures.push(format!(
                "{label}: got {:.1500}, expected {:.1500}",
                canon(&got),
                canon(&case["expect"])
            ));
            continue;
        }
        if name.starts_with("shared") {
            let items = v.as_seq().unwrap();
            let same = match (&items[0], &items[1]) {
                (Value::List(a), Value::List(b)) => Arc::ptr_eq(a, b),
                (Value::Dict(a), Value::Dict(b)) => Arc::ptr_eq(a, b),
                (Value::Str(a), Value::Str(b)) => Arc::ptr_eq(a, b),
                _ => false,
            };
            if !same {
                failures.push(format!("{label}: shared references not kept shared"));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(
        protocols.iter().all(|&n| n == protocols[0] && n > 20),
        "{protocols:?}"
    );
    if with_numpy {
        assert!(numpy_cases > 300, "{numpy_cases} numpy pickles");
    }
}
