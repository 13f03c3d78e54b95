//! The pickle decoder on arbitrary bytes: decoding never panics, overflows the stack or
//! allocates beyond its budgets; a pickle that decodes survives the bounded walks, and
//! encoding then decoding it again gives the same value (`tarp_core::wire::pickle::roundtrip_check`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Err(e) = tarp_core::wire::pickle::roundtrip_check(data) {
        panic!("{e}");
    }
});
