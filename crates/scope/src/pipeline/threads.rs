//! One capture analysed on several threads, with the output of one.
//!
//! The caller's thread reads the capture and pushes its [`Input`]s to an
//! [`Engine`], which reassembles TCP as a single [`Pipeline`] does; what
//! the reassembler hands on for a connection (its bytes, gaps, ends)
//! becomes a numbered *step* sent to the part that analyses the
//! connection (the least busy one when the connection began). Each part
//! runs the TLS and HTTP analysis of its connections and does the
//! caller's [`Work`] on what they give (rendering a session, say). The
//! engine hands the results to the caller's [`Merge`] in step order,
//! which is the order a single analysis would have found them in, with
//! sessions numbered in the order they began over the whole capture: the
//! output is the same, whatever the number of parts.
//!
//! What parts share: the key log and RSA keys (read-only), and the master
//! secrets learned for resumption (`pipeline/shared.rs`): a part that looks
//! one up waits until the others have analysed every step before its own.
//! The analysis core knows nothing of this: it sees a
//! [`crate::tls::crypto::SessionMemory`].

use std::collections::{HashMap, VecDeque};
use std::ops::Range;
use std::sync::Arc;
use std::sync::mpsc;

use super::shared::{PartMemory, Shared};
use super::{FileBytes, Input, Pipeline, Stage};
use crate::budget::Budget;
use crate::diag::Diagnostic;
use crate::flow::{Chunk, ConnInfo, Dir, EndReason, StreamSink};
use crate::session::{self, Analyzer, ConnState, Flow, Options, Session};
use crate::time::Timestamp;
use crate::tls::crypto::Keyring;

/// The most parts a capture is split into.
pub const MAX_PARTS: usize = 8;

/// Bytes of connection data gathered for the parts before they are sent:
/// large enough that handing over costs little per step, small enough to
/// stay in the CPU's caches.
const BATCH_BYTES: usize = 256 << 10;

/// Steps gathered before they are sent, whatever their bytes.
const BATCH_STEPS: usize = 1024;

/// Batches waiting for a part before the reading thread waits for it.
const QUEUED_BATCHES: usize = 4;

/// How many steps ahead a part prefetches the bytes of mapped frames.
const PREFETCH_STEPS: usize = 2;

/// What each part does with what its analysis finds, on its own thread.
/// Each part gets a clone.
pub trait Work: Clone + Send + 'static {
    /// What a session or connection becomes.
    type Found: Send + 'static;
    /// A finished TLS session (its [`Session::id`] is the part's own
    /// number for it; [`Merge::session`] gets the capture-wide one).
    /// `start` is the capture's first frame time.
    fn session(&mut self, session: Session, start: Timestamp) -> Self::Found;
    /// A finished connection that was not TLS.
    fn flow(&mut self, flow: Flow, start: Timestamp) -> Self::Found;
}

/// What the reading thread does with the parts' findings, in the order a
/// single analysis would have found them.
pub trait Merge<F> {
    /// A session: `number` is its number over the whole capture (as a
    /// single analysis numbers them), `local` the number it was given in
    /// its part ([`Session::id`] when the work was done). `number` is None
    /// only for a session whose start was never reported.
    fn session(&mut self, number: Option<u64>, local: u64, found: F);
    /// A connection that was not TLS.
    fn flow(&mut self, found: F);
    /// A problem not tied to one session.
    fn diagnostic(&mut self, diag: Diagnostic);
}

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
    /// Key log text (every part gets it); `whole` as for
    /// [`Stage::key_log`].
    Secrets {
        bytes: Bytes,
        name: Arc<str>,
        whole: bool,
    },
}

/// Where a step's bytes are.
enum Bytes {
    /// In the batch.
    Batch(Range<usize>),
    /// In the capture file held whole (read in place, not copied).
    InFile(Range<usize>),
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
struct Done<F> {
    part: usize,
    found: Vec<(u64, Found<F>)>,
    steps: u64,
}

enum Found<F> {
    /// A session began; its number in the part is `.0`.
    Started(u64),
    /// A session, with its number in the part.
    Session(u64, F),
    Flow(F),
    Diagnostic(Diagnostic),
}

/// What the reading thread's reassembler hands on: each call becomes a
/// step.
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
    /// The length of the capture file, when it is held whole.
    file_len: Option<usize>,
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
        self.next_step = self.next_step.saturating_add(1);
        let Some(b) = self.batches.get_mut(part) else { return };
        b.steps.push((n, step));
        b.before.extend_from_slice(&self.given);
        if let Some(g) = self.given.get_mut(part) {
            *g = g.saturating_add(1);
        }
        if let Some(p) = self.pending.get_mut(part) {
            p.push_back(n);
        }
        self.batch_steps = self.batch_steps.saturating_add(1);
    }

    /// Copies `data` into `part`'s batch.
    fn bytes(&mut self, part: usize, data: &[u8]) -> Range<usize> {
        let Some(b) = self.batches.get_mut(part) else { return 0..0 };
        let at = b.bytes.len();
        b.bytes.extend_from_slice(data);
        self.batch_bytes = self.batch_bytes.saturating_add(data.len());
        at..b.bytes.len()
    }

    /// Where `len` bytes at `file_offset` lie in the capture file held
    /// whole, if they do.
    fn in_file(&self, file_offset: Option<u64>, len: usize) -> Option<Range<usize>> {
        let at = usize::try_from(file_offset?).ok()?;
        let end = at.checked_add(len)?;
        (end <= self.file_len?).then_some(at..end)
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
            // A part that stopped (it panicked, or got no keys) is
            // reported when joined.
            let _ = tx.send(full);
        }
        self.batch_bytes = 0;
        self.batch_steps = 0;
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
        // Bytes of a frame lie in the file held whole: the part reads them
        // there. Those the reassembler held (they came out of order) are
        // copied.
        let bytes = match self.in_file(chunk.file_offset, chunk.data.len()) {
            Some(r) => {
                self.batch_bytes = self.batch_bytes.saturating_add(chunk.data.len());
                Bytes::InFile(r)
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
        self.next_step = self.next_step.saturating_add(1);
        self.own.push_back((n, diag));
    }
}

impl Stage<u8> for Dispatch {
    fn start(&mut self, ts: Timestamp) {
        self.start = ts;
    }

    fn key_log(&mut self, data: &[u8], name: &str, whole: bool) {
        self.secrets(data, None, name, whole);
    }

    fn secrets_block(&mut self, data: &[u8], file_offset: Option<u64>, name: &str) {
        self.secrets(data, file_offset, name, true);
    }
}

impl Dispatch {
    /// Key log text for every part, read where it lies in the file when it
    /// does (a block can be megabytes, and every part reads it).
    fn secrets(&mut self, data: &[u8], file_offset: Option<u64>, name: &str, whole: bool) {
        let name: Arc<str> = name.into();
        let in_file = self.in_file(file_offset, data.len());
        for part in 0..self.parts {
            let bytes = match &in_file {
                Some(r) => Bytes::InFile(r.clone()),
                None => Bytes::Batch(self.bytes(part, data)),
            };
            self.push(part, Step::Secrets { bytes, name: name.clone(), whole });
        }
    }
}

/// A part's output: what its analysis reports, with the work done on it
/// and the step it came from.
struct PartOut<W: Work> {
    work: W,
    start: Timestamp,
    step: u64,
    found: Vec<(u64, Found<W::Found>)>,
}

impl<W: Work> session::Output for PartOut<W> {
    fn session(&mut self, s: Session) {
        let id = s.id;
        let found = self.work.session(s, self.start);
        self.found.push((self.step, Found::Session(id, found)));
    }

    fn flow(&mut self, f: Flow) {
        let found = self.work.flow(f, self.start);
        self.found.push((self.step, Found::Flow(found)));
    }

    fn diagnostic(&mut self, diag: Diagnostic) {
        self.found.push((self.step, Found::Diagnostic(diag)));
    }

    fn session_started(&mut self, id: u64) {
        self.found.push((self.step, Found::Started(id)));
    }
}

/// A part: the analysis of the connections it owns.
struct Part {
    me: usize,
    parts: usize,
    shared: Arc<Shared>,
    /// The capture file, when it is held whole.
    file: Option<Arc<dyn FileBytes>>,
}

/// Where a part's keys and batches come from and go back to.
struct PartIo<F> {
    /// The keys, once the key logs are read.
    keys: mpsc::Receiver<Keyring>,
    batches: mpsc::Receiver<Batch>,
    done: mpsc::Sender<Done<F>>,
    spare: mpsc::Sender<Batch>,
}

fn part<W: Work>(p: Part, mut analyzer: Analyzer<PartOut<W>>, io: PartIo<W::Found>) {
    let Part { me, parts, shared, file } = p;
    let file_bytes = file.as_deref().map(FileBytes::bytes).unwrap_or_default();
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
            if let (Some(f), Some((_, Step::Data { bytes: Bytes::InFile(r), .. }))) =
                (file.as_deref(), batch.steps.get(i.saturating_add(PREFETCH_STEPS)))
            {
                f.prefetch(r.clone());
            }
            analyzer.out.step = n;
            analyzer.keys.set_position(n, before.next().unwrap_or_default());
            let range = |r: &Range<usize>| batch.bytes.get(r.clone()).unwrap_or_default();
            let bytes = |b: &Bytes| match b {
                Bytes::Batch(r) => range(r),
                Bytes::InFile(r) => file_bytes.get(r.clone()).unwrap_or_default(),
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
                            file_offset: None,
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
                Step::Secrets { bytes: r, name, whole } => {
                    let mut d = analyzer.keys.keylog.parse(bytes(r), name);
                    if *whole {
                        d.extend(analyzer.keys.keylog.finish());
                    }
                    // A block can be megabytes of the file, read again
                    // here after the reader let go of its pages.
                    if let (Some(f), Bytes::InFile(range)) = (file.as_deref(), r) {
                        f.release(range.clone());
                    }
                    // Every part reads them; one reports their problems.
                    if me == 0 {
                        d.into_iter()
                            .for_each(|d| session::Output::diagnostic(&mut analyzer.out, d));
                    }
                }
            }
            steps = steps.saturating_add(1);
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
        // Kept by the reading thread only as long as it reads.
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
fn conn<'a, W: Work>(
    conns: &'a mut foldhash::HashMap<u64, PartConn>,
    evicted: &foldhash::HashSet<u64>,
    info: &ConnInfo,
    n: u64,
    analyzer: &mut Analyzer<PartOut<W>>,
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
/// settled again, as a single analysis's reassembler does: the reading
/// thread's cannot, the memory being given back only when a part gets to
/// the close. Done after each batch.
fn mind_budget<W: Work>(
    analyzer: &mut Analyzer<PartOut<W>>,
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

/// Hands each part its keys, once they are read (on any thread). Dropped
/// without [`Keys::give`], the parts analyse nothing.
pub struct Keys {
    senders: Vec<mpsc::SyncSender<Keyring>>,
    shared: Arc<Shared>,
}

impl Keys {
    /// Every part gets `ring`'s key logs and RSA keys; the sessions they
    /// remember for resumption are shared between them.
    pub fn give(self, ring: Keyring) {
        for (me, tx) in self.senders.iter().enumerate() {
            let _ = tx.send(ring.with_memory(Box::new(PartMemory::new(self.shared.clone(), me))));
        }
    }
}

/// A part's thread stopped unexpectedly (it panicked).
#[derive(Debug)]
pub struct Stopped;

impl std::fmt::Display for Stopped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("an analysis thread stopped unexpectedly")
    }
}

impl std::error::Error for Stopped {}

/// The analysis of one capture over several threads: push its inputs
/// (from one thread), then [`Engine::finish`].
pub struct Engine<W: Work> {
    pipeline: Pipeline<Dispatch, u8>,
    done: mpsc::Receiver<Done<W::Found>>,
    handles: Vec<std::thread::JoinHandle<()>>,
    merger: Merger<W::Found>,
}

/// The parts' findings not yet merged, and the sessions' numbers.
struct Merger<F> {
    /// Findings received and not yet merged, per part.
    found: Vec<VecDeque<(u64, Found<F>)>>,
    /// Session numbers over the capture, by (part, number in the part).
    numbers: HashMap<(usize, u64), u64>,
    next_number: u64,
}

impl<W: Work> Engine<W> {
    /// Starts `parts` analysis threads (1 to [`MAX_PARTS`]), each with
    /// `opts`, `budget` and a clone of `work`. `source` names the capture
    /// in diagnostics; `file` is the capture file when the caller holds it
    /// whole (frames are then read where they lie). The parts wait for
    /// their keys: give them with the returned [`Keys`].
    pub fn start(
        parts: usize,
        opts: Options,
        budget: &Budget,
        work: &W,
        source: &str,
        file: Option<Arc<dyn FileBytes>>,
    ) -> std::io::Result<(Self, Keys)> {
        let parts = parts.clamp(1, MAX_PARTS);
        let shared = Shared::new(parts);
        let (done_tx, done) = mpsc::channel::<Done<W::Found>>();
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
                work: work.clone(),
                start: Timestamp::default(),
                step: 0,
                found: Vec::new(),
            };
            let analyzer = Analyzer::new(opts, out).with_budget(budget);
            let p = Part { me, parts, shared: shared.clone(), file: file.clone() };
            let io = PartIo {
                keys: keys_rx,
                batches: rx,
                done: done_tx.clone(),
                spare: spare_tx.clone(),
            };
            let h = std::thread::Builder::new()
                .name(format!("analysis-{me}"))
                .spawn(move || part(p, analyzer, io))?;
            handles.push(h);
        }
        let dispatch = Dispatch {
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
            file_len: file.as_deref().map(|f| f.bytes().len()),
        };
        let mut pipeline = Pipeline::new(dispatch).with_budget(budget).named(source);
        if let Some(f) = file {
            pipeline = pipeline.in_file(f);
        }
        let merger = Merger {
            found: (0..parts).map(|_| VecDeque::new()).collect(),
            numbers: HashMap::new(),
            next_number: 0,
        };
        Ok((Engine { pipeline, done, handles, merger }, Keys { senders: key_senders, shared }))
    }

    /// Analyses one input; hands `merge` whatever is ready.
    pub fn push(&mut self, input: Input<'_>, merge: &mut impl Merge<W::Found>) {
        self.pipeline.push(input);
        let dispatch = self.pipeline.stage_mut();
        if dispatch.full() {
            dispatch.flush();
            while let Ok(d) = self.done.try_recv() {
                self.merger.take(d, dispatch);
            }
            self.merger.merge_ready(dispatch, merge, false);
        }
    }

    /// Ends every connection (the input is over), waits for the parts and
    /// hands `merge` the rest.
    pub fn finish(self, merge: &mut impl Merge<W::Found>) -> Result<(), Stopped> {
        let Engine { pipeline, done, handles, mut merger } = self;
        let mut dispatch = pipeline.finish();
        dispatch.flush();
        // The parts stop when their batches end.
        dispatch.senders.clear();
        for d in done {
            merger.take(d, &mut dispatch);
            merger.merge_ready(&mut dispatch, merge, false);
        }
        let mut stopped = false;
        for h in handles {
            stopped |= h.join().is_err();
        }
        merger.merge_ready(&mut dispatch, merge, true);
        if stopped { Err(Stopped) } else { Ok(()) }
    }
}

impl<F> Merger<F> {
    fn take(&mut self, d: Done<F>, dispatch: &mut Dispatch) {
        if let Some(p) = dispatch.pending.get_mut(d.part) {
            // Steps are analysed in order: drop those now done.
            let given = dispatch.given.get(d.part).copied().unwrap_or(0);
            let left = usize::try_from(given.saturating_sub(d.steps)).unwrap_or(0);
            while p.len() > left {
                p.pop_front();
            }
        }
        if let Some(q) = self.found.get_mut(d.part) {
            q.extend(d.found);
        }
    }

    /// Hands `merge` everything from steps that no part can still add to
    /// (`all`: everything).
    fn merge_ready(&mut self, dispatch: &mut Dispatch, merge: &mut impl Merge<F>, all: bool) {
        let limit = if all {
            u64::MAX
        } else {
            dispatch.pending.iter().filter_map(|p| p.front().copied()).min().unwrap_or(u64::MAX)
        };
        loop {
            // The earliest of the parts' findings and the reading thread's own.
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
                        merge.diagnostic(d);
                    }
                }
                Some(i) => {
                    if let Some((_, f)) = self.found.get_mut(i).and_then(VecDeque::pop_front) {
                        self.merge_one(merge, i, f);
                    }
                }
            }
        }
    }

    fn merge_one(&mut self, merge: &mut impl Merge<F>, part: usize, f: Found<F>) {
        match f {
            Found::Started(id) => {
                self.numbers.insert((part, id), self.next_number);
                self.next_number = self.next_number.saturating_add(1);
            }
            Found::Session(id, found) => {
                let number = self.numbers.remove(&(part, id));
                merge.session(number, id, found);
            }
            Found::Flow(found) => merge.flow(found),
            Found::Diagnostic(d) => merge.diagnostic(d),
        }
    }
}
