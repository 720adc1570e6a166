//! A malicious broker: a small TCP server in the test that answers
//! ApiVersions and Metadata sanely (or not) and then with crafted frames:
//! huge and negative lengths, array counts of 2^31, bad CRCs, truncated
//! batches, compression bombs, 2^32-1 SCRAM iterations, a frame that never
//! finishes. Each case runs the built binary and asserts what a user sees:
//! it ends within its bound with one error line on stderr, a documented
//! exit code, no panic, and a peak RSS under `RSS_BOUND_KB` (measured by
//! GNU time, docs/hostile-input.md). No real broker is needed: the suite
//! runs in one phase of scripts/test.sh only.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::api_versions_response::ApiVersion;
use kafka_protocol::messages::fetch_response::{FetchableTopicResponse, PartitionData};
use kafka_protocol::messages::list_offsets_response::{
    ListOffsetsPartitionResponse, ListOffsetsTopicResponse,
};
use kafka_protocol::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use kafka_protocol::messages::{
    ApiVersionsResponse, BrokerId, FetchResponse, ListOffsetsResponse, MetadataResponse,
    ResponseHeader, SaslHandshakeResponse, TopicName,
};
use kafka_protocol::protocol::{Encodable, HeaderVersion, StrBytes};

use crate::fixture::{kafkademo, peak_kb, poll, under_gnu_time, Run};

/// Every case's peak RSS stays under this (kB). A healthy `consume` peaks
/// near 10 MB; the compression bombs unpack to at most 16 MiB (twice that
/// reserved while reading), so 96 MB leaves room and still catches any
/// unbounded allocation (a bomb case unpacks 256 MiB when the limit is off).
const RSS_BOUND_KB: u64 = 96 * 1024;

/// What `--timeout` the cases give; each ends within it plus the 30 s a
/// retriable failure is ridden out for (client::retry), and most at once.
const TIMEOUT: &str = "3s";
const BOUND: Duration = Duration::from_secs(60);

const TOPIC: &str = "hostile";

/// The versions the fake broker lists: record batches (Fetch v4+: the
/// modern data path), non-flexible answers the cases can craft by hand.
const VERSIONS: [(i16, i16, i16); 8] = [
    (0, 3, 8),  // Produce
    (1, 4, 11), // Fetch
    (2, 1, 5),  // ListOffsets
    (3, 1, 8),  // Metadata
    (16, 0, 2), // ListGroups
    (17, 0, 1), // SaslHandshake
    (18, 0, 3), // ApiVersions
    (36, 0, 1), // SaslAuthenticate
];

/// How the fake broker answers one request.
enum Answer {
    /// A sane answer (see `sane`).
    Sane,
    /// This body after the response header.
    Body(Vec<u8>),
    /// These bytes as they are, size prefix included, then the connection
    /// is held open and silent.
    RawThenSilence(Vec<u8>),
}

/// A request as the fake broker reads it.
struct Request {
    key: i16,
    version: i16,
    correlation: i32,
    /// The body after a non-flexible (v1) request header.
    body: Vec<u8>,
}

type Script = dyn Fn(&Request) -> Answer + Send + Sync;

/// A malicious broker on a free port, answering by `script`; it lives as
/// long as the test process (each connection on a thread of its own).
fn broker(script: impl Fn(&Request) -> Answer + Send + Sync + 'static) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let script: Arc<Script> = Arc::new(script);
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for conn in listener.incoming().flatten() {
            let script = script.clone();
            std::thread::spawn(move || serve(conn, port, &*script));
        }
    });
    addr
}

fn serve(mut conn: TcpStream, port: u16, script: &Script) {
    loop {
        let mut len = [0u8; 4];
        if conn.read_exact(&mut len).is_err() {
            return;
        }
        let mut frame = vec![0u8; i32::from_be_bytes(len) as usize];
        if conn.read_exact(&mut frame).is_err() {
            return;
        }
        let client_id = i16::from_be_bytes([frame[8], frame[9]]).max(0) as usize;
        let request = Request {
            key: i16::from_be_bytes([frame[0], frame[1]]),
            version: i16::from_be_bytes([frame[2], frame[3]]),
            correlation: i32::from_be_bytes([frame[4], frame[5], frame[6], frame[7]]),
            body: frame.get(10 + client_id..).unwrap_or_default().to_vec(),
        };
        let body = match script(&request) {
            Answer::Sane => sane(&request, port),
            Answer::Body(body) => body,
            Answer::RawThenSilence(bytes) => {
                let _ = conn.write_all(&bytes);
                // Held open until the client goes away.
                let _ = conn.read_to_end(&mut Vec::new());
                return;
            }
        };
        let mut out = BytesMut::new();
        ResponseHeader::default()
            .with_correlation_id(request.correlation)
            .encode(&mut out, header_version(request.key, request.version))
            .unwrap();
        out.extend_from_slice(&body);
        let mut framed = (out.len() as i32).to_be_bytes().to_vec();
        framed.extend_from_slice(&out);
        if conn.write_all(&framed).is_err() {
            return;
        }
    }
}

fn header_version(key: i16, version: i16) -> i16 {
    match key {
        18 => 0,
        1 => FetchResponse::header_version(version),
        3 => MetadataResponse::header_version(version),
        _ => 0,
    }
}

fn encoded(m: &impl Encodable, version: i16) -> Vec<u8> {
    let mut b = BytesMut::new();
    m.encode(&mut b, version).unwrap();
    b.to_vec()
}

/// The answers of a broker with one topic of one partition, led by itself,
/// holding offsets 0..1 and nothing to fetch.
fn sane(r: &Request, port: u16) -> Vec<u8> {
    match r.key {
        18 => encoded(
            &ApiVersionsResponse::default().with_api_keys(
                VERSIONS
                    .iter()
                    .map(|&(k, min, max)| {
                        ApiVersion::default()
                            .with_api_key(k)
                            .with_min_version(min)
                            .with_max_version(max)
                    })
                    .collect(),
            ),
            r.version,
        ),
        3 => encoded(
            &MetadataResponse::default()
                .with_brokers(vec![MetadataResponseBroker::default()
                    .with_node_id(BrokerId(0))
                    .with_host(StrBytes::from_static_str("127.0.0.1"))
                    .with_port(i32::from(port))])
                .with_controller_id(BrokerId(0))
                .with_topics(vec![MetadataResponseTopic::default()
                    .with_name(Some(TopicName(StrBytes::from_static_str(TOPIC))))
                    .with_partitions(vec![MetadataResponsePartition::default()
                        .with_leader_id(BrokerId(0))
                        .with_replica_nodes(vec![BrokerId(0)])
                        .with_isr_nodes(vec![BrokerId(0)])])]),
            r.version,
        ),
        2 => encoded(
            &ListOffsetsResponse::default().with_topics(vec![ListOffsetsTopicResponse::default()
                .with_name(TopicName(StrBytes::from_static_str(TOPIC)))
                .with_partitions(vec![ListOffsetsPartitionResponse::default()
                    .with_offset(0)
                    .with_timestamp(-1)])]),
            r.version,
        ),
        1 => fetch_answer(None, r.version),
        17 => encoded(
            &SaslHandshakeResponse::default()
                .with_mechanisms(vec![StrBytes::from_static_str("SCRAM-SHA-256")]),
            r.version,
        ),
        other => panic!("the fake broker was not asked to answer API {other}"),
    }
}

/// A Fetch answer for partition 0 of the topic, whose log ends at offset
/// 1 000 000, holding `records` as its record batches.
fn fetch_answer(records: Option<Vec<u8>>, version: i16) -> Vec<u8> {
    fetch_answer_ending(records, 1_000_000, version)
}

/// A Fetch answer like `fetch_answer`, the log ending at `end`.
fn fetch_answer_ending(records: Option<Vec<u8>>, end: i64, version: i16) -> Vec<u8> {
    encoded(
        &FetchResponse::default().with_responses(vec![FetchableTopicResponse::default()
            .with_topic(TopicName(StrBytes::from_static_str(TOPIC)))
            .with_partitions(vec![PartitionData::default()
                .with_partition_index(0)
                .with_high_watermark(end)
                .with_last_stable_offset(end)
                .with_records(records.map(Bytes::from))])]),
        version,
    )
}

/// A fake broker answering sanely except for Fetch, answered with `batches`.
fn fetching(batches: Vec<u8>) -> String {
    broker(move |r| match r.key {
        1 => Answer::Body(fetch_answer(Some(batches.clone()), r.version)),
        _ => Answer::Sane,
    })
}

// ---- record batches, by hand ------------------------------------------------

fn varint(out: &mut Vec<u8>, v: i64) {
    let mut u = ((v << 1) ^ (v >> 63)) as u64;
    while u >= 0x80 {
        out.push(u as u8 | 0x80);
        u >>= 7;
    }
    out.push(u as u8);
}

/// `n` records (null key, a 10-byte value) as a v2 batch's records part.
fn records(n: usize) -> Vec<u8> {
    let mut out = Vec::new();
    for i in 0..n {
        let mut r = vec![0u8]; // attributes
        varint(&mut r, 0); // timestamp delta
        varint(&mut r, i as i64); // offset delta
        varint(&mut r, -1); // null key
        varint(&mut r, 10);
        r.extend_from_slice(b"0123456789");
        varint(&mut r, 0); // headers
        varint(&mut out, r.len() as i64);
        out.extend_from_slice(&r);
    }
    out
}

/// A v2 record batch at `base` of `count` records whose records part is
/// `body`, with codec `codec`; its length and CRC right.
fn batch(base: i64, codec: i16, count: i32, body: &[u8]) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend_from_slice(&base.to_be_bytes());
    b.extend_from_slice(&0i32.to_be_bytes()); // length, below
    b.extend_from_slice(&0i32.to_be_bytes()); // partition leader epoch
    b.push(2); // magic
    b.extend_from_slice(&0u32.to_be_bytes()); // CRC, below
    b.extend_from_slice(&codec.to_be_bytes());
    b.extend_from_slice(&(count - 1).to_be_bytes()); // last offset delta
    b.extend_from_slice(&1i64.to_be_bytes());
    b.extend_from_slice(&1i64.to_be_bytes());
    b.extend_from_slice(&(-1i64).to_be_bytes()); // producer id
    b.extend_from_slice(&(-1i16).to_be_bytes());
    b.extend_from_slice(&(-1i32).to_be_bytes());
    b.extend_from_slice(&count.to_be_bytes());
    b.extend_from_slice(body);
    let len = (b.len() - 12) as i32;
    b[8..12].copy_from_slice(&len.to_be_bytes());
    let crc = crc32c::crc32c(&b[21..]);
    b[17..21].copy_from_slice(&crc.to_be_bytes());
    b
}

/// `n` zero bytes packed with gzip (codec 1) or zstd (4), streamed.
fn bomb(codec: i16, n: u64) -> Vec<u8> {
    let mut zeros = std::io::repeat(0).take(n);
    match codec {
        1 => {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
            std::io::copy(&mut zeros, &mut e).unwrap();
            e.finish().unwrap()
        }
        _ => zstd::stream::encode_all(zeros, 19).unwrap(),
    }
}

// ---- running kafkademo --------------------------------------------------------

/// Reads a child's pipe to its end on a thread (a child writing more than
/// a pipe holds must not block).
fn drain<R: Read + Send + 'static>(pipe: Option<R>) -> std::thread::JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        if let Some(mut p) = pipe {
            let _ = p.read_to_end(&mut bytes);
        }
        bytes
    })
}

/// What one case saw: the run and its peak RSS in kB.
struct Seen {
    run: Run,
    peak_kb: u64,
    /// The fake broker's address.
    addr: String,
}

/// Runs kafkademo (the fixture's scrubbed command) against `addr` under GNU
/// time, which reports the peak RSS (its `%M`) to a file of its own.
fn run_against(addr: &str, args: &[&str], stdin: &str) -> Seen {
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let report = std::env::temp_dir().join(format!(
        "kafkademo-hostile-{}-{}.rss",
        std::process::id(),
        N.fetch_add(1, std::sync::atomic::Ordering::SeqCst)
    ));
    let mut all = vec!["--brokers", addr, "--timeout", TIMEOUT];
    all.extend_from_slice(args);
    let mut cmd = under_gnu_time(&kafkademo(&all), &report);
    // A process group of its own: past the bound, kafkademo is killed
    // with GNU time (killing time alone would leave it holding the pipes).
    cmd.process_group(0);
    let mut child = cmd
        .spawn()
        .expect("cannot run kafkademo under /usr/bin/time");
    let mut input = child.stdin.take().unwrap();
    let _ = input.write_all(stdin.as_bytes());
    drop(input);
    let group = child.id();
    let out = drain(child.stdout.take());
    let err = drain(child.stderr.take());
    let ended = poll(BOUND, || child.try_wait().ok().flatten());
    if ended.is_none() {
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{group}")])
            .status();
    }
    let status = child.wait().expect("wait");
    let run = Run::from(std::process::Output {
        status,
        stdout: out.join().unwrap_or_default(),
        stderr: err.join().unwrap_or_default(),
    });
    assert!(
        ended.is_some(),
        "kafkademo did not end within {BOUND:?}:\n{run:?}"
    );
    let peak_kb = peak_kb(&report, &run);
    eprintln!(
        "peak RSS {peak_kb} kB, exit {}: kafkademo {args:?}: {}",
        run.code,
        run.stderr.lines().next().unwrap_or_default()
    );
    Seen {
        run,
        peak_kb,
        addr: addr.to_string(),
    }
}

/// Asserts the one-line failure: `code`, stderr one `kafkademo: error:`
/// line holding `needle` (a hint line allowed), no panic, peak RSS bounded.
fn assert_fails(seen: &Seen, code: i32, needle: &str) {
    let run = &seen.run;
    assert_eq!(run.code, code, "wrong exit code:\n{run:?}");
    assert!(
        !run.stderr.contains("panicked") && !run.stderr.contains("RUST_BACKTRACE"),
        "a panic:\n{run:?}"
    );
    let lines: Vec<&str> = run.stderr.lines().collect();
    let errors: Vec<&&str> = lines
        .iter()
        .filter(|l| !l.starts_with("  hint: "))
        .collect();
    assert_eq!(errors.len(), 1, "not one line:\n{run:?}");
    assert!(
        errors[0].starts_with("kafkademo: error: ") && errors[0].contains(needle),
        "expected an error line with {needle:?}:\n{run:?}"
    );
    assert!(
        seen.peak_kb < RSS_BOUND_KB,
        "peak RSS {} kB over {RSS_BOUND_KB} kB:\n{run:?}",
        seen.peak_kb
    );
}

fn consume(addr: &str) -> Seen {
    run_against(
        addr,
        &[
            "consume",
            "--topic",
            TOPIC,
            "--from-beginning",
            "--exit-at-end",
        ],
        "",
    )
}

// ---- the cases ------------------------------------------------------------------

#[test]
fn a_sane_fake_broker_is_read_to_its_end() {
    // The baseline the other cases change one thing of: three records, then
    // the log's end (so the fake broker itself is known to be sane).
    let served = std::sync::atomic::AtomicBool::new(false);
    let addr = broker(move |r| match r.key {
        1 => {
            // The first fetch: three records; then nothing, the end at 3.
            let first = !served.swap(true, std::sync::atomic::Ordering::SeqCst);
            let records = first.then(|| batch(0, 0, 3, &records(3)));
            Answer::Body(fetch_answer_ending(records, 3, r.version))
        }
        _ => Answer::Sane,
    });
    let seen = consume(&addr);
    assert_eq!(seen.run.code, 0, "{:?}", seen.run);
    assert_eq!(seen.run.stdout.lines().count(), 3, "{:?}", seen.run);
    assert!(seen.peak_kb < RSS_BOUND_KB);
}

#[test]
fn gzip_and_zstd_bombs_in_a_fetch_are_refused_within_the_limit() {
    for (codec, name) in [(1, "gzip"), (4, "zstd")] {
        // 256 MiB of zeros in 250 kB (gzip) or 8 kB (zstd).
        let packed = bomb(codec, 256 << 20);
        let seen = consume(&fetching(batch(0, codec, 1, &packed)));
        assert_fails(
            &seen,
            1,
            &format!("cannot read topic 'hostile' partition 0 from {}: the batch at offset 0 is {name} compressed and unpacks to more than 16 MiB", seen.addr),
        );
    }
}

#[test]
fn negative_and_huge_batch_lengths_are_errors_not_stalls() {
    for (length, says) in [
        (-1i32, "the batch at offset 0 is announced as -1 bytes long"),
        (
            i32::MAX,
            "the batch at offset 0 is announced as 2147483659 bytes long, over the 64 MiB",
        ),
    ] {
        let mut b = batch(0, 0, 3, &records(3));
        b[8..12].copy_from_slice(&length.to_be_bytes());
        let seen = consume(&fetching(b));
        assert_fails(&seen, 1, says);
    }
}

#[test]
fn a_batch_that_always_comes_back_cut_short_is_an_error_at_the_fetch_cap() {
    // 3 records announced, the last 10 bytes never sent whatever is asked.
    let mut b = batch(0, 0, 3, &records(3));
    b.truncate(b.len() - 10);
    let seen = consume(&fetching(b));
    assert_fails(
        &seen,
        1,
        "the batch at offset 0 comes back cut short in a fetch of 64 MiB",
    );
}

#[test]
fn a_bad_crc_is_an_error() {
    let mut b = batch(0, 0, 3, &records(3));
    let last = b.len() - 2;
    b[last] ^= 0xff;
    let seen = consume(&fetching(b));
    assert_fails(
        &seen,
        1,
        "the batch at offset 0 is Cyclic redundancy check failed",
    );
}

#[test]
fn a_truncated_record_inside_a_batch_is_an_error() {
    // The batch says 5 records and holds 3, its length and CRC consistent.
    let seen = consume(&fetching(batch(0, 0, 5, &records(3))));
    assert_fails(&seen, 1, "the batch at offset 0 is cut short");
}

#[test]
fn array_counts_of_2_pow_31_are_refused_before_any_allocation() {
    // Fetch v11: throttle, error code, session id, then 2^31-1 topics.
    let mut fetch = vec![0u8; 10];
    fetch.extend_from_slice(&i32::MAX.to_be_bytes());
    let addr = broker(move |r| match r.key {
        1 => Answer::Body(fetch.clone()),
        _ => Answer::Sane,
    });
    assert_fails(
        &consume(&addr),
        1,
        "sent a malformed Fetch answer: an array of 2147483647 items where 0 bytes are left",
    );

    // Metadata v8 (`topic list`): throttle, no brokers, a null cluster id,
    // a controller, then 2^31-1 topics.
    let mut metadata = vec![0u8; 8];
    metadata.extend_from_slice(&(-1i16).to_be_bytes());
    metadata.extend_from_slice(&0i32.to_be_bytes());
    metadata.extend_from_slice(&i32::MAX.to_be_bytes());
    let addr = broker(move |r| match r.key {
        3 => Answer::Body(metadata.clone()),
        _ => Answer::Sane,
    });
    assert_fails(
        &run_against(&addr, &["topic", "list"], ""),
        1,
        "sent a malformed Metadata answer: an array of 2147483647 items where 0 bytes are left",
    );

    // Produce v8: 2^31-1 topics in its answer.
    let addr = broker(|r| match r.key {
        0 => Answer::Body(i32::MAX.to_be_bytes().to_vec()),
        _ => Answer::Sane,
    });
    assert_fails(
        &run_against(
            &addr,
            &["produce", "--topic", TOPIC, "--acks", "1"],
            "one line\n",
        ),
        1,
        "sent a malformed Produce answer: an array of 2147483647 items where 0 bytes are left",
    );
}

#[test]
fn a_group_answer_with_2_pow_31_groups_is_refused_before_any_allocation() {
    // ListGroups v2 (`group list`): throttle, error code, then 2^31-1
    // groups. Walked from Kafka's schemas like every answer kafkademo
    // decodes, not only the data path's.
    let mut groups = vec![0u8; 6];
    groups.extend_from_slice(&i32::MAX.to_be_bytes());
    let addr = broker(move |r| match r.key {
        16 => Answer::Body(groups.clone()),
        _ => Answer::Sane,
    });
    assert_fails(
        &run_against(&addr, &["group", "list"], ""),
        1,
        "sent a malformed ListGroups answer: an array of 2147483647 items where 0 bytes are left",
    );
}

#[test]
fn huge_and_negative_frame_lengths_are_refused_before_any_allocation() {
    for (prefix, says) in [
        (
            i32::MAX,
            "a size prefix of 2147483647 bytes, over the 80 MiB kafkademo accepts",
        ),
        (-1, "a size prefix of -1 bytes"),
    ] {
        let addr = broker(move |r| match r.key {
            3 => Answer::RawThenSilence(prefix.to_be_bytes().to_vec()),
            _ => Answer::Sane,
        });
        assert_fails(
            &run_against(&addr, &["topic", "list"], ""),
            1,
            &format!("sent a malformed Metadata answer: {says}"),
        );
    }
}

#[test]
fn a_frame_that_never_finishes_ends_at_the_timeout() {
    // 64 MiB announced, 10 bytes sent, then silence.
    let addr = broker(|r| match r.key {
        3 => {
            let mut raw = (64i32 << 20).to_be_bytes().to_vec();
            raw.extend_from_slice(&r.correlation.to_be_bytes());
            raw.extend_from_slice(&[0; 6]);
            Answer::RawThenSilence(raw)
        }
        _ => Answer::Sane,
    });
    assert_fails(
        &run_against(&addr, &["topic", "list"], ""),
        69,
        "did not answer within 3s",
    );
}

#[test]
fn a_scram_server_asking_for_2_pow_32_iterations_is_refused() {
    let addr = broker(|r| match r.key {
        36 => {
            // The client-first message's nonce: "n,,n=user,r=NONCE".
            let text = String::from_utf8_lossy(&r.body[4..]).into_owned();
            let nonce = text.rsplit("r=").next().unwrap_or_default().to_string();
            let first = format!("r={nonce}srv,s=c2FsdA==,i=4294967295");
            let mut body = 0i16.to_be_bytes().to_vec(); // error code
            body.extend_from_slice(&(-1i16).to_be_bytes()); // no message
            body.extend_from_slice(&(first.len() as i32).to_be_bytes());
            body.extend_from_slice(first.as_bytes());
            if r.version >= 1 {
                body.extend_from_slice(&0i64.to_be_bytes());
            }
            Answer::Body(body)
        }
        _ => Answer::Sane,
    });
    let config = std::env::temp_dir().join(format!(
        "kafkademo-hostile-{}.properties",
        std::process::id()
    ));
    std::fs::write(
        &config,
        "security.protocol=SASL_PLAINTEXT\nsasl.mechanism=SCRAM-SHA-256\n\
         sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username=\"alice\" password=\"secret\";\n",
    )
    .unwrap();
    let seen = run_against(
        &addr,
        &[
            "--command-config",
            config.to_str().unwrap(),
            "topic",
            "list",
        ],
        "",
    );
    let _ = std::fs::remove_file(&config);
    assert_fails(
        &seen,
        77,
        "the server asks for 4294967295 iterations, more than Kafka's maximum 16384",
    );
}
