//! # tarp-blocking: TARP over plain threads
//!
//! A server and a client for programs that block, wire-compatible with the Python TARP library
//! (see `PROTOCOL.md`), over HTTP or HTTPS (rustls with the `ring` provider):
//!
//! - [`Server`]: runs a [`tarp_core::service::Service`] on `std::net` sockets, one thread per
//!   connection (bounded), async jobs on a bounded worker pool, every deadline taken from the
//!   core's HTTP machine. See the [`server`] module for threads, limits, logging and shutdown.
//! - [`Client`]: calls a TARP server (ours or the Python one) over `ureq`: discovery, sync and
//!   async RPC with typed arguments and results, web GET/POST, typed errors.
//!
//! ```no_run
//! use std::sync::Arc;
//! use tarp_blocking::{Client, Server};
//! use tarp_core::service::Service;
//!
//! let mut service = Service::with_config(tarp_blocking::service_config());
//! service.rpc("my_function", |x: i64, y: i64| Ok(x + y));
//! let server = Server::bind(Arc::new(service), "127.0.0.1:0")?.spawn()?;
//!
//! let client = Client::connect(&server.url())?;
//! let sum: i64 = client.call("my_function", (1, 2))?;
//! assert_eq!(sum, 3);
//! server.shutdown();
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod client;
mod coalesce;
mod pool;
pub mod server;
mod stream;
pub mod tls;

pub use client::{
    Args, Client, ClientBuilder, ClientError, Endpoint, EndpointKind, IntoArgs, JobHandle,
    JobStatus, Kwargs, Probe, RpcCall, WebBody, WebCall, WebData,
};
pub use server::{
    OverCapacity, Server, ServerBuilder, ServerError, ServerHandle, ServerStats, ShutdownReport,
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
