//! `keylog`: a key log parsed whole, in chunks and with tabs for spaces.

use super::*;

/// Fuzz body: a key log. Input: a byte that sets the chunk size (1..=64
/// bytes), then the text. It is parsed whole ([`KeyLog::from_text`]) and in
/// chunks ([`KeyLog::parse`] per chunk, then [`KeyLog::finish`]). Checks:
/// both give the same diagnostics, statistics and secrets for every client
/// random either reports; every client random reported has at least one
/// secret; an unfinished line never holds more than about
/// 2 × [`keylog::MAX_LINE`] bytes; the text with tabs for spaces (parsed
/// without the usual line's quick path) gives the same.
pub fn keylog(data: &[u8]) {
    let Some((&sel, text)) = data.split_first() else { return };
    let chunk = usize::from(sel % 64) + 1;
    let (whole, whole_diags) = KeyLog::from_text(text, "fuzz.keys");
    let mut inc = KeyLog::new();
    let mut diags = Vec::new();
    for piece in text.chunks(chunk) {
        diags.extend(inc.parse(piece, "fuzz.keys"));
        assert!(
            inc.buffered() <= 2 * keylog::MAX_LINE,
            "{} bytes held for an unfinished line",
            inc.buffered()
        );
    }
    diags.extend(inc.finish());
    assert!(diags == whole_diags, "diagnostics differ when parsed in {chunk}-byte chunks");
    assert_eq!(inc.stats(), whole.stats(), "statistics differ in {chunk}-byte chunks");
    assert_eq!(inc.is_empty(), whole.is_empty());
    let mut randoms: Vec<[u8; 32]> = whole.client_randoms().copied().collect();
    randoms.sort_unstable();
    let mut inc_randoms: Vec<[u8; 32]> = inc.client_randoms().copied().collect();
    inc_randoms.sort_unstable();
    assert_eq!(randoms, inc_randoms, "client randoms differ in {chunk}-byte chunks");
    for cr in &randoms {
        let secrets = whole.lookup(cr);
        assert!(secrets == inc.lookup(cr), "secrets differ in {chunk}-byte chunks");
        assert!(!whole.labels_for(cr).is_empty(), "a client random without secrets");
    }
    for d in &whole_diags {
        assert!(d.message.starts_with("fuzz.keys:"), "diagnostic without its source: {d}");
    }
    // Tabs for spaces: every line then goes the general way (the usual
    // line's quick parse takes single spaces only), and must come out the
    // same.
    let tabs: Vec<u8> = text.iter().map(|&b| if b == b' ' { b'\t' } else { b }).collect();
    let (general, general_diags) = KeyLog::from_text(&tabs, "fuzz.keys");
    let messages =
        |d: &[crate::diag::Diagnostic]| d.iter().map(|d| d.message.clone()).collect::<Vec<_>>();
    assert_eq!(messages(&general_diags), messages(&whole_diags), "the quick parse said otherwise");
    assert_eq!(general.stats(), whole.stats(), "the quick parse counted otherwise");
    for cr in &randoms {
        assert!(general.lookup(cr) == whole.lookup(cr), "the quick parse stored otherwise");
    }
}

/// Hand-made key logs: every label, the RSA forms, comments, CRLF line
/// ends, blank lines, duplicates, and lines with each kind of mistake.
pub fn keylog_seeds() -> Vec<Vec<u8>> {
    let cr = "ab".repeat(32);
    let s32 = "cd".repeat(32);
    let s48 = "ef".repeat(48);
    let mut good = String::from("# a key log\n\n");
    for label in keylog::Label::ALL {
        let line = match label {
            keylog::Label::Rsa => format!("RSA 0011223344556677 {s48}\n"),
            keylog::Label::RsaSessionId => format!("RSA Session-ID:{s32} Master-Key:{s48}\n"),
            keylog::Label::ClientRandom => format!("CLIENT_RANDOM {cr} {s48}\r\n"),
            l => format!("{}\t{cr}  {s32}\n", l.as_str()),
        };
        good.push_str(&line);
    }
    good.push_str(&format!("CLIENT_RANDOM {cr} {}\n", "12".repeat(48)));
    let bad = format!(
        "CLIENT_RANDOM {cr}\nCLIENT_RANDOM zz {s48}\nCLIENT_RANDOM {} {s48}\nNOPE {cr} {s48}\n\
         CLIENT_RANDOM {cr} {}\nRSA Session-ID: Master-Key:{s48}\n\u{ff}\nCLIENT_RANDOM {cr} abc",
        "ab".repeat(31),
        "ef".repeat(47)
    );
    let long = format!("{}\nCLIENT_RANDOM {cr} {s48}\n", "x".repeat(keylog::MAX_LINE + 10));
    // Chunks of 1, 7 and 64 bytes.
    [(0u8, good), (6, bad), (63, long)]
        .into_iter()
        .map(|(sel, text)| [vec![sel], text.into_bytes()].concat())
        .collect()
}
