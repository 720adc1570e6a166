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
#   - `kafkademo web` with /metrics scraped (curl) every second for DURATION:
#     the broker's CPU, the web process's CPU and peak RSS, and the refresh
#     time the watcher reports (kafkademo_scrape_duration_seconds, read from
#     every scrape); and the same DURATION with web running unscraped (its
#     consumer thread still long-polls the topic it shows), to separate the two;
#   - the requests: per snapshot the code sends 1 Metadata and, per broker,
#     1 ListOffsets, 1 ListGroups, 1 DescribeGroups and 1 OffsetFetch. A short
#     extra run (VERIFY seconds of top --collect) counts them in the broker's
#     own request log (kafka.request.logger switched to DEBUG at runtime with
#     Kafka's ConfigCommand, back to WARN after), so the requests/s figure is
#     counted by the broker, not just computed. The CPU runs are made with the
#     request log off.
#
# Broker CPU is utime+stime of the broker's JVM from /proc/PID/stat; client
# RSS is /usr/bin/time -v's maximum resident set size (top) or VmHWM from
# /proc/PID/status (web). Everything from one run, on whatever machine this
# is (its CPUs and load are printed first).
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
[[ -x /usr/bin/time ]] || die "/usr/bin/time is missing: install the 'time' package (apt-get install -y time)"
command -v curl >/dev/null 2>&1 || die "curl is missing: install the 'curl' package"

BROKERS=$KD_HOST:$KD_KAFKA_PORT
TARGET=${CARGO_TARGET_DIR:-$KD_ROOT/target}
KD=$TARGET/release/kafkademo
WORK=$KD_ROOT/target/top-cost
mkdir -p "$WORK" "$(dirname "$OUT")"
CLK_TCK=$(getconf CLK_TCK)
PREFIX=kd-cost-
topic_name() { printf '%s%04d' "$PREFIX" "$1"; }
group_name() { printf '%sg%04d' "$PREFIX" "$1"; }

say "Building kafkademo (release)"
(cd "$KD_ROOT" && cargo build --release --quiet) || die "cargo build --release failed"

# ---- the broker --------------------------------------------------------------

WEB_PID=
cleanup() {
  local i
  if [[ -n $WEB_PID ]]; then kill_quietly "$WEB_PID"; fi
  if kafka_probe 3 2>/dev/null; then
    say "Deleting the kd-cost- topics and groups"
    # kafkademo has no group delete: Kafka's tool deletes them all at once
    local -a args=()
    for ((i = 0; i < TOPICS; i++)); do args+=(--group "$(group_name "$i")"); done
    "$KD_ROOT/scripts/kafka-class.sh" org.apache.kafka.tools.consumer.group.ConsumerGroupCommand \
      --bootstrap-server "$BROKERS" --delete "${args[@]}" >/dev/null 2>&1 || true
    for ((i = 0; i < TOPICS; i++)); do
      printf '%s\n' "$(topic_name "$i")"
    done | xargs -P 2 -I{} "$KD" --brokers "$BROKERS" -q topic delete {} --if-exists >/dev/null 2>&1 || true
  fi
  stop_started_broker kraft quiet
}
trap cleanup EXIT
trap 'exit 130' INT TERM

start_broker_unless_up kraft "(KRaft), stopped at the end"
((STARTED_BROKER)) || say "Using the broker that runs on $BROKERS"
BROKER_PID=$(pid_alive "$KD_KAFKA_PID" "$KD_KAFKA_MAIN" || true)
if [[ -z $BROKER_PID ]] && command -v ss >/dev/null 2>&1; then
  BROKER_PID=$(ss -ltnpH "sport = :$KD_KAFKA_PORT" 2>/dev/null | sed -n 's/.*pid=\([0-9]*\).*/\1/p' | head -n 1)
fi
[[ -n $BROKER_PID && -r /proc/$BROKER_PID/stat ]] || die "cannot find the broker's process (for its CPU time)"
BROKER_ID=$(awk -F= '$1 == "node.id" || $1 == "broker.id" {print $2; exit}' "$KD_ROOT/config/kraft/server.properties")
# The broker's log, where the request log goes (the root logger's file).
SERVER_LOG=$KD_LOGS/server.log
[[ -r /proc/$BROKER_PID/cmdline ]] &&
  dir=$(tr '\0' '\n' <"/proc/$BROKER_PID/cmdline" | sed -n 's/^-Dkafka.logs.dir=//p' | head -n 1) &&
  [[ -n $dir ]] && SERVER_LOG=$dir/server.log

# ticks PID: utime + stime of a process, in clock ticks (field 2, the command
# name, has no spaces for java and kafkademo).
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
secs() { awk -v d="$1" -v t="$CLK_TCK" 'BEGIN {printf "%.2f", d / t}'; }

{
  say "machine:   $(nproc) CPUs ($(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)), $(awk '/^MemTotal:/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo)"
  say "load:      $(cut -d' ' -f1-3 /proc/loadavg) (1, 5, 15 min) at start"
  say "kafka:     $(running_version 2>/dev/null || echo '?') on $BROKERS (pid $BROKER_PID)"
  say "kafkademo: $("$KD" --version | cut -d' ' -f2), release build"
  say "size:      $TOPICS topics x $PARTITIONS partitions = $((TOPICS * PARTITIONS)) partitions, $TOPICS groups (group i committed on all of topic i's partitions), $RECORDS records per topic"
} | tee "$WORK/machine.txt"

# ---- setup -------------------------------------------------------------------

setup_start=$(now_ms)
say "Creating $TOPICS topics of $PARTITIONS partitions, $RECORDS records each, and $TOPICS groups"
make_one() { # index: topic, records, a group committed at the log start
  local t g
  t=$(topic_name "$1")
  g=$(group_name "$1")
  "$KD" --brokers "$BROKERS" -q topic create "$t" --partitions "$PARTITIONS" --if-not-exists >/dev/null
  seq 1 "$RECORDS" | "$KD" --brokers "$BROKERS" -q produce --topic "$t" >/dev/null
  "$KD" --brokers "$BROKERS" -q group reset-offsets "$g" --topic "$t" --to-earliest --execute >/dev/null
}
export -f make_one topic_name group_name
export KD BROKERS PARTITIONS RECORDS PREFIX
seq 0 $((TOPICS - 1)) | xargs -P 2 -I{} bash -c 'make_one {}' ||
  die "the setup failed (see the messages above)"
say "Setup: $(elapsed "$setup_start")"

# ---- measurements ------------------------------------------------------------

printf 'metric\tvalue\tunit\thow\n' >"$OUT"
row() { # METRIC VALUE UNIT HOW
  printf '%s\t%s\t%s\t%s\n' "$@" >>"$OUT"
}

settle() { sleep 5; } # let the setup's work (and deletions' aftermath) pass

# (1) the broker idle
settle
say "Broker idle for $DURATION s"
b0=$(ticks "$BROKER_PID")
sleep "$DURATION"
b1=$(ticks "$BROKER_PID")
idle_cpu=$(secs $((b1 - b0)))
row "broker CPU, idle" "$idle_cpu" "s per ${DURATION} s" "measured: /proc/PID/stat utime+stime of the broker JVM"

# (2) single top --once
say "top --once --format json, $RUNS times"
walls=() rsss=()
for ((r = 1; r <= RUNS; r++)); do
  start=$(now_ms)
  /usr/bin/time -v -o "$WORK/once-$r.time" "$KD" --brokers "$BROKERS" top --once --format json >"$WORK/once-$r.json"
  walls+=($(($(now_ms) - start)))
  rsss+=("$(awk -F': ' '/Maximum resident set size/ {print $2}' "$WORK/once-$r.time")")
done
parts=$(jq '[.topics[] | select(.name | startswith("kd-cost-")) | .partitions | length] | add' "$WORK/once-1.json")
groups=$(jq '[.groups[] | select(.name | startswith("kd-cost-"))] | length' "$WORK/once-1.json")
[[ $parts == $((TOPICS * PARTITIONS)) && $groups == "$TOPICS" ]] ||
  die "top --once saw $parts kd-cost- partitions and $groups groups, not $((TOPICS * PARTITIONS)) and $TOPICS"
row "top --once: wall time" "${walls[*]}" "ms (each run)" "measured: whole process (connect, 1 snapshot, JSON of $(wc -c <"$WORK/once-1.json") bytes)"
row "top --once: peak RSS" "$(printf '%s\n' "${rsss[@]}" | sort -n | tail -n 1)" "KB (max of runs)" "measured: /usr/bin/time -v"

# (3) top --once --collect DURATION --interval 1s
settle
say "top --once --collect ${DURATION}s --interval 1s --format json"
b0=$(ticks "$BROKER_PID")
start=$(now_ms)
/usr/bin/time -v -o "$WORK/collect.time" "$KD" --brokers "$BROKERS" top --once --collect "${DURATION}s" --interval 1s --format json >"$WORK/collect.json"
wall=$(($(now_ms) - start))
b1=$(ticks "$BROKER_PID")
top_cpu=$(secs $((b1 - b0)))
row "top --collect: wall time" "$wall" "ms" "measured: --collect ${DURATION}s, so ${DURATION}000 ms of it is the collecting"
row "top --collect: peak RSS" "$(awk -F': ' '/Maximum resident set size/ {print $2}' "$WORK/collect.time")" "KB" "measured: /usr/bin/time -v"
row "top --collect: its own CPU" "$(awk -F': ' '/User time|System time/ {s += $2} END {printf "%.2f", s}' "$WORK/collect.time")" "s" "measured: /usr/bin/time -v user+system"
row "broker CPU, top refreshing every 1 s" "$top_cpu" "s per $(awk -v w="$wall" 'BEGIN {printf "%.1f", w / 1000}') s" "measured: as idle, over the top run"
row "broker CPU added by top" "$(awk -v a="$top_cpu" -v i="$idle_cpu" -v w="$wall" -v d="$DURATION" 'BEGIN {printf "%.1f", (a / w * 1000 - i / d) * 100}')" "% of a core" "computed: (top run - idle) per second"

# (4) the requests, counted by the broker's request log
settle
say "Counting requests in the broker's request log over a ${VERIFY} s top --collect"
config_cmd() {
  "$KD_ROOT/scripts/kafka-class.sh" kafka.admin.ConfigCommand --bootstrap-server "$BROKERS" \
    --entity-type broker-loggers --entity-name "$BROKER_ID" --alter --add-config "kafka.request.logger=$1" >/dev/null
}
from=$(wc -c <"$SERVER_LOG")
if config_cmd DEBUG; then
  "$KD" --brokers "$BROKERS" top --once --collect "${VERIFY}s" --interval 1s --format json >"$WORK/verify.json"
  config_cmd WARN || warn "could not set kafka.request.logger back to WARN"
  # shellcheck disable=SC2016
  tail -c +$((from + 1)) "$SERVER_LOG" | grep 'Completed request' | grep '"clientId":"kafkademo"' |
    sed -n 's/.*"requestApiKey":\([0-9]*\).*/\1/p' | sort -n | uniq -c >"$WORK/verify-requests.txt" || true
  declare -A api=([0]=Produce [1]=Fetch [2]=ListOffsets [3]=Metadata [8]=OffsetCommit [9]=OffsetFetch [10]=FindCoordinator [11]=JoinGroup [15]=DescribeGroups [16]=ListGroups [17]=SaslHandshake [18]=ApiVersions)
  counts=
  total=0
  while read -r n key; do
    counts+="${counts:+, }$n ${api[$key]:-api$key}"
    total=$((total + n))
  done <"$WORK/verify-requests.txt"
  # Per snapshot, as the broker saw it: from the arrival of its Metadata
  # request (topics null; the connect's own Metadata asks for no topic) to
  # the completion of its OffsetFetch, from the log's millisecond timestamps
  # and each request's totalTimeMs.
  tail -c +$((from + 1)) "$SERVER_LOG" | grep 'Completed request' | grep '"clientId":"kafkademo"' |
    awk '{
      split(substr($2, 1, 12), t, /[:,]/)
      ms = ((t[1] * 60 + t[2]) * 60 + t[3]) * 1000 + t[4]
      match($0, /"totalTimeMs":[0-9.]+/); total = substr($0, RSTART + 14, RLENGTH - 14)
      if ($0 ~ /"requestApiKey":3,/ && $0 ~ /"request":\{"topics":null/) { start = ms - total; printf "start %.3f\n", start }
      else if ($0 ~ /"requestApiKey":9,/ && start != "") { printf "span %.3f\n", ms - start; start = "" }
    }' >"$WORK/verify-spans.txt" || true
  snaps=$(grep -c '^span' "$WORK/verify-spans.txt" || true)
  row "requests in a ${VERIFY} s top --collect" "${counts:-none found}" "requests" "counted: broker request log, clientId kafkademo ($snaps snapshots)"
  if ((snaps > 2)); then
    # the cycle: snapshot starts 1 to n-1 (the last sleep is cut short)
    cycle=$(awk '$1 == "start" {s[++n] = $2} END {printf "%.0f", (s[n - 1] - s[1]) / (n - 2)}' "$WORK/verify-spans.txt")
    row "top refresh (1 snapshot), broker-side" "$(awk '$1 == "span" {print $2}' "$WORK/verify-spans.txt" | sort -g |
      awk '{v[NR] = $1} END {printf "%.0f / %.0f / %.0f", v[1], v[int((NR + 1) / 2)], v[NR]}')" "ms (min / median / max)" "measured: request log, Metadata arrival to OffsetFetch answered"
    row "top cycle at --interval 1s" "$cycle" "ms" "measured: request log, between snapshot starts"
    row "requests per second" "$(awk -v t="$total" -v n="$snaps" -v c="$cycle" 'BEGIN {printf "%.1f", t / n * 1000 / c}')" "/s" "computed: counted requests / snapshots / cycle (the connect's ApiVersions and Metadata spread over them)"
  fi
else
  warn "could not switch the request log on: requests not counted"
fi

# (5) kafkademo web, unscraped, then /metrics scraped every second
settle
WEB_PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$KD" --brokers "$BROKERS" web --topic "$(topic_name 0)" --port "$WEB_PORT" --history 0 >"$WORK/web.log" 2>&1 &
WEB_PID=$!
for ((i = 0; i < 50; i++)); do
  curl -fs "http://127.0.0.1:$WEB_PORT/" >/dev/null 2>&1 && break
  sleep 0.2
done
sleep 3
say "kafkademo web running, not scraped, for $DURATION s"
b0=$(ticks "$BROKER_PID")
w0=$(ticks "$WEB_PID")
sleep "$DURATION"
b1=$(ticks "$BROKER_PID")
w1=$(ticks "$WEB_PID")
web_idle_cpu=$(secs $((b1 - b0)))
row "broker CPU, web running unscraped" "$web_idle_cpu" "s per ${DURATION} s" "measured: its consumer thread long-polls $(topic_name 0)"
row "web CPU, unscraped" "$(secs $((w1 - w0)))" "s per ${DURATION} s" "measured: /proc/PID/stat of kafkademo web"

say "kafkademo web with /metrics scraped every 1 s for $DURATION s"
: >"$WORK/scrape-durations.txt"
b0=$(ticks "$BROKER_PID")
w0=$(ticks "$WEB_PID")
start=$(now_ms)
for ((i = 0; i < DURATION; i++)); do
  curl -fs "http://127.0.0.1:$WEB_PORT/metrics" >"$WORK/metrics.txt" || warn "scrape $i failed"
  sed -n 's/^kafkademo_scrape_duration_seconds //p' "$WORK/metrics.txt" >>"$WORK/scrape-durations.txt"
  next=$((start + (i + 1) * 1000 - $(now_ms)))
  if ((next > 0)); then sleep "$(awk -v m="$next" 'BEGIN {printf "%.3f", m / 1000}')"; fi
done
b1=$(ticks "$BROKER_PID")
w1=$(ticks "$WEB_PID")
web_cpu=$(secs $((b1 - b0)))
series=$(grep -c '^kafkademo_' "$WORK/metrics.txt" || true)
rss=$(awk '/^VmHWM:/ {print $2}' "/proc/$WEB_PID/status")
kill_quietly "$WEB_PID"
WEB_PID=
row "broker CPU, web scraped every 1 s" "$web_cpu" "s per ${DURATION} s" "measured: as idle"
row "broker CPU added by /metrics" "$(awk -v a="$web_cpu" -v i="$web_idle_cpu" -v d="$DURATION" 'BEGIN {printf "%.1f", (a - i) / d * 100}')" "% of a core" "computed: (scraped - unscraped) per second"
row "web CPU, scraped" "$(secs $((w1 - w0)))" "s per ${DURATION} s" "measured: /proc/PID/stat of kafkademo web"
row "web peak RSS" "$rss" "KB" "measured: VmHWM of kafkademo web at the end"
row "/metrics size" "$(wc -c <"$WORK/metrics.txt") bytes, $series series" "" "measured: the last scrape"
row "web refresh (1 snapshot)" "$(sort -g "$WORK/scrape-durations.txt" | awk '{v[NR] = $1 * 1000} END {printf "%.0f / %.0f / %.0f", v[1], v[int((NR + 1) / 2)], v[NR]}')" "ms (min / median / max of $(wc -l <"$WORK/scrape-durations.txt") scrapes)" "measured: kafkademo_scrape_duration_seconds"

say ""
column -t -s $'\t' "$OUT"
say ""
say "Written to ${OUT#"$KD_ROOT"/} (raw outputs in ${WORK#"$KD_ROOT"/}/)"
