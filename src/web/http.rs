//! The HTTP rules of the page's server, kept apart from the serving loop so
//! they can be tested alone: which path and method go where, which hosts
//! and origins are let in, the form body, and the headers every answer
//! carries (a strict Content-Security-Policy among them).

use std::io::Write;
use std::net::IpAddr;

use crate::web::server::{Method, Request, Response};

/// Largest POST body taken; more gets 413 (`web::server`).
pub const MAX_BODY: usize = 64 * 1024;

pub const INDEX_HTML: &str = include_str!("index.html");
pub const APP_JS: &str = include_str!("app.js");
pub const STYLE_CSS: &str = include_str!("style.css");
pub const CLUSTER_HTML: &str = include_str!("cluster.html");
pub const CLUSTER_JS: &str = include_str!("cluster.js");
pub const CLUSTER_CSS: &str = include_str!("cluster.css");

/// Where a request goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    Asset(&'static str, &'static str),
    Events,
    Send,
    /// The cluster page's event stream.
    ClusterEvents,
    /// Prometheus metrics.
    Metrics,
    NotFound,
    /// The path exists, the method does not: the Allow header's value.
    WrongMethod(&'static str),
}

pub fn route(method: &Method, url: &str) -> Route {
    let path = url.split(['?', '#']).next().unwrap_or(url);
    let get = matches!(method, Method::Get | Method::Head);
    let asset = match path {
        "/" | "/index.html" => Some((INDEX_HTML, "text/html; charset=utf-8")),
        "/app.js" => Some((APP_JS, "text/javascript; charset=utf-8")),
        "/style.css" => Some((STYLE_CSS, "text/css; charset=utf-8")),
        "/cluster" | "/cluster.html" => Some((CLUSTER_HTML, "text/html; charset=utf-8")),
        "/cluster.js" => Some((CLUSTER_JS, "text/javascript; charset=utf-8")),
        "/cluster.css" => Some((CLUSTER_CSS, "text/css; charset=utf-8")),
        _ => None,
    };
    match (path, asset) {
        (_, Some((body, kind))) if get => Route::Asset(body, kind),
        (_, Some(_)) => Route::WrongMethod("GET, HEAD"),
        ("/events", _) if *method == Method::Get => Route::Events,
        ("/events", _) => Route::WrongMethod("GET"),
        ("/cluster/events", _) if *method == Method::Get => Route::ClusterEvents,
        ("/cluster/events", _) => Route::WrongMethod("GET"),
        ("/metrics", _) if get => Route::Metrics,
        ("/metrics", _) => Route::WrongMethod("GET, HEAD"),
        ("/send", _) if *method == Method::Post => Route::Send,
        ("/send", _) => Route::WrongMethod("POST"),
        _ => Route::NotFound,
    }
}

pub fn header<'a>(rq: &'a Request, name: &str) -> Option<&'a str> {
    rq.header(name)
}

/// A server bound to loopback answers only to loopback host names, so a
/// web page cannot reach it through a name of its own that resolves to
/// 127.0.0.1 (DNS rebinding). Bound elsewhere, any Host is taken.
pub fn host_allowed(host: Option<&str>, bind: IpAddr) -> bool {
    if !bind.is_loopback() {
        return true;
    }
    let Some(host) = host else {
        return false;
    };
    let name = match host.strip_prefix('[') {
        Some(rest) => rest.split(']').next().unwrap_or(""),
        None => host.rsplit_once(':').map_or(host, |(name, _)| name),
    };
    name.eq_ignore_ascii_case("localhost")
        || name.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// A POST from a browser must come from our own page: its Origin is our
/// address (other sites' forms and scripts are refused). Requests without
/// an Origin (curl, scripts) pass.
pub fn origin_allowed(origin: Option<&str>, host: Option<&str>) -> bool {
    match (origin, host) {
        (None, _) => true,
        (Some(origin), Some(host)) => origin
            .strip_prefix("http://")
            .is_some_and(|o| o.eq_ignore_ascii_case(host)),
        (Some(_), None) => false,
    }
}

/// `application/x-www-form-urlencoded` fields, values as bytes (UTF-8: a
/// byte sequence that is not becomes U+FFFD, as in browsers).
pub fn parse_form(body: &[u8]) -> Vec<(String, Vec<u8>)> {
    form_urlencoded::parse(body)
        .map(|(name, value)| (name.into_owned(), value.into_owned().into_bytes()))
        .collect()
}

/// Headers every answer carries: no sniffing, no framing, no referrer, and
/// scripts, styles and connections from this server only.
const SECURITY_HEADERS: [(&str, &str); 5] = [
    ("X-Content-Type-Options", "nosniff"),
    ("X-Frame-Options", "DENY"),
    ("Referrer-Policy", "no-referrer"),
    ("Cache-Control", "no-store"),
    (
        "Content-Security-Policy",
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; \
         img-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
    ),
];

pub fn response(status: u16, content_type: &str, body: &str) -> Response {
    let headers = SECURITY_HEADERS
        .iter()
        .copied()
        .chain([("Content-Type", content_type)])
        .map(|(name, value)| (name.to_string(), value.to_string()))
        .collect();
    Response {
        status,
        headers,
        body: body.as_bytes().to_vec(),
    }
}

/// A JSON `{"error": …}` answer, which the page shows under the form.
pub fn error(status: u16, message: &str) -> Response {
    let body = serde_json::json!({ "error": message }).to_string();
    response(status, "application/json", &body)
}

pub fn with_header(mut r: Response, name: &str, value: &str) -> Response {
    r.headers.push((name.to_string(), value.to_string()));
    r
}

/// An event stream, written on the connection as events come (a response
/// is written whole, with its length). HTTP/1.1 clients get chunked
/// framing, so that a stream the server ends (a page that fell behind) ends
/// for the browser too, which then reconnects, while the connection stays
/// for its next request.
/// HTTP/1.0 clients get a body that ends when the connection closes.
pub struct EventStream<W: Write> {
    out: W,
    chunked: bool,
    pending: Vec<u8>,
}

impl<W: Write> EventStream<W> {
    /// Writes the head and a `retry:` line (how soon the browser reconnects
    /// after the stream breaks).
    pub fn start(mut out: W, http11: bool) -> std::io::Result<Self> {
        let mut head =
            String::from("HTTP/1.1 200 OK\r\nContent-Type: text/event-stream; charset=utf-8\r\n");
        head.push_str(if http11 {
            "Transfer-Encoding: chunked\r\n"
        } else {
            "Connection: close\r\n"
        });
        for (name, value) in SECURITY_HEADERS {
            head.push_str(name);
            head.push_str(": ");
            head.push_str(value);
            head.push_str("\r\n");
        }
        head.push_str("\r\n");
        out.write_all(head.as_bytes())?;
        let mut stream = EventStream {
            out,
            chunked: http11,
            pending: Vec::new(),
        };
        stream.push(b"retry: 1000\n\n");
        stream.flush()?;
        Ok(stream)
    }

    /// Adds whole SSE frames to what the next `flush` sends.
    pub fn push(&mut self, frames: &[u8]) {
        self.pending.extend_from_slice(frames);
    }

    /// Sends what was pushed, as one chunk.
    pub fn flush(&mut self) -> std::io::Result<()> {
        if !self.pending.is_empty() {
            if self.chunked {
                write!(self.out, "{:x}\r\n", self.pending.len())?;
                self.pending.extend_from_slice(b"\r\n");
            }
            self.out.write_all(&self.pending)?;
            self.pending.clear();
        }
        self.out.flush()
    }

    /// Sends the rest and ends the stream.
    pub fn finish(mut self) -> std::io::Result<()> {
        self.flush()?;
        if self.chunked {
            self.out.write_all(b"0\r\n\r\n")?;
        }
        self.out.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_by_path_and_method() {
        assert!(
            matches!(route(&Method::Get, "/"), Route::Asset(_, k) if k.starts_with("text/html"))
        );
        assert!(matches!(
            route(&Method::Head, "/app.js?v=1"),
            Route::Asset(..)
        ));
        assert_eq!(route(&Method::Get, "/events"), Route::Events);
        assert_eq!(route(&Method::Post, "/send"), Route::Send);
        assert_eq!(route(&Method::Get, "/send"), Route::WrongMethod("POST"));
        assert_eq!(route(&Method::Post, "/"), Route::WrongMethod("GET, HEAD"));
        assert_eq!(
            route(&Method::Other("DELETE".into()), "/events"),
            Route::WrongMethod("GET")
        );
        assert_eq!(route(&Method::Get, "/nope"), Route::NotFound);
        assert_eq!(route(&Method::Get, "/metrics"), Route::Metrics);
        assert_eq!(
            route(&Method::Post, "/metrics"),
            Route::WrongMethod("GET, HEAD")
        );
        assert_eq!(route(&Method::Get, "/cluster/events"), Route::ClusterEvents);
        assert!(
            matches!(route(&Method::Get, "/cluster"), Route::Asset(_, k) if k.starts_with("text/html"))
        );
        assert_eq!(route(&Method::Get, "/../etc/passwd"), Route::NotFound);
    }

    #[test]
    fn loopback_servers_answer_loopback_names_only() {
        let lo: IpAddr = "127.0.0.1".parse().unwrap();
        for ok in [
            "127.0.0.1:8080",
            "localhost:1",
            "LOCALHOST",
            "[::1]:80",
            "127.1.2.3",
        ] {
            assert!(host_allowed(Some(ok), lo), "{ok}");
        }
        for bad in ["evil.example:8080", "10.0.0.1:8080", "[::2]:1", ""] {
            assert!(!host_allowed(Some(bad), lo), "{bad}");
        }
        assert!(!host_allowed(None, lo));
        assert!(host_allowed(
            Some("evil.example"),
            "0.0.0.0".parse().unwrap()
        ));
    }

    #[test]
    fn posts_come_from_our_own_page() {
        let host = Some("127.0.0.1:8080");
        assert!(origin_allowed(None, host));
        assert!(origin_allowed(Some("http://127.0.0.1:8080"), host));
        assert!(!origin_allowed(Some("http://evil.example"), host));
        assert!(!origin_allowed(Some("null"), host));
        assert!(!origin_allowed(Some("http://127.0.0.1:8080"), None));
    }

    #[test]
    fn forms_decode() {
        let f = parse_form(b"key=user+1&value=a%3Cb%3E%20%E2%9C%93%0A&flag&bad=%zz%4");
        assert_eq!(
            f,
            vec![
                ("key".into(), b"user 1".to_vec()),
                ("value".into(), "a<b> ✓\n".as_bytes().to_vec()),
                ("flag".into(), vec![]),
                ("bad".into(), b"%zz%4".to_vec()),
            ]
        );
        assert_eq!(parse_form(b""), vec![]);
        assert_eq!(
            parse_form(b"value=%FF"),
            vec![("value".into(), "\u{fffd}".as_bytes().to_vec())]
        );
    }

    #[test]
    fn event_streams_are_chunked_for_http11_and_end_cleanly() {
        let mut out = Vec::new();
        let mut stream = EventStream::start(&mut out, true).unwrap();
        stream.push(b"event: a\ndata: 1\n\n");
        stream.push(b"event: b\ndata: 2\n\n");
        stream.flush().unwrap();
        stream.flush().unwrap(); // nothing pending: no empty chunk (it would end the body)
        stream.finish().unwrap();
        let text = String::from_utf8(out).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("HTTP/1.1 200 OK\r\n"));
        assert!(head.contains("Content-Type: text/event-stream"));
        assert!(head.contains("Transfer-Encoding: chunked"));
        assert_eq!(
            body,
            "d\r\nretry: 1000\n\n\r\n24\r\nevent: a\ndata: 1\n\nevent: b\ndata: 2\n\n\r\n0\r\n\r\n"
        );

        let mut out = Vec::new();
        let mut stream = EventStream::start(&mut out, false).unwrap();
        stream.push(b"data: x\n\n");
        stream.finish().unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains("Connection: close\r\n"));
        assert!(text.ends_with("\r\n\r\nretry: 1000\n\ndata: x\n\n"));
    }
}
