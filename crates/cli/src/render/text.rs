//! Text output of `inspect`: per TLS session a summary, a numbered ladder
//! of the handshake with frame numbers, then each message as a field tree
//! like Wireshark's packet details (`--hex` adds the bytes with offsets).

use std::io::{self, Write};

use owo_colors::OwoColorize;
use tlsscope_scope::flow::Dir;
use tlsscope_scope::session::{Flow, Protection, Resumption, Session};
use tlsscope_scope::time::Timestamp;
use tlsscope_scope::tls::registry;
use tlsscope_scope::tree::Field;

/// How to render.
#[derive(Clone, Copy, Debug)]
pub struct Style {
    /// ANSI colours.
    pub color: bool,
    /// Hex dumps of each message with field offsets.
    pub hex: bool,
    /// Field trees of each message.
    pub trees: bool,
}

impl Style {
    pub(crate) fn bold(&self, s: &str) -> String {
        if self.color { s.bold().to_string() } else { s.to_string() }
    }
    pub(crate) fn dim(&self, s: &str) -> String {
        if self.color { s.dimmed().to_string() } else { s.to_string() }
    }
    pub(crate) fn dir(&self, d: Dir, s: &str) -> String {
        if !self.color {
            return s.to_string();
        }
        match d {
            Dir::ClientToServer => s.cyan().to_string(),
            Dir::ServerToClient => s.magenta().to_string(),
        }
    }
    pub(crate) fn good(&self, s: &str) -> String {
        if self.color { s.green().to_string() } else { s.to_string() }
    }
    pub(crate) fn warn(&self, s: &str) -> String {
        if self.color { s.yellow().to_string() } else { s.to_string() }
    }
}

pub(crate) fn arrow(d: Dir) -> &'static str {
    match d {
        Dir::ClientToServer => "client → server",
        Dir::ServerToClient => "server → client",
    }
}

fn alpn_text(a: &[u8]) -> String {
    String::from_utf8(a.to_vec()).unwrap_or_else(|_| format!("0x{}", tlsscope_scope::tree::hex(a)))
}

/// Writes a session's title and summary (version, suite, names,
/// decryption, fingerprints, certificates).
pub fn header(w: &mut impl Write, s: &Session, style: Style) -> io::Result<()> {
    let title = format!(
        "TLS session {}: {} → {} (TCP stream {}{})",
        s.id,
        s.client,
        s.server,
        s.conn,
        if s.index > 0 {
            format!(", handshake {} on this connection", s.index + 1)
        } else {
            String::new()
        }
    );
    writeln!(w, "{}", style.bold(&title))?;
    let mut facts = Vec::new();
    match s.version() {
        Some(v) => facts.push(
            registry::describe(registry::version(v), v, 4).replace(&format!(" ({v:#06x})"), ""),
        ),
        None => facts.push("version not negotiated (no ServerHello)".into()),
    }
    if let Some(id) = s.cipher_suite() {
        match registry::cipher_suite(id) {
            Some(c) => facts.push(format!("{} ({})", c.name, c.parts())),
            None => facts.push(format!("cipher suite {id:#06x}")),
        }
    }
    if let Some(g) = s.named_group {
        facts.push(format!("group {}", registry::named_group(g).unwrap_or("unknown")));
    }
    writeln!(w, "  {}", facts.join(", "))?;
    let mut more = Vec::new();
    if let Some(n) = s.server_name() {
        more.push(format!("SNI {n}"));
    }
    match s.alpn() {
        Some(a) => more.push(format!("ALPN {}", alpn_text(a))),
        None => {
            if let Some(ch) = &s.client_hello
                && !ch.hello.alpn.is_empty()
            {
                let offered: Vec<String> = ch.hello.alpn.iter().map(|a| alpn_text(a)).collect();
                more.push(format!("ALPN offered {}", offered.join(", ")));
            }
        }
    }
    match s.resumed {
        Some(Resumption::SessionId) => more.push("resumed (session ID)".into()),
        Some(Resumption::Ticket) => more.push("resumed (session ticket)".into()),
        Some(Resumption::Psk) => more.push("resumed (pre-shared key)".into()),
        None => {}
    }
    if s.hello_retry {
        more.push("after a HelloRetryRequest".into());
    }
    if !more.is_empty() {
        writeln!(w, "  {}", more.join(", "))?;
    }
    if s.decryption.is_none() {
        let line = "decryption: not tried (no secrets: give a key log with --keylog)";
        writeln!(w, "  {}", style.dim(line))?;
    }
    if let Some(d) = &s.decryption {
        let line = match &d.reason {
            None => format!(
                "decryption: {} (application data: client {} bytes, server {} bytes)",
                d.status.as_str(),
                d.app_bytes[Dir::ClientToServer],
                d.app_bytes[Dir::ServerToClient]
            ),
            Some(r) => format!("decryption: {}: {r}", d.status.as_str()),
        };
        let line = if d.reason.is_none() { style.good(&line) } else { style.warn(&line) };
        writeln!(w, "  {line}")?;
    }
    if let Some((_, h)) = &s.ja3 {
        writeln!(
            w,
            "  {}",
            style.dim(&format!("JA3 {h}  JA4 {}", s.ja4.as_deref().unwrap_or("-")))
        )?;
    }
    for c in &s.certificates {
        writeln!(
            w,
            "  certificate: {} (issuer {}), {}, {}, valid {} to {}",
            c.subject, c.issuer, c.public_key, c.signature_algorithm, c.not_before, c.not_after
        )?;
    }

    Ok(())
}

/// Writes one session.
pub fn session(
    w: &mut impl Write,
    s: &Session,
    style: Style,
    capture_start: Timestamp,
) -> io::Result<()> {
    header(w, s, style)?;
    // The ladder.
    writeln!(w)?;
    writeln!(w, "  {}", style.bold("Handshake"))?;
    for (i, m) in s.messages.iter().enumerate() {
        let num = format!("({})", i + 1);
        let t = m.ts.seconds_since(capture_start);
        let mut name = m.name.to_string();
        if let Some((level, desc)) = m.alert {
            name = format!(
                "Alert: {} {}",
                if level == 2 { "fatal" } else { "warning" },
                registry::alert_description(desc).unwrap_or("unknown")
            );
        }
        let enc = match (m.protection, m.truncated) {
            (_, Some(total)) => style
                .warn(&format!("  [truncated: only {} of its {total} bytes were captured]", m.len)),
            (Protection::Encrypted, None) => style.warn(&format!("  [encrypted, {} bytes]", m.len)),
            (Protection::Decrypted, None) => style.good(&format!("  [decrypted, {} bytes]", m.len)),
            (Protection::Plain, None) => style.dim(&format!("  {} bytes", m.len)),
        };
        writeln!(
            w,
            "  {:>5} frame {:<6} {:>10.6}  {}  {}{}",
            num,
            m.frame,
            t,
            style.dir(m.from, arrow(m.from)),
            name,
            enc
        )?;
    }
    app_data(w, s, style, capture_start)?;

    // Message details.
    if style.trees {
        trees(w, s, style)?;
    }
    http(w, &s.http, style)?;
    diagnostics(w, s, style)?;
    writeln!(w)
}

/// Writes the first application data records and the totals.
pub fn app_data(
    w: &mut impl Write,
    s: &Session,
    style: Style,
    capture_start: Timestamp,
) -> io::Result<()> {
    if !s.app_records.is_empty() {
        writeln!(w)?;
        writeln!(w, "  {}", style.bold("Application data"))?;
        for r in &s.app_records {
            writeln!(
                w,
                "        frame {:<6} {:>10.6}  {}  {}",
                r.frame,
                r.ts.seconds_since(capture_start),
                style.dir(r.from, arrow(r.from)),
                style.warn(&format!("Encrypted Application Data, {} bytes", r.len))
            )?;
        }
        let c = s.traffic[Dir::ClientToServer];
        let sv = s.traffic[Dir::ServerToClient];
        let shown = s.app_records.len() as u64;
        if c.records + sv.records > shown {
            writeln!(w, "        … {} more records", c.records + sv.records - shown)?;
        }
        writeln!(
            w,
            "        in all: client {} records, {} bytes; server {} records, {} bytes (encrypted)",
            c.records, c.bytes, sv.records, sv.bytes
        )?;
    }

    Ok(())
}

/// Writes each kept message as a field tree (and hex dump with `hex`).
fn trees(w: &mut impl Write, s: &Session, style: Style) -> io::Result<()> {
    {
        for (i, m) in s.messages.iter().enumerate() {
            let Some(msg) = &m.message else { continue };
            writeln!(w)?;
            let frames: Vec<String> = msg
                .pieces
                .frames(tlsscope_scope::span::Span::new(0, msg.bytes.len() as u32))
                .iter()
                .map(u64::to_string)
                .collect();
            let head = format!(
                "  ({}) {}, {} bytes, {} {}",
                i + 1,
                m.name,
                msg.bytes.len(),
                if frames.len() > 1 { "frames" } else { "frame" },
                if frames.is_empty() { m.frame.to_string() } else { frames.join(", ") }
            );
            writeln!(w, "{}", style.bold(&head))?;
            for f in &msg.fields {
                field(w, f, 2, style)?;
            }
            if style.hex {
                hexdump(w, &msg.bytes, style)?;
            }
        }
    }
    Ok(())
}

/// Writes the session's diagnostics.
pub fn diagnostics(w: &mut impl Write, s: &Session, style: Style) -> io::Result<()> {
    if !s.diagnostics.is_empty() {
        writeln!(w)?;
        for d in &s.diagnostics {
            writeln!(w, "  {}", style.warn(&d.to_string()))?;
        }
    }
    Ok(())
}

/// How much of a body text output shows.
const BODY_SHOWN: usize = 512;

pub(crate) fn http(
    w: &mut impl Write,
    found: &tlsscope_scope::session::HttpFound,
    style: Style,
) -> io::Result<()> {
    if found.exchanges.is_empty()
        && found.raw.0.iter().all(Vec::is_empty)
        && found.h2_frames.is_empty()
    {
        return Ok(());
    }
    writeln!(w)?;
    writeln!(w, "  {}", style.bold("HTTP"))?;
    for x in &found.exchanges {
        let target = match (&x.authority, &x.path) {
            (Some(a), Some(p)) => format!("{a}{p}"),
            (None, Some(p)) => p.clone(),
            _ => "?".into(),
        };
        let stream = x.stream.map(|n| format!(" stream {n}")).unwrap_or_default();
        let status = x.status.map_or("no response".to_string(), |s| s.to_string());
        let frames = match (x.request_frame, x.response_frame) {
            (Some(a), Some(b)) => format!("frames {a} → {b}"),
            (Some(a), None) => format!("frame {a}"),
            _ => String::new(),
        };
        let head = format!(
            "{}{stream}: {} {target}  →  {status}{}  {}",
            x.version,
            x.method.as_deref().unwrap_or("?"),
            if x.complete { "" } else { " (incomplete)" },
            frames
        );
        writeln!(w, "    {}", style.bold(&head))?;
        for (n, v) in &x.request_headers {
            writeln!(
                w,
                "      {} {n}: {}",
                style.dir(Dir::ClientToServer, ">"),
                String::from_utf8_lossy(v)
            )?;
        }
        body(w, &x.request_body, Dir::ClientToServer, style)?;
        for (n, v) in &x.response_headers {
            writeln!(
                w,
                "      {} {n}: {}",
                style.dir(Dir::ServerToClient, "<"),
                String::from_utf8_lossy(v)
            )?;
        }
        body(w, &x.response_body, Dir::ServerToClient, style)?;
    }
    if found.dropped > 0 {
        writeln!(w, "    … {} more exchanges not shown", found.dropped)?;
    }
    for d in [Dir::ClientToServer, Dir::ServerToClient] {
        let raw = &found.raw[d];
        if !raw.is_empty() {
            writeln!(
                w,
                "    {} sent (not HTTP): {}",
                d.sender(),
                printable(raw.get(..raw.len().min(BODY_SHOWN)).unwrap_or_default())
            )?;
        }
    }
    h2_frames(w, found, style)
}

/// The HTTP/2 frames, as Wireshark lists them: who sent each, in which
/// capture frame, its type, stream and what it says; with trees on, its
/// fields under it.
fn h2_frames(
    w: &mut impl Write,
    found: &tlsscope_scope::session::HttpFound,
    style: Style,
) -> io::Result<()> {
    if found.h2_frames.is_empty() {
        return Ok(());
    }
    writeln!(w)?;
    writeln!(w, "  {}", style.bold("HTTP/2 frames"))?;
    // No offsets in the trees: the frames' bytes are not kept for a hex
    // dump to point into (`-x` shows those of the TLS messages).
    let tree_style = Style { hex: false, ..style };
    for f in &found.h2_frames {
        writeln!(
            w,
            "        frame {:<6} {}  {}",
            f.frame,
            style.dir(f.dir, arrow(f.dir)),
            f.summary
        )?;
        if style.trees {
            for field_ in &f.tree {
                field(w, field_, 5, tree_style)?;
            }
        }
    }
    let shown = found.h2_frames.len() as u64;
    if found.h2_frame_count > shown {
        writeln!(
            w,
            "        … {} more frames ({} in all)",
            found.h2_frame_count - shown,
            found.h2_frame_count
        )?;
    }
    Ok(())
}

fn printable(b: &[u8]) -> String {
    b.iter()
        .map(|&c| match c {
            b'\n' => "\\n".to_string(),
            b'\r' => "\\r".to_string(),
            b'\t' => "\t".to_string(),
            0x20..=0x7e => (c as char).to_string(),
            _ => format!("\\x{c:02x}"),
        })
        .collect()
}

fn body(
    w: &mut impl Write,
    b: &tlsscope_scope::http::Body,
    d: Dir,
    style: Style,
) -> io::Result<()> {
    if b.len == 0 {
        return Ok(());
    }
    let shown = b.decoded.as_deref().unwrap_or(&b.bytes);
    let text = std::str::from_utf8(shown)
        .ok()
        .filter(|t| !t.chars().any(|c| c.is_control() && c != '\n' && c != '\r' && c != '\t'));
    let enc = b.encoding.as_deref().map(|e| format!(", {e}")).unwrap_or_default();
    let mark = style.dir(d, if d == Dir::ClientToServer { ">" } else { "<" });
    match text {
        Some(t) => {
            let cut: String = t.chars().take(BODY_SHOWN).collect();
            let more =
                if t.chars().count() > BODY_SHOWN || b.shown_in_part() { " …" } else { "" };
            writeln!(
                w,
                "      {mark} body ({} bytes{enc}): {}{more}",
                b.len,
                cut.replace('\n', "\n        ")
            )
        }
        None => {
            let n = shown.len().min(64);
            writeln!(
                w,
                "      {mark} body ({} bytes{enc}, binary): {}{}",
                b.len,
                tlsscope_scope::tree::hex(shown.get(..n).unwrap_or_default()),
                if shown.len() > n { "…" } else { "" }
            )
        }
    }
}

fn field(w: &mut impl Write, f: &Field, depth: usize, style: Style) -> io::Result<()> {
    let pad = "  ".repeat(depth);
    let offsets = if style.hex {
        style.dim(&format!("[{:>4}..{:<4}] ", f.span.start, f.span.end()))
    } else {
        String::new()
    };
    let line = if f.value.is_empty() {
        f.label.clone()
    } else if f.label.is_empty() {
        f.value.clone()
    } else {
        format!("{}: {}", f.label, f.value)
    };
    let line = if f.key == "malformed" { style.warn(&line) } else { line };
    writeln!(w, "{pad}{offsets}{line}")?;
    for n in &f.notes {
        writeln!(w, "{pad}  {}", style.dim(&format!("↳ {n}")))?;
    }
    for c in &f.children {
        field(w, c, depth + 1, style)?;
    }
    Ok(())
}

fn hexdump(w: &mut impl Write, bytes: &[u8], style: Style) -> io::Result<()> {
    for (i, line) in bytes.chunks(16).enumerate() {
        let mut hexpart = String::new();
        for (j, b) in line.iter().enumerate() {
            if j == 8 {
                hexpart.push(' ');
            }
            hexpart.push_str(&format!("{b:02x} "));
        }
        let text: String =
            line.iter().map(|&b| if (0x20..0x7f).contains(&b) { b as char } else { '.' }).collect();
        writeln!(
            w,
            "    {}  {:<49} {}",
            style.dim(&format!("{:04x}", i * 16)),
            hexpart,
            style.dim(&text)
        )?;
    }
    Ok(())
}

/// Writes a connection that was not TLS.
pub fn flow(
    w: &mut impl Write,
    f: &Flow,
    style: Style,
    capture_start: Timestamp,
) -> io::Result<()> {
    let title = format!(
        "TCP stream {}: {} → {}, not TLS{}",
        f.info.id,
        f.info.client,
        f.info.server,
        if f.http { " (plain HTTP)" } else { "" }
    );
    writeln!(w, "{}", style.bold(&title))?;
    writeln!(
        w,
        "  from frame {} at {:.6}: client sent {} bytes, server sent {} bytes",
        f.info.first_frame,
        f.info.start.seconds_since(capture_start),
        f.info.stats[Dir::ClientToServer].payload_bytes,
        f.info.stats[Dir::ServerToClient].payload_bytes
    )?;
    for d in [Dir::ClientToServer, Dir::ServerToClient] {
        let p = &f.preview[d];
        if p.is_empty() {
            continue;
        }
        let text: String = p
            .iter()
            .map(|&b| match b {
                b'\r' => "\\r".to_string(),
                b'\n' => "\\n".to_string(),
                0x20..=0x7e => (b as char).to_string(),
                _ => ".".to_string(),
            })
            .collect();
        writeln!(w, "  {} first bytes: {}", style.dir(d, d.sender()), text)?;
    }
    http(w, &f.decoded, style)?;
    writeln!(w)
}
