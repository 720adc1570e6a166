//! The page's HTTP/1.1 server, bounded whatever a client does: a fixed
//! number of connection threads (a connection past them gets 503 at once),
//! a deadline for each request head and body, a body refused by its
//! Content-Length before any of it is read (413, then the connection is
//! closed after at most `DRAIN` bytes), and a fixed number of bodies read at
//! once (503 past them). tiny_http, used before, gave every connection a
//! thread of its own and drained an unread body in full into a buffer of
//! the announced length: one POST announcing a terabyte aborted the process.
//! Requests are parsed by `httparse`; a handler answers each one on its
//! connection's thread, with a response or by writing an event stream.

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Most bytes of a body read after refusing it (so the client sees the
/// answer rather than a reset), and for how long.
const DRAIN: usize = 64 * 1024;
const DRAIN_FOR: Duration = Duration::from_secs(1);
/// A client that takes no answer for this long is dropped.
const WRITE_TIMEOUT: Duration = Duration::from_secs(30);
/// Most header lines in a request.
const MAX_HEADERS: usize = 64;

/// What the server lets a client take.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Connections served at once, one thread each (event streams included).
    pub connections: usize,
    /// Request bodies being read at once.
    pub bodies: usize,
    /// Largest body taken.
    pub max_body: usize,
    /// Largest request head (request line and headers).
    pub max_head: usize,
    /// How long a client may take to send a request head, or a body; an
    /// idle kept-alive connection is closed after it too.
    pub timeout: Duration,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Method {
    Get,
    Head,
    Post,
    Other(String),
}

impl std::fmt::Display for Method {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Method::Get => "GET",
            Method::Head => "HEAD",
            Method::Post => "POST",
            Method::Other(m) => m,
        })
    }
}

/// A request, its body read whole.
#[derive(Debug)]
pub struct Request {
    pub method: Method,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub http11: bool,
    pub body: Vec<u8>,
}

impl Request {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// What a handler does with a request.
pub enum Reply {
    Response(Response),
    /// Writes on the connection itself (an event stream, head included)
    /// until done; `Ok` when it ended cleanly, so the connection may carry
    /// the next request.
    Stream(StreamWriter),
}

pub type StreamWriter = Box<dyn FnOnce(&mut TcpStream) -> std::io::Result<()> + Send>;

pub type Handler = dyn Fn(Request) -> Reply + Send + Sync;

/// Serves `listener` on a thread of its own until the process ends.
/// `refuse(status, message)` makes the answers the server gives by itself.
pub fn start(
    listener: TcpListener,
    limits: Limits,
    handler: Arc<Handler>,
    refuse: fn(u16, &str) -> Response,
) -> std::io::Result<()> {
    let bodies = Arc::new(AtomicUsize::new(0));
    // A pool of connection threads, started as connections come and never
    // more than `limits.connections`: each serves one connection, then
    // waits for the next. A thread is handed a connection only while it
    // waits (a rendezvous channel), so a connection never queues: it is
    // served at once or refused at once.
    let (idle, next) = crossbeam_channel::bounded::<TcpStream>(0);
    std::thread::Builder::new()
        .name("web-accept".into())
        .spawn(move || {
            let mut threads = 0;
            for conn in listener.incoming() {
                let stream = match conn {
                    Ok(s) => s,
                    Err(e) => {
                        // Out of file descriptors, say: let some close.
                        log::debug!("cannot accept a connection: {e}");
                        std::thread::sleep(Duration::from_millis(10));
                        continue;
                    }
                };
                let stream = match idle.try_send(stream) {
                    Ok(()) => continue,
                    Err(e) => e.into_inner(),
                };
                if threads < limits.connections {
                    let next = next.clone();
                    let handler = handler.clone();
                    let bodies = bodies.clone();
                    let serve = move |stream| {
                        Connection {
                            limits,
                            handler: handler.clone(),
                            bodies: bodies.clone(),
                            refuse,
                            pending: Vec::new(),
                        }
                        .serve(stream)
                    };
                    let spawned =
                        std::thread::Builder::new()
                            .name("web-conn".into())
                            .spawn(move || {
                                serve(stream);
                                for stream in next.iter() {
                                    serve(stream);
                                }
                            });
                    match spawned {
                        Ok(_) => threads += 1,
                        Err(e) => log::warn!("cannot serve a connection: {e}"),
                    }
                    continue;
                }
                // Answered here, without reading: the accept loop never waits.
                let mut stream = stream;
                let _ = stream.set_write_timeout(Some(Duration::from_millis(100)));
                let busy = refuse(503, "too many connections at once; try again");
                let _ = write_response(&mut stream, &busy, false, false);
                let _ = stream.shutdown(Shutdown::Write);
            }
        })
        .map(|_| ())
}

/// A request head, parsed.
struct Head {
    method: Method,
    url: String,
    headers: Vec<(String, String)>,
    http11: bool,
}

impl Head {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// HTTP/1.1 keeps the connection unless told to close; 1.0 closes it.
    fn keep_alive(&self) -> bool {
        let close = self
            .header("Connection")
            .is_some_and(|v| v.to_ascii_lowercase().contains("close"));
        self.http11 && !close
    }
}

/// Why a connection ends without serving a request.
enum Stop {
    /// Closed, idle past the timeout, or broken: nothing to answer.
    Quiet,
    /// Answer this, then close.
    Refuse(u16, String),
}

struct Connection {
    limits: Limits,
    handler: Arc<Handler>,
    bodies: Arc<AtomicUsize>,
    refuse: fn(u16, &str) -> Response,
    /// Bytes read past the last request head.
    pending: Vec<u8>,
}

impl Connection {
    fn serve(mut self, mut stream: TcpStream) {
        let _ = stream.set_nodelay(true);
        let _ = stream.set_write_timeout(Some(WRITE_TIMEOUT));
        loop {
            let (head, body) = match self.next_request(&mut stream) {
                Ok(request) => request,
                Err(Stop::Quiet) => return,
                Err(Stop::Refuse(status, message)) => {
                    return close_with(stream, &(self.refuse)(status, &message))
                }
            };
            let keep = head.keep_alive();
            let head_only = head.method == Method::Head;
            let request = Request {
                method: head.method,
                url: head.url,
                headers: head.headers,
                http11: head.http11,
                body,
            };
            match (self.handler)(request) {
                Reply::Response(r) => {
                    if write_response(&mut stream, &r, head_only, keep).is_err() || !keep {
                        let _ = stream.shutdown(Shutdown::Both);
                        return;
                    }
                }
                Reply::Stream(write) => {
                    if write(&mut stream).is_err() || !keep {
                        let _ = stream.shutdown(Shutdown::Both);
                        return;
                    }
                }
            }
        }
    }

    /// The next request's head and body, within the limits.
    fn next_request(&mut self, stream: &mut TcpStream) -> Result<(Head, Vec<u8>), Stop> {
        let head = self.read_head(stream)?;
        if head.header("Transfer-Encoding").is_some() {
            return Err(refuse(411, "send the body with a Content-Length"));
        }
        let length = match head.header("Content-Length") {
            None => 0,
            Some(v) => v
                .trim()
                .parse::<u64>()
                .map_err(|_| refuse(400, "a bad Content-Length"))?,
        };
        if length > self.limits.max_body as u64 {
            return Err(Stop::Refuse(
                413,
                format!("a message is at most {} KiB", self.limits.max_body / 1024),
            ));
        }
        if length == 0 {
            return Ok((head, Vec::new()));
        }
        if self.bodies.fetch_add(1, Ordering::SeqCst) >= self.limits.bodies {
            self.bodies.fetch_sub(1, Ordering::SeqCst);
            return Err(refuse(503, "too many messages at once; try again"));
        }
        if head
            .header("Expect")
            .is_some_and(|v| v.eq_ignore_ascii_case("100-continue"))
        {
            let _ = stream.write_all(b"HTTP/1.1 100 Continue\r\n\r\n");
        }
        let body = self.read_body(stream, length as usize);
        self.bodies.fetch_sub(1, Ordering::SeqCst);
        Ok((head, body?))
    }

    fn read_head(&mut self, stream: &mut TcpStream) -> Result<Head, Stop> {
        let deadline = Instant::now() + self.limits.timeout;
        loop {
            if !self.pending.is_empty() {
                if let Some((head, used)) = parse_head(&self.pending)? {
                    self.pending.drain(..used);
                    return Ok(head);
                }
                if self.pending.len() >= self.limits.max_head {
                    return Err(refuse(431, "the request head is too large"));
                }
            }
            let room = self.limits.max_head - self.pending.len();
            match read_until(stream, deadline, room, &mut self.pending) {
                Ok(0) => return Err(Stop::Quiet),
                Ok(_) => {}
                Err(e) if timed_out(&e) && !self.pending.is_empty() => {
                    return Err(refuse(408, "the request took too long"))
                }
                Err(_) => return Err(Stop::Quiet),
            }
        }
    }

    fn read_body(&mut self, stream: &mut TcpStream, length: usize) -> Result<Vec<u8>, Stop> {
        let deadline = Instant::now() + self.limits.timeout;
        let take = length.min(self.pending.len());
        let mut body: Vec<u8> = self.pending.drain(..take).collect();
        while body.len() < length {
            match read_until(stream, deadline, length - body.len(), &mut body) {
                Ok(0) => return Err(Stop::Quiet),
                Ok(_) => {}
                Err(e) if timed_out(&e) => {
                    return Err(refuse(408, "the message took too long to arrive"))
                }
                Err(_) => return Err(Stop::Quiet),
            }
        }
        Ok(body)
    }
}

fn refuse(status: u16, message: &str) -> Stop {
    Stop::Refuse(status, message.to_string())
}

/// One read of at most `room` bytes, appended to `into`, before `deadline`.
fn read_until(
    stream: &mut TcpStream,
    deadline: Instant,
    room: usize,
    into: &mut Vec<u8>,
) -> std::io::Result<usize> {
    let left = deadline.saturating_duration_since(Instant::now());
    if left.is_zero() {
        return Err(ErrorKind::TimedOut.into());
    }
    stream.set_read_timeout(Some(left))?;
    let mut buf = [0u8; 16 * 1024];
    let n = stream.read(&mut buf[..room.min(16 * 1024)])?;
    into.extend_from_slice(&buf[..n]);
    Ok(n)
}

fn timed_out(e: &std::io::Error) -> bool {
    matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut)
}

/// The head at the start of `bytes` and its length, or None while it is
/// incomplete.
fn parse_head(bytes: &[u8]) -> Result<Option<(Head, usize)>, Stop> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut parsed = httparse::Request::new(&mut headers);
    let used = match parsed.parse(bytes) {
        Ok(httparse::Status::Complete(used)) => used,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(httparse::Error::TooManyHeaders) => return Err(refuse(431, "too many header lines")),
        Err(_) => return Err(refuse(400, "a malformed request")),
    };
    let method = match parsed.method.unwrap_or_default() {
        "GET" => Method::Get,
        "HEAD" => Method::Head,
        "POST" => Method::Post,
        other => Method::Other(other.to_string()),
    };
    let headers = parsed
        .headers
        .iter()
        .map(|h| {
            (
                h.name.to_string(),
                String::from_utf8_lossy(h.value).into_owned(),
            )
        })
        .collect();
    let head = Head {
        method,
        url: parsed.path.unwrap_or("/").to_string(),
        headers,
        http11: parsed.version == Some(1),
    };
    Ok(Some((head, used)))
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        411 => "Length Required",
        413 => "Payload Too Large",
        415 => "Unsupported Media Type",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        _ => "",
    }
}

fn write_response(
    out: &mut impl Write,
    r: &Response,
    head_only: bool,
    keep: bool,
) -> std::io::Result<()> {
    let mut head = format!("HTTP/1.1 {} {}\r\n", r.status, reason(r.status));
    for (name, value) in &r.headers {
        head.push_str(name);
        head.push_str(": ");
        head.push_str(value);
        head.push_str("\r\n");
    }
    head.push_str(&format!("Content-Length: {}\r\n", r.body.len()));
    if !keep {
        head.push_str("Connection: close\r\n");
    }
    head.push_str("\r\n");
    let mut bytes = head.into_bytes();
    if !head_only {
        bytes.extend_from_slice(&r.body);
    }
    out.write_all(&bytes)?;
    out.flush()
}

/// Answers and closes: the answer, the end of our side, then at most DRAIN
/// bytes of whatever the client still sends for DRAIN_FOR, so that closing
/// with unread bytes (a reset) does not destroy the answer on its way.
fn close_with(mut stream: TcpStream, r: &Response) {
    if write_response(&mut stream, r, false, false).is_err() {
        return;
    }
    let _ = stream.shutdown(Shutdown::Write);
    let deadline = Instant::now() + DRAIN_FOR;
    let (mut total, mut scratch) = (0, Vec::new());
    while total < DRAIN {
        scratch.clear();
        match read_until(&mut stream, deadline, DRAIN - total, &mut scratch) {
            Ok(0) | Err(_) => break,
            Ok(n) => total += n,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heads_parse_and_wait_for_their_end() {
        let (head, used) =
            parse_head(b"POST /send?x HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc")
                .ok()
                .flatten()
                .unwrap();
        assert_eq!(
            (head.method.clone(), head.url.as_str(), head.http11, used),
            (Method::Post, "/send?x", true, 53)
        );
        assert_eq!(head.header("content-length"), Some("3"));
        assert!(matches!(parse_head(b"GET / HTTP/1.1\r\nHost"), Ok(None)));
        assert!(matches!(
            parse_head(b"GET / HTTP/1.1\r\n\x01\r\n\r\n"),
            Err(Stop::Refuse(400, _))
        ));
        let many = format!("GET / HTTP/1.1\r\n{}\r\n", "A: b\r\n".repeat(65));
        assert!(matches!(
            parse_head(many.as_bytes()),
            Err(Stop::Refuse(431, _))
        ));
        let old = parse_head(b"GET / HTTP/1.0\r\n\r\n")
            .ok()
            .flatten()
            .unwrap()
            .0;
        assert!(!old.keep_alive());
    }

    /// Reads from `stream` until `text` has come, or the stream ends.
    fn read_past(stream: &mut TcpStream, text: &str) -> String {
        let mut got = Vec::new();
        let mut buf = [0u8; 1024];
        while !String::from_utf8_lossy(&got).contains(text) {
            match stream.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
        String::from_utf8_lossy(&got).into_owned()
    }

    /// Starts a POST of a 4-byte body announced with `Expect: 100-continue`
    /// and waits for the server's answer to the head: `100 Continue` once the
    /// server reads the body, or a refusal.
    fn start_post(addr: std::net::SocketAddr) -> (TcpStream, String) {
        let mut s = TcpStream::connect(addr).unwrap();
        // Only a bound on a broken server: the answers come at once.
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        s.write_all(
            b"POST /send HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n",
        )
        .unwrap();
        let answer = read_past(&mut s, "\r\n\r\n");
        (s, answer)
    }

    #[test]
    fn bodies_past_the_limit_are_refused_while_others_are_read() {
        const BODIES: usize = 8;
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let handler: Arc<Handler> = Arc::new(|r: Request| {
            Reply::Response(Response {
                status: 200,
                headers: Vec::new(),
                body: r.body,
            })
        });
        let refused = |status, message: &str| Response {
            status,
            headers: Vec::new(),
            body: message.as_bytes().to_vec(),
        };
        let limits = Limits {
            connections: 4 * BODIES,
            bodies: BODIES,
            max_body: 1024,
            max_head: 4096,
            timeout: Duration::from_secs(60),
        };
        start(listener, limits, handler, refused).unwrap();
        // BODIES posts whose bodies have not come: each holds a place.
        let mut slow: Vec<TcpStream> = (0..BODIES)
            .map(|i| {
                let (s, answer) = start_post(addr);
                assert!(
                    answer.starts_with("HTTP/1.1 100 Continue"),
                    "post {i}: {answer:?}"
                );
                s
            })
            .collect();
        // One more is refused before its body is read.
        let (mut extra, answer) = start_post(addr);
        let answer = answer + &read_past(&mut extra, "try again");
        assert!(answer.starts_with("HTTP/1.1 503 "), "{answer:?}");
        assert!(
            answer.ends_with("too many messages at once; try again"),
            "{answer:?}"
        );
        // A body that arrives frees its place for the next post.
        slow[0].write_all(b"ping").unwrap();
        let echoed = read_past(&mut slow[0], "ping");
        assert!(echoed.starts_with("HTTP/1.1 200 "), "{echoed:?}");
        let (mut next, answer) = start_post(addr);
        assert!(answer.starts_with("HTTP/1.1 100 Continue"), "{answer:?}");
        next.write_all(b"pong").unwrap();
        assert!(read_past(&mut next, "pong").starts_with("HTTP/1.1 200 "));
    }

    #[test]
    fn responses_carry_their_length_and_close_when_asked() {
        let r = Response {
            status: 413,
            headers: vec![("Content-Type".into(), "text/plain".into())],
            body: b"no".to_vec(),
        };
        let mut out = Vec::new();
        write_response(&mut out, &r, false, false).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "HTTP/1.1 413 Payload Too Large\r\nContent-Type: text/plain\r\nContent-Length: 2\r\nConnection: close\r\n\r\nno"
        );
        let mut out = Vec::new();
        write_response(&mut out, &r, true, true).unwrap();
        assert!(String::from_utf8(out)
            .unwrap()
            .ends_with("Content-Length: 2\r\n\r\n"));
    }
}
