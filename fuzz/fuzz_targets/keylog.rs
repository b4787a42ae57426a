//! A chunk-size byte, then a key log (NSS/Wireshark format), parsed whole
//! and in chunks. The body and its checks: `tlsscope_scope::fuzz::keylog`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tlsscope_scope::fuzz::keylog(data));
