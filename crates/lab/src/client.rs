//! The client behind `tlsscope get`: one request, curl's habits.
//!
//! Resolves the URL's host, connects over TCP, speaks TLS (rustls,
//! aws-lc-rs) for `https://`, then HTTP/2 or HTTP/1.1 by ALPN (hyper); the
//! caller sees each step through an [`Observer`]. Certificates are verified
//! against the system's roots (or `--cacert`) unless told otherwise. With a
//! recording path every byte on the socket and the session's key log go to
//! a [`Recorder`], which writes a pcapng with the secrets inside.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::header::{HeaderName, HeaderValue};
use hyper::{Request, Uri, Version};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};
use tlsscope_scope::hostname::dns_name_matches;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::error::{Error, Result};
use crate::files::ModeFixed;
use crate::keylog::{KeyLogWriter, LineCallback};
use crate::record::Recorder;
use crate::tls::{self, TlsChoices};

/// After the response, how long the polite close (close_notify, FIN, the
/// server's FIN) may take before we just drop the connection.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(2);

/// How the server's certificate is checked.
#[derive(Clone, Debug, Default)]
pub enum Verify {
    /// Against the system's trusted roots (webpki-roots if none are found).
    #[default]
    System,
    /// Against the certificates in this PEM file only (curl's `--cacert`).
    CaFile(PathBuf),
    /// Not at all (curl's `--insecure`); handshake signatures are still checked.
    Insecure,
}

/// Which HTTP version to ask for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum HttpChoice {
    /// HTTPS: offer h2 and http/1.1 by ALPN. HTTP: HTTP/1.1.
    #[default]
    Auto,
    /// HTTP/1.1 only.
    Http1,
    /// HTTPS: as `Auto`. HTTP: HTTP/2 with prior knowledge (h2c, RFC 9113 §3.3).
    Http2,
}

/// What `tlsscope get` was asked for.
#[derive(Clone, Debug)]
pub struct GetOptions {
    /// `http://` or `https://` URL.
    pub url: String,
    /// Versions, suites and groups to offer.
    pub tls: TlsChoices,
    /// Certificate checking.
    pub verify: Verify,
    /// HTTP version.
    pub http: HttpChoice,
    /// Extra request headers (`-H`), in order.
    pub headers: Vec<(String, String)>,
    /// Key log file; `$SSLKEYLOGFILE` is used when this is `None`.
    pub keylog: Option<PathBuf>,
    /// Write what the socket carried, with the secrets, as pcapng here.
    pub record: Option<PathBuf>,
    /// Record into this recorder instead (nothing is written: the caller
    /// merges several connections with `record::write_pcapng_all`).
    pub record_into: Option<Recorder>,
    /// Limit for resolving plus connecting.
    pub connect_timeout: Duration,
}

impl GetOptions {
    /// Options for `url` with every default.
    pub fn new(url: impl Into<String>) -> Self {
        GetOptions {
            url: url.into(),
            tls: TlsChoices::default(),
            verify: Verify::System,
            http: HttpChoice::Auto,
            headers: Vec::new(),
            keylog: None,
            record: None,
            record_into: None,
            connect_timeout: Duration::from_secs(10),
        }
    }
}

/// The negotiated TLS session and the server's certificate.
#[derive(Clone, Debug)]
pub struct TlsSession {
    /// `TLSv1.2` / `TLSv1.3`.
    pub version: String,
    /// IANA cipher suite name.
    pub suite: String,
    /// OpenSSL cipher suite name.
    pub suite_openssl: String,
    /// Key exchange group.
    pub group: Option<String>,
    /// ALPN protocol agreed.
    pub alpn: Option<String>,
    /// Server certificate subject (`CN=localhost`).
    pub subject: Option<String>,
    /// Server certificate issuer.
    pub issuer: Option<String>,
    /// Validity start, as x509-parser prints it.
    pub not_before: Option<String>,
    /// Validity end.
    pub not_after: Option<String>,
    /// subjectAltName entries (`DNS:localhost`, `IP:127.0.0.1`).
    pub sans: Vec<String>,
    /// SHA-256 fingerprint of the server certificate.
    pub fingerprint: Option<String>,
    /// Whether the certificate was checked (false with `--insecure`).
    pub verified: bool,
}

/// A response's status line and headers.
#[derive(Clone, Debug)]
pub struct ResponseHead {
    /// `HTTP/1.1`, `HTTP/2`, ...
    pub version: &'static str,
    /// Status code.
    pub status: u16,
    /// Reason phrase (HTTP/1.x only; HTTP/2 has none).
    pub reason: Option<String>,
    /// Headers in the order received (names lower-case).
    pub headers: Vec<(String, Vec<u8>)>,
}

impl ResponseHead {
    /// The status line as curl prints it: `HTTP/2 200`, `HTTP/1.1 200 OK`.
    pub fn status_line(&self) -> String {
        match &self.reason {
            Some(r) => format!("{} {} {r}", self.version, self.status),
            None => format!("{} {}", self.version, self.status),
        }
    }
}

/// What was sent, for `-v`.
#[derive(Clone, Debug)]
pub struct RequestHead {
    /// `GET /path HTTP/2`.
    pub line: String,
    /// Headers as sent (on HTTP/2 `host` stands for `:authority`).
    pub headers: Vec<(String, String)>,
}

/// Follows a request step by step. Every method but [`Observer::body`] is
/// optional.
pub trait Observer {
    /// About to connect to `addr`.
    fn trying(&mut self, _addr: SocketAddr) {}
    /// TCP is up.
    fn connected(&mut self, _host: &str, _local: SocketAddr, _peer: SocketAddr) {}
    /// The TLS handshake finished.
    fn tls_established(&mut self, _session: &TlsSession) {}
    /// The request is being sent.
    fn request(&mut self, _head: &RequestHead) {}
    /// The response's head arrived.
    fn response(&mut self, _head: &ResponseHead) -> std::io::Result<()> {
        Ok(())
    }
    /// A piece of the response body.
    fn body(&mut self, data: &[u8]) -> std::io::Result<()>;
    /// The capture was written; `with_secrets` when it carries a TLS key log.
    fn recorded(&mut self, _path: &Path, _with_secrets: bool) {}
    /// A secrets file that already existed (the key log, the recording)
    /// was open to others and was made owner-only before anything was
    /// written to it: a warning for the user.
    fn mode_fixed(&mut self, _fixed: &ModeFixed) {}
}

/// How the request went.
#[derive(Clone, Debug)]
pub struct Summary {
    /// Response status code.
    pub status: u16,
    /// Response body bytes received.
    pub body_bytes: u64,
}

/// A parsed URL.
#[derive(Clone, Debug)]
struct Target {
    tls: bool,
    /// Host as written, without IPv6 brackets.
    host: String,
    port: u16,
    /// `host`, `host:port` or `[v6]:port` as the Host header wants it.
    authority: String,
    path_and_query: String,
    uri: Uri,
}

impl Target {
    fn parse(url: &str) -> Result<Target> {
        let hint = "write a full URL such as https://localhost:8443/ or http://127.0.0.1:8080/";
        let uri: Uri =
            url.parse().map_err(|e| Error::new(format!("bad URL {url:?}: {e}")).with_hint(hint))?;
        let tls = match uri.scheme_str() {
            Some(s) if s.eq_ignore_ascii_case("https") => true,
            Some(s) if s.eq_ignore_ascii_case("http") => false,
            Some(s) => {
                return Err(Error::new(format!("unsupported URL scheme {s:?} in {url:?}"))
                    .with_hint("tlsscope get speaks http:// and https://"));
            }
            None => {
                return Err(Error::new(format!("{url:?} has no scheme")).with_hint(hint));
            }
        };
        let Some(authority) = uri.authority() else {
            return Err(Error::new(format!("{url:?} has no host")).with_hint(hint));
        };
        let raw_host = authority.host();
        let host = raw_host.trim_start_matches('[').trim_end_matches(']').to_string();
        if host.is_empty() {
            return Err(Error::new(format!("{url:?} has no host")).with_hint(hint));
        }
        let port = authority.port_u16().unwrap_or(if tls { 443 } else { 80 });
        let default_port = if tls { 443 } else { 80 };
        let authority_s =
            if port == default_port { raw_host.to_string() } else { format!("{raw_host}:{port}") };
        let path_and_query =
            uri.path_and_query().map(|p| p.as_str()).filter(|p| !p.is_empty()).unwrap_or("/");
        let path_and_query = if path_and_query.starts_with('/') {
            path_and_query.to_string()
        } else {
            format!("/{path_and_query}")
        };
        let scheme = if tls { "https" } else { "http" };
        let uri: Uri = format!("{scheme}://{authority_s}{path_and_query}")
            .parse()
            .map_err(|e| Error::new(format!("bad URL {url:?}: {e}")).with_hint(hint))?;
        Ok(Target { tls, host, port, authority: authority_s, path_and_query, uri })
    }
}

/// Fetches `opts.url`, reporting each step to `obs`. With `opts.record` the
/// capture is written even when the request failed after connecting (a
/// refused handshake is worth looking at too).
pub async fn get(opts: &GetOptions, obs: &mut dyn Observer) -> Result<Summary> {
    let target = Target::parse(&opts.url)?;
    let recorder = match (&opts.record_into, &opts.record) {
        (Some(r), _) => Some(r.clone()),
        (None, Some(_)) => Some(Recorder::new()),
        (None, None) => None,
    };
    let tls_config = if target.tls {
        let callback: Option<LineCallback> = recorder.clone().map(|r| {
            let cb: LineCallback = Arc::new(move |line: &str| r.keylog_line(line));
            cb
        });
        let keylog = KeyLogWriter::open(opts.keylog.as_deref(), callback)?;
        if let Some(fixed) = keylog.as_ref().and_then(|k| k.mode_fixed()) {
            obs.mode_fixed(fixed);
        }
        Some(client_config(opts, keylog)?)
    } else {
        None
    };

    let tcp = connect(&target, opts.connect_timeout, recorder.as_ref(), obs).await?;
    let result = match &recorder {
        Some(rec) => exchange(rec.wrap(tcp), &target, tls_config, opts, obs).await,
        None => exchange(tcp, &target, tls_config, opts, obs).await,
    };
    if let (Some(rec), None) = (&recorder, &opts.record) {
        rec.closed(SystemTime::now());
    }
    if let (Some(rec), Some(path)) = (&recorder, &opts.record) {
        rec.closed(SystemTime::now());
        let written = rec.write_pcapng(path);
        match (&result, written) {
            (_, Ok(fixed)) => {
                if let Some(f) = &fixed {
                    obs.mode_fixed(f);
                }
                obs.recorded(path, target.tls);
            }
            (Ok(_), Err(e)) => return Err(e),
            // The request's own error is the one to show.
            (Err(_), Err(_)) => {}
        }
    }
    result
}

async fn connect(
    target: &Target,
    limit: Duration,
    recorder: Option<&Recorder>,
    obs: &mut dyn Observer,
) -> Result<TcpStream> {
    let deadline = tokio::time::Instant::now() + limit;
    let lookup = tokio::net::lookup_host((target.host.as_str(), target.port));
    let addrs: Vec<SocketAddr> = match tokio::time::timeout_at(deadline, lookup).await {
        Ok(Ok(a)) => a.collect(),
        Ok(Err(e)) => {
            return Err(Error::new(format!("could not resolve host {}: {e}", target.host))
                .with_hint("check the host name in the URL"));
        }
        Err(_) => {
            return Err(Error::new(format!(
                "could not resolve host {} within {} s",
                target.host,
                limit.as_secs()
            )));
        }
    };
    if addrs.is_empty() {
        return Err(Error::new(format!("could not resolve host {}: no addresses", target.host))
            .with_hint("check the host name in the URL"));
    }
    let mut last_err: Option<Error> = None;
    for addr in addrs {
        obs.trying(addr);
        if let Some(r) = recorder {
            r.connecting(SystemTime::now());
        }
        match tokio::time::timeout_at(deadline, TcpStream::connect(addr)).await {
            Ok(Ok(tcp)) => {
                let local = tcp.local_addr().map_err(|e| Error::new(format!("{addr}: {e}")))?;
                if let Some(r) = recorder {
                    r.connected(local, addr, SystemTime::now());
                }
                obs.connected(&target.host, local, addr);
                let _ = tcp.set_nodelay(true);
                return Ok(tcp);
            }
            Ok(Err(e)) => {
                let err = Error::new(format!("could not connect to {addr}: {e}"));
                last_err = Some(match e.kind() {
                    std::io::ErrorKind::ConnectionRefused => err.with_hint(
                        "nothing listens there: is the server running (tlsscope serve) and the port right?",
                    ),
                    _ => err.with_hint("check the address and that the host is reachable"),
                });
            }
            Err(_) => {
                last_err = Some(
                    Error::new(format!(
                        "could not connect to {addr}: no answer within {} s",
                        limit.as_secs()
                    ))
                    .with_hint("check the address and that the host is reachable"),
                );
                break;
            }
        }
    }
    Err(last_err.unwrap_or_else(|| Error::new(format!("could not connect to {}", target.host))))
}

fn client_config(
    opts: &GetOptions,
    keylog: Option<Arc<KeyLogWriter>>,
) -> Result<Arc<ClientConfig>> {
    let provider = opts.tls.provider();
    let versions = opts.tls.versions()?;
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&versions)
        .map_err(|e| Error::new(format!("TLS configuration: {e}")))?;
    let mut config = match &opts.verify {
        Verify::Insecure => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAnyCert(provider)))
            .with_no_client_auth(),
        Verify::System => builder.with_root_certificates(system_roots()).with_no_client_auth(),
        Verify::CaFile(path) => {
            let certs = tls::load_cert_chain(path)?;
            let mut roots = RootCertStore::empty();
            // A certificate webpki cannot take as a trust anchor can still be
            // trusted by exact match (see `CaFileVerifier`).
            let _ = roots.add_parsable_certificates(certs.iter().cloned());
            let webpki = if roots.is_empty() {
                None
            } else {
                let v =
                    WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                        .build()
                        .map_err(|e| Error::new(format!("{}: {e}", path.display())))?;
                Some(v)
            };
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(CaFileVerifier {
                    pinned: certs,
                    webpki,
                    provider,
                }))
                .with_no_client_auth()
        }
    };
    config.alpn_protocols = match opts.http {
        HttpChoice::Http1 => vec![b"http/1.1".to_vec()],
        HttpChoice::Auto | HttpChoice::Http2 => vec![b"h2".to_vec(), b"http/1.1".to_vec()],
    };
    if let Some(k) = keylog {
        config.key_log = k;
    }
    Ok(Arc::new(config))
}

/// The DER of the system's trusted root certificates (the bundle curl and
/// OpenSSL use, `SSL_CERT_FILE`/`SSL_CERT_DIR` honoured), for checks that
/// judge a captured chain; empty when the system has none we can read.
pub fn system_root_ders() -> Vec<Vec<u8>> {
    rustls_native_certs::load_native_certs().certs.into_iter().map(|c| c.to_vec()).collect()
}

/// The system's trusted roots; webpki-roots (Mozilla's list) when the system
/// has none we can read.
fn system_roots() -> RootCertStore {
    let mut roots = RootCertStore::empty();
    let native = rustls_native_certs::load_native_certs();
    roots.add_parsable_certificates(native.certs);
    if roots.is_empty() {
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    }
    roots
}

/// Checks a handshake signature (ServerKeyExchange in TLS 1.2,
/// CertificateVerify in TLS 1.3) with the certificate's key. When webpki
/// cannot take the certificate itself (X.509 v1, as `openssl x509 -req`
/// makes), the key is taken out of it with x509-parser and checked directly:
/// the signature is still verified, only the certificate's form is not judged
/// here (the certificate verifier has done that already).
fn verify_signature(
    message: &[u8],
    cert: &CertificateDer<'_>,
    dss: &DigitallySignedStruct,
    algs: &rustls::crypto::WebPkiSupportedAlgorithms,
    tls13: bool,
) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
    let verdict = if tls13 {
        rustls::crypto::verify_tls13_signature(message, cert, dss, algs)
    } else {
        rustls::crypto::verify_tls12_signature(message, cert, dss, algs)
    };
    let Err(rustls::Error::InvalidCertificate(cert_err)) = verdict else {
        return verdict;
    };
    let invalid = || rustls::Error::InvalidCertificate(cert_err.clone());
    let (_, parsed) = x509_parser::parse_x509_certificate(cert.as_ref()).map_err(|_| invalid())?;
    let key = parsed.public_key().subject_public_key.data.as_ref();
    let candidates = algs
        .mapping
        .iter()
        .find(|(scheme, _)| *scheme == dss.scheme)
        .map(|(_, a)| *a)
        .unwrap_or_default();
    // TLS 1.3 fixes the algorithm by the scheme (RFC 8446 §4.2.3; rustls
    // already refused schemes not allowed in TLS 1.3 above); TLS 1.2 does not
    // fix the ECDSA curve, so every candidate is tried.
    let candidates = if tls13 { candidates.get(..1).unwrap_or_default() } else { candidates };
    if candidates.iter().any(|alg| alg.verify_signature(key, message, dss.signature()).is_ok()) {
        Ok(HandshakeSignatureValid::assertion())
    } else {
        Err(rustls::Error::InvalidCertificate(CertificateError::BadSignature))
    }
}

/// `--cacert FILE`: the chain must lead to a certificate in FILE (webpki), or
/// the server's certificate must be one of FILE's byte for byte, valid now
/// and made for the host name. The second way lets the lab trust its own
/// self-signed certificate even where webpki refuses it as an end-entity
/// certificate: X.509 v1 (`openssl x509 -req -signkey`) or CA:TRUE
/// (`openssl req -x509`), both of which curl/OpenSSL accept.
#[derive(Debug)]
struct CaFileVerifier {
    pinned: Vec<CertificateDer<'static>>,
    webpki: Option<Arc<WebPkiServerVerifier>>,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for CaFileVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        let webpki_verdict = match &self.webpki {
            Some(v) => {
                v.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
            }
            None => Err(rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer)),
        };
        match webpki_verdict {
            Ok(v) => Ok(v),
            Err(e) if self.pinned.iter().any(|p| p.as_ref() == end_entity.as_ref()) => {
                check_pinned(end_entity, server_name, now).map_err(|pinned_err| {
                    // Name or dates are wrong: say that, not webpki's
                    // complaint about the certificate's form.
                    pinned_err.unwrap_or(e)
                })?;
                Ok(ServerCertVerified::assertion())
            }
            Err(e) => Err(e),
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        verify_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
            false,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        verify_signature(message, cert, dss, &self.provider.signature_verification_algorithms, true)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider.signature_verification_algorithms.supported_schemes()
    }
}

/// Checks a certificate the user trusts byte for byte: it must be valid now
/// and name the host (subjectAltName, or the CN when there is no SAN, as
/// OpenSSL does for curl). `Err(None)`: it could not even be parsed.
fn check_pinned(
    der: &CertificateDer<'_>,
    server_name: &ServerName<'_>,
    now: UnixTime,
) -> std::result::Result<(), Option<rustls::Error>> {
    use x509_parser::extensions::GeneralName;
    let (_, cert) = x509_parser::parse_x509_certificate(der.as_ref()).map_err(|_| None)?;
    let secs = i64::try_from(now.as_secs()).unwrap_or(i64::MAX);
    let at = x509_parser::time::ASN1Time::from_timestamp(secs).map_err(|_| None)?;
    if !cert.validity().is_valid_at(at) {
        let cert_err = if at < cert.validity().not_before {
            CertificateError::NotValidYet
        } else {
            CertificateError::Expired
        };
        return Err(Some(rustls::Error::InvalidCertificate(cert_err)));
    }
    let mut dns: Vec<String> = Vec::new();
    let mut ips: Vec<std::net::IpAddr> = Vec::new();
    match cert.subject_alternative_name() {
        Ok(Some(san)) => {
            for n in &san.value.general_names {
                match n {
                    GeneralName::DNSName(d) => dns.push((*d).to_string()),
                    GeneralName::IPAddress(b) => {
                        if let Ok(a) = <[u8; 4]>::try_from(*b) {
                            ips.push(a.into());
                        } else if let Ok(a) = <[u8; 16]>::try_from(*b) {
                            ips.push(a.into());
                        }
                    }
                    _ => {}
                }
            }
        }
        _ => {
            for cn in cert.subject().iter_common_name() {
                if let Ok(s) = cn.as_str() {
                    match s.parse::<std::net::IpAddr>() {
                        Ok(ip) => ips.push(ip),
                        Err(_) => dns.push(s.to_string()),
                    }
                }
            }
        }
    }
    let ok = match server_name {
        ServerName::DnsName(d) => dns.iter().any(|n| dns_name_matches(n, d.as_ref())),
        ServerName::IpAddress(ip) => ips.contains(&std::net::IpAddr::from(*ip)),
        _ => false,
    };
    if ok {
        Ok(())
    } else {
        Err(Some(rustls::Error::InvalidCertificate(CertificateError::NotValidForName)))
    }
}

/// `--insecure`: any certificate is accepted, but the handshake signatures
/// are still verified (as curl `-k` does), so the key exchange is still
/// bound to the certificate's key.
#[derive(Debug)]
struct AcceptAnyCert(Arc<CryptoProvider>);

impl ServerCertVerifier for AcceptAnyCert {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        verify_signature(message, cert, dss, &self.0.signature_verification_algorithms, false)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        verify_signature(message, cert, dss, &self.0.signature_verification_algorithms, true)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// TLS (for https://), then HTTP, on a connected stream. Generic over the
/// stream so the recorder's wrapper and a bare `TcpStream` both fit.
async fn exchange<S>(
    stream: S,
    target: &Target,
    tls_config: Option<Arc<ClientConfig>>,
    opts: &GetOptions,
    obs: &mut dyn Observer,
) -> Result<Summary>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let Some(config) = tls_config else {
        let h2 = opts.http == HttpChoice::Http2;
        return http_exchange(stream, h2, target, opts, obs).await;
    };
    let name = ServerName::try_from(target.host.clone())
        .map_err(|e| Error::new(format!("{:?} cannot be a TLS server name: {e}", target.host)))?;
    let connector = tokio_rustls::TlsConnector::from(config);
    let tls =
        connector.connect(name, stream).await.map_err(|e| handshake_error(e, target, opts))?;
    let session = session_info(tls.get_ref().1, !matches!(opts.verify, Verify::Insecure));
    obs.tls_established(&session);
    let h2 = session.alpn.as_deref() == Some("h2");
    http_exchange(tls, h2, target, opts, obs).await
}

fn session_info(conn: &rustls::ClientConnection, verified: bool) -> TlsSession {
    let mut s = TlsSession {
        version: conn.protocol_version().map(tls::version_name).unwrap_or_else(|| "-".into()),
        suite: conn
            .negotiated_cipher_suite()
            .map(|s| tls::suite_name(s.suite()))
            .unwrap_or_else(|| "-".into()),
        suite_openssl: conn
            .negotiated_cipher_suite()
            .map(|s| tls::suite_openssl_name(s.suite()))
            .unwrap_or_else(|| "-".into()),
        group: conn.negotiated_key_exchange_group().map(|g| tls::group_name(g.name())),
        alpn: conn.alpn_protocol().map(|p| String::from_utf8_lossy(p).into_owned()),
        subject: None,
        issuer: None,
        not_before: None,
        not_after: None,
        sans: Vec::new(),
        fingerprint: None,
        verified,
    };
    if let Some(der) = conn.peer_certificates().and_then(|c| c.first()) {
        s.fingerprint = Some(crate::cert::sha256_fingerprint(der));
        // The certificate came off the wire: a parse failure just leaves
        // the fields empty.
        if let Ok((_, cert)) = x509_parser::parse_x509_certificate(der) {
            s.subject = Some(cert.subject().to_string());
            s.issuer = Some(cert.issuer().to_string());
            s.not_before = Some(cert.validity().not_before.to_string());
            s.not_after = Some(cert.validity().not_after.to_string());
            if let Ok(Some(san)) = cert.subject_alternative_name() {
                use x509_parser::extensions::GeneralName;
                for name in &san.value.general_names {
                    match name {
                        GeneralName::DNSName(n) => s.sans.push(format!("DNS:{n}")),
                        GeneralName::IPAddress(b) => {
                            let ip = match b.len() {
                                4 => <[u8; 4]>::try_from(*b).ok().map(std::net::IpAddr::from),
                                16 => <[u8; 16]>::try_from(*b).ok().map(std::net::IpAddr::from),
                                _ => None,
                            };
                            if let Some(ip) = ip {
                                s.sans.push(format!("IP:{ip}"));
                            }
                        }
                        other => s.sans.push(other.to_string()),
                    }
                }
            }
        }
    }
    s
}

/// Turns a failed handshake into what the user should know and do.
fn handshake_error(e: std::io::Error, target: &Target, opts: &GetOptions) -> Error {
    let at = format!("{}:{}", target.host, target.port);
    let Some(tls_err) = e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()) else {
        return Error::new(format!("TLS handshake with {at} failed: {e}")).with_hint(
            "the server closed the connection: is it an HTTPS port? (http:// for plain HTTP)",
        );
    };
    let trust_hint = match &opts.verify {
        Verify::CaFile(p) => format!(
            "the certificate is not signed by one in {}: pass the server's own certificate \
             (--cacert server.crt) or skip the check with --insecure",
            p.display()
        ),
        _ => "a self-signed lab certificate is trusted by nobody: trust it with \
              --cacert server.crt, or skip the check with --insecure"
            .to_string(),
    };
    match tls_err {
        rustls::Error::InvalidCertificate(cert_err) => {
            let err = Error::new(format!(
                "TLS handshake with {at} failed: certificate verification failed: {tls_err}"
            ));
            match cert_err {
                CertificateError::NotValidForName
                | CertificateError::NotValidForNameContext { .. } => err.with_hint(format!(
                    "the certificate is not made for {:?}: use a name it lists \
                         (e.g. https://localhost:{}/), or --insecure",
                    target.host, target.port
                )),
                CertificateError::Expired
                | CertificateError::ExpiredContext { .. }
                | CertificateError::NotValidYet
                | CertificateError::NotValidYetContext { .. } => err.with_hint(
                    "the certificate is outside its validity period: make a new one \
                     (tlsscope cert new), check the clock, or use --insecure",
                ),
                _ => err.with_hint(trust_hint),
            }
        }
        rustls::Error::AlertReceived(alert) => Error::new(format!(
            "TLS handshake with {at} failed: the server sent alert {alert:?}"
        ))
        .with_hint(
            "the server did not accept what we offered: check --tls-min/--tls-max, --ciphers \
             and the server's settings",
        ),
        rustls::Error::PeerIncompatible(_) => Error::new(format!(
            "TLS handshake with {at} failed: {tls_err}"
        ))
        .with_hint(
            "the server chose something we did not offer: check --tls-min/--tls-max and --ciphers",
        ),
        rustls::Error::InvalidMessage(_) => {
            Error::new(format!("TLS handshake with {at} failed: {tls_err}")).with_hint(
                "the server did not answer in TLS: is it an HTTPS port? (http:// for plain HTTP)",
            )
        }
        _ => Error::new(format!("TLS handshake with {at} failed: {tls_err}")),
    }
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

fn build_request(
    target: &Target,
    opts: &GetOptions,
    h2: bool,
) -> Result<(Request<Empty<Bytes>>, RequestHead)> {
    let mut headers: Vec<(String, String)> = Vec::new();
    let user_agent = concat!("tlsscope/", env!("CARGO_PKG_VERSION"));
    let has = |name: &str| opts.headers.iter().any(|(n, _)| n.eq_ignore_ascii_case(name));
    if !has("host") {
        headers.push(("host".into(), target.authority.clone()));
    }
    if !has("user-agent") {
        headers.push(("user-agent".into(), user_agent.into()));
    }
    if !has("accept") {
        headers.push(("accept".into(), "*/*".into()));
    }
    headers.extend(opts.headers.iter().cloned());

    let (uri, version) = if h2 {
        (target.uri.clone(), Version::HTTP_2)
    } else {
        let pq: Uri = target
            .path_and_query
            .parse()
            .map_err(|e| Error::new(format!("bad path {:?}: {e}", target.path_and_query)))?;
        (pq, Version::HTTP_11)
    };
    let mut req = Request::builder().method("GET").uri(uri).version(version);
    for (name, value) in &headers {
        // On HTTP/2 the authority travels as :authority, taken from the URI.
        if h2 && name.eq_ignore_ascii_case("host") {
            continue;
        }
        let n = HeaderName::from_bytes(name.as_bytes()).map_err(|e| {
            Error::new(format!("bad header name {name:?}: {e}"))
                .with_hint("write headers as -H 'Name: value'")
        })?;
        let v = HeaderValue::from_str(value)
            .map_err(|e| Error::new(format!("bad value for header {name}: {e}")))?;
        req = req.header(n, v);
    }
    let req = req
        .body(Empty::<Bytes>::new())
        .map_err(|e| Error::new(format!("building the request: {e}")))?;
    let head = RequestHead {
        line: format!("GET {} {}", target.path_and_query, http_version_name(version)),
        headers,
    };
    Ok((req, head))
}

/// Sends the request and streams the response body to `obs`.
async fn http_exchange<S>(
    stream: S,
    h2: bool,
    target: &Target,
    opts: &GetOptions,
    obs: &mut dyn Observer,
) -> Result<Summary>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (req, head) = build_request(target, opts, h2)?;
    let io = TokioIo::new(stream);
    let http_err = |e: hyper::Error| http_error(e, target);
    if h2 {
        let (mut sender, conn) = hyper::client::conn::http2::handshake(TokioExecutor::new(), io)
            .await
            .map_err(http_err)?;
        let request = async move {
            obs.request(&head);
            let resp = sender.send_request(req).await.map_err(http_err)?;
            // Dropping the sender lets the connection close once the
            // response is read (GOAWAY, close_notify, FIN).
            drop(sender);
            read_response(resp, obs, target).await
        };
        let (result, _) = drive(request, conn).await;
        result
    } else {
        let (mut sender, conn) =
            hyper::client::conn::http1::handshake(io).await.map_err(http_err)?;
        let request = async move {
            obs.request(&head);
            let resp = sender.send_request(req).await.map_err(http_err)?;
            drop(sender);
            read_response(resp, obs, target).await
        };
        let (result, parts) = drive(request, conn.without_shutdown()).await;
        // Close politely, so a recording shows the whole teardown:
        // close_notify and FIN from us, then the server's.
        if let Some(Ok(parts)) = parts {
            let _ = tokio::time::timeout(CLOSE_TIMEOUT, close(parts.io.into_inner())).await;
        }
        result
    }
}

/// Runs the request while polling the connection that carries it; after
/// the request is done, gives the connection [`CLOSE_TIMEOUT`] to finish.
async fn drive<R, C>(request: R, conn: C) -> (Result<Summary>, Option<C::Output>)
where
    R: std::future::Future<Output = Result<Summary>>,
    C: std::future::Future,
{
    tokio::pin!(request);
    tokio::pin!(conn);
    let mut conn_out = None;
    let result = loop {
        tokio::select! {
            r = &mut request => break r,
            c = &mut conn, if conn_out.is_none() => conn_out = Some(c),
        }
    };
    if conn_out.is_none() {
        conn_out = tokio::time::timeout(CLOSE_TIMEOUT, conn).await.ok();
    }
    (result, conn_out)
}

async fn close<S: AsyncRead + AsyncWrite + Unpin>(mut io: S) {
    let _ = io.shutdown().await;
    let mut buf = [0u8; 4096];
    // Read until the server closes too (or errs); what it still sends after
    // the response (its close_notify) is not ours to interpret.
    while let Ok(n) = io.read(&mut buf).await {
        if n == 0 {
            break;
        }
    }
}

async fn read_response(
    resp: hyper::Response<hyper::body::Incoming>,
    obs: &mut dyn Observer,
    target: &Target,
) -> Result<Summary> {
    let version = http_version_name(resp.version());
    let status = resp.status();
    let reason = if resp.version() == Version::HTTP_2 {
        None
    } else {
        resp.extensions()
            .get::<hyper::ext::ReasonPhrase>()
            .map(|r| String::from_utf8_lossy(r.as_bytes()).into_owned())
            .or_else(|| status.canonical_reason().map(str::to_string))
    };
    let head = ResponseHead {
        version,
        status: status.as_u16(),
        reason,
        headers: resp
            .headers()
            .iter()
            .map(|(n, v)| (n.as_str().to_string(), v.as_bytes().to_vec()))
            .collect(),
    };
    obs.response(&head).map_err(output_error)?;
    let mut body = resp.into_body();
    let mut total = 0u64;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| http_error(e, target))?;
        if let Ok(data) = frame.into_data() {
            total += data.len() as u64;
            obs.body(&data).map_err(output_error)?;
        }
    }
    Ok(Summary { status: status.as_u16(), body_bytes: total })
}

fn output_error(e: std::io::Error) -> Error {
    Error::new(format!("writing the response: {e}"))
}

fn http_error(e: hyper::Error, target: &Target) -> Error {
    let mut msg = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        msg.push_str(&format!(": {s}"));
        source = s.source();
    }
    let err =
        Error::new(format!("HTTP exchange with {}:{} failed: {msg}", target.host, target.port));
    if e.is_parse() && target.tls {
        err
    } else if e.is_parse() {
        err.with_hint("the server did not answer in HTTP: is it an HTTPS port? (use https://)")
    } else {
        err
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_urls_like_curl() {
        let t = Target::parse("https://localhost:8443").unwrap();
        assert!(t.tls);
        assert_eq!((t.host.as_str(), t.port), ("localhost", 8443));
        assert_eq!(t.authority, "localhost:8443");
        assert_eq!(t.path_and_query, "/");
        let t = Target::parse("http://[::1]/x?y=1").unwrap();
        assert_eq!((t.host.as_str(), t.port), ("::1", 80));
        assert_eq!(t.authority, "[::1]");
        assert_eq!(t.path_and_query, "/x?y=1");
        assert_eq!(t.uri.to_string(), "http://[::1]/x?y=1");
        assert!(Target::parse("ftp://x/").unwrap_err().message().contains("ftp"));
        assert!(Target::parse("localhost:8443").is_err());
        assert!(Target::parse("not a url").unwrap_err().hint().is_some());
    }

    #[test]
    fn pinned_certificate_must_name_the_host_and_be_current() {
        let made =
            crate::cert::generate_self_signed(crate::cert::KeyType::P256, &Default::default())
                .unwrap();
        let der = CertificateDer::from(made.cert_der);
        let now = UnixTime::now();
        let name = |s: &str| ServerName::try_from(s.to_string()).unwrap();
        assert!(check_pinned(&der, &name("localhost"), now).is_ok());
        assert!(check_pinned(&der, &name("127.0.0.1"), now).is_ok());
        assert!(matches!(
            check_pinned(&der, &name("example.org"), now),
            Err(Some(rustls::Error::InvalidCertificate(CertificateError::NotValidForName)))
        ));
        let later = UnixTime::since_unix_epoch(Duration::from_secs(now.as_secs() + 400 * 86400));
        assert!(matches!(
            check_pinned(&der, &name("localhost"), later),
            Err(Some(rustls::Error::InvalidCertificate(CertificateError::Expired)))
        ));
    }

    #[test]
    fn status_line_is_curls() {
        let mut h = ResponseHead { version: "HTTP/2", status: 200, reason: None, headers: vec![] };
        assert_eq!(h.status_line(), "HTTP/2 200");
        h.version = "HTTP/1.1";
        h.reason = Some("OK".into());
        assert_eq!(h.status_line(), "HTTP/1.1 200 OK");
    }

    #[test]
    fn http1_request_has_host_and_path_h2_has_full_uri() {
        let t = Target::parse("https://localhost:8443/echo").unwrap();
        let mut opts = GetOptions::new("https://localhost:8443/echo");
        opts.headers.push(("X-Lab".into(), "1".into()));
        let (req, head) = build_request(&t, &opts, false).unwrap();
        assert_eq!(req.uri().to_string(), "/echo");
        assert_eq!(req.headers()["host"], "localhost:8443");
        assert_eq!(req.headers()["x-lab"], "1");
        assert_eq!(head.line, "GET /echo HTTP/1.1");
        let (req, head) = build_request(&t, &opts, true).unwrap();
        assert_eq!(req.uri().to_string(), "https://localhost:8443/echo");
        assert!(req.headers().get("host").is_none());
        assert_eq!(head.line, "GET /echo HTTP/2");
        opts.headers.push(("bad header".into(), "x".into()));
        assert!(build_request(&t, &opts, false).is_err());
    }
}
