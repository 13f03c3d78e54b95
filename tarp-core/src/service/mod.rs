//! Endpoints, argument binding, dispatch and the async job table. Knows nothing of sockets.
//!
//! A [`Service`] holds named endpoints of four kinds (PROTOCOL.md sections 3 to 6):
//! - RPC ([`Service::rpc`]) and async RPC ([`Service::async_rpc`]): plain Rust functions with
//!   typed arguments (any `serde::de::DeserializeOwned` type, decoded from the caller's pickle)
//!   and a typed result (any `serde::Serialize` type, pickled back). Positional and keyword
//!   arguments bind to the parameter names as in a Python call, with defaults; a missing,
//!   extra, duplicate or ill-typed argument is a 400 whose message names the parameter.
//! - web GET ([`Service::get`]) and POST ([`Service::post`]): the handler gets the [`Query`]
//!   and the [`Body`] decoded by content type, and returns a [`Reply`].
//!
//! Handlers fail with an [`Error`]: a message (500), "operation in progress, retry after N s"
//! (503 + `Retry-After`) or "invalid server state" (503). A handler that panics costs its
//! request a 500 (its async job a `failed` state); the service keeps serving.
//!
//! The service does no I/O and runs nothing itself: [`Service::dispatch`] turns a request
//! into a [`Dispatch`] telling the adapter what to do, with time passed in.

mod body;
pub mod check;
mod codec;
pub use codec::ARG_EXPANSION_BASE;
mod dispatch;
mod error;
mod future;
mod handler;
mod ids;
pub mod jobs;
mod registry;
mod reply;

use std::any::Any;
use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::Duration;

pub use body::Body;
pub use error::{Error, IN_PROGRESS_MESSAGE};
pub use future::{AsyncRpcHandler, CallFuture};
pub use handler::RpcHandler;
pub use registry::{
    AsyncRpcBuilder, GetBuilder, PostBuilder, RpcBuilder, Service, DEFAULT_SUGGESTED_WAIT,
};
pub use reply::{Reply, SerializedJson};

pub use crate::wire::envelope::ErrorKind;
pub use crate::wire::query::{Query, QueryLimits, QueryValue};

use crate::http::Response;
use crate::wire::envelope;
use jobs::JobLimits;

/// Limits and the job-ID key of a [`Service`]. Every field has a documented default.
#[derive(Clone, PartialEq, Eq)]
pub struct ServiceConfig {
    /// Bounds of the async job table: at most 1000 jobs held, unfetched results kept one
    /// hour after they finish.
    pub jobs: JobLimits,
    /// Bounds on a query string: 1000 parameters, 64 KiB.
    pub query_limits: QueryLimits,
    /// Bounds on a form body (`application/x-www-form-urlencoded`): 1000 fields, 1 MiB.
    pub form_limits: QueryLimits,
    /// Bounds on decoding an RPC's argument pickles (nesting depth, copy budget): see
    /// [`crate::wire::pickle::Limits`].
    pub pickle_limits: crate::wire::pickle::Limits,
    /// Key of the job-ID generator. Default all zeros (predictable IDs): a server must set
    /// it from the OS's random source, since a job ID is all a client needs to fetch a result.
    pub seed: [u8; 32],
}

impl Default for ServiceConfig {
    fn default() -> Self {
        ServiceConfig {
            jobs: JobLimits::default(),
            query_limits: QueryLimits::default(),
            form_limits: QueryLimits {
                max_params: 1000,
                max_bytes: 1024 * 1024,
            },
            pickle_limits: crate::wire::pickle::Limits::default(),
            seed: [0; 32],
        }
    }
}

impl ServiceConfig {
    /// A job-ID key spread from a 64-bit seed (for tests and reproducible runs).
    pub fn seed_from_u64(seed: u64) -> [u8; 32] {
        let mut key = [0u8; 32];
        let mut x = seed;
        for chunk in key.chunks_exact_mut(8) {
            // SplitMix64: distinct, well-mixed words from consecutive states.
            x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = x;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            chunk.copy_from_slice(&(z ^ (z >> 31)).to_le_bytes());
        }
        key
    }

    /// The job-table expiry (shorthand for `jobs.ttl`).
    pub fn job_ttl(&self) -> Duration {
        self.jobs.ttl
    }
}

impl fmt::Debug for ServiceConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServiceConfig")
            .field("jobs", &self.jobs)
            .field("query_limits", &self.query_limits)
            .field("form_limits", &self.form_limits)
            .field("pickle_limits", &self.pickle_limits)
            .field("seed", &"[hidden]")
            .finish()
    }
}

/// What the adapter must do with a request, as decided by [`Service::dispatch`].
///
/// The calling contract, for adapters:
/// 1. `Respond(response)`: send `response` now. Errors, discovery, `asyncProbe`, `asyncGet`:
///    nothing else to run.
/// 2. `Call(call)`: run `call.run()` where blocking is acceptable (a worker thread, a blocking
///    pool), then send the [`Response`] it returns. User code runs there and may block; a
///    panic inside is caught and becomes a 500.
/// 3. `Spawn { response, job }`: send `response` now (it carries the job ID); run
///    `job.run()` on the job pool, then pass the returned [`JobDone`] to
///    [`Service::complete`] with the current time. A panic inside the job is caught and
///    recorded as a failure. An adapter that cannot run the job (shutting down, pool full)
///    passes `job.abandon(reason)` to `complete` instead, so the job does not stay
///    `in_progress` forever.
///
/// Arguments are decoded inside `dispatch` (bounded work), so malformed calls are answered
/// with `Respond` without touching a pool. [`Call`] and [`Job`] are `Send + 'static`.
#[derive(Debug)]
pub enum Dispatch {
    /// Answer now.
    Respond(Response),
    /// Run user code, then answer with its response.
    Call(Call),
    /// Answer now, and run the job in the background.
    Spawn {
        /// The answer carrying the job ID.
        response: Response,
        /// The work; report its outcome with [`Service::complete`].
        job: Job,
    },
}

/// User code to run for one request: `call.run()` returns the response to send.
///
/// Adapters with an executor may do better than [`run`](Call::run) on a blocking pool:
/// a call that [`is_cheap`](Call::is_cheap) (its endpoint was registered as cheap) can run
/// inline, and a call of an `async` handler ([`Service::rpc_future`]) gives its future with
/// [`into_future`](Call::into_future).
pub struct Call {
    work: Work,
    cheap: bool,
}

enum Work {
    Blocking(Box<dyn FnOnce() -> Response + Send>),
    /// A synchronous RPC, answered with its result pickled into an envelope: the invocation
    /// (handler and arguments) in its own box, without a second one around it.
    Rpc(handler::Invocation),
    Future(future::BoxFuture<Response>),
}

impl Call {
    pub(crate) fn new(work: impl FnOnce() -> Response + Send + 'static) -> Call {
        Call {
            work: Work::Blocking(Box::new(work)),
            cheap: false,
        }
    }

    pub(crate) fn rpc(invocation: handler::Invocation) -> Call {
        Call {
            work: Work::Rpc(invocation),
            cheap: false,
        }
    }

    pub(crate) fn from_future(work: future::BoxFuture<Response>) -> Call {
        Call {
            work: Work::Future(work),
            cheap: false,
        }
    }

    pub(crate) fn with_cheap(mut self, cheap: bool) -> Call {
        self.cheap = cheap;
        self
    }

    /// Whether the endpoint was registered as cheap (`.cheap()`): its handler neither blocks
    /// nor runs long, so an executor-based adapter may run it inline.
    pub fn is_cheap(&self) -> bool {
        self.cheap
    }

    /// Whether the handler is an `async` function (see [`into_future`](Call::into_future)).
    pub fn is_async(&self) -> bool {
        matches!(self.work, Work::Future(_))
    }

    /// The future of an `async` handler, to await on an executor; `Err(self)` for a plain
    /// handler (use [`run`](Call::run)).
    pub fn into_future(self) -> Result<CallFuture, Call> {
        match self.work {
            Work::Future(f) => Ok(CallFuture::new(f)),
            work => Err(Call { work, ..self }),
        }
    }

    /// Runs the handler and returns the response to send. A panic in the handler is caught
    /// and answered with a 500 `handler panicked: <message>`. The future of an `async`
    /// handler is run to completion on the calling thread.
    pub fn run(self) -> Response {
        let answered = match self.work {
            Work::Blocking(work) => catch_unwind(AssertUnwindSafe(work)),
            Work::Rpc(invocation) => {
                catch_unwind(AssertUnwindSafe(|| dispatch::rpc_response(invocation())))
            }
            Work::Future(f) => return future::block_on(CallFuture::new(f)),
        };
        match answered {
            Ok(response) => response,
            Err(panic) => envelope::error(
                ErrorKind::Generic,
                &format!("handler panicked: {}", panic_message(&*panic)),
            ),
        }
    }
}

impl fmt::Debug for Call {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Call { .. }")
    }
}

/// An async job to run in the background: `job.run()` returns its outcome for
/// [`Service::complete`].
pub struct Job {
    id: String,
    work: Box<dyn FnOnce() -> Result<Vec<u8>, Error> + Send>,
}

impl Job {
    /// The job ID (the UUID sent to the client).
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Runs the job. A panic is caught and recorded as a failure `handler panicked: ...`.
    pub fn run(self) -> JobDone {
        use base64::Engine;
        let outcome = match catch_unwind(AssertUnwindSafe(self.work)) {
            Ok(Ok(pickle)) => Ok(base64::engine::general_purpose::STANDARD.encode(pickle)),
            Ok(Err(e)) => Err(e.message().to_owned()),
            Err(panic) => Err(format!("handler panicked: {}", panic_message(&*panic))),
        };
        JobDone {
            id: self.id,
            outcome,
        }
    }

    /// Gives the job up without running it; the client will see it `failed` with `reason`.
    pub fn abandon(self, reason: &str) -> JobDone {
        JobDone {
            id: self.id,
            outcome: Err(reason.to_owned()),
        }
    }
}

impl fmt::Debug for Job {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Job")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

/// The outcome of a [`Job`], to hand to [`Service::complete`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobDone {
    id: String,
    /// `Ok(base64 of the pickled result)` or `Err(message)`.
    outcome: Result<String, String>,
}

impl JobDone {
    /// The job ID.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The failure message, if the job failed.
    pub fn error(&self) -> Option<&str> {
        self.outcome.as_ref().err().map(String::as_str)
    }
}

fn panic_message(panic: &(dyn Any + Send)) -> &str {
    if let Some(s) = panic.downcast_ref::<&'static str>() {
        s
    } else if let Some(s) = panic.downcast_ref::<String>() {
        s
    } else {
        "(non-text panic payload)"
    }
}
