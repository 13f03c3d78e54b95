//! The server connection's deadlines, computed from times handed in by the caller.
//!
//! The machine has no clock. Events without a time (bytes received, bytes written) set a
//! flag; the next call that brings a time (`poll(now)`, `handle_timeout(now)`) stamps them.
//! An adapter calls `poll` after every read and write, so stamps are as fresh as its loop;
//! a deadline computed before a stamp is early, never late, and an early `handle_timeout`
//! is a harmless no-op.

use std::time::{Duration, Instant};

use super::Limits;

/// What the connection is waiting for, which decides the deadline that applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Nothing the peer owes us (a request is with the application, or closing).
    None,
    /// Output is pending: the peer must read it (`write_timeout`).
    Write,
    /// A kept-alive connection awaits the first byte of its next request (`idle_timeout`).
    Idle,
    /// A request head is awaited or partly received (`header_timeout`).
    Head {
        /// The connection's first request: the deadline runs from the connection's start.
        first: bool,
    },
    /// A request body is being received (`body_timeout`, `min_body_rate`).
    Body {
        /// Body bytes received so far.
        received: u64,
    },
}

/// Times at which the current phase started or last progressed.
#[derive(Debug)]
pub(crate) struct Timers {
    last_now: Instant,
    conn_start: Instant,
    idle_since: Option<Instant>,
    head_since: Option<Instant>,
    body_since: Option<Instant>,
    body_progress: Option<Instant>,
    write_progress: Option<Instant>,
    /// Body bytes arrived since the last stamp.
    pub(crate) body_moved: bool,
    /// Output was written since the last stamp.
    pub(crate) write_moved: bool,
}

impl Timers {
    pub(crate) fn new(now: Instant) -> Self {
        Timers {
            last_now: now,
            conn_start: now,
            idle_since: None,
            head_since: None,
            body_since: None,
            body_progress: None,
            write_progress: None,
            body_moved: false,
            write_moved: false,
        }
    }

    /// Stamps the events since the last call with `now`, and forgets the times of the
    /// phases that are over.
    pub(crate) fn stamp(&mut self, now: Instant, phase: Phase) {
        self.last_now = self.last_now.max(now);
        let now = self.last_now;
        if phase == Phase::Write {
            if self.write_progress.is_none() || self.write_moved {
                self.write_progress = Some(now);
            }
        } else {
            self.write_progress = None;
        }
        self.write_moved = false;
        if phase == Phase::Idle {
            self.idle_since.get_or_insert(now);
        } else {
            self.idle_since = None;
        }
        if let Phase::Head { .. } = phase {
            self.head_since.get_or_insert(now);
        } else {
            self.head_since = None;
        }
        if let Phase::Body { .. } = phase {
            self.body_since.get_or_insert(now);
            if self.body_progress.is_none() || self.body_moved {
                self.body_progress = Some(now);
            }
        } else {
            self.body_since = None;
            self.body_progress = None;
        }
        self.body_moved = false;
    }

    /// The deadline of `phase`; when several rules apply, the one expiring first and the
    /// `Limits` field behind it.
    pub(crate) fn deadline(
        &self,
        phase: Phase,
        limits: &Limits,
    ) -> Option<(Instant, &'static str)> {
        let or_now = |t: Option<Instant>| t.unwrap_or(self.last_now);
        let after = |t: Instant, d: Duration, field| t.checked_add(d).map(|t| (t, field));
        match phase {
            Phase::None => None,
            Phase::Write => after(
                or_now(self.write_progress),
                limits.write_timeout,
                "write_timeout",
            ),
            Phase::Idle => after(or_now(self.idle_since), limits.idle_timeout, "idle_timeout"),
            Phase::Head { first } => {
                let since = if first {
                    self.conn_start
                } else {
                    or_now(self.head_since)
                };
                after(since, limits.header_timeout, "header_timeout")
            }
            Phase::Body { received } => {
                let stall = after(
                    or_now(self.body_progress),
                    limits.body_timeout,
                    "body_timeout",
                );
                let rate = (limits.min_body_rate > 0)
                    .then(|| {
                        let micros =
                            u128::from(received) * 1_000_000 / u128::from(limits.min_body_rate);
                        let earned =
                            Duration::from_micros(u64::try_from(micros).unwrap_or(u64::MAX));
                        let grace = or_now(self.body_since).checked_add(limits.body_timeout)?;
                        after(grace, earned, "min_body_rate")
                    })
                    .flatten();
                match (stall, rate) {
                    (Some(a), Some(b)) => Some(if b.0 < a.0 { b } else { a }),
                    (a, b) => a.or(b),
                }
            }
        }
    }
}
