//! One capture analysed on several threads, with the output of one.
//!
//! The main thread reads the file, decodes the frames and reassembles TCP
//! as a single analysis does; what the reassembler hands on for a
//! connection (its bytes, gaps, ends) becomes a numbered *step* sent to
//! the part that analyses the connection (the least busy one when the
//! connection began).
//! Each part runs the TLS and HTTP analysis of its connections and renders
//! what they give. The main thread writes it all in step order, which is
//! the order a single analysis would have written it in, with sessions
//! numbered in the order they began over the whole capture: the output is
//! the same byte for byte, whatever the number of parts.
//!
//! What parts share: the key log and RSA keys (read-only), and the master
//! secrets learned for resumption ([`Shared`]): a part that looks one up
//! waits until the others have analysed every step before its own.

use std::collections::{HashMap, VecDeque};
use std::io::Write;
use std::ops::Range;
use std::sync::Arc;
use std::sync::mpsc;

use tlsscope_capture::mapped::Mapping;
use tlsscope_capture::read::{Event, SECRETS_TLS_KEY_LOG};
use tlsscope_scope::budget::Budget;
use tlsscope_scope::diag::{Collector, Diagnostic};
use tlsscope_scope::flow::{Chunk, ConnInfo, Dir, EndReason, Reassembler, StreamSink};
use tlsscope_scope::session::{self, Analyzer, ConnState, Flow, Options, Session};
use tlsscope_scope::time::Timestamp;
use tlsscope_scope::tls::crypto::Keyring;

use crate::input::CaptureFile;
use crate::keys::KeyFiles;
use crate::render::session::Render;
use crate::shared_sessions::{PartMemory, Shared};

/// The most parts a capture is split into.
pub const MAX_PARTS: usize = 8;

/// Bytes of connection data gathered for the parts before they are sent:
/// large enough that handing over costs little per step, small enough to
/// stay in the CPU's caches.
const BATCH_BYTES: usize = 256 << 10;

/// Steps gathered before they are sent, whatever their bytes.
const BATCH_STEPS: usize = 1024;

/// Batches waiting for a part before the main thread waits for it.
const QUEUED_BATCHES: usize = 4;

/// What a part is told to do.
enum Step {
    Open(ConnInfo),
    Data {
        info: ConnInfo,
        dir: Dir,
        bytes: Bytes,
        offset: u64,
        frame: u64,
        at: u32,
        ts: Timestamp,
    },
    Gap {
        info: ConnInfo,
        dir: Dir,
        offset: u64,
        len: u64,
        frame: u64,
    },
    End {
        info: ConnInfo,
        dir: Dir,
    },
    Close {
        info: ConnInfo,
        reason: EndReason,
    },
    /// Key log lines from a Decryption Secrets Block (every part gets them).
    Secrets {
        bytes: Bytes,
    },
}

/// Where a step's bytes are.
enum Bytes {
    /// In the batch.
    Batch(Range<usize>),
    /// In the mapped capture file (read in place, not copied).
    Mapped(Range<usize>),
}

/// Steps for one part, with the bytes they carry.
#[derive(Default)]
struct Batch {
    /// The capture's first frame time (times are shown relative to it).
    start: Timestamp,
    /// (step number, step).
    steps: Vec<(u64, Step)>,
    /// For each step, the steps given to each part before it
    /// (`parts` numbers per step).
    before: Vec<u64>,
    bytes: Vec<u8>,
}

/// What a part gives back: what it found, in the order it found it, and
/// how many steps it has analysed.
struct Done {
    part: usize,
    found: Vec<(u64, Found)>,
    steps: u64,
}

enum Found {
    /// A session began; its number in the part is `.0`.
    Started(u64),
    /// A session, rendered, with its number in the part.
    Session {
        id: u64,
        text: Vec<u8>,
        problems: u64,
    },
    Flow(Vec<u8>),
    Diagnostic(Diagnostic),
}

/// What the main thread hands the reassembler: each call becomes a step.
struct Dispatch {
    parts: usize,
    batches: Vec<Batch>,
    start: Timestamp,
    /// Steps numbered so far.
    next_step: u64,
    /// Steps given to each part so far.
    given: Vec<u64>,
    /// Steps given to each part and not yet reported analysed.
    pending: Vec<VecDeque<u64>>,
    /// The reassembler's own diagnostics, numbered as steps.
    own: VecDeque<(u64, Diagnostic)>,
    senders: Vec<mpsc::SyncSender<Batch>>,
    /// Batches the parts are done with, to be filled again (new memory
    /// for every batch cost more than the copying into it).
    spare: mpsc::Receiver<Batch>,
    batch_bytes: usize,
    batch_steps: usize,
    /// The capture file, when it is mapped: (address, length).
    mapped: Option<(usize, usize)>,
}

impl Dispatch {
    /// The part a new connection goes to: the one with the fewest steps
    /// waiting (connections differ in cost, and a capture's connections
    /// often alternate between kinds: a fixed share would leave one part
    /// with the heavier half). Which part analyses a connection changes
    /// nothing in the output.
    fn least_busy(&self) -> u8 {
        let best = (0..self.parts).min_by_key(|&p| self.pending.get(p).map_or(0, VecDeque::len));
        u8::try_from(best.unwrap_or(0)).unwrap_or(0)
    }

    fn push(&mut self, part: usize, step: Step) {
        let n = self.next_step;
        self.next_step += 1;
        let Some(b) = self.batches.get_mut(part) else { return };
        b.steps.push((n, step));
        b.before.extend_from_slice(&self.given);
        if let Some(g) = self.given.get_mut(part) {
            *g += 1;
        }
        if let Some(p) = self.pending.get_mut(part) {
            p.push_back(n);
        }
        self.batch_steps += 1;
    }

    /// Copies `data` into `part`'s batch.
    fn bytes(&mut self, part: usize, data: &[u8]) -> Range<usize> {
        let Some(b) = self.batches.get_mut(part) else { return 0..0 };
        let at = b.bytes.len();
        b.bytes.extend_from_slice(data);
        self.batch_bytes += data.len();
        at..b.bytes.len()
    }

    fn full(&self) -> bool {
        self.batch_bytes >= BATCH_BYTES || self.batch_steps >= BATCH_STEPS
    }

    /// Sends every part its batch.
    fn flush(&mut self) {
        for (b, tx) in self.batches.iter_mut().zip(&self.senders) {
            if b.steps.is_empty() {
                continue;
            }
            let empty = self.spare.try_recv().unwrap_or_default();
            let mut full = std::mem::replace(b, empty);
            full.start = self.start;
            // A part that stopped (it panicked) is reported when joined.
            let _ = tx.send(full);
        }
        self.batch_bytes = 0;
        self.batch_steps = 0;
    }

    fn broadcast_secrets(&mut self, data: &[u8]) {
        for part in 0..self.parts {
            // Read where they lie in the mapped file, when they do: a
            // block can be megabytes, and every part reads it.
            let bytes = match self.in_mapping(data) {
                Some(r) => Bytes::Mapped(r),
                None => Bytes::Batch(self.bytes(part, data)),
            };
            self.push(part, Step::Secrets { bytes });
        }
    }

    /// Where `data` lies in the mapped capture file, if it does.
    fn in_mapping(&self, data: &[u8]) -> Option<Range<usize>> {
        let at = data.as_ptr() as usize;
        match self.mapped {
            Some((base, len)) if at >= base && at - base + data.len() <= len => {
                Some(at - base..at - base + data.len())
            }
            _ => None,
        }
    }
}

/// The reassembler's state for a connection: the part that analyses it.
impl StreamSink<u8> for Dispatch {
    fn open(&mut self, info: &ConnInfo, part: &mut u8) {
        *part = self.least_busy();
        self.push(usize::from(*part), Step::Open(info.clone()));
    }

    fn data(&mut self, info: &ConnInfo, part: &mut u8, dir: Dir, chunk: Chunk<'_>) {
        let part = usize::from(*part);
        // Bytes of a frame lie in the mapped file: the part reads them
        // there. Those the reassembler held (they came out of order) are
        // copied.
        let bytes = match self.in_mapping(chunk.data) {
            Some(r) => {
                self.batch_bytes += chunk.data.len();
                Bytes::Mapped(r)
            }
            None => Bytes::Batch(self.bytes(part, chunk.data)),
        };
        let step = Step::Data {
            info: info.clone(),
            dir,
            bytes,
            offset: chunk.offset,
            frame: chunk.frame,
            at: chunk.frame_offset,
            ts: chunk.ts,
        };
        self.push(part, step);
    }

    fn gap(&mut self, info: &ConnInfo, part: &mut u8, dir: Dir, offset: u64, len: u64, frame: u64) {
        let step = Step::Gap { info: info.clone(), dir, offset, len, frame };
        self.push(usize::from(*part), step);
    }

    fn end_of_stream(&mut self, info: &ConnInfo, part: &mut u8, dir: Dir) {
        self.push(usize::from(*part), Step::End { info: info.clone(), dir });
    }

    fn close(&mut self, info: &ConnInfo, part: u8, reason: EndReason) {
        self.push(usize::from(part), Step::Close { info: info.clone(), reason });
    }

    // Parts give a connection's memory back when they get to its close.
    fn frees_at_once(&self) -> bool {
        false
    }

    // `user_done` stays false: whether a connection's analysis is done is
    // known to its part only, so every connection is closed explicitly
    // (a part ignores the close of one it has finished, as the analysis
    // does).

    fn diagnostic(&mut self, diag: Diagnostic) {
        let n = self.next_step;
        self.next_step += 1;
        self.own.push_back((n, diag));
    }
}

/// A part's output: what its analysis reports, rendered, with the step it
/// came from.
struct PartOut {
    render: Render,
    start: Timestamp,
    step: u64,
    found: Vec<(u64, Found)>,
}

impl session::Output for PartOut {
    fn session(&mut self, s: Session) {
        let mut text = Vec::with_capacity(4096);
        let (problems, r) = self.render.session(&mut text, &s, self.start);
        // Writing into memory does not fail; if rendering did, what was
        // written is what a single analysis would have written before
        // failing too.
        let _ = r;
        self.found.push((self.step, Found::Session { id: s.id, text, problems }));
    }

    fn flow(&mut self, f: Flow) {
        let mut text = Vec::with_capacity(1024);
        let _ = self.render.flow(&mut text, &f, self.start);
        self.found.push((self.step, Found::Flow(text)));
    }

    fn diagnostic(&mut self, diag: Diagnostic) {
        self.found.push((self.step, Found::Diagnostic(diag)));
    }

    fn session_started(&mut self, id: u64) {
        self.found.push((self.step, Found::Started(id)));
    }
}

/// How many steps ahead a part prefetches the bytes of mapped frames.
const PREFETCH_STEPS: usize = 2;

/// A part: the analysis of the connections it owns.
struct Part {
    me: usize,
    parts: usize,
    shared: Arc<Shared>,
    /// Names the key log lines of Decryption Secrets Blocks in diagnostics.
    dsb_name: String,
    /// The capture file, when it is mapped.
    mapping: Option<Arc<Mapping>>,
}

/// Where a part's keys and batches come from and go back to.
struct PartIo {
    /// The keys, once the key logs are read.
    keys: mpsc::Receiver<Keyring>,
    batches: mpsc::Receiver<Batch>,
    done: mpsc::Sender<Done>,
    spare: mpsc::Sender<Batch>,
}

fn part(p: Part, mut analyzer: Analyzer<PartOut>, io: PartIo) {
    let Part { me, parts, shared, dsb_name, mapping } = p;
    let file = mapping.as_deref().map(Mapping::bytes).unwrap_or_default();
    let PartIo { keys, batches, done, spare } = io;
    // The key logs may still be being read: nothing is analysed before.
    let Ok(keys) = keys.recv() else { return };
    analyzer.keys = keys;
    let mut conns: foldhash::HashMap<u64, PartConn> = foldhash::HashMap::default();
    // Connections this part ended early for the memory budget: what comes
    // for them later is analysed as a connection picked up mid-stream.
    let mut evicted: foldhash::HashSet<u64> = foldhash::HashSet::default();
    let mut steps = 0u64;
    for mut batch in batches {
        analyzer.out.start = batch.start;
        let mut before = batch.before.chunks_exact(parts.max(1));
        for (i, (n, step)) in batch.steps.iter().enumerate() {
            let n = *n;
            // The bytes of the steps just ahead are loaded while this one
            // is analysed: they were last read from memory long ago, by
            // the reading thread, if at all.
            if let (Some(m), Some((_, Step::Data { bytes: Bytes::Mapped(r), .. }))) =
                (mapping.as_deref(), batch.steps.get(i + PREFETCH_STEPS))
            {
                m.prefetch(r.clone());
            }
            analyzer.out.step = n;
            analyzer.keys.set_position(n, before.next().unwrap_or_default());
            let range = |r: &Range<usize>| batch.bytes.get(r.clone()).unwrap_or_default();
            let bytes = |b: &Bytes| match b {
                Bytes::Batch(r) => range(r),
                Bytes::Mapped(r) => file.get(r.clone()).unwrap_or_default(),
            };
            match step {
                Step::Open(info) => {
                    evicted.remove(&info.id);
                    let c = conns.entry(info.id).or_insert_with(|| PartConn::new(info));
                    analyzer.open(info, &mut c.st);
                }
                Step::Data { info, dir, bytes: r, offset, frame, at, ts } => {
                    if let Some(st) = conn(&mut conns, &evicted, info, n, &mut analyzer, true) {
                        let chunk = Chunk {
                            offset: *offset,
                            data: bytes(r),
                            frame: *frame,
                            frame_offset: *at,
                            ts: *ts,
                        };
                        analyzer.data(info, st, *dir, chunk);
                        // Reported: nothing more can come of it (what the
                        // analysis would ignore is ignored here).
                        if analyzer.user_done(st) {
                            conns.remove(&info.id);
                        }
                    }
                }
                Step::Gap { info, dir, offset, len, frame } => {
                    if let Some(st) = conn(&mut conns, &evicted, info, n, &mut analyzer, false) {
                        analyzer.gap(info, st, *dir, *offset, *len, *frame);
                    }
                }
                Step::End { info, dir } => {
                    if let Some(st) = conn(&mut conns, &evicted, info, n, &mut analyzer, false) {
                        analyzer.end_of_stream(info, st, *dir);
                        if analyzer.user_done(st) {
                            conns.remove(&info.id);
                        }
                    }
                }
                Step::Close { info, reason } => {
                    evicted.remove(&info.id);
                    if let Some(c) = conns.remove(&info.id) {
                        analyzer.close(info, c.st, *reason);
                    }
                }
                Step::Secrets { bytes: r } => {
                    let mut d = analyzer.keys.keylog.parse(bytes(r), &dsb_name);
                    d.extend(analyzer.keys.keylog.finish());
                    // A block can be megabytes of the file, read again
                    // here after the reader let go of its pages.
                    if let (Some(m), Bytes::Mapped(range)) = (mapping.as_deref(), r) {
                        m.release(range.clone());
                    }
                    // Every part reads them; one reports their problems.
                    if me == 0 {
                        d.into_iter()
                            .for_each(|d| session::Output::diagnostic(&mut analyzer.out, d));
                    }
                }
            }
            steps += 1;
            shared.set_done(me, steps);
        }
        mind_budget(&mut analyzer, &mut conns, &mut evicted);
        let found = std::mem::take(&mut analyzer.out.found);
        if done.send(Done { part: me, found, steps }).is_err() {
            return;
        }
        batch.steps.clear();
        batch.before.clear();
        batch.bytes.clear();
        // Kept by the main thread only as long as it reads.
        let _ = spare.send(batch);
    }
}

/// A connection a part analyses.
struct PartConn {
    st: ConnState,
    /// As of its latest step.
    info: ConnInfo,
    /// The number of its latest step.
    last: u64,
}

impl PartConn {
    fn new(info: &ConnInfo) -> Self {
        PartConn { st: ConnState::default(), info: info.clone(), last: 0 }
    }
}

/// The state of the connection a step (number `n`) is about; made anew
/// when bytes come for one ended early for the budget (as a single
/// analysis picks it up as a new connection: its end alone is nothing).
fn conn<'a>(
    conns: &'a mut foldhash::HashMap<u64, PartConn>,
    evicted: &foldhash::HashSet<u64>,
    info: &ConnInfo,
    n: u64,
    analyzer: &mut Analyzer<PartOut>,
    bytes: bool,
) -> Option<&'a mut ConnState> {
    if bytes && evicted.contains(&info.id) && !conns.contains_key(&info.id) {
        let c = conns.entry(info.id).or_insert_with(|| PartConn::new(info));
        analyzer.open(info, &mut c.st);
    }
    let c = conns.get_mut(&info.id)?;
    c.info.clone_from(info);
    c.last = n;
    Some(&mut c.st)
}

/// When the run holds more than the memory budget allows, a part ends its
/// longest-idle connections (reported as they stand) until the total is
/// settled again, as a single analysis's reassembler does: the main
/// thread's cannot, the memory being given back only when a part gets to
/// the close. Done after each batch.
fn mind_budget(
    analyzer: &mut Analyzer<PartOut>,
    conns: &mut foldhash::HashMap<u64, PartConn>,
    evicted: &mut foldhash::HashSet<u64>,
) {
    let budget = analyzer.budget().clone();
    if !budget.over() {
        return;
    }
    let mut by_idle: Vec<(u64, u64)> = conns.iter().map(|(id, c)| (c.last, *id)).collect();
    by_idle.sort_unstable();
    for (_, id) in by_idle {
        if budget.settled() {
            break;
        }
        let Some(c) = conns.remove(&id) else { continue };
        if budget.cut_connection() {
            let d = budget.connection_cut_diagnostic(c.info.id, c.info.last);
            session::Output::diagnostic(&mut analyzer.out, d);
        }
        evicted.insert(id);
        analyzer.close(&c.info, c.st, EndReason::Evicted);
    }
}

/// The key logs read (whether it worked, what was wrong in them), or
/// being read.
enum Loading {
    Done(Loaded),
    Later(std::thread::JoinHandle<Loaded>),
}

/// Whether the key logs could be read, and what was wrong in them.
type Loaded = (anyhow::Result<()>, Collector);

/// What the analysis wrote and found.
#[derive(Default)]
pub struct Totals {
    pub sessions: u64,
    pub flows: u64,
    pub session_problems: u64,
    pub error: Option<std::io::Error>,
    /// The key logs could not be read (nothing was analysed).
    pub keys_error: Option<anyhow::Error>,
}

/// Puts the parts' findings back in step order and writes them.
struct Merger<'w, W: Write> {
    w: &'w mut W,
    diags: &'w mut Collector,
    /// Findings received and not yet written, per part.
    found: Vec<VecDeque<(u64, Found)>>,
    /// Session numbers over the capture, by (part, number in the part).
    numbers: HashMap<(usize, u64), u64>,
    next_number: u64,
    totals: Totals,
}

impl<W: Write> Merger<'_, W> {
    fn take(&mut self, d: Done, dispatch: &mut Dispatch) {
        if let Some(p) = dispatch.pending.get_mut(d.part) {
            let analysed = d.steps;
            // Steps are analysed in order: drop those now done.
            let given = dispatch.given.get(d.part).copied().unwrap_or(0);
            let left = usize::try_from(given.saturating_sub(analysed)).unwrap_or(0);
            while p.len() > left {
                p.pop_front();
            }
        }
        if let Some(q) = self.found.get_mut(d.part) {
            q.extend(d.found);
        }
    }

    /// Writes everything from steps that no part can still add to.
    fn write_ready(&mut self, dispatch: &mut Dispatch, all: bool) {
        let limit = if all {
            u64::MAX
        } else {
            dispatch.pending.iter().filter_map(|p| p.front().copied()).min().unwrap_or(u64::MAX)
        };
        loop {
            // The earliest of the parts' findings and the main thread's own.
            let mut best: Option<(u64, Option<usize>)> =
                dispatch.own.front().map(|(n, _)| (*n, None));
            for (i, q) in self.found.iter().enumerate() {
                if let Some((n, _)) = q.front()
                    && best.is_none_or(|(b, _)| *n < b)
                {
                    best = Some((*n, Some(i)));
                }
            }
            let Some((n, from)) = best else { break };
            if n >= limit {
                break;
            }
            match from {
                None => {
                    if let Some((_, d)) = dispatch.own.pop_front() {
                        self.diags.push(d);
                    }
                }
                Some(i) => {
                    if let Some((_, f)) = self.found.get_mut(i).and_then(VecDeque::pop_front) {
                        self.write(i, f);
                    }
                }
            }
        }
    }

    fn write(&mut self, part: usize, f: Found) {
        match f {
            Found::Started(id) => {
                self.numbers.insert((part, id), self.next_number);
                self.next_number += 1;
            }
            Found::Session { id, text, problems } => {
                self.totals.sessions += 1;
                self.totals.session_problems += problems;
                let number = self.numbers.remove(&(part, id));
                if self.totals.error.is_none() {
                    let r = match number {
                        Some(n) => write_numbered(self.w, &text, id, n),
                        None => self.w.write_all(&text),
                    };
                    if let Err(e) = r {
                        self.totals.error = Some(e);
                    }
                }
            }
            Found::Flow(text) => {
                self.totals.flows += 1;
                if self.totals.error.is_none()
                    && let Err(e) = self.w.write_all(&text)
                {
                    self.totals.error = Some(e);
                }
            }
            Found::Diagnostic(d) => {
                self.diags.push(d);
            }
        }
    }
}

/// Writes a session rendered by a part with its number in the part
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
        // Not the shape this module renders: written as it is.
        _ => w.write_all(text),
    }
}

/// Analyses `file` in `parts` parts (1 to [`MAX_PARTS`]) and writes what a single
/// analysis with `opts`, `keys` (after reading `files` into it) and `render`
/// would write, to `w`, its diagnostics to `diags`. The key logs are read on
/// a thread of their own while the capture is read.
#[allow(clippy::too_many_arguments)]
pub fn analyse<W: Write>(
    file: &mut CaptureFile,
    parts: usize,
    opts: Options,
    budget: &Budget,
    keys: Keyring,
    files: KeyFiles,
    render: &Render,
    w: &mut W,
    diags: &mut Collector,
) -> Totals {
    let parts = parts.clamp(1, MAX_PARTS);
    let shared = Shared::new(parts);
    let dsb_name = format!("{}: Decryption Secrets Block", file.path.display());
    let mapping = file.reader.mapping();
    let (done_tx, done_rx) = mpsc::channel::<Done>();
    let (spare_tx, spare) = mpsc::channel::<Batch>();
    let mut senders = Vec::new();
    let mut key_senders = Vec::new();
    let mut handles = Vec::new();
    for me in 0..parts {
        let (tx, rx) = mpsc::sync_channel::<Batch>(QUEUED_BATCHES);
        senders.push(tx);
        let (keys_tx, keys_rx) = mpsc::sync_channel::<Keyring>(1);
        key_senders.push(keys_tx);
        let out = PartOut {
            render: render.clone(),
            start: Timestamp::default(),
            step: 0,
            found: Vec::new(),
        };
        let analyzer = Analyzer::new(opts, out).with_budget(budget);
        let p = Part {
            me,
            parts,
            shared: shared.clone(),
            dsb_name: dsb_name.clone(),
            mapping: mapping.clone(),
        };
        let io =
            PartIo { keys: keys_rx, batches: rx, done: done_tx.clone(), spare: spare_tx.clone() };
        let h = std::thread::Builder::new()
            .name(format!("analysis-{me}"))
            .spawn(move || part(p, analyzer, io));
        match h {
            Ok(h) => handles.push(h),
            Err(e) => {
                return Totals { error: Some(e), ..Totals::default() };
            }
        }
    }
    drop(done_tx);
    drop(spare_tx);
    // Each part gets its keyring once the key logs are read (a part
    // without keys stops: the key logs could not be read).
    let give_keys = {
        let shared = shared.clone();
        move |mut ring: Keyring, files: KeyFiles| {
            let mut diags = Collector::default();
            let read = files.read_into(&mut ring, &mut diags);
            if read.is_ok() {
                for (me, tx) in key_senders.iter().enumerate() {
                    let _ =
                        tx.send(ring.with_memory(Box::new(PartMemory::new(shared.clone(), me))));
                }
            }
            (read, diags)
        }
    };
    let loading = if files.has_keylog() {
        let h =
            std::thread::Builder::new().name("keylog".into()).spawn(move || give_keys(keys, files));
        match h {
            Ok(h) => Loading::Later(h),
            Err(e) => return Totals { error: Some(e), ..Totals::default() },
        }
    } else {
        // Only RSA keys (already read), or nothing.
        Loading::Done(give_keys(keys, files))
    };
    let before = std::mem::take(diags);
    let mut dispatch = Dispatch {
        parts,
        batches: (0..parts).map(|_| Batch::default()).collect(),
        start: Timestamp::default(),
        next_step: 0,
        given: vec![0; parts],
        pending: vec![VecDeque::new(); parts],
        own: VecDeque::new(),
        senders,
        spare,
        batch_bytes: 0,
        batch_steps: 0,
        mapped: mapping.as_deref().map(|m| (m.bytes().as_ptr() as usize, m.bytes().len())),
    };
    let mut merger = Merger {
        w,
        diags,
        found: (0..parts).map(|_| VecDeque::new()).collect(),
        numbers: HashMap::new(),
        next_number: 0,
        totals: Totals::default(),
    };
    let mut tcp: Reassembler<u8> = Reassembler::default().with_budget(budget);
    let file_bytes = mapping.as_deref().map(Mapping::bytes).unwrap_or_default();
    let mut first = true;
    file.for_each(|ev| {
        match ev {
            Event::Frame(f) => {
                if first {
                    dispatch.start = f.ts;
                    first = false;
                }
                tcp.push_frame_in(&mut dispatch, &f, file_bytes);
            }
            Event::Problem(d) => dispatch.diagnostic(d),
            Event::Secrets { kind, data, .. } => {
                if kind == SECRETS_TLS_KEY_LOG {
                    dispatch.broadcast_secrets(data);
                }
            }
            Event::Comment { .. } => {}
        }
        if dispatch.full() {
            dispatch.flush();
            while let Ok(d) = done_rx.try_recv() {
                merger.take(d, &mut dispatch);
            }
            merger.write_ready(&mut dispatch, false);
        }
    });
    tcp.finish_all(&mut dispatch);
    dispatch.flush();
    dispatch.senders.clear();
    for d in done_rx {
        merger.take(d, &mut dispatch);
        merger.write_ready(&mut dispatch, false);
    }
    let mut panicked = false;
    for h in handles {
        panicked |= h.join().is_err();
    }
    let (read, keylog_diags) = match loading {
        Loading::Done(loaded) => loaded,
        Loading::Later(h) => h.join().unwrap_or_else(|_| {
            panicked = true;
            (Ok(()), Collector::default())
        }),
    };
    merger.write_ready(&mut dispatch, true);
    let mut totals = merger.totals;
    // The key logs' diagnostics come first, as when they were read before.
    let analysed = std::mem::replace(diags, before);
    diags.append(keylog_diags);
    diags.append(analysed);
    totals.keys_error = read.err();
    if panicked && totals.error.is_none() {
        totals.error = Some(std::io::Error::other("an analysis thread stopped unexpectedly"));
    }
    totals
}
