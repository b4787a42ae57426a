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
