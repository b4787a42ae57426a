//! Bytes as a capture file: read every event, decode and reassemble every
//! frame. The body and its checks: `tlsscope_capture::fuzz::capture_read`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tlsscope_capture::fuzz::capture_read(data));
