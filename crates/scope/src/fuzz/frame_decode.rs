//! `frame_decode`: one frame, the first byte picking the link type.

use super::*;

/// The link types [`frame_decode()`] picks from with its first input byte
/// (modulo the length): every type [`decode`] reads, and one it does not.
pub const FRAME_LINK_TYPES: [LinkType; 11] = [
    LinkType::ETHERNET,
    LinkType::NULL,
    LinkType::RAW_BSD12,
    LinkType::RAW_BSD14,
    LinkType::RAW,
    LinkType::LOOP,
    LinkType::LINUX_SLL,
    LinkType::IPV4,
    LinkType::IPV6,
    LinkType::LINUX_SLL2,
    LinkType(147), // LINKTYPE_USER0: unsupported
];

/// Fuzz body: decodes one frame. Input: a link type selector byte (an
/// index into [`FRAME_LINK_TYPES`]), then the frame.
pub fn frame_decode(data: &[u8]) {
    let Some((&sel, bytes)) = data.split_first() else { return };
    let Some(&link) = FRAME_LINK_TYPES.get(usize::from(sel) % FRAME_LINK_TYPES.len()) else {
        return;
    };
    let frame = Frame::whole(1, Timestamp(0), link, bytes);
    checked_decode(&frame);
}

/// The input for [`frame_decode()`] that decodes `frame` as `link`, if `link`
/// is one of [`FRAME_LINK_TYPES`].
pub fn frame_decode_input(link: LinkType, frame: &[u8]) -> Option<Vec<u8>> {
    let sel = FRAME_LINK_TYPES.iter().position(|l| *l == link)?;
    let mut out = vec![u8::try_from(sel).ok()?];
    out.extend_from_slice(frame);
    Some(out)
}

/// Seeds for [`frame_decode()`] from one captured frame: the frame itself
/// and, for an Ethernet frame holding IPv4 or IPv6, the same datagram under
/// every other link type `decode` reads, so each link parser starts from
/// real traffic.
pub fn frame_decode_seeds(link: LinkType, frame: &[u8]) -> Vec<Vec<u8>> {
    let mut out: Vec<Vec<u8>> = frame_decode_input(link, frame).into_iter().collect();
    if link != LinkType::ETHERNET {
        return out;
    }
    // Untagged Ethernet II only: 14 bytes, EtherType last.
    let (Some(&[t0, t1]), Some(ip)) = (frame.get(12..14), frame.get(14..)) else { return out };
    let (ethertype, v6) = match [t0, t1] {
        [0x08, 0x00] => ([t0, t1], false),
        [0x86, 0xdd] => ([t0, t1], true),
        _ => return out,
    };
    let with = |head: &[u8]| -> Vec<u8> { [head, ip].concat() };
    let family: u32 = if v6 { 10 } else { 2 }; // AF_INET6 (Linux) / AF_INET
    let variants = [
        (LinkType::RAW, ip.to_vec()),
        (LinkType::RAW_BSD12, ip.to_vec()),
        (LinkType::RAW_BSD14, ip.to_vec()),
        (if v6 { LinkType::IPV6 } else { LinkType::IPV4 }, ip.to_vec()),
        (LinkType::NULL, with(&family.to_le_bytes())),
        (LinkType::NULL, with(&(if v6 { 30u32 } else { 2 }).to_be_bytes())),
        (LinkType::LOOP, with(&(if v6 { 24u32 } else { 2 }).to_be_bytes())),
        // SLL: packet type, ARPHRD_ETHER, address length 6, 8 address bytes, protocol.
        (
            LinkType::LINUX_SLL,
            with(&[0, 0, 0, 1, 0, 6, 2, 0, 0, 0, 0, 0, 0, 0, ethertype[0], ethertype[1]]),
        ),
        // SLL2: protocol, reserved, ifindex, ARPHRD_ETHER, packet type,
        // address length, 8 address bytes.
        (
            LinkType::LINUX_SLL2,
            with(&[
                ethertype[0],
                ethertype[1],
                0,
                0,
                0,
                0,
                0,
                1,
                0,
                1,
                0,
                6,
                2,
                0,
                0,
                0,
                0,
                0,
                0,
                0,
            ]),
        ),
    ];
    for (l, f) in variants {
        out.extend(frame_decode_input(l, &f));
    }
    out
}

/// Decodes `frame` and checks what [`decode`] promises about the result:
/// the payload is the frame's own bytes at `payload_offset`, addresses are
/// of one family, error offsets lie inside the frame, and only unsupported
/// link types are reported as such. Returns the segment, if any.
pub fn checked_decode<'a>(frame: &Frame<'a>) -> Option<TcpSegment<'a>> {
    let result = decode(frame);
    match &result {
        Ok(Decoded::Tcp(seg)) => {
            let off = seg.payload_offset as usize;
            let inside = frame.data.get(off..off + seg.payload.len());
            assert!(
                inside.is_some_and(|s| std::ptr::eq(s.as_ptr(), seg.payload.as_ptr())),
                "payload is not the frame's bytes at payload_offset {off} \
                 (payload {} bytes, frame {} bytes)",
                seg.payload.len(),
                frame.data.len()
            );
            assert_eq!(seg.src.is_ipv4(), seg.dst.is_ipv4(), "mixed address families");
        }
        Ok(Decoded::IpFragment | Decoded::Other) => {}
        Err(DecodeError::UnsupportedLinkType(l)) => {
            assert_eq!(*l, frame.link);
            assert!(!l.is_supported(), "{l} is supported but was reported as not");
        }
        Err(DecodeError::Malformed { offset, .. }) => {
            assert!(
                *offset as usize <= frame.data.len(),
                "error offset {offset} beyond the frame ({} bytes)",
                frame.data.len()
            );
        }
    }
    if let Err(e) = &result {
        assert!(!e.to_string().is_empty());
    }
    match result {
        Ok(Decoded::Tcp(seg)) => Some(seg),
        _ => None,
    }
}
