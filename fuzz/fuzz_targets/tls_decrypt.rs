//! A byte choosing a cipher suite and version, then records (control
//! byte, u16 length, bytes) sealed with known keys or sent as they are,
//! through the record decryptor. The body, the input format and the checks:
//! `tlsscope_scope::fuzz::tls_decrypt`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tlsscope_scope::fuzz::tls_decrypt(data));
