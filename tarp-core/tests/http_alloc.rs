//! Heap allocations per request, counted by a global allocator.
//!
//! A parsed request owns exactly three heap blocks, and parsing allocates nothing else:
//! 1. the head's bytes (one copy, exactly its size; method, path, query and field names and
//!    values are ranges into it),
//! 2. the index of its header fields (one `Vec` of ranges, exactly the field count),
//! 3. the body (exactly `Content-Length` bytes when it arrived with the head).
//!
//! httparse's header slots live on the stack, and the connection's read and write buffers
//! are reused from one request to the next. Writing the response allocates nothing.
//!
//! The `unsafe` here (and in `benches/http.rs`) is only the `GlobalAlloc` impl that counts
//! and delegates to the system allocator: a trait that can only be implemented unsafely.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::time::Instant;

use tarp_core::http::{Limits, Next, Response, ServerConn};

struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

fn bump() {
    let _ = ALLOCATIONS.try_with(|c| c.set(c.get() + 1));
}

// SAFETY: every method delegates to `System` with the caller's arguments unchanged.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        bump();
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        bump();
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        bump();
        unsafe { System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Allocations made by this thread while running `f`.
fn allocations<R>(f: impl FnOnce() -> R) -> (R, u64) {
    let before = ALLOCATIONS.with(Cell::get);
    let r = f();
    (r, ALLOCATIONS.with(Cell::get) - before)
}

/// `add(1, 2)` exactly as the Python client (`requests`) sends it (PROTOCOL.md section 4).
const BODY: &str = r#"{"args": "gASVBwAAAAAAAABLAUsChpQu", "kwargs": "gAR9lC4="}"#;

fn python_request(method: &str, body: &str) -> Vec<u8> {
    format!(
        "{method} /add HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nUser-Agent: python-requests/2.31.0\r\n\
         Accept-Encoding: gzip, deflate\r\nAccept: */*\r\nConnection: keep-alive\r\n\
         Content-Length: {}\r\nContent-Type: application/json\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// Reads `input` in one `recv_buf`/`recv_done` (as one socket read would) and polls the
/// request out.
fn receive(conn: &mut ServerConn, input: &[u8], now: Instant) -> tarp_core::http::Request {
    let buf = conn.recv_buf();
    buf[..input.len()].copy_from_slice(input);
    conn.recv_done(input.len());
    match conn.poll(now) {
        Next::Request(req) => req,
        other => panic!("{other:?}"),
    }
}

fn respond(conn: &mut ServerConn, response: Response, now: Instant) {
    conn.send_response(response).unwrap();
    while let Next::Write = conn.poll(now) {
        let n = conn.transmit().len();
        conn.advance(n);
    }
    assert!(matches!(conn.poll(now), Next::Read));
}

fn envelope() -> Response {
    let body = br#"{"status": "success", "mimetype": "application/json", "result": {"payload": "gANLAy4="}}"#;
    Response::new(200, Some("application/json".into()), body.to_vec())
}

#[test]
fn a_typical_request_costs_only_its_own_blocks() {
    let now = Instant::now();
    let mut conn = ServerConn::new(Limits::default(), now);
    let post = python_request("POST", BODY);
    // The first request sizes the connection's read and write buffers.
    let first = receive(&mut conn, &post, now);
    respond(&mut conn, envelope(), now);
    drop(first);

    for _ in 0..3 {
        // POST with its body: head bytes + field index + body = 3.
        let (req, n) = allocations(|| receive(&mut conn, &post, now));
        assert_eq!(n, 3, "allocations to receive the POST");
        assert_eq!(req.body(), BODY.as_bytes());
        assert_eq!(
            req.header("user-agent"),
            Some(&b"python-requests/2.31.0"[..])
        );
        let resp = envelope();
        let ((), n) = allocations(|| respond(&mut conn, resp, now));
        assert_eq!(n, 0, "allocations to write the response");
        drop(req);

        // The head alone (no body): head bytes + field index = 2.
        let get = python_request("GET", "");
        let (req, n) = allocations(|| receive(&mut conn, &get, now));
        assert_eq!(n, 2, "allocations to receive a head without body");
        assert_eq!(req.headers().count(), 7);
        let resp = envelope();
        respond(&mut conn, resp, now);
    }
}

#[test]
fn the_copying_feed_path_costs_the_same() {
    let now = Instant::now();
    let mut conn = ServerConn::new(Limits::default(), now);
    let post = python_request("POST", BODY);
    assert_eq!(conn.feed(&post), post.len());
    let Next::Request(_) = conn.poll(now) else {
        panic!()
    };
    respond(&mut conn, envelope(), now);
    let (req, n) = allocations(|| {
        assert_eq!(conn.feed(&post), post.len());
        match conn.poll(now) {
            Next::Request(req) => req,
            other => panic!("{other:?}"),
        }
    });
    assert_eq!(n, 3);
    assert_eq!(req.path(), "/add");
}

#[test]
fn a_large_body_is_allocated_near_the_data_not_the_claim() {
    // A 1 GiB Content-Length with 10 bytes sent allocates 64 KiB of body room, once.
    let now = Instant::now();
    let mut conn = ServerConn::new(Limits::default(), now);
    conn.feed(b"POST / HTTP/1.1\r\nContent-Length: 1073741824\r\n\r\n");
    assert!(matches!(conn.poll(now), Next::Read));
    let (room, n) = allocations(|| conn.recv_buf().len());
    assert_eq!((room, n), (64 * 1024, 1));
    conn.recv_done(10);
    assert_eq!(conn.recv_buf().len(), 64 * 1024 - 10);
}

#[test]
fn a_large_body_grows_geometrically_straight_from_the_reads() {
    let now = Instant::now();
    let mut conn = ServerConn::new(Limits::default(), now);
    let size = 10 << 20;
    conn.feed(format!("POST / HTTP/1.1\r\nContent-Length: {size}\r\n\r\n").as_bytes());
    assert!(matches!(conn.poll(now), Next::Read));
    let ((), n) = allocations(|| {
        let mut left = size;
        while left > 0 {
            let buf = conn.recv_buf();
            let k = buf.len().min(left).min(64 * 1024);
            buf[..k].fill(7);
            conn.recv_done(k);
            left -= k;
        }
    });
    // 64 KiB, then doubling up to 10 MiB: 1 allocation and 8 reallocations.
    assert_eq!(n, 9);
    let Next::Request(req) = conn.poll(now) else {
        panic!()
    };
    assert_eq!(req.body().len(), size);
    assert!(req.body().iter().all(|&b| b == 7));
}
