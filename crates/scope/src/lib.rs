//! tlsscope-scope: the sans-IO analysis core of tlsscope.
//!
//! It is fed captured frames and emits values and events; it never opens a
//! file or a socket. Data flows one way: [`frame`] (link/IP/TCP decode) →
//! [`flow`] (TCP reassembly per direction, with a map from stream offsets
//! back to frames) → [`session`] (per connection: the [`tls`] record layer,
//! handshake and decryption with the key log's secrets, then [`http`] on
//! what was decrypted or sent in the clear) → sessions and plain flows
//! handed to an output. [`verify`] checks a finished session's certificate,
//! signatures and Finished messages, [`explain`] puts them in words (English
//! and Japanese). Everything held between frames is counted against one
//! memory [`budget`].
//!
//! Nothing in this crate panics on untrusted input: parser code denies
//! `unwrap`, `expect`, `panic!` and slice indexing (see the lints below);
//! malformed input becomes a [`diag::Diagnostic`] and the analysis goes on.

#![forbid(unsafe_code)]
#![cfg_attr(
    not(test),
    deny(clippy::indexing_slicing, clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

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
#[doc(hidden)]
pub mod fuzz;
pub mod span;
pub mod time;
pub mod tls;
pub mod tree;
pub mod verify;
