//! One direction of a TLS stream for the record deframer: a keep-mask
//! byte (which content types' bodies to keep), then a script of chunks and
//! gaps (control byte, bytes). The body, the input format and the checks:
//! `tlsscope_scope::fuzz::tls_record`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tlsscope_scope::fuzz::tls_record(data));
