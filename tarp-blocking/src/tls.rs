//! TLS plumbing: the rustls configurations of [`tarp_core::tls`] (PEM files, `ring` provider),
//! used by this crate's server (rustls over `std::net`) and client (ureq).

pub use tarp_core::tls::*;
