//! `limit`: the ceiling for this machine and load generator. It answers every request head with
//! the same canned HTTP/1.1 response (the byte size of `peer-hyper`'s `add` answer), parsing
//! nothing but the end of each head and a cheap `Content-Length` scan to skip bodies. Keep-alive
//! and pipelining: all the answers to what one read brought in go out in one write.
//!
//! Usage: `limit --port PORT [--threads 2]`; binds 127.0.0.1 only.

use tarp_bench_peers::{add_response, Canned, Flags};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

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
        eprintln!("limit: {e}");
        std::process::exit(2);
    }
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let flags = Flags::parse(std::env::args().skip(1))?;
    flags.only(&["port", "threads"])?;
    let port: u16 = flags.get("port", 8080)?;
    let threads: usize = flags.get("threads", 2)?;
    let response: &'static [u8] = add_response().leak();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads.max(1))
        .enable_io()
        .build()?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
        println!("limit listening on {}", listener.local_addr()?);
        loop {
            let (stream, _) = match listener.accept().await {
                Ok(conn) => conn,
                Err(e) => {
                    eprintln!("limit: accept: {e}");
                    continue;
                }
            };
            let _ = stream.set_nodelay(true);
            tokio::spawn(async move {
                let _ = serve(stream, response).await;
            });
        }
    })
}
