//! Where the analysis commands get their frames: a capture file (with a
//! progress bar on stderr for large files when stderr is a terminal) or a
//! live capture (`-i IFACE`), which stops on Ctrl-C, `--duration` or
//! `-c`. A live capture goes through a short delay line so that a key log
//! the capturing programs are still writing (`--keylog`, re-read as it
//! grows) has the secrets of a handshake by the time its records are read.
//! Either way what is read goes to the library's analysis
//! ([`tlsscope_scope::pipeline`]) as its inputs.

// What is read here comes from files and interfaces the user names:
// nothing in it may panic, and lengths are added with checked arithmetic
// (as in the capture and scope crates).
#![cfg_attr(
    not(test),
    deny(clippy::indexing_slicing, clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]
#![cfg_attr(not(test), warn(clippy::arithmetic_side_effects))]

use std::collections::VecDeque;
use std::io::{IsTerminal, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use indicatif::{ProgressBar, ProgressStyle};
use tlsscope_capture::read::{CaptureReader, Event};
use tlsscope_scope::budget::Budget;
use tlsscope_scope::frame::{Frame, LinkType};
use tlsscope_scope::pipeline::{Input, Pipeline, Stage};
use tlsscope_scope::time::Timestamp;

/// Files smaller than this are read without a progress bar.
const PROGRESS_MIN_BYTES: u64 = 32 << 20;

/// Where frames come from: the flags every analysis command shares.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct SourceArgs {
    /// Capture file (pcap or pcapng, optionally gzip-compressed).
    #[arg(value_name = "FILE", required_unless_present = "interface")]
    pub file: Option<PathBuf>,
    /// Capture live on this interface instead (e.g. lo; needs root or
    /// CAP_NET_RAW, like tcpdump).
    #[arg(short = 'i', long = "interface", value_name = "IFACE", conflicts_with = "file")]
    pub interface: Option<String>,
    /// Live capture filter, in tcpdump's syntax (e.g. 'tcp port 8443').
    #[arg(short = 'f', long, value_name = "EXPR", requires = "interface", conflicts_with = "port")]
    pub filter: Option<String>,
    /// Live capture: only TCP port N (shorthand for -f 'tcp port N').
    #[arg(long, value_name = "N", requires = "interface")]
    pub port: Option<u16>,
    /// Live capture: stop after this many seconds (default: Ctrl-C).
    #[arg(long, value_name = "SECONDS", requires = "interface")]
    pub duration: Option<f64>,
    /// Live capture: stop after this many packets.
    #[arg(short = 'c', long, value_name = "COUNT", requires = "interface")]
    pub count: Option<u64>,
    /// Memory the analysis may hold at once (reassembly, sessions and
    /// their HTTP exchanges, key log secrets), e.g. 512M or 2G. Past it the
    /// newest bodies, header lists and exchanges are not kept and the
    /// longest-idle connections are reported early, each said in a
    /// diagnostic.
    #[arg(long, value_name = "SIZE", default_value = "256M", value_parser = parse_size)]
    pub max_memory: u64,
}

impl SourceArgs {
    /// The run's memory budget.
    pub fn budget(&self) -> Budget {
        Budget::new(usize::try_from(self.max_memory).unwrap_or(usize::MAX))
    }
}

/// The smallest `--max-memory`: below it a capture's first sessions would
/// not fit.
const MIN_MEMORY: u64 = 16 << 20;

/// A size: a number of bytes with an optional binary suffix (`K`, `M`,
/// `G`, `T`, with or without `iB`/`B`).
pub fn parse_size(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let digits = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(digits);
    let n: u64 = num.parse().map_err(|_| format!("{text:?} is not a size (e.g. 512M, 2G)"))?;
    let shift = match unit.trim().to_ascii_uppercase().as_str() {
        "" | "B" => 0,
        "K" | "KB" | "KIB" => 10,
        "M" | "MB" | "MIB" => 20,
        "G" | "GB" | "GIB" => 30,
        "T" | "TB" | "TIB" => 40,
        _ => return Err(format!("{text:?}: unknown unit {unit:?} (use K, M, G or T)")),
    };
    let size = n.checked_mul(1 << shift).ok_or_else(|| format!("{text:?} is too large"))?;
    if size < MIN_MEMORY {
        return Err(format!("{text:?} is below the smallest budget, {}M", MIN_MEMORY >> 20));
    }
    Ok(size)
}

/// The run's closing word on its memory budget, when anything was cut.
pub fn budget_diagnostic(budget: &Budget) -> Option<tlsscope_scope::diag::Diagnostic> {
    use tlsscope_scope::diag::{Diagnostic, Location, Severity};
    let cuts = budget.cuts();
    if cuts.is_empty() {
        return None;
    }
    let what: Vec<String> = cuts.iter().map(|(k, n)| format!("{n} {}", k.name(*n))).collect();
    Some(Diagnostic::new(
        Severity::Warning,
        "memory.budget",
        Location::default(),
        format!(
            "the memory budget of {} MiB was used up: not kept or cut short: {}; \
             --max-memory raises it",
            budget.limit().unwrap_or(0) >> 20,
            what.join(", ")
        ),
    ))
}

/// An opened capture file.
pub struct CaptureFile {
    pub reader: CaptureReader,
    pub path: PathBuf,
    size: u64,
}

impl CaptureFile {
    /// Opens `path`, with an error that names the file and says what to do.
    pub fn open(path: &Path) -> anyhow::Result<Self> {
        Self::open_with(path, false)
    }

    /// [`CaptureFile::open`], mapping the file into memory when it can
    /// ([`CaptureReader::open_mapped`]).
    pub fn open_mapped(path: &Path) -> anyhow::Result<Self> {
        Self::open_with(path, true)
    }

    fn open_with(path: &Path, mapped: bool) -> anyhow::Result<Self> {
        let reader =
            if mapped { CaptureReader::open_mapped(path) } else { CaptureReader::open(path) };
        let reader = reader.with_context(|| {
            format!(
                "{}: cannot read it as a capture (pcap, pcapng, or either gzip-compressed)",
                path.display()
            )
        })?;
        let size = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
        Ok(CaptureFile { reader, path: path.to_path_buf(), size })
    }

    /// Calls `f` for every input the file holds for the analysis, showing
    /// progress when the file is large and stderr is a terminal.
    pub fn for_each(&mut self, mut f: impl FnMut(Input<'_>)) {
        let bar = (self.size >= PROGRESS_MIN_BYTES && std::io::stderr().is_terminal()).then(|| {
            let bar = ProgressBar::new(self.size);
            bar.set_style(
                ProgressStyle::with_template(
                    "{spinner} {msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
            );
            bar.set_message(
                self.path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default(),
            );
            bar.enable_steady_tick(Duration::from_millis(200));
            bar
        });
        let progress = self.reader.progress();
        let mut n: u32 = 0;
        while let Some(ev) = self.reader.next() {
            if let Some(input) = ev.input() {
                f(input);
            }
            n = n.wrapping_add(1);
            if n.is_multiple_of(4096)
                && let Some(b) = &bar
            {
                b.set_position(progress.bytes());
            }
        }
        if let Some(b) = bar {
            b.finish_and_clear();
        }
    }
}

/// A key log file read again as it grows.
struct Follower {
    path: PathBuf,
    name: String,
    offset: u64,
}

impl Follower {
    /// New bytes since the last read (empty if none or unreadable).
    fn read(&mut self, buf: &mut Vec<u8>) {
        buf.clear();
        let Ok(mut f) = std::fs::File::open(&self.path) else { return };
        let len = f.metadata().map(|m| m.len()).unwrap_or(0);
        if len < self.offset {
            // Truncated and rewritten: start over.
            self.offset = 0;
        }
        if f.seek(SeekFrom::Start(self.offset)).is_err() {
            return;
        }
        // At most 16 MiB per read: a key log is lines of ~200 bytes.
        if f.take(16 << 20).read_to_end(buf).is_ok() {
            self.offset = self.offset.saturating_add(buf.len() as u64);
        }
    }
}

/// How long a live frame waits before it is analysed, so that key log
/// lines written during its handshake are read first. Clients write them
/// within milliseconds of the handshake.
const DELAY: Duration = Duration::from_millis(300);

/// Bytes the delay line may hold; past it frames are analysed sooner.
const DELAY_BYTES: usize = 64 << 20;

/// A frame copied out of the live capture's buffer.
struct Held {
    at: Instant,
    number: u64,
    ts: Timestamp,
    link: LinkType,
    data: Vec<u8>,
    orig_len: u32,
}

/// The source of an analysis command.
pub enum Source {
    /// A capture file.
    File(Box<CaptureFile>),
    /// A live capture.
    #[cfg(target_os = "linux")]
    Live(Box<Live>),
}

/// A live capture with its stop conditions.
#[cfg(target_os = "linux")]
pub struct Live {
    cap: tlsscope_capture::live::LiveCapture,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    count: Option<u64>,
    followers: Vec<Follower>,
}

impl Source {
    /// Opens the file or starts the live capture the flags name;
    /// `keylogs` are followed as they grow when capturing live.
    pub fn open(args: &SourceArgs, keylogs: &[PathBuf]) -> anyhow::Result<Source> {
        if let Some(path) = &args.file {
            return Ok(Source::File(Box::new(CaptureFile::open(path)?)));
        }
        #[cfg(target_os = "linux")]
        {
            use std::sync::Arc;
            use std::sync::atomic::AtomicBool;
            use tlsscope_capture::filter::Filter;
            use tlsscope_capture::live::{LiveCapture, Options};

            let iface = args.interface.clone().unwrap_or_default();
            let filter = match (&args.filter, args.port) {
                (Some(text), _) => Some(Filter::parse(text).map_err(|e| {
                    tlsscope_lab::Error::new(format!("filter {text:?}: {e}"))
                        .with_hint("write the filter in tcpdump's syntax, e.g. -f 'tcp port 8443'")
                })?),
                (None, Some(p)) => Some(Filter::tcp_port(p)),
                (None, None) => None,
            };
            let stop = Arc::new(AtomicBool::new(false));
            crate::cmd::capture::imp::stop_on_signals(stop.clone())?;
            let opts = Options { filter, ..Options::default() };
            let mut cap = LiveCapture::open(&iface, &opts)
                .map_err(|e| crate::cmd::capture::imp::open_error(&iface, e))?;
            if let Some(s) = args.duration {
                if !(s.is_finite() && s > 0.0) {
                    anyhow::bail!("--duration {s}: give a number of seconds above 0");
                }
                cap.set_deadline(Instant::now().checked_add(Duration::from_secs_f64(s.min(1e9))));
            }
            eprintln!(
                "tlsscope: capturing on {iface} (Ctrl-C stops and prints what is still open)"
            );
            let followers = keylogs
                .iter()
                .map(|p| Follower {
                    path: p.clone(),
                    name: p.display().to_string(),
                    // Already read whole by the command; follow from its end.
                    offset: std::fs::metadata(p).map(|m| m.len()).unwrap_or(0),
                })
                .collect();
            Ok(Source::Live(Box::new(Live { cap, stop, count: args.count, followers })))
        }
        #[cfg(not(target_os = "linux"))]
        {
            let _ = keylogs;
            anyhow::bail!("live capture works on Linux only: read a capture file instead")
        }
    }

    /// A name for messages: the file, or `live capture on IFACE`.
    pub fn name(&self) -> PathBuf {
        match self {
            Source::File(f) => f.path.clone(),
            #[cfg(target_os = "linux")]
            Source::Live(l) => PathBuf::from(format!("live capture on {}", l.cap.interface())),
        }
    }

    /// Calls `f` for every input until the file ends or the capture stops.
    pub fn for_each(&mut self, f: impl FnMut(Input<'_>)) {
        match self {
            Source::File(file) => file.for_each(f),
            #[cfg(target_os = "linux")]
            Source::Live(live) => live.for_each(f),
        }
    }

    /// Feeds everything the source gives to `pipeline`, then ends it.
    pub fn feed<S: Stage<T>, T: Default>(&mut self, mut pipeline: Pipeline<S, T>) -> S {
        self.for_each(|input| pipeline.push(input));
        pipeline.finish()
    }
}

#[cfg(target_os = "linux")]
impl Live {
    fn for_each(&mut self, mut f: impl FnMut(Input<'_>)) {
        use std::sync::atomic::Ordering;
        let mut line: VecDeque<Held> = VecDeque::new();
        let mut held_bytes = 0usize;
        let mut seen = 0u64;
        let mut buf = Vec::new();
        let mut last_read = Instant::now().checked_sub(DELAY).unwrap_or_else(Instant::now);
        let refresh =
            |followers: &mut Vec<Follower>, f: &mut dyn FnMut(Input<'_>), buf: &mut Vec<u8>| {
                for fl in followers.iter_mut() {
                    fl.read(buf);
                    if !buf.is_empty() {
                        f(Input::KeyLog { data: buf, name: &fl.name });
                    }
                }
            };
        let release = |line: &mut VecDeque<Held>,
                       held: &mut usize,
                       all: bool,
                       f: &mut dyn FnMut(Input<'_>)| {
            while let Some(h) = line.front() {
                if !all && h.at.elapsed() < DELAY && *held <= DELAY_BYTES {
                    break;
                }
                let Some(h) = line.pop_front() else { break };
                *held = held.saturating_sub(h.data.len());
                let frame = Frame {
                    number: h.number,
                    ts: h.ts,
                    link: h.link,
                    data: &h.data,
                    orig_len: h.orig_len,
                    file_offset: None,
                };
                f(Input::Frame(frame));
            }
        };
        loop {
            if self.stop.load(Ordering::SeqCst) {
                self.cap.stop_handle().stop();
            }
            if self.count.is_some_and(|c| seen >= c) {
                break;
            }
            // `next` waits at most a tick, then gives None only when stopped.
            match self.cap.next() {
                Some(Event::Frame(fr)) => {
                    seen = seen.saturating_add(1);
                    held_bytes = held_bytes.saturating_add(fr.data.len());
                    line.push_back(Held {
                        at: Instant::now(),
                        number: fr.number,
                        ts: fr.ts,
                        link: fr.link,
                        data: fr.data.to_vec(),
                        orig_len: fr.orig_len,
                    });
                }
                Some(other) => {
                    if let Some(input) = other.input() {
                        f(input);
                    }
                }
                None => break,
            }
            if last_read.elapsed() >= DELAY.div_f64(3.0) {
                last_read = Instant::now();
                refresh(&mut self.followers, &mut f, &mut buf);
            }
            release(&mut line, &mut held_bytes, false, &mut f);
        }
        refresh(&mut self.followers, &mut f, &mut buf);
        release(&mut line, &mut held_bytes, true, &mut f);
        let st = self.cap.stats();
        eprintln!(
            "tlsscope: {} packets captured, {} dropped by the kernel",
            st.captured, st.dropped
        );
    }
}
