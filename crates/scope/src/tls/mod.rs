//! TLS: the record layer, handshake messages and extensions with spans,
//! the registries, certificates, fingerprints, key logs and key schedules,
//! the servers' RSA keys, and decryption.

pub mod crypto;
pub mod decrypt;
pub mod ext;
pub mod fingerprint;
pub mod handshake;
pub mod keylog;
pub mod keys;
pub mod record;
pub mod registry;
pub mod rsa_key;
pub mod secret;
pub mod x509;
