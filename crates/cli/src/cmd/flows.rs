//! `tlsscope flows`: one line per TCP connection, the numbers
//! `tshark -q -z conv,tcp` gives, plus what reassembly found (gaps,
//! retransmissions).

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use serde::Serialize;
use tlsscope_scope::budget::Budget;
use tlsscope_scope::diag::{Collector, Diagnostic, Severity};
use tlsscope_scope::flow::{Chunk, ConnInfo, Dir, EndReason, Roles, StreamSink};
use tlsscope_scope::pipeline::{Input, Pipeline, Stage};
use tlsscope_scope::time::Timestamp;

use crate::input::CaptureFile;
use crate::output::{EXIT_OK, EXIT_PROBLEMS, Format, Output};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Capture file (pcap or pcapng, optionally gzip-compressed).
    #[arg(value_name = "FILE")]
    file: PathBuf,
    /// Output format: text (a table) or json (JSON Lines, one object per connection).
    #[arg(long, value_enum, default_value = "text")]
    format: Format,
    /// Memory reassembly may hold at once (e.g. 512M, 2G); past it the
    /// longest-idle connections are reported early.
    #[arg(long, value_name = "SIZE", default_value = "256M", value_parser = crate::input::parse_size)]
    max_memory: u64,
}

/// One connection, as printed. Field names are part of the JSON output's
/// stable schema (docs/json.md).
#[derive(Serialize, Debug, Clone)]
struct Row {
    #[serde(rename = "type")]
    kind: &'static str,
    /// Connection number (tshark's tcp.stream).
    stream: u64,
    client: String,
    server: String,
    /// "handshake" when the SYN was seen, "guessed" otherwise.
    roles: &'static str,
    client_frames: u64,
    server_frames: u64,
    client_bytes: u64,
    server_bytes: u64,
    client_payload_bytes: u64,
    server_payload_bytes: u64,
    /// Seconds since the first frame of the capture.
    start: f64,
    /// Seconds from the connection's first to its last frame.
    duration: f64,
    first_frame: u64,
    last_frame: u64,
    gaps: u64,
    gap_bytes: u64,
    retransmissions: u64,
    conflicting_bytes: u64,
    fin: bool,
    rst: bool,
}

/// Writes each connection as it closes, in connection order: rows that
/// close before an earlier connection are held until it does, so memory is
/// bounded by connections open at once, not by the capture's size.
struct Sink<W: Write> {
    w: W,
    format: Format,
    color: bool,
    capture_start: Option<Timestamp>,
    /// Rows waiting for an earlier connection to close.
    held: BTreeMap<u64, Row>,
    /// The connection number to write next.
    next: u64,
    written: u64,
    guessed: bool,
    diags: Collector,
    error: Option<std::io::Error>,
}

impl<W: Write> Sink<W> {
    fn write_row(&mut self, row: &Row) {
        if self.error.is_some() {
            return;
        }
        self.written += 1;
        self.guessed |= row.roles == "guessed";
        let r = match self.format {
            Format::Json => serde_json::to_writer(&mut self.w, row)
                .map_err(std::io::Error::from)
                .and_then(|()| self.w.write_all(b"\n")),
            Format::Text => print_row(&mut self.w, row, self.color),
        };
        if let Err(e) = r {
            self.error = Some(e);
        }
    }
}

impl<W: Write> StreamSink<()> for Sink<W> {
    fn data(&mut self, _: &ConnInfo, _: &mut (), _: Dir, _: Chunk<'_>) {}
    fn gap(&mut self, _: &ConnInfo, _: &mut (), _: Dir, _: u64, _: u64, _: u64) {}
    fn close(&mut self, info: &ConnInfo, _: (), _: EndReason) {
        let c = info.stats[Dir::ClientToServer];
        let s = info.stats[Dir::ServerToClient];
        let start = self.capture_start.unwrap_or(info.start);
        let row = Row {
            kind: "tcp",
            stream: info.id,
            client: info.client.to_string(),
            server: info.server.to_string(),
            roles: match info.roles {
                Roles::Handshake => "handshake",
                Roles::Guessed => "guessed",
            },
            client_frames: c.frames,
            server_frames: s.frames,
            client_bytes: c.bytes,
            server_bytes: s.bytes,
            client_payload_bytes: c.payload_bytes,
            server_payload_bytes: s.payload_bytes,
            start: info.start.seconds_since(start),
            duration: info.last.seconds_since(info.start),
            first_frame: info.first_frame,
            last_frame: info.last_frame,
            gaps: c.gaps + s.gaps,
            gap_bytes: c.gap_bytes + s.gap_bytes,
            retransmissions: c.retransmissions + s.retransmissions,
            conflicting_bytes: c.conflicting_bytes + s.conflicting_bytes,
            fin: info.fin.0.iter().all(|f| *f),
            rst: info.rst,
        };
        // Every connection number is closed exactly once: write this one
        // and any held ones that follow it.
        self.held.insert(row.stream, row);
        while let Some(row) = self.held.remove(&self.next) {
            self.write_row(&row);
            self.next += 1;
        }
    }
    fn diagnostic(&mut self, d: Diagnostic) {
        self.diags.push(d);
    }
}

/// Connections only: times from the first frame, secrets change nothing.
impl<W: Write> Stage<()> for Sink<W> {
    fn start(&mut self, ts: Timestamp) {
        self.capture_start = Some(ts);
    }
}

pub fn run(args: Args, out: &Output) -> anyhow::Result<ExitCode> {
    let mut file = CaptureFile::open(&args.file)?;
    let stdout = std::io::stdout();
    let mut sink = Sink {
        w: std::io::BufWriter::with_capacity(1 << 16, stdout.lock()),
        format: args.format,
        color: out.color,
        capture_start: None,
        held: BTreeMap::new(),
        next: 0,
        written: 0,
        guessed: false,
        diags: Collector::default(),
        error: None,
    };
    if args.format == Format::Text {
        print_head(&mut sink.w, out.color)?;
    }
    let budget = Budget::new(usize::try_from(args.max_memory).unwrap_or(usize::MAX));
    let mut pipeline = Pipeline::new(sink).with_budget(&budget);
    let mut frames = 0u64;
    file.for_each(|input| {
        frames += u64::from(matches!(input, Input::Frame(_)));
        pipeline.push(input);
    });
    let mut sink = pipeline.finish();
    // Nothing should be held now; write anything that is, in order.
    for row in std::mem::take(&mut sink.held).into_values() {
        sink.write_row(&row);
    }
    if let Some(e) = sink.error.take() {
        return Err(e.into());
    }
    if args.format == Format::Text {
        writeln!(sink.w, "{} TCP connection(s) in {frames} frame(s)", sink.written)?;
        if sink.guessed {
            writeln!(
                sink.w,
                "? = handshake not in the capture: client and server guessed from the ports"
            )?;
        }
    }
    sink.w.flush()?;
    let Sink { w, diags, .. } = sink;
    drop(w);
    crate::output::print_diagnostics(&diags, &args.file, out);
    let problems = diags.count_at_least(Severity::Warning) > 0;
    Ok(ExitCode::from(if problems { EXIT_PROBLEMS } else { EXIT_OK }))
}

fn print_head(w: &mut impl Write, color: bool) -> std::io::Result<()> {
    use owo_colors::OwoColorize;
    let head = format!(
        "{:>4}  {:<23} {:<23} {:>7} {:>10} {:>7} {:>10} {:>11} {:>10} {:>5} {:>7}",
        "#",
        "client",
        "server",
        "frm c>s",
        "bytes c>s",
        "frm s>c",
        "bytes s>c",
        "start",
        "duration",
        "gaps",
        "retrans"
    );
    if color { writeln!(w, "{}", head.bold()) } else { writeln!(w, "{head}") }
}

fn print_row(w: &mut impl Write, r: &Row, color: bool) -> std::io::Result<()> {
    use owo_colors::OwoColorize;
    let mark = if r.roles == "guessed" { "?" } else { " " };
    let line = format!(
        "{:>4}{mark} {:<23} {:<23} {:>7} {:>10} {:>7} {:>10} {:>11.6} {:>10.6} {:>5} {:>7}",
        r.stream,
        r.client,
        r.server,
        r.client_frames,
        r.client_bytes,
        r.server_frames,
        r.server_bytes,
        r.start,
        r.duration,
        r.gaps,
        r.retransmissions
    );
    if color && (r.gaps > 0 || r.conflicting_bytes > 0) {
        writeln!(w, "{}", line.yellow())
    } else {
        writeln!(w, "{line}")
    }
}
