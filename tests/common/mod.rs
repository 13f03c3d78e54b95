//! The transport conformance suite and its helpers, shared by every transport's tests.
//!
//! The transports themselves are in [`transports`]; scenarios that need a test process of
//! their own (a global logger, thread and descriptor counts) are in [`solo`]. A transport's
//! test file reuses the whole suite in three lines:
//!
//! ```ignore
//! #[macro_use]
//! mod common;
//! struct MyTransport;
//! impl common::Transport for MyTransport { /* start a server, see the trait */ }
//! conformance_tests!(MyTransport);
//! ```
//!
//! `conformance_tests!` expands to one `#[test]` per scenario of [`suite`], each starting its
//! own server (127.0.0.1, ephemeral port) through the [`Transport`] implementation. The client
//! side is always the same: our blocking client (`tarp_blocking::Client`), raw sockets
//! ([`raw`]), and the standard-library Python client (`tests/py/python_client.py`, through
//! [`python`]).
#![allow(dead_code)]

pub mod certs;
pub mod python;
pub mod raw;
pub mod service;
pub mod serving;
pub mod solo;
pub mod suite;
pub mod transports;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tarp_core::http::Limits;
use tarp_core::service::Service;

/// How the suite wants a server configured. Every transport must honour every field.
#[derive(Debug, Clone)]
pub struct Options {
    /// HTTP limits and deadlines (the reliability scenarios shorten them).
    pub limits: Limits,
    /// Serve HTTPS with this PEM certificate chain and key.
    pub tls: Option<(PathBuf, PathBuf)>,
    /// Grace period of a graceful shutdown.
    pub shutdown_grace: Duration,
    /// The connection cap (the transport's default when `None`).
    pub max_connections: Option<usize>,
    /// Past the cap, new connections wait in the backlog (`true`) or get a fast 503.
    pub backlog: bool,
    /// Async jobs running at once (the transport's default when `None`).
    pub job_workers: Option<usize>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            limits: Limits::default(),
            tls: None,
            shutdown_grace: Duration::from_secs(10),
            max_connections: None,
            backlog: false,
            job_workers: None,
        }
    }
}

/// What a graceful shutdown left behind, as both transports report it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Report {
    /// Connections still busy at the end of the grace period, closed by force.
    pub connections_cut: usize,
    /// Connections whose handler could not be stopped (left running).
    pub connections_stuck: usize,
    /// Async jobs that had not started, settled as failed.
    pub jobs_abandoned: usize,
    /// Async jobs still running at the deadline.
    pub jobs_running: usize,
}

/// A server started by a [`Transport`]. Dropping it stops the server.
pub trait RunningServer: Send {
    /// The address it listens on (127.0.0.1).
    fn addr(&self) -> SocketAddr;
    /// Its base URL (`http://127.0.0.1:port` or `https://127.0.0.1:port`).
    fn url(&self) -> String;
    /// The service it serves.
    fn service(&self) -> Arc<Service>;
    /// Connections it holds now (for leak checks: must return to its earlier value once the
    /// clients are gone).
    fn connections(&self) -> usize;
    /// Connections accepted since it started.
    fn accepted(&self) -> u64;
    /// Connections refused past the cap since it started.
    fn refused(&self) -> u64;
    /// Async jobs running on its worker pool now.
    fn jobs_running(&self) -> usize;
    /// Async jobs waiting for a worker now.
    fn jobs_queued(&self) -> usize;
    /// Async jobs running or queued on its worker pool now.
    fn jobs_active(&self) -> usize {
        self.jobs_running() + self.jobs_queued()
    }
    /// Graceful shutdown within `grace` (the configured grace period when `None`), blocking
    /// until done; what it left behind.
    fn shutdown_report(self: Box<Self>, grace: Option<Duration>) -> Report;
    /// Graceful shutdown (stop accepting, finish requests in flight, close), blocking until
    /// done; no handler may be left running.
    fn shutdown(self: Box<Self>) {
        let report = self.shutdown_report(None);
        assert_eq!(report.connections_stuck, 0, "{report:?}");
    }
}

/// A transport under test: how to start a server on it.
pub trait Transport {
    /// Starts `service` on 127.0.0.1 with an ephemeral port and these options.
    fn start(service: Arc<Service>, options: &Options) -> Box<dyn RunningServer>;
}

/// Polls `f` until it is true or `within` passes; returns whether it became true.
pub fn eventually(within: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = std::time::Instant::now() + within;
    loop {
        if f() {
            return true;
        }
        if std::time::Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// One `#[test]` per scenario of [`suite`] and of [`serving`], for the transport `$t` (see the
/// module docs).
#[macro_export]
macro_rules! conformance_tests {
    ($t:ty) => {
        $crate::conformance_tests!(@tests $t;
            discovery_lists_every_endpoint,
            sync_rpc_with_positional_and_keyword_arguments,
            rpc_argument_errors_are_400_naming_the_argument,
            handler_errors_map_to_typed_client_errors,
            panicking_handler_is_500_and_the_server_keeps_serving,
            rpc_with_a_query_string_is_400,
            hostile_pickles_are_400_and_never_executed,
            async_job_wait_status_and_probe,
            async_job_wait_cycle,
            async_job_failures_are_reported,
            async_probe_and_get_refuse_missing_and_unknown_ids,
            web_get_and_post_with_query_and_body,
            web_retryable_errors,
            envelopes_are_exactly_json_with_content_length,
            keep_alive_pipelining_and_http10,
            slowloris_is_cut_after_the_head_deadline,
            idle_keep_alive_connection_is_closed,
            vanishing_clients_cost_only_their_connection,
            client_that_stops_reading_is_cut_after_the_write_deadline,
            slow_handler_does_not_block_other_clients,
            graceful_shutdown_finishes_the_request_in_flight,
            tls_end_to_end_with_our_client,
            python_client_speaks_the_whole_protocol,
            python_client_over_tls,
        );
        $crate::conformance_tests!(@serving $t;
            past_the_connection_cap_new_clients_get_a_fast_503,
            backlog_policy_holds_new_clients_until_a_slot_frees,
            async_jobs_run_on_a_bounded_pool_and_shutdown_settles_the_queue,
            shutdown_after_the_grace_period_cuts_what_remains,
            dropping_the_server_stops_it,
            handlers_that_never_return_hold_only_their_own_connections,
            tls_with_a_self_signed_certificate_as_its_own_anchor,
            a_plain_client_or_a_stalled_handshake_on_a_tls_port_costs_only_its_connection,
        );
    };
    (@tests $t:ty; $($name:ident),+ $(,)?) => {
        $(
            #[test]
            fn $name() {
                $crate::common::suite::$name::<$t>();
            }
        )+
    };
    (@serving $t:ty; $($name:ident),+ $(,)?) => {
        $(
            #[test]
            fn $name() {
                $crate::common::serving::$name::<$t>();
            }
        )+
    };
}
