//! `session_pipeline`: one TCP connection through the whole analysis.

use super::*;

/// The client and server of [`session_pipeline()`]'s connection.
pub(super) fn pipeline_ends() -> (SocketAddr, SocketAddr) {
    (SocketAddr::from(([10, 0, 0, 1], 40000)), SocketAddr::from(([10, 0, 0, 2], 443)))
}

/// What the analyzer reports, checked as it comes.
#[derive(Default)]
pub(super) struct PipelineOut {
    pub(super) sessions: Vec<Session>,
    pub(super) flows: Vec<Flow>,
    /// Plaintext bytes delivered per (session id, sender).
    pub(super) plaintext: HashMap<(u64, Dir), u64>,
    /// The highest frame pushed so far.
    pub(super) last_frame: u64,
}

impl Output for PipelineOut {
    fn session(&mut self, s: Session) {
        self.sessions.push(s);
    }
    fn flow(&mut self, f: Flow) {
        self.flows.push(f);
    }
    fn diagnostic(&mut self, d: Diagnostic) {
        assert!(!d.code.is_empty() && !d.message.is_empty());
    }
    fn plaintext(&mut self, s: &Session, from: Dir, data: &[u8], frame: u64, _ts: Timestamp) {
        assert!(frame <= self.last_frame, "plaintext from frame {frame}, not pushed yet");
        *self.plaintext.entry((s.id, from)).or_default() += data.len() as u64;
    }
}

/// A session without its field trees (what must not depend on them).
pub(super) fn without_trees(s: &Session) -> Session {
    let mut s = s.clone();
    for m in &mut s.messages {
        if let Some(msg) = m.message.as_deref_mut() {
            msg.fields.clear();
        }
    }
    for x in &mut s.http.exchanges {
        x.request_tree.clear();
        x.response_tree.clear();
    }
    for f in &mut s.http.h2_frames {
        f.tree.clear();
    }
    s
}

/// Checks what the analyzer promises about a finished session.
pub(super) fn check_session(s: &Session, out: &PipelineOut, started: u64, opts: &session::Options) {
    let id = s.id;
    assert!(id < started, "session {id} of {started}");
    for m in &s.messages {
        assert!(m.frame <= out.last_frame, "session {id}: {} from frame {}", m.name, m.frame);
        if let Some(msg) = m.message.as_deref() {
            // An SSLv2 hello's length counts its 2-byte record header, which
            // its bytes leave out (its spans count from that header).
            let sslv2 =
                msg.msg_type == handshake::kind::CLIENT_HELLO && m.len == msg.bytes.len() + 2;
            assert!(msg.bytes.len() == m.len || sslv2, "session {id}: {} length", m.name);
            if let Some(&t) = msg.bytes.first() {
                assert_eq!(t, msg.msg_type, "session {id}: message type");
            }
            assert_tree(&msg.fields, Span::new(0, len32(m.len)), m.name);
            if !opts.trees {
                assert!(msg.fields.is_empty(), "session {id}: a tree with trees off");
            }
        }
    }
    assert!(s.app_records.len() <= session::APP_RECORDS_KEPT);
    assert!(s.http.exchanges.len() <= session::MAX_EXCHANGES);
    assert!(s.http.h2_frames.len() <= session::MAX_H2_FRAMES);
    for dir in [Dir::ClientToServer, Dir::ServerToClient] {
        assert!(s.http.raw[dir].len() <= session::MAX_RAW_PREVIEW);
    }
    let transcript: usize = s.transcript.iter().map(Vec::len).sum();
    assert!(transcript <= session::MAX_TRANSCRIPT, "transcript of {transcript} bytes");
    assert_eq!(
        s.ja3.is_some(),
        s.client_hello.is_some(),
        "session {id}: JA3 without a ClientHello"
    );
    if let Some(d) = &s.decryption {
        assert_eq!(d.status == crate::tls::crypto::Status::Ok, d.reason.is_none(), "{d:?}");
        for dir in [Dir::ClientToServer, Dir::ServerToClient] {
            let (records, decrypted) = d.records[dir];
            assert!(decrypted <= records, "session {id}: {decrypted} of {records} records");
            let delivered = out.plaintext.get(&(id, dir)).copied().unwrap_or(0);
            assert_eq!(delivered, d.app_bytes[dir], "session {id} {dir:?}: plaintext delivered");
        }
    } else {
        assert!(!out.plaintext.keys().any(|(s, _)| *s == id), "plaintext without decryption");
    }
}

/// Runs the analyzer over one connection made of `steps`, with `keylog`,
/// and checks every session and flow it reports.
pub(super) fn run_pipeline(
    opts: session::Options,
    keylog: &[u8],
    steps: &[HttpStep],
    budget: &Budget,
) -> PipelineOut {
    let mut analyzer = Analyzer::new(opts, PipelineOut::default()).with_budget(budget);
    let _ = analyzer.keys.keylog.parse(keylog, "fuzz.keys");
    let _ = analyzer.keys.keylog.finish();
    let mut r = Reassembler::<ConnState>::new(Limits::default()).with_budget(budget);
    let (client, server) = pipeline_ends();
    // Sequence numbers of each side's next byte.
    let mut next = [1000u32, 5000u32];
    let mut frame = 0u64;
    let mut push = |analyzer: &mut Analyzer<PipelineOut>,
                    from: Dir,
                    flags: u8,
                    payload: &[u8],
                    seq: u32,
                    ack: u32| {
        frame += 1;
        let (src, dst) =
            if from == Dir::ClientToServer { (client, server) } else { (server, client) };
        let seg = TcpSegment {
            src,
            dst,
            seq,
            ack,
            flags: TcpFlags(flags),
            window: 512,
            payload,
            payload_offset: 54,
            payload_missing: 0,
        };
        analyzer.out.last_frame = frame;
        r.push(analyzer, frame, Timestamp(frame as i64 * 1000), 54 + len32(payload.len()), &seg);
    };
    let (syn, ack, psh, fin) = (TcpFlags::SYN, TcpFlags::ACK, TcpFlags::PSH, TcpFlags::FIN);
    push(&mut analyzer, Dir::ClientToServer, syn, &[], 999, 0);
    push(&mut analyzer, Dir::ServerToClient, syn | ack, &[], 4999, 1000);
    push(&mut analyzer, Dir::ClientToServer, ack, &[], 1000, 5000);
    let side = |d: Dir| usize::from(d == Dir::ServerToClient);
    for step in steps {
        match step {
            HttpStep::Data(dir, bytes) => {
                let (me, peer) = (side(*dir), 1 - side(*dir));
                let (seq, ack_no) = (next.get(me).copied(), next.get(peer).copied());
                let (seq, ack_no) = (seq.unwrap_or(0), ack_no.unwrap_or(0));
                push(&mut analyzer, *dir, ack | psh, bytes, seq, ack_no);
                if let Some(n) = next.get_mut(me) {
                    *n = n.wrapping_add(len32(bytes.len()));
                }
            }
            // Bytes never captured: the sender's next segment leaves a
            // hole that the peer's acknowledgements show.
            HttpStep::Gap(dir, len) => {
                if let Some(n) = next.get_mut(side(*dir)) {
                    *n = n.wrapping_add(u32::from(*len));
                }
            }
        }
    }
    let [c, s] = next;
    push(&mut analyzer, Dir::ClientToServer, fin | ack, &[], c, s);
    push(&mut analyzer, Dir::ServerToClient, fin | ack, &[], s, c.wrapping_add(1));
    push(&mut analyzer, Dir::ClientToServer, ack, &[], c.wrapping_add(1), s.wrapping_add(1));
    r.finish_all(&mut analyzer);
    let started = analyzer.sessions();
    let out = analyzer.out;
    assert_eq!(out.sessions.len() as u64, started, "sessions started but never reported");
    let mut ids: Vec<u64> = out.sessions.iter().map(|s| s.id).collect();
    ids.dedup();
    assert_eq!(ids.len(), out.sessions.len(), "a session reported twice");
    for s in &out.sessions {
        check_session(s, &out, started, &opts);
    }
    assert!(out.flows.len() <= 1, "one connection, {} flows", out.flows.len());
    for f in &out.flows {
        assert!(out.sessions.is_empty(), "a flow and sessions for one connection");
        for dir in [Dir::ClientToServer, Dir::ServerToClient] {
            assert!(f.preview[dir].len() <= record::PREVIEW_LEN);
        }
    }
    out
}

/// Splits a [`session_pipeline()`] input into its options, key log and
/// script (see there).
pub(super) fn pipeline_input(data: &[u8]) -> Option<(u8, &[u8], Vec<HttpStep>)> {
    let (&flags, rest) = data.split_first()?;
    let (keylog, script) = match rest {
        [hi, lo, tail @ ..] => {
            let n = usize::from(u16::from_be_bytes([*hi, *lo])).min(tail.len());
            (tail.get(..n).unwrap_or_default(), tail.get(n..).unwrap_or_default())
        }
        _ => (&[][..], &[][..]),
    };
    Some((flags, keylog, http_script(script)))
}

/// Writes a [`session_pipeline()`] input.
pub fn pipeline_input_bytes(flags: u8, keylog: &[u8], steps: &[HttpStep]) -> Vec<u8> {
    let keylog = keylog.get(..keylog.len().min(usize::from(u16::MAX))).unwrap_or_default();
    [&[flags][..], &vec_n(2, keylog), &http_script_bytes(steps)].concat()
}

/// Fuzz body: the whole analysis of one TCP connection. Input: an options
/// byte (bit 0 field trees, bit 1 HTTP decoding, bit 2 decrypt even
/// without keys), a key log (16-bit length, text), then the connection as
/// an HTTP script of stream pieces and gaps (see [`http_script`]), which
/// becomes TCP segments (handshake, data with acknowledgements, FINs)
/// through the reassembler into an [`Analyzer`].
///
/// Checks: every session started is reported once, with frames that were
/// pushed, message bytes and trees that agree, the buffers within their
/// limits, a reason whenever decryption is not ok, no more decrypted
/// records than records, and exactly the plaintext it delivered counted
/// as decrypted application data; and the same analysis (trees aside)
/// with field trees on and off.
pub fn session_pipeline(data: &[u8]) {
    let Some((flags, keylog, steps)) = pipeline_input(data) else { return };
    let opts = |trees: bool| session::Options {
        trees,
        keep_messages: true,
        decrypt: flags & 4 != 0,
        http: flags & 2 != 0,
    };
    // A budget the input cannot reach: the two runs must agree.
    let roomy = [Budget::new(PIPELINE_ROOMY_BUDGET), Budget::new(PIPELINE_ROOMY_BUDGET)];
    let a = run_pipeline(opts(flags & 1 != 0), keylog, &steps, &roomy[0]);
    let b = run_pipeline(opts(flags & 1 == 0), keylog, &steps, &roomy[1]);
    // And one it reaches at once: cuts, connections ended early, and
    // still every session reported once, the plaintext counted exactly.
    let tight = Budget::new(PIPELINE_TIGHT_BUDGET);
    drop(run_pipeline(opts(flags & 1 != 0), keylog, &steps, &tight));
    assert_eq!(tight.used(), 0, "memory still counted when nothing is held any more");
    let digest = |o: &PipelineOut| -> Vec<String> {
        o.sessions.iter().map(|s| format!("{:?}", without_trees(s))).collect()
    };
    let (da, db) = (digest(&a), digest(&b));
    for (x, y) in da.iter().zip(&db) {
        assert!(x == y, "field trees change the analysis:\n{x}\n---\n{y}");
    }
    assert_eq!(da.len(), db.len(), "field trees change the sessions");
    assert_eq!(a.plaintext, b.plaintext, "field trees change the plaintext");
    for r in &roomy {
        assert!(r.cuts().is_empty(), "the roomy budget was reached: {:?}", r.cuts());
    }
    drop((a, b));
    for r in &roomy {
        assert_eq!(r.used(), 0, "memory still counted when nothing is held any more");
    }
}

/// A budget no [`session_pipeline()`] input reaches (16 KiB of input, its
/// field trees and decoded HTTP stay far below).
pub(super) const PIPELINE_ROOMY_BUDGET: usize = 256 << 20;

/// A budget the first sessions of a [`session_pipeline()`] input use up.
pub(super) const PIPELINE_TIGHT_BUDGET: usize = 8 << 10;
