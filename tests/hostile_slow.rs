//! Slow clients the conformance suite does not cover, on both transports (issue 9): a TLS
//! handshake trickled one byte at a time (a slowloris before HTTP even starts) and a request
//! head sent as one TLS record trickled one byte at a time are cut by the head deadline, and
//! a request body trickled below the minimum rate is cut with a 408. In each case a
//! well-behaved client is served afterwards.
//!
//! Deadlines are shortened to a second or two; the assertions on time are one-sided where a
//! loaded machine could only make things slower (never cut before the deadline) and generous
//! where it could (cut within several times the deadline).

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use tarp_core::http::Limits;

use common::certs;
use common::service::conformance_service;

use common::transports::Kind;
use common::Options;

/// Server options: these limits, and TLS with the test PKI's server certificate when given.
fn options(limits: Limits, tls: Option<&certs::TestCerts>) -> Options {
    Options {
        limits,
        tls: tls.map(|pki| (pki.cert.clone(), pki.key.clone())),
        ..Options::default()
    }
}

/// Sends `bytes` one at a time, `gap` apart, until the server closes the connection (or
/// answers something, or `give_up` passes). Returns when that happened and what it sent.
fn trickle(
    stream: &mut TcpStream,
    bytes: &[u8],
    gap: Duration,
    give_up: Duration,
) -> (Duration, Vec<u8>) {
    let t0 = Instant::now();
    stream.set_read_timeout(Some(gap)).unwrap();
    let mut received = Vec::new();
    for &b in bytes.iter().cycle() {
        if t0.elapsed() > give_up || stream.write_all(&[b]).is_err() {
            break;
        }
        let mut buf = [0u8; 4096];
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                received.extend_from_slice(&buf[..n]);
                // Read whatever else comes, up to the close.
                stream
                    .set_read_timeout(Some(Duration::from_secs(5)))
                    .unwrap();
                while let Ok(n) = stream.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    received.extend_from_slice(&buf[..n]);
                }
                break;
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => break,
        }
    }
    (t0.elapsed(), received)
}

fn tls_handshake_trickle_on(kind: Kind) {
    let pki = certs::generate();
    let limits = Limits {
        header_timeout: Duration::from_secs(1),
        ..Limits::default()
    };
    let (service, _gate) = conformance_service();
    let server = kind.start(service, &options(limits, Some(&pki)));
    let mut slow = TcpStream::connect(server.addr()).unwrap();
    slow.set_nodelay(true).unwrap();
    // A TLS record header announcing a 512-byte handshake record, then its bytes one every
    // 100 ms: the server's TLS layer waits for the whole record, the head deadline must not.
    let mut record = vec![
        0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03,
    ];
    record.extend(std::iter::repeat(0x41).take(501));
    let (took, received) = trickle(
        &mut slow,
        &record,
        Duration::from_millis(100),
        Duration::from_secs(30),
    );
    assert!(
        took >= Duration::from_millis(900),
        "{kind:?}: cut after {took:?}, before the 1 s deadline"
    );
    assert!(
        took < Duration::from_secs(15),
        "{kind:?}: a trickled TLS handshake held the connection for {took:?}"
    );
    // No HTTP response can be written before TLS is up: at most a TLS alert.
    assert!(
        received.is_empty() || received[0] == 0x15,
        "{kind:?}: {received:?}"
    );
    // A real client is served.
    let client = tarp_blocking::Client::builder(&server.url())
        .ca_file(&pki.ca)
        .connect()
        .unwrap();
    assert_eq!(client.call::<i64>("my_function", (2, 3)).unwrap(), 5);
    drop(client);
    assert!(common::eventually(Duration::from_secs(10), || server
        .connections()
        == 0));
    server.shutdown();
}

#[test]
fn blocking_cuts_a_trickled_tls_handshake() {
    tls_handshake_trickle_on(Kind::Blocking);
}

#[test]
fn smol_cuts_a_trickled_tls_handshake() {
    tls_handshake_trickle_on(Kind::Smol);
}

/// Completes a real TLS handshake (CPython's `ssl`), then sends a request head as one TLS
/// record, one byte every 100 ms, never finishing it; prints the seconds until the server
/// closed the connection (or until the record ran out).
const TLS_RECORD_TRICKLE: &str = r#"
import socket, ssl, sys, time
port, ca = int(sys.argv[1]), sys.argv[2]
ctx = ssl.create_default_context(cafile=ca)
inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
tls = ctx.wrap_bio(inc, out, server_hostname="localhost")
s = socket.create_connection(("127.0.0.1", port))
while True:
    try:
        tls.do_handshake()
        break
    except ssl.SSLWantReadError:
        pending = out.read()
        if pending:
            s.sendall(pending)
        chunk = s.recv(65536)
        if not chunk:
            sys.exit("closed during the handshake")
        inc.write(chunk)
pending = out.read()
if pending:
    s.sendall(pending)
tls.write(b"GET /text HTTP/1.1\r\nHost: x\r\nX-Pad: " + b"a" * 400 + b"\r\n\r\n")
record = out.read()
s.settimeout(0.1)
t0 = time.time()
for b in record[:-1]:
    try:
        s.send(bytes([b]))
        if not s.recv(65536):
            break
    except socket.timeout:
        continue
    except OSError:
        break
print(f"{time.time() - t0:.3f}")
"#;

fn tls_record_trickle_on(kind: Kind) {
    let pki = certs::generate();
    let limits = Limits {
        header_timeout: Duration::from_secs(1),
        ..Limits::default()
    };
    let (service, _gate) = conformance_service();
    let server = kind.start(service, &options(limits, Some(&pki)));
    let out = std::process::Command::new("python3")
        .args(["-c", TLS_RECORD_TRICKLE])
        .arg(server.addr().port().to_string())
        .arg(&pki.ca)
        .output()
        .expect("python3 is required by these tests");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let took: f64 = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap();
    assert!(took >= 0.5, "{kind:?}: cut after {took} s");
    assert!(
        took < 15.0,
        "{kind:?}: a trickled TLS record held the connection for {took} s"
    );
    let client = tarp_blocking::Client::builder(&server.url())
        .ca_file(&pki.ca)
        .connect()
        .unwrap();
    assert_eq!(client.call::<i64>("my_function", (2, 3)).unwrap(), 5);
    drop(client);
    assert!(common::eventually(Duration::from_secs(10), || server
        .connections()
        == 0));
    server.shutdown();
}

#[test]
fn blocking_cuts_a_trickled_tls_record() {
    tls_record_trickle_on(Kind::Blocking);
}

#[test]
fn smol_cuts_a_trickled_tls_record() {
    tls_record_trickle_on(Kind::Smol);
}

fn body_trickle_on(kind: Kind) {
    let limits = Limits {
        body_timeout: Duration::from_secs(1),
        min_body_rate: 1000,
        ..Limits::default()
    };
    let (service, _gate) = conformance_service();
    let server = kind.start(service, &options(limits, None));
    let mut slow = TcpStream::connect(server.addr()).unwrap();
    slow.set_nodelay(true).unwrap();
    slow.write_all(
        b"POST /pecho HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n",
    )
    .unwrap();
    // One byte every 100 ms: never idle for the 1 s body timeout, but 10 B/s, far below the
    // 1000 B/s minimum once the 1 s grace period is over.
    let (took, received) = trickle(
        &mut slow,
        b"[1, 2, 3, 4] ",
        Duration::from_millis(100),
        Duration::from_secs(30),
    );
    let text = String::from_utf8_lossy(&received);
    assert!(
        text.starts_with("HTTP/1.1 408 "),
        "{kind:?}: {text:?} after {took:?}"
    );
    assert!(
        text.contains("Limits::body_timeout") || text.contains("Limits::min_body_rate"),
        "{text}"
    );
    assert!(
        took >= Duration::from_millis(900),
        "{kind:?}: cut after {took:?}"
    );
    assert!(
        took < Duration::from_secs(15),
        "{kind:?}: held for {took:?}"
    );
    // Meanwhile (and after) a well-behaved client is served.
    let client = tarp_blocking::Client::connect(&server.url()).unwrap();
    assert_eq!(client.call::<i64>("my_function", (2, 3)).unwrap(), 5);
    drop(client);
    assert!(common::eventually(Duration::from_secs(10), || server
        .connections()
        == 0));
    server.shutdown();
}

#[test]
fn blocking_cuts_a_body_below_the_minimum_rate() {
    body_trickle_on(Kind::Blocking);
}

#[test]
fn smol_cuts_a_body_below_the_minimum_rate() {
    body_trickle_on(Kind::Smol);
}
