//! Invariant checks shared by the service fuzz target and the test that replays its seed
//! corpus. They **panic** when an invariant breaks:
//! - nothing panics in the connection machine, the dispatch, or any handler path;
//! - every response is either a well-formed JSON envelope whose status agrees with it
//!   (success ↔ 200; an error's `type` matches its status; `Retry-After` is a whole number
//!   exactly on `OperationInProgress`; `Allow` on 405), or the declared raw payload of the
//!   one endpoint that returns one;
//! - every async job started is reported by `asyncProbe`, fetched once by `asyncGet`, then
//!   forgotten, and the table holds nothing afterwards.
//!
//! The input is used twice: as raw bytes fed to a [`ServerConn`] (requests that parse are
//! dispatched), and as a request spelled `METHOD\nTARGET\nCONTENT-TYPE\nBODY` built
//! directly, so that mutations reach the service even when they break HTTP framing.

use std::time::{Duration, Instant};

use serde_json::json;

use super::jobs::JobLimits;
use super::{Dispatch, Error, Reply, Service, ServiceConfig};
use crate::http::{Limits, Next, Request, Response, ServerConn, Version};
use crate::wire::envelope::{Envelope, JSON_MIME};
use crate::wire::pickle::Value;

/// The raw payload the check service's `raw` endpoint returns.
pub const RAW_PAYLOAD: &[u8] = b"\x89PNG\r\n\x1a\n";

/// A service with one endpoint of each shape (typed arguments, defaults, failures, retryable
/// errors, async jobs, web replies of every kind, a raw payload). No handler panics:
/// libFuzzer treats any panic as a crash, even a caught one.
pub fn check_service() -> Service {
    let mut svc = Service::with_config(ServiceConfig {
        jobs: JobLimits {
            max_jobs: 4,
            ttl: Duration::from_secs(60),
        },
        seed: ServiceConfig::seed_from_u64(1),
        ..ServiceConfig::default()
    });
    svc.rpc("add", |a: f64, b: f64| Ok(a + b))
        .params(["a", "b"]);
    svc.rpc("identity", |v: Value| Ok(v)).params(["v"]);
    svc.rpc("defaults", |a: i64, b: String, c: Vec<f64>| Ok((a, b, c)))
        .params(["a", "b", "c"])
        .default("b", "x")
        .default("c", vec![1.0, 2.0]);
    svc.rpc("fail", |m: String| Err::<(), _>(Error::failed(m)))
        .params(["m"]);
    svc.rpc("busy", |s: u64| Err::<(), _>(Error::in_progress(s)))
        .params(["s"]);
    svc.async_rpc("slow", |x: f64| Ok(x * 2.0))
        .params(["x"])
        .suggested_wait(1.5);
    svc.async_rpc("slow_fail", |m: String| Err::<(), _>(Error::failed(m)))
        .params(["m"]);
    let echo = |q: &super::Query, b: super::Body| Ok(json!({"q": q.to_json(), "b": b.to_json()}));
    svc.get("echo", echo);
    svc.post("echo", echo);
    svc.get("text", |q, _| Ok(Reply::text(q.first("t").unwrap_or(""))));
    svc.post("bytes", |_, b| {
        Ok(Reply::bytes(b.as_bytes().unwrap_or(b"").to_vec()))
    });
    svc.get("nothing", |_, _| Ok(Reply::None));
    svc.get("raw", |_, _| Ok(Reply::raw("image/png", RAW_PAYLOAD)));
    svc.get("csv", |_, _| Ok("a,b")).mimetype("text/csv");
    svc.post("state", |_, _| {
        Err::<Reply, _>(Error::invalid_state("not now"))
    });
    svc.post("refuse", |_, _| Err::<Reply, _>(Error::bad_request("no")));
    svc
}

/// Checks one fuzz input (see the module doc).
pub fn check_request_bytes(data: &[u8]) {
    let svc = check_service();
    let now = Instant::now();
    let mut jobs = Vec::new();

    let mut conn = ServerConn::new(Limits::default(), now);
    let mut fed = 0;
    let mut eof = false;
    for _ in 0..100_000 {
        match conn.poll(now) {
            Next::Request(req) => {
                let response = run(&svc, req, now, &mut jobs);
                check_response(&response);
                conn.send_response(response)
                    .expect("a request awaits its response");
            }
            Next::Write => {
                let n = conn.transmit().len();
                conn.advance(n);
            }
            Next::Read if fed < data.len() => {
                let n = conn.feed(&data[fed..]);
                assert!(n > 0, "Read with no room");
                fed += n;
            }
            Next::Read if !eof => {
                conn.feed_eof();
                eof = true;
            }
            Next::Read => panic!("Read after the end of input"),
            Next::WaitForResponse => panic!("every request is answered at once"),
            Next::Close => break,
        }
    }

    if let Some(req) = structured(data) {
        let response = run(&svc, req, now, &mut jobs);
        check_response(&response);
    }

    for id in jobs {
        let probe = Request::new(
            "GET",
            &format!("/asyncProbe?UUID={id}"),
            Version::Http11,
            vec![],
            vec![],
        );
        let response = run(&svc, probe, now, &mut Vec::new());
        check_response(&response);
        assert_eq!(response.status, 200, "a started job is known");
        let get = Request::new(
            "GET",
            &format!("/asyncGet?UUID={id}"),
            Version::Http11,
            vec![],
            vec![],
        );
        let response = run(&svc, get, now, &mut Vec::new());
        check_response(&response);
        assert!(
            matches!(response.status, 200 | 500),
            "a finished job is fetched: {}",
            response.status
        );
        let again = Request::new(
            "GET",
            &format!("/asyncGet?UUID={id}"),
            Version::Http11,
            vec![],
            vec![],
        );
        assert_eq!(
            run(&svc, again, now, &mut Vec::new()).status,
            404,
            "a fetched job is forgotten"
        );
    }
    assert_eq!(svc.jobs_held(), 0);
}

/// `METHOD\nTARGET\nCONTENT-TYPE\nBODY`, if the input has three newlines.
fn structured(data: &[u8]) -> Option<Request> {
    let mut parts = data.splitn(4, |&b| b == b'\n');
    let method = String::from_utf8_lossy(parts.next()?).into_owned();
    let target = String::from_utf8_lossy(parts.next()?).into_owned();
    let content_type = parts.next()?.to_vec();
    let body = parts.next()?.to_vec();
    let headers = if content_type.is_empty() {
        vec![]
    } else {
        vec![("Content-Type".to_owned(), content_type)]
    };
    Some(Request::new(
        method,
        &target,
        Version::Http11,
        headers,
        body,
    ))
}

/// What an adapter does: dispatch, run the call or the job (completing it at once).
fn run(svc: &Service, req: Request, now: Instant, jobs: &mut Vec<String>) -> Response {
    match svc.dispatch(req, now) {
        Dispatch::Respond(r) => r,
        Dispatch::Call(call) => call.run(),
        Dispatch::Spawn { response, job } => {
            jobs.push(job.id().to_owned());
            svc.complete(job.run(), now);
            response
        }
    }
}

/// Panics unless the response is a consistent envelope or the declared raw payload.
pub fn check_response(r: &Response) {
    for (name, value) in &r.headers {
        assert!(
            !name.is_empty() && name.bytes().all(|b| b.is_ascii_graphic()),
            "header name {name:?}"
        );
        assert!(
            value.bytes().all(|b| b == b' ' || b.is_ascii_graphic()),
            "header value {value:?}"
        );
    }
    match r.content_type.as_deref() {
        Some(JSON_MIME) => {}
        Some("image/png") => {
            assert_eq!(r.status, 200);
            assert_eq!(r.body, RAW_PAYLOAD);
            return;
        }
        other => panic!("undeclared content type {other:?} (status {})", r.status),
    }
    let envelope = Envelope::parse(&r.body)
        .unwrap_or_else(|e| panic!("{e}: {:?}", String::from_utf8_lossy(&r.body)));
    let retry_after = r.header("Retry-After");
    match envelope {
        Envelope::Success { .. } => {
            assert_eq!(r.status, 200);
            assert!(retry_after.is_none());
        }
        Envelope::Error { kind, message } => {
            assert!(
                !message.is_empty() || kind == "generic",
                "an error without a message"
            );
            let expected: &[&str] = match r.status {
                400 | 404 | 500 => &["generic"],
                405 => &["MethodNotAllowed"],
                413 => &["PayloadTooLarge"],
                503 => &[
                    "OperationInProgress",
                    "InvalidServerState",
                    "ServiceUnavailable",
                ],
                other => panic!("unexpected error status {other}"),
            };
            assert!(
                expected.contains(&kind.as_str()),
                "type {kind} with status {}",
                r.status
            );
            if kind == "OperationInProgress" {
                let secs = retry_after.expect("Retry-After on OperationInProgress");
                assert!(secs.parse::<u64>().is_ok(), "Retry-After {secs:?}");
            } else {
                assert!(retry_after.is_none(), "Retry-After on {kind}");
            }
            assert_eq!(
                r.status == 405,
                r.header("Allow").is_some(),
                "Allow exactly on 405"
            );
        }
    }
}
