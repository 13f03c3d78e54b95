//! `from_value`: a serde `Deserializer` over `&Value`, so handlers take natural Rust types.
//!
//! Lists, tuples, sets and arrays are sequences (an n-D array as its elements in C order);
//! dicts are maps and structs; ints are range-checked by serde's visitors; ints beyond 64 bits
//! reach only `i128`/`u128`, string and [`Value`] targets. Sharing can make a small value stand
//! for a huge tree, so a walk is charged against a budget of `max(1 M, 4 x stored size)` units
//! (a smaller base with [`from_value_within`])
//! ([`Value::footprint`]); the value's expanded size is measured (in one pass over what it
//! stores) before the first step, and a value that expands beyond the budget through shared
//! references is refused then, rather than copied out. A [`Value`] or
//! [`NdArray`](super::NdArray) target receives its part of the value whole, sharing intact.

use std::cell::Cell;

use serde::de::{
    self, DeserializeSeed, Deserializer, EnumAccess, MapAccess, SeqAccess, VariantAccess, Visitor,
};

use super::bigint;
use super::magic::{self, NDARRAY_TOKEN, VALUE_TOKEN};
use super::ndarray::{NdArray, Scalar};
use super::{Value, ValueError};

/// Deepest nesting [`from_value`] and [`to_json`](super::to_json) walk (serde recurses once
/// per level, as serde_json does, which caps its own at 128 for the same reason: a thread's
/// stack). Decoded values may be deeper (up to [`MAX_DEPTH`](super::MAX_DEPTH)); they are
/// refused here with a clear error instead of risking the stack.
pub const MAX_WALK_DEPTH: usize = 128;

/// Expansion every walk of [`from_value`] and [`to_json`](super::to_json) may reach,
/// whatever the stored size (see [`from_value_within`] for a smaller one).
pub const BASE_BUDGET: usize = 1 << 20;

/// Budget and depth shared by one walk.
pub(crate) struct Walk<'a> {
    root: &'a Value,
    /// Units left; measured on the first charge (a walk handing the whole value over, as a
    /// `Value` target does, never pays for the measurement).
    left: Cell<Option<usize>>,
    depth: Cell<usize>,
    /// Expansion allowed whatever the stored size.
    base: usize,
}

impl<'a> Walk<'a> {
    pub(crate) fn new(root: &'a Value) -> Walk<'a> {
        Walk::with_base(root, BASE_BUDGET)
    }

    pub(crate) fn with_base(root: &'a Value, base: usize) -> Walk<'a> {
        Walk {
            root,
            left: Cell::new(None),
            depth: Cell::new(0),
            base,
        }
    }

    /// Spends `units` of the budget. The first call measures the root (linear in what it
    /// stores): a value whose expansion exceeds `max(base, 4 x stored)` units is refused then,
    /// before any work.
    pub(crate) fn charge(&self, units: usize) -> Result<(), ValueError> {
        let left = match self.left.get() {
            Some(left) => left,
            None => {
                let (stored, expanded) = self.root.sizes();
                let limit = self.base.max(stored.saturating_mul(4));
                if expanded > limit {
                    return Err(expansion_error(stored, expanded));
                }
                limit
            }
        };
        match left.checked_sub(units) {
            Some(left) => {
                self.left.set(Some(left));
                Ok(())
            }
            None => Err(ValueError::new(
                "value expands into far more than it stores (refused)",
            )),
        }
    }

    pub(crate) fn enter(&self) -> Result<(), ValueError> {
        let d = self.depth.get() + 1;
        if d > MAX_WALK_DEPTH {
            return Err(ValueError::new(format!(
                "value nested deeper than {MAX_WALK_DEPTH} levels for conversion"
            )));
        }
        self.depth.set(d);
        Ok(())
    }

    pub(crate) fn leave(&self) {
        self.depth.set(self.depth.get().saturating_sub(1));
    }
}

fn expansion_error(stored: usize, expanded: usize) -> ValueError {
    ValueError::new(format!(
        "value expands through shared references into {} units from {stored} stored (refused)",
        if expanded == usize::MAX {
            "more than 2^64".to_string()
        } else {
            expanded.to_string()
        }
    ))
}

/// Units a value costs when visited.
pub(crate) fn cost(v: &Value) -> usize {
    match v {
        Value::Str(s) => 1 + s.len() / 32,
        Value::Bytes(b) => 1 + b.len() / 32,
        // Its decimal text (a `String` target, JSON) takes time quadratic in its size: about a
        // millisecond for 4000 digits, as much as some 10,000 plain nodes.
        Value::BigInt(b) => 1 + b.len() * b.len() / 256,
        _ => 1,
    }
}

/// Deserializes `T` from a decoded value (see the module doc for the mapping), within a walk
/// budget of `max(BASE_BUDGET, 4 x stored size)` units.
pub fn from_value<T: de::DeserializeOwned>(v: &Value) -> Result<T, ValueError> {
    from_value_within(v, BASE_BUDGET)
}

/// [`from_value`] within a walk budget of `max(base_budget, 4 x stored size)` units: how far
/// shared references may expand a small value. The service binds a request's arguments with
/// a smaller base than [`BASE_BUDGET`], so a tiny request cannot make a large tree.
pub fn from_value_within<T: de::DeserializeOwned>(
    v: &Value,
    base_budget: usize,
) -> Result<T, ValueError> {
    let walk = Walk::with_base(v, base_budget);
    T::deserialize(ValueDeserializer { v, walk: &walk })
}

/// The serde `Deserializer` for one value.
pub(crate) struct ValueDeserializer<'a> {
    pub(crate) v: &'a Value,
    pub(crate) walk: &'a Walk<'a>,
}

impl<'a> ValueDeserializer<'a> {
    fn seq<V: Visitor<'a>>(self, items: &'a [Value], visitor: V) -> Result<V::Value, ValueError> {
        self.walk.enter()?;
        let r = visitor.visit_seq(Seq {
            items: items.iter(),
            walk: self.walk,
            index: 0,
        });
        self.walk.leave();
        r
    }

    fn array<V: Visitor<'a>>(self, a: &'a NdArray, visitor: V) -> Result<V::Value, ValueError> {
        self.walk.charge(a.len())?;
        self.walk.enter()?;
        let r = visitor.visit_seq(ArraySeq { a, i: 0 });
        self.walk.leave();
        r
    }

    fn bigint_error(&self, b: &[u8]) -> ValueError {
        ValueError::new(format!(
            "integer of {} bits does not fit in 64 bits (use an i128/u128, String or Value parameter)",
            bigint::bit_length(b)
        ))
    }
}

macro_rules! forward_to_any {
    ($($method:ident)*) => {
        $(
            fn $method<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, ValueError> {
                self.deserialize_any(visitor)
            }
        )*
    };
}

impl<'a> Deserializer<'a> for ValueDeserializer<'a> {
    type Error = ValueError;

    fn deserialize_any<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, ValueError> {
        match self.v {
            Value::None => visitor.visit_unit(),
            Value::Bool(b) => visitor.visit_bool(*b),
            Value::Int(i) => visitor.visit_i64(*i),
            Value::BigInt(b) => match bigint::to_u128(b).and_then(|u| u64::try_from(u).ok()) {
                Some(u) => visitor.visit_u64(u),
                None => Err(self.bigint_error(b)),
            },
            Value::Float(x) => visitor.visit_f64(*x),
            Value::Str(s) => visitor.visit_borrowed_str(s),
            Value::Bytes(b) => visitor.visit_borrowed_bytes(b),
            Value::List(items)
            | Value::Tuple(items)
            | Value::Set(items)
            | Value::FrozenSet(items) => self.seq(items, visitor),
            Value::Dict(entries) => {
                self.walk.enter()?;
                let r = visitor.visit_map(Map {
                    entries: entries.iter(),
                    value: None,
                    walk: self.walk,
                });
                self.walk.leave();
                r
            }
            Value::NdArray(a) if a.ndim() == 0 => Elem { a, i: 0 }.deserialize_any(visitor),
            Value::NdArray(a) => self.array(a, visitor),
        }
    }

    fn deserialize_i128<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, ValueError> {
        match self.v {
            Value::BigInt(b) => match bigint::to_i128(b) {
                Some(i) => visitor.visit_i128(i),
                None => Err(ValueError::new(format!(
                    "integer of {} bits does not fit in i128",
                    bigint::bit_length(b)
                ))),
            },
            _ => self.deserialize_any(visitor),
        }
    }

    fn deserialize_u128<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, ValueError> {
        match self.v {
            Value::BigInt(b) => match bigint::to_u128(b) {
                Some(u) => visitor.visit_u128(u),
                None => Err(ValueError::new(format!(
                    "integer of {} bits does not fit in u128",
                    bigint::bit_length(b)
                ))),
            },
            _ => self.deserialize_any(visitor),
        }
    }

    fn deserialize_u64<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, ValueError> {
        self.deserialize_any(visitor)
    }

    fn deserialize_f64<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, ValueError> {
        match self.v {
            Value::BigInt(b) => match bigint::to_f64(b) {
                Some(x) => visitor.visit_f64(x),
                None => Err(ValueError::new("int too large to convert to float")),
            },
            _ => self.deserialize_any(visitor),
        }
    }

    fn deserialize_f32<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, ValueError> {
        self.deserialize_f64(visitor)
    }

    fn deserialize_str<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, ValueError> {
        match self.v {
            Value::BigInt(b) => match bigint::to_decimal(b) {
                Some(s) => visitor.visit_string(s),
                None => Err(ValueError::new(format!(
                    "integer of {} bits exceeds the limit of {} digits for conversion to text",
                    bigint::bit_length(b),
                    bigint::MAX_STR_DIGITS
                ))),
            },
            _ => self.deserialize_any(visitor),
        }
    }

    fn deserialize_string<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, ValueError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_bytes<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, ValueError> {
        self.deserialize_any(visitor)
    }

    fn deserialize_byte_buf<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, ValueError> {
        self.deserialize_any(visitor)
    }

    fn deserialize_option<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, ValueError> {
        match self.v {
            Value::None => visitor.visit_none(),
            _ => visitor.visit_some(self),
        }
    }

    fn deserialize_unit<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, ValueError> {
        match self.v {
            Value::None => visitor.visit_unit(),
            Value::Tuple(items) if items.is_empty() => visitor.visit_unit(),
            _ => self.deserialize_any(visitor),
        }
    }

    fn deserialize_unit_struct<V: Visitor<'a>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, ValueError> {
        self.deserialize_unit(visitor)
    }

    fn deserialize_newtype_struct<V: Visitor<'a>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value, ValueError> {
        if name == VALUE_TOKEN {
            return magic::hand_over(self.v.clone(), VALUE_TOKEN, visitor);
        }
        if name == NDARRAY_TOKEN {
            let a = match self.v {
                Value::NdArray(a) => a.clone(),
                other => NdArray::from_nested(other)?,
            };
            self.walk.charge(a.len())?;
            return magic::hand_over(Value::NdArray(a), NDARRAY_TOKEN, visitor);
        }
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_seq<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, ValueError> {
        match self.v {
            Value::Bytes(b) => {
                self.walk.charge(b.len())?;
                visitor.visit_seq(de::value::SeqDeserializer::new(b.iter().copied()))
            }
            Value::NdArray(a) => self.array(a, visitor),
            _ => self.deserialize_any(visitor),
        }
    }

    fn deserialize_tuple<V: Visitor<'a>>(
        self,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, ValueError> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'a>>(
        self,
        _name: &'static str,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, ValueError> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_struct<V: Visitor<'a>>(
        self,
        _name: &'static str,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, ValueError> {
        self.deserialize_any(visitor)
    }

    fn deserialize_enum<V: Visitor<'a>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, ValueError> {
        match self.v {
            Value::Str(_) => visitor.visit_enum(Enum {
                variant: self.v,
                value: None,
                walk: self.walk,
            }),
            Value::Dict(entries) if entries.len() == 1 => {
                self.walk.charge(cost(&entries[0].1))?;
                visitor.visit_enum(Enum {
                    variant: &entries[0].0,
                    value: Some(&entries[0].1),
                    walk: self.walk,
                })
            }
            other => Err(ValueError::new(format!(
                "expected an enum variant (a str, or a dict of one entry), got {}",
                other.type_name()
            ))),
        }
    }

    fn deserialize_ignored_any<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, ValueError> {
        visitor.visit_unit()
    }

    forward_to_any! {
        deserialize_bool deserialize_i8 deserialize_i16 deserialize_i32 deserialize_i64
        deserialize_u8 deserialize_u16 deserialize_u32 deserialize_char deserialize_map
        deserialize_identifier
    }
}

struct Seq<'a> {
    items: std::slice::Iter<'a, Value>,
    walk: &'a Walk<'a>,
    index: usize,
}

impl<'a> SeqAccess<'a> for Seq<'a> {
    type Error = ValueError;

    fn next_element_seed<T: DeserializeSeed<'a>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, ValueError> {
        let Some(v) = self.items.next() else {
            return Ok(None);
        };
        let i = self.index;
        self.index += 1;
        self.walk.charge(cost(v))?;
        seed.deserialize(ValueDeserializer { v, walk: self.walk })
            .map(Some)
            .map_err(|e| e.at(format!("[{i}]")))
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.items.len())
    }
}

struct Map<'a> {
    entries: std::slice::Iter<'a, (Value, Value)>,
    value: Option<&'a (Value, Value)>,
    walk: &'a Walk<'a>,
}

fn key_path(k: &Value) -> String {
    match k {
        Value::Str(s) if s.len() <= 64 => format!(".{s}"),
        Value::Int(i) => format!("[{i}]"),
        other => format!("[<{}>]", other.type_name()),
    }
}

impl<'a> MapAccess<'a> for Map<'a> {
    type Error = ValueError;

    fn next_key_seed<K: DeserializeSeed<'a>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, ValueError> {
        let Some(entry) = self.entries.next() else {
            return Ok(None);
        };
        self.value = Some(entry);
        self.walk.charge(cost(&entry.0))?;
        seed.deserialize(ValueDeserializer {
            v: &entry.0,
            walk: self.walk,
        })
        .map(Some)
        .map_err(|e| e.at(key_path(&entry.0)))
    }

    fn next_value_seed<T: DeserializeSeed<'a>>(&mut self, seed: T) -> Result<T::Value, ValueError> {
        let Some(entry) = self.value.take() else {
            return Err(ValueError::new("map value requested before its key"));
        };
        self.walk.charge(cost(&entry.1))?;
        seed.deserialize(ValueDeserializer {
            v: &entry.1,
            walk: self.walk,
        })
        .map_err(|e| e.at(key_path(&entry.0)))
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.entries.len())
    }
}

struct Enum<'a> {
    variant: &'a Value,
    value: Option<&'a Value>,
    walk: &'a Walk<'a>,
}

impl<'a> EnumAccess<'a> for Enum<'a> {
    type Error = ValueError;
    type Variant = Self;

    fn variant_seed<V: DeserializeSeed<'a>>(self, seed: V) -> Result<(V::Value, Self), ValueError> {
        let v = seed.deserialize(ValueDeserializer {
            v: self.variant,
            walk: self.walk,
        })?;
        Ok((v, self))
    }
}

impl<'a> VariantAccess<'a> for Enum<'a> {
    type Error = ValueError;

    fn unit_variant(self) -> Result<(), ValueError> {
        match self.value {
            None | Some(Value::None) => Ok(()),
            Some(other) => Err(ValueError::new(format!(
                "unit variant takes no value, got {}",
                other.type_name()
            ))),
        }
    }

    fn newtype_variant_seed<T: DeserializeSeed<'a>>(self, seed: T) -> Result<T::Value, ValueError> {
        match self.value {
            Some(v) => seed.deserialize(ValueDeserializer { v, walk: self.walk }),
            None => Err(ValueError::new("variant needs a value")),
        }
    }

    fn tuple_variant<V: Visitor<'a>>(
        self,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, ValueError> {
        match self.value {
            Some(v) => ValueDeserializer { v, walk: self.walk }.deserialize_seq(visitor),
            None => Err(ValueError::new("variant needs a tuple")),
        }
    }

    fn struct_variant<V: Visitor<'a>>(
        self,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, ValueError> {
        match self.value {
            Some(v) => ValueDeserializer { v, walk: self.walk }.deserialize_any(visitor),
            None => Err(ValueError::new("variant needs a dict")),
        }
    }
}

/// An array's elements as a sequence, in C order.
struct ArraySeq<'a> {
    a: &'a NdArray,
    i: usize,
}

impl<'a> SeqAccess<'a> for ArraySeq<'a> {
    type Error = ValueError;

    fn next_element_seed<T: DeserializeSeed<'a>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, ValueError> {
        if self.i >= self.a.len() {
            return Ok(None);
        }
        let i = self.i;
        self.i += 1;
        seed.deserialize(Elem { a: self.a, i })
            .map(Some)
            .map_err(|e| e.at(format!("[{i}]")))
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.a.len() - self.i)
    }
}

/// One array element.
struct Elem<'a> {
    a: &'a NdArray,
    i: usize,
}

impl<'de> Deserializer<'de> for Elem<'de> {
    type Error = ValueError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ValueError> {
        match self.a.get(self.i) {
            Some(Scalar::Bool(b)) => visitor.visit_bool(b),
            Some(Scalar::Int(x)) => visitor.visit_i64(x),
            Some(Scalar::UInt(x)) => visitor.visit_u64(x),
            Some(Scalar::Float(x)) => visitor.visit_f64(x),
            Some(Scalar::Complex(re, im)) => {
                visitor.visit_seq(de::value::SeqDeserializer::new([re, im].into_iter()))
            }
            None => Err(ValueError::new("array element out of range")),
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ValueError> {
        visitor.visit_some(self)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value, ValueError> {
        if name == VALUE_TOKEN {
            let v = match self.a.get(self.i) {
                Some(Scalar::Bool(b)) => Value::Bool(b),
                Some(Scalar::Int(x)) => Value::Int(x),
                Some(Scalar::UInt(x)) => Value::from(x),
                Some(Scalar::Float(x)) => Value::Float(x),
                Some(Scalar::Complex(re, im)) => Value::tuple(vec![re.into(), im.into()]),
                None => Value::None,
            };
            return magic::hand_over(v, VALUE_TOKEN, visitor);
        }
        visitor.visit_newtype_struct(self)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        unit unit_struct seq tuple tuple_struct map struct enum identifier ignored_any
    }
}
