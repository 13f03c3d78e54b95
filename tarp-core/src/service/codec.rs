//! The service's only door to the pickle codec: decode arguments, convert between pickle
//! values and Rust types, encode results, and word conversion errors for a 400 message.

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::wire::pickle::{self, Limits, Value, ValueError};

/// Longest piece of a conversion error quoted in a message (serde quotes the whole operand).
const MAX_QUOTED: usize = 200;

/// Decodes a pickle sent by a client, within `limits` (its memory given back as a large
/// array in it is converted: [`pickle::decode_vec`]).
pub(crate) fn decode(bytes: Vec<u8>, limits: &Limits) -> Result<Value, String> {
    pickle::decode_vec_with_limits(bytes, limits).map_err(|e| e.to_string())
}

/// How far shared references (memo hits, `DUP`) may expand a request's argument when it is
/// bound to a typed parameter, whatever it stores: 256 Ki units (a unit is an element, 32
/// bytes of text, or the quadratic cost of printing a big integer). Beyond `max(this, 4 x
/// stored size)` the argument is refused with a 400, an expansion before any conversion, so
/// a request of a few hundred bytes cannot build a tree of more than about 256 Ki elements
/// (the general [`pickle::from_value`] allows 1 Mi units). Values that store what they hold
/// (unshared lists, numpy arrays) are limited by their size, not by this.
pub const ARG_EXPANSION_BASE: usize = 1 << 18;

/// Converts a decoded value to the Rust type a handler asks for; the message says what was
/// expected and what came, in Python's type names.
pub(crate) fn from_value<T: DeserializeOwned>(value: &Value) -> Result<T, String> {
    pickle::from_value_within(value, ARG_EXPANSION_BASE).map_err(|e| describe(&e, value))
}

/// Converts a Rust value to a pickle value (defaults of parameters).
pub(crate) fn to_value<T: Serialize + ?Sized>(value: &T) -> Result<Value, String> {
    pickle::to_value(value).map_err(|e| e.to_string())
}

/// Pickles a handler's result for the client.
pub(crate) fn encode_result<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, String> {
    pickle::to_pickle(value).map_err(|e| e.to_string())
}

/// The Python type name of a value, for error messages.
pub(crate) fn type_name(value: &Value) -> &'static str {
    value.type_name()
}

/// `expected f64, got str` from serde's `invalid type: string "..", expected f64`, with the
/// position inside the value when the problem is nested; other messages shortened.
fn describe(e: &ValueError, value: &Value) -> String {
    let msg = e.message();
    let core = match (msg.strip_prefix("invalid type: "), msg.rfind(", expected ")) {
        (Some(rest), Some(at)) => {
            let expected = &msg[at + ", expected ".len()..];
            let got = if e.path().is_empty() {
                value.type_name()
            } else {
                python_name(&rest[..rest.find(", expected ").unwrap_or(rest.len())])
            };
            format!("expected {}, got {got}", shorten(expected))
        }
        _ => shorten(msg).to_owned(),
    };
    if e.path().is_empty() {
        core
    } else {
        format!("{core} (at {})", shorten(e.path()))
    }
}

/// Python's name for what serde calls an unexpected value.
fn python_name(unexpected: &str) -> &str {
    const NAMES: [(&str, &str); 9] = [
        ("string", "str"),
        ("integer", "int"),
        ("floating point", "float"),
        ("boolean", "bool"),
        ("sequence", "list"),
        ("map", "dict"),
        ("unit", "NoneType"),
        ("byte array", "bytes"),
        ("char", "str"),
    ];
    NAMES
        .iter()
        .find(|(serde, _)| unexpected.starts_with(serde))
        .map_or(shorten(unexpected), |(_, python)| python)
}

fn shorten(s: &str) -> &str {
    if s.len() <= MAX_QUOTED {
        return s;
    }
    let mut end = MAX_QUOTED;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}
