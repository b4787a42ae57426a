//! The HTML report in a real browser: headless Chromium (Debian's
//! `chromium`) driven through `chromedriver` (Debian's `chromium-driver`)
//! by the fantoccini WebDriver client. `scripts/test` installs both when
//! run as root; without them these tests fail with an install hint.
//!
//! On the lab capture (TLS 1.2 and 1.3, with its key log): the page loads
//! with no console error and no network request; the TLS 1.2 ladder shows
//! the ten steps; choosing ServerKeyExchange and then its named curve
//! highlights exactly the curve's bytes in the hex view (the span from the
//! page's data, and the x25519 code point 00 1d); the decrypted "Hello
//! World!" is visible; keyboard navigation works; the dark theme applies;
//! without JavaScript the ladder is still there. A page of 10,000 sessions
//! opens within seconds. Screenshots for review go to
//! target/tmp/report-screenshots/.

mod report_support;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use fantoccini::wd::WebDriverCompatibleCommand;
use fantoccini::{Client, ClientBuilder, Locator};
use report_support::{
    data, find_field, hostile_capture, many_sessions, report, session_with_version, tempdir,
    testdata,
};
use serde_json::{Value, json};

const HINT: &str = "the report's browser tests need Chromium and its WebDriver: install them \
                    (apt-get install chromium chromium-driver; scripts/test does it when run as root)";

/// One browser at a time: the machine is small and Chromium is not.
static BROWSER: Mutex<()> = Mutex::new(());

/// Seconds the 10,000-session page may take to load (docs/report.md).
const LOAD_BOUND_10K: f64 = 5.0;

/// chromedriver on a free loopback port, stopped on drop.
struct Driver {
    child: Child,
    port: u16,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn chromedriver() -> Driver {
    for tool in ["chromedriver", "chromium"] {
        let found = Command::new(tool).arg("--version").output().is_ok_and(|o| o.status.success());
        assert!(found, "`{tool}` not found: {HINT}");
    }
    let mut child = Command::new("chromedriver")
        .args(["--port=0", "--allowed-ips=127.0.0.1"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start chromedriver: {e}; {HINT}"));
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(p) = line.split("started successfully on port ").nth(1) {
                let _ = tx.send(p.trim_end_matches('.').trim().parse::<u16>().ok());
            }
        }
    });
    let port = rx
        .recv_timeout(Duration::from_secs(30))
        .ok()
        .flatten()
        .unwrap_or_else(|| panic!("chromedriver did not say its port; {HINT}"));
    Driver { child, port }
}

async fn browser(driver: &Driver, profile: &Path) -> Client {
    let caps = json!({
        "browserName": "chrome",
        "goog:chromeOptions": {
            "args": [
                "--headless=new",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--disable-extensions",
                "--no-first-run",
                "--window-size=1400,1000",
                format!("--user-data-dir={}", profile.display()),
            ],
        },
        "goog:loggingPrefs": { "browser": "ALL", "performance": "ALL" },
    });
    let Value::Object(caps) = caps else { unreachable!() };
    ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(&format!("http://127.0.0.1:{}", driver.port))
        .await
        .unwrap_or_else(|e| panic!("chromedriver could not start Chromium: {e}; {HINT}"))
}

/// A chromedriver command outside the W3C set: its log and its Chrome
/// DevTools Protocol endpoints.
#[derive(Debug)]
struct Vendor {
    path: &'static str,
    body: Value,
}

impl WebDriverCompatibleCommand for Vendor {
    fn endpoint(
        &self,
        base_url: &url::Url,
        session_id: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base_url.join(&format!("session/{}/{}", session_id.unwrap_or_default(), self.path))
    }

    fn method_and_body(&self, _: &url::Url) -> (http::Method, Option<String>) {
        (http::Method::POST, Some(self.body.to_string()))
    }
}

/// Log entries since the last call: `browser` (the console) or
/// `performance` (DevTools events).
async fn logs(c: &Client, kind: &str) -> Vec<Value> {
    let v = c
        .issue_cmd(Vendor { path: "se/log", body: json!({ "type": kind }) })
        .await
        .unwrap_or_else(|e| panic!("reading the {kind} log: {e}"));
    v.as_array().cloned().unwrap_or_default()
}

async fn cdp(c: &Client, cmd: &str, params: Value) {
    c.issue_cmd(Vendor { path: "goog/cdp/execute", body: json!({ "cmd": cmd, "params": params }) })
        .await
        .unwrap_or_else(|e| panic!("{cmd}: {e}"));
}

/// Console messages at error level, and every URL the page requested
/// (the DevTools log's Network.requestWillBeSent), since the last call.
async fn errors_and_requests(c: &Client) -> (Vec<String>, Vec<String>) {
    let errors = logs(c, "browser")
        .await
        .into_iter()
        .filter(|e| e["level"] == "SEVERE")
        .map(|e| e["message"].as_str().unwrap_or_default().to_string())
        .collect();
    let requests = logs(c, "performance")
        .await
        .into_iter()
        .filter_map(|e| serde_json::from_str::<Value>(e["message"].as_str()?).ok())
        .filter(|m| m["message"]["method"] == "Network.requestWillBeSent")
        // Chromium's own pages (the new tab page it starts with) load
        // their resources too: not the report's.
        .filter(|m| {
            let doc = m["message"]["params"]["documentURL"].as_str().unwrap_or_default();
            !doc.starts_with("chrome://") && !doc.starts_with("chrome-untrusted://")
        })
        .filter_map(|m| m["message"]["params"]["request"]["url"].as_str().map(str::to_string))
        .collect();
    (errors, requests)
}

/// Loads `page` and checks it loaded cleanly: no console error, no
/// request but the page itself, no resource fetched.
async fn open_clean(c: &Client, page: &Path) -> String {
    let url = format!("file://{}", page.display());
    // Start from a blank page with the logs emptied, so that what follows
    // is the report's alone.
    c.goto("about:blank").await.unwrap();
    let _ = errors_and_requests(c).await;
    c.goto(&url).await.unwrap();
    let (errors, requests) = errors_and_requests(c).await;
    assert!(errors.is_empty(), "console errors on {url}: {errors:#?}");
    assert!(
        requests.iter().all(|r| *r == url),
        "requests other than the page itself: {requests:#?}"
    );
    let resources = c
        .execute("return performance.getEntriesByType('resource').map(e => e.name)", vec![])
        .await
        .unwrap();
    assert_eq!(resources, json!([]), "resources fetched");
    url
}

fn screenshots() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("report-screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

async fn shot(c: &Client, name: &str) {
    let png = c.screenshot().await.unwrap();
    assert!(png.starts_with(b"\x89PNG"), "a PNG");
    let path = screenshots().join(name);
    std::fs::write(&path, png).unwrap();
    eprintln!("screenshot: {}", path.display());
}

async fn js(c: &Client, script: &str) -> Value {
    c.execute(script, vec![]).await.unwrap_or_else(|e| panic!("{script}: {e}"))
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
}

#[test]
fn the_lab_report_works_in_chromium() {
    let _one = BROWSER.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempdir("browser-lab");
    let keys = testdata("lab.keys");
    let page_path = dir.join("lab.html");
    let page = report(
        &[
            testdata("lab.pcap").to_str().unwrap(),
            "--keylog",
            keys.to_str().unwrap(),
            "--lang",
            "en",
        ],
        &page_path,
    );
    let d = data(&page);
    let hostile_path = dir.join("hostile.html");
    let hostile_pcap = dir.join("hostile.pcap");
    hostile_capture(&hostile_pcap);
    let driver = chromedriver();
    runtime().block_on(async {
        let c = browser(&driver, &dir.join("profile")).await;
        open_clean(&c, &page_path).await;
        assert!(c.find(Locator::Css("#filter")).await.unwrap().is_displayed().await.unwrap());
        assert_eq!(
            js(&c, "return getComputedStyle(document.documentElement).backgroundColor").await,
            "rgb(255, 255, 255)"
        );
        shot(&c, "lab-summary.png").await;

        // TLS 1.2: the ladder's ten steps, in order.
        let (row, detail) = session_with_version(&d, "TLS 1.2");
        let id = row["id"].as_u64().unwrap();
        let labels = js(
            &c,
            &format!(
                "return Array.from(document.querySelectorAll('#ladder-{id} a.step text.label')).map(e => e.textContent)"
            ),
        )
        .await;
        assert_eq!(
            labels,
            json!([
                "(1) ClientHello",
                "(2) ServerHello",
                "(3) Certificate",
                "(4) ServerKeyExchange",
                "(5) ServerHelloDone",
                "(6) ClientKeyExchange",
                "(7) ChangeCipherSpec",
                "(8) Finished [dec]",
                "(9) ChangeCipherSpec",
                "(10) Finished [dec]"
            ])
        );
        let ladder = c.find(Locator::Css(&format!("#ladder-{id}"))).await.unwrap();
        assert!(ladder.is_displayed().await.unwrap());

        // ServerKeyExchange, then its named curve: exactly its bytes.
        let mut ske = None;
        for b in c.find_all(Locator::Css(&format!("#s{id} button.msg"))).await.unwrap() {
            if b.text().await.unwrap().contains("ServerKeyExchange") {
                ske = Some(b);
            }
        }
        let ske = ske.expect("a ServerKeyExchange button");
        ske.click().await.unwrap();
        let step = detail["steps"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["name"] == "ServerKeyExchange")
            .unwrap();
        let msg = &step["message"];
        let bytes = {
            use base64::Engine;
            base64::engine::general_purpose::STANDARD.decode(msg["bytes"].as_str().unwrap()).unwrap()
        };
        let insp = format!("#insp-{id}");
        let shown = js(&c, &format!("return document.querySelectorAll('{insp} .hex .b').length")).await;
        assert_eq!(shown, json!(bytes.len()), "the hex view shows the whole message");
        let curve = find_field(&msg["fields"], "named_curve").expect("a named_curve field");
        let (start, len) =
            (curve["span"]["start"].as_u64().unwrap() as usize, curve["span"]["len"].as_u64().unwrap() as usize);
        c.find(Locator::Css(&format!("{insp} button.field[data-key=\"named_curve\"]")))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        let marked = js(
            &c,
            &format!(
                "return Array.from(document.querySelectorAll('{insp} .hex .b.hl')).map(e => [Number(e.dataset.o), e.textContent])"
            ),
        )
        .await;
        let expected: Vec<Value> =
            (start..start + len).map(|o| json!([o, format!("{:02x}", bytes[o])])).collect();
        assert_eq!(marked, json!(expected), "the highlighted bytes are the field's span");
        // The lab's group is x25519: code point 0x001d (RFC 8446 §4.2.7).
        assert_eq!(row["group"], "x25519");
        assert_eq!(marked, json!([[start, "00"], [start + 1, "1d"]]));
        let ascii = js(&c, &format!("return document.querySelectorAll('{insp} .hex .a.hl').length")).await;
        assert_eq!(ascii, json!(len));
        let info = c.find(Locator::Css(&format!("{insp} .field-info"))).await.unwrap().text().await.unwrap();
        assert!(info.contains(&format!("bytes {start}–{}", start + len - 1)), "{info}");
        assert!(info.contains(&format!("frame {}", step["frame"])), "{info}");
        js(&c, &format!("document.querySelector('#s{id}-m3').scrollIntoView(); return 0")).await;
        shot(&c, "lab-tls12-server-key-exchange-curve.png").await;

        // Keyboard: Down in the step list moves to the next message and
        // shows it; Down in the field tree moves to the next field.
        js(&c, &format!("document.querySelector('#s{id} button.msg[data-m=\"0\"]').focus(); return 0")).await;
        c.active_element().await.unwrap().send_keys("\u{E015}").await.unwrap();
        let now = js(
            &c,
            "const a = document.activeElement; return [a.dataset.m, a.getAttribute('aria-pressed')]",
        )
        .await;
        assert_eq!(now, json!(["1", "true"]));
        js(&c, &format!("document.querySelector('{insp} button.field').focus(); return 0")).await;
        c.active_element().await.unwrap().send_keys("\u{E015}").await.unwrap();
        let second = js(
            &c,
            &format!(
                "return document.activeElement === document.querySelectorAll('{insp} button.field')[1]"
            ),
        )
        .await;
        assert_eq!(second, json!(true));
        // The ladder's arrows choose messages too.
        c.find(Locator::Css(&format!("#ladder-{id} a.step[data-m=\"2\"] text.label")))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        let title = c.find(Locator::Css(&format!("{insp} .insp-title"))).await.unwrap().text().await.unwrap();
        assert!(title.starts_with("(3) Certificate"), "{title}");

        // The decrypted HTTP/2 response of both sessions.
        for v in ["TLS 1.2", "TLS 1.3"] {
            let (row, _) = session_with_version(&d, v);
            let mut seen = false;
            for p in c.find_all(Locator::Css(&format!("#s{} pre.body", row["id"]))).await.unwrap() {
                if p.text().await.unwrap() == "Hello World!" && p.is_displayed().await.unwrap() {
                    seen = true;
                }
            }
            assert!(seen, "{v}: Hello World! is not visible");
        }

        // TLS 1.3: the decrypted Certificate's fields and bytes.
        let (row, detail) = session_with_version(&d, "TLS 1.3");
        let id = row["id"].as_u64().unwrap();
        let steps = detail["steps"].as_array().unwrap();
        let n = js(&c, &format!("return document.querySelectorAll('#ladder-{id} a.step').length")).await;
        assert_eq!(n, json!(steps.len()));
        let cert = steps.iter().position(|s| s["name"] == "Certificate").unwrap();
        assert_eq!(steps[cert]["protection"], "decrypted");
        c.find(Locator::Css(&format!("#s{id} button.msg[data-m=\"{cert}\"]")))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        let counts = js(
            &c,
            &format!(
                "return [document.querySelectorAll('#insp-{id} button.field').length, document.querySelectorAll('#insp-{id} .hex .b').length]"
            ),
        )
        .await;
        assert!(counts[0].as_u64().unwrap() > 5, "{counts}");
        assert_eq!(counts[1], steps[cert]["message"]["length"]);
        js(&c, &format!("document.querySelector('#s{id}-m{cert}').scrollIntoView(); return 0")).await;
        shot(&c, "lab-tls13-certificate.png").await;
        let (errors, requests) = errors_and_requests(&c).await;
        assert!(errors.is_empty(), "console errors while clicking: {errors:#?}");
        assert!(requests.is_empty(), "requests while clicking: {requests:#?}");

        // The dark theme follows prefers-color-scheme.
        cdp(
            &c,
            "Emulation.setEmulatedMedia",
            json!({ "features": [{ "name": "prefers-color-scheme", "value": "dark" }] }),
        )
        .await;
        assert_eq!(
            js(&c, "return getComputedStyle(document.documentElement).backgroundColor").await,
            "rgb(13, 17, 23)"
        );
        shot(&c, "lab-tls13-certificate-dark.png").await;
        cdp(&c, "Emulation.setEmulatedMedia", json!({ "features": [] })).await;

        // Capture content with markup stays text.
        report(&[hostile_pcap.to_str().unwrap()], &hostile_path);
        open_clean(&c, &hostile_path).await;
        assert_ne!(c.title().await.unwrap(), "pwned");
        assert_eq!(js(&c, "return document.querySelectorAll('main img').length").await, json!(0));

        // Without JavaScript: the summary and the ladder are there, the
        // filter (a script feature) is not, the inspector says why.
        cdp(&c, "Emulation.setScriptExecutionDisabled", json!({ "value": true })).await;
        c.goto(&format!("file://{}", page_path.display())).await.unwrap();
        let (row, _) = session_with_version(&d, "TLS 1.2");
        let id = row["id"].as_u64().unwrap();
        let ladder = c.find(Locator::Css(&format!("#ladder-{id}"))).await.unwrap();
        assert!(ladder.is_displayed().await.unwrap());
        let arrows = c.find_all(Locator::Css(&format!("#ladder-{id} a.step"))).await.unwrap();
        assert_eq!(arrows.len(), 10);
        let filter = c.find(Locator::Css("p.filter")).await.unwrap();
        assert!(!filter.is_displayed().await.unwrap());
        let table = c.find(Locator::Css("#sessions-table")).await.unwrap();
        assert!(table.is_displayed().await.unwrap());
        js(&c, &format!("document.querySelector('#ladder-{id}').scrollIntoView(); return 0"))
            .await;
        shot(&c, "lab-no-javascript.png").await;
        let _ = c.close().await;
    });
}

#[test]
fn a_page_of_10000_sessions_opens_within_seconds() {
    let _one = BROWSER.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempdir("browser-10k");
    let pcap = dir.join("10k.pcap");
    many_sessions(5000, &pcap);
    let keys = testdata("lab.keys");
    let page_path = dir.join("10k.html");
    let page = report(&[pcap.to_str().unwrap(), "--keylog", keys.to_str().unwrap()], &page_path);
    assert_eq!(data(&page)["totals"]["sessions"], 10_000);
    let driver = chromedriver();
    runtime().block_on(async {
        let c = browser(&driver, &dir.join("profile")).await;
        let t = Instant::now();
        open_clean(&c, &page_path).await;
        let wall = t.elapsed().as_secs_f64();
        let nav = js(
            &c,
            "const n = performance.getEntriesByType('navigation')[0]; return [n.domContentLoadedEventEnd, n.loadEventEnd]",
        )
        .await;
        let load = nav[1].as_f64().unwrap() / 1000.0;
        eprintln!(
            "10,000 sessions: page {} bytes; DOMContentLoaded {:.2} s, load {load:.2} s, goto {wall:.2} s",
            page.len(),
            nav[0].as_f64().unwrap() / 1000.0
        );
        assert!(load < LOAD_BOUND_10K, "the page took {load:.2} s to load");
        let rows = js(&c, "return document.querySelectorAll('#sessions-table tbody tr').length").await;
        assert_eq!(rows, json!(10_000));
        // Still interactive: the filter and a message's fields.
        let filter = c.find(Locator::Css("#filter")).await.unwrap();
        filter.send_keys("TLS 1.3").await.unwrap();
        let visible = js(
            &c,
            "return Array.from(document.querySelectorAll('#sessions-table tbody tr')).filter(r => !r.hidden).length",
        )
        .await;
        assert_eq!(visible, json!(5_000));
        c.find(Locator::Css("#s0 button.msg[data-m=\"0\"]")).await.unwrap().click().await.unwrap();
        let fields = js(&c, "return document.querySelectorAll('#insp-0 button.field').length").await;
        assert!(fields.as_u64().unwrap() > 10, "{fields}");
        let (errors, requests) = errors_and_requests(&c).await;
        assert!(errors.is_empty() && requests.is_empty(), "{errors:#?} {requests:#?}");
        js(&c, "window.scrollTo(0, 0); return 0").await;
        shot(&c, "10k-summary.png").await;
        let _ = c.close().await;
    });
}
