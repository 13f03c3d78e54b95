//! The async job table: what `asyncProbe` and `asyncGet` answer (PROTOCOL.md section 5).
//!
//! Pure state with time passed in: the adapter runs the work and reports back; nothing here
//! sleeps, spawns or reads a clock.
//!
//! Bounds (ours; the Python server keeps unfetched results forever):
//! - a finished job's result is kept until it is fetched or until `ttl` after it finished,
//!   whichever comes first, and never dropped before that;
//! - at most `max_jobs` jobs (running or finished, not yet fetched) are held; starting one
//!   more is refused ([`TableFull`]) rather than evicting a result someone may still fetch.
//!   Running jobs never expire: they hold their slot until they finish.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

/// Bounds of the job table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JobLimits {
    /// Most jobs held at once, running or finished and unfetched. Default 1000.
    pub max_jobs: usize,
    /// How long a finished result waits to be fetched, from the moment it finished.
    /// Default one hour.
    pub ttl: Duration,
}

impl Default for JobLimits {
    fn default() -> Self {
        JobLimits {
            max_jobs: 1000,
            ttl: Duration::from_secs(3600),
        }
    }
}

/// Starting a job was refused: the table holds [`JobLimits::max_jobs`] jobs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("too many async jobs held (limit {limit}): fetch finished results or retry later")]
pub struct TableFull {
    /// The limit that was reached.
    pub limit: usize,
}

/// A job's state as `asyncProbe` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobStatus<'a> {
    /// Still running.
    InProgress,
    /// Finished with a result.
    Completed,
    /// Finished with an error (the message).
    Failed(&'a str),
}

impl JobStatus<'_> {
    /// The wire name: `in_progress`, `completed` or `failed`.
    pub fn as_str(&self) -> &'static str {
        match self {
            JobStatus::InProgress => "in_progress",
            JobStatus::Completed => "completed",
            JobStatus::Failed(_) => "failed",
        }
    }
}

/// What `asyncGet` takes out of the table.
#[derive(Debug, Clone, PartialEq)]
pub enum Fetched {
    /// Still running (the job stays); retry after the suggested wait.
    Running {
        /// The endpoint's suggested wait, in seconds.
        suggested_wait: f64,
    },
    /// Finished: the base64 pickle of the result. The job is forgotten.
    Completed(String),
    /// Failed: the message. The job is forgotten.
    Failed(String),
}

#[derive(Debug)]
enum State {
    Running,
    Finished {
        outcome: Result<String, String>,
        expires: (Instant, u64),
    },
}

#[derive(Debug)]
struct Entry {
    suggested_wait: f64,
    state: State,
}

/// The table of async jobs, keyed by job ID.
#[derive(Debug)]
pub struct JobTable {
    limits: JobLimits,
    jobs: HashMap<String, Entry>,
    /// Finished jobs by expiry (instant, then a sequence number to keep keys unique).
    expiries: BTreeMap<(Instant, u64), String>,
    seq: u64,
}

impl JobTable {
    /// An empty table with these bounds.
    pub fn new(limits: JobLimits) -> JobTable {
        JobTable {
            limits,
            jobs: HashMap::new(),
            expiries: BTreeMap::new(),
            seq: 0,
        }
    }

    /// The bounds.
    pub fn limits(&self) -> JobLimits {
        self.limits
    }

    /// Jobs held (running or finished and unfetched), expired ones included until the next
    /// call that takes `now`.
    pub fn len(&self) -> usize {
        self.jobs.len()
    }

    /// True when no job is held.
    pub fn is_empty(&self) -> bool {
        self.jobs.is_empty()
    }

    /// True if this ID is held.
    pub fn contains(&self, id: &str) -> bool {
        self.jobs.contains_key(id)
    }

    /// Records a job as running. Refused when the table is full (after dropping expired
    /// results). An ID already held is replaced (IDs are random; this does not happen).
    pub fn start(
        &mut self,
        id: String,
        suggested_wait: f64,
        now: Instant,
    ) -> Result<(), TableFull> {
        self.purge(now);
        if self.jobs.len() >= self.limits.max_jobs && !self.jobs.contains_key(&id) {
            return Err(TableFull {
                limit: self.limits.max_jobs,
            });
        }
        if let Some(old) = self.jobs.insert(
            id,
            Entry {
                suggested_wait,
                state: State::Running,
            },
        ) {
            self.forget_expiry(&old);
        }
        Ok(())
    }

    /// Records a job's outcome (`Ok(base64 pickle)` or `Err(message)`) at `now`, from which its
    /// expiry runs. Returns false if the ID is not held or already finished.
    pub fn finish(&mut self, id: &str, outcome: Result<String, String>, now: Instant) -> bool {
        self.purge(now);
        let Some(entry) = self.jobs.get_mut(id) else {
            return false;
        };
        if !matches!(entry.state, State::Running) {
            return false;
        }
        // Past the representable range, the result simply never expires by time.
        let at = now
            .checked_add(self.limits.ttl)
            .unwrap_or(now + Duration::from_secs(86400 * 365 * 100));
        self.seq += 1;
        let key = (at, self.seq);
        entry.state = State::Finished {
            outcome,
            expires: key,
        };
        self.expiries.insert(key, id.to_owned());
        true
    }

    /// The job's status and suggested wait, or `None` if unknown (or expired).
    pub fn probe(&mut self, id: &str, now: Instant) -> Option<(JobStatus<'_>, f64)> {
        self.purge(now);
        let entry = self.jobs.get(id)?;
        let status = match &entry.state {
            State::Running => JobStatus::InProgress,
            State::Finished { outcome: Ok(_), .. } => JobStatus::Completed,
            State::Finished {
                outcome: Err(m), ..
            } => JobStatus::Failed(m),
        };
        Some((status, entry.suggested_wait))
    }

    /// Takes a finished job's outcome out of the table (it is forgotten), or reports it still
    /// running; `None` if unknown (or expired).
    pub fn fetch(&mut self, id: &str, now: Instant) -> Option<Fetched> {
        self.purge(now);
        let entry = self.jobs.get(id)?;
        if matches!(entry.state, State::Running) {
            return Some(Fetched::Running {
                suggested_wait: entry.suggested_wait,
            });
        }
        let entry = self.jobs.remove(id)?;
        self.forget_expiry(&entry);
        match entry.state {
            State::Finished {
                outcome: Ok(payload),
                ..
            } => Some(Fetched::Completed(payload)),
            State::Finished {
                outcome: Err(message),
                ..
            } => Some(Fetched::Failed(message)),
            State::Running => None, // ruled out above
        }
    }

    /// What [`fetch`](JobTable::fetch) would return, leaving the job in the table.
    pub fn peek(&mut self, id: &str, now: Instant) -> Option<Fetched> {
        self.purge(now);
        let entry = self.jobs.get(id)?;
        Some(match &entry.state {
            State::Running => Fetched::Running {
                suggested_wait: entry.suggested_wait,
            },
            State::Finished {
                outcome: Ok(payload),
                ..
            } => Fetched::Completed(payload.clone()),
            State::Finished {
                outcome: Err(message),
                ..
            } => Fetched::Failed(message.clone()),
        })
    }

    /// Drops every finished result whose expiry is at or before `now`.
    pub fn purge(&mut self, now: Instant) {
        while let Some(entry) = self.expiries.first_entry() {
            if entry.key().0 > now {
                break;
            }
            let id = entry.remove();
            self.jobs.remove(&id);
        }
    }

    fn forget_expiry(&mut self, entry: &Entry) {
        if let State::Finished { expires, .. } = entry.state {
            self.expiries.remove(&expires);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(max_jobs: usize, ttl_secs: u64) -> JobTable {
        JobTable::new(JobLimits {
            max_jobs,
            ttl: Duration::from_secs(ttl_secs),
        })
    }

    #[test]
    fn lifecycle_running_completed_fetched_forgotten() {
        let t0 = Instant::now();
        let mut t = table(10, 60);
        t.start("a".into(), 2.5, t0).unwrap();
        assert_eq!(t.probe("a", t0), Some((JobStatus::InProgress, 2.5)));
        assert_eq!(
            t.fetch("a", t0),
            Some(Fetched::Running {
                suggested_wait: 2.5
            })
        );
        assert!(t.finish("a", Ok("UEs=".into()), t0 + Duration::from_secs(1)));
        assert!(!t.finish("a", Ok("again".into()), t0 + Duration::from_secs(1)));
        assert_eq!(t.probe("a", t0).map(|(s, _)| s.as_str()), Some("completed"));
        assert_eq!(t.peek("a", t0), Some(Fetched::Completed("UEs=".into())));
        assert_eq!(t.fetch("a", t0), Some(Fetched::Completed("UEs=".into())));
        assert_eq!(t.fetch("a", t0), None);
        assert_eq!(t.peek("a", t0), None);
        assert_eq!(t.probe("a", t0), None);
        assert!(t.is_empty());
        assert!(t.expiries.is_empty());
    }

    #[test]
    fn failures_are_reported_then_forgotten() {
        let t0 = Instant::now();
        let mut t = table(10, 60);
        t.start("f".into(), 5.0, t0).unwrap();
        t.finish("f", Err("boom".into()), t0);
        assert_eq!(t.probe("f", t0), Some((JobStatus::Failed("boom"), 5.0)));
        assert_eq!(t.probe("f", t0), Some((JobStatus::Failed("boom"), 5.0)));
        assert_eq!(t.fetch("f", t0), Some(Fetched::Failed("boom".into())));
        assert_eq!(t.fetch("f", t0), None);
        assert!(!t.finish("unknown", Ok(String::new()), t0));
    }

    #[test]
    fn results_expire_from_completion_never_before() {
        let t0 = Instant::now();
        let ttl = Duration::from_secs(3600);
        let mut t = table(10, 3600);
        t.start("a".into(), 1.0, t0).unwrap();
        // Running for two hours: running jobs never expire.
        let done = t0 + Duration::from_secs(7200);
        assert_eq!(
            t.probe("a", done).map(|(s, _)| s),
            Some(JobStatus::InProgress)
        );
        t.finish("a", Ok("x".into()), done);
        let just_before = done + ttl - Duration::from_nanos(1);
        assert_eq!(
            t.probe("a", just_before).map(|(s, _)| s),
            Some(JobStatus::Completed)
        );
        assert_eq!(t.probe("a", done + ttl), None);
        assert!(t.is_empty());
    }

    #[test]
    fn cap_refuses_new_jobs_and_keeps_results() {
        let t0 = Instant::now();
        let mut t = table(2, 10);
        t.start("a".into(), 1.0, t0).unwrap();
        t.start("b".into(), 1.0, t0).unwrap();
        t.finish("b", Ok("B".into()), t0);
        assert_eq!(t.start("c".into(), 1.0, t0), Err(TableFull { limit: 2 }));
        // Still full one second before b's expiry: b is not evicted to make room.
        let before = t0 + Duration::from_secs(9);
        assert_eq!(
            t.start("c".into(), 1.0, before),
            Err(TableFull { limit: 2 })
        );
        assert_eq!(
            t.probe("b", before).map(|(s, _)| s),
            Some(JobStatus::Completed)
        );
        // Fetching frees a slot.
        assert_eq!(t.fetch("b", before), Some(Fetched::Completed("B".into())));
        t.start("c".into(), 1.0, before).unwrap();
        // Expiry frees a slot too.
        t.finish("c", Ok("C".into()), before);
        assert_eq!(
            t.start("d".into(), 1.0, before),
            Err(TableFull { limit: 2 })
        );
        t.start("d".into(), 1.0, before + Duration::from_secs(10))
            .unwrap();
        assert_eq!(t.len(), 2);
        assert!(t.contains("a") && t.contains("d"));
    }

    #[test]
    fn out_of_order_completion_times_expire_correctly() {
        let t0 = Instant::now();
        let mut t = table(10, 10);
        for id in ["a", "b", "c"] {
            t.start(id.into(), 1.0, t0).unwrap();
        }
        t.finish("a", Ok("A".into()), t0 + Duration::from_secs(5));
        t.finish("b", Ok("B".into()), t0 + Duration::from_secs(1));
        t.finish("c", Ok("C".into()), t0 + Duration::from_secs(3));
        t.purge(t0 + Duration::from_secs(12));
        assert!(!t.contains("b") && t.contains("c") && t.contains("a"));
        t.purge(t0 + Duration::from_secs(14));
        assert!(!t.contains("c") && t.contains("a"));
        t.purge(t0 + Duration::from_secs(15));
        assert!(t.is_empty() && t.expiries.is_empty());
    }
}
