//! `kafkademo web`: a page that shows a topic's records as they arrive and
//! sends messages to it, over a small synchronous HTTP server
//! (`web::server`). The main thread watches for Ctrl-C; one consumer thread
//! feeds the hub (src/web/); each connection (an open page's event stream,
//! a POST) is served on a thread of its own, up to a fixed number of them,
//! so a slow browser never holds up the others and no client can make the
//! server take more threads or bytes than that.
//!
//! Window counts (`kafkademo stream count`'s output) need no flag: the page
//! draws every record whose value is such a count as a live bar chart (the
//! last 6 windows, one bar per key, the latest count per record key), above
//! the record list. So that a page opened late still charts the current
//! counts, the server reads a compacted topic up to 10 000 records per
//! partition back on start, rather than `--history`, and the hub gives each
//! new page the latest count of each of the 12 most recent windows besides
//! the `--history` latest records.

use std::io::Write;
use std::net::{IpAddr, SocketAddr, TcpListener};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crossbeam_channel::RecvTimeoutError;

use crate::cli::Web;
use crate::client::admin;
use crate::client::cluster::{BrokerConfig, Cluster};
use crate::client::produce::{Acks, Landed, OutRecord, Producer};
use crate::error::{Error, ExitCode, Result};
use crate::signal::interrupted;
use crate::web::http::{self, EventStream, Route, MAX_BODY};
use crate::web::hub::{Hub, Subscription};
use crate::web::metrics;
use crate::web::server::{self, Limits, Reply, Request, Response};
use crate::web::stream::{self, Stream};
use crate::web::watch::{Seen, Watch};

/// How often the main loop looks at the Ctrl-C flag.
const TICK: Duration = Duration::from_millis(100);
/// A comment line this often keeps proxies from closing an idle stream and
/// finds pages that went away.
const KEEPALIVE: Duration = Duration::from_secs(15);
/// Connections served at once (each open page holds one or two, a browser
/// keeps up to six); more get 503.
const MAX_CONNECTIONS: usize = 128;
/// POST bodies read at once; more get 503.
const MAX_POSTS: usize = 8;
/// How long a client may take to send a request (or a message), and how
/// long an idle connection is kept.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
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
        watch,
        scrapes: AtomicUsize::new(0),
        cluster_pages: AtomicUsize::new(0),
    });
    let limits = Limits {
        connections: MAX_CONNECTIONS,
        bodies: MAX_POSTS,
        max_body: MAX_BODY,
        max_head: 16 * 1024,
        timeout: REQUEST_TIMEOUT,
    };
    let handler_ctx = ctx.clone();
    server::start(
        listener,
        limits,
        Arc::new(move |rq| handle(rq, &handler_ctx)),
        http::error,
    )
    .map_err(|e| serve_error(format!("cannot start the web server on {addr}: {e}"), None))?;
    let result = wait_for_ctrl_c();
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

/// The server runs on its own threads; this one waits for Ctrl-C.
fn wait_for_ctrl_c() -> Result<()> {
    loop {
        if interrupted() {
            return Err(Error::Interrupted);
        }
        std::thread::sleep(TICK);
    }
}

fn respond(response: Response) -> Reply {
    Reply::Response(response)
}

/// Answers one request, on its connection's thread.
fn handle(rq: Request, ctx: &Arc<Context>) -> Reply {
    log::debug!("{} {}", rq.method, rq.url);
    if !http::host_allowed(http::header(&rq, "Host"), ctx.bind) {
        return respond(http::error(
            403,
            "this server answers to loopback names only",
        ));
    }
    match http::route(&rq.method, &rq.url) {
        Route::Asset(body, kind) => respond(http::response(200, kind, body)),
        Route::NotFound => respond(http::error(404, "not found")),
        Route::WrongMethod(allow) => respond(http::with_header(
            http::error(405, "method not allowed"),
            "Allow",
            allow,
        )),
        Route::Events => events(&rq, ctx),
        Route::Send => send(&rq, ctx),
        Route::Metrics => scrape(ctx),
        Route::ClusterEvents => cluster_events(&rq, ctx),
    }
}

/// GET /metrics: it may wait (at most FIRST_SNAPSHOT) for the watcher's
/// first snapshot.
fn scrape(ctx: &Arc<Context>) -> Reply {
    if ctx.scrapes.fetch_add(1, Ordering::SeqCst) >= MAX_SCRAPES {
        ctx.scrapes.fetch_sub(1, Ordering::SeqCst);
        return respond(http::error(503, "too many scrapes at once"));
    }
    let seen = ctx.watch.scrape(FIRST_SNAPSHOT);
    let body = metrics::render(&seen);
    ctx.scrapes.fetch_sub(1, Ordering::SeqCst);
    respond(http::response(200, metrics::CONTENT_TYPE, &body))
}

/// GET /cluster/events: a `cluster` event with the watcher's view after
/// every snapshot, for as long as the page stays (the watcher runs while
/// one does).
fn cluster_events(rq: &Request, ctx: &Arc<Context>) -> Reply {
    if ctx.cluster_pages.fetch_add(1, Ordering::SeqCst) >= MAX_CLUSTER_PAGES {
        ctx.cluster_pages.fetch_sub(1, Ordering::SeqCst);
        return respond(http::error(503, "too many open pages"));
    }
    let http11 = rq.http11;
    let worker = ctx.clone();
    Reply::Stream(Box::new(move |out| {
        let page = worker.watch.page();
        let result = stream_cluster(out, http11, &worker.watch);
        if let Err(e) = &result {
            log::debug!("cluster stream ended: {e}");
        }
        drop(page);
        worker.cluster_pages.fetch_sub(1, Ordering::SeqCst);
        result
    }))
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
fn events(rq: &Request, ctx: &Arc<Context>) -> Reply {
    let last = http::header(rq, "Last-Event-ID");
    let Some(sub) = ctx.hub.subscribe(last) else {
        return respond(http::error(503, "too many open pages"));
    };
    let http11 = rq.http11;
    Reply::Stream(Box::new(move |out| {
        let result = stream_events(out, http11, sub);
        if let Err(e) = &result {
            log::debug!("event stream ended: {e}");
        }
        result
    }))
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

/// POST /send: the server has read the body (at most MAX_BODY, within
/// its time limit, a fixed number at once); this checks it and produces it.
fn send(rq: &Request, ctx: &Arc<Context>) -> Reply {
    if !http::origin_allowed(http::header(rq, "Origin"), http::header(rq, "Host")) {
        return respond(http::error(403, "cross-site requests are refused"));
    }
    let form = http::header(rq, "Content-Type").is_some_and(|t| {
        t.split(';').next().is_some_and(|t| {
            t.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        })
    });
    if !form {
        return respond(http::error(
            415,
            "send the form: application/x-www-form-urlencoded",
        ));
    }
    respond(produce(&rq.body, ctx))
}

fn produce(body: &[u8], ctx: &Context) -> Response {
    let form = http::parse_form(body);
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
