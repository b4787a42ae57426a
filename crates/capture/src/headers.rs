//! The few header fields that capture filters test and per-packet summary
//! lines show: network type, addresses, IP protocol, ports, TCP flags.
//!
//! TCP frames (the common case) are read with
//! [`tlsscope_scope::frame::decode`]; everything else (UDP, ICMP, ARP, IP
//! fragments, malformed TCP) with etherparse's lax slicer, so a filter like
//! `udp` or `host 10.0.0.1` also sees frames the TCP decoder skips. Nothing
//! here panics on any input: what cannot be read is left `None`.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use etherparse::{EtherType, LaxNetSlice, LaxSlicedPacket, TransportSlice};
use tlsscope_scope::frame::{self, Decoded, Frame, LinkType, TcpFlags};

pub use tlsscope_scope::frame::{ETHERTYPE_IPV4, ETHERTYPE_IPV6};
/// EtherType of ARP.
pub const ETHERTYPE_ARP: u16 = 0x0806;

/// IP protocol numbers ([IANA](https://www.iana.org/assignments/protocol-numbers/)).
pub mod proto {
    /// ICMP.
    pub const ICMP: u8 = 1;
    /// TCP.
    pub const TCP: u8 = 6;
    /// UDP.
    pub const UDP: u8 = 17;
    /// ICMPv6.
    pub const ICMPV6: u8 = 58;
}

/// What a frame's headers say, as far as filters and summaries care.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Headers {
    /// The network layer's EtherType (IPv4, IPv6, ARP...), when known.
    pub ether_type: Option<u16>,
    /// Source and destination: IP addresses, or ARP's sender and target
    /// protocol addresses.
    pub addrs: Option<(IpAddr, IpAddr)>,
    /// The IP protocol after any IPv6 extension headers (6 TCP, 17 UDP...).
    pub ip_proto: Option<u8>,
    /// Whether the IP datagram is a fragment.
    pub fragment: bool,
    /// TCP or UDP source and destination ports. Also read from the first
    /// fragment of an IPv4 datagram, as pcap filters do; never from later ones.
    pub ports: Option<(u16, u16)>,
    /// TCP flags, when a TCP header was read.
    pub tcp_flags: Option<TcpFlags>,
    /// TCP or UDP payload length as the IP header announces it (bytes cut by
    /// the snapshot length included).
    pub payload_len: Option<u32>,
}

impl Headers {
    /// Reads the headers of a frame.
    pub fn of(frame: &Frame<'_>) -> Headers {
        if let Ok(Decoded::Tcp(seg)) = frame::decode(frame) {
            let ether_type = if seg.src.is_ipv4() { ETHERTYPE_IPV4 } else { ETHERTYPE_IPV6 };
            let len = u32::try_from(seg.payload.len()).unwrap_or(u32::MAX);
            return Headers {
                ether_type: Some(ether_type),
                addrs: Some((seg.src.ip(), seg.dst.ip())),
                ip_proto: Some(proto::TCP),
                fragment: false,
                ports: Some((seg.src.port(), seg.dst.port())),
                tcp_flags: Some(seg.flags),
                payload_len: Some(len.saturating_add(seg.payload_missing)),
            };
        }
        Headers::slow(frame.link, frame.data)
    }

    /// Everything but well-formed TCP: etherparse's lax slicer.
    fn slow(link: LinkType, data: &[u8]) -> Headers {
        let mut h = Headers::default();
        let Some((ether_type, sliced)) = slice(link, data) else { return h };
        h.ether_type = ether_type;
        match &sliced.net {
            Some(LaxNetSlice::Ipv4(ip)) => {
                let hdr = ip.header();
                h.ether_type = Some(ETHERTYPE_IPV4);
                h.addrs = Some((
                    IpAddr::V4(Ipv4Addr::from(hdr.source())),
                    IpAddr::V4(Ipv4Addr::from(hdr.destination())),
                ));
                let p = ip.payload();
                h.ip_proto = Some(p.ip_number.0);
                h.fragment = p.fragmented;
                // A first fragment still starts with the ports (pcap's
                // `port` matches it); later fragments hold none.
                if p.fragmented && hdr.fragments_offset().value() == 0 {
                    h.ports = leading_ports(p.ip_number.0, p.payload);
                }
            }
            Some(LaxNetSlice::Ipv6(ip)) => {
                let hdr = ip.header();
                h.ether_type = Some(ETHERTYPE_IPV6);
                h.addrs = Some((
                    IpAddr::V6(Ipv6Addr::from(hdr.source())),
                    IpAddr::V6(Ipv6Addr::from(hdr.destination())),
                ));
                h.ip_proto = Some(ip.payload().ip_number.0);
                h.fragment = ip.payload().fragmented;
            }
            Some(LaxNetSlice::Arp(arp)) => {
                h.ether_type = Some(ETHERTYPE_ARP);
                h.addrs =
                    arp_ip(arp.sender_protocol_addr()).zip(arp_ip(arp.target_protocol_addr()));
            }
            None => {}
        }
        match &sliced.transport {
            Some(TransportSlice::Tcp(tcp)) => {
                h.ports = Some((tcp.source_port(), tcp.destination_port()));
                h.tcp_flags = Some(TcpFlags(tcp.header_slice().get(13).copied().unwrap_or(0)));
                h.payload_len = Some(announced_payload(&sliced, tcp.header_len()));
            }
            Some(TransportSlice::Udp(udp)) => {
                h.ports = Some((udp.source_port(), udp.destination_port()));
                h.payload_len = Some(u32::from(udp.length()).saturating_sub(8));
            }
            _ => {}
        }
        h
    }

    /// Whether this is IPv4.
    pub fn is_ipv4(&self) -> bool {
        self.ether_type == Some(ETHERTYPE_IPV4)
    }

    /// Whether this is IPv6.
    pub fn is_ipv6(&self) -> bool {
        self.ether_type == Some(ETHERTYPE_IPV6)
    }

    /// Whether this is ARP.
    pub fn is_arp(&self) -> bool {
        self.ether_type == Some(ETHERTYPE_ARP)
    }

    /// Whether this is IPv4 or IPv6 carrying IP protocol `p`.
    pub fn is_ip_proto(&self, p: u8) -> bool {
        (self.is_ipv4() || self.is_ipv6()) && self.ip_proto == Some(p)
    }
}

/// Ports from the first four bytes of a TCP or UDP header.
fn leading_ports(ip_proto: u8, payload: &[u8]) -> Option<(u16, u16)> {
    if ip_proto != proto::TCP && ip_proto != proto::UDP {
        return None;
    }
    let b: [u8; 4] = payload.get(..4)?.try_into().ok()?;
    Some((u16::from_be_bytes([b[0], b[1]]), u16::from_be_bytes([b[2], b[3]])))
}

/// TCP payload length from the IP header's lengths (so bytes the snapshot
/// length cut off still count, as tcpdump's `length` does).
fn announced_payload(sliced: &LaxSlicedPacket<'_>, tcp_header_len: usize) -> u32 {
    let ip_payload = match &sliced.net {
        Some(LaxNetSlice::Ipv4(ip)) => {
            let h = ip.header();
            usize::from(h.total_len()).saturating_sub(h.slice().len())
        }
        Some(LaxNetSlice::Ipv6(ip)) => {
            // The fixed header's payload length covers extension headers too.
            let ext = ip.extensions().slice().len();
            usize::from(ip.header().payload_length()).saturating_sub(ext)
        }
        _ => 0,
    };
    u32::try_from(ip_payload.saturating_sub(tcp_header_len)).unwrap_or(u32::MAX)
}

fn arp_ip(addr: &[u8]) -> Option<IpAddr> {
    match addr.len() {
        4 => <[u8; 4]>::try_from(addr).ok().map(|a| IpAddr::V4(Ipv4Addr::from(a))),
        16 => <[u8; 16]>::try_from(addr).ok().map(|a| IpAddr::V6(Ipv6Addr::from(a))),
        _ => None,
    }
}

fn be16(data: &[u8], at: usize) -> Option<u16> {
    let b: [u8; 2] = data.get(at..at.checked_add(2)?)?.try_into().ok()?;
    Some(u16::from_be_bytes(b))
}

/// Slices the frame from its network layer on: (EtherType if the link
/// header names one, the slices).
fn slice(link: LinkType, data: &[u8]) -> Option<(Option<u16>, LaxSlicedPacket<'_>)> {
    let (ether_type, offset) = match link {
        LinkType::ETHERNET => {
            let s = LaxSlicedPacket::from_ethernet(data).ok()?;
            return Some((be16(data, 12), s));
        }
        // NULL, LOOP, raw IP, Linux cooked: as the analysis reads them.
        _ => frame::link_payload(link, data).ok().flatten()?,
    };
    let rest = data.get(offset..)?;
    Some((Some(ether_type), LaxSlicedPacket::from_ether_type(EtherType(ether_type), rest)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use etherparse::PacketBuilder;
    use tlsscope_scope::time::Timestamp;

    fn frame(link: LinkType, data: &[u8]) -> Frame<'_> {
        Frame::whole(1, Timestamp(0), link, data)
    }

    fn eth() -> etherparse::PacketBuilderStep<etherparse::Ethernet2Header> {
        PacketBuilder::ethernet2([1; 6], [2; 6])
    }

    #[test]
    fn reads_tcp_through_the_scope_decoder() {
        let mut d = Vec::new();
        eth()
            .ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64)
            .tcp(1234, 443, 1, 100)
            .syn()
            .write(&mut d, b"")
            .unwrap();
        let h = Headers::of(&frame(LinkType::ETHERNET, &d));
        assert!(h.is_ipv4() && h.is_ip_proto(proto::TCP));
        assert_eq!(h.ports, Some((1234, 443)));
        assert!(h.tcp_flags.unwrap().syn());
        assert_eq!(h.payload_len, Some(0));
    }

    #[test]
    fn reads_udp_icmp_and_arp() {
        let mut d = Vec::new();
        eth().ipv6([1; 16], [2; 16], 5).udp(53, 5353).write(&mut d, b"abc").unwrap();
        let h = Headers::of(&frame(LinkType::ETHERNET, &d));
        assert!(h.is_ipv6() && h.is_ip_proto(proto::UDP));
        assert_eq!((h.ports, h.payload_len, h.tcp_flags), (Some((53, 5353)), Some(3), None));

        let mut d = Vec::new();
        eth()
            .ipv4([1, 1, 1, 1], [2, 2, 2, 2], 5)
            .icmpv4_echo_request(1, 2)
            .write(&mut d, b"")
            .unwrap();
        let h = Headers::of(&frame(LinkType::ETHERNET, &d));
        assert!(h.is_ip_proto(proto::ICMP));
        assert_eq!(h.ports, None);

        let arp = etherparse::ArpPacket::new(
            etherparse::ArpHardwareId::ETHERNET,
            EtherType::IPV4,
            etherparse::ArpOperation::REQUEST,
            &[1; 6],
            &[192, 168, 0, 1],
            &[0; 6],
            &[192, 168, 0, 2],
        )
        .unwrap();
        let mut d = vec![0xff; 12];
        d.extend_from_slice(&[0x08, 0x06]);
        d.extend_from_slice(&arp.to_bytes());
        let h = Headers::of(&frame(LinkType::ETHERNET, &d));
        assert!(h.is_arp());
        assert_eq!(h.addrs, Some(("192.168.0.1".parse().unwrap(), "192.168.0.2".parse().unwrap())));
    }

    #[test]
    fn first_fragment_has_ports_later_ones_do_not() {
        let mut d = Vec::new();
        eth().ipv4([1, 1, 1, 1], [2, 2, 2, 2], 5).udp(7, 9).write(&mut d, &[0; 40]).unwrap();
        // More-fragments flag set, offset 0: byte 20 of the frame (IPv4 flags).
        d[14 + 6] = 0x20;
        let h = Headers::of(&frame(LinkType::ETHERNET, &d));
        assert!(h.fragment);
        assert_eq!(h.ports, Some((7, 9)));
        // Offset 8 (one unit): a later fragment.
        d[14 + 7] = 1;
        let h = Headers::of(&frame(LinkType::ETHERNET, &d));
        assert!(h.fragment && h.is_ip_proto(proto::UDP));
        assert_eq!(h.ports, None);
    }

    #[test]
    fn reads_cooked_and_raw_links() {
        let mut ip = Vec::new();
        PacketBuilder::ipv4([127, 0, 0, 1], [127, 0, 0, 2], 5)
            .udp(1, 2)
            .write(&mut ip, b"")
            .unwrap();
        let mut sll2 = vec![0x08, 0x00, 0, 0, 0, 0, 0, 1, 0, 1, 0, 6, 0, 0, 0, 0, 0, 0, 0, 0];
        sll2.extend_from_slice(&ip);
        for (link, d) in [(LinkType::RAW, ip.clone()), (LinkType::LINUX_SLL2, sll2)] {
            let h = Headers::of(&frame(link, &d));
            assert_eq!(h.ports, Some((1, 2)), "{link}");
        }
    }

    #[test]
    fn every_truncation_reads_without_panic() {
        let mut d = Vec::new();
        eth().ipv6([1; 16], [2; 16], 5).tcp(1, 2, 3, 4).write(&mut d, b"xyz").unwrap();
        for link in [LinkType::ETHERNET, LinkType::LINUX_SLL2, LinkType::RAW, LinkType::NULL] {
            for n in 0..=d.len() {
                let _ = Headers::of(&frame(link, &d[..n]));
            }
        }
    }
}
