//! # tarp-smol: TARP on smol
//!
//! The async transport: a server and a client for `smol` (or any executor) programs, driving
//! the sans-IO core of [`tarp_core`] over `async-io` sockets, with TLS by `futures-rustls`
//! (rustls, `ring` provider). Both interoperate with the Python TARP library (see
//! `PROTOCOL.md`) and behave as `tarp-blocking`'s server and client do.
//!
//! - [`Server`]: runs a [`tarp_core::service::Service`], one small task per connection,
//!   blocking handlers off the executor, `async` handlers on it. See the [`server`] module.
//! - [`Client`]: calls a TARP server (ours or the Python one) on the core's client machine
//!   over `async-net`: discovery, sync and async RPC with typed arguments and results, web
//!   GET/POST, typed errors, TLS with a custom CA, timeouts. See the [`client`] module.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod client;
mod conn;
pub mod server;
mod stream;
pub mod tls;

pub use client::{
    Args, Client, ClientBuilder, ClientError, Endpoint, EndpointKind, IntoArgs, JobHandle,
    JobStatus, Kwargs, Probe, RpcCall, WebBody, WebCall, WebData,
};
pub use server::{
    OverCapacity, Server, ServerBuilder, ServerError, ServerHandle, ServerStats, ShutdownReport,
    ShutdownTrigger,
};

use std::hash::{BuildHasher, Hasher};

/// 32 bytes from the operating system's random source (`/dev/urandom`), or, where that file
/// does not exist, from the randomly keyed hashers of the standard library.
pub fn random_seed() -> [u8; 32] {
    let mut seed = [0u8; 32];
    if let Ok(mut f) = std::fs::File::open("/dev/urandom") {
        if std::io::Read::read_exact(&mut f, &mut seed).is_ok() {
            return seed;
        }
    }
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    for (i, chunk) in seed.chunks_exact_mut(8).enumerate() {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_usize(i);
        h.write_u128(nanos);
        chunk.copy_from_slice(&h.finish().to_le_bytes());
    }
    seed
}

/// The default service configuration with a job-ID key from [`random_seed`]: what a server
/// should build its [`Service`](tarp_core::service::Service) with, since a job ID is all a
/// client needs to fetch a result.
pub fn service_config() -> tarp_core::service::ServiceConfig {
    tarp_core::service::ServiceConfig {
        seed: random_seed(),
        ..Default::default()
    }
}
