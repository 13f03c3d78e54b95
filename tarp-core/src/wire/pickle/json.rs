//! `to_json`: a decoded value as JSON, for printing results (the CLI).
//!
//! `None` → `null`; ints → numbers (beyond 64 bits: decimal text, or `0x…` hex past CPython's
//! 4300-digit limit); floats → numbers, NaN and infinities as the strings `"NaN"`,
//! `"Infinity"`, `"-Infinity"` (Python's `json.dumps` spellings); str → string; bytes →
//! standard base64 string; list, tuple, set, frozenset → array; dict → object, with non-string
//! keys turned into text as `json.dumps` does (`1` → `"1"`, `True` → `"true"`, `None` →
//! `"null"`; other keys as their compact JSON); arrays → nested arrays by shape (a 0-d array →
//! its element; complex elements → `[re, im]`). Bounded like [`from_value`](super::from_value).

use base64::Engine as _;
use serde_json::{Map, Number, Value as Json};

use super::bigint;
use super::de::{cost, Walk};
use super::ndarray::{NdArray, Scalar};
use super::{Value, ValueError};

/// Converts a value to JSON (see the module doc for the mapping).
pub fn to_json(v: &Value) -> Result<Json, ValueError> {
    let walk = Walk::new(v);
    walk.charge(cost(v))?;
    convert(v, &walk)
}

fn float(x: f64) -> Json {
    match Number::from_f64(x) {
        Some(n) => Json::Number(n),
        None if x.is_nan() => Json::String("NaN".into()),
        None if x > 0.0 => Json::String("Infinity".into()),
        None => Json::String("-Infinity".into()),
    }
}

fn scalar(s: Option<Scalar>) -> Json {
    match s {
        Some(Scalar::Bool(b)) => Json::Bool(b),
        Some(Scalar::Int(i)) => Json::from(i),
        Some(Scalar::UInt(u)) => Json::from(u),
        Some(Scalar::Float(x)) => float(x),
        Some(Scalar::Complex(re, im)) => Json::Array(vec![float(re), float(im)]),
        None => Json::Null,
    }
}

/// Number of JSON nodes an array of this shape becomes (each level's lists plus elements).
fn array_nodes(shape: &[usize]) -> usize {
    let mut total = 1usize;
    let mut level = 1usize;
    for &d in shape {
        level = level.saturating_mul(d);
        total = total.saturating_add(level);
    }
    total
}

fn array(a: &NdArray) -> Json {
    fn nest(a: &NdArray, shape: &[usize], next: &mut usize) -> Json {
        match shape.split_first() {
            None => {
                let j = scalar(a.get(*next));
                *next += 1;
                j
            }
            Some((&d, rest)) => Json::Array((0..d).map(|_| nest(a, rest, next)).collect()),
        }
    }
    // Recursion depth is the number of dimensions (at most 64).
    nest(a, a.shape(), &mut 0)
}

fn key_text(k: &Value, walk: &Walk<'_>) -> Result<String, ValueError> {
    Ok(match k {
        Value::Str(s) => s.to_string(),
        Value::Bool(true) => "true".into(),
        Value::Bool(false) => "false".into(),
        Value::None => "null".into(),
        Value::Int(i) => i.to_string(),
        Value::Float(x) => match float(*x) {
            Json::Number(n) => n.to_string(),
            Json::String(s) => s,
            other => other.to_string(),
        },
        other => convert(other, walk)?.to_string(),
    })
}

fn convert(v: &Value, walk: &Walk<'_>) -> Result<Json, ValueError> {
    Ok(match v {
        Value::None => Json::Null,
        Value::Bool(b) => Json::Bool(*b),
        Value::Int(i) => Json::from(*i),
        Value::BigInt(b) => match bigint::to_u128(b).and_then(|u| u64::try_from(u).ok()) {
            Some(u) => Json::from(u),
            None => Json::String(bigint::to_decimal(b).unwrap_or_else(|| bigint::to_hex(b))),
        },
        Value::Float(x) => float(*x),
        Value::Str(s) => Json::String(s.to_string()),
        Value::Bytes(b) => Json::String(base64::engine::general_purpose::STANDARD.encode(b)),
        Value::List(items) | Value::Tuple(items) | Value::Set(items) | Value::FrozenSet(items) => {
            walk.enter()?;
            let mut out = Vec::with_capacity(items.len());
            for x in items.iter() {
                walk.charge(cost(x))?;
                out.push(convert(x, walk)?);
            }
            walk.leave();
            Json::Array(out)
        }
        Value::Dict(entries) => {
            walk.enter()?;
            let mut out = Map::new();
            for (k, x) in entries.iter() {
                walk.charge(cost(k) + cost(x))?;
                out.insert(key_text(k, walk)?, convert(x, walk)?);
            }
            walk.leave();
            Json::Object(out)
        }
        Value::NdArray(a) => {
            walk.charge(array_nodes(a.shape()))?;
            array(a)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arrays_nest_by_shape() {
        let a = NdArray::from_shape_vec(vec![2, 3], vec![0i64, 1, 2, 3, 4, 5]).unwrap();
        assert_eq!(array(&a), serde_json::json!([[0, 1, 2], [3, 4, 5]]));
        let a = NdArray::from_shape_vec(vec![2, 0], Vec::<f64>::new()).unwrap();
        assert_eq!(array(&a), serde_json::json!([[], []]));
        let a = NdArray::from_shape_vec(vec![0, 2], Vec::<f64>::new()).unwrap();
        assert_eq!(array(&a), serde_json::json!([]));
        let a = NdArray::from_shape_vec(vec![], vec![2.5f64]).unwrap();
        assert_eq!(array(&a), serde_json::json!(2.5));
    }
}
