//! What only the blocking client does, checked against a scripted fake server on 127.0.0.1:
//! credentials in the URL, timeouts, the Python client's reading of odd answers.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use tarp_blocking::{Client, ClientError, WebData};

const DISCOVERY: &str = r#"{"status": "success", "mimetype": "application/json", "result": {"GET": [{"name": "page", "description": "d", "query_params": []}], "POST": [], "RPC": [{"name": "f", "description": "d"}], "ASYNCRPC": []}}"#;

/// Reads one request head and body (by Content-Length) from a socket.
fn read_request(stream: &mut TcpStream) -> String {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_lowercase();
            let len = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse::<usize>().ok())
                .unwrap_or(0);
            if buf.len() >= end + 4 + len {
                return String::from_utf8_lossy(&buf).into_owned();
            }
        }
        let n = stream.read(&mut chunk).unwrap_or(0);
        if n == 0 {
            return String::from_utf8_lossy(&buf).into_owned();
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

fn response(status: &str, headers: &str, body: &str) -> String {
    format!(
        "HTTP/1.1 {status}\r\n{headers}Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
}

fn json_response(body: &str) -> String {
    response("200 OK", "Content-Type: application/json\r\n", body)
}

/// A fake server answering each request, in order, with the given responses (the request
/// texts are sent back on the channel). `None` means: read the request, never answer.
fn fake(answers: Vec<Option<String>>) -> (SocketAddr, mpsc::Receiver<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut answers = answers.into_iter();
        'conns: for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            loop {
                let req = read_request(&mut stream);
                if req.is_empty() {
                    continue 'conns;
                }
                let _ = tx.send(req);
                match answers.next() {
                    Some(Some(answer)) => {
                        if stream.write_all(answer.as_bytes()).is_err() {
                            continue 'conns;
                        }
                    }
                    Some(None) => {
                        std::thread::sleep(Duration::from_secs(5));
                        continue 'conns;
                    }
                    None => return,
                }
            }
        }
    });
    (addr, rx)
}

#[test]
fn credentials_in_the_url_become_basic_auth() {
    let (addr, requests) = fake(vec![Some(json_response(DISCOVERY))]);
    let client = Client::connect(&format!("http://alice:s%3Acret@{addr}/")).unwrap();
    assert_eq!(client.base_url(), format!("http://{addr}"));
    let req = requests.recv_timeout(Duration::from_secs(5)).unwrap();
    assert!(req.starts_with("GET / HTTP/1.1\r\n"), "{req}");
    // base64("alice:s:cret")
    assert!(
        req.contains("authorization: Basic YWxpY2U6czpjcmV0\r\n"),
        "{req}"
    );
    assert!(!req.contains("alice@"), "{req}");
}

#[test]
fn rpc_request_is_what_the_python_client_sends() {
    let payload = r#"{"status": "success", "mimetype": "application/json", "result": {"payload": "gANLA4WULg=="}}"#;
    let (addr, requests) = fake(vec![
        Some(json_response(DISCOVERY)),
        Some(json_response(payload)),
    ]);
    let client = Client::connect(&format!("http://{addr}")).unwrap();
    requests.recv_timeout(Duration::from_secs(5)).unwrap();
    let _ = client.call_value("f", (1, "a"), tarp_blocking::kwargs! {"k" => 2});
    let req = requests.recv_timeout(Duration::from_secs(5)).unwrap();
    assert!(req.starts_with("POST /f HTTP/1.1\r\n"), "{req}");
    assert!(
        req.to_lowercase()
            .contains("content-type: application/json\r\n"),
        "{req}"
    );
    let body: serde_json::Value =
        serde_json::from_str(req.split("\r\n\r\n").nth(1).unwrap()).unwrap();
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD;
    let args =
        tarp_core::wire::pickle::decode(&b64.decode(body["args"].as_str().unwrap()).unwrap())
            .unwrap();
    let kwargs =
        tarp_core::wire::pickle::decode(&b64.decode(body["kwargs"].as_str().unwrap()).unwrap())
            .unwrap();
    assert_eq!(
        format!("{args:?}"),
        format!(
            "{:?}",
            tarp_core::wire::pickle::to_value(&(1, "a")).unwrap()
        )
    );
    assert!(matches!(kwargs, tarp_core::wire::pickle::Value::Dict(d) if d.len() == 1));
}

#[test]
fn a_server_that_never_answers_is_a_timeout() {
    let (addr, _requests) = fake(vec![Some(json_response(DISCOVERY)), None]);
    let client = Client::builder(&format!("http://{addr}"))
        .call_timeout(Some(Duration::from_millis(500)))
        .connect()
        .unwrap();
    let t0 = Instant::now();
    let r = client.call::<i64>("f", ());
    assert!(matches!(r, Err(ClientError::Timeout { .. })), "{r:?}");
    assert!(t0.elapsed() < Duration::from_secs(3), "{:?}", t0.elapsed());
}

#[test]
fn odd_answers_are_read_as_the_python_client_reads_them() {
    let answers = vec![
        Some(json_response(DISCOVERY)),
        // A 404 with no body (the Python server's unknown-UUID quirk).
        Some(response(
            "404 Not Found",
            "Content-Type: application/json\r\n",
            "",
        )),
        // A 500 with no body.
        Some(response(
            "500 Internal Server Error",
            "Content-Type: application/json\r\n",
            "",
        )),
        // A JSON body whose Content-Type has a charset: a raw payload, as for the Python client.
        Some(response(
            "200 OK",
            "Content-Type: application/json; charset=utf-8\r\n",
            "{\"a\": 1}",
        )),
        // A success envelope for a sync RPC whose mimetype is not JSON.
        Some(json_response(
            r#"{"status": "success", "mimetype": "text/plain", "result": "x"}"#,
        )),
        // Not an envelope at all.
        Some(json_response("[1, 2")),
    ];
    let (addr, _requests) = fake(answers);
    let client = Client::connect(&format!("http://{addr}")).unwrap();
    assert!(matches!(
        client.get("page").send(),
        Err(ClientError::NotFound { .. })
    ));
    match client.get("page").send() {
        Err(ClientError::Remote {
            status: 500, kind, ..
        }) => assert_eq!(kind, "http"),
        other => panic!("{other:?}"),
    }
    match client.get("page").send().unwrap() {
        (Some(mime), WebData::Raw { bytes, .. }) => {
            assert_eq!(
                (mime.as_str(), bytes.as_slice()),
                ("application/json; charset=utf-8", &b"{\"a\": 1}"[..])
            );
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        client.call::<i64>("f", ()),
        Err(ClientError::Protocol(_))
    ));
    assert!(matches!(
        client.get("page").send(),
        Err(ClientError::Protocol(_))
    ));
}

/// An answer beyond the client's response cap is refused (a protocol error, not a buffer of
/// whatever size the server names), whether its `Content-Length` is honest or claims far
/// more than is sent; an answer within the cap is read whole.
#[test]
fn answers_beyond_the_response_cap_are_refused() {
    const CAP: usize = 1 << 20;
    let octets = "Content-Type: application/octet-stream\r\n";
    let answers = vec![
        Some(json_response(DISCOVERY)),
        Some(response("200 OK", octets, &"x".repeat(2 * CAP))),
        // Claims 1 GiB, sends one byte more than the cap, then waits.
        Some(format!(
            "HTTP/1.1 200 OK\r\n{octets}Content-Length: {}\r\n\r\n{}",
            1u64 << 30,
            "y".repeat(CAP + 1)
        )),
        Some(response("200 OK", octets, &"z".repeat(1000))),
    ];
    let (addr, _requests) = fake(answers);
    let client = Client::builder(&format!("http://{addr}"))
        .max_response_bytes(CAP as u64)
        .connect()
        .unwrap();
    for _ in 0..2 {
        match client.get("page").send() {
            Err(ClientError::Protocol(message)) => {
                assert!(message.contains("limit"), "{message}")
            }
            other => panic!("{other:?}"),
        }
    }
    match client.get("page").send().unwrap() {
        (_, WebData::Raw { bytes, .. }) => assert_eq!(bytes, vec![b'z'; 1000]),
        other => panic!("{other:?}"),
    }
}

#[test]
fn bad_urls_and_ca_files_are_clear_errors() {
    assert!(matches!(
        Client::connect("ftp://127.0.0.1:1"),
        Err(ClientError::BadArgument { .. })
    ));
    assert!(matches!(
        Client::connect("127.0.0.1:8080"),
        Err(ClientError::BadArgument { .. })
    ));
    let r = Client::builder("https://127.0.0.1:1")
        .ca_file("/nonexistent/ca.pem")
        .connect();
    match r {
        Err(ClientError::Tls { source }) => assert!(
            source.to_string().contains("/nonexistent/ca.pem"),
            "{source}"
        ),
        other => panic!("{other:?}"),
    }
    // Nothing listens on port 1 of 127.0.0.1: a transport error, quickly.
    assert!(matches!(
        Client::connect("http://127.0.0.1:1"),
        Err(ClientError::Transport { .. })
    ));
}
