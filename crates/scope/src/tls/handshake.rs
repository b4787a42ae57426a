//! Handshake messages, TLS 1.0 to 1.3: reassembly across records and the
//! parsing of every message type into a typed value and the field tree.
//!
//! A message is parsed from its own bytes (the 4-byte header included), so
//! spans are offsets within the message; [`Assembler`] keeps the map from
//! message bytes back to frames. The codec knows nothing of session state:
//! what depends on it (which TLS version's layout, which key exchange) comes
//! in through [`Ctx`]. References: RFC 8446 §4, RFC 5246 §7.4, RFC 4492 §5,
//! RFC 8879, RFC 6066 §8.

use crate::span::{ErrorKind, ParseError, Piece, Pieces, Reader, Span};
use crate::time::Timestamp;
use crate::tls::ext::{self, Hello, Where};
use crate::tls::registry;
use crate::tls::x509;
use crate::tree::{Tree, hex, hex_short};

/// Handshake message types.
pub mod kind {
    /// hello_request(0)
    pub const HELLO_REQUEST: u8 = 0;
    /// client_hello(1)
    pub const CLIENT_HELLO: u8 = 1;
    /// server_hello(2)
    pub const SERVER_HELLO: u8 = 2;
    /// hello_verify_request(3), DTLS only
    pub const HELLO_VERIFY_REQUEST: u8 = 3;
    /// new_session_ticket(4)
    pub const NEW_SESSION_TICKET: u8 = 4;
    /// end_of_early_data(5)
    pub const END_OF_EARLY_DATA: u8 = 5;
    /// encrypted_extensions(8)
    pub const ENCRYPTED_EXTENSIONS: u8 = 8;
    /// certificate(11)
    pub const CERTIFICATE: u8 = 11;
    /// server_key_exchange(12)
    pub const SERVER_KEY_EXCHANGE: u8 = 12;
    /// certificate_request(13)
    pub const CERTIFICATE_REQUEST: u8 = 13;
    /// server_hello_done(14)
    pub const SERVER_HELLO_DONE: u8 = 14;
    /// certificate_verify(15)
    pub const CERTIFICATE_VERIFY: u8 = 15;
    /// client_key_exchange(16)
    pub const CLIENT_KEY_EXCHANGE: u8 = 16;
    /// finished(20)
    pub const FINISHED: u8 = 20;
    /// certificate_url(21)
    pub const CERTIFICATE_URL: u8 = 21;
    /// certificate_status(22)
    pub const CERTIFICATE_STATUS: u8 = 22;
    /// key_update(24)
    pub const KEY_UPDATE: u8 = 24;
    /// compressed_certificate(25)
    pub const COMPRESSED_CERTIFICATE: u8 = 25;
    /// message_hash(254)
    pub const MESSAGE_HASH: u8 = 254;
}

/// The random of a HelloRetryRequest: SHA-256("HelloRetryRequest"),
/// [RFC 8446 §4.1.3](https://www.rfc-editor.org/rfc/rfc8446#section-4.1.3).
pub const HRR_RANDOM: [u8; 32] = [
    0xcf, 0x21, 0xad, 0x74, 0xe5, 0x9a, 0x61, 0x11, 0xbe, 0x1d, 0x8c, 0x02, 0x1e, 0x65, 0xb8, 0x91,
    0xc2, 0xa2, 0x11, 0x16, 0x7a, 0xbb, 0x8c, 0x5e, 0x07, 0x9e, 0x09, 0xe2, 0xc8, 0xa8, 0x33, 0x9c,
];

/// The largest handshake message accepted. The length field allows 16 MiB;
/// real messages (a long certificate chain) stay far below 256 KiB, and
/// buffering up to 16 MiB per direction on a hostile length would let one
/// connection pin that much memory.
pub const MAX_MESSAGE: usize = 256 << 10;

/// The key exchange of a TLS 1.2 cipher suite, which decides the layout
/// of ServerKeyExchange and ClientKeyExchange.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Kx {
    /// Not known (no ServerHello seen).
    #[default]
    Unknown,
    /// Static RSA: the client encrypts the premaster secret.
    Rsa,
    /// Finite-field Diffie-Hellman.
    Dhe,
    /// Elliptic-curve Diffie-Hellman.
    Ecdhe,
    /// Pre-shared key only.
    Psk,
    /// PSK with DHE.
    DhePsk,
    /// PSK with ECDHE.
    EcdhePsk,
    /// PSK with RSA.
    RsaPsk,
}

impl Kx {
    /// From the key exchange part of a cipher suite's name.
    pub fn from_suite(id: u16) -> Kx {
        // Static (EC)DH suites send no ServerKeyExchange, but their
        // ClientKeyExchange has the ephemeral layout, so they map here too;
        // anonymous suites have kx DH/ECDH with auth "anon".
        match registry::cipher_suite(id).map(|s| s.kx) {
            Some("RSA") => Kx::Rsa,
            Some("DHE" | "DH") => Kx::Dhe,
            Some("ECDHE" | "ECDH") => Kx::Ecdhe,
            Some("PSK") => Kx::Psk,
            Some("DHE_PSK") => Kx::DhePsk,
            Some("ECDHE_PSK") => Kx::EcdhePsk,
            Some("RSA_PSK") => Kx::RsaPsk,
            _ => Kx::Unknown,
        }
    }

    fn signed(self, suite: Option<u16>) -> bool {
        let anon = suite
            .and_then(registry::cipher_suite)
            .is_some_and(|s| s.auth == "anon" || s.auth == "PSK");
        matches!(self, Kx::Dhe | Kx::Ecdhe) && !anon
    }
}

/// What parsing a message needs to know about the session so far.
#[derive(Clone, Copy, Debug, Default)]
pub struct Ctx {
    /// The message was sent by the server.
    pub from_server: bool,
    /// The negotiated version (0x0304 = TLS 1.3), if known.
    pub version: Option<u16>,
    /// The ServerHello's legacy version, which decides TLS 1.0/1.1 vs 1.2
    /// layouts of signatures.
    pub legacy_version: Option<u16>,
    /// The chosen cipher suite, if known.
    pub cipher_suite: Option<u16>,
}

impl Ctx {
    fn tls13(&self) -> bool {
        self.version == Some(0x0304)
    }

    fn kx(&self) -> Kx {
        self.cipher_suite.map(Kx::from_suite).unwrap_or_default()
    }

    /// TLS 1.2 signatures carry their algorithm; 1.0 and 1.1 do not.
    fn sig_has_algorithm(&self) -> bool {
        self.legacy_version.is_none_or(|v| v >= 0x0303)
    }
}

/// A ClientHello.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClientHello {
    /// legacy_version (client_version).
    pub version: u16,
    /// client_random.
    pub random: [u8; 32],
    /// legacy_session_id.
    pub session_id: Vec<u8>,
    /// cipher_suites, in the client's order.
    pub cipher_suites: Vec<u16>,
    /// compression_methods.
    pub compression_methods: Vec<u8>,
    /// Whether an extensions block was present at all.
    pub has_extensions: bool,
    /// What the extensions said.
    pub hello: Hello,
    /// Parsed from an SSLv2-compatible ClientHello.
    pub sslv2: bool,
}

/// A ServerHello or HelloRetryRequest.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ServerHello {
    /// legacy_version (server_version).
    pub version: u16,
    /// server_random.
    pub random: [u8; 32],
    /// legacy_session_id_echo.
    pub session_id: Vec<u8>,
    /// The chosen cipher suite.
    pub cipher_suite: u16,
    /// The chosen compression method.
    pub compression_method: u8,
    /// What the extensions said.
    pub hello: Hello,
    /// This is a HelloRetryRequest.
    pub retry: bool,
}

impl ServerHello {
    /// The negotiated version: supported_versions if present, else the
    /// legacy version.
    pub fn negotiated_version(&self) -> u16 {
        self.hello.selected_version.unwrap_or(self.version)
    }
}

/// The key exchange parameters in a ServerKeyExchange.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ServerParams {
    /// ECDHE with a named curve.
    Ecdhe {
        /// Named group.
        group: u16,
        /// The server's ephemeral public key.
        public: Vec<u8>,
    },
    /// Finite-field DHE.
    Dhe {
        /// Prime.
        p: Vec<u8>,
        /// Generator.
        g: Vec<u8>,
        /// The server's public value.
        ys: Vec<u8>,
    },
    /// Something else (PSK hint only, unknown key exchange).
    Other,
}

/// A ServerKeyExchange.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerKeyExchange {
    /// The parameters.
    pub params: ServerParams,
    /// The bytes of the signed parameters (what the signature covers,
    /// after client_random + server_random).
    pub params_bytes: Vec<u8>,
    /// Signature algorithm (TLS 1.2), if present.
    pub sig_scheme: Option<u16>,
    /// The signature, if the key exchange is signed.
    pub signature: Option<Vec<u8>>,
}

/// A ClientKeyExchange.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClientKeyExchange {
    /// The client's ECDHE public key.
    Ecdhe(Vec<u8>),
    /// The client's DH public value.
    Dhe(Vec<u8>),
    /// The premaster secret encrypted to the server's RSA key.
    Rsa(Vec<u8>),
    /// Key exchange not known when it was parsed.
    Unknown(Vec<u8>),
}

/// A parsed handshake message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Body {
    /// HelloRequest.
    HelloRequest,
    /// ClientHello.
    ClientHello(Box<ClientHello>),
    /// ServerHello or HelloRetryRequest.
    ServerHello(Box<ServerHello>),
    /// NewSessionTicket.
    NewSessionTicket {
        /// ticket_lifetime (hint).
        lifetime: u32,
        /// The ticket.
        ticket: Vec<u8>,
    },
    /// EndOfEarlyData.
    EndOfEarlyData,
    /// EncryptedExtensions.
    EncryptedExtensions(Box<Hello>),
    /// Certificate: the DER certificates, leaf first.
    Certificate(Vec<Vec<u8>>),
    /// ServerKeyExchange.
    ServerKeyExchange(Box<ServerKeyExchange>),
    /// CertificateRequest.
    CertificateRequest,
    /// ServerHelloDone.
    ServerHelloDone,
    /// CertificateVerify.
    CertificateVerify {
        /// Signature scheme (absent before TLS 1.2).
        scheme: Option<u16>,
        /// The signature.
        signature: Vec<u8>,
    },
    /// ClientKeyExchange.
    ClientKeyExchange(ClientKeyExchange),
    /// Finished.
    Finished(Vec<u8>),
    /// CertificateStatus (OCSP stapling in TLS 1.2).
    CertificateStatus,
    /// KeyUpdate: whether the peer is asked to update too.
    KeyUpdate(bool),
    /// CompressedCertificate.
    CompressedCertificate,
    /// A type this parser does not know, or the synthetic message_hash.
    Other,
}

/// A handshake message: its type, its bytes and what they say.
#[derive(Clone, Debug)]
pub struct Message {
    /// msg_type.
    pub msg_type: u8,
    /// The whole message, header included (the transcript hash needs it).
    pub bytes: Vec<u8>,
    /// Where its bytes were captured.
    pub pieces: Pieces,
    /// The frame with its last byte.
    pub frame: u64,
    /// When.
    pub ts: Timestamp,
    /// The parsed body; None if it could not be parsed.
    pub body: Option<Body>,
    /// Why parsing stopped, if it did.
    pub error: Option<ParseError>,
    /// The field tree (empty when trees are off).
    pub fields: Vec<crate::tree::Field>,
}

impl Message {
    /// The RFC name in UpperCamelCase, with HelloRetryRequest for a
    /// ServerHello carrying the retry random.
    pub fn name(&self) -> &'static str {
        if let Some(Body::ServerHello(sh)) = &self.body
            && sh.retry
        {
            return "HelloRetryRequest";
        }
        registry::handshake_type_camel(self.msg_type).unwrap_or("Unknown")
    }
}

/// Parses one whole handshake message (header included).
pub fn parse(bytes: &[u8], ctx: &Ctx, t: &mut Tree) -> (Option<Body>, Option<ParseError>) {
    let mut r = Reader::new(bytes);
    let header = (|| {
        let ty = r.u8("msg_type")?;
        let len = r.u24("length")?;
        Ok::<_, ParseError>((ty, len))
    })();
    let (ty, len) = match header {
        Ok(h) => h,
        Err(e) => {
            t.malformed(&e);
            return (None, Some(e));
        }
    };
    t.leaf(
        "msg_type",
        || "Handshake Type".into(),
        ty.span,
        || format!("{} ({})", registry::handshake_type(ty.v).unwrap_or("unknown"), ty.v),
    );
    t.leaf("length", || "Length".into(), len.span, || len.v.to_string());
    let name = registry::handshake_type(ty.v).unwrap_or("handshake message");
    let have = r.left();
    let mut body = Reader::at(r.rest().get(..len.v as usize).unwrap_or(r.rest()), 4);
    let result = parse_body(ty.v, &mut body, ctx, t).and_then(|b| {
        body.expect_empty(name)?;
        // Fewer bytes than the length says: a message cut short, even when
        // what is there reads as a whole one (a Finished, a ClientHello
        // without extensions). Found by fuzzing: every prefix of a message
        // must fail. The [Malformed] field is empty, at the end.
        if have < len.v as usize {
            return Err(ParseError {
                field: name,
                kind: ErrorKind::Truncated,
                at: body.offset(),
                // `have` is below `len.v`.
                wanted: len.v.saturating_sub(have as u32),
                have: 0,
            });
        }
        Ok(b)
    });
    match result {
        Ok(b) => (Some(b), None),
        Err(e) => {
            t.malformed(&e);
            (None, Some(e))
        }
    }
}

fn random_tree(t: &mut Tree, random: &crate::span::Spanned<[u8; 32]>) {
    t.open("random", || "Random".into(), random.span.start);
    t.set_value(|| hex(&random.v));
    let gmt = u32::from_be_bytes([random.v[0], random.v[1], random.v[2], random.v[3]]);
    t.leaf(
        "gmt_unix_time",
        || "GMT Unix Time (first 4 bytes; random in TLS 1.3)".into(),
        Span::new(random.span.start, 4),
        || gmt.to_string(),
    );
    t.leaf(
        "random_bytes",
        || "Random Bytes".into(),
        Span::new(random.span.start.saturating_add(4), 28),
        || hex(&random.v[4..]),
    );
    t.close(random.span);
}

fn version_desc(v: u16) -> String {
    registry::describe(registry::version(v), v, 4)
}

fn suite_desc(id: u16) -> String {
    registry::describe(registry::cipher_suite(id).map(|s| s.name), id, 4)
}

fn vec_field(
    r: &mut Reader<'_>,
    len_bytes: u8,
    field: &'static str,
    label: &'static str,
    t: &mut Tree,
) -> Result<Vec<u8>, ParseError> {
    let start = r.offset();
    let (len, mut body) = r.sub(len_bytes, field)?;
    let data = body.take_rest(field);
    t.leaf("length", || format!("{label} Length"), len.span, || len.v.to_string());
    t.leaf(field, || label.to_string(), data.span, || hex_short(data.v, 64));
    let _ = start;
    Ok(data.v.to_vec())
}

fn parse_body(ty: u8, r: &mut Reader<'_>, ctx: &Ctx, t: &mut Tree) -> Result<Body, ParseError> {
    use kind::*;
    Ok(match ty {
        HELLO_REQUEST => Body::HelloRequest,
        SERVER_HELLO_DONE => Body::ServerHelloDone,
        END_OF_EARLY_DATA => Body::EndOfEarlyData,
        CLIENT_HELLO => Body::ClientHello(Box::new(client_hello(r, t)?)),
        SERVER_HELLO => Body::ServerHello(Box::new(server_hello(r, t)?)),
        ENCRYPTED_EXTENSIONS => {
            let mut h = Hello::default();
            ext::parse_block(r, Where::EncryptedExtensions, t, &mut h)?;
            Body::EncryptedExtensions(Box::new(h))
        }
        NEW_SESSION_TICKET => new_session_ticket(r, ctx, t)?,
        CERTIFICATE => Body::Certificate(certificate(r, ctx, t)?),
        SERVER_KEY_EXCHANGE => Body::ServerKeyExchange(Box::new(server_key_exchange(r, ctx, t)?)),
        CERTIFICATE_REQUEST => {
            certificate_request(r, ctx, t)?;
            Body::CertificateRequest
        }
        CERTIFICATE_VERIFY => {
            let (scheme, signature) = signature(r, ctx.sig_has_algorithm() || ctx.tls13(), t)?;
            Body::CertificateVerify { scheme, signature }
        }
        CLIENT_KEY_EXCHANGE => Body::ClientKeyExchange(client_key_exchange(r, ctx, t)?),
        FINISHED => {
            let v = r.take_rest("verify_data");
            t.leaf("verify_data", || "Verify Data".into(), v.span, || hex(v.v));
            Body::Finished(v.v.to_vec())
        }
        CERTIFICATE_STATUS => {
            let kind = r.u8("status_type")?;
            t.leaf(
                "status_type",
                || "Certificate Status Type".into(),
                kind.span,
                || {
                    if kind.v == 1 { "OCSP (1)".into() } else { format!("unknown ({})", kind.v) }
                },
            );
            vec_field(r, 3, "ocsp_response", "OCSP Response", t)?;
            Body::CertificateStatus
        }
        KEY_UPDATE => {
            let v = r.u8("request_update")?;
            t.leaf(
                "request_update",
                || "Key Update Request".into(),
                v.span,
                || match v.v {
                    0 => "update_not_requested (0)".into(),
                    1 => "update_requested (1)".into(),
                    x => format!("unknown ({x})"),
                },
            );
            Body::KeyUpdate(v.v == 1)
        }
        COMPRESSED_CERTIFICATE => {
            let alg = r.u16("algorithm")?;
            t.leaf(
                "algorithm",
                || "Algorithm".into(),
                alg.span,
                || match alg.v {
                    1 => "zlib (1)".into(),
                    2 => "brotli (2)".into(),
                    3 => "zstd (3)".into(),
                    x => format!("unknown ({x})"),
                },
            );
            let ulen = r.u24("uncompressed_length")?;
            t.leaf(
                "uncompressed_length",
                || "Uncompressed Length".into(),
                ulen.span,
                || ulen.v.to_string(),
            );
            vec_field(r, 3, "compressed_certificate_message", "Compressed Certificate Message", t)?;
            Body::CompressedCertificate
        }
        _ => {
            let data = r.take_rest("data");
            if !data.v.is_empty() {
                t.leaf("data", || "Data".into(), data.span, || hex_short(data.v, 64));
            }
            Body::Other
        }
    })
}

fn client_hello(r: &mut Reader<'_>, t: &mut Tree) -> Result<ClientHello, ParseError> {
    let mut ch = ClientHello::default();
    let v = r.u16("legacy_version")?;
    ch.version = v.v;
    t.leaf("version", || "Version".into(), v.span, || version_desc(v.v));
    let random = r.array::<32>("random")?;
    ch.random = random.v;
    random_tree(t, &random);
    let (sl, mut sid) = r.sub_bounded(1, 0, 32, "legacy_session_id")?;
    let sid = sid.take_rest("legacy_session_id");
    ch.session_id = sid.v.to_vec();
    t.leaf("session_id_length", || "Session ID Length".into(), sl.span, || sl.v.to_string());
    if !sid.v.is_empty() {
        t.leaf("session_id", || "Session ID".into(), sid.span, || hex(sid.v));
    }
    let (cl, mut suites) = r.sub(2, "cipher_suites")?;
    let suites_at = suites.offset();
    t.leaf("cipher_suites_length", || "Cipher Suites Length".into(), cl.span, || cl.v.to_string());
    t.open("cipher_suites", String::new, suites_at);
    while !suites.is_empty() {
        let s = suites.u16("cipher_suite")?;
        ch.cipher_suites.push(s.v);
        t.leaf("cipher_suite", || "Cipher Suite".into(), s.span, || suite_desc(s.v));
        if registry::is_grease(s.v) {
            t.note(true, || "GREASE value".into());
        }
    }
    t.set_label(|| format!("Cipher Suites ({} suites)", ch.cipher_suites.len()));
    t.close(Span::new(suites_at, cl.v));
    let (ml, mut methods) = r.sub(1, "compression_methods")?;
    t.leaf(
        "compression_methods_length",
        || "Compression Methods Length".into(),
        ml.span,
        || ml.v.to_string(),
    );
    while !methods.is_empty() {
        let m = methods.u8("compression_method")?;
        ch.compression_methods.push(m.v);
        t.leaf(
            "compression_method",
            || "Compression Method".into(),
            m.span,
            || match m.v {
                0 => "null (0)".into(),
                1 => "DEFLATE (1)".into(),
                x => format!("unknown ({x})"),
            },
        );
    }
    if !r.is_empty() {
        ch.has_extensions = true;
        ext::parse_block(r, Where::ClientHello, t, &mut ch.hello)?;
    }
    Ok(ch)
}

fn server_hello(r: &mut Reader<'_>, t: &mut Tree) -> Result<ServerHello, ParseError> {
    let mut sh = ServerHello::default();
    let v = r.u16("legacy_version")?;
    sh.version = v.v;
    t.leaf("version", || "Version".into(), v.span, || version_desc(v.v));
    let random = r.array::<32>("random")?;
    sh.random = random.v;
    sh.retry = random.v == HRR_RANDOM;
    random_tree(t, &random);
    if sh.retry {
        t.note(true, || "this random marks a HelloRetryRequest (RFC 8446 §4.1.3)".into());
    } else if random.v[24..31] == *b"DOWNGRD" {
        t.note(true, || {
            "downgrade sentinel: the server supports a newer TLS version (RFC 8446 §4.1.3)".into()
        });
    }
    let (sl, mut sid) = r.sub_bounded(1, 0, 32, "legacy_session_id_echo")?;
    let sid = sid.take_rest("legacy_session_id_echo");
    sh.session_id = sid.v.to_vec();
    t.leaf("session_id_length", || "Session ID Length".into(), sl.span, || sl.v.to_string());
    if !sid.v.is_empty() {
        t.leaf("session_id", || "Session ID".into(), sid.span, || hex(sid.v));
    }
    let s = r.u16("cipher_suite")?;
    sh.cipher_suite = s.v;
    t.leaf("cipher_suite", || "Cipher Suite".into(), s.span, || suite_desc(s.v));
    if let Some(info) = registry::cipher_suite(s.v) {
        t.note(true, || format!("{} = {}", info.name, info.parts()));
    }
    let m = r.u8("legacy_compression_method")?;
    sh.compression_method = m.v;
    t.leaf(
        "compression_method",
        || "Compression Method".into(),
        m.span,
        || {
            if m.v == 0 { "null (0)".into() } else { format!("{}", m.v) }
        },
    );
    if !r.is_empty() {
        let at = if sh.retry { Where::HelloRetryRequest } else { Where::ServerHello };
        ext::parse_block(r, at, t, &mut sh.hello)?;
    }
    Ok(sh)
}

fn new_session_ticket(r: &mut Reader<'_>, ctx: &Ctx, t: &mut Tree) -> Result<Body, ParseError> {
    let life = r.u32("ticket_lifetime")?;
    t.leaf(
        "ticket_lifetime",
        || "Session Ticket Lifetime Hint".into(),
        life.span,
        || format!("{} seconds", life.v),
    );
    if ctx.tls13() {
        let add = r.u32("ticket_age_add")?;
        t.leaf(
            "ticket_age_add",
            || "Session Ticket Age Add".into(),
            add.span,
            || add.v.to_string(),
        );
        vec_field(r, 1, "ticket_nonce", "Session Ticket Nonce", t)?;
        let ticket = vec_field(r, 2, "ticket", "Session Ticket", t)?;
        let mut h = Hello::default();
        ext::parse_block(r, Where::NewSessionTicket, t, &mut h)?;
        Ok(Body::NewSessionTicket { lifetime: life.v, ticket })
    } else {
        let ticket = vec_field(r, 2, "ticket", "Session Ticket", t)?;
        Ok(Body::NewSessionTicket { lifetime: life.v, ticket })
    }
}

fn certificate(r: &mut Reader<'_>, ctx: &Ctx, t: &mut Tree) -> Result<Vec<Vec<u8>>, ParseError> {
    if ctx.tls13() {
        let (cl, mut c) = r.sub(1, "certificate_request_context")?;
        let c = c.take_rest("certificate_request_context");
        t.leaf(
            "context_length",
            || "Certificate Request Context Length".into(),
            cl.span,
            || cl.v.to_string(),
        );
        if !c.v.is_empty() {
            t.leaf("context", || "Certificate Request Context".into(), c.span, || hex(c.v));
        }
    }
    let (len, mut list) = r.sub(3, "certificate_list")?;
    let list_at = list.offset();
    t.leaf("certificates_length", || "Certificates Length".into(), len.span, || len.v.to_string());
    // Labelled now: on an error the count below is not set.
    t.open("certificates", || "Certificates".into(), list_at);
    let mut certs = Vec::new();
    let result = (|| {
        while !list.is_empty() {
            let entry_start = list.offset();
            let (cl, mut cert) = list.sub(3, "cert_data")?;
            let der = cert.take_rest("cert_data");
            let number = certs.len().saturating_add(1);
            t.open("certificate", || format!("Certificate {number} ({} bytes)", cl.v), entry_start);
            t.leaf(
                "certificate_length",
                || "Certificate Length".into(),
                cl.span,
                || cl.v.to_string(),
            );
            x509::tree(der.v, der.span.start, t);
            if ctx.tls13() {
                let mut h = Hello::default();
                ext::parse_block(&mut list, Where::Certificate, t, &mut h)?;
            }
            t.close(list.span_from(entry_start));
            certs.push(der.v.to_vec());
        }
        Ok(())
    })();
    // On an error the containers stay open: `parse` puts the [Malformed]
    // field in the innermost and closes them (marking it here as well gave
    // two overlapping [Malformed] fields, found by fuzzing).
    result?;
    t.set_label(|| {
        format!(
            "Certificates ({} certificate{})",
            certs.len(),
            if certs.len() == 1 { "" } else { "s" }
        )
    });
    t.close(Span::new(list_at, len.v));
    Ok(certs)
}

fn signature(
    r: &mut Reader<'_>,
    with_algorithm: bool,
    t: &mut Tree,
) -> Result<(Option<u16>, Vec<u8>), ParseError> {
    let scheme = if with_algorithm {
        let s = r.u16("signature_scheme")?;
        t.leaf(
            "signature_algorithm",
            || "Signature Algorithm".into(),
            s.span,
            || registry::describe(registry::signature_scheme(s.v), s.v, 4),
        );
        Some(s.v)
    } else {
        None
    };
    let (len, mut sig) = r.sub(2, "signature")?;
    let sig = sig.take_rest("signature");
    t.leaf("signature_length", || "Signature Length".into(), len.span, || len.v.to_string());
    t.leaf("signature", || "Signature".into(), sig.span, || hex_short(sig.v, 64));
    Ok((scheme, sig.v.to_vec()))
}

fn server_key_exchange(
    r: &mut Reader<'_>,
    ctx: &Ctx,
    t: &mut Tree,
) -> Result<ServerKeyExchange, ParseError> {
    let kx = ctx.kx();
    let params_start = r.offset();
    let rest_before = r.rest();
    if matches!(kx, Kx::Psk | Kx::DhePsk | Kx::EcdhePsk | Kx::RsaPsk) {
        vec_field(r, 2, "psk_identity_hint", "PSK Identity Hint", t)?;
    }
    let params = match kx {
        Kx::Ecdhe | Kx::EcdhePsk => {
            let pstart = r.offset();
            t.open(
                "ec_diffie_hellman_server_params",
                || "EC Diffie-Hellman Server Params".into(),
                pstart,
            );
            let curve_type = r.u8("curve_type")?;
            if curve_type.v != 3 {
                // No Curve Type leaf: the [Malformed] field spans the bad
                // byte and the rest of the message (the value ran past the
                // message once, and a leaf here overlapped it; both found
                // by fuzzing).
                return Err(ParseError {
                    field: "curve_type",
                    kind: ErrorKind::Invalid,
                    at: curve_type.span.start,
                    wanted: 3,
                    // The curve type byte and what follows it.
                    have: (r.left() as u32).saturating_add(1),
                });
            }
            t.leaf(
                "curve_type",
                || "Curve Type".into(),
                curve_type.span,
                || "named_curve (0x03)".into(),
            );
            let group = r.u16("named_curve")?;
            t.leaf(
                "named_curve",
                || "Named Curve".into(),
                group.span,
                || registry::describe(registry::named_group(group.v), group.v, 4),
            );
            let (pl, mut point) = r.sub(1, "public")?;
            let point = point.take_rest("public");
            t.leaf("pubkey_length", || "Pubkey Length".into(), pl.span, || pl.v.to_string());
            t.leaf("pubkey", || "Pubkey".into(), point.span, || hex(point.v));
            let public = point.v.to_vec();
            if kx == Kx::Ecdhe && ctx.kx().signed(ctx.cipher_suite) {
                let params_len = r.span_from(params_start).len;
                let params_bytes =
                    rest_before.get(..params_len as usize).unwrap_or_default().to_vec();
                let (scheme, sig) = signature(r, ctx.sig_has_algorithm(), t)?;
                t.close(r.span_from(pstart));
                return Ok(ServerKeyExchange {
                    params: ServerParams::Ecdhe { group: group.v, public },
                    params_bytes,
                    sig_scheme: scheme,
                    signature: Some(sig),
                });
            }
            t.close(r.span_from(pstart));
            ServerParams::Ecdhe { group: group.v, public }
        }
        Kx::Dhe | Kx::DhePsk => {
            let pstart = r.offset();
            t.open(
                "diffie_hellman_server_params",
                || "Diffie-Hellman Server Params".into(),
                pstart,
            );
            let p = vec_field(r, 2, "dh_p", "p", t)?;
            let g = vec_field(r, 2, "dh_g", "g", t)?;
            let ys = vec_field(r, 2, "dh_Ys", "Pubkey", t)?;
            t.close(r.span_from(pstart));
            ServerParams::Dhe { p, g, ys }
        }
        _ => {
            let data = r.take_rest("params");
            t.leaf(
                "params",
                || "Parameters (key exchange not known)".into(),
                data.span,
                || hex_short(data.v, 64),
            );
            ServerParams::Other
        }
    };
    let params_len = r.span_from(params_start).len;
    let params_bytes = rest_before.get(..params_len as usize).unwrap_or_default().to_vec();
    let (sig_scheme, signature) = if kx.signed(ctx.cipher_suite) {
        let (s, sig) = signature(r, ctx.sig_has_algorithm(), t)?;
        (s, Some(sig))
    } else {
        (None, None)
    };
    Ok(ServerKeyExchange { params, params_bytes, sig_scheme, signature })
}

fn client_key_exchange(
    r: &mut Reader<'_>,
    ctx: &Ctx,
    t: &mut Tree,
) -> Result<ClientKeyExchange, ParseError> {
    let kx = ctx.kx();
    if matches!(kx, Kx::Psk | Kx::DhePsk | Kx::EcdhePsk | Kx::RsaPsk) {
        let (l, mut id) = r.sub(2, "psk_identity")?;
        let id = id.take_rest("psk_identity");
        t.leaf("psk_identity_length", || "PSK Identity Length".into(), l.span, || l.v.to_string());
        t.leaf(
            "psk_identity",
            || "PSK Identity".into(),
            id.span,
            || String::from_utf8_lossy(id.v).into_owned(),
        );
        if kx == Kx::Psk {
            return Ok(ClientKeyExchange::Unknown(Vec::new()));
        }
    }
    Ok(match kx {
        Kx::Ecdhe | Kx::EcdhePsk => {
            let pstart = r.offset();
            t.open(
                "ec_diffie_hellman_client_params",
                || "EC Diffie-Hellman Client Params".into(),
                pstart,
            );
            let (pl, mut p) = r.sub(1, "ecdh_Yc")?;
            let p = p.take_rest("ecdh_Yc");
            t.leaf("pubkey_length", || "Pubkey Length".into(), pl.span, || pl.v.to_string());
            t.leaf("pubkey", || "Pubkey".into(), p.span, || hex(p.v));
            t.close(r.span_from(pstart));
            ClientKeyExchange::Ecdhe(p.v.to_vec())
        }
        Kx::Dhe | Kx::DhePsk => {
            let pstart = r.offset();
            t.open(
                "diffie_hellman_client_params",
                || "Diffie-Hellman Client Params".into(),
                pstart,
            );
            let y = vec_field(r, 2, "dh_Yc", "Pubkey", t)?;
            t.close(r.span_from(pstart));
            ClientKeyExchange::Dhe(y)
        }
        Kx::Rsa | Kx::RsaPsk => {
            let pstart = r.offset();
            t.open("rsa_encrypted_premaster", || "RSA Encrypted PreMaster Secret".into(), pstart);
            let v = vec_field(r, 2, "encrypted_pre_master_secret", "Encrypted PreMaster", t)?;
            t.close(r.span_from(pstart));
            ClientKeyExchange::Rsa(v)
        }
        _ => {
            let data = r.take_rest("exchange_keys");
            t.leaf(
                "exchange_keys",
                || "Exchange Keys (key exchange not known)".into(),
                data.span,
                || hex_short(data.v, 64),
            );
            ClientKeyExchange::Unknown(data.v.to_vec())
        }
    })
}

fn certificate_request(r: &mut Reader<'_>, ctx: &Ctx, t: &mut Tree) -> Result<(), ParseError> {
    if ctx.tls13() {
        vec_field(r, 1, "certificate_request_context", "Certificate Request Context", t)?;
        let mut h = Hello::default();
        return ext::parse_block(r, Where::CertificateRequest, t, &mut h);
    }
    let (tl, mut types) = r.sub(1, "certificate_types")?;
    t.leaf(
        "certificate_types_count",
        || "Certificate types count".into(),
        tl.span,
        || tl.v.to_string(),
    );
    while !types.is_empty() {
        let ty = types.u8("certificate_type")?;
        t.leaf(
            "certificate_type",
            || "Certificate type".into(),
            ty.span,
            || match ty.v {
                1 => "rsa_sign (1)".into(),
                2 => "dss_sign (2)".into(),
                64 => "ecdsa_sign (64)".into(),
                x => format!("{x}"),
            },
        );
    }
    if ctx.sig_has_algorithm() {
        let (sl, mut schemes) = r.sub(2, "supported_signature_algorithms")?;
        t.leaf(
            "signature_algorithms_length",
            || "Signature Hash Algorithms Length".into(),
            sl.span,
            || sl.v.to_string(),
        );
        while !schemes.is_empty() {
            let s = schemes.u16("signature_scheme")?;
            t.leaf(
                "signature_algorithm",
                || "Signature Algorithm".into(),
                s.span,
                || registry::describe(registry::signature_scheme(s.v), s.v, 4),
            );
        }
    }
    let (dl, mut dns) = r.sub(2, "certificate_authorities")?;
    t.leaf(
        "distinguished_names_length",
        || "Distinguished Names Length".into(),
        dl.span,
        || dl.v.to_string(),
    );
    while !dns.is_empty() {
        let (l, mut dn) = dns.sub(2, "distinguished_name")?;
        let dn = dn.take_rest("distinguished_name");
        t.leaf("dn_length", || "Distinguished Name Length".into(), l.span, || l.v.to_string());
        t.leaf("dn", || "Distinguished Name".into(), dn.span, || x509::name_from_der(dn.v));
    }
    Ok(())
}

/// Parses an SSLv2-compatible ClientHello body (after its 2-byte length),
/// [RFC 5246 Appendix E.2](https://www.rfc-editor.org/rfc/rfc5246#appendix-E.2).
/// Spans are relative to the record (the 2-byte header is at 0).
pub fn parse_sslv2_client_hello(body: &[u8], t: &mut Tree) -> Result<ClientHello, ParseError> {
    let mut r = Reader::at(body, 2);
    let ty = r.u8("msg_type")?;
    t.leaf("msg_type", || "Handshake Message Type".into(), ty.span, || "client_hello (1)".into());
    let v = r.u16("version")?;
    t.leaf("version", || "Version".into(), v.span, || version_desc(v.v));
    let cl = r.u16("cipher_spec_length")?;
    let sl = r.u16("session_id_length")?;
    let chl = r.u16("challenge_length")?;
    t.leaf("cipher_spec_length", || "Cipher Spec Length".into(), cl.span, || cl.v.to_string());
    t.leaf("session_id_length", || "Session ID Length".into(), sl.span, || sl.v.to_string());
    t.leaf("challenge_length", || "Challenge Length".into(), chl.span, || chl.v.to_string());
    let specs = r.take(usize::from(cl.v), "cipher_specs")?;
    let mut ch = ClientHello { version: v.v, sslv2: true, ..ClientHello::default() };
    t.open("cipher_specs", String::new, specs.span.start);
    let mut sr = Reader::at(specs.v, specs.span.start);
    while sr.left() >= 3 {
        let spec = sr.array::<3>("cipher_spec")?;
        let [a, b, c] = spec.v;
        if a == 0 {
            let id = u16::from_be_bytes([b, c]);
            ch.cipher_suites.push(id);
            t.leaf("cipher_spec", || "Cipher Spec".into(), spec.span, || suite_desc(id));
        } else {
            t.leaf(
                "cipher_spec",
                || "Cipher Spec".into(),
                spec.span,
                || format!("SSLv2 cipher kind {a:02x}{b:02x}{c:02x}"),
            );
        }
    }
    t.set_label(|| format!("Cipher Specs ({} specs)", cl.v / 3));
    t.close(specs.span);
    let sid = r.take(usize::from(sl.v), "session_id")?;
    ch.session_id = sid.v.to_vec();
    if !sid.v.is_empty() {
        t.leaf("session_id", || "Session ID".into(), sid.span, || hex(sid.v));
    }
    let challenge = r.take(usize::from(chl.v), "challenge")?;
    t.leaf("challenge", || "Challenge".into(), challenge.span, || hex(challenge.v));
    // The challenge becomes the right-aligned client random (RFC 5246 E.2).
    for (dst, src) in ch.random.iter_mut().rev().zip(challenge.v.iter().rev()) {
        *dst = *src;
    }
    r.expect_empty("client_hello")?;
    Ok(ch)
}

/// Reassembles handshake messages of one direction from record bodies.
#[derive(Debug, Default)]
pub struct Assembler {
    buf: Vec<u8>,
    pieces: Pieces,
    /// Bytes of an oversized message still to skip.
    skip: usize,
}

/// A complete message's bytes, as the assembler hands them out.
pub struct RawMessage<'a> {
    /// The message, header included.
    pub bytes: &'a [u8],
    /// Where they were captured.
    pub pieces: &'a Pieces,
}

impl Assembler {
    /// Bytes held for a message split over records.
    pub fn buffered(&self) -> usize {
        let pieces = self.pieces.0.capacity().saturating_mul(size_of::<crate::span::Piece>());
        self.buf.capacity().saturating_add(pieces)
    }

    /// The length announced by the buffered message header (at least 4
    /// bytes must be buffered).
    fn announced_len(&self) -> usize {
        match self.buf.get(1..4) {
            Some(&[a, b, c]) => u32::from_be_bytes([0, a, b, c]) as usize,
            _ => 0,
        }
    }

    /// Whether part of a message is waiting for the next record.
    pub fn is_pending(&self) -> bool {
        !self.buf.is_empty() || self.skip > 0
    }

    /// Forgets a partial message (after a gap).
    pub fn reset(&mut self) {
        self.buf.clear();
        self.pieces.0.clear();
        self.skip = 0;
    }

    /// Feeds the body of a handshake record. `record_pieces` map the record
    /// (header at 0, body at 5) to frames; pass empty pieces for decrypted
    /// plaintext. `emit` gets each complete message; `too_large` is called
    /// with the announced length of a message over [`MAX_MESSAGE`], which
    /// is skipped.
    pub fn push(
        &mut self,
        body: &[u8],
        record_pieces: &Pieces,
        body_offset: u32,
        emit: &mut dyn FnMut(RawMessage<'_>),
        too_large: &mut dyn FnMut(usize),
    ) {
        let mut data = body;
        let mut pos = body_offset;
        while !data.is_empty() {
            if self.skip > 0 {
                let n = self.skip.min(data.len());
                self.skip = self.skip.saturating_sub(n);
                data = data.get(n..).unwrap_or_default();
                // Offsets in one record: no overflow.
                pos = pos.saturating_add(n as u32);
                continue;
            }
            // How much of the current message we still need: its header,
            // then the rest of what it announced (at most MAX_MESSAGE).
            let whole = if self.buf.len() < 4 { 4 } else { self.announced_len().saturating_add(4) };
            let need = whole.saturating_sub(self.buf.len());
            let n = need.min(data.len());
            let unit_offset = self.buf.len() as u32;
            self.buf.extend_from_slice(data.get(..n).unwrap_or_default());
            // Map these message bytes to frames through the record's pieces.
            add_pieces(&mut self.pieces, record_pieces, pos, n as u32, unit_offset);
            data = data.get(n..).unwrap_or_default();
            pos = pos.saturating_add(n as u32);
            if self.buf.len() == 4 {
                let len = self.announced_len();
                if len > MAX_MESSAGE {
                    too_large(len);
                    self.skip = len;
                    self.buf.clear();
                    self.pieces.0.clear();
                    continue;
                }
            }
            if self.buf.len() >= 4 {
                let len = self.announced_len();
                if len.checked_add(4) == Some(self.buf.len()) {
                    emit(RawMessage { bytes: &self.buf, pieces: &self.pieces });
                    self.buf.clear();
                    self.pieces.0.clear();
                }
            }
        }
    }
}

/// Adds the pieces for record bytes `pos .. pos + len` (record offsets) as
/// message bytes starting at `unit_offset`. Offsets saturate, as
/// [`Span::end`] does: they are offsets in one record or message.
fn add_pieces(out: &mut Pieces, record: &Pieces, pos: u32, len: u32, unit_offset: u32) {
    let end = pos.saturating_add(len);
    for p in &record.0 {
        let (ps, pe) = (p.unit_offset, p.unit_offset.saturating_add(p.len));
        // The overlap `s..e`: `s` is at least `pos` and `ps`.
        let s = ps.max(pos);
        let e = pe.min(end);
        if let Some(len) = e.checked_sub(s).filter(|&l| l > 0) {
            out.0.push(Piece {
                unit_offset: unit_offset.saturating_add(s.saturating_sub(pos)),
                len,
                frame: p.frame,
                frame_offset: p.frame_offset.saturating_add(s.saturating_sub(ps)),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tree::check_invariants;

    fn msg(ty: u8, body: &[u8]) -> Vec<u8> {
        let mut v = vec![ty];
        v.extend(&(body.len() as u32).to_be_bytes()[1..]);
        v.extend_from_slice(body);
        v
    }

    /// curl 7.88's TLS 1.2-only ClientHello, cut down: version, random,
    /// session id, three suites, null compression, SNI and ALPN.
    fn client_hello_bytes() -> Vec<u8> {
        let mut b = vec![0x03, 0x03];
        b.extend([0x11; 32]); // random
        b.push(0); // session id length
        b.extend([0x00, 0x06, 0xc0, 0x2f, 0xc0, 0x30, 0x00, 0xff]); // suites
        b.extend([0x01, 0x00]); // compression
        let sni = [
            0x00, 0x00, 0x00, 0x0e, 0x00, 0x0c, 0x00, 0x00, 0x09, b'l', b'o', b'c', b'a', b'l',
            b'h', b'o', b's', b't',
        ];
        let alpn = [0x00, 0x10, 0x00, 0x05, 0x00, 0x03, 0x02, b'h', b'2'];
        b.extend(((sni.len() + alpn.len()) as u16).to_be_bytes());
        b.extend(sni);
        b.extend(alpn);
        msg(1, &b)
    }

    #[test]
    fn parses_a_client_hello_with_spans() {
        let bytes = client_hello_bytes();
        let mut t = Tree::on();
        let (body, err) = parse(&bytes, &Ctx::default(), &mut t);
        assert_eq!(err, None);
        let Some(Body::ClientHello(ch)) = body else { panic!("{body:?}") };
        assert_eq!(ch.version, 0x0303);
        assert_eq!(ch.random, [0x11; 32]);
        assert_eq!(ch.cipher_suites, vec![0xc02f, 0xc030, 0x00ff]);
        assert_eq!(ch.hello.server_name.as_deref(), Some("localhost"));
        assert_eq!(ch.hello.alpn, vec![b"h2".to_vec()]);
        let fields = t.finish();
        check_invariants(&fields, Some(Span::new(0, bytes.len() as u32))).unwrap();
        let random = fields.iter().find(|f| f.key == "random").unwrap();
        assert_eq!(random.span, Span::new(6, 32));
        let suites = fields.iter().find(|f| f.key == "cipher_suites").unwrap();
        assert_eq!(suites.label, "Cipher Suites (3 suites)");
        assert_eq!(suites.children[0].span, Span::new(41, 2));
    }

    #[test]
    fn recognises_hello_retry_request() {
        let mut b = vec![0x03, 0x03];
        b.extend(HRR_RANDOM);
        b.extend([0, 0x13, 0x01, 0]);
        b.extend([0, 12, 0, 43, 0, 2, 3, 4, 0, 51, 0, 2, 0, 0x17]);
        let bytes = msg(2, &b);
        let (body, err) = parse(&bytes, &Ctx::default(), &mut Tree::off());
        assert_eq!(err, None);
        let Some(Body::ServerHello(sh)) = &body else { panic!() };
        assert!(sh.retry);
        assert_eq!(sh.negotiated_version(), 0x0304);
        let m = Message {
            msg_type: 2,
            bytes,
            pieces: Pieces::default(),
            frame: 1,
            ts: Timestamp(0),
            body,
            error: None,
            fields: vec![],
        };
        assert_eq!(m.name(), "HelloRetryRequest");
    }

    #[test]
    fn ecdhe_server_key_exchange_keeps_the_signed_params() {
        let mut b = vec![3, 0x00, 0x1d, 4, 1, 2, 3, 4];
        b.extend([0x04, 0x01, 0x00, 0x03, 9, 9, 9]); // rsa_pkcs1_sha256, 3-byte signature
        let bytes = msg(12, &b);
        let ctx = Ctx {
            from_server: true,
            version: Some(0x0303),
            legacy_version: Some(0x0303),
            cipher_suite: Some(0xc02f),
        };
        let mut t = Tree::on();
        let (body, err) = parse(&bytes, &ctx, &mut t);
        assert_eq!(err, None, "{:?}", t.finish());
        let Some(Body::ServerKeyExchange(ske)) = body else { panic!() };
        assert_eq!(ske.params, ServerParams::Ecdhe { group: 0x1d, public: vec![1, 2, 3, 4] });
        assert_eq!(ske.params_bytes, vec![3, 0, 0x1d, 4, 1, 2, 3, 4]);
        assert_eq!(ske.sig_scheme, Some(0x0401));
        assert_eq!(ske.signature, Some(vec![9, 9, 9]));
    }

    #[test]
    fn tls13_certificate_has_a_context_and_entry_extensions() {
        let cert = [0x30, 0x03, 0x02, 0x01, 0x01]; // not a real certificate
        let mut entry = vec![0, 0, 5];
        entry.extend(cert);
        entry.extend([0, 0]); // no extensions
        let mut b = vec![0]; // empty context
        b.extend(&(entry.len() as u32).to_be_bytes()[1..]);
        b.extend(&entry);
        let bytes = msg(11, &b);
        let ctx = Ctx { version: Some(0x0304), ..Ctx::default() };
        let mut t = Tree::on();
        let (body, err) = parse(&bytes, &ctx, &mut t);
        assert_eq!(err, None);
        assert_eq!(body, Some(Body::Certificate(vec![cert.to_vec()])));
        check_invariants(&t.finish(), None).unwrap();
    }

    #[test]
    fn trailing_bytes_are_malformed() {
        let bytes = msg(14, &[1]);
        let mut t = Tree::on();
        let (_, err) = parse(&bytes, &Ctx::default(), &mut t);
        assert_eq!(err.map(|e| e.kind), Some(crate::span::ErrorKind::TrailingBytes));
        assert!(t.finish().iter().any(|f| f.key == "malformed"));
    }

    #[test]
    fn every_prefix_of_every_message_fails_cleanly() {
        let samples = [
            client_hello_bytes(),
            msg(12, &[3, 0x00, 0x1d, 4, 1, 2, 3, 4, 0x04, 0x01, 0x00, 0x03, 9, 9, 9]),
            msg(16, &[4, 1, 2, 3, 4]),
            msg(4, &[0, 0, 0, 1, 0, 0, 0, 2, 1, 7, 0, 1, 8, 0, 0]),
            msg(13, &[1, 1, 0, 2, 4, 1, 0, 0]),
            msg(15, &[8, 4, 0, 2, 1, 2]),
            msg(22, &[1, 0, 0, 2, 5, 5]),
            msg(25, &[0, 2, 0, 0, 9, 0, 0, 1, 7]),
        ];
        for ctx in [
            Ctx::default(),
            Ctx { version: Some(0x0304), ..Ctx::default() },
            Ctx {
                version: Some(0x0303),
                legacy_version: Some(0x0303),
                cipher_suite: Some(0xc02f),
                from_server: true,
            },
            Ctx {
                version: Some(0x0303),
                legacy_version: Some(0x0303),
                cipher_suite: Some(0x009e),
                from_server: true,
            },
            Ctx {
                version: Some(0x0301),
                legacy_version: Some(0x0301),
                cipher_suite: Some(0x002f),
                from_server: false,
            },
        ] {
            for s in &samples {
                for n in 0..=s.len() {
                    let mut t = Tree::on();
                    let _ = parse(&s[..n], &ctx, &mut t);
                    check_invariants(&t.finish(), None).unwrap();
                }
            }
        }
    }

    #[test]
    fn assembler_joins_messages_split_across_records() {
        let a = msg(2, &[7; 10]);
        let b = msg(14, &[]);
        let all: Vec<u8> = [a.clone(), b.clone()].concat();
        for cut in 0..all.len() {
            let mut asm = Assembler::default();
            let mut got = Vec::new();
            for (i, part) in [&all[..cut], &all[cut..]].into_iter().enumerate() {
                let pieces = Pieces(vec![Piece {
                    unit_offset: 0,
                    len: 5 + part.len() as u32,
                    frame: i as u64 + 1,
                    frame_offset: 0,
                }]);
                asm.push(
                    part,
                    &pieces,
                    5,
                    &mut |m| {
                        got.push((
                            m.bytes.to_vec(),
                            m.pieces.frames(Span::new(0, m.bytes.len() as u32)),
                        ))
                    },
                    &mut |_| {},
                );
            }
            assert_eq!(got.len(), 2, "cut {cut}");
            assert_eq!(got[0].0, a);
            assert_eq!(got[1].0, b);
            if cut > 0 && cut < a.len() {
                assert_eq!(got[0].1, vec![1, 2], "the first message spans both records");
            }
        }
    }

    #[test]
    fn assembler_skips_oversized_messages() {
        let mut big = vec![11];
        big.extend(&((MAX_MESSAGE + 1) as u32).to_be_bytes()[1..]);
        let mut asm = Assembler::default();
        let mut sizes = Vec::new();
        let mut got = 0;
        asm.push(&big, &Pieces::default(), 5, &mut |_| got += 1, &mut |n| sizes.push(n));
        let filler = vec![0u8; MAX_MESSAGE + 1];
        asm.push(&filler, &Pieces::default(), 5, &mut |_| got += 1, &mut |n| sizes.push(n));
        asm.push(&msg(14, &[]), &Pieces::default(), 5, &mut |_| got += 1, &mut |n| sizes.push(n));
        assert_eq!(sizes, vec![MAX_MESSAGE + 1]);
        assert_eq!(got, 1, "the message after the skipped one is read");
    }
}
