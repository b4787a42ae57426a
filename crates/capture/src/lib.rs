//! Capture files and live capture for tlsscope: reading pcap and pcapng
//! (Decryption Secrets Blocks included), writing pcapng, and capturing live
//! traffic through Linux AF_PACKET.

// Only `live` (the AF_PACKET socket) and `mapped` (a file mapped into
// memory) may use unsafe code, and say why each block is sound; every
// other module is safe Rust.
#![deny(unsafe_code)]
// Nothing here panics on what it reads (capture files, packets from the
// kernel, filter expressions): no unwrap, expect, panic or slice indexing
// outside tests, as in the scope crate.
#![cfg_attr(
    not(test),
    deny(clippy::indexing_slicing, clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]
// Lengths and offsets read from files and packets are added with checked
// (or saturating) arithmetic, never with a bare `+` that could wrap.
#![cfg_attr(not(test), warn(clippy::arithmetic_side_effects))]

pub mod bpf;
pub mod filter;
// Fuzz body and seeds (see docs/fuzzing.md): public for fuzz/ and for tests, not API.
#[doc(hidden)]
pub mod fuzz;
pub mod headers;
#[cfg(target_os = "linux")]
pub mod live;
pub mod mapped;
pub mod pcapng;
pub mod read;

/// Where analysis commands get their events: a capture file
/// ([`read::CaptureReader`]) or a live interface (`live::LiveCapture`).
/// Both lend each event until the next call, so nothing is copied.
pub trait Source {
    /// The next event; None at the end of the file or when the capture stops.
    fn next_event(&mut self) -> Option<read::Event<'_>>;
}

impl Source for read::CaptureReader {
    fn next_event(&mut self) -> Option<read::Event<'_>> {
        self.next()
    }
}

/// A mapped capture file, as the threaded analysis reads frames in place.
impl tlsscope_scope::pipeline::FileBytes for mapped::Mapping {
    fn bytes(&self) -> &[u8] {
        mapped::Mapping::bytes(self)
    }

    fn prefetch(&self, range: std::ops::Range<usize>) {
        mapped::Mapping::prefetch(self, range);
    }

    fn release(&self, range: std::ops::Range<usize>) {
        mapped::Mapping::release(self, range);
    }
}

impl<'a> read::Event<'a> {
    /// What the event gives the analysis ([`tlsscope_scope::pipeline`]);
    /// None for comments, which it does not read.
    pub fn input(self) -> Option<tlsscope_scope::pipeline::Input<'a>> {
        use tlsscope_scope::pipeline::Input;
        match self {
            read::Event::Frame(f) => Some(Input::Frame(f)),
            read::Event::Secrets { kind, data, file_offset } => {
                Some(Input::Secrets { kind, data, file_offset: Some(file_offset) })
            }
            read::Event::Problem(d) => Some(Input::Problem(d)),
            read::Event::Comment { .. } => None,
        }
    }
}
