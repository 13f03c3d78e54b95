//! Integers beyond 64 bits, kept exactly as pickle's `LONG1`/`LONG4` store them: two's
//! complement, little-endian, minimal length. Only the few operations TARP needs: parse and
//! print decimal text (bounded like CPython: 4300 digits) and narrow to Rust integers/floats.

use std::fmt::Write as _;
use std::sync::Arc;

use super::Value;

/// CPython's default `sys.get_int_max_str_digits()`: longer decimal text is refused, both when
/// reading text ints and when printing.
pub const MAX_STR_DIGITS: usize = 4300;

/// Length of the minimal two's complement form of `b` (0 for zero).
fn minimal_len(b: &[u8]) -> usize {
    let Some(&last) = b.last() else { return 0 };
    let neg = last & 0x80 != 0;
    let fill = if neg { 0xff } else { 0 };
    let mut n = b.len();
    while n > 1 && b[n - 1] == fill && ((b[n - 2] & 0x80 != 0) == neg) {
        n -= 1;
    }
    if n == 1 && b[0] == 0 {
        0
    } else {
        n
    }
}

/// The value of a two's complement little-endian byte string: `Int` when it fits in `i64`,
/// else a normalized `BigInt`.
pub(crate) fn from_le_signed(b: &[u8]) -> Value {
    let n = minimal_len(b);
    if n <= 8 {
        Value::Int(to_i64_unchecked(&b[..n]))
    } else {
        Value::BigInt(Arc::from(&b[..n]))
    }
}

fn to_i64_unchecked(b: &[u8]) -> i64 {
    let neg = b.last().is_some_and(|&x| x & 0x80 != 0);
    let mut buf = if neg { [0xffu8; 8] } else { [0u8; 8] };
    buf[..b.len()].copy_from_slice(b);
    i64::from_le_bytes(buf)
}

/// The value as `i128`, if it fits.
pub(crate) fn to_i128(b: &[u8]) -> Option<i128> {
    if b.len() > 16 {
        return None;
    }
    let neg = b.last().is_some_and(|&x| x & 0x80 != 0);
    let mut buf = if neg { [0xffu8; 16] } else { [0u8; 16] };
    buf[..b.len()].copy_from_slice(b);
    Some(i128::from_le_bytes(buf))
}

/// The value as `u128`, if it is non-negative and fits.
pub(crate) fn to_u128(b: &[u8]) -> Option<u128> {
    if is_negative(b) {
        return None;
    }
    let n = minimal_len(b);
    // A positive value may carry one extra zero byte for the sign.
    let n = if n == 17 && b[16] == 0 { 16 } else { n };
    if n > 16 {
        return None;
    }
    let mut buf = [0u8; 16];
    buf[..n].copy_from_slice(&b[..n]);
    Some(u128::from_le_bytes(buf))
}

pub(crate) fn is_negative(b: &[u8]) -> bool {
    b.last().is_some_and(|&x| x & 0x80 != 0)
}

/// Two's complement bytes of a signed 128-bit integer, normalized.
pub(crate) fn from_i128(x: i128) -> Value {
    from_le_signed(&x.to_le_bytes())
}

/// Two's complement bytes of an unsigned 128-bit integer, normalized.
pub(crate) fn from_u128(x: u128) -> Value {
    let mut b = x.to_le_bytes().to_vec();
    b.push(0);
    from_le_signed(&b)
}

/// Magnitude of a two's complement value as little-endian 32-bit limbs, and its sign.
fn magnitude(b: &[u8]) -> (bool, Vec<u32>) {
    let neg = is_negative(b);
    // Negated (invert and add one) on the fly when negative, straight into 32-bit limbs.
    let mut carry = neg;
    let mut limbs: Vec<u32> = b
        .chunks(4)
        .map(|c| {
            let mut buf = [0u8; 4];
            for (d, &x) in buf.iter_mut().zip(c) {
                *d = if neg {
                    let (v, over) = (!x).overflowing_add(u8::from(carry));
                    carry = over;
                    v
                } else {
                    x
                };
            }
            u32::from_le_bytes(buf)
        })
        .collect();
    while limbs.last() == Some(&0) {
        limbs.pop();
    }
    (neg, limbs)
}

/// Number of significant bits of the magnitude.
pub(crate) fn bit_length(b: &[u8]) -> u64 {
    let (_, limbs) = magnitude(b);
    match limbs.last() {
        None => 0,
        Some(&top) => (limbs.len() as u64 - 1) * 32 + u64::from(32 - top.leading_zeros()),
    }
}

/// Decimal text of the value, or `None` when it would exceed [`MAX_STR_DIGITS`] digits (as
/// CPython's `str(int)` refuses).
pub(crate) fn to_decimal(b: &[u8]) -> Option<String> {
    // bits * log10(2) bounds the digit count: checked before any work.
    if bit_length(b) as f64 * std::f64::consts::LOG10_2 > MAX_STR_DIGITS as f64 + 1.0 {
        return None;
    }
    let (neg, mut limbs) = magnitude(b);
    if limbs.is_empty() {
        return Some("0".into());
    }
    // Each chunk of nine digits takes a little under 30 bits.
    let mut chunks = Vec::with_capacity(limbs.len() * 32 / 29 + 1);
    while !limbs.is_empty() {
        let mut rem = 0u64;
        for limb in limbs.iter_mut().rev() {
            let cur = (rem << 32) | u64::from(*limb);
            *limb = (cur / 1_000_000_000) as u32;
            rem = cur % 1_000_000_000;
        }
        while limbs.last() == Some(&0) {
            limbs.pop();
        }
        chunks.push(rem as u32);
    }
    let mut s = String::with_capacity(chunks.len() * 9 + 1);
    if neg {
        s.push('-');
    }
    // Written in place: no allocation per chunk (a shared big integer may be converted
    // many times within one walk's budget).
    let mut it = chunks.iter().rev();
    if let Some(first) = it.next() {
        let _ = write!(s, "{first}");
    }
    for c in it {
        let _ = write!(s, "{c:09}");
    }
    if s.trim_start_matches('-').len() > MAX_STR_DIGITS {
        return None;
    }
    Some(s)
}

/// Hexadecimal text (`0x…`, `-0x…`): printable at any size.
pub(crate) fn to_hex(b: &[u8]) -> String {
    let (neg, limbs) = magnitude(b);
    let mut s = String::from(if neg { "-0x" } else { "0x" });
    match limbs.split_last() {
        None => s.push('0'),
        Some((top, rest)) => {
            s.push_str(&format!("{top:x}"));
            for l in rest.iter().rev() {
                s.push_str(&format!("{l:08x}"));
            }
        }
    }
    s
}

/// Nearest `f64` (ties to even), or `None` when the value overflows `f64` (CPython raises
/// `OverflowError` there too).
pub(crate) fn to_f64(b: &[u8]) -> Option<f64> {
    let (neg, limbs) = magnitude(b);
    let bits = match limbs.last() {
        None => return Some(0.0),
        Some(&top) => (limbs.len() as u64 - 1) * 32 + u64::from(32 - top.leading_zeros()),
    };
    if bits > 1024 {
        return None;
    }
    // Top 64 bits, with a sticky bit for everything below so rounding stays correct.
    let bit = |i: u64| -> u64 { u64::from((limbs[(i / 32) as usize] >> (i % 32)) & 1) };
    let shift = bits.saturating_sub(64);
    let mut top = 0u64;
    for i in (shift..bits).rev() {
        top = (top << 1) | bit(i);
    }
    if (0..shift).any(|i| bit(i) == 1) {
        top |= 1;
    }
    let mag = (top as f64) * 2f64.powi(shift as i32);
    if mag.is_infinite() {
        return None;
    }
    Some(if neg { -mag } else { mag })
}

/// Why decimal text is not an int.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum ParseIntError {
    /// Not `[+-]digits`.
    Invalid,
    /// More than [`MAX_STR_DIGITS`] digits (the count is given).
    TooManyDigits(usize),
}

/// Parses `[+-]?[0-9]+` (surrounding ASCII whitespace allowed, as `int()` does) into `Int` or
/// `BigInt`. The digit count is checked before any arithmetic, so huge text costs one scan.
pub(crate) fn parse_decimal(text: &[u8]) -> Result<Value, ParseIntError> {
    let t = text.trim_ascii();
    let (neg, digits) = match t.first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return Err(ParseIntError::Invalid);
    }
    if digits.len() > MAX_STR_DIGITS {
        return Err(ParseIntError::TooManyDigits(digits.len()));
    }
    if digits.len() <= 18 {
        let mut x: i64 = 0;
        for &d in digits {
            x = x * 10 + i64::from(d - b'0');
        }
        return Ok(Value::Int(if neg { -x } else { x }));
    }
    // Schoolbook base conversion, 9 digits at a time: at most ~480 x ~450 limb steps.
    let mut limbs: Vec<u32> = Vec::new();
    for chunk in digits.chunks(9) {
        let mut mul = 1u64;
        let mut add = 0u64;
        for &d in chunk {
            mul *= 10;
            add = add * 10 + u64::from(d - b'0');
        }
        let mut carry = add;
        for limb in limbs.iter_mut() {
            let cur = u64::from(*limb) * mul + carry;
            *limb = cur as u32;
            carry = cur >> 32;
        }
        while carry > 0 {
            limbs.push(carry as u32);
            carry >>= 32;
        }
    }
    let mut bytes: Vec<u8> = limbs.iter().flat_map(|l| l.to_le_bytes()).collect();
    bytes.push(0); // sign byte: the magnitude is non-negative
    if neg {
        let mut carry = true;
        for x in bytes.iter_mut() {
            let (v, c) = (!*x).overflowing_add(u8::from(carry));
            *x = v;
            carry = c;
        }
    }
    Ok(from_le_signed(&bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn big(s: &str) -> Vec<u8> {
        match parse_decimal(s.as_bytes()).unwrap() {
            Value::BigInt(b) => b.to_vec(),
            Value::Int(i) => {
                let b = i.to_le_bytes();
                b[..minimal_len(&b)].to_vec()
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn decimal_round_trips() {
        for s in [
            "0",
            "1",
            "-1",
            "127",
            "128",
            "-128",
            "-129",
            "9223372036854775807",
            "-9223372036854775808",
            "9223372036854775808",
            "-9223372036854775809",
            "18446744073709551615",
            "18446744073709551616",
            "1180591620717411303424",
            "-1267650600228229401496703205375",
        ] {
            let b = big(s);
            assert_eq!(to_decimal(&b).unwrap(), s);
        }
        let huge = "7".repeat(MAX_STR_DIGITS);
        assert_eq!(to_decimal(&big(&huge)).unwrap(), huge);
    }

    #[test]
    fn small_values_are_ints() {
        assert!(matches!(
            parse_decimal(b"-9223372036854775808"),
            Ok(Value::Int(i64::MIN))
        ));
        assert!(matches!(
            parse_decimal(b"9223372036854775808"),
            Ok(Value::BigInt(_))
        ));
        assert!(matches!(from_le_signed(&[]), Value::Int(0)));
        assert!(matches!(from_le_signed(&[0xff, 0xff]), Value::Int(-1)));
        assert!(matches!(
            from_le_signed(&[0, 0, 0, 0, 0, 0, 0, 0, 0]),
            Value::Int(0)
        ));
    }

    #[test]
    fn refusals() {
        assert_eq!(parse_decimal(b"12a"), Err(ParseIntError::Invalid));
        assert_eq!(parse_decimal(b""), Err(ParseIntError::Invalid));
        assert_eq!(parse_decimal(b"-"), Err(ParseIntError::Invalid));
        let long = "1".repeat(MAX_STR_DIGITS + 1);
        assert_eq!(
            parse_decimal(long.as_bytes()),
            Err(ParseIntError::TooManyDigits(MAX_STR_DIGITS + 1))
        );
        let mut wide = vec![0u8; 4000];
        wide.push(1);
        assert!(to_decimal(&wide).is_none());
        assert!(to_hex(&wide).starts_with("0x1000"));
    }

    #[test]
    fn narrowing() {
        let b = big("-170141183460469231731687303715884105728");
        assert_eq!(to_i128(&b), Some(i128::MIN));
        let b = big("340282366920938463463374607431768211455");
        assert_eq!(to_u128(&b), Some(u128::MAX));
        assert_eq!(to_i128(&b), None);
        assert_eq!(
            to_f64(&big("18446744073709551617")),
            Some(18446744073709551616.0)
        );
        assert_eq!(
            to_f64(&big("-1180591620717411303424")),
            Some(-1180591620717411303424.0)
        );
        // 2^53 + 1 rounds to even (2^53); 2^53 + 3 rounds up.
        assert_eq!(to_f64(&big("9007199254740993")), Some(9007199254740992.0));
        let mut b = vec![0u8; 200];
        b.push(1);
        assert_eq!(to_f64(&b), None);
        assert_eq!(to_hex(&big("-255")), "-0xff");
    }
}
