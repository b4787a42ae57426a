//! `tls_extensions`: an extension block parsed as in each message that
//! carries one.

use super::*;

/// The messages an extension block can belong to.
pub const EXTENSION_PLACES: [Where; 7] = [
    Where::ClientHello,
    Where::ServerHello,
    Where::HelloRetryRequest,
    Where::EncryptedExtensions,
    Where::CertificateRequest,
    Where::Certificate,
    Where::NewSessionTicket,
];

/// Where [`checked_extensions`] puts the block in its unit, so that spans
/// relative to the unit are tested, not only those from 0.
pub(super) const EXT_BASE: u32 = 9;

/// Parses an extension block as found in `at`, with the tree on, and
/// checks: the tree's invariants with every field inside the block; on
/// success one `extensions` field spanning exactly the block, holding its
/// length and one `extension` field per extension type reported; the same
/// result and summary with the tree off.
pub fn checked_extensions(block: &[u8], at: Where) -> Result<Hello, crate::span::ParseError> {
    let mut r = Reader::at(block, EXT_BASE);
    let mut t = Tree::on();
    let mut hello = Hello::default();
    let result = ext::parse_block(&mut r, at, &mut t, &mut hello);
    if let Err(e) = &result {
        // What every caller does with an error it passes on.
        t.malformed(e);
    }
    let fields = t.finish();
    let whole = Span::new(EXT_BASE, len32(block.len()));
    assert_tree(&fields, whole, "extension block");
    let mut hello_off = Hello::default();
    let mut r_off = Reader::at(block, EXT_BASE);
    let result_off = ext::parse_block(&mut r_off, at, &mut Tree::off(), &mut hello_off);
    assert!(result_off == result && hello_off == hello, "the tree changes the result ({at:?})");
    if result.is_ok() {
        let consumed = r.span_from(EXT_BASE);
        let announced =
            block.get(..2).map_or(0, |b| b.iter().fold(0u32, |a, &x| a << 8 | u32::from(x)));
        assert_eq!(consumed.len, 2 + announced, "the block's length");
        assert_eq!(fields.len(), 1, "{at:?}: one field for the block, got {fields:#?}");
        let block_field = fields.first();
        assert!(block_field.is_some_and(|f| f.key == "extensions" && f.span == consumed));
        let children = block_field.map(|f| f.children.as_slice()).unwrap_or_default();
        let exts = children.iter().filter(|f| f.key == "extension").count();
        assert_eq!(exts, hello.extension_types.len(), "{at:?}: extension fields");
        assert_eq!(children.len(), exts + 1, "{at:?}: fields besides the extensions");
    }
    result.map(|()| hello)
}

/// Fuzz body: the input as an extension block of each kind of message
/// ([`EXTENSION_PLACES`]); see [`checked_extensions`].
pub fn tls_extensions(data: &[u8]) {
    for at in EXTENSION_PLACES {
        let _ = checked_extensions(data, at);
    }
}
