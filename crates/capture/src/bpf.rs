//! Classic BPF programs for the kernel's socket filter (`SO_ATTACH_FILTER`,
//! [filter.rst](https://www.kernel.org/doc/html/latest/networking/filter.html)).
//!
//! The kernel runs the program on every packet of the interface before
//! copying it to us, so what it rejects costs no copy, no receive-buffer
//! space and no system call. The programs here are *prefilters*: they may
//! let through more than the user's filter (which is always evaluated in
//! user space too), never less. They do three things:
//!
//! 1. drop the second copy of loopback packets: on `lo` the kernel hands
//!    packet sockets every packet twice, once as it is sent (PACKET_OUTGOING)
//!    and once as it is received, and tcpdump (libpcap) keeps only the latter;
//! 2. for a filter that is a single port test (`--port 443`, `tcp port 443`),
//!    keep only TCP/UDP with that port, as tcpdump's compiled filter does;
//! 3. cut each packet to the snapshot length in the kernel (the accept
//!    return value), so large loopback segments take less buffer space.
//!
//! [`interpret`] runs a program in user space the way the kernel does, so the
//! tests can check the programs on synthetic packets without privileges.

use crate::filter::{Dir, PortMatch};

/// One classic BPF instruction (`struct sock_filter`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Insn {
    /// Opcode: class | size | mode (or jump kind / source).
    pub code: u16,
    /// Jump offset if true, relative to the next instruction.
    pub jt: u8,
    /// Jump offset if false.
    pub jf: u8,
    /// The constant operand.
    pub k: u32,
}

/// Opcode parts from linux/bpf_common.h.
mod op {
    pub const LD: u16 = 0x00;
    pub const LDX: u16 = 0x01;
    pub const JMP: u16 = 0x05;
    pub const RET: u16 = 0x06;
    pub const W: u16 = 0x00;
    pub const H: u16 = 0x08;
    pub const B: u16 = 0x10;
    pub const ABS: u16 = 0x20;
    pub const IND: u16 = 0x40;
    pub const MSH: u16 = 0xa0;
    pub const JEQ: u16 = 0x10;
    pub const JGT: u16 = 0x20;
    pub const JGE: u16 = 0x30;
    pub const JSET: u16 = 0x40;
    pub const K: u16 = 0x00;
}

/// Ancillary data offsets (linux/filter.h: `SKF_AD_OFF + SKF_AD_*`): loads
/// at these "offsets" read skb fields instead of packet bytes.
mod ad {
    const OFF: u32 = (-0x1000i32) as u32;
    /// `ntohs(skb->protocol)`: the EtherType.
    pub const PROTOCOL: u32 = OFF;
    /// `skb->pkt_type`: PACKET_HOST, PACKET_OUTGOING...
    pub const PKTTYPE: u32 = OFF + 4;
    /// `skb->dev->ifindex`.
    pub const IFINDEX: u32 = OFF + 8;
}

/// `skb->pkt_type` of a packet the host sends (linux/if_packet.h).
pub const PACKET_OUTGOING: u32 = 4;

/// Where the bytes the filter sees start.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layout {
    /// At an Ethernet header (SOCK_RAW on Ethernet and loopback devices).
    Ethernet,
    /// At the network header (SOCK_DGRAM "cooked" sockets, raw-IP devices);
    /// the EtherType comes from the skb.
    Network,
}

/// What to compile.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Spec {
    /// Where packets start.
    pub layout: Layout,
    /// Reject PACKET_OUTGOING packets on this interface index (the
    /// loopback device's), whose incoming copy we keep.
    pub skip_outgoing_on: Option<u32>,
    /// Keep only packets this port test may match.
    pub ports: Option<PortMatch>,
    /// Bytes of an accepted packet to keep (at least 1).
    pub keep: u32,
}

#[derive(Clone, Copy, Debug)]
enum Target {
    Next,
    Label(usize),
}

/// A tiny assembler: forward jumps to labels, resolved at the end.
#[derive(Default)]
struct Asm {
    code: Vec<(Insn, Target, Target)>,
    labels: Vec<Option<usize>>,
}

impl Asm {
    fn label(&mut self) -> Target {
        let l = self.labels.len();
        self.labels.push(None);
        Target::Label(l)
    }

    fn bind(&mut self, l: Target) {
        if let Target::Label(i) = l
            && let Some(slot) = self.labels.get_mut(i)
        {
            *slot = Some(self.code.len());
        }
    }

    fn stmt(&mut self, code: u16, k: u32) {
        self.code.push((Insn { code, jt: 0, jf: 0, k }, Target::Next, Target::Next));
    }

    fn jump(&mut self, kind: u16, k: u32, jt: Target, jf: Target) {
        self.code.push((Insn { code: op::JMP | kind | op::K, jt: 0, jf: 0, k }, jt, jf));
    }

    /// Resolves the jumps; None if one goes backwards or too far (BPF
    /// jumps are forward only, at most 255 instructions).
    fn finish(self) -> Option<Vec<Insn>> {
        let resolve = |i: usize, t: Target| -> Option<u8> {
            match t {
                Target::Next => Some(0),
                Target::Label(l) => {
                    let at = (*self.labels.get(l)?)?;
                    // Relative to the instruction after the jump.
                    u8::try_from(at.checked_sub(i)?.checked_sub(1)?).ok()
                }
            }
        };
        self.code
            .iter()
            .enumerate()
            .map(|(i, (insn, jt, jf))| {
                Some(Insn { jt: resolve(i, *jt)?, jf: resolve(i, *jf)?, ..*insn })
            })
            .collect()
    }
}

/// Compiles a prefilter. Never fails: should the program not assemble, the
/// result accepts everything (still cut to `keep` bytes), which is correct
/// because user space filters again.
pub fn compile(spec: &Spec) -> Vec<Insn> {
    let keep = spec.keep.max(1);
    build(spec, keep).unwrap_or_else(|| vec![Insn { code: op::RET | op::K, jt: 0, jf: 0, k: keep }])
}

fn build(spec: &Spec, keep: u32) -> Option<Vec<Insn>> {
    let mut a = Asm::default();
    let accept = a.label();
    let reject = a.label();

    if let Some(lo) = spec.skip_outgoing_on {
        let main = a.label();
        a.stmt(op::LD | op::W | op::ABS, ad::PKTTYPE);
        a.jump(op::JEQ, PACKET_OUTGOING, Target::Next, main);
        a.stmt(op::LD | op::W | op::ABS, ad::IFINDEX);
        a.jump(op::JEQ, lo, reject, main);
        a.bind(main);
    }

    if let Some(pm) = spec.ports {
        let nh: u32 = match spec.layout {
            Layout::Ethernet => 14,
            Layout::Network => 0,
        };
        let (v4, v6) = (a.label(), a.label());
        match spec.layout {
            Layout::Ethernet => a.stmt(op::LD | op::H | op::ABS, 12),
            Layout::Network => a.stmt(op::LD | op::W | op::ABS, ad::PROTOCOL),
        }
        a.jump(op::JEQ, 0x0800, v4, Target::Next);
        a.jump(op::JEQ, 0x86dd, v6, Target::Next);
        // VLAN tags still in the frame: let user space look inside.
        a.jump(op::JEQ, 0x8100, accept, Target::Next);
        a.jump(op::JEQ, 0x88a8, accept, reject);

        // IPv4: protocol, not a later fragment, then the ports after the
        // header (its length from the IHL nibble: ldxb 4*([nh]&0xf)).
        a.bind(v4);
        let ports4 = a.label();
        a.stmt(op::LD | op::B | op::ABS, nh.checked_add(9)?);
        proto_check(&mut a, pm, ports4, reject, reject);
        a.bind(ports4);
        a.stmt(op::LD | op::H | op::ABS, nh.checked_add(6)?);
        a.jump(op::JSET, 0x1fff, reject, Target::Next);
        a.stmt(op::LDX | op::B | op::MSH, nh);
        let ports = (nh, nh.checked_add(2)?);
        port_checks(&mut a, pm, op::LD | op::H | op::IND, ports, accept, reject);

        // IPv6: next header of the fixed header. Extension headers
        // (hop-by-hop 0, routing 43, fragment 44, destination options 60)
        // go to user space, which follows the chain.
        a.bind(v6);
        let (ports6, ext) = (a.label(), a.label());
        a.stmt(op::LD | op::B | op::ABS, nh.checked_add(6)?);
        proto_check(&mut a, pm, ports6, ext, reject);
        a.bind(ext);
        a.jump(op::JEQ, 0, accept, Target::Next);
        a.jump(op::JEQ, 43, accept, Target::Next);
        a.jump(op::JEQ, 44, accept, Target::Next);
        a.jump(op::JEQ, 60, accept, reject);
        a.bind(ports6);
        let ports = (nh.checked_add(40)?, nh.checked_add(42)?);
        port_checks(&mut a, pm, op::LD | op::H | op::ABS, ports, accept, reject);
    }

    a.bind(accept);
    a.stmt(op::RET | op::K, keep);
    a.bind(reject);
    a.stmt(op::RET | op::K, 0);
    a.finish()
}

/// With the protocol number in A: jump to `ports` for the protocols the
/// port test allows, to `other` for anything else. A disallowed one of
/// TCP/UDP goes to `reject`.
fn proto_check(a: &mut Asm, pm: PortMatch, ports: Target, other: Target, reject: Target) {
    let tcp = if pm.tcp { ports } else { reject };
    let udp = if pm.udp { ports } else { reject };
    a.jump(op::JEQ, 6, tcp, Target::Next);
    a.jump(op::JEQ, 17, udp, other);
}

/// Tests the source port and/or destination port (at `(src, dst)`)
/// loaded with `load` (absolute, or indexed by X for IPv4).
fn port_checks(
    a: &mut Asm,
    pm: PortMatch,
    load: u16,
    (src, dst_at): (u32, u32),
    accept: Target,
    reject: Target,
) {
    let in_range = |a: &mut Asm, yes: Target, no: Target| {
        if pm.lo == pm.hi {
            a.jump(op::JEQ, u32::from(pm.lo), yes, no);
        } else {
            a.jump(op::JGE, u32::from(pm.lo), Target::Next, no);
            a.jump(op::JGT, u32::from(pm.hi), no, yes);
        }
    };
    match pm.dir {
        Dir::Src | Dir::Dst => {
            let at = if pm.dir == Dir::Src { src } else { dst_at };
            a.stmt(load, at);
            in_range(a, accept, reject);
        }
        Dir::SrcOrDst => {
            let dst = a.label();
            a.stmt(load, src);
            in_range(a, accept, dst);
            a.bind(dst);
            a.stmt(load, dst_at);
            in_range(a, accept, reject);
        }
        Dir::SrcAndDst => {
            let dst = a.label();
            a.stmt(load, src);
            in_range(a, dst, reject);
            a.bind(dst);
            a.stmt(load, dst_at);
            in_range(a, accept, reject);
        }
    }
}

/// What the kernel knows about a packet besides its bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Meta {
    /// The EtherType (`skb->protocol`).
    pub protocol: u16,
    /// `skb->pkt_type`.
    pub pkttype: u32,
    /// The device's interface index.
    pub ifindex: u32,
}

/// Runs a program as the kernel's classic BPF interpreter does, for the
/// instructions [`compile`] emits: returns the bytes to keep (0 = drop).
/// Loads past the end drop the packet, as in the kernel. For tests and
/// debugging; the kernel runs the real thing.
pub fn interpret(prog: &[Insn], packet: &[u8], meta: &Meta) -> u32 {
    let (mut acc, mut x) = (0u32, 0u32);
    // The instructions from the next one to run.
    let mut rest = prog;
    let byte = |at: u32| packet.get(at as usize).copied().map(u32::from);
    let half = |at: u32| Some(byte(at)? << 8 | byte(at.checked_add(1)?)?);
    let word = |at: u32| Some(half(at)? << 16 | half(at.checked_add(2)?)?);
    // Bounded: every jump goes forward.
    while let Some((i, after)) = rest.split_first() {
        rest = after;
        let class = i.code & 0x07;
        let loaded = |at: u32| -> Option<u32> {
            match at {
                ad::PROTOCOL => Some(u32::from(meta.protocol)),
                ad::PKTTYPE => Some(meta.pkttype),
                ad::IFINDEX => Some(meta.ifindex),
                _ => match i.code & 0x18 {
                    op::W => word(at),
                    op::H => half(at),
                    _ => byte(at),
                },
            }
        };
        match (class, i.code & 0xe0) {
            (op::LD, op::ABS) => match loaded(i.k) {
                Some(v) => acc = v,
                None => return 0,
            },
            (op::LD, op::IND) => match x.checked_add(i.k).and_then(loaded) {
                Some(v) => acc = v,
                None => return 0,
            },
            (op::LDX, op::MSH) => match byte(i.k) {
                // 4 × the IHL nibble.
                Some(v) => x = (v & 0xf) << 2,
                None => return 0,
            },
            (op::JMP, _) => {
                let taken = match i.code & 0xf0 {
                    op::JEQ => acc == i.k,
                    op::JGT => acc > i.k,
                    op::JGE => acc >= i.k,
                    op::JSET => acc & i.k != 0,
                    _ => return 0,
                };
                // Past the end, nothing is left to run: the packet is dropped.
                let skip = usize::from(if taken { i.jt } else { i.jf });
                rest = rest.get(skip..).unwrap_or_default();
            }
            (op::RET, _) => return i.k,
            _ => return 0,
        }
    }
    0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::filter::Filter;
    use crate::headers::Headers;
    use etherparse::PacketBuilder;
    use tlsscope_scope::frame::{Frame, LinkType};
    use tlsscope_scope::time::Timestamp;

    const LO: u32 = 1;

    fn frames() -> Vec<(Vec<u8>, &'static str)> {
        let eth = || PacketBuilder::ethernet2([1; 6], [2; 6]);
        let mut out = Vec::new();
        let mut push =
            |b: Result<(), etherparse::err::packet::BuildWriteError>, d: Vec<u8>, what| {
                b.unwrap();
                out.push((d, what));
            };
        for (sp, dp) in [(40000u16, 443u16), (443, 40000), (443, 443), (80, 81), (8000, 9000)] {
            let mut d = Vec::new();
            let b = eth()
                .ipv4([127, 0, 0, 1], [127, 0, 0, 1], 64)
                .tcp(sp, dp, 1, 100)
                .write(&mut d, b"hi");
            push(b, d, "tcp4");
            let mut d = Vec::new();
            let b = eth().ipv6([1; 16], [2; 16], 64).tcp(sp, dp, 1, 100).write(&mut d, b"hi");
            push(b, d, "tcp6");
            let mut d = Vec::new();
            let b = eth().ipv4([127, 0, 0, 1], [127, 0, 0, 1], 64).udp(sp, dp).write(&mut d, b"hi");
            push(b, d, "udp4");
            let mut d = Vec::new();
            let b = eth().ipv6([1; 16], [2; 16], 64).udp(sp, dp).write(&mut d, b"hi");
            push(b, d, "udp6");
        }
        let mut d = Vec::new();
        let b =
            eth().ipv4([1, 1, 1, 1], [2, 2, 2, 2], 64).icmpv4_echo_request(1, 2).write(&mut d, b"");
        push(b, d, "icmp");
        // An IPv4 header with options (IHL 6): the ports move by 4 bytes.
        let mut d = Vec::new();
        let mut ip =
            etherparse::Ipv4Header::new(22, 64, etherparse::IpNumber::TCP, [1; 4], [2; 4]).unwrap();
        ip.options = [1, 1, 1, 1][..].try_into().unwrap();
        let b = eth()
            .ip(etherparse::IpHeaders::Ipv4(ip, Default::default()))
            .tcp(1, 443, 0, 0)
            .write(&mut d, b"");
        push(b, d, "tcp4+options");
        // A later IPv4 fragment whose payload happens to hold port 443.
        let mut d = Vec::new();
        let b = eth().ipv4([1; 4], [2; 4], 64).tcp(443, 443, 0, 0).write(&mut d, b"");
        d[14 + 7] = 1;
        push(b.map(|_| ()), d, "fragment");
        out
    }

    /// The kernel program never rejects a packet the user-space filter
    /// keeps, and for single port tests it keeps exactly those.
    #[test]
    fn prefilter_agrees_with_the_user_space_filter() {
        for text in [
            "tcp port 443",
            "port 443",
            "udp port 443",
            "tcp src port 443",
            "tcp dst port 443",
            "src and dst port 443",
            "portrange 8000-8999",
            "tcp dst portrange 9000-9001",
        ] {
            let f = Filter::parse(text).unwrap();
            let spec = Spec {
                layout: Layout::Ethernet,
                skip_outgoing_on: None,
                ports: f.as_port_match(),
                keep: 65535,
            };
            let prog = compile(&spec);
            for (d, what) in frames() {
                let frame = Frame {
                    number: 1,
                    ts: Timestamp(0),
                    link: LinkType::ETHERNET,
                    data: &d,
                    orig_len: 0,
                    file_offset: None,
                };
                let user = f.matches_headers(&Headers::of(&frame));
                let kernel = interpret(&prog, &d, &Meta::default()) > 0;
                assert_eq!(kernel, user, "{text} on {what} {:?}", Headers::of(&frame).ports);
            }
        }
    }

    #[test]
    fn cooked_layout_reads_the_ethertype_from_the_skb() {
        let f = Filter::tcp_port(443);
        let spec = Spec {
            layout: Layout::Network,
            skip_outgoing_on: None,
            ports: f.as_port_match(),
            keep: 100,
        };
        let prog = compile(&spec);
        for (d, what) in frames() {
            let proto = u16::from_be_bytes([d[12], d[13]]);
            let frame = Frame {
                number: 1,
                ts: Timestamp(0),
                link: LinkType::ETHERNET,
                data: &d,
                orig_len: 0,
                file_offset: None,
            };
            let user = f.matches(&frame);
            let got = interpret(&prog, &d[14..], &Meta { protocol: proto, ..Meta::default() });
            assert_eq!(got > 0, user, "{what}");
            if user {
                assert_eq!(got, 100);
            }
        }
    }

    #[test]
    fn drops_outgoing_copies_on_loopback_only() {
        let spec = Spec {
            layout: Layout::Ethernet,
            skip_outgoing_on: Some(LO),
            ports: None,
            keep: 262_144,
        };
        let prog = compile(&spec);
        let d = &frames()[0].0;
        let m =
            |pkttype, ifindex| interpret(&prog, d, &Meta { protocol: 0x0800, pkttype, ifindex });
        assert_eq!(m(PACKET_OUTGOING, LO), 0);
        assert_eq!(m(0, LO), 262_144, "incoming copy on lo kept");
        assert_eq!(m(PACKET_OUTGOING, 2), 262_144, "outgoing on eth0 kept");
        // With a port test too.
        let spec = Spec { ports: Filter::tcp_port(443).as_port_match(), ..spec };
        let prog = compile(&spec);
        let m =
            |pkttype, ifindex| interpret(&prog, d, &Meta { protocol: 0x0800, pkttype, ifindex });
        assert_eq!(
            (m(PACKET_OUTGOING, LO), m(0, LO), m(PACKET_OUTGOING, 2)),
            (0, 262_144, 262_144)
        );
    }

    #[test]
    fn without_a_test_it_only_cuts_to_the_snapshot_length() {
        let prog = compile(&Spec {
            layout: Layout::Network,
            skip_outgoing_on: None,
            ports: None,
            keep: 96,
        });
        assert_eq!(prog[0], Insn { code: 0x06, jt: 0, jf: 0, k: 96 });
        let prog = compile(&Spec {
            layout: Layout::Network,
            skip_outgoing_on: None,
            ports: None,
            keep: 0,
        });
        assert_eq!(interpret(&prog, b"", &Meta::default()), 1, "keep is at least 1");
    }

    #[test]
    fn truncated_packets_are_dropped_not_read_past() {
        let prog = compile(&Spec {
            layout: Layout::Ethernet,
            skip_outgoing_on: None,
            ports: Filter::tcp_port(443).as_port_match(),
            keep: 65535,
        });
        let d = &frames()[0].0;
        for n in 0..d.len() {
            let _ = interpret(&prog, &d[..n], &Meta::default());
        }
        assert_eq!(interpret(&prog, &d[..14 + 20 + 3], &Meta::default()), 0);
    }

    #[test]
    fn tcp_port_program_matches_tcpdumps_shape() {
        // tcpdump -d 'tcp port 443' on an Ethernet device begins the same
        // way: ldh [12]; jeq #0x800 ...; ldb [23]; ... ldxb 4*([14]&0xf).
        let prog = compile(&Spec {
            layout: Layout::Ethernet,
            skip_outgoing_on: None,
            ports: Filter::tcp_port(443).as_port_match(),
            keep: 262_144,
        });
        assert_eq!((prog[0].code, prog[0].k), (0x28, 12));
        assert!(prog.iter().any(|i| i.code == 0xb1 && i.k == 14));
        assert!(prog.iter().any(|i| i.code == 0x30 && i.k == 23));
        assert!(prog.iter().any(|i| i.code == 0x45 && i.k == 0x1fff));
        assert_eq!(prog.last().unwrap(), &Insn { code: 0x06, jt: 0, jf: 0, k: 0 });
    }
}
