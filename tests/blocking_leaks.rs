//! Issue 9 on the blocking server: clients that vanish mid-request, mid-response or mid-pipeline
//! cost nothing once they are gone (`common::solo::vanished_clients_leave_nothing`). A test
//! binary of its own, so no other test's threads or sockets blur the counts.
#![cfg(target_os = "linux")]

mod common;

#[test]
fn vanished_clients_leave_no_thread_socket_or_job_behind() {
    common::solo::vanished_clients_leave_nothing::<common::transports::Blocking>();
}
