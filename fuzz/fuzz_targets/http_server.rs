//! The server connection machine on arbitrary bytes: whole, byte by byte and in splits
//! derived from the input, with the default and with small limits. Panics (inside the
//! machine or in the checks of `tarp_core::http::check`) are the findings.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    tarp_core::http::check::check_server_input(data);
});
