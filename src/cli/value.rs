//! Reading argument values from the command line.
//!
//! A value is JSON when it parses (`1`, `2.5`, `"text"`, `[1, 2]`, `{"a": 1}`, `null`,
//! `true`), Python's `None`, `True` and `False` are accepted too, and anything else is taken
//! as a string, so `tarp call URL f hello 3` passes `("hello", 3)`.

use tarp_core::wire::pickle::{self, Value};

use super::{Exit, Failure};

/// Integers given as JSON are kept exact up to 128 bits (JSON parsers turn larger ones into
/// floats); a number with more digits than this is read as a float.
fn exact_int(text: &str) -> Option<Value> {
    let digits = text.strip_prefix('-').unwrap_or(text);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    // JSON forbids leading zeros ("007" is not a number): leave those to the string rule.
    if digits.len() > 1 && digits.starts_with('0') {
        return None;
    }
    text.parse::<i128>().ok().map(Value::from_i128)
}

/// Reads one argument value (see the module doc).
pub(crate) fn parse_value(text: &str) -> Value {
    let t = text.trim();
    match t {
        "None" => return Value::None,
        "True" => return Value::Bool(true),
        "False" => return Value::Bool(false),
        _ => {}
    }
    if let Some(v) = exact_int(t) {
        return v;
    }
    if let Ok(json) = serde_json::from_str::<serde_json::Value>(t) {
        if let Ok(v) = pickle::to_value(&json) {
            return v;
        }
    }
    Value::str(text)
}

/// Splits `KEY=VALUE` (the value may contain `=`); `what` names the option in the error.
pub(crate) fn split_pair<'a>(text: &'a str, what: &str) -> Result<(&'a str, &'a str), Failure> {
    match text.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k, v)),
        _ => Err(Failure::new(
            Exit::Usage,
            format!("bad {what} {text:?}: expected KEY=VALUE"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(items: Vec<Value>) -> Value {
        Value::list(items)
    }

    #[test]
    fn json_first_then_python_words_then_text() {
        assert_eq!(parse_value("1"), Value::Int(1));
        assert_eq!(parse_value("-7"), Value::Int(-7));
        assert_eq!(parse_value("2.5"), Value::Float(2.5));
        assert_eq!(parse_value("1e3"), Value::Float(1000.0));
        assert_eq!(parse_value("\"quoted\""), Value::str("quoted"));
        assert_eq!(parse_value("null"), Value::None);
        assert_eq!(parse_value("None"), Value::None);
        assert_eq!(parse_value("true"), Value::Bool(true));
        assert_eq!(parse_value("True"), Value::Bool(true));
        assert_eq!(parse_value("False"), Value::Bool(false));
        assert_eq!(
            parse_value("[1, \"a\", null]"),
            list(vec![Value::Int(1), Value::str("a"), Value::None])
        );
        assert_eq!(
            parse_value("{\"lower\": 0}"),
            Value::dict(vec![(Value::str("lower"), Value::Int(0))])
        );
        assert_eq!(parse_value("hello"), Value::str("hello"));
        assert_eq!(parse_value("hello world"), Value::str("hello world"));
        assert_eq!(parse_value("007"), Value::str("007"));
        assert_eq!(parse_value("none"), Value::str("none"));
        assert_eq!(parse_value("[1,"), Value::str("[1,"));
        assert_eq!(parse_value(""), Value::str(""));
    }

    #[test]
    fn big_integers_stay_exact() {
        assert_eq!(
            parse_value("18446744073709551616"),
            Value::from_i128(1 << 64)
        );
        assert_eq!(
            parse_value("-9223372036854775809"),
            Value::from_i128(-(1 << 63) - 1)
        );
        // Past 128 bits: a float, as JSON parsers read it.
        assert!(matches!(
            parse_value("1000000000000000000000000000000000000000000"),
            Value::Float(_)
        ));
    }

    #[test]
    fn pairs_need_a_key_and_an_equals_sign() {
        assert_eq!(split_pair("a=1", "kwarg").unwrap(), ("a", "1"));
        assert_eq!(split_pair("a==b", "kwarg").unwrap(), ("a", "=b"));
        assert_eq!(split_pair("a=", "kwarg").unwrap(), ("a", ""));
        let e = split_pair("a", "kwarg").unwrap_err();
        assert_eq!(e.exit, Exit::Usage);
        assert_eq!(e.message, "bad kwarg \"a\": expected KEY=VALUE");
        assert!(split_pair("=1", "kwarg").is_err());
    }
}
