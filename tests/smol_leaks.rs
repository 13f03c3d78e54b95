//! Issue 9: clients that vanish mid-request, mid-response or mid-pipeline cost nothing once
//! they are gone. Counted from outside the server: the process's threads and open file
//! descriptors return to what they were. A test binary of its own, so no other test's threads
//! or sockets blur the counts. (Linux: counts come from /proc.) The smol server's twin of
//! `blocking_leaks.rs`: its tasks end with their connections (counted by the server), and
//! the threads of the blocking pool it borrows exit after half a second idle.
#![cfg(target_os = "linux")]

mod common;

use std::io::Read;
use std::time::Duration;

use common::raw::{self, RawConn};
use common::{eventually, service::conformance_service};
use tarp_core::http::Limits;
use tarp_smol::{Client, Server};

/// The names of this process's threads.
fn thread_names() -> Vec<String> {
    std::fs::read_dir("/proc/self/task")
        .unwrap()
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
        .map(|name| name.trim().to_owned())
        .collect()
}

/// Threads of this process but those of `blocking`'s pool, which the server borrows for plain
/// handlers and jobs: that pool keeps the threads it grew to (up to `BLOCKING_MAX_THREADS`,
/// 500 by default) for later work, so they are bounded, not leaked; counted apart.
fn threads() -> usize {
    thread_names()
        .iter()
        .filter(|n| !n.starts_with("blocking-"))
        .count()
}

fn pool_threads() -> usize {
    thread_names()
        .iter()
        .filter(|n| n.starts_with("blocking-"))
        .count()
}

fn fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

#[test]
fn vanished_clients_leave_no_thread_socket_or_job_behind() {
    let (service, _gate) = conformance_service();
    let limits = Limits {
        write_timeout: Duration::from_millis(500),
        ..Limits::default()
    };
    let server = Server::builder(service)
        .address("127.0.0.1:0")
        .threads(2)
        .limits(limits)
        .build()
        .unwrap()
        .spawn()
        .unwrap();
    let addr = server.local_addr();
    // Warm up: one ordinary client, so lazily created things exist before the baseline.
    {
        let client = smol::block_on(Client::connect(&server.url())).unwrap();
        let sum = smol::block_on(client.call::<i64>("my_function", (1, 2))).unwrap();
        assert_eq!(sum, 3);
    }
    assert!(eventually(Duration::from_secs(5), || server
        .stats()
        .connections
        == 0));
    let (threads0, fds0) = (threads(), fds());

    for round in 0..10 {
        RawConn::connect(addr)
            .send(b"GET /text HTTP/1.1\r\nHost: x\r\nX-Ha")
            .unwrap();
        RawConn::connect(addr)
            .send(b"POST /pecho HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 99\r\n\r\n[")
            .unwrap();
        let mut c = RawConn::connect(addr);
        c.send(&raw::get("/big_web?n=16777216", "")).unwrap();
        let mut some = [0u8; 4096];
        let _ = c.stream.read(&mut some);
        drop(c);
        let mut burst = raw::get("/text", "");
        burst.extend(raw::get("/big_web?n=4194304", ""));
        burst.extend(raw::post(
            "/my_long_function",
            "application/json",
            br#"{"args": "gAJLAUsChnEALg==", "kwargs": "gAJ9cQAu"}"#,
        ));
        RawConn::connect(addr).send(&burst).unwrap();
        // A client that stops reading, then leaves.
        let mut stalled = RawConn::connect(addr);
        stalled.send(&raw::get("/big_web?n=33554432", "")).unwrap();
        if round % 2 == 0 {
            std::thread::sleep(Duration::from_millis(20));
        }
        drop(stalled);
    }
    assert!(
        eventually(Duration::from_secs(10), || server.stats().connections == 0),
        "connections left: {}",
        server.stats().connections
    );
    let stats = server.stats();
    assert!(eventually(Duration::from_secs(10), || {
        let s = server.stats();
        s.jobs_running + s.jobs_queued == 0
    }));
    assert!(
        eventually(Duration::from_secs(5), || threads() == threads0
            && fds() == fds0),
        "threads {} -> {}, fds {} -> {} ({stats:?})",
        threads0,
        threads(),
        fds0,
        fds()
    );
    // The borrowed pool stays small: a few threads for the few handlers and jobs at once.
    assert!(pool_threads() <= 16, "{} pool threads", pool_threads());
    // Served since, and still serving.
    assert!(stats.accepted >= 50, "{stats:?}");
    let client = smol::block_on(Client::connect(&server.url())).unwrap();
    let sum = smol::block_on(client.call::<i64>("my_function", (2, 2))).unwrap();
    assert_eq!(sum, 4);
}
