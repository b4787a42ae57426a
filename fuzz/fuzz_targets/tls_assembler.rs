//! Record bodies (a length byte each, 255 for a gap) through the
//! handshake message assembler, checked against a byte-by-byte model. The
//! body and its checks: `tlsscope_scope::fuzz::tls_assembler`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tlsscope_scope::fuzz::tls_assembler(data));
