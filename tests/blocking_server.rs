//! What only the blocking server's API does: its builder's addresses and errors. The
//! transport-independent behaviours (connection cap, job bound, shutdown, TLS ports included)
//! are in `blocking_conformance.rs`.

mod common;

use std::sync::Arc;

use tarp_blocking::{Client, Server};
use tarp_core::service::Service;

fn service() -> Arc<Service> {
    let mut s = Service::with_config(tarp_blocking::service_config());
    s.rpc("add", |a: i64, b: i64| Ok(a + b)).params(["a", "b"]);
    Arc::new(s)
}

#[test]
fn builder_binds_like_run_server() {
    let server = Server::builder(service())
        .bind_to("127.0.0.1")
        .port(0)
        .build()
        .unwrap();
    let addr = server.local_addr();
    assert!(addr.ip().is_loopback() && addr.port() != 0, "{addr}");
    let handle = server.spawn().unwrap();
    assert_eq!(handle.url(), format!("http://{addr}"));
    assert_eq!(
        Client::connect(&handle.url())
            .unwrap()
            .call::<i64>("add", (1, 2))
            .unwrap(),
        3
    );
    // An address that cannot be bound is a clear error naming it.
    let err = Server::bind(service(), &addr.to_string()).unwrap_err();
    assert!(err.to_string().contains(&addr.to_string()), "{err}");
    let err = Server::builder(service())
        .tls("/nonexistent/cert.pem", "/nonexistent/key.pem")
        .build()
        .unwrap_err();
    assert!(err.to_string().contains("/nonexistent/cert.pem"), "{err}");
}
