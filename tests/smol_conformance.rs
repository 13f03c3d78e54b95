//! The transport conformance suite (`tests/common/`) run against the smol server.

#[macro_use]
mod common;

use std::net::SocketAddr;
use std::sync::Arc;

use common::{Options, RunningServer, Transport};
use tarp_core::service::Service;
use tarp_smol::{Server, ServerHandle};

/// The smol transport: `tarp_smol::Server` on 127.0.0.1, on two executor threads.
pub struct Smol;

struct Running(ServerHandle);

impl RunningServer for Running {
    fn addr(&self) -> SocketAddr {
        self.0.local_addr()
    }
    fn url(&self) -> String {
        self.0.url()
    }
    fn connections(&self) -> usize {
        self.0.stats().connections
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
        let mut builder = Server::builder(service)
            .address("127.0.0.1:0")
            .threads(2)
            .limits(options.limits.clone())
            .shutdown_grace(options.shutdown_grace);
        if let Some((cert, key)) = &options.tls {
            builder = builder.tls(cert, key);
        }
        Box::new(Running(builder.build().unwrap().spawn().unwrap()))
    }
}

conformance_tests!(Smol);
