//! `tlsscope inspect`: every TLS session of a capture, message by message.

use std::io::Write;
use std::process::ExitCode;

use tlsscope_capture::read::Event;
use tlsscope_scope::diag::{Collector, Diagnostic, Severity};
use tlsscope_scope::flow::Reassembler;
use tlsscope_scope::session::{self, Analyzer, ConnState, Flow, Options, Session};
use tlsscope_scope::time::Timestamp;

use crate::input::{Input, Source, SourceArgs};
use crate::keys::KeyArgs;
use crate::output::{EXIT_OK, EXIT_PROBLEMS, Format, Output};
use crate::render::{json, text};

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
    #[command(flatten)]
    keys: KeyArgs,
}

struct Sink<W: Write> {
    w: W,
    format: Format,
    style: text::Style,
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
        if s.diagnostics.iter().any(|d| d.severity >= Severity::Warning) {
            self.session_problems += 1;
        }
        if self.error.is_some() {
            return;
        }
        let r = match self.format {
            Format::Json => serde_json::to_writer(&mut self.w, &json::session(&s, self.start))
                .map_err(std::io::Error::other)
                .and_then(|()| self.w.write_all(b"\n")),
            Format::Text => text::session(&mut self.w, &s, self.style, self.start),
        };
        if let Err(e) = r {
            self.error = Some(e);
        }
    }

    fn flow(&mut self, f: Flow) {
        self.flows += 1;
        if self.error.is_some() {
            return;
        }
        let r = match self.format {
            Format::Json => serde_json::to_writer(&mut self.w, &json::flow(&f, self.start))
                .map_err(std::io::Error::other)
                .and_then(|()| self.w.write_all(b"\n")),
            Format::Text => text::flow(&mut self.w, &f, self.style, self.start),
        };
        if let Err(e) = r {
            self.error = Some(e);
        }
    }

    fn diagnostic(&mut self, d: Diagnostic) {
        self.diags.push(d);
    }
}

pub fn run(args: Args, out: &Output) -> anyhow::Result<ExitCode> {
    let mut file = Source::open(&args.source, &args.keys.keylog)?;
    let name = file.name();
    let text_mode = args.format == Format::Text;
    let trees = text_mode && !args.brief;
    let opts =
        Options { trees, keep_messages: trees && args.hex, decrypt: args.keys.any(), http: true };
    let stdout = std::io::stdout();
    let sink = Sink {
        w: std::io::BufWriter::with_capacity(1 << 16, stdout.lock()),
        format: args.format,
        style: text::Style { color: out.color, hex: args.hex, trees },
        start: Timestamp::default(),
        diags: Collector::default(),
        session_problems: 0,
        sessions: 0,
        flows: 0,
        error: None,
    };
    let mut analyzer = Analyzer::new(opts, sink);
    args.keys.load(&mut analyzer.keys, &mut analyzer.out.diags)?;
    let dsb_name = format!("{}: Decryption Secrets Block", name.display());
    let mut tcp: Reassembler<ConnState> = Reassembler::default();
    let mut first = true;
    file.for_each(|ev| match ev {
        Input::KeyLog { data, name } => {
            for d in analyzer.keys.keylog.parse(data, name) {
                analyzer.out.diags.push(d);
            }
        }
        Input::Capture(Event::Frame(f)) => {
            if first {
                analyzer.out.start = f.ts;
                first = false;
            }
            tcp.push_frame(&mut analyzer, &f);
        }
        Input::Capture(Event::Problem(d)) => {
            analyzer.out.diags.push(d);
        }
        Input::Capture(Event::Secrets { kind, data, .. }) => {
            if kind == tlsscope_capture::read::SECRETS_TLS_KEY_LOG {
                for d in analyzer.keys.keylog.parse(data, &dsb_name) {
                    analyzer.out.diags.push(d);
                }
                for d in analyzer.keys.keylog.finish() {
                    analyzer.out.diags.push(d);
                }
            }
        }
        Input::Capture(Event::Comment { .. }) => {}
    });
    tcp.finish_all(&mut analyzer);
    let mut sink = analyzer.out;
    if let Some(e) = sink.error.take() {
        return Err(e.into());
    }
    if text_mode {
        writeln!(sink.w, "{} TLS session(s), {} other connection(s)", sink.sessions, sink.flows)?;
    }
    sink.w.flush()?;
    crate::output::print_diagnostics(&sink.diags, &name, out);
    let problems = sink.session_problems > 0 || sink.diags.count_at_least(Severity::Warning) > 0;
    Ok(ExitCode::from(if problems { EXIT_PROBLEMS } else { EXIT_OK }))
}
