//! A link-type selector byte, then one frame to decode down to TCP. The
//! body and its checks: `tlsscope_scope::fuzz::frame_decode`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tlsscope_scope::fuzz::frame_decode(data));
