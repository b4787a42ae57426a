//! TLS: the record layer, handshake messages and extensions with spans,
//! the registries, and (later) key schedules and decryption.

pub mod record;
pub mod registry;
