//! An extension block (16-bit length, extensions), parsed as it would be
//! in each kind of message that carries one. The body and its checks:
//! `tlsscope_scope::fuzz::tls_extensions`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tlsscope_scope::fuzz::tls_extensions(data));
