//! Writing pcapng: a section header, interface descriptions, enhanced packet
//! blocks and Decryption Secrets Blocks, streamed to any [`std::io::Write`].
//!
//! The layout follows [draft-ietf-opsawg-pcapng] (the pcapng specification):
//! every block is `type, total length, body, total length`, its body padded to
//! 32 bits, its options (code, length, value padded to 32 bits) closed by an
//! `opt_endofopt`. We always write little-endian, and timestamps in
//! nanoseconds (`if_tsresol` = 9).
//!
//! The encoder is written by hand rather than with pcap-parser's `serialize`
//! feature: that API wants whole block structs with length fields the caller
//! must keep consistent (option lengths and `secrets_len` are not fixed up), it
//! adds an `if_tsoffset` option to every interface, and it copies each block
//! into a fresh `Vec`. Four block types are a few dozen lines here, the exact
//! bytes are under our control, and pcap-parser's *reader* stays an independent
//! check of what we write (see the tests).
//!
//! Nothing here panics: sizes that do not fit a field, an unknown interface or
//! a timestamp before 1970 are [`io::ErrorKind::InvalidInput`] errors.
//!
//! [draft-ietf-opsawg-pcapng]: https://datatracker.ietf.org/doc/draft-ietf-opsawg-pcapng/

use std::io::{self, Write};
use std::time::{SystemTime, UNIX_EPOCH};

/// Block type codes (pcapng §4, §11.1).
mod block {
    pub const SECTION_HEADER: u32 = 0x0A0D_0D0A;
    pub const INTERFACE_DESCRIPTION: u32 = 0x0000_0001;
    pub const ENHANCED_PACKET: u32 = 0x0000_0006;
    pub const DECRYPTION_SECRETS: u32 = 0x0000_000A;
}

/// Option codes (pcapng §3.5 and the option lists of §4.1, §4.2, §4.3).
mod opt {
    pub const END_OF_OPT: u16 = 0;
    pub const COMMENT: u16 = 1;
    pub const SHB_HARDWARE: u16 = 2;
    pub const SHB_OS: u16 = 3;
    pub const SHB_USERAPPL: u16 = 4;
    pub const IF_NAME: u16 = 2;
    pub const IF_DESCRIPTION: u16 = 3;
    pub const IF_TSRESOL: u16 = 9;
    pub const EPB_FLAGS: u16 = 2;
}

/// Written in native order by the writer; readers detect endianness with it.
const BYTE_ORDER_MAGIC: u32 = 0x1A2B_3C4D;
/// `if_tsresol` = 9: timestamps count nanoseconds (10^-9 s).
const TSRESOL_NANOSECONDS: u8 = 9;
/// "Section length not specified": we stream, so we cannot know it up front.
const SECTION_LENGTH_UNKNOWN: i64 = -1;
/// Type, total length (front) and total length (back).
const BLOCK_OVERHEAD: usize = 12;

/// The link-layer header type of an interface: the one type the whole
/// workspace uses (readers, decoders and this writer), re-exported here so
/// writer users need no other import. pcapng stores it in 16 bits (§4.2);
/// [`Writer::add_interface`] rejects larger values.
pub use tlsscope_scope::frame::LinkType;

/// What a Decryption Secrets Block holds (pcapng §4.7).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SecretsType(pub u32);

impl SecretsType {
    /// "TLSK": an NSS key log file (`CLIENT_RANDOM …`, `CLIENT_TRAFFIC_SECRET_0 …`).
    pub const TLS_KEY_LOG: SecretsType = SecretsType(0x544C_534B);
}

/// The options of the section header block (pcapng §4.1).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Section {
    /// `opt_comment`, one option each.
    pub comments: Vec<String>,
    /// `shb_hardware`.
    pub hardware: Option<String>,
    /// `shb_os`.
    pub os: Option<String>,
    /// `shb_userappl`: the application that wrote the file.
    pub user_appl: Option<String>,
}

impl Section {
    /// A section written by tlsscope: `shb_userappl` is [`user_appl`].
    pub fn tlsscope() -> Section {
        Section { user_appl: Some(user_appl()), ..Section::default() }
    }
}

/// `tlsscope <version>`, the `shb_userappl` of files we write.
pub fn user_appl() -> String {
    format!("tlsscope {}", env!("CARGO_PKG_VERSION"))
}

/// An interface description (pcapng §4.2).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Interface {
    /// The link-layer header type of its packets.
    pub link_type: LinkType,
    /// The most bytes of a packet that were kept; 0 means no limit.
    pub snaplen: u32,
    /// `if_name`, e.g. `lo`.
    pub name: Option<String>,
    /// `if_description`.
    pub description: Option<String>,
}

impl Interface {
    /// An interface with no name or description.
    pub fn new(link_type: LinkType, snaplen: u32) -> Interface {
        Interface { link_type, snaplen, name: None, description: None }
    }
}

/// Refers to an interface added with [`Writer::add_interface`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct InterfaceId(u32);

impl InterfaceId {
    /// The interface's index in the section (what EPBs store).
    pub fn index(self) -> u32 {
        self.0
    }
}

/// Which way a packet went, as `epb_flags` bits 0-1 record it (pcapng §4.3.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// Received by the capturing host.
    Inbound,
    /// Sent by the capturing host.
    Outbound,
}

/// One packet for an enhanced packet block (pcapng §4.3).
#[derive(Clone, Copy, Debug)]
pub struct Packet<'a> {
    /// The interface it was captured on.
    pub interface: InterfaceId,
    /// When it was captured (written with nanosecond resolution).
    pub timestamp: SystemTime,
    /// The captured bytes, starting with the link-layer header.
    pub data: &'a [u8],
    /// Its length on the wire; at least `data.len()`.
    pub original_len: usize,
    /// `epb_flags` direction, if known.
    pub direction: Option<Direction>,
    /// `opt_comment`, shown by Wireshark as a packet comment.
    pub comment: Option<&'a str>,
}

impl<'a> Packet<'a> {
    /// A packet captured whole, with no flags or comment.
    pub fn new(interface: InterfaceId, timestamp: SystemTime, data: &'a [u8]) -> Packet<'a> {
        Packet {
            interface,
            timestamp,
            data,
            original_len: data.len(),
            direction: None,
            comment: None,
        }
    }
}

/// Streams a pcapng section to `W`: the section header is written by
/// [`Writer::new`], then interfaces, packets and secrets in any order
/// (a packet's interface must have been added before it).
///
/// Blocks are written with `write_all` as they come; wrap files in a
/// `BufWriter`. Call [`Writer::finish`] to flush.
#[derive(Debug)]
pub struct Writer<W: Write> {
    out: W,
    /// Snap lengths of the interfaces added so far, by index.
    snaplens: Vec<u32>,
    /// Scratch space for a block's fixed fields, reused between blocks.
    fixed: Vec<u8>,
    /// Scratch space for a block's options, reused between blocks.
    options: Vec<u8>,
}

impl<W: Write> Writer<W> {
    /// Starts a section: writes its section header block.
    pub fn new(out: W, section: &Section) -> io::Result<Writer<W>> {
        let mut w = Writer { out, snaplens: Vec::new(), fixed: Vec::new(), options: Vec::new() };
        w.fixed.extend_from_slice(&BYTE_ORDER_MAGIC.to_le_bytes());
        w.fixed.extend_from_slice(&1u16.to_le_bytes()); // major version
        w.fixed.extend_from_slice(&0u16.to_le_bytes()); // minor version
        w.fixed.extend_from_slice(&SECTION_LENGTH_UNKNOWN.to_le_bytes());
        let mut o = Options::new(&mut w.options);
        for c in &section.comments {
            o.push(opt::COMMENT, c.as_bytes())?;
        }
        if let Some(v) = &section.hardware {
            o.push(opt::SHB_HARDWARE, v.as_bytes())?;
        }
        if let Some(v) = &section.os {
            o.push(opt::SHB_OS, v.as_bytes())?;
        }
        if let Some(v) = &section.user_appl {
            o.push(opt::SHB_USERAPPL, v.as_bytes())?;
        }
        o.end();
        w.write_block(block::SECTION_HEADER, &[])?;
        Ok(w)
    }

    /// Describes an interface; packets refer to it by the returned id.
    pub fn add_interface(&mut self, iface: &Interface) -> io::Result<InterfaceId> {
        let id = u32::try_from(self.snaplens.len())
            .map_err(|_| invalid("too many interfaces for one pcapng section"))?;
        let link_type = u16::try_from(iface.link_type.0)
            .map_err(|_| invalid("link type does not fit pcapng's 16-bit LinkType field"))?;
        self.fixed.clear();
        self.fixed.extend_from_slice(&link_type.to_le_bytes());
        self.fixed.extend_from_slice(&0u16.to_le_bytes()); // reserved
        self.fixed.extend_from_slice(&iface.snaplen.to_le_bytes());
        let mut o = Options::new(&mut self.options);
        if let Some(v) = &iface.name {
            o.push(opt::IF_NAME, v.as_bytes())?;
        }
        if let Some(v) = &iface.description {
            o.push(opt::IF_DESCRIPTION, v.as_bytes())?;
        }
        o.push(opt::IF_TSRESOL, &[TSRESOL_NANOSECONDS])?;
        o.end();
        self.write_block(block::INTERFACE_DESCRIPTION, &[])?;
        self.snaplens.push(iface.snaplen);
        Ok(InterfaceId(id))
    }

    /// Writes one packet as an enhanced packet block.
    pub fn write_packet(&mut self, p: &Packet<'_>) -> io::Result<()> {
        let snaplen = *self
            .snaplens
            .get(p.interface.0 as usize)
            .ok_or_else(|| invalid("packet on an interface that was not added"))?;
        let caplen = u32::try_from(p.data.len())
            .map_err(|_| invalid("packet too large for a pcapng block"))?;
        if snaplen != 0 && caplen > snaplen {
            return Err(invalid("packet longer than its interface's snaplen"));
        }
        let original_len = u32::try_from(p.original_len)
            .map_err(|_| invalid("original packet length too large for pcapng"))?;
        if original_len < caplen {
            return Err(invalid("original packet length shorter than the captured bytes"));
        }
        let ts = nanoseconds(p.timestamp)?;
        self.fixed.clear();
        self.fixed.extend_from_slice(&p.interface.0.to_le_bytes());
        // The 64-bit timestamp is stored as two 32-bit halves, high first,
        // each in the section's byte order (pcapng §4.3).
        self.fixed.extend_from_slice(&((ts >> 32) as u32).to_le_bytes());
        self.fixed.extend_from_slice(&(ts as u32).to_le_bytes());
        self.fixed.extend_from_slice(&caplen.to_le_bytes());
        self.fixed.extend_from_slice(&original_len.to_le_bytes());
        let mut o = Options::new(&mut self.options);
        if let Some(c) = p.comment {
            o.push(opt::COMMENT, c.as_bytes())?;
        }
        if let Some(d) = p.direction {
            let bits: u32 = match d {
                Direction::Inbound => 0b01,
                Direction::Outbound => 0b10,
            };
            o.push(opt::EPB_FLAGS, &bits.to_le_bytes())?;
        }
        o.end();
        self.write_block(block::ENHANCED_PACKET, p.data)
    }

    /// Writes a Decryption Secrets Block (pcapng §4.7). Readers apply it to
    /// the packets that follow it, so write it before the first packet it
    /// decrypts.
    pub fn write_secrets(&mut self, kind: SecretsType, secrets: &[u8]) -> io::Result<()> {
        let len = u32::try_from(secrets.len())
            .map_err(|_| invalid("secrets too large for a pcapng block"))?;
        self.fixed.clear();
        self.options.clear(); // DSB options: none
        self.fixed.extend_from_slice(&kind.0.to_le_bytes());
        self.fixed.extend_from_slice(&len.to_le_bytes());
        self.write_block(block::DECRYPTION_SECRETS, secrets)
    }

    /// Flushes what was written so far to the output (a live capture does
    /// this periodically, so a killed process still leaves whole blocks).
    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }

    /// Flushes and returns the output.
    pub fn finish(mut self) -> io::Result<W> {
        self.out.flush()?;
        Ok(self.out)
    }

    /// Writes `type, length, self.fixed, data, padding, self.options, length`.
    /// Each block's builder starts by clearing `fixed`, and [`Options::new`]
    /// clears `options`, so a block that failed half-built leaves nothing behind.
    fn write_block(&mut self, block_type: u32, data: &[u8]) -> io::Result<()> {
        let pad = padding(data.len());
        let total = BLOCK_OVERHEAD
            .checked_add(self.fixed.len())
            .and_then(|n| n.checked_add(data.len()))
            .and_then(|n| n.checked_add(pad.len()))
            .and_then(|n| n.checked_add(self.options.len()))
            .and_then(|n| u32::try_from(n).ok())
            .ok_or_else(|| invalid("block too large for pcapng"))?;
        let total = total.to_le_bytes();
        self.out.write_all(&block_type.to_le_bytes())?;
        self.out.write_all(&total)?;
        self.out.write_all(&self.fixed)?;
        self.out.write_all(data)?;
        self.out.write_all(pad)?;
        self.out.write_all(&self.options)?;
        self.out.write_all(&total)
    }
}

/// Appends options to a block's option area (pcapng §3.5).
struct Options<'a> {
    buf: &'a mut Vec<u8>,
}

impl<'a> Options<'a> {
    fn new(buf: &'a mut Vec<u8>) -> Options<'a> {
        buf.clear();
        Options { buf }
    }

    fn push(&mut self, code: u16, value: &[u8]) -> io::Result<()> {
        let len = u16::try_from(value.len())
            .map_err(|_| invalid("pcapng option longer than 65535 bytes"))?;
        self.buf.extend_from_slice(&code.to_le_bytes());
        self.buf.extend_from_slice(&len.to_le_bytes());
        self.buf.extend_from_slice(value);
        self.buf.extend_from_slice(padding(value.len()));
        Ok(())
    }

    /// Closes the list with `opt_endofopt`; a block with no options has none
    /// (the option area is then empty, which the specification allows).
    fn end(self) {
        if !self.buf.is_empty() {
            self.buf.extend_from_slice(&opt::END_OF_OPT.to_le_bytes());
            self.buf.extend_from_slice(&0u16.to_le_bytes());
        }
    }
}

/// Zero bytes that pad `len` to a multiple of 4.
fn padding(len: usize) -> &'static [u8] {
    match len % 4 {
        1 => &[0, 0, 0],
        2 => &[0, 0],
        3 => &[0],
        _ => &[],
    }
}

/// Nanoseconds since the Unix epoch, as a 64-bit count (good until 2554).
fn nanoseconds(t: SystemTime) -> io::Result<u64> {
    let d = t.duration_since(UNIX_EPOCH).map_err(|_| invalid("packet timestamp before 1970"))?;
    u64::try_from(d.as_nanos()).map_err(|_| invalid("packet timestamp after 2554"))
}

fn invalid(msg: &'static str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, msg)
}

#[cfg(test)]
mod tests {
    use super::*;
    use pcap_parser::pcapng::Block;
    use std::time::Duration;

    fn at(secs: u64, nanos: u32) -> SystemTime {
        UNIX_EPOCH + Duration::new(secs, nanos)
    }

    /// Splits a file into blocks with pcap-parser's reader.
    fn blocks(bytes: &[u8]) -> Vec<Block<'_>> {
        let mut rest = bytes;
        let mut out = Vec::new();
        while !rest.is_empty() {
            let (r, b) = pcap_parser::pcapng::parse_block_le(rest)
                .unwrap_or_else(|e| panic!("pcap-parser rejected block {}: {e:?}", out.len()));
            out.push(b);
            rest = r;
        }
        out
    }

    #[test]
    fn tiny_file_has_the_exact_bytes_of_the_spec() {
        let section = Section { user_appl: Some("tls".into()), ..Section::default() };
        let mut w = Writer::new(Vec::new(), &section).unwrap();
        let lo = Interface { name: Some("lo".into()), ..Interface::new(LinkType::ETHERNET, 0) };
        let id = w.add_interface(&lo).unwrap();
        w.write_secrets(SecretsType::TLS_KEY_LOG, b"K 1 2\n").unwrap();
        let mut p = Packet::new(id, at(0x1_0000_0000, 5), b"abcde");
        p.comment = Some("hi");
        w.write_packet(&p).unwrap();
        let bytes = w.finish().unwrap();

        // 2^32 s + 5 ns = 4_294_967_296_000_000_005 ns = 0x3B9ACA00_00000005.
        #[rustfmt::skip]
        let expected: &[u8] = &[
            // Section Header Block (pcapng §4.1)
            0x0A, 0x0D, 0x0D, 0x0A,             // block type
            0x28, 0x00, 0x00, 0x00,             // block total length = 40
            0x4D, 0x3C, 0x2B, 0x1A,             // byte-order magic 0x1A2B3C4D (LE)
            0x01, 0x00, 0x00, 0x00,             // major 1, minor 0
            0xFF, 0xFF, 0xFF, 0xFF,             // section length = -1 (unknown)
            0xFF, 0xFF, 0xFF, 0xFF,
            0x04, 0x00, 0x03, 0x00,             // shb_userappl, length 3
            b't', b'l', b's', 0x00,             // "tls" + 1 byte padding
            0x00, 0x00, 0x00, 0x00,             // opt_endofopt
            0x28, 0x00, 0x00, 0x00,             // block total length = 40
            // Interface Description Block (pcapng §4.2)
            0x01, 0x00, 0x00, 0x00,             // block type
            0x28, 0x00, 0x00, 0x00,             // block total length = 40
            0x01, 0x00, 0x00, 0x00,             // LinkType 1 (Ethernet), reserved 0
            0x00, 0x00, 0x00, 0x00,             // SnapLen 0 (no limit)
            0x02, 0x00, 0x02, 0x00,             // if_name, length 2
            b'l', b'o', 0x00, 0x00,             // "lo" + 2 bytes padding
            0x09, 0x00, 0x01, 0x00,             // if_tsresol, length 1
            0x09, 0x00, 0x00, 0x00,             // 9 (nanoseconds) + padding
            0x00, 0x00, 0x00, 0x00,             // opt_endofopt
            0x28, 0x00, 0x00, 0x00,             // block total length = 40
            // Decryption Secrets Block (pcapng §4.7)
            0x0A, 0x00, 0x00, 0x00,             // block type
            0x1C, 0x00, 0x00, 0x00,             // block total length = 28
            0x4B, 0x53, 0x4C, 0x54,             // secrets type 0x544C534B "TLSK"
            0x06, 0x00, 0x00, 0x00,             // secrets length 6
            b'K', b' ', b'1', b' ',             // "K 1 2\n"
            b'2', b'\n', 0x00, 0x00,            //   + 2 bytes padding
            0x1C, 0x00, 0x00, 0x00,             // block total length = 28
            // Enhanced Packet Block (pcapng §4.3)
            0x06, 0x00, 0x00, 0x00,             // block type
            0x34, 0x00, 0x00, 0x00,             // block total length = 52
            0x00, 0x00, 0x00, 0x00,             // interface id 0
            0x00, 0xCA, 0x9A, 0x3B,             // timestamp (upper 32 bits)
            0x05, 0x00, 0x00, 0x00,             // timestamp (lower 32 bits)
            0x05, 0x00, 0x00, 0x00,             // captured packet length 5
            0x05, 0x00, 0x00, 0x00,             // original packet length 5
            b'a', b'b', b'c', b'd',             // packet data
            b'e', 0x00, 0x00, 0x00,             //   + 3 bytes padding
            0x01, 0x00, 0x02, 0x00,             // opt_comment, length 2
            b'h', b'i', 0x00, 0x00,             // "hi" + 2 bytes padding
            0x00, 0x00, 0x00, 0x00,             // opt_endofopt
            0x34, 0x00, 0x00, 0x00,             // block total length = 52
        ];
        assert_eq!(bytes, expected);
    }

    #[test]
    fn blocks_round_trip_through_pcap_parser() {
        let section = Section {
            comments: vec!["first".into(), "second comment".into()],
            hardware: Some("hw".into()),
            os: Some("Linux".into()),
            user_appl: Some(user_appl()),
        };
        let mut w = Writer::new(Vec::new(), &section).unwrap();
        let eth = w
            .add_interface(&Interface {
                name: Some("lo".into()),
                description: Some("loopback".into()),
                ..Interface::new(LinkType::ETHERNET, 262_144)
            })
            .unwrap();
        let raw = w.add_interface(&Interface::new(LinkType::RAW, 64)).unwrap();
        assert_eq!((eth.index(), raw.index()), (0, 1));
        let keys = b"CLIENT_RANDOM 00 11\nSERVER_HANDSHAKE_TRAFFIC_SECRET 22 333\n";
        w.write_secrets(SecretsType::TLS_KEY_LOG, keys).unwrap();
        let data: Vec<u8> = (0..=255).collect();
        w.write_packet(&Packet {
            direction: Some(Direction::Outbound),
            comment: Some("a comment"),
            ..Packet::new(eth, at(1_700_000_000, 123_456_789), &data)
        })
        .unwrap();
        w.write_packet(&Packet {
            original_len: 1500,
            direction: Some(Direction::Inbound),
            ..Packet::new(raw, at(1_700_000_001, 1), &data[..63])
        })
        .unwrap();
        let bytes = w.finish().unwrap();

        let blocks = blocks(&bytes);
        assert_eq!(blocks.len(), 6);
        let Block::SectionHeader(shb) = &blocks[0] else { panic!("{:?}", blocks[0]) };
        assert!(!shb.big_endian());
        assert_eq!((shb.major_version, shb.minor_version, shb.section_len), (1, 0, -1));
        assert_eq!(shb.shb_userappl().unwrap().unwrap(), user_appl());
        assert!(user_appl().starts_with("tlsscope 0."));
        assert_eq!(shb.shb_os().unwrap().unwrap(), "Linux");
        assert_eq!(shb.shb_hardware().unwrap().unwrap(), "hw");
        let comments: Vec<&str> = shb
            .options
            .iter()
            .filter(|o| o.code.0 == opt::COMMENT)
            .map(|o| o.as_str().unwrap())
            .collect();
        assert_eq!(comments, ["first", "second comment"]);

        let Block::InterfaceDescription(idb) = &blocks[1] else { panic!("{:?}", blocks[1]) };
        assert_eq!((idb.linktype.0, idb.snaplen), (1, 262_144));
        assert_eq!(idb.if_name().unwrap().unwrap(), "lo");
        assert_eq!(idb.if_description().unwrap().unwrap(), "loopback");
        assert_eq!(idb.if_tsresol().unwrap().unwrap(), 9);
        assert_eq!(idb.ts_resolution(), Some(1_000_000_000));
        let Block::InterfaceDescription(idb) = &blocks[2] else { panic!("{:?}", blocks[2]) };
        assert_eq!((idb.linktype.0, idb.snaplen), (101, 64));
        assert!(idb.if_name().is_none());

        let Block::DecryptionSecrets(dsb) = &blocks[3] else { panic!("{:?}", blocks[3]) };
        assert_eq!(dsb.secrets_type.0, 0x544C_534B);
        assert_eq!(dsb.secrets_len as usize, keys.len());
        // pcap-parser hands back the data with its padding.
        assert_eq!(&dsb.data[..keys.len()], keys);
        assert!(dsb.options.is_empty());

        let Block::EnhancedPacket(epb) = &blocks[4] else { panic!("{:?}", blocks[4]) };
        assert_eq!((epb.if_id, epb.caplen, epb.origlen), (0, 256, 256));
        assert_eq!(epb.data, &data[..]);
        assert_eq!(epb.decode_ts(0, 1_000_000_000), (1_700_000_000, 123_456_789));
        let comment = epb.options.iter().find(|o| o.code.0 == opt::COMMENT).unwrap();
        assert_eq!(comment.as_str().unwrap(), "a comment");
        let flags = epb.options.iter().find(|o| o.code.0 == opt::EPB_FLAGS).unwrap();
        assert_eq!(flags.as_u32_le().unwrap(), 2);

        let Block::EnhancedPacket(epb) = &blocks[5] else { panic!("{:?}", blocks[5]) };
        assert_eq!((epb.if_id, epb.caplen, epb.origlen), (1, 63, 1500));
        // pcap-parser keeps the padding in `data` too.
        assert_eq!(&epb.data[..63], &data[..63]);
        assert_eq!(epb.decode_ts(0, 1_000_000_000), (1_700_000_001, 1));
        let flags = epb.options.iter().find(|o| o.code.0 == opt::EPB_FLAGS).unwrap();
        assert_eq!(flags.as_u32_le().unwrap(), 1);
    }

    #[test]
    fn whole_file_parses_as_one_section() {
        let mut w = Writer::new(Vec::new(), &Section::tlsscope()).unwrap();
        let id = w.add_interface(&Interface::new(LinkType::ETHERNET, 0)).unwrap();
        for len in 0..9 {
            let data = vec![0xAB; len];
            w.write_packet(&Packet::new(id, at(1, len as u32), &data)).unwrap();
        }
        let bytes = w.finish().unwrap();
        assert_eq!(bytes.len() % 4, 0);
        let (rest, capture) = pcap_parser::parse_pcapng(&bytes).unwrap();
        assert!(rest.is_empty());
        assert_eq!(capture.sections.len(), 1);
        assert_eq!(capture.sections[0].blocks.len(), 1 + 1 + 9);
    }

    #[test]
    fn rejects_packets_the_format_cannot_hold() {
        let mut w = Writer::new(Vec::new(), &Section::default()).unwrap();
        let id = w.add_interface(&Interface::new(LinkType::ETHERNET, 4)).unwrap();
        let before = w.out.len();

        let too_long = Packet::new(id, at(1, 0), b"12345");
        let unknown = Packet::new(InterfaceId(7), at(1, 0), b"1");
        let short_orig = Packet { original_len: 1, ..Packet::new(id, at(1, 0), b"12") };
        let pre_1970 = Packet::new(id, UNIX_EPOCH - Duration::from_secs(1), b"1");
        let long_comment = "x".repeat(70_000);
        let big_comment =
            Packet { comment: Some(&long_comment), ..Packet::new(id, at(1, 0), b"1") };
        for p in [too_long, unknown, short_orig, pre_1970, big_comment] {
            let err = w.write_packet(&p).unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{p:?}");
        }
        // Nothing was written, and a good packet after the errors is intact.
        assert_eq!(w.out.len(), before);
        w.write_packet(&Packet::new(id, at(1, 0), b"1234")).unwrap();
        let bytes = w.finish().unwrap();
        let blocks = blocks(&bytes);
        let Block::EnhancedPacket(epb) = &blocks[2] else { panic!("{:?}", blocks[2]) };
        assert_eq!(epb.data, b"1234");
        assert!(epb.options.is_empty());
    }

    #[test]
    fn rejects_link_types_wider_than_16_bits() {
        let mut w = Writer::new(Vec::new(), &Section::default()).unwrap();
        let before = w.out.len();
        let err = w.add_interface(&Interface::new(LinkType(0x1_0001), 0)).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
        assert_eq!(w.out.len(), before);
        // The largest 16-bit value is written as is, and gets index 0.
        let id = w.add_interface(&Interface::new(LinkType(0xFFFF), 0)).unwrap();
        assert_eq!(id.index(), 0);
        assert_eq!(&w.out[before + 8..before + 10], &[0xFF, 0xFF]);
    }

    #[test]
    fn block_without_options_has_no_end_marker() {
        let mut w = Writer::new(Vec::new(), &Section::default()).unwrap();
        // SHB without options: 28 bytes, no opt_endofopt.
        assert_eq!(w.out.len(), 28);
        assert_eq!(&w.out[4..8], &28u32.to_le_bytes());
        w.write_secrets(SecretsType::TLS_KEY_LOG, b"").unwrap();
        assert_eq!(
            &w.out[28..],
            &[10, 0, 0, 0, 20, 0, 0, 0, 0x4B, 0x53, 0x4C, 0x54, 0, 0, 0, 0, 20, 0, 0, 0]
        );
    }
}
