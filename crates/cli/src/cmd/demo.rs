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
use tlsscope_capture::read::CaptureReader;
use tlsscope_lab::client::{self, GetOptions, HttpChoice, Observer, Verify};
use tlsscope_lab::files::{self, Mode};
use tlsscope_lab::record::{self, Recorder};
use tlsscope_lab::server::{Identity, ServeOptions, Server};
use tlsscope_lab::tls::{TlsChoices, TlsVersion};
use tlsscope_lab::{cert, cert_show};
use tlsscope_scope::explain::{self, Lang};
use tlsscope_scope::flow::{Chunk, ConnInfo, Dir, EndReason, PerDir, StreamSink};
use tlsscope_scope::pipeline::{Collect, Input, Pipeline, Stage};
use tlsscope_scope::session::Options;
use tlsscope_scope::time::Timestamp;
use tlsscope_scope::tls::record::{self as tls_record, Deframer};
use tlsscope_scope::verify;

use crate::output::{EXIT_OK, LangChoice, Output};
use crate::render::{explain as explain_text, text};
use crate::report;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Where to leave server.key, server.csr, server.crt, demo.pcapng and
    /// sslkeylog.txt.
    #[arg(long, value_name = "DIR", default_value = "tlsscope-demo")]
    out: PathBuf,
    /// Which TLS versions to show.
    #[arg(long, value_enum, default_value = "both")]
    tls: Versions,
    /// Language of the explanations (default: from LANG).
    #[arg(long, value_enum, value_name = "LANG")]
    lang: Option<LangChoice>,
    /// Also write report.html into DIR: the visual report of the recording
    /// (ladder diagrams, field trees with their bytes, checks, the decrypted
    /// HTTP), one self-contained page for any browser.
    #[arg(long)]
    report: bool,
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

struct Say<'a> {
    out: &'a Output,
    lang: Lang,
    w: std::io::StdoutLock<'static>,
}

impl Say<'_> {
    /// The demo sentence `key` in the chosen language, `{name}` filled in.
    fn t(&self, key: &str, vars: &[(&str, &str)]) -> String {
        let mut s = explain::label(self.lang, key);
        for (k, v) in vars {
            s = s.replace(&format!("{{{k}}}"), v);
        }
        s
    }
    fn step(&mut self, n: usize, title: &str) -> std::io::Result<()> {
        let head = format!("{} {n}  {title}", self.t("demo.step", &[]));
        writeln!(self.w)?;
        if self.out.color {
            writeln!(self.w, "{}", head.bold().underline())
        } else {
            writeln!(self.w, "{head}\n{}", "=".repeat(explain_text::width(&head)))
        }
    }
    fn line(&mut self, s: &str) -> std::io::Result<()> {
        writeln!(self.w, "  {s}")
    }
    fn heading(&mut self, s: &str) -> std::io::Result<()> {
        writeln!(self.w)?;
        if self.out.color { writeln!(self.w, "  {}", s.bold()) } else { writeln!(self.w, "  {s}") }
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
    let lang = crate::output::lang(args.lang);
    let dir = args.out.clone();
    std::fs::create_dir_all(&dir)
        .with_context(|| format!("{}: cannot create it", dir.display()))?;
    let mut say = Say { out, lang, w: std::io::stdout().lock() };
    let title = say.t("demo.title", &[]);
    writeln!(say.w, "{title}")?;

    // Step 1: the lab's three openssl commands.
    let t = say.t("demo.step1", &[]);
    say.step(1, &t)?;
    let t = say.t("demo.step1.what", &[]);
    say.line(&t)?;
    let key = cert::generate_key(cert::KeyType::Rsa2048)?;
    let sans = cert::default_sans();
    let csr = cert::make_csr(&key, "localhost", &sans)?;
    let signed = cert::sign_csr(&csr.der, &key, Some(&sans), 365)?;
    let key_path = dir.join("server.key");
    let csr_path = dir.join("server.csr");
    let crt_path = dir.join("server.crt");
    let fixed = files::write(&key_path, key.serialize_pem().as_bytes(), Mode::Secret, true)?;
    crate::output::warn_mode_fixed(out, fixed.as_ref());
    files::write(&csr_path, csr.pem.as_bytes(), Mode::Public, true)?;
    files::write(&crt_path, signed.cert_pem.as_bytes(), Mode::Public, true)?;
    for (path, k) in [(&key_path, "demo.key"), (&csr_path, "demo.csr"), (&crt_path, "demo.crt")] {
        let l = format!("{}  {}", path.display(), say.t(k, &[]));
        say.line(&l)?;
    }
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
    let t = say.t("demo.step2", &[]);
    say.step(2, &t)?;
    let l = say.t(
        "demo.ports",
        &[
            ("http", &format!("http://127.0.0.1:{}", http.port())),
            ("https", &format!("https://localhost:{}", https.port())),
        ],
    );
    say.line(&l)?;
    let l = say.t("demo.server_keys", &[("keylog", &keylog_path.display().to_string())]);
    say.line(&l)?;
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let serving = runtime.spawn(server.run(Arc::new(|_: &_| {}), async move {
        let _ = stop_rx.await;
    }));

    // The requests, each recorded.
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
    let fixed = record::write_pcapng_all(&recorders, &pcap)?;
    crate::output::warn_mode_fixed(out, fixed.as_ref());

    // Read the recording back, as `tlsscope inspect` would: once as a
    // capture without keys shows it, once with the secrets it carries.
    let opaque = analyse(&pcap, false, false)?;
    // The report's field trees and hex views need the messages' trees.
    let found = analyse(&pcap, true, args.report)?;
    let first = first_records(&pcap)?;
    let start = found.sessions.first().map_or(Timestamp::default(), |s| s.start);
    let style = text::Style { color: out.color, hex: false, trees: false };
    let trust = crate::output::trust();

    let t = say.t("demo.step3", &[]);
    say.step(3, &t)?;
    say.line(&format!(
        "{}  →  {}",
        plain.1.as_deref().unwrap_or("?"),
        String::from_utf8_lossy(&plain.0)
    ))?;
    let t = say.t("demo.plain_wire", &[]);
    say.heading(&t)?;
    if let Some(f) = found.flows.first() {
        for d in [Dir::ClientToServer, Dir::ServerToClient] {
            say.line(&format!("  {:<6} {}", d.sender(), printable(&f.preview[d], 160)))?;
        }
        let t = say.t("demo.plain_http", &[]);
        say.heading(&t)?;
        text::http(&mut say.w, &f.decoded, style)?;
    }
    for (i, (v, body)) in tls_runs.iter().enumerate() {
        let n = 4 + i;
        let (name, like) = match v {
            TlsVersion::Tls12 => {
                ("TLS 1.2", "curl --tls-max 1.2 --insecure -i https://localhost:8443/")
            }
            TlsVersion::Tls13 => ("TLS 1.3", "curl --insecure -i https://localhost:8443/"),
        };
        let t = say.t("demo.step_tls", &[("version", name), ("like", like)]);
        say.step(n, &t)?;
        say.line(&format!(
            "{} over {}  →  {}",
            body.1.as_deref().unwrap_or("?"),
            body.2.as_deref().unwrap_or("?"),
            String::from_utf8_lossy(&body.0)
        ))?;
        let (Some(s), Some(bare)) = (found.sessions.get(i), opaque.sessions.get(i)) else {
            continue;
        };
        let t = say.t("demo.without_keys", &[]);
        say.heading(&t)?;
        writeln!(say.w)?;
        explain_text::ladder(&mut say.w, bare, style, start, lang)?;
        if *v == TlsVersion::Tls13 {
            let t = say.t("demo.tls13_encrypted", &[]);
            for l in explain_text::wrap(&t, 2, 78) {
                writeln!(say.w, "{l}")?;
            }
        }
        let t = say.t("demo.opaque", &[]);
        say.heading(&t)?;
        for d in [Dir::ClientToServer, Dir::ServerToClient] {
            let rec = bare
                .app_records
                .iter()
                .find(|r| r.from == d)
                .and_then(|r| first.get(&(s.conn, d.index(), r.frame)).map(|bytes| (r, bytes)));
            if let Some((r, bytes)) = rec {
                let head = bytes.get(..5).unwrap_or_default();
                let rest = bytes.get(5..).unwrap_or_default();
                say.line(&format!(
                    "  frame {:<4} {}  {} | {}… ({} bytes)",
                    r.frame,
                    text::arrow(d),
                    tlsscope_scope::tree::hex(head),
                    tlsscope_scope::tree::hex(rest),
                    r.len
                ))?;
            }
        }
        let t = say.t("demo.with_keys", &[("keylog", &keylog_path.display().to_string())]);
        say.heading(&t)?;
        writeln!(say.w)?;
        let checks = verify::check_session(s, &trust);
        let x = explain::explain(s, checks, lang);
        text::header(&mut say.w, s, style)?;
        writeln!(say.w)?;
        explain_text::ladder(&mut say.w, s, style, start, lang)?;
        explain_text::explained(&mut say.w, s, &x, style, start)?;
        let t = say.t("demo.decrypted", &[]);
        say.heading(&t)?;
        text::http(&mut say.w, &s.http, style)?;
        text::diagnostics(&mut say.w, s, style)?;
    }

    let report_path = dir.join("report.html");
    if args.report {
        let settings = report::Settings {
            lang,
            trust: trust.clone(),
            capture: "demo.pcapng".into(),
            limits: report::Limits::default(),
            only: Vec::new(),
        };
        let fixed = report::write_report(&found.sessions, &found.flows, settings, &report_path)?;
        crate::output::warn_mode_fixed(out, fixed.as_ref());
    }

    writeln!(say.w)?;
    let secs = format!("{:.1}", started.elapsed().as_secs_f64());
    let t = say.t("demo.done", &[("secs", &secs), ("dir", &dir.display().to_string())]);
    say.good(&t)?;
    for (f, what) in [
        ("server.key", "demo.file.key"),
        ("server.csr", "demo.file.csr"),
        ("server.crt", "demo.file.crt"),
        ("demo.pcapng", "demo.file.pcap"),
        ("sslkeylog.txt", "demo.file.keylog"),
        ("report.html", "demo.file.report"),
    ] {
        if f == "report.html" && !args.report {
            continue;
        }
        let l = format!("  {f:<14} {}", say.t(what, &[]));
        say.line(&l)?;
    }
    let p = pcap.display().to_string();
    let l = say.t("demo.wireshark", &[("pcap", &p)]);
    say.line(&l)?;
    let l = say.t("demo.tshark", &[("pcap", &p)]);
    say.line(&l)?;
    say.w.flush()?;
    Ok(ExitCode::from(EXIT_OK))
}

/// Reads the recording back with the analysis `inspect` uses: with the
/// secrets it carries (`decrypt`), or as a capture without keys shows it.
fn analyse(pcap: &Path, decrypt: bool, trees: bool) -> anyhow::Result<Collect> {
    let mut reader = CaptureReader::open(pcap)
        .with_context(|| format!("{}: cannot read it back", pcap.display()))?;
    let opts = Options { trees, keep_messages: true, decrypt, http: true };
    let mut analysis =
        Pipeline::analysis(opts, Collect::default()).named(&pcap.display().to_string());
    while let Some(ev) = reader.next() {
        match ev.input() {
            // Without them, the recording reads as a capture without keys.
            Some(Input::Secrets { .. }) if !decrypt => {}
            Some(input) => analysis.push(input),
            None => {}
        }
    }
    let mut found = analysis.finish().out;
    found.sessions.sort_by_key(|s| s.first_frame);
    found.flows.sort_by_key(|f| f.info.first_frame);
    Ok(found)
}

/// Application data records shown as captured: header and the first bytes
/// of the ciphertext.
const RECORD_SHOWN: usize = 5 + 24;

/// The first application data records of each direction, as captured,
/// by (connection, direction index, frame).
#[derive(Default)]
struct FirstRecords(std::collections::HashMap<(u64, usize, u64), Vec<u8>>);

impl StreamSink<PerDir<Deframer>> for FirstRecords {
    fn data(&mut self, info: &ConnInfo, user: &mut PerDir<Deframer>, dir: Dir, chunk: Chunk<'_>) {
        let found = &mut self.0;
        user[dir].push(&chunk, &mut |t| t == tls_record::content::APPLICATION_DATA, &mut |ev| {
            if let tls_record::Event::Record(r) = ev
                && r.header.content_type == tls_record::content::APPLICATION_DATA
                && found.len() < 64
            {
                let [v0, v1] = r.header.version.to_be_bytes();
                let [l0, l1] = r.header.len.to_be_bytes();
                let mut bytes = vec![r.header.content_type, v0, v1, l0, l1];
                let body = r.body.unwrap_or_default();
                bytes.extend_from_slice(body.get(..RECORD_SHOWN - 5).unwrap_or(body));
                found.insert((info.id, dir.index(), r.frame), bytes);
            }
        });
    }
    fn gap(&mut self, _: &ConnInfo, _: &mut PerDir<Deframer>, _: Dir, _: u64, _: u64, _: u64) {}
    fn close(&mut self, _: &ConnInfo, _: PerDir<Deframer>, _: EndReason) {}
}

impl Stage<PerDir<Deframer>> for FirstRecords {}

fn first_records(
    pcap: &Path,
) -> anyhow::Result<std::collections::HashMap<(u64, usize, u64), Vec<u8>>> {
    let mut reader = CaptureReader::open(pcap)
        .with_context(|| format!("{}: cannot read it back", pcap.display()))?;
    let mut records = Pipeline::new(FirstRecords::default());
    while let Some(ev) = reader.next() {
        if let Some(input @ Input::Frame(_)) = ev.input() {
            records.push(input);
        }
    }
    Ok(records.finish().0)
}
