//! `kafkademo web`: a page that shows a topic's records as they arrive and
//! sends messages to it, over a synchronous tiny_http server. The main
//! thread routes requests and watches for Ctrl-C; one consumer thread feeds
//! the hub (src/web/); each open page's event stream and each POST get a
//! thread of their own, so a slow browser never holds up the others.
//!
//! Window counts (`kafkademo stream count`'s output) need no flag: the page
//! draws every record whose value is such a count as a live bar chart (the
//! last 6 windows, one bar per key, the latest count per record key), above
//! the record list. So that a page opened late still charts the current
//! counts, the server reads a compacted topic up to 10 000 records per
//! partition back on start, rather than `--history`, and the hub gives each
//! new page the latest count of each of the 12 most recent windows besides
//! the `--history` latest records.

use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpListener};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crossbeam_channel::RecvTimeoutError;
use tiny_http::{Request, Server};

use crate::cli::Web;
use crate::client::admin;
use crate::client::cluster::{BrokerConfig, Cluster};
use crate::client::produce::{Acks, Landed, OutRecord, Producer};
use crate::error::{Error, ExitCode, Result};
use crate::signal::interrupted;
use crate::web::http::{self, EventStream, Route, MAX_BODY, MAX_DRAIN};
use crate::web::hub::{Hub, Subscription};
use crate::web::metrics;
use crate::web::stream::{self, Stream};
use crate::web::watch::{Seen, Watch};

/// How often the main loop looks at the Ctrl-C flag.
const TICK: Duration = Duration::from_millis(100);
/// A comment line this often keeps proxies from closing an idle stream and
/// finds pages that went away.
const KEEPALIVE: Duration = Duration::from_secs(15);
/// POSTs handled at once; more get 503.
const MAX_POSTS: usize = 8;
/// Scrapes answered at once, and cluster pages open at once; more get 503.
const MAX_SCRAPES: usize = 8;
const MAX_CLUSTER_PAGES: usize = 32;
/// How long a scrape waits for a first snapshot when the watcher was idle.
const FIRST_SNAPSHOT: Duration = Duration::from_secs(3);

struct Context {
    brokers: BrokerConfig,
    topic: String,
    bind: IpAddr,
    hub: Arc<Hub>,
    producer: Mutex<Option<Producer>>,
    posts: AtomicUsize,
    watch: Arc<Watch>,
    scrapes: AtomicUsize,
    cluster_pages: AtomicUsize,
}

pub fn execute(brokers: &BrokerConfig, args: Web) -> Result<()> {
    admin::validate_topic_name(&args.topic)?;
    if args.metrics_interval.is_zero() {
        return Err(Error::Usage(
            "--metrics-interval must be more than 0".into(),
        ));
    }
    check_topic(brokers, &args.topic)?;
    let listener = listen(args.bind, args.port)?;
    let addr = listener
        .local_addr()
        .map_err(|e| serve_error(format!("cannot read the listening address: {e}"), None))?;
    let server = Server::from_listener(listener, None)
        .map_err(|e| serve_error(format!("cannot start the web server on {addr}: {e}"), None))?;
    if !args.bind.is_loopback() {
        let rights = match brokers.security.user() {
            Some(user) => format!(" as user {user}"),
            None => String::new(),
        };
        log::warn!(
            "listening on {addr}: anyone who can reach this address can read '{}' and send to it{rights}",
            args.topic
        );
    }
    let mut out = std::io::stdout().lock();
    writeln!(out, "Serving topic '{}' at {}", args.topic, url(addr))
        .and_then(|()| {
            writeln!(
                out,
                "The cluster at {}cluster, Prometheus metrics at {}metrics",
                url(addr),
                url(addr)
            )
        })
        .and_then(|()| out.flush())
        .map_err(Error::Output)?;
    drop(out);

    let hub = Arc::new(Hub::new(&args.topic, args.history as usize, instance_id()));
    let stop = Arc::new(AtomicBool::new(false));
    let consumer = Stream {
        brokers: brokers.clone(),
        topic: args.topic.clone(),
        history: i64::from(args.history),
    };
    stream::spawn(consumer, hub.clone(), stop.clone())
        .map_err(|e| serve_error(format!("cannot start the consumer thread: {e}"), None))?;
    let watch = Watch::start(brokers, args.metrics_interval)
        .map_err(|e| serve_error(format!("cannot start the cluster watcher: {e}"), None))?;
    let ctx = Arc::new(Context {
        brokers: brokers.clone(),
        topic: args.topic,
        bind: args.bind,
        hub,
        producer: Mutex::new(None),
        posts: AtomicUsize::new(0),
        watch,
        scrapes: AtomicUsize::new(0),
        cluster_pages: AtomicUsize::new(0),
    });
    let result = serve(&server, &ctx);
    stop.store(true, Ordering::SeqCst);
    ctx.hub.close();
    ctx.watch.stop();
    result
}

/// A missing topic is a mistake to report now; an unreachable broker is
/// not: the page shows it and the consumer retries until it is back.
fn check_topic(brokers: &BrokerConfig, topic: &str) -> Result<()> {
    match Cluster::connect(brokers).and_then(|mut c| admin::describe_topic(&mut c, topic)) {
        Ok(_) => Ok(()),
        // the consumer thread reports it (stderr and page) and retries
        Err(e) if e.exit_code() == ExitCode::Unavailable => Ok(()),
        Err(e) => Err(e),
    }
}

fn listen(ip: IpAddr, port: u16) -> Result<TcpListener> {
    let addr = SocketAddr::new(ip, port);
    TcpListener::bind(addr).map_err(|e| {
        let (why, hint) = match e.kind() {
            std::io::ErrorKind::AddrInUse => (
                "the port is in use".to_string(),
                "stop what uses it, or pick another port with --port (0 picks a free one)",
            ),
            std::io::ErrorKind::PermissionDenied => (
                "permission denied".to_string(),
                "ports below 1024 need privileges; pick a higher one with --port",
            ),
            std::io::ErrorKind::AddrNotAvailable => (
                "the address is not one of this machine's".to_string(),
                "--bind takes an address of this machine, e.g. 127.0.0.1",
            ),
            _ => (
                e.to_string(),
                "pick another address or port with --bind / --port",
            ),
        };
        serve_error(format!("cannot listen on {addr}: {why}"), Some(hint))
    })
}

fn serve_error(message: String, hint: Option<&str>) -> Error {
    Error::Serve {
        message,
        hint: hint.map(str::to_string),
    }
}

fn url(addr: SocketAddr) -> String {
    format!("http://{addr}/")
}

/// Tells event ids of this run from an earlier run's, so a page that
/// reconnects to a restarted server gets a fresh history.
fn instance_id() -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("{:x}{:x}", nanos & 0xffff_ffff_ffff, std::process::id())
}

fn serve(server: &Server, ctx: &Arc<Context>) -> Result<()> {
    loop {
        if interrupted() {
            return Err(Error::Interrupted);
        }
        match server.recv_timeout(TICK) {
            Ok(Some(rq)) => handle(rq, ctx),
            Ok(None) => {}
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(serve_error(format!("the web server failed: {e}"), None)),
        }
    }
}

fn respond(rq: Request, response: tiny_http::Response<std::io::Cursor<Vec<u8>>>) {
    if let Err(e) = rq.respond(response) {
        log::debug!("cannot answer: {e}");
    }
}

fn handle(rq: Request, ctx: &Arc<Context>) {
    log::debug!("{} {}", rq.method(), rq.url());
    if !http::host_allowed(http::header(&rq, "Host"), ctx.bind) {
        return respond(
            rq,
            http::error(403, "this server answers to loopback names only"),
        );
    }
    match http::route(rq.method(), rq.url()) {
        Route::Asset(body, kind) => respond(rq, http::response(200, kind, body)),
        Route::NotFound => respond(rq, http::error(404, "not found")),
        Route::WrongMethod(allow) => respond(
            rq,
            http::with_header(http::error(405, "method not allowed"), "Allow", allow),
        ),
        Route::Events => events(rq, ctx),
        Route::Send => send(rq, ctx),
        Route::Metrics => scrape(rq, ctx),
        Route::ClusterEvents => cluster_events(rq, ctx),
    }
}

/// GET /metrics, on a thread of its own: it may wait (at most
/// FIRST_SNAPSHOT) for the watcher's first snapshot.
fn scrape(rq: Request, ctx: &Arc<Context>) {
    if ctx.scrapes.fetch_add(1, Ordering::SeqCst) >= MAX_SCRAPES {
        ctx.scrapes.fetch_sub(1, Ordering::SeqCst);
        return respond(rq, http::error(503, "too many scrapes at once"));
    }
    let worker = ctx.clone();
    let spawned = std::thread::Builder::new()
        .name("web-metrics".into())
        .spawn(move || {
            let seen = worker.watch.scrape(FIRST_SNAPSHOT);
            let body = metrics::render(&seen);
            respond(rq, http::response(200, metrics::CONTENT_TYPE, &body));
            worker.scrapes.fetch_sub(1, Ordering::SeqCst);
        });
    if let Err(e) = spawned {
        ctx.scrapes.fetch_sub(1, Ordering::SeqCst);
        log::warn!("cannot answer a scrape: {e}");
    }
}

/// GET /cluster/events: a `cluster` event with the watcher's view after
/// every snapshot, for as long as the page stays (the watcher runs while
/// one does).
fn cluster_events(rq: Request, ctx: &Arc<Context>) {
    if ctx.cluster_pages.fetch_add(1, Ordering::SeqCst) >= MAX_CLUSTER_PAGES {
        ctx.cluster_pages.fetch_sub(1, Ordering::SeqCst);
        return respond(rq, http::error(503, "too many open pages"));
    }
    let http11 = *rq.http_version() >= tiny_http::HTTPVersion(1, 1);
    let worker = ctx.clone();
    let spawned = std::thread::Builder::new()
        .name("web-cluster".into())
        .spawn(move || {
            let page = worker.watch.page();
            let mut out = rq.into_writer();
            if let Err(e) = stream_cluster(&mut *out, http11, &worker.watch) {
                log::debug!("cluster stream ended: {e}");
            }
            drop(page);
            worker.cluster_pages.fetch_sub(1, Ordering::SeqCst);
        });
    if let Err(e) = spawned {
        ctx.cluster_pages.fetch_sub(1, Ordering::SeqCst);
        log::warn!("cannot start a cluster stream: {e}");
    }
}

fn stream_cluster(out: &mut dyn Write, http11: bool, watch: &Watch) -> std::io::Result<()> {
    let mut stream = EventStream::start(out, http11)?;
    stream.flush()?;
    let mut seq = 0;
    loop {
        match watch.next(seq, KEEPALIVE) {
            Some(seen) => {
                seq = seen.seq;
                stream.push(cluster_frame(&seen).as_bytes());
            }
            None if watch.stopped() => return stream.finish(),
            None => stream.push(b": keepalive\n\n"),
        }
        stream.flush()?;
    }
}

/// `{"up", "error", "view"}`: the view is the one `top --once --format json`
/// prints (the latest that succeeded; null before any did).
/// Internal topics (`__consumer_offsets`' 50 partitions) are left out.
fn cluster_frame(seen: &Seen) -> String {
    let view = seen.view.as_deref().map(|v| {
        let mut v = v.clone();
        v.topics.retain(|t| !t.internal);
        v
    });
    let body = serde_json::json!({
        "up": seen.up,
        "error": seen.error,
        "view": view,
    });
    format!("event: cluster\ndata: {body}\n\n")
}

/// An event stream: the hub's replay, then live frames, until the page
/// leaves, falls behind, or the server stops.
fn events(rq: Request, ctx: &Arc<Context>) {
    let last = http::header(&rq, "Last-Event-ID").map(str::to_string);
    let http11 = *rq.http_version() >= tiny_http::HTTPVersion(1, 1);
    let Some(sub) = ctx.hub.subscribe(last.as_deref()) else {
        return respond(rq, http::error(503, "too many open pages"));
    };
    let spawned = std::thread::Builder::new()
        .name("web-events".into())
        .spawn(move || {
            let mut out = rq.into_writer();
            if let Err(e) = stream_events(&mut *out, http11, sub) {
                log::debug!("event stream ended: {e}");
            }
        });
    if let Err(e) = spawned {
        log::warn!("cannot start an event stream: {e}");
    }
}

fn stream_events(out: &mut dyn Write, http11: bool, sub: Subscription) -> std::io::Result<()> {
    let mut stream = EventStream::start(out, http11)?;
    for frame in &sub.replay {
        stream.push(frame.as_bytes());
    }
    stream.flush()?;
    loop {
        match sub.live.recv_timeout(KEEPALIVE) {
            Ok(frame) => {
                stream.push(frame.as_bytes());
                // whatever else is queued goes in the same write
                for frame in sub.live.try_iter().take(256) {
                    stream.push(frame.as_bytes());
                }
            }
            Err(RecvTimeoutError::Timeout) => stream.push(b": keepalive\n\n"),
            // dropped by the hub (fell behind) or the server stops
            Err(RecvTimeoutError::Disconnected) => return stream.finish(),
        }
        stream.flush()?;
    }
}

/// POST /send: checks what can be checked at once, then reads the body and
/// produces on a thread of its own (a slow upload holds up only itself).
fn send(rq: Request, ctx: &Arc<Context>) {
    if !http::origin_allowed(http::header(&rq, "Origin"), http::header(&rq, "Host")) {
        return respond(rq, http::error(403, "cross-site requests are refused"));
    }
    let form = http::header(&rq, "Content-Type").is_some_and(|t| {
        t.split(';').next().is_some_and(|t| {
            t.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        })
    });
    if !form {
        return respond(
            rq,
            http::error(415, "send the form: application/x-www-form-urlencoded"),
        );
    }
    if let Some(len) = rq.body_length() {
        if len > MAX_BODY {
            return too_large(rq, len);
        }
    }
    if ctx.posts.fetch_add(1, Ordering::SeqCst) >= MAX_POSTS {
        ctx.posts.fetch_sub(1, Ordering::SeqCst);
        return respond(rq, http::error(503, "too many messages at once; try again"));
    }
    let worker = ctx.clone();
    let spawned = std::thread::Builder::new()
        .name("web-send".into())
        .spawn(move || {
            let mut rq = rq;
            let response = produce(&mut rq, &worker);
            respond(rq, response);
            worker.posts.fetch_sub(1, Ordering::SeqCst);
        });
    if let Err(e) = spawned {
        ctx.posts.fetch_sub(1, Ordering::SeqCst);
        log::warn!("cannot handle a message: {e}");
    }
}

/// 413 for a body over MAX_BODY. After an answer tiny_http drains the
/// unread body into a buffer of the announced length, allocated at once (a
/// failed allocation aborts the process) and read on the answering thread.
/// So a length up to MAX_DRAIN is answered on a thread of its own, and a
/// longer one, which no browser form sends, is answered by taking the
/// connection over from tiny_http (`upgrade`), which reads no body: the
/// connection is closed as soon as the client lets go of it, and nothing
/// is kept.
fn too_large(rq: Request, len: usize) {
    let response = http::error(
        413,
        &format!("a message is at most {} KiB", MAX_BODY / 1024),
    );
    if len > MAX_DRAIN {
        log::info!("refusing a POST that announces {len} bytes");
        drop(rq.upgrade("kafkademo-refused", response));
        return;
    }
    let spawned = std::thread::Builder::new()
        .name("web-refuse".into())
        .spawn(move || respond(rq, response));
    if let Err(e) = spawned {
        log::warn!("cannot answer an oversize message: {e}");
    }
}

fn produce(rq: &mut Request, ctx: &Context) -> tiny_http::Response<std::io::Cursor<Vec<u8>>> {
    let mut body = Vec::new();
    if let Err(e) = rq
        .as_reader()
        .take(MAX_BODY as u64 + 1)
        .read_to_end(&mut body)
    {
        return http::error(400, &format!("cannot read the message: {e}"));
    }
    if body.len() > MAX_BODY {
        return http::error(
            413,
            &format!("a message is at most {} KiB", MAX_BODY / 1024),
        );
    }
    let form = http::parse_form(&body);
    let field = |name: &str| {
        form.iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let (key, value) = (field("key"), field("value"));
    if value.is_empty() {
        return http::error(400, "type a message first");
    }
    let record = OutRecord {
        key,
        value,
        partition: None,
    };
    let mut producer = ctx.producer.lock().unwrap_or_else(|e| e.into_inner());
    let sent = send_one(&mut producer, ctx, &record);
    match sent {
        Ok(at) => {
            // "offset": null when the broker gave none (the page says "unknown").
            let body =
                serde_json::json!({ "partition": at.partition, "offset": at.offset }).to_string();
            http::response(200, "application/json", &body)
        }
        Err(e) => {
            *producer = None;
            log::warn!("cannot send a message from the page: {e}");
            let status = match e.exit_code() {
                ExitCode::Unavailable => 503,
                ExitCode::DataError => 413,
                ExitCode::Usage => 400,
                _ => 502,
            };
            http::error(status, &e.to_string())
        }
    }
}

/// Sends with the producer kept from earlier messages, or a new one when
/// there is none or the broker connection broke since (a broker restart
/// leaves the `kafka` crate's connections dead). A message whose answer was
/// lost with the connection may so be written twice: at least once.
fn send_one(slot: &mut Option<Producer>, ctx: &Context, record: &OutRecord) -> Result<Landed> {
    if let Some(p) = slot.as_mut() {
        match p.send(std::slice::from_ref(record)) {
            Ok(landed) => return first(landed),
            Err(e) if e.error.exit_code() != ExitCode::Unavailable => return Err(e.error),
            Err(e) => {
                log::info!("{}; reconnecting", e.error);
                *slot = None;
            }
        }
    }
    let p = slot.insert(new_producer(ctx)?);
    first(p.send(std::slice::from_ref(record))?)
}

fn first(landed: Vec<Landed>) -> Result<Landed> {
    landed
        .first()
        .copied()
        .ok_or_else(|| Error::broker("the broker acknowledged no record"))
}

fn new_producer(ctx: &Context) -> Result<Producer> {
    let mut cluster = Cluster::connect(&ctx.brokers)?;
    Producer::new(&mut cluster, &ctx.topic, Acks::Leader)
}
