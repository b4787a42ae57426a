//! `tlsscope follow`: the bytes of each stream, per direction, as
//! `tshark -z follow,tcp` prints them.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use tlsscope_capture::read::Event;
use tlsscope_scope::diag::{Collector, Diagnostic, Severity};
use tlsscope_scope::flow::{Chunk, ConnInfo, Dir, EndReason, Reassembler, StreamSink};

use crate::input::CaptureFile;
use crate::output::{EXIT_OK, EXIT_PROBLEMS, Output};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Capture file (pcap or pcapng, optionally gzip-compressed).
    #[arg(value_name = "FILE")]
    file: PathBuf,
    /// Follow TCP streams (the reassembled bytes as captured).
    #[arg(long)]
    tcp: bool,
    /// Only this stream (the `#` of `tlsscope flows`, tshark's tcp.stream).
    #[arg(long, value_name = "N")]
    stream: Option<u64>,
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
        let r = write_piece(&mut self.w, self.format, info, dir, offset, data, missing);
        if let Err(e) = r {
            self.io_error = Some(e);
        }
    }
}

fn write_piece(
    w: &mut impl Write,
    format: FollowFormat,
    info: &ConnInfo,
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
            let _ = info;
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

pub fn run(args: Args, out: &Output) -> anyhow::Result<ExitCode> {
    if !args.tcp {
        anyhow::bail!(
            "say what to follow: --tcp follows the TCP streams as captured \
             (following decrypted TLS needs the decryption stage, which is not built yet)"
        );
    }
    let mut file = CaptureFile::open(&args.file)?;
    let stdout = std::io::stdout();
    let mut sink = Sink {
        w: std::io::BufWriter::with_capacity(1 << 16, stdout.lock()),
        only: args.stream,
        format: args.format,
        diags: Collector::default(),
        io_error: None,
        streams: 0,
    };
    let mut tcp: Reassembler<()> = Reassembler::default();
    file.for_each(|ev| match ev {
        Event::Frame(f) => {
            tcp.push_frame(&mut sink, &f);
        }
        Event::Problem(d) => {
            sink.diags.push(d);
        }
        Event::Secrets { .. } | Event::Comment { .. } => {}
    });
    tcp.finish_all(&mut sink);
    if let Some(e) = sink.io_error.take() {
        return Err(e.into());
    }
    sink.w.flush()?;
    if sink.streams == 0
        && let Some(n) = args.stream
    {
        anyhow::bail!("{}: there is no TCP stream {n} (see `tlsscope flows`)", args.file.display());
    }
    crate::output::print_diagnostics(&sink.diags, &args.file, out);
    let problems = sink.diags.count_at_least(Severity::Warning) > 0;
    Ok(ExitCode::from(if problems { EXIT_PROBLEMS } else { EXIT_OK }))
}
