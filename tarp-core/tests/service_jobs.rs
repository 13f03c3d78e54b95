//! The async job table through the service, with an injected clock: expiry measured from
//! completion, the cap on jobs held, no result dropped before its expiry, failures and panics.

mod service_util;

use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use base64::Engine;
use service_util::{raw_request, Harness};
use tarp_core::http::Request;
use tarp_core::http::Version;
use tarp_core::service::jobs::JobLimits;
use tarp_core::service::{Dispatch, Error, Service, ServiceConfig};

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// `(x,)` pickled (protocol 2) for a small non-negative int `x`.
fn args_of(x: u8) -> String {
    b64(&[0x80, 0x02, b'K', x, 0x85, b'q', 0x00, b'.'])
}

const NO_KWARGS: &str = "gAJ9cQAu"; // pickle.dumps({}, protocol=2)

fn call(x: u8) -> Vec<u8> {
    let body = format!(r#"{{"args": "{}", "kwargs": "{NO_KWARGS}"}}"#, args_of(x));
    raw_request(
        "POST",
        "/double",
        &[("Content-Type", "application/json")],
        body.as_bytes(),
    )
}

fn service(limits: JobLimits) -> Harness {
    let mut svc = Service::with_config(ServiceConfig {
        jobs: limits,
        seed: ServiceConfig::seed_from_u64(99),
        ..ServiceConfig::default()
    });
    svc.async_rpc("double", |x: i64| {
        if x == 13 {
            panic!("unlucky {x}");
        }
        if x == 7 {
            return Err(Error::failed("seven is not allowed"));
        }
        Ok(x * 2)
    })
    .params(["x"])
    .suggested_wait(1.0);
    Harness::new(svc)
}

fn start(h: &mut Harness, x: u8) -> String {
    let r = h.exchange(&call(x));
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()["result"]["ID"].as_str().unwrap().to_owned()
}

fn probe(h: &mut Harness, id: &str) -> (u16, serde_json::Value) {
    let r = h.exchange(&raw_request(
        "GET",
        &format!("/asyncProbe?UUID={id}"),
        &[],
        b"",
    ));
    (r.status, r.json())
}

fn fetch(h: &mut Harness, id: &str) -> (u16, serde_json::Value) {
    let r = h.exchange(&raw_request(
        "GET",
        &format!("/asyncGet?UUID={id}"),
        &[],
        b"",
    ));
    (r.status, r.json())
}

#[test]
fn results_expire_an_hour_after_completion_not_before() {
    let mut h = service(JobLimits::default());
    let id = start(&mut h, 4);
    // Runs for three hours: running jobs never expire.
    h.advance(Duration::from_secs(3 * 3600));
    assert_eq!(probe(&mut h, &id).1["result"]["status"], "in_progress");
    h.run_jobs(); // completes now
    h.advance(Duration::from_secs(3600) - Duration::from_millis(1));
    assert_eq!(probe(&mut h, &id).1["result"]["status"], "completed");
    h.advance(Duration::from_millis(1));
    assert_eq!(probe(&mut h, &id).0, 404);
    assert_eq!(fetch(&mut h, &id).0, 404);
    assert_eq!(h.svc.jobs_held(), 0);
}

#[test]
fn expiry_is_configurable_and_fetch_in_time_always_succeeds() {
    let mut h = service(JobLimits {
        max_jobs: 10,
        ttl: Duration::from_secs(60),
    });
    let ids: Vec<String> = (0..5).map(|x| start(&mut h, x)).collect();
    h.run_jobs();
    for (x, id) in ids.iter().enumerate() {
        h.advance(Duration::from_secs(11)); // the last is fetched 55 s after completion
        let (status, body) = fetch(&mut h, id);
        assert_eq!(status, 200, "{body}");
        let payload = body["result"]["payload"].as_str().unwrap();
        let value: i64 = tarp_core::wire::pickle::from_pickle(
            &base64::engine::general_purpose::STANDARD
                .decode(payload)
                .unwrap(),
        )
        .unwrap();
        assert_eq!(value, 2 * x as i64);
    }
    let late = start(&mut h, 9);
    h.run_jobs();
    h.advance(Duration::from_secs(60));
    assert_eq!(fetch(&mut h, &late).0, 404);
}

#[test]
fn the_cap_refuses_new_jobs_and_never_evicts_a_result() {
    let mut h = service(JobLimits {
        max_jobs: 2,
        ttl: Duration::from_secs(60),
    });
    let a = start(&mut h, 1);
    let b = start(&mut h, 2);
    h.run_jobs();
    let r = h.exchange(&call(3));
    r.assert_envelope(
        503,
        &[],
        r#"{"status": "error", "type": "ServiceUnavailable", "message": "too many async jobs held (limit 2): fetch finished results or retry later"}"#,
    );
    assert!(h.pending.is_empty(), "a refused call starts nothing");
    // Both results survive the refusal and stay fetchable until their expiry.
    h.advance(Duration::from_secs(59));
    assert_eq!(h.exchange(&call(3)).status, 503);
    assert_eq!(probe(&mut h, &a).1["result"]["status"], "completed");
    // Fetching one frees its slot.
    assert_eq!(fetch(&mut h, &b).0, 200);
    let c = start(&mut h, 3);
    assert_eq!(h.exchange(&call(4)).status, 503);
    // Expiry frees the other.
    h.advance(Duration::from_secs(1));
    let d = start(&mut h, 4);
    assert_eq!(h.svc.jobs_held(), 2);
    h.run_jobs();
    assert_eq!(fetch(&mut h, &c).1["status"], "success");
    assert_eq!(fetch(&mut h, &d).1["status"], "success");
    assert_eq!(h.svc.jobs_held(), 0);
}

#[test]
fn failures_and_panics_are_failed_jobs_and_the_service_keeps_serving() {
    let mut h = service(JobLimits::default());
    let seven = start(&mut h, 7);
    let thirteen = start(&mut h, 13);
    let fine = start(&mut h, 5);
    h.run_jobs();
    let (_, p) = probe(&mut h, &seven);
    assert_eq!(
        p["result"],
        serde_json::json!({"status": "failed", "suggested_wait": 1, "error": "seven is not allowed"})
    );
    let (_, p) = probe(&mut h, &thirteen);
    assert_eq!(p["result"]["error"], "handler panicked: unlucky 13");
    assert_eq!(
        fetch(&mut h, &thirteen),
        (
            500,
            serde_json::json!({"status": "error", "type": "generic", "message": "handler panicked: unlucky 13"})
        )
    );
    assert_eq!(fetch(&mut h, &thirteen).0, 404);
    assert_eq!(fetch(&mut h, &fine).0, 200);
}

#[test]
fn abandoned_jobs_fail_with_the_reason_and_unknown_completions_are_ignored() {
    let mut h = service(JobLimits::default());
    let id = start(&mut h, 1);
    let job = h.pending.pop().unwrap();
    assert_eq!(job.id(), id);
    let done = job.abandon("server shutting down");
    assert_eq!(done.error(), Some("server shutting down"));
    h.svc.complete(done.clone(), h.now);
    assert_eq!(fetch(&mut h, &id).1["message"], "server shutting down");
    // Completing again, or a job no longer held, changes nothing.
    h.svc.complete(done, h.now);
    assert_eq!(h.svc.jobs_held(), 0);
}

#[test]
fn ids_come_from_the_seed() {
    let ids = |seed: u64| {
        let mut svc = Service::with_seed(seed);
        svc.async_rpc("f", || Ok(1)).suggested_wait(0.0);
        let now = Instant::now();
        (0..3)
            .map(|_| {
                let req = Request::new(
                    "POST",
                    "/f",
                    Version::Http11,
                    vec![("Content-Type".into(), b"application/json".to_vec())],
                    format!(r#"{{"args": "gAIpLg==", "kwargs": "{NO_KWARGS}"}}"#).into_bytes(),
                );
                match svc.dispatch(req, now) {
                    Dispatch::Spawn { job, .. } => job.id().to_owned(),
                    other => panic!("{other:?}"),
                }
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(ids(1), ids(1));
    assert_ne!(ids(1), ids(2));
    let all = ids(3);
    assert!(all[0] != all[1] && all[1] != all[2]);
}

#[test]
fn shared_across_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    fn assert_send_static<T: Send + 'static>() {}
    assert_send_sync::<Service>();
    assert_send_static::<tarp_core::service::Call>();
    assert_send_static::<tarp_core::service::Job>();
    assert_send_static::<tarp_core::service::JobDone>();

    let h = service(JobLimits {
        max_jobs: 10_000,
        ttl: Duration::from_secs(60),
    });
    let svc = Arc::clone(&h.svc);
    let now = h.now;
    let workers: Vec<_> = (0..4u8)
        .map(|t| {
            let svc = Arc::clone(&svc);
            thread::spawn(move || {
                let mut ids = Vec::new();
                for i in 0..50u8 {
                    let x = (t * 50 + i) % 100;
                    let x = if x == 7 || x == 13 { 8 } else { x };
                    let mut h = Harness {
                        svc: Arc::clone(&svc),
                        now,
                        pending: Vec::new(),
                    };
                    let id = start(&mut h, x);
                    // Run the job on yet another thread, as a job pool would.
                    let job = h.pending.pop().unwrap();
                    let svc2 = Arc::clone(&svc);
                    thread::spawn(move || svc2.complete(job.run(), now))
                        .join()
                        .unwrap();
                    ids.push((id, x));
                }
                ids
            })
        })
        .collect();
    let mut h = Harness {
        svc,
        now,
        pending: Vec::new(),
    };
    let mut count = 0;
    for w in workers {
        for (id, x) in w.join().unwrap() {
            let (status, body) = fetch(&mut h, &id);
            assert_eq!(status, 200, "{body}");
            let payload = body["result"]["payload"].as_str().unwrap();
            let value: i64 = tarp_core::wire::pickle::from_pickle(
                &base64::engine::general_purpose::STANDARD
                    .decode(payload)
                    .unwrap(),
            )
            .unwrap();
            assert_eq!(value, 2 * i64::from(x));
            count += 1;
        }
    }
    assert_eq!(count, 200);
    assert_eq!(h.svc.jobs_held(), 0);
}
