//! Replays the checked-in seed corpora of the `query` and `service` fuzz targets (and any
//! input added there, such as one that once crashed) through the same checks the targets run.

use std::path::{Path, PathBuf};

use tarp_core::service::check::check_request_bytes;
use tarp_core::wire::query::check_input;

fn corpus(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/corpus")
        .join(target);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.is_file())
        .map(|path| {
            let bytes = std::fs::read(&path).unwrap();
            (path, bytes)
        })
        .collect();
    files.sort();
    files
}

#[test]
fn query_corpus() {
    let files = corpus("query");
    assert!(files.len() >= 12, "only {} seeds", files.len());
    for (path, bytes) in &files {
        eprintln!("{}", path.display());
        check_input(bytes);
    }
}

#[test]
fn service_corpus() {
    let files = corpus("service");
    assert!(files.len() >= 40, "only {} seeds", files.len());
    for (path, bytes) in &files {
        eprintln!("{}", path.display());
        check_request_bytes(bytes);
    }
}

/// The check is not vacuous: the seeds reach every kind of answer.
#[test]
fn service_seeds_reach_every_kind_of_answer() {
    use std::time::Instant;
    use tarp_core::http::{Limits, Next, ServerConn};
    use tarp_core::service::check::check_service;
    use tarp_core::service::Dispatch;

    let mut statuses = std::collections::BTreeSet::new();
    let mut spawned = 0;
    for (_, bytes) in corpus("service") {
        let svc = check_service();
        let now = Instant::now();
        let mut conn = ServerConn::new(Limits::default(), now);
        let mut fed = 0;
        loop {
            match conn.poll(now) {
                Next::Request(req) => {
                    let response = match svc.dispatch(req, now) {
                        Dispatch::Respond(r) => r,
                        Dispatch::Call(c) => c.run(),
                        Dispatch::Spawn { response, .. } => {
                            spawned += 1;
                            response
                        }
                    };
                    statuses.insert(response.status);
                    conn.send_response(response).unwrap();
                }
                Next::Write => {
                    let n = conn.transmit().len();
                    conn.advance(n);
                }
                Next::Read if fed < bytes.len() => fed += conn.feed(&bytes[fed..]),
                Next::Read => conn.feed_eof(),
                Next::WaitForResponse | Next::Close => break,
            }
        }
    }
    assert!(spawned >= 3, "{spawned} jobs");
    for status in [200, 400, 404, 405, 500, 503] {
        assert!(
            statuses.contains(&status),
            "no seed answered {status}: {statuses:?}"
        );
    }
}
