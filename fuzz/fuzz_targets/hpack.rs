//! A table size byte, then HPACK header blocks (u8 length each). The body
//! and its checks: `tlsscope_scope::fuzz::hpack`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tlsscope_scope::fuzz::hpack(data));
