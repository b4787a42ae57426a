//! HPACK, the header compression of HTTP/2 ([RFC 7541]): a decoder that
//! keeps what each header field was encoded as (indexed, literal with or
//! without indexing, Huffman or not) and where its bytes are, so a header
//! block can be shown representation by representation. No maintained crate
//! exposes that (see CRATES.md), hence our own.
//!
//! The static table (Appendix A) and the Huffman code (Appendix B) are data
//! below; the Huffman decoder walks a 4-bit-at-a-time state table built from
//! the code at compile time, so decoding costs two table lookups per byte
//! and allocates only the decoded strings. The dynamic table is bounded by
//! the size the protocol allows and by a hard cap of ours.
//!
//! Nothing here panics on any input: malformed blocks return an [`Error`]
//! naming the offset.
//!
//! [RFC 7541]: https://www.rfc-editor.org/rfc/rfc7541

use std::collections::VecDeque;
use std::fmt;

use crate::budget::ITEM_COST;
use crate::span::Span;

/// The static table, [RFC 7541 Appendix A](https://www.rfc-editor.org/rfc/rfc7541#appendix-A):
/// index 1 is the first entry.
pub const STATIC_TABLE: [(&str, &str); 61] = [
    (":authority", ""),
    (":method", "GET"),
    (":method", "POST"),
    (":path", "/"),
    (":path", "/index.html"),
    (":scheme", "http"),
    (":scheme", "https"),
    (":status", "200"),
    (":status", "204"),
    (":status", "206"),
    (":status", "304"),
    (":status", "400"),
    (":status", "404"),
    (":status", "500"),
    ("accept-charset", ""),
    ("accept-encoding", "gzip, deflate"),
    ("accept-language", ""),
    ("accept-ranges", ""),
    ("accept", ""),
    ("access-control-allow-origin", ""),
    ("age", ""),
    ("allow", ""),
    ("authorization", ""),
    ("cache-control", ""),
    ("content-disposition", ""),
    ("content-encoding", ""),
    ("content-language", ""),
    ("content-length", ""),
    ("content-location", ""),
    ("content-range", ""),
    ("content-type", ""),
    ("cookie", ""),
    ("date", ""),
    ("etag", ""),
    ("expect", ""),
    ("expires", ""),
    ("from", ""),
    ("host", ""),
    ("if-match", ""),
    ("if-modified-since", ""),
    ("if-none-match", ""),
    ("if-range", ""),
    ("if-unmodified-since", ""),
    ("last-modified", ""),
    ("link", ""),
    ("location", ""),
    ("max-forwards", ""),
    ("proxy-authenticate", ""),
    ("proxy-authorization", ""),
    ("range", ""),
    ("referer", ""),
    ("refresh", ""),
    ("retry-after", ""),
    ("server", ""),
    ("set-cookie", ""),
    ("strict-transport-security", ""),
    ("transfer-encoding", ""),
    ("user-agent", ""),
    ("vary", ""),
    ("via", ""),
    ("www-authenticate", ""),
];

/// The Huffman code, [RFC 7541 Appendix B](https://www.rfc-editor.org/rfc/rfc7541#appendix-B):
/// (code aligned to the least significant bit, length in bits) for each
/// symbol 0..=255 and EOS (256).
pub const HUFFMAN_CODE: [(u32, u8); 257] = [
    (0x1ff8, 13),     // (  0)
    (0x7fffd8, 23),   // (  1)
    (0xfffffe2, 28),  // (  2)
    (0xfffffe3, 28),  // (  3)
    (0xfffffe4, 28),  // (  4)
    (0xfffffe5, 28),  // (  5)
    (0xfffffe6, 28),  // (  6)
    (0xfffffe7, 28),  // (  7)
    (0xfffffe8, 28),  // (  8)
    (0xffffea, 24),   // (  9)
    (0x3ffffffc, 30), // ( 10)
    (0xfffffe9, 28),  // ( 11)
    (0xfffffea, 28),  // ( 12)
    (0x3ffffffd, 30), // ( 13)
    (0xfffffeb, 28),  // ( 14)
    (0xfffffec, 28),  // ( 15)
    (0xfffffed, 28),  // ( 16)
    (0xfffffee, 28),  // ( 17)
    (0xfffffef, 28),  // ( 18)
    (0xffffff0, 28),  // ( 19)
    (0xffffff1, 28),  // ( 20)
    (0xffffff2, 28),  // ( 21)
    (0x3ffffffe, 30), // ( 22)
    (0xffffff3, 28),  // ( 23)
    (0xffffff4, 28),  // ( 24)
    (0xffffff5, 28),  // ( 25)
    (0xffffff6, 28),  // ( 26)
    (0xffffff7, 28),  // ( 27)
    (0xffffff8, 28),  // ( 28)
    (0xffffff9, 28),  // ( 29)
    (0xffffffa, 28),  // ( 30)
    (0xffffffb, 28),  // ( 31)
    (0x14, 6),        // ( 32) ' '
    (0x3f8, 10),      // ( 33) '!'
    (0x3f9, 10),      // ( 34) '"'
    (0xffa, 12),      // ( 35) '#'
    (0x1ff9, 13),     // ( 36) '$'
    (0x15, 6),        // ( 37) '%'
    (0xf8, 8),        // ( 38) '&'
    (0x7fa, 11),      // ( 39) '''
    (0x3fa, 10),      // ( 40) '('
    (0x3fb, 10),      // ( 41) ')'
    (0xf9, 8),        // ( 42) '*'
    (0x7fb, 11),      // ( 43) '+'
    (0xfa, 8),        // ( 44) ','
    (0x16, 6),        // ( 45) '-'
    (0x17, 6),        // ( 46) '.'
    (0x18, 6),        // ( 47) '/'
    (0x0, 5),         // ( 48) '0'
    (0x1, 5),         // ( 49) '1'
    (0x2, 5),         // ( 50) '2'
    (0x19, 6),        // ( 51) '3'
    (0x1a, 6),        // ( 52) '4'
    (0x1b, 6),        // ( 53) '5'
    (0x1c, 6),        // ( 54) '6'
    (0x1d, 6),        // ( 55) '7'
    (0x1e, 6),        // ( 56) '8'
    (0x1f, 6),        // ( 57) '9'
    (0x5c, 7),        // ( 58) ':'
    (0xfb, 8),        // ( 59) ';'
    (0x7ffc, 15),     // ( 60) '<'
    (0x20, 6),        // ( 61) '='
    (0xffb, 12),      // ( 62) '>'
    (0x3fc, 10),      // ( 63) '?'
    (0x1ffa, 13),     // ( 64) '@'
    (0x21, 6),        // ( 65) 'A'
    (0x5d, 7),        // ( 66) 'B'
    (0x5e, 7),        // ( 67) 'C'
    (0x5f, 7),        // ( 68) 'D'
    (0x60, 7),        // ( 69) 'E'
    (0x61, 7),        // ( 70) 'F'
    (0x62, 7),        // ( 71) 'G'
    (0x63, 7),        // ( 72) 'H'
    (0x64, 7),        // ( 73) 'I'
    (0x65, 7),        // ( 74) 'J'
    (0x66, 7),        // ( 75) 'K'
    (0x67, 7),        // ( 76) 'L'
    (0x68, 7),        // ( 77) 'M'
    (0x69, 7),        // ( 78) 'N'
    (0x6a, 7),        // ( 79) 'O'
    (0x6b, 7),        // ( 80) 'P'
    (0x6c, 7),        // ( 81) 'Q'
    (0x6d, 7),        // ( 82) 'R'
    (0x6e, 7),        // ( 83) 'S'
    (0x6f, 7),        // ( 84) 'T'
    (0x70, 7),        // ( 85) 'U'
    (0x71, 7),        // ( 86) 'V'
    (0x72, 7),        // ( 87) 'W'
    (0xfc, 8),        // ( 88) 'X'
    (0x73, 7),        // ( 89) 'Y'
    (0xfd, 8),        // ( 90) 'Z'
    (0x1ffb, 13),     // ( 91) '['
    (0x7fff0, 19),    // ( 92) '\'
    (0x1ffc, 13),     // ( 93) ']'
    (0x3ffc, 14),     // ( 94) '^'
    (0x22, 6),        // ( 95) '_'
    (0x7ffd, 15),     // ( 96) '`'
    (0x3, 5),         // ( 97) 'a'
    (0x23, 6),        // ( 98) 'b'
    (0x4, 5),         // ( 99) 'c'
    (0x24, 6),        // (100) 'd'
    (0x5, 5),         // (101) 'e'
    (0x25, 6),        // (102) 'f'
    (0x26, 6),        // (103) 'g'
    (0x27, 6),        // (104) 'h'
    (0x6, 5),         // (105) 'i'
    (0x74, 7),        // (106) 'j'
    (0x75, 7),        // (107) 'k'
    (0x28, 6),        // (108) 'l'
    (0x29, 6),        // (109) 'm'
    (0x2a, 6),        // (110) 'n'
    (0x7, 5),         // (111) 'o'
    (0x2b, 6),        // (112) 'p'
    (0x76, 7),        // (113) 'q'
    (0x2c, 6),        // (114) 'r'
    (0x8, 5),         // (115) 's'
    (0x9, 5),         // (116) 't'
    (0x2d, 6),        // (117) 'u'
    (0x77, 7),        // (118) 'v'
    (0x78, 7),        // (119) 'w'
    (0x79, 7),        // (120) 'x'
    (0x7a, 7),        // (121) 'y'
    (0x7b, 7),        // (122) 'z'
    (0x7ffe, 15),     // (123) '{'
    (0x7fc, 11),      // (124) '|'
    (0x3ffd, 14),     // (125) '}'
    (0x1ffd, 13),     // (126) '~'
    (0xffffffc, 28),  // (127)
    (0xfffe6, 20),    // (128)
    (0x3fffd2, 22),   // (129)
    (0xfffe7, 20),    // (130)
    (0xfffe8, 20),    // (131)
    (0x3fffd3, 22),   // (132)
    (0x3fffd4, 22),   // (133)
    (0x3fffd5, 22),   // (134)
    (0x7fffd9, 23),   // (135)
    (0x3fffd6, 22),   // (136)
    (0x7fffda, 23),   // (137)
    (0x7fffdb, 23),   // (138)
    (0x7fffdc, 23),   // (139)
    (0x7fffdd, 23),   // (140)
    (0x7fffde, 23),   // (141)
    (0xffffeb, 24),   // (142)
    (0x7fffdf, 23),   // (143)
    (0xffffec, 24),   // (144)
    (0xffffed, 24),   // (145)
    (0x3fffd7, 22),   // (146)
    (0x7fffe0, 23),   // (147)
    (0xffffee, 24),   // (148)
    (0x7fffe1, 23),   // (149)
    (0x7fffe2, 23),   // (150)
    (0x7fffe3, 23),   // (151)
    (0x7fffe4, 23),   // (152)
    (0x1fffdc, 21),   // (153)
    (0x3fffd8, 22),   // (154)
    (0x7fffe5, 23),   // (155)
    (0x3fffd9, 22),   // (156)
    (0x7fffe6, 23),   // (157)
    (0x7fffe7, 23),   // (158)
    (0xffffef, 24),   // (159)
    (0x3fffda, 22),   // (160)
    (0x1fffdd, 21),   // (161)
    (0xfffe9, 20),    // (162)
    (0x3fffdb, 22),   // (163)
    (0x3fffdc, 22),   // (164)
    (0x7fffe8, 23),   // (165)
    (0x7fffe9, 23),   // (166)
    (0x1fffde, 21),   // (167)
    (0x7fffea, 23),   // (168)
    (0x3fffdd, 22),   // (169)
    (0x3fffde, 22),   // (170)
    (0xfffff0, 24),   // (171)
    (0x1fffdf, 21),   // (172)
    (0x3fffdf, 22),   // (173)
    (0x7fffeb, 23),   // (174)
    (0x7fffec, 23),   // (175)
    (0x1fffe0, 21),   // (176)
    (0x1fffe1, 21),   // (177)
    (0x3fffe0, 22),   // (178)
    (0x1fffe2, 21),   // (179)
    (0x7fffed, 23),   // (180)
    (0x3fffe1, 22),   // (181)
    (0x7fffee, 23),   // (182)
    (0x7fffef, 23),   // (183)
    (0xfffea, 20),    // (184)
    (0x3fffe2, 22),   // (185)
    (0x3fffe3, 22),   // (186)
    (0x3fffe4, 22),   // (187)
    (0x7ffff0, 23),   // (188)
    (0x3fffe5, 22),   // (189)
    (0x3fffe6, 22),   // (190)
    (0x7ffff1, 23),   // (191)
    (0x3ffffe0, 26),  // (192)
    (0x3ffffe1, 26),  // (193)
    (0xfffeb, 20),    // (194)
    (0x7fff1, 19),    // (195)
    (0x3fffe7, 22),   // (196)
    (0x7ffff2, 23),   // (197)
    (0x3fffe8, 22),   // (198)
    (0x1ffffec, 25),  // (199)
    (0x3ffffe2, 26),  // (200)
    (0x3ffffe3, 26),  // (201)
    (0x3ffffe4, 26),  // (202)
    (0x7ffffde, 27),  // (203)
    (0x7ffffdf, 27),  // (204)
    (0x3ffffe5, 26),  // (205)
    (0xfffff1, 24),   // (206)
    (0x1ffffed, 25),  // (207)
    (0x7fff2, 19),    // (208)
    (0x1fffe3, 21),   // (209)
    (0x3ffffe6, 26),  // (210)
    (0x7ffffe0, 27),  // (211)
    (0x7ffffe1, 27),  // (212)
    (0x3ffffe7, 26),  // (213)
    (0x7ffffe2, 27),  // (214)
    (0xfffff2, 24),   // (215)
    (0x1fffe4, 21),   // (216)
    (0x1fffe5, 21),   // (217)
    (0x3ffffe8, 26),  // (218)
    (0x3ffffe9, 26),  // (219)
    (0xffffffd, 28),  // (220)
    (0x7ffffe3, 27),  // (221)
    (0x7ffffe4, 27),  // (222)
    (0x7ffffe5, 27),  // (223)
    (0xfffec, 20),    // (224)
    (0xfffff3, 24),   // (225)
    (0xfffed, 20),    // (226)
    (0x1fffe6, 21),   // (227)
    (0x3fffe9, 22),   // (228)
    (0x1fffe7, 21),   // (229)
    (0x1fffe8, 21),   // (230)
    (0x7ffff3, 23),   // (231)
    (0x3fffea, 22),   // (232)
    (0x3fffeb, 22),   // (233)
    (0x1ffffee, 25),  // (234)
    (0x1ffffef, 25),  // (235)
    (0xfffff4, 24),   // (236)
    (0xfffff5, 24),   // (237)
    (0x3ffffea, 26),  // (238)
    (0x7ffff4, 23),   // (239)
    (0x3ffffeb, 26),  // (240)
    (0x7ffffe6, 27),  // (241)
    (0x3ffffec, 26),  // (242)
    (0x3ffffed, 26),  // (243)
    (0x7ffffe7, 27),  // (244)
    (0x7ffffe8, 27),  // (245)
    (0x7ffffe9, 27),  // (246)
    (0x7ffffea, 27),  // (247)
    (0x7ffffeb, 27),  // (248)
    (0xffffffe, 28),  // (249)
    (0x7ffffec, 27),  // (250)
    (0x7ffffed, 27),  // (251)
    (0x7ffffee, 27),  // (252)
    (0x7ffffef, 27),  // (253)
    (0x7fffff0, 27),  // (254)
    (0x3ffffee, 26),  // (255)
    (0x3fffffff, 30), // (256) EOS
];

/// The EOS symbol: never valid inside a string (RFC 7541 §5.2).
const EOS: u16 = 256;

/// The entry overhead counted for each dynamic table entry
/// ([RFC 7541 §4.1](https://www.rfc-editor.org/rfc/rfc7541#section-4.1)).
pub const ENTRY_OVERHEAD: usize = 32;

/// The dynamic table size both sides start with (SETTINGS_HEADER_TABLE_SIZE's
/// initial value, [RFC 9113 §6.5.2](https://www.rfc-editor.org/rfc/rfc9113#section-6.5.2)).
pub const DEFAULT_TABLE_SIZE: usize = 4096;

// ---------------------------------------------------------------------------
// Huffman decoding tables, built at compile time from HUFFMAN_CODE.
//
// The code is a complete prefix code with 257 leaves, so its tree has
// exactly 256 internal nodes: node numbers fit in a u8. The decoder is a
// state machine over internal nodes that consumes 4 bits per step; a step
// completes at most one symbol (the shortest code is 5 bits).

/// A child in the code tree: an internal node, or (with `LEAF`) a symbol.
const LEAF: u16 = 0x8000;
/// A child that no code reaches (cannot happen for a complete code; kept so
/// that a broken table fails to build instead of decoding wrongly).
const NONE: u16 = 0xffff;

// Const evaluation: an index out of range is a compile error, not a panic.
#[allow(clippy::indexing_slicing)]
#[allow(
    clippy::arithmetic_side_effects,
    reason = "run only by the compiler, for a table below: an overflow fails the build"
)]
const fn build_tree() -> [[u16; 2]; 256] {
    let mut nodes = [[NONE; 2]; 256];
    let mut next: usize = 1;
    let mut sym = 0;
    while sym < 257 {
        let (code, len) = HUFFMAN_CODE[sym];
        let mut cur = 0usize;
        let mut i = len;
        while i > 1 {
            i -= 1;
            let bit = ((code >> i) & 1) as usize;
            if nodes[cur][bit] == NONE {
                nodes[cur][bit] = next as u16;
                next += 1;
            }
            let child = nodes[cur][bit];
            assert!(child & LEAF == 0, "HUFFMAN_CODE is not a prefix code");
            cur = child as usize;
        }
        let bit = (code & 1) as usize;
        assert!(nodes[cur][bit] == NONE, "HUFFMAN_CODE is not a prefix code");
        nodes[cur][bit] = LEAF | sym as u16;
        sym += 1;
    }
    assert!(next == 256, "HUFFMAN_CODE is not complete");
    nodes
}

const TREE: [[u16; 2]; 256] = build_tree();

/// One step of the decoder: the state after 4 more bits, and what they did.
#[derive(Clone, Copy)]
struct Step {
    next: u8,
    /// A symbol completed in these 4 bits.
    emit: bool,
    /// EOS was decoded: an error (RFC 7541 §5.2).
    fail: bool,
    sym: u8,
}

#[allow(clippy::indexing_slicing)]
#[allow(
    clippy::arithmetic_side_effects,
    reason = "run only by the compiler, for a table below: an overflow fails the build"
)]
const fn build_steps() -> [[Step; 16]; 256] {
    let mut steps = [[Step { next: 0, emit: false, fail: false, sym: 0 }; 16]; 256];
    let mut state = 0;
    while state < 256 {
        let mut nibble = 0;
        while nibble < 16 {
            let mut cur = state;
            let mut step = Step { next: 0, emit: false, fail: false, sym: 0 };
            let mut i = 4;
            while i > 0 {
                i -= 1;
                let child = TREE[cur][(nibble >> i) & 1];
                if child & LEAF != 0 {
                    let sym = child & !LEAF;
                    if sym == EOS {
                        step.fail = true;
                    } else {
                        step.emit = true;
                        step.sym = sym as u8;
                    }
                    cur = 0;
                } else {
                    cur = child as usize;
                }
            }
            step.next = cur as u8;
            steps[state][nibble] = step;
            nibble += 1;
        }
        state += 1;
    }
    steps
}

static STEPS: [[Step; 16]; 256] = build_steps();

/// States where a string may end: the root, or a node reached by at most 7
/// one-bits from it (padding is the most significant bits of EOS, shorter
/// than a byte, RFC 7541 §5.2).
#[allow(clippy::indexing_slicing)]
#[allow(
    clippy::arithmetic_side_effects,
    reason = "run only by the compiler, for a table below: an overflow fails the build"
)]
const fn build_accepting() -> [bool; 256] {
    let mut ok = [false; 256];
    ok[0] = true;
    let mut cur = 0usize;
    let mut depth = 0;
    while depth < 7 {
        cur = TREE[cur][1] as usize;
        ok[cur] = true;
        depth += 1;
    }
    ok
}

static ACCEPTING: [bool; 256] = build_accepting();

/// Decodes a Huffman-coded string, appending to `out`. Fails on EOS inside
/// the string and on padding that is not a prefix of EOS or is 8 bits or
/// longer.
pub fn huffman_decode(src: &[u8], out: &mut Vec<u8>) -> Result<(), HuffmanError> {
    // The shortest code is 5 bits. A hint: saturating cannot matter.
    out.reserve(src.len().saturating_mul(8) / 5);
    let mut state = 0u8;
    for &b in src {
        for nibble in [b >> 4, b & 0x0f] {
            let Some(step) = STEPS.get(usize::from(state)).and_then(|s| s.get(usize::from(nibble)))
            else {
                return Err(HuffmanError::Eos);
            };
            if step.fail {
                return Err(HuffmanError::Eos);
            }
            if step.emit {
                out.push(step.sym);
            }
            state = step.next;
        }
    }
    if ACCEPTING.get(usize::from(state)).copied().unwrap_or(false) {
        Ok(())
    } else {
        Err(HuffmanError::Padding)
    }
}

/// Huffman-codes `src`, appending to `out` (padding with the most
/// significant bits of EOS).
pub fn huffman_encode(src: &[u8], out: &mut Vec<u8>) {
    let mut acc: u64 = 0;
    let mut bits: u32 = 0;
    for &b in src {
        let (code, len) = HUFFMAN_CODE.get(usize::from(b)).copied().unwrap_or((0, 0));
        // Fewer than 8 bits wait, and a code is at most 30: `acc` holds
        // at most 37 bits.
        acc = (acc << len) | u64::from(code);
        bits = bits.saturating_add(u32::from(len));
        while let Some(rest) = bits.checked_sub(8) {
            bits = rest;
            out.push((acc >> bits) as u8);
        }
        acc &= !(u64::MAX << bits);
    }
    if bits > 0 {
        // The last bits, then the start of EOS (all ones) as padding.
        out.push((((acc << 8) | 0xff) >> bits) as u8);
    }
}

/// Length in bytes of `src` Huffman-coded.
pub fn huffman_len(src: &[u8]) -> usize {
    let bits: usize =
        src.iter().map(|&b| usize::from(HUFFMAN_CODE.get(usize::from(b)).map_or(0, |c| c.1))).sum();
    bits.div_ceil(8)
}

/// Why a Huffman-coded string was rejected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HuffmanError {
    /// The string holds the EOS symbol.
    Eos,
    /// The padding is not the start of EOS, or is a byte or longer.
    Padding,
}

// ---------------------------------------------------------------------------
// Representations and errors.

/// How a literal is to be indexed
/// ([RFC 7541 §6.2](https://www.rfc-editor.org/rfc/rfc7541#section-6.2)).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Indexing {
    /// `01`: added to the dynamic table.
    Incremental,
    /// `0000`: not added.
    Without,
    /// `0001`: not added, and intermediaries must not index it either.
    Never,
}

/// What a header field was encoded as.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Representation {
    /// `1xxxxxxx`: a whole field from the table
    /// ([§6.1](https://www.rfc-editor.org/rfc/rfc7541#section-6.1)).
    Indexed {
        /// 1..=61 static, 62.. dynamic.
        index: u32,
    },
    /// A literal field ([§6.2](https://www.rfc-editor.org/rfc/rfc7541#section-6.2)).
    Literal {
        /// Whether and how it is indexed.
        indexing: Indexing,
        /// The table index of its name, or None for a literal name.
        name_index: Option<u32>,
        /// The literal name was Huffman-coded.
        name_huffman: bool,
        /// The value was Huffman-coded.
        value_huffman: bool,
    },
}

impl Representation {
    /// A short description, e.g. `indexed (static 2)`.
    pub fn describe(&self) -> String {
        fn table(i: u32) -> String {
            if i as usize <= STATIC_TABLE.len() {
                format!("static {i}")
            } else {
                format!("dynamic {i}")
            }
        }
        match *self {
            Representation::Indexed { index } => format!("indexed ({})", table(index)),
            Representation::Literal { indexing, name_index, name_huffman, value_huffman } => {
                let kind = match indexing {
                    Indexing::Incremental => "literal with incremental indexing",
                    Indexing::Without => "literal without indexing",
                    Indexing::Never => "literal never indexed",
                };
                let name = match name_index {
                    Some(i) => format!("name {}", table(i)),
                    None if name_huffman => "literal name, Huffman".to_string(),
                    None => "literal name".to_string(),
                };
                let value = if value_huffman { "value Huffman" } else { "value raw" };
                format!("{kind} ({name}, {value})")
            }
        }
    }
}

/// One decoded header field and where it was in the block.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HeaderField {
    /// The name (lower-case in valid HTTP/2, but kept as sent).
    pub name: Vec<u8>,
    /// The value.
    pub value: Vec<u8>,
    /// How it was encoded.
    pub repr: Representation,
    /// The representation's bytes, offsets relative to the block's `base`.
    pub span: Span,
}

/// One item of a header block.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Item {
    /// A header field.
    Field(HeaderField),
    /// A dynamic table size update
    /// ([§6.3](https://www.rfc-editor.org/rfc/rfc7541#section-6.3)).
    SizeUpdate {
        /// The new maximum size.
        size: u32,
        /// Where.
        span: Span,
    },
}

/// What decoding a header block gave.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Block {
    /// The items in order. Fields past the header list limit are left out
    /// (see `dropped`).
    pub items: Vec<Item>,
    /// Problems that did not stop decoding (the RFC calls most of them
    /// COMPRESSION_ERROR; a dissector shows them and goes on).
    pub notes: Vec<String>,
    /// Fields decoded but not kept because the list went over its limit.
    pub dropped: usize,
}

impl Block {
    /// The header fields, in order.
    pub fn fields(&self) -> impl Iterator<Item = &HeaderField> {
        self.items.iter().filter_map(|i| match i {
            Item::Field(f) => Some(f),
            Item::SizeUpdate { .. } => None,
        })
    }
}

/// Why a header block could not be decoded. After one of these the
/// dynamic table may no longer match the encoder's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Error {
    /// The block ends inside a representation.
    Truncated {
        /// Offset of the representation.
        at: u32,
    },
    /// An integer longer than 32 bits.
    IntegerOverflow {
        /// Offset of the integer.
        at: u32,
    },
    /// Index 0, or past the end of the table.
    BadIndex {
        /// Offset of the representation.
        at: u32,
        /// The index.
        index: u32,
        /// Entries in the dynamic table then.
        dynamic: usize,
    },
    /// A malformed Huffman string.
    Huffman {
        /// Offset of the string.
        at: u32,
        /// What was wrong.
        err: HuffmanError,
    },
}

impl Error {
    /// Offset of the problem, relative to the block's base.
    pub fn at(&self) -> u32 {
        match *self {
            Error::Truncated { at }
            | Error::IntegerOverflow { at }
            | Error::BadIndex { at, .. }
            | Error::Huffman { at, .. } => at,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Error::Truncated { at } => write!(f, "header block ends inside the field at byte {at}"),
            Error::IntegerOverflow { at } => write!(f, "integer at byte {at} is over 32 bits"),
            Error::BadIndex { at, index, dynamic } => write!(
                f,
                "index {index} at byte {at} is not in the table (61 static and {dynamic} dynamic entries)"
            ),
            Error::Huffman { at, err: HuffmanError::Eos } => {
                write!(f, "Huffman string at byte {at} holds the EOS symbol")
            }
            Error::Huffman { at, err: HuffmanError::Padding } => {
                write!(f, "Huffman string at byte {at} has invalid padding")
            }
        }
    }
}

impl std::error::Error for Error {}

// ---------------------------------------------------------------------------
// The decoder.

#[derive(Clone, Debug)]
struct Entry {
    name: Vec<u8>,
    value: Vec<u8>,
}

impl Entry {
    fn size(&self) -> usize {
        entry_size(&self.name, &self.value)
    }
}

/// The size of an entry as RFC 7541 §4.1 counts it. Saturating: it is only
/// compared with limits (a table's size, a list's), which a saturated size
/// is over, as the true one would be.
fn entry_size(name: &[u8], value: &[u8]) -> usize {
    name.len().saturating_add(value.len()).saturating_add(ENTRY_OVERHEAD)
}

/// An HPACK decoder: the dynamic table of one direction of a connection.
#[derive(Clone, Debug)]
pub struct Decoder {
    /// Newest first (index 62 is `table[0]`).
    table: VecDeque<Entry>,
    /// Sum of the entries' sizes.
    size: usize,
    /// The table's current maximum size (RFC 7541 §4.2), set by size
    /// updates within what the protocol allows.
    max_size: usize,
    /// The limit the protocol sets (the decoding side's acknowledged
    /// SETTINGS_HEADER_TABLE_SIZE).
    limit: usize,
    /// Our own bound on the table's memory: a size update or a SETTINGS
    /// value above it is capped (and reported), so a hostile peer cannot
    /// make us hold more than this per direction.
    cap: usize,
    /// The limit was lowered below the table's maximum: the next block must
    /// start with a size update (RFC 7541 §4.2).
    update_due: bool,
    /// Bound on the decoded size of one block's header list (name, value
    /// and 32 per field, as SETTINGS_MAX_HEADER_LIST_SIZE counts): indexed
    /// fields can expand a small block enormously.
    max_list: usize,
}

impl Decoder {
    /// A decoder with the initial table size of 4096, keeping at most `cap`
    /// bytes of table and `max_list` bytes of decoded fields per block.
    pub fn new(cap: usize, max_list: usize) -> Self {
        let max = DEFAULT_TABLE_SIZE.min(cap);
        Decoder {
            table: VecDeque::new(),
            size: 0,
            max_size: max,
            limit: DEFAULT_TABLE_SIZE,
            cap,
            update_due: false,
            max_list,
        }
    }

    /// Sets the table size both sides agreed on before any block (the
    /// RFC 7541 Appendix C.5 examples run with 256).
    pub fn with_table_size(mut self, size: usize) -> Self {
        self.limit = size;
        self.max_size = size.min(self.cap);
        self
    }

    /// The protocol's limit changed (an acknowledged
    /// SETTINGS_HEADER_TABLE_SIZE). Lowering it below the current maximum
    /// shrinks the table now and makes a size update due, as nghttp2 does;
    /// raising it only allows larger size updates.
    pub fn set_limit(&mut self, limit: usize) {
        self.limit = limit;
        if self.max_size > limit {
            self.max_size = limit;
            self.evict_to(limit);
            self.update_due = true;
        }
    }

    /// The current maximum table size.
    pub fn max_size(&self) -> usize {
        self.max_size
    }

    /// The current table size (RFC 7541 §4.1).
    pub fn size(&self) -> usize {
        self.size
    }

    /// Heap bytes of the table (its entries as stored, not as RFC 7541
    /// counts them).
    pub fn heap_size(&self) -> usize {
        // RFC 7541's size counts 32 bytes an entry besides its name and
        // value; the allocations cost about that again.
        self.size.saturating_add(self.table.len().saturating_mul(ITEM_COST))
    }

    /// The dynamic table, newest (index 62) first.
    pub fn entries(&self) -> impl Iterator<Item = (&[u8], &[u8])> {
        self.table.iter().map(|e| (e.name.as_slice(), e.value.as_slice()))
    }

    fn evict_to(&mut self, max: usize) {
        while self.size > max {
            match self.table.pop_back() {
                // `size` is the sum of the entries' sizes.
                Some(e) => self.size = self.size.saturating_sub(e.size()),
                None => {
                    self.size = 0;
                    break;
                }
            }
        }
    }

    /// RFC 7541 §4.4: an entry larger than the table empties it.
    fn insert(&mut self, name: &[u8], value: &[u8]) {
        let size = entry_size(name, value);
        let Some(room) = self.max_size.checked_sub(size) else {
            self.table.clear();
            self.size = 0;
            return;
        };
        self.evict_to(room);
        self.table.push_front(Entry { name: name.to_vec(), value: value.to_vec() });
        // At most `max_size` after the eviction.
        self.size = self.size.saturating_add(size);
    }

    /// (name, value) at a table index.
    fn get(&self, index: u32) -> Option<(&[u8], &[u8])> {
        // Indices count from 1: the static table, then the dynamic one.
        let i = (index as usize).checked_sub(1)?;
        if let Some((n, v)) = STATIC_TABLE.get(i) {
            return Some((n.as_bytes(), v.as_bytes()));
        }
        let e = self.table.get(i.checked_sub(STATIC_TABLE.len())?)?;
        Some((e.name.as_slice(), e.value.as_slice()))
    }

    /// Decodes one complete header block. `base` is the block's offset in
    /// its unit (spans in the result are relative to the unit).
    ///
    /// On error the items decoded before it are lost with the block; the
    /// table keeps what was inserted, so later blocks may decode wrongly:
    /// the caller should treat the direction's HPACK state as lost.
    pub fn decode(&mut self, block: &[u8], base: u32) -> Result<Block, Error> {
        let mut out = Block::default();
        let mut list_size = 0usize;
        let mut pos = 0usize;
        let mut seen_field = false;
        let at = |pos: usize| base.saturating_add(u32::try_from(pos).unwrap_or(u32::MAX));
        // Block bytes `start..end`, `start <= end`.
        let span =
            |start: usize, end: usize| Span::new(at(start), at(end).saturating_sub(at(start)));
        if self.update_due && block.first().is_none_or(|b| b & 0xe0 != 0x20) {
            out.notes.push(format!(
                "the table size limit was lowered to {}, but the block does not start with a size update (RFC 7541 §4.2)",
                self.limit
            ));
            self.update_due = false;
        }
        while let Some(&first) = block.get(pos) {
            let start = pos;
            if first & 0x80 != 0 {
                // Indexed Header Field, §6.1.
                let index = read_int(block, &mut pos, 7, base)?;
                let dynamic = self.table.len();
                let (name, value) =
                    self.get(index).ok_or(Error::BadIndex { at: at(start), index, dynamic })?;
                seen_field = true;
                let size = entry_size(name, value);
                list_size = list_size.saturating_add(size);
                if list_size > self.max_list {
                    out.dropped = out.dropped.saturating_add(1);
                    continue;
                }
                let f = HeaderField {
                    name: name.to_vec(),
                    value: value.to_vec(),
                    repr: Representation::Indexed { index },
                    span: span(start, pos),
                };
                out.items.push(Item::Field(f));
            } else if first & 0xe0 == 0x20 {
                // Dynamic Table Size Update, §6.3.
                let size = read_int(block, &mut pos, 5, base)?;
                if seen_field {
                    out.notes.push(format!(
                        "size update at byte {} after a header field (RFC 7541 §4.2 wants it first)",
                        at(start)
                    ));
                }
                let mut new = size as usize;
                if new > self.limit {
                    out.notes.push(format!(
                        "size update to {new} is over the limit of {} the peer allowed (RFC 7541 §6.3)",
                        self.limit
                    ));
                }
                if new > self.cap {
                    out.notes.push(format!(
                        "size update to {new} is over our cap of {} bytes; later fields may be decoded wrongly",
                        self.cap
                    ));
                    new = self.cap;
                }
                self.max_size = new;
                self.evict_to(new);
                self.update_due = false;
                out.items.push(Item::SizeUpdate { size, span: span(start, pos) });
            } else {
                // Literal Header Field, §6.2.
                let (prefix, indexing) = match first & 0xf0 {
                    0x40..=0x70 => (6, Indexing::Incremental),
                    0x10 => (4, Indexing::Never),
                    _ => (4, Indexing::Without),
                };
                let index = read_int(block, &mut pos, prefix, base)?;
                seen_field = true;
                let (name, name_huffman, name_index) = if index == 0 {
                    let (s, h) = read_string(block, &mut pos, base)?;
                    (s, h, None)
                } else {
                    let dynamic = self.table.len();
                    let (n, _) =
                        self.get(index).ok_or(Error::BadIndex { at: at(start), index, dynamic })?;
                    (n.to_vec(), false, Some(index))
                };
                let (value, value_huffman) = read_string(block, &mut pos, base)?;
                if indexing == Indexing::Incremental {
                    self.insert(&name, &value);
                }
                let size = entry_size(&name, &value);
                list_size = list_size.saturating_add(size);
                if list_size > self.max_list {
                    out.dropped = out.dropped.saturating_add(1);
                    continue;
                }
                let f = HeaderField {
                    name,
                    value,
                    repr: Representation::Literal {
                        indexing,
                        name_index,
                        name_huffman,
                        value_huffman,
                    },
                    span: span(start, pos),
                };
                out.items.push(Item::Field(f));
            }
        }
        if out.dropped > 0 {
            out.notes.push(format!(
                "{} header fields not kept: the decoded list is over the limit of {} bytes",
                out.dropped, self.max_list
            ));
        }
        Ok(out)
    }
}

/// Reads an integer with an `n`-bit prefix
/// ([RFC 7541 §5.1](https://www.rfc-editor.org/rfc/rfc7541#section-5.1)).
fn read_int(block: &[u8], pos: &mut usize, n: u32, base: u32) -> Result<u32, Error> {
    let at = base.saturating_add(u32::try_from(*pos).unwrap_or(u32::MAX));
    let first = *block.get(*pos).ok_or(Error::Truncated { at })?;
    // Past a byte of the block: no overflow.
    *pos = pos.saturating_add(1);
    // The low `n` bits.
    let mask = !(u32::MAX << n);
    let mut value = u32::from(first) & mask;
    if value < mask {
        return Ok(value);
    }
    let mut shift = 0u32;
    loop {
        let b = *block.get(*pos).ok_or(Error::Truncated { at })?;
        *pos = pos.saturating_add(1);
        // 5 continuation bytes carry 35 bits: past 32 is an overflow.
        if shift > 28 {
            return Err(Error::IntegerOverflow { at });
        }
        let add = u64::from(b & 0x7f) << shift;
        let sum = u64::from(value).checked_add(add).and_then(|s| u32::try_from(s).ok());
        value = sum.ok_or(Error::IntegerOverflow { at })?;
        shift = shift.checked_add(7).ok_or(Error::IntegerOverflow { at })?;
        if b & 0x80 == 0 {
            return Ok(value);
        }
    }
}

/// Reads a string literal ([§5.2](https://www.rfc-editor.org/rfc/rfc7541#section-5.2)):
/// (bytes, was Huffman-coded).
fn read_string(block: &[u8], pos: &mut usize, base: u32) -> Result<(Vec<u8>, bool), Error> {
    let start = *pos;
    let at = base.saturating_add(u32::try_from(start).unwrap_or(u32::MAX));
    let huffman = block.get(start).is_some_and(|b| b & 0x80 != 0);
    let len = read_int(block, pos, 7, base)? as usize;
    let end = pos.checked_add(len).ok_or(Error::Truncated { at })?;
    let raw = block.get(*pos..end).ok_or(Error::Truncated { at })?;
    *pos = end;
    if huffman {
        let mut s = Vec::new();
        huffman_decode(raw, &mut s).map_err(|err| Error::Huffman { at, err })?;
        Ok((s, true))
    } else {
        Ok((raw.to_vec(), false))
    }
}

// ---------------------------------------------------------------------------
// A minimal encoder, for tests and the fuzz bodies (round trips): it writes
// what it is told, it does not choose representations.

/// Appends an integer with an `n`-bit prefix; `flags` fills the bits above it.
pub fn encode_int(value: u32, n: u32, flags: u8, out: &mut Vec<u8>) {
    // The low `n` bits.
    let mask = !(u32::MAX << n);
    let Some(mut rest) = value.checked_sub(mask) else {
        out.push(flags | value as u8);
        return;
    };
    out.push(flags | mask as u8);
    while rest >= 128 {
        out.push((rest % 128) as u8 | 0x80);
        rest /= 128;
    }
    out.push(rest as u8);
}

/// Appends a string literal, Huffman-coded or not.
pub fn encode_string(s: &[u8], huffman: bool, out: &mut Vec<u8>) {
    if huffman {
        encode_int(u32::try_from(huffman_len(s)).unwrap_or(u32::MAX), 7, 0x80, out);
        huffman_encode(s, out);
    } else {
        encode_int(u32::try_from(s.len()).unwrap_or(u32::MAX), 7, 0, out);
        out.extend_from_slice(s);
    }
}

/// Appends a literal field with a literal name.
pub fn encode_literal(
    name: &[u8],
    value: &[u8],
    indexing: Indexing,
    huffman: bool,
    out: &mut Vec<u8>,
) {
    match indexing {
        Indexing::Incremental => out.push(0x40),
        Indexing::Without => out.push(0x00),
        Indexing::Never => out.push(0x10),
    }
    encode_string(name, huffman, out);
    encode_string(value, huffman, out);
}

/// Appends an indexed field.
pub fn encode_indexed(index: u32, out: &mut Vec<u8>) {
    encode_int(index, 7, 0x80, out);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unhex(s: &str) -> Vec<u8> {
        let s: String = s.chars().filter(|c| c.is_ascii_hexdigit()).collect();
        (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
    }

    fn decoder() -> Decoder {
        Decoder::new(64 << 10, 256 << 10)
    }

    fn pairs(block: &Block) -> Vec<(String, String)> {
        block
            .fields()
            .map(|f| {
                (
                    String::from_utf8(f.name.clone()).unwrap(),
                    String::from_utf8(f.value.clone()).unwrap(),
                )
            })
            .collect()
    }

    /// Decodes `hex` and checks the header list, the dynamic table (newest
    /// first) and its size, as the RFC's example shows them.
    fn check(
        d: &mut Decoder,
        hex: &str,
        list: &[(&str, &str)],
        table: &[(&str, &str)],
        size: usize,
    ) {
        let block = d.decode(&unhex(hex), 0).unwrap();
        assert!(block.notes.is_empty(), "{:?}", block.notes);
        let want: Vec<(String, String)> =
            list.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect();
        assert_eq!(pairs(&block), want);
        let got: Vec<(String, String)> = d
            .entries()
            .map(|(n, v)| {
                (String::from_utf8(n.to_vec()).unwrap(), String::from_utf8(v.to_vec()).unwrap())
            })
            .collect();
        let want: Vec<(String, String)> =
            table.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect();
        assert_eq!(got, want);
        assert_eq!(d.size(), size);
        // Representations tile the block.
        let mut end = 0;
        for item in &block.items {
            let span = match item {
                Item::Field(f) => f.span,
                Item::SizeUpdate { span, .. } => *span,
            };
            assert_eq!(span.start, end);
            end = span.end();
        }
        assert_eq!(end as usize, unhex(hex).len());
    }

    #[test]
    fn rfc7541_c2_1_literal_with_indexing() {
        let mut d = decoder();
        check(
            &mut d,
            "400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572",
            &[("custom-key", "custom-header")],
            &[("custom-key", "custom-header")],
            55,
        );
        let b = d
            .decode(&unhex("400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572"), 0)
            .unwrap();
        assert_eq!(
            b.fields().next().unwrap().repr,
            Representation::Literal {
                indexing: Indexing::Incremental,
                name_index: None,
                name_huffman: false,
                value_huffman: false
            }
        );
    }

    #[test]
    fn rfc7541_c2_2_literal_without_indexing() {
        let mut d = decoder();
        check(&mut d, "040c 2f73 616d 706c 652f 7061 7468", &[(":path", "/sample/path")], &[], 0);
    }

    #[test]
    fn rfc7541_c2_3_literal_never_indexed() {
        let mut d = decoder();
        let hex = "1008 7061 7373 776f 7264 0673 6563 7265 74";
        check(&mut d, hex, &[("password", "secret")], &[], 0);
        let b = decoder().decode(&unhex(hex), 0).unwrap();
        assert!(matches!(
            b.fields().next().unwrap().repr,
            Representation::Literal { indexing: Indexing::Never, .. }
        ));
    }

    #[test]
    fn rfc7541_c2_4_indexed() {
        let mut d = decoder();
        check(&mut d, "82", &[(":method", "GET")], &[], 0);
    }

    const REQ1: &[(&str, &str)] = &[
        (":method", "GET"),
        (":scheme", "http"),
        (":path", "/"),
        (":authority", "www.example.com"),
    ];
    const REQ2: &[(&str, &str)] = &[
        (":method", "GET"),
        (":scheme", "http"),
        (":path", "/"),
        (":authority", "www.example.com"),
        ("cache-control", "no-cache"),
    ];
    const REQ3: &[(&str, &str)] = &[
        (":method", "GET"),
        (":scheme", "https"),
        (":path", "/index.html"),
        (":authority", "www.example.com"),
        ("custom-key", "custom-value"),
    ];
    const T1: &[(&str, &str)] = &[(":authority", "www.example.com")];
    const T2: &[(&str, &str)] = &[("cache-control", "no-cache"), (":authority", "www.example.com")];
    const T3: &[(&str, &str)] = &[
        ("custom-key", "custom-value"),
        ("cache-control", "no-cache"),
        (":authority", "www.example.com"),
    ];

    #[test]
    fn rfc7541_c3_requests_without_huffman() {
        let mut d = decoder();
        check(&mut d, "8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d", REQ1, T1, 57);
        check(&mut d, "8286 84be 5808 6e6f 2d63 6163 6865", REQ2, T2, 110);
        check(
            &mut d,
            "8287 85bf 400a 6375 7374 6f6d 2d6b 6579 0c63 7573 746f 6d2d 7661 6c75 65",
            REQ3,
            T3,
            164,
        );
    }

    #[test]
    fn rfc7541_c4_requests_with_huffman() {
        let mut d = decoder();
        check(&mut d, "8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff", REQ1, T1, 57);
        check(&mut d, "8286 84be 5886 a8eb 1064 9cbf", REQ2, T2, 110);
        check(&mut d, "8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf", REQ3, T3, 164);
    }

    const DATE1: &str = "Mon, 21 Oct 2013 20:13:21 GMT";
    const DATE2: &str = "Mon, 21 Oct 2013 20:13:22 GMT";
    const LOC: &str = "https://www.example.com";
    const COOKIE: &str = "foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1";

    fn responses(hex: [&str; 3]) {
        let mut d = decoder().with_table_size(256);
        let r1 =
            [(":status", "302"), ("cache-control", "private"), ("date", DATE1), ("location", LOC)];
        let t1 =
            [("location", LOC), ("date", DATE1), ("cache-control", "private"), (":status", "302")];
        check(&mut d, hex[0], &r1, &t1, 222);
        let r2 =
            [(":status", "307"), ("cache-control", "private"), ("date", DATE1), ("location", LOC)];
        let t2 =
            [(":status", "307"), ("location", LOC), ("date", DATE1), ("cache-control", "private")];
        check(&mut d, hex[1], &r2, &t2, 222);
        let r3 = [
            (":status", "200"),
            ("cache-control", "private"),
            ("date", DATE2),
            ("location", LOC),
            ("content-encoding", "gzip"),
            ("set-cookie", COOKIE),
        ];
        let t3 = [("set-cookie", COOKIE), ("content-encoding", "gzip"), ("date", DATE2)];
        check(&mut d, hex[2], &r3, &t3, 215);
    }

    #[test]
    fn rfc7541_c5_responses_without_huffman() {
        responses([
            "4803 3330 3258 0770 7269 7661 7465 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133
             2032 303a 3133 3a32 3120 474d 546e 1768 7474 7073 3a2f 2f77 7777 2e65 7861 6d70
             6c65 2e63 6f6d",
            "4803 3330 37c1 c0bf",
            "88c1 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32 3220 474d
             54c0 5a04 677a 6970 7738 666f 6f3d 4153 444a 4b48 514b 425a 584f 5157 454f 5049
             5541 5851 5745 4f49 553b 206d 6178 2d61 6765 3d33 3630 303b 2076 6572 7369 6f6e
             3d31",
        ]);
    }

    #[test]
    fn rfc7541_c6_responses_with_huffman() {
        responses([
            "4882 6402 5885 aec3 771a 4b61 96d0 7abe 9410 54d4 44a8 2005 9504 0b81 66e0 82a6
             2d1b ff6e 919d 29ad 1718 63c7 8f0b 97c8 e9ae 82ae 43d3",
            "4883 640e ffc1 c0bf",
            "88c1 6196 d07a be94 1054 d444 a820 0595 040b 8166 e084 a62d 1bff c05a 839b d9ab
             77ad 94e7 821d d7f2 e6c7 b335 dfdf cd5b 3960 d5af 2708 7f36 72c1 ab27 0fb5 291f
             9587 3160 65c0 03ed 4ee5 b106 3d50 07",
        ]);
    }

    #[test]
    fn rfc7541_c1_integers() {
        // C.1.1: 10 on a 5-bit prefix; C.1.2: 1337 on 5 bits; C.1.3: 42 on 8.
        for (value, n, bytes) in
            [(10u32, 5, vec![0x0a]), (1337, 5, vec![0x1f, 0x9a, 0x0a]), (42, 8, vec![0x2a])]
        {
            let mut out = Vec::new();
            encode_int(value, n, 0, &mut out);
            assert_eq!(out, bytes);
            let mut pos = 0;
            assert_eq!(read_int(&bytes, &mut pos, n, 0).unwrap(), value);
            assert_eq!(pos, bytes.len());
        }
        // u32::MAX fits; one more does not; neither do six continuation bytes.
        let mut max = Vec::new();
        encode_int(u32::MAX, 7, 0x80, &mut max);
        assert_eq!(read_int(&max, &mut 0, 7, 0).unwrap(), u32::MAX);
        let mut over = max.clone();
        *over.last_mut().unwrap() += 1;
        assert!(matches!(read_int(&over, &mut 0, 7, 0), Err(Error::IntegerOverflow { .. })));
        let long = [0x7f, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00];
        assert!(matches!(read_int(&long, &mut 0, 7, 0), Err(Error::IntegerOverflow { .. })));
    }

    /// Decodes bit by bit against HUFFMAN_CODE directly: slow, obviously
    /// right, and independent of the state tables.
    fn reference_decode(src: &[u8]) -> Option<Vec<u8>> {
        let mut out = Vec::new();
        let (mut code, mut len) = (0u32, 0u8);
        for i in 0..src.len() * 8 {
            let bit = (src[i / 8] >> (7 - i % 8)) & 1;
            code = (code << 1) | u32::from(bit);
            len += 1;
            if let Some(sym) = HUFFMAN_CODE.iter().position(|&(c, l)| l == len && c == code) {
                if sym == 256 {
                    return None;
                }
                out.push(sym as u8);
                (code, len) = (0, 0);
            }
        }
        // Padding: fewer than 8 bits, all ones.
        (len < 8 && code == (1 << len) - 1).then_some(out)
    }

    #[test]
    fn huffman_round_trips_every_symbol() {
        for b in 0..=255u8 {
            let mut enc = Vec::new();
            huffman_encode(&[b], &mut enc);
            assert_eq!(enc.len(), huffman_len(&[b]));
            let mut dec = Vec::new();
            huffman_decode(&enc, &mut dec).unwrap();
            assert_eq!(dec, [b], "symbol {b}");
            assert_eq!(reference_decode(&enc).unwrap(), [b]);
        }
        let all: Vec<u8> = (0..=255u8).chain((0..=255u8).rev()).collect();
        let mut enc = Vec::new();
        huffman_encode(&all, &mut enc);
        let mut dec = Vec::new();
        huffman_decode(&enc, &mut dec).unwrap();
        assert_eq!(dec, all);
    }

    #[test]
    fn huffman_code_is_canonical_and_complete() {
        // Appendix B calls it a canonical Huffman code: ordered by (length,
        // symbol), each code is the previous one plus one, shifted left
        // when the length grows. Complete: the Kraft sum is exactly 1.
        let mut order: Vec<usize> = (0..257).collect();
        order.sort_by_key(|&s| (HUFFMAN_CODE[s].1, s));
        let (mut code, mut len) = (0u64, HUFFMAN_CODE[order[0]].1);
        for (i, &s) in order.iter().enumerate() {
            let (c, l) = HUFFMAN_CODE[s];
            if i > 0 {
                code = (code + 1) << (l - len);
            }
            len = l;
            assert_eq!(u64::from(c), code, "symbol {s}");
        }
        let kraft: u64 = HUFFMAN_CODE.iter().map(|&(_, l)| 1u64 << (30 - l)).sum();
        assert_eq!(kraft, 1 << 30);
        // Spot checks against the RFC's rows.
        assert_eq!(HUFFMAN_CODE[b'/' as usize], (0x18, 6));
        assert_eq!(HUFFMAN_CODE[0], (0x1ff8, 13));
        assert_eq!(HUFFMAN_CODE[255], (0x3ffffee, 26));
        assert_eq!(HUFFMAN_CODE[256], (0x3fffffff, 30));
    }

    #[test]
    fn huffman_rejects_eos_and_bad_padding() {
        let mut out = Vec::new();
        // 30 one-bits are EOS.
        assert_eq!(huffman_decode(&[0xff, 0xff, 0xff, 0xff], &mut out), Err(HuffmanError::Eos));
        // 8 bits of padding.
        assert_eq!(huffman_decode(&[0xff], &mut out), Err(HuffmanError::Padding));
        // '0' is 00000; the padding 000 is not a prefix of EOS.
        assert_eq!(huffman_decode(&[0x00], &mut out), Err(HuffmanError::Padding));
        // '0' with 111 padding is fine; so is the empty string.
        out.clear();
        huffman_decode(&[0x07], &mut out).unwrap();
        assert_eq!(out, b"0");
        huffman_decode(&[], &mut out).unwrap();
    }

    #[test]
    fn huffman_matches_the_reference_on_random_input() {
        let mut rng = crate::fuzz::XorShift(0x4a11_d00d);
        for _ in 0..3000 {
            let len = rng.below(12);
            let mut src = rng.bytes(len);
            // Mostly valid strings, some random bits.
            if rng.below(2) == 0 {
                let plain = rng.bytes(len);
                src.clear();
                huffman_encode(&plain, &mut src);
            }
            let mut out = Vec::new();
            let got = huffman_decode(&src, &mut out).ok().map(|_| out);
            assert_eq!(got, reference_decode(&src), "{src:02x?}");
        }
    }

    #[test]
    fn rejects_bad_indexes_and_truncation() {
        let mut d = decoder();
        assert!(matches!(d.decode(&[0x80], 0), Err(Error::BadIndex { index: 0, .. })));
        assert!(matches!(d.decode(&[0xbe], 0), Err(Error::BadIndex { index: 62, .. })));
        assert!(matches!(d.decode(&[0x7e, 0x01, b'a'], 5), Err(Error::BadIndex { at: 5, .. })));
        // Every prefix of a valid block fails cleanly or decodes fewer fields.
        let full = unhex("8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf");
        for cut in 0..full.len() {
            let mut d = decoder();
            d.decode(&unhex("8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff"), 0).unwrap();
            d.decode(&unhex("8286 84be 5886 a8eb 1064 9cbf"), 0).unwrap();
            let _ = d.decode(&full[..cut], 0);
        }
        let e = decoder().decode(&[0x40, 0x85], 7).unwrap_err();
        assert_eq!(e, Error::Truncated { at: 8 });
        assert_eq!(e.to_string(), "header block ends inside the field at byte 8");
    }

    #[test]
    fn size_updates_follow_the_limit() {
        let mut d = decoder();
        let mut block = Vec::new();
        encode_literal(b"a", b"b", Indexing::Incremental, false, &mut block);
        d.decode(&block, 0).unwrap();
        assert_eq!(d.size(), 34);
        // The peer lowers the limit to 0: the table empties now, and the
        // next block should start with a size update.
        d.set_limit(0);
        assert_eq!((d.size(), d.max_size()), (0, 0));
        let b = d.decode(&[0x82], 0).unwrap();
        assert_eq!(b.notes.len(), 1, "{:?}", b.notes);
        // A size update over the limit is reported and capped at ours.
        let mut big = Vec::new();
        encode_int(1 << 20, 5, 0x20, &mut big);
        let b = d.decode(&big, 0).unwrap();
        assert_eq!(b.notes.len(), 2, "{:?}", b.notes);
        assert_eq!(d.max_size(), 64 << 10);
        assert!(matches!(b.items[0], Item::SizeUpdate { size: 1_048_576, .. }));
        // An entry larger than the table empties it (§4.4).
        let mut d = decoder().with_table_size(40);
        let mut block = Vec::new();
        encode_literal(b"a", b"b", Indexing::Incremental, false, &mut block);
        encode_literal(b"long-name", b"long-value", Indexing::Incremental, true, &mut block);
        d.decode(&block, 0).unwrap();
        assert_eq!((d.size(), d.entries().count()), (0, 0));
    }

    #[test]
    fn list_limit_drops_fields_but_keeps_the_table() {
        // 40 indexed references to a 4000-byte entry decode to 160 kB.
        let mut d = Decoder::new(64 << 10, 16 << 10);
        let mut block = Vec::new();
        encode_literal(b"x", &[b'v'; 4000], Indexing::Incremental, false, &mut block);
        for _ in 0..40 {
            encode_indexed(62, &mut block);
        }
        encode_literal(b"y", b"z", Indexing::Incremental, false, &mut block);
        let b = d.decode(&block, 0).unwrap();
        assert_eq!(b.fields().count(), 4);
        assert_eq!(b.dropped, 38);
        assert_eq!(d.entries().next().unwrap(), (&b"y"[..], &b"z"[..]));
    }
}
