//! The client response parser on arbitrary bytes (the answers to `GET`, `HEAD`, `POST`,
//! `GET`), whole, byte by byte and in splits derived from the input, with the default and
//! with small limits. Panics are the findings.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    tarp_core::http::check::check_client_input(data);
});
