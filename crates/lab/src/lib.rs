//! The tlsscope lab: the pieces that make real TLS traffic to look at.
//!
//! Certificates ([`cert`]), the demo server (`server`), the recording client
//! (`client`) and the key log writer (`keylog`). This is the only crate of the
//! workspace that does network I/O with tokio, hyper and rustls; the analysis
//! core (`tlsscope-scope`) never depends on it.

#![forbid(unsafe_code)]

pub mod cert;
mod error;
pub mod files;
pub mod record;

pub use error::{Error, Result};
