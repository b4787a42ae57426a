//! `tlsscope capture` on the loopback interface, checked with tshark: the
//! file reads cleanly (no TCP analysis warnings, no duplicated packet), the
//! connection and the HTTP request are in it, a TLS 1.2 handshake by curl
//! is dissected (and decrypted with curl's key log). Also: stopping on
//! -c, --duration and SIGTERM; a killed capture still leaves a readable file;
//! the errors without CAP_NET_RAW, for an unknown interface and a bad filter.
//!
//! Capturing needs CAP_NET_RAW: these tests run as root (as CI does) and
//! fail, saying so, otherwise. Loopback and port 0 only; every child
//! process is killed when its test ends.

#![cfg(target_os = "linux")]

use std::collections::HashSet;
use std::io::{BufRead, BufReader, Read};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use tlsscope_capture::read::{CaptureReader, Event};

const LIMIT: Duration = Duration::from_secs(30);

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_tlsscope")
}

/// Fails (never skips) when a peer program is missing.
fn need(program: &str, package: &str) {
    let found = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join(program).is_file()))
        .unwrap_or(false);
    assert!(found, "this test needs `{program}`: install it (apt-get install {package})");
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2).map(|u| u == "0"))
        })
        .unwrap_or(false)
}

fn need_capture_rights() {
    let caps = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let eff = caps
        .lines()
        .find(|l| l.starts_with("CapEff:"))
        .and_then(|l| u64::from_str_radix(l.split_whitespace().nth(1)?, 16).ok())
        .unwrap_or(0);
    // CAP_NET_RAW is bit 13.
    assert!(
        eff & (1 << 13) != 0,
        "these tests capture on lo and need CAP_NET_RAW: run them as root (CI does)"
    );
}

struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        static N: AtomicUsize = AtomicUsize::new(0);
        let n = N.fetch_add(1, Ordering::SeqCst);
        let dir = std::env::temp_dir().join(format!("tlsscope-{tag}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    fn join(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Runs a command to completion, killing it after `limit`.
fn run(cmd: &mut Command, limit: Duration) -> Output {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    let out = child.stdout.take().unwrap();
    let err = child.stderr.take().unwrap();
    let read = |mut r: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut v = Vec::new();
            let _ = r.read_to_end(&mut v);
            v
        })
    };
    let (o, e) = (read(Box::new(out)), read(Box::new(err)));
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{cmd:?} did not finish within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Output { status, stdout: o.join().unwrap(), stderr: e.join().unwrap() }
}

/// A child killed on drop, with its stderr (or stdout) lines collected.
struct Proc {
    child: Option<Child>,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
    other: Option<std::thread::JoinHandle<Vec<u8>>>,
}

impl Proc {
    /// Starts `cmd`, reading lines of stderr (or stdout when `stdout_lines`).
    fn start(mut cmd: Command, stdout_lines: bool) -> Proc {
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
        let (lines_of, other): (Box<dyn Read + Send>, Box<dyn Read + Send>) = if stdout_lines {
            (Box::new(child.stdout.take().unwrap()), Box::new(child.stderr.take().unwrap()))
        } else {
            (Box::new(child.stderr.take().unwrap()), Box::new(child.stdout.take().unwrap()))
        };
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for l in BufReader::new(lines_of).lines() {
                let Ok(l) = l else { break };
                if tx.send(l).is_err() {
                    break;
                }
            }
        });
        let other = std::thread::spawn(move || {
            let mut v = Vec::new();
            let mut r = other;
            let _ = r.read_to_end(&mut v);
            v
        });
        Proc { child: Some(child), lines: rx, seen: Vec::new(), other: Some(other) }
    }

    /// Waits for a line containing `needle`; returns it.
    fn wait_for(&mut self, needle: &str) -> String {
        if let Some(l) = self.seen.iter().find(|l| l.contains(needle)) {
            return l.clone();
        }
        let end = Instant::now() + LIMIT;
        while let Some(left) = end.checked_duration_since(Instant::now()) {
            match self.lines.recv_timeout(left) {
                Ok(l) => {
                    self.seen.push(l.clone());
                    if l.contains(needle) {
                        return l;
                    }
                }
                Err(_) => break,
            }
        }
        panic!("no line with {needle:?}; got: {:#?}", self.seen);
    }

    fn pid(&self) -> u32 {
        self.child.as_ref().unwrap().id()
    }

    fn signal(&self, sig: &str) {
        let ok = Command::new("kill").args([sig, &self.pid().to_string()]).status().unwrap();
        assert!(ok.success());
    }

    /// Waits for the exit; returns (success, all lines, the other stream).
    fn finish(mut self) -> (std::process::ExitStatus, String, String) {
        let mut child = self.child.take().unwrap();
        let start = Instant::now();
        let status = loop {
            if let Some(s) = child.try_wait().unwrap() {
                break s;
            }
            if start.elapsed() > LIMIT {
                let _ = child.kill();
                panic!("did not exit within {LIMIT:?}; lines: {:#?}", self.seen);
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        while let Ok(l) = self.lines.recv_timeout(Duration::from_secs(2)) {
            self.seen.push(l);
        }
        let other = self.other.take().unwrap().join().unwrap();
        (status, self.seen.join("\n"), text(&other))
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// `tlsscope serve` with only plain HTTP or only HTTPS; returns it and its port.
fn serve(https: bool) -> (Proc, u16) {
    let mut cmd = Command::new(bin());
    cmd.arg("serve").env_remove("SSLKEYLOGFILE");
    if https {
        cmd.args(["--http", "none", "--https", "127.0.0.1:0"]);
    } else {
        cmd.args(["--http", "127.0.0.1:0", "--https", "none"]);
    }
    let mut p = Proc::start(cmd, true);
    let scheme = if https { "listening on https://" } else { "listening on http://" };
    let line = p.wait_for(scheme);
    let port = line.rsplit(':').next().unwrap().trim().parse().unwrap();
    (p, port)
}

/// `tlsscope capture ARGS`, returned once its banner says it is capturing.
fn capture(args: &[&str]) -> Proc {
    need_capture_rights();
    let mut cmd = Command::new(bin());
    cmd.arg("capture").args(args);
    let mut p = Proc::start(cmd, false);
    p.wait_for("capturing on");
    p
}

fn curl(args: &[&str]) -> Output {
    need("curl", "curl");
    let out = run(
        Command::new("curl").args(["--silent", "--show-error", "--max-time", "20"]).args(args),
        LIMIT,
    );
    assert!(out.status.success(), "curl {args:?}: {}", text(&out.stderr));
    out
}

fn tshark(args: &[&str]) -> String {
    need("tshark", "tshark");
    let out = run(Command::new("tshark").args(args), LIMIT);
    assert!(out.status.success(), "tshark {args:?}: {}", text(&out.stderr));
    text(&out.stdout)
}

/// The frames of a capture file, read by our reader; asserts it had no
/// problem with it.
fn frames(path: &Path) -> Vec<Vec<u8>> {
    let mut r = CaptureReader::open(path).unwrap();
    let mut out = Vec::new();
    while let Some(ev) = r.next() {
        match ev {
            Event::Frame(f) => out.push(f.data.to_vec()),
            Event::Problem(d) => panic!("{}: {d}", path.display()),
            _ => {}
        }
    }
    out
}

/// What tshark flags when a capture lost or reordered packets: a segment
/// missing before this one, an ACK for data never seen, a segment out of
/// order. Not retransmissions and the duplicate ACKs they draw: on a loaded
/// machine the kernel really sends them (a tail loss probe when an ACK is
/// late, ~20 ms on loopback), and the capture must show them. Copies the
/// capture itself would make are what [`assert_no_duplicates`] finds.
const CAPTURE_PROBLEMS: &str =
    "tcp.analysis.lost_segment || tcp.analysis.ack_lost_segment || tcp.analysis.out_of_order";

fn assert_no_duplicates(frames: &[Vec<u8>]) {
    let mut seen = HashSet::new();
    for (i, f) in frames.iter().enumerate() {
        assert!(seen.insert(f.clone()), "frame {} is a copy of an earlier one", i + 1);
    }
}

/// Stops a capture with SIGTERM once it has written `min` packets (or 10 s pass).
fn stop_after(p: Proc, file: &Path, min: usize) -> (String, String) {
    let end = Instant::now() + Duration::from_secs(10);
    // The file is flushed every quarter second.
    while Instant::now() < end {
        std::thread::sleep(Duration::from_millis(300));
        if CaptureReader::open(file).is_ok() && frames(file).len() >= min {
            break;
        }
    }
    p.signal("-TERM");
    let (status, err, out) = p.finish();
    assert!(status.success(), "capture exit {status:?}: {err}");
    (err, out)
}

fn captured_count(stderr: &str) -> usize {
    let line = stderr
        .lines()
        .find(|l| l.contains("packets captured"))
        .unwrap_or_else(|| panic!("{stderr}"));
    assert!(line.ends_with(", 0 dropped by kernel"), "{line}");
    line.split_whitespace().next().unwrap().parse().unwrap()
}

#[test]
fn plain_http_capture_reads_cleanly_in_tshark() {
    let dir = TempDir::new("capture-http");
    let file = dir.join("http.pcapng");
    let (_server, port) = serve(false);
    let p = capture(&["-i", "lo", "--port", &port.to_string(), "-w", file.to_str().unwrap()]);
    let out = curl(&[&format!("http://127.0.0.1:{port}/")]);
    assert_eq!(text(&out.stdout), "Hello World!");
    let (err, _) = stop_after(p, &file, 10);

    let frames = frames(&file);
    assert_eq!(captured_count(&err), frames.len(), "{err}");
    assert!(
        frames.len() >= 10,
        "a whole HTTP/1.1 exchange is at least 10 packets: {}",
        frames.len()
    );
    assert_no_duplicates(&frames);
    let f = file.to_str().unwrap();
    // Nothing lost or out of order.
    assert_eq!(tshark(&["-r", f, "-Y", CAPTURE_PROBLEMS]), "");
    let conv = tshark(&["-r", f, "-q", "-z", "conv,tcp"]);
    let lines: Vec<&str> = conv.lines().filter(|l| l.contains("<->")).collect();
    assert_eq!(lines.len(), 1, "{conv}");
    assert!(lines[0].contains(&format!("127.0.0.1:{port}")), "{conv}");
    let req = tshark(&[
        "-r",
        f,
        "-Y",
        "http.request",
        "-T",
        "fields",
        "-e",
        "http.request.method",
        "-e",
        "http.request.uri",
        "-e",
        "http.host",
    ]);
    assert_eq!(req.trim(), format!("GET\t/\t127.0.0.1:{port}"));
    let resp = tshark(&[
        "-r",
        f,
        "-Y",
        "http.response",
        "-T",
        "fields",
        "-e",
        "http.response.code",
        "-e",
        "http.file_data",
    ]);
    assert!(resp.starts_with("200\t"), "{resp}");
    // The interface description names the interface.
    let names = tshark(&["-r", f, "-T", "fields", "-e", "frame.interface_name"]);
    assert!(names.lines().all(|l| l == "lo"), "{names}");
    // The handshake: exactly one SYN.
    let syns = tshark(&["-r", f, "-Y", "tcp.flags.syn == 1 && tcp.flags.ack == 0"]);
    assert_eq!(syns.lines().count(), 1, "{syns}");
}

#[test]
fn curl_tls12_handshake_is_dissected_and_decrypted_by_tshark() {
    let dir = TempDir::new("capture-tls");
    let file = dir.join("tls.pcapng");
    let keys = dir.join("curl.keys");
    let (_server, port) = serve(true);
    let p = capture(&["-i", "lo", "-f", &format!("tcp port {port}"), "-w", file.to_str().unwrap()]);
    need("curl", "curl");
    let out = run(
        Command::new("curl")
            .args(["--silent", "--show-error", "--max-time", "20"])
            .args(["--tls-max", "1.2", "--insecure", &format!("https://127.0.0.1:{port}/")])
            .env("SSLKEYLOGFILE", &keys),
        LIMIT,
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "Hello World!");
    let (err, _) = stop_after(p, &file, 12);
    let frames = frames(&file);
    assert_eq!(captured_count(&err), frames.len());
    assert_no_duplicates(&frames);

    let f = file.to_str().unwrap();
    assert_eq!(tshark(&["-r", f, "-Y", CAPTURE_PROBLEMS]), "");
    // The TLS 1.2 handshake in order: ClientHello (1), ServerHello (2),
    // Certificate (11), ServerKeyExchange (12), ServerHelloDone (14),
    // ClientKeyExchange (16); the Finished messages are encrypted.
    let types =
        tshark(&["-r", f, "-Y", "tls.handshake.type", "-T", "fields", "-e", "tls.handshake.type"]);
    let types: Vec<String> =
        types.lines().flat_map(|l| l.split(',').map(str::to_string).collect::<Vec<_>>()).collect();
    for want in ["1", "2", "11", "12", "14", "16"] {
        assert!(types.iter().any(|t| t == want), "handshake type {want} missing: {types:?}");
    }
    let version = tshark(&[
        "-r",
        f,
        "-Y",
        "tls.handshake.type == 2",
        "-T",
        "fields",
        "-e",
        "tls.handshake.version",
    ]);
    assert_eq!(version.trim(), "0x0303", "ServerHello version");
    // With curl's key log, tshark decrypts the response.
    let keylog = format!("tls.keylog_file:{}", keys.display());
    let follow = tshark(&["-r", f, "-o", &keylog, "-q", "-z", "follow,tls,ascii,0"]);
    assert!(follow.contains("Hello World!"), "{follow}");
}

#[test]
fn any_interface_writes_cooked_frames_tshark_reads() {
    let dir = TempDir::new("capture-any");
    let file = dir.join("any.pcapng");
    let (_server, port) = serve(false);
    let p = capture(&["-i", "any", "--port", &port.to_string(), "-w", file.to_str().unwrap()]);
    curl(&[&format!("http://127.0.0.1:{port}/x")]);
    let (err, _) = stop_after(p, &file, 10);
    let frames = frames(&file);
    assert_eq!(captured_count(&err), frames.len());
    let f = file.to_str().unwrap();
    let lo = std::fs::read_to_string("/sys/class/net/lo/ifindex").unwrap();
    let link = tshark(&[
        "-r",
        f,
        "-T",
        "fields",
        "-e",
        "sll.ifindex",
        "-e",
        "sll.etype",
        "-e",
        "sll.hatype",
    ]);
    assert!(link.lines().all(|l| l == format!("{}\t0x0800\t772", lo.trim())), "{link}");
    assert_eq!(tshark(&["-r", f, "-Y", CAPTURE_PROBLEMS]), "");
    let req = tshark(&["-r", f, "-Y", "http.request", "-T", "fields", "-e", "http.request.uri"]);
    assert_eq!(req.trim(), "/x");
}

#[test]
fn lists_packets_and_stops_after_count() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let p = capture(&["-i", "lo", "--port", &port.to_string(), "-c", "3"]);
    // The three-way handshake is exactly three packets.
    let _c = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let (status, err, out) = p.finish();
    assert!(status.success(), "{err}");
    assert!(err.contains("3 packets captured, 0 dropped by kernel"), "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 3, "{out}");
    let to = format!("→ 127.0.0.1:{port} TCP");
    assert!(
        lines[0].starts_with("   1   0.000000 127.0.0.1:")
            && lines[0].contains(&format!("{to} [S] len 0")),
        "{out}"
    );
    assert!(
        lines[1].contains(&format!("127.0.0.1:{port} → 127.0.0.1:"))
            && lines[1].contains("TCP [S.] len 0"),
        "{out}"
    );
    assert!(lines[2].contains(&format!("{to} [.] len 0")), "{out}");
}

#[test]
fn stops_after_duration_with_nothing_captured() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let start = Instant::now();
    let p = capture(&["-i", "lo", "--port", &port.to_string(), "--duration", "0.5"]);
    let (status, err, out) = p.finish();
    assert!(status.success(), "{err}");
    assert!(start.elapsed() < Duration::from_secs(5));
    assert!(err.contains("0 packets captured, 0 dropped by kernel"), "{err}");
    assert_eq!(out, "");
}

#[test]
fn a_killed_capture_leaves_a_readable_file() {
    let dir = TempDir::new("capture-kill");
    let file = dir.join("killed.pcapng");
    let (_server, port) = serve(false);
    let p = capture(&["-i", "lo", "--port", &port.to_string(), "-w", file.to_str().unwrap()]);
    curl(&[&format!("http://127.0.0.1:{port}/")]);
    // Longer than the flush interval, then no chance to clean up.
    std::thread::sleep(Duration::from_millis(800));
    p.signal("-KILL");
    let _ = p.finish();
    let frames = frames(&file);
    assert!(frames.len() >= 10, "{} frames", frames.len());
    let req = tshark(&[
        "-r",
        file.to_str().unwrap(),
        "-Y",
        "http.request",
        "-T",
        "fields",
        "-e",
        "http.request.uri",
    ]);
    assert_eq!(req.trim(), "/");
}

#[test]
fn without_cap_net_raw_it_says_how_to_get_it() {
    // As root, drop CAP_NET_RAW from the bounding set so the exec'd binary
    // cannot have it; as anyone else, we lack it already.
    let mut cmd = if is_root() {
        need("setpriv", "util-linux");
        let mut c = Command::new("setpriv");
        c.args(["--bounding-set=-net_raw", "--inh-caps=-net_raw", "--", bin()]);
        c
    } else {
        Command::new(bin())
    };
    let out = run(cmd.args(["capture", "-i", "lo", "--port", "9"]), LIMIT);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.starts_with("tlsscope: capturing on lo needs the CAP_NET_RAW capability"), "{err}");
    assert!(err.contains("hint: run it as root"), "{err}");
    assert!(err.contains("sudo setcap cap_net_raw,cap_net_admin=eip "), "{err}");
    assert!(err.contains("tlsscope get --record"), "{err}");
    assert_eq!(text(&out.stdout), "");
}

#[test]
fn unknown_interface_lists_the_available_ones() {
    let out = run(Command::new(bin()).args(["capture", "-i", "nosuch0"]), LIMIT);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.starts_with("tlsscope: no interface named \"nosuch0\" (available: "), "{err}");
    assert!(err.contains("lo") && err.contains("any)"), "{err}");
}

#[test]
fn bad_filters_name_the_token() {
    for (filter, token) in
        [("tcp port https", "`https`"), ("vlan 5", "`vlan`"), ("tcp[13] & 2 != 0", "`[`")]
    {
        let out = run(Command::new(bin()).args(["capture", "-i", "lo", "-f", filter]), LIMIT);
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert!(err.starts_with(&format!("tlsscope: filter {filter:?}: ")), "{err}");
        assert!(err.contains(token), "{err}");
        assert!(err.contains("hint: "), "{err}");
    }
    let out =
        run(Command::new(bin()).args(["capture", "-i", "lo", "-f", "tcp", "--port", "1"]), LIMIT);
    assert_eq!(out.status.code(), Some(2), "-f and --port together");
}

#[test]
fn lists_interfaces() {
    let out = run(Command::new(bin()).args(["capture", "-D"]), LIMIT);
    assert!(out.status.success());
    let s = text(&out.stdout);
    assert!(s.lines().any(|l| l.ends_with(". lo (loopback, up)")), "{s}");
    assert!(s.lines().last().unwrap().starts_with("any "), "{s}");
}
