//! `limit-threads`: `limit`'s canned answer served by one blocking thread per connection over
//! `std::net`, the architecture of `tarp-blocking`'s server. Its throughput is the ceiling
//! of that architecture on this machine: whatever a request costs beyond it is the HTTP and
//! TARP work.
//!
//! Usage: `limit-threads --port PORT`; binds 127.0.0.1 only.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use tarp_bench_peers::{add_response, Canned, Flags};

/// Largest head accepted before the connection is dropped.
const MAX_HEAD: usize = 64 * 1024;

fn serve(mut stream: TcpStream, response: &'static [u8]) -> std::io::Result<()> {
    let mut buf = vec![0u8; MAX_HEAD];
    let mut filled = 0usize;
    let mut canned = Canned::default();
    let mut out = Vec::with_capacity(response.len() * 4);
    loop {
        let n = stream.read(&mut buf[filled..])?;
        if n == 0 {
            return Ok(());
        }
        filled += n;
        let reply = canned.respond(&mut buf, &mut filled, response, &mut out)?;
        if !reply.is_empty() {
            stream.write_all(reply)?;
        }
    }
}

fn main() {
    if let Err(e) = run() {
        eprintln!("limit-threads: {e}");
        std::process::exit(2);
    }
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let flags = Flags::parse(std::env::args().skip(1))?;
    flags.only(&["port"])?;
    let port: u16 = flags.get("port", 8080)?;
    let response: &'static [u8] = add_response().leak();
    let listener = TcpListener::bind(("127.0.0.1", port))?;
    println!("limit-threads listening on {}", listener.local_addr()?);
    for stream in listener.incoming() {
        let stream = match stream {
            Ok(s) => s,
            Err(e) => {
                eprintln!("limit-threads: accept: {e}");
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        std::thread::spawn(move || {
            let _ = serve(stream, response);
        });
    }
    Ok(())
}
