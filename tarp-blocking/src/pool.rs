//! A fixed pool of worker threads for async RPC jobs.
//!
//! Items wait in a FIFO queue until a worker is free, which runs the pool's function on them.
//! The queue itself is unbounded: the service's job table already caps the jobs in flight (and
//! answers 503 past the cap), so the queue never holds more than that cap. A run that panics
//! is caught: the worker logs it and takes the next item, so the pool never shrinks. On
//! shutdown the items still queued are handed back, so the caller can settle them (a job must
//! not stay `in_progress` forever).

use std::collections::VecDeque;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

struct State<T> {
    tasks: VecDeque<T>,
    closed: bool,
}

struct Shared<T> {
    state: Mutex<State<T>>,
    run: Box<dyn Fn(T) + Send + Sync>,
    work: Condvar,
    /// Signalled when a worker exits.
    exited: Condvar,
    busy: AtomicUsize,
    alive: AtomicUsize,
}

impl<T> Shared<T> {
    fn lock(&self) -> MutexGuard<'_, State<T>> {
        // A task never runs under this lock, so poisoning cannot leave the queue inconsistent.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The worker pool. Dropping it closes the queue; workers finish their current item and exit.
pub(crate) struct JobPool<T: Send + 'static> {
    shared: Arc<Shared<T>>,
    workers: Mutex<Vec<JoinHandle<()>>>,
}

impl<T: Send + 'static> JobPool<T> {
    /// Starts `workers` threads (at least one) named `<name>-<i>`, each running `run` on the
    /// items it takes from the queue.
    pub(crate) fn new(
        workers: usize,
        name: &str,
        run: impl Fn(T) + Send + Sync + 'static,
    ) -> std::io::Result<JobPool<T>> {
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                tasks: VecDeque::new(),
                closed: false,
            }),
            run: Box::new(run),
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
                        workers: Mutex::new(handles),
                    });
                    return Err(e);
                }
            }
        }
        Ok(JobPool {
            shared,
            workers: Mutex::new(handles),
        })
    }

    /// Queues an item; gives it back if the pool is shut down.
    pub(crate) fn submit(&self, task: T) -> Result<(), T> {
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

    /// Closes the queue, then waits until `deadline` for the running items to end. Returns
    /// the items that never started, and the number of workers still busy at the deadline
    /// (they are left to finish on their own).
    pub(crate) fn shutdown(&self, deadline: Instant) -> (Vec<T>, usize) {
        let queued: Vec<T> = {
            let mut state = self.shared.lock();
            state.closed = true;
            state.tasks.drain(..).collect()
        };
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
            let handles =
                std::mem::take(&mut *self.workers.lock().unwrap_or_else(|p| p.into_inner()));
            for h in handles {
                let _ = h.join();
            }
        }
        (queued, still)
    }
}

impl<T: Send + 'static> Drop for JobPool<T> {
    fn drop(&mut self) {
        self.shared.lock().closed = true;
        self.shared.work.notify_all();
    }
}

fn worker<T>(shared: Arc<Shared<T>>) {
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
        if catch_unwind(AssertUnwindSafe(|| (shared.run)(task))).is_err() {
            log::error!("a job pool task panicked outside its job; the worker carries on");
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

    type Task = Box<dyn FnOnce() + Send>;

    fn closure_pool(n: usize, name: &str) -> JobPool<Task> {
        JobPool::new(n, name, |task: Task| task()).unwrap()
    }

    fn submit(pool: &JobPool<Task>, task: impl FnOnce() + Send + 'static) {
        assert!(pool.submit(Box::new(task)).is_ok(), "pool closed");
    }

    fn wait_busy(pool: &JobPool<Task>, n: usize) {
        let t0 = Instant::now();
        while pool.busy() < n && t0.elapsed() < Duration::from_secs(5) {
            std::thread::sleep(Duration::from_millis(2));
        }
        assert_eq!(pool.busy(), n);
    }

    #[test]
    fn runs_tasks_on_at_most_n_workers() {
        let pool = closure_pool(2, "t");
        let (tx, rx) = mpsc::channel();
        let gate = Arc::new((Mutex::new(false), Condvar::new()));
        for i in 0..4 {
            let tx = tx.clone();
            let gate = Arc::clone(&gate);
            submit(&pool, move || {
                let (m, cv) = &*gate;
                let mut open = m.lock().unwrap();
                while !*open {
                    open = cv.wait(open).unwrap();
                }
                tx.send(i).unwrap();
            });
        }
        wait_busy(&pool, 2);
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
        let pool = closure_pool(1, "p");
        submit(&pool, || panic!("task panic (expected in this test)"));
        let (tx, rx) = mpsc::channel();
        submit(&pool, move || tx.send(42).unwrap());
        assert_eq!(rx.recv_timeout(Duration::from_secs(5)).unwrap(), 42);
        let (queued, running) = pool.shutdown(Instant::now() + Duration::from_secs(5));
        assert!(queued.is_empty());
        assert_eq!(running, 0);
        assert!(pool.submit(Box::new(|| ())).is_err());
    }

    #[test]
    fn shutdown_hands_back_queued_items_and_waits_until_the_deadline() {
        let pool = closure_pool(1, "s");
        submit(&pool, || std::thread::sleep(Duration::from_millis(100)));
        wait_busy(&pool, 1);
        assert_eq!(pool.shutdown(Instant::now() + Duration::from_secs(5)).1, 0);

        let pool = closure_pool(1, "s2");
        submit(&pool, || std::thread::sleep(Duration::from_millis(600)));
        wait_busy(&pool, 1);
        submit(&pool, || ());
        let t0 = Instant::now();
        let (queued, running) = pool.shutdown(Instant::now() + Duration::from_millis(50));
        assert_eq!((queued.len(), running), (1, 1));
        assert!(t0.elapsed() < Duration::from_millis(500));
    }
}
