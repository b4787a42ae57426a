//! An SSLv2-compatible ClientHello body (after the 2-byte record
//! header). The body and its checks: `tlsscope_scope::fuzz::tls_sslv2`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tlsscope_scope::fuzz::tls_sslv2(data));
