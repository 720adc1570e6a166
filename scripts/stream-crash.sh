#!/usr/bin/env bash
# make stream-crash: the crash experiment of docs/streams.md, side by side.
# The same input (RECORDS records over KEYS keys, event times in a JSON field,
# in order except every 50th record 1.5 s early, within the 2 s grace)
# trickles into a topic while a windowed count (10 s windows) runs on it and
# is SIGKILLed KILLS times at random moments, each time while it works (after
# its committed offsets moved on), and restarted. Then the last instance reads
# to the end and the final count of every window is compared with a batch
# recomputation of the input. Processors: kafkademo `stream count`, and the
# same count written with Kafka Streams (scripts/kstreams.sh) in
# at_least_once and in exactly_once_v2 mode. Prints one table; writes it and
# the raw results under OUT (target/stream-crash).
#
# Uses the broker at 127.0.0.1:9092 (KAFKA_PORT); starts Kafka 3.9 if none
# answers and stops only a broker it started.
#
# Options (or environment): --records N (RECORDS, 200000), --keys N (KEYS,
# 100), --kills N (KILLS, 5), --rate N (RATE, records/s of the trickle, 2500),
# --processors "kafkademo kstreams-alos kstreams-eos" (PROCESSORS), --out DIR.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

RECORDS=${RECORDS:-200000}
KEYS=${KEYS:-100}
KILLS=${KILLS:-5}
RATE=${RATE:-2500}
PROCESSORS=${PROCESSORS:-kafkademo kstreams-alos kstreams-eos}
OUT=${OUT:-$KD_ROOT/target/stream-crash}
while [[ $# -gt 0 ]]; do
  case $1 in
  --records) RECORDS=$2 && shift 2 ;;
  --keys) KEYS=$2 && shift 2 ;;
  --kills) KILLS=$2 && shift 2 ;;
  --rate) RATE=$2 && shift 2 ;;
  --processors) PROCESSORS=$2 && shift 2 ;;
  --out) OUT=$2 && shift 2 ;;
  -h | --help)
    sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'
    exit 0
    ;;
  *) die "unknown option '$1' (see --help)" ;;
  esac
done
for n in "$RECORDS" "$KEYS" "$KILLS" "$RATE"; do
  [[ $n =~ ^[1-9][0-9]*$ ]] || die "'$n' is not a positive number"
done

BROKERS=$KD_HOST:$KD_KAFKA_PORT
KD=$KD_ROOT/target/release/kafkademo
RUN_ID=$$
WORK=$OUT/work
mkdir -p "$WORK"
RESULTS=$OUT/results.tsv
export KAFKA_BROKERS=$BROKERS

STARTED_BROKER=0
TOPICS=()
APPS=()
PIDS=()
cleanup() {
  local pid t a
  for pid in "${PIDS[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
  for a in "${APPS[@]}"; do "$KD" -q stream reset --application-id "$a" >/dev/null 2>&1 || true; done
  for t in "${TOPICS[@]}"; do "$KD" -q topic delete "$t" --if-exists >/dev/null 2>&1 || true; done
  rm -rf "$WORK/state"
  if ((STARTED_BROKER)); then
    say "Stopping the broker this script started"
    "$KD_ROOT/scripts/kafka-down.sh" || true
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

command -v kcat >/dev/null 2>&1 || die "kcat is missing: install the 'kcat' package (apt-get install -y kcat)"
say "Building kafkademo (release) and the Kafka Streams peer"
(cd "$KD_ROOT" && cargo build --release --quiet) || die "cargo build --release failed"
"$KD_ROOT/scripts/kstreams.sh" build
if ! kafka_probe 3; then
  say "No broker answers on $BROKERS: starting one (and stopping it at the end)"
  STARTED_BROKER=1
  "$KD_ROOT/scripts/kafka-up.sh"
fi

# ---- the input and its batch recomputation ----------------------------------

now_s=$(date +%s)
base=$(((now_s - 1200) / 10 * 10000))
awk -v n="$RECORDS" -v keys="$KEYS" -v base="$base" -v dir="$WORK" 'BEGIN {
  for (i = 0; i < n; i++) {
    key = sprintf("k%02d", (i * 7919) % keys)
    t = base + i * 3
    if (i % 50 == 49) t -= 1500
    # %.0f: awk prints large numbers as 1.76e+12 otherwise (and %d may be 32 bits)
    print key ":{\"t\":" sprintf("%.0f", t) ",\"n\":" i "}" > (dir "/input.txt")
    count[key "@" sprintf("%.0f", int(t / 10000) * 10000)]++
  }
  for (w in count) print w "\t" count[w] > (dir "/expected.tsv")
}'
rm -rf "$WORK/chunks" && mkdir -p "$WORK/chunks"
chunk=$((RATE / 10))
((chunk > 0)) || chunk=1
split -l "$chunk" -d -a 5 "$WORK/input.txt" "$WORK/chunks/c"

# committed GROUP: the sum of the group's committed offsets.
# 0 before the group exists.
committed() {
  { "$KD" -q group describe "$1" 2>/dev/null || true; } |
    awk 'NR > 2 && $3 ~ /^[0-9]+$/ {s += $3} END {print s + 0}'
}

# start PROCESSOR APP IN OUT LOG: starts one instance, sets PID.
start() {
  local p=$1 app=$2 in=$3 out=$4 log=$5
  case $p in
  kafkademo)
    "$KD" -q stream count --input "$in" --output "$out" --application-id "$app" \
      --window 10s --grace 2s --time-field t --session-timeout 6s >>"$log" 2>&1 &
    ;;
  kstreams-*)
    local guarantee=at_least_once
    [[ $p == kstreams-eos ]] && guarantee=exactly_once_v2
    "$KD_ROOT/scripts/kstreams.sh" run --bootstrap "$BROKERS" --input "$in" --output "$out" \
      --application-id "$app" --window 10s --grace 2s --time-field t --session-timeout 6s \
      --guarantee "$guarantee" --state-dir "$WORK/state/$app" >>"$log" 2>&1 &
    ;;
  esac
  PID=$!
  PIDS+=("$PID")
}

# wait_for SECONDS WHAT COMMAND...: polls COMMAND until it succeeds.
wait_for() {
  local secs=$1 what=$2 deadline
  shift 2
  deadline=$(($(date +%s) + secs))
  until "$@"; do
    (($(date +%s) < deadline)) || die "timed out after ${secs}s waiting for $what"
    sleep 0.2
  done
}
moved_past() { (($(committed "$1") > $2)); }
all_counted() { (($(committed "$1") >= RECORDS)); }

printf 'processor\tkills\trecords\twindows\texact\tover_windows\tover_records\tunder_windows\tunder_records\tseconds\n' >"$RESULTS"

run_one() {
  local p=$1 in out app log start_s before pid trickle i delay
  in=kd-crash-$RUN_ID-$p-in
  out=kd-crash-$RUN_ID-$p-out
  app=kd-crash-$RUN_ID-$p
  log=$WORK/$p.log
  : >"$log"
  TOPICS+=("$in" "$out")
  APPS+=("$app")
  "$KD" -q topic create "$in" --partitions 4 >/dev/null
  # Kafka Streams does not create its sink topic (kafkademo would).
  "$KD" -q topic create "$out" --partitions 4 --config cleanup.policy=compact >/dev/null
  say "$p: input trickles in at $RATE records/s; $KILLS SIGKILLs while it counts"
  start_s=$(date +%s)
  (for f in "$WORK"/chunks/c*; do cat "$f" && sleep 0.1; done) |
    "$KD" -q produce --topic "$in" --key-separator : &
  trickle=$!
  for ((i = 1; i <= KILLS; i++)); do
    before=$(committed "$app")
    start "$p" "$app" "$in" "$out" "$log"
    pid=$PID
    wait_for 120 "$p to commit progress (kill $i)" moved_past "$app" "$before"
    delay=$((RANDOM % 700))
    sleep "$(awk -v d="$delay" 'BEGIN {printf "%.3f", d / 1000}')"
    kill -9 "$pid"
    wait "$pid" 2>/dev/null || true
    say "  kill $i: SIGKILL after progress to offset sum $(committed "$app") (+${delay} ms)"
  done
  wait "$trickle" || die "the input producer failed"
  start "$p" "$app" "$in" "$out" "$log"
  pid=$PID
  wait_for 300 "$p to count every record" all_counted "$app"
  # Kafka Streams commits offsets after its outputs; give its producer's
  # last sends a moment beyond the commit, then stop it cleanly.
  kill -TERM "$pid" 2>/dev/null || true
  kill -INT "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  local secs=$(($(date +%s) - start_s))
  # The last value per output key, as a read_committed reader sees it.
  kcat -C -b "$BROKERS" -t "$out" -o beginning -e -q -X isolation.level=read_committed \
    -f '%k\t%s\n' 2>/dev/null |
    sed -n 's/^\([^\t]*\)\t.*"count":\([0-9]*\).*/\1\t\2/p' >"$WORK/$p-output.tsv"
  awk -F'\t' -v p="$p" -v kills="$KILLS" -v n="$RECORDS" -v secs="$secs" '
    FNR == NR { want[$1] = $2; next }
    { got[$1] = $2 }
    END {
      for (w in want) {
        windows++
        g = (w in got) ? got[w] : 0
        if (g == want[w]) exact++
        else if (g > want[w]) { ow++; orec += g - want[w] }
        else { uw++; urec += want[w] - g }
      }
      printf "%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\n", p, kills, n, windows, exact, ow, orec, uw, urec, secs
    }' "$WORK/expected.tsv" "$WORK/$p-output.tsv" >>"$RESULTS"
  tail -n 1 "$RESULTS" | awk -F'\t' '{printf "  %s: %d of %d windows exact, %d over-counted (+%d records), %d short (-%d records)\n", $1, $5, $4, $6, $7, $8, $9}'
}

for p in $PROCESSORS; do
  case $p in
  kafkademo | kstreams-alos | kstreams-eos) run_one "$p" ;;
  *) die "unknown processor '$p' (kafkademo, kstreams-alos, kstreams-eos)" ;;
  esac
done

{
  echo "| processor | guarantee | SIGKILLs | input records | windows | exact | over-counted windows (records) | short windows (records) |"
  echo "|---|---|---:|---:|---:|---:|---:|---:|"
  awk -F'\t' 'NR > 1 {
    name = ($1 == "kafkademo") ? "kafkademo stream count" : "Kafka Streams 4.4"
    g = ($1 == "kafkademo") ? "position stored with the state, upserts" : ($1 == "kstreams-eos") ? "exactly_once_v2 (transactions)" : "at_least_once (default)"
    printf "| %s | %s | %d | %d | %d | %d | %d (+%d) | %d (-%d) |\n", name, g, $2, $3, $4, $5, $6, $7, $8, $9
  }' "$RESULTS"
} | tee "$OUT/table.md"
say "Results in ${OUT#"$KD_ROOT"/}/: table.md, results.tsv"
