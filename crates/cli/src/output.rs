//! Where output goes and how it looks: colour choice, error reports, exit codes.

use std::io::IsTerminal;
use std::process::ExitCode;

/// `--color` values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ColorChoice {
    /// Colour when the output is a terminal and NO_COLOR is not set.
    Auto,
    /// Always colour.
    Always,
    /// Never colour.
    Never,
}

/// Output settings every command gets.
#[derive(Clone, Debug)]
pub struct Output {
    /// Whether stdout gets ANSI colours.
    pub color: bool,
    /// Whether stderr gets ANSI colours.
    pub color_err: bool,
}

impl Output {
    pub fn new(choice: ColorChoice) -> Self {
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        let decide = |tty: bool| match choice {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => tty && !no_color,
        };
        Output {
            color: decide(std::io::stdout().is_terminal()),
            color_err: decide(std::io::stderr().is_terminal()),
        }
    }
}

/// Exit code: finished, nothing wrong.
pub const EXIT_OK: u8 = 0;
/// Exit code: finished, but problems were found in the input.
pub const EXIT_PROBLEMS: u8 = 1;
/// Exit code: could not do what was asked.
pub const EXIT_ERROR: u8 = 2;

/// Prints `tlsscope: <error>` (and `hint: ...` when the error carries one)
/// on stderr and returns exit code 2. A broken pipe exits quietly.
pub fn report_error(err: &anyhow::Error) -> ExitCode {
    if let Some(io) = err.downcast_ref::<std::io::Error>()
        && io.kind() == std::io::ErrorKind::BrokenPipe
    {
        return ExitCode::from(EXIT_OK);
    }
    eprintln!("tlsscope: {err:#}");
    for cause in err.chain() {
        if let Some(lab) = cause.downcast_ref::<tlsscope_lab::Error>()
            && let Some(hint) = lab.hint()
        {
            eprintln!("hint: {hint}");
            break;
        }
    }
    ExitCode::from(EXIT_ERROR)
}

/// Prints `tlsscope: warning: <what>` on stderr (the label in colour when
/// stderr takes it). A closed stderr is no reason to fail the command.
pub fn warn(out: &Output, what: &dyn std::fmt::Display) {
    use owo_colors::OwoColorize;
    use std::io::Write;
    let label =
        if out.color_err { "warning:".yellow().bold().to_string() } else { "warning:".into() };
    let _ = writeln!(std::io::stderr(), "tlsscope: {label} {what}");
}

/// [`warn`]s about a secrets file whose mode was fixed, if there was one.
pub fn warn_mode_fixed(out: &Output, fixed: Option<&tlsscope_lab::files::ModeFixed>) {
    if let Some(f) = fixed {
        warn(out, f);
    }
}

/// `--format` values of the analysis commands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// For people.
    Text,
    /// JSON Lines, one object per line (schema in docs/json.md).
    Json,
}

/// Prints the diagnostics of a run on stderr: the first of each kind in
/// full, then how many more there were.
pub fn print_diagnostics(
    diags: &tlsscope_scope::diag::Collector,
    file: &std::path::Path,
    out: &Output,
) {
    use owo_colors::OwoColorize;
    use tlsscope_scope::diag::Severity;
    for d in diags.kept() {
        let sev = d.severity.as_str();
        let sev = if !out.color_err {
            sev.to_string()
        } else if d.severity == Severity::Error {
            sev.red().bold().to_string()
        } else if d.severity == Severity::Warning {
            sev.yellow().bold().to_string()
        } else {
            sev.cyan().to_string()
        };
        let loc = d.location.to_string();
        if loc.is_empty() {
            eprintln!("tlsscope: {}: {sev}: {}", file.display(), d.message);
        } else {
            eprintln!("tlsscope: {}: {sev}: {loc}: {}", file.display(), d.message);
        }
    }
    for (code, _, n) in diags.counts() {
        let more = n.saturating_sub(tlsscope_scope::diag::Collector::KEEP_PER_CODE);
        if more > 0 {
            eprintln!("tlsscope: {}: {more} more like \"{code}\" not shown", file.display());
        }
    }
}

/// `--lang` values: the language of explanations.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum LangChoice {
    /// English.
    En,
    /// Japanese (日本語).
    Ja,
}

/// The language of explanations: `--lang` if given, else from the
/// environment (LC_ALL, LC_MESSAGES, LANG, as gettext reads them).
pub fn lang(choice: Option<LangChoice>) -> tlsscope_scope::explain::Lang {
    use tlsscope_scope::explain::Lang;
    match choice {
        Some(LangChoice::En) => Lang::En,
        Some(LangChoice::Ja) => Lang::Ja,
        None => {
            let var = |k| std::env::var(k).ok();
            Lang::from_env(
                var("LC_ALL").as_deref(),
                var("LC_MESSAGES").as_deref(),
                var("LANG").as_deref(),
            )
        }
    }
}

/// What the certificate checks judge against: the system's trusted roots
/// and the current time (validity is judged at the capture's time too).
pub fn trust() -> tlsscope_scope::verify::Trust {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX));
    tlsscope_scope::verify::Trust {
        roots: tlsscope_lab::client::system_root_ders(),
        now: tlsscope_scope::time::Timestamp(now),
        host: None,
    }
}
