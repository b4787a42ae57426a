//! `tlsscope report`: one self-contained HTML page for a capture: the
//! sessions, a ladder diagram per session, each message's fields and
//! bytes, the explanations and checks, the decrypted HTTP.

use std::path::PathBuf;
use std::process::ExitCode;

use tlsscope_scope::diag::{Collector, Diagnostic, Severity};
use tlsscope_scope::pipeline::Pipeline;
use tlsscope_scope::session::{self, Flow, Options, Session};
use tlsscope_scope::time::Timestamp;

use crate::input::{Source, SourceArgs};
use crate::keys::KeyArgs;
use crate::output::{EXIT_OK, EXIT_PROBLEMS, LangChoice, Output};
use crate::report::{self, Builder, Limits, Settings};

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    source: SourceArgs,
    /// Where to write the page ("-" for standard output).
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    output: PathBuf,
    /// Language of the page (default: from LANG).
    #[arg(long, value_enum, value_name = "LANG")]
    lang: Option<LangChoice>,
    /// Show this session in detail (its number, as `inspect` counts them);
    /// may be given several times. Default: the first 50 sessions.
    #[arg(long = "session", value_name = "N")]
    sessions: Vec<u64>,
    #[command(flatten)]
    keys: KeyArgs,
}

struct Sink {
    builder: Builder,
    diags: Collector,
    problems: u64,
}

impl session::Output for Sink {
    fn session(&mut self, s: Session) {
        if s.diagnostics.iter().any(|d| d.severity >= Severity::Warning) {
            self.problems += 1;
        }
        self.builder.session(&s);
    }

    fn flow(&mut self, f: Flow) {
        self.builder.flow(&f);
    }

    fn diagnostic(&mut self, d: Diagnostic) {
        self.builder.diagnostic(&d);
        self.diags.push(d);
    }

    fn start(&mut self, first_frame: Timestamp) {
        self.builder.set_start(first_frame);
    }
}

pub fn run(args: Args, out: &Output) -> anyhow::Result<ExitCode> {
    let mut file = Source::open(&args.source, &args.keys.keylog)?;
    let name = file.name();
    let settings = Settings {
        lang: crate::output::lang(args.lang),
        trust: crate::output::trust(),
        capture: name
            .file_name()
            .map_or_else(|| name.display().to_string(), |n| n.to_string_lossy().into_owned()),
        limits: Limits::default(),
        only: args.sessions.clone(),
    };
    let opts = Options { trees: true, keep_messages: true, decrypt: args.keys.any(), http: true };
    let sink = Sink { builder: Builder::new(settings), diags: Collector::default(), problems: 0 };
    let budget = args.source.budget();
    let mut analysis =
        Pipeline::analysis_within(opts, sink, &budget).named(&name.display().to_string());
    let rsa_use = analysis.keys().rsa_use.clone();
    let mut key_diags = Collector::default();
    args.keys.load(analysis.keys(), &mut key_diags)?;
    let sink = analysis.out();
    for d in key_diags.kept() {
        sink.builder.diagnostic(d);
    }
    sink.diags = key_diags;
    let mut sink = file.feed(analysis).out;
    sink.diags.extend(crate::keys::rsa_key_report(&args.keys, &rsa_use));
    sink.diags.extend(crate::input::budget_diagnostic(&budget));
    let decrypted = sink.builder.has_decrypted_content();
    let report = sink.builder.finish(report::now());
    let fixed = report::write_page(&report, decrypted, &args.output)?;
    crate::output::warn_mode_fixed(out, fixed.as_ref());
    crate::output::print_diagnostics(&sink.diags, &name, out);
    if args.output.as_os_str() != "-" {
        let t = &report.totals;
        eprintln!(
            "tlsscope: {}: {} TLS session(s) ({} in detail), {} other connection(s)",
            args.output.display(),
            t.sessions,
            t.detailed_sessions,
            t.flows
        );
    }
    let problems = sink.problems > 0 || sink.diags.count_at_least(Severity::Warning) > 0;
    Ok(ExitCode::from(if problems { EXIT_PROBLEMS } else { EXIT_OK }))
}
