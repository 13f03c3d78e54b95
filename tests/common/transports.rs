//! The transports under test, as [`Transport`] implementations every test binary can use:
//! [`Blocking`] (`tarp_blocking::Server`) and [`Smol`] (`tarp_smol::Server` on two executor
//! threads), both on 127.0.0.1 with an ephemeral port.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tarp_core::service::Service;

use super::{Options, Report, RunningServer, Transport};

/// The blocking transport: `tarp_blocking::Server`.
pub struct Blocking;

/// The smol transport: `tarp_smol::Server` on two executor threads.
pub struct Smol;

/// One of the transports, chosen at run time (for tests that loop over both).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// [`Blocking`].
    Blocking,
    /// [`Smol`].
    Smol,
}

impl Kind {
    /// Starts `service` on this transport (see [`Transport::start`]).
    pub fn start(self, service: Arc<Service>, options: &Options) -> Box<dyn RunningServer> {
        match self {
            Kind::Blocking => Blocking::start(service, options),
            Kind::Smol => Smol::start(service, options),
        }
    }
}

/// Both crates' servers have the same shape; one implementation each, by macro, so the two
/// cannot differ.
macro_rules! running {
    ($name:ident, $krate:ident) => {
        struct $name($krate::ServerHandle);

        impl RunningServer for $name {
            fn addr(&self) -> SocketAddr {
                self.0.local_addr()
            }
            fn url(&self) -> String {
                self.0.url()
            }
            fn service(&self) -> Arc<Service> {
                Arc::clone(self.0.service())
            }
            fn connections(&self) -> usize {
                self.0.stats().connections
            }
            fn accepted(&self) -> u64 {
                self.0.stats().accepted
            }
            fn refused(&self) -> u64 {
                self.0.stats().refused
            }
            fn jobs_running(&self) -> usize {
                self.0.stats().jobs_running
            }
            fn jobs_queued(&self) -> usize {
                self.0.stats().jobs_queued
            }
            fn shutdown_report(self: Box<Self>, grace: Option<Duration>) -> Report {
                let r = match grace {
                    Some(grace) => self.0.shutdown_within(grace),
                    None => self.0.shutdown(),
                };
                Report {
                    connections_cut: r.connections_cut,
                    connections_stuck: r.connections_stuck,
                    jobs_abandoned: r.jobs_abandoned,
                    jobs_running: r.jobs_running,
                }
            }
        }

        impl $name {
            fn builder(service: Arc<Service>, options: &Options) -> $krate::ServerBuilder {
                let mut builder = $krate::Server::builder(service)
                    .address("127.0.0.1:0")
                    .limits(options.limits.clone())
                    .shutdown_grace(options.shutdown_grace);
                if let Some((cert, key)) = &options.tls {
                    builder = builder.tls(cert, key);
                }
                if let Some(n) = options.max_connections {
                    builder = builder.max_connections(n);
                }
                if options.backlog {
                    builder = builder.over_capacity($krate::OverCapacity::Backlog);
                }
                if let Some(n) = options.job_workers {
                    builder = builder.job_workers(n);
                }
                builder
            }
        }
    };
}

running!(RunningBlocking, tarp_blocking);
running!(RunningSmol, tarp_smol);

impl Transport for Blocking {
    fn start(service: Arc<Service>, options: &Options) -> Box<dyn RunningServer> {
        let builder = RunningBlocking::builder(service, options);
        Box::new(RunningBlocking(builder.build().unwrap().spawn().unwrap()))
    }
}

impl Transport for Smol {
    fn start(service: Arc<Service>, options: &Options) -> Box<dyn RunningServer> {
        let builder = RunningSmol::builder(service, options).threads(2);
        Box::new(RunningSmol(builder.build().unwrap().spawn().unwrap()))
    }
}
