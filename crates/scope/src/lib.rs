//! tlsscope-scope: the sans-IO analysis core of tlsscope.
//!
//! It is fed captured frames and emits values and events; it never opens a
//! file or a socket. The way in is a [`pipeline::Pipeline`]: frames and
//! secrets go in as [`pipeline::Input`]s, sessions and other connections
//! come out through an output. Data flows one way: [`frame`] (link/IP/TCP decode) →
//! [`flow`] (TCP reassembly per direction, with a map from stream offsets
//! back to frames) → [`session`] (per connection: the [`tls`] record layer,
//! handshake and decryption with the key log's secrets, then [`http`] on
//! what was decrypted or sent in the clear) → sessions and plain flows
//! handed to an output. [`verify`] checks a finished session's certificate,
//! signatures and Finished messages, [`explain`] puts them in words (English
//! and Japanese). Everything held between frames is counted against one
//! memory [`budget`].
//!
//! Nothing in this crate panics on untrusted input: its code denies
//! `unwrap`, `expect`, `panic!` and slice indexing, and arithmetic that
//! could overflow (see the lints below); malformed input becomes a
//! [`diag::Diagnostic`] and the analysis goes on.
//!
//! # Example
//!
//! A capture read with the `tlsscope-capture` crate, decrypted with its key
//! log: each session's server name, cipher suite and HTTP requests.
//!
//! ```
//! use tlsscope_capture::read::CaptureReader;
//! use tlsscope_scope::pipeline::{Collect, Input, Pipeline};
//! use tlsscope_scope::session::Options;
//! use tlsscope_scope::tls::registry::cipher_suite;
//!
//! let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../testdata/captures/tls");
//! let opts = Options { decrypt: true, http: true, ..Options::default() };
//! let mut analysis = Pipeline::analysis(opts, Collect::default());
//! let keys = std::fs::read(format!("{dir}/lab.keys"))?;
//! analysis.push(Input::KeyLog { data: &keys, name: "lab.keys" });
//! let mut capture = CaptureReader::open(format!("{dir}/lab.pcap").as_ref())?;
//! while let Some(event) = capture.next() {
//!     event.input().map(|input| analysis.push(input));
//! }
//! let mut lines = Vec::new();
//! for s in analysis.finish().out.sessions {
//!     let sni = s.client_hello.as_ref().and_then(|ch| ch.hello.server_name.clone());
//!     let suite = s.server_hello.as_ref().and_then(|sh| cipher_suite(sh.cipher_suite));
//!     for x in &s.http.exchanges {
//!         let (method, path) = (x.method.as_deref(), x.path.as_deref());
//!         let line = format!("{sni:?} {} {method:?} {path:?}", suite.map_or("?", |c| c.name));
//!         println!("{line}");
//!         lines.push(line);
//!     }
//! }
//! assert_eq!(lines, [
//!     r#"Some("localhost") TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256 Some("GET") Some("/")"#,
//!     r#"Some("localhost") TLS_AES_128_GCM_SHA256 Some("GET") Some("/")"#,
//! ]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![forbid(unsafe_code)]
#![cfg_attr(
    not(test),
    deny(clippy::indexing_slicing, clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]
// Lengths and offsets read from the wire are added with checked (or
// saturating) arithmetic, never with a bare `+` that could wrap.
#![cfg_attr(not(test), warn(clippy::arithmetic_side_effects))]

pub mod budget;
pub mod diag;
pub mod explain;
pub mod flow;
pub mod frame;
pub mod hostname;
pub mod http;
pub mod pipeline;
pub mod session;
// Fuzz bodies (see docs/fuzzing.md): public for fuzz/ and for tests, not API.
// Their arithmetic is on the fuzzer's own bookkeeping, where an overflow
// is a finding.
#[doc(hidden)]
#[allow(clippy::arithmetic_side_effects)]
pub mod fuzz;
pub mod span;
pub mod time;
pub mod tls;
pub mod tree;
pub mod verify;
