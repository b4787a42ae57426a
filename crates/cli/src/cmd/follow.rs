//! `tlsscope follow`: the bytes of each stream, per direction: the
//! decrypted application data of each TLS session (as `tshark -z
//! follow,tls` prints it), or with `--tcp` the TCP streams as captured (as
//! `tshark -z follow,tcp`).

use std::io::Write;
use std::process::ExitCode;

use tlsscope_scope::diag::{Collector, Diagnostic, Severity};
use tlsscope_scope::flow::{Chunk, ConnInfo, Dir, EndReason, StreamSink};
use tlsscope_scope::pipeline::{Pipeline, Stage};
use tlsscope_scope::session::{self, Flow, Options, Session};

use crate::input::{Source, SourceArgs};
use crate::keys::KeyArgs;
use crate::output::{EXIT_OK, EXIT_PROBLEMS, Output};

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    source: SourceArgs,
    /// Follow TCP streams (the reassembled bytes as captured) instead of
    /// decrypted TLS.
    #[arg(long)]
    tcp: bool,
    /// Only this TCP stream (the `#` of `tlsscope flows`, tshark's tcp.stream).
    #[arg(long, value_name = "N")]
    stream: Option<u64>,
    /// Only this TLS session (the `session` number of `inspect`).
    #[arg(long, value_name = "N", conflicts_with = "tcp")]
    session: Option<u64>,
    #[command(flatten)]
    keys: KeyArgs,
    /// ascii (printable characters, others as '.'), hex (offsets, hex and
    /// characters) or raw (one hex line per piece, the server's indented
    /// with a tab, as tshark's follow,tcp,raw).
    #[arg(long, value_enum, default_value = "ascii")]
    format: FollowFormat,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum FollowFormat {
    Ascii,
    Hex,
    Raw,
}

struct Sink<W: Write> {
    w: W,
    only: Option<u64>,
    format: FollowFormat,
    diags: Collector,
    io_error: Option<std::io::Error>,
    streams: u64,
}

impl<W: Write> Sink<W> {
    fn wanted(&self, info: &ConnInfo) -> bool {
        self.only.is_none_or(|n| n == info.id)
    }

    fn emit(&mut self, info: &ConnInfo, dir: Dir, offset: u64, data: &[u8], missing: u64) {
        if self.io_error.is_some() {
            return;
        }
        let _ = info;
        let r = write_piece(&mut self.w, self.format, dir, offset, data, missing);
        if let Err(e) = r {
            self.io_error = Some(e);
        }
    }
}

fn write_piece(
    w: &mut impl Write,
    format: FollowFormat,
    dir: Dir,
    offset: u64,
    data: &[u8],
    missing: u64,
) -> std::io::Result<()> {
    let indent = if dir == Dir::ServerToClient { "\t" } else { "" };
    if missing > 0 {
        return writeln!(w, "{indent}[{missing} bytes missing in capture at offset {offset}]");
    }
    match format {
        FollowFormat::Raw => {
            w.write_all(indent.as_bytes())?;
            for b in data {
                write!(w, "{b:02x}")?;
            }
            writeln!(w)
        }
        FollowFormat::Ascii => {
            let text: String = data
                .iter()
                .map(|&b| {
                    if b == b'\n' || b == b'\t' || (0x20..0x7f).contains(&b) {
                        b as char
                    } else {
                        '.'
                    }
                })
                .collect();
            w.write_all(text.as_bytes())?;
            if !text.ends_with('\n') {
                writeln!(w)?;
            }
            Ok(())
        }
        FollowFormat::Hex => {
            for (i, line) in data.chunks(16).enumerate() {
                write!(w, "{indent}{:08x}  ", offset + (i as u64) * 16)?;
                for j in 0..16 {
                    match line.get(j) {
                        Some(b) => write!(w, "{b:02x} ")?,
                        None => write!(w, "   ")?,
                    }
                    if j == 7 {
                        write!(w, " ")?;
                    }
                }
                let text: String = line
                    .iter()
                    .map(|&b| if (0x20..0x7f).contains(&b) { b as char } else { '.' })
                    .collect();
                writeln!(w, " {text}")?;
            }
            Ok(())
        }
    }
}

impl<W: Write> StreamSink<()> for Sink<W> {
    fn open(&mut self, info: &ConnInfo, _: &mut ()) {
        if !self.wanted(info) || self.io_error.is_some() {
            return;
        }
        self.streams += 1;
        let r = writeln!(
            self.w,
            "===================================================================\n\
             Follow: tcp,{}\nStream: {}\nNode 0: {}\nNode 1: {}",
            match self.format {
                FollowFormat::Ascii => "ascii",
                FollowFormat::Hex => "hex",
                FollowFormat::Raw => "raw",
            },
            info.id,
            info.client,
            info.server
        );
        if let Err(e) = r {
            self.io_error = Some(e);
        }
    }
    fn data(&mut self, info: &ConnInfo, _: &mut (), dir: Dir, chunk: Chunk<'_>) {
        if self.wanted(info) {
            self.emit(info, dir, chunk.offset, chunk.data, 0);
        }
    }
    fn gap(&mut self, info: &ConnInfo, _: &mut (), dir: Dir, offset: u64, len: u64, _: u64) {
        if self.wanted(info) {
            self.emit(info, dir, offset, &[], len);
        }
    }
    fn close(&mut self, _: &ConnInfo, _: (), _: EndReason) {}
    fn diagnostic(&mut self, d: Diagnostic) {
        self.diags.push(d);
    }
}

/// TCP streams as captured: secrets change nothing.
impl<W: Write> Stage<()> for Sink<W> {}

pub fn run(args: Args, out: &Output) -> anyhow::Result<ExitCode> {
    if !args.tcp {
        return run_tls(args, out);
    }
    let mut file = Source::open(&args.source, &args.keys.keylog)?;
    let name = file.name();
    let stdout = std::io::stdout();
    let sink = Sink {
        w: std::io::BufWriter::with_capacity(1 << 16, stdout.lock()),
        only: args.stream,
        format: args.format,
        diags: Collector::default(),
        io_error: None,
        streams: 0,
    };
    let mut sink = file.feed(Pipeline::new(sink).with_budget(&args.source.budget()));
    if let Some(e) = sink.io_error.take() {
        return Err(e.into());
    }
    sink.w.flush()?;
    if sink.streams == 0
        && let Some(n) = args.stream
    {
        anyhow::bail!("{}: there is no TCP stream {n} (see `tlsscope flows`)", name.display());
    }
    crate::output::print_diagnostics(&sink.diags, &name, out);
    let problems = sink.diags.count_at_least(Severity::Warning) > 0;
    Ok(ExitCode::from(if problems { EXIT_PROBLEMS } else { EXIT_OK }))
}

/// Prints decrypted application data as it is decrypted.
struct TlsSink<W: Write> {
    w: W,
    stream: Option<u64>,
    session: Option<u64>,
    format: FollowFormat,
    /// The session whose header was printed last.
    current: Option<u64>,
    diags: Collector,
    sessions: u64,
    undecrypted: Vec<(u64, u64, String)>,
    io_error: Option<std::io::Error>,
}

impl<W: Write> TlsSink<W> {
    fn wanted(&self, s: &Session) -> bool {
        self.stream.is_none_or(|n| n == s.conn) && self.session.is_none_or(|n| n == s.id)
    }
}

impl<W: Write> session::Output for TlsSink<W> {
    fn session(&mut self, s: Session) {
        if !self.wanted(&s) {
            return;
        }
        self.sessions += 1;
        if let Some(d) = &s.decryption
            && d.status != tlsscope_scope::tls::crypto::Status::Ok
        {
            let why = d.reason.clone().unwrap_or_else(|| "some records did not decrypt".into());
            self.undecrypted.push((s.id, s.conn, format!("{}: {why}", d.status.as_str())));
        }
    }

    fn flow(&mut self, _f: Flow) {}

    fn diagnostic(&mut self, d: Diagnostic) {
        self.diags.push(d);
    }

    fn plaintext(
        &mut self,
        s: &Session,
        from: Dir,
        data: &[u8],
        _frame: u64,
        _ts: tlsscope_scope::time::Timestamp,
    ) {
        if !self.wanted(s) || self.io_error.is_some() {
            return;
        }
        let r = (|| -> std::io::Result<()> {
            if self.current != Some(s.id) {
                self.current = Some(s.id);
                writeln!(
                    self.w,
                    "===================================================================\n\
                     Follow: tls,{}\nSession: {}\nStream: {}\nNode 0: {}\nNode 1: {}",
                    match self.format {
                        FollowFormat::Ascii => "ascii",
                        FollowFormat::Hex => "hex",
                        FollowFormat::Raw => "raw",
                    },
                    s.id,
                    s.conn,
                    s.client,
                    s.server
                )?;
            }
            // Offsets in hex mode count per direction from the session start.
            write_piece(&mut self.w, self.format, from, 0, data, 0)
        })();
        if let Err(e) = r {
            self.io_error = Some(e);
        }
    }
}

fn run_tls(args: Args, out: &Output) -> anyhow::Result<ExitCode> {
    let mut file = Source::open(&args.source, &args.keys.keylog)?;
    let name = file.name();
    let stdout = std::io::stdout();
    let sink = TlsSink {
        w: std::io::BufWriter::with_capacity(1 << 16, stdout.lock()),
        stream: args.stream,
        session: args.session,
        format: args.format,
        current: None,
        diags: Collector::default(),
        sessions: 0,
        undecrypted: Vec::new(),
        io_error: None,
    };
    let opts = Options { trees: false, keep_messages: false, decrypt: true, http: false };
    let budget = args.source.budget();
    let mut analysis =
        Pipeline::analysis_within(opts, sink, &budget).named(&name.display().to_string());
    let rsa_use = analysis.keys().rsa_use.clone();
    let analyzer = analysis.stage_mut();
    args.keys.load(&mut analyzer.keys, &mut analyzer.out.diags)?;
    let mut sink = file.feed(analysis).out;
    sink.diags.extend(crate::keys::rsa_key_report(&args.keys, &rsa_use));
    sink.diags.extend(crate::input::budget_diagnostic(&budget));
    if let Some(e) = sink.io_error.take() {
        return Err(e.into());
    }
    sink.w.flush()?;
    if sink.sessions == 0 {
        let what = match (args.session, args.stream) {
            (Some(n), _) => format!("there is no TLS session {n}"),
            (None, Some(n)) => format!("TCP stream {n} carries no TLS session"),
            (None, None) => "there is no TLS session in it".into(),
        };
        anyhow::bail!(
            "{}: {what} (see `tlsscope inspect`; `--tcp` follows plain TCP)",
            name.display()
        );
    }
    for (id, conn, why) in &sink.undecrypted {
        eprintln!("tlsscope: session {id} (TCP stream {conn}) not fully decrypted: {why}");
    }
    crate::output::print_diagnostics(&sink.diags, &name, out);
    let problems = !sink.undecrypted.is_empty() || sink.diags.count_at_least(Severity::Warning) > 0;
    Ok(ExitCode::from(if problems { EXIT_PROBLEMS } else { EXIT_OK }))
}
