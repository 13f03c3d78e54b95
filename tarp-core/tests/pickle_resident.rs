//! Resident memory (not heap counts) of decoding a large pickled array from an input the
//! caller gives up ([`decode_vec`]): the array's data is converted from its end backwards and
//! the input's memory given back as it fills, so the process grows by about one chunk beyond
//! the input, not by the array's size as with [`decode`]. Linux only: the peak is read from
//! `/proc/self/status` after resetting it through `/proc/self/clear_refs`. One test in this
//! binary, so no other test's memory is counted.

use tarp_core::wire::pickle::{decode, decode_vec, encode, NdArray, Value};

/// 64 MiB of float64.
const N: usize = 64 << 20;
const MIB: u64 = 1 << 20;

fn status_kib(field: &str) -> u64 {
    let text = std::fs::read_to_string("/proc/self/status").unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("{field} not in /proc/self/status"))
}

/// Bytes by which the resident set peaked above its level at the start of `f`.
fn resident_growth<T>(f: impl FnOnce() -> T) -> (T, u64) {
    std::fs::write("/proc/self/clear_refs", "5").expect("the peak resets");
    let start = status_kib("VmRSS:");
    let out = f();
    (out, (status_kib("VmHWM:") - start) * 1024)
}

fn pickled() -> (Vec<u8>, NdArray) {
    let values: Vec<f64> = (0..N / 8).map(|i| i as f64 * 0.5).collect();
    let array = NdArray::from_vec(values);
    (
        encode(&Value::tuple(vec![Value::NdArray(array.clone())])),
        array,
    )
}

#[test]
fn a_given_up_input_makes_room_for_the_array_it_holds() {
    let (data, sent) = pickled();
    let (value, growth) = resident_growth(|| decode(&data).unwrap());
    assert_eq!(value.as_seq().unwrap()[0].as_ndarray(), Some(&sent));
    drop(value);
    // The reference: the input stays whole while the whole array is written.
    assert!(
        growth > 56 * MIB,
        "decode grew by {} MiB (expected about 64)",
        growth / MIB
    );
    let (value, growth) = resident_growth(|| decode_vec(data).unwrap());
    assert_eq!(value.as_seq().unwrap()[0].as_ndarray(), Some(&sent));
    // One 8 MiB chunk of conversion ahead of what is given back, plus slack.
    assert!(
        growth < 20 * MIB,
        "decode_vec grew by {} MiB (expected about 8)",
        growth / MIB
    );
}
