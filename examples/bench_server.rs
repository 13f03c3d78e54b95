//! The benchmark server of `bench/run.sh` (see `bench/README.md` and BENCHMARKS.md): the same
//! endpoints as the baseline `peer-hyper`, served by either of our transports.
//!
//! ```text
//! cargo run --release --example bench_server -- --runtime blocking --port 9000
//! cargo run --release --example bench_server -- --runtime smol --port 9000
//! ```
//!
//! Binds 127.0.0.1 only and serves until killed:
//! - RPC `add(a, b)`: the sum of two integers (scenarios 1 and 5);
//! - RPC `echo(x)`: returns its argument as it came (scenario 4 sends a 100 MB numpy array);
//! - async RPC `add_async(a, b)`: a job that returns at once (scenario 3);
//! - GET `small`: `{"x": 1, "y": [1, 2, 3]}` (scenario 2);
//! - GET `bytes1m`: 1 MiB of bytes, base64 in the envelope (scenario "1m").
//!
//! `add`, `small` and `bytes1m` are registered `.cheap()` (they never block), so the smol
//! server runs them on its executor as the hyper baseline does; `echo` runs where any plain
//! handler runs (the smol server's blocking pool). `run.sh` reads the server's peak resident
//! memory from `/proc/PID/status` (`VmHWM`).

use std::sync::Arc;

use tarp::core::http::Limits;
use tarp::core::service::{Reply, Service, ServiceConfig};
use tarp::core::wire::pickle::Value;

fn usage() -> ! {
    eprintln!("usage: bench_server --runtime blocking|smol --port PORT [--threads N]");
    std::process::exit(2);
}

fn main() {
    let mut runtime = String::from("blocking");
    let mut port: u16 = 0;
    let mut threads: Option<usize> = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--runtime" => runtime = args.next().unwrap_or_else(|| usage()),
            "--port" => {
                port = args
                    .next()
                    .and_then(|p| p.parse().ok())
                    .unwrap_or_else(|| usage())
            }
            "--threads" => {
                threads = Some(
                    args.next()
                        .and_then(|p| p.parse().ok())
                        .unwrap_or_else(|| usage()),
                )
            }
            _ => usage(),
        }
    }

    let service = Arc::new(service(tarp::blocking::service_config()));
    // The large-payload scenario sends ~140 MB bodies: within the default 1 GiB body limit.
    let limits = Limits::default();
    let address = format!("127.0.0.1:{port}");
    match runtime.as_str() {
        "blocking" => {
            let server = tarp::blocking::Server::builder(service)
                .address(&address)
                .limits(limits)
                .build()
                .unwrap_or_else(|e| fail(e));
            eprintln!("bench_server (blocking) on {}", server.local_addr());
            server.serve().unwrap_or_else(|e| fail(e));
        }
        "smol" => {
            let mut builder = tarp::smol::Server::builder(service)
                .address(&address)
                .limits(limits);
            if let Some(n) = threads {
                builder = builder.threads(n);
            }
            let server = builder.build().unwrap_or_else(|e| fail(e));
            eprintln!("bench_server (smol) on {}", server.local_addr());
            server.serve();
        }
        _ => usage(),
    }
}

fn fail(e: impl std::fmt::Display) -> ! {
    eprintln!("bench_server: {e}");
    std::process::exit(1);
}

/// The small GET's result: `{"x": 1, "y": [1, 2, 3]}`.
#[derive(serde::Serialize)]
struct Small {
    x: i64,
    y: [i64; 3],
}

/// The benchmark endpoints.
fn service(config: ServiceConfig) -> Service {
    let mut s = Service::with_config(config);
    s.rpc("add", |a: i64, b: i64| Ok(a.wrapping_add(b)))
        .params(["a", "b"])
        .cheap();
    s.rpc("echo", |x: Value| Ok(x)).params(["x"]);
    s.async_rpc("add_async", |a: i64, b: i64| Ok(a.wrapping_add(b)))
        .params(["a", "b"])
        .suggested_wait(1.0);
    // A typed result, as peer-hyper's handler returns it: written as JSON text at once.
    s.get("small", |_, _| {
        Reply::serialize(&Small { x: 1, y: [1, 2, 3] })
    })
    .cheap();
    let mib: Arc<[u8]> = (0..1 << 20).map(|i| (i % 251) as u8).collect();
    s.get("bytes1m", move |_, _| Ok(Reply::bytes(mib.to_vec())))
        .cheap();
    s
}
