//! `tlsscope get`: a curl-like client that can record what it saw.
//!
//! The body goes to stdout (or `-o FILE`), `-i` puts the status line and
//! headers before it, `-v` tells the connection's story on stderr as
//! `curl -v` does, `--record F.pcapng` writes the traffic with its secrets.

use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use tlsscope_lab::client::{
    self, GetOptions, HttpChoice, Observer, RequestHead, ResponseHead, TlsSession, Verify,
};
use tlsscope_lab::files::{self, Mode, ModeFixed};
use tlsscope_lab::tls::{self, TlsChoices, TlsVersion};

use crate::output::Output;

#[derive(clap::Args, Debug)]
#[command(after_help = "Examples:
  tlsscope get --insecure https://localhost:8443/
  tlsscope get --tls-max 1.2 --insecure -i https://localhost:8443/
  tlsscope get --cacert server.crt --record hello.pcapng https://localhost:8443/
  tlsscope get --ciphers ECDHE-RSA-AES256-GCM-SHA384 -k -v https://127.0.0.1:8443/")]
pub struct Args {
    /// The URL to fetch (http:// or https://).
    url: String,

    /// Include the status line and response headers in the output.
    #[arg(short = 'i', long)]
    include: bool,

    /// Tell what happens (connection, TLS, certificate, headers) on stderr.
    #[arg(short = 'v', long)]
    verbose: bool,

    /// Lowest TLS version to offer: 1.2 or 1.3.
    #[arg(long, value_name = "VERSION", default_value = "1.2")]
    tls_min: String,

    /// Highest TLS version to offer: 1.2 or 1.3.
    #[arg(long, value_name = "VERSION", default_value = "1.3")]
    tls_max: String,

    /// Do not verify the server's certificate (handshake signatures still are).
    #[arg(short = 'k', long, conflicts_with = "cacert")]
    insecure: bool,

    /// Trust only the certificates in FILE (PEM), e.g. the lab server's own.
    #[arg(long, value_name = "FILE")]
    cacert: Option<PathBuf>,

    /// Use HTTP/1.1 only.
    #[arg(long = "http1.1", conflicts_with = "http2")]
    http1_1: bool,

    /// Use HTTP/2: offered by ALPN on https:// (the default there), with
    /// prior knowledge (h2c) on http://.
    #[arg(long)]
    http2: bool,

    /// Cipher suites to offer, in order: OpenSSL or IANA names separated by
    /// ':' or ',' (e.g. ECDHE-RSA-AES128-GCM-SHA256:TLS_AES_128_GCM_SHA256).
    /// Only the TLS versions that have a listed suite are offered.
    #[arg(long, value_name = "LIST")]
    ciphers: Option<String>,

    /// Key exchange groups to offer, in order [default: x25519:secp256r1:secp384r1].
    #[arg(long, value_name = "LIST")]
    groups: Option<String>,

    /// Append the TLS secrets (NSS key log) to FILE, created mode 0600; an
    /// existing FILE others can read is made 0600, with a warning, and a
    /// symbolic link is refused. Without it $SSLKEYLOGFILE is used when set.
    #[arg(long, value_name = "FILE")]
    keylog: Option<PathBuf>,

    /// Write the connection as pcapng, TLS secrets inside (Wireshark and
    /// tlsscope decrypt it with no key log file); a secret like the key log:
    /// mode 0600, never through a symbolic link.
    #[arg(long, value_name = "FILE")]
    record: Option<PathBuf>,

    /// Write the output to FILE instead of stdout.
    #[arg(short = 'o', long, value_name = "FILE")]
    output: Option<PathBuf>,

    /// Extra request header, as 'Name: value' (repeatable).
    #[arg(short = 'H', long = "header", value_name = "HEADER")]
    headers: Vec<String>,

    /// Give up resolving and connecting after this many seconds.
    #[arg(long, value_name = "SECONDS", default_value = "10")]
    connect_timeout: u64,
}

pub fn run(args: Args, out: &Output) -> anyhow::Result<ExitCode> {
    let mut choices = TlsChoices {
        min: TlsVersion::parse(&args.tls_min)?,
        max: TlsVersion::parse(&args.tls_max)?,
        ..TlsChoices::default()
    };
    if let Some(c) = &args.ciphers {
        choices.suites = tls::parse_cipher_list(c)?;
    }
    if let Some(g) = &args.groups {
        choices.groups = tls::parse_group_list(g)?;
    }
    let mut headers = Vec::new();
    for h in &args.headers {
        let Some((name, value)) = h.split_once(':') else {
            return Err(tlsscope_lab::Error::new(format!("bad header {h:?}"))
                .with_hint("write headers as -H 'Name: value'")
                .into());
        };
        headers.push((name.trim().to_string(), value.trim().to_string()));
    }
    let opts = GetOptions {
        url: args.url.clone(),
        tls: choices,
        verify: if args.insecure {
            Verify::Insecure
        } else if let Some(ca) = &args.cacert {
            Verify::CaFile(ca.clone())
        } else {
            Verify::System
        },
        http: if args.http1_1 {
            HttpChoice::Http1
        } else if args.http2 {
            HttpChoice::Http2
        } else {
            HttpChoice::Auto
        },
        headers,
        keylog: args.keylog.clone(),
        record: args.record.clone(),
        record_into: None,
        connect_timeout: Duration::from_secs(args.connect_timeout.max(1)),
    };
    let sink: Box<dyn Write> = match &args.output {
        Some(p) => Box::new(std::io::BufWriter::new(files::create(p, Mode::Public, true)?.file)),
        None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
    };
    let mut printer = Printer {
        out: sink,
        include: args.include,
        verbose: args.verbose,
        broken_pipe: false,
        output: out.clone(),
    };

    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let result = runtime.block_on(client::get(&opts, &mut printer));
    let flushed = printer.out.flush();
    if printer.broken_pipe
        || matches!(&flushed, Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe)
    {
        return Ok(ExitCode::SUCCESS);
    }
    result?;
    flushed.with_context(|| match &args.output {
        Some(p) => format!("writing {}", p.display()),
        None => "writing to stdout".to_string(),
    })?;
    Ok(ExitCode::SUCCESS)
}

/// Writes the response as curl does and, with `-v`, the story on stderr.
struct Printer {
    out: Box<dyn Write>,
    include: bool,
    verbose: bool,
    broken_pipe: bool,
    /// Where warnings go and how they look.
    output: Output,
}

impl Printer {
    fn note(&self, line: &str) {
        if self.verbose {
            eprintln!("* {line}");
        }
    }

    fn check(&mut self, r: std::io::Result<()>) -> std::io::Result<()> {
        if let Err(e) = &r
            && e.kind() == std::io::ErrorKind::BrokenPipe
        {
            self.broken_pipe = true;
        }
        r
    }
}

impl Observer for Printer {
    fn trying(&mut self, addr: SocketAddr) {
        self.note(&format!("  Trying {addr}..."));
    }

    fn connected(&mut self, host: &str, local: SocketAddr, peer: SocketAddr) {
        self.note(&format!(
            "Connected to {host} ({}) port {} from {local}",
            peer.ip(),
            peer.port()
        ));
    }

    fn tls_established(&mut self, s: &TlsSession) {
        if !self.verbose {
            return;
        }
        self.note(&format!(
            "TLS connection using {} / {} ({}) / {}",
            s.version,
            s.suite,
            s.suite_openssl,
            s.group.as_deref().unwrap_or("no key exchange group")
        ));
        match &s.alpn {
            Some(p) => self.note(&format!("ALPN: server accepted {p}")),
            None => self.note("ALPN: server did not agree on a protocol"),
        }
        self.note("Server certificate:");
        if let Some(v) = &s.subject {
            self.note(&format!(" subject: {v}"));
        }
        if let Some(v) = &s.not_before {
            self.note(&format!(" start date: {v}"));
        }
        if let Some(v) = &s.not_after {
            self.note(&format!(" expire date: {v}"));
        }
        if !s.sans.is_empty() {
            self.note(&format!(" subjectAltName: {}", s.sans.join(", ")));
        }
        if let Some(v) = &s.issuer {
            self.note(&format!(" issuer: {v}"));
        }
        if let Some(v) = &s.fingerprint {
            self.note(&format!(" SHA-256 fingerprint: {v}"));
        }
        if s.verified {
            self.note(" certificate verify ok.");
        } else {
            self.note(" certificate verify skipped (--insecure).");
        }
    }

    fn request(&mut self, head: &RequestHead) {
        if !self.verbose {
            return;
        }
        eprintln!("> {}", head.line);
        for (n, v) in &head.headers {
            eprintln!("> {n}: {v}");
        }
        eprintln!(">");
    }

    fn response(&mut self, head: &ResponseHead) -> std::io::Result<()> {
        if self.verbose {
            eprintln!("< {}", head.status_line());
            for (n, v) in &head.headers {
                eprintln!("< {n}: {}", String::from_utf8_lossy(v));
            }
            eprintln!("<");
        }
        if !self.include {
            return Ok(());
        }
        let mut text = format!("{}\r\n", head.status_line()).into_bytes();
        for (n, v) in &head.headers {
            text.extend_from_slice(n.as_bytes());
            text.extend_from_slice(b": ");
            text.extend_from_slice(v);
            text.extend_from_slice(b"\r\n");
        }
        text.extend_from_slice(b"\r\n");
        let r = self.out.write_all(&text);
        self.check(r)
    }

    fn body(&mut self, data: &[u8]) -> std::io::Result<()> {
        let r = self.out.write_all(data);
        self.check(r)
    }

    fn mode_fixed(&mut self, fixed: &ModeFixed) {
        crate::output::warn(&self.output, fixed);
    }

    fn recorded(&mut self, path: &Path, with_secrets: bool) {
        let what =
            if with_secrets { "the connection, TLS secrets inside" } else { "the connection" };
        eprintln!("tlsscope: wrote {} ({what})", path.display());
    }
}
