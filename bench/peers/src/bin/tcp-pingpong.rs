//! `tcp-pingpong`: the latency floor for scenario 5. A raw TCP ping-pong on loopback that sends
//! the exact bytes of the Python client's `add(1, 2)` request and answers the exact bytes of the
//! canned `add` response, with no HTTP parsing at all (each side knows the other's length).
//!
//! Usage:
//! - `tcp-pingpong server --port PORT`: answer every request-sized chunk with the response.
//! - `tcp-pingpong client --port PORT [--n 20000] [--warmup 1000]`: sequential round trips over
//!   one connection; prints `p50_us=… p99_us=… n=…`.
//!
//! Binds and connects to 127.0.0.1 only; both sides set TCP_NODELAY, as the HTTP peers do.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::Instant;
use tarp_bench_peers::{add_request, add_response, percentile, Flags};

fn serve(mut stream: TcpStream, req_len: usize, response: &[u8]) -> std::io::Result<()> {
    stream.set_nodelay(true)?;
    let mut buf = vec![0u8; req_len];
    loop {
        // read_exact fails with UnexpectedEof when the client leaves: a normal end.
        if stream.read_exact(&mut buf).is_err() {
            return Ok(());
        }
        stream.write_all(response)?;
    }
}

fn server(port: u16) -> Result<(), Box<dyn std::error::Error>> {
    let listener = TcpListener::bind(("127.0.0.1", port))?;
    let addr = listener.local_addr()?;
    println!("tcp-pingpong listening on {addr}");
    let req_len = add_request(&addr.to_string()).len();
    let response = add_response();
    for stream in listener.incoming() {
        let stream = match stream {
            Ok(s) => s,
            Err(e) => {
                eprintln!("tcp-pingpong: accept: {e}");
                continue;
            }
        };
        let response = response.clone();
        std::thread::spawn(move || {
            if let Err(e) = serve(stream, req_len, &response) {
                eprintln!("tcp-pingpong: {e}");
            }
        });
    }
    Ok(())
}

fn client(port: u16, n: usize, warmup: usize) -> Result<(), Box<dyn std::error::Error>> {
    let host = format!("127.0.0.1:{port}");
    let request = add_request(&host);
    let mut answer = vec![0u8; add_response().len()];
    let mut stream = TcpStream::connect(&host)?;
    stream.set_nodelay(true)?;
    let mut samples = Vec::with_capacity(n);
    for i in 0..warmup + n {
        let start = Instant::now();
        stream.write_all(&request)?;
        stream.read_exact(&mut answer)?;
        let ns = start.elapsed().as_nanos() as u64;
        if i >= warmup {
            samples.push(ns);
        }
    }
    samples.sort_unstable();
    let p50 = percentile(&samples, 50.0).unwrap_or(0) as f64 / 1000.0;
    let p99 = percentile(&samples, 99.0).unwrap_or(0) as f64 / 1000.0;
    println!("p50_us={p50:.1} p99_us={p99:.1} n={n}");
    Ok(())
}

fn main() {
    if let Err(e) = run() {
        eprintln!("tcp-pingpong: {e}");
        std::process::exit(2);
    }
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let flags = Flags::parse(std::env::args().skip(1))?;
    flags.only(&["port", "n", "warmup"])?;
    let port: u16 = flags.get("port", 8080)?;
    match flags.positional.first().map(String::as_str) {
        Some("server") => server(port),
        Some("client") => client(port, flags.get("n", 20_000)?, flags.get("warmup", 1_000)?),
        _ => Err("usage: tcp-pingpong server|client --port PORT [--n N] [--warmup N]".into()),
    }
}
