//! `tls_assembler`: handshake messages reassembled from record bodies,
//! against a byte-by-byte model.

use super::*;

/// What [`Assembler`](handshake::Assembler) should hand out for a stream
/// of record bodies: each message with the (frame, frame offset) of each
/// of its bytes, and the announced lengths of messages over the limit.
#[derive(Default)]
pub(super) struct AssemblyModel {
    pub(super) buf: Vec<u8>,
    pub(super) at: Vec<(u64, u32)>,
    pub(super) skip: usize,
    pub(super) messages: Vec<(Vec<u8>, Pieces)>,
    pub(super) too_large: Vec<usize>,
}

impl AssemblyModel {
    pub(super) fn byte(&mut self, b: u8, frame: u64, frame_offset: u32) {
        if self.skip > 0 {
            self.skip -= 1;
            return;
        }
        self.buf.push(b);
        self.at.push((frame, frame_offset));
        let len = match self.buf.get(1..4) {
            Some(&[x, y, z]) => u32::from_be_bytes([0, x, y, z]) as usize,
            _ => return,
        };
        if self.buf.len() == 4 && len > handshake::MAX_MESSAGE {
            self.too_large.push(len);
            self.skip = len;
            self.reset();
        } else if self.buf.len() == 4 + len {
            // One piece per run of bytes from one frame.
            let mut pieces: Vec<Piece> = Vec::new();
            for (i, &(frame, off)) in self.at.iter().enumerate() {
                match pieces.last_mut() {
                    Some(p) if p.frame == frame && p.frame_offset + p.len == off => p.len += 1,
                    _ => pieces.push(Piece {
                        unit_offset: len32(i),
                        len: 1,
                        frame,
                        frame_offset: off,
                    }),
                }
            }
            self.messages.push((std::mem::take(&mut self.buf), Pieces(pieces)));
            self.at.clear();
        }
    }

    pub(super) fn reset(&mut self) {
        self.buf.clear();
        self.at.clear();
    }
}

/// `pieces` with adjacent runs of one frame joined.
pub(super) fn merged(pieces: &Pieces) -> Pieces {
    let mut out: Vec<Piece> = Vec::new();
    for p in &pieces.0 {
        match out.last_mut() {
            Some(q)
                if q.frame == p.frame
                    && q.unit_offset + q.len == p.unit_offset
                    && q.frame_offset + q.len == p.frame_offset =>
            {
                q.len += p.len
            }
            _ => out.push(*p),
        }
    }
    Pieces(out)
}

/// Fuzz body: handshake messages reassembled from records. Input: records,
/// each a length byte and that many body bytes (255: a gap, after which the
/// assembler is reset). Each record's first half is carried by one frame,
/// the rest by the next. Checks against a byte-by-byte model: the same
/// messages in the same order, pieces that map every message byte to the
/// frame and offset it came in, the same oversized messages skipped, and
/// `is_pending` at the end.
pub fn tls_assembler(data: &[u8]) {
    let mut asm = handshake::Assembler::default();
    let mut model = AssemblyModel::default();
    let mut got: Vec<(Vec<u8>, Pieces)> = Vec::new();
    let mut too_large = Vec::new();
    let mut rest = data;
    let mut frame = 0u64;
    while let [len, tail @ ..] = rest {
        if *len == 255 {
            asm.reset();
            model.reset();
            model.skip = 0;
            rest = tail;
            continue;
        }
        let n = usize::from(*len).min(tail.len());
        let body = tail.get(..n).unwrap_or_default();
        rest = tail.get(n..).unwrap_or_default();
        // Header and first half in one frame (at offset 100), the rest in
        // the next (at offset 60).
        let half = n / 2;
        frame += 2;
        let (f1, f2) = (frame - 1, frame);
        let pieces = Pieces(vec![
            Piece { unit_offset: 0, len: len32(HEADER_LEN + half), frame: f1, frame_offset: 100 },
            Piece {
                unit_offset: len32(HEADER_LEN + half),
                len: len32(n - half),
                frame: f2,
                frame_offset: 60,
            },
        ]);
        for (i, &b) in body.iter().enumerate() {
            let (f, off) = if i < half {
                (f1, 100 + len32(HEADER_LEN + i))
            } else {
                (f2, 60 + len32(i - half))
            };
            model.byte(b, f, off);
        }
        asm.push(
            body,
            &pieces,
            len32(HEADER_LEN),
            &mut |m| got.push((m.bytes.to_vec(), m.pieces.clone())),
            &mut |n| too_large.push(n),
        );
    }
    assert_eq!(got.len(), model.messages.len(), "message count");
    for (i, ((bytes, pieces), (want, want_pieces))) in got.iter().zip(&model.messages).enumerate() {
        assert_eq!(bytes, want, "message {i}");
        // The assembler may map adjacent bytes of one frame in two pieces.
        assert_eq!(&merged(pieces), want_pieces, "pieces of message {i}");
    }
    assert_eq!(too_large, model.too_large, "oversized messages");
    assert_eq!(asm.is_pending(), !model.buf.is_empty() || model.skip > 0, "is_pending");
}

/// Seeds for [`tls_assembler()`]: the handshake samples one after the other,
/// cut into records of changing sizes, with a gap in one of them.
pub fn tls_assembler_seeds() -> Vec<Vec<u8>> {
    let stream: Vec<u8> = handshake_samples().into_iter().flat_map(|(_, m)| m).collect();
    let mut out = Vec::new();
    for (k, sizes) in [[200usize, 3, 90, 1, 254], [17, 254, 64, 5, 128], [254, 254, 254, 254, 254]]
        .iter()
        .enumerate()
    {
        let mut seed = Vec::new();
        let mut rest = stream.as_slice();
        let mut i = 0;
        while !rest.is_empty() && seed.len() < 4096 {
            let n = sizes.get(i % sizes.len()).copied().unwrap_or(1).min(rest.len());
            seed.push(n as u8);
            seed.extend_from_slice(rest.get(..n).unwrap_or_default());
            rest = rest.get(n..).unwrap_or_default();
            i += 1;
            if k == 1 && i == 7 {
                seed.push(255);
            }
        }
        out.push(seed);
    }
    // An announced length over the limit, skipped, then a message.
    out.push([&[8u8, 11, 0x7f, 0xff, 0xff, 1, 2, 3, 4][..], &[6], &hs_msg(14, &[]), &[0]].concat());
    out
}
