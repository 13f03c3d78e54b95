//! `latency-client`: sequential latency of an HTTP server for scenario 5. It sends the Python
//! client's exact `add(1, 2)` request N times, one after the other over one keep-alive
//! connection, reads each full response (head, then `Content-Length` bytes of body), checks the
//! status is 200, and prints `p50_us=… p99_us=… n=…`.
//!
//! Usage: `latency-client --port PORT [--n 20000] [--warmup 1000]`; connects to 127.0.0.1 only.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Instant;
use tarp_bench_peers::{add_request, content_length, head_end, percentile, Flags};

/// Reads one response from `stream`, leaving any bytes past it in `buf`. Returns the status.
fn read_response(stream: &mut TcpStream, buf: &mut Vec<u8>) -> Result<u16, String> {
    let mut chunk = [0u8; 16 * 1024];
    let head = loop {
        if let Some(end) = head_end(buf) {
            break end;
        }
        if buf.len() > 64 * 1024 {
            return Err("response head over 64 KiB".into());
        }
        let n = stream.read(&mut chunk).map_err(|e| e.to_string())?;
        if n == 0 {
            return Err("connection closed before a full head".into());
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut resp = httparse::Response::new(&mut headers);
    resp.parse(&buf[..head]).map_err(|e| e.to_string())?;
    let status = resp.code.ok_or("no status code")?;
    let body = content_length(&buf[..head]).ok_or("bad Content-Length")?;
    while buf.len() < head + body {
        let n = stream.read(&mut chunk).map_err(|e| e.to_string())?;
        if n == 0 {
            return Err("connection closed inside a body".into());
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    buf.drain(..head + body);
    Ok(status)
}

fn main() {
    if let Err(e) = run() {
        eprintln!("latency-client: {e}");
        std::process::exit(2);
    }
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let flags = Flags::parse(std::env::args().skip(1))?;
    flags.only(&["port", "n", "warmup"])?;
    let port: u16 = flags.get("port", 8080)?;
    let n: usize = flags.get("n", 20_000)?;
    let warmup: usize = flags.get("warmup", 1_000)?;
    let host = format!("127.0.0.1:{port}");
    let request = add_request(&host);
    let mut stream = TcpStream::connect(&host)?;
    stream.set_nodelay(true)?;
    let mut buf = Vec::with_capacity(16 * 1024);
    let mut samples = Vec::with_capacity(n);
    for i in 0..warmup + n {
        let start = Instant::now();
        stream.write_all(&request)?;
        let status = read_response(&mut stream, &mut buf)?;
        let ns = start.elapsed().as_nanos() as u64;
        if status != 200 {
            return Err(format!("server answered {status}").into());
        }
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
