//! `limit-smol`: `limit`'s canned answer served by smol (async-io's reactor, async-executor
//! with `--threads` executor threads, 2 by default), the runtime of `tarp-smol`'s server.
//! Its throughput is the ceiling of that runtime on this machine: whatever a request costs
//! beyond it is the HTTP and TARP work and how the server drives it.
//!
//! Usage: `limit-smol --port PORT [--threads 2]`; binds 127.0.0.1 only.

use smol::io::{AsyncReadExt, AsyncWriteExt};
use smol::net::{TcpListener, TcpStream};
use std::sync::Arc;
use tarp_bench_peers::{add_response, Canned, Flags};

/// Largest head accepted before the connection is dropped.
const MAX_HEAD: usize = 64 * 1024;

async fn serve(mut stream: TcpStream, response: &'static [u8]) -> std::io::Result<()> {
    let mut buf = vec![0u8; MAX_HEAD];
    let mut filled = 0usize;
    let mut canned = Canned::default();
    let mut out = Vec::with_capacity(response.len() * 4);
    loop {
        let n = stream.read(&mut buf[filled..]).await?;
        if n == 0 {
            return Ok(());
        }
        filled += n;
        let reply = canned.respond(&mut buf, &mut filled, response, &mut out)?;
        if !reply.is_empty() {
            stream.write_all(reply).await?;
        }
    }
}

fn main() {
    if let Err(e) = run() {
        eprintln!("limit-smol: {e}");
        std::process::exit(2);
    }
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let flags = Flags::parse(std::env::args().skip(1))?;
    flags.only(&["port", "threads"])?;
    let port: u16 = flags.get("port", 8080)?;
    let threads: usize = flags.get("threads", 2)?;
    let response: &'static [u8] = add_response().leak();
    let executor = Arc::new(smol::Executor::new());
    for _ in 1..threads.max(1) {
        let executor = Arc::clone(&executor);
        std::thread::spawn(move || {
            smol::block_on(executor.run(smol::future::pending::<()>()));
        });
    }
    smol::block_on(executor.run(async {
        let listener = TcpListener::bind(("127.0.0.1", port)).await?;
        println!("limit-smol listening on {}", listener.local_addr()?);
        loop {
            let (stream, _) = match listener.accept().await {
                Ok(conn) => conn,
                Err(e) => {
                    eprintln!("limit-smol: accept: {e}");
                    continue;
                }
            };
            let _ = stream.set_nodelay(true);
            executor
                .spawn(async move {
                    let _ = serve(stream, response).await;
                })
                .detach();
        }
    }))
}
