//! Our capture filters against tcpdump's: the same synthetic packets, the
//! same expressions, the same packets must match. tcpdump (libpcap)
//! compiles each expression to BPF and runs it on a pcapng file we write;
//! packet N has timestamp BASE + N seconds, so tcpdump's `-tt` times say
//! which packets passed. Fails if tcpdump is missing.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, UNIX_EPOCH};

use etherparse::{ArpHardwareId, ArpOperation, ArpPacket, EtherType, PacketBuilder};
use tlsscope_capture::filter::Filter;
use tlsscope_capture::pcapng::{Interface, LinkType, Packet, Section, Writer};
use tlsscope_scope::frame::Frame;
use tlsscope_scope::time::Timestamp;

fn eth() -> etherparse::PacketBuilderStep<etherparse::Ethernet2Header> {
    PacketBuilder::ethernet2([2; 6], [4; 6])
}

fn v6(last: u8, first: u16) -> [u8; 16] {
    let mut a = [0u8; 16];
    a[..2].copy_from_slice(&first.to_be_bytes());
    a[15] = last;
    a
}

/// The packets, numbered from 1 as tcpdump's `-#` counts them.
fn packets() -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut add = |f: &dyn Fn(&mut Vec<u8>)| {
        let mut d = Vec::new();
        f(&mut d);
        out.push(d);
    };
    // 1-3: TCP over IPv4.
    add(&|d| {
        eth()
            .ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64)
            .tcp(40000, 443, 1, 9)
            .syn()
            .write(d, b"")
            .unwrap()
    });
    add(&|d| {
        eth()
            .ipv4([10, 0, 0, 2], [10, 0, 0, 1], 64)
            .tcp(443, 40000, 1, 9)
            .ack(2)
            .write(d, b"hi")
            .unwrap()
    });
    add(&|d| {
        eth().ipv4([192, 168, 1, 5], [10, 1, 2, 3], 64).tcp(80, 8080, 1, 9).write(d, b"x").unwrap()
    });
    // 4-5: UDP over IPv4.
    add(&|d| eth().ipv4([10, 0, 0, 1], [10, 0, 0, 53], 64).udp(53, 53).write(d, b"q").unwrap());
    add(&|d| {
        eth().ipv4([172, 16, 0, 1], [10, 0, 0, 2], 64).udp(5000, 5353).write(d, b"q").unwrap()
    });
    // 6-7: IPv6.
    add(&|d| eth().ipv6(v6(1, 0), v6(1, 0), 64).tcp(40000, 443, 1, 9).write(d, b"").unwrap());
    add(&|d| eth().ipv6(v6(1, 0xfd00), v6(2, 0xfd00), 64).udp(546, 547).write(d, b"").unwrap());
    // 8-9: ICMP, ICMPv6.
    add(&|d| {
        eth()
            .ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64)
            .icmpv4_echo_request(1, 1)
            .write(d, b"")
            .unwrap()
    });
    add(&|d| eth().ipv6(v6(1, 0), v6(2, 0), 64).icmpv6_echo_request(1, 1).write(d, b"").unwrap());
    // 10: ARP who-has 10.0.0.2 tell 10.0.0.1.
    add(&|d| {
        let arp = ArpPacket::new(
            ArpHardwareId::ETHERNET,
            EtherType::IPV4,
            ArpOperation::REQUEST,
            &[2; 6],
            &[10, 0, 0, 1],
            &[0; 6],
            &[10, 0, 0, 2],
        )
        .unwrap();
        d.extend_from_slice(&[0xff; 6]);
        d.extend_from_slice(&[2; 6]);
        d.extend_from_slice(&[0x08, 0x06]);
        d.extend_from_slice(&arp.to_bytes());
    });
    // 11: first fragment of a UDP datagram 10.0.0.1:7 → 10.0.0.2:9 (MF set).
    add(&|d| {
        eth().ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64).udp(7, 9).write(d, &[0; 32]).unwrap();
        d[14 + 6] = 0x20;
        fix_ipv4_checksum(d);
    });
    // 12: a later fragment of it whose bytes look like port 9 too.
    add(&|d| {
        eth().ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64).udp(9, 9).write(d, &[0; 32]).unwrap();
        d[14 + 7] = 5;
        fix_ipv4_checksum(d);
    });
    // 13: TCP to a loopback address.
    add(&|d| {
        eth()
            .ipv4([10, 0, 0, 3], [127, 0, 0, 1], 64)
            .tcp(8443, 50000, 1, 9)
            .fin()
            .write(d, b"")
            .unwrap()
    });
    out
}

fn fix_ipv4_checksum(d: &mut [u8]) {
    d[24] = 0;
    d[25] = 0;
    let mut sum = 0u32;
    for c in d[14..34].chunks(2) {
        sum += u32::from(u16::from_be_bytes([c[0], c[1]]));
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    d[24..26].copy_from_slice(&(!(sum as u16)).to_be_bytes());
}

/// Packet N was captured at BASE + N seconds.
const BASE: u64 = 1_700_000_000;

const FILTERS: &[&str] = &[
    "tcp",
    "udp",
    "ip",
    "ip6",
    "icmp",
    "icmp6",
    "arp",
    "(tcp)",
    "port 443",
    "src port 443",
    "dst port 443",
    "tcp port 53",
    "udp port 53",
    "udp port 9",
    "port 53 or 443",
    "portrange 8000-9000",
    "src portrange 1-1000",
    "tcp dst portrange 8000-60000",
    "src or dst port 9",
    "src and dst port 53",
    "host 10.0.0.1",
    "src host 10.0.0.1",
    "dst host 10.0.0.2",
    "dst 10.0.0.2",
    "ip host 10.0.0.1",
    "arp host 10.0.0.1",
    "host ::1",
    "ip6 host ::1",
    "host fd00::2",
    "net 10.0.0.0/8",
    "net 10",
    "net 127.0.0.0/8",
    "src net 192.168",
    "dst net fd00::/8",
    "net ::/0",
    "not tcp",
    "! ip",
    "not tcp and not udp",
    "!(ip or ip6)",
    "tcp or udp and port 53",
    "udp and port 53 or tcp",
    "tcp && port 443 || udp",
    "ip and not (port 443 or port 53)",
    "host 10.0.0.1 and not 10.0.0.2",
    "host 10.0.0.2 and icmp",
    "not port 443 and (tcp or icmp6)",
    "src host 10.0.0.1 and dst port 9 or arp",
];

fn ours(filter: &str, packets: &[Vec<u8>]) -> Vec<u64> {
    let f = Filter::parse(filter).unwrap_or_else(|e| panic!("{filter}: {e}"));
    (1u64..)
        .zip(packets)
        .filter(|(n, d)| f.matches(&Frame::whole(*n, Timestamp(0), LinkType::ETHERNET, d)))
        .map(|(n, _)| n)
        .collect()
}

fn tcpdumps(filter: &str, file: &Path) -> Vec<u64> {
    let out = Command::new("tcpdump")
        .args(["-n", "-tt", "-r"])
        .arg(file)
        .arg(filter)
        .output()
        .unwrap_or_else(|e| {
            panic!("this test needs tcpdump ({e}): apt-get install tcpdump (./scripts/test does)")
        });
    assert!(out.status.success(), "tcpdump {filter}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let secs: u64 = l.split_whitespace().next()?.split('.').next()?.parse().ok()?;
            Some(secs - BASE)
        })
        .collect()
}

#[test]
fn filters_match_the_packets_tcpdump_matches() {
    let dir = std::env::temp_dir().join(format!("tlsscope-filter-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("packets.pcapng");
    let packets = packets();
    let mut w = Writer::new(Vec::new(), &Section::tlsscope()).unwrap();
    let id = w.add_interface(&Interface::new(LinkType::ETHERNET, 0)).unwrap();
    for (i, d) in packets.iter().enumerate() {
        let ts = UNIX_EPOCH + Duration::from_secs(BASE + 1 + i as u64);
        w.write_packet(&Packet::new(id, ts, d)).unwrap();
    }
    std::fs::write(&file, w.finish().unwrap()).unwrap();

    // Every packet is read by tcpdump at all.
    assert_eq!(tcpdumps("", &file), (1..=packets.len() as u64).collect::<Vec<_>>());
    let mut differ = Vec::new();
    for f in FILTERS {
        let (a, b) = (ours(f, &packets), tcpdumps(f, &file));
        if a != b {
            differ.push(format!("{f:?}: ours {a:?}, tcpdump {b:?}"));
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    assert!(differ.is_empty(), "filters that disagree:\n{}", differ.join("\n"));
}
