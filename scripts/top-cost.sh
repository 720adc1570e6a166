#!/usr/bin/env bash
# make top-cost: what watching a cluster costs, on one KRaft broker with
# TOPICS topics of PARTITIONS partitions each (names kd-cost-*; 100 x 10 =
# 1,000 partitions by default) and one consumer group per topic with offsets
# committed on all its partitions (100 groups). It measures:
#
#   - `kafkademo top --once --format json`, run RUNS times: wall time and peak
#     RSS of the whole process (connect, one snapshot, the JSON);
#   - `kafkademo top --once --collect DURATION --interval 1s --format json`:
#     wall time, peak RSS and CPU of the process, and the broker JVM's CPU
#     seconds over that run, against the broker idle for DURATION;
#   - `kafkademo web` with /metrics scraped every second for DURATION: the
#     broker's CPU, the web process's CPU and peak RSS, and the refresh time
#     the watcher reports (kafkademo_scrape_duration_seconds, read from every
#     scrape); and the same DURATION with web running unscraped (its consumer
#     thread still long-polls the topic it shows), to separate the two;
#   - the requests: per snapshot the code sends 1 Metadata and, per broker,
#     1 ListOffsets, 1 ListGroups, 1 DescribeGroups and 1 OffsetFetch. A short
#     extra run (VERIFY seconds of top --collect) counts them in the broker's
#     own request log (kafka.request.logger switched to DEBUG at runtime by an
#     IncrementalAlterConfigs on the broker's loggers, back to WARN after), so
#     the requests/s figure is counted by the broker, not just computed. The
#     CPU runs are made with the request log off.
#
# Broker CPU is utime+stime of the broker's JVM from /proc/PID/stat; client
# RSS is the maximum resident set size wait4 reports (top; what
# /usr/bin/time -v prints) or VmHWM from /proc/PID/status (web). Everything
# from one run, on whatever machine this is (its CPUs and load are printed
# first).
#
# This script starts and stops the broker; the measuring (the topics and
# groups, each process run and measured, the request log, the table) is the
# hidden `kafkademo bench top-cost` (src/commands/bench/top_cost.rs).
#
# The broker is 127.0.0.1:KAFKA_PORT (default 9092; e.g. KAFKA_PORT=49092 to
# stay off a test suite's broker): one already running there is used and left
# running, else a KRaft broker is started and stopped at the end. The topics
# and groups are deleted at the end either way.
#
# Writes target/top-cost.tsv (metric, value, unit, how) and prints it as a
# table. Options (or environment): --topics N (TOPICS, 100), --partitions N
# (PARTITIONS, 10), --records N per topic (RECORDS, 20), --duration SECS
# (DURATION, 60), --runs N (RUNS, 3), --verify SECS (VERIFY, 15), --out FILE.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

TOPICS=${TOPICS:-100}
PARTITIONS=${PARTITIONS:-10}
RECORDS=${RECORDS:-20}
DURATION=${DURATION:-60}
RUNS=${RUNS:-3}
VERIFY=${VERIFY:-15}
OUT=${OUT:-$KD_ROOT/target/top-cost.tsv}
while [[ $# -gt 0 ]]; do
  case $1 in
  --topics) TOPICS=$2 && shift 2 ;;
  --partitions) PARTITIONS=$2 && shift 2 ;;
  --records) RECORDS=$2 && shift 2 ;;
  --duration) DURATION=$2 && shift 2 ;;
  --runs) RUNS=$2 && shift 2 ;;
  --verify) VERIFY=$2 && shift 2 ;;
  --out) OUT=$2 && shift 2 ;;
  -h | --help)
    usage_header "${BASH_SOURCE[0]}"
    exit 0
    ;;
  *) die "unknown option '$1' (see --help)" ;;
  esac
done
require_positive "$TOPICS" "$PARTITIONS" "$RECORDS" "$DURATION" "$RUNS" "$VERIFY"
((DURATION >= 5)) || die "--duration must be at least 5 seconds"

BROKERS=$KD_HOST:$KD_KAFKA_PORT
KD=${CARGO_TARGET_DIR:-$KD_ROOT/target}/release/kafkademo
WORK=$KD_ROOT/target/top-cost
mkdir -p "$WORK" "$(dirname "$OUT")"

say "Building kafkademo (release)"
(cd "$KD_ROOT" && cargo build --release --quiet) || die "cargo build --release failed"

cleanup() { stop_started_broker kraft quiet; }
trap cleanup EXIT
trap 'exit 130' INT TERM

start_broker_unless_up kraft "(KRaft), stopped at the end"
((STARTED_BROKER)) || say "Using the broker that runs on $BROKERS"
# The broker's pid, for its CPU time and its log: ours from the pid file,
# else the listener's owner.
BROKER_PID=$(pid_alive "$KD_KAFKA_PID" "$KD_KAFKA_MAIN" || true)
if [[ -z $BROKER_PID ]] && command -v ss >/dev/null 2>&1; then
  BROKER_PID=$(ss -ltnpH "sport = :$KD_KAFKA_PORT" 2>/dev/null | sed -n 's/.*pid=\([0-9]*\).*/\1/p' | head -n 1)
fi
[[ -n $BROKER_PID && -r /proc/$BROKER_PID/stat ]] || die "cannot find the broker's process (for its CPU time)"

# The topics and groups are made and deleted by kafkademo (Ctrl-C included).
"$KD" --brokers "$BROKERS" bench top-cost --topics "$TOPICS" --partitions "$PARTITIONS" \
  --records "$RECORDS" --duration "$DURATION" --runs "$RUNS" --verify "$VERIFY" \
  --broker-pid "$BROKER_PID" --server-log "$KD_LOGS/server.log" \
  --kafka "$(running_version 2>/dev/null || echo '?')" --out "$OUT" --work "$WORK"
