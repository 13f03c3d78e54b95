//! Heap used by large numpy arrays and bytes going through the pickle codec, counted by a
//! global allocator: decoding a pickled array of N bytes holds the input and the array
//! (about 2N with the input), not an intermediate bytes object as well (3N); encoding one
//! holds the array and the output, allocated once at its final size. Large bytes objects
//! that are not array data still come out as bytes, copied once and shared where the pickle
//! shares them.
//!
//! `unsafe` appears only in the `GlobalAlloc` impl, a trait that can only be implemented
//! unsafely; it counts and delegates to the system allocator.

mod alloc_util;

use std::cell::Cell;

use alloc_util::{LIVE, PEAK};
use std::sync::Arc;

use tarp_core::wire::pickle::{decode, encode, NdArray, Value};

#[global_allocator]
static GLOBAL: alloc_util::Counting = alloc_util::Counting;

/// Runs `f` and returns its result with the peak bytes this thread allocated above its level
/// at the start (what `f` returns is still alive at the end, so it counts).
fn peak_of<T>(f: impl FnOnce() -> T) -> (T, usize) {
    let start = LIVE.with(Cell::get);
    PEAK.with(|p| p.set(start));
    let out = f();
    (out, PEAK.with(Cell::get).saturating_sub(start) as usize)
}

/// Payload of the arrays below: 8 MiB of float64.
const N: usize = 8 << 20;
/// Fixed allowance: the decoder's stack, arena and memo, shapes, dtype strings.
const SLACK: usize = 64 * 1024;

fn floats() -> NdArray {
    NdArray::from_vec((0..N / 8).map(|i| i as f64 * 0.25).collect::<Vec<f64>>())
}

#[test]
fn decoding_an_array_allocates_the_array_and_nothing_of_its_size_besides() {
    let sent = floats();
    // `(array,)` as an RPC argument tuple, in our encoder's form (numpy's own protocol 2-4
    // form: `_reconstruct` then `BUILD` with the data as a `BINBYTES`).
    let data = encode(&Value::tuple(vec![Value::NdArray(sent.clone())]));
    assert!(data.len() > N && data.len() < N + 1024);
    let (decoded, peak) = peak_of(|| decode(&data).expect("decodes"));
    let back = decoded.as_seq().and_then(|s| s[0].as_ndarray()).cloned();
    assert_eq!(back.as_ref(), Some(&sent));
    // The array itself is N bytes; the input is already there. Before, the data was first
    // copied into a bytes object of N bytes: a peak of 2N here (3N with the input).
    assert!(
        (N..=N + SLACK).contains(&peak),
        "decoding a pickled array of {N} bytes peaked at {peak} bytes above the input"
    );
}

/// numpy's protocol 5 form: `_frombuffer(bytearray, dtype, shape, 'C')`.
fn frombuffer_pickle(raw: &[u8], count: usize) -> Vec<u8> {
    let mut p = vec![0x80, 5];
    p.extend_from_slice(b"cnumpy.core.numeric\n_frombuffer\n(");
    p.push(0x96);
    p.extend_from_slice(&(raw.len() as u64).to_le_bytes());
    p.extend_from_slice(raw);
    p.extend_from_slice(b"cnumpy\ndtype\n\x8c\x03<f8\x85R");
    p.push(b'J');
    p.extend_from_slice(&(count as i32).to_le_bytes());
    p.extend_from_slice(b"\x85\x8c\x01CtR.");
    p
}

#[test]
fn protocol_5_frombuffer_converts_straight_from_the_input() {
    let sent = floats();
    let raw = sent.to_le_bytes();
    let data = frombuffer_pickle(&raw, N / 8);
    drop(raw);
    let (decoded, peak) = peak_of(|| decode(&data).expect("decodes"));
    assert_eq!(decoded.as_ndarray(), Some(&sent));
    assert!(
        (N..=N + SLACK).contains(&peak),
        "decoding _frombuffer of {N} bytes peaked at {peak} bytes above the input"
    );
}

#[test]
fn array_conversion_still_draws_from_the_budget() {
    // The same data converted twice (a memoized bytearray given to two `_frombuffer` calls)
    // makes 2N bytes of arrays from N bytes of input: within twice the input. Three
    // conversions exceed the budget and are refused, as before, though no bytes object is
    // made.
    let raw = vec![0u8; 1 << 20];
    let count = raw.len() / 8;
    let call = |p: &mut Vec<u8>, first: bool| {
        p.extend_from_slice(b"cnumpy.core.numeric\n_frombuffer\n(");
        if first {
            p.push(0x96);
            p.extend_from_slice(&(raw.len() as u64).to_le_bytes());
            p.extend_from_slice(&raw);
            p.extend_from_slice(b"q\x00");
        } else {
            p.extend_from_slice(b"h\x00");
        }
        p.extend_from_slice(b"cnumpy\ndtype\n\x8c\x03<f8\x85R");
        p.push(b'J');
        p.extend_from_slice(&(count as i32).to_le_bytes());
        p.extend_from_slice(b"\x85\x8c\x01CtR");
    };
    let mut two = vec![0x80, 5, b'('];
    call(&mut two, true);
    call(&mut two, false);
    two.extend_from_slice(b"t.");
    let v = decode(&two).expect("two conversions fit the budget");
    assert_eq!(v.as_seq().map(<[Value]>::len), Some(2));

    let mut three = vec![0x80, 5, b'('];
    call(&mut three, true);
    call(&mut three, false);
    call(&mut three, false);
    three.extend_from_slice(b"t.");
    let e = decode(&three).expect_err("three conversions exceed the budget");
    assert!(
        e.to_string()
            .contains("too many bytes created by conversion"),
        "{e}"
    );
}

#[test]
fn encoding_an_array_allocates_its_output_once() {
    let sent = floats();
    let (out, peak) = peak_of(|| encode(&Value::NdArray(sent.clone())));
    assert!(out.len() > N);
    // The output, at about its final size; before, the array's bytes were first gathered in
    // a vector of their own and then copied (2N), and the output's growth doubled it.
    assert!(
        peak <= N + SLACK,
        "encoding an array of {N} bytes peaked at {peak} bytes"
    );
    assert_eq!(
        decode(&out).ok().and_then(|v| v.as_ndarray().cloned()),
        Some(sent)
    );
}

#[test]
fn large_bytes_come_out_as_bytes_copied_once_and_shared() {
    let big: Vec<u8> = (0..1_000_000u32).map(|i| (i * 7 % 251) as u8).collect();
    // [b, b, bytes(b)]: one BINBYTES, memoized, fetched back, and passed to `bytes()`.
    let mut p = vec![0x80, 3, b']', b'(', b'B'];
    p.extend_from_slice(&(big.len() as u32).to_le_bytes());
    p.extend_from_slice(&big);
    p.extend_from_slice(b"q\x00h\x00c__builtin__\nbytes\nh\x00\x85Re.");
    let (v, peak) = peak_of(|| decode(&p).expect("decodes"));
    let items = v.as_seq().expect("a list");
    assert_eq!(items.len(), 3);
    let arcs: Vec<&Arc<[u8]>> = items
        .iter()
        .map(|x| match x {
            Value::Bytes(b) => b,
            other => panic!("expected bytes, got {}", other.type_name()),
        })
        .collect();
    assert_eq!(&**arcs[0], &big[..]);
    assert!(Arc::ptr_eq(arcs[0], arcs[1]) && Arc::ptr_eq(arcs[0], arcs[2]));
    assert!(
        peak < big.len() + SLACK,
        "three references to {} bytes peaked at {peak}",
        big.len()
    );
    // Our own encoding of it decodes to the same value (the fuzz target's property).
    assert!(decode(&encode(&v)).expect("re-decodes").same(&v));
    tarp_core::wire::pickle::roundtrip_check(&p).expect("round trip");
}

#[test]
fn large_and_small_bytes_are_refused_alike_where_a_container_is_needed() {
    for len in [10usize, 100_000] {
        for (op, tail) in [("APPEND", &b"Na."[..]), ("SETITEM", &b"NNs."[..])] {
            let mut p = vec![0x80, 3, b'B'];
            p.extend_from_slice(&(len as u32).to_le_bytes());
            p.extend(std::iter::repeat(b'x').take(len));
            p.extend_from_slice(tail);
            let e = decode(&p).expect_err("refused").to_string();
            assert!(
                e.contains(&format!("{op} cannot be applied to a bytes")),
                "{len} bytes, {op}: {e}"
            );
        }
        let mut p = vec![0x80, 3, b'B'];
        p.extend_from_slice(&(len as u32).to_le_bytes());
        p.extend(std::iter::repeat(b'x').take(len));
        p.extend_from_slice(b"cnumpy\ndtype\n\x8c\x03<f8\x85R\x85b.");
        let e = decode(&p).expect_err("refused").to_string();
        assert!(
            e.contains("BUILD cannot be applied to a bytes"),
            "{len}: {e}"
        );
    }
}
