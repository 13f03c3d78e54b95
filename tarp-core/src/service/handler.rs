//! Typed RPC handlers: plain Rust closures whose arguments are decoded from the caller's
//! pickles and whose result is pickled back, with Python-call binding of the arguments.

use std::marker::PhantomData;
use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::codec;
use super::Error;
use crate::wire::pickle::Value;

/// An endpoint's Python-style signature: names in positional order and their defaults.
/// (Public only because [`RpcHandler`]'s hidden methods mention it.)
#[derive(Debug, Clone)]
pub struct Signature {
    /// The endpoint name, as Python would name the function in messages.
    pub(crate) fname: String,
    pub(crate) params: Vec<String>,
    pub(crate) defaults: Vec<Option<Value>>,
}

impl Signature {
    pub(crate) fn new(fname: &str, arity: usize) -> Signature {
        Signature {
            fname: fname.to_owned(),
            params: (0..arity).map(|i| format!("arg{i}")).collect(),
            defaults: vec![None; arity],
        }
    }

    /// Binds positional and keyword arguments as a Python call does: positionals in order,
    /// keywords by name, defaults for the rest. The message of an error names the argument.
    pub(crate) fn bind(
        &self,
        args: &[Value],
        kwargs: &[(Value, Value)],
    ) -> Result<Vec<Value>, String> {
        let f = &self.fname;
        let n = self.params.len();
        if args.len() > n {
            let s = if n == 1 { "" } else { "s" };
            let was = if args.len() == 1 { "was" } else { "were" };
            return Err(format!(
                "{f}() takes {n} positional argument{s} but {} {was} given",
                args.len()
            ));
        }
        let mut slots: Vec<Option<Value>> = args.iter().cloned().map(Some).collect();
        slots.resize(n, None);
        for (key, value) in kwargs {
            let Value::Str(key) = key else {
                return Err(format!(
                    "{f}() keywords must be strings, got {}",
                    codec::type_name(key)
                ));
            };
            let Some(i) = self.params.iter().position(|p| **p == **key) else {
                return Err(format!("{f}() got an unexpected keyword argument '{key}'"));
            };
            if slots[i].is_some() {
                return Err(format!("{f}() got multiple values for argument '{key}'"));
            }
            slots[i] = Some(value.clone());
        }
        let mut missing = Vec::new();
        for (i, slot) in slots.iter_mut().enumerate() {
            if slot.is_none() {
                match &self.defaults[i] {
                    Some(d) => *slot = Some(d.clone()),
                    None => missing.push(format!("'{}'", self.params[i])),
                }
            }
        }
        match missing.len() {
            // `filter_map` collects in place (no second allocation); `flatten` does not.
            #[allow(clippy::filter_map_identity)]
            0 => Ok(slots.into_iter().filter_map(|slot| slot).collect()),
            1 => Err(format!("{f}() missing required argument {}", missing[0])),
            _ => {
                let last = missing.pop().unwrap_or_default();
                Err(format!(
                    "{f}() missing required arguments {} and {last}",
                    missing.join(", ")
                ))
            }
        }
    }

    /// Converts argument `i` to the handler's type.
    pub(crate) fn arg<T: DeserializeOwned>(
        &self,
        i: usize,
        value: Option<Value>,
    ) -> Result<T, String> {
        let name = self.params.get(i).map(String::as_str).unwrap_or("?");
        let value =
            value.ok_or_else(|| format!("{}() missing required argument '{name}'", self.fname))?;
        codec::from_value(&value).map_err(|e| format!("{}() argument '{name}': {e}", self.fname))
    }
}

/// A prepared call: arguments decoded, ready to run on any thread. Returns the pickled result.
pub(crate) type Invocation = Box<dyn FnOnce() -> Result<Vec<u8>, Error> + Send>;

/// A function usable as an RPC endpoint: implemented for closures and functions of 0 to 8
/// arguments whose types are `serde::de::DeserializeOwned + Send + 'static` and whose result is
/// `Result<T, service::Error>` with `T: serde::Serialize`.
///
/// `Args` is the tuple of argument types; it only exists to tell the implementations apart
/// and is inferred.
pub trait RpcHandler<Args>: Send + Sync + 'static {
    /// Number of arguments.
    const ARITY: usize;
    /// The success type.
    type Output: Serialize;
    /// Decodes the bound argument values into `Args`. Not meant to be called directly.
    #[doc(hidden)]
    fn decode_args(values: Vec<Value>, sig: &Signature) -> Result<Args, String>;
    /// Calls the function. Not meant to be called directly.
    #[doc(hidden)]
    fn call(&self, args: Args) -> Result<Self::Output, Error>;
}

macro_rules! rpc_handler {
    ($n:literal; $($idx:tt $a:ident),*) => {
        impl<F, R, $($a,)*> RpcHandler<($($a,)*)> for F
        where
            F: Fn($($a),*) -> Result<R, Error> + Send + Sync + 'static,
            R: Serialize,
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
            fn call(&self, args: ($($a,)*)) -> Result<R, Error> {
                (self)($(args.$idx),*)
            }
        }
    };
}

rpc_handler!(0;);
rpc_handler!(1; 0 A0);
rpc_handler!(2; 0 A0, 1 A1);
rpc_handler!(3; 0 A0, 1 A1, 2 A2);
rpc_handler!(4; 0 A0, 1 A1, 2 A2, 3 A3);
rpc_handler!(5; 0 A0, 1 A1, 2 A2, 3 A3, 4 A4);
rpc_handler!(6; 0 A0, 1 A1, 2 A2, 3 A3, 4 A4, 5 A5);
rpc_handler!(7; 0 A0, 1 A1, 2 A2, 3 A3, 4 A4, 5 A5, 6 A6);
rpc_handler!(8; 0 A0, 1 A1, 2 A2, 3 A3, 4 A4, 5 A5, 6 A6, 7 A7);

/// A handler with its argument types erased, as the service stores it.
pub(crate) trait ErasedRpc: Send + Sync {
    /// Decodes bound values into typed arguments (in `dispatch`, so ill-typed calls are
    /// answered without running anything) and returns the call to run.
    fn prepare(&self, values: Vec<Value>, sig: &Signature) -> Result<Invocation, String>;

    /// The call answering a synchronous RPC: the result pickled into its envelope.
    fn prepare_call(&self, values: Vec<Value>, sig: &Signature) -> Result<super::Call, String> {
        Ok(super::Call::rpc(self.prepare(values, sig)?))
    }
}

pub(crate) struct Typed<H, Args> {
    handler: Arc<H>,
    _args: PhantomData<fn() -> Args>,
}

impl<H, Args> Typed<H, Args> {
    pub(crate) fn new(handler: H) -> Typed<H, Args> {
        Typed {
            handler: Arc::new(handler),
            _args: PhantomData,
        }
    }
}

impl<H, Args> ErasedRpc for Typed<H, Args>
where
    H: RpcHandler<Args>,
    Args: Send + 'static,
{
    fn prepare(&self, values: Vec<Value>, sig: &Signature) -> Result<Invocation, String> {
        let args = H::decode_args(values, sig)?;
        let handler = Arc::clone(&self.handler);
        Ok(Box::new(move || {
            let result = handler.call(args)?;
            codec::encode_result(&result)
                .map_err(|e| Error::failed(format!("could not pickle the result: {e}")))
        }))
    }
}
