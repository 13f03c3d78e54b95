//! Query strings and form bodies on arbitrary bytes: parsing never panics, refuses only what
//! is over a limit, stays bounded, and re-encodes to what parses back equal (the checks of
//! `tarp_core::wire::query::check_input`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    tarp_core::wire::query::check_input(data);
});
