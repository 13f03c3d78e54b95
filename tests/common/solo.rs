//! Scenarios that need a test process of their own, for any [`Transport`]: the logger is
//! global to a process, and leak checks count the process's threads and descriptors, which
//! other tests running at the same time would blur. Each `*_logging.rs` / `*_leaks.rs` test
//! binary runs one of them for one transport. The client side is our blocking client and raw
//! sockets, whatever the server's transport.

use std::io::Read;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use tarp_blocking::{Client, JobStatus};
use tarp_core::http::Limits;
use tarp_core::service::{Error, Service};

use super::raw::{self, RawConn};
use super::service::conformance_service;
use super::{eventually, Options, Transport};

/// Captures the log lines whose target starts with a given crate name.
struct Capture {
    target: OnceLock<String>,
    lines: Mutex<Vec<(log::Level, String)>>,
}

impl log::Log for Capture {
    fn enabled(&self, _: &log::Metadata) -> bool {
        true
    }
    fn log(&self, record: &log::Record) {
        if self
            .target
            .get()
            .is_some_and(|t| record.target().starts_with(t.as_str()))
        {
            self.lines
                .lock()
                .unwrap()
                .push((record.level(), record.args().to_string()));
        }
    }
    fn flush(&self) {}
}

static LOG: Capture = Capture {
    target: OnceLock::new(),
    lines: Mutex::new(Vec::new()),
};

fn lines_with(needle: &str) -> Vec<(log::Level, String)> {
    LOG.lines
        .lock()
        .unwrap()
        .iter()
        .filter(|(_, l)| l.contains(needle))
        .cloned()
        .collect()
}

fn all_lines() -> Vec<(log::Level, String)> {
    LOG.lines.lock().unwrap().clone()
}

/// The server logs one `info` line when it starts, one `warn` line per refused request (by
/// the service or by the HTTP machine) and one per failed async job, and nothing at `info`
/// or above for requests that succeed. `crate_target` is the server crate's log target
/// (`tarp_blocking`, `tarp_smol`).
pub fn logging<T: Transport>(crate_target: &str) {
    LOG.target.set(crate_target.to_owned()).unwrap();
    log::set_logger(&LOG).unwrap();
    log::set_max_level(log::LevelFilter::Info);
    let mut s = Service::with_config(tarp_blocking::service_config());
    s.async_rpc("doomed", || -> Result<(), Error> {
        Err(Error::failed("out of helium"))
    })
    .suggested_wait(0.1);
    let server = T::start(Arc::new(s), &Options::default());
    let addr = server.addr();

    let started = lines_with(&format!("listening on http://{addr}"));
    assert_eq!(started.len(), 1, "{:?}", all_lines());
    assert_eq!(started[0].0, log::Level::Info);

    // Refused by the service (404) and by the HTTP machine (400, bad framing).
    let mut conn = RawConn::connect(addr);
    conn.send(&raw::get("/no_such_endpoint", "")).unwrap();
    assert_eq!(conn.expect_response().status, 404);
    let mut bad = RawConn::connect(addr);
    bad.send(b"GET / HTTP/1.1\r\nContent-Length: 5, 6\r\n\r\n")
        .unwrap();
    assert_eq!(bad.expect_response().status, 400);
    assert!(
        eventually(Duration::from_secs(3), || lines_with("refused").len() == 2),
        "{:?}",
        all_lines()
    );
    let refused = lines_with("refused");
    assert!(refused.iter().all(|(level, _)| *level == log::Level::Warn));
    assert!(
        refused
            .iter()
            .any(|(_, l)| l.contains("/no_such_endpoint") && l.contains("404")),
        "{refused:?}"
    );
    assert!(
        refused.iter().any(|(_, l)| l.contains("400")),
        "{refused:?}"
    );

    let client = Client::connect(&server.url()).unwrap();
    let job = client.start("doomed", ()).unwrap();
    assert!(eventually(Duration::from_secs(3), || job.status().unwrap()
        == JobStatus::Failed));
    let failed = lines_with(&format!("async job {} failed", job.id()));
    assert_eq!(failed.len(), 1, "{:?}", all_lines());
    assert!(failed[0].1.contains("out of helium"));
    // Successful requests log nothing at info or above.
    let before = all_lines().len();
    for _ in 0..5 {
        client.job(job.id()).status().ok();
    }
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(all_lines().len(), before, "{:?}", all_lines());
    drop(client);
    server.shutdown();
}

/// The names of this process's threads.
fn thread_names() -> Vec<String> {
    std::fs::read_dir("/proc/self/task")
        .unwrap()
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
        .map(|name| name.trim().to_owned())
        .collect()
}

/// Threads of this process but those of the `blocking` crate's pool, which the smol server
/// borrows for plain handlers and jobs: that pool keeps the threads it grew to (up to
/// `BLOCKING_MAX_THREADS`, 500 by default) for later work, so they are bounded, not leaked;
/// counted apart.
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

/// Issue 9: clients that vanish mid-request, mid-response or mid-pipeline cost nothing once
/// they are gone. Counted from outside the server: the process's threads and open file
/// descriptors return to what they were, no job stays queued or running, and the server
/// still serves. (Linux: counts come from /proc.)
pub fn vanished_clients_leave_nothing<T: Transport>() {
    let (service, _gate) = conformance_service();
    let options = Options {
        limits: Limits {
            write_timeout: Duration::from_millis(500),
            ..Limits::default()
        },
        ..Options::default()
    };
    let server = T::start(service, &options);
    let addr = server.addr();
    // Warm up: one ordinary client, so lazily created things exist before the baseline.
    {
        let client = Client::connect(&server.url()).unwrap();
        assert_eq!(client.call::<i64>("my_function", (1, 2)).unwrap(), 3);
    }
    assert!(eventually(Duration::from_secs(5), || server.connections() == 0));
    let (threads0, fds0) = (threads(), fds());
    let accepted0 = server.accepted();

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
    // Every one of the 50 connections is accepted and gone. (Waiting on `connections() == 0`
    // alone is not enough: the last clients may still sit in the kernel's backlog, dropped
    // before the server reached them, while everything accepted so far has closed.)
    assert!(
        eventually(Duration::from_secs(10), || server.accepted()
            >= accepted0 + 50
            && server.connections() == 0),
        "accepted {} of 50, connections left: {}",
        server.accepted() - accepted0,
        server.connections()
    );
    assert!(
        eventually(Duration::from_secs(10), || server.jobs_active() == 0),
        "jobs left: {}",
        server.jobs_active()
    );
    assert!(
        eventually(Duration::from_secs(5), || threads() == threads0
            && fds() == fds0),
        "threads {} -> {}, fds {} -> {}",
        threads0,
        threads(),
        fds0,
        fds()
    );
    // A borrowed pool stays small: a few threads for the few handlers and jobs at once.
    assert!(pool_threads() <= 16, "{} pool threads", pool_threads());
    // Still serving.
    let client = Client::connect(&server.url()).unwrap();
    assert_eq!(client.call::<i64>("my_function", (2, 2)).unwrap(), 4);
    drop(client);
    server.shutdown();
}
