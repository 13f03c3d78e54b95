//! Peak heap use while decoding hostile and large pickles, counted by a global allocator:
//! never more than [`FACTOR`] times the input plus [`SLACK`], whatever the pickle does.
//!
//! The factor is the price of the value model: one stack or container slot is a 24-byte
//! `Value` and the cheapest opcodes are one byte, and growing vectors double; CPython's own
//! unpickler pays 8 bytes per slot plus its objects. Pickles that try to make a small body
//! into a big value (giant length prefixes, memo and `DUP` amplification, a million marks, a
//! million digits) stay far below it.
//!
//! `unsafe` appears only in the `GlobalAlloc` impl, a trait that can only be implemented
//! unsafely; it counts and delegates to the system allocator.

mod alloc_util;

use std::cell::Cell;

use alloc_util::{LIVE, PEAK};

use tarp_core::wire::pickle::{decode, encode, NdArray, Value};

/// Peak bytes allowed per input byte (the worst case measured is 76x: a million
/// `EMPTY_LIST`s appended into each other, refused at the end for its depth).
const FACTOR: usize = 100;
/// Fixed allowance (hash maps, small buffers, error messages).
const SLACK: usize = 256 * 1024;

#[global_allocator]
static GLOBAL: alloc_util::Counting = alloc_util::Counting;

/// Peak bytes allocated by this thread above its level at the start, while decoding `data`
/// (the result is dropped inside the measurement).
fn peak_decoding(data: &[u8]) -> (usize, bool) {
    let start = LIVE.with(Cell::get);
    PEAK.with(|p| p.set(start));
    let ok = decode(data).is_ok();
    (PEAK.with(Cell::get).saturating_sub(start) as usize, ok)
}

fn repeat(prefix: &[u8], unit: &[u8], n: usize, suffix: &[u8]) -> Vec<u8> {
    let mut v = prefix.to_vec();
    for _ in 0..n {
        v.extend_from_slice(unit);
    }
    v.extend_from_slice(suffix);
    v
}

#[test]
fn peak_memory_is_a_small_multiple_of_the_input() {
    const N: usize = 1 << 19;
    let ten_k: Vec<u8> = {
        let mut b = vec![0x80, 2, b']', b'q', 0, b'(', b']', b'q', 1];
        for _ in 0..10 {
            b.push(b'(');
            b.extend(std::iter::repeat([b'K', 0]).take(1000).flatten());
            b.push(b'e');
        }
        b.extend(std::iter::repeat([b'h', 1]).take(999).flatten());
        b.push(b'e');
        for _ in 0..9 {
            b.push(b'(');
            b.extend(std::iter::repeat([b'h', 1]).take(1000).flatten());
            b.push(b'e');
        }
        b.push(b'.');
        b
    };
    let laughs: Vec<u8> = {
        let mut b = vec![0x80, 2, b'K', 7];
        for _ in 0..60 {
            b.extend_from_slice(&[b'2', 0x86]);
        }
        b.push(b'.');
        b
    };
    let mut big_prefix = vec![0x80, 5, 0x8e];
    big_prefix.extend_from_slice(&(1u64 << 62).to_le_bytes());
    big_prefix.extend_from_slice(&[0u8; 64]);
    let mut digits = b"I".to_vec();
    digits.extend(std::iter::repeat(b'7').take(N));
    digits.extend_from_slice(b"\n.");
    let array = encode(&Value::NdArray(NdArray::from_vec(vec![1.5f64; N / 8])));
    let floats = encode(&Value::list(
        (0..N / 9).map(|i| Value::Float(i as f64)).collect(),
    ));
    let strings = encode(&Value::list(
        (0..N / 16).map(|i| Value::str(format!("s{i}"))).collect(),
    ));
    let dense_put = format!("Np{}\n.", N).into_bytes();

    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("list of a million NONEs", repeat(b"(", b"N", N, b"l.")),
        ("a million EMPTY_LISTs", repeat(b"\x80\x02", b"]", N, b".")),
        ("a million EMPTY_TUPLEs", repeat(b"\x80\x02", b")", N, b".")),
        ("a million EMPTY_DICTs", repeat(b"\x80\x02", b"}", N, b".")),
        ("DUP flood", repeat(b"\x80\x02(]", b"2", N, b"t.")),
        ("MEMOIZE flood", repeat(b"\x80\x04]", b"\x94", N, b".")),
        ("MARK flood", repeat(b"", b"(", N, b"N.")),
        (
            "MARK flood closed",
            repeat(&[b'('; N / 2], b"t", N / 2, b"."),
        ),
        (
            "empty strings",
            repeat(b"\x80\x04(", b"\x8c\x00", N / 2, b"l."),
        ),
        ("empty bytes", repeat(b"\x80\x03(", b"C\x00", N / 2, b"t.")),
        (
            "small ints in a dict",
            repeat(b"\x80\x02}(", b"K\x01K\x02", N / 4, b"u."),
        ),
        (
            "nesting a million deep",
            repeat(b"\x80\x02", b"]", N / 2, &[b'a'; N / 2]),
        ),
        ("TUPLE1 chain", repeat(b"\x80\x02N", b"\x85", N, b".")),
        ("dense PUT index", dense_put),
        ("[[0]*10000]*10000", ten_k),
        ("billion laughs", laughs),
        ("length prefix 2^62", big_prefix),
        ("million-digit int", digits),
        ("float64 array of 1 MiB", array),
        ("list of floats", floats),
        ("list of short strings", strings),
    ];
    let mut report = Vec::new();
    let mut failures = Vec::new();
    for (name, data) in &cases {
        let (peak, ok) = peak_decoding(data);
        let ratio = peak as f64 / data.len() as f64;
        report.push(format!(
            "{name:28} input {:>9} B  peak {:>11} B  {ratio:6.1}x  {}",
            data.len(),
            peak,
            if ok { "decoded" } else { "refused" }
        ));
        if peak > FACTOR * data.len() + SLACK {
            failures.push(name.to_string());
        }
    }
    println!("{}", report.join("\n"));
    assert!(
        failures.is_empty(),
        "over {FACTOR}x input: {failures:?}\n{}",
        report.join("\n")
    );
}
