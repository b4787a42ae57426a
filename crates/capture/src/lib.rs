//! Capture files and live capture for tlsscope: reading pcap and pcapng
//! (Decryption Secrets Blocks included), writing pcapng, and capturing live
//! traffic through Linux AF_PACKET.

#![forbid(unsafe_code)]

pub mod pcapng;
pub mod read;
