//! `tlsscope inspect`: every TLS session of a capture, message by message.

use std::io::Write;
use std::process::ExitCode;

use tlsscope_scope::diag::{Collector, Diagnostic, Severity};
use tlsscope_scope::session::{self, Analyzer, Flow, Options, Session};
use tlsscope_scope::time::Timestamp;

use crate::input::{CaptureFile, Source, SourceArgs};
use crate::keys::KeyArgs;
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
    let mut analyzer = Analyzer::new(opts, sink).with_budget(&budget);
    let key_files = args.keys.open()?;
    let rsa_use = analyzer.keys.rsa_use.clone();
    let mut sink = match &mut file {
        Source::File(f) if split => {
            let Analyzer { keys, out: mut sink, .. } = analyzer;
            let totals = crate::shard::analyse(
                f,
                threads,
                opts,
                &budget,
                keys,
                key_files,
                &sink.render,
                &mut sink.w,
                &mut sink.diags,
            );
            if let Some(e) = totals.keys_error {
                return Err(e);
            }
            sink.sessions = totals.sessions;
            sink.flows = totals.flows;
            sink.session_problems = totals.session_problems;
            sink.error = totals.error;
            sink
        }
        _ => {
            key_files.read_into(&mut analyzer.keys, &mut analyzer.out.diags)?;
            file.analyse(&mut analyzer, |sink, ts| sink.start = ts);
            analyzer.out
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
