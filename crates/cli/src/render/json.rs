//! JSON Lines for `inspect --format json`: one object per TLS session
//! (`"type":"session"`) and per plain connection (`"type":"flow"`). The
//! schema is documented in docs/json.md; field names are stable.

use base64::Engine;
use serde_json::{Map, Value, json};
use tlsscope_scope::diag::Diagnostic;
use tlsscope_scope::flow::Dir;
use tlsscope_scope::session::{Flow, Resumption, Session};
use tlsscope_scope::time::Timestamp;
use tlsscope_scope::tls::registry;
use tlsscope_scope::tree::hex;

/// Bytes that may not be UTF-8: a string if they are, else `{"bytes": base64}`.
pub fn bytes_value(b: &[u8]) -> Value {
    match std::str::from_utf8(b) {
        Ok(s) => Value::String(s.to_string()),
        Err(_) => json!({ "bytes": base64::engine::general_purpose::STANDARD.encode(b) }),
    }
}

fn from(d: Dir) -> &'static str {
    d.sender()
}

fn diag(d: &Diagnostic) -> Value {
    json!({
        "severity": d.severity.as_str(),
        "code": d.code,
        "message": d.message,
        "frame": d.location.frame,
    })
}

fn headers(h: &[(String, Vec<u8>)]) -> Value {
    Value::Array(h.iter().map(|(n, v)| json!([n, bytes_value(v)])).collect())
}

fn body(b: &tlsscope_scope::http::Body) -> Value {
    let shown = b.decoded.as_deref().unwrap_or(&b.bytes);
    json!({
        "length": b.len,
        "truncated": b.truncated,
        "encoding": b.encoding,
        "decoded": b.decoded.is_some(),
        "data": bytes_value(shown),
    })
}

/// The HTTP exchanges found.
pub fn http(found: &tlsscope_scope::session::HttpFound) -> Value {
    Value::Array(
        found
            .exchanges
            .iter()
            .map(|x| {
                json!({
                    "version": x.version,
                    "stream": x.stream,
                    "method": x.method,
                    "authority": x.authority,
                    "path": x.path,
                    "status": x.status,
                    "request_headers": headers(&x.request_headers),
                    "response_headers": headers(&x.response_headers),
                    "request_body": body(&x.request_body),
                    "response_body": body(&x.response_body),
                    "request_frame": x.request_frame,
                    "response_frame": x.response_frame,
                    "complete": x.complete,
                })
            })
            .collect(),
    )
}

/// The JSON object for a session.
pub fn session(s: &Session, capture_start: Timestamp) -> Value {
    let mut o = Map::new();
    o.insert("type".into(), json!("session"));
    o.insert("session".into(), json!(s.id));
    o.insert("stream".into(), json!(s.conn));
    o.insert("index".into(), json!(s.index));
    o.insert("client".into(), json!(s.client.to_string()));
    o.insert("server".into(), json!(s.server.to_string()));
    o.insert("first_frame".into(), json!(s.first_frame));
    o.insert("start".into(), json!(s.start.seconds_since(capture_start)));
    let version = s.version().or_else(|| s.client_hello.as_ref().map(|ch| ch.version));
    o.insert(
        "version".into(),
        match s.version() {
            Some(v) => {
                json!(registry::version(v).map_or_else(|| format!("{v:#06x}"), String::from))
            }
            None => Value::Null,
        },
    );
    let _ = version;
    match s.cipher_suite() {
        Some(id) => {
            o.insert(
                "cipher_suite".into(),
                json!(
                    registry::cipher_suite(id)
                        .map_or_else(|| format!("{id:#06x}"), |c| c.name.to_string())
                ),
            );
            o.insert("cipher_suite_id".into(), json!(id));
        }
        None => {
            o.insert("cipher_suite".into(), Value::Null);
            o.insert("cipher_suite_id".into(), Value::Null);
        }
    }
    o.insert(
        "server_name".into(),
        s.client_hello
            .as_ref()
            .and_then(|ch| ch.hello.server_name.as_ref())
            .map_or(Value::Null, |n| bytes_value(n.as_bytes())),
    );
    o.insert("alpn".into(), s.alpn().map_or(Value::Null, bytes_value));
    o.insert(
        "alpn_offered".into(),
        Value::Array(
            s.client_hello
                .as_ref()
                .map(|ch| ch.hello.alpn.iter().map(|a| bytes_value(a)).collect())
                .unwrap_or_default(),
        ),
    );
    o.insert(
        "named_group".into(),
        s.named_group.map_or(Value::Null, |g| {
            json!(registry::named_group(g).map_or_else(|| format!("{g:#06x}"), String::from))
        }),
    );
    o.insert(
        "client_random".into(),
        s.client_hello.as_ref().map_or(Value::Null, |ch| json!(hex(&ch.random))),
    );
    o.insert(
        "server_random".into(),
        s.server_hello.as_ref().map_or(Value::Null, |sh| json!(hex(&sh.random))),
    );
    o.insert("hello_retry".into(), json!(s.hello_retry));
    o.insert("resumed".into(), json!(s.resumed.is_some()));
    o.insert(
        "resumption".into(),
        match s.resumed {
            Some(Resumption::SessionId) => json!("session_id"),
            Some(Resumption::Ticket) => json!("ticket"),
            Some(Resumption::Psk) => json!("psk"),
            None => Value::Null,
        },
    );
    o.insert(
        "messages".into(),
        Value::Array(
            s.messages
                .iter()
                .map(|m| {
                    let mut e = json!({ "frame": m.frame, "from": from(m.from), "type": m.name });
                    match m.protection {
                        tlsscope_scope::session::Protection::Encrypted => {
                            e["encrypted"] = json!(true)
                        }
                        tlsscope_scope::session::Protection::Decrypted => {
                            e["decrypted"] = json!(true)
                        }
                        tlsscope_scope::session::Protection::Plain => {}
                    }
                    e
                })
                .collect(),
        ),
    );
    o.insert(
        "certificates".into(),
        Value::Array(
            s.certificates
                .iter()
                .map(|c| {
                    json!({
                        "subject": c.subject,
                        "issuer": c.issuer,
                        "serial": c.serial,
                        "not_before": c.not_before,
                        "not_after": c.not_after,
                        "san": c.san,
                        "public_key": c.public_key,
                        "signature_algorithm": c.signature_algorithm,
                        "sha256": c.sha256,
                    })
                })
                .collect(),
        ),
    );
    o.insert(
        "alerts".into(),
        Value::Array(
            s.alerts
                .iter()
                .map(|a| match a.level_description {
                    Some((level, desc)) => json!({
                        "frame": a.frame,
                        "from": from(a.from),
                        "level": match level { 1 => "warning", 2 => "fatal", _ => "unknown" },
                        "description": registry::alert_description(desc).map_or_else(|| desc.to_string(), String::from),
                    }),
                    None => json!({ "frame": a.frame, "from": from(a.from), "encrypted": true }),
                })
                .collect(),
        ),
    );
    o.insert(
        "application_data".into(),
        json!({
            "client_records": s.traffic[Dir::ClientToServer].records,
            "client_bytes": s.traffic[Dir::ClientToServer].bytes,
            "server_records": s.traffic[Dir::ServerToClient].records,
            "server_bytes": s.traffic[Dir::ServerToClient].bytes,
        }),
    );
    o.insert(
        "decryption".into(),
        match &s.decryption {
            Some(d) => json!({
                "status": d.status.as_str(),
                "reason": d.reason,
                "client_bytes": d.app_bytes[Dir::ClientToServer],
                "server_bytes": d.app_bytes[Dir::ServerToClient],
            }),
            None => Value::Null,
        },
    );
    o.insert("http".into(), http(&s.http));
    if s.http.dropped > 0 {
        o.insert("http_not_shown".into(), json!(s.http.dropped));
    }
    o.insert("ja3".into(), s.ja3.as_ref().map_or(Value::Null, |(_, h)| json!(h)));
    o.insert("ja3_text".into(), s.ja3.as_ref().map_or(Value::Null, |(t, _)| json!(t)));
    o.insert("ja4".into(), s.ja4.as_ref().map_or(Value::Null, |j| json!(j)));
    o.insert("diagnostics".into(), Value::Array(s.diagnostics.iter().map(diag).collect()));
    Value::Object(o)
}

/// The JSON object for a connection that was not TLS.
pub fn flow(f: &Flow, capture_start: Timestamp) -> Value {
    let c = f.info.stats[Dir::ClientToServer];
    let s = f.info.stats[Dir::ServerToClient];
    json!({
        "type": "flow",
        "stream": f.info.id,
        "client": f.info.client.to_string(),
        "server": f.info.server.to_string(),
        "protocol": if f.http { "http" } else { "unknown" },
        "first_frame": f.info.first_frame,
        "start": f.info.start.seconds_since(capture_start),
        "client_payload_bytes": c.payload_bytes,
        "server_payload_bytes": s.payload_bytes,
        "client_first_bytes": bytes_value(&f.preview[Dir::ClientToServer]),
        "server_first_bytes": bytes_value(&f.preview[Dir::ServerToClient]),
        "http": http(&f.decoded),
    })
}

/// The checks of a session (`inspect --explain --format json`): one
/// object per check with its stable key, title, result (`ok`, `failed`,
/// `not possible`), reason, frame and the values behind it by key.
pub fn checks(checks: &[tlsscope_scope::verify::Check]) -> Value {
    let list: Vec<Value> = checks
        .iter()
        .map(|c| {
            let details: Map<String, Value> =
                c.details.iter().map(|(k, _, v)| ((*k).to_string(), json!(v))).collect();
            json!({
                "check": c.kind.key(),
                "title": c.title,
                "result": c.outcome.label(),
                "reason": c.outcome.reason(),
                "frame": c.frame,
                "details": details,
            })
        })
        .collect();
    Value::Array(list)
}
