//! `Serialize`/`Deserialize` for [`Value`] and [`NdArray`] that survive serde intact.
//!
//! serde's data model has no sets, tuples-vs-lists, big ints or arrays, so these two types use
//! the trick serde_json's `RawValue` uses: a newtype struct with a reserved name. Our own
//! serializer and deserializer recognise the name and hand the value over whole (an `Arc`
//! clone, through a thread-local slot that is filled and emptied within one call); any other
//! format sees an ordinary representation (`Value` as its natural JSON-like shape, `NdArray`
//! as `{"dtype": "<f8", "shape": [..], "data": [..]}`).

use std::cell::RefCell;
use std::fmt;
use std::sync::Arc;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::ser::{Serialize, SerializeSeq, SerializeStruct, SerializeTuple, Serializer};

use super::bigint;
use super::de::Walk;
use super::ndarray::{f64_to_f16, shape_len, ArrayData, DType, NdArray, Scalar, MAX_NDIM};
use super::{Value, ValueError};

/// Reserved newtype name for a whole [`Value`].
pub(crate) const VALUE_TOKEN: &str = "\u{0}tarp::pickle::Value";
/// Reserved newtype name for an [`NdArray`].
pub(crate) const NDARRAY_TOKEN: &str = "\u{0}tarp::pickle::NdArray";

thread_local! {
    static SLOT: RefCell<Option<Value>> = const { RefCell::new(None) };
    /// Nesting of [`Plain`] serializations in progress on this thread (other formats recurse).
    static PLAIN_DEPTH: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

fn put(v: Value) {
    SLOT.with(|s| *s.borrow_mut() = Some(v));
}

/// Takes the value our serializer or deserializer just handed over, if any.
pub(crate) fn take() -> Option<Value> {
    SLOT.with(|s| s.borrow_mut().take())
}

/// Hands `v` to a visitor of [`Value`] or [`NdArray`]: it receives the token as a string and
/// takes the value from the slot.
pub(crate) fn hand_over<'de, V: Visitor<'de>>(
    v: Value,
    token: &'static str,
    visitor: V,
) -> Result<V::Value, ValueError> {
    put(v);
    let r = visitor.visit_borrowed_str(token);
    take();
    r
}

// ---- Value ----

impl Serialize for Value {
    /// Through [`to_value`](super::to_value): the value itself, unchanged. Elsewhere: `None` as
    /// unit, ints (beyond 128 bits as decimal text), floats, strings, bytes, lists, tuples and
    /// sets as sequences, dicts as maps, arrays as described on [`NdArray`].
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        put(self.clone());
        s.serialize_newtype_struct(VALUE_TOKEN, &Plain(self))
    }
}

struct Plain<'a>(&'a Value);

impl Serialize for Plain<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        // A format other than ours: the handed-over copy is not needed.
        take();
        let depth = PLAIN_DEPTH.with(|d| d.get());
        if depth > super::MAX_WALK_DEPTH {
            return Err(serde::ser::Error::custom(format!(
                "value nested deeper than {} levels for serialization",
                super::MAX_WALK_DEPTH
            )));
        }
        PLAIN_DEPTH.with(|d| d.set(depth + 1));
        let r = self.plain(s);
        PLAIN_DEPTH.with(|d| d.set(depth));
        r
    }
}

impl Plain<'_> {
    fn plain<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            Value::None => s.serialize_unit(),
            Value::Bool(b) => s.serialize_bool(*b),
            Value::Int(i) => s.serialize_i64(*i),
            Value::BigInt(b) => {
                if let Some(u) = bigint::to_u128(b) {
                    s.serialize_u128(u)
                } else if let Some(i) = bigint::to_i128(b) {
                    s.serialize_i128(i)
                } else {
                    s.serialize_str(&bigint::to_decimal(b).unwrap_or_else(|| bigint::to_hex(b)))
                }
            }
            Value::Float(x) => s.serialize_f64(*x),
            Value::Str(x) => s.serialize_str(x),
            Value::Bytes(b) => s.serialize_bytes(b),
            Value::List(items) | Value::Set(items) | Value::FrozenSet(items) => {
                let mut seq = s.serialize_seq(Some(items.len()))?;
                for x in items.iter() {
                    seq.serialize_element(x)?;
                }
                seq.end()
            }
            Value::Tuple(items) => {
                let mut t = s.serialize_tuple(items.len())?;
                for x in items.iter() {
                    t.serialize_element(x)?;
                }
                t.end()
            }
            Value::Dict(entries) => s.collect_map(entries.iter().map(|(k, v)| (k, v))),
            Value::NdArray(a) => a.serialize(s),
        }
    }
}

impl<'de> Deserialize<'de> for Value {
    /// Through [`from_value`](super::from_value): the value itself, unchanged (sets, tuples,
    /// big ints and arrays included). Elsewhere: the natural mapping of the format's data.
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Value, D::Error> {
        d.deserialize_newtype_struct(VALUE_TOKEN, ValueVisitor)
    }
}

struct ValueVisitor;

impl<'de> Visitor<'de> for ValueVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any Python value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Int(v))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_i128<E>(self, v: i128) -> Result<Value, E> {
        Ok(Value::from_i128(v))
    }

    fn visit_u128<E>(self, v: u128) -> Result<Value, E> {
        Ok(Value::from_u128(v))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Value::Float(v))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        if v == VALUE_TOKEN || v == NDARRAY_TOKEN {
            if let Some(x) = take() {
                return Ok(x);
            }
        }
        Ok(Value::Str(Arc::from(v)))
    }

    fn visit_bytes<E>(self, v: &[u8]) -> Result<Value, E> {
        Ok(Value::Bytes(Arc::from(v)))
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::None)
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::None)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        Value::deserialize(d)
    }

    fn visit_newtype_struct<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(4096));
        while let Some(x) = seq.next_element::<Value>()? {
            items.push(x);
        }
        Ok(Value::List(Arc::new(items)))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut entries = Vec::with_capacity(map.size_hint().unwrap_or(0).min(4096));
        while let Some(e) = map.next_entry::<Value, Value>()? {
            entries.push(e);
        }
        Ok(Value::Dict(Arc::new(entries)))
    }
}

// ---- NdArray ----

impl Serialize for NdArray {
    /// Through [`to_value`](super::to_value): a `Value::NdArray` (a `numpy.ndarray` once
    /// encoded). Elsewhere: a struct `{dtype: "<f8", shape: [..], data: [..]}` with the elements
    /// in C order (complex ones as `[re, im]`).
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        put(Value::NdArray(self.clone()));
        s.serialize_newtype_struct(NDARRAY_TOKEN, &PlainArray(self))
    }
}

struct PlainArray<'a>(&'a NdArray);

impl Serialize for PlainArray<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        take();
        let mut st = s.serialize_struct("NdArray", 3)?;
        st.serialize_field("dtype", self.0.dtype().descr())?;
        st.serialize_field("shape", self.0.shape())?;
        st.serialize_field("data", &Elements(self.0))?;
        st.end()
    }
}

struct Elements<'a>(&'a NdArray);

impl Serialize for Elements<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let a = self.0;
        let mut seq = s.serialize_seq(Some(a.len()))?;
        for i in 0..a.len() {
            match a.get(i) {
                Some(Scalar::Bool(b)) => seq.serialize_element(&b)?,
                Some(Scalar::Int(x)) => seq.serialize_element(&x)?,
                Some(Scalar::UInt(x)) => seq.serialize_element(&x)?,
                Some(Scalar::Float(x)) => seq.serialize_element(&x)?,
                Some(Scalar::Complex(re, im)) => seq.serialize_element(&(re, im))?,
                None => {}
            }
        }
        seq.end()
    }
}

impl<'de> Deserialize<'de> for NdArray {
    /// Through [`from_value`](super::from_value): the caller's `numpy.ndarray` as is, or a
    /// rectangular (nested) list of numbers converted by [`NdArray::from_nested`]. Elsewhere:
    /// the struct form [`Serialize`] writes, or a nested list.
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<NdArray, D::Error> {
        d.deserialize_newtype_struct(NDARRAY_TOKEN, ArrayVisitor)
    }
}

struct ArrayVisitor;

impl<'de> Visitor<'de> for ArrayVisitor {
    type Value = NdArray;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a numpy array")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<NdArray, E> {
        if v == NDARRAY_TOKEN {
            if let Some(Value::NdArray(a)) = take() {
                return Ok(a);
            }
        }
        Err(E::invalid_type(de::Unexpected::Str(v), &self))
    }

    fn visit_newtype_struct<D: Deserializer<'de>>(self, d: D) -> Result<NdArray, D::Error> {
        d.deserialize_any(self)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<NdArray, A::Error> {
        let mut items = Vec::new();
        while let Some(x) = seq.next_element::<Value>()? {
            items.push(x);
        }
        NdArray::from_nested(&Value::list(items)).map_err(de::Error::custom)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<NdArray, A::Error> {
        let mut dtype: Option<String> = None;
        let mut shape: Option<Vec<usize>> = None;
        let mut data: Option<Vec<Num>> = None;
        while let Some(k) = map.next_key::<String>()? {
            match k.as_str() {
                "dtype" => dtype = Some(map.next_value()?),
                "shape" => shape = Some(map.next_value()?),
                "data" => data = Some(map.next_value()?),
                _ => {
                    map.next_value::<de::IgnoredAny>()?;
                }
            }
        }
        let dtype = dtype.ok_or_else(|| de::Error::missing_field("dtype"))?;
        let shape = shape.ok_or_else(|| de::Error::missing_field("shape"))?;
        let data = data.ok_or_else(|| de::Error::missing_field("data"))?;
        let dtype = DType::parse(&dtype)
            .ok_or_else(|| de::Error::custom(format!("unsupported dtype {dtype:?}")))?;
        let data = build_data(dtype, &data).map_err(de::Error::custom)?;
        NdArray::new(shape, data).map_err(de::Error::custom)
    }
}

/// An element in the portable form.
#[derive(Clone, Copy)]
enum Num {
    Bool(bool),
    Int(i64),
    UInt(u64),
    Float(f64),
    Complex(f64, f64),
}

impl<'de> Deserialize<'de> for Num {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Num, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Num;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a number, a bool or [re, im]")
            }
            fn visit_bool<E>(self, v: bool) -> Result<Num, E> {
                Ok(Num::Bool(v))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Num, E> {
                Ok(Num::Int(v))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Num, E> {
                Ok(match i64::try_from(v) {
                    Ok(i) => Num::Int(i),
                    Err(_) => Num::UInt(v),
                })
            }
            fn visit_f64<E>(self, v: f64) -> Result<Num, E> {
                Ok(Num::Float(v))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Num, A::Error> {
                let re: f64 = seq
                    .next_element()?
                    .ok_or_else(|| de::Error::invalid_length(0, &self))?;
                let im: f64 = seq
                    .next_element()?
                    .ok_or_else(|| de::Error::invalid_length(1, &self))?;
                Ok(Num::Complex(re, im))
            }
        }
        d.deserialize_any(V)
    }
}

/// Builds typed elements, refusing values the dtype cannot hold.
fn build_data(dtype: DType, nums: &[Num]) -> Result<ArrayData, String> {
    fn int<T: TryFrom<i128>>(n: Num, dtype: DType) -> Result<T, String> {
        let wide = match n {
            Num::Bool(b) => i128::from(b),
            Num::Int(i) => i128::from(i),
            Num::UInt(u) => i128::from(u),
            Num::Float(_) | Num::Complex(..) => {
                return Err(format!(
                    "a float cannot be stored in a {} array",
                    dtype.name()
                ))
            }
        };
        T::try_from(wide).map_err(|_| format!("{wide} does not fit in {}", dtype.name()))
    }
    fn float(n: Num, dtype: DType) -> Result<f64, String> {
        match n {
            Num::Bool(b) => Ok(f64::from(u8::from(b))),
            Num::Int(i) => Ok(i as f64),
            Num::UInt(u) => Ok(u as f64),
            Num::Float(x) => Ok(x),
            Num::Complex(..) => Err(format!(
                "a complex number cannot be stored in a {} array",
                dtype.name()
            )),
        }
    }
    fn complex(n: Num, dtype: DType) -> Result<(f64, f64), String> {
        match n {
            Num::Complex(re, im) => Ok((re, im)),
            other => Ok((float(other, dtype)?, 0.0)),
        }
    }
    let mut data = ArrayData::with_capacity(dtype, nums.len());
    for &n in nums {
        match &mut data {
            ArrayData::Bool(v) => v.push(match n {
                Num::Bool(b) => b,
                _ => return Err("only bools can be stored in a bool array".into()),
            }),
            ArrayData::I8(v) => v.push(int(n, dtype)?),
            ArrayData::U8(v) => v.push(int(n, dtype)?),
            ArrayData::I16(v) => v.push(int(n, dtype)?),
            ArrayData::U16(v) => v.push(int(n, dtype)?),
            ArrayData::I32(v) => v.push(int(n, dtype)?),
            ArrayData::U32(v) => v.push(int(n, dtype)?),
            ArrayData::I64(v) => v.push(int(n, dtype)?),
            ArrayData::U64(v) => v.push(int(n, dtype)?),
            ArrayData::F16(v) => v.push(f64_to_f16(float(n, dtype)?)),
            ArrayData::F32(v) => v.push(float(n, dtype)? as f32),
            ArrayData::F64(v) => v.push(float(n, dtype)?),
            ArrayData::C64(v) => {
                let (re, im) = complex(n, dtype)?;
                v.push([re as f32, im as f32]);
            }
            ArrayData::C128(v) => {
                let (re, im) = complex(n, dtype)?;
                v.push([re, im]);
            }
        }
    }
    Ok(data)
}

impl NdArray {
    /// Converts a rectangular nest of lists/tuples of numbers into an array, as
    /// `numpy.array(value)` would: all bools give `bool`, ints (and bools) give `int64`, any
    /// float gives `float64`; an `NdArray` is returned as is. Ragged nests, other element types
    /// and ints beyond 64 bits are refused.
    pub fn from_nested(v: &Value) -> Result<NdArray, ValueError> {
        if let Value::NdArray(a) = v {
            return Ok(a.clone());
        }
        let mut shape = Vec::new();
        let mut cur = v;
        while let Value::List(items) | Value::Tuple(items) = cur {
            if shape.len() >= MAX_NDIM {
                return Err(ValueError::new(format!(
                    "list nested more than {MAX_NDIM} deep cannot be an array"
                )));
            }
            shape.push(items.len());
            match items.first() {
                Some(x) => cur = x,
                None => break,
            }
        }
        if shape.is_empty() {
            return Err(ValueError::new(format!(
                "expected a numpy array or a list of numbers, got {}",
                v.type_name()
            )));
        }
        let n = shape_len(&shape).ok_or_else(|| ValueError::new("array too large"))?;
        Walk::new(v).charge(n)?;
        let mut nums = Vec::with_capacity(n);
        // Depth-first over the nest, checking every level against the shape.
        let mut todo: Vec<(&Value, usize)> = vec![(v, 0)];
        while let Some((x, depth)) = todo.pop() {
            if depth == shape.len() {
                nums.push(match x {
                    Value::Bool(b) => Num::Bool(*b),
                    Value::Int(i) => Num::Int(*i),
                    Value::Float(f) => Num::Float(*f),
                    other => {
                        return Err(ValueError::new(format!(
                            "array elements must be numbers or bools, got {}",
                            other.type_name()
                        )))
                    }
                });
                continue;
            }
            match x {
                Value::List(items) | Value::Tuple(items) if items.len() == shape[depth] => {
                    todo.extend(items.iter().rev().map(|c| (c, depth + 1)));
                }
                _ => {
                    return Err(ValueError::new(
                        "list is ragged (not rectangular), so it cannot be an array",
                    ))
                }
            }
        }
        let dtype = if nums.iter().any(|x| matches!(x, Num::Float(_))) || nums.is_empty() {
            DType::F64
        } else if nums.iter().all(|x| matches!(x, Num::Bool(_))) {
            DType::Bool
        } else {
            DType::I64
        };
        let data = build_data(dtype, &nums).map_err(ValueError::new)?;
        NdArray::new(shape, data)
    }
}
