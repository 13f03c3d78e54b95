//! How a server spends its capacity, the same on every transport: the connection cap (a fast
//! 503 or the backlog), the bounded job pool, what a shutdown settles and cuts, handlers that
//! never return, and what a TLS port does with clients that do not speak TLS. Run by
//! `conformance_tests!` for each transport.

use std::io::Read;
use std::net::TcpStream;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tarp_blocking::Client;
use tarp_core::http::{Limits, Request, Version};
use tarp_core::service::{Dispatch, Service};

use super::raw::{self, RawConn};
use super::service::Gate;
use super::{certs, eventually, Options, RunningServer, Transport};

/// `add(a, b)`, a sync call `gated(x)` and an async job `gated_job(x)` that wait at `gate`.
pub fn gated_service(gate: &Arc<Gate>) -> Arc<Service> {
    let mut s = Service::with_config(tarp_blocking::service_config());
    s.rpc("add", |a: i64, b: i64| Ok(a + b)).params(["a", "b"]);
    let g = Arc::clone(gate);
    s.rpc("gated", move |x: i64| {
        g.pass();
        Ok(x)
    })
    .params(["x"]);
    let g = Arc::clone(gate);
    s.async_rpc("gated_job", move |x: i64| {
        g.pass();
        Ok(x)
    })
    .params(["x"])
    .suggested_wait(0.1);
    Arc::new(s)
}

/// A kept-alive connection that has been served once.
fn held(server: &dyn RunningServer) -> RawConn {
    let mut conn = RawConn::connect(server.addr());
    conn.send(&raw::get("/", "")).unwrap();
    assert_eq!(conn.expect_response().status, 200);
    conn
}

/// What the service answers to a probe of job `id`, asked directly (no server needed).
fn probe(service: &Service, id: &str) -> serde_json::Value {
    let req = Request::new(
        "GET",
        &format!("/asyncProbe?UUID={id}"),
        Version::Http11,
        vec![],
        vec![],
    );
    let Dispatch::Respond(resp) = service.dispatch(req, Instant::now()) else {
        panic!("a probe runs nothing")
    };
    serde_json::from_slice(&resp.body).unwrap()
}

pub fn past_the_connection_cap_new_clients_get_a_fast_503<T: Transport>() {
    let gate = Arc::new(Gate::default());
    let options = Options {
        max_connections: Some(2),
        ..Options::default()
    };
    let server = T::start(gated_service(&gate), &options);
    let mut a = held(&*server);
    let mut b = held(&*server);
    assert_eq!(server.connections(), 2);
    let t0 = Instant::now();
    let mut refused = RawConn::connect(server.addr());
    let resp = refused.expect_response();
    assert!(t0.elapsed() < Duration::from_secs(1), "{:?}", t0.elapsed());
    assert_eq!((resp.status, resp.header("Retry-After")), (503, Some("1")));
    assert_eq!(resp.header("Content-Type"), Some("application/json"));
    assert_eq!(resp.json()["type"], "ServiceUnavailable");
    assert!(refused.closed_within(Duration::from_secs(2)));
    assert_eq!(server.refused(), 1);
    // The connections held are still served.
    for conn in [&mut a, &mut b] {
        conn.send(&raw::get("/", "")).unwrap();
        assert_eq!(conn.expect_response().status, 200);
    }
    // A freed slot is taken again.
    drop(a);
    assert!(eventually(Duration::from_secs(3), || server.connections() == 1));
    let client = Client::connect(&server.url()).unwrap();
    assert_eq!(client.call::<i64>("add", (1, 2)).unwrap(), 3);
}

pub fn backlog_policy_holds_new_clients_until_a_slot_frees<T: Transport>() {
    let gate = Arc::new(Gate::default());
    let options = Options {
        max_connections: Some(1),
        backlog: true,
        shutdown_grace: Duration::from_millis(300),
        ..Options::default()
    };
    let server = T::start(gated_service(&gate), &options);
    let first = held(&*server);
    let mut waiting = RawConn::connect(server.addr());
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
    assert_eq!(waiting.expect_response().status, 200);
    assert_eq!(server.refused(), 0);
    // Shutting down at the cap, with a client waiting in the backlog behind the one held,
    // does not hang on the accept loop's wait for a slot.
    let _held = waiting;
    let _queued = RawConn::connect(server.addr());
    let t0 = Instant::now();
    server.shutdown();
    assert!(t0.elapsed() < Duration::from_secs(3), "{:?}", t0.elapsed());
}

pub fn async_jobs_run_on_a_bounded_pool_and_shutdown_settles_the_queue<T: Transport>() {
    let gate = Arc::new(Gate::default());
    let options = Options {
        job_workers: Some(2),
        ..Options::default()
    };
    let server = T::start(gated_service(&gate), &options);
    let client = Client::connect(&server.url()).unwrap();
    let handles: Vec<_> = (0..4)
        .map(|i| client.start("gated_job", (i,)).unwrap())
        .collect();
    assert!(eventually(Duration::from_secs(5), || gate.waiting() == 2));
    assert_eq!((server.jobs_running(), server.jobs_queued()), (2, 2));
    let service = server.service();
    let report = server.shutdown_report(Some(Duration::from_millis(300)));
    assert_eq!(
        (report.jobs_abandoned, report.jobs_running),
        (2, 2),
        "{report:?}"
    );
    // The two jobs that never started are settled as failed, not left in progress.
    for h in &handles[2..] {
        let body = probe(&service, h.id());
        assert_eq!(body["result"]["status"], "failed", "{body}");
        let error = body["result"]["error"].as_str().unwrap();
        assert!(error.contains("shut down"), "{body}");
    }
    // The running ones still record their results once they finish.
    gate.open();
    for h in &handles[..2] {
        assert!(
            eventually(Duration::from_secs(5), || probe(&service, h.id())
                .to_string()
                .contains("completed")),
            "{}",
            probe(&service, h.id())
        );
    }
}

pub fn shutdown_after_the_grace_period_cuts_what_remains<T: Transport>() {
    let gate = Arc::new(Gate::default());
    let server = T::start(gated_service(&gate), &Options::default());
    // A client in the middle of sending its body holds its connection "busy".
    let mut slow = RawConn::connect(server.addr());
    slow.send(b"POST /add HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{").unwrap();
    assert!(eventually(Duration::from_secs(2), || server.connections() == 1));
    // An idle kept-alive connection closes at once.
    let mut idle = held(&*server);
    // Let the busy connection read the partial body (one that has received nothing yet
    // counts as idle).
    std::thread::sleep(Duration::from_millis(200));
    let t0 = Instant::now();
    let report = server.shutdown_report(Some(Duration::from_millis(300)));
    assert!(t0.elapsed() < Duration::from_secs(3), "{:?}", t0.elapsed());
    assert_eq!(
        (report.connections_cut, report.connections_stuck),
        (1, 0),
        "{report:?}"
    );
    assert!(slow.closed_within(Duration::from_secs(2)));
    assert!(idle.closed_within(Duration::from_secs(1)));
}

pub fn dropping_the_server_stops_it<T: Transport>() {
    let gate = Arc::new(Gate::default());
    let server = T::start(gated_service(&gate), &Options::default());
    let addr = server.addr();
    assert!(TcpStream::connect(addr).is_ok());
    drop(server);
    assert!(
        TcpStream::connect(addr).is_err(),
        "still listening after the server was dropped"
    );
}

pub fn handlers_that_never_return_hold_only_their_own_connections<T: Transport>() {
    let gate = Arc::new(Gate::default());
    let options = Options {
        max_connections: Some(4),
        job_workers: Some(2),
        shutdown_grace: Duration::from_millis(200),
        ..Options::default()
    };
    let server = T::start(gated_service(&gate), &options);
    let url = server.url();
    let client = Client::connect(&url).unwrap();
    // Two jobs hold both job workers, two calls hold two connections.
    client.start("gated_job", (1,)).unwrap();
    client.start("gated_job", (2,)).unwrap();
    let stuck: Vec<_> = (0..2)
        .map(|_| {
            let url = url.clone();
            std::thread::spawn(move || Client::connect(&url).unwrap().call::<i64>("gated", (0,)))
        })
        .collect();
    assert!(eventually(Duration::from_secs(5), || gate.waiting() == 4));
    // The remaining slots still serve everyone else, promptly.
    let t0 = Instant::now();
    for i in 0..20 {
        assert_eq!(client.call::<i64>("add", (i, 1)).unwrap(), i + 1);
    }
    assert!(t0.elapsed() < Duration::from_secs(2), "{:?}", t0.elapsed());
    drop(client);
    // A shutdown reports what it could not finish instead of hanging on it: the two stuck
    // calls' connections are cut (and, where a handler's thread cannot be left behind, also
    // counted stuck) and the two jobs still running.
    let t0 = Instant::now();
    let report = server.shutdown_report(None);
    assert!(t0.elapsed() < Duration::from_secs(3), "{:?}", t0.elapsed());
    assert_eq!(
        (report.connections_cut, report.jobs_running),
        (2, 2),
        "{report:?}"
    );
    assert!(
        report.connections_stuck == 0 || report.connections_stuck == 2,
        "{report:?}"
    );
    gate.open();
    for t in stuck {
        // The stuck calls' clients see their connection end, not an answer.
        assert!(t.join().unwrap().is_err());
    }
}

pub fn tls_with_a_self_signed_certificate_as_its_own_anchor<T: Transport>() {
    let pki = certs::generate();
    let gate = Arc::new(Gate::default());
    let options = Options {
        tls: Some((pki.self_signed.clone(), pki.self_signed_key.clone())),
        ..Options::default()
    };
    let server = T::start(gated_service(&gate), &options);
    assert!(server.url().starts_with("https://"));
    let client = Client::builder(&server.url())
        .ca_file(&pki.self_signed)
        .connect()
        .unwrap();
    assert_eq!(client.call::<i64>("add", (2, 3)).unwrap(), 5);
    // The Python client trusts it the same way (`server_key` = the certificate).
    super::python::run_client(
        &server.url(),
        Some(&pki.self_signed),
        "assert c.add(2, 3) == 5",
    );
}

pub fn a_plain_client_or_a_stalled_handshake_on_a_tls_port_costs_only_its_connection<
    T: Transport,
>() {
    let pki = certs::generate();
    let gate = Arc::new(Gate::default());
    let options = Options {
        tls: Some((pki.cert.clone(), pki.key.clone())),
        limits: Limits {
            header_timeout: Duration::from_millis(500),
            ..Limits::default()
        },
        ..Options::default()
    };
    let server = T::start(gated_service(&gate), &options);
    let mut plain = RawConn::connect(server.addr());
    plain.send(&raw::get("/", "")).unwrap();
    assert!(plain.closed_within(Duration::from_secs(3)));
    // A client that connects and never starts the handshake is cut at the head deadline.
    let mut silent = RawConn::connect(server.addr());
    assert!(silent.closed_within(Duration::from_secs(3)));
    assert!(eventually(Duration::from_secs(3), || server.connections() == 0));
    let client = Client::builder(&server.url())
        .ca_file(&pki.ca)
        .connect()
        .unwrap();
    assert_eq!(client.call::<i64>("add", (2, 3)).unwrap(), 5);
}
