//! `tlsscope inspect`: every TLS session of a capture, message by message.

use std::io::Write;
use std::process::ExitCode;
use std::sync::Arc;

use tlsscope_scope::budget::Budget;
use tlsscope_scope::diag::{Collector, Diagnostic, Severity};
use tlsscope_scope::pipeline::threads::{Engine, Merge};
use tlsscope_scope::pipeline::{FileBytes, Pipeline};
use tlsscope_scope::session::{self, Flow, Options, Session};
use tlsscope_scope::time::Timestamp;
use tlsscope_scope::tls::crypto::Keyring;

use crate::input::{CaptureFile, Source, SourceArgs};
use crate::keys::{KeyArgs, KeyFiles};
use crate::output::{EXIT_OK, EXIT_PROBLEMS, Format, LangChoice, Output};
use crate::render::session::Render;
use crate::render::text;

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    source: SourceArgs,
    /// Output format: text (ladder and field trees) or json (JSON Lines,
    /// one object per TLS session or plain connection).
    #[arg(long, value_enum, default_value = "text")]
    format: Format,
    /// Show each message's bytes, with the offsets of its fields.
    #[arg(short = 'x', long)]
    hex: bool,
    /// Only the summary and the ladder, no field trees.
    #[arg(long)]
    brief: bool,
    /// Explain each step of the handshake (what it is for, the values that
    /// matter, the checks computed: certificate and key exchange
    /// signatures, Finished) with a ladder diagram. With --format json:
    /// adds each session's checks.
    #[arg(long)]
    explain: bool,
    /// Language of the explanations (default: from LANG).
    #[arg(long, value_enum, value_name = "LANG")]
    lang: Option<LangChoice>,
    #[command(flatten)]
    keys: KeyArgs,
    /// With --format json, a capture file's connections are analysed (TLS,
    /// decryption, HTTP) on N threads, each its share of them, beside the
    /// thread that reads the file and reassembles TCP; 1 does it all on
    /// one thread. The output is the same whatever N. Default: one per
    /// CPU for files of 16 MiB or more (not gzip-compressed), else 1.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=8))]
    threads: Option<u16>,
}

/// Whether the file starts as gzip does.
fn gzip(path: Option<&std::path::Path>) -> bool {
    use std::io::Read;
    use tlsscope_capture::read::GZIP_MAGIC;
    let mut magic = [0u8; 2];
    path.and_then(|p| std::fs::File::open(p).ok())
        .is_some_and(|mut f| f.read_exact(&mut magic).is_ok() && magic == GZIP_MAGIC)
}

/// Files from this size on are analysed on several threads by default.
const SPLIT_MIN_BYTES: u64 = 16 << 20;

struct Sink<W: Write> {
    w: W,
    render: Render,
    start: Timestamp,
    diags: Collector,
    session_problems: u64,
    sessions: u64,
    flows: u64,
    error: Option<std::io::Error>,
}

impl<W: Write> session::Output for Sink<W> {
    fn session(&mut self, s: Session) {
        self.sessions += 1;
        if self.error.is_some() {
            return;
        }
        let (problems, r) = self.render.session(&mut self.w, &s, self.start);
        self.session_problems += problems;
        if let Err(e) = r {
            self.error = Some(e);
        }
    }

    fn flow(&mut self, f: Flow) {
        self.flows += 1;
        if self.error.is_some() {
            return;
        }
        if let Err(e) = self.render.flow(&mut self.w, &f, self.start) {
            self.error = Some(e);
        }
    }

    fn diagnostic(&mut self, d: Diagnostic) {
        self.diags.push(d);
    }

    fn start(&mut self, first_frame: Timestamp) {
        self.start = first_frame;
    }
}

/// What the analysis threads rendered, written in the order of a single
/// analysis.
impl<W: Write> Merge<(Vec<u8>, u64)> for Sink<W> {
    fn session(&mut self, number: Option<u64>, local: u64, (text, problems): (Vec<u8>, u64)) {
        self.sessions += 1;
        self.session_problems += problems;
        if self.error.is_some() {
            return;
        }
        let r = match number {
            Some(n) => write_numbered(&mut self.w, &text, local, n),
            None => self.w.write_all(&text),
        };
        if let Err(e) = r {
            self.error = Some(e);
        }
    }

    fn flow(&mut self, (text, _): (Vec<u8>, u64)) {
        self.flows += 1;
        if self.error.is_none()
            && let Err(e) = self.w.write_all(&text)
        {
            self.error = Some(e);
        }
    }

    fn diagnostic(&mut self, d: Diagnostic) {
        self.diags.push(d);
    }
}

/// Writes a session rendered by an analysis thread with its number there
/// (`local`) as the capture-wide `number`: the number is the value of the
/// JSON object's second member.
fn write_numbered(w: &mut impl Write, text: &[u8], local: u64, number: u64) -> std::io::Result<()> {
    const PREFIX: &[u8] = b"{\"type\":\"session\",\"session\":";
    let digits = local.to_string();
    let at = PREFIX.len() + digits.len();
    match text.get(..at) {
        Some(head) if head.starts_with(PREFIX) && head.ends_with(digits.as_bytes()) => {
            w.write_all(PREFIX)?;
            write!(w, "{number}")?;
            w.write_all(text.get(at..).unwrap_or_default())
        }
        // Not the shape the JSON renderer writes: written as it is.
        _ => w.write_all(text),
    }
}

/// Analyses `file` on `threads` threads ([`tlsscope_scope::pipeline::threads`]),
/// writing what a single analysis would to `sink`. The key logs are read
/// on a thread of their own while the capture is read.
fn analyse_split<W: Write>(
    file: &mut CaptureFile,
    threads: usize,
    opts: Options,
    budget: &Budget,
    (mut ring, files): (Keyring, KeyFiles),
    sink: &mut Sink<W>,
) -> anyhow::Result<()> {
    let source = file.path.display().to_string();
    let mapped = file.reader.mapping().map(|m| -> Arc<dyn FileBytes> { m });
    let (mut engine, keys) = Engine::start(threads, opts, budget, &sink.render, &source, mapped)?;
    let has_keylog = files.has_keylog();
    let load = move || {
        let mut diags = Collector::default();
        let read = files.read_into(&mut ring, &mut diags);
        if read.is_ok() {
            keys.give(ring);
        }
        (read, diags)
    };
    let loading = if has_keylog {
        Err(std::thread::Builder::new().name("keylog".into()).spawn(load)?)
    } else {
        // Only RSA keys (already read), or nothing.
        Ok(load())
    };
    let before = std::mem::take(&mut sink.diags);
    file.for_each(|input| engine.push(input, sink));
    let finished = engine.finish(sink);
    let (read, keylog_diags) = match loading {
        Ok(loaded) => loaded,
        Err(h) => h.join().map_err(|_| anyhow::anyhow!("reading the key logs stopped"))?,
    };
    // The key logs' diagnostics come first, as when they are read before.
    let analysed = std::mem::replace(&mut sink.diags, before);
    sink.diags.append(keylog_diags);
    sink.diags.append(analysed);
    read?;
    if let Err(e) = finished
        && sink.error.is_none()
    {
        sink.error = Some(std::io::Error::other(e));
    }
    Ok(())
}

/// A session with its explanation: summary, ladder diagram, each step,
/// then the application data and HTTP.
pub fn run(args: Args, out: &Output) -> anyhow::Result<ExitCode> {
    // Split over threads: a file (not a live capture) written as JSON, by
    // default when it is large enough for the threads to pay off.
    let size = args.source.file.as_ref().and_then(|p| std::fs::metadata(p).ok()).map(|m| m.len());
    let threads = match (size, args.threads) {
        (None, _) => 1,
        (Some(_), Some(n)) => usize::from(n),
        // Not a compressed file: inflating it is the slowest part, and on
        // one thread whatever the analysis does (split, it only got slower).
        (Some(size), None) if size >= SPLIT_MIN_BYTES && !gzip(args.source.file.as_deref()) => {
            std::thread::available_parallelism().map_or(1, usize::from)
        }
        (Some(_), None) => 1,
    };
    let split = threads > 1 && args.format == Format::Json;
    let mut file = match &args.source.file {
        // Mapped: the analysis threads read the frames' bytes in place.
        Some(path) if split => Source::File(Box::new(CaptureFile::open_mapped(path)?)),
        _ => Source::open(&args.source, &args.keys.keylog)?,
    };
    let name = file.name();
    let text_mode = args.format == Format::Text;
    let trees = text_mode && !args.brief && !args.explain;
    let opts = Options {
        trees,
        keep_messages: (trees && args.hex) || args.explain,
        decrypt: args.keys.any(),
        http: true,
    };
    let render = Render {
        format: args.format,
        style: text::Style { color: out.color, hex: args.hex, trees },
        explain: args.explain.then(|| (crate::output::lang(args.lang), crate::output::trust())),
    };
    let stdout = std::io::stdout();
    let sink = Sink {
        w: std::io::BufWriter::with_capacity(1 << 16, stdout.lock()),
        render,
        start: Timestamp::default(),
        diags: Collector::default(),
        session_problems: 0,
        sessions: 0,
        flows: 0,
        error: None,
    };
    let budget = args.source.budget();
    let key_files = args.keys.open()?;
    let mut keys = Keyring::default();
    keys.keylog.set_budget(&budget);
    let rsa_use = keys.rsa_use.clone();
    let mut sink = match &mut file {
        Source::File(f) if split => {
            let mut sink = sink;
            analyse_split(f, threads, opts, &budget, (keys, key_files), &mut sink)?;
            sink
        }
        _ => {
            let mut analysis =
                Pipeline::analysis_within(opts, sink, &budget).named(&name.display().to_string());
            *analysis.keys() = keys;
            let analyzer = analysis.stage_mut();
            key_files.read_into(&mut analyzer.keys, &mut analyzer.out.diags)?;
            file.feed(analysis).out
        }
    };
    if let Some(e) = sink.error.take() {
        return Err(e.into());
    }
    if text_mode {
        writeln!(sink.w, "{} TLS session(s), {} other connection(s)", sink.sessions, sink.flows)?;
    }
    sink.w.flush()?;
    sink.diags.extend(crate::keys::rsa_key_report(&args.keys, &rsa_use));
    sink.diags.extend(crate::input::budget_diagnostic(&budget));
    crate::output::print_diagnostics(&sink.diags, &name, out);
    let problems = sink.session_problems > 0 || sink.diags.count_at_least(Severity::Warning) > 0;
    Ok(ExitCode::from(if problems { EXIT_PROBLEMS } else { EXIT_OK }))
}
