//! The HTML report (`tlsscope report`, `tlsscope demo --report`): one
//! self-contained page, styles and script inline, nothing fetched. The
//! data is built by [`model::Builder`] as the analysis hands over sessions
//! and flows (bounded by [`model::Limits`]), rendered by [`html::page`];
//! docs/report.md describes the page, its limits and its data.

pub mod html;
pub mod model;

use std::path::Path;

use anyhow::Context as _;
use tlsscope_lab::files::{self, Mode, ModeFixed};
use tlsscope_scope::session::{Flow, Session};
use tlsscope_scope::time::Timestamp;

pub use model::{Builder, Limits, Report, Settings};

/// The wall clock as a capture timestamp.
pub fn now() -> Timestamp {
    let ns = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX));
    Timestamp(ns)
}

/// Writes the page to `path`: a secret ([`Mode::Secret`]: 0600, never
/// through a symbolic link) when it holds decrypted content, since that is
/// as private as the key log that opened it. Returns the mode fixed on an
/// existing page others could read, for the caller to warn about.
pub fn write_page(
    report: &Report,
    decrypted: bool,
    path: &Path,
) -> anyhow::Result<Option<ModeFixed>> {
    let page = html::page(report);
    if path.as_os_str() == "-" {
        use std::io::Write;
        let mut out = std::io::stdout().lock();
        out.write_all(page.as_bytes())?;
        out.flush()?;
        return Ok(None);
    }
    let mode = if decrypted { Mode::Secret } else { Mode::Public };
    let fixed = files::write(path, page.as_bytes(), mode, true)
        .with_context(|| format!("{}: cannot write the report", path.display()))?;
    Ok(fixed)
}

/// Writes the report of sessions and flows already collected (`tlsscope
/// demo --report`). For field trees and hex views the analysis must have
/// run with `Options { trees: true, keep_messages: true, .. }`; without
/// them the page still has the ladder, explanations, checks and HTTP.
/// Times count from the earliest session or flow. Returns what
/// [`write_page`] returns.
pub fn write_report(
    sessions: &[Session],
    flows: &[Flow],
    settings: Settings,
    path: &Path,
) -> anyhow::Result<Option<ModeFixed>> {
    let mut b = Builder::new(settings);
    let start = sessions.iter().map(|s| s.start).chain(flows.iter().map(|f| f.info.start)).min();
    if let Some(t) = start {
        b.set_start(t);
    }
    for s in sessions {
        b.session(s);
    }
    for f in flows {
        b.flow(f);
    }
    let decrypted = b.has_decrypted_content();
    write_page(&b.finish(now()), decrypted, path)
}
