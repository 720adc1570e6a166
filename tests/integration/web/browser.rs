//! Just enough HTTP and WebDriver for the web tests, over std::net: a raw
//! HTTP/1.1 request (to see status codes and headers exactly as sent), and
//! headless Chromium driven through chromedriver's W3C WebDriver API.
//! Chromium and chromedriver are Debian's, installed by scripts/test-setup.sh.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use serde_json::{json, Value};

use crate::fixture::{poll, wait_until};

pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

impl std::fmt::Debug for HttpResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "HTTP {} {:?}\n{}",
            self.status,
            self.headers,
            self.text()
        )
    }
}

/// One request on a fresh connection (`Connection: close`), read to the end.
pub fn http(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> HttpResponse {
    let mut stream = TcpStream::connect(addr).unwrap_or_else(|e| panic!("connect {addr}: {e}"));
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    let mut head = format!("{method} {path} HTTP/1.1\r\nConnection: close\r\n");
    if !headers.iter().any(|(n, _)| n.eq_ignore_ascii_case("host")) {
        head.push_str(&format!("Host: {addr}\r\n"));
    }
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    if !body.is_empty()
        && !headers
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case("content-length"))
    {
        head.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).unwrap();
    // The server may answer (413) before taking the whole body and close.
    let _ = stream.write_all(body);
    // Read what the headers announce: a server may keep the connection
    // open whatever we asked for.
    let mut raw = Vec::new();
    let mut buf = [0u8; 64 * 1024];
    loop {
        if let Some(r) = complete(&raw) {
            return r;
        }
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => raw.extend_from_slice(&buf[..n]),
            Err(e) => panic!("{method} {path}: {e} after {} bytes", raw.len()),
        }
    }
    parse_response(&raw)
}

/// The response, once `raw` holds all of it by its Content-Length or its
/// last chunk.
fn complete(raw: &[u8]) -> Option<HttpResponse> {
    let end = raw.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    let r = parse_response(&raw[..end]);
    let body = &raw[end..];
    let done = match r.header("Content-Length") {
        Some(n) => body.len() >= n.parse::<usize>().ok()?,
        None if r
            .header("Transfer-Encoding")
            .is_some_and(|v| v.contains("chunked")) =>
        {
            body.ends_with(b"0\r\n\r\n")
        }
        None => false,
    };
    done.then(|| parse_response(raw))
}

fn parse_response(raw: &[u8]) -> HttpResponse {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no header end in {:?}", String::from_utf8_lossy(raw)));
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("bad status line in {head:?}"));
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_string(), v.trim().to_string()))
        .collect();
    let mut body = raw[split + 4..].to_vec();
    let chunked = headers
        .iter()
        .any(|(n, v)| n.eq_ignore_ascii_case("transfer-encoding") && v.contains("chunked"));
    if chunked {
        body = dechunk(&body);
    }
    HttpResponse {
        status,
        headers,
        body,
    }
}

/// A chunked body's data, up to its last complete chunk.
fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let Some(eol) = data.windows(2).position(|w| w == b"\r\n") else {
            return out;
        };
        let size_text = String::from_utf8_lossy(&data[..eol]);
        let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
            .unwrap_or(0);
        if size == 0 || data.len() < eol + 2 + size {
            return out;
        }
        out.extend_from_slice(&data[eol + 2..eol + 2 + size]);
        data = &data[(eol + 4 + size).min(data.len())..];
    }
}

/// A free TCP port on loopback (free when this returns; nothing holds it).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap()
}

fn on_path(name: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

/// One browser at a time: two Chromiums on two cores make every wait flaky.
fn one_at_a_time() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

/// Headless Chromium in a fresh profile, driven through chromedriver.
pub struct Browser {
    driver: Child,
    base: String,
    session: String,
    profile: PathBuf,
    _turn: MutexGuard<'static, ()>,
}

impl Browser {
    /// Starts chromedriver and a Chromium session; panics (never skips)
    /// when either is missing.
    pub fn start() -> Browser {
        Browser::start_in(None)
    }

    /// As `start`, with the browser's local time in the time zone `tz`
    /// (e.g. Asia/Kolkata), so a test can predict the times a page shows.
    pub fn in_time_zone(tz: &str) -> Browser {
        Browser::start_in(Some(tz))
    }

    fn start_in(tz: Option<&str>) -> Browser {
        let turn = one_at_a_time();
        let missing = "run scripts/test-setup.sh (as `make test` does) to install it";
        let chromium = on_path("chromium").unwrap_or_else(|| {
            panic!("chromium is not installed: these tests need a real browser; {missing}")
        });
        let chromedriver = on_path("chromedriver")
            .unwrap_or_else(|| panic!("chromedriver is not installed; {missing}"));
        let port = free_port();
        let mut driver = Command::new(chromedriver);
        if let Some(tz) = tz {
            // inherited by the Chromium it starts
            driver.env("TZ", tz);
        }
        let driver = driver
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("cannot start chromedriver");
        let base = format!("127.0.0.1:{port}");
        let profile =
            std::env::temp_dir().join(format!("kd-chromium-{}-{port}", std::process::id()));
        let _ = std::fs::remove_dir_all(&profile);
        std::fs::create_dir_all(&profile).unwrap();
        let mut browser = Browser {
            driver,
            base,
            session: String::new(),
            profile,
            _turn: turn,
        };
        wait_until(Duration::from_secs(30), "chromedriver to get ready", || {
            TcpStream::connect(&browser.base).is_ok()
                && browser.call("GET", "/status", None)["ready"] == true
        });
        let args = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
            "--window-size=1000,900",
        ]
        .iter()
        .map(|a| a.to_string())
        .chain([format!("--user-data-dir={}", browser.profile.display())])
        .collect::<Vec<_>>();
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": chromium, "args": args},
        }}});
        let created = browser.call("POST", "/session", Some(&caps));
        browser.session = created["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no browser session: {created}"))
            .to_string();
        browser
    }

    /// A WebDriver command; returns its `value`, panics on a WebDriver error.
    fn call(&self, method: &str, path: &str, body: Option<&Value>) -> Value {
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        let headers: &[(&str, &str)] = if body.is_empty() {
            &[]
        } else {
            &[("Content-Type", "application/json")]
        };
        let r = http(&self.base, method, path, headers, body.as_bytes());
        let v: Value = serde_json::from_slice(&r.body)
            .unwrap_or_else(|e| panic!("WebDriver {method} {path}: {e}: {r:?}"));
        if r.status != 200 {
            panic!("WebDriver {method} {path} failed: {v}");
        }
        v["value"].clone()
    }

    fn session_call(&self, method: &str, path: &str, body: Option<&Value>) -> Value {
        self.call(method, &format!("/session/{}{path}", self.session), body)
    }

    pub fn goto(&self, url: &str) {
        self.session_call("POST", "/url", Some(&json!({ "url": url })));
    }

    /// Runs `script` (a function body; `arguments` are `args`) in the page.
    pub fn eval(&self, script: &str, args: Value) -> Value {
        self.session_call(
            "POST",
            "/execute/sync",
            Some(&json!({ "script": script, "args": args })),
        )
    }

    /// Polls `script` until it returns something truthy, at most `bound`.
    pub fn wait_for(&self, what: &str, script: &str, args: Value, bound: Duration) -> Value {
        let truthy = |v: &Value| {
            !matches!(v, Value::Null | Value::Bool(false)) && *v != json!(0) && *v != json!("")
        };
        poll(bound, || {
            Some(self.eval(script, args.clone())).filter(truthy)
        })
        .unwrap_or_else(|| {
            let page = self.eval("return document.body.innerText", json!([]));
            panic!("waited {bound:?} for {what}; the page shows:\n{page}")
        })
    }

    /// A PNG of the window as it is now, written to `path`.
    pub fn screenshot(&self, path: &std::path::Path) {
        use base64::Engine;
        let png = self.session_call("GET", "/screenshot", None);
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(png.as_str().unwrap_or_default())
            .expect("WebDriver screenshot is not base64");
        std::fs::write(path, bytes).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    }

    /// Types into the element `css` selects, as a person would.
    pub fn type_into(&self, css: &str, text: &str) {
        let id = self.element(css);
        self.session_call(
            "POST",
            &format!("/element/{id}/value"),
            Some(&json!({ "text": text })),
        );
    }

    pub fn click(&self, css: &str) {
        let id = self.element(css);
        self.session_call("POST", &format!("/element/{id}/click"), Some(&json!({})));
    }

    fn element(&self, css: &str) -> String {
        let found = self.session_call(
            "POST",
            "/element",
            Some(&json!({ "using": "css selector", "value": css })),
        );
        found
            .as_object()
            .and_then(|o| o.values().next())
            .and_then(Value::as_str)
            .unwrap_or_else(|| panic!("no element {css}: {found}"))
            .to_string()
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if !self.session.is_empty() {
            let path = format!("/session/{}", self.session);
            let base = self.base.clone();
            let _ = std::panic::catch_unwind(move || http(&base, "DELETE", &path, &[], b""));
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}
