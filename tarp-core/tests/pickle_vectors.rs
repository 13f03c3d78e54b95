//! Every case of `pickle_vectors.json` (CPython 3.11 / numpy 2.4 pickles of 58 values under
//! protocols 0 to 5, a copy of `shared/vectors/pickles.json`) decodes to its tagged expectation
//! under every protocol it lists; `reject` cases are refused; shared references come out as
//! the same `Arc`.

use std::sync::Arc;

use base64::Engine as _;
use serde_json::Value as Json;
use tarp_core::wire::pickle::{decode, encode, DType, NdArray, Scalar, Value};

const VECTORS: &str = include_str!("pickle_vectors.json");

fn b64(s: &str) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD
        .decode(s)
        .expect("base64 in vectors")
}

fn parse_float(s: &str) -> f64 {
    s.parse().unwrap_or_else(|_| panic!("float text {s:?}"))
}

fn same_float(got: f64, want: f64) -> bool {
    if want.is_nan() {
        got.is_nan()
    } else {
        got.to_bits() == want.to_bits()
    }
}

/// Compares a decoded value with a tagged expectation; returns what differs.
fn check(got: &Value, want: &Json, path: &str) -> Result<(), String> {
    let obj = want
        .as_object()
        .ok_or_else(|| format!("{path}: bad expectation {want}"))?;
    let (tag, body) = obj
        .iter()
        .next()
        .ok_or_else(|| format!("{path}: empty tag"))?;
    let fail = || format!("{path}: expected {tag} {body}, got {got:?}");
    match (tag.as_str(), got) {
        ("none", Value::None) => Ok(()),
        ("bool", Value::Bool(b)) if Some(*b) == body.as_bool() => Ok(()),
        ("int", Value::Int(_) | Value::BigInt(_)) => {
            let text = got.int_to_string().ok_or_else(fail)?;
            if Some(text.as_str()) == body.as_str() {
                // Ints that fit in 64 bits must be Int, never BigInt.
                let fits = body.as_str().unwrap().parse::<i64>().is_ok();
                if fits == matches!(got, Value::Int(_)) {
                    return Ok(());
                }
            }
            Err(fail())
        }
        ("float", Value::Float(x)) if same_float(*x, parse_float(body.as_str().unwrap())) => Ok(()),
        ("str", Value::Str(s)) if Some(&**s) == body.as_str() => Ok(()),
        ("bytes", Value::Bytes(b)) if **b == *b64(body.as_str().unwrap()) => Ok(()),
        ("list", Value::List(items)) | ("tuple", Value::Tuple(items)) => {
            let want = body.as_array().unwrap();
            if items.len() != want.len() {
                return Err(fail());
            }
            for (i, (g, w)) in items.iter().zip(want).enumerate() {
                check(g, w, &format!("{path}[{i}]"))?;
            }
            Ok(())
        }
        ("dict", Value::Dict(entries)) => {
            let want = body.as_array().unwrap();
            if entries.len() != want.len() {
                return Err(fail());
            }
            for (i, ((k, v), w)) in entries.iter().zip(want).enumerate() {
                check(k, &w[0], &format!("{path}.key{i}"))?;
                check(v, &w[1], &format!("{path}.value{i}"))?;
            }
            Ok(())
        }
        ("set", Value::Set(items) | Value::FrozenSet(items)) => {
            // Order-insensitive: every expected element matches a distinct decoded one.
            let want = body.as_array().unwrap();
            if items.len() != want.len() {
                return Err(fail());
            }
            let mut used = vec![false; items.len()];
            for w in want {
                let hit = (0..items.len()).find(|&i| !used[i] && check(&items[i], w, path).is_ok());
                match hit {
                    Some(i) => used[i] = true,
                    None => return Err(fail()),
                }
            }
            Ok(())
        }
        ("ndarray", Value::NdArray(a)) => check_array(a, body, path),
        _ => Err(fail()),
    }
}

fn check_array(a: &NdArray, want: &Json, path: &str) -> Result<(), String> {
    let dtype = DType::parse(want["dtype"].as_str().unwrap()).expect("known dtype");
    let shape: Vec<usize> = want["shape"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d.as_u64().unwrap() as usize)
        .collect();
    if a.dtype() != dtype || a.shape() != shape.as_slice() {
        return Err(format!(
            "{path}: expected dtype {dtype} shape {shape:?}, got {:?}",
            a
        ));
    }
    let data = want["data"].as_array().unwrap();
    if a.len() != data.len() {
        return Err(format!(
            "{path}: {} elements, expected {}",
            a.len(),
            data.len()
        ));
    }
    for (i, w) in data.iter().enumerate() {
        let (tag, body) = w.as_object().unwrap().iter().next().unwrap();
        let ok = match (tag.as_str(), a.get(i).unwrap()) {
            ("bool", Scalar::Bool(b)) => Some(b) == body.as_bool(),
            ("int", Scalar::Int(x)) => body.as_str() == Some(&x.to_string()),
            ("int", Scalar::UInt(x)) => body.as_str() == Some(&x.to_string()),
            ("float", Scalar::Float(x)) => same_float(x, parse_float(body.as_str().unwrap())),
            _ => false,
        };
        if !ok {
            return Err(format!(
                "{path}: element {i} is {:?}, expected {w}",
                a.get(i)
            ));
        }
    }
    Ok(())
}

fn ptr_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::List(x), Value::List(y)) => Arc::ptr_eq(x, y),
        (Value::Dict(x), Value::Dict(y)) => Arc::ptr_eq(x, y),
        (Value::Str(x), Value::Str(y)) => Arc::ptr_eq(x, y),
        _ => false,
    }
}

/// The sharing CPython's pickle records for the `shared_*` cases, checked by identity.
fn check_sharing(name: &str, v: &Value) -> Result<(), String> {
    let items = || v.as_seq().expect("a sequence");
    let pair_shared = |s: &[Value]| s.len() == 2 && ptr_eq(&s[0], &s[1]);
    let ok = match name {
        "shared_refs" | "shared_list_twice" | "shared_dict_twice" | "shared_str_twice" => {
            pair_shared(items())
        }
        "shared_nested" => {
            let outer = items();
            pair_shared(outer) && pair_shared(outer[0].as_seq().unwrap())
        }
        _ => true,
    };
    if ok {
        Ok(())
    } else {
        Err(format!("{name}: shared references were not kept shared"))
    }
}

#[test]
fn the_vectors_file_is_the_shared_one() {
    // When the shared checkout sits next to this repository, the copy must not drift.
    let shared = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../shared/vectors/pickles.json"
    );
    if let Ok(text) = std::fs::read_to_string(shared) {
        assert_eq!(
            text, VECTORS,
            "tarp-core/tests/pickle_vectors.json differs from {shared}"
        );
    }
}

#[test]
fn every_vector_under_every_protocol() {
    let doc: Json = serde_json::from_str(VECTORS).unwrap();
    let cases = doc["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 58, "the vectors hold 58 cases");
    let mut checked = 0;
    let mut failures = Vec::new();
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let expect = &case["expect"];
        let pickles = case["pickles"].as_object().unwrap();
        assert_eq!(pickles.len(), 6, "{name}: protocols 0-5");
        for (proto, data) in pickles {
            let bytes = b64(data.as_str().unwrap());
            let label = format!("{name} (protocol {proto})");
            let got = decode(&bytes);
            checked += 1;
            if let Some(reason) = expect.get("reject") {
                match got {
                    Err(e) => {
                        let msg = e.to_string();
                        assert!(msg.len() < 400, "{label}: overlong error {msg}");
                        assert!(msg.starts_with("invalid pickle"), "{label}: {msg}");
                    }
                    Ok(v) => {
                        failures.push(format!("{label}: accepted {v:?}, must refuse ({reason})"))
                    }
                }
                continue;
            }
            let v = match got {
                Ok(v) => v,
                Err(e) => {
                    failures.push(format!("{label}: {e}"));
                    continue;
                }
            };
            if let Err(e) = check(&v, expect, &label).and_then(|()| check_sharing(name, &v)) {
                failures.push(e);
                continue;
            }
            if name == "frozenset" && !matches!(v, Value::FrozenSet(_)) {
                failures.push(format!("{label}: not a frozenset: {v:?}"));
            }
            if name == "set" && !matches!(v, Value::Set(_)) {
                failures.push(format!("{label}: not a set: {v:?}"));
            }
            // Our encoding decodes to the same value, sharing included.
            match decode(&encode(&v)) {
                Ok(again) if again.same(&v) => {
                    if let Err(e) = check_sharing(name, &again) {
                        failures.push(format!("{label} re-encoded: {e}"));
                    }
                }
                Ok(again) => failures.push(format!("{label}: re-encoded as {again:?}")),
                Err(e) => failures.push(format!("{label}: re-encoding refused: {e}")),
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert_eq!(checked, 58 * 6);
}

#[test]
fn messages_for_the_rejected_vectors_name_the_problem() {
    let doc: Json = serde_json::from_str(VECTORS).unwrap();
    for case in doc["cases"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let want = match name {
            "reject_recursive_list" => "contains itself",
            "reject_object_array" => "Python objects",
            _ => continue,
        };
        for (proto, data) in case["pickles"].as_object().unwrap() {
            let e = decode(&b64(data.as_str().unwrap()))
                .unwrap_err()
                .to_string();
            assert!(e.contains(want), "{name} protocol {proto}: {e}");
        }
    }
}

#[test]
fn the_second_array_gets_its_own_dtype_through_the_memo() {
    let doc: Json = serde_json::from_str(VECTORS).unwrap();
    let case = doc["cases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "ndarray_two_in_list")
        .unwrap();
    for data in case["pickles"].as_object().unwrap().values() {
        let v = decode(&b64(data.as_str().unwrap())).unwrap();
        let items = v.as_seq().unwrap();
        let a = items[0].as_ndarray().unwrap();
        let b = items[1].as_ndarray().unwrap();
        assert_eq!((a.dtype(), b.dtype()), (DType::F64, DType::F64));
        assert_eq!(b.as_f64().unwrap(), &[1.0, 1.0, 1.0]);
    }
}
