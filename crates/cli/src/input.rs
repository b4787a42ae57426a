//! Opening capture files and driving them through a callback, with a
//! progress bar on stderr for large files when stderr is a terminal.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context as _;
use indicatif::{ProgressBar, ProgressStyle};
use tlsscope_capture::read::{CaptureReader, Event};

/// Files smaller than this are read without a progress bar.
const PROGRESS_MIN_BYTES: u64 = 32 << 20;

/// An opened capture file.
pub struct CaptureFile {
    pub reader: CaptureReader,
    pub path: PathBuf,
    size: u64,
}

impl CaptureFile {
    /// Opens `path`, with an error that names the file and says what to do.
    pub fn open(path: &Path) -> anyhow::Result<Self> {
        let reader = CaptureReader::open(path).with_context(|| {
            format!(
                "{}: cannot read it as a capture (pcap, pcapng, or either gzip-compressed)",
                path.display()
            )
        })?;
        let size = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
        Ok(CaptureFile { reader, path: path.to_path_buf(), size })
    }

    /// Calls `f` for every event of the file, showing progress when the
    /// file is large and stderr is a terminal.
    pub fn for_each(&mut self, mut f: impl FnMut(Event<'_>)) {
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
            f(ev);
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
