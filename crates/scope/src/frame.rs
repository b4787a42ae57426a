//! Frames: link layer, IP and TCP, decoded from a captured frame without
//! copying.
//!
//! [`decode`] never panics: a frame it cannot read yields a
//! [`DecodeError`] that names the layer and the byte offset where it stopped.
//! Link layers are read here (they are a few fixed bytes each); IPv4, IPv6
//! with its extension headers, and TCP are read with etherparse's lax
//! slicer, which also reports frames cut by the snapshot length.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use etherparse::{EtherType, LaxNetSlice, LaxSlicedPacket, TransportSlice};

use crate::span::offset_in;
use crate::time::Timestamp;

/// A link-layer header type, by its LINKTYPE_ number
/// (<https://www.tcpdump.org/linktypes.html>).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct LinkType(pub u32);

impl LinkType {
    /// BSD loopback: a 4-byte address family in the capturing host's byte order.
    pub const NULL: LinkType = LinkType(0);
    /// Ethernet II / 802.3, with 802.1Q tags.
    pub const ETHERNET: LinkType = LinkType(1);
    /// Raw IP (the value some BSDs write as DLT_RAW).
    pub const RAW_BSD12: LinkType = LinkType(12);
    /// Raw IP (OpenBSD's DLT_RAW).
    pub const RAW_BSD14: LinkType = LinkType(14);
    /// Raw IPv4 or IPv6, version from the first nibble.
    pub const RAW: LinkType = LinkType(101);
    /// OpenBSD loopback: like NULL, but the family is big-endian.
    pub const LOOP: LinkType = LinkType(108);
    /// Linux cooked capture v1 (`tcpdump -i any`).
    pub const LINUX_SLL: LinkType = LinkType(113);
    /// Raw IPv4.
    pub const IPV4: LinkType = LinkType(228);
    /// Raw IPv6.
    pub const IPV6: LinkType = LinkType(229);
    /// Linux cooked capture v2.
    pub const LINUX_SLL2: LinkType = LinkType(276);

    /// A short name for messages, e.g. `ethernet`.
    pub fn name(self) -> &'static str {
        match self {
            LinkType::NULL => "null (BSD loopback)",
            LinkType::ETHERNET => "ethernet",
            LinkType::RAW | LinkType::RAW_BSD12 | LinkType::RAW_BSD14 => "raw IP",
            LinkType::LOOP => "loop (OpenBSD loopback)",
            LinkType::LINUX_SLL => "linux cooked (SLL)",
            LinkType::IPV4 => "raw IPv4",
            LinkType::IPV6 => "raw IPv6",
            LinkType::LINUX_SLL2 => "linux cooked v2 (SLL2)",
            _ => "unknown",
        }
    }

    /// Whether [`decode`] reads this link type.
    pub fn is_supported(self) -> bool {
        self.name() != "unknown"
    }
}

impl fmt::Display for LinkType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.name(), self.0)
    }
}

/// One captured frame as a capture source hands it over.
#[derive(Clone, Copy, Debug)]
pub struct Frame<'a> {
    /// 1-based frame number in the capture, as Wireshark counts them.
    pub number: u64,
    /// When it was captured.
    pub ts: Timestamp,
    /// Its link-layer type.
    pub link: LinkType,
    /// The captured bytes (possibly cut by the snapshot length).
    pub data: &'a [u8],
    /// The frame's length on the wire.
    pub orig_len: u32,
    /// Where `data` starts in the capture file it was read from (in the
    /// decompressed bytes of a compressed file); `None` for a frame
    /// captured live. Carried by the reader, so that a caller holding the
    /// file whole (mapped) finds the bytes again without comparing
    /// addresses.
    pub file_offset: Option<u64>,
}

impl<'a> Frame<'a> {
    /// A frame captured whole (its length on the wire is its length), not
    /// read from a file: what tests and generated inputs make.
    pub fn whole(number: u64, ts: Timestamp, link: LinkType, data: &'a [u8]) -> Self {
        let orig_len = u32::try_from(data.len()).unwrap_or(u32::MAX);
        Frame { number, ts, link, data, orig_len, file_offset: None }
    }
}

/// TCP header flags.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TcpFlags(pub u8);

impl TcpFlags {
    /// No more data from sender.
    pub const FIN: u8 = 0x01;
    /// Synchronise sequence numbers.
    pub const SYN: u8 = 0x02;
    /// Reset the connection.
    pub const RST: u8 = 0x04;
    /// Push.
    pub const PSH: u8 = 0x08;
    /// The acknowledgement field is significant.
    pub const ACK: u8 = 0x10;

    /// FIN set.
    pub fn fin(self) -> bool {
        self.0 & Self::FIN != 0
    }
    /// SYN set.
    pub fn syn(self) -> bool {
        self.0 & Self::SYN != 0
    }
    /// RST set.
    pub fn rst(self) -> bool {
        self.0 & Self::RST != 0
    }
    /// ACK set.
    pub fn ack(self) -> bool {
        self.0 & Self::ACK != 0
    }
}

/// A TCP segment found in a frame, borrowing the frame's bytes.
#[derive(Clone, Copy, Debug)]
pub struct TcpSegment<'a> {
    /// Sender's address and port.
    pub src: SocketAddr,
    /// Receiver's address and port.
    pub dst: SocketAddr,
    /// Sequence number.
    pub seq: u32,
    /// Acknowledgement number (meaningful when `flags.ack()`).
    pub ack: u32,
    /// Flags.
    pub flags: TcpFlags,
    /// Advertised window (unscaled).
    pub window: u16,
    /// The captured payload.
    pub payload: &'a [u8],
    /// Where the payload starts in the frame.
    pub payload_offset: u32,
    /// Payload bytes the IP header announces but the capture cut off
    /// (snapshot length); the reassembler treats them as missing.
    pub payload_missing: u32,
}

/// Why a frame is not a TCP segment we can use.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DecodeError {
    /// A link type we don't read.
    UnsupportedLinkType(LinkType),
    /// The frame ended inside a header, or a header is invalid.
    Malformed {
        /// Which layer: "ethernet", "ipv4", "tcp"...
        layer: &'static str,
        /// Byte offset in the frame where decoding stopped.
        offset: u32,
        /// What was wrong.
        reason: String,
    },
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::UnsupportedLinkType(l) => write!(f, "unsupported link type {l}"),
            DecodeError::Malformed { layer, offset, reason } => {
                write!(f, "malformed {layer} at byte {offset}: {reason}")
            }
        }
    }
}

/// What a frame holds, as far as tlsscope cares.
#[derive(Clone, Debug)]
pub enum Decoded<'a> {
    /// A TCP segment.
    Tcp(TcpSegment<'a>),
    /// A fragment of an IP datagram (not reassembled; TCP over fragmented IP
    /// is rare enough that a diagnostic suffices).
    IpFragment,
    /// Valid, but not TCP over IP (ARP, UDP, ICMP...).
    Other,
}

/// EtherType of IPv4.
pub const ETHERTYPE_IPV4: u16 = 0x0800;
/// EtherType of IPv6.
pub const ETHERTYPE_IPV6: u16 = 0x86dd;

fn malformed(layer: &'static str, offset: usize, reason: impl Into<String>) -> DecodeError {
    DecodeError::Malformed {
        layer,
        offset: u32::try_from(offset).unwrap_or(u32::MAX),
        reason: reason.into(),
    }
}

fn be16(data: &[u8], at: usize) -> Option<u16> {
    let b = data.get(at..at.checked_add(2)?)?;
    Some(u16::from_be_bytes([*b.first()?, *b.get(1)?]))
}

/// Finds the network layer of a frame of link type `link`: (its EtherType,
/// the offset of the network header), `None` for a family or protocol that
/// is not IP. Ethernet frames are `None` too: they are left to etherparse,
/// which also strips VLAN tags. An unsupported link type or a link header
/// cut short is an error.
pub fn link_payload(link: LinkType, data: &[u8]) -> Result<Option<(u16, usize)>, DecodeError> {
    match link {
        LinkType::NULL | LinkType::LOOP => {
            let fam = data.get(..4).ok_or_else(|| malformed("null", 0, "shorter than 4 bytes"))?;
            let fam = <[u8; 4]>::try_from(fam).map_err(|_| malformed("null", 0, "short"))?;
            // NULL stores the family in the capturing host's byte order: try
            // both. AF_INET is 2 everywhere; AF_INET6 is 10 (Linux), 24
            // (NetBSD/OpenBSD), 28 (FreeBSD), 30 (macOS).
            let v = if link == LinkType::LOOP {
                u32::from_be_bytes(fam)
            } else {
                let le = u32::from_le_bytes(fam);
                if le <= 0xffff { le } else { u32::from_be_bytes(fam) }
            };
            match v {
                2 => Ok(Some((ETHERTYPE_IPV4, 4))),
                10 | 24 | 28 | 30 => Ok(Some((ETHERTYPE_IPV6, 4))),
                _ => Ok(None),
            }
        }
        LinkType::RAW | LinkType::RAW_BSD12 | LinkType::RAW_BSD14 => {
            match data.first().map(|b| b >> 4) {
                Some(4) => Ok(Some((ETHERTYPE_IPV4, 0))),
                Some(6) => Ok(Some((ETHERTYPE_IPV6, 0))),
                Some(v) => Err(malformed("ip", 0, format!("IP version {v}"))),
                None => Err(malformed("ip", 0, "empty frame")),
            }
        }
        LinkType::IPV4 => Ok(Some((ETHERTYPE_IPV4, 0))),
        LinkType::IPV6 => Ok(Some((ETHERTYPE_IPV6, 0))),
        LinkType::LINUX_SLL => {
            // 16 bytes: packet type, ARPHRD, address length, 8 address bytes, protocol.
            let proto =
                be16(data, 14).ok_or_else(|| malformed("sll", 0, "shorter than 16 bytes"))?;
            Ok(Some((proto, 16)))
        }
        LinkType::LINUX_SLL2 => {
            // 20 bytes: protocol first, then reserved, ifindex, ARPHRD, type, address.
            let proto =
                be16(data, 0).ok_or_else(|| malformed("sll2", 0, "shorter than 20 bytes"))?;
            if data.len() < 20 {
                return Err(malformed("sll2", 0, "shorter than 20 bytes"));
            }
            Ok(Some((proto, 20)))
        }
        LinkType::ETHERNET => Ok(None),
        other => Err(DecodeError::UnsupportedLinkType(other)),
    }
}

/// Decodes a frame down to its TCP segment.
pub fn decode<'a>(frame: &Frame<'a>) -> Result<Decoded<'a>, DecodeError> {
    let data = frame.data;
    // Nearly every frame of a capture is a complete TCP segment over plain
    // IPv4 or IPv6: read those with etherparse's header slices alone. The
    // full lax slicer below handles everything else (VLAN tags, extension
    // headers, fragments, frames cut short, errors) and would give the same
    // segment for these, only slower.
    let net = match frame.link {
        LinkType::ETHERNET => be16(data, 12).map(|t| (t, 14)),
        _ => link_payload(frame.link, data).ok().flatten(),
    };
    if let Some((ether_type, off)) = net
        && let Some(seg) = plain_tcp(data, ether_type, off)
    {
        return Ok(Decoded::Tcp(seg));
    }
    decode_full(frame)
}

/// [`decode`] without the fast path: every layer through etherparse's lax
/// slicer.
fn decode_full<'a>(frame: &Frame<'a>) -> Result<Decoded<'a>, DecodeError> {
    let data = frame.data;
    let sliced = if frame.link == LinkType::ETHERNET {
        LaxSlicedPacket::from_ethernet(data).map_err(|e| malformed("ethernet", 0, e.to_string()))?
    } else {
        match link_payload(frame.link, data)? {
            Some((ether_type, off)) => {
                let rest = data.get(off..).unwrap_or_default();
                LaxSlicedPacket::from_ether_type(EtherType(ether_type), rest)
            }
            None => return Ok(Decoded::Other),
        }
    };
    let Some(net) = &sliced.net else {
        if let Some((err, layer)) = &sliced.stop_err
            && ip_expected(frame.link, &sliced)
        {
            let off = 0;
            return Err(malformed(layer_name(*layer), off, err.to_string()));
        }
        return Ok(Decoded::Other);
    };
    let (src_ip, dst_ip, declared_end): (IpAddr, IpAddr, Option<usize>) = match net {
        LaxNetSlice::Ipv4(ip) => {
            let h = ip.header();
            let start = offset_in(data, h.slice());
            let end = start.and_then(|s| s.checked_add(usize::from(h.total_len())));
            (
                IpAddr::V4(Ipv4Addr::from(h.source())),
                IpAddr::V4(Ipv4Addr::from(h.destination())),
                end,
            )
        }
        LaxNetSlice::Ipv6(ip) => {
            let h = ip.header();
            let start = offset_in(data, h.slice());
            let end = start.and_then(|s| s.checked_add(40 + usize::from(h.payload_length())));
            (
                IpAddr::V6(Ipv6Addr::from(h.source())),
                IpAddr::V6(Ipv6Addr::from(h.destination())),
                end,
            )
        }
        LaxNetSlice::Arp(_) => return Ok(Decoded::Other),
    };
    let Some(ip_payload) = net.ip_payload_ref() else { return Ok(Decoded::Other) };
    if ip_payload.fragmented {
        return Ok(Decoded::IpFragment);
    }
    if ip_payload.ip_number != etherparse::IpNumber::TCP {
        return Ok(Decoded::Other);
    }
    let tcp = match &sliced.transport {
        Some(TransportSlice::Tcp(tcp)) => tcp,
        _ => {
            let off = offset_in(data, ip_payload.payload).unwrap_or(0);
            let reason = match &sliced.stop_err {
                Some((e, _)) => e.to_string(),
                None => "TCP header missing".to_string(),
            };
            return Err(malformed("tcp", off, reason));
        }
    };
    let payload = tcp.payload();
    let payload_offset = offset_in(data, payload).unwrap_or(data.len());
    let captured_end = payload_offset.saturating_add(payload.len());
    // Bytes the IP header announces beyond what was captured. Ethernet
    // padding after the datagram is already trimmed by the lax slicer.
    let payload_missing = declared_end.map_or(0, |end| end.saturating_sub(captured_end));
    let flags = tcp.header_slice().get(13).copied().unwrap_or(0);
    Ok(Decoded::Tcp(TcpSegment {
        src: SocketAddr::new(src_ip, tcp.source_port()),
        dst: SocketAddr::new(dst_ip, tcp.destination_port()),
        seq: tcp.sequence_number(),
        ack: tcp.acknowledgment_number(),
        flags: TcpFlags(flags),
        window: tcp.window_size(),
        payload,
        payload_offset: u32::try_from(payload_offset).unwrap_or(u32::MAX),
        payload_missing: u32::try_from(payload_missing).unwrap_or(u32::MAX),
    }))
}

/// A complete, unfragmented TCP segment directly inside IPv4 or IPv6 (no
/// extension headers) whose network header starts at `off`; None for
/// anything else, which the full decoder then reads.
fn plain_tcp(data: &[u8], ether_type: u16, off: usize) -> Option<TcpSegment<'_>> {
    let net = data.get(off..)?;
    let (src_ip, dst_ip, ip_len, tcp_at) = match ether_type {
        ETHERTYPE_IPV4 => {
            let h = etherparse::Ipv4HeaderSlice::from_slice(net).ok()?;
            if h.is_fragmenting_payload() || h.protocol() != etherparse::IpNumber::TCP {
                return None;
            }
            let header_len = usize::from(h.ihl()) * 4;
            let total = usize::from(h.total_len());
            if total < header_len {
                return None;
            }
            (IpAddr::V4(h.source_addr()), IpAddr::V4(h.destination_addr()), total, header_len)
        }
        ETHERTYPE_IPV6 => {
            let h = etherparse::Ipv6HeaderSlice::from_slice(net).ok()?;
            let payload = usize::from(h.payload_length());
            // A zero payload length means a jumbogram (hop-by-hop option).
            if h.next_header() != etherparse::IpNumber::TCP || payload == 0 {
                return None;
            }
            (IpAddr::V6(h.source_addr()), IpAddr::V6(h.destination_addr()), 40 + payload, 40)
        }
        _ => return None,
    };
    // The whole datagram must be there: a frame cut by the snapshot length
    // needs the full decoder's accounting of the missing bytes.
    let datagram = net.get(..ip_len)?;
    let tcp_bytes = datagram.get(tcp_at..)?;
    let tcp = etherparse::TcpHeaderSlice::from_slice(tcp_bytes).ok()?;
    let header_len = tcp.slice().len();
    let payload = tcp_bytes.get(header_len..)?;
    let payload_offset = off.checked_add(tcp_at)?.checked_add(header_len)?;
    Some(TcpSegment {
        src: SocketAddr::new(src_ip, tcp.source_port()),
        dst: SocketAddr::new(dst_ip, tcp.destination_port()),
        seq: tcp.sequence_number(),
        ack: tcp.acknowledgment_number(),
        flags: TcpFlags(tcp.slice().get(13).copied().unwrap_or(0)),
        window: tcp.window_size(),
        payload,
        payload_offset: u32::try_from(payload_offset).ok()?,
        payload_missing: 0,
    })
}

/// Whether a frame without a network layer should have had one (so the
/// stop error is worth reporting rather than "not IP").
fn ip_expected(link: LinkType, sliced: &LaxSlicedPacket<'_>) -> bool {
    match link {
        LinkType::ETHERNET | LinkType::LINUX_SLL | LinkType::LINUX_SLL2 => {
            matches!(&sliced.stop_err, Some((_, l)) if !matches!(l, etherparse::err::Layer::Ethernet2Header))
        }
        _ => true,
    }
}

fn layer_name(layer: etherparse::err::Layer) -> &'static str {
    use etherparse::err::Layer;
    match layer {
        Layer::Ethernet2Header => "ethernet",
        Layer::VlanHeader => "vlan",
        Layer::Ipv4Header | Layer::Ipv4Packet => "ipv4",
        Layer::Ipv6Header | Layer::Ipv6Packet => "ipv6",
        Layer::TcpHeader => "tcp",
        _ => "ip",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use etherparse::PacketBuilder;

    fn tcp_v4(payload: &[u8]) -> Vec<u8> {
        let b = PacketBuilder::ethernet2([0; 6], [0; 6])
            .ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64)
            .tcp(40000, 443, 1000, 512)
            .ack(77)
            .psh();
        let mut out = Vec::new();
        b.write(&mut out, payload).unwrap();
        out
    }

    fn frame(link: LinkType, data: &[u8]) -> Frame<'_> {
        Frame::whole(1, Timestamp(0), link, data)
    }

    #[test]
    fn decodes_ethernet_ipv4_tcp() {
        let data = tcp_v4(b"hello");
        let Decoded::Tcp(seg) = decode(&frame(LinkType::ETHERNET, &data)).unwrap() else {
            panic!("not tcp")
        };
        assert_eq!(seg.src, "10.0.0.1:40000".parse().unwrap());
        assert_eq!(seg.dst, "10.0.0.2:443".parse().unwrap());
        assert_eq!((seg.seq, seg.ack), (1000, 77));
        assert!(seg.flags.ack() && !seg.flags.syn());
        assert_eq!(seg.payload, b"hello");
        assert_eq!(seg.payload_offset, 14 + 20 + 20);
        assert_eq!(seg.payload_missing, 0);
    }

    #[test]
    fn counts_bytes_cut_by_snaplen() {
        let data = tcp_v4(&[7u8; 100]);
        let cut = &data[..data.len() - 30];
        let Decoded::Tcp(seg) = decode(&frame(LinkType::ETHERNET, cut)).unwrap() else {
            panic!("not tcp")
        };
        assert_eq!(seg.payload.len(), 70);
        assert_eq!(seg.payload_missing, 30);
    }

    #[test]
    fn ignores_ethernet_padding() {
        let mut data = tcp_v4(b"");
        data.extend_from_slice(&[0; 6]); // padding to the 60-byte minimum
        let Decoded::Tcp(seg) = decode(&frame(LinkType::ETHERNET, &data)).unwrap() else {
            panic!("not tcp")
        };
        assert!(seg.payload.is_empty());
    }

    #[test]
    fn decodes_other_link_types() {
        let eth = tcp_v4(b"xy");
        let ip = &eth[14..];
        let mut null_le = vec![2, 0, 0, 0];
        null_le.extend_from_slice(ip);
        let mut null_be = vec![0, 0, 0, 2];
        null_be.extend_from_slice(ip);
        let mut sll = vec![0, 0, 0, 1, 0, 6, 0, 0, 0, 0, 0, 0, 0, 0, 0x08, 0x00];
        sll.extend_from_slice(ip);
        let mut sll2 = vec![0x08, 0x00, 0, 0, 0, 0, 0, 1, 0, 1, 0, 6, 0, 0, 0, 0, 0, 0, 0, 0];
        sll2.extend_from_slice(ip);
        for (link, data) in [
            (LinkType::RAW, ip.to_vec()),
            (LinkType::IPV4, ip.to_vec()),
            (LinkType::NULL, null_le),
            (LinkType::NULL, null_be.clone()),
            (LinkType::LOOP, null_be),
            (LinkType::LINUX_SLL, sll),
            (LinkType::LINUX_SLL2, sll2),
        ] {
            match decode(&frame(link, &data)) {
                Ok(Decoded::Tcp(seg)) => assert_eq!(seg.payload, b"xy", "{link}"),
                other => panic!("{link}: {other:?}"),
            }
        }
    }

    #[test]
    fn decodes_vlan_tagged_ipv6() {
        let b = PacketBuilder::ethernet2([0; 6], [0; 6])
            .single_vlan(etherparse::VlanId::try_new(5).unwrap())
            .ipv6([0; 16], [1; 16], 64)
            .tcp(1, 2, 3, 4);
        let mut data = Vec::new();
        b.write(&mut data, b"v6").unwrap();
        let Decoded::Tcp(seg) = decode(&frame(LinkType::ETHERNET, &data)).unwrap() else {
            panic!("not tcp")
        };
        assert_eq!(seg.payload, b"v6");
        assert!(seg.src.is_ipv6());
    }

    #[test]
    fn fast_path_decodes_as_the_full_decoder() {
        let mut frames: Vec<(LinkType, Vec<u8>)> = Vec::new();
        for payload in [&b""[..], b"x", &[9u8; 1400]] {
            let v4 = tcp_v4(payload);
            frames.push((LinkType::ETHERNET, v4.clone()));
            let mut padded = v4.clone();
            padded.extend_from_slice(&[0; 6]);
            frames.push((LinkType::ETHERNET, padded));
            frames.push((LinkType::RAW, v4[14..].to_vec()));
            let mut sll = vec![0, 0, 0, 1, 0, 6, 0, 0, 0, 0, 0, 0, 0, 0, 0x08, 0x00];
            sll.extend_from_slice(&v4[14..]);
            frames.push((LinkType::LINUX_SLL, sll));
            let b = PacketBuilder::ethernet2([0; 6], [0; 6])
                .ipv6([0; 16], [1; 16], 64)
                .tcp(1, 2, 3, 4)
                .syn()
                .fin();
            let mut v6 = Vec::new();
            b.write(&mut v6, payload).unwrap();
            frames.push((LinkType::ETHERNET, v6));
            // IPv4 with options and TCP with options.
            let mut ip =
                etherparse::Ipv4Header::new(0, 64, etherparse::IpNumber::TCP, [1; 4], [2; 4])
                    .unwrap();
            ip.options = [1u8, 1, 1, 0].as_slice().try_into().unwrap();
            let mut tcp = etherparse::TcpHeader::new(5, 6, 7, 8);
            tcp.set_options(&[etherparse::TcpOptionElement::MaximumSegmentSize(1460)]).unwrap();
            ip.set_payload_len(tcp.header_len() + payload.len()).unwrap();
            let mut raw = Vec::new();
            ip.write(&mut raw).unwrap();
            tcp.write(&mut raw).unwrap();
            raw.extend_from_slice(payload);
            frames.push((LinkType::IPV4, raw));
        }
        let fast = frames.len();
        // Frames the fast path must leave to the full decoder: cut short,
        // fragmented, VLAN-tagged.
        let cut = tcp_v4(&[5u8; 100]);
        frames.push((LinkType::ETHERNET, cut[..cut.len() - 10].to_vec()));
        let mut frag = tcp_v4(b"abc");
        frag[14 + 6] |= 0x20; // more fragments
        frames.push((LinkType::ETHERNET, frag));
        let b = PacketBuilder::ethernet2([0; 6], [0; 6])
            .single_vlan(etherparse::VlanId::try_new(5).unwrap())
            .ipv4([1; 4], [2; 4], 64)
            .tcp(1, 2, 3, 4);
        let mut vlan = Vec::new();
        b.write(&mut vlan, b"v").unwrap();
        frames.push((LinkType::ETHERNET, vlan));
        for (i, (link, data)) in frames.iter().enumerate() {
            let f = frame(*link, data);
            let net = match *link {
                LinkType::ETHERNET => be16(data, 12).map(|t| (t, 14)),
                l => link_payload(l, data).unwrap(),
            };
            let quick = net.and_then(|(t, off)| plain_tcp(data, t, off));
            assert_eq!(quick.is_some(), i < fast, "frame {i} ({link}) fast path");
            let full = decode_full(&f);
            assert_eq!(format!("{:?}", decode(&f)), format!("{full:?}"), "frame {i} ({link})");
        }
    }

    #[test]
    fn unknown_link_type_is_an_error() {
        assert_eq!(
            decode(&frame(LinkType(147), b"abc")).unwrap_err(),
            DecodeError::UnsupportedLinkType(LinkType(147))
        );
    }

    #[test]
    fn every_truncation_of_a_frame_decodes_without_panic() {
        let data = tcp_v4(b"payload bytes");
        for link in [LinkType::ETHERNET, LinkType::RAW, LinkType::NULL, LinkType::LINUX_SLL2] {
            for n in 0..=data.len() {
                let _ = decode(&frame(link, &data[..n]));
            }
        }
    }
}
