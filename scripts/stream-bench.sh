#!/usr/bin/env bash
# make stream-bench: kafkademo `stream count` against the same windowed count
# written with Kafka Streams 4.4 (scripts/kstreams.sh), on the same broker and
# the same input, in three figures:
#   throughput  RECORDS records over KEYS keys in PARTITIONS partitions, all in
#               the input topic before the processor starts, counted in 10 s
#               tumbling windows (2 s grace, --emit updates; Kafka Streams
#               with its default 10 MB record cache). Records/s from the
#               group's committed offsets, polled every ~100 ms: (N - c0) /
#               (t1 - t0), t0 the first poll that sees progress (c0), t1 the
#               first that sees all N. Peak RSS by /usr/bin/time -v (for Kafka
#               Streams: the JVM). ROUNDS rounds, the processors alternating,
#               a fresh application id each time; medians.
#   latency     `kafkademo bench stream-e2e` at E2E_RATE records/s for
#               E2E_DURATION (E2E_WARMUP not counted) into a processor that
#               runs on fresh topics (Kafka Streams without record cache, so
#               every update is written): p50, p99, max.
#   restore     a changelog of about RESTORE_RECORDS records (every input
#               record its own 1 s window, a grace longer than the input
#               spans so that none closes, no cache), built by one run; then
#               the processor starts again on the same application id (Kafka
#               Streams with its state directory deleted) and restores it:
#               records, time, rate, and the wall time from the start to the
#               restored line (kafkademo) or RUNNING (Kafka Streams, JVM start
#               included).
# Prints the machine and versions, one markdown table (ratio = kafkademo ÷
# Kafka Streams) and the issue's goals, met or not. Writes the table, the
# raw results and the processors' logs under OUT (target/stream-bench).
#
# Uses the broker at 127.0.0.1:9092 (KAFKA_PORT); starts Kafka 3.9 if none
# answers and stops only a broker it started. Deletes the topics and stream
# applications it created, and Kafka Streams' state directory, at the end.
#
# Options (or environment): --records N (RECORDS, 1000000), --keys N (KEYS,
# 100), --partitions N (PARTITIONS, 4), --rounds N (ROUNDS, 3), --rate N
# (E2E_RATE, 10000), --duration D (E2E_DURATION, 20s), --warmup D
# (E2E_WARMUP, 2s), --restore-records N (RESTORE_RECORDS, 1000000),
# --figures "throughput latency restore" (FIGURES), --out DIR (OUT).
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

RECORDS=${RECORDS:-1000000}
KEYS=${KEYS:-100}
PARTITIONS=${PARTITIONS:-4}
ROUNDS=${ROUNDS:-3}
E2E_RATE=${E2E_RATE:-10000}
E2E_DURATION=${E2E_DURATION:-20s}
E2E_WARMUP=${E2E_WARMUP:-2s}
RESTORE_RECORDS=${RESTORE_RECORDS:-1000000}
FIGURES=${FIGURES:-throughput latency restore}
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
  --figures) FIGURES=$2 && shift 2 ;;
  --out) OUT=$2 && shift 2 ;;
  -h | --help)
    sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'
    exit 0
    ;;
  *) die "unknown option '$1' (see --help)" ;;
  esac
done
for n in "$RECORDS" "$KEYS" "$PARTITIONS" "$ROUNDS" "$E2E_RATE" "$RESTORE_RECORDS"; do
  [[ $n =~ ^[1-9][0-9]*$ ]] || die "'$n' is not a positive number"
done
for d in "$E2E_DURATION" "$E2E_WARMUP"; do
  [[ $d =~ ^[0-9]+(ms|s)$ ]] || die "'$d' is not a duration such as 20s or 500ms"
done
for f in $FIGURES; do
  case $f in
  throughput | latency | restore) ;;
  *) die "unknown figure '$f' (throughput, latency, restore)" ;;
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
rm -f "$WORK"/tp-* "$WORK"/e2e-* "$WORK"/restore-*
RESULTS=$OUT/results.tsv
export KAFKA_BROKERS=$BROKERS

STARTED_BROKER=0
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
  if ((STARTED_BROKER)); then
    say "Stopping the broker this script started"
    "$KD_ROOT/scripts/kafka-down.sh" || true
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

[[ -x $TIME ]] || die "$TIME is missing: install the 'time' package (apt-get install -y time)"
say "Building kafkademo (release) and the Kafka Streams peer"
(cd "$KD_ROOT" && cargo build --release --quiet) || die "cargo build --release failed"
"$KS" build
if ! kafka_probe 3; then
  say "No broker answers on $BROKERS: starting one (and stopping it at the end)"
  STARTED_BROKER=1
  "$KD_ROOT/scripts/kafka-up.sh"
fi

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
  say "streams:   Kafka Streams $(pom_kafka_version "$KD_ROOT/scripts/kstreams/pom.xml") (scripts/kstreams), $(java -version 2>&1 | head -n 1), -Xmx256m, at_least_once, commit interval 100 ms"
  say "figures:   $FIGURES; $RECORDS records over $KEYS keys, $ROUNDS rounds; e2e $E2E_RATE/s for $E2E_DURATION ($E2E_WARMUP warm-up); restore of ~$RESTORE_RECORDS changelog records"
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
  local file=$1 n=$2 step=$3 window=$4 now_s
  now_s=$(date +%s)
  awk -v n="$n" -v keys="$KEYS" -v step="$step" -v window="$window" -v now="$now_s" 'BEGIN {
    span = n * step / 1000 + 60
    back = (span > 1200) ? span : 1200
    base = int((now - back) * 1000 / window) * window
    w = length(sprintf("%d", keys - 1)); if (w < 2) w = 2
    fmt = "k%0" w "d:{\"t\":%s}\n"
    # %.0f: mawk prints big numbers as 1.7e+12, and its %d has 32 bits
    for (i = 0; i < n; i++) printf fmt, i % keys, sprintf("%.0f", base + int(i * step))
  }' >"$file"
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
  local p=$1 name=$2 app=$3 in=$4 out=$5
  shift 5
  case $p in
  kafkademo)
    launch "$name" "$KD" stream count --input "$in" --output "$out" --application-id "$app" \
      --time-field t --session-timeout 6s "$@"
    ;;
  kstreams)
    launch "$name" "$KS" run --bootstrap "$BROKERS" --input "$in" --output "$out" \
      --application-id "$app" --time-field t --session-timeout 6s --guarantee at_least_once \
      --state-dir "$STATE/$app" "$@"
    ;;
  esac
}

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

stop_signal() { if [[ $1 == kafkademo ]]; then echo INT; else echo TERM; fi; }

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
  if [[ $1 == kafkademo ]]; then
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

# throughput_run PROCESSOR ROUND IN
throughput_run() {
  local p=$1 round=$2 in=$3 app out name rps from_start rss
  app=kd-sbench-$RUN_ID-tp-$p-$round
  out=$app-out
  name=tp-$p-$round
  APPS+=("$app")
  new_topic "$out" compact
  if [[ $p == kafkademo ]]; then
    start kafkademo "$name" "$app" "$in" "$out" --window 10s --grace 2s --emit updates --exit-at-end
  else
    start kstreams "$name" "$app" "$in" "$out" --window 10s --grace 2s --emit updates \
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
  printf '  %-9s round %d: %9s records/s (first progress seen at %d of %d, all after %.1f s more)  %9s records/s from start  peak RSS %6.1f MB\n' \
    "$p" "$round" "$rps" "$C0" "$RECORDS" "$(awk -v ms=$((T1 - T0)) 'BEGIN {print ms / 1000}')" "$from_start" "$(awk -v k="$rss" 'BEGIN {print k / 1024}')"
  drop_app "$app"
  "$KD" -q topic delete "$out" --if-exists >/dev/null 2>&1 || true
  rm -rf "${STATE:?}/$app"
}

if [[ " $FIGURES " == *" throughput "* ]]; then
  in=kd-sbench-$RUN_ID-tp-in
  say "Throughput: $RECORDS records over $KEYS keys into $in ($PARTITIONS partitions)"
  input "$WORK/throughput.txt" "$RECORDS" 1 10000
  new_topic "$in"
  "$KD" -q produce --topic "$in" --key-separator : <"$WORK/throughput.txt" || die "producing the input failed"
  rm -f "$WORK/throughput.txt"
  for ((round = 1; round <= ROUNDS; round++)); do
    order=(kafkademo kstreams)
    if ((round % 2 == 0)); then order=(kstreams kafkademo); fi
    for p in "${order[@]}"; do
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

latency_run() {
  local p=$1 app in out name json
  app=kd-sbench-$RUN_ID-e2e-$p
  in=$app-in
  out=$app-out
  name=e2e-$p
  APPS+=("$app")
  new_topic "$in"
  new_topic "$out" compact
  if [[ $p == kafkademo ]]; then
    start kafkademo "$name" "$app" "$in" "$out" --window 10s --grace 2s --emit updates
  else
    start kstreams "$name" "$app" "$in" "$out" --window 10s --grace 2s --emit updates --cache-bytes 0
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
    result latency "$p" 1 "latency_${q}_ms" "${v:-NaN}"
  done
  printf '  %-9s %s of %s records back; latency p50 %s ms, p99 %s ms, max %s ms\n' "$p" \
    "$(json_number "$json" received)" "$(json_number "$json" sent)" \
    "$(json_number "$json" p50)" "$(json_number "$json" p99)" "$(json_number "$json" max)"
  drop_app "$app"
  "$KD" -q topic delete "$in" --if-exists >/dev/null 2>&1 || true
  "$KD" -q topic delete "$out" --if-exists >/dev/null 2>&1 || true
  rm -rf "${STATE:?}/$app"
}

if [[ " $FIGURES " == *" latency "* ]]; then
  say "End-to-end latency: bench stream-e2e at $E2E_RATE records/s for $E2E_DURATION into each processor"
  for p in kafkademo kstreams; do
    latency_run "$p" || warn "latency: $p failed"
  done
fi

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
  if [[ $p == kafkademo ]]; then
    start kafkademo "$name-build" "$app" "$in" "$out" --window 1s --grace "$RESTORE_GRACE" --emit updates --exit-at-end
  else
    start kstreams "$name-build" "$app" "$in" "$out" --window 1s --grace "$RESTORE_GRACE" --emit updates --cache-bytes 0
  fi
  if ! wait_committed "$app" "$RESTORE_RECORDS" 900 "$name-build"; then
    stop "$PROC" KILL
    return 1
  fi
  stop "$PROC" "$(stop_signal "$p")"
  # The restart must not wait for the stopped member's session inside the timing.
  wait_left "$app"
  if [[ $p == kstreams ]]; then
    # No local state: everything comes back from the changelog.
    rm -rf "${STATE:?}/$app"
    start kstreams "$name" "$app" "$in" "$out" --window 1s --grace "$RESTORE_GRACE" --emit updates --cache-bytes 0
    ready kstreams "$name" 600 || {
      stop "$PROC" KILL
      return 1
    }
    local wall=$((LINE_MS - PROC_START))
    # one RESTORED line per store partition, each printed as its restore ends
    local deadline=$(($(now_ms) + 10000))
    while (($(grep -c ' RESTORED ' "$WORK/$name.err" || true) < PARTITIONS)) && (($(now_ms) < deadline)); do
      sleep 0.1
    done
    stop "$PROC" TERM
    local sums
    sums=$(awk '$2 == "RESTORED" && $5 == "records" {
        recs += $4; ms += $7; lines++
        s = $1 - $7; if (first == "" || s < first) first = s
        if ($1 > last) last = $1
      }
      END { printf "%d %d %d %d", lines, recs, ms, (lines ? last - first : 0) }' "$WORK/$name.err")
    local lines recs ms span
    read -r lines recs ms span <<<"$sums"
    ((lines == PARTITIONS)) || warn "$name: $lines RESTORED lines for $PARTITIONS partitions"
    result restore kstreams 1 records "$recs"
    result restore kstreams 1 seconds "$(awk -v ms="$span" 'BEGIN {printf "%.3f", ms / 1000}')"
    result restore kstreams 1 seconds_sum "$(awk -v ms="$ms" 'BEGIN {printf "%.3f", ms / 1000}')"
    result restore kstreams 1 wall_seconds "$(awk -v ms="$wall" 'BEGIN {printf "%.3f", ms / 1000}')"
    say "  kstreams  $recs changelog records in $lines partitions: sum of their restore times $ms ms, first start to last end $span ms; RUNNING $wall ms after the start"
  else
    start kafkademo "$name" "$app" "$in" "$out" --window 1s --grace "$RESTORE_GRACE" --emit updates
    ready kafkademo "$name" 600 || {
      stop "$PROC" KILL
      return 1
    }
    local wall=$((LINE_MS - PROC_START))
    stop "$PROC" INT
    local recs secs
    recs=$(sed -n 's/.*: \([0-9]*\) changelog records in \([0-9.]*\) s$/\1/p' <<<"$LINE")
    secs=$(sed -n 's/.*: \([0-9]*\) changelog records in \([0-9.]*\) s$/\2/p' <<<"$LINE")
    result restore kafkademo 1 records "${recs:-NaN}"
    result restore kafkademo 1 seconds "${secs:-NaN}"
    result restore kafkademo 1 wall_seconds "$(awk -v ms="$wall" 'BEGIN {printf "%.3f", ms / 1000}')"
    say "  kafkademo ${LINE#stream count: } ($wall ms after the start)"
  fi
  drop_app "$app"
  "$KD" -q topic delete "$out" --if-exists >/dev/null 2>&1 || true
  rm -rf "${STATE:?}/$app"
}

if [[ " $FIGURES " == *" restore "* ]]; then
  in=kd-sbench-$RUN_ID-rs-in
  step=$(awk -v k="$KEYS" 'BEGIN {print 1000 / k}')
  RESTORE_GRACE=$(awk -v n="$RESTORE_RECORDS" -v step="$step" 'BEGIN {printf "%ds", n * step / 1000 + 3600}')
  say "Restore: $RESTORE_RECORDS records, each its own 1 s window (grace $RESTORE_GRACE: none closes), counted into a changelog; then a restart restores it"
  input "$WORK/restore.txt" "$RESTORE_RECORDS" "$step" 1000
  new_topic "$in"
  "$KD" -q produce --topic "$in" --key-separator : <"$WORK/restore.txt" || die "producing the input failed"
  rm -f "$WORK/restore.txt"
  for p in kafkademo kstreams; do
    restore_run "$p" "$in" || warn "restore: $p failed"
  done
  "$KD" -q topic delete "$in" --if-exists >/dev/null 2>&1 || true
fi

# ---- the table ----------------------------------------------------------------------

say "load:      $(cut -d' ' -f1-3 /proc/loadavg) (1, 5, 15 min) at the end" | tee -a "$OUT/machine.txt"
awk -F'\t' -v records="$RECORDS" -v keys="$KEYS" -v parts="$PARTITIONS" -v rounds="$ROUNDS" \
  -v rate="$E2E_RATE" -v goals="$OUT/goals.txt" '
  NR == 1 { next }
  $5 != "NaN" {
    k = $2 SUBSEP $4
    v[k, ++n[k]] = $5
  }
  function median(k,    m, i, j, t, w) {
    m = n[k]
    if (!m) return ""
    for (i = 1; i <= m; i++) w[i] = v[k, i]
    for (i = 2; i <= m; i++) for (j = i; j > 1 && w[j - 1] > w[j]; j--) { t = w[j]; w[j] = w[j - 1]; w[j - 1] = t }
    return (m % 2) ? w[(m + 1) / 2] : (w[m / 2] + w[m / 2 + 1]) / 2
  }
  function commas(x,    s, r) {
    s = sprintf("%.0f", x); r = ""
    while (length(s) > 3) { r = "," substr(s, length(s) - 2) r; s = substr(s, 1, length(s) - 3) }
    return s r
  }
  function fmt(x, unit) {
    if (x == "") return "n/a"
    if (unit == "n") return commas(x)
    if (unit == "MB") return sprintf("%.1f MB", x / 1024)
    if (unit == "ms") return sprintf("%.1f ms", x)
    if (unit == "s") return sprintf("%.2f s", x)
    return x
  }
  function row(label, metric, unit, a, b) {
    a = median("kafkademo" SUBSEP metric); b = median("kstreams" SUBSEP metric)
    printf "| %s | %s | %s | %s |\n", label, fmt(a, unit), fmt(b, unit), (a != "" && b != "" && b > 0) ? sprintf("%.2f", a / b) : "—"
    A[metric] = a; B[metric] = b
  }
  END {
    print "| figure | kafkademo | Kafka Streams 4.4 | ratio |"
    print "|---|---:|---:|---:|"
    row("records/s, windowed count (" commas(records) " records, " keys " keys, " parts " partitions, 10 s windows, emit updates; median of " rounds ")", "records_per_s", "n")
    row("records/s counted from the process start (start-up included)", "records_per_s_from_start", "n")
    row("peak RSS during that run", "peak_rss_kb", "MB")
    row("end-to-end latency p50 at " commas(rate) " records/s", "latency_p50_ms", "ms")
    row("end-to-end latency p99 at " commas(rate) " records/s", "latency_p99_ms", "ms")
    row("end-to-end latency max at " commas(rate) " records/s", "latency_max_ms", "ms")
    row("restore: changelog records read", "records", "n")
    row("restore time (all partitions: first start to last end)", "seconds", "s")
    b = median("kstreams" SUBSEP "seconds_sum")
    printf "| restore time, sum of the per-partition times (Kafka Streams prints one per partition) | — | %s | — |\n", fmt(b, "s")
    ra = (A["records"] != "" && A["seconds"] > 0) ? A["records"] / A["seconds"] : ""
    rb = (B["records"] != "" && B["seconds"] > 0) ? B["records"] / B["seconds"] : ""
    printf "| restore rate (records/s: records ÷ restore time) | %s | %s | %s |\n", fmt(ra, "n"), fmt(rb, "n"), (ra != "" && rb != "") ? sprintf("%.2f", ra / rb) : "—"
    row("wall time from process start to restored (kafkademo) / RUNNING (Kafka Streams)", "wall_seconds", "s")

    # the goals of the issue
    ok = "n/a"
    if (A["records_per_s"] != "" && B["records_per_s"] != "" && A["peak_rss_kb"] != "" && B["peak_rss_kb"] != "") {
      x = A["records_per_s"] / B["records_per_s"]; y = A["peak_rss_kb"] / B["peak_rss_kb"]
      ok = sprintf("%s (%.2f× the records/s, %.3f× the memory)", (x >= 2 && y < 0.1) ? "met" : "NOT met", x, y)
    }
    print "goal: kafkademo >= 2x Kafka Streams records/s with under a tenth of its memory: " ok > goals
    ok = (A["latency_p99_ms"] == "") ? "n/a" : sprintf("%s (%.1f ms)", (A["latency_p99_ms"] < 50) ? "met" : "NOT met", A["latency_p99_ms"])
    print "goal: p99 under 50 ms at " commas(rate) " records/s: " ok > goals
    ok = "n/a"
    if (A["records"] != "" && A["seconds"] != "") {
      per = A["seconds"] * 1000000 / A["records"]
      ok = sprintf("%s (%s records in %.2f s: %.2f s per million)", (per < 5) ? "met" : "NOT met", commas(A["records"]), A["seconds"], per)
    }
    print "goal: 1,000,000 changelog records restored in under 5 s: " ok > goals
  }' "$RESULTS" | tee "$OUT/table.md"
cat "$OUT/goals.txt"
say "ratio = kafkademo ÷ Kafka Streams (records/s: higher is better; memory, latency, time: lower)."
say "records/s: (N - c0) / (t1 - t0) from committed offsets polled every ~100 ms; kafkademo commits every 1 s, Kafka Streams every 100 ms."
say "Results in ${OUT#"$KD_ROOT"/}/: table.md, goals.txt, machine.txt, results.tsv, work/ (logs)"
