//! `x509`: one DER certificate.

use super::*;

/// Fuzz body: the input as a DER certificate. Checks: the tree has one
/// field and obeys the invariants inside the input; the tree decodes a
/// certificate exactly when [`x509::summarize`] does, and the summary's
/// SHA-256 is the input's; naming the input as a DN does not fail.
pub fn x509(data: &[u8]) {
    let base = 7;
    let summary = x509::summarize(data);
    let mut t = Tree::on();
    x509::tree(data, base, &mut t);
    let fields = t.finish();
    assert_tree(&fields, Span::new(base, len32(data.len())), "certificate");
    assert_eq!(fields.len(), 1, "one field per certificate");
    let decoded = fields.first().is_some_and(|f| f.key == "certificate_der");
    assert_eq!(decoded, summary.is_ok(), "tree and summary disagree: {summary:?}");
    if let Ok(s) = &summary {
        use sha2::Digest;
        assert_eq!(s.sha256, tree::hex(&sha2::Sha256::digest(data)));
    }
    let _ = x509::name_from_der(data);
}
