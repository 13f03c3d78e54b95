//! What only the smol server does, or does its own way: async and cheap handlers, `run` on
//! any executor with a shutdown trigger, the builder's addresses, our async client on a
//! self-signed certificate, many concurrent clients. The transport-independent behaviours
//! (connection cap, job bound, shutdown, TLS ports included) are in `smol_conformance.rs`.

mod common;

use std::net::TcpStream;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::service::Gate;
use common::serving::gated_service;
use common::{certs, eventually};
use tarp_core::service::{Error, Service};
use tarp_smol::{Client, Server, ServerHandle};

fn spawn(builder: tarp_smol::ServerBuilder) -> ServerHandle {
    builder
        .address("127.0.0.1:0")
        .threads(2)
        .build()
        .unwrap()
        .spawn()
        .unwrap()
}

fn connect(url: &str) -> Client {
    smol::block_on(Client::connect(url)).unwrap()
}

fn call<T: serde::de::DeserializeOwned>(
    client: &Client,
    name: &str,
    args: impl tarp_smol::IntoArgs,
) -> Result<T, tarp_smol::ClientError> {
    smol::block_on(client.call(name, args))
}

// ---------------------------------------------------------------------------------------------
// Handlers on and off the executor

#[test]
fn async_handlers_wait_without_holding_a_thread() {
    let mut s = Service::with_config(tarp_smol::service_config());
    // Marked cheap too: an async handler is awaited whatever its marking, never blocked on.
    s.rpc_future("nap", |ms: u64| async move {
        smol::Timer::after(Duration::from_millis(ms)).await;
        Ok(ms)
    })
    .params(["ms"])
    .cheap();
    s.rpc_future("boom", |x: i64| async move {
        if x > 0 {
            panic!("async handler panic (expected by this test)");
        }
        Ok(x)
    })
    .params(["x"]);
    s.rpc_future("refuses", || async {
        Err::<(), _>(Error::in_progress(4).with_message("later"))
    });
    // One executor thread: 50 naps of 300 ms at once only fit if none holds the thread.
    let server = Server::builder(Arc::new(s))
        .address("127.0.0.1:0")
        .threads(1)
        .build()
        .unwrap()
        .spawn()
        .unwrap();
    let client = connect(&server.url());
    let ex = smol::Executor::new();
    let tasks: Vec<_> = (0..50)
        .map(|_| {
            let client = client.clone();
            ex.spawn(async move { client.call::<u64>("nap", (300,)).await })
        })
        .collect();
    let t0 = Instant::now();
    let results = smol::block_on(ex.run(async {
        let mut out = Vec::new();
        for t in tasks {
            out.push(t.await.unwrap());
        }
        out
    }));
    assert_eq!(results, vec![300; 50]);
    assert!(
        t0.elapsed() < Duration::from_secs(3),
        "the naps ran concurrently on one thread: {:?}",
        t0.elapsed()
    );
    // A panic inside an async handler is a 500; the server keeps serving.
    match call::<i64>(&client, "boom", (1,)) {
        Err(tarp_smol::ClientError::Remote {
            status: 500,
            message,
            ..
        }) => assert!(message.contains("handler panicked"), "{message}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(call::<i64>(&client, "boom", (0,)).unwrap(), 0);
    assert!(matches!(
        call::<()>(&client, "refuses", ()),
        Err(tarp_smol::ClientError::OperationInProgress { retry_after, .. })
            if retry_after == Duration::from_secs(4)
    ));
    assert_eq!(call::<u64>(&client, "nap", (1,)).unwrap(), 1);
}

#[test]
fn plain_handlers_run_off_the_executor_unless_cheap() {
    let threads = Arc::new(Mutex::new(Vec::<String>::new()));
    let mut s = Service::with_config(tarp_smol::service_config());
    let seen = Arc::clone(&threads);
    s.rpc("where_plain", move || {
        let name = std::thread::current().name().unwrap_or("").to_owned();
        seen.lock().unwrap().push(name.clone());
        Ok(name)
    });
    let seen = Arc::clone(&threads);
    s.rpc("where_cheap", move || {
        let name = std::thread::current().name().unwrap_or("").to_owned();
        seen.lock().unwrap().push(name.clone());
        Ok(name)
    })
    .cheap();
    s.rpc("sleepy", |ms: u64| {
        std::thread::sleep(Duration::from_millis(ms));
        Ok(ms)
    })
    .params(["ms"]);
    let server = Server::builder(Arc::new(s))
        .address("127.0.0.1:0")
        .threads(1)
        .build()
        .unwrap()
        .spawn()
        .unwrap();
    let client = connect(&server.url());
    let plain: String = call(&client, "where_plain", ()).unwrap();
    let cheap: String = call(&client, "where_cheap", ()).unwrap();
    assert!(plain.starts_with("blocking"), "{plain}");
    assert!(cheap.starts_with("tarp-smol"), "{cheap}");
    // A blocking handler in flight does not stall the only executor thread.
    let url = server.url();
    let sleeper = std::thread::spawn(move || call::<u64>(&connect(&url), "sleepy", (1500,)));
    std::thread::sleep(Duration::from_millis(200));
    let t0 = Instant::now();
    for _ in 0..10 {
        let _: String = call(&client, "where_cheap", ()).unwrap();
    }
    assert!(
        t0.elapsed() < Duration::from_millis(700),
        "{:?}",
        t0.elapsed()
    );
    assert_eq!(sleeper.join().unwrap().unwrap(), 1500);
}

// ---------------------------------------------------------------------------------------------
// Running and stopping

#[test]
fn run_on_the_callers_executor_until_the_trigger_fires() {
    let gate = Arc::new(Gate::default());
    let server = Server::builder(gated_service(&gate))
        .address("127.0.0.1:0")
        .threads(1)
        .build()
        .unwrap();
    let url = server.url();
    let trigger = server.shutdown_trigger();
    let running = std::thread::spawn(move || smol::block_on(server.run()));
    let client = connect(&url);
    assert_eq!(call::<i64>(&client, "add", (1, 2)).unwrap(), 3);
    // A request in flight when the trigger fires is finished and answered.
    let in_flight = {
        let client = client.clone();
        std::thread::spawn(move || call::<i64>(&client, "gated", (7,)))
    };
    assert!(eventually(Duration::from_secs(5), || gate.waiting() == 1));
    let t0 = Instant::now();
    trigger.shutdown();
    std::thread::sleep(Duration::from_millis(200));
    assert!(
        !running.is_finished(),
        "the server waits for the request in flight"
    );
    gate.open();
    assert_eq!(in_flight.join().unwrap().unwrap(), 7);
    let report = running.join().unwrap();
    assert_eq!(report.connections_cut, 0, "{report:?}");
    assert!(t0.elapsed() < Duration::from_secs(5));
    // Stopped: nothing listens any more.
    assert!(TcpStream::connect(url.trim_start_matches("http://")).is_err());
}

// ---------------------------------------------------------------------------------------------
// Addresses and TLS

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
    connect(&handle.url());
    let err = Server::bind(gated_service(&gate), &addr.to_string()).unwrap_err();
    assert!(err.to_string().contains(&addr.to_string()), "{err}");
    let err = Server::builder(gated_service(&gate))
        .tls("/nonexistent/cert.pem", "/nonexistent/key.pem")
        .build()
        .unwrap_err();
    assert!(err.to_string().contains("/nonexistent/cert.pem"), "{err}");
}

#[test]
fn our_async_client_trusts_a_self_signed_certificate_as_its_own_anchor() {
    let pki = certs::generate();
    let gate = Arc::new(Gate::default());
    let server =
        spawn(Server::builder(gated_service(&gate)).tls(&pki.self_signed, &pki.self_signed_key));
    assert!(server.url().starts_with("https://"));
    let client = smol::block_on(
        Client::builder(&server.url())
            .ca_file(&pki.self_signed)
            .connect(),
    )
    .unwrap();
    assert_eq!(call::<i64>(&client, "add", (2, 3)).unwrap(), 5);
    // (The blocking and Python clients, on both servers: `common::serving`.)
}

/// Many clients at once, each with a kept-alive connection doing a few calls, from one
/// multi-threaded executor: every answer right, every connection released after.
#[test]
fn many_concurrent_clients() {
    let gate = Arc::new(Gate::default());
    let server = spawn(Server::builder(gated_service(&gate)));
    let url = server.url();
    let ex = Arc::new(smol::Executor::new());
    let done = Arc::new(AtomicUsize::new(0));
    let tasks: Vec<_> = (0..64i64)
        .map(|i| {
            let url = url.clone();
            let done = Arc::clone(&done);
            ex.spawn(async move {
                let client = Client::connect(&url).await.unwrap();
                for j in 0..10i64 {
                    assert_eq!(client.call::<i64>("add", (i, j)).await.unwrap(), i + j);
                }
                done.fetch_add(1, Ordering::SeqCst);
            })
        })
        .collect();
    let (stop, stopped) = smol::channel::bounded::<()>(1);
    let helpers: Vec<_> = (0..2)
        .map(|_| {
            let ex = Arc::clone(&ex);
            let stopped = stopped.clone();
            std::thread::spawn(move || smol::block_on(ex.run(stopped.recv())))
        })
        .collect();
    smol::block_on(ex.run(async {
        for t in tasks {
            t.await;
        }
    }));
    assert_eq!(done.load(Ordering::SeqCst), 64);
    assert!(eventually(Duration::from_secs(5), || server
        .stats()
        .connections
        == 0));
    stop.close();
    for h in helpers {
        let _ = h.join().unwrap();
    }
}
