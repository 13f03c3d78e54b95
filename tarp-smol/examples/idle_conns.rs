//! Resident memory of the smol server per idle keep-alive connection (for BENCHMARKS.md).
//!
//! ```sh
//! ulimit -n 65536   # or as high as `ulimit -Hn` allows; the example also raises its soft
//!                   # limit to the hard one
//! cargo run --release -p tarp-smol --example idle_conns -- 10000
//! ```
//!
//! The server runs in this process (2 executor threads). A child process (this same binary,
//! `--clients N ADDR`) opens N connections on 127.0.0.1, sends one request on each (`GET /`,
//! read to the end, as a client that then keeps the connection alive for later), and holds
//! them idle. The parent reads its own `VmRSS` from `/proc/self/status` before and after, and
//! prints the growth per connection; meanwhile it checks that a normal client is still
//! answered promptly. With `--fresh`, the connections send nothing (idle from the start).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tarp_core::http::Limits;
use tarp_core::service::Service;
use tarp_smol::{Client, Server};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    raise_fd_limit();
    if args.first().map(String::as_str) == Some("--clients") {
        let n: usize = args[1].parse().expect("--clients N ADDR");
        let addr: SocketAddr = args[2].parse().expect("--clients N ADDR");
        let fresh = args.iter().any(|a| a == "--fresh");
        hold_clients(n, addr, fresh);
        return;
    }
    let n: usize = args.iter().find_map(|a| a.parse().ok()).unwrap_or(10_000);
    let fresh = args.iter().any(|a| a == "--fresh");
    measure(n, fresh);
}

/// Raises this process's soft limit on open files to its hard limit.
fn raise_fd_limit() {
    use rustix::process::{getrlimit, setrlimit, Resource};
    let mut limit = getrlimit(Resource::Nofile);
    limit.current = limit.maximum;
    if let Err(e) = setrlimit(Resource::Nofile, limit) {
        eprintln!("cannot raise the open-file limit: {e}");
    }
}

fn vm_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS in /proc/self/status")
}

fn measure(n: usize, fresh: bool) {
    let mut service = Service::with_config(tarp_smol::service_config());
    service.rpc("add", |a: i64, b: i64| Ok(a + b));
    let limits = Limits {
        // Idle connections must outlive the measurement; a fresh one's first head too.
        idle_timeout: Duration::from_secs(600),
        header_timeout: Duration::from_secs(600),
        ..Limits::default()
    };
    let server = Server::builder(Arc::new(service))
        .address("127.0.0.1:0")
        .threads(2)
        .limits(limits)
        .max_connections(n + 100)
        .build()
        .expect("server binds")
        .spawn()
        .expect("server starts");
    let url = server.url();
    // Warm up: the executor threads, the blocking pool, the allocator's arenas.
    let client = smol::block_on(Client::connect(&url)).expect("client connects");
    for i in 0..200i64 {
        let _: i64 = smol::block_on(client.call("add", (i, 1))).unwrap();
    }
    hold_clients_in(200, server.local_addr(), false, |_| ());
    std::thread::sleep(Duration::from_millis(300));
    let before = vm_rss_kib();

    let mut child = Command::new(std::env::current_exe().unwrap())
        .arg("--clients")
        .arg(n.to_string())
        .arg(server.local_addr().to_string())
        .args(fresh.then_some("--fresh"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("client process starts");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(line.trim(), "READY", "client process: {line:?}");
    let t0 = Instant::now();
    while server.stats().connections < n + 1 && t0.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(500));
    let held = server.stats().connections - 1; // the warm-up client's connection
    let after = vm_rss_kib();

    // A normal client meanwhile: a new connection and a few calls, timed.
    let t0 = Instant::now();
    let other = smol::block_on(Client::connect(&url)).expect("a new client is served");
    let mut worst = Duration::ZERO;
    for i in 0..100i64 {
        let t = Instant::now();
        let sum: i64 = smol::block_on(other.call("add", (i, 2))).unwrap();
        assert_eq!(sum, i + 2);
        worst = worst.max(t.elapsed());
    }
    let served = t0.elapsed();

    let growth = after.saturating_sub(before);
    println!(
        "idle keep-alive connections held: {held} (asked {n}{})",
        if fresh { ", fresh" } else { "" }
    );
    println!("server VmRSS before: {before} KiB, after: {after} KiB, growth {growth} KiB");
    println!(
        "resident memory per idle connection: {:.2} KiB",
        growth as f64 / held.max(1) as f64
    );
    println!(
        "meanwhile, a new client: connect + 100 calls in {:.1} ms (slowest call {:.2} ms)",
        served.as_secs_f64() * 1e3,
        worst.as_secs_f64() * 1e3
    );
    drop(child.stdin.take());
    let _ = child.wait();
    server.shutdown();
}

/// The client process: opens the connections, says READY, holds them until stdin closes.
fn hold_clients(n: usize, addr: SocketAddr, fresh: bool) {
    hold_clients_in(n, addr, fresh, |_conns| {
        println!("READY");
        std::io::stdout().flush().unwrap();
        let mut sink = Vec::new();
        let _ = std::io::stdin().read_to_end(&mut sink);
    });
}

/// Opens `n` connections (each served one `GET /` unless `fresh`), then runs `hold`.
fn hold_clients_in(n: usize, addr: SocketAddr, fresh: bool, hold: impl FnOnce(&[TcpStream])) {
    let mut conns = Vec::with_capacity(n);
    for i in 0..n {
        let mut conn = TcpStream::connect(addr)
            .unwrap_or_else(|e| panic!("connection {i} of {n}: {e} (raise `ulimit -n`)"));
        if !fresh {
            conn.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
                .unwrap();
            read_response(&mut conn);
        }
        conns.push(conn);
    }
    hold(&conns);
}

/// Reads one response framed by Content-Length.
fn read_response(conn: &mut TcpStream) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = conn.read(&mut chunk).expect("response");
        assert!(n > 0, "connection closed before the response");
        buf.extend_from_slice(&chunk[..n]);
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
            let len: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse().ok())
                .expect("Content-Length");
            if buf.len() >= end + 4 + len {
                return;
            }
        }
    }
}
