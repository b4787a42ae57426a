//! The demo server behind `tlsscope serve`: "Hello World!" over plain HTTP
//! and HTTPS, HTTP/1.1 and HTTP/2 (ALPN `h2`/`http/1.1` on TLS; prior-knowledge
//! h2c on plain TCP), TLS 1.2 and 1.3 with the lab's suite and group order
//! (see [`crate::tls`]), the NSS key log on request, one log event per request.
//!
//! Routes: `/` (the greeting), `/bytes/N` (N bytes of a self-describing
//! pattern, see [`pattern`], at most [`MAX_BYTES`]) and `/echo` (the request
//! line and headers as text); anything else is 404.

use std::convert::Infallible;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};
use std::time::Duration;

use bytes::Bytes;
use hyper::body::{Frame, Incoming, SizeHint};
use hyper::{Method, Request, Response, StatusCode, Version};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::sign::{CertifiedKey, SingleCertAndKey};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};

use crate::cert::{self, CertSpec, KeyType};
use crate::error::{Error, Result};
use crate::files::ModeFixed;
use crate::keylog::KeyLogWriter;
use crate::tls::{self, TlsChoices};

/// The largest `/bytes/N` served; above it the answer is 400. Big enough for
/// many full-size TLS records, small enough that a typo does not stream
/// gigabytes into a capture.
pub const MAX_BYTES: u64 = 64 * 1024 * 1024;

/// The greeting on `/`.
pub const HELLO: &str = "Hello World!";

/// Default plain HTTP address.
pub const DEFAULT_HTTP: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 8080);
/// Default HTTPS address.
pub const DEFAULT_HTTPS: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 8443);

/// A TLS handshake that has not finished by then is dropped, so an idle
/// client cannot hold a connection (and a task) forever.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// How long open connections get to finish after Ctrl-C / SIGTERM.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

/// `/bytes/N` bodies are produced in pieces of this size, so a large body
/// never sits in memory whole.
const BYTES_CHUNK: u64 = 64 * 1024;

/// Where the server's certificate comes from.
#[derive(Clone, Debug)]
pub enum Identity {
    /// A fresh RSA-2048 self-signed certificate for localhost.
    Generate,
    /// PEM (or DER) files: the certificate chain and its private key
    /// (PKCS#8, PKCS#1 or SEC1).
    Files {
        /// Certificate chain, end-entity first.
        cert: PathBuf,
        /// The private key of the first certificate.
        key: PathBuf,
    },
}

/// What `tlsscope serve` was asked for.
#[derive(Clone, Debug)]
pub struct ServeOptions {
    /// Plain HTTP address, or none.
    pub http: Option<SocketAddr>,
    /// HTTPS address, or none.
    pub https: Option<SocketAddr>,
    /// The certificate to present.
    pub identity: Identity,
    /// Versions, suites and groups.
    pub tls: TlsChoices,
    /// Key log file; `$SSLKEYLOGFILE` is used when this is `None`.
    pub keylog: Option<PathBuf>,
}

impl Default for ServeOptions {
    fn default() -> Self {
        ServeOptions {
            http: Some(DEFAULT_HTTP),
            https: Some(DEFAULT_HTTPS),
            identity: Identity::Generate,
            tls: TlsChoices::default(),
            keylog: None,
        }
    }
}

/// Parses a listen address: `127.0.0.1:8080`, `[::1]:8443`, `localhost:8080`,
/// a bare port (`8080`, on 127.0.0.1) or `none` (the listener is off).
pub fn parse_listen_addr(s: &str) -> Result<Option<SocketAddr>> {
    let s = s.trim();
    if s.eq_ignore_ascii_case("none") || s.eq_ignore_ascii_case("off") {
        return Ok(None);
    }
    if let Ok(a) = s.parse::<SocketAddr>() {
        return Ok(Some(a));
    }
    let bad = || {
        Error::new(format!("bad listen address {s:?}"))
            .with_hint("write HOST:PORT (127.0.0.1:8443, [::1]:8443), a port alone, or none")
    };
    if let Ok(port) = s.parse::<u16>() {
        return Ok(Some(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port)));
    }
    match s.rsplit_once(':') {
        Some((host, port)) if host.eq_ignore_ascii_case("localhost") => {
            let port = port.parse::<u16>().map_err(|_| bad())?;
            Ok(Some(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port)))
        }
        _ => Err(bad()),
    }
}

/// The certificate the server presents, for the startup banner.
#[derive(Clone, Debug)]
pub struct CertInfo {
    /// DER of the end-entity certificate.
    pub der: Vec<u8>,
    /// Subject as `CN=localhost`.
    pub subject: String,
    /// SHA-256 fingerprint, colon hex.
    pub fingerprint: String,
    /// Whether it was made at startup (self-signed) rather than loaded.
    pub generated: bool,
}

/// One thing worth a log line.
#[derive(Clone, Debug)]
pub enum Event {
    /// A request was answered.
    Request(RequestLog),
    /// A TLS handshake failed (the client's alert, a timeout, ...).
    TlsFailed {
        /// The client.
        client: SocketAddr,
        /// Why.
        error: String,
    },
    /// Accepting a connection failed (e.g. out of file descriptors).
    AcceptFailed {
        /// Why.
        error: String,
    },
}

impl Event {
    /// Whether the event is about one connection (a request, a failed
    /// handshake), as opposed to the server itself: a busy server has as
    /// many of them as it has clients, and `serve --quiet` drops them.
    pub fn per_connection(&self) -> bool {
        match self {
            Event::Request(_) | Event::TlsFailed { .. } => true,
            Event::AcceptFailed { .. } => false,
        }
    }
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Event::Request(r) => r.fmt(f),
            Event::TlsFailed { client, error } => {
                write!(f, "{client} TLS handshake failed: {error}")
            }
            Event::AcceptFailed { error } => write!(f, "accept failed: {error}"),
        }
    }
}

/// The negotiated TLS parameters of a connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsInfo {
    /// `TLSv1.2` / `TLSv1.3`.
    pub version: String,
    /// IANA cipher suite name.
    pub suite: String,
    /// Key exchange group (`x25519`), if one was used.
    pub group: Option<String>,
    /// The ALPN protocol (`h2`, `http/1.1`), if one was agreed.
    pub alpn: Option<String>,
}

/// One answered request: what the access log line shows.
#[derive(Clone, Debug)]
pub struct RequestLog {
    /// The client's address.
    pub client: SocketAddr,
    /// `HTTP/1.1`, `HTTP/2`, ...
    pub http_version: &'static str,
    /// TLS parameters, `None` on plain HTTP.
    pub tls: Option<TlsInfo>,
    /// Request method.
    pub method: String,
    /// Path and query.
    pub path: String,
    /// Response status code.
    pub status: u16,
    /// Response body bytes.
    pub bytes: u64,
}

impl fmt::Display for RequestLog {
    /// `127.0.0.1:50312 HTTP/2 TLSv1.2 TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256
    /// x25519 alpn=h2 "GET /" 200 12`; plain HTTP shows `plain - - alpn=-`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} ", self.client, self.http_version)?;
        match &self.tls {
            Some(t) => write!(
                f,
                "{} {} {} alpn={}",
                t.version,
                t.suite,
                t.group.as_deref().unwrap_or("-"),
                t.alpn.as_deref().unwrap_or("-")
            )?,
            None => f.write_str("plain - - alpn=-")?,
        }
        // The path is the client's: escape it so it cannot forge log lines.
        write!(
            f,
            " \"{} {}\" {} {}",
            self.method,
            self.path.escape_debug(),
            self.status,
            self.bytes
        )
    }
}

/// Receives the server's log events.
pub type EventSink = Arc<dyn Fn(&Event) + Send + Sync>;

/// A bound server, ready to [`run`](Server::run).
pub struct Server {
    http: Option<TcpListener>,
    https: Option<(TcpListener, tokio_rustls::TlsAcceptor)>,
    cert: Option<CertInfo>,
    keylog: Option<Arc<KeyLogWriter>>,
}

impl Server {
    /// Loads or makes the certificate, builds the TLS configuration and binds
    /// the listeners. Errors (a key that does not match, a port in use) come
    /// back here, before anything is served.
    pub async fn bind(opts: &ServeOptions) -> Result<Server> {
        if opts.http.is_none() && opts.https.is_none() {
            return Err(Error::new("both listeners are off (--http none --https none)")
                .with_hint("give at least one of --http ADDR or --https ADDR"));
        }
        let mut cert = None;
        let mut keylog = None;
        let mut acceptor = None;
        if opts.https.is_some() {
            let provider = opts.tls.provider();
            let (certified, info) = load_identity(&opts.identity, &provider)?;
            let versions = opts.tls.versions()?;
            let mut config = rustls::ServerConfig::builder_with_provider(provider)
                .with_protocol_versions(&versions)
                .map_err(|e| Error::new(format!("TLS configuration: {e}")))?
                .with_no_client_auth()
                .with_cert_resolver(Arc::new(SingleCertAndKey::from(certified)));
            // Our order, not the client's: curl/OpenSSL lists AES-256-GCM
            // first, the lab wants the AES-128-GCM suites to be chosen.
            config.ignore_client_order = true;
            config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
            if let Some(w) = KeyLogWriter::open(opts.keylog.as_deref(), None)? {
                config.key_log = w.clone();
                keylog = Some(w);
            }
            cert = Some(info);
            acceptor = Some(tokio_rustls::TlsAcceptor::from(Arc::new(config)));
        }
        let http = match opts.http {
            Some(a) => Some(bind(a, "--http").await?),
            None => None,
        };
        let https = match (opts.https, acceptor) {
            (Some(a), Some(acc)) => Some((bind(a, "--https").await?, acc)),
            _ => None,
        };
        Ok(Server { http, https, cert, keylog })
    }

    /// The plain HTTP address actually bound (port 0 resolved).
    pub fn http_addr(&self) -> Option<SocketAddr> {
        self.http.as_ref().and_then(|l| l.local_addr().ok())
    }

    /// The HTTPS address actually bound (port 0 resolved).
    pub fn https_addr(&self) -> Option<SocketAddr> {
        self.https.as_ref().and_then(|(l, _)| l.local_addr().ok())
    }

    /// The certificate presented on HTTPS.
    pub fn certificate(&self) -> Option<&CertInfo> {
        self.cert.as_ref()
    }

    /// The key log file being written, if any.
    pub fn keylog_path(&self) -> Option<&Path> {
        self.keylog.as_ref().and_then(|k| k.path())
    }

    /// The key log's mode, when the file existed, others could read it and
    /// it was made owner-only: a warning for the user.
    pub fn keylog_mode_fixed(&self) -> Option<&ModeFixed> {
        self.keylog.as_ref().and_then(|k| k.mode_fixed())
    }

    /// Serves until `shutdown` completes, then stops accepting and gives open
    /// connections [`SHUTDOWN_GRACE`] to finish.
    pub async fn run(
        self,
        events: EventSink,
        shutdown: impl std::future::Future<Output = ()>,
    ) -> Result<()> {
        let (stop_tx, stop_rx) = watch::channel(false);
        // Every connection task holds a clone of `done_tx`; when the last one
        // is dropped `done_rx.recv()` returns None: all connections are over.
        let (done_tx, mut done_rx) = mpsc::channel::<()>(1);
        let mut loops = Vec::new();
        if let Some(l) = self.http {
            let ctx = ConnCtx {
                tls: None,
                events: events.clone(),
                stop: stop_rx.clone(),
                done: done_tx.clone(),
            };
            loops.push(tokio::spawn(accept_loop(l, ctx)));
        }
        if let Some((l, acceptor)) = self.https {
            let ctx = ConnCtx {
                tls: Some(acceptor),
                events: events.clone(),
                stop: stop_rx.clone(),
                done: done_tx.clone(),
            };
            loops.push(tokio::spawn(accept_loop(l, ctx)));
        }
        drop(done_tx);
        shutdown.await;
        let _ = stop_tx.send(true);
        for l in loops {
            let _ = l.await;
        }
        let _ = tokio::time::timeout(SHUTDOWN_GRACE, done_rx.recv()).await;
        if let Some(err) = self.keylog.as_ref().and_then(|k| k.error()) {
            return Err(Error::new(format!("writing the key log failed: {err}")));
        }
        Ok(())
    }
}

async fn bind(addr: SocketAddr, flag: &str) -> Result<TcpListener> {
    TcpListener::bind(addr).await.map_err(|e| {
        let err = Error::new(format!("cannot listen on {addr}: {e}"));
        match e.kind() {
            std::io::ErrorKind::AddrInUse => err.with_hint(format!(
                "another program uses that port: stop it, or choose another with {flag} ADDR \
                 (port 0 picks a free one)"
            )),
            std::io::ErrorKind::PermissionDenied => err.with_hint(format!(
                "ports below 1024 need privileges: choose another with {flag} ADDR"
            )),
            std::io::ErrorKind::AddrNotAvailable => err.with_hint(
                "that address is not on this machine: use 127.0.0.1 (or 0.0.0.0 for all)",
            ),
            _ => err,
        }
    })
}

/// Loads (or makes) the certificate and key and checks that they belong
/// together.
fn load_identity(
    identity: &Identity,
    provider: &rustls::crypto::CryptoProvider,
) -> Result<(CertifiedKey, CertInfo)> {
    let (chain, key, generated, cert_name, key_name) = match identity {
        Identity::Generate => {
            let made = cert::generate_self_signed(KeyType::Rsa2048, &CertSpec::default())?;
            let key = PrivateKeyDer::try_from(made.key_der)
                .map_err(|e| Error::new(format!("the generated key: {e}")))?;
            let chain = vec![CertificateDer::from(made.cert_der)];
            (chain, key, true, "the generated certificate".to_string(), "its key".to_string())
        }
        Identity::Files { cert, key } => {
            let chain = tls::load_cert_chain(cert)?;
            let key_der = tls::load_private_key(key)?;
            (chain, key_der, false, cert.display().to_string(), key.display().to_string())
        }
    };
    let end_entity = chain.first().map(|c| c.as_ref().to_vec()).unwrap_or_default();
    let (subject, cert_spki) = match x509_parser::parse_x509_certificate(&end_entity) {
        Ok((_, c)) => (c.subject().to_string(), c.public_key().raw.to_vec()),
        Err(e) => {
            return Err(Error::new(format!("{cert_name}: not a valid X.509 certificate: {e}"))
                .with_hint("pass a PEM certificate (-----BEGIN CERTIFICATE-----)"));
        }
    };
    let signing_key = provider.key_provider.load_private_key(key).map_err(|e| {
        Error::new(format!("{key_name}: cannot use this key: {e}")).with_hint(
            "the key must be RSA (2048 bits or more), ECDSA P-256/P-384 or Ed25519, \
             in PEM (PKCS#8, PKCS#1 or SEC1)",
        )
    })?;
    let mismatch = || {
        Error::new(format!("{key_name} does not match the certificate {cert_name}"))
            .with_hint("pass the private key the certificate was made for (--key)")
    };
    let certified = CertifiedKey::new(chain, signing_key);
    match certified.keys_match() {
        Ok(()) | Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::Unknown)) => {}
        Err(rustls::Error::InconsistentKeys(_)) => return Err(mismatch()),
        // webpki cannot parse every certificate a server may present (an
        // X.509 v1 certificate, as `openssl x509 -req` makes, is one):
        // compare the public keys ourselves.
        Err(_) => {
            if certified.key.public_key().is_some_and(|k| k.as_ref() != cert_spki.as_slice()) {
                return Err(mismatch());
            }
        }
    }
    let info = CertInfo {
        fingerprint: cert::sha256_fingerprint(&end_entity),
        der: end_entity,
        subject,
        generated,
    };
    Ok((certified, info))
}

/// What every connection task of one listener shares.
#[derive(Clone)]
struct ConnCtx {
    tls: Option<tokio_rustls::TlsAcceptor>,
    events: EventSink,
    stop: watch::Receiver<bool>,
    done: mpsc::Sender<()>,
}

/// Resolves once shutdown was asked for. (The guard `wait_for` returns is
/// not `Send`, so it must not live in a spawned task's state.)
async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}

async fn accept_loop(listener: TcpListener, ctx: ConnCtx) {
    let mut stop = ctx.stop.clone();
    loop {
        tokio::select! {
            _ = stopped(&mut stop) => break,
            accepted = listener.accept() => match accepted {
                Ok((tcp, peer)) => {
                    tokio::spawn(serve_conn(tcp, peer, ctx.clone()));
                }
                Err(e) => {
                    (ctx.events)(&Event::AcceptFailed { error: e.to_string() });
                    // e.g. EMFILE: retrying at once would spin.
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    }
}

/// Which HTTP versions to speak on a connection.
#[derive(Clone, Copy)]
enum Proto {
    /// Sniff the HTTP/2 connection preface (plain TCP: h2c prior knowledge).
    Auto,
    H1,
    H2,
}

async fn serve_conn(tcp: TcpStream, peer: SocketAddr, ctx: ConnCtx) {
    // Small responses go out at once instead of waiting for Nagle.
    let _ = tcp.set_nodelay(true);
    let Some(acceptor) = ctx.tls.clone() else {
        let info = ConnInfo { client: peer, tls: None };
        serve_http(TokioIo::new(tcp), info, Proto::Auto, ctx).await;
        return;
    };
    let stream = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => {
            (ctx.events)(&Event::TlsFailed { client: peer, error: e.to_string() });
            return;
        }
        Err(_) => {
            (ctx.events)(&Event::TlsFailed {
                client: peer,
                error: format!("no handshake within {} s", HANDSHAKE_TIMEOUT.as_secs()),
            });
            return;
        }
    };
    let (_, conn) = stream.get_ref();
    let alpn = conn.alpn_protocol().map(|p| String::from_utf8_lossy(p).into_owned());
    let proto = match alpn.as_deref() {
        Some("h2") => Proto::H2,
        Some("http/1.1") => Proto::H1,
        _ => Proto::Auto,
    };
    let tls = TlsInfo {
        version: conn.protocol_version().map(tls::version_name).unwrap_or_else(|| "-".into()),
        suite: conn
            .negotiated_cipher_suite()
            .map(|s| tls::suite_name(s.suite()))
            .unwrap_or_else(|| "-".into()),
        group: conn.negotiated_key_exchange_group().map(|g| tls::group_name(g.name())),
        alpn,
    };
    serve_http(TokioIo::new(stream), ConnInfo { client: peer, tls: Some(tls) }, proto, ctx).await;
}

/// Per-connection facts every request's log line repeats.
struct ConnInfo {
    client: SocketAddr,
    tls: Option<TlsInfo>,
}

async fn serve_http<I>(io: I, info: ConnInfo, proto: Proto, ctx: ConnCtx)
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let info = Arc::new(info);
    let events = ctx.events.clone();
    let service = hyper::service::service_fn(move |req: Request<Incoming>| {
        let info = info.clone();
        let events = events.clone();
        async move {
            let (resp, log) = respond(&req, &info);
            events(&Event::Request(log));
            Ok::<_, Infallible>(resp)
        }
    });
    let mut builder = auto::Builder::new(TokioExecutor::new());
    // With a timer hyper enforces its 30 s limit for an HTTP/1 request head,
    // so a client that connects and sends nothing slowly cannot hold on.
    builder.http1().timer(TokioTimer::new());
    builder.http2().timer(TokioTimer::new());
    builder = match proto {
        Proto::Auto => builder,
        Proto::H1 => builder.http1_only(),
        Proto::H2 => builder.http2_only(),
    };
    let conn = builder.serve_connection(io, service);
    tokio::pin!(conn);
    let mut stop = ctx.stop.clone();
    let mut stopping = false;
    loop {
        tokio::select! {
            // Connection errors (a client that vanished mid-request) are the
            // client's business; the request log already has what matters.
            _ = conn.as_mut() => break,
            _ = stopped(&mut stop), if !stopping => {
                // HTTP/2 GOAWAY, HTTP/1.1 close after the current response.
                conn.as_mut().graceful_shutdown();
                stopping = true;
            }
        }
    }
    drop(ctx.done);
}

fn http_version_name(v: Version) -> &'static str {
    match v {
        Version::HTTP_09 => "HTTP/0.9",
        Version::HTTP_10 => "HTTP/1.0",
        Version::HTTP_11 => "HTTP/1.1",
        Version::HTTP_2 => "HTTP/2",
        Version::HTTP_3 => "HTTP/3",
        _ => "HTTP/?",
    }
}

/// The answer to one request, and its log line.
fn respond<B>(req: &Request<B>, info: &ConnInfo) -> (Response<ResponseBody>, RequestLog) {
    let path = req.uri().path();
    let is_get = req.method() == Method::GET || req.method() == Method::HEAD;
    let (status, body, extra_header) = if path == "/echo" {
        (StatusCode::OK, ResponseBody::full(echo_text(req)), None)
    } else if path == "/" || path.starts_with("/bytes/") {
        if !is_get {
            let allow = ("allow", "GET, HEAD");
            (
                StatusCode::METHOD_NOT_ALLOWED,
                ResponseBody::full("method not allowed\n"),
                Some(allow),
            )
        } else if path == "/" {
            (StatusCode::OK, ResponseBody::full(HELLO), None)
        } else {
            match parse_bytes_count(path.trim_start_matches("/bytes/")) {
                Ok(n) => (StatusCode::OK, ResponseBody::pattern(n), None),
                Err(msg) => (StatusCode::BAD_REQUEST, ResponseBody::full(msg), None),
            }
        }
    } else {
        (StatusCode::NOT_FOUND, ResponseBody::full("not found: try /, /bytes/N or /echo\n"), None)
    };
    let len = body.len();
    let log = RequestLog {
        client: info.client,
        http_version: http_version_name(req.version()),
        tls: info.tls.clone(),
        method: req.method().to_string(),
        path: req.uri().path_and_query().map(|p| p.as_str()).unwrap_or("/").to_string(),
        status: status.as_u16(),
        bytes: if req.method() == Method::HEAD { 0 } else { len },
    };
    let mut builder = Response::builder()
        .status(status)
        .header("content-type", "text/plain; charset=utf-8")
        .header("server", concat!("tlsscope/", env!("CARGO_PKG_VERSION")));
    if let Some((k, v)) = extra_header {
        builder = builder.header(k, v);
    }
    let resp = match builder.body(body) {
        Ok(r) => r,
        // Only static header names and values are set above.
        Err(_) => Response::new(ResponseBody::full("")),
    };
    (resp, log)
}

fn parse_bytes_count(s: &str) -> std::result::Result<u64, String> {
    match s.parse::<u64>() {
        Ok(n) if n <= MAX_BYTES => Ok(n),
        Ok(n) => Err(format!("{n} bytes is too many: at most {MAX_BYTES} (64 MiB)\n")),
        Err(_) => Err(format!("/bytes/N wants a byte count, got {s:?}\n")),
    }
}

/// The request as text: request line, then (on HTTP/2) the pseudo-headers
/// hyper keeps in the URI, then the headers as received.
fn echo_text<B>(req: &Request<B>) -> String {
    let mut s = format!(
        "{} {} {}\r\n",
        req.method(),
        req.uri().path_and_query().map(|p| p.as_str()).unwrap_or("/"),
        http_version_name(req.version())
    );
    if req.version() == Version::HTTP_2 {
        if let Some(a) = req.uri().authority() {
            s.push_str(&format!(":authority: {a}\r\n"));
        }
        if let Some(sch) = req.uri().scheme_str() {
            s.push_str(&format!(":scheme: {sch}\r\n"));
        }
    }
    for (name, value) in req.headers() {
        s.push_str(&format!("{name}: {}\r\n", String::from_utf8_lossy(value.as_bytes())));
    }
    s
}

const PATTERN_LINE: u64 = 64;
/// 54 filler bytes: with the 9-byte `%08x ` prefix and `\n` a line is 64.
const PATTERN_FILLER: &[u8; 54] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ01";

/// `len` bytes of the `/bytes/N` content starting at `offset`. The content is
/// 64-byte lines, each starting with its own offset in hex (`0000ffc0 abc...`),
/// so a gap or a reordering in a capture shows where it happened.
pub fn pattern(offset: u64, len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(len);
    let mut pos = offset;
    while out.len() < len {
        let line_start = pos - pos % PATTERN_LINE;
        let mut line = format!("{line_start:08x} ").into_bytes();
        line.extend_from_slice(PATTERN_FILLER);
        line.push(b'\n');
        let from = usize::try_from(pos - line_start).unwrap_or(0);
        let take = (line.len().saturating_sub(from)).min(len - out.len());
        match line.get(from..from + take) {
            Some(piece) if !piece.is_empty() => out.extend_from_slice(piece),
            _ => break,
        }
        pos += take as u64;
    }
    out
}

/// A response body: fixed bytes, or the `/bytes/N` pattern made piece by piece.
pub enum ResponseBody {
    /// All at once.
    Full(Option<Bytes>),
    /// The pattern from `next` up to `end`.
    Pattern {
        /// Next offset to produce.
        next: u64,
        /// End offset.
        end: u64,
    },
}

impl ResponseBody {
    fn full(b: impl Into<Bytes>) -> Self {
        ResponseBody::Full(Some(b.into()))
    }

    fn pattern(n: u64) -> Self {
        ResponseBody::Pattern { next: 0, end: n }
    }

    fn len(&self) -> u64 {
        match self {
            ResponseBody::Full(b) => b.as_ref().map_or(0, |b| b.len() as u64),
            ResponseBody::Pattern { next, end } => end - next,
        }
    }
}

impl hyper::body::Body for ResponseBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        _cx: &mut TaskContext<'_>,
    ) -> Poll<Option<std::result::Result<Frame<Bytes>, Infallible>>> {
        let this = self.get_mut();
        match this {
            ResponseBody::Full(b) => Poll::Ready(b.take().map(|b| Ok(Frame::data(b)))),
            ResponseBody::Pattern { next, end } => {
                if *next >= *end {
                    return Poll::Ready(None);
                }
                let n = (*end - *next).min(BYTES_CHUNK);
                let chunk = pattern(*next, usize::try_from(n).unwrap_or(0));
                *next += n;
                Poll::Ready(Some(Ok(Frame::data(Bytes::from(chunk)))))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.len() == 0
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pattern_lines_start_with_their_offset() {
        let p = pattern(0, 130);
        assert_eq!(p.len(), 130);
        assert!(
            p.starts_with(b"00000000 abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ01\n")
        );
        assert!(p[64..].starts_with(b"00000040 abc"));
        assert_eq!(&p[128..], b"00");
    }

    #[test]
    fn pattern_pieces_join_up() {
        let whole = pattern(0, 100_000);
        let mut joined = Vec::new();
        let mut off = 0;
        for n in [1usize, 63, 64, 65, 7000, 27_807] {
            joined.extend(pattern(off as u64, n));
            off += n;
        }
        joined.extend(pattern(off as u64, 100_000 - off));
        assert_eq!(joined, whole);
    }

    #[test]
    fn bytes_count_is_capped() {
        assert_eq!(parse_bytes_count("100000"), Ok(100_000));
        assert!(parse_bytes_count(&(MAX_BYTES + 1).to_string()).unwrap_err().contains("at most"));
        assert!(parse_bytes_count("12x").is_err());
        assert!(parse_bytes_count("-1").is_err());
    }

    #[test]
    fn routes_answer_as_documented() {
        let info = ConnInfo { client: "127.0.0.1:1".parse().unwrap(), tls: None };
        let get = |path: &str| {
            let req = Request::builder().uri(path).body(()).unwrap();
            respond(&req, &info)
        };
        let (r, log) = get("/");
        assert_eq!(r.status(), 200);
        assert_eq!(log.bytes, 12);
        assert_eq!(get("/bytes/5").1.bytes, 5);
        assert_eq!(get("/bytes/99999999999").0.status(), 400);
        assert_eq!(get("/nope").0.status(), 404);
        let post = Request::builder().method("POST").uri("/").body(()).unwrap();
        assert_eq!(respond(&post, &info).0.status(), 405);
        let (r, _) = get("/echo?x=1");
        assert_eq!(r.status(), 200);
    }

    #[test]
    fn echo_shows_request_line_and_headers() {
        let req = Request::builder()
            .uri("/echo?a=b")
            .header("user-agent", "t/1")
            .header("x-lab", "yes")
            .body(())
            .unwrap();
        let t = echo_text(&req);
        assert_eq!(t, "GET /echo?a=b HTTP/1.1\r\nuser-agent: t/1\r\nx-lab: yes\r\n");
    }

    #[test]
    fn log_line_escapes_the_path() {
        let log = RequestLog {
            client: "127.0.0.1:5".parse().unwrap(),
            http_version: "HTTP/2",
            tls: Some(TlsInfo {
                version: "TLSv1.2".into(),
                suite: "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256".into(),
                group: Some("x25519".into()),
                alpn: Some("h2".into()),
            }),
            method: "GET".into(),
            path: "/a\nb".into(),
            status: 200,
            bytes: 12,
        };
        assert_eq!(
            log.to_string(),
            "127.0.0.1:5 HTTP/2 TLSv1.2 TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256 x25519 alpn=h2 \
             \"GET /a\\nb\" 200 12"
        );
    }

    #[test]
    fn parses_listen_addresses() {
        assert_eq!(parse_listen_addr("none").unwrap(), None);
        assert_eq!(parse_listen_addr("8080").unwrap(), Some(DEFAULT_HTTP));
        assert_eq!(parse_listen_addr("localhost:8443").unwrap(), Some(DEFAULT_HTTPS));
        assert_eq!(
            parse_listen_addr("[::1]:0").unwrap(),
            Some("[::1]:0".parse::<SocketAddr>().unwrap())
        );
        assert!(parse_listen_addr("example.org:80").is_err());
    }

    #[tokio::test]
    async fn mismatched_key_is_refused_with_a_hint() {
        let dir = std::env::temp_dir().join(format!("tlsscope-server-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let a = cert::generate_self_signed(KeyType::P256, &CertSpec::default()).unwrap();
        let b = cert::generate_self_signed(KeyType::P256, &CertSpec::default()).unwrap();
        std::fs::write(dir.join("a.crt"), &a.cert_pem).unwrap();
        std::fs::write(dir.join("b.key"), &b.key_pem).unwrap();
        std::fs::write(dir.join("garbage.pem"), "hello\n").unwrap();
        let opts = |cert: &str, key: &str| ServeOptions {
            http: None,
            https: Some("127.0.0.1:0".parse().unwrap()),
            identity: Identity::Files { cert: dir.join(cert), key: dir.join(key) },
            ..ServeOptions::default()
        };
        let err = Server::bind(&opts("a.crt", "b.key")).await.err().unwrap();
        assert!(err.message().contains("does not match"), "{}", err.message());
        assert!(err.hint().unwrap().contains("--key"));
        let err = Server::bind(&opts("garbage.pem", "b.key")).await.err().unwrap();
        assert!(err.message().contains("no certificate found"), "{}", err.message());
        let err = Server::bind(&opts("a.crt", "garbage.pem")).await.err().unwrap();
        assert!(err.message().contains("no private key found"), "{}", err.message());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
