//! The library's way in, used as another program would: a capture read
//! with the capture crate, pushed into a `Pipeline` and into the threaded
//! `Engine` with 1 to 4 parts. The engine's promise: what it hands back,
//! and in which order and with which session numbers, is what a single
//! analysis finds.

use std::path::{Path, PathBuf};

use tlsscope_capture::read::CaptureReader;
use tlsscope_scope::budget::Budget;
use tlsscope_scope::diag::Diagnostic;
use tlsscope_scope::flow::{Chunk, ConnInfo, Dir, EndReason, StreamSink};
use tlsscope_scope::pipeline::threads::{Engine, Merge, Work};
use tlsscope_scope::pipeline::{Collect, Input, Pipeline, Stage};
use tlsscope_scope::session::{Flow, Options, Session};
use tlsscope_scope::time::Timestamp;
use tlsscope_scope::tls::crypto::Keyring;

fn captures() -> Vec<(PathBuf, Option<PathBuf>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/captures");
    let mut found = Vec::new();
    for sub in ["tls", "tcp"] {
        let mut names: Vec<PathBuf> = std::fs::read_dir(dir.join(sub))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "pcap" || x == "pcapng"))
            .collect();
        names.sort();
        for p in names {
            let keys = p.with_extension("keys");
            found.push((p, keys.exists().then_some(keys)));
        }
    }
    assert!(found.len() >= 9, "{found:?}");
    found
}

/// What a session or connection is, without the number a part gave it.
fn describe_session(s: &Session, start: Timestamp) -> String {
    let status = s.decryption.as_ref().map(|d| d.status.as_str());
    let requests: Vec<String> =
        s.http.exchanges.iter().map(|x| format!("{:?} {:?}", x.method, x.path)).collect();
    format!(
        "session on stream {} from frame {} at {:.6}: {:?} decryption {status:?}, {} message(s), {requests:?}",
        s.conn,
        s.first_frame,
        s.start.seconds_since(start),
        s.server_hello.as_ref().map(|h| h.cipher_suite),
        s.messages.len()
    )
}

fn describe_flow(f: &Flow) -> String {
    format!("flow {} with {} exchange(s)", f.info.id, f.decoded.exchanges.len())
}

fn keyring(keys: Option<&Path>) -> Keyring {
    let mut ring = Keyring::default();
    if let Some(k) = keys {
        assert!(ring.keylog.parse(&std::fs::read(k).unwrap(), "test.keys").is_empty());
        ring.keylog.finish();
    }
    ring
}

fn inputs(capture: &Path, mut push: impl FnMut(Input<'_>)) {
    let mut reader = CaptureReader::open(capture).unwrap();
    while let Some(event) = reader.next() {
        if let Some(input) = event.input() {
            push(input);
        }
    }
}

const OPTS: Options = Options { trees: true, keep_messages: true, decrypt: true, http: true };

/// A single analysis: each session's number and description, each flow's.
fn single(capture: &Path, keys: Option<&Path>) -> Vec<String> {
    let mut analysis = Pipeline::analysis(OPTS, Collect::default());
    *analysis.keys() = keyring(keys);
    let mut start = None;
    inputs(capture, |input| {
        if let Input::Frame(f) = &input {
            start.get_or_insert(f.ts);
        }
        analysis.push(input);
    });
    let start = start.unwrap_or_default();
    let found = analysis.finish().out;
    // Collect keeps sessions and flows apart: the engine's merge sees them
    // in one sequence, so compare each kind in its own order.
    let mut out: Vec<String> = found
        .sessions
        .iter()
        .map(|s| format!("#{} {}", s.id, describe_session(s, start)))
        .collect();
    out.extend(found.flows.iter().map(describe_flow));
    out
}

#[derive(Clone)]
struct Describe;

impl Work for Describe {
    type Found = String;
    fn session(&mut self, s: Session, start: Timestamp) -> String {
        describe_session(&s, start)
    }
    fn flow(&mut self, f: Flow, _: Timestamp) -> String {
        describe_flow(&f)
    }
}

#[derive(Default)]
struct Merged {
    sessions: Vec<String>,
    flows: Vec<String>,
}

impl Merge<String> for Merged {
    fn session(&mut self, number: Option<u64>, _local: u64, found: String) {
        self.sessions.push(format!("#{} {found}", number.expect("every session's start is told")));
    }
    fn flow(&mut self, found: String) {
        self.flows.push(found);
    }
    fn diagnostic(&mut self, _: Diagnostic) {}
}

fn threaded(capture: &Path, keys: Option<&Path>, parts: usize) -> Vec<String> {
    let budget = Budget::unlimited();
    let (mut engine, give) = Engine::start(parts, OPTS, &budget, &Describe, "test", None).unwrap();
    give.give(keyring(keys));
    let mut merged = Merged::default();
    inputs(capture, |input| engine.push(input, &mut merged));
    engine.finish(&mut merged).unwrap();
    let mut out = merged.sessions;
    out.extend(merged.flows);
    out
}

#[test]
fn the_engine_finds_what_a_single_analysis_finds_whatever_the_parts() {
    for (capture, keys) in captures() {
        let one = single(&capture, keys.as_deref());
        assert!(!one.is_empty(), "{}", capture.display());
        for parts in 1..=4 {
            let split = threaded(&capture, keys.as_deref(), parts);
            assert_eq!(split, one, "{} in {parts} part(s)", capture.display());
        }
    }
}

#[test]
fn sessions_are_decrypted_through_the_pipeline() {
    let tls = captures().into_iter().filter(|(_, k)| k.is_some());
    for (capture, keys) in tls {
        for line in single(&capture, keys.as_deref()).iter().filter(|l| l.starts_with('#')) {
            assert!(line.contains("decryption Some(\"ok\")"), "{}: {line}", capture.display());
        }
    }
}

/// A stage that notes what the pipeline tells it.
#[derive(Default)]
struct Notes(Vec<String>);

impl StreamSink<()> for Notes {
    fn data(&mut self, info: &ConnInfo, _: &mut (), dir: Dir, chunk: Chunk<'_>) {
        self.0.push(format!("data {} {dir:?} {}", info.id, chunk.data.len()));
    }
    fn gap(&mut self, _: &ConnInfo, _: &mut (), _: Dir, _: u64, _: u64, _: u64) {}
    fn close(&mut self, info: &ConnInfo, _: (), _: EndReason) {
        self.0.push(format!("close {}", info.id));
    }
    fn diagnostic(&mut self, d: Diagnostic) {
        self.0.push(format!("problem {}", d.code));
    }
}

impl Stage<()> for Notes {
    fn start(&mut self, ts: Timestamp) {
        self.0.push(format!("start {}", ts.0));
    }
    fn key_log(&mut self, data: &[u8], name: &str, whole: bool) {
        self.0.push(format!("keys {} from {name} whole {whole}", data.len()));
    }
}

#[test]
fn start_comes_once_before_the_first_frame_and_secrets_go_where_they_belong() {
    let (capture, _) = &captures()[0];
    let mut p = Pipeline::new(Notes::default()).named("cap.pcap");
    p.push(Input::KeyLog { data: b"CLIENT_RANDOM 00 11\n", name: "k.log" });
    // Only a TLS key log block is read; another kind of secrets is not.
    p.push(Input::Secrets { kind: 0x5747_4b4c, data: b"wireguard", file_offset: Some(10) });
    p.push(Input::Secrets {
        kind: tlsscope_scope::pipeline::SECRETS_TLS_KEY_LOG,
        data: b"CLIENT_RANDOM 22 33",
        file_offset: Some(40),
    });
    let mut first = None;
    inputs(capture, |input| {
        if let Input::Frame(f) = &input {
            first.get_or_insert(f.ts);
        }
        p.push(input);
    });
    let notes = p.finish().0;
    assert_eq!(notes[0], "keys 20 from k.log whole false");
    assert_eq!(notes[1], "keys 19 from cap.pcap: Decryption Secrets Block whole true");
    assert_eq!(notes[2], format!("start {}", first.unwrap().0));
    assert_eq!(notes.iter().filter(|n| n.starts_with("start")).count(), 1);
    assert!(notes.iter().any(|n| n.starts_with("data ")), "{notes:?}");
    assert!(notes.last().unwrap().starts_with("close "), "{notes:?}");
}
