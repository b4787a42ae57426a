//! The tlsscope lab: the pieces that make real TLS traffic to look at.
//!
//! Certificates ([`cert`]), the demo server (`server`), the recording client
//! (`client`) and the key log writer (`keylog`). This is the only crate of the
//! workspace that does network I/O with tokio, hyper and rustls; the analysis
//! core (`tlsscope-scope`) never depends on it.

#![forbid(unsafe_code)]

pub mod cert;
pub mod cert_show;
pub mod client;
mod error;
pub mod files;
pub mod keylog;
pub mod record;
pub mod server;
pub mod tls;

pub use error::{Error, Result};
