#!/usr/bin/env bash
# make bench: kafkademo against Kafka's own perf tools and kcat, on Kafka 3.9
# and on Kafka 4.4, in one run. On each Kafka line it runs one single broker
# and, for 100 B and 1 KB records, produces with acks=1 and acks=all and
# consumes from the start of a filled topic, ROUNDS times with the clients in
# a different order each round. The clients: kafkademo on each data path the
# broker accepts (classic: the kafka crate, Kafka <= 3.9 only; modern: record
# batches over kafka-protocol), Java's ProducerPerformance/ConsumerPerformance
# of the same Kafka version, and kcat. It also times the console producers:
# `kafkademo produce --topic T < FILE` against `kcat -P -l FILE` on
# RECORDS_CONSOLE lines of 100 B, each tool with its own defaults (kafkademo
# acks=1, kcat librdkafka's acks=all; neither idempotent), on the project's
# broker and then, ROUNDS times again, on a broker with Kafka's shipped
# server.properties (KAFKA_STOCK=1, config/stock/; KRaft) on STOCK_PORT
# (default KAFKA_PORT+100), started for the purpose unless a stock broker of
# that version runs there (rows "VERSION stock"; STOCK=0 leaves them out).
# Then one table of medians: records/s, MB/s,
# peak RSS, client and broker CPU per record, and the modern path's ratio to
# each peer. Writes the table, the raw results and one SVG plot per Kafka
# line under OUT (target/bench-compare).
#
# This script installs, starts and stops the brokers; the measuring loop
# (the rounds, the topics, each client spawned and measured: wall time,
# peak RSS and CPU from wait4, the broker's CPU from /proc) is the hidden
# `kafkademo bench compare` (src/commands/bench/compare.rs), called once per
# Kafka line and once per stock broker.
#
# TLS rows (TLS=1, the default): each line's broker is the secured one
# (KAFKA_SECURITY=1, docs/security.md), and kafkademo modern and kcat also
# produce (acks=1) and consume through its SSL listener (KAFKA_PORT+2, mutual
# TLS as user alice, on topics named secure.a.*), so a second table gives
# what TLS costs each of them: its records/s over TLS as a share of its own
# plaintext records/s on the same broker in the same run.
#
# Each Kafka line runs on 127.0.0.1:9092 (KAFKA_PORT): a broker of that
# version already running there is used and left running; otherwise the
# script starts one (scripts/kafka-up.sh with KAFKA_VERSION) and stops it
# when that line is done. A broker of another version running there is an
# error (stop it with make kafka-down, or choose the lines with VERSIONS).
#
# Options (or environment): --versions "V ..." (VERSIONS, "3.9.2 4.4.0"),
# --rounds N (ROUNDS, 3), --records-100 N (RECORDS_100, 3000000),
# --records-1k N (RECORDS_1K, 600000), --records-console N (RECORDS_CONSOLE,
# 1000000), --partitions N (PARTITIONS, 4), --out DIR (OUT), --svg PREFIX
# (SVG; also copy each plot to PREFIX-VERSION.svg), --no-tls (TLS=0),
# --no-stock (STOCK=0), --stock-port N (STOCK_PORT).
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

VERSIONS=${VERSIONS:-3.9.2 4.4.0}
ROUNDS=${ROUNDS:-3}
RECORDS_100=${RECORDS_100:-3000000}
RECORDS_1K=${RECORDS_1K:-600000}
RECORDS_CONSOLE=${RECORDS_CONSOLE:-1000000}
PARTITIONS=${PARTITIONS:-4}
TLS=${TLS:-1}
STOCK=${STOCK:-1}
STOCK_PORT=${STOCK_PORT:-$((KD_KAFKA_PORT + 100))}
OUT=${OUT:-$KD_ROOT/target/bench-compare}
SVG_COPY=${SVG:-}
while [[ $# -gt 0 ]]; do
  case $1 in
  --versions) VERSIONS=$2 && shift 2 ;;
  --rounds) ROUNDS=$2 && shift 2 ;;
  --records-100) RECORDS_100=$2 && shift 2 ;;
  --records-1k) RECORDS_1K=$2 && shift 2 ;;
  --records-console) RECORDS_CONSOLE=$2 && shift 2 ;;
  --partitions) PARTITIONS=$2 && shift 2 ;;
  --out) OUT=$2 && shift 2 ;;
  --svg) SVG_COPY=$2 && shift 2 ;;
  --no-tls) TLS=0 && shift ;;
  --no-stock) STOCK=0 && shift ;;
  --stock-port) STOCK_PORT=$2 && shift 2 ;;
  -h | --help)
    sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'
    exit 0
    ;;
  *) die "unknown option '$1' (see --help)" ;;
  esac
done
for n in "$ROUNDS" "$RECORDS_100" "$RECORDS_1K" "$RECORDS_CONSOLE" "$PARTITIONS" "$STOCK_PORT"; do
  [[ $n =~ ^[1-9][0-9]*$ ]] || die "'$n' is not a positive number"
done
read -r -a KAFKA_LINES <<<"$VERSIONS"
((${#KAFKA_LINES[@]} > 0)) || die "VERSIONS names no Kafka version"
for v in "${KAFKA_LINES[@]}"; do
  [[ $v =~ ^[34]\.[0-9]+\.[0-9]+$ ]] || die "'$v' is not a Kafka release 3.x.y or 4.x.y"
done

BROKERS=$KD_HOST:$KD_KAFKA_PORT
# The SSL listener of the secured broker, and alice's key and certificate
# (scripts/kafka-certs.sh), for the TLS rows; TLS_ON says whether the line
# being measured has them.
TLS_BROKERS=$KD_HOST:$((KD_KAFKA_PORT + 2))
TLS_ON=0
# Topics alice may use (her ACLs cover the prefix secure.a); PLAINTEXT clients
# are super users, so every topic of a secured line is named so.
TOPIC_PREFIX=
KD=${CARGO_TARGET_DIR:-$KD_ROOT/target}/release/kafkademo
RUN_ID=$$
WORK=$OUT/work
mkdir -p "$OUT" "$WORK"
RESULTS=$OUT/results.tsv

# ---- setup: tools, brokers ---------------------------------------------------

# The Kafka line being measured, and whether this script started its broker.
LINE=
STARTED_BROKER=0
stop_started_broker() {
  if ((STARTED_BROKER)); then
    say "Stopping the Kafka $LINE broker this script started"
    KAFKA_VERSION=$LINE "$KD_ROOT/scripts/kafka-down.sh" || true
    STARTED_BROKER=0
  fi
}
# The version of the stock broker this script started and has not stopped.
STOCK_STARTED=
stop_started_stock() {
  if [[ -n $STOCK_STARTED ]]; then
    say "Stopping the stock Kafka $STOCK_STARTED broker this script started"
    KAFKA_STOCK=1 KAFKA_MODE=kraft KAFKA_PORT=$STOCK_PORT KAFKA_VERSION=$STOCK_STARTED \
      "$KD_ROOT/scripts/kafka-stop.sh" || true
    STOCK_STARTED=
  fi
}
cleanup() {
  stop_started_broker
  stop_started_stock
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# kcat is what the console producer is measured against: no run without it.
command -v kcat >/dev/null 2>&1 || die "kcat is missing: install it (apt-get install kcat) and run again"

say "Building kafkademo (release)"
(cd "$KD_ROOT" && cargo build --release --quiet) || die "cargo build --release failed"

# use_line VERSION: makes a Kafka VERSION broker answer on $BROKERS (starting
# one if none runs) and sets LINE, STARTED_BROKER, BROKER_PID and CLIENTS.
use_line() {
  local v=$1 running
  LINE=$v
  STARTED_BROKER=0
  if kafka_probe 3; then
    if pid_alive "$KD_KAFKA_PID" "$KD_KAFKA_MAIN" >/dev/null; then
      running=$(running_version)
      [[ $running == "$v" ]] ||
        die "Kafka $running runs on $BROKERS, and this run measures Kafka $v next: stop it first (make kafka-down), or choose the lines (VERSIONS=$running make bench)"
    elif ((${#KAFKA_LINES[@]} > 1)); then
      die "a broker the scripts did not start answers on $BROKERS and its version is unknown: stop it, or measure it alone (VERSIONS=<its version> make bench)"
    fi
    say "Using the Kafka $v broker that runs on $BROKERS"
  else
    say "No broker answers on $BROKERS: starting Kafka $v (and stopping it when its rounds end)"
    STARTED_BROKER=1
    KAFKA_SECURITY=$TLS KAFKA_VERSION=$v "$KD_ROOT/scripts/kafka-up.sh"
  fi
  TLS_ON=0 TOPIC_PREFIX=
  if ((TLS)); then
    if [[ $(running_security 2>/dev/null || true) == 1 ]]; then
      TLS_ON=1 TOPIC_PREFIX=secure.a.
    else
      warn "Kafka $v runs without security (not started by this run with KAFKA_SECURITY=1): no TLS rows"
    fi
  fi
  # The broker's pid, for its CPU time: ours from the pid file, else the
  # listener's owner. Empty when unknown (then broker CPU reads n/a).
  BROKER_PID=$(pid_alive "$KD_KAFKA_PID" "$KD_KAFKA_MAIN" || true)
  if [[ -z $BROKER_PID ]] && command -v ss >/dev/null 2>&1; then
    BROKER_PID=$(ss -ltnpH "sport = :$KD_KAFKA_PORT" 2>/dev/null | sed -n 's/.*pid=\([0-9]*\).*/\1/p' | head -n 1)
  fi
  # Kafka 4.x refuses every request version the kafka crate speaks.
  if [[ $v == 3.* ]]; then
    CLIENTS=(classic modern java kcat)
  else
    CLIENTS=(modern java kcat)
  fi
}

CLK_TCK=$(getconf CLK_TCK)
broker_ticks() {
  if [[ -n $BROKER_PID && -r /proc/$BROKER_PID/stat ]]; then
    # utime + stime; the command name (field 2) is "(java)", without spaces.
    awk '{print $14 + $15}' "/proc/$BROKER_PID/stat"
  else
    echo -1
  fi
}

# The broker's CPU use over 3 s with none of our clients running: on a shared
# broker, other clients' load is in every broker CPU figure below.
broker_background() {
  local t0 t1
  t0=$(broker_ticks)
  sleep 3
  t1=$(broker_ticks)
  if ((t0 < 0 || t1 < 0)); then
    echo "n/a"
  else
    awk -v d=$((t1 - t0)) -v t="$CLK_TCK" 'BEGIN {printf "%.0f%% of a core", d / t / 3 * 100}'
  fi
}

# ---- the machine -------------------------------------------------------------

machine() {
  local cpu mem
  cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
  mem=$(awk '/^MemTotal:/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo)
  say "machine:   $(nproc) CPUs ($cpu), $mem memory, kernel $(uname -r)"
  say "load:      $(cut -d' ' -f1-3 /proc/loadavg) (1, 5, 15 min) at start"
  say "kafka:     ${KAFKA_LINES[*]}, one broker at a time on $BROKERS, $PARTITIONS partitions per topic, replication factor 1"
  say "kafkademo: $("$KD" --version | cut -d' ' -f2) ($(rustc --version 2>/dev/null | cut -d' ' -f1-2)), release build"
  say "java:      $(java -version 2>&1 | head -n 1); perf tools of each broker's version, their defaults, heap ${KAFKA_TOOLS_HEAP_OPTS:--Xmx512m}"
  say "kcat:      $(kcat -V 2>&1 | sed -n 's/^Version \([^ ]*\).*librdkafka \([^ ]*\).*/\1, librdkafka \2/p')"
  say "rounds:    $ROUNDS, clients alternating; records: $RECORDS_100 of 100 B, $RECORDS_1K of 1 KB, $RECORDS_CONSOLE console lines of 100 B"
}
machine | tee "$OUT/machine.txt"

# ---- the runs ------------------------------------------------------------------

rm -f "$RESULTS"

# compare ARGS...: one Kafka line's (or stock broker's) rounds, appended to
# results.tsv by kafkademo; CLIENTS in round 1's order.
compare() {
  local clients
  clients=$(
    IFS=,
    echo "${CLIENTS[*]}"
  )
  "$KD" --brokers "$BROKERS" bench compare --kafka "$LINE" --results "$RESULTS" --work "$WORK" \
    --clients "$clients" --rounds "$ROUNDS" --records-100 "$RECORDS_100" --records-1k "$RECORDS_1K" \
    --records-console "$RECORDS_CONSOLE" --partitions "$PARTITIONS" --run-id "$RUN_ID" \
    --java-runner "$KD_ROOT/scripts/kafka-class.sh" ${BROKER_PID:+--broker-pid "$BROKER_PID"} "$@"
}

# bench_line VERSION: every round on a Kafka VERSION broker.
bench_line() {
  use_line "$1"
  {
    say "Kafka $LINE: $(running_mode) mode, clients: ${CLIENTS[*]}"
    say "broker:    $(broker_background) busy with no bench running, at start"
  } | tee -a "$OUT/machine.txt"
  local -a tls=()
  if ((TLS_ON)); then
    tls=(--tls-brokers "$TLS_BROKERS" --tls-dir "$KD_SECURE_DIR" --topic-prefix "$TOPIC_PREFIX")
  fi
  compare "${tls[@]}"
  say "broker:    $(broker_background) busy with no bench running, at the end of Kafka $LINE" |
    tee -a "$OUT/machine.txt"
  stop_started_broker
  if ((STOCK)); then stock_line "$1"; fi
}

# stock_line VERSION: the console rows again, ROUNDS times, on a broker with
# Kafka's shipped server.properties (KAFKA_STOCK=1) on STOCK_PORT.
stock_line() {
  local v=$1 client run_dir=$KD_DIR/run/stock
  local -a stock_env=(KAFKA_STOCK=1 KAFKA_MODE=kraft "KAFKA_PORT=$STOCK_PORT" "KAFKA_VERSION=$v")
  if ! pid_alive "$run_dir/kafka.pid" "$KD_KAFKA_MAIN" >/dev/null; then
    say "Starting a stock Kafka $v broker (Kafka's shipped server.properties) on $KD_HOST:$STOCK_PORT"
    STOCK_STARTED=$v
    env "${stock_env[@]}" "$KD_ROOT/scripts/kafka-up.sh" || die "the stock Kafka $v broker did not start"
  else
    # The scripts say whether the one that runs is the one asked for.
    env "${stock_env[@]}" "$KD_ROOT/scripts/kafka-up.sh" >/dev/null || die "another stock broker runs: stop it (KAFKA_STOCK=1 KAFKA_PORT=$STOCK_PORT make kafka-down)"
  fi
  LINE="$v stock"
  BROKERS=$KD_HOST:$STOCK_PORT
  BROKER_PID=$(pid_alive "$run_dir/kafka.pid" "$KD_KAFKA_MAIN" || true)
  say "broker:    $(broker_background) busy with no bench running, stock Kafka $v on $BROKERS" |
    tee -a "$OUT/machine.txt"
  # The console producers only; the broker is warmed up first (not timed:
  # a broker just started runs its first requests before the JIT compiled
  # them, as the project's broker does while the consumers' topics are
  # filled).
  local -a clients=("${CLIENTS[@]}")
  CLIENTS=()
  for client in "${clients[@]}"; do
    [[ $client == java ]] || CLIENTS+=("$client")
  done
  compare --console-only --warm "$RECORDS_CONSOLE"
  CLIENTS=("${clients[@]}")
  BROKERS=$KD_HOST:$KD_KAFKA_PORT
  stop_started_stock
}

for v in "${KAFKA_LINES[@]}"; do bench_line "$v"; done

# ---- the table --------------------------------------------------------------------

say "load:      $(cut -d' ' -f1-3 /proc/loadavg) (1, 5, 15 min) at the end" | tee -a "$OUT/machine.txt"
# medians per (kafka, op, size, acks, client), the modern path's ratio to
# each other client, and what TLS costs each client
"$KD" bench table "$RESULTS" | tee "$OUT/table.md"
for v in "${KAFKA_LINES[@]}"; do
  # the chart: MB/s by record size, one bar per client, a panel per op
  "$KD" bench plot "$RESULTS" --kafka "$v" --out "$OUT/throughput-$v.svg" || die "bench plot failed"
  if [[ -n $SVG_COPY ]]; then cp "$OUT/throughput-$v.svg" "$SVG_COPY-$v.svg"; fi
done
say "MB/s is MiB (2^20 bytes) of record values per second; CPU is user + system time per record;"
say "broker CPU includes whatever else the broker did meanwhile (see 'broker:' above)."
say "console: stdin lines to a topic, records over the whole process's wall time (start-up included),"
say "each tool at its defaults (kafkademo acks=1, kcat acks=all; neither idempotent); 'stock': Kafka's shipped server.properties."
say "Results in ${OUT#"$KD_ROOT"/}/: table.md, results.tsv, throughput-VERSION.svg, machine.txt"
