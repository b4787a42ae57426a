//! An HTTP script of HTTP/2 frames (the connection preface is added). The
//! body and its checks: `tlsscope_scope::fuzz::http2`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tlsscope_scope::fuzz::http2(data));
