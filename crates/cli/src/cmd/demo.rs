//! `tlsscope demo`: the whole HTTPS lab in one process, on loopback, with no
//! root and no other program. It makes the key, CSR and certificate, starts
//! the server on free ports, fetches "Hello World!" over plain HTTP and over
//! HTTPS with TLS 1.2 (as `curl --tls-max 1.2 --insecure -i` does) and TLS
//! 1.3, records every byte with the secrets, then reads that recording with
//! the same analysis `tlsscope inspect` uses and walks through it.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;
use owo_colors::OwoColorize;
use tlsscope_capture::read::{CaptureReader, Event};
use tlsscope_lab::client::{self, GetOptions, HttpChoice, Observer, Verify};
use tlsscope_lab::files::{self, Mode};
use tlsscope_lab::record::{self, Recorder};
use tlsscope_lab::server::{Identity, ServeOptions, Server};
use tlsscope_lab::tls::{TlsChoices, TlsVersion};
use tlsscope_lab::{cert, cert_show};
use tlsscope_scope::diag::Diagnostic;
use tlsscope_scope::flow::{Dir, Reassembler};
use tlsscope_scope::session::{self, Analyzer, ConnState, Flow, Options, Session};
use tlsscope_scope::time::Timestamp;

use crate::output::{EXIT_OK, Output};
use crate::render::text;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Where to leave server.key, server.csr, server.crt, demo.pcapng and
    /// sslkeylog.txt.
    #[arg(long, value_name = "DIR", default_value = "tlsscope-demo")]
    out: PathBuf,
    /// Which TLS versions to show.
    #[arg(long, value_enum, default_value = "both")]
    tls: Versions,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum Versions {
    #[value(name = "1.2")]
    V12,
    #[value(name = "1.3")]
    V13,
    Both,
}

/// Collects the body of a response.
#[derive(Default)]
struct Body(Vec<u8>, Option<String>, Option<String>);

impl Observer for Body {
    fn response(&mut self, head: &client::ResponseHead) -> std::io::Result<()> {
        self.1 = Some(head.status_line());
        Ok(())
    }
    fn tls_established(&mut self, s: &client::TlsSession) {
        self.2 = Some(format!("{} {}", s.version, s.suite));
    }
    fn body(&mut self, data: &[u8]) -> std::io::Result<()> {
        self.0.extend_from_slice(data);
        Ok(())
    }
}

/// What the analysis found in the recording.
#[derive(Default)]
struct Found {
    sessions: Vec<Session>,
    flows: Vec<Flow>,
    diags: Vec<Diagnostic>,
}

impl session::Output for Found {
    fn session(&mut self, s: Session) {
        self.sessions.push(s);
    }
    fn flow(&mut self, f: Flow) {
        self.flows.push(f);
    }
    fn diagnostic(&mut self, d: Diagnostic) {
        self.diags.push(d);
    }
}

struct Say<'a> {
    out: &'a Output,
    w: std::io::StdoutLock<'static>,
}

impl Say<'_> {
    fn step(&mut self, n: usize, title: &str) -> std::io::Result<()> {
        let head = format!("Step {n}  {title}");
        writeln!(self.w)?;
        if self.out.color {
            writeln!(self.w, "{}", head.bold().underline())
        } else {
            writeln!(self.w, "{head}\n{}", "-".repeat(head.chars().count()))
        }
    }
    fn line(&mut self, s: &str) -> std::io::Result<()> {
        writeln!(self.w, "  {s}")
    }
    fn good(&mut self, s: &str) -> std::io::Result<()> {
        if self.out.color { writeln!(self.w, "  {}", s.green()) } else { writeln!(self.w, "  {s}") }
    }
}

fn printable(bytes: &[u8], max: usize) -> String {
    bytes
        .iter()
        .take(max)
        .map(|&b| match b {
            b'\r' => "\\r".to_string(),
            b'\n' => "\\n".to_string(),
            0x20..=0x7e => (b as char).to_string(),
            _ => ".".to_string(),
        })
        .collect()
}

pub fn run(args: Args, out: &Output) -> anyhow::Result<ExitCode> {
    let started = std::time::Instant::now();
    let dir = args.out.clone();
    std::fs::create_dir_all(&dir)
        .with_context(|| format!("{}: cannot create it", dir.display()))?;
    let mut say = Say { out, w: std::io::stdout().lock() };
    writeln!(say.w, "tlsscope demo: the HTTPS lab in one process, on loopback, no root needed")?;

    // Step 1: the lab's three openssl commands.
    say.step(1, "A key, a certificate signing request and a self-signed certificate")?;
    say.line(
        "(what `openssl genrsa 2048`, `openssl req -new` and `openssl x509 -req -signkey` make)",
    )?;
    let key = cert::generate_key(cert::KeyType::Rsa2048)?;
    let sans = cert::default_sans();
    let csr = cert::make_csr(&key, "localhost", &sans)?;
    let signed = cert::sign_csr(&csr.der, &key, Some(&sans), 365)?;
    let key_path = dir.join("server.key");
    let csr_path = dir.join("server.csr");
    let crt_path = dir.join("server.crt");
    files::write(&key_path, key.serialize_pem().as_bytes(), Mode::Secret, true)?;
    files::write(&csr_path, csr.pem.as_bytes(), Mode::Public, true)?;
    files::write(&crt_path, signed.cert_pem.as_bytes(), Mode::Public, true)?;
    say.line(&format!(
        "{}  RSA 2048-bit private key (mode 0600: it is a secret)",
        key_path.display()
    ))?;
    say.line(&format!(
        "{}  the request: subject CN=localhost and the public key, signed by the key",
        csr_path.display()
    ))?;
    say.line(&format!(
        "{}  the certificate, signed by the same key (self-signed)",
        crt_path.display()
    ))?;
    let shown = cert_show::show(
        signed.cert_pem.as_bytes(),
        "server.crt",
        &cert_show::ShowOptions { private: false, color: out.color },
    )?;
    for l in shown.text.lines().filter(|l| {
        let t = l.trim_start();
        t.starts_with("Subject:")
            || t.starts_with("Issuer:")
            || t.starts_with("Not After")
            || t.starts_with("DNS:")
            || t.starts_with("Signature Algorithm:")
            || t.contains("SHA-256 Fingerprint")
            || t.starts_with("Signature:")
    }) {
        say.line(&format!("  {}", l.trim()))?;
    }

    // Step 2: the server.
    let keylog_path = dir.join("sslkeylog.txt");
    let _ = std::fs::remove_file(&keylog_path);
    let runtime =
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    let opts = ServeOptions {
        http: Some("127.0.0.1:0".parse()?),
        https: Some("127.0.0.1:0".parse()?),
        identity: Identity::Files { cert: crt_path.clone(), key: key_path.clone() },
        tls: TlsChoices::default(),
        keylog: Some(keylog_path.clone()),
    };
    let server = runtime.block_on(Server::bind(&opts))?;
    let http = server.http_addr().context("the HTTP listener has no address")?;
    let https = server.https_addr().context("the HTTPS listener has no address")?;
    say.step(2, "The server: \"Hello World!\" over HTTP and HTTPS")?;
    say.line(&format!(
        "http://127.0.0.1:{} and https://localhost:{} (free ports on loopback)",
        http.port(),
        https.port()
    ))?;
    say.line(&format!(
        "TLS 1.2 and 1.3, HTTP/1.1 and HTTP/2; the session keys go to {}",
        keylog_path.display()
    ))?;
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let serving = runtime.spawn(server.run(Arc::new(|_: &_| {}), async move {
        let _ = stop_rx.await;
    }));

    // Steps 3..: the requests, each recorded.
    let mut recorders = Vec::new();
    let mut fetch = |url: String, tls: Option<TlsVersion>| -> anyhow::Result<Body> {
        let rec = Recorder::new();
        let mut o = GetOptions::new(url);
        o.verify = Verify::Insecure;
        o.http = HttpChoice::Auto;
        o.record_into = Some(rec.clone());
        if let Some(v) = tls {
            o.tls.min = v;
            o.tls.max = v;
        }
        let mut body = Body::default();
        runtime.block_on(client::get(&o, &mut body))?;
        recorders.push(rec);
        Ok(body)
    };
    let plain = fetch(format!("http://127.0.0.1:{}/", http.port()), None)?;
    let mut tls_runs = Vec::new();
    if args.tls != Versions::V13 {
        tls_runs.push((
            TlsVersion::Tls12,
            fetch(format!("https://localhost:{}/", https.port()), Some(TlsVersion::Tls12))?,
        ));
    }
    if args.tls != Versions::V12 {
        tls_runs.push((
            TlsVersion::Tls13,
            fetch(format!("https://localhost:{}/", https.port()), Some(TlsVersion::Tls13))?,
        ));
    }
    let _ = stop_tx.send(());
    let _ = runtime.block_on(serving);
    let pcap = dir.join("demo.pcapng");
    record::write_pcapng_all(&recorders, &pcap)?;

    // Read the recording back, as `tlsscope inspect` would.
    let found = analyse(&pcap)?;
    let start = found.sessions.first().map_or(Timestamp::default(), |s| s.start);
    let style = text::Style { color: out.color, hex: false, trees: false };

    say.step(3, "Plain HTTP: GET / (like `curl -i http://localhost:8080/`)")?;
    say.line(&format!(
        "{}  →  {}",
        plain.1.as_deref().unwrap_or("?"),
        String::from_utf8_lossy(&plain.0)
    ))?;
    say.line("What went over the wire, readable by anyone who can capture it:")?;
    if let Some(f) = found.flows.first() {
        for d in [Dir::ClientToServer, Dir::ServerToClient] {
            say.line(&format!("  {:<6} {}", d.sender(), printable(&f.preview[d], 96)))?;
        }
    }
    for (i, (v, body)) in tls_runs.iter().enumerate() {
        let n = 4 + i;
        let (name, like) = match v {
            TlsVersion::Tls12 => {
                ("TLS 1.2", "curl --tls-max 1.2 --insecure -i https://localhost:8443/")
            }
            TlsVersion::Tls13 => ("TLS 1.3", "curl --insecure -i https://localhost:8443/"),
        };
        say.step(n, &format!("HTTPS with {name} (like `{like}`)"))?;
        say.line(&format!(
            "{} over {}  →  {}",
            body.1.as_deref().unwrap_or("?"),
            body.2.as_deref().unwrap_or("?"),
            String::from_utf8_lossy(&body.0)
        ))?;
        say.line("The handshake as the capture shows it:")?;
        writeln!(say.w)?;
        if let Some(s) = found.sessions.get(i) {
            text::session(&mut say.w, s, style, start)?;
            if *v == TlsVersion::Tls13 {
                say.line("In TLS 1.3 everything after the ServerHello is encrypted, the certificate included:")?;
                say.line("without the keys a capture shows only ClientHello and ServerHello in the clear.")?;
            }
            say.line("The application data is opaque without the session keys.")?;
        }
    }

    writeln!(say.w)?;
    say.good(&format!(
        "Done in {:.1} s. Left in {}:",
        started.elapsed().as_secs_f64(),
        dir.display()
    ))?;
    for (f, what) in [
        ("server.key", "private key (0600)"),
        ("server.csr", "certificate signing request"),
        ("server.crt", "self-signed certificate"),
        ("demo.pcapng", "the capture, with the session keys inside (0600)"),
        ("sslkeylog.txt", "the server's NSS key log (0600)"),
    ] {
        say.line(&format!("  {f:<14} {what}"))?;
    }
    say.line(&format!(
        "Open it in Wireshark: `wireshark {}` decrypts with no setting, the keys are in the file;",
        pcap.display()
    ))?;
    say.line(&format!(
        "or `tshark -r {} -Y http2` and `tlsscope inspect {}`.",
        pcap.display(),
        pcap.display()
    ))?;
    say.w.flush()?;
    Ok(ExitCode::from(EXIT_OK))
}

fn analyse(pcap: &Path) -> anyhow::Result<Found> {
    let mut reader = CaptureReader::open(pcap)
        .with_context(|| format!("{}: cannot read it back", pcap.display()))?;
    let mut analyzer = Analyzer::new(
        Options { trees: false, keep_messages: false, decrypt: true, http: true },
        Found::default(),
    );
    let mut tcp: Reassembler<ConnState> = Reassembler::default();
    while let Some(ev) = reader.next() {
        match ev {
            Event::Frame(f) => {
                tcp.push_frame(&mut analyzer, &f);
            }
            Event::Problem(d) => analyzer.out.diags.push(d),
            Event::Secrets { .. } | Event::Comment { .. } => {}
        }
    }
    tcp.finish_all(&mut analyzer);
    let mut found = analyzer.out;
    found.sessions.sort_by_key(|s| s.first_frame);
    found.flows.sort_by_key(|f| f.info.first_frame);
    Ok(found)
}
