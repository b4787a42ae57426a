//! A script of synthetic TCP segments for the reassembler, whose sink
//! checks the stream contract. The body, the input format and the checks:
//! `tlsscope_scope::fuzz::tcp_reassembly`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tlsscope_scope::fuzz::tcp_reassembly(data));
