//! Pickles, safely: a bounded decoder for what CPython sends (protocols 0 to 5, numpy arrays
//! and scalars, shared references), and an encoder whose output any CPython 3 loads.
//!
//! STUB: the public surface below is the contract; the implementation is being written.

use std::sync::Arc;

/// A decoded Python value. Containers are reference-counted so a memo hit or `DUP` in the
/// pickle costs O(1) and shared references stay shared, as in CPython.
#[derive(Debug, Clone)]
pub enum Value {
    /// `None`
    None,
    /// `bool`
    Bool(bool),
    /// `int` that fits in 64 bits.
    Int(i64),
    /// `int` beyond 64 bits, kept exactly (two's complement, little-endian, as pickle LONG).
    BigInt(Arc<[u8]>),
    /// `float`
    Float(f64),
    /// `str`
    Str(Arc<str>),
    /// `bytes` or `bytearray`
    Bytes(Arc<[u8]>),
    /// `list`
    List(Arc<Vec<Value>>),
    /// `tuple`
    Tuple(Arc<Vec<Value>>),
    /// `dict`, in insertion order.
    Dict(Arc<Vec<(Value, Value)>>),
    /// `set`
    Set(Arc<Vec<Value>>),
    /// `frozenset`
    FrozenSet(Arc<Vec<Value>>),
}

/// Why a pickle was refused. The message names the problem (opcode, global, limit).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct PickleError(pub String);

/// Decodes a pickle (protocols 0 to 5) without executing or importing anything.
pub fn decode(_data: &[u8]) -> Result<Value, PickleError> {
    Err(PickleError("pickle decoder not implemented yet".into()))
}

/// Encodes a value as a pickle any CPython 3 loads.
pub fn encode(_value: &Value) -> Vec<u8> {
    unimplemented!("pickle encoder not implemented yet")
}
