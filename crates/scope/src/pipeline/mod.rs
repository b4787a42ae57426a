//! The one way into the analysis: what a capture holds goes in as
//! [`Input`]s (frames with their time and file offset, key log text,
//! Decryption Secrets Blocks, the reader's problems), and what the stages
//! make of it comes out through the stage's sink, in the order of the
//! capture.
//!
//! A [`Pipeline`] owns the transports (TCP reassembly today) and hands
//! what they deliver to a [`Stage`]: the TLS and HTTP analysis
//! ([`Analyzer`], whose [`Output`] receives sessions and other
//! connections), or any consumer of reassembled streams (a table of
//! connections, a stream printer). Nothing here reads a file, waits or
//! starts a thread; [`threads`] runs the same analysis over several
//! threads with the same output.
//!
//! Secrets come two ways: those known before the capture (key log files,
//! RSA keys) go into the keyring first ([`Pipeline::keys`], or
//! [`threads::Keys::give`]); those met on the way (a capture's Decryption
//! Secrets Blocks, lines appended to a key log followed while capturing)
//! come as inputs, in their place among the frames.
//!
//! In short (the crate's first example runs it on a real capture):
//!
//! ```no_run
//! use tlsscope_scope::frame::Frame;
//! use tlsscope_scope::pipeline::{Collect, Input, Pipeline};
//! use tlsscope_scope::session::Options;
//!
//! fn analyse(frames: Vec<Frame<'_>>, key_log: &[u8]) -> Collect {
//!     let opts = Options { decrypt: true, http: true, ..Options::default() };
//!     let mut analysis = Pipeline::analysis(opts, Collect::default());
//!     analysis.push(Input::KeyLog { data: key_log, name: "keys.log" });
//!     for frame in frames {
//!         analysis.push(Input::Frame(frame));
//!     }
//!     analysis.finish().out
//! }
//! ```

use std::ops::Range;
use std::sync::Arc;

use crate::budget::Budget;
use crate::diag::Diagnostic;
use crate::flow::{Reassembler, StreamSink};
use crate::frame::Frame;
use crate::session::{Analyzer, ConnState, Flow, Options, Output, Session};
use crate::time::Timestamp;
use crate::tls::crypto::Keyring;

mod shared;
pub mod threads;

/// The secrets type of a TLS key log in a pcapng Decryption Secrets Block.
pub const SECRETS_TLS_KEY_LOG: u32 = 0x544c_534b;

/// What goes into the analysis, in the order the source gives it.
#[derive(Debug)]
pub enum Input<'a> {
    /// A captured frame (with its number, time and file offset).
    Frame(Frame<'a>),
    /// Key log text (NSS key log format), e.g. lines appended to a key log
    /// followed while capturing live; `name` names it in diagnostics.
    KeyLog {
        /// The lines (whole lines: a partial last line waits for the next).
        data: &'a [u8],
        /// The file it came from.
        name: &'a str,
    },
    /// A Decryption Secrets Block of the capture (pcapng).
    Secrets {
        /// Its secrets type ([`SECRETS_TLS_KEY_LOG`] is analysed; others
        /// are skipped).
        kind: u32,
        /// The secrets.
        data: &'a [u8],
        /// Where `data` lies in the capture file.
        file_offset: Option<u64>,
    },
    /// A problem the reader met (a malformed record, a read error).
    Problem(Diagnostic),
}

/// The capture file, held whole in memory (mapped) by the caller: a stage
/// may then read a frame's bytes where they lie instead of copying them.
pub trait FileBytes: Send + Sync {
    /// The whole file.
    fn bytes(&self) -> &[u8];
    /// These bytes are about to be read (a hint).
    fn prefetch(&self, _range: Range<usize>) {}
    /// These bytes will not be read again soon (a hint).
    fn release(&self, _range: Range<usize>) {}
}

/// What a pipeline hands reassembled streams and secrets to. `T` is the
/// state it keeps per connection.
pub trait Stage<T>: StreamSink<T> {
    /// The capture's first frame came at `ts` (times are shown relative to
    /// it); called before that frame is analysed.
    fn start(&mut self, _ts: Timestamp) {}
    /// Key log text from `name`; `whole` when it is complete (a
    /// Decryption Secrets Block: a last line without a newline counts).
    fn key_log(&mut self, _data: &[u8], _name: &str, _whole: bool) {}
    /// A TLS key log from a Decryption Secrets Block at `file_offset`.
    fn secrets_block(&mut self, data: &[u8], _file_offset: Option<u64>, name: &str) {
        self.key_log(data, name, true);
    }
}

/// Transports and a stage: frames in, the stage's findings out.
pub struct Pipeline<S: Stage<T>, T: Default = ConnState> {
    stage: S,
    tcp: Reassembler<T>,
    started: bool,
    /// Names the capture's Decryption Secrets Blocks in diagnostics.
    dsb_name: String,
    file: Option<Arc<dyn FileBytes>>,
}

impl<S: Stage<T>, T: Default> Pipeline<S, T> {
    /// A pipeline feeding `stage`, with the default limits and no memory
    /// budget.
    pub fn new(stage: S) -> Self {
        Pipeline {
            stage,
            tcp: Reassembler::default(),
            started: false,
            dsb_name: "Decryption Secrets Block".into(),
            file: None,
        }
    }

    /// Counts what the transports hold against `budget`.
    pub fn with_budget(mut self, budget: &Budget) -> Self {
        self.tcp = self.tcp.with_budget(budget);
        self
    }

    /// The capture's name (its file), for diagnostics about what it holds.
    pub fn named(mut self, source: &str) -> Self {
        self.dsb_name = format!("{source}: Decryption Secrets Block");
        self
    }

    /// The capture file the frames lie in, held whole by the caller (their
    /// [`Frame::file_offset`]s index it).
    pub fn in_file(mut self, file: Arc<dyn FileBytes>) -> Self {
        self.file = Some(file);
        self
    }

    /// Analyses one input.
    pub fn push(&mut self, input: Input<'_>) {
        match input {
            Input::Frame(f) => {
                if !self.started {
                    self.started = true;
                    self.stage.start(f.ts);
                }
                match &self.file {
                    Some(file) => self.tcp.push_frame_in(&mut self.stage, &f, file.bytes()),
                    None => self.tcp.push_frame(&mut self.stage, &f),
                };
            }
            Input::KeyLog { data, name } => self.stage.key_log(data, name, false),
            Input::Secrets { kind, data, file_offset } => {
                if kind == SECRETS_TLS_KEY_LOG {
                    self.stage.secrets_block(data, file_offset, &self.dsb_name);
                }
            }
            Input::Problem(d) => self.stage.diagnostic(d),
        }
    }

    /// The stage.
    pub fn stage(&self) -> &S {
        &self.stage
    }

    /// The stage, to change.
    pub fn stage_mut(&mut self) -> &mut S {
        &mut self.stage
    }

    /// Ends every connection still open (the input is over) and gives the
    /// stage back.
    pub fn finish(mut self) -> S {
        self.tcp.finish_all(&mut self.stage);
        self.stage
    }
}

impl<O: Output> Pipeline<Analyzer<O>> {
    /// The TLS and HTTP analysis with `opts`, writing to `out`.
    pub fn analysis(opts: Options, out: O) -> Self {
        Pipeline::new(Analyzer::new(opts, out))
    }

    /// The TLS and HTTP analysis with everything it holds counted against
    /// `budget`.
    pub fn analysis_within(opts: Options, out: O, budget: &Budget) -> Self {
        Pipeline::new(Analyzer::new(opts, out).with_budget(budget)).with_budget(budget)
    }

    /// The secrets decryption uses (add key logs and RSA keys before the
    /// first frame).
    pub fn keys(&mut self) -> &mut Keyring {
        &mut self.stage.keys
    }

    /// Where findings go.
    pub fn out(&mut self) -> &mut O {
        &mut self.stage.out
    }
}

impl<O: Output> Stage<ConnState> for Analyzer<O> {
    fn start(&mut self, ts: Timestamp) {
        self.out.start(ts);
    }

    fn key_log(&mut self, data: &[u8], name: &str, whole: bool) {
        let mut found = self.keys.keylog.parse(data, name);
        if whole {
            found.extend(self.keys.keylog.finish());
        }
        for d in found {
            self.out.diagnostic(d);
        }
    }
}

/// An [`Output`] that keeps everything: the sessions, the other
/// connections and the diagnostics, in the order they came.
#[derive(Debug, Default)]
pub struct Collect {
    /// TLS sessions.
    pub sessions: Vec<Session>,
    /// Connections that were not TLS.
    pub flows: Vec<Flow>,
    /// Problems not tied to one session.
    pub diagnostics: Vec<Diagnostic>,
}

impl Output for Collect {
    fn session(&mut self, session: Session) {
        self.sessions.push(session);
    }

    fn flow(&mut self, flow: Flow) {
        self.flows.push(flow);
    }

    fn diagnostic(&mut self, diag: Diagnostic) {
        self.diagnostics.push(diag);
    }
}
