#!/usr/bin/env bash
# make stream-bench: kafkademo `stream count` against the same windowed count
# written with Kafka Streams 4.4 (scripts/kstreams.sh), on the same broker and
# the same input, each under two processing guarantees (PROCESSORS):
#   kafkademo-eos       kafkademo --guarantee exactly-once (its default): each
#                       flush one Kafka transaction with the outputs, the
#                       changelog records and the input offsets
#   kafkademo-unfenced  kafkademo --guarantee unfenced: idempotent writes, the
#                       position in the changelog, no transactions
#   kstreams-eos        Kafka Streams exactly_once_v2
#   kstreams-alos       Kafka Streams at_least_once
# (Kafka Streams with commit interval 100 ms in both: exactly_once_v2's own
# default, and what at_least_once ran with here before.) Four figures:
#   throughput  RECORDS records over KEYS keys in PARTITIONS partitions, all in
#               the input topic before the processor starts, counted in 10 s
#               tumbling windows (2 s grace, --emit updates; Kafka Streams
#               with its default 10 MB record cache). Records/s from the
#               group's committed offsets, polled every ~100 ms: (N - c0) /
#               (t1 - t0), t0 the first poll that sees progress (c0), t1 the
#               first that sees all N. Peak RSS: ru_maxrss from wait4, what
#               /usr/bin/time -v reports (for Kafka Streams: the JVM). ROUNDS
#               rounds, the processors in turn (each round starts one further
#               along), a fresh application id each time; medians.
#   latency     `kafkademo bench stream-e2e` (it reads the output
#               read_committed: a count counts once a read_committed reader
#               sees it) at E2E_RATE records/s for E2E_DURATION (E2E_WARMUP
#               not counted) into a processor that runs on fresh topics
#               (Kafka Streams without record cache, so every update is
#               written): p50, p99, max; ROUNDS rounds in turn, medians.
#   restore     a changelog of about RESTORE_RECORDS records (every input
#               record its own 1 s window, a grace longer than the input
#               spans so that none closes, no cache), built by one run; then
#               the processor starts again on the same application id (Kafka
#               Streams with its state directory deleted) and restores it:
#               records, time, rate, and the wall time from the start to the
#               restored line (kafkademo) or RUNNING (Kafka Streams, JVM start
#               included). RESTORE_PROCESSORS (kafkademo-eos kstreams-eos).
#   retention   whether restore time stays flat as closed windows pile up:
#               KEYS keys, one record per key per 1 s window (event time in
#               the record, so that time is compressed: SPANS of event time,
#               "1h 1d", end a minute ago), grace RETENTION_GRACE (300s: one
#               fetch spans minutes of this event time, and a window that
#               opens and closes within one flush is never written to a
#               changelog by either guarantee; with 300 s about 94 % are
#               written, as all are in real time: the rest fall in fetches
#               of partitions with few keys, which span longer), each span
#               through a fresh application (RETENTION_PROCESSORS).
#               kafkademo's changelog is
#               created beforehand, compacted with segment.ms=5000,
#               segment.bytes=1048576 (Kafka 4's least), delete.retention.ms=
#               5000 and min.cleanable.dirty.ratio=0 (stream count's own:
#               segment.ms and delete.retention.ms 600000, ratio 0.5, for
#               real time); then once a segment.ms has passed one more second
#               of input ("a tick") makes the application write, which rolls
#               the changelog's active segment (never compacted), and the
#               bench waits until the changelog's size on the broker
#               (DescribeLogDirs) holds still; ticks until a tick no longer
#               shrinks it (a tombstone needs a second cleaning to go), at
#               most RETENTION_TICKS. Kafka Streams keeps its own changelog
#               (compact,delete, retention.ms window + grace + 1 day: its
#               closed windows leave by time, not compaction; a day of event
#               time is within it). Then the application restarts (Kafka
#               Streams without its state directory): changelog records read,
#               open windows restored (kafkademo), restore time, changelog
#               size after compaction.
# Prints the machine and versions, markdown tables (the ratios: kafkademo
# exactly-once ÷ unfenced, each kafkademo guarantee ÷ its Kafka Streams
# like, Kafka Streams exactly_once_v2 ÷ at_least_once) and the issue's goals,
# met or not. Writes the tables, the raw results and the processors' logs
# under OUT (target/stream-bench).
#
# This script builds kafkademo and the Kafka Streams peer, starts and stops
# the broker, and prints the tables; the measuring loop (the topics and
# applications, each processor a process of its own with its output
# timestamped and its peak RSS from wait4, the polls of the committed
# offsets, the changelog sizes from DescribeLogDirs) is the hidden
# `kafkademo bench stream-compare` (src/commands/bench/stream_compare.rs).
#
# Uses the broker at 127.0.0.1:9092 (KAFKA_PORT); starts Kafka 3.9 if none
# answers and stops only a broker it started. Deletes the topics and stream
# applications it created, and Kafka Streams' state directory, at the end.
#
# Options (or environment): --records N (RECORDS, 5000000: kafkademo counts
# about a million records a second here and commits unfenced once a second,
# so a million is over before two polls see progress), --keys N (KEYS,
# 100), --partitions N (PARTITIONS, 4), --rounds N (ROUNDS, 3), --rate N
# (E2E_RATE, 10000), --duration D (E2E_DURATION, 20s), --warmup D
# (E2E_WARMUP, 2s), --restore-records N (RESTORE_RECORDS, 1000000),
# --processors "..." (PROCESSORS, all four), --restore-processors "..."
# (RESTORE_PROCESSORS), --spans "1h 1d" (SPANS, each Ns, Nm, Nh or Nd),
# --retention-grace D (RETENTION_GRACE, 300s), --retention-processors "..."
# (RETENTION_PROCESSORS, kafkademo-eos kafkademo-unfenced kstreams-eos),
# --retention-ticks N (RETENTION_TICKS, 6), --figures "throughput latency
# restore retention" (FIGURES), --out DIR (OUT).
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

RECORDS=${RECORDS:-5000000}
KEYS=${KEYS:-100}
PARTITIONS=${PARTITIONS:-4}
ROUNDS=${ROUNDS:-3}
E2E_RATE=${E2E_RATE:-10000}
E2E_DURATION=${E2E_DURATION:-20s}
E2E_WARMUP=${E2E_WARMUP:-2s}
RESTORE_RECORDS=${RESTORE_RECORDS:-1000000}
PROCESSORS=${PROCESSORS:-kafkademo-eos kafkademo-unfenced kstreams-eos kstreams-alos}
RESTORE_PROCESSORS=${RESTORE_PROCESSORS:-kafkademo-eos kstreams-eos}
SPANS=${SPANS:-1h 1d}
RETENTION_GRACE=${RETENTION_GRACE:-300s}
RETENTION_PROCESSORS=${RETENTION_PROCESSORS:-kafkademo-eos kafkademo-unfenced kstreams-eos}
RETENTION_TICKS=${RETENTION_TICKS:-6}
FIGURES=${FIGURES:-throughput latency restore retention}
OUT=${OUT:-$KD_ROOT/target/stream-bench}
while [[ $# -gt 0 ]]; do
  case $1 in
  --records) RECORDS=$2 && shift 2 ;;
  --keys) KEYS=$2 && shift 2 ;;
  --partitions) PARTITIONS=$2 && shift 2 ;;
  --rounds) ROUNDS=$2 && shift 2 ;;
  --rate) E2E_RATE=$2 && shift 2 ;;
  --duration) E2E_DURATION=$2 && shift 2 ;;
  --warmup) E2E_WARMUP=$2 && shift 2 ;;
  --restore-records) RESTORE_RECORDS=$2 && shift 2 ;;
  --processors) PROCESSORS=$2 && shift 2 ;;
  --restore-processors) RESTORE_PROCESSORS=$2 && shift 2 ;;
  --spans) SPANS=$2 && shift 2 ;;
  --retention-grace) RETENTION_GRACE=$2 && shift 2 ;;
  --retention-processors) RETENTION_PROCESSORS=$2 && shift 2 ;;
  --retention-ticks) RETENTION_TICKS=$2 && shift 2 ;;
  --figures) FIGURES=$2 && shift 2 ;;
  --out) OUT=$2 && shift 2 ;;
  -h | --help)
    usage_header "${BASH_SOURCE[0]}"
    exit 0
    ;;
  *) die "unknown option '$1' (see --help)" ;;
  esac
done
BROKERS=$KD_HOST:$KD_KAFKA_PORT
KD=${CARGO_TARGET_DIR:-$KD_ROOT/target}/release/kafkademo
KS=$KD_ROOT/scripts/kstreams.sh
WORK=$OUT/work
mkdir -p "$WORK"
RESULTS=$OUT/results.tsv

trap stop_started_broker EXIT
trap 'exit 130' INT TERM

say "Building kafkademo (release) and the Kafka Streams peer"
(cd "$KD_ROOT" && cargo build --release --quiet) || die "cargo build --release failed"
"$KS" build
start_broker_unless_up

# ---- the machine ----------------------------------------------------------------

broker_version() {
  if pid_alive "$KD_KAFKA_PID" "$KD_KAFKA_MAIN" >/dev/null 2>&1; then
    printf 'Kafka %s (%s mode)\n' "$(running_version)" "$(running_mode)"
  else
    say "unknown (not started by these scripts)"
  fi
}
{
  say "machine:   $(nproc) cores ($(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)), $(awk '/^MemTotal:/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo) memory, kernel $(uname -r)"
  say "load:      $(cut -d' ' -f1-3 /proc/loadavg) (1, 5, 15 min) at start"
  say "broker:    $(broker_version) on $BROKERS, shared; $PARTITIONS partitions per topic, replication factor 1"
  say "kafkademo: $("$KD" --version | cut -d' ' -f2) ($(rustc --version 2>/dev/null | cut -d' ' -f1-2)), release build"
  say "streams:   Kafka Streams $(pom_kafka_version "$KD_ROOT/scripts/kstreams/pom.xml") (scripts/kstreams), $(java -version 2>&1 | head -n 1), -Xmx256m, exactly_once_v2 and at_least_once, commit interval 100 ms"
  say "figures:   $FIGURES; $RECORDS records over $KEYS keys, $ROUNDS rounds of $PROCESSORS; e2e $E2E_RATE/s for $E2E_DURATION ($E2E_WARMUP warm-up); restore of ~$RESTORE_RECORDS changelog records ($RESTORE_PROCESSORS); retention: $SPANS of 1 s windows, grace $RETENTION_GRACE ($RETENTION_PROCESSORS)"
} | tee "$OUT/machine.txt"

# ---- the runs -------------------------------------------------------------------

# Writes results.tsv (figure, processor, round, metric, value) and the
# processors' logs under work/; checks the options before it starts.
"$KD" --brokers "$BROKERS" bench stream-compare --results "$RESULTS" --work "$WORK" --kstreams "$KS" \
  --records "$RECORDS" --keys "$KEYS" --partitions "$PARTITIONS" --rounds "$ROUNDS" \
  --rate "$E2E_RATE" --duration "$E2E_DURATION" --warmup "$E2E_WARMUP" \
  --restore-records "$RESTORE_RECORDS" --processors "$PROCESSORS" \
  --restore-processors "$RESTORE_PROCESSORS" --spans "$SPANS" --retention-grace "$RETENTION_GRACE" \
  --retention-processors "$RETENTION_PROCESSORS" --retention-ticks "$RETENTION_TICKS" \
  --figures "$FIGURES" --run-id $$

# ---- the tables ---------------------------------------------------------------------

say "load:      $(cut -d' ' -f1-3 /proc/loadavg) (1, 5, 15 min) at the end" | tee -a "$OUT/machine.txt"
# medians of the rounds in tables, the ratios, and the goals, met or not
"$KD" bench stream-table "$RESULTS" --goals "$OUT/goals.txt" --records "$RECORDS" --keys "$KEYS" \
  --partitions "$PARTITIONS" --rounds "$ROUNDS" --rate "$E2E_RATE" \
  --restore-processors "$RESTORE_PROCESSORS" --retention-processors "$RETENTION_PROCESSORS" \
  --spans "$SPANS" --grace "$RETENTION_GRACE" | tee "$OUT/table.md"
cat "$OUT/goals.txt"
say "ratios: records/s higher is better; memory, latency, time: lower. Like with like: kafkademo exactly-once with Kafka Streams exactly_once_v2, unfenced with at_least_once."
say "records/s: (N - c0) / (t1 - t0) from committed offsets polled every ~100 ms; kafkademo exactly-once commits them in every flush's transaction, unfenced every 1 s, Kafka Streams every 100 ms."
say "Results in ${OUT#"$KD_ROOT"/}/: table.md, goals.txt, machine.txt, results.tsv, work/ (logs)"
