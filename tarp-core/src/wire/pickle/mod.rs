//! Pickles, safely: a bounded decoder for what CPython sends (protocols 0 to 5, numpy arrays
//! and scalars, shared references), an encoder whose output any CPython 3 loads, and a serde
//! bridge so handlers take and return natural Rust types.
//!
//! ```
//! use tarp_core::wire::pickle::{decode, encode, from_value, to_pickle, NdArray, Value};
//!
//! // pickle.dumps((1, 2.5), protocol=2)
//! let v = decode(b"\x80\x02K\x01G@\x04\x00\x00\x00\x00\x00\x00\x86q\x00.").unwrap();
//! let (a, b): (i64, f64) = from_value(&v).unwrap();
//! assert_eq!((a, b), (1, 2.5));
//!
//! // A handler result that arrives in Python as numpy.ndarray(shape=(2, 2), dtype=float64).
//! let arr = NdArray::from_shape_vec(vec![2, 2], vec![1.0, 2.0, 3.0, 4.0]).unwrap();
//! let bytes = to_pickle(&arr).unwrap();
//! assert!(matches!(decode(&bytes).unwrap(), Value::NdArray(a) if a.shape() == [2, 2]));
//! assert_eq!(decode(&encode(&v)).unwrap(), v);
//! ```
//!
//! # Safety of decoding
//! Nothing is ever imported or executed. Globals are resolved against a closed list
//! (`builtins.set/frozenset/bytes/bytearray`, `_codecs.encode`, `numpy.ndarray`,
//! `numpy.dtype`, `numpy.core.multiarray._reconstruct/scalar`,
//! `numpy.core.numeric._frombuffer`, each also under `numpy._core` and `__builtin__`), and
//! `REDUCE`/`BUILD` accept only the argument shapes those have in CPython's and numpy's own
//! pickles. Anything else is an error naming it. Memory and time are linear in the input:
//! length prefixes are checked against the remaining bytes before anything is allocated, memo
//! hits and `DUP` share rather than copy (`[[0]*10000]*10000` stays 20,000 stored entries),
//! copies and conversions draw from budgets of twice the input, and nesting is capped at
//! [`MAX_DEPTH`]. Text integers longer than 4300 digits are refused as CPython refuses them;
//! protocol 6 and higher are refused; bytes after `STOP` are ignored, as `pickle.loads`
//! ignores them. A value that contains itself is refused (a `Value` is always acyclic).
//!
//! Errors never quote a large operand: messages name the opcode, its byte offset and the
//! problem, fit for a 400 response.

mod bigint;
mod de;
mod decode;
mod encode;
mod json;
mod magic;
mod ndarray;
mod ser;
mod value;

pub use de::{from_value, from_value_within, BASE_BUDGET, MAX_WALK_DEPTH};
pub use decode::{
    decode, decode_vec, decode_vec_with_limits, decode_with_limits, Limits, HIGHEST_PROTOCOL,
    MAX_DEPTH,
};
pub use encode::{encode, ENCODE_PROTOCOL};
pub use json::to_json;
pub use ndarray::{f16_to_f64, f64_to_f16, ArrayData, DType, Element, NdArray, Scalar, MAX_NDIM};
pub use ser::to_value;
pub use value::Value;

pub use bigint::MAX_STR_DIGITS;

/// Why a pickle was refused. The message names the problem (opcode and byte offset, global,
/// limit) and never quotes a large operand.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct PickleError(pub String);

/// Why a value could not be converted to or from a Rust type, with the path inside the value
/// (`[2].lower`) when the problem is nested.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValueError {
    msg: String,
    path: String,
}

impl ValueError {
    /// An error with this message.
    pub fn new(msg: impl Into<String>) -> ValueError {
        ValueError {
            msg: msg.into(),
            path: String::new(),
        }
    }

    /// The message without the path.
    pub fn message(&self) -> &str {
        &self.msg
    }

    /// Where in the value the problem is (`[2].lower`), empty at the top.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// Prefixes the path with one more outer step.
    pub(crate) fn at(mut self, step: String) -> ValueError {
        if self.path.len() < 256 {
            self.path.insert_str(0, &step);
        }
        self
    }
}

impl std::fmt::Display for ValueError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.msg)
        } else {
            write!(f, "{} (at {})", self.msg, self.path)
        }
    }
}

impl std::error::Error for ValueError {}

impl serde::de::Error for ValueError {
    fn custom<T: std::fmt::Display>(msg: T) -> ValueError {
        ValueError::new(msg.to_string())
    }
}

impl serde::ser::Error for ValueError {
    fn custom<T: std::fmt::Display>(msg: T) -> ValueError {
        ValueError::new(msg.to_string())
    }
}

impl From<ValueError> for PickleError {
    fn from(e: ValueError) -> PickleError {
        PickleError(e.to_string())
    }
}

/// Decodes a pickle straight into a Rust type ([`decode`] then [`from_value`]).
pub fn from_pickle<T: serde::de::DeserializeOwned>(data: &[u8]) -> Result<T, PickleError> {
    let v = decode(data)?;
    Ok(from_value(&v)?)
}

/// Encodes a Rust value as a pickle ([`to_value`] then [`encode`]).
pub fn to_pickle<T: serde::Serialize + ?Sized>(t: &T) -> Result<Vec<u8>, ValueError> {
    Ok(encode(&to_value(t)?))
}

/// The fuzz target's property, shared with the test that replays its corpus: whatever `data`
/// is, decoding does not panic; when it decodes, the bounded walks (`to_json`, `from_value`,
/// `Debug`) do not panic either, and encoding then decoding again gives the same value.
#[doc(hidden)]
pub fn roundtrip_check(data: &[u8]) -> Result<(), String> {
    // Decoding an input given up, with every array that stays in the input deferred and
    // converted a few bytes at a time, gives the same value or the same error.
    let given_up = decode::decode_vec_in_chunks(data.to_vec(), &Limits::default(), 1, 24);
    let v = match decode(data) {
        Ok(v) => v,
        Err(e) => {
            return match given_up {
                Err(e2) if e2 == e => Ok(()),
                other => Err(format!(
                    "decode_vec answered {other:?} where decode failed: {e}"
                )),
            }
        }
    };
    match given_up {
        Ok(w) if v.same(&w) => {}
        other => {
            return Err(format!(
                "decode_vec answered {other:?} where decode gave {v:?}"
            ))
        }
    }
    let _ = to_json(&v);
    let _ = from_value::<serde_json::Value>(&v);
    let _ = format!("{v:?}");
    let again =
        decode(&encode(&v)).map_err(|e| format!("re-decoding our own encoding failed: {e}"))?;
    if !v.same(&again) {
        return Err(format!(
            "round trip changed the value: {v:?} became {again:?}"
        ));
    }
    let via_serde = to_value(&from_value::<Value>(&v).map_err(|e| e.to_string())?)
        .map_err(|e| e.to_string())?;
    if !v.same(&via_serde) {
        return Err(format!(
            "serde pass-through changed the value: {v:?} became {via_serde:?}"
        ));
    }
    Ok(())
}
