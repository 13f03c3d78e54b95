//! TLS plumbing: the rustls configurations of [`tarp_core::tls`] (PEM files, `ring` provider),
//! used by this crate's server and client through `futures-rustls`.

pub use tarp_core::tls::*;
