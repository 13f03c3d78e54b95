//! What only the blocking server does: the connection cap (503 or backlog), the job worker
//! bound, what a shutdown settles, the builder's addresses, TLS with a self-signed
//! certificate. The transport-independent behaviours are in `blocking_conformance.rs`.

mod common;

use std::io::Read;
use std::net::TcpStream;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::raw::{self, RawConn};
use common::service::Gate;
use common::{certs, eventually};
use tarp_blocking::{Client, OverCapacity, Server, ServerHandle};
use tarp_core::http::{Request, Version};
use tarp_core::service::{Dispatch, Service};

fn gated_service(gate: &Arc<Gate>) -> Arc<Service> {
    let mut s = Service::with_config(tarp_blocking::service_config());
    s.rpc("add", |a: i64, b: i64| Ok(a + b)).params(["a", "b"]);
    let g = Arc::clone(gate);
    s.async_rpc("gated_job", move |x: i64| {
        g.pass();
        Ok(x)
    })
    .params(["x"])
    .suggested_wait(0.1);
    Arc::new(s)
}

fn spawn(builder: tarp_blocking::ServerBuilder) -> ServerHandle {
    builder
        .address("127.0.0.1:0")
        .build()
        .unwrap()
        .spawn()
        .unwrap()
}

/// A kept-alive connection that has been served once.
fn held(server: &ServerHandle) -> RawConn {
    let mut conn = RawConn::connect(server.local_addr());
    conn.send(&raw::get("/", "")).unwrap();
    assert_eq!(conn.expect_response().status, 200);
    conn
}

#[test]
fn past_the_connection_cap_new_clients_get_a_fast_503() {
    let gate = Arc::new(Gate::default());
    let server = spawn(Server::builder(gated_service(&gate)).max_connections(2));
    let mut a = held(&server);
    let mut b = held(&server);
    assert_eq!(server.stats().connections, 2);
    let t0 = Instant::now();
    let mut refused = RawConn::connect(server.local_addr());
    let resp = refused.expect_response();
    assert!(t0.elapsed() < Duration::from_secs(1), "{:?}", t0.elapsed());
    assert_eq!((resp.status, resp.header("Retry-After")), (503, Some("1")));
    assert_eq!(resp.header("Content-Type"), Some("application/json"));
    assert_eq!(resp.json()["type"], "ServiceUnavailable");
    assert!(refused.closed_within(Duration::from_secs(2)));
    assert_eq!(server.stats().refused, 1);
    // The connections held are still served.
    for conn in [&mut a, &mut b] {
        conn.send(&raw::get("/", "")).unwrap();
        assert_eq!(conn.expect_response().status, 200);
    }
    // A freed slot is taken again.
    drop(a);
    assert!(eventually(Duration::from_secs(3), || server
        .stats()
        .connections
        == 1));
    let client = Client::connect(&server.url()).unwrap();
    assert_eq!(client.call::<i64>("add", (1, 2)).unwrap(), 3);
}

#[test]
fn backlog_policy_holds_new_clients_until_a_slot_frees() {
    let gate = Arc::new(Gate::default());
    let server = spawn(
        Server::builder(gated_service(&gate))
            .max_connections(1)
            .over_capacity(OverCapacity::Backlog),
    );
    let first = held(&server);
    let mut waiting = RawConn::connect(server.local_addr());
    waiting.send(&raw::get("/", "")).unwrap();
    waiting
        .stream
        .set_read_timeout(Some(Duration::from_millis(400)))
        .unwrap();
    let mut byte = [0u8; 1];
    let r = waiting.stream.read(&mut byte);
    assert!(
        matches!(&r, Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut)),
        "served past the cap: {r:?}"
    );
    drop(first);
    waiting
        .stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let resp = waiting.expect_response();
    assert_eq!(resp.status, 200);
    assert_eq!(server.stats().refused, 0);
}

#[test]
fn async_jobs_run_on_a_bounded_pool_and_shutdown_settles_the_queue() {
    let gate = Arc::new(Gate::default());
    let server = spawn(Server::builder(gated_service(&gate)).job_workers(2));
    let client = Client::connect(&server.url()).unwrap();
    let handles: Vec<_> = (0..4)
        .map(|i| client.start("gated_job", (i,)).unwrap())
        .collect();
    assert!(eventually(Duration::from_secs(5), || gate.waiting() == 2));
    let stats = server.stats();
    assert_eq!((stats.jobs_running, stats.jobs_queued), (2, 2));
    let service = Arc::clone(server.service());
    let report = server.shutdown_within(Duration::from_millis(300));
    assert_eq!(
        (report.jobs_abandoned, report.jobs_running),
        (2, 2),
        "{report:?}"
    );
    // The two jobs that never started are settled as failed, not left in progress.
    for h in &handles[2..] {
        let req = Request::new(
            "GET",
            &format!("/asyncProbe?UUID={}", h.id()),
            Version::Http11,
            vec![],
            vec![],
        );
        let Dispatch::Respond(resp) = service.dispatch(req, Instant::now()) else {
            panic!("probe runs nothing")
        };
        let body: serde_json::Value = serde_json::from_slice(&resp.body).unwrap();
        assert_eq!(body["result"]["status"], "failed", "{body}");
        assert!(
            body["result"]["error"]
                .as_str()
                .unwrap()
                .contains("shut down"),
            "{body}"
        );
    }
    gate.open();
}

#[test]
fn shutdown_after_the_grace_period_cuts_what_remains() {
    let gate = Arc::new(Gate::default());
    let server = spawn(Server::builder(gated_service(&gate)));
    // A client in the middle of sending its body holds its connection "busy".
    let mut slow = RawConn::connect(server.local_addr());
    slow.send(b"POST /add HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{").unwrap();
    assert!(eventually(Duration::from_secs(2), || server
        .stats()
        .connections
        == 1));
    // Let the connection read the partial body (a connection that has received nothing yet
    // counts as idle and closes at once).
    std::thread::sleep(Duration::from_millis(200));
    let t0 = Instant::now();
    let report = server.shutdown_within(Duration::from_millis(300));
    assert!(t0.elapsed() < Duration::from_secs(3), "{:?}", t0.elapsed());
    assert_eq!(
        (report.connections_cut, report.connections_stuck),
        (1, 0),
        "{report:?}"
    );
    assert!(slow.closed_within(Duration::from_secs(2)));
}

#[test]
fn dropping_the_handle_stops_the_server() {
    let gate = Arc::new(Gate::default());
    let server = spawn(Server::builder(gated_service(&gate)));
    let addr = server.local_addr();
    assert!(TcpStream::connect(addr).is_ok());
    drop(server);
    assert!(
        TcpStream::connect(addr).is_err(),
        "still listening after the handle was dropped"
    );
}

#[test]
fn builder_binds_like_run_server() {
    let gate = Arc::new(Gate::default());
    let server = Server::builder(gated_service(&gate))
        .bind_to("127.0.0.1")
        .port(0)
        .build()
        .unwrap();
    let addr = server.local_addr();
    assert!(addr.ip().is_loopback() && addr.port() != 0, "{addr}");
    let handle = server.spawn().unwrap();
    assert_eq!(handle.url(), format!("http://{addr}"));
    assert!(Client::connect(&handle.url()).is_ok());
    // An address that cannot be bound is a clear error naming it.
    let err = Server::bind(gated_service(&gate), &addr.to_string()).unwrap_err();
    assert!(err.to_string().contains(&addr.to_string()), "{err}");
    let err = Server::builder(gated_service(&gate))
        .tls("/nonexistent/cert.pem", "/nonexistent/key.pem")
        .build()
        .unwrap_err();
    assert!(err.to_string().contains("/nonexistent/cert.pem"), "{err}");
}

#[test]
fn tls_with_a_self_signed_certificate_as_its_own_anchor() {
    let pki = certs::generate();
    let gate = Arc::new(Gate::default());
    let server =
        spawn(Server::builder(gated_service(&gate)).tls(&pki.self_signed, &pki.self_signed_key));
    assert!(server.url().starts_with("https://"));
    let client = Client::builder(&server.url())
        .ca_file(&pki.self_signed)
        .connect()
        .unwrap();
    assert_eq!(client.call::<i64>("add", (2, 3)).unwrap(), 5);
    // The Python client trusts it the same way (`server_key` = the certificate).
    common::python::run_client(
        &server.url(),
        Some(&pki.self_signed),
        "assert c.add(2, 3) == 5",
    );
}

#[test]
fn a_plain_http_client_on_a_tls_port_costs_only_its_connection() {
    let pki = certs::generate();
    let gate = Arc::new(Gate::default());
    let server = spawn(Server::builder(gated_service(&gate)).tls(&pki.cert, &pki.key));
    let mut plain = RawConn::connect(server.local_addr());
    plain.send(&raw::get("/", "")).unwrap();
    assert!(plain.closed_within(Duration::from_secs(3)));
    assert!(eventually(Duration::from_secs(3), || server
        .stats()
        .connections
        == 0));
    let client = Client::builder(&server.url())
        .ca_file(&pki.ca)
        .connect()
        .unwrap();
    assert_eq!(client.call::<i64>("add", (2, 3)).unwrap(), 5);
}

#[test]
fn handlers_that_never_return_hold_only_their_own_connections() {
    let gate = Arc::new(Gate::default());
    let mut s = Service::with_config(tarp_blocking::service_config());
    s.rpc("add", |a: i64, b: i64| Ok(a + b)).params(["a", "b"]);
    let g = Arc::clone(&gate);
    s.rpc("stuck", move || {
        g.pass();
        Ok(0)
    });
    let g = Arc::clone(&gate);
    s.async_rpc("stuck_job", move || {
        g.pass();
        Ok(0)
    });
    let server = spawn(
        Server::builder(Arc::new(s))
            .max_connections(4)
            .job_workers(2)
            .shutdown_grace(Duration::from_millis(200)),
    );
    let url = server.url();
    let client = Client::connect(&url).unwrap();
    // Two jobs hold both job workers, two calls hold two connection threads.
    client.start("stuck_job", ()).unwrap();
    client.start("stuck_job", ()).unwrap();
    let stuck: Vec<_> = (0..2)
        .map(|_| {
            let url = url.clone();
            std::thread::spawn(move || Client::connect(&url).unwrap().call::<i64>("stuck", ()))
        })
        .collect();
    assert!(eventually(Duration::from_secs(5), || gate.waiting() == 4));
    // The remaining slots still serve everyone else, promptly.
    let t0 = Instant::now();
    for i in 0..20 {
        assert_eq!(client.call::<i64>("add", (i, 1)).unwrap(), i + 1);
    }
    assert!(t0.elapsed() < Duration::from_secs(2), "{:?}", t0.elapsed());
    // A shutdown reports what it could not stop instead of hanging on it.
    let report = server.shutdown();
    assert_eq!(
        (report.connections_stuck, report.jobs_running),
        (2, 2),
        "{report:?}"
    );
    gate.open();
    for t in stuck {
        // The stuck calls' connections were cut at the end of the grace period.
        assert!(t.join().unwrap().is_err());
    }
}

#[test]
fn shutdown_with_the_backlog_policy_at_its_cap() {
    let gate = Arc::new(Gate::default());
    let server = spawn(
        Server::builder(gated_service(&gate))
            .max_connections(1)
            .over_capacity(OverCapacity::Backlog)
            .shutdown_grace(Duration::from_millis(300)),
    );
    let held = held(&server);
    let t0 = Instant::now();
    server.shutdown();
    assert!(t0.elapsed() < Duration::from_secs(3), "{:?}", t0.elapsed());
    drop(held);
}
