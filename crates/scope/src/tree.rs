//! The field tree: what a parser found, as plain data for the renderers
//! (text, JSON, HTML). Each field has a stable key, a label for people, a
//! rendered value and the [`Span`] of its bytes; renderers never re-parse.
//!
//! Parsers write into a [`Tree`] as they read. A tree that is off (the
//! default for summaries and benchmarks) costs one branch per field: labels
//! and values are passed as closures and never evaluated.

use serde::Serialize;

use crate::span::{ParseError, Span};

/// One field of a parsed unit.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Field {
    /// Stable key, e.g. `cipher_suites` (same for every message of a type).
    pub key: &'static str,
    /// Label for people, e.g. `Cipher Suites (17 suites)`.
    pub label: String,
    /// The value as text, e.g. `TLS_AES_128_GCM_SHA256 (0x1301)`; empty
    /// for pure containers.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub value: String,
    /// Where its bytes are in the unit.
    pub span: Span,
    /// Sub-fields, in byte order.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub children: Vec<Field>,
    /// Anomalies found here ("GREASE value", "malformed: ...").
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

/// Builds a field tree while parsing, or does nothing when off.
#[derive(Debug, Default)]
pub struct Tree {
    on: bool,
    /// Open containers, innermost last; index 0 is the root list holder.
    stack: Vec<Field>,
}

fn holder() -> Field {
    Field {
        key: "",
        label: String::new(),
        value: String::new(),
        span: Span::default(),
        children: Vec::new(),
        notes: Vec::new(),
    }
}

impl Tree {
    /// A tree that records fields.
    pub fn on() -> Self {
        Tree { on: true, stack: vec![holder()] }
    }

    /// A tree that records nothing.
    pub fn off() -> Self {
        Tree { on: false, stack: Vec::new() }
    }

    /// Whether fields are recorded.
    pub fn is_on(&self) -> bool {
        self.on
    }

    /// Adds a field without children.
    pub fn leaf(
        &mut self,
        key: &'static str,
        label: impl FnOnce() -> String,
        span: Span,
        value: impl FnOnce() -> String,
    ) {
        if !self.on {
            return;
        }
        let f = Field {
            key,
            label: label(),
            value: value(),
            span,
            children: Vec::new(),
            notes: Vec::new(),
        };
        if let Some(top) = self.stack.last_mut() {
            top.children.push(f);
        }
    }

    /// Opens a container; fields added until [`Tree::close`] become its
    /// children.
    pub fn open(&mut self, key: &'static str, label: impl FnOnce() -> String, start: u32) {
        if !self.on {
            return;
        }
        let mut f = holder();
        f.key = key;
        f.label = label();
        f.span = Span::new(start, 0);
        self.stack.push(f);
    }

    /// Sets the value of the innermost open container.
    pub fn set_value(&mut self, value: impl FnOnce() -> String) {
        if !self.on || self.stack.len() < 2 {
            return;
        }
        if let Some(top) = self.stack.last_mut() {
            top.value = value();
        }
    }

    /// Changes the label of the innermost open container (when the label
    /// depends on what was inside, e.g. a count).
    pub fn set_label(&mut self, label: impl FnOnce() -> String) {
        if !self.on || self.stack.len() < 2 {
            return;
        }
        if let Some(top) = self.stack.last_mut() {
            top.label = label();
        }
    }

    /// Closes the innermost container, giving it its final span.
    pub fn close(&mut self, span: Span) {
        if !self.on || self.stack.len() < 2 {
            return;
        }
        if let Some(mut f) = self.stack.pop() {
            f.span = span;
            if let Some(parent) = self.stack.last_mut() {
                parent.children.push(f);
            }
        }
    }

    /// Adds a note to the innermost open container, or to the last field
    /// added when `to_last` is set.
    pub fn note(&mut self, to_last: bool, text: impl FnOnce() -> String) {
        if !self.on {
            return;
        }
        let Some(top) = self.stack.last_mut() else { return };
        if to_last && let Some(last) = top.children.last_mut() {
            last.notes.push(text());
            return;
        }
        top.notes.push(text());
    }

    /// Records that parsing stopped with `err`: a `[Malformed]` field at
    /// the error's offset, then every open container is closed up to it.
    pub fn malformed(&mut self, err: &ParseError) {
        if !self.on {
            return;
        }
        let at = err.at;
        self.leaf(
            "malformed",
            || "[Malformed]".to_string(),
            Span::new(at, err.have),
            || err.to_string(),
        );
        while self.stack.len() > 1 {
            let start = self.stack.last().map_or(at, |f| f.span.start);
            let end = self.stack.last().map_or(at, |f| {
                f.children.iter().map(|c| c.span.end()).max().unwrap_or(at).max(at)
            });
            self.close(Span::new(start, end.saturating_sub(start)));
        }
    }

    /// The finished top-level fields (open containers are closed).
    pub fn finish(mut self) -> Vec<Field> {
        while self.stack.len() > 1 {
            let (start, end) = self.stack.last().map_or((0, 0), |f| {
                (
                    f.span.start,
                    f.children.iter().map(|c| c.span.end()).max().unwrap_or(f.span.start),
                )
            });
            self.close(Span::new(start, end.saturating_sub(start)));
        }
        self.stack.pop().map(|h| h.children).unwrap_or_default()
    }
}

/// Checks the tree invariants: every child lies inside its parent, and
/// siblings are in byte order without overlapping. Returns the first
/// violation.
pub fn check_invariants(fields: &[Field], parent: Option<Span>) -> Result<(), String> {
    let mut prev_end: Option<u32> = None;
    for f in fields {
        if let Some(p) = parent
            && !p.contains(f.span)
        {
            return Err(format!("{} {} lies outside its parent {}", f.key, f.span, p));
        }
        if let Some(e) = prev_end
            && f.span.start < e
            && f.span.len > 0
        {
            return Err(format!("{} {} overlaps the field before it (ends at {e})", f.key, f.span));
        }
        if f.span.len > 0 {
            prev_end = Some(f.span.end());
        }
        check_invariants(&f.children, Some(f.span))?;
    }
    Ok(())
}

/// Lower-case hex of some bytes.
pub fn hex(bytes: &[u8]) -> String {
    // A digit per nibble, not a `write!` per byte: hex strings (client
    // randoms, secrets, hashes) are in every session's output.
    fn digit(n: u8) -> char {
        // `n` is a nibble: 0 to 15.
        char::from(if n < 10 {
            b'0'.wrapping_add(n)
        } else {
            b'a'.wrapping_add(n).wrapping_sub(10)
        })
    }
    let mut s = String::with_capacity(bytes.len().saturating_mul(2));
    for &b in bytes {
        s.push(digit(b >> 4));
        s.push(digit(b & 0x0f));
    }
    s
}

/// Hex for display, shortened in the middle past `max` bytes.
pub fn hex_short(bytes: &[u8], max: usize) -> String {
    if bytes.len() <= max {
        return hex(bytes);
    }
    let head = bytes.get(..max / 2).unwrap_or_default();
    let tail = bytes.get(bytes.len().saturating_sub(max / 2)..).unwrap_or_default();
    format!("{}…{} ({} bytes)", hex(head), hex(tail), bytes.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::span::Reader;

    #[test]
    fn builds_nested_fields() {
        let mut t = Tree::on();
        t.leaf("type", || "Type".into(), Span::new(0, 1), || "1".into());
        t.open("list", || "List".into(), 1);
        t.leaf("item", || "Item".into(), Span::new(3, 2), || "x".into());
        t.set_label(|| "List (1 item)".into());
        t.close(Span::new(1, 4));
        let f = t.finish();
        assert_eq!(f.len(), 2);
        assert_eq!(f[1].label, "List (1 item)");
        assert_eq!(f[1].children[0].span, Span::new(3, 2));
        check_invariants(&f, None).unwrap();
    }

    #[test]
    fn an_off_tree_evaluates_nothing() {
        let mut t = Tree::off();
        t.leaf("a", || panic!("label evaluated"), Span::new(0, 1), || panic!("value evaluated"));
        t.open("b", || panic!("label evaluated"), 0);
        t.close(Span::new(0, 1));
        assert!(t.finish().is_empty());
    }

    #[test]
    fn malformed_closes_open_containers() {
        let mut t = Tree::on();
        t.open("outer", || "Outer".into(), 0);
        t.open("inner", || "Inner".into(), 2);
        t.leaf("x", || "X".into(), Span::new(2, 2), String::new);
        let err = Reader::at(&[1], 4).u16("y").unwrap_err();
        t.malformed(&err);
        let f = t.finish();
        assert_eq!(f[0].children[0].children[1].label, "[Malformed]");
        assert_eq!(f[0].children[0].children[1].value, "y at byte 4: needs 2 bytes, only 1 left");
        check_invariants(&f, None).unwrap();
    }

    #[test]
    fn invariants_catch_overlaps_and_escapes() {
        let leaf = |start, len| Field {
            key: "k",
            label: String::new(),
            value: String::new(),
            span: Span::new(start, len),
            children: Vec::new(),
            notes: Vec::new(),
        };
        assert!(check_invariants(&[leaf(0, 4), leaf(2, 4)], None).is_err());
        let mut parent = leaf(0, 4);
        parent.children.push(leaf(3, 2));
        assert!(check_invariants(&[parent], None).is_err());
    }

    #[test]
    fn hex_helpers() {
        assert_eq!(hex(&[0x00, 0xab, 0x10]), "00ab10");
        assert_eq!(hex_short(&[1, 2, 3, 4, 5, 6], 4), "0102…0506 (6 bytes)");
    }
}
