//! Bytes as a DER certificate: summary, field tree and name. The body and
//! its checks: `tlsscope_scope::fuzz::x509`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tlsscope_scope::fuzz::x509(data));
