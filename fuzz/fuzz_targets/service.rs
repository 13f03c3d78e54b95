//! The whole service on arbitrary request bytes: through the connection machine and as a
//! directly built request, every request is dispatched, calls and jobs are run, and every
//! response must be a consistent JSON envelope or the declared raw payload (the checks of
//! `tarp_core::service::check`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    tarp_core::service::check::check_request_bytes(data);
});
