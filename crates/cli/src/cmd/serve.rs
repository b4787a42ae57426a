//! `tlsscope serve`: the lab's "Hello World!" server.
//!
//! Prints where it listens (`listening on https://127.0.0.1:PORT`, with the
//! port actually bound when 0 was asked for), the certificate's fingerprint
//! and one line per request on stdout (`--quiet`: none, nor for failed
//! handshakes, so a long run's output does not grow); the server's own
//! trouble (accepting a connection failed) is a warning on stderr, quiet or
//! not; stops cleanly on Ctrl-C or SIGTERM.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use tlsscope_lab::server::{self, Event, EventSink, Identity, ServeOptions, Server};
use tlsscope_lab::tls::{self, TlsChoices, TlsVersion};

use crate::output::Output;

#[derive(clap::Args, Debug)]
#[command(after_help = "Examples:
  tlsscope serve
  curl --tls-max 1.2 --insecure -i https://localhost:8443/
  tlsscope serve --https 127.0.0.1:0 --http none --keylog keys.log
  tlsscope serve --cert server.crt --key server.key --tls-min 1.3
  tlsscope serve --quiet --https 0.0.0.0:8443 --http none")]
pub struct Args {
    /// Plain HTTP address: HOST:PORT, a port alone, or `none`. Port 0 picks a free port.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080")]
    http: String,

    /// HTTPS address: HOST:PORT, a port alone, or `none`. Port 0 picks a free port.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8443")]
    https: String,

    /// Certificate (PEM, chain allowed) to present; without it a fresh
    /// self-signed RSA-2048 certificate for localhost is made.
    #[arg(long, value_name = "FILE", requires = "key")]
    cert: Option<PathBuf>,

    /// Private key of --cert (PEM: PKCS#8, PKCS#1 or SEC1).
    #[arg(long, value_name = "FILE", requires = "cert")]
    key: Option<PathBuf>,

    /// Lowest TLS version accepted: 1.2 or 1.3.
    #[arg(long, value_name = "VERSION", default_value = "1.2")]
    tls_min: String,

    /// Highest TLS version accepted: 1.2 or 1.3.
    #[arg(long, value_name = "VERSION", default_value = "1.3")]
    tls_max: String,

    /// Append the TLS secrets (NSS key log) to FILE, created mode 0600; an
    /// existing FILE others can read is made 0600, with a warning, and a
    /// symbolic link is refused. Without it $SSLKEYLOGFILE is used when set.
    #[arg(long, value_name = "FILE")]
    keylog: Option<PathBuf>,

    /// Key exchange groups in preference order, separated by ':' or ','
    /// [default: x25519:secp256r1:secp384r1; also X25519MLKEM768, SecP256r1MLKEM768].
    #[arg(long, value_name = "LIST")]
    groups: Option<String>,

    /// Cipher suites in preference order (OpenSSL or IANA names, ':' or ','
    /// separated) [default: AES-128-GCM, AES-256-GCM, ChaCha20-Poly1305].
    #[arg(long, value_name = "LIST")]
    ciphers: Option<String>,

    /// No line per request or failed TLS handshake; where it listens, a
    /// failure to accept connections and "stopped" are still printed.
    #[arg(short, long)]
    quiet: bool,
}

pub fn run(args: Args, out: &Output) -> anyhow::Result<ExitCode> {
    let mut choices = TlsChoices {
        min: TlsVersion::parse(&args.tls_min)?,
        max: TlsVersion::parse(&args.tls_max)?,
        ..TlsChoices::default()
    };
    if let Some(g) = &args.groups {
        choices.groups = tls::parse_group_list(g)?;
    }
    if let Some(c) = &args.ciphers {
        choices.suites = tls::parse_cipher_list(c)?;
    }
    // Checked now so a bad combination fails before anything listens.
    choices.versions()?;
    let identity = match (args.cert, args.key) {
        (Some(cert), Some(key)) => Identity::Files { cert, key },
        _ => Identity::Generate,
    };
    let opts = ServeOptions {
        http: server::parse_listen_addr(&args.http)?,
        https: server::parse_listen_addr(&args.https)?,
        identity,
        tls: choices,
        keylog: args.keylog,
    };

    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async {
        // Registered before the banner, so a SIGTERM sent as soon as the
        // address is printed already stops us cleanly.
        let shutdown = shutdown_signal()?;
        let server = Server::bind(&opts).await?;
        crate::output::warn_mode_fixed(out, server.keylog_mode_fixed());
        banner(&server);
        let quiet = args.quiet;
        let err_out = out.clone();
        let sink: EventSink = Arc::new(move |event: &Event| {
            if !event.per_connection() {
                // The server's own trouble (accepting failed): a warning on
                // stderr, never dropped, never mixed into the request log.
                crate::output::warn(&err_out, event);
            } else if !quiet {
                // A vanished log reader must not stop the server.
                let _ = writeln!(std::io::stdout().lock(), "{event}");
            }
        });
        server.run(sink, shutdown).await?;
        let _ = writeln!(std::io::stdout().lock(), "stopped");
        Ok(ExitCode::SUCCESS)
    })
}

fn banner(server: &Server) {
    let mut lines = Vec::new();
    if let Some(cert) = server.certificate() {
        if cert.generated {
            lines.push(format!(
                "certificate: self-signed, made now, RSA 2048, subject {} (not trusted by \
                 clients: use --insecure)",
                cert.subject
            ));
        } else {
            lines.push(format!("certificate: subject {}", cert.subject));
        }
        lines.push(format!("certificate SHA-256 fingerprint: {}", cert.fingerprint));
    }
    if let Some(k) = server.keylog_path() {
        lines.push(format!("writing TLS secrets (NSS key log) to {}", k.display()));
    }
    if let Some(a) = server.http_addr() {
        lines.push(format!("listening on http://{a}"));
    }
    if let Some(a) = server.https_addr() {
        lines.push(format!("listening on https://{a}"));
    }
    if let Some(a) = server.https_addr() {
        let host = if a.ip().is_loopback() { "localhost".to_string() } else { a.ip().to_string() };
        lines.push(format!(
            "try: curl --tls-max 1.2 --insecure -i https://{host}:{}/   (Ctrl-C stops)",
            a.port()
        ));
    }
    let mut out = std::io::stdout().lock();
    for l in lines {
        let _ = writeln!(out, "{l}");
    }
    let _ = out.flush();
}

/// Resolves on SIGINT (Ctrl-C) or SIGTERM.
fn shutdown_signal() -> anyhow::Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut int = signal(SignalKind::interrupt())?;
    let mut term = signal(SignalKind::terminate())?;
    Ok(async move {
        tokio::select! {
            _ = int.recv() => {}
            _ = term.recv() => {}
        }
    })
}
