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
#               first that sees all N. Peak RSS by /usr/bin/time -v (for Kafka
#               Streams: the JVM). ROUNDS rounds, the processors in turn (each
#               round starts one further along), a fresh application id each
#               time; medians.
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
# Uses the broker at 127.0.0.1:9092 (KAFKA_PORT); starts Kafka 3.9 if none
# answers and stops only a broker it started. Deletes the topics and stream
# applications it created, and Kafka Streams' state directory, at the end.
# The retention figure reads changelog sizes with Kafka's LogDirsCommand
# (scripts/kafka-class.sh: Kafka installed in .kafka, or KAFKA_HOME).
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

ALL_PROCESSORS="kafkademo-eos kafkademo-unfenced kstreams-eos kstreams-alos"
RECORDS=${RECORDS:-5000000}
KEYS=${KEYS:-100}
PARTITIONS=${PARTITIONS:-4}
ROUNDS=${ROUNDS:-3}
E2E_RATE=${E2E_RATE:-10000}
E2E_DURATION=${E2E_DURATION:-20s}
E2E_WARMUP=${E2E_WARMUP:-2s}
RESTORE_RECORDS=${RESTORE_RECORDS:-1000000}
PROCESSORS=${PROCESSORS:-$ALL_PROCESSORS}
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
require_positive "$RECORDS" "$KEYS" "$PARTITIONS" "$ROUNDS" "$E2E_RATE" "$RESTORE_RECORDS" "$RETENTION_TICKS"
for d in "$E2E_DURATION" "$E2E_WARMUP" "$RETENTION_GRACE"; do
  [[ $d =~ ^[0-9]+(ms|s)$ ]] || die "'$d' is not a duration such as 20s or 500ms"
done
for p in $PROCESSORS $RESTORE_PROCESSORS $RETENTION_PROCESSORS; do
  [[ " $ALL_PROCESSORS " == *" $p "* ]] || die "unknown processor '$p' ($ALL_PROCESSORS)"
done
for s in $SPANS; do
  [[ $s =~ ^[1-9][0-9]*[smhd]$ ]] || die "'$s' is not a span such as 1h or 1d"
done
for f in $FIGURES; do
  case $f in
  throughput | latency | restore | retention) ;;
  *) die "unknown figure '$f' (throughput, latency, restore, retention)" ;;
  esac
done
BROKERS=$KD_HOST:$KD_KAFKA_PORT
KD=$KD_ROOT/target/release/kafkademo
KS=$KD_ROOT/scripts/kstreams.sh
TIME=/usr/bin/time
RUN_ID=$$
WORK=$OUT/work
STATE=$WORK/state
mkdir -p "$WORK" "$STATE"
# the logs of an earlier run
rm -f "$WORK"/tp-* "$WORK"/e2e-* "$WORK"/restore-* "$WORK"/retention-*
RESULTS=$OUT/results.tsv
export KAFKA_BROKERS=$BROKERS

# kafkademo's global flags for `stream count` (-v in the retention figure's
# restart, for the open windows each task restored)
KD_FLAGS=()
TOPICS=()
APPS=()
PIDS=()
# child PID: the process /usr/bin/time PID runs (kafkademo, or the JVM:
# scripts/kstreams.sh execs java), empty if none.
child() {
  { ps --ppid "$1" -o pid= 2>/dev/null || true; } | head -n 1 | tr -d ' '
}
cleanup() {
  local pid c t a
  for pid in "${PIDS[@]}"; do
    c=$(child "$pid")
    if [[ -n $c ]]; then kill -9 "$c" 2>/dev/null || true; fi
    kill -9 "$pid" 2>/dev/null || true
  done
  # A killed instance stays in its group until its session (6 s) ends, and
  # reset refuses while it does: wait for that first.
  for a in "${APPS[@]}"; do
    wait_left "$a" 2>/dev/null || true
    "$KD" -q stream reset --application-id "$a" >/dev/null 2>&1 || warn "could not reset application $a"
  done
  for t in "${TOPICS[@]}"; do "$KD" -q topic delete "$t" --if-exists >/dev/null 2>&1 || true; done
  rm -rf "$STATE"
  rm -f "$WORK"/*.fifo-out "$WORK"/*.fifo-err
  stop_started_broker
}
trap cleanup EXIT
trap 'exit 130' INT TERM

[[ -x $TIME ]] || die "$TIME is missing: install the 'time' package (apt-get install -y time)"
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

# ---- helpers --------------------------------------------------------------------

# committed GROUP: the sum of the group's committed offsets.
# 0 before the group exists.
committed() {
  { "$KD" -q group describe "$1" 2>/dev/null || true; } |
    awk 'NR > 2 && $3 ~ /^[0-9]+$/ {s += $3} END {print s + 0}'
}

# group_state GROUP: Stable, Empty, ... (empty when there is no such group).
group_state() {
  { "$KD" -q group describe "$1" 2>/dev/null || true; } |
    sed -n '1s/.*: state \([A-Za-z]*\).*/\1/p'
}

# new_topic NAME [compact]: a topic of PARTITIONS partitions, deleted at the end.
new_topic() {
  local -a config=()
  if [[ ${2:-} == compact ]]; then config=(--config cleanup.policy=compact); fi
  "$KD" -q topic create "$1" --partitions "$PARTITIONS" "${config[@]}" >/dev/null
  TOPICS+=("$1")
}

# wait_left APP: waits (up to 30 s) until the application's group has no
# member. Kafka Streams does not leave the group when it closes: its member
# stays until the session timeout (6 s here) ends.
wait_left() {
  local n
  for ((n = 0; n < 150; n++)); do
    case $(group_state "$1") in
    Empty | Dead | '') return 0 ;;
    esac
    sleep 0.2
  done
  warn "group $1 still has members 30 s after its instance stopped"
}

# drop_app APP: forgets a stopped application (internal topics, group).
drop_app() {
  wait_left "$1"
  "$KD" -q stream reset --application-id "$1" >/dev/null 2>&1 ||
    warn "could not reset application $1 (retried at exit)"
}

# input FILE N STEP_MS WINDOW_MS: N lines KEY:{"t":MS}, keys k00.. cycling
# over KEYS, event time advancing N * STEP_MS from a window boundary, ending
# at least a minute ago (and starting at least 20 minutes ago).
input() {
  events "$1" 0 "$2" "$3" "$(event_base "$2" "$3" "$4")"
}

# event_base N STEP_MS WINDOW_MS: where input's event time starts (epoch ms).
event_base() {
  awk -v n="$1" -v step="$2" -v window="$3" -v now="$(date +%s)" 'BEGIN {
    span = n * step / 1000 + 60
    back = (span > 1200) ? span : 1200
    # %.0f: mawk prints big numbers as 1.7e+12, and its %d has 32 bits
    printf "%.0f\n", int((now - back) * 1000 / window) * window
  }'
}

# events FILE FROM TO STEP_MS BASE: lines FROM..TO-1 of that sequence (the
# record number i at BASE + i * STEP_MS, key i mod KEYS).
events() {
  awk -v from="$2" -v to="$3" -v keys="$KEYS" -v step="$4" -v base="$5" 'BEGIN {
    w = length(sprintf("%d", keys - 1)); if (w < 2) w = 2
    fmt = "k%0" w "d:{\"t\":%s}\n"
    for (i = from; i < to; i++) printf fmt, i % keys, sprintf("%.0f", base + int(i * step))
  }' >"$1"
}

# stamp: each line of stdin with the epoch milliseconds it arrived at.
stamp() {
  local line s
  while IFS= read -r line || [[ -n $line ]]; do
    s=${EPOCHREALTIME/[.,]/}
    printf '%s %s\n' "${s:0:${#s}-3}" "$line"
  done
}

# launch NAME CMD...: runs CMD under time -v (report in WORK/NAME.time), its
# stdout and stderr timestamped line by line into WORK/NAME.out, NAME.err.
# Sets PROC (time's pid) and PROC_START (epoch ms).
launch() {
  local name=$1 base
  shift
  base=$WORK/$name
  rm -f "$base.fifo-out" "$base.fifo-err"
  mkfifo "$base.fifo-out" "$base.fifo-err"
  # The stamps read FIFOs (not process substitutions), so the command is
  # time's only child.
  stamp <"$base.fifo-out" >"$base.out" &
  stamp <"$base.fifo-err" >"$base.err" &
  PROC_START=$(now_ms)
  "$TIME" -v -o "$base.time" "$@" >"$base.fifo-out" 2>"$base.fifo-err" </dev/null &
  PROC=$!
  PIDS+=("$PROC")
}

# start PROCESSOR NAME APP IN OUT ARGS...: one processor instance, with the
# windowing ARGS of the figure (kafkademo flags; the peer takes the same).
# Both with a 6 s session timeout, so that a stopped Kafka Streams instance
# (which does not leave its group) is gone from the group soon.
start() {
  local p=$1 name=$2 app=$3 in=$4 out=$5 guarantee
  shift 5
  case $p in
  kafkademo-*)
    guarantee=exactly-once
    if [[ $p == kafkademo-unfenced ]]; then guarantee=unfenced; fi
    launch "$name" "$KD" "${KD_FLAGS[@]}" stream count --input "$in" --output "$out" --application-id "$app" \
      --time-field t --session-timeout 6s --guarantee "$guarantee" "$@"
    ;;
  kstreams-*)
    guarantee=at_least_once
    if [[ $p == kstreams-eos ]]; then guarantee=exactly_once_v2; fi
    launch "$name" "$KS" run --bootstrap "$BROKERS" --input "$in" --output "$out" \
      --application-id "$app" --time-field t --session-timeout 6s --guarantee "$guarantee" \
      --commit-interval 100ms --state-dir "$STATE/$app" "$@"
    ;;
  esac
}

# is_kd PROCESSOR: whether it is kafkademo (else Kafka Streams).
is_kd() { [[ $1 == kafkademo-* ]]; }

# stop PID SIGNAL: signals the process time PID runs (kafkademo: INT, Kafka
# Streams: TERM) and waits for it (60 s, then SIGKILL).
stop() {
  local pid=$1 sig=$2 c n
  c=$(child "$pid")
  if [[ -n $c ]]; then kill "-$sig" "$c" 2>/dev/null || true; fi
  for ((n = 0; n < 600; n++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    warn "pid ${c:-?} did not stop within 60 s of SIG$sig: SIGKILL"
    c=$(child "$pid")
    if [[ -n $c ]]; then kill -9 "$c" 2>/dev/null || true; fi
  fi
  wait "$pid" 2>/dev/null || true
  # gone: the cleanup must not signal a recycled pid
  local -a live=()
  for c in "${PIDS[@]}"; do [[ $c == "$pid" ]] || live+=("$c"); done
  PIDS=("${live[@]}")
}

stop_signal() { if is_kd "$1"; then echo INT; else echo TERM; fi; }

# logs NAME: the end of a processor's logs, for a failure.
logs() {
  local f
  for f in "$WORK/$1.err" "$WORK/$1.out"; do
    [[ -s $f ]] || continue
    printf -- '--- last 15 lines of %s ---\n' "${f#"$KD_ROOT"/}" >&2
    tail -n 15 "$f" >&2
  done
}

# wait_line NAME FILE REGEX SECS: waits until a line of WORK/NAME.FILE
# matches REGEX while the processor PROC lives; sets LINE_MS (when the line
# came) and LINE (the line).
wait_line() {
  local name=$1 file=$WORK/$1.$2 re=$3 secs=$4 deadline hit
  deadline=$(($(now_ms) + secs * 1000))
  while :; do
    hit=$({ grep -m 1 -E -- "$re" "$file" 2>/dev/null || true; })
    if [[ -n $hit ]]; then
      LINE_MS=${hit%% *}
      LINE=${hit#* }
      return 0
    fi
    if ! kill -0 "$PROC" 2>/dev/null; then
      warn "$name exited before printing /$re/"
      logs "$name"
      return 1
    fi
    if (($(now_ms) >= deadline)); then
      warn "$name printed no /$re/ within ${secs}s"
      logs "$name"
      return 1
    fi
    sleep 0.02
  done
}

# ready PROCESSOR NAME SECS: waits until a freshly started processor runs:
# kafkademo's restored line, Kafka Streams' RUNNING.
ready() {
  if is_kd "$1"; then
    wait_line "$2" err "stream count: tasks .* restored from" "$3"
  else
    wait_line "$2" out "^[0-9]+ RUNNING$" "$3"
  fi
}

# wait_committed APP N SECS NAME: polls the group's committed offsets every
# ~100 ms until they reach N; sets T0/C0 (the first poll that saw progress)
# and T1 (the first that saw all N), epoch ms.
wait_committed() {
  local app=$1 n=$2 secs=$3 name=$4 c t deadline
  T0='' C0='' T1=''
  deadline=$(($(now_ms) + secs * 1000))
  while :; do
    t=$(now_ms)
    c=$(committed "$app")
    if [[ -z $T0 ]] && ((c > 0)); then
      T0=$t
      C0=$c
    fi
    if ((c >= n)); then
      T1=$t
      return 0
    fi
    if ! kill -0 "$PROC" 2>/dev/null; then
      # kafkademo --exit-at-end commits last thing before it exits
      c=$(committed "$app")
      if ((c >= n)); then
        T1=$(now_ms)
        [[ -n $T0 ]] || { T0=$T1 && C0=$c; }
        return 0
      fi
      warn "$name exited with $c of $n input records committed"
      logs "$name"
      return 1
    fi
    if (($(now_ms) >= deadline)); then
      warn "$name committed $c of $n input records within ${secs}s"
      logs "$name"
      return 1
    fi
    sleep 0.1
  done
}

# result FIGURE PROCESSOR ROUND METRIC VALUE
result() {
  printf '%s\t%s\t%s\t%s\t%s\n' "$@" >>"$RESULTS"
}

peak_rss_kb() {
  awk -F': ' '/Maximum resident set size/ {print $2}' "$WORK/$1.time"
}

printf 'figure\tprocessor\tround\tmetric\tvalue\n' >"$RESULTS"

# ---- 1. throughput --------------------------------------------------------------

# in_turn LIST ROUND: the words of LIST starting at word ROUND (1-based,
# modulo their number): each round starts with the next processor, so
# that a burst of load elsewhere hits all of them alike.
in_turn() {
  local -a w
  read -r -a w <<<"$1"
  local n=${#w[@]} i
  for ((i = 0; i < n; i++)); do printf '%s\n' "${w[(i + $2 - 1) % n]}"; done
}

# throughput_run PROCESSOR ROUND IN
throughput_run() {
  local p=$1 round=$2 in=$3 app out name rps from_start rss
  app=kd-sbench-$RUN_ID-tp-$p-$round
  out=$app-out
  name=tp-$p-$round
  APPS+=("$app")
  new_topic "$out" compact
  if is_kd "$p"; then
    start "$p" "$name" "$app" "$in" "$out" --window 10s --grace 2s --emit updates --exit-at-end
  else
    start "$p" "$name" "$app" "$in" "$out" --window 10s --grace 2s --emit updates \
      --cache-bytes 10485760
  fi
  if ! wait_committed "$app" "$RECORDS" 600 "$name"; then
    stop "$PROC" KILL
    return 1
  fi
  stop "$PROC" "$(stop_signal "$p")"
  rss=$(peak_rss_kb "$name")
  if ((T1 > T0)); then
    rps=$(awk -v n="$RECORDS" -v c="$C0" -v ms=$((T1 - T0)) 'BEGIN {printf "%.0f", (n - c) * 1000 / ms}')
  else
    rps=NaN
    warn "$name: all $RECORDS records were committed at the first poll that saw progress: no rate (use more --records)"
  fi
  from_start=$(awk -v n="$RECORDS" -v ms=$((T1 - PROC_START)) 'BEGIN {printf "%.0f", n * 1000 / ms}')
  result throughput "$p" "$round" records_per_s "$rps"
  result throughput "$p" "$round" records_per_s_from_start "$from_start"
  result throughput "$p" "$round" peak_rss_kb "$rss"
  printf '  %-18s round %d: %9s records/s (first progress seen at %d of %d, all after %.1f s more)  %9s records/s from start  peak RSS %6.1f MB  (load %s)\n' \
    "$p" "$round" "$rps" "$C0" "$RECORDS" "$(awk -v ms=$((T1 - T0)) 'BEGIN {print ms / 1000}')" "$from_start" \
    "$(awk -v k="$rss" 'BEGIN {print k / 1024}')" "$(cut -d' ' -f1 /proc/loadavg)"
  drop_app "$app"
  "$KD" -q topic delete "$out" --if-exists >/dev/null 2>&1 || true
  rm -rf "${STATE:?}/$app"
}

if [[ " $FIGURES " == *" throughput "* ]]; then
  in=kd-sbench-$RUN_ID-tp-in
  say "Throughput: $RECORDS records over $KEYS keys into $in ($PARTITIONS partitions); load $(cut -d' ' -f1-3 /proc/loadavg)"
  input "$WORK/throughput.txt" "$RECORDS" 1 10000
  new_topic "$in"
  "$KD" -q produce --topic "$in" --key-separator : <"$WORK/throughput.txt" || die "producing the input failed"
  rm -f "$WORK/throughput.txt"
  for ((round = 1; round <= ROUNDS; round++)); do
    for p in $(in_turn "$PROCESSORS" "$round"); do
      throughput_run "$p" "$round" "$in" || warn "throughput: $p round $round failed"
    done
  done
  "$KD" -q topic delete "$in" --if-exists >/dev/null 2>&1 || true
fi

# ---- 2. end-to-end latency ----------------------------------------------------------

# json_number FILE KEY: the number after "KEY": in a one-line JSON report.
json_number() {
  { sed -n 's/.*"'"$2"'":\([0-9.eE+-]*\).*/\1/p' "$1" 2>/dev/null || true; } | head -n 1
}

# latency_run PROCESSOR ROUND
latency_run() {
  local p=$1 round=$2 app in out name json
  app=kd-sbench-$RUN_ID-e2e-$p-$round
  in=$app-in
  out=$app-out
  name=e2e-$p-$round
  APPS+=("$app")
  new_topic "$in"
  new_topic "$out" compact
  if is_kd "$p"; then
    start "$p" "$name" "$app" "$in" "$out" --window 10s --grace 2s --emit updates
  else
    start "$p" "$name" "$app" "$in" "$out" --window 10s --grace 2s --emit updates --cache-bytes 0
  fi
  if ! ready "$p" "$name" 120; then
    stop "$PROC" KILL
    return 1
  fi
  json=$WORK/$name.json
  if ! "$KD" -q bench stream-e2e --input "$in" --output "$out" --rate "$E2E_RATE" \
    --duration "$E2E_DURATION" --warmup "$E2E_WARMUP" --format json >"$json" 2>"$WORK/$name.bench-err"; then
    warn "bench stream-e2e against $p failed:"
    cat "$WORK/$name.bench-err" >&2
    stop "$PROC" "$(stop_signal "$p")"
    return 1
  fi
  stop "$PROC" "$(stop_signal "$p")"
  local q v
  for q in p50 p99 max; do
    v=$(json_number "$json" "$q")
    result latency "$p" "$round" "latency_${q}_ms" "${v:-NaN}"
  done
  printf '  %-18s round %d: %s of %s records back; latency p50 %s ms, p99 %s ms, max %s ms  (load %s)\n' "$p" "$round" \
    "$(json_number "$json" received)" "$(json_number "$json" sent)" \
    "$(json_number "$json" p50)" "$(json_number "$json" p99)" "$(json_number "$json" max)" "$(cut -d' ' -f1 /proc/loadavg)"
  drop_app "$app"
  "$KD" -q topic delete "$in" --if-exists >/dev/null 2>&1 || true
  "$KD" -q topic delete "$out" --if-exists >/dev/null 2>&1 || true
  rm -rf "${STATE:?}/$app"
}

if [[ " $FIGURES " == *" latency "* ]]; then
  say "End-to-end latency: bench stream-e2e at $E2E_RATE records/s for $E2E_DURATION into each processor; load $(cut -d' ' -f1-3 /proc/loadavg)"
  for ((round = 1; round <= ROUNDS; round++)); do
    for p in $(in_turn "$PROCESSORS" "$round"); do
      latency_run "$p" "$round" || warn "latency: $p round $round failed"
    done
  done
fi

# ---- restarts -------------------------------------------------------------------

# restart FIGURE ROUND PROCESSOR NAME APP IN OUT ARGS...: starts the
# stopped application again (Kafka Streams with its state directory
# deleted: everything comes back from the changelog), waits until it has
# restored, stops it, and records what the restore read and took.
restart() {
  local figure=$1 round=$2 p=$3 name=$4 app=$5 in=$6 out=$7 wall
  shift 7
  # The restart must not wait for the stopped member's session inside the timing.
  wait_left "$app"
  if ! is_kd "$p"; then
    rm -rf "${STATE:?}/$app"
    start "$p" "$name" "$app" "$in" "$out" "$@"
    ready "$p" "$name" 900 || {
      stop "$PROC" KILL
      return 1
    }
    wall=$((LINE_MS - PROC_START))
    # one RESTORED line per store partition, each printed as its restore ends
    local deadline=$(($(now_ms) + 10000))
    while (($(grep -c ' RESTORED ' "$WORK/$name.err" || true) < PARTITIONS)) && (($(now_ms) < deadline)); do
      sleep 0.1
    done
    stop "$PROC" TERM
    local sums lines recs ms span
    sums=$(awk '$2 == "RESTORED" && $5 == "records" {
        recs += $4; ms += $7; lines++
        s = $1 - $7; if (first == "" || s < first) first = s
        if ($1 > last) last = $1
      }
      END { printf "%d %d %d %d", lines, recs, ms, (lines ? last - first : 0) }' "$WORK/$name.err")
    read -r lines recs ms span <<<"$sums"
    ((lines == PARTITIONS)) || warn "$name: $lines RESTORED lines for $PARTITIONS partitions"
    result "$figure" "$p" "$round" records "$recs"
    result "$figure" "$p" "$round" seconds "$(awk -v ms="$span" 'BEGIN {printf "%.3f", ms / 1000}')"
    result "$figure" "$p" "$round" seconds_sum "$(awk -v ms="$ms" 'BEGIN {printf "%.3f", ms / 1000}')"
    result "$figure" "$p" "$round" wall_seconds "$(awk -v ms="$wall" 'BEGIN {printf "%.3f", ms / 1000}')"
    say "  $p: $recs changelog records in $lines partitions: sum of their restore times $ms ms, first start to last end $span ms; RUNNING $wall ms after the start (load $(cut -d' ' -f1 /proc/loadavg))"
  else
    start "$p" "$name" "$app" "$in" "$out" "$@"
    ready "$p" "$name" 900 || {
      stop "$PROC" KILL
      return 1
    }
    wall=$((LINE_MS - PROC_START))
    stop "$PROC" INT
    local recs secs open
    recs=$(sed -n 's/.*: \([0-9]*\) changelog records in \([0-9.]*\) s$/\1/p' <<<"$LINE")
    secs=$(sed -n 's/.*: \([0-9]*\) changelog records in \([0-9.]*\) s$/\2/p' <<<"$LINE")
    result "$figure" "$p" "$round" records "${recs:-NaN}"
    result "$figure" "$p" "$round" seconds "${secs:-NaN}"
    result "$figure" "$p" "$round" wall_seconds "$(awk -v ms="$wall" 'BEGIN {printf "%.3f", ms / 1000}')"
    # with -v: "task P: restored N changelog records (W open windows, ...)"
    open=$(awk '/ task [0-9]+: restored [0-9]+ changelog records \(/ {
        for (i = 1; i < NF; i++) if ($(i + 1) == "open" && $i ~ /^\(/) { sub(/^\(/, "", $i); w += $i; n++ }
      } END { if (n) print w }' "$WORK/$name.err")
    if [[ -n $open ]]; then result "$figure" "$p" "$round" open_windows "$open"; fi
    say "  $p: ${LINE#stream count: }${open:+ ($open open windows)} ($wall ms after the start; load $(cut -d' ' -f1 /proc/loadavg))"
  fi
}

# ---- 3. restore ------------------------------------------------------------------

restore_run() {
  local p=$1 in=$2 app out name
  app=kd-sbench-$RUN_ID-rs-$p
  out=$app-out
  name=restore-$p
  APPS+=("$app")
  new_topic "$out" compact
  # Every record its own 1 s window, and a grace longer than the input spans,
  # so no window closes: one changelog record per input record, all of them
  # state to restore. (With no grace, neither processor keeps closed windows:
  # kafkademo writes only the windows still open at a flush, and Kafka
  # Streams restores only what its store retention (window + grace) keeps.)
  local -a args=(--window 1s --grace "$RESTORE_GRACE" --emit updates)
  if is_kd "$p"; then
    start "$p" "$name-build" "$app" "$in" "$out" "${args[@]}" --exit-at-end
  else
    start "$p" "$name-build" "$app" "$in" "$out" "${args[@]}" --cache-bytes 0
  fi
  if ! wait_committed "$app" "$RESTORE_RECORDS" 900 "$name-build"; then
    stop "$PROC" KILL
    return 1
  fi
  stop "$PROC" "$(stop_signal "$p")"
  if is_kd "$p"; then
    restart restore 1 "$p" "$name" "$app" "$in" "$out" "${args[@]}" || return 1
  else
    restart restore 1 "$p" "$name" "$app" "$in" "$out" "${args[@]}" --cache-bytes 0 || return 1
  fi
  drop_app "$app"
  "$KD" -q topic delete "$out" --if-exists >/dev/null 2>&1 || true
  rm -rf "${STATE:?}/$app"
}

if [[ " $FIGURES " == *" restore "* ]]; then
  in=kd-sbench-$RUN_ID-rs-in
  step=$(awk -v k="$KEYS" 'BEGIN {print 1000 / k}')
  RESTORE_GRACE=$(awk -v n="$RESTORE_RECORDS" -v step="$step" 'BEGIN {printf "%ds", n * step / 1000 + 3600}')
  say "Restore: $RESTORE_RECORDS records, each its own 1 s window (grace $RESTORE_GRACE: none closes), counted into a changelog; then a restart restores it; load $(cut -d' ' -f1-3 /proc/loadavg)"
  input "$WORK/restore.txt" "$RESTORE_RECORDS" "$step" 1000
  new_topic "$in"
  "$KD" -q produce --topic "$in" --key-separator : <"$WORK/restore.txt" || die "producing the input failed"
  rm -f "$WORK/restore.txt"
  for p in $RESTORE_PROCESSORS; do
    restore_run "$p" "$in" || warn "restore: $p failed"
  done
  "$KD" -q topic delete "$in" --if-exists >/dev/null 2>&1 || true
fi

# ---- 4. retention ------------------------------------------------------------------

# kafkademo's changelog here: what stream count's own settings (segment.ms
# and delete.retention.ms 600000, min.cleanable.dirty.ratio 0.5) do over
# real time, compressed into seconds. segment.bytes 1 MiB is the least
# Kafka 4 takes; a ratio of 0 lets the cleaner come back after a small tick.
RETENTION_SEGMENT_MS=5000
RETENTION_CONFIGS=(--config cleanup.policy=compact --config "segment.ms=$RETENTION_SEGMENT_MS"
  --config segment.bytes=1048576 --config delete.retention.ms=5000 --config min.cleanable.dirty.ratio=0)

# span_seconds SPAN: 90s, 30m, 1h, 1d in seconds.
span_seconds() {
  local n=${1%?} m=1
  case ${1: -1} in
  m) m=60 ;;
  h) m=3600 ;;
  d) m=86400 ;;
  esac
  echo $((n * m))
}

mb() { awk -v b="$1" 'BEGIN {printf "%.1f MB", b / 1048576}'; }

# log_bytes TOPIC: the topic's size on the broker, all partitions, in bytes
# (DescribeLogDirs); empty if it cannot be read.
log_bytes() {
  local json
  json=$({ "$KD_ROOT/scripts/kafka-class.sh" org.apache.kafka.tools.LogDirsCommand \
    --bootstrap-server "$BROKERS" --describe --topic-list "$1" 2>/dev/null || true; } | { grep '^{' || true; })
  { grep -o '"size":[0-9]*' <<<"$json" || true; } | awk -F: '{s += $2; n++} END {if (n) print s}'
}

# settled_bytes TOPIC: the topic's size once it holds still: the same in
# five polls about 4 s apart (longer than the log cleaner's 15 s back-off
# between looks), at most 180 s.
settled_bytes() {
  local last='' size same=0 deadline
  deadline=$(($(now_ms) + 180000))
  while :; do
    size=$(log_bytes "$1")
    if [[ -z $size ]]; then
      warn "cannot read the size of topic $1 (LogDirsCommand through scripts/kafka-class.sh)"
      return 1
    fi
    if [[ $size == "$last" ]]; then same=$((same + 1)); else same=0; fi
    last=$size
    ((same < 4)) || break
    if (($(now_ms) >= deadline)); then
      warn "topic $1 still changed size after 180 s"
      break
    fi
    sleep 4
  done
  printf '%s\n' "$size"
}

# settle APP NAME IN N STEP BASE: the running kafkademo application has
# counted the span's N records; ticks (one more second of input each) until
# the changelog compacts no further. Sets TICKS and CLEAN_BYTES.
settle() {
  local app=$1 name=$2 in=$3 n=$4 step=$5 base=$6 changelog prev='' size tick from
  changelog=$1-count-store-changelog
  TICKS=0
  CLEAN_BYTES=$(log_bytes "$changelog")
  say "    changelog $(mb "${CLEAN_BYTES:-0}") on the broker after the span"
  for ((tick = 1; tick <= RETENTION_TICKS; tick++)); do
    # The active segment is older than segment.ms now: the tick's writes
    # roll it, and the cleaner can take what it held.
    sleep $((RETENTION_SEGMENT_MS / 1000 + 1))
    from=$((n + (tick - 1) * KEYS))
    events "$WORK/tick.txt" "$from" $((from + KEYS)) "$step" "$base"
    if ! "$KD" -q produce --topic "$in" --key-separator : <"$WORK/tick.txt"; then
      warn "$name: producing tick $tick failed"
      return 1
    fi
    wait_committed "$app" $((from + KEYS)) 120 "$name" || return 1
    size=$(settled_bytes "$changelog") || return 1
    TICKS=$tick
    CLEAN_BYTES=$size
    say "    tick $tick: changelog $(mb "$size") on the broker (load $(cut -d' ' -f1 /proc/loadavg))"
    if [[ -n $prev ]] && ((size * 100 >= prev * 99)); then return 0; fi
    prev=$size
  done
  warn "$name: the changelog still shrank at tick $RETENTION_TICKS (--retention-ticks)"
}

# retention_run PROCESSOR SPAN
retention_run() {
  local p=$1 span=$2 secs n step base app in out name started build_ms
  secs=$(span_seconds "$span")
  n=$((secs * KEYS))
  step=$(awk -v k="$KEYS" 'BEGIN {print 1000 / k}')
  app=kd-sbench-$RUN_ID-rt-$span-$p
  in=$app-in
  out=$app-out
  name=retention-$span-$p
  APPS+=("$app")
  base=$(event_base "$n" "$step" 1000)
  events "$WORK/retention.txt" 0 "$n" "$step" "$base"
  new_topic "$in"
  if ! "$KD" -q produce --topic "$in" --key-separator : <"$WORK/retention.txt"; then
    warn "producing the input of $name failed"
    return 1
  fi
  rm -f "$WORK/retention.txt"
  new_topic "$out" compact
  local -a args=(--window 1s --grace "$RETENTION_GRACE" --emit updates)
  if is_kd "$p"; then
    "$KD" -q topic create "$app-count-store-changelog" --partitions "$PARTITIONS" "${RETENTION_CONFIGS[@]}" >/dev/null
    TOPICS+=("$app-count-store-changelog")
    # Stream time stays with the input between ticks (the input ends a
    # minute ago: a wall-clock idle flush would close every window).
    args+=(--idle-flush 24h)
  fi
  started=$(now_ms)
  start "$p" "$name-build" "$app" "$in" "$out" "${args[@]}"
  if ! wait_committed "$app" "$n" 3600 "$name-build"; then
    stop "$PROC" KILL
    return 1
  fi
  build_ms=$(($(now_ms) - started))
  say "  $p, $span of event time: $n records counted in $(awk -v ms="$build_ms" 'BEGIN {printf "%.1f", ms / 1000}') s (load $(cut -d' ' -f1 /proc/loadavg))"
  if is_kd "$p"; then
    settle "$app" "$name-build" "$in" "$n" "$step" "$base" || warn "$name: compaction not settled; restoring anyway"
  else
    # Kafka Streams' own changelog: closed windows leave it by retention.ms
    # (window + grace + 1 day) against their timestamps, not by compaction.
    TICKS=0
    CLEAN_BYTES=$(log_bytes "$app-count-store-changelog")
  fi
  stop "$PROC" "$(stop_signal "$p")"
  result retention "$p" "$span" input_records "$n"
  result retention "$p" "$span" build_seconds "$(awk -v ms="$build_ms" 'BEGIN {printf "%.3f", ms / 1000}')"
  result retention "$p" "$span" ticks "$TICKS"
  result retention "$p" "$span" changelog_bytes "${CLEAN_BYTES:-NaN}"
  if is_kd "$p"; then KD_FLAGS=(-v); fi
  restart retention "$span" "$p" "$name" "$app" "$in" "$out" "${args[@]}" || {
    KD_FLAGS=()
    return 1
  }
  KD_FLAGS=()
  drop_app "$app"
  "$KD" -q topic delete "$in" --if-exists >/dev/null 2>&1 || true
  "$KD" -q topic delete "$out" --if-exists >/dev/null 2>&1 || true
  rm -rf "${STATE:?}/$app"
}

if [[ " $FIGURES " == *" retention "* ]]; then
  say "Retention: $KEYS keys, one record per key per 1 s window (grace $RETENTION_GRACE), $SPANS of event time, each through a fresh application; then a restart; load $(cut -d' ' -f1-3 /proc/loadavg)"
  k=0
  for span in $SPANS; do
    k=$((k + 1))
    for p in $(in_turn "$RETENTION_PROCESSORS" "$k"); do
      retention_run "$p" "$span" || warn "retention: $p over $span failed"
    done
  done
fi

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
