//! The modern data path (record batches over kafka-protocol) forced with
//! `--protocol modern` on the phase's Kafka 3.9 broker; `kafka4::` runs the
//! same checks on Kafka 4.4, where `auto` picks it.

use crate::datapath;

const MODERN: &[&str] = &["--protocol", "modern"];

#[test]
fn stdin_round_trip_with_headers_and_timestamps() {
    datapath::stdin_round_trip_with_headers_and_timestamps(MODERN);
}

#[test]
fn parity_records_round_trip() {
    datapath::parity_records_round_trip(MODERN);
}

#[test]
fn group_commits_and_resumes() {
    datapath::group_commits_and_resumes(MODERN);
}

#[test]
fn consume_from_a_point_in_time() {
    datapath::consume_from_a_point_in_time(MODERN);
}

#[test]
fn lz4_and_zstd_on_the_classic_path_are_usage_errors() {
    let r = crate::fixture::run(&[
        "--protocol",
        "classic",
        "bench",
        "produce",
        "--records",
        "10",
        "--compression",
        "zstd",
    ]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(
        r.stderr
            .contains("--compression zstd needs the modern data path"),
        "{r:?}"
    );
}

#[test]
fn headers_on_the_classic_path_are_a_usage_error() {
    let t = crate::fixture::Topic::new("dp-classic-headers", 1);
    let r = crate::fixture::run_with_input(
        &[
            "--protocol",
            "classic",
            "produce",
            "--topic",
            &t.name,
            "--header",
            "a=b",
        ],
        "x\n",
    );
    assert_eq!(r.code, 2, "{r:?}");
    assert!(
        r.stderr
            .contains("record headers need the modern data path"),
        "{r:?}"
    );
}

#[test]
fn headers_and_timestamps_interoperate_with_kafkas_console_tools() {
    crate::datapath::headers_and_timestamps_interoperate_with_kafkas_console_tools(MODERN);
}
