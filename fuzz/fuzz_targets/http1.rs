//! An HTTP script (stream pieces and gaps, see
//! tlsscope_scope::fuzz::http_script) through a connection that recognises
//! the protocol itself. The body and its checks:
//! `tlsscope_scope::fuzz::http1`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tlsscope_scope::fuzz::http1(data));
