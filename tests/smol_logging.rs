//! The smol server logs one line per start, per refused request and per failed job
//! (issues 5 and 6). A test binary of its own: the logger is global to the process.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::eventually;
use common::raw::{self, RawConn};
use tarp_smol::{Client, JobStatus, Server};

fn block<T>(f: impl std::future::Future<Output = T>) -> T {
    smol::block_on(f)
}
use tarp_core::service::{Error, Service};

struct Capture(Mutex<Vec<(log::Level, String)>>);

impl log::Log for Capture {
    fn enabled(&self, _: &log::Metadata) -> bool {
        true
    }
    fn log(&self, record: &log::Record) {
        if record.target().starts_with("tarp_smol") {
            self.0
                .lock()
                .unwrap()
                .push((record.level(), record.args().to_string()));
        }
    }
    fn flush(&self) {}
}

static LOG: Capture = Capture(Mutex::new(Vec::new()));

fn lines_with(needle: &str) -> Vec<(log::Level, String)> {
    LOG.0
        .lock()
        .unwrap()
        .iter()
        .filter(|(_, l)| l.contains(needle))
        .cloned()
        .collect()
}

#[test]
fn one_line_per_start_refused_request_and_failed_job() {
    log::set_logger(&LOG).unwrap();
    log::set_max_level(log::LevelFilter::Info);
    let mut s = Service::with_config(tarp_smol::service_config());
    s.async_rpc("doomed", || -> Result<(), Error> {
        Err(Error::failed("out of helium"))
    })
    .suggested_wait(0.1);
    let server = Server::bind(Arc::new(s), "127.0.0.1:0")
        .unwrap()
        .spawn()
        .unwrap();
    let addr = server.local_addr();

    let started = lines_with(&format!("listening on http://{addr}"));
    assert_eq!(started.len(), 1, "{:?}", LOG.0.lock().unwrap());
    assert_eq!(started[0].0, log::Level::Info);

    // Refused by the service (404) and by the HTTP machine (400, bad framing).
    let mut conn = RawConn::connect(addr);
    conn.send(&raw::get("/no_such_endpoint", "")).unwrap();
    assert_eq!(conn.expect_response().status, 404);
    let mut bad = RawConn::connect(addr);
    bad.send(b"GET / HTTP/1.1\r\nContent-Length: 5, 6\r\n\r\n")
        .unwrap();
    assert_eq!(bad.expect_response().status, 400);
    assert!(
        eventually(Duration::from_secs(3), || lines_with("refused").len() == 2),
        "{:?}",
        LOG.0.lock().unwrap()
    );
    let refused = lines_with("refused");
    assert!(refused.iter().all(|(level, _)| *level == log::Level::Warn));
    assert!(
        refused
            .iter()
            .any(|(_, l)| l.contains("/no_such_endpoint") && l.contains("404")),
        "{refused:?}"
    );
    assert!(
        refused.iter().any(|(_, l)| l.contains("400")),
        "{refused:?}"
    );

    let client = block(Client::connect(&server.url())).unwrap();
    let job = block(client.start("doomed", ())).unwrap();
    assert!(eventually(Duration::from_secs(3), || block(job.status())
        .unwrap()
        == JobStatus::Failed));
    let failed = lines_with(&format!("async job {} failed", job.id()));
    assert_eq!(failed.len(), 1, "{:?}", LOG.0.lock().unwrap());
    assert!(failed[0].1.contains("out of helium"));
    // Successful requests log nothing at info or above.
    let before = LOG.0.lock().unwrap().len();
    for _ in 0..5 {
        block(client.job(job.id()).status()).ok();
    }
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(
        LOG.0.lock().unwrap().len(),
        before,
        "{:?}",
        LOG.0.lock().unwrap()
    );
}
