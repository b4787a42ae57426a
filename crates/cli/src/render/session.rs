//! One session or plain connection as `inspect` writes it (text, JSON, or
//! explained), the same for the single-threaded analysis's sink and for
//! each part of one split over threads (the [`Work`] each part does).

use std::io::Write;

use tlsscope_scope::diag::Severity;
use tlsscope_scope::explain::{self, Lang};
use tlsscope_scope::pipeline::threads::Work;
use tlsscope_scope::session::{Flow, Session};
use tlsscope_scope::time::Timestamp;
use tlsscope_scope::verify::{self, Kind, Outcome, Trust};

use crate::output::Format;
use crate::render::{explain as explain_text, json, text};

/// How sessions and connections are written: by the sink of a
/// single-threaded analysis and by each part of a split one alike.
#[derive(Clone)]
pub struct Render {
    pub format: Format,
    pub style: text::Style,
    /// `--explain`: the language, and what the checks judge against.
    pub explain: Option<(Lang, Trust)>,
}

impl Render {
    /// Writes a session (`start`: the capture's first frame). Returns how
    /// many problems it shows (warnings, checks that failed) and how the
    /// writing went.
    pub fn session(
        &self,
        w: &mut impl Write,
        s: &Session,
        start: Timestamp,
    ) -> (u64, std::io::Result<()>) {
        let mut problems = 0;
        if s.diagnostics.iter().any(|d| d.severity >= Severity::Warning) {
            problems += 1;
        }
        let checks = self.explain.as_ref().map(|(_, trust)| verify::check_session(s, trust));
        // A signature or Finished that does not verify is a problem in the
        // capture; an untrusted root (every lab certificate) is not.
        if checks.iter().flatten().any(|c| {
            matches!(c.outcome, Outcome::Failed(_)) && !matches!(c.kind, Kind::TrustAnchor)
        }) {
            problems += 1;
        }
        let r = match (self.format, checks, &self.explain) {
            (Format::Json, checks, _) => {
                json::write_session(&mut *w, s, start, checks.map(|c| json::checks(&c)))
                    .map_err(std::io::Error::from)
                    .and_then(|()| w.write_all(b"\n"))
            }
            (Format::Text, Some(checks), Some((lang, _))) => {
                let x = explain::explain(s, checks, *lang);
                explained(w, s, &x, self.style, start)
            }
            (Format::Text, _, _) => text::session(w, s, self.style, start),
        };
        (problems, r)
    }

    /// Writes a connection that was not TLS.
    pub fn flow(&self, w: &mut impl Write, f: &Flow, start: Timestamp) -> std::io::Result<()> {
        match self.format {
            Format::Json => json::write_flow(&mut *w, f, start)
                .map_err(std::io::Error::from)
                .and_then(|()| w.write_all(b"\n")),
            Format::Text => text::flow(w, f, self.style, start),
        }
    }
}

fn explained(
    w: &mut impl Write,
    s: &Session,
    x: &explain::Explained,
    style: text::Style,
    start: Timestamp,
) -> std::io::Result<()> {
    text::header(w, s, style)?;
    writeln!(w)?;
    explain_text::ladder(w, s, style, start, x.lang)?;
    explain_text::explained(w, s, x, style, start)?;
    text::app_data(w, s, style, start)?;
    text::http(w, &s.http, style)?;
    text::diagnostics(w, s, style)?;
    writeln!(w)
}

/// Each part of an analysis split over threads renders what it finds (the
/// costly part of the output) itself: a session becomes its text and the
/// number of problems it shows.
impl Work for Render {
    type Found = (Vec<u8>, u64);

    fn session(&mut self, s: Session, start: Timestamp) -> (Vec<u8>, u64) {
        let mut text = Vec::with_capacity(4096);
        // Writing into memory does not fail; if rendering did, what was
        // written is what a single analysis would have written before
        // failing too.
        let (problems, _) = Render::session(self, &mut text, &s, start);
        (text, problems)
    }

    fn flow(&mut self, f: Flow, start: Timestamp) -> (Vec<u8>, u64) {
        let mut text = Vec::with_capacity(1024);
        let _ = Render::flow(self, &mut text, &f, start);
        (text, 0)
    }
}
