//! HTTP engine benchmark: the Python client's `add(1, 2)` request (PROTOCOL.md section 4)
//! parsed by `ServerConn` and its response written, plus byte-at-a-time input and a large
//! body. Prints the median over batches and the heap allocations per request.
//!
//! Run: `cargo bench -p tarp-core --bench http` (add `-- rpc` for the first figure only, e.g.
//! to count cycles per request with `perf stat`: 404,000 requests are parsed and answered).

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tarp_core::http::{Limits, Next, Response, ServerConn};

/// Counts allocations (and reallocations) and delegates to the system allocator.
struct Counting;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

// SAFETY: every method delegates to `System` with the caller's arguments unchanged.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

const BODY: &str = r#"{"args": "gASVBwAAAAAAAABLAUsChpQu", "kwargs": "gAR9lC4="}"#;
const ANSWER: &[u8] =
    br#"{"status": "success", "mimetype": "application/json", "result": {"payload": "gANLAy4="}}"#;

fn python_request() -> Vec<u8> {
    format!(
        "POST /add HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nUser-Agent: python-requests/2.31.0\r\n\
         Accept-Encoding: gzip, deflate\r\nAccept: */*\r\nConnection: keep-alive\r\n\
         Content-Length: {}\r\nContent-Type: application/json\r\n\r\n{BODY}",
        BODY.len()
    )
    .into_bytes()
}

/// Runs `batch` iterations `batches` times; returns the median ns per iteration and the
/// allocations per iteration (over everything).
fn measure(batches: usize, batch: usize, mut f: impl FnMut()) -> (f64, f64) {
    for _ in 0..batch {
        f(); // warm up
    }
    let a0 = ALLOCATIONS.load(Ordering::Relaxed);
    let mut times: Vec<Duration> = (0..batches)
        .map(|_| {
            let t = Instant::now();
            for _ in 0..batch {
                f();
            }
            t.elapsed()
        })
        .collect();
    let allocs = (ALLOCATIONS.load(Ordering::Relaxed) - a0) as f64 / (batches * batch) as f64;
    times.sort();
    (
        times[times.len() / 2].as_nanos() as f64 / batch as f64,
        allocs,
    )
}

fn read_all(
    conn: &mut ServerConn,
    input: &[u8],
    chunk: usize,
    now: Instant,
) -> tarp_core::http::Request {
    let mut pos = 0;
    loop {
        match conn.poll(now) {
            Next::Request(req) => return req,
            Next::Read => {
                let buf = conn.recv_buf();
                let n = buf.len().min(chunk).min(input.len() - pos);
                buf[..n].copy_from_slice(&input[pos..pos + n]);
                conn.recv_done(n);
                pos += n;
            }
            other => panic!("{other:?}"),
        }
    }
}

fn write_all(conn: &mut ServerConn, now: Instant) -> usize {
    let mut written = 0;
    while let Next::Write = conn.poll(now) {
        let n = conn.transmit().len();
        written += n;
        black_box(conn.transmit());
        conn.advance(n);
    }
    written
}

fn main() {
    let now = Instant::now();
    let request = python_request();
    println!(
        "HTTP engine, Python client's add(1, 2): {} request bytes",
        request.len()
    );

    // Parse + answer on one kept-alive connection: the server's per-request work.
    let mut conn = ServerConn::new(Limits::default(), now);
    let (ns, allocs) = measure(201, 2000, || {
        let req = read_all(&mut conn, &request, usize::MAX, now);
        black_box(req.header("content-type"));
        let resp = Response::new(200, Some("application/json".into()), ANSWER.to_vec());
        conn.send_response(resp).unwrap();
        write_all(&mut conn, now);
    });
    println!("parse request + write response: {ns:>8.0} ns/request  {allocs:.2} allocations/request (3 request blocks + the response body built here)");
    if std::env::args().any(|a| a == "rpc") {
        return;
    }

    // Parse alone.
    let mut conn = ServerConn::new(Limits::default(), now);
    let mut pending: Option<tarp_core::http::Request> = None;
    let (ns, allocs) = measure(201, 2000, || {
        if pending.take().is_some() {
            conn.send_response(Response::new(204, None, Vec::new()))
                .unwrap();
            write_all(&mut conn, now);
        }
        pending = Some(read_all(&mut conn, &request, usize::MAX, now));
    });
    println!(
        "  of which parse (+ a 204):     {ns:>8.0} ns/request  {allocs:.2} allocations/request"
    );

    // One byte per read: linear, not quadratic.
    let mut conn = ServerConn::new(Limits::default(), now);
    let (ns, _) = measure(51, 200, || {
        let req = read_all(&mut conn, &request, 1, now);
        black_box(&req);
        conn.send_response(Response::new(204, None, Vec::new()))
            .unwrap();
        write_all(&mut conn, now);
    });
    println!(
        "same request fed 1 byte a read: {ns:>8.0} ns/request ({:.1} ns/byte)",
        ns / request.len() as f64
    );
    for size in [4 * 1024, 28 * 1024] {
        let head = format!("GET / HTTP/1.1\r\nX-Big: {}\r\n\r\n", "a".repeat(size));
        let mut conn = ServerConn::new(Limits::default(), now);
        let (ns, _) = measure(11, 10, || {
            black_box(read_all(&mut conn, head.as_bytes(), 1, now));
            conn.send_response(Response::new(204, None, Vec::new()))
                .unwrap();
            write_all(&mut conn, now);
        });
        println!(
            "{:>5} B head fed 1 byte a read: {:>8.1} ns/byte",
            head.len(),
            ns / head.len() as f64
        );
    }

    // A 64 MiB body in 64 KiB reads, straight into the request's Vec.
    let size = 64 << 20;
    let head = format!("POST /big HTTP/1.1\r\nContent-Length: {size}\r\n\r\n");
    let body = vec![7u8; 64 * 1024];
    let mut conn = ServerConn::new(Limits::default(), now);
    let (ns, allocs) = measure(5, 1, || {
        conn.feed(head.as_bytes());
        let mut left = size;
        loop {
            match conn.poll(now) {
                Next::Read => {
                    let buf = conn.recv_buf();
                    let n = buf.len().min(body.len()).min(left);
                    buf[..n].copy_from_slice(&body[..n]);
                    conn.recv_done(n);
                    left -= n;
                }
                Next::Request(req) => {
                    black_box(req.body().len());
                    break;
                }
                other => panic!("{other:?}"),
            }
        }
        conn.send_response(Response::new(204, None, Vec::new()))
            .unwrap();
        write_all(&mut conn, now);
    });
    println!(
        "64 MiB body in 64 KiB reads:    {:>8.2} GB/s  {allocs:.0} allocations/request",
        size as f64 / ns
    );
}
