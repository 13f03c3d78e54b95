//! Deadlines of the server connection: header read, idle keep-alive, body progress and rate,
//! write stall. Time is an argument, so these run instantly.

use std::time::{Duration, Instant};

use tarp_core::http::{HttpError, Limits, Next, Response, ServerConn};

const S: Duration = Duration::from_secs(1);

/// Writes all pending output, returning it.
fn flush(conn: &mut ServerConn, now: Instant) -> Vec<u8> {
    let mut out = Vec::new();
    while let Next::Write = conn.poll(now) {
        out.extend_from_slice(conn.transmit());
        let n = conn.transmit().len();
        conn.advance(n);
    }
    out
}

fn answer(conn: &mut ServerConn, now: Instant) {
    let Next::Request(_) = conn.poll(now) else {
        panic!("no request")
    };
    conn.send_response(Response::new(200, None, b"ok".to_vec()))
        .unwrap();
}

#[test]
fn first_head_is_due_from_connection_start() {
    let t0 = Instant::now();
    let mut conn = ServerConn::new(Limits::default(), t0);
    assert!(matches!(conn.poll(t0), Next::Read));
    assert_eq!(conn.poll_timeout(), Some(t0 + 10 * S));
    // Early calls change nothing.
    conn.handle_timeout(t0 + 9 * S);
    assert!(matches!(conn.poll(t0 + 9 * S), Next::Read));
    // A connection that never sent a byte is closed silently.
    conn.handle_timeout(t0 + 10 * S);
    assert!(matches!(conn.poll(t0 + 10 * S), Next::Close));
    assert_eq!(conn.poll_timeout(), None);
}

#[test]
fn slowloris_is_cut_off_whatever_its_pace() {
    let t0 = Instant::now();
    let mut conn = ServerConn::new(Limits::default(), t0);
    let head = b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaa\r\n";
    let mut now = t0;
    for &b in head.iter().take(12) {
        now += S;
        assert!(matches!(conn.poll(now), Next::Read));
        if now >= t0 + 10 * S {
            conn.handle_timeout(now);
            break;
        }
        conn.feed(&[b]);
        // The deadline does not move with each byte.
        assert_eq!(conn.poll_timeout(), Some(t0 + 10 * S));
    }
    let out = flush(&mut conn, now);
    assert!(
        out.starts_with(b"HTTP/1.1 408 Request Timeout\r\n"),
        "{}",
        String::from_utf8_lossy(&out)
    );
    assert!(matches!(
        conn.last_error(),
        Some(HttpError::Timeout {
            field: "header_timeout",
            ..
        })
    ));
    assert!(matches!(conn.poll(now), Next::Close));
}

#[test]
fn idle_keep_alive_then_head_timer_from_first_byte() {
    let t0 = Instant::now();
    let mut conn = ServerConn::new(Limits::default(), t0);
    conn.feed(b"GET /1 HTTP/1.1\r\n\r\n");
    answer(&mut conn, t0 + S);
    flush(&mut conn, t0 + 2 * S);
    // Idle from the end of the response.
    assert!(matches!(conn.poll(t0 + 2 * S), Next::Read));
    assert_eq!(conn.poll_timeout(), Some(t0 + 62 * S));
    // First byte of the next request at 30 s: the head is due 10 s later.
    conn.feed(b"G");
    assert!(matches!(conn.poll(t0 + 30 * S), Next::Read));
    assert_eq!(conn.poll_timeout(), Some(t0 + 40 * S));
    conn.handle_timeout(t0 + 40 * S);
    assert!(flush(&mut conn, t0 + 40 * S).starts_with(b"HTTP/1.1 408 "));
    assert!(matches!(conn.poll(t0 + 40 * S), Next::Close));
}

#[test]
fn idle_connection_closes_silently() {
    let t0 = Instant::now();
    let mut conn = ServerConn::new(Limits::default(), t0);
    conn.feed(b"GET /1 HTTP/1.1\r\n\r\n");
    answer(&mut conn, t0);
    flush(&mut conn, t0);
    assert!(matches!(conn.poll(t0), Next::Read));
    conn.handle_timeout(t0 + 60 * S);
    assert!(matches!(conn.poll(t0 + 60 * S), Next::Close));
}

#[test]
fn no_deadline_while_the_application_works() {
    let t0 = Instant::now();
    let mut conn = ServerConn::new(Limits::default(), t0);
    conn.feed(b"GET /1 HTTP/1.1\r\n\r\n");
    let Next::Request(_) = conn.poll(t0) else {
        panic!()
    };
    assert!(matches!(conn.poll(t0), Next::WaitForResponse));
    assert_eq!(conn.poll_timeout(), None);
    conn.handle_timeout(t0 + 3600 * S);
    assert!(matches!(conn.poll(t0 + 3600 * S), Next::WaitForResponse));
}

#[test]
fn body_inactivity() {
    let t0 = Instant::now();
    let limits = Limits {
        min_body_rate: 0,
        ..Limits::default()
    };
    let mut conn = ServerConn::new(limits, t0);
    conn.feed(b"POST / HTTP/1.1\r\nContent-Length: 100\r\n\r\nabc");
    assert!(matches!(conn.poll(t0), Next::Read));
    assert_eq!(conn.poll_timeout(), Some(t0 + 30 * S));
    // Progress moves the inactivity deadline.
    conn.feed(b"def");
    assert!(matches!(conn.poll(t0 + 20 * S), Next::Read));
    assert_eq!(conn.poll_timeout(), Some(t0 + 50 * S));
    conn.handle_timeout(t0 + 49 * S);
    assert!(matches!(conn.poll(t0 + 49 * S), Next::Read));
    conn.handle_timeout(t0 + 50 * S);
    assert!(flush(&mut conn, t0 + 50 * S).starts_with(b"HTTP/1.1 408 "));
    assert!(matches!(
        conn.last_error(),
        Some(HttpError::Timeout {
            field: "body_timeout",
            ..
        })
    ));
    assert!(matches!(conn.poll(t0 + 50 * S), Next::Close));
}

#[test]
fn body_minimum_rate() {
    let t0 = Instant::now();
    let limits = Limits {
        min_body_rate: 100,
        ..Limits::default()
    };
    let mut conn = ServerConn::new(limits, t0);
    conn.feed(b"POST / HTTP/1.1\r\nContent-Length: 100000\r\n\r\n");
    assert!(matches!(conn.poll(t0), Next::Read));
    // A byte every 20 s never trips the 30 s inactivity rule, but the rate rule allows
    // 30 s of grace plus 10 ms per byte received (100 B/s).
    conn.handle_timeout(t0 + 20 * S);
    conn.feed(b"x");
    assert!(matches!(conn.poll(t0 + 20 * S), Next::Read));
    let due = t0 + 30 * S + Duration::from_millis(10);
    assert_eq!(conn.poll_timeout(), Some(due));
    conn.handle_timeout(due - Duration::from_millis(1));
    assert!(matches!(conn.poll(due), Next::Read));
    conn.handle_timeout(due);
    assert!(flush(&mut conn, due).starts_with(b"HTTP/1.1 408 "));
    assert!(matches!(
        conn.last_error(),
        Some(HttpError::Timeout {
            field: "min_body_rate",
            ..
        })
    ));
}

#[test]
fn write_stall_closes() {
    let t0 = Instant::now();
    let mut conn = ServerConn::new(Limits::default(), t0);
    conn.feed(b"GET / HTTP/1.1\r\n\r\n");
    let Next::Request(_) = conn.poll(t0) else {
        panic!()
    };
    conn.send_response(Response::new(200, None, vec![b'x'; 100_000]))
        .unwrap();
    assert!(matches!(conn.poll(t0), Next::Write));
    assert_eq!(conn.poll_timeout(), Some(t0 + 30 * S));
    // Partial progress moves the deadline.
    conn.advance(10);
    assert!(matches!(conn.poll(t0 + 20 * S), Next::Write));
    assert_eq!(conn.poll_timeout(), Some(t0 + 50 * S));
    conn.handle_timeout(t0 + 50 * S);
    assert!(matches!(conn.poll(t0 + 50 * S), Next::Close));
    assert!(conn.transmit().is_empty());
}

#[test]
fn deadlines_far_away_do_not_overflow() {
    let t0 = Instant::now();
    let limits = Limits {
        header_timeout: Duration::MAX,
        idle_timeout: Duration::MAX,
        body_timeout: Duration::MAX,
        write_timeout: Duration::MAX,
        ..Limits::default()
    };
    let mut conn = ServerConn::new(limits, t0);
    assert!(matches!(conn.poll(t0), Next::Read));
    assert_eq!(conn.poll_timeout(), None);
    conn.handle_timeout(t0 + 1000 * S);
    conn.feed(b"POST / HTTP/1.1\r\nContent-Length: 3\r\n\r\n");
    assert!(matches!(conn.poll(t0), Next::Read));
    conn.handle_timeout(t0 + 1000 * S);
    assert!(matches!(conn.poll(t0), Next::Read));
}

#[test]
fn shutdown_closes_idle_and_finishes_in_flight() {
    let t0 = Instant::now();
    let mut idle = ServerConn::new(Limits::default(), t0);
    idle.shutdown();
    assert!(matches!(idle.poll(t0), Next::Close));

    let mut busy = ServerConn::new(Limits::default(), t0);
    busy.feed(b"GET /1 HTTP/1.1\r\n\r\nGET /2 HTTP/1.1\r\n\r\n");
    let Next::Request(_) = busy.poll(t0) else {
        panic!()
    };
    busy.shutdown();
    busy.send_response(Response::new(200, None, vec![]))
        .unwrap();
    let out = flush(&mut busy, t0);
    assert!(String::from_utf8(out)
        .unwrap()
        .contains("Connection: close\r\n"));
    assert!(matches!(busy.poll(t0), Next::Close));
}
