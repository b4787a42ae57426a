//! One handshake message (header included) after a selector byte that
//! picks the context (version, sender, cipher suite). The body and its
//! checks: `tlsscope_scope::fuzz::tls_handshake`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tlsscope_scope::fuzz::tls_handshake(data));
