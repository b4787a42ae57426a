//! The recorder behind `get --record`: every byte the client sent and
//! received on its TCP socket, with timestamps, turned into a pcapng file
//! that looks like a loopback capture (three-way handshake, MSS-sized
//! segments with correct sequence/ack numbers and checksums, FIN exchange)
//! and carries the session's secrets in a Decryption Secrets Block.
//!
//! API contract (used by `client`): create a [`Recorder`], call
//! [`Recorder::connecting`] right before `TcpStream::connect`,
//! [`Recorder::connected`] right after it returns, wrap the stream with
//! [`Recorder::wrap`], feed key log lines with [`Recorder::keylog_line`], call
//! [`Recorder::closed`] after shutdown, then [`Recorder::write_pcapng`].

use std::net::SocketAddr;
use std::path::Path;
use std::time::SystemTime;

use crate::error::{Error, Result};

/// Collects what one TCP connection carried. Cheap to clone (shared state).
#[derive(Clone, Default)]
pub struct Recorder {}

impl Recorder {
    /// A recorder with nothing recorded yet.
    pub fn new() -> Self {
        Recorder {}
    }

    /// The client is about to send its SYN.
    pub fn connecting(&self, _at: SystemTime) {}

    /// The connection is established between `client` (our local address)
    /// and `server`.
    pub fn connected(&self, _client: SocketAddr, _server: SocketAddr, _at: SystemTime) {}

    /// Wraps the connected stream so every read and write is recorded.
    pub fn wrap<S>(&self, stream: S) -> S {
        stream
    }

    /// One NSS key log line (without the newline) for the DSB.
    pub fn keylog_line(&self, _line: &str) {}

    /// The connection was closed.
    pub fn closed(&self, _at: SystemTime) {}

    /// Writes the capture.
    pub fn write_pcapng(&self, _path: &Path) -> Result<()> {
        Err(Error::new("recording is not built yet"))
    }
}
