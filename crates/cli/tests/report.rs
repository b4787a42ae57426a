//! `tlsscope report`: the page's data against golden files, the static
//! HTML (readable without JavaScript), hostile capture content escaped,
//! the size limits on a capture of 10,000 sessions, flags and errors. The
//! page in a real browser: tests/report_browser.rs.
//!
//! Golden files: crates/cli/tests/report_golden/*.json, the data a page
//! embeds with the wall-clock values masked. After a deliberate change,
//! `UPDATE_GOLDEN=1 cargo test --release -p tlsscope --test report`
//! rewrites them; review the diff.

mod report_support;

use std::path::Path;
use std::process::Command;

use report_support::{
    HOSTILE, data, hostile_capture, many_sessions, report, session_with_version, tempdir, testdata,
};
use serde_json::Value;

/// The documented bound on the page of a 10,000-session capture
/// (docs/report.md).
const PAGE_BOUND_10K: usize = 16 << 20;

/// Masks what depends on the wall clock or the build: when the page was
/// made, the generator's version, and the checks' "valid now" details.
fn masked(mut d: Value) -> Value {
    d["generated"] = Value::from("(masked)");
    d["generator"] = Value::from("(masked)");
    for detail in d["details"].as_array_mut().into_iter().flatten() {
        for check in detail["checks"].as_array_mut().into_iter().flatten() {
            for v in check["details"].as_array_mut().into_iter().flatten() {
                if v["key"] == "now" {
                    v["label"] = Value::from("(masked)");
                    v["value"] = Value::from("(masked)");
                }
            }
        }
    }
    d
}

fn golden(name: &str, d: &Value) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/report_golden").join(name);
    let actual = serde_json::to_string_pretty(&masked(d.clone())).unwrap() + "\n";
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_default();
    if expected != actual {
        let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("{name}.actual"));
        std::fs::write(&out, &actual).unwrap();
        let first = expected
            .lines()
            .zip(actual.lines())
            .position(|(a, b)| a != b)
            .unwrap_or_else(|| expected.lines().count().min(actual.lines().count()));
        panic!(
            "{} differs from the page's data from line {} (actual: {}); if the change is \
             meant, rerun with UPDATE_GOLDEN=1 and review the diff",
            path.display(),
            first + 1,
            out.display()
        );
    }
}

#[test]
fn the_lab_report_data_matches_the_golden_file() {
    let dir = tempdir("golden");
    let keys = testdata("lab.keys");
    let page = report(
        &[
            testdata("lab.pcap").to_str().unwrap(),
            "--keylog",
            keys.to_str().unwrap(),
            "--lang",
            "en",
        ],
        &dir.join("lab.html"),
    );
    let d = data(&page);
    assert_eq!(d["format"], "tlsscope-report");
    assert_eq!(d["totals"]["sessions"], 2);
    assert_eq!(d["totals"]["decrypted"], 2);
    golden("lab.en.json", &d);
}

#[test]
fn the_report_without_keys_matches_the_golden_file() {
    let dir = tempdir("golden-nokeys");
    let page =
        report(&[testdata("lab.pcap").to_str().unwrap(), "--lang", "ja"], &dir.join("lab.html"));
    let d = data(&page);
    let (row, detail) = session_with_version(&d, "TLS 1.3");
    // No secret was given: nothing was tried (not "none", which means
    // secrets were given and did not decrypt).
    assert_eq!(row["decryption"], "no keys");
    assert!(row["decryption_reason"].is_null(), "{row}");
    assert!(detail["http"].as_array().unwrap().is_empty());
    assert!(detail["steps"].as_array().unwrap().iter().any(|s| s["protection"] == "encrypted"));
    golden("lab.nokeys.ja.json", &d);
}

/// The `<svg class="ladder">` element of session `id`.
fn ladder_svg(page: &str, id: &Value) -> String {
    let open = format!("<svg class=\"ladder\" id=\"ladder-{id}\"");
    let start = page.find(&open).expect("the session has a ladder");
    let len = page[start..].find("</svg>").unwrap();
    page[start..start + len].to_string()
}

#[test]
fn the_static_page_shows_the_ladder_and_the_http_without_javascript() {
    let dir = tempdir("static");
    let keys = testdata("lab.keys");
    let page = report(
        &[
            testdata("lab.pcap").to_str().unwrap(),
            "--keylog",
            keys.to_str().unwrap(),
            "--lang",
            "en",
        ],
        &dir.join("lab.html"),
    );
    let d = data(&page);
    let (row, detail) = session_with_version(&d, "TLS 1.2");
    let svg = ladder_svg(&page, &row["id"]);
    let steps: Vec<&str> = svg.split("<text class=\"label\"").skip(1).collect();
    let names = [
        "ClientHello",
        "ServerHello",
        "Certificate",
        "ServerKeyExchange",
        "ServerHelloDone",
        "ClientKeyExchange",
        "ChangeCipherSpec",
        "Finished [dec]",
        "ChangeCipherSpec",
        "Finished [dec]",
    ];
    assert_eq!(svg.matches("<a class=\"step").count(), 10, "{svg}");
    for (i, name) in names.iter().enumerate() {
        assert!(
            steps[i].contains(&format!(">({}) {name}</text>", i + 1)),
            "step {i}: {}",
            steps[i]
        );
    }
    // Frame numbers and times beside the arrows.
    assert!(svg.contains("frame 14 · 0.039649 s"), "{svg}");
    assert_eq!(detail["steps"][0]["frame"], 14);
    // Encrypted and decrypted marked: TLS 1.2 Finished is decrypted.
    assert!(svg.contains("<a class=\"step decrypted server\""), "{svg}");
    // The explanations and checks are in the HTML, not only in the data.
    assert!(page.contains("data-check=\"server_key_exchange\""));
    assert!(page.contains("data-key=\"hash_a\"") && page.contains("data-key=\"hash_b\""));
    assert!(page.contains("data-check=\"finished\""));
    // The decrypted HTTP/2 response, as text.
    assert!(page.contains("<pre class=\"body text\">Hello World!</pre>"));
    // Every label resolved (a missing one would show its key).
    assert!(
        !page.contains(">report.") && !page.contains(" report."),
        "a label fell back to its key"
    );
    assert!(page.starts_with("<!DOCTYPE html>\n<html lang=\"en\">"));
}

#[test]
fn the_page_is_self_contained() {
    let dir = tempdir("self-contained");
    let keys = testdata("lab.keys");
    let page = report(
        &[testdata("lab.pcap").to_str().unwrap(), "--keylog", keys.to_str().unwrap()],
        &dir.join("lab.html"),
    );
    let lower = page.to_ascii_lowercase();
    assert!(!lower.contains(" src="), "nothing is loaded from elsewhere");
    assert_eq!(lower.matches("<link").count(), 1);
    assert!(lower.contains("<link rel=\"icon\" href=\"data:,\">"));
    assert_eq!(lower.matches("<script").count(), 2, "the data and the script, both inline");
    assert_eq!(lower.matches("<style").count(), 1);
    assert!(
        !lower.contains("href=\"http") && !lower.contains("@import") && !lower.contains("url(")
    );
    let csp = page.split("http-equiv=\"Content-Security-Policy\" content=\"").nth(1).unwrap();
    assert!(csp.starts_with("default-src &#39;none&#39;; style-src &#39;sha256-"), "{csp}");
}

#[test]
fn markup_from_the_capture_is_escaped() {
    let dir = tempdir("hostile");
    let pcap = dir.join("hostile.pcap");
    hostile_capture(&pcap);
    let page = report(&[pcap.to_str().unwrap()], &dir.join("hostile.html"));
    let lower = page.to_ascii_lowercase();
    assert!(!lower.contains("<img"), "raw markup from the capture");
    assert!(!lower.contains("<b>"));
    assert_eq!(lower.matches("<script").count(), 2);
    assert_eq!(lower.matches("</script").count(), 2);
    assert_eq!(lower.matches("</style").count(), 1);
    // ...and still shown, as text.
    assert!(page.contains("&lt;img src=x onerror=&quot;document.title=&#39;pwned&#39;&quot;&gt;"));
    let d = data(&page);
    assert_eq!(d["sessions"][0]["sni"], HOSTILE);
    let x = &d["flow_details"][0]["http"][0];
    assert_eq!(x["path"], "/</script><script>document.title='pwned'</script>");
    assert_eq!(x["response_body"]["data"]["text"], HOSTILE);
}

#[test]
fn a_capture_of_10000_sessions_gives_a_bounded_page() {
    let dir = tempdir("10k");
    let pcap = dir.join("10k.pcap");
    many_sessions(5000, &pcap);
    let keys = testdata("lab.keys");
    let t = std::time::Instant::now();
    let page = report(
        &[pcap.to_str().unwrap(), "--keylog", keys.to_str().unwrap(), "--lang", "en"],
        &dir.join("10k.html"),
    );
    let secs = t.elapsed().as_secs_f64();
    let d = data(&page);
    let totals = &d["totals"];
    eprintln!(
        "10,000 sessions: capture {} bytes, page {} bytes, made in {secs:.1} s",
        std::fs::metadata(&pcap).unwrap().len(),
        page.len()
    );
    assert_eq!(totals["sessions"], 10_000);
    assert_eq!(totals["decrypted"], 10_000);
    assert_eq!(totals["listed_sessions"], 10_000);
    assert_eq!(totals["detailed_sessions"], 50);
    assert_eq!(totals["sessions_without_details"], 9_950);
    assert_eq!(d["details"][0]["id"], 0);
    assert_eq!(d["details"][49]["id"], 49);
    assert!(page.len() < PAGE_BOUND_10K, "{} bytes", page.len());
    assert!(
        page.contains("Details are shown for 50 session(s); 9950 more are listed without details")
    );
    assert_eq!(d["stats"]["versions"][0]["count"], 5000);
}

#[test]
fn chosen_sessions_are_detailed() {
    let dir = tempdir("chosen");
    let keys = testdata("lab.keys");
    let page = report(
        &[
            testdata("lab.pcap").to_str().unwrap(),
            "--keylog",
            keys.to_str().unwrap(),
            "--session",
            "1",
        ],
        &dir.join("one.html"),
    );
    let d = data(&page);
    let ids: Vec<&Value> = d["details"].as_array().unwrap().iter().map(|x| &x["id"]).collect();
    assert_eq!(ids, [&Value::from(1)]);
    assert_eq!(d["totals"]["sessions_without_details"], 1);
    assert!(page.contains("id=\"s1\"") && !page.contains("id=\"s0\""));
}

#[test]
fn japanese_pages_have_every_label() {
    let dir = tempdir("ja");
    let keys = testdata("lab.keys");
    let page = report(
        &[
            testdata("lab.pcap").to_str().unwrap(),
            "--keylog",
            keys.to_str().unwrap(),
            "--lang",
            "ja",
        ],
        &dir.join("ja.html"),
    );
    assert!(page.contains("<html lang=\"ja\">"));
    assert!(page.contains("ハンドシェイク"));
    assert!(
        !page.contains(">report.") && !page.contains(" report."),
        "a label fell back to its key"
    );
    assert_eq!(data(&page)["ui"]["report.js.fields"], "フィールド");
}

#[cfg(unix)]
#[test]
fn a_page_with_decrypted_content_is_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempdir("mode");
    let keys = testdata("lab.keys");
    let with = dir.join("with.html");
    report(&[testdata("lab.pcap").to_str().unwrap(), "--keylog", keys.to_str().unwrap()], &with);
    let without = dir.join("without.html");
    report(&[testdata("lab.pcap").to_str().unwrap()], &without);
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&with), 0o600);
    // Without decrypted content the page is an ordinary file (0644 less
    // the umask).
    assert_eq!(mode(&without) & !0o644, 0, "{:o}", mode(&without));
    assert_eq!(mode(&without) & 0o600, 0o600);
}

#[test]
fn bad_input_is_an_error_that_names_the_file() {
    let dir = tempdir("errors");
    let bad = dir.join("not-a-capture.pcap");
    std::fs::write(&bad, b"hello").unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_tlsscope"))
        .args(["report", bad.to_str().unwrap(), "-o"])
        .arg(dir.join("x.html"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("not-a-capture.pcap"), "{err}");
    let o = Command::new(env!("CARGO_BIN_EXE_tlsscope"))
        .args(["report", testdata("lab.pcap").to_str().unwrap(), "-o"])
        .arg(dir.join("no/such/dir/x.html"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("cannot write the report"), "{err}");
}
