//! A fixed pool of worker threads for async RPC jobs.
//!
//! Jobs wait in a FIFO queue until a worker is free. The queue itself is unbounded: the
//! service's job table already caps the jobs in flight (and answers 503 past the cap), so the
//! queue never holds more than that cap. A task that panics is caught: the worker logs it and
//! takes the next task, so the pool never shrinks.

use std::collections::VecDeque;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// A unit of work for the pool.
pub(crate) type Task = Box<dyn FnOnce() + Send + 'static>;

struct State {
    tasks: VecDeque<Task>,
    closed: bool,
}

struct Shared {
    state: Mutex<State>,
    work: Condvar,
    /// Signalled when a worker exits.
    exited: Condvar,
    busy: AtomicUsize,
    alive: AtomicUsize,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A task never runs under this lock, so poisoning cannot leave the queue inconsistent.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The worker pool. Dropping it closes the queue; workers finish their current task and exit.
pub(crate) struct JobPool {
    shared: Arc<Shared>,
    workers: Vec<JoinHandle<()>>,
}

impl JobPool {
    /// Starts `workers` threads (at least one) named `<name>-<i>`.
    pub(crate) fn new(workers: usize, name: &str) -> std::io::Result<JobPool> {
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                tasks: VecDeque::new(),
                closed: false,
            }),
            work: Condvar::new(),
            exited: Condvar::new(),
            busy: AtomicUsize::new(0),
            alive: AtomicUsize::new(0),
        });
        let mut handles = Vec::new();
        for i in 0..workers.max(1) {
            let for_worker = Arc::clone(&shared);
            shared.alive.fetch_add(1, Ordering::SeqCst);
            let spawned = std::thread::Builder::new()
                .name(format!("{name}-{i}"))
                .spawn(move || worker(for_worker));
            match spawned {
                Ok(h) => handles.push(h),
                Err(e) => {
                    shared.alive.fetch_sub(1, Ordering::SeqCst);
                    // Dropping the partial pool closes its queue: started workers exit.
                    drop(JobPool {
                        shared,
                        workers: handles,
                    });
                    return Err(e);
                }
            }
        }
        Ok(JobPool {
            shared,
            workers: handles,
        })
    }

    /// Queues a task; gives it back if the pool is shut down.
    pub(crate) fn submit(&self, task: Task) -> Result<(), Task> {
        let mut state = self.shared.lock();
        if state.closed {
            return Err(task);
        }
        state.tasks.push_back(task);
        drop(state);
        self.shared.work.notify_one();
        Ok(())
    }

    /// Tasks running now.
    pub(crate) fn busy(&self) -> usize {
        self.shared.busy.load(Ordering::SeqCst)
    }

    /// Tasks waiting for a worker.
    pub(crate) fn queued(&self) -> usize {
        self.shared.lock().tasks.len()
    }

    /// Closes the queue (queued tasks are dropped), then waits until `deadline` for the
    /// running tasks to end. Returns the number of workers still running a task then (they
    /// are left to finish on their own).
    pub(crate) fn shutdown(&mut self, deadline: Instant) -> usize {
        let dropped = {
            let mut state = self.shared.lock();
            state.closed = true;
            std::mem::take(&mut state.tasks)
        };
        if !dropped.is_empty() {
            log::warn!(
                "shutdown: {} queued async job(s) dropped before they started",
                dropped.len()
            );
        }
        drop(dropped);
        self.shared.work.notify_all();
        let mut state = self.shared.lock();
        while self.shared.alive.load(Ordering::SeqCst) > 0 {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            state = self
                .shared
                .exited
                .wait_timeout(state, left.min(Duration::from_millis(100)))
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
        drop(state);
        let still = self.shared.alive.load(Ordering::SeqCst);
        if still == 0 {
            for h in self.workers.drain(..) {
                let _ = h.join();
            }
        }
        still
    }
}

impl Drop for JobPool {
    fn drop(&mut self) {
        self.shared.lock().closed = true;
        self.shared.work.notify_all();
    }
}

fn worker(shared: Arc<Shared>) {
    loop {
        let task = {
            let mut state = shared.lock();
            loop {
                if let Some(task) = state.tasks.pop_front() {
                    break Some(task);
                }
                if state.closed {
                    break None;
                }
                state = shared.work.wait(state).unwrap_or_else(|p| p.into_inner());
            }
        };
        let Some(task) = task else { break };
        shared.busy.fetch_add(1, Ordering::SeqCst);
        if catch_unwind(AssertUnwindSafe(task)).is_err() {
            log::error!("an async job task panicked outside its job; the worker carries on");
        }
        shared.busy.fetch_sub(1, Ordering::SeqCst);
    }
    let _state = shared.lock();
    shared.alive.fetch_sub(1, Ordering::SeqCst);
    shared.exited.notify_all();
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;

    #[test]
    fn runs_tasks_on_at_most_n_workers() {
        let pool = JobPool::new(2, "t").unwrap();
        let (tx, rx) = mpsc::channel();
        let gate = Arc::new((Mutex::new(false), Condvar::new()));
        for i in 0..4 {
            let tx = tx.clone();
            let gate = Arc::clone(&gate);
            pool.submit(Box::new(move || {
                let (m, cv) = &*gate;
                let mut open = m.lock().unwrap();
                while !*open {
                    open = cv.wait(open).unwrap();
                }
                tx.send(i).unwrap();
            }))
            .unwrap_or_else(|_| panic!("closed"));
        }
        let t0 = Instant::now();
        while pool.busy() < 2 && t0.elapsed() < Duration::from_secs(5) {
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(pool.busy(), 2);
        assert_eq!(pool.queued(), 2);
        *gate.0.lock().unwrap() = true;
        gate.1.notify_all();
        let mut got: Vec<i32> = (0..4)
            .map(|_| rx.recv_timeout(Duration::from_secs(5)).unwrap())
            .collect();
        got.sort();
        assert_eq!(got, [0, 1, 2, 3]);
    }

    #[test]
    fn a_panicking_task_does_not_kill_its_worker() {
        let mut pool = JobPool::new(1, "p").unwrap();
        pool.submit(Box::new(|| panic!("task panic (expected in this test)")))
            .unwrap_or_else(|_| panic!());
        let (tx, rx) = mpsc::channel();
        pool.submit(Box::new(move || tx.send(42).unwrap()))
            .unwrap_or_else(|_| panic!());
        assert_eq!(rx.recv_timeout(Duration::from_secs(5)).unwrap(), 42);
        assert_eq!(pool.shutdown(Instant::now() + Duration::from_secs(5)), 0);
        assert!(pool.submit(Box::new(|| ())).is_err());
    }

    #[test]
    fn shutdown_waits_for_running_tasks_until_the_deadline() {
        let mut pool = JobPool::new(1, "s").unwrap();
        pool.submit(Box::new(|| std::thread::sleep(Duration::from_millis(100))))
            .unwrap_or_else(|_| panic!());
        while pool.busy() == 0 {
            std::thread::sleep(Duration::from_millis(1));
        }
        assert_eq!(pool.shutdown(Instant::now() + Duration::from_secs(5)), 0);

        let mut pool = JobPool::new(1, "s2").unwrap();
        pool.submit(Box::new(|| std::thread::sleep(Duration::from_millis(600))))
            .unwrap_or_else(|_| panic!());
        while pool.busy() == 0 {
            std::thread::sleep(Duration::from_millis(1));
        }
        let t0 = Instant::now();
        assert_eq!(pool.shutdown(Instant::now() + Duration::from_millis(50)), 1);
        assert!(t0.elapsed() < Duration::from_millis(500));
    }
}
