//! Captures made by the tests: TCP connections carrying given bytes
//! (handshake, data with acknowledgements, FINs), written as a pcap with
//! Ethernet frames; and running the binary with its peak memory measured.

#![allow(dead_code)]

use std::path::Path;
use std::process::{Command, Stdio};

use etherparse::PacketBuilder;

/// Frames being written: (microseconds since the first, Ethernet frame).
#[derive(Default)]
pub struct Pcap {
    frames: Vec<(u64, Vec<u8>)>,
    clock: u64,
}

/// One TCP connection of a [`Pcap`].
pub struct Conn {
    client: ([u8; 4], u16),
    server: ([u8; 4], u16),
    /// Next sequence number of each side.
    seq: [u32; 2],
}

/// The largest payload per segment.
pub const MSS: usize = 1400;

impl Pcap {
    pub fn new() -> Self {
        Pcap::default()
    }

    fn frame(
        &mut self,
        from: ([u8; 4], u16),
        to: ([u8; 4], u16),
        seq: u32,
        ack: Option<u32>,
        flags: &str,
        payload: &[u8],
    ) {
        let mut b = PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
            .ipv4(from.0, to.0, 64)
            .tcp(from.1, to.1, seq, 65535);
        if flags.contains('S') {
            b = b.syn();
        }
        if flags.contains('F') {
            b = b.fin();
        }
        if flags.contains('P') {
            b = b.psh();
        }
        if let Some(a) = ack {
            b = b.ack(a);
        }
        let mut frame = Vec::with_capacity(payload.len() + 54);
        b.write(&mut frame, payload).unwrap();
        self.clock += 100;
        self.frames.push((self.clock, frame));
    }

    /// A new connection from 10.0.0.1:`client_port` to 10.0.0.2:`server_port`,
    /// its three-way handshake written.
    pub fn connect(&mut self, client_port: u16, server_port: u16) -> Conn {
        let client = ([10, 0, 0, 1], client_port);
        let server = ([10, 0, 0, 2], server_port);
        let mut c = Conn { client, server, seq: [1000, 5000] };
        self.frame(client, server, c.seq[0], None, "S", &[]);
        c.seq[0] += 1;
        self.frame(server, client, c.seq[1], Some(c.seq[0]), "SA", &[]);
        c.seq[1] += 1;
        self.frame(client, server, c.seq[0], Some(c.seq[1]), "A", &[]);
        c
    }

    /// `data` from the client (or the server), in segments of [`MSS`].
    pub fn send(&mut self, c: &mut Conn, from_client: bool, data: &[u8]) {
        let (me, peer, i) =
            if from_client { (c.client, c.server, 0) } else { (c.server, c.client, 1) };
        for piece in data.chunks(MSS) {
            let ack = c.seq[1 - i];
            self.frame(me, peer, c.seq[i], Some(ack), "PA", piece);
            c.seq[i] = c.seq[i].wrapping_add(piece.len() as u32);
        }
    }

    /// Both sides send their FIN.
    pub fn close(&mut self, c: &mut Conn) {
        self.frame(c.client, c.server, c.seq[0], Some(c.seq[1]), "FA", &[]);
        c.seq[0] += 1;
        self.frame(c.server, c.client, c.seq[1], Some(c.seq[0]), "FA", &[]);
        c.seq[1] += 1;
    }

    /// The capture as a pcap file (microsecond times from 2023-11-14).
    pub fn bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(&[0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0]);
        out.extend_from_slice(&[0; 8]);
        out.extend_from_slice(&65535u32.to_le_bytes());
        out.extend_from_slice(&1u32.to_le_bytes());
        for (t, f) in &self.frames {
            out.extend_from_slice(&(1_700_000_000 + (t / 1_000_000) as u32).to_le_bytes());
            out.extend_from_slice(&((t % 1_000_000) as u32).to_le_bytes());
            out.extend_from_slice(&(f.len() as u32).to_le_bytes());
            out.extend_from_slice(&(f.len() as u32).to_le_bytes());
            out.extend_from_slice(f);
        }
        out
    }

    pub fn write(&self, path: &Path) {
        std::fs::write(path, self.bytes()).unwrap();
    }
}

/// What a run of the binary gave, with its peak memory.
pub struct Run {
    pub code: Option<i32>,
    pub stderr: String,
    /// Bytes it wrote to stdout (kept in a file, not in memory).
    pub stdout_len: u64,
    /// Peak resident memory, bytes.
    pub max_rss: u64,
}

/// Runs `tlsscope ARGS` with stdout to `out` and returns its exit code,
/// stderr and peak resident memory, as GNU time measures it. (Measured
/// from this process, the peak would include the test's own memory: the
/// kernel carries a process's peak over `exec`, and the child starts as a
/// copy of the test.)
pub fn run_measured(args: &[&str], out: &Path) -> Run {
    let time = "/usr/bin/time";
    assert!(
        Path::new(time).exists(),
        "{time} is missing: install GNU time (apt-get install time; scripts/test does)"
    );
    let stdout = std::fs::File::create(out).unwrap();
    let err_path = out.with_extension("stderr");
    let rss_path = out.with_extension("rss");
    let stderr = std::fs::File::create(&err_path).unwrap();
    let status = Command::new(time)
        .arg("-f")
        .arg("%M")
        .arg("-o")
        .arg(&rss_path)
        .arg(env!("CARGO_BIN_EXE_tlsscope"))
        .args(args)
        .env("LANG", "C")
        .stdin(Stdio::null())
        .stdout(Stdio::from(stdout))
        .stderr(Stdio::from(stderr))
        .status()
        .unwrap();
    let rss = std::fs::read_to_string(&rss_path).unwrap_or_default();
    // The last line is the size; a line before it says how the command
    // ended when it did not exit 0.
    let kib: u64 = rss
        .lines()
        .last()
        .and_then(|l| l.trim().parse().ok())
        .unwrap_or_else(|| panic!("GNU time gave no peak memory: {rss:?}"));
    Run {
        code: status.code(),
        stderr: std::fs::read_to_string(&err_path).unwrap_or_default(),
        stdout_len: std::fs::metadata(out).map(|m| m.len()).unwrap_or(0),
        max_rss: kib * 1024,
    }
}

/// An HTTP/1.1 response with this body and Content-Encoding.
pub fn response(encoding: &str, body: &[u8]) -> Vec<u8> {
    let mut r = format!(
        "HTTP/1.1 200 OK\r\nContent-Encoding: {encoding}\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    r.extend_from_slice(body);
    r
}

/// `data` compressed with brotli (quality 5: quick, and a run of zeros
/// still becomes a few bytes).
pub fn brotli(data: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut w = brotli::CompressorWriter::new(Vec::new(), 4096, 5, 22);
    w.write_all(data).unwrap();
    w.into_inner()
}

/// An HTTP/2 frame.
pub fn h2_frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let len = payload.len() as u32;
    let mut f = vec![(len >> 16) as u8, (len >> 8) as u8, len as u8, kind, flags];
    f.extend_from_slice(&stream.to_be_bytes());
    f.extend_from_slice(payload);
    f
}
