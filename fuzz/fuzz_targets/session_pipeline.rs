//! One TCP connection through the whole analysis: an options byte, a key
//! log (u16 length, text), then the connection as a script of stream
//! pieces and gaps (see `tlsscope_scope::fuzz::http_script`). The body and
//! its checks: `tlsscope_scope::fuzz::session_pipeline`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tlsscope_scope::fuzz::session_pipeline(data));
