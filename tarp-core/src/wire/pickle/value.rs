//! The decoded Python value and what one can ask of it without walking shared structure more
//! than once.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::Arc;

use super::bigint;
use super::ndarray::NdArray;

/// A decoded Python value. Containers are reference-counted so a memo hit or `DUP` in the
/// pickle costs O(1) and shared references stay shared, as in CPython (`Arc::ptr_eq` tells).
///
/// A value can never contain itself (a recursive pickle is refused), and values produced by
/// [`decode`](super::decode) nest at most [`MAX_DEPTH`](super::MAX_DEPTH) deep, so `Drop`
/// (recursive, as for any Rust tree) stays well within a thread's stack. Because sharing can
/// make a small value stand for a huge tree, the walks offered here are bounded or visit each
/// shared container once: [`encode`](super::encode), `==`, [`Value::same`] and
/// [`Value::footprint`] are iterative and linear in the stored size; `Debug` is cut short;
/// [`from_value`](super::from_value) and [`to_json`](super::to_json) refuse values that expand
/// far beyond their stored size or nest deeper than [`MAX_WALK_DEPTH`](super::MAX_WALK_DEPTH).
#[derive(Clone)]
pub enum Value {
    /// `None`
    None,
    /// `bool`
    Bool(bool),
    /// `int` that fits in 64 bits.
    Int(i64),
    /// `int` beyond 64 bits, kept exactly: two's complement, little-endian, minimal length (as
    /// pickle's `LONG1`). Never holds a value that fits in `i64`.
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
    /// `numpy.ndarray` of a numeric or bool dtype.
    NdArray(NdArray),
}

impl Value {
    /// Python's name for the value's type (`"int"`, `"list"`, `"numpy.ndarray"`), for messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::None => "NoneType",
            Value::Bool(_) => "bool",
            Value::Int(_) | Value::BigInt(_) => "int",
            Value::Float(_) => "float",
            Value::Str(_) => "str",
            Value::Bytes(_) => "bytes",
            Value::List(_) => "list",
            Value::Tuple(_) => "tuple",
            Value::Dict(_) => "dict",
            Value::Set(_) => "set",
            Value::FrozenSet(_) => "frozenset",
            Value::NdArray(_) => "numpy.ndarray",
        }
    }

    /// A `str` from anything that becomes one.
    pub fn str(s: impl Into<Arc<str>>) -> Value {
        Value::Str(s.into())
    }

    /// A `bytes` value.
    pub fn bytes(b: impl Into<Arc<[u8]>>) -> Value {
        Value::Bytes(b.into())
    }

    /// A `list`.
    pub fn list(items: Vec<Value>) -> Value {
        Value::List(Arc::new(items))
    }

    /// A `tuple`.
    pub fn tuple(items: Vec<Value>) -> Value {
        Value::Tuple(Arc::new(items))
    }

    /// A `dict` with entries in this order.
    pub fn dict(entries: Vec<(Value, Value)>) -> Value {
        Value::Dict(Arc::new(entries))
    }

    /// An exact `int` from a 128-bit value (`Int` when it fits in 64 bits).
    pub fn from_i128(x: i128) -> Value {
        bigint::from_i128(x)
    }

    /// An exact `int` from an unsigned 128-bit value.
    pub fn from_u128(x: u128) -> Value {
        bigint::from_u128(x)
    }

    /// An exact `int` from two's complement little-endian bytes of any length.
    pub fn int_from_le_bytes(bytes: &[u8]) -> Value {
        bigint::from_le_signed(bytes)
    }

    /// True for `None`.
    pub fn is_none(&self) -> bool {
        matches!(self, Value::None)
    }

    /// The `bool`, if this is one.
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }

    /// The `int`, if this is one that fits in `i64` (a `bool` is not an `int` here).
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Value::Int(i) => Some(*i),
            _ => None,
        }
    }

    /// The `int` as `i128`, if it is one and fits.
    pub fn as_i128(&self) -> Option<i128> {
        match self {
            Value::Int(i) => Some(i128::from(*i)),
            Value::BigInt(b) => bigint::to_i128(b),
            _ => None,
        }
    }

    /// The number as `f64`: a `float`, or an `int` converted as Python's `float()` does.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Float(f) => Some(*f),
            Value::Int(i) => Some(*i as f64),
            Value::BigInt(b) => bigint::to_f64(b),
            _ => None,
        }
    }

    /// The `str`, if this is one.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The `bytes`, if this is one.
    pub fn as_bytes(&self) -> Option<&[u8]> {
        match self {
            Value::Bytes(b) => Some(b),
            _ => None,
        }
    }

    /// The items of a `list` or `tuple`.
    pub fn as_seq(&self) -> Option<&[Value]> {
        match self {
            Value::List(v) | Value::Tuple(v) => Some(v),
            _ => None,
        }
    }

    /// The entries of a `dict`.
    pub fn as_dict(&self) -> Option<&[(Value, Value)]> {
        match self {
            Value::Dict(d) => Some(d),
            _ => None,
        }
    }

    /// The array, if this is a `numpy.ndarray`.
    pub fn as_ndarray(&self) -> Option<&NdArray> {
        match self {
            Value::NdArray(a) => Some(a),
            _ => None,
        }
    }

    /// Decimal text of an `int` (`None` for other values, or beyond CPython's 4300-digit limit).
    pub fn int_to_string(&self) -> Option<String> {
        match self {
            Value::Int(i) => Some(i.to_string()),
            Value::BigInt(b) => bigint::to_decimal(b),
            _ => None,
        }
    }

    /// Bit-for-bit equality: like `==`, but NaN equals NaN and `-0.0` differs from `0.0`.
    /// Shared containers are compared once, so this is linear in the stored size.
    pub fn same(&self, other: &Value) -> bool {
        equal(self, other, true)
    }

    /// Stored size in units of one value slot: each value, each array element and every 32
    /// bytes of text count one; a shared container or array counts once however many times it
    /// is referenced. Linear in the stored size.
    pub fn footprint(&self) -> usize {
        self.sizes().0
    }

    /// `(stored, expanded)` sizes in the units of [`Value::footprint`]: `expanded` counts a
    /// shared container once per reference (saturating), as a naive walk would visit it.
    /// Computed in one pass over what is stored, remembering each shared container's size.
    pub(crate) fn sizes(&self) -> (usize, usize) {
        fn leaf(v: &Value) -> Option<usize> {
            Some(match v {
                Value::Str(s) => 1 + s.len() / 32,
                Value::Bytes(b) | Value::BigInt(b) => 1 + b.len() / 32,
                Value::NdArray(a) => 1 + a.len(),
                Value::None | Value::Bool(_) | Value::Int(_) | Value::Float(_) => 1,
                _ => return None,
            })
        }
        fn key(v: &Value) -> Option<(u8, usize)> {
            match v {
                Value::List(a) | Value::Tuple(a) | Value::Set(a) | Value::FrozenSet(a) => {
                    (Arc::strong_count(a) > 1).then(|| (kind(v), Arc::as_ptr(a) as usize))
                }
                Value::Dict(a) => {
                    (Arc::strong_count(a) > 1).then(|| (kind(v), Arc::as_ptr(a) as usize))
                }
                Value::NdArray(a) => a.is_shared().then(|| (kind(v), a.addr())),
                _ => None,
            }
        }
        fn child(v: &Value, i: usize) -> Option<&Value> {
            match v {
                Value::List(a) | Value::Tuple(a) | Value::Set(a) | Value::FrozenSet(a) => a.get(i),
                Value::Dict(d) => d.get(i / 2).map(|(k, x)| if i % 2 == 0 { k } else { x }),
                _ => None,
            }
        }
        let mut memo: HashMap<(u8, usize), usize> = HashMap::new();
        let mut stored = 0usize;
        // (container, next child, expanded size so far)
        let mut stack: Vec<(&Value, usize, usize)> = Vec::new();
        let visit =
            |v: &Value, stored: &mut usize, memo: &HashMap<(u8, usize), usize>| -> Option<usize> {
                if let Some(k) = key(v) {
                    if let Some(&e) = memo.get(&k) {
                        return Some(e);
                    }
                }
                let l = leaf(v)?;
                *stored = stored.saturating_add(l);
                Some(l)
            };
        if let Some(e) = visit(self, &mut stored, &memo) {
            return (stored, e);
        }
        stored = stored.saturating_add(1);
        stack.push((self, 0, 1));
        loop {
            let (v, i, acc) = stack.last_mut().expect("not empty");
            match child(v, *i) {
                Some(c) => {
                    *i += 1;
                    match visit(c, &mut stored, &memo) {
                        Some(e) => {
                            *acc = acc.saturating_add(e);
                            if let (Some(k), Value::NdArray(_)) = (key(c), c) {
                                memo.insert(k, e);
                            }
                        }
                        None => {
                            stored = stored.saturating_add(1);
                            stack.push((c, 0, 1));
                        }
                    }
                }
                None => {
                    let (v, _, e) = stack.pop().expect("not empty");
                    if let Some(k) = key(v) {
                        memo.insert(k, e);
                    }
                    match stack.last_mut() {
                        Some((_, _, acc)) => *acc = acc.saturating_add(e),
                        None => return (stored, e),
                    }
                }
            }
        }
    }
}

/// A small number naming the variant (used to key shared containers by kind and address).
pub(crate) fn kind(v: &Value) -> u8 {
    match v {
        Value::None => 0,
        Value::Bool(_) => 1,
        Value::Int(_) => 2,
        Value::BigInt(_) => 3,
        Value::Float(_) => 4,
        Value::Str(_) => 5,
        Value::Bytes(_) => 6,
        Value::List(_) => 7,
        Value::Tuple(_) => 8,
        Value::Dict(_) => 9,
        Value::Set(_) => 10,
        Value::FrozenSet(_) => 11,
        Value::NdArray(_) => 12,
    }
}

/// Structural equality, iterative, comparing each pair of shared containers once.
fn equal(a: &Value, b: &Value, bitwise: bool) -> bool {
    let mut seen: HashSet<(usize, usize)> = HashSet::new();
    let mut todo: Vec<(&Value, &Value)> = vec![(a, b)];
    // Containers referenced once need no memo; shared ones (count > 1) are compared once.
    let mut first_visit =
        |pa: usize, pb: usize, shared: bool| -> bool { !shared || seen.insert((pa, pb)) };
    while let Some((x, y)) = todo.pop() {
        match (x, y) {
            (Value::None, Value::None) => {}
            (Value::Bool(p), Value::Bool(q)) if p == q => {}
            (Value::Int(p), Value::Int(q)) if p == q => {}
            (Value::BigInt(p), Value::BigInt(q)) if p == q => {}
            (Value::Float(p), Value::Float(q)) => {
                let eq = if bitwise {
                    p.to_bits() == q.to_bits()
                } else {
                    p == q
                };
                if !eq {
                    return false;
                }
            }
            (Value::Str(p), Value::Str(q)) if p == q => {}
            (Value::Bytes(p), Value::Bytes(q)) if p == q => {}
            (Value::List(p), Value::List(q))
            | (Value::Tuple(p), Value::Tuple(q))
            | (Value::Set(p), Value::Set(q))
            | (Value::FrozenSet(p), Value::FrozenSet(q)) => {
                if Arc::ptr_eq(p, q) {
                    continue;
                }
                if p.len() != q.len() {
                    return false;
                }
                let shared = Arc::strong_count(p) > 1 || Arc::strong_count(q) > 1;
                if first_visit(Arc::as_ptr(p) as usize, Arc::as_ptr(q) as usize, shared) {
                    todo.extend(p.iter().zip(q.iter()));
                }
            }
            (Value::Dict(p), Value::Dict(q)) => {
                if Arc::ptr_eq(p, q) {
                    continue;
                }
                if p.len() != q.len() {
                    return false;
                }
                let shared = Arc::strong_count(p) > 1 || Arc::strong_count(q) > 1;
                if first_visit(Arc::as_ptr(p) as usize, Arc::as_ptr(q) as usize, shared) {
                    for ((k1, v1), (k2, v2)) in p.iter().zip(q.iter()) {
                        todo.push((k1, k2));
                        todo.push((v1, v2));
                    }
                }
            }
            (Value::NdArray(p), Value::NdArray(q)) => {
                let eq = if bitwise { p.same(q) } else { p == q };
                if !eq {
                    return false;
                }
            }
            _ => return false,
        }
    }
    true
}

impl PartialEq for Value {
    /// Same variant and equal contents; floats compare as IEEE numbers (NaN is unequal to
    /// itself unless it is the very same shared container, as in Python). `Int(1)`,
    /// `Bool(true)` and `Float(1.0)` are different values here. Linear in the stored size.
    fn eq(&self, other: &Value) -> bool {
        equal(self, other, false)
    }
}

impl fmt::Debug for Value {
    /// Python-like text, cut short after a few thousand items (a shared value may stand for a
    /// tree far too large to print).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut budget = 4096usize;
        debug(self, f, &mut budget, 0)
    }
}

fn debug(v: &Value, f: &mut fmt::Formatter<'_>, budget: &mut usize, depth: usize) -> fmt::Result {
    if *budget == 0 || depth > 100 {
        return f.write_str("…");
    }
    *budget -= 1;
    let seq = |f: &mut fmt::Formatter<'_>,
               open: &str,
               close: &str,
               items: &[Value],
               budget: &mut usize|
     -> fmt::Result {
        f.write_str(open)?;
        for (i, x) in items.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            if *budget == 0 {
                return write!(f, "… {} more{close}", items.len() - i);
            }
            debug(x, f, budget, depth + 1)?;
        }
        if open == "(" && items.len() == 1 {
            f.write_str(",")?;
        }
        f.write_str(close)
    };
    match v {
        Value::None => f.write_str("None"),
        Value::Bool(true) => f.write_str("True"),
        Value::Bool(false) => f.write_str("False"),
        Value::Int(i) => write!(f, "{i}"),
        Value::BigInt(b) => match bigint::to_decimal(b) {
            Some(s) => f.write_str(&s),
            None => write!(f, "<int of {} bits>", bigint::bit_length(b)),
        },
        Value::Float(x) => {
            if x.is_nan() {
                f.write_str("nan")
            } else if x.is_infinite() {
                f.write_str(if *x > 0.0 { "inf" } else { "-inf" })
            } else {
                write!(f, "{x:?}")
            }
        }
        Value::Str(s) => {
            if s.len() > 200 {
                let cut = (0..=200)
                    .rev()
                    .find(|&i| s.is_char_boundary(i))
                    .unwrap_or(0);
                write!(f, "{:?}… ({} bytes)", &s[..cut], s.len())
            } else {
                write!(f, "{:?}", &**s)
            }
        }
        Value::Bytes(b) => {
            f.write_str("b\"")?;
            for &c in b.iter().take(200) {
                write!(f, "{}", std::ascii::escape_default(c))?;
            }
            if b.len() > 200 {
                write!(f, "…\" ({} bytes)", b.len())
            } else {
                f.write_str("\"")
            }
        }
        Value::List(items) => seq(f, "[", "]", items, budget),
        Value::Tuple(items) => seq(f, "(", ")", items, budget),
        Value::Set(items) => seq(f, "{", "}", items, budget),
        Value::FrozenSet(items) => {
            f.write_str("frozenset(")?;
            seq(f, "{", "}", items, budget)?;
            f.write_str(")")
        }
        Value::Dict(entries) => {
            f.write_str("{")?;
            for (i, (k, x)) in entries.iter().enumerate() {
                if i > 0 {
                    f.write_str(", ")?;
                }
                if *budget == 0 {
                    return write!(f, "… {} more}}", entries.len() - i);
                }
                debug(k, f, budget, depth + 1)?;
                f.write_str(": ")?;
                debug(x, f, budget, depth + 1)?;
            }
            f.write_str("}")
        }
        Value::NdArray(a) => write!(f, "{a:?}"),
    }
}

impl From<bool> for Value {
    fn from(b: bool) -> Value {
        Value::Bool(b)
    }
}

impl From<i64> for Value {
    fn from(i: i64) -> Value {
        Value::Int(i)
    }
}

impl From<i32> for Value {
    fn from(i: i32) -> Value {
        Value::Int(i64::from(i))
    }
}

impl From<u64> for Value {
    fn from(i: u64) -> Value {
        bigint::from_u128(u128::from(i))
    }
}

impl From<f64> for Value {
    fn from(x: f64) -> Value {
        Value::Float(x)
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Value {
        Value::Str(s.into())
    }
}

impl From<String> for Value {
    fn from(s: String) -> Value {
        Value::Str(s.into())
    }
}

impl From<Vec<Value>> for Value {
    /// A `list`.
    fn from(items: Vec<Value>) -> Value {
        Value::List(Arc::new(items))
    }
}

impl From<NdArray> for Value {
    fn from(a: NdArray) -> Value {
        Value::NdArray(a)
    }
}

impl<T: Into<Value>> From<Option<T>> for Value {
    /// `None` or the value.
    fn from(o: Option<T>) -> Value {
        o.map_or(Value::None, Into::into)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_count_shared_containers_once_when_stored() {
        let l = Value::list(vec![Value::Int(1), Value::Int(2)]);
        let v = Value::list(vec![l.clone(), l.clone()]);
        assert_eq!(v.sizes(), (4, 7));
        let t = Value::tuple(vec![v.clone(), v.clone(), Value::str("x".repeat(64))]);
        assert_eq!(t.sizes(), (1 + 4 + 3, 1 + 7 + 7 + 3));
        let a = Value::NdArray(NdArray::from_vec(vec![0.5f64; 10]));
        let d = Value::dict(vec![
            (Value::str("a"), a.clone()),
            (Value::str("b"), a.clone()),
        ]);
        assert_eq!(d.sizes(), (1 + 2 + 11, 1 + 2 + 22));
        assert_eq!(Value::None.sizes(), (1, 1));
    }

    #[test]
    fn equality_and_identity() {
        let nan = Value::Float(f64::NAN);
        assert_ne!(nan, nan.clone());
        assert!(nan.same(&nan.clone()));
        assert!(!Value::Float(0.0).same(&Value::Float(-0.0)));
        assert_eq!(Value::Float(0.0), Value::Float(-0.0));
        assert_ne!(Value::Int(1), Value::Bool(true));
        let shared = Value::list(vec![nan.clone()]);
        // The very same container is equal to itself, as `[x] == [x]` is in Python.
        assert_eq!(
            Value::list(vec![shared.clone()]),
            Value::list(vec![shared.clone()])
        );
        assert_ne!(Value::list(vec![nan.clone()]), Value::list(vec![nan]));
    }
}
