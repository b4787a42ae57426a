//! Shared by the `serve` and `get` integration tests: temp dirs, a running
//! `tlsscope serve` that is always killed (even when a test fails), external
//! peers run with a time limit, and the check that a peer is installed.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// The binary under test.
pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_tlsscope")
}

/// Fails the test (never skips it) when a peer program is missing.
pub fn need(program: &str, package: &str) {
    let found = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join(program).is_file()))
        .unwrap_or(false);
    assert!(
        found,
        "this interop test needs `{program}`: install it (apt-get install {package}) \
         or run ./scripts/test as root, which installs it"
    );
}

/// A directory removed when dropped.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static N: AtomicUsize = AtomicUsize::new(0);
        let n = N.fetch_add(1, Ordering::SeqCst);
        let dir = std::env::temp_dir().join(format!("tlsscope-{tag}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    pub fn join(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A running `tlsscope serve`, killed on drop.
pub struct Server {
    child: Option<Child>,
    log: Arc<(Mutex<String>, Condvar)>,
    pub http: Option<SocketAddr>,
    pub https: Option<SocketAddr>,
}

impl Server {
    /// Starts `tlsscope serve ARGS` (pass `--http`/`--https` with port 0)
    /// and waits for its `listening on` lines.
    pub fn start(args: &[&str]) -> Server {
        let mut cmd = Command::new(bin());
        cmd.arg("serve").args(args).env_remove("SSLKEYLOGFILE");
        Server::start_command(cmd)
    }

    /// As [`Server::start`] for a prepared `tlsscope serve` command.
    pub fn start_command(cmd: Command) -> Server {
        Server::try_start(cmd).unwrap_or_else(|out| panic!("serve did not start:\n{out}"))
    }

    /// Starts the command; returns what it printed if it exited instead.
    pub fn try_start(mut cmd: Command) -> Result<Server, String> {
        let args: Vec<String> = cmd.get_args().map(|a| a.to_string_lossy().into_owned()).collect();
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn tlsscope serve");
        let log = Arc::new((Mutex::new(String::new()), Condvar::new()));
        for stream in [
            Box::new(child.stdout.take().unwrap()) as Box<dyn std::io::Read + Send>,
            Box::new(child.stderr.take().unwrap()),
        ] {
            let log = log.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines() {
                    let Ok(line) = line else { break };
                    let (text, cv) = &*log;
                    let mut t = text.lock().unwrap();
                    t.push_str(&line);
                    t.push('\n');
                    cv.notify_all();
                }
            });
        }
        let mut server = Server { child: Some(child), log, http: None, https: None };
        let wants_http = !args.windows(2).any(|w| w[0] == "--http" && w[1] == "none");
        let wants_https = !args.windows(2).any(|w| w[0] == "--https" && w[1] == "none");
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let text = server.log();
            server.http = find_addr(&text, "listening on http://");
            server.https = find_addr(&text, "listening on https://");
            if (!wants_http || server.http.is_some()) && (!wants_https || server.https.is_some()) {
                return Ok(server);
            }
            if let Some(child) = server.child.as_mut()
                && let Ok(Some(_)) = child.try_wait()
            {
                std::thread::sleep(Duration::from_millis(100));
                return Err(server.log());
            }
            assert!(Instant::now() < deadline, "serve printed no address in 20 s:\n{text}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Everything it printed so far (stdout and stderr).
    pub fn log(&self) -> String {
        self.log.0.lock().unwrap().clone()
    }

    /// Waits until the log contains `needle` (log lines are written after
    /// the response, so a client can finish first).
    pub fn wait_for_log(&self, needle: &str) -> String {
        let (text, cv) = &*self.log;
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut t = text.lock().unwrap();
        while !t.contains(needle) {
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(!left.is_zero(), "server log never showed {needle:?}:\n{t}");
            t = cv.wait_timeout(t, left).unwrap().0;
        }
        t.clone()
    }

    pub fn http_url(&self, path: &str) -> String {
        format!("http://{}{path}", self.http.expect("http listener"))
    }

    /// `https://localhost:PORT/path` (the certificate is for localhost).
    pub fn https_url(&self, path: &str) -> String {
        format!("https://localhost:{}{path}", self.https.expect("https listener").port())
    }

    pub fn https_port(&self) -> u16 {
        self.https.expect("https listener").port()
    }

    /// Sends `signal` (TERM, INT) and waits (at most 10 s) for the exit.
    pub fn stop_with(self, signal: &str) -> ExitStatus {
        self.stop_and_log(signal).0
    }

    /// [`Server::stop_with`], then everything it printed, through its
    /// last line ("stopped").
    pub fn stop_and_log(mut self, signal: &str) -> (ExitStatus, String) {
        let status = self.stop(signal);
        // The exit closes the pipes; their readers may still be appending.
        let log = self.wait_for_log("stopped\n");
        (status, log)
    }

    fn stop(&mut self, signal: &str) -> ExitStatus {
        let mut child = self.child.take().unwrap();
        let st =
            Command::new("kill").arg(format!("-{signal}")).arg(child.id().to_string()).status();
        assert!(st.is_ok_and(|s| s.success()), "kill -{signal} failed");
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                return status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("serve did not stop within 10 s of SIG{signal}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn find_addr(text: &str, prefix: &str) -> Option<SocketAddr> {
    text.lines().find_map(|l| l.strip_prefix(prefix)).and_then(|a| a.trim().parse().ok())
}

/// Runs a command with a time limit, killing it when the limit passes.
pub fn run(cmd: &mut Command, limit: Duration) -> Output {
    let child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {cmd:?}: {e}"));
    let pid = child.id();
    let done = Arc::new(Mutex::new(false));
    let done2 = done.clone();
    // A watchdog, so a hung peer fails the test instead of hanging it.
    std::thread::spawn(move || {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if *done2.lock().unwrap() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        if !*done2.lock().unwrap() {
            let _ = Command::new("kill").arg("-KILL").arg(pid.to_string()).status();
        }
    });
    let out = child.wait_with_output().unwrap();
    *done.lock().unwrap() = true;
    out
}

/// Runs `tlsscope ARGS` (no SSLKEYLOGFILE from the environment).
pub fn tlsscope(args: &[&str]) -> Output {
    run(Command::new(bin()).args(args).env_remove("SSLKEYLOGFILE"), Duration::from_secs(60))
}

pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// A port nothing listens on (bound, then closed again).
pub fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// The `/bytes/N` content, written from its definition (64-byte lines,
/// each `%08x ` of its own offset, 54 filler bytes and a newline).
pub fn expected_bytes(n: usize) -> Vec<u8> {
    let filler = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ01";
    let mut out = Vec::new();
    let mut off = 0;
    while out.len() < n {
        out.extend_from_slice(format!("{off:08x} ").as_bytes());
        out.extend_from_slice(filler);
        out.push(b'\n');
        off += 64;
    }
    out.truncate(n);
    out
}

/// The key log's lines as (label, client random).
pub fn keylog_entries(path: &Path) -> Vec<(String, String)> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let mut f = l.split(' ');
            Some((f.next()?.to_string(), f.next()?.to_string()))
        })
        .collect()
}

/// Writes a fresh lab certificate and key (RSA-2048, CN=localhost, SAN
/// localhost/127.0.0.1/::1) to DIR/server.crt and DIR/server.key.
pub fn make_cert(dir: &TempDir) -> (PathBuf, PathBuf) {
    use tlsscope_lab::cert::{CertSpec, KeyType, generate_self_signed};
    let made = generate_self_signed(KeyType::Rsa2048, &CertSpec::default()).unwrap();
    let (c, k) = (dir.join("server.crt"), dir.join("server.key"));
    std::fs::write(&c, made.cert_pem).unwrap();
    std::fs::write(&k, made.key_pem).unwrap();
    (c, k)
}
