//! The page: the static HTML rendered from a [`Report`] (summary, tables,
//! ladder diagrams in SVG, explanations, checks, HTTP), which reads
//! without JavaScript, then the data as JSON and the script that adds the
//! field trees and the hex view.
//!
//! Everything that comes from the capture is hostile: it is escaped here
//! (HTML text and attributes) and in the JSON (`<` as `\u003c`, so no
//! `</script>` can end the data early). The page's Content-Security-Policy
//! allows only its own inline style and script (by hash) and nothing from
//! the network, so even a slip could not load or run anything else.

use std::fmt::Write as _;

use base64::Engine;
use sha2::Digest;
use tlsscope_scope::explain::{self, Lang};

use super::model::{
    BodyOut, CheckOut, DataOut, DiagOut, ExchangeOut, FlowDetail, HeaderOut, Report, SessionDetail,
    SessionRow, StepOut,
};

/// Tables longer than this start folded (a `<details>` element, which
/// works without JavaScript): laying out ten thousand rows while the page
/// loads takes seconds; folded, they cost that only when opened.
const OPEN_ROWS: usize = 1000;

const SHELL: &str = include_str!("page.html");
const STYLE: &str = include_str!("page.css");
const SCRIPT: &str = include_str!("page.js");

/// HTML-escapes text for element content and quoted attribute values.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// JSON made safe inside a `<script>` element: `<`, `>` and `&` as
/// `\u` escapes (valid JSON, and no `</script` or `<!--` can appear).
pub fn script_json(json: &str) -> String {
    let mut out = String::with_capacity(json.len() + 64);
    for c in json.chars() {
        match c {
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            _ => out.push(c),
        }
    }
    out
}

/// `'sha256-…'` of an inline script or style, for the CSP.
fn csp_hash(s: &str) -> String {
    let digest = sha2::Sha256::digest(s.as_bytes());
    format!("'sha256-{}'", base64::engine::general_purpose::STANDARD.encode(digest))
}

/// The Content-Security-Policy: nothing from anywhere but the inline
/// style and script of this page (by hash), images only as data: URLs.
pub fn csp() -> String {
    format!(
        "default-src 'none'; style-src {}; script-src {}; img-src data:; base-uri 'none'; form-action 'none'",
        csp_hash(STYLE),
        csp_hash(SCRIPT)
    )
}

/// A label of the text tables with `{name}` placeholders filled, escaped.
struct L {
    lang: Lang,
}

impl L {
    fn get(&self, key: &str) -> String {
        esc(&explain::label(self.lang, key))
    }

    fn fill(&self, key: &str, vals: &[(&str, &dyn std::fmt::Display)]) -> String {
        let mut s = explain::label(self.lang, key);
        for (name, v) in vals {
            s = s.replace(&format!("{{{name}}}"), &v.to_string());
        }
        esc(&s)
    }
}

/// The whole page.
pub fn page(r: &Report) -> String {
    let lang = if r.lang == "ja" { Lang::Ja } else { Lang::En };
    let l = L { lang };
    let mut body = String::with_capacity(64 << 10);
    render_body(&mut body, r, &l);
    let json = serde_json::to_string(r).unwrap_or_else(|_| "{}".into());
    let mut out =
        String::with_capacity(body.len() + json.len() + SCRIPT.len() + STYLE.len() + 1024);
    let mut rest = SHELL;
    while let Some(i) = rest.find("{{") {
        out.push_str(rest.get(..i).unwrap_or_default());
        let after = rest.get(i + 2..).unwrap_or_default();
        let Some(j) = after.find("}}") else {
            out.push_str(rest.get(i..).unwrap_or_default());
            rest = "";
            break;
        };
        match after.get(..j).unwrap_or_default() {
            "lang" => out.push_str(r.lang),
            "csp" => out.push_str(&esc(&csp())),
            "title" => out.push_str(&l.fill("report.title", &[("capture", &r.capture)])),
            "style" => out.push_str(STYLE),
            "body" => out.push_str(&body),
            "data" => out.push_str(&script_json(&json)),
            "script" => out.push_str(SCRIPT),
            other => {
                out.push_str("{{");
                out.push_str(other);
                out.push_str("}}");
            }
        }
        rest = after.get(j + 2..).unwrap_or_default();
    }
    out.push_str(rest);
    out
}

fn opt(s: &Option<String>) -> String {
    s.as_deref().map_or_else(|| "–".to_string(), esc)
}

fn decryption_label(l: &L, status: &str) -> String {
    l.get(match status {
        "ok" => "report.dec.ok",
        "partial" => "report.dec.partial",
        "none" => "report.dec.none",
        _ => "report.dec.no_keys",
    })
}

fn decryption_class(status: &str) -> &'static str {
    match status {
        "ok" => "ok",
        "partial" => "warn",
        "none" => "bad",
        _ => "na",
    }
}

fn render_body(o: &mut String, r: &Report, l: &L) {
    let _ = write!(
        o,
        "<a class=\"skip\" href=\"#sessions\">{}</a>\n<header>\n<h1>{}</h1>\n<p class=\"meta\">{}",
        l.get("report.skip"),
        l.fill("report.title", &[("capture", &r.capture)]),
        l.fill("report.generated", &[("generator", &r.generator), ("date", &r.generated)]),
    );
    if let Some(start) = &r.capture_start {
        let _ = write!(o, " {}", l.fill("report.capture_start", &[("date", start)]));
    }
    o.push_str("</p>\n</header>\n<main>\n");
    summary(o, r, l);
    sessions_table(o, r, l);
    if !r.flows.is_empty() {
        flows_table(o, r, l);
    }
    for d in &r.details {
        let Some(row) = r.sessions.iter().find(|s| s.id == d.id) else { continue };
        session(o, r, l, row, d);
    }
    for f in &r.flow_details {
        flow(o, r, l, f);
    }
    if !r.diagnostics.is_empty() {
        let _ = write!(
            o,
            "<section class=\"problems\" id=\"problems\"><h2>{}</h2>",
            l.get("report.capture_problems")
        );
        diagnostics(o, &r.diagnostics);
        if r.totals.diagnostics_not_shown > 0 {
            let _ = write!(
                o,
                "<p class=\"note\">{}</p>",
                l.fill("report.left_out.diagnostics", &[("n", &r.totals.diagnostics_not_shown)])
            );
        }
        o.push_str("</section>\n");
    }
    o.push_str("</main>\n");
}

fn summary(o: &mut String, r: &Report, l: &L) {
    let t = &r.totals;
    let _ = writeln!(
        o,
        "<section id=\"summary\" aria-labelledby=\"summary-h\"><h2 id=\"summary-h\">{}</h2>\n<p>{}</p>",
        l.get("report.summary"),
        l.fill(
            "report.totals",
            &[("sessions", &t.sessions), ("flows", &t.flows), ("decrypted", &t.decrypted)]
        )
    );
    let mut notes = Vec::new();
    if t.sessions_without_details > 0 {
        notes.push(l.fill(
            "report.left_out.details",
            &[
                ("shown", &t.detailed_sessions),
                ("n", &t.sessions_without_details),
                ("limit", &r.limits.detailed_sessions),
            ],
        ));
        if t.detail_budget_reached {
            notes
                .push(l.fill("report.left_out.budget", &[("mib", &(r.limits.detail_bytes >> 20))]));
        }
    }
    if t.sessions_not_listed > 0 {
        notes.push(l.fill(
            "report.left_out.sessions",
            &[("n", &t.sessions_not_listed), ("limit", &r.limits.listed_sessions)],
        ));
    }
    if t.flows_not_listed > 0 {
        notes.push(l.fill(
            "report.left_out.flows",
            &[("n", &t.flows_not_listed), ("limit", &r.limits.listed_flows)],
        ));
    }
    if !notes.is_empty() {
        notes.push(l.get("report.left_out.hint"));
        o.push_str("<div class=\"note left-out\" role=\"note\">");
        for n in notes {
            let _ = write!(o, "<p>{n}</p>");
        }
        o.push_str("</div>\n");
    }
    if t.sessions > 0 {
        let _ = write!(o, "<h3>{}</h3>\n<div class=\"stats\">", l.get("report.stats"));
        for (key, list) in [
            ("report.stats.versions", &r.stats.versions),
            ("report.stats.suites", &r.stats.suites),
            ("report.stats.names", &r.stats.server_names),
            ("report.stats.decryption", &r.stats.decryption),
        ] {
            let _ = write!(o, "<table class=\"stat\"><caption>{}</caption><tbody>", l.get(key));
            for c in list {
                let name = if key == "report.stats.decryption" {
                    decryption_label(l, &c.name)
                } else {
                    esc(&c.name)
                };
                let _ = write!(o, "<tr><td>{name}</td><td class=\"num\">{}</td></tr>", c.count);
            }
            o.push_str("</tbody></table>");
        }
        o.push_str("</div>\n");
    }
    o.push_str("</section>\n");
}

fn sessions_table(o: &mut String, r: &Report, l: &L) {
    let _ = writeln!(
        o,
        "<section id=\"sessions\" aria-labelledby=\"sessions-h\"><h2 id=\"sessions-h\">{}</h2>",
        l.get("report.sessions")
    );
    if r.sessions.is_empty() {
        let _ = writeln!(o, "<p>{}</p></section>", l.get("report.nothing"));
        return;
    }
    let _ = writeln!(
        o,
        "<p class=\"filter\" hidden><label>{} <input type=\"search\" id=\"filter\" data-table=\"sessions-table\"></label></p>",
        l.get("report.filter")
    );
    let folded = r.sessions.len() > OPEN_ROWS;
    if folded {
        let detailed: Vec<String> = r
            .sessions
            .iter()
            .filter(|s| s.detailed)
            .map(|s| format!("<a href=\"#s{0}\">{0}</a>", s.id))
            .collect();
        if !detailed.is_empty() {
            let _ = writeln!(
                o,
                "<p class=\"jump\">{} {}</p>",
                l.get("report.in_detail"),
                detailed.join(" ")
            );
        }
    }
    let _ = writeln!(
        o,
        "<details class=\"table\"{}><summary>{}</summary><div class=\"scroll\"><table id=\"sessions-table\" class=\"list\"><thead><tr>{}</tr></thead><tbody>",
        if folded { "" } else { " open" },
        l.fill("report.table", &[("n", &r.sessions.len())]),
        [
            "report.col.session",
            "report.col.stream",
            "report.col.client",
            "report.col.server",
            "report.col.version",
            "report.col.suite",
            "report.col.sni",
            "report.col.alpn",
            "report.col.decryption",
            "report.col.frame",
            "report.col.start",
        ]
        .iter()
        .map(|k| format!("<th scope=\"col\">{}</th>", l.get(k)))
        .collect::<String>()
    );
    for s in &r.sessions {
        let id =
            if s.detailed { format!("<a href=\"#s{0}\">{0}</a>", s.id) } else { s.id.to_string() };
        let reason = s
            .decryption_reason
            .as_deref()
            .map(|r| format!(" title=\"{}\"", esc(r)))
            .unwrap_or_default();
        let _ = writeln!(
            o,
            "<tr><td>{id}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"{}\"{reason}>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
            s.stream,
            esc(&s.client),
            esc(&s.server),
            opt(&s.version),
            opt(&s.suite),
            opt(&s.sni),
            opt(&s.alpn),
            decryption_class(s.decryption),
            decryption_label(l, s.decryption),
            s.first_frame,
            s.start,
        );
    }
    o.push_str("</tbody></table></div></details>\n</section>\n");
}

fn flows_table(o: &mut String, r: &Report, l: &L) {
    let _ = writeln!(
        o,
        "<section id=\"flows\" aria-labelledby=\"flows-h\"><h2 id=\"flows-h\">{}</h2>\n<details class=\"table\"{}><summary>{}</summary><div class=\"scroll\"><table class=\"list\"><thead><tr>{}</tr></thead><tbody>",
        l.get("report.flows"),
        if r.flows.len() > OPEN_ROWS { "" } else { " open" },
        l.fill("report.table", &[("n", &r.flows.len())]),
        [
            "report.col.stream",
            "report.col.client",
            "report.col.server",
            "report.col.protocol",
            "report.col.bytes",
            "report.col.http",
            "report.col.frame",
            "report.col.start",
        ]
        .iter()
        .map(|k| format!("<th scope=\"col\">{}</th>", l.get(k)))
        .collect::<String>()
    );
    for f in &r.flows {
        let stream = if f.detailed {
            format!("<a href=\"#f{0}\">{0}</a>", f.stream)
        } else {
            f.stream.to_string()
        };
        let _ = writeln!(
            o,
            "<tr><td>{stream}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"num\">{} / {}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
            esc(&f.client),
            esc(&f.server),
            f.protocol,
            f.client_bytes,
            f.server_bytes,
            f.exchanges,
            f.first_frame,
            f.start,
        );
    }
    o.push_str("</tbody></table></div></details>\n</section>\n");
}

fn paragraphs(o: &mut String, ps: &[String]) {
    for p in ps {
        let _ = write!(o, "<p>{}</p>", esc(p));
    }
}

/// `client → server` or `server → client`, not escaped.
fn dir_raw(l: &L, from: &str) -> String {
    let (a, b) =
        if from == "client" { ("ui.client", "ui.server") } else { ("ui.server", "ui.client") };
    format!("{} → {}", explain::label(l.lang, a), explain::label(l.lang, b))
}

fn dir_text(l: &L, from: &str) -> String {
    esc(&dir_raw(l, from))
}

fn session(o: &mut String, r: &Report, l: &L, row: &SessionRow, d: &SessionDetail) {
    let id = d.id;
    let _ = write!(
        o,
        "<section class=\"session\" id=\"s{id}\" data-session=\"{id}\" aria-labelledby=\"s{id}-h\">\n<h2 id=\"s{id}-h\">{}: {} → {} <small>{}</small></h2>\n<dl class=\"facts\">",
        l.fill("report.session", &[("id", &id)]),
        esc(&row.client),
        esc(&row.server),
        l.fill("report.stream", &[("stream", &row.stream)]),
    );
    let mut fact = |k: &str, v: String| {
        let _ = write!(o, "<div><dt>{}</dt><dd>{v}</dd></div>", l.get(k));
    };
    fact("v.version", opt(&row.version));
    fact("v.suite", opt(&row.suite));
    if let Some(g) = &row.group {
        fact("report.group", esc(g));
    }
    fact("v.sni", opt(&row.sni));
    fact("v.alpn", opt(&row.alpn));
    let mut dec = format!(
        "<span class=\"badge {}\">{}</span>",
        decryption_class(row.decryption),
        decryption_label(l, row.decryption)
    );
    if let Some(reason) = &row.decryption_reason {
        let _ = write!(dec, " {}", esc(reason));
    }
    fact("report.col.decryption", dec);
    if let Some(how) = row.resumed {
        fact("report.resumed", esc(how));
    }
    if let Some(j) = &d.ja3 {
        fact("report.ja3", format!("<code>{}</code>", esc(j)));
    }
    if let Some(j) = &d.ja4 {
        fact("report.ja4", format!("<code>{}</code>", esc(j)));
    }
    o.push_str("</dl>\n");
    if let Some(t) = r.texts.get(&d.overview) {
        let _ = write!(o, "<div class=\"overview\"><h3>{}</h3>", esc(&t.title));
        paragraphs(o, &t.paragraphs);
        o.push_str("</div>\n");
    }
    if let Some(suite) = &d.suite {
        let intro = r.texts.get(&suite.text);
        let _ = write!(
            o,
            "<details class=\"suite\"><summary>{}: <code>{}</code></summary>",
            esc(intro.map_or("", |t| t.title.as_str())),
            esc(&suite.name)
        );
        if let Some(t) = intro {
            paragraphs(o, &t.paragraphs);
        }
        for p in &suite.parts {
            if let Some(t) = r.texts.get(&p.text) {
                let _ = write!(o, "<h4>{} <code>{}</code></h4>", esc(&t.title), esc(&p.part));
                paragraphs(o, &t.paragraphs);
            }
        }
        o.push_str("</details>\n");
    }
    o.push_str("<div class=\"cols\"><div class=\"main-col\">\n");
    let _ = writeln!(o, "<h3>{}</h3>", l.get("ui.ladder"));
    ladder(o, l, row, d);
    let _ = writeln!(o, "<p class=\"legend\">{}</p>", l.get("ui.legend"));
    let _ =
        writeln!(o, "<h3>{}</h3>\n<ol class=\"steps\" id=\"steps-{id}\">", l.get("ui.explained"));
    let mut kinds_told: Vec<&str> = Vec::new();
    for (i, st) in d.steps.iter().enumerate() {
        step(o, r, l, id, i, st, d, &mut kinds_told);
    }
    o.push_str("</ol>\n");
    if !d.unplaced_checks.is_empty() {
        let _ = write!(o, "<h3>{}</h3><ul class=\"checks\">", l.get("ui.checks"));
        for &i in &d.unplaced_checks {
            if let Some(c) = d.checks.get(i) {
                check(o, r, l, c, &mut kinds_told);
            }
        }
        o.push_str("</ul>\n");
    }
    o.push_str("</div>\n");
    let _ = writeln!(
        o,
        "<aside class=\"inspector\" id=\"insp-{id}\" data-session=\"{id}\" aria-label=\"{}\"><h3>{}</h3><p class=\"insp-title\" aria-live=\"polite\">{}</p><noscript><p>{}</p></noscript><div class=\"tree\"></div><p class=\"field-info\" aria-live=\"polite\"></p><div class=\"hex\"></div></aside>",
        l.get("report.inspector"),
        l.get("report.inspector"),
        l.get("report.js.select"),
        l.get("report.noscript"),
    );
    o.push_str("</div>\n");
    if !d.certificates.is_empty() {
        let _ = write!(
            o,
            "<details class=\"certs\"><summary>{}</summary>",
            l.get("report.certificates")
        );
        for c in &d.certificates {
            o.push_str("<dl class=\"values\">");
            for (k, v) in [
                ("v.subject", esc(&c.subject)),
                ("v.issuer", esc(&c.issuer)),
                ("v.validity", format!("{} … {}", esc(&c.not_before), esc(&c.not_after))),
                ("v.san", esc(&c.san.join(", "))),
                ("v.public_key", esc(&c.public_key)),
                ("v.signature_algorithm", esc(&c.signature_algorithm)),
                ("v.fingerprint", format!("<code>{}</code>", esc(&c.sha256))),
            ] {
                let _ = write!(o, "<dt>{}</dt><dd>{v}</dd>", l.get(k));
            }
            o.push_str("</dl>");
        }
        o.push_str("</details>\n");
    }
    if !d.http.is_empty() || d.http_not_shown > 0 {
        let _ = writeln!(o, "<h3>{}</h3>", l.get("report.http"));
        for x in &d.http {
            exchange(o, l, x);
        }
        if d.http_not_shown > 0 {
            let _ = write!(
                o,
                "<p class=\"note\">{}</p>",
                l.fill("report.http_not_shown", &[("n", &d.http_not_shown)])
            );
        }
    }
    if !d.diagnostics.is_empty() {
        let _ = write!(o, "<h3>{}</h3>", l.get("report.problems"));
        diagnostics(o, &d.diagnostics);
    }
    o.push_str("</section>\n");
}

fn prot_mark(p: &str) -> &'static str {
    match p {
        "encrypted" => " [enc]",
        "decrypted" => " [dec]",
        _ => "",
    }
}

/// The ladder: client and server lifelines, an arrow per message (and
/// per application data record kept), each a link to its step.
fn ladder(o: &mut String, l: &L, row: &SessionRow, d: &SessionDetail) {
    const W: usize = 760;
    const CX: usize = 250;
    const SX: usize = 650;
    const TOP: usize = 64;
    const ROW: usize = 34;
    let id = d.id;
    let rows = d.steps.len() + d.app_data.len();
    let h = TOP + ROW * rows + 16;
    let _ = write!(
        o,
        "<svg class=\"ladder\" id=\"ladder-{id}\" xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {W} {h}\" width=\"{W}\" height=\"{h}\" role=\"group\" aria-labelledby=\"ladder-{id}-t\"><title id=\"ladder-{id}-t\">{}</title>",
        l.fill("report.ladder_title", &[("n", &d.steps.len())]),
    );
    for (x, who, addr) in [(CX, "ui.client", &row.client), (SX, "ui.server", &row.server)] {
        let _ = write!(
            o,
            "<text class=\"end\" x=\"{x}\" y=\"18\" text-anchor=\"middle\">{}</text><text class=\"addr\" x=\"{x}\" y=\"36\" text-anchor=\"middle\">{}</text><line class=\"life\" x1=\"{x}\" y1=\"44\" x2=\"{x}\" y2=\"{}\"/>",
            l.get(who),
            esc(addr),
            h - 4
        );
    }
    let arrow = |o: &mut String, y: usize, from: &str, class: &str, double: bool| {
        let (x1, x2) = if from == "client" { (CX, SX) } else { (SX, CX) };
        let tip = if x2 > x1 { x2 - 1 } else { x2 + 1 };
        let base = if x2 > x1 { x2 - 11 } else { x2 + 11 };
        if double {
            let _ = write!(
                o,
                "<line class=\"arrow {class}\" x1=\"{x1}\" y1=\"{}\" x2=\"{base}\" y2=\"{}\"/><line class=\"arrow {class}\" x1=\"{x1}\" y1=\"{}\" x2=\"{base}\" y2=\"{}\"/>",
                y - 2,
                y - 2,
                y + 2,
                y + 2
            );
        } else {
            let _ = write!(
                o,
                "<line class=\"arrow {class}\" x1=\"{x1}\" y1=\"{y}\" x2=\"{base}\" y2=\"{y}\"/>"
            );
        }
        let _ = write!(
            o,
            "<polygon class=\"head {class}\" points=\"{tip},{y} {base},{} {base},{}\"/>",
            y - 5,
            y + 5
        );
    };
    let mid = (CX + SX) / 2;
    for (i, st) in d.steps.iter().enumerate() {
        let y = TOP + ROW * i + 20;
        let label = format!("({}) {}{}", st.n, st.name, prot_mark(st.protection));
        let _ = write!(
            o,
            "<a class=\"step {} {}\" href=\"#s{id}-m{i}\" data-m=\"{i}\"><title>{}</title><text class=\"meta\" x=\"8\" y=\"{}\">{}</text>",
            st.protection,
            st.from,
            esc(&format!(
                "{label}, {}, {} {}, {} s",
                dir_raw(l, st.from),
                explain::label(l.lang, "report.frame_word"),
                st.frame,
                st.time
            )),
            y + 4,
            l.fill("report.frame_time", &[("frame", &st.frame), ("time", &st.time)]),
        );
        arrow(o, y, st.from, st.protection, false);
        let _ = write!(
            o,
            "<text class=\"label\" x=\"{mid}\" y=\"{}\" text-anchor=\"middle\">{}</text></a>",
            y - 7,
            esc(&label)
        );
    }
    for (j, a) in d.app_data.iter().enumerate() {
        let y = TOP + ROW * (d.steps.len() + j) + 20;
        let class = if a.decrypted { "decrypted" } else { "encrypted" };
        let label =
            format!("{}{}", l.fill("report.app_record", &[("len", &a.len)]), prot_mark(class));
        let _ = write!(
            o,
            "<g class=\"app {class} {}\"><text class=\"meta\" x=\"8\" y=\"{}\">{}</text>",
            a.from,
            y + 4,
            l.fill("report.frame_time", &[("frame", &a.frame), ("time", &a.time)]),
        );
        arrow(o, y, a.from, class, true);
        let _ = write!(
            o,
            "<text class=\"label\" x=\"{mid}\" y=\"{}\" text-anchor=\"middle\">{label}</text></g>",
            y - 7
        );
    }
    o.push_str("</svg>\n");
    let more = (d.traffic.client_records + d.traffic.server_records)
        .saturating_sub(d.app_data.len() as u64);
    if more > 0 {
        let _ = write!(o, "<p class=\"legend\">{}</p>", l.fill("report.app_more", &[("n", &more)]));
    }
}

#[allow(clippy::too_many_arguments)]
fn step<'a>(
    o: &mut String,
    r: &Report,
    l: &L,
    id: u64,
    i: usize,
    st: &StepOut,
    d: &'a SessionDetail,
    kinds_told: &mut Vec<&'a str>,
) {
    let badge = match st.protection {
        "encrypted" => format!(" <span class=\"badge warn\">{}</span>", l.get("ui.encrypted")),
        "decrypted" => format!(" <span class=\"badge ok\">{}</span>", l.get("ui.decrypted")),
        _ => String::new(),
    };
    let _ = write!(
        o,
        "<li class=\"step {}\" id=\"s{id}-m{i}\" data-m=\"{i}\"><div class=\"step-head\"><button type=\"button\" class=\"msg\" data-m=\"{i}\" aria-controls=\"insp-{id}\" aria-pressed=\"false\">({}) {}</button> <span class=\"meta\">{}, {} {}, {} s, {}</span>{badge}</div>",
        st.from,
        st.n,
        esc(&st.name),
        dir_text(l, st.from),
        l.get("report.frame_word"),
        st.frame,
        st.time,
        l.fill("report.bytes", &[("n", &st.len)]),
    );
    if let Some(t) = r.texts.get(&st.text) {
        let title = if t.title == st.name { l.get("ui.what") } else { esc(&t.title) };
        let _ = write!(o, "<details class=\"why\"><summary>{title}</summary>");
        paragraphs(o, &t.paragraphs);
        o.push_str("</details>");
    }
    if !st.values.is_empty() {
        o.push_str("<dl class=\"values\">");
        for v in &st.values {
            let _ = write!(o, "<dt>{}</dt><dd>{}</dd>", esc(&v.label), esc(&v.value));
        }
        o.push_str("</dl>");
    }
    if !st.checks.is_empty() {
        o.push_str("<ul class=\"checks\">");
        for &c in &st.checks {
            if let Some(c) = d.checks.get(c) {
                check(o, r, l, c, kinds_told);
            }
        }
        o.push_str("</ul>");
    }
    o.push_str("</li>\n");
}

fn check<'a>(o: &mut String, r: &Report, l: &L, c: &'a CheckOut, kinds_told: &mut Vec<&'a str>) {
    let class = match c.result {
        "ok" => "ok",
        "failed" => "bad",
        _ => "na",
    };
    let _ = write!(
        o,
        "<li class=\"check {class}\" data-check=\"{}\"><span class=\"badge {class}\">{}</span> <strong>{}</strong>",
        c.kind,
        esc(&c.result_label),
        esc(&c.title)
    );
    if let Some(reason) = &c.reason {
        let _ = write!(o, "<p class=\"reason\">{}: {}</p>", l.get("ui.why"), esc(reason));
    }
    if !c.details.is_empty() {
        o.push_str("<dl class=\"values\">");
        for v in &c.details {
            let _ = write!(
                o,
                "<dt>{}</dt><dd data-key=\"{}\"><code>{}</code></dd>",
                esc(&v.label),
                esc(&v.key),
                esc(&v.value)
            );
        }
        o.push_str("</dl>");
    }
    if !kinds_told.contains(&c.kind)
        && let Some(t) = r.texts.get(&c.text)
    {
        kinds_told.push(c.kind);
        let _ = write!(o, "<details class=\"why\"><summary>{}</summary>", esc(&t.title));
        paragraphs(o, &t.paragraphs);
        o.push_str("</details>");
    }
    o.push_str("</li>");
}

fn data(o: &mut String, l: &L, class: &str, d: &DataOut) {
    match (&d.text, &d.hex) {
        (Some(t), _) => {
            let _ = write!(o, "<pre class=\"{class} text\">{}</pre>", esc(t));
        }
        (None, Some(h)) => {
            let _ = write!(
                o,
                "<p class=\"legend\">{}</p><pre class=\"{class} hexdata\">",
                l.get("report.binary")
            );
            for (i, pair) in h.as_bytes().chunks(2).enumerate() {
                if i > 0 {
                    o.push(if i % 16 == 0 { '\n' } else { ' ' });
                }
                o.push_str(std::str::from_utf8(pair).unwrap_or_default());
            }
            o.push_str("</pre>");
        }
        (None, None) => {}
    }
}

fn header_value(h: &HeaderOut) -> String {
    match (&h.value.text, &h.value.hex) {
        (Some(t), _) => esc(t),
        (None, Some(x)) => format!("<code>0x{}</code>", esc(x)),
        (None, None) => String::new(),
    }
}

fn body_block(o: &mut String, l: &L, b: &BodyOut) {
    if b.length == 0 {
        let _ = write!(o, "<p class=\"legend\">{}</p>", l.get("report.no_body"));
        return;
    }
    let mut about = l.fill("report.body", &[("n", &b.length)]);
    if b.decoded
        && let Some(e) = &b.encoding
    {
        let _ = write!(about, ", {}", l.fill("report.body.decoded", &[("encoding", e)]));
    }
    if b.cut {
        let _ = write!(about, ", {}", l.fill("report.body.cut", &[("n", &b.shown)]));
    }
    let _ = write!(o, "<p class=\"legend\">{about}</p>");
    data(o, l, "body", &b.data);
}

fn exchange(o: &mut String, l: &L, x: &ExchangeOut) {
    let mut title = x.version.to_string();
    if let Some(s) = x.stream {
        let _ = write!(title, " stream {s}");
    }
    let _ = write!(
        title,
        ": {} {}{}",
        x.method.as_deref().unwrap_or("?"),
        x.authority.as_deref().unwrap_or(""),
        x.path.as_deref().unwrap_or("")
    );
    if let Some(s) = x.status {
        let _ = write!(title, " → {s}");
        if let Some(r) = &x.reason {
            let _ = write!(title, " {r}");
        }
    }
    let frames = match (x.request_frame, x.response_frame) {
        (Some(a), Some(b)) => format!("{} {a} → {b}", explain::label(l.lang, "report.frame_word")),
        (Some(a), None) | (None, Some(a)) => {
            format!("{} {a}", explain::label(l.lang, "report.frame_word"))
        }
        (None, None) => String::new(),
    };
    let _ = write!(
        o,
        "<div class=\"exchange\"><h4>{} <small>{}</small></h4><div class=\"pair\">",
        esc(&title),
        esc(&frames)
    );
    for (key, hs, b) in [
        ("report.request", &x.request_headers, &x.request_body),
        ("report.response", &x.response_headers, &x.response_body),
    ] {
        let _ = write!(
            o,
            "<div class=\"half\"><h5>{}</h5><table class=\"headers\"><tbody>",
            l.get(key)
        );
        for h in hs {
            let _ = write!(
                o,
                "<tr><th scope=\"row\">{}</th><td>{}</td></tr>",
                esc(&h.name),
                header_value(h)
            );
        }
        o.push_str("</tbody></table>");
        body_block(o, l, b);
        o.push_str("</div>");
    }
    o.push_str("</div>");
    for n in &x.notes {
        let _ = write!(o, "<p class=\"note\">{}</p>", esc(n));
    }
    o.push_str("</div>\n");
}

fn flow(o: &mut String, r: &Report, l: &L, f: &FlowDetail) {
    let Some(row) = r.flows.iter().find(|x| x.stream == f.stream) else { return };
    let _ = write!(
        o,
        "<section class=\"flow\" id=\"f{0}\" aria-labelledby=\"f{0}-h\"><h2 id=\"f{0}-h\">{1}: {2} → {3}</h2>",
        f.stream,
        l.fill("report.stream", &[("stream", &f.stream)]),
        esc(&row.client),
        esc(&row.server)
    );
    if f.http.is_empty() {
        let _ = write!(o, "<h3>{}</h3>", l.get("report.first_bytes"));
        for (who, d) in [("ui.client", &f.client_first), ("ui.server", &f.server_first)] {
            let _ = write!(o, "<h4>{}</h4>", l.get(who));
            data(o, l, "preview", d);
        }
    } else {
        let _ = write!(o, "<h3>{}</h3>", l.get("report.http.plain"));
        for x in &f.http {
            exchange(o, l, x);
        }
    }
    if f.http_not_shown > 0 {
        let _ = write!(
            o,
            "<p class=\"note\">{}</p>",
            l.fill("report.http_not_shown", &[("n", &f.http_not_shown)])
        );
    }
    if !f.diagnostics.is_empty() {
        let _ = write!(o, "<h3>{}</h3>", l.get("report.problems"));
        diagnostics(o, &f.diagnostics);
    }
    o.push_str("</section>\n");
}

fn diagnostics(o: &mut String, ds: &[DiagOut]) {
    o.push_str("<ul class=\"diags\">");
    for d in ds {
        let frame = d.frame.map(|f| format!(" (frame {f})")).unwrap_or_default();
        let _ = write!(
            o,
            "<li class=\"{}\"><code>{}</code> {}{}</li>",
            esc(d.severity),
            esc(d.code),
            esc(&d.message),
            frame
        );
    }
    o.push_str("</ul>");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_in_text_and_attributes() {
        assert_eq!(
            esc("<script>alert('x')</script> & \"q\""),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;q&quot;"
        );
    }

    #[test]
    fn json_in_a_script_cannot_close_it() {
        let v = serde_json::json!({ "sni": "</script><script>alert(1)</script><!--" });
        let s = script_json(&v.to_string());
        assert!(!s.contains('<') && !s.contains('>'), "{s}");
        let back: serde_json::Value = serde_json::from_str(&s).unwrap();
        assert_eq!(back, v);
    }

    #[test]
    fn the_shell_has_only_known_placeholders_and_the_csp_hashes_match() {
        let mut rest = SHELL;
        let mut seen = Vec::new();
        while let Some(i) = rest.find("{{") {
            let after = &rest[i + 2..];
            let j = after.find("}}").unwrap();
            seen.push(after[..j].to_string());
            rest = &after[j + 2..];
        }
        seen.sort();
        assert_eq!(seen, ["body", "csp", "data", "lang", "script", "style", "title"]);
        // The browser hashes the element's text exactly as written.
        assert!(csp().contains(&csp_hash(SCRIPT)));
        assert!(!STYLE.contains("</style") && !SCRIPT.contains("</script"));
    }
}
