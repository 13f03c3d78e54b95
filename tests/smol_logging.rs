//! The smol server logs one line per start, per refused request and per failed job
//! (`common::solo::logging`). A test binary of its own: the logger is global to the process.

mod common;

#[test]
fn one_line_per_start_refused_request_and_failed_job() {
    common::solo::logging::<common::transports::Smol>("tarp_smol");
}
