//! Core-only cost of one synchronous RPC call: the Python client's request bytes for
//! `add(1, 2)` in, the response bytes out, through the whole core (HTTP connection machine,
//! routing, base64 + pickle decoding, argument binding, the call, result pickling, the
//! envelope, response framing). No sockets, no threads.
//!
//! Run with `cargo bench -p tarp-core --bench rpc`. Prints the median nanoseconds per call
//! over many short batches and the heap allocations per call, counted by a global allocator; also
//! the same for `dispatch` + `run` alone (request already parsed, response not framed).
//!
//! This file has `unsafe` only for the `GlobalAlloc` impl that counts and delegates to the
//! system allocator (a trait that can only be implemented unsafely).

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::hint::black_box;
use std::time::Instant;

use tarp_core::http::{Limits, Next, Request, Response, ServerConn};
use tarp_core::service::{Dispatch, Service};

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

fn allocations() -> u64 {
    ALLOCATIONS.with(Cell::get)
}

/// `c.add(1, 2)` exactly as the Python client sends it: `requests` 2.34 on CPython 3.11
/// (pickle protocol 4), header order as `requests` prepares it.
const REQUEST: &[u8] = b"POST /add HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\
User-Agent: python-requests/2.34.2\r\nAccept-Encoding: gzip, deflate\r\nAccept: */*\r\n\
Connection: keep-alive\r\nContent-Type: application/json\r\nContent-Length: 58\r\n\r\n\
{\"args\": \"gASVBwAAAAAAAABLAUsChpQu\", \"kwargs\": \"gAR9lC4=\"}";

fn service() -> Service {
    let mut svc = Service::with_seed(1);
    svc.rpc("add", |a: f64, b: f64| Ok(a + b))
        .params(["a", "b"])
        .describe("Add two numbers.");
    svc
}

fn answer(svc: &Service, req: Request, now: Instant) -> Response {
    match svc.dispatch(req, now) {
        Dispatch::Respond(r) => r,
        Dispatch::Call(call) => call.run(),
        Dispatch::Spawn { response, .. } => response,
    }
}

/// One call through the connection machine; returns the response bytes written.
fn one_call(conn: &mut ServerConn, svc: &Service, now: Instant, out: &mut Vec<u8>) {
    let mut fed = 0;
    loop {
        match conn.poll(now) {
            Next::Request(req) => {
                let response = answer(svc, req, now);
                conn.send_response(response).expect("awaiting a response");
            }
            Next::Write => {
                let pending = conn.transmit();
                out.extend_from_slice(pending);
                let n = pending.len();
                conn.advance(n);
            }
            Next::Read if fed < REQUEST.len() => fed += conn.feed(&REQUEST[fed..]),
            Next::Read => return,
            other => panic!("unexpected {other:?}"),
        }
    }
}

struct Figures {
    median_ns: f64,
    allocations: f64,
}

/// Runs `batch` calls `batches` times; the median of the per-call times, and allocations per
/// call over everything.
fn measure(batches: usize, batch: usize, mut f: impl FnMut()) -> Figures {
    for _ in 0..batch {
        f(); // warm up caches and buffers
    }
    let mut per_call = Vec::with_capacity(batches);
    let a0 = allocations();
    for _ in 0..batches {
        let t = Instant::now();
        for _ in 0..batch {
            f();
        }
        per_call.push(t.elapsed().as_nanos() as f64 / batch as f64);
    }
    let allocs = (allocations() - a0) as f64 / (batches * batch) as f64;
    per_call.sort_by(f64::total_cmp);
    Figures {
        median_ns: per_call[per_call.len() / 2],
        allocations: allocs,
    }
}

fn main() {
    let svc = service();
    let now = Instant::now();

    // Check the answer once: 200, the envelope, 3.0 pickled.
    let mut conn = ServerConn::new(Limits::default(), now);
    let mut out = Vec::new();
    one_call(&mut conn, &svc, now, &mut out);
    let text = String::from_utf8(out.clone()).unwrap();
    let expected_body = r#"{"status": "success", "mimetype": "application/json", "result": {"payload": "gANHQAgAAAAAAAAu"}}"#;
    assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text}");
    assert!(text.ends_with(expected_body), "{text}");

    // Many short batches: a batch (~0.3 ms) usually fits in one scheduler time slice, so on
    // a shared, busy machine the median batch is one that ran uninterrupted.
    let (batches, batch) = if std::env::args().any(|a| a == "--quick") {
        (200, 100)
    } else {
        (5000, 100)
    };

    let whole = measure(batches, batch, || {
        out.clear();
        one_call(&mut conn, &svc, now, &mut out);
        black_box(&out);
    });

    let parsed = {
        let mut c = ServerConn::new(Limits::default(), now);
        c.feed(REQUEST);
        match c.poll(now) {
            Next::Request(req) => req,
            other => panic!("unexpected {other:?}"),
        }
    };
    let dispatch_only = measure(batches, batch, || {
        black_box(answer(&svc, black_box(parsed.clone()), now));
    });
    let clone_cost = measure(batches, batch, || {
        black_box(black_box(&parsed).clone());
    });

    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD;
    let args = b64.decode("gASVBwAAAAAAAABLAUsChpQu").unwrap();
    let kwargs = b64.decode("gAR9lC4=").unwrap();
    let decode_args = measure(batches, batch, || {
        black_box(tarp_core::wire::pickle::decode(black_box(&args)).unwrap());
    });
    let decode_kwargs = measure(batches, batch, || {
        black_box(tarp_core::wire::pickle::decode(black_box(&kwargs)).unwrap());
    });
    let encode_result = measure(batches, batch, || {
        black_box(tarp_core::wire::pickle::to_pickle(black_box(&3.0f64)).unwrap());
    });

    println!("add(1, 2) from the Python client's request bytes, core only ({batches} batches of {batch} calls)");
    println!("{:<52} {:>10} {:>12}", "path", "median ns", "allocations");
    println!(
        "{:<52} {:>10.0} {:>12.1}",
        "bytes in -> bytes out (ServerConn + Service)", whole.median_ns, whole.allocations
    );
    println!(
        "{:<52} {:>10.0} {:>12.1}",
        "dispatch + run only (parsed request -> Response)",
        dispatch_only.median_ns - clone_cost.median_ns,
        dispatch_only.allocations - clone_cost.allocations
    );
    for (name, f) in [
        ("  of which: unpickle args (1, 2)", &decode_args),
        ("  of which: unpickle kwargs {}", &decode_kwargs),
        ("  of which: pickle the result 3.0", &encode_result),
    ] {
        println!("{:<52} {:>10.0} {:>12.1}", name, f.median_ns, f.allocations);
    }
}
