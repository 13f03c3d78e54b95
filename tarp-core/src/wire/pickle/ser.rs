//! `to_value`: a serde `Serializer` producing [`Value`], so handlers return natural Rust types.
//!
//! `()`, unit structs and `None` become `None`; integers become `Int` (or an exact `BigInt`
//! for `u64`/`i128`/`u128` beyond 64-bit signed range); `serde_bytes` bytes become `Bytes`
//! (a plain `Vec<u8>` stays a list of ints, as serde presents it); sequences become lists,
//! tuples and tuple structs become tuples, maps and structs become dicts (structs keyed by
//! field name); enums are externally tagged (`"Variant"` or `{"Variant": value}`).
//! [`NdArray`](super::NdArray) and [`Value`] pass through unchanged.

use std::sync::Arc;

use serde::ser::{self, Serialize};

use super::magic::{self, NDARRAY_TOKEN, VALUE_TOKEN};
use super::{Value, ValueError};

/// Serializes `t` into a [`Value`] (see the module doc for the mapping).
pub fn to_value<T: Serialize + ?Sized>(t: &T) -> Result<Value, ValueError> {
    t.serialize(ValueSerializer)
}

/// The serde `Serializer` producing a [`Value`].
pub(crate) struct ValueSerializer;

fn variant(name: &'static str, v: Value) -> Value {
    Value::Dict(Arc::new(vec![(Value::Str(Arc::from(name)), v)]))
}

impl ser::Serializer for ValueSerializer {
    type Ok = Value;
    type Error = ValueError;
    type SerializeSeq = SeqSer;
    type SerializeTuple = SeqSer;
    type SerializeTupleStruct = SeqSer;
    type SerializeTupleVariant = SeqSer;
    type SerializeMap = MapSer;
    type SerializeStruct = MapSer;
    type SerializeStructVariant = MapSer;

    fn serialize_bool(self, v: bool) -> Result<Value, ValueError> {
        Ok(Value::Bool(v))
    }

    fn serialize_i8(self, v: i8) -> Result<Value, ValueError> {
        Ok(Value::Int(i64::from(v)))
    }

    fn serialize_i16(self, v: i16) -> Result<Value, ValueError> {
        Ok(Value::Int(i64::from(v)))
    }

    fn serialize_i32(self, v: i32) -> Result<Value, ValueError> {
        Ok(Value::Int(i64::from(v)))
    }

    fn serialize_i64(self, v: i64) -> Result<Value, ValueError> {
        Ok(Value::Int(v))
    }

    fn serialize_i128(self, v: i128) -> Result<Value, ValueError> {
        Ok(Value::from_i128(v))
    }

    fn serialize_u8(self, v: u8) -> Result<Value, ValueError> {
        Ok(Value::Int(i64::from(v)))
    }

    fn serialize_u16(self, v: u16) -> Result<Value, ValueError> {
        Ok(Value::Int(i64::from(v)))
    }

    fn serialize_u32(self, v: u32) -> Result<Value, ValueError> {
        Ok(Value::Int(i64::from(v)))
    }

    fn serialize_u64(self, v: u64) -> Result<Value, ValueError> {
        Ok(Value::from(v))
    }

    fn serialize_u128(self, v: u128) -> Result<Value, ValueError> {
        Ok(Value::from_u128(v))
    }

    fn serialize_f32(self, v: f32) -> Result<Value, ValueError> {
        Ok(Value::Float(f64::from(v)))
    }

    fn serialize_f64(self, v: f64) -> Result<Value, ValueError> {
        Ok(Value::Float(v))
    }

    fn serialize_char(self, v: char) -> Result<Value, ValueError> {
        Ok(Value::Str(Arc::from(v.encode_utf8(&mut [0u8; 4]) as &str)))
    }

    fn serialize_str(self, v: &str) -> Result<Value, ValueError> {
        Ok(Value::Str(Arc::from(v)))
    }

    fn serialize_bytes(self, v: &[u8]) -> Result<Value, ValueError> {
        Ok(Value::Bytes(Arc::from(v)))
    }

    fn serialize_none(self) -> Result<Value, ValueError> {
        Ok(Value::None)
    }

    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<Value, ValueError> {
        value.serialize(self)
    }

    fn serialize_unit(self) -> Result<Value, ValueError> {
        Ok(Value::None)
    }

    fn serialize_unit_struct(self, _name: &'static str) -> Result<Value, ValueError> {
        Ok(Value::None)
    }

    fn serialize_unit_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
    ) -> Result<Value, ValueError> {
        Ok(Value::Str(Arc::from(variant)))
    }

    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        name: &'static str,
        value: &T,
    ) -> Result<Value, ValueError> {
        if name == VALUE_TOKEN || name == NDARRAY_TOKEN {
            if let Some(v) = magic::take() {
                return Ok(v);
            }
        }
        value.serialize(self)
    }

    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _index: u32,
        var: &'static str,
        value: &T,
    ) -> Result<Value, ValueError> {
        Ok(variant(var, value.serialize(ValueSerializer)?))
    }

    fn serialize_seq(self, len: Option<usize>) -> Result<SeqSer, ValueError> {
        Ok(SeqSer::new(len, Kind::List))
    }

    fn serialize_tuple(self, len: usize) -> Result<SeqSer, ValueError> {
        Ok(SeqSer::new(Some(len), Kind::Tuple))
    }

    fn serialize_tuple_struct(self, _name: &'static str, len: usize) -> Result<SeqSer, ValueError> {
        Ok(SeqSer::new(Some(len), Kind::Tuple))
    }

    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        var: &'static str,
        len: usize,
    ) -> Result<SeqSer, ValueError> {
        Ok(SeqSer::new(Some(len), Kind::Variant(var)))
    }

    fn serialize_map(self, len: Option<usize>) -> Result<MapSer, ValueError> {
        Ok(MapSer::new(len, None))
    }

    fn serialize_struct(self, _name: &'static str, len: usize) -> Result<MapSer, ValueError> {
        Ok(MapSer::new(Some(len), None))
    }

    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        var: &'static str,
        len: usize,
    ) -> Result<MapSer, ValueError> {
        Ok(MapSer::new(Some(len), Some(var)))
    }
}

enum Kind {
    List,
    Tuple,
    Variant(&'static str),
}

/// Collects a sequence, tuple or tuple variant.
pub(crate) struct SeqSer {
    items: Vec<Value>,
    kind: Kind,
}

impl SeqSer {
    fn new(len: Option<usize>, kind: Kind) -> SeqSer {
        SeqSer {
            items: Vec::with_capacity(len.unwrap_or(0).min(4096)),
            kind,
        }
    }

    fn push<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), ValueError> {
        let i = self.items.len();
        let v = value
            .serialize(ValueSerializer)
            .map_err(|e| e.at(format!("[{i}]")))?;
        self.items.push(v);
        Ok(())
    }

    fn finish(self) -> Value {
        let items = Arc::new(self.items);
        match self.kind {
            Kind::List => Value::List(items),
            Kind::Tuple => Value::Tuple(items),
            Kind::Variant(name) => variant(name, Value::Tuple(items)),
        }
    }
}

impl ser::SerializeSeq for SeqSer {
    type Ok = Value;
    type Error = ValueError;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), ValueError> {
        self.push(value)
    }
    fn end(self) -> Result<Value, ValueError> {
        Ok(self.finish())
    }
}

impl ser::SerializeTuple for SeqSer {
    type Ok = Value;
    type Error = ValueError;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), ValueError> {
        self.push(value)
    }
    fn end(self) -> Result<Value, ValueError> {
        Ok(self.finish())
    }
}

impl ser::SerializeTupleStruct for SeqSer {
    type Ok = Value;
    type Error = ValueError;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), ValueError> {
        self.push(value)
    }
    fn end(self) -> Result<Value, ValueError> {
        Ok(self.finish())
    }
}

impl ser::SerializeTupleVariant for SeqSer {
    type Ok = Value;
    type Error = ValueError;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), ValueError> {
        self.push(value)
    }
    fn end(self) -> Result<Value, ValueError> {
        Ok(self.finish())
    }
}

/// Collects a map, struct or struct variant.
pub(crate) struct MapSer {
    entries: Vec<(Value, Value)>,
    key: Option<Value>,
    variant: Option<&'static str>,
}

impl MapSer {
    fn new(len: Option<usize>, variant: Option<&'static str>) -> MapSer {
        MapSer {
            entries: Vec::with_capacity(len.unwrap_or(0).min(4096)),
            key: None,
            variant,
        }
    }

    fn field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), ValueError> {
        let v = value
            .serialize(ValueSerializer)
            .map_err(|e| e.at(format!(".{key}")))?;
        self.entries.push((Value::Str(Arc::from(key)), v));
        Ok(())
    }

    fn finish(self) -> Value {
        let d = Value::Dict(Arc::new(self.entries));
        match self.variant {
            Some(name) => variant(name, d),
            None => d,
        }
    }
}

impl ser::SerializeMap for MapSer {
    type Ok = Value;
    type Error = ValueError;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), ValueError> {
        self.key = Some(key.serialize(ValueSerializer)?);
        Ok(())
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), ValueError> {
        let key = self
            .key
            .take()
            .ok_or_else(|| ValueError::new("map value serialized before its key"))?;
        let v = value.serialize(ValueSerializer)?;
        self.entries.push((key, v));
        Ok(())
    }
    fn end(self) -> Result<Value, ValueError> {
        Ok(self.finish())
    }
}

impl ser::SerializeStruct for MapSer {
    type Ok = Value;
    type Error = ValueError;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), ValueError> {
        self.field(key, value)
    }
    fn end(self) -> Result<Value, ValueError> {
        Ok(self.finish())
    }
}

impl ser::SerializeStructVariant for MapSer {
    type Ok = Value;
    type Error = ValueError;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), ValueError> {
        self.field(key, value)
    }
    fn end(self) -> Result<Value, ValueError> {
        Ok(self.finish())
    }
}
