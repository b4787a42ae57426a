//! Text output of `inspect --explain` and `demo`: a ladder diagram of the
//! handshake (client and server columns, an arrow per message with its
//! frame and time, encrypted and decrypted marked), then each step with
//! what it is for, the values that matter in this capture and its checks.

use std::io::{self, Write};

use tlsscope_scope::explain::{self, Explained, Lang, Text};
use tlsscope_scope::flow::Dir;
use tlsscope_scope::session::{Protection, Session};
use tlsscope_scope::time::Timestamp;
use tlsscope_scope::tls::registry;
use tlsscope_scope::verify::{Check, Outcome};

use super::text::Style;

/// Columns the texts are wrapped to.
const WRAP: usize = 78;

/// Columns between the two lifelines of the ladder.
const LANE: usize = 52;

/// Terminal columns a character takes: CJK and full-width forms take two.
fn char_width(c: char) -> usize {
    match c as u32 {
        0x1100..=0x115f
        | 0x2e80..=0xa4cf
        | 0xac00..=0xd7a3
        | 0xf900..=0xfaff
        | 0xfe30..=0xfe4f
        | 0xff00..=0xff60
        | 0xffe0..=0xffe6
        | 0x20000..=0x3fffd => 2,
        _ => 1,
    }
}

/// Terminal columns of `s`.
pub fn width(s: &str) -> usize {
    s.chars().map(char_width).sum()
}

/// `text` wrapped to `cols` columns, each line after `indent`. English
/// breaks at spaces; Japanese (no spaces) anywhere between characters.
pub fn wrap(text: &str, indent: usize, cols: usize) -> Vec<String> {
    let room = cols.saturating_sub(indent).max(20);
    let mut lines = Vec::new();
    let mut line = String::new();
    let mut used = 0;
    for word in text.split_inclusive(' ') {
        let ww = width(word.trim_end());
        // Japanese runs have no spaces to break at: they fill the line and
        // break between characters.
        let wide = word.chars().any(|c| char_width(c) == 2);
        if used + ww <= room {
            line.push_str(word);
            used += width(word);
            continue;
        }
        if ww <= room && used > 0 && !wide {
            lines.push(std::mem::take(&mut line).trim_end().to_string());
            line.push_str(word);
            used = width(word);
            continue;
        }
        // A word longer than the line (or Japanese text): by character.
        for c in word.chars() {
            let cw = char_width(c);
            // Closing punctuation hangs past the margin rather than
            // starting a line (Japanese line-breaking rules).
            let hangs = "、。，．）」』,.)".contains(c);
            if used + cw > room && used > 0 && !hangs {
                lines.push(std::mem::take(&mut line).trim_end().to_string());
                used = 0;
                if c == ' ' {
                    continue;
                }
            }
            line.push(c);
            used += cw;
        }
    }
    if !line.trim().is_empty() {
        lines.push(line.trim_end().to_string());
    }
    let pad = " ".repeat(indent);
    lines.into_iter().map(|l| format!("{pad}{l}")).collect()
}

fn paragraphs(w: &mut impl Write, t: &Text, indent: usize) -> io::Result<()> {
    for p in &t.paragraphs {
        for l in wrap(p, indent, WRAP) {
            writeln!(w, "{l}")?;
        }
    }
    Ok(())
}

/// The name shown for a message (alerts with their description).
fn message_name(s: &Session, i: usize) -> String {
    let Some(m) = s.messages.get(i) else { return String::new() };
    match m.alert {
        Some((level, desc)) => format!(
            "Alert ({} {})",
            registry::alert_level(level).unwrap_or("?"),
            registry::alert_description(desc).unwrap_or("unknown")
        ),
        None => m.name.to_string(),
    }
}

fn mark(p: Protection) -> &'static str {
    match p {
        Protection::Plain => "",
        Protection::Encrypted => " [enc]",
        Protection::Decrypted => " [dec]",
    }
}

/// One arrow of the ladder: `│ label ─────▶ │` or `│ ◀───── label │`,
/// `double` for application data.
fn arrow(label: &str, from: Dir, double: bool) -> String {
    let (line, head_r, head_l) = if double { ('═', '▶', '◀') } else { ('─', '▶', '◀') };
    let room = LANE.saturating_sub(4);
    let label: String = if width(label) > room {
        let mut cut = String::new();
        for c in label.chars() {
            if width(&cut) + char_width(c) + 1 > room {
                break;
            }
            cut.push(c);
        }
        cut.push('…');
        cut
    } else {
        label.to_string()
    };
    let fill = LANE.saturating_sub(width(&label) + 4);
    let bar: String = std::iter::repeat_n(line, fill).collect();
    match from {
        Dir::ClientToServer => format!("│ {label} {bar}{head_r} │"),
        Dir::ServerToClient => format!("│ {head_l}{bar} {label} │"),
    }
}

/// The ladder diagram of a session's handshake and its application data.
pub fn ladder(
    w: &mut impl Write,
    s: &Session,
    style: Style,
    start: Timestamp,
    lang: Lang,
) -> io::Result<()> {
    let client = format!("{} {}", explain::label(lang, "ui.client"), s.client);
    let server = format!("{} {}", explain::label(lang, "ui.server"), s.server);
    let total = LANE + 2;
    let gap = total.saturating_sub(width(&client) + width(&server)).max(2);
    writeln!(w, "        {}{}{}", style.bold(&client), " ".repeat(gap), style.bold(&server))?;
    let blank = format!("│{}│", " ".repeat(LANE));
    writeln!(w, "        {blank}")?;
    for (i, m) in s.messages.iter().enumerate() {
        let label = format!("{}{}", message_name(s, i), mark(m.protection));
        let line = arrow(&label, m.from, false);
        let line = match m.protection {
            Protection::Encrypted => style.warn(&line),
            Protection::Decrypted => style.good(&line),
            Protection::Plain => style.dir(m.from, &line),
        };
        writeln!(
            w,
            "  {:>5} {line}  {}",
            format!("({})", i + 1),
            style.dim(&format!("frame {} · {:.6}", m.frame, m.ts.seconds_since(start)))
        )?;
    }
    for d in [Dir::ClientToServer, Dir::ServerToClient] {
        let t = s.traffic[d];
        if t.records == 0 {
            continue;
        }
        let decrypted = s.decryption.as_ref().is_some_and(|x| x.records[d].1 > 0);
        let label = format!(
            "{}: {} {}, {} bytes{}",
            explain::label(lang, "ui.app_data"),
            t.records,
            explain::label(lang, "ui.records"),
            t.bytes,
            if decrypted { " [dec]" } else { " [enc]" }
        );
        let line = arrow(&label, d, true);
        let line = if decrypted { style.good(&line) } else { style.warn(&line) };
        writeln!(w, "        {line}")?;
    }
    writeln!(w, "        {blank}")?;
    writeln!(w, "        {}", style.dim(&explain::label(lang, "ui.legend")))
}

/// One check: outcome, title, why, the values behind it.
fn check(w: &mut impl Write, c: &Check, style: Style, lang: Lang) -> io::Result<()> {
    let label = explain::outcome_label(&c.outcome, lang);
    let mark = format!("[{label:^6}]");
    let mark = match c.outcome {
        Outcome::Ok => style.good(&mark),
        Outcome::Failed(_) => style.warn(&mark),
        Outcome::NotPossible(_) => style.dim(&mark),
    };
    let title = match lang {
        Lang::En => c.title.clone(),
        Lang::Ja => format!("{}: {}", explain::check_text(c.kind, lang).title, c.title),
    };
    writeln!(w, "        {mark} {title}")?;
    if let Some(r) = c.outcome.reason() {
        let why = explain::label(lang, "ui.why");
        for l in wrap(&format!("{why}: {r}"), 17, WRAP + 20) {
            writeln!(w, "{l}")?;
        }
    }
    for (_, label, value) in &c.details {
        writeln!(w, "                 {label}: {value}")?;
    }
    Ok(())
}

/// The explanation of a session: overview, cipher suite, each step.
pub fn explained(
    w: &mut impl Write,
    s: &Session,
    x: &Explained,
    style: Style,
    start: Timestamp,
) -> io::Result<()> {
    let lang = x.lang;
    writeln!(w)?;
    writeln!(w, "  {}", style.bold(&x.overview.title))?;
    paragraphs(w, &x.overview, 4)?;
    if let Some((name, intro, parts)) = &x.suite {
        writeln!(w)?;
        writeln!(w, "  {}", style.bold(&format!("{}: {name}", intro.title)))?;
        paragraphs(w, intro, 4)?;
        for p in parts {
            let head = if p.text.title.contains(&p.part) {
                p.text.title.clone()
            } else {
                format!("{}  ({})", p.text.title, p.part)
            };
            writeln!(w, "    {}", style.bold(&head))?;
            paragraphs(w, &p.text, 6)?;
        }
    }
    writeln!(w)?;
    writeln!(w, "  {}", style.bold(&explain::label(lang, "ui.explained")))?;
    let what = explain::label(lang, "ui.what");
    let in_capture = explain::label(lang, "ui.values");
    let checks = explain::label(lang, "ui.checks");
    let mut kinds_told = Vec::new();
    for st in &x.steps {
        writeln!(w)?;
        let arrow = match st.from {
            Dir::ClientToServer => format!(
                "{} → {}",
                explain::label(lang, "ui.client"),
                explain::label(lang, "ui.server")
            ),
            Dir::ServerToClient => format!(
                "{} → {}",
                explain::label(lang, "ui.server"),
                explain::label(lang, "ui.client")
            ),
        };
        let prot = match st.protection {
            Protection::Plain => String::new(),
            Protection::Encrypted => format!(", {}", explain::label(lang, "ui.encrypted")),
            Protection::Decrypted => format!(", {}", explain::label(lang, "ui.decrypted")),
        };
        let head = format!("({}) {}", st.number, message_name(s, st.entry));
        writeln!(
            w,
            "  {}  {}",
            style.bold(&head),
            style.dim(&format!(
                "{arrow}, frame {}, {:.6}{prot}",
                st.frame,
                st.ts.seconds_since(start)
            ))
        )?;
        if st.text.title != message_name(s, st.entry) && st.text.title != st.name {
            writeln!(w, "      {}", st.text.title)?;
        }
        writeln!(w, "      {}", style.dim(&what))?;
        paragraphs(w, &st.text, 8)?;
        if !st.values.is_empty() {
            writeln!(w, "      {}", style.dim(&in_capture))?;
            for v in &st.values {
                writeln!(w, "        {}: {}", v.label, v.value)?;
            }
        }
        if !st.checks.is_empty() {
            writeln!(w, "      {}", style.dim(&checks))?;
            for &i in &st.checks {
                let Some(c) = x.checks.get(i) else { continue };
                if !kinds_told.contains(&c.kind.key()) {
                    kinds_told.push(c.kind.key());
                    for l in explain::check_text(c.kind, lang).paragraphs {
                        for l in wrap(&l, 8, WRAP) {
                            writeln!(w, "{}", style.dim(&l))?;
                        }
                    }
                }
                check(w, c, style, lang)?;
            }
        }
    }
    // Checks that belong to no step shown (a message missing from the
    // capture): still reported.
    let placed: Vec<usize> = x.steps.iter().flat_map(|s| s.checks.iter().copied()).collect();
    let rest: Vec<&Check> =
        x.checks.iter().enumerate().filter(|(i, _)| !placed.contains(i)).map(|(_, c)| c).collect();
    if !rest.is_empty() {
        writeln!(w)?;
        writeln!(w, "  {}", style.bold(&checks))?;
        for c in rest {
            check(w, c, style, lang)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrapping_keeps_lines_within_the_columns_in_both_scripts() {
        let en = "The client opens the handshake: its random (32 bytes, mixed into every key), the cipher suites.";
        for l in wrap(en, 4, 40) {
            assert!(width(&l) <= 40, "{l:?}");
            assert!(l.starts_with("    "));
        }
        assert_eq!(wrap(en, 4, 40).join(" ").split_whitespace().collect::<Vec<_>>().join(" "), en);
        let ja = "クライアントがハンドシェイクを始めます。クライアントランダム(32 バイト、すべての鍵に混ぜ込まれる)を送ります。";
        let lines = wrap(ja, 2, 30);
        assert!(lines.len() > 2);
        for l in &lines {
            // A closing mark may hang one character past the margin.
            assert!(width(l) <= 32, "{l:?} is {} wide", width(l));
            assert!(!l.trim_start().starts_with(['、', '。', ')']), "{l:?}");
        }
        let joined: String = lines.iter().map(|l| l.trim_start()).collect();
        assert_eq!(joined.replace(' ', ""), ja.replace(' ', ""));
    }

    #[test]
    fn arrows_point_from_the_sender_and_keep_the_lane_width() {
        let a = arrow("ClientHello", Dir::ClientToServer, false);
        let b = arrow("ServerHello", Dir::ServerToClient, false);
        assert!(a.starts_with("│ ClientHello ─") && a.ends_with("▶ │"), "{a}");
        assert!(b.starts_with("│ ◀─") && b.ends_with(" ServerHello │"), "{b}");
        assert_eq!(width(&a), LANE + 2);
        assert_eq!(width(&b), LANE + 2);
        let long = arrow(&"x".repeat(200), Dir::ClientToServer, true);
        assert_eq!(width(&long), LANE + 2, "{long}");
        let ja = arrow("アプリケーションデータ: 3 レコード", Dir::ServerToClient, true);
        assert_eq!(width(&ja), LANE + 2, "{ja}");
    }
}
