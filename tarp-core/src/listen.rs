//! What both server adapters decide the same way before and around their sockets: which
//! address to listen on, what to do past the connection cap, and the exact bytes of the
//! over-capacity answer. Pure functions and data: the sockets belong to the adapters.

use std::path::PathBuf;
#[cfg(feature = "tls")]
use std::sync::Arc;
use std::time::Duration;

use crate::http::Limits;
use crate::service::ErrorKind;
use crate::wire::envelope;

/// Default number of async jobs running at once (the Python library's executor has 10
/// workers).
pub const DEFAULT_JOB_WORKERS: usize = 10;
/// Default grace period of a graceful shutdown.
pub const DEFAULT_SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// What both server adapters are configured with, with the same meanings and defaults; their
/// builders set it through the same methods ([`server_settings_methods!`](crate::server_settings_methods)).
/// Settings of one adapter alone (the connection cap's default, smol's executor threads)
/// stay in its builder.
#[derive(Debug, Clone)]
pub struct ServerSettings {
    /// `"host:port"` given whole; wins over `bind_to` and `port` (see [`listen_address`]).
    pub address: Option<String>,
    /// The interface to bind (`None` or empty: all IPv4 interfaces).
    pub bind_to: Option<String>,
    /// The port (default 80, or 443 with TLS).
    pub port: Option<u16>,
    /// PEM certificate chain and private key, for HTTPS.
    pub tls_files: Option<(PathBuf, PathBuf)>,
    /// A ready rustls configuration, for HTTPS; wins over `tls_files`.
    #[cfg(feature = "tls")]
    pub tls_config: Option<Arc<rustls::ServerConfig>>,
    /// Every HTTP limit and deadline.
    pub limits: Limits,
    /// What happens to connections past the cap.
    pub over_capacity: OverCapacity,
    /// Async jobs running at once (at least 1).
    pub job_workers: usize,
    /// How long a graceful shutdown waits for requests in flight.
    pub shutdown_grace: Duration,
}

impl Default for ServerSettings {
    fn default() -> ServerSettings {
        ServerSettings {
            address: None,
            bind_to: None,
            port: None,
            tls_files: None,
            #[cfg(feature = "tls")]
            tls_config: None,
            limits: Limits::default(),
            over_capacity: OverCapacity::default(),
            job_workers: DEFAULT_JOB_WORKERS,
            shutdown_grace: DEFAULT_SHUTDOWN_GRACE,
        }
    }
}

impl ServerSettings {
    /// The TLS configuration to serve with, if any: the ready one, else one loaded from the
    /// PEM files (reading them is this crate's only file I/O).
    #[cfg(feature = "tls")]
    pub fn tls(&self) -> Result<Option<Arc<rustls::ServerConfig>>, crate::tls::TlsError> {
        match (&self.tls_config, &self.tls_files) {
            (Some(config), _) => Ok(Some(Arc::clone(config))),
            (None, Some((cert, key))) => crate::tls::server_config(cert, key).map(Some),
            (None, None) => Ok(None),
        }
    }

    /// The `host:port` to bind, HTTPS or not (see [`listen_address`]).
    pub fn listen_address(&self, tls: bool) -> String {
        listen_address(
            self.address.as_deref(),
            self.bind_to.as_deref(),
            self.port,
            tls,
        )
    }
}

/// The builder methods of the [`ServerSettings`] both adapters share, for a builder whose
/// settings are in the field named by the argument. Expanded in each adapter's
/// `ServerBuilder`, so the two cannot drift apart.
#[doc(hidden)]
#[macro_export]
macro_rules! server_settings_methods {
    ($settings:ident) => {
        /// The port to listen on. Default, as the Python `runServer`: 80, or 443 with TLS.
        /// Port 0 picks a free port (see [`Server::local_addr`]).
        pub fn port(mut self, port: u16) -> Self {
            self.$settings.port = Some(port);
            self
        }

        /// The interface address to bind, as the Python `runServer(bindTo=)`: an IP address,
        /// or `""` for all interfaces (the default).
        pub fn bind_to(mut self, address: &str) -> Self {
            self.$settings.bind_to = Some(address.to_owned());
            self
        }

        /// Address and port in one (`"127.0.0.1:8080"`, `"[::1]:0"`, `"localhost:8080"`);
        /// overrides [`port`](Self::port) and [`bind_to`](Self::bind_to).
        pub fn address(mut self, address: &str) -> Self {
            self.$settings.address = Some(address.to_owned());
            self
        }

        /// Serves HTTPS with this PEM certificate chain and PEM private key (they may be the
        /// same file), as the Python `runServer(secure=True, certfile=, keyfile=)`.
        pub fn tls(
            mut self,
            cert_file: impl Into<std::path::PathBuf>,
            key_file: impl Into<std::path::PathBuf>,
        ) -> Self {
            self.$settings.tls_files = Some((cert_file.into(), key_file.into()));
            self
        }

        /// Serves HTTPS with a ready rustls configuration.
        pub fn tls_config(mut self, config: std::sync::Arc<rustls::ServerConfig>) -> Self {
            self.$settings.tls_config = Some(config);
            self
        }

        /// Every HTTP limit and deadline (head size and time, body size and rate, idle
        /// keep-alive, write stall). Default [`Limits::default`]. The TLS handshake counts
        /// against `header_timeout`.
        pub fn limits(mut self, limits: $crate::http::Limits) -> Self {
            self.$settings.limits = limits;
            self
        }

        /// What happens to connections past the cap. Default [`OverCapacity::Refuse`].
        pub fn over_capacity(mut self, policy: $crate::listen::OverCapacity) -> Self {
            self.$settings.over_capacity = policy;
            self
        }

        /// The most async jobs running at once. Default 10; at least 1.
        pub fn job_workers(mut self, n: usize) -> Self {
            self.$settings.job_workers = n.max(1);
            self
        }

        /// How long a graceful shutdown waits for requests in flight and running jobs.
        /// Default 10 s.
        pub fn shutdown_grace(mut self, grace: std::time::Duration) -> Self {
            self.$settings.shutdown_grace = grace;
            self
        }
    };
}

/// What a server does with connections past its connection cap.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OverCapacity {
    /// Accept them and answer a fast `503` (`ServiceUnavailable`, `Retry-After: 1`), then
    /// close. Clients learn at once that the server is busy.
    #[default]
    Refuse,
    /// Stop accepting until a connection ends: new clients wait in the kernel's listen
    /// backlog (and time out there if it lasts).
    Backlog,
}

/// The `host:port` a server binds, chosen as the Python `runServer(port=, bindTo=)` does:
/// `address` (`"127.0.0.1:8080"`, `"[::1]:0"`, `"localhost:8080"`) wins when given;
/// otherwise `bind_to` (an IP address or host name; empty or absent for all IPv4
/// interfaces, a bare IPv6 address gets its brackets) with `port` (default 80, or 443 with
/// TLS).
pub fn listen_address(
    address: Option<&str>,
    bind_to: Option<&str>,
    port: Option<u16>,
    tls: bool,
) -> String {
    if let Some(address) = address {
        return address.to_owned();
    }
    let port = port.unwrap_or(if tls { 443 } else { 80 });
    match bind_to.map(str::trim) {
        None | Some("") => format!("0.0.0.0:{port}"),
        Some(ip) if ip.contains(':') && !ip.starts_with('[') => format!("[{ip}]:{port}"),
        Some(host) => format!("{host}:{port}"),
    }
}

/// The whole answer to a connection refused past the cap: `503`, a `ServiceUnavailable`
/// envelope, `Retry-After: 1`, `Connection: close`.
pub fn busy_response() -> Vec<u8> {
    let body = envelope::error_body(
        ErrorKind::ServiceUnavailable,
        "server busy: too many connections, retry later",
    );
    let mut out = format!(
        "HTTP/1.1 503 Service Unavailable\r\nContent-Type: {}\r\nRetry-After: 1\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n",
        envelope::JSON_MIME,
        body.len()
    )
    .into_bytes();
    out.extend_from_slice(&body);
    out
}

/// Whether an `accept()` error concerns only the one connection being accepted (the peer
/// reset or aborted it while it waited in the backlog, a signal interrupted the call, its
/// network went away), so the server should accept the next one at once. Any other error
/// (out of file descriptors or memory) concerns the server and calls for a back-off. On
/// Linux, accept(2) passes the new connection's pending network errors through and asks
/// for them to be treated like `EAGAIN`: `ENETDOWN`, `EPROTO`, `ENOPROTOOPT`, `EHOSTDOWN`,
/// `ENONET`, `EHOSTUNREACH`, `EOPNOTSUPP`, `ENETUNREACH`.
pub fn accept_error_is_per_connection(error: &std::io::Error) -> bool {
    use std::io::ErrorKind as K;
    if matches!(
        error.kind(),
        K::ConnectionAborted | K::ConnectionReset | K::ConnectionRefused | K::Interrupted
    ) {
        return true;
    }
    #[cfg(target_os = "linux")]
    if let Some(errno) = error.raw_os_error() {
        return matches!(errno, 100 | 71 | 92 | 112 | 64 | 113 | 95 | 101);
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_connection_errors_of_accept_are_retried_at_once() {
        use std::io::{Error, ErrorKind as K};
        for kind in [K::ConnectionAborted, K::ConnectionReset, K::Interrupted] {
            assert!(accept_error_is_per_connection(&kind.into()), "{kind:?}");
        }
        // Linux's numbers: EMFILE, ENFILE, ENOMEM and ENOBUFS, the server's own resources,
        // so back off.
        #[cfg(target_os = "linux")]
        for errno in [24, 23, 12, 105] {
            let e = Error::from_raw_os_error(errno);
            assert!(!accept_error_is_per_connection(&e), "errno {errno}");
        }
        // ECONNABORTED, ENETDOWN and EHOSTUNREACH as the kernel reports them.
        #[cfg(target_os = "linux")]
        for errno in [103, 100, 113] {
            let e = Error::from_raw_os_error(errno);
            assert!(accept_error_is_per_connection(&e), "errno {errno}");
        }
    }

    #[test]
    fn addresses_are_chosen_as_run_server_does() {
        assert_eq!(listen_address(None, None, None, false), "0.0.0.0:80");
        assert_eq!(listen_address(None, Some(""), None, true), "0.0.0.0:443");
        assert_eq!(
            listen_address(None, Some(" 127.0.0.1 "), Some(8080), false),
            "127.0.0.1:8080"
        );
        assert_eq!(listen_address(None, Some("::1"), Some(0), false), "[::1]:0");
        assert_eq!(
            listen_address(None, Some("[::1]"), Some(9), false),
            "[::1]:9"
        );
        assert_eq!(
            listen_address(None, Some("localhost"), Some(9), false),
            "localhost:9"
        );
        assert_eq!(
            listen_address(Some("127.0.0.1:1"), Some("::1"), Some(9), true),
            "127.0.0.1:1"
        );
    }

    #[test]
    fn the_busy_answer_is_a_complete_503_envelope() {
        let bytes = busy_response();
        let text = String::from_utf8(bytes).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        assert!(
            head.starts_with("HTTP/1.1 503 Service Unavailable\r\n"),
            "{head}"
        );
        assert!(head.contains("\r\nRetry-After: 1"), "{head}");
        assert!(head.contains("\r\nConnection: close"), "{head}");
        assert!(
            head.contains(&format!("\r\nContent-Length: {}", body.len())),
            "{head}"
        );
        let json: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(json["type"], "ServiceUnavailable");
    }
}
