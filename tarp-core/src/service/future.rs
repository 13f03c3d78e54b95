//! Handlers written as `async` functions, for adapters that run an executor.
//!
//! [`Service::rpc_future`] registers a synchronous RPC endpoint (PROTOCOL.md section 4: the
//! client waits for the result in the same request) whose handler returns a future. Not to be
//! confused with [`Service::async_rpc`], the protocol's async RPC (section 5: a job polled by
//! the client). [`Service::dispatch`] hands such a request to the adapter as a
//! [`Dispatch::Call`](super::Dispatch::Call) whose [`Call::into_future`] gives the future to
//! await on the executor; an adapter without one may still call [`Call::run`], which blocks
//! the calling thread until the future completes.

use std::future::Future;
use std::marker::PhantomData;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::handler::{ErasedRpc, Invocation, Signature};
use super::registry::RpcBuilder;
use super::{codec, dispatch, panic_message, Call, Error, ErrorKind, Service};
use crate::http::Response;
use crate::wire::envelope;
use crate::wire::pickle::Value;

/// A boxed, sendable future.
pub(crate) type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// An `async` function usable as an RPC endpoint: implemented for closures and functions of 0
/// to 8 arguments (each `serde::de::DeserializeOwned + Send + 'static`) returning a `Send`
/// future of `Result<T, service::Error>` with `T: serde::Serialize`.
///
/// `Args` is the tuple of argument types; it only exists to tell the implementations apart
/// and is inferred.
pub trait AsyncRpcHandler<Args>: Send + Sync + 'static {
    /// Number of arguments.
    const ARITY: usize;
    /// The success type.
    type Output: Serialize + Send + 'static;
    /// Decodes the bound argument values into `Args`. Not meant to be called directly.
    #[doc(hidden)]
    fn decode_args(values: Vec<Value>, sig: &Signature) -> Result<Args, String>;
    /// Calls the function. Not meant to be called directly.
    #[doc(hidden)]
    fn call(&self, args: Args) -> BoxFuture<Result<Self::Output, Error>>;
}

macro_rules! async_rpc_handler {
    ($n:literal; $($idx:tt $a:ident),*) => {
        impl<F, Fut, R, $($a,)*> AsyncRpcHandler<($($a,)*)> for F
        where
            F: Fn($($a),*) -> Fut + Send + Sync + 'static,
            Fut: Future<Output = Result<R, Error>> + Send + 'static,
            R: Serialize + Send + 'static,
            $($a: DeserializeOwned + Send + 'static,)*
        {
            const ARITY: usize = $n;
            type Output = R;

            #[allow(unused_variables, unused_mut, clippy::unused_unit)]
            fn decode_args(values: Vec<Value>, sig: &Signature) -> Result<($($a,)*), String> {
                let mut values = values.into_iter();
                Ok(($(sig.arg::<$a>($idx, values.next())?,)*))
            }

            #[allow(unused_variables)]
            fn call(&self, args: ($($a,)*)) -> BoxFuture<Result<R, Error>> {
                Box::pin((self)($(args.$idx),*))
            }
        }
    };
}

async_rpc_handler!(0;);
async_rpc_handler!(1; 0 A0);
async_rpc_handler!(2; 0 A0, 1 A1);
async_rpc_handler!(3; 0 A0, 1 A1, 2 A2);
async_rpc_handler!(4; 0 A0, 1 A1, 2 A2, 3 A3);
async_rpc_handler!(5; 0 A0, 1 A1, 2 A2, 3 A3, 4 A4);
async_rpc_handler!(6; 0 A0, 1 A1, 2 A2, 3 A3, 4 A4, 5 A5);
async_rpc_handler!(7; 0 A0, 1 A1, 2 A2, 3 A3, 4 A4, 5 A5, 6 A6);
async_rpc_handler!(8; 0 A0, 1 A1, 2 A2, 3 A3, 4 A4, 5 A5, 6 A6, 7 A7);

struct TypedFuture<H, Args> {
    handler: Arc<H>,
    _args: PhantomData<fn() -> Args>,
}

impl<H, Args> TypedFuture<H, Args>
where
    H: AsyncRpcHandler<Args>,
    Args: Send + 'static,
{
    /// The future computing the pickled result.
    fn pickled(&self, args: Args) -> impl Future<Output = Result<Vec<u8>, Error>> + Send {
        let future = self.handler.call(args);
        async move {
            let result = future.await?;
            codec::encode_result(&result)
                .map_err(|e| Error::failed(format!("could not pickle the result: {e}")))
        }
    }
}

impl<H, Args> ErasedRpc for TypedFuture<H, Args>
where
    H: AsyncRpcHandler<Args>,
    Args: Send + 'static,
{
    fn prepare(&self, values: Vec<Value>, sig: &Signature) -> Result<Invocation, String> {
        let future = self.pickled(H::decode_args(values, sig)?);
        Ok(Box::new(move || block_on(future)))
    }

    fn prepare_call(&self, values: Vec<Value>, sig: &Signature) -> Result<Call, String> {
        let future = self.pickled(H::decode_args(values, sig)?);
        Ok(Call::from_future(Box::pin(async move {
            dispatch::rpc_response(future.await)
        })))
    }
}

impl Service {
    /// Registers a synchronous RPC endpoint (`POST /name`, PROTOCOL.md section 4) whose
    /// handler is an `async` function: an executor-based adapter awaits it on its executor
    /// instead of giving a thread to it. Arguments bind as for [`Service::rpc`].
    ///
    /// ```
    /// use tarp_core::service::Service;
    ///
    /// let mut svc = Service::with_seed(1);
    /// svc.rpc_future("add_later", |a: i64, b: i64| async move { Ok(a + b) })
    ///     .params(["a", "b"]);
    /// ```
    pub fn rpc_future<Args, H>(&mut self, name: &str, handler: H) -> RpcBuilder<'_>
    where
        H: AsyncRpcHandler<Args>,
        Args: Send + 'static,
    {
        let handler = TypedFuture::<H, Args> {
            handler: Arc::new(handler),
            _args: PhantomData,
        };
        self.register_rpc(name, H::ARITY, Box::new(handler))
    }
}

/// The future of an async handler's [`Call`] (from [`Call::into_future`]). A panic while
/// polling it is caught and answered with a 500 `handler panicked: <message>`, as
/// [`Call::run`] does.
pub struct CallFuture {
    future: Option<BoxFuture<Response>>,
}

impl CallFuture {
    pub(crate) fn new(future: BoxFuture<Response>) -> CallFuture {
        CallFuture {
            future: Some(future),
        }
    }
}

impl std::fmt::Debug for CallFuture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CallFuture { .. }")
    }
}

impl Future for CallFuture {
    type Output = Response;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Response> {
        let Some(future) = self.future.as_mut() else {
            return Poll::Ready(envelope::error(
                ErrorKind::Generic,
                "handler polled after it completed",
            ));
        };
        match catch_unwind(AssertUnwindSafe(|| future.as_mut().poll(cx))) {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(response)) => {
                self.future = None;
                Poll::Ready(response)
            }
            Err(panic) => {
                self.future = None;
                Poll::Ready(envelope::error(
                    ErrorKind::Generic,
                    &format!("handler panicked: {}", panic_message(&*panic)),
                ))
            }
        }
    }
}

struct ThreadWaker(std::thread::Thread);

impl Wake for ThreadWaker {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }
}

/// Runs a future to completion on the calling thread (for adapters without an executor).
pub(crate) fn block_on<F: Future>(future: F) -> F::Output {
    let mut future = std::pin::pin!(future);
    let waker = Waker::from(Arc::new(ThreadWaker(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    loop {
        if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
            return output;
        }
        std::thread::park();
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;
    use crate::http::{Request, Version};
    use crate::service::Dispatch;

    fn rpc_request(name: &str, args: &Value) -> Request {
        use base64::Engine;
        let b64 = |v: &Value| {
            base64::engine::general_purpose::STANDARD.encode(crate::wire::pickle::encode(v))
        };
        let kwargs = Value::Dict(Arc::new(Vec::new()));
        let body = format!(
            r#"{{"args": "{}", "kwargs": "{}"}}"#,
            b64(args),
            b64(&kwargs)
        );
        Request::new(
            "POST",
            &format!("/{name}"),
            Version::Http11,
            vec![("Content-Type".into(), b"application/json".to_vec())],
            body.into_bytes(),
        )
    }

    fn call_of(svc: &Service, name: &str, args: Vec<Value>) -> Call {
        match svc.dispatch(
            rpc_request(name, &Value::Tuple(Arc::new(args))),
            Instant::now(),
        ) {
            Dispatch::Call(call) => call,
            other => panic!("expected a call, got {other:?}"),
        }
    }

    #[test]
    fn async_handlers_run_as_futures_or_blocking() {
        let mut svc = Service::with_seed(1);
        svc.rpc_future("add", |a: i64, b: i64| async move { Ok(a + b) })
            .params(["a", "b"]);
        svc.rpc_future("boom", || async { panic!("kaboom") as Result<(), Error> });
        svc.rpc("sync", || Ok(1)).cheap();

        let call = call_of(&svc, "add", vec![Value::Int(2), Value::Int(3)]);
        assert!(call.is_async() && !call.is_cheap());
        let future = call.into_future().expect("an async call");
        let response = block_on(future);
        assert_eq!(
            response.status,
            200,
            "{:?}",
            String::from_utf8_lossy(&response.body)
        );
        // The same call through the blocking path.
        let response = call_of(&svc, "add", vec![Value::Int(2), Value::Int(3)]).run();
        assert_eq!(response.status, 200);

        let response = block_on(call_of(&svc, "boom", vec![]).into_future().unwrap());
        assert_eq!(response.status, 500);
        assert!(String::from_utf8_lossy(&response.body).contains("handler panicked: kaboom"));
        assert_eq!(call_of(&svc, "boom", vec![]).run().status, 500);

        let call = call_of(&svc, "sync", vec![]);
        assert!(call.is_cheap() && !call.is_async());
        let call = call.into_future().expect_err("a blocking call");
        assert_eq!(call.run().status, 200);
        // Argument errors are answered before anything runs.
        let r = match svc.dispatch(
            rpc_request("add", &Value::Tuple(Arc::new(vec![Value::Int(1)]))),
            Instant::now(),
        ) {
            Dispatch::Respond(r) => r,
            other => panic!("expected a 400, got {other:?}"),
        };
        assert_eq!(r.status, 400);
    }
}
