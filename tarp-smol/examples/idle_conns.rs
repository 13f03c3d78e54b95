//! Resident memory of the smol server per idle keep-alive connection (for BENCHMARKS.md).
//!
//! ```sh
//! ulimit -n 65536   # or as high as `ulimit -Hn` allows; the example also raises its soft
//!                   # limit to the hard one
//! cargo run --release -p tarp-smol --example idle_conns -- 10000
//! cargo run --release -p tarp-smol --example idle_conns -- 10000 --fresh
//! cargo run --release -p tarp-smol --example idle_conns -- 2000 --tls
//! ```
//!
//! The server runs in this process (2 executor threads). A child process (this same binary,
//! `--clients ...`) opens N connections on 127.0.0.1, sends one request on each (`GET /`, read
//! to the end, as a client that then keeps the connection alive for later), and holds them
//! idle. The parent reads its own `VmRSS` from `/proc/self/status` before and after, and
//! prints the growth per connection; meanwhile it checks that a new client is answered
//! promptly. With `--fresh` the connections send nothing (idle from the start); with `--tls`
//! the server serves HTTPS (a certificate made at start) and the clients speak TLS.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tarp_core::http::Limits;
use tarp_core::service::Service;
use tarp_smol::{Client, Server};

/// What to measure.
struct Options {
    n: usize,
    fresh: bool,
    /// With TLS: the CA the clients trust.
    ca: Option<PathBuf>,
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    raise_fd_limit();
    let flag = |name: &str| args.iter().any(|a| a == name);
    let value = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
    };
    if let Some(addr) = value("--clients") {
        let addr: SocketAddr = addr.parse().expect("--clients ADDR");
        let options = Options {
            n: value("--n").and_then(|n| n.parse().ok()).expect("--n N"),
            fresh: flag("--fresh"),
            ca: value("--ca").map(PathBuf::from),
        };
        hold_clients(&options, addr);
        return;
    }
    let n = args.iter().find_map(|a| a.parse().ok()).unwrap_or(10_000);
    measure(n, flag("--fresh"), flag("--tls"));
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

/// A self-signed certificate for `localhost`, written to a temporary directory: (cert, key).
fn make_certificate() -> (PathBuf, PathBuf) {
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["localhost".into()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    let dir = std::env::temp_dir().join(format!("tarp-idle-conns-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (cert_path, key_path) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert_path, cert.pem()).unwrap();
    std::fs::write(&key_path, key.serialize_pem()).unwrap();
    (cert_path, key_path)
}

fn measure(n: usize, fresh: bool, tls: bool) {
    let mut service = Service::with_config(tarp_smol::service_config());
    service.rpc("add", |a: i64, b: i64| Ok(a + b));
    let limits = Limits {
        // Idle connections must outlive the measurement; a fresh one's first head too.
        idle_timeout: Duration::from_secs(600),
        header_timeout: Duration::from_secs(600),
        ..Limits::default()
    };
    let mut builder = Server::builder(Arc::new(service))
        .address("127.0.0.1:0")
        .threads(2)
        .limits(limits)
        .max_connections(n + 300);
    let cert = tls.then(make_certificate);
    if let Some((cert, key)) = &cert {
        builder = builder.tls(cert, key);
    }
    let server = builder
        .build()
        .expect("server binds")
        .spawn()
        .expect("server starts");
    let url = server.url().replace("127.0.0.1", "localhost");
    let ca = cert.as_ref().map(|(c, _)| c.clone());
    let connect = || {
        let mut b = Client::builder(&url);
        if let Some(ca) = &ca {
            b = b.ca_file(ca);
        }
        smol::block_on(b.connect()).expect("client connects")
    };
    // Warm up: the executor threads, the blocking pool, the allocator's arenas.
    let client = connect();
    for i in 0..200i64 {
        let _: i64 = smol::block_on(client.call("add", (i, 1))).unwrap();
    }
    let warm = Options {
        n: 200,
        fresh: false,
        ca: ca.clone(),
    };
    open_connections(&warm, server.local_addr());
    std::thread::sleep(Duration::from_millis(300));
    let before = vm_rss_kib();

    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--clients", &server.local_addr().to_string()])
        .args(["--n", &n.to_string()])
        .args(fresh.then_some("--fresh"))
        .args(ca.iter().flat_map(|ca| ["--ca".as_ref(), ca.as_os_str()]))
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
    while server.stats().connections < n + 1 && t0.elapsed() < Duration::from_secs(60) {
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(500));
    let held = server.stats().connections - 1; // the warm-up client's connection
    let after = vm_rss_kib();

    // A new client meanwhile: a new connection and a few calls, timed.
    let t0 = Instant::now();
    let other = connect();
    let mut worst = Duration::ZERO;
    for i in 0..100i64 {
        let t = Instant::now();
        let sum: i64 = smol::block_on(other.call("add", (i, 2))).unwrap();
        assert_eq!(sum, i + 2);
        worst = worst.max(t.elapsed());
    }
    let served = t0.elapsed();

    let growth = after.saturating_sub(before);
    let kind = match (tls, fresh) {
        (false, false) => "HTTP, after one request each",
        (false, true) => "HTTP, fresh (no request yet)",
        (true, false) => "HTTPS, after one request each",
        (true, true) => "HTTPS, handshake done, no request yet",
    };
    println!("idle keep-alive connections held: {held} of {n} ({kind})");
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
fn hold_clients(options: &Options, addr: SocketAddr) {
    let _conns = open_connections(options, addr);
    println!("READY");
    std::io::stdout().flush().unwrap();
    let mut sink = Vec::new();
    let _ = std::io::stdin().read_to_end(&mut sink);
}

trait Conn: Read + Write {}
impl<T: Read + Write> Conn for T {}

/// Opens the connections (each served one `GET /` unless fresh).
fn open_connections(options: &Options, addr: SocketAddr) -> Vec<Box<dyn Conn>> {
    let tls = options.ca.as_deref().map(tls_config);
    (0..options.n)
        .map(|i| {
            let tcp = TcpStream::connect(addr)
                .unwrap_or_else(|e| panic!("connection {i}: {e} (raise `ulimit -n`)"));
            let mut conn: Box<dyn Conn> = match &tls {
                None => Box::new(tcp),
                Some(config) => {
                    let name = "localhost".try_into().unwrap();
                    let session = rustls::ClientConnection::new(Arc::clone(config), name).unwrap();
                    let mut stream = rustls::StreamOwned::new(session, tcp);
                    while stream.conn.is_handshaking() {
                        stream
                            .conn
                            .complete_io(&mut stream.sock)
                            .expect("handshake");
                    }
                    Box::new(stream)
                }
            };
            if !options.fresh {
                conn.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
                    .unwrap();
                conn.flush().unwrap();
                read_response(&mut conn);
            }
            conn
        })
        .collect()
}

fn tls_config(ca: &Path) -> Arc<rustls::ClientConfig> {
    tarp_smol::tls::client_config(Some(ca)).expect("client TLS configuration")
}

/// Reads one response framed by Content-Length.
fn read_response(conn: &mut impl Read) {
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
