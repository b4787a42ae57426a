//! TLS extensions: each one's body decoded into the field tree and into
//! [`Hello`], the summary the session model needs.
//!
//! Extensions appear in several messages (ClientHello, ServerHello,
//! HelloRetryRequest, EncryptedExtensions, CertificateRequest, Certificate
//! entries, NewSessionTicket) and some have a different body in each; the
//! [`Where`] argument says which. Unknown and GREASE extensions are kept
//! raw with their number. References: RFC 8446 §4.2, RFC 6066, RFC 7301,
//! RFC 8422, RFC 7627, RFC 7366, RFC 5746, RFC 6962, RFC 7685, RFC 8449,
//! RFC 8879, RFC 8701, draft-ietf-tls-esni.

use crate::span::{ParseError, Reader, Span};
use crate::tls::registry;
use crate::tree::{Tree, hex, hex_short};

/// The message an extension block belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Where {
    /// ClientHello.
    ClientHello,
    /// ServerHello (TLS 1.2 or 1.3).
    ServerHello,
    /// HelloRetryRequest (a ServerHello with the special random).
    HelloRetryRequest,
    /// EncryptedExtensions (TLS 1.3).
    EncryptedExtensions,
    /// CertificateRequest (TLS 1.3).
    CertificateRequest,
    /// A CertificateEntry (TLS 1.3).
    Certificate,
    /// NewSessionTicket (TLS 1.3).
    NewSessionTicket,
}

/// What the hello messages say, collected while their extensions are
/// parsed. Only what the session model and fingerprints use.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Hello {
    /// Extension types in wire order (GREASE included).
    pub extension_types: Vec<u16>,
    /// server_name (host_name entry).
    pub server_name: Option<String>,
    /// ALPN protocols offered (ClientHello) or the one selected.
    pub alpn: Vec<Vec<u8>>,
    /// supported_versions: offered list (ClientHello).
    pub supported_versions: Vec<u16>,
    /// supported_versions: the selected version (ServerHello).
    pub selected_version: Option<u16>,
    /// supported_groups.
    pub groups: Vec<u16>,
    /// signature_algorithms.
    pub signature_algorithms: Vec<u16>,
    /// signature_algorithms_cert.
    pub signature_algorithms_cert: Vec<u16>,
    /// ec_point_formats.
    pub ec_point_formats: Vec<u8>,
    /// key_share: (group, key exchange bytes); the ServerHello's single
    /// share, or HelloRetryRequest's selected group with an empty key.
    pub key_shares: Vec<(u16, Vec<u8>)>,
    /// psk_key_exchange_modes.
    pub psk_modes: Vec<u8>,
    /// pre_shared_key: number of identities offered (ClientHello).
    pub psk_identities: usize,
    /// pre_shared_key: the identity the server selected (ServerHello).
    pub psk_selected: Option<u16>,
    /// early_data present.
    pub early_data: bool,
    /// extended_master_secret present.
    pub extended_master_secret: bool,
    /// encrypt_then_mac present.
    pub encrypt_then_mac: bool,
    /// session_ticket: present, with its ticket's length.
    pub session_ticket: Option<usize>,
    /// The ticket a client offered in session_ticket (TLS 1.2 resumption).
    pub ticket: Vec<u8>,
    /// renegotiation_info present.
    pub renegotiation_info: bool,
    /// status_request present.
    pub status_request: bool,
    /// signed_certificate_timestamp present.
    pub sct: bool,
    /// record_size_limit.
    pub record_size_limit: Option<u16>,
    /// compress_certificate algorithms.
    pub compress_certificate: Vec<u16>,
    /// cookie present (HelloRetryRequest / second ClientHello).
    pub cookie: bool,
    /// encrypted_client_hello present.
    pub ech: bool,
}

fn u16_list(r: &mut Reader<'_>, field: &'static str) -> Result<Vec<(u16, Span)>, ParseError> {
    let mut out = Vec::new();
    while !r.is_empty() {
        let v = r.u16(field)?;
        out.push((v.v, v.span));
    }
    Ok(out)
}

fn describe16(name: Option<&str>, id: u16) -> String {
    registry::describe(name, id, 4)
}

fn printable(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(s) if s.chars().all(|c| !c.is_control()) => s.to_string(),
        _ => format!("0x{}", hex(bytes)),
    }
}

/// Parses an extension block (the 2-byte length and the extensions) at the
/// reader's position.
pub fn parse_block(
    r: &mut Reader<'_>,
    at: Where,
    t: &mut Tree,
    hello: &mut Hello,
) -> Result<(), ParseError> {
    let start = r.offset();
    let (len, mut exts) = r.sub(2, "extensions")?;
    t.open("extensions", String::new, start);
    t.leaf("extensions_length", || "Extensions Length".into(), len.span, || len.v.to_string());
    let mut n = 0usize;
    let result = (|| {
        while !exts.is_empty() {
            parse_one(&mut exts, at, t, hello)?;
            n = n.saturating_add(1);
        }
        Ok(())
    })();
    t.set_label(|| format!("Extensions ({n})"));
    // On an error the container stays open: the caller passes the error
    // on, and whoever ends the message with `Tree::malformed` puts the
    // [Malformed] field inside it. (Adding it here as well gave two
    // overlapping [Malformed] fields, found by fuzzing.)
    result?;
    t.close(r.span_from(start));
    Ok(())
}

/// Shows `err` as a `[Malformed]` field in the innermost open container
/// and closes nothing: unlike [`Tree::malformed`], which ends the whole
/// message, an extension's length still frames it, so the block goes on.
/// The field runs from the error to the end of the reader that failed,
/// which lies inside that container.
fn malformed_here(t: &mut Tree, err: &ParseError) {
    t.leaf(
        "malformed",
        || "[Malformed]".to_string(),
        Span::new(err.at, err.have),
        || err.to_string(),
    );
}

fn parse_one(
    r: &mut Reader<'_>,
    at: Where,
    t: &mut Tree,
    hello: &mut Hello,
) -> Result<(), ParseError> {
    let start = r.offset();
    let ty = r.u16("extension_type")?;
    let (len, mut body) = r.sub(2, "extension_data")?;
    let name = registry::extension_type(ty.v);
    let grease = registry::is_grease(ty.v);
    hello.extension_types.push(ty.v);
    t.open("extension", || format!("Extension: {}", describe16(name, ty.v)), start);
    t.leaf("type", || "Type".into(), ty.span, || describe16(name, ty.v));
    t.leaf("length", || "Length".into(), len.span, || len.v.to_string());
    let result = if grease {
        let data = body.take_rest("grease_data");
        t.leaf("data", || "Data".into(), data.span, || hex_short(data.v, 32));
        t.note(false, || "GREASE (RFC 8701): a reserved value clients send so servers keep tolerating unknown ones".into());
        Ok(())
    } else {
        parse_body(ty.v, &mut body, at, t, hello).and_then(|()| body.expect_empty("extension_data"))
    };
    if let Err(e) = &result {
        // A malformed extension body is shown and skipped: the extension's
        // length still frames it, so the next one can be read. Not
        // `Tree::malformed`: it closed every open container, the block's
        // included, and the extensions after this one ended up outside it
        // (found by fuzzing).
        malformed_here(t, e);
    }
    t.close(r.span_from(start));
    Ok(())
}

/// Extension numbers.
mod id {
    pub const SERVER_NAME: u16 = 0;
    pub const STATUS_REQUEST: u16 = 5;
    pub const SUPPORTED_GROUPS: u16 = 10;
    pub const EC_POINT_FORMATS: u16 = 11;
    pub const SIGNATURE_ALGORITHMS: u16 = 13;
    pub const ALPN: u16 = 16;
    pub const SCT: u16 = 18;
    pub const PADDING: u16 = 21;
    pub const ENCRYPT_THEN_MAC: u16 = 22;
    pub const EXTENDED_MASTER_SECRET: u16 = 23;
    pub const COMPRESS_CERTIFICATE: u16 = 27;
    pub const RECORD_SIZE_LIMIT: u16 = 28;
    pub const SESSION_TICKET: u16 = 35;
    pub const PRE_SHARED_KEY: u16 = 41;
    pub const EARLY_DATA: u16 = 42;
    pub const SUPPORTED_VERSIONS: u16 = 43;
    pub const COOKIE: u16 = 44;
    pub const PSK_KEY_EXCHANGE_MODES: u16 = 45;
    pub const CERTIFICATE_AUTHORITIES: u16 = 47;
    pub const POST_HANDSHAKE_AUTH: u16 = 49;
    pub const SIGNATURE_ALGORITHMS_CERT: u16 = 50;
    pub const KEY_SHARE: u16 = 51;
    pub const APPLICATION_SETTINGS_OLD: u16 = 17513;
    pub const APPLICATION_SETTINGS: u16 = 17613;
    pub const ENCRYPTED_CLIENT_HELLO: u16 = 0xfe0d;
    pub const RENEGOTIATION_INFO: u16 = 0xff01;
}

fn group_list(
    r: &mut Reader<'_>,
    key: &'static str,
    label: &'static str,
    field: &'static str,
    t: &mut Tree,
    name: fn(u16) -> Option<&'static str>,
) -> Result<Vec<u16>, ParseError> {
    let (len, mut list) = r.sub(2, field)?;
    let list_at = list.offset();
    t.leaf("list_length", || format!("{label} Length"), len.span, || len.v.to_string());
    let items = u16_list(&mut list, field)?;
    t.open(key, || format!("{label} ({})", items.len()), list_at);
    for (v, span) in &items {
        t.leaf(
            field,
            || label.trim_end_matches('s').to_string(),
            *span,
            || describe16(name(*v), *v),
        );
    }
    t.close(Span::new(list_at, len.v));
    Ok(items.into_iter().map(|(v, _)| v).collect())
}

fn parse_body(
    ty: u16,
    r: &mut Reader<'_>,
    at: Where,
    t: &mut Tree,
    h: &mut Hello,
) -> Result<(), ParseError> {
    match ty {
        id::SERVER_NAME => {
            if r.is_empty() {
                // The server's acknowledgement (RFC 6066 §3) is empty.
                return Ok(());
            }
            let (len, mut list) = r.sub(2, "server_name_list")?;
            t.leaf(
                "list_length",
                || "Server Name List Length".into(),
                len.span,
                || len.v.to_string(),
            );
            while !list.is_empty() {
                let start = list.offset();
                let kind = list.u8("name_type")?;
                let (nlen, mut name) = list.sub(2, "host_name")?;
                let host = name.take_rest("host_name");
                t.open("server_name", || "Server Name Indication".into(), start);
                t.leaf(
                    "name_type",
                    || "Type".into(),
                    kind.span,
                    || {
                        if kind.v == 0 {
                            "host_name (0)".into()
                        } else {
                            format!("unknown ({})", kind.v)
                        }
                    },
                );
                t.leaf("name_length", || "Length".into(), nlen.span, || nlen.v.to_string());
                t.leaf("host_name", || "Server Name".into(), host.span, || printable(host.v));
                t.close(list.span_from(start));
                if kind.v == 0 && h.server_name.is_none() {
                    h.server_name = Some(String::from_utf8_lossy(host.v).into_owned());
                }
            }
        }
        id::SUPPORTED_GROUPS => {
            h.groups = group_list(
                r,
                "supported_groups",
                "Supported Groups",
                "named_group",
                t,
                registry::named_group,
            )?;
        }
        id::EC_POINT_FORMATS => {
            let (len, mut list) = r.sub(1, "ec_point_formats")?;
            t.leaf("length", || "EC Point Formats Length".into(), len.span, || len.v.to_string());
            while !list.is_empty() {
                let f = list.u8("ec_point_format")?;
                h.ec_point_formats.push(f.v);
                t.leaf(
                    "ec_point_format",
                    || "EC Point Format".into(),
                    f.span,
                    || format!("{} ({})", registry::ec_point_format(f.v).unwrap_or("unknown"), f.v),
                );
            }
        }
        id::SIGNATURE_ALGORITHMS | id::SIGNATURE_ALGORITHMS_CERT => {
            let list = group_list(
                r,
                "signature_algorithms",
                "Signature Hash Algorithms",
                "signature_scheme",
                t,
                registry::signature_scheme,
            )?;
            if ty == id::SIGNATURE_ALGORITHMS {
                h.signature_algorithms = list;
            } else {
                h.signature_algorithms_cert = list;
            }
        }
        id::ALPN => {
            let (len, mut list) = r.sub(2, "protocol_name_list")?;
            t.leaf(
                "list_length",
                || "ALPN Extension Length".into(),
                len.span,
                || len.v.to_string(),
            );
            let start = list.offset();
            t.open("protocols", || "ALPN Protocol".into(), start);
            // Containers are closed on errors too (see `malformed_here`).
            let result = (|| {
                while !list.is_empty() {
                    let (plen, mut p) = list.sub(1, "protocol_name")?;
                    let name = p.take_rest("protocol_name");
                    t.leaf(
                        "protocol_length",
                        || "ALPN string length".into(),
                        plen.span,
                        || plen.v.to_string(),
                    );
                    t.leaf(
                        "protocol",
                        || "ALPN Next Protocol".into(),
                        name.span,
                        || printable(name.v),
                    );
                    h.alpn.push(name.v.to_vec());
                }
                Ok(())
            })();
            if let Err(e) = &result {
                malformed_here(t, e);
            }
            t.close(Span::new(start, len.v));
        }
        id::SUPPORTED_VERSIONS => {
            if at == Where::ClientHello {
                let (len, mut list) = r.sub(1, "versions")?;
                t.leaf(
                    "length",
                    || "Supported Versions length".into(),
                    len.span,
                    || len.v.to_string(),
                );
                for (v, span) in u16_list(&mut list, "version")? {
                    h.supported_versions.push(v);
                    t.leaf(
                        "version",
                        || "Supported Version".into(),
                        span,
                        || describe16(registry::version(v), v),
                    );
                }
            } else {
                let v = r.u16("selected_version")?;
                h.selected_version = Some(v.v);
                t.leaf(
                    "selected_version",
                    || "Supported Version".into(),
                    v.span,
                    || describe16(registry::version(v.v), v.v),
                );
            }
        }
        id::KEY_SHARE => match at {
            Where::ClientHello => {
                let (len, mut list) = r.sub(2, "client_shares")?;
                t.leaf(
                    "length",
                    || "Client Key Share Length".into(),
                    len.span,
                    || len.v.to_string(),
                );
                while !list.is_empty() {
                    key_share_entry(&mut list, t, h)?;
                }
            }
            Where::HelloRetryRequest => {
                let g = r.u16("selected_group")?;
                h.key_shares.push((g.v, Vec::new()));
                t.leaf(
                    "selected_group",
                    || "Selected Group".into(),
                    g.span,
                    || describe16(registry::named_group(g.v), g.v),
                );
            }
            _ => key_share_entry(r, t, h)?,
        },
        id::PSK_KEY_EXCHANGE_MODES => {
            let (len, mut list) = r.sub(1, "ke_modes")?;
            t.leaf(
                "length",
                || "PSK Key Exchange Modes Length".into(),
                len.span,
                || len.v.to_string(),
            );
            while !list.is_empty() {
                let m = list.u8("ke_mode")?;
                h.psk_modes.push(m.v);
                t.leaf(
                    "ke_mode",
                    || "PSK Key Exchange Mode".into(),
                    m.span,
                    || match m.v {
                        0 => "psk_ke (0): PSK-only key establishment".into(),
                        1 => "psk_dhe_ke (1): PSK with (EC)DHE key establishment".into(),
                        v => format!("unknown ({v})"),
                    },
                );
            }
        }
        id::PRE_SHARED_KEY => {
            if at == Where::ClientHello {
                let start = r.offset();
                let (len, mut ids) = r.sub(2, "identities")?;
                t.open("identities", || "Identities".into(), start);
                t.leaf("length", || "Identities Length".into(), len.span, || len.v.to_string());
                // Containers are closed on errors too (see `malformed_here`).
                let result = (|| {
                    while !ids.is_empty() {
                        let (ilen, mut identity) = ids.sub(2, "identity")?;
                        let id_bytes = identity.take_rest("identity");
                        let age = ids.u32("obfuscated_ticket_age")?;
                        t.leaf(
                            "identity_length",
                            || "Identity Length".into(),
                            ilen.span,
                            || ilen.v.to_string(),
                        );
                        t.leaf(
                            "identity",
                            || "Identity".into(),
                            id_bytes.span,
                            || hex_short(id_bytes.v, 32),
                        );
                        t.leaf(
                            "obfuscated_ticket_age",
                            || "Obfuscated Ticket Age".into(),
                            age.span,
                            || age.v.to_string(),
                        );
                        h.psk_identities = h.psk_identities.saturating_add(1);
                    }
                    Ok(())
                })();
                if let Err(e) = &result {
                    malformed_here(t, e);
                }
                t.close(r.span_from(start));
                let bstart = r.offset();
                let (blen, mut binders) = r.sub(2, "binders")?;
                t.open("binders", || "PSK Binders".into(), bstart);
                t.leaf("length", || "PSK Binders length".into(), blen.span, || blen.v.to_string());
                let result = (|| {
                    while !binders.is_empty() {
                        let (l, mut b) = binders.sub(1, "binder")?;
                        let bytes = b.take_rest("binder");
                        t.leaf(
                            "binder_length",
                            || "Binder length".into(),
                            l.span,
                            || l.v.to_string(),
                        );
                        t.leaf("binder", || "Binder".into(), bytes.span, || hex(bytes.v));
                    }
                    Ok(())
                })();
                if let Err(e) = &result {
                    malformed_here(t, e);
                }
                t.close(r.span_from(bstart));
            } else {
                let sel = r.u16("selected_identity")?;
                h.psk_selected = Some(sel.v);
                t.leaf(
                    "selected_identity",
                    || "Selected Identity".into(),
                    sel.span,
                    || sel.v.to_string(),
                );
            }
        }
        id::EARLY_DATA => {
            h.early_data = true;
            if at == Where::NewSessionTicket {
                let m = r.u32("max_early_data_size")?;
                t.leaf(
                    "max_early_data_size",
                    || "Maximum Early Data Size".into(),
                    m.span,
                    || m.v.to_string(),
                );
            }
        }
        id::EXTENDED_MASTER_SECRET => h.extended_master_secret = true,
        id::ENCRYPT_THEN_MAC => h.encrypt_then_mac = true,
        id::POST_HANDSHAKE_AUTH => {}
        id::SESSION_TICKET => {
            let data = r.take_rest("ticket");
            h.session_ticket = Some(data.v.len());
            h.ticket = data.v.to_vec();
            if !data.v.is_empty() {
                t.leaf("ticket", || "Session Ticket".into(), data.span, || hex_short(data.v, 32));
            }
        }
        id::RENEGOTIATION_INFO => {
            h.renegotiation_info = true;
            let (len, mut info) = r.sub(1, "renegotiated_connection")?;
            let data = info.take_rest("renegotiated_connection");
            t.leaf(
                "length",
                || "Renegotiation info extension length".into(),
                len.span,
                || len.v.to_string(),
            );
            if !data.v.is_empty() {
                t.leaf(
                    "renegotiated_connection",
                    || "Renegotiated Connection".into(),
                    data.span,
                    || hex(data.v),
                );
            }
        }
        id::STATUS_REQUEST => {
            h.status_request = true;
            if at == Where::ClientHello && !r.is_empty() {
                let kind = r.u8("status_type")?;
                t.leaf(
                    "status_type",
                    || "Certificate Status Type".into(),
                    kind.span,
                    || {
                        if kind.v == 1 {
                            "OCSP (1)".into()
                        } else {
                            format!("unknown ({})", kind.v)
                        }
                    },
                );
                let (rl, mut responders) = r.sub(2, "responder_id_list")?;
                t.leaf(
                    "responder_id_list_length",
                    || "Responder ID list Length".into(),
                    rl.span,
                    || rl.v.to_string(),
                );
                let _ = responders.take_rest("responder_id_list");
                let (el, mut exts) = r.sub(2, "request_extensions")?;
                t.leaf(
                    "request_extensions_length",
                    || "Request Extensions Length".into(),
                    el.span,
                    || el.v.to_string(),
                );
                let _ = exts.take_rest("request_extensions");
            } else if at == Where::Certificate && !r.is_empty() {
                let kind = r.u8("status_type")?;
                t.leaf(
                    "status_type",
                    || "Certificate Status Type".into(),
                    kind.span,
                    || kind.v.to_string(),
                );
                let (l, mut resp) = r.sub(3, "ocsp_response")?;
                let data = resp.take_rest("ocsp_response");
                t.leaf(
                    "ocsp_response_length",
                    || "OCSP Response Length".into(),
                    l.span,
                    || l.v.to_string(),
                );
                t.leaf(
                    "ocsp_response",
                    || "OCSP Response".into(),
                    data.span,
                    || hex_short(data.v, 32),
                );
            }
        }
        id::SCT => {
            h.sct = true;
            if !r.is_empty() {
                let (l, mut list) = r.sub(2, "signed_certificate_timestamp_list")?;
                t.leaf(
                    "list_length",
                    || "Serialized SCT List Length".into(),
                    l.span,
                    || l.v.to_string(),
                );
                while !list.is_empty() {
                    let (sl, mut sct) = list.sub(2, "serialized_sct")?;
                    let data = sct.take_rest("serialized_sct");
                    t.leaf(
                        "sct_length",
                        || "Serialized SCT Length".into(),
                        sl.span,
                        || sl.v.to_string(),
                    );
                    t.leaf("sct", || "Serialized SCT".into(), data.span, || hex_short(data.v, 32));
                }
            }
        }
        id::PADDING => {
            let data = r.take_rest("padding");
            let zeros = data.v.iter().all(|&b| b == 0);
            t.leaf(
                "padding",
                || "Padding Data".into(),
                data.span,
                || format!("{} bytes", data.v.len()),
            );
            if !zeros {
                t.note(true, || "padding should be all zero bytes (RFC 7685)".into());
            }
        }
        id::RECORD_SIZE_LIMIT => {
            let v = r.u16("record_size_limit")?;
            h.record_size_limit = Some(v.v);
            t.leaf("record_size_limit", || "Record Size Limit".into(), v.span, || v.v.to_string());
        }
        id::COMPRESS_CERTIFICATE => {
            let (len, mut list) = r.sub(1, "algorithms")?;
            t.leaf("length", || "Algorithms Length".into(), len.span, || len.v.to_string());
            for (v, span) in u16_list(&mut list, "algorithm")? {
                h.compress_certificate.push(v);
                t.leaf(
                    "algorithm",
                    || "Algorithm".into(),
                    span,
                    || {
                        let name = match v {
                            1 => Some("zlib"),
                            2 => Some("brotli"),
                            3 => Some("zstd"),
                            _ => None,
                        };
                        describe16(name, v)
                    },
                );
            }
        }
        id::COOKIE => {
            h.cookie = true;
            let (len, mut c) = r.sub(2, "cookie")?;
            let data = c.take_rest("cookie");
            t.leaf("length", || "Cookie Length".into(), len.span, || len.v.to_string());
            t.leaf("cookie", || "Cookie".into(), data.span, || hex_short(data.v, 32));
        }
        id::CERTIFICATE_AUTHORITIES => {
            let (len, mut list) = r.sub(2, "authorities")?;
            t.leaf(
                "length",
                || "Distinguished Names Length".into(),
                len.span,
                || len.v.to_string(),
            );
            while !list.is_empty() {
                let (dl, mut dn) = list.sub(2, "distinguished_name")?;
                let data = dn.take_rest("distinguished_name");
                t.leaf(
                    "dn_length",
                    || "Distinguished Name Length".into(),
                    dl.span,
                    || dl.v.to_string(),
                );
                t.leaf(
                    "dn",
                    || "Distinguished Name".into(),
                    data.span,
                    || crate::tls::x509::name_from_der(data.v),
                );
            }
        }
        id::APPLICATION_SETTINGS | id::APPLICATION_SETTINGS_OLD => {
            if at == Where::ClientHello {
                let (len, mut list) = r.sub(2, "supported_protocols")?;
                t.leaf("length", || "ALPS Extension Length".into(), len.span, || len.v.to_string());
                while !list.is_empty() {
                    let (pl, mut p) = list.sub(1, "protocol")?;
                    let name = p.take_rest("protocol");
                    t.leaf(
                        "protocol_length",
                        || "Supported ALPN Length".into(),
                        pl.span,
                        || pl.v.to_string(),
                    );
                    t.leaf("protocol", || "Supported ALPN".into(), name.span, || printable(name.v));
                }
            } else {
                let data = r.take_rest("settings");
                t.leaf("settings", || "Settings".into(), data.span, || hex_short(data.v, 32));
            }
        }
        id::ENCRYPTED_CLIENT_HELLO => {
            h.ech = true;
            if at == Where::ClientHello {
                let kind = r.u8("ech_client_hello_type")?;
                t.leaf(
                    "type",
                    || "Client Hello type".into(),
                    kind.span,
                    || match kind.v {
                        0 => "outer (0)".into(),
                        1 => "inner (1)".into(),
                        v => format!("unknown ({v})"),
                    },
                );
                if kind.v == 0 {
                    let kdf = r.u16("kdf_id")?;
                    let aead = r.u16("aead_id")?;
                    let cfg = r.u8("config_id")?;
                    let (el, mut enc) = r.sub(2, "enc")?;
                    let enc = enc.take_rest("enc");
                    let (pl, mut payload) = r.sub(2, "payload")?;
                    let payload = payload.take_rest("payload");
                    t.leaf(
                        "kdf_id",
                        || "Cipher Suite: KDF Id".into(),
                        kdf.span,
                        || format!("{:#06x}", kdf.v),
                    );
                    t.leaf(
                        "aead_id",
                        || "Cipher Suite: AEAD Id".into(),
                        aead.span,
                        || format!("{:#06x}", aead.v),
                    );
                    t.leaf("config_id", || "Config Id".into(), cfg.span, || cfg.v.to_string());
                    t.leaf("enc_length", || "Enc length".into(), el.span, || el.v.to_string());
                    t.leaf("enc", || "Enc".into(), enc.span, || hex_short(enc.v, 32));
                    t.leaf(
                        "payload_length",
                        || "Payload length".into(),
                        pl.span,
                        || pl.v.to_string(),
                    );
                    t.leaf(
                        "payload",
                        || "Payload (encrypted inner ClientHello)".into(),
                        payload.span,
                        || hex_short(payload.v, 32),
                    );
                }
            } else {
                let data = r.take_rest("ech_configs");
                t.leaf("data", || "ECH data".into(), data.span, || hex_short(data.v, 32));
            }
        }
        _ => {
            let data = r.take_rest("extension_data");
            if !data.v.is_empty() {
                t.leaf("data", || "Data".into(), data.span, || hex_short(data.v, 48));
            }
        }
    }
    Ok(())
}

fn key_share_entry(r: &mut Reader<'_>, t: &mut Tree, h: &mut Hello) -> Result<(), ParseError> {
    let start = r.offset();
    let g = r.u16("group")?;
    let (klen, mut key) = r.sub(2, "key_exchange")?;
    let key = key.take_rest("key_exchange");
    let name = registry::named_group(g.v);
    t.open(
        "key_share_entry",
        || {
            format!(
                "Key Share Entry: Group: {}, Key Exchange length: {}",
                name.unwrap_or("unknown"),
                klen.v
            )
        },
        start,
    );
    t.leaf("group", || "Group".into(), g.span, || describe16(name, g.v));
    t.leaf(
        "key_exchange_length",
        || "Key Exchange Length".into(),
        klen.span,
        || klen.v.to_string(),
    );
    t.leaf("key_exchange", || "Key Exchange".into(), key.span, || hex_short(key.v, 64));
    t.close(r.span_from(start));
    h.key_shares.push((g.v, key.v.to_vec()));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tree::check_invariants;

    fn ext(ty: u16, body: &[u8]) -> Vec<u8> {
        let mut v = ty.to_be_bytes().to_vec();
        v.extend((body.len() as u16).to_be_bytes());
        v.extend_from_slice(body);
        v
    }

    fn block(exts: &[Vec<u8>]) -> Vec<u8> {
        let body: Vec<u8> = exts.concat();
        let mut v = (body.len() as u16).to_be_bytes().to_vec();
        v.extend(body);
        v
    }

    /// A ClientHello extension block like curl's: SNI, groups, ALPN, versions, key share.
    fn sample() -> Vec<u8> {
        block(&[
            ext(0x0a0a, &[]),
            ext(0, &[0, 12, 0, 0, 9, b'l', b'o', b'c', b'a', b'l', b'h', b'o', b's', b't']),
            ext(10, &[0, 4, 0, 0x1d, 0, 0x17]),
            ext(11, &[1, 0]),
            ext(16, &[0, 12, 2, b'h', b'2', 8, b'h', b't', b't', b'p', b'/', b'1', b'.', b'1']),
            ext(43, &[4, 3, 4, 3, 3]),
            ext(51, &[0, 8, 0, 0x1d, 0, 4, 1, 2, 3, 4]),
            ext(23, &[]),
            ext(0xff01, &[0]),
            ext(13, &[0, 4, 4, 3, 8, 4]),
            ext(45, &[1, 1]),
        ])
    }

    #[test]
    fn decodes_a_client_hello_extension_block() {
        let bytes = sample();
        let mut t = Tree::on();
        let mut h = Hello::default();
        let mut r = Reader::at(&bytes, 100);
        parse_block(&mut r, Where::ClientHello, &mut t, &mut h).unwrap();
        assert!(r.is_empty());
        assert_eq!(h.server_name.as_deref(), Some("localhost"));
        assert_eq!(h.groups, vec![0x1d, 0x17]);
        assert_eq!(h.alpn, vec![b"h2".to_vec(), b"http/1.1".to_vec()]);
        assert_eq!(h.supported_versions, vec![0x0304, 0x0303]);
        assert_eq!(h.key_shares, vec![(0x1d, vec![1, 2, 3, 4])]);
        assert_eq!(h.ec_point_formats, vec![0]);
        assert_eq!(h.signature_algorithms, vec![0x0403, 0x0804]);
        assert_eq!(h.psk_modes, vec![1]);
        assert!(h.extended_master_secret && h.renegotiation_info);
        assert_eq!(h.extension_types, vec![0x0a0a, 0, 10, 11, 16, 43, 51, 23, 0xff01, 13, 45]);
        let fields = t.finish();
        check_invariants(&fields, None).unwrap();
        assert_eq!(fields[0].span, Span::new(100, bytes.len() as u32));
        assert_eq!(fields[0].label, "Extensions (11)");
    }

    #[test]
    fn server_side_forms() {
        let bytes = block(&[ext(43, &[3, 4]), ext(51, &[0, 0x1d, 0, 2, 9, 9]), ext(41, &[0, 0])]);
        let mut h = Hello::default();
        parse_block(&mut Reader::new(&bytes), Where::ServerHello, &mut Tree::off(), &mut h)
            .unwrap();
        assert_eq!(h.selected_version, Some(0x0304));
        assert_eq!(h.key_shares, vec![(0x1d, vec![9, 9])]);
        assert_eq!(h.psk_selected, Some(0));
        let hrr = block(&[ext(51, &[0, 0x17])]);
        let mut h = Hello::default();
        parse_block(&mut Reader::new(&hrr), Where::HelloRetryRequest, &mut Tree::off(), &mut h)
            .unwrap();
        assert_eq!(h.key_shares, vec![(0x17, vec![])]);
    }

    #[test]
    fn a_malformed_extension_is_shown_and_the_rest_still_read() {
        let bytes = block(&[ext(10, &[0, 5, 0, 0x1d]), ext(0, &[0, 6, 0, 0, 3, b'a', b'.', b'b'])]);
        let mut t = Tree::on();
        let mut h = Hello::default();
        parse_block(&mut Reader::new(&bytes), Where::ClientHello, &mut t, &mut h).unwrap();
        assert_eq!(h.server_name.as_deref(), Some("a.b"));
        let fields = t.finish();
        let first = &fields[0].children[1];
        assert!(first.children.iter().any(|f| f.key == "malformed"), "{first:?}");
        check_invariants(&fields, None).unwrap();
    }

    #[test]
    fn every_truncation_fails_cleanly() {
        let bytes = sample();
        for n in 0..bytes.len() {
            let mut t = Tree::on();
            let _ = parse_block(
                &mut Reader::new(&bytes[..n]),
                Where::ClientHello,
                &mut t,
                &mut Hello::default(),
            );
            check_invariants(&t.finish(), None).unwrap();
        }
    }
}
