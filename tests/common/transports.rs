//! The transports under test, as [`Transport`] implementations every test binary can use:
//! [`Blocking`] (`tarp_blocking::Server`) and [`Smol`] (`tarp_smol::Server` on two executor
//! threads), both on 127.0.0.1 with an ephemeral port.

use std::net::SocketAddr;
use std::sync::Arc;

use tarp_core::service::Service;

use super::{Options, RunningServer, Transport};

/// The blocking transport: `tarp_blocking::Server`.
pub struct Blocking;

/// The smol transport: `tarp_smol::Server` on two executor threads.
pub struct Smol;

struct RunningBlocking(tarp_blocking::ServerHandle);

impl RunningServer for RunningBlocking {
    fn addr(&self) -> SocketAddr {
        self.0.local_addr()
    }
    fn url(&self) -> String {
        self.0.url()
    }
    fn connections(&self) -> usize {
        self.0.stats().connections
    }
    fn accepted(&self) -> u64 {
        self.0.stats().accepted
    }
    fn jobs_active(&self) -> usize {
        let s = self.0.stats();
        s.jobs_running + s.jobs_queued
    }
    fn shutdown(self: Box<Self>) {
        let report = self.0.shutdown();
        assert_eq!(report.connections_stuck, 0, "{report:?}");
    }
}

impl Transport for Blocking {
    fn start(service: Arc<Service>, options: &Options) -> Box<dyn RunningServer> {
        let mut builder = tarp_blocking::Server::builder(service)
            .address("127.0.0.1:0")
            .limits(options.limits.clone())
            .shutdown_grace(options.shutdown_grace);
        if let Some((cert, key)) = &options.tls {
            builder = builder.tls(cert, key);
        }
        Box::new(RunningBlocking(builder.build().unwrap().spawn().unwrap()))
    }
}

struct RunningSmol(tarp_smol::ServerHandle);

impl RunningServer for RunningSmol {
    fn addr(&self) -> SocketAddr {
        self.0.local_addr()
    }
    fn url(&self) -> String {
        self.0.url()
    }
    fn connections(&self) -> usize {
        self.0.stats().connections
    }
    fn accepted(&self) -> u64 {
        self.0.stats().accepted
    }
    fn jobs_active(&self) -> usize {
        let s = self.0.stats();
        s.jobs_running + s.jobs_queued
    }
    fn shutdown(self: Box<Self>) {
        let report = self.0.shutdown();
        assert_eq!(report.connections_stuck, 0, "{report:?}");
    }
}

impl Transport for Smol {
    fn start(service: Arc<Service>, options: &Options) -> Box<dyn RunningServer> {
        let mut builder = tarp_smol::Server::builder(service)
            .address("127.0.0.1:0")
            .threads(2)
            .limits(options.limits.clone())
            .shutdown_grace(options.shutdown_grace);
        if let Some((cert, key)) = &options.tls {
            builder = builder.tls(cert, key);
        }
        Box::new(RunningSmol(builder.build().unwrap().spawn().unwrap()))
    }
}
