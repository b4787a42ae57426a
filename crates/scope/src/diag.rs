//! Diagnostics: what went wrong in the input, and where. A diagnostic never
//! stops the analysis; it is reported beside the results.

use std::fmt;

/// How bad a diagnostic is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    /// Worth knowing (a capture started mid-connection).
    Note,
    /// Something is off but the analysis could go on around it (a gap).
    Warning,
    /// Input that could not be parsed (a malformed block or record).
    Error,
}

impl Severity {
    /// `note`, `warning` or `error`.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Note => "note",
            Severity::Warning => "warning",
            Severity::Error => "error",
        }
    }
}

/// Where in the input a diagnostic points.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Location {
    /// 1-based frame number, if the problem is in or found at a frame.
    pub frame: Option<u64>,
    /// Byte offset in the capture file, if known.
    pub file_offset: Option<u64>,
    /// Byte offset inside the frame, if known.
    pub frame_offset: Option<u32>,
}

impl Location {
    /// At a frame.
    pub fn frame(frame: u64) -> Self {
        Location { frame: Some(frame), ..Location::default() }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut sep = "";
        if let Some(n) = self.frame {
            write!(f, "frame {n}")?;
            sep = ", ";
        }
        if let Some(o) = self.frame_offset {
            write!(f, "{sep}byte {o} of the frame")?;
            sep = ", ";
        }
        if let Some(o) = self.file_offset {
            write!(f, "{sep}file offset {o}")?;
        }
        Ok(())
    }
}

/// One problem found in the input.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    /// How bad.
    pub severity: Severity,
    /// A stable machine-readable code, e.g. `tcp.gap`.
    pub code: &'static str,
    /// What happened, for people.
    pub message: String,
    /// Where.
    pub location: Location,
}

impl Diagnostic {
    /// A new diagnostic.
    pub fn new(
        severity: Severity,
        code: &'static str,
        location: Location,
        message: impl Into<String>,
    ) -> Self {
        Diagnostic { severity, code, message: message.into(), location }
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let loc = self.location.to_string();
        if loc.is_empty() {
            write!(f, "{}: {}", self.severity.as_str(), self.message)
        } else {
            write!(f, "{}: {}: {}", self.severity.as_str(), loc, self.message)
        }
    }
}

/// Keeps the diagnostics of a run without letting a broken capture flood
/// memory or the terminal: the first few of each code are kept whole, the
/// rest only counted.
#[derive(Debug, Default)]
pub struct Collector {
    kept: Vec<Diagnostic>,
    counts: Vec<(&'static str, Severity, u64)>,
}

impl Extend<Diagnostic> for Collector {
    fn extend<I: IntoIterator<Item = Diagnostic>>(&mut self, items: I) {
        for d in items {
            self.push(d);
        }
    }
}

impl Collector {
    /// Diagnostics of one code kept in full; the rest are counted.
    pub const KEEP_PER_CODE: u64 = 20;

    /// Records a diagnostic. Returns true if it was kept in full.
    pub fn push(&mut self, d: Diagnostic) -> bool {
        let n = match self.counts.iter_mut().find(|(c, _, _)| *c == d.code) {
            Some((_, _, n)) => {
                *n = n.saturating_add(1);
                *n
            }
            None => {
                self.counts.push((d.code, d.severity, 1));
                1
            }
        };
        if n <= Self::KEEP_PER_CODE {
            self.kept.push(d);
            true
        } else {
            false
        }
    }

    /// The diagnostics kept in full, in the order they came.
    pub fn kept(&self) -> &[Diagnostic] {
        &self.kept
    }

    /// (code, severity, total count) per code, in order of first occurrence.
    pub fn counts(&self) -> &[(&'static str, Severity, u64)] {
        &self.counts
    }

    /// How many were not kept in full.
    pub fn suppressed(&self) -> u64 {
        self.counts.iter().map(|(_, _, n)| n.saturating_sub(Self::KEEP_PER_CODE)).sum()
    }

    /// Total count of diagnostics at `severity` or worse.
    pub fn count_at_least(&self, severity: Severity) -> u64 {
        self.counts.iter().filter(|(_, s, _)| *s >= severity).map(|(_, _, n)| n).sum()
    }

    /// True when nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.counts.is_empty()
    }

    /// Adds what `later` recorded as if it had been pushed here after
    /// everything so far: the same diagnostics kept, the same counts.
    pub fn append(&mut self, later: Collector) {
        let count = |c: &Collector, code: &str| {
            c.counts.iter().find(|(k, _, _)| *k == code).map_or(0, |(_, _, n)| *n)
        };
        let mut taken: Vec<(&'static str, u64)> = Vec::new();
        for d in later.kept {
            let i = match taken.iter_mut().find(|(k, _)| *k == d.code) {
                Some((_, i)) => {
                    *i = i.saturating_add(1);
                    *i
                }
                None => {
                    taken.push((d.code, 1));
                    1
                }
            };
            if count(self, d.code).saturating_add(i) <= Self::KEEP_PER_CODE {
                self.kept.push(d);
            }
        }
        for (code, severity, n) in later.counts {
            match self.counts.iter_mut().find(|(k, _, _)| *k == code) {
                Some((_, _, total)) => *total = total.saturating_add(n),
                None => self.counts.push((code, severity, n)),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Appending a collector keeps and counts what pushing its
    /// diagnostics one by one would have, whatever the mix of codes.
    #[test]
    fn appending_is_pushing_in_order() {
        let codes = ["tcp.gap", "keylog.malformed", "tls.decrypt"];
        let all: Vec<Diagnostic> = (0u64..150)
            .map(|i| {
                let code = codes[(i * i % 7 % 3) as usize];
                Diagnostic::new(Severity::Warning, code, Location::frame(i), format!("d{i}"))
            })
            .collect();
        let shown = |c: &Collector| {
            (c.kept().iter().map(|d| d.to_string()).collect::<Vec<_>>(), c.counts().to_vec())
        };
        for split in [0, 1, 15, 40, 75, 149, 150] {
            let mut whole = Collector::default();
            all.iter().cloned().for_each(|d| _ = whole.push(d));
            let (mut first, mut later) = (Collector::default(), Collector::default());
            all[..split].iter().cloned().for_each(|d| _ = first.push(d));
            all[split..].iter().cloned().for_each(|d| _ = later.push(d));
            first.append(later);
            assert_eq!(shown(&first), shown(&whole), "split at {split}");
        }
    }

    #[test]
    fn collector_keeps_the_first_of_each_code_and_counts_the_rest() {
        let mut c = Collector::default();
        for i in 0..50 {
            c.push(Diagnostic::new(Severity::Warning, "tcp.gap", Location::frame(i), "gap"));
        }
        c.push(Diagnostic::new(Severity::Error, "capture.malformed", Location::default(), "bad"));
        assert_eq!(c.kept().len(), 21);
        assert_eq!(c.suppressed(), 30);
        assert_eq!(c.count_at_least(Severity::Warning), 51);
        assert_eq!(c.count_at_least(Severity::Error), 1);
        assert_eq!(c.kept()[0].to_string(), "warning: frame 0: gap");
    }
}
