#!/usr/bin/env bash
# make stream-crash: the crash experiment of docs/streams.md, side by side.
# The same input (RECORDS records over KEYS keys, event times in a JSON field,
# in order except every 50th record 1.5 s early, within the 2 s grace)
# trickles into a 4-partition topic while a windowed count (10 s windows,
# session timeout 6 s) runs on it, under each fault of FAULTS:
#
#   kill   one instance is SIGKILLed KILLS times, each time while it works
#          (a random 0-0.7 s after its committed offsets moved on), and
#          started again; the last instance reads to the end. (An instance
#          that exits by itself is started again, and counted; Kafka Streams
#          with its local state wiped, which it restores from its changelog.)
#   pause  two instances of the application run at once, and in turn (PAUSES
#          times, alternating; out of turn when the one due runs no tasks
#          within 10 s) one is stopped with SIGSTOP while it works (a
#          random 0-0.7 s after the committed offsets of its tasks moved on)
#          and kept stopped until the other one has taken its tasks over (its
#          log says so) and moved their committed offsets on, at most
#          PAUSE_BOUND seconds, then let go with SIGCONT: the zombie case, an
#          instance the group dropped that resumes with stale state. Both
#          then read to the end.
#
# Then every window's final count, read read_committed from the output, is
# compared with a batch recomputation of the input. Processors: kafkademo
# `stream count` with --guarantee exactly-once (its default; "kafkademo") and
# --guarantee unfenced ("kafkademo-unfenced"), and the same count written with
# Kafka Streams (scripts/kstreams.sh) in at_least_once and exactly_once_v2
# mode. Prints one table; writes it, the raw results, each pause and the
# processors' logs under OUT (target/stream-crash).
#
# Uses the broker at 127.0.0.1:9092 (KAFKA_PORT); starts Kafka 3.9 if none
# answers and stops only a broker it started.
#
# Options (or environment): --records N (RECORDS, 200000), --keys N (KEYS,
# 100), --kills N (KILLS, 5), --pauses N (PAUSES, 4), --pause-bound SECONDS
# (PAUSE_BOUND, 40), --rate N (RATE, records/s of the trickle, 2500),
# --faults "kill pause" (FAULTS), --processors "kafkademo kafkademo-unfenced
# kstreams-alos kstreams-eos" (PROCESSORS), --out DIR.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

RECORDS=${RECORDS:-200000}
KEYS=${KEYS:-100}
KILLS=${KILLS:-5}
PAUSES=${PAUSES:-4}
PAUSE_BOUND=${PAUSE_BOUND:-40}
RATE=${RATE:-2500}
FAULTS=${FAULTS:-kill pause}
PROCESSORS=${PROCESSORS:-kafkademo kafkademo-unfenced kstreams-alos kstreams-eos}
OUT=${OUT:-$KD_ROOT/target/stream-crash}
while [[ $# -gt 0 ]]; do
  case $1 in
  --records) RECORDS=$2 && shift 2 ;;
  --keys) KEYS=$2 && shift 2 ;;
  --kills) KILLS=$2 && shift 2 ;;
  --pauses) PAUSES=$2 && shift 2 ;;
  --pause-bound) PAUSE_BOUND=$2 && shift 2 ;;
  --rate) RATE=$2 && shift 2 ;;
  --faults) FAULTS=$2 && shift 2 ;;
  --processors) PROCESSORS=$2 && shift 2 ;;
  --out) OUT=$2 && shift 2 ;;
  -h | --help)
    usage_header "${BASH_SOURCE[0]}"
    exit 0
    ;;
  *) die "unknown option '$1' (see --help)" ;;
  esac
done
require_positive "$RECORDS" "$KEYS" "$KILLS" "$PAUSES" "$PAUSE_BOUND" "$RATE"
for f in $FAULTS; do
  [[ $f == kill || $f == pause ]] || die "unknown fault '$f' (kill, pause)"
done
for p in $PROCESSORS; do
  case $p in
  kafkademo | kafkademo-unfenced | kstreams-alos | kstreams-eos) ;;
  *) die "unknown processor '$p' (kafkademo, kafkademo-unfenced, kstreams-alos, kstreams-eos)" ;;
  esac
done

BROKERS=$KD_HOST:$KD_KAFKA_PORT
KD=$KD_ROOT/target/release/kafkademo
RUN_ID=$$
WORK=$OUT/work
mkdir -p "$WORK"
RESULTS=$OUT/results.tsv
PAUSE_LOG=$OUT/pauses.tsv
export KAFKA_BROKERS=$BROKERS

TOPICS=()
APPS=()
PIDS=()
cleanup() {
  local pid t a
  for pid in "${PIDS[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
  for a in "${APPS[@]}"; do "$KD" -q stream reset --application-id "$a" >/dev/null 2>&1 || true; done
  for t in "${TOPICS[@]}"; do "$KD" -q topic delete "$t" --if-exists >/dev/null 2>&1 || true; done
  rm -rf "$WORK/state"
  stop_started_broker
}
trap cleanup EXIT
trap 'exit 130' INT TERM

say "Building kafkademo (release) and the Kafka Streams peer"
(cd "$KD_ROOT" && cargo build --release --quiet) || die "cargo build --release failed"
"$KD_ROOT/scripts/kstreams.sh" build
start_broker_unless_up

# ---- the input and its batch recomputation ----------------------------------

now_s=$(date +%s)
# shellcheck disable=SC2017 # whole 10 s: the windows start on the first record
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

# ---- probes -------------------------------------------------------------------

# offsets APP TOPIC: "PARTITION OFFSET" lines, the group's committed offsets
# of TOPIC (none before the group exists).
offsets() {
  { "$KD" -q group describe "$1" 2>/dev/null || true; } |
    awk -v t="$2" 'NR > 2 && $1 == t && $3 ~ /^[0-9]+$/ {print $2, $3}'
}
# committed APP TOPIC [PARTITIONS]: the sum of the committed offsets (of
# PARTITIONS, a space-separated list; all by default). 0 before the group exists.
committed() {
  offsets "$1" "$2" | awk -v only="${3-all}" '
    BEGIN { n = split(only, ps, " "); for (i = 1; i <= n; i++) want[ps[i]] = 1 }
    only == "all" || ($1 in want) { s += $2 }
    END { print s + 0 }'
}
moved_past() { (($(committed "$1" "$2" "${4-all}") > $3)); }
all_counted() { (($(committed "$1" "$2") >= RECORDS)); }
# all_moved APP TOPIC SNAPSHOT: every partition in SNAPSHOT ("P:OFFSET ...")
# has a committed offset beyond it.
all_moved() {
  offsets "$1" "$2" | awk -v snap="$3" '
    BEGIN { n = split(snap, s, " "); for (i = 1; i <= n; i++) { split(s[i], f, ":"); want[f[1]] = f[2] } }
    ($1 in want) && $2 > want[$1] { moved++ }
    END { exit !(moved == n) }'
}
# snapshot APP TOPIC PARTITIONS: "P:OFFSET ..." for PARTITIONS (-1 if none yet).
snapshot() {
  offsets "$1" "$2" | awk -v only="$3" '
    { at[$1] = $2 }
    END { n = split(only, ps, " "); for (i = 1; i <= n; i++) printf "%s%s:%d", (i > 1 ? " " : ""), ps[i], (ps[i] in at) ? at[ps[i]] : -1 }'
}

# tasks_of LOG [FROM]: "=P P ..." for the partitions the instance logging to
# LOG last said it runs (in what it wrote from byte FROM on; "=" for none),
# nothing if it said nothing. kafkademo (-v) says it at each join of its
# group ("assigned partitions [..]"), when ready ("partitions [..] into"),
# when they change ("tasks [..] -> [..]") and at each restore ("tasks [..]
# restored from"); the Kafka Streams peer prints "TASKS [..]" each time it
# reaches RUNNING.
tasks_of() {
  local last
  last=$(tail -c +"$((${2:-0} + 1))" "$1" 2>/dev/null | sed -n \
    -e 's/^\[[^]]*\] ready: counting topic .* partitions \[\([0-9, ]*\)\] into .*/=\1/p' \
    -e "s/^\[[^]]*\] group '.*' generation [0-9]*: assigned partitions \[\([0-9, ]*\)\] of topic .*/=\1/p" \
    -e 's/^\[[^]]*\] tasks \[[0-9, ]*\] -> \[\([0-9, ]*\)\]$/=\1/p' \
    -e 's/^stream count: tasks \[\([0-9, ]*\)\] restored from .*/=\1/p' \
    -e 's/^TASKS \[\([0-9, ]*\)\]$/=\1/p' | tail -n 1)
  [[ -n $last ]] || return 1
  printf '%s\n' "${last//,/}"
}
has_tasks() {
  local t
  t=$(tasks_of "$1" "${2:-0}") && [[ $t != "=" ]]
}
both_have_tasks() { has_tasks "$1" && has_tasks "$2"; }
# took_over LOG FROM PARTITIONS: the instance logging to LOG said, after byte
# FROM, that it runs every one of PARTITIONS.
took_over() {
  local t p
  t=$(tasks_of "$1" "$2") || return 1
  for p in $3; do [[ " ${t#=} " == *" $p "* ]] || return 1; done
}
log_size() { wc -c <"$1"; }

# wait_for SECONDS WHAT COMMAND...: polls COMMAND until it succeeds; dies at the bound.
wait_for() {
  local secs=$1 what=$2 deadline
  shift 2
  deadline=$(($(date +%s) + secs))
  until "$@"; do
    (($(date +%s) < deadline)) || die "timed out after ${secs}s waiting for $what"
    sleep 0.2
  done
}
# within MS_DEADLINE COMMAND...: polls COMMAND until it succeeds (0) or the
# deadline (now_ms) passes (1).
within() {
  local deadline=$1
  shift
  until "$@"; do
    (($(now_ms) < deadline)) || return 1
    sleep 0.2
  done
}
secs_since() { awk -v ms="$(($(now_ms) - $1))" 'BEGIN {printf "%.1f", ms / 1000}'; }
random_delay() { # sleeps 0-0.7 s, sets DELAY (ms)
  DELAY=$((RANDOM % 700))
  sleep "$(awk -v d="$DELAY" 'BEGIN {printf "%.3f", d / 1000}')"
}

# ---- processors -------------------------------------------------------------

# start PROCESSOR APP IN OUT LOG [STATE]: starts one instance, sets PID.
# kafkademo logs at info level (-v), so its log says which tasks it runs.
start() {
  local p=$1 app=$2 in=$3 out=$4 log=$5 state=${6:-$WORK/state/$2}
  case $p in
  kafkademo | kafkademo-unfenced)
    local guarantee=exactly-once
    [[ $p == kafkademo-unfenced ]] && guarantee=unfenced
    "$KD" -v stream count --input "$in" --output "$out" --application-id "$app" \
      --window 10s --grace 2s --time-field t --session-timeout 6s \
      --guarantee "$guarantee" >>"$log" 2>&1 &
    ;;
  kstreams-*)
    local guarantee=at_least_once
    [[ $p == kstreams-eos ]] && guarantee=exactly_once_v2
    # exec: the JVM replaces kstreams.sh, so PID is the java process.
    "$KD_ROOT/scripts/kstreams.sh" run --bootstrap "$BROKERS" --input "$in" --output "$out" \
      --application-id "$app" --window 10s --grace 2s --time-field t --session-timeout 6s \
      --guarantee "$guarantee" --state-dir "$state" >>"$log" 2>&1 &
    ;;
  esac
  PID=$!
  PIDS+=("$PID")
}

# stop PID...: one SIGTERM each (Kafka Streams closes; kafkademo takes it as
# Ctrl-C: it commits, prints its summary and leaves the group, where a second
# signal would make it exit at once), then waits.
stop() {
  local pid
  for pid in "$@"; do
    kill -CONT "$pid" 2>/dev/null || true
    kill -TERM "$pid" 2>/dev/null || true
  done
  for pid in "$@"; do wait "$pid" 2>/dev/null || true; done
}

# settled APP IN: every record counted and the committed offsets unchanged
# for 5 s (an instance that resumed stale may make a task count again from
# an older position; this waits that out).
SETTLE_SUM=-1
SETTLE_SINCE=0
settled() {
  local sum
  sum=$(committed "$1" "$2")
  if ((sum != SETTLE_SUM)); then
    SETTLE_SUM=$sum
    SETTLE_SINCE=$(now_ms)
    return 1
  fi
  ((sum >= RECORDS && $(now_ms) - SETTLE_SINCE >= 5000))
}

printf 'processor\tfault\tfaults\trecords\twindows\texact\tover_windows\tover_records\tunder_windows\tunder_records\tseconds\tbound_hits\texits\n' >"$RESULTS"
printf 'processor\tpause\tinstance\tout_of_turn\tcomm\ttasks\tdelay_ms\tinput_flowing\tprogress_seen\ttakeover_s\tmoved_s\tbound_hit\tstopped_s\trejoined_s\tzombie_lines\n' >"$PAUSE_LOG"

# setup P FAULT: topics and names for one run; sets IN, OUTT, APP.
setup() {
  local p=$1 fault=$2
  IN=kd-crash-$RUN_ID-$p-$fault-in
  OUTT=kd-crash-$RUN_ID-$p-$fault-out
  APP=kd-crash-$RUN_ID-$p-$fault
  TOPICS+=("$IN" "$OUTT")
  APPS+=("$APP")
  "$KD" -q topic create "$IN" --partitions 4 >/dev/null
  # Kafka Streams does not create its sink topic (kafkademo would).
  "$KD" -q topic create "$OUTT" --partitions 4 --config cleanup.policy=compact >/dev/null
}

trickle_start() {
  (for f in "$WORK"/chunks/c*; do cat "$f" && sleep 0.1; done) |
    "$KD" -q produce --topic "$IN" --key-separator : &
  TRICKLE=$!
}

# compare P FAULT FAULTS SECONDS BOUND_HITS EXITS: reads the output and
# appends the comparison to RESULTS.
compare() {
  local p=$1 fault=$2 n=$3 secs=$4 hits=$5 exits=$6
  # The last value per output key, as a read_committed reader sees it (the
  # modern data path reads read_committed; the same for every processor:
  # records outside transactions are all visible to it).
  "$KD" -q --protocol modern stream table --topic "$OUTT" --exit-at-end --format json |
    sed -n 's/^{"key":"\([^"]*\)".*\\"count\\":\([0-9]*\).*/\1\t\2/p' >"$WORK/$p-$fault-output.tsv"
  awk -F'\t' -v p="$p" -v fault="$fault" -v faults="$n" -v n="$RECORDS" -v secs="$secs" -v hits="$hits" -v exits="$exits" '
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
      for (w in got) if (!(w in want)) { ow++; orec += got[w] }
      printf "%s\t%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\n", p, fault, faults, n, windows, exact, ow, orec, uw, urec, secs, hits, exits
    }' "$WORK/expected.tsv" "$WORK/$p-$fault-output.tsv" >>"$RESULTS"
  tail -n 1 "$RESULTS" | awk -F'\t' '{printf "  %s, %s: %d of %d windows exact, %d over-counted (+%d records), %d short (-%d records)\n", $1, $2, $6, $5, $7, $8, $9, $10}'
}

# ---- kill: SIGKILLs, one instance at a time ------------------------------------

# running P LOG: the instance PID still runs, or is started again if it
# exited by itself (counted in EXITS; Kafka Streams with its local state
# wiped first, as an operator would: a SIGKILL can leave a store that it
# then cannot open at start, and fails at once every time). Dies after 3.
EXITS=0
running() {
  local p=$1 log=$2 why
  kill -0 "$PID" 2>/dev/null && return 0
  wait "$PID" 2>/dev/null || true
  EXITS=$((EXITS + 1))
  why=$(grep -E 'cannot start|error|ERROR|failed' "$log" | tail -n 1 | cut -c1-300) || true
  warn "$p: the instance exited by itself (${why:-see ${log#"$KD_ROOT"/}})"
  ((EXITS <= 3)) || die "$p: instances exited by themselves $EXITS times (log: ${log#"$KD_ROOT"/})"
  if [[ $p == kstreams-* ]]; then
    warn "$p: starting it again with its local state wiped (it restores from the changelog)"
    rm -rf "$WORK/state/$APP"
  else
    warn "$p: starting it again"
  fi
  start "$p" "$APP" "$IN" "$OUTT" "$log"
}
running_moved_past() { running "$1" "$2" && moved_past "$APP" "$IN" "$3"; }
running_all_counted() { running "$1" "$2" && all_counted "$APP" "$IN"; }

run_kill() {
  local p=$1 log start_s before i
  setup "$p" kill
  log=$WORK/$p-kill.log
  : >"$log"
  say "$p, kill: input trickles in at $RATE records/s; $KILLS SIGKILLs while it counts"
  start_s=$(date +%s)
  EXITS=0
  trickle_start
  for ((i = 1; i <= KILLS; i++)); do
    before=$(committed "$APP" "$IN")
    start "$p" "$APP" "$IN" "$OUTT" "$log"
    wait_for 120 "$p to commit progress (kill $i)" running_moved_past "$p" "$log" "$before"
    random_delay
    kill -9 "$PID"
    wait "$PID" 2>/dev/null || true
    say "  kill $i: SIGKILL after progress to offset sum $(committed "$APP" "$IN") (+${DELAY} ms)"
  done
  wait "$TRICKLE" || die "the input producer failed"
  start "$p" "$APP" "$IN" "$OUTT" "$log"
  wait_for 300 "$p to count every record" running_all_counted "$p" "$log"
  # Kafka Streams commits offsets after its outputs: stop it cleanly.
  stop "$PID"
  compare "$p" kill "$KILLS" $(($(date +%s) - start_s)) 0 "$EXITS"
}

# ---- pause: two instances, each SIGSTOPped in turn ----------------------------

name_of() { if (($1 == 0)); then echo a; else echo b; fi; }

run_pause() {
  local p=$1 start_s i x y hits=0 t0 mark_y mark_x xt snap took moved bound resumed stopped
  local flowing progress comm zombie deadline swapped
  local -a pid log
  setup "$p" pause
  log=("$WORK/$p-pause-a.log" "$WORK/$p-pause-b.log")
  : >"${log[0]}"
  : >"${log[1]}"
  say "$p, pause: input trickles in at $RATE records/s; two instances, $PAUSES SIGSTOPs in turn"
  start_s=$(date +%s)
  trickle_start
  start "$p" "$APP" "$IN" "$OUTT" "${log[0]}" "$WORK/state/$APP/a"
  pid[0]=$PID
  start "$p" "$APP" "$IN" "$OUTT" "${log[1]}" "$WORK/state/$APP/b"
  pid[1]=$PID
  wait_for 180 "$p: both instances to run tasks" both_have_tasks "${log[0]}" "${log[1]}"
  x=1
  for ((i = 1; i <= PAUSES; i++)); do
    # In turn: the one not paused last, once it runs tasks again (the
    # group may still be moving them); if it gets none within 10 s (Kafka
    # Streams can keep a returning instance on warm-up tasks only until a
    # probing rebalance), the other one, so that the pause lands while the
    # input flows.
    x=$((1 - x))
    swapped=no
    if ! within $(($(now_ms) + 10000)) has_tasks "${log[x]}" && has_tasks "${log[1 - x]}"; then
      x=$((1 - x)) # (it ran none within 10 s, and the other one runs some)
      swapped=yes
    fi
    y=$((1 - x))
    xt=$(tasks_of "${log[x]}" || true)
    xt=${xt#=}
    # While it works: its tasks' committed offsets just moved on.
    progress=yes
    if [[ -n $xt ]]; then
      local before
      before=$(committed "$APP" "$IN" "$xt")
      within $(($(now_ms) + 120000)) moved_past "$APP" "$IN" "$before" "$xt" || progress=no
    else
      progress=no
    fi
    random_delay
    if ! kill -0 "${pid[x]}" 2>/dev/null; then
      warn "$p pause $i: instance $(name_of "$x") has exited by itself; no more pauses (its log: ${log[x]#"$KD_ROOT"/})"
      break
    fi
    flowing=no
    kill -0 "$TRICKLE" 2>/dev/null && flowing=yes
    mark_y=$(log_size "${log[y]}")
    kill -STOP "${pid[x]}"
    t0=$(now_ms)
    comm=$(cat "/proc/${pid[x]}/comm" 2>/dev/null || echo '?')
    deadline=$((t0 + PAUSE_BOUND * 1000))
    # The other one says it runs the paused one's tasks, then their
    # committed offsets move on after that.
    took=- moved=- bound=no
    if [[ -n $xt ]] && within "$deadline" took_over "${log[y]}" "$mark_y" "$xt"; then
      took=$(secs_since "$t0")
      snap=$(snapshot "$APP" "$IN" "$xt")
      if within "$deadline" all_moved "$APP" "$IN" "$snap"; then
        moved=$(secs_since "$t0")
      else
        bound=yes
      fi
    else
      bound=yes
    fi
    [[ $bound == yes ]] && hits=$((hits + 1))
    mark_x=$(log_size "${log[x]}")
    stopped=$(secs_since "$t0")
    kill -CONT "${pid[x]}"
    # It comes back: a new task list in its log (it rejoined the group).
    resumed=-
    if within $(($(now_ms) + PAUSE_BOUND * 1000)) tasks_of "${log[x]}" "$mark_x" >/dev/null; then
      resumed=$(secs_since "$t0")
    fi
    # What it said of being fenced or refused, once back.
    zombie=$(tail -c +"$((mark_x + 1))" "${log[x]}" |
      grep -c -E 'moved on while|flush refused|commit refused|being fenced|ProducerFenced|TaskMigrated|CommitFailed|InvalidProducerEpoch|UnknownMemberId|IllegalGeneration' || true)
    printf '%s\t%d\t%s\t%s\t%s\t%s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$p" "$i" "$(name_of "$x")" "$swapped" \
      "$comm" "${xt:--}" "$DELAY" "$flowing" "$progress" "$took" "$moved" "$bound" "$stopped" "$resumed" "$zombie" >>"$PAUSE_LOG"
    say "  pause $i: instance $(name_of "$x")$([[ $swapped == yes ]] && echo ' (out of turn: the other ran no tasks)') ($comm, tasks ${xt:-none}) SIGSTOP +${DELAY} ms after progress$([[ $progress == yes ]] || echo ' (no progress seen)'), input $([[ $flowing == yes ]] && echo flowing || echo 'all sent'); taken over after ${took} s, offsets moved after ${moved} s$([[ $bound == yes ]] && echo " (bound ${PAUSE_BOUND} s hit)"); SIGCONT after ${stopped} s, rejoined after ${resumed} s; it logged ${zombie} lines of being dropped or refused"
  done
  wait "$TRICKLE" || die "the input producer failed"
  # Both read to the end; should neither run any more, a last instance does.
  local alive=() exits=0
  for i in 0 1; do
    if kill -0 "${pid[i]}" 2>/dev/null; then
      alive+=("${pid[i]}")
    else
      warn "$p: instance $(name_of "$i") exited by itself before the end (its log: ${log[i]#"$KD_ROOT"/})"
      exits=$((exits + 1))
    fi
  done
  if ((${#alive[@]} == 0)); then
    start "$p" "$APP" "$IN" "$OUTT" "$WORK/$p-pause-last.log" "$WORK/state/$APP/last"
    alive=("$PID")
  fi
  SETTLE_SUM=-1
  wait_for 300 "$p to count every record" settled "$APP" "$IN"
  stop "${alive[@]}"
  compare "$p" pause "$PAUSES" $(($(date +%s) - start_s)) "$hits" "$exits"
}

for fault in $FAULTS; do
  for p in $PROCESSORS; do
    "run_$fault" "$p"
  done
done

{
  echo "| processor | guarantee | fault | faults | input records | windows | exact | over-counted windows (records) | short windows (records) |"
  echo "|---|---|---|---:|---:|---:|---:|---:|---:|"
  awk -F'\t' 'NR > 1 {
    name = ($1 ~ /^kafkademo/) ? "kafkademo stream count" : "Kafka Streams 4.4"
    g = ($1 == "kafkademo") ? "exactly-once (default): transactions, offsets under the group generation" : \
        ($1 == "kafkademo-unfenced") ? "unfenced: position stored with the state, upserts" : \
        ($1 == "kstreams-eos") ? "exactly_once_v2 (transactions)" : "at_least_once (default)"
    f = ($2 == "kill") ? "SIGKILL" : "SIGSTOP/SIGCONT"
    note = ($12 > 0) ? sprintf(" (bound hit %d)", $12) : ""
    if ($13 > 0) note = note sprintf(" (%d exited by itself)", $13)
    printf "| %s | %s | %s | %d%s | %d | %d | %d | %d (+%d) | %d (-%d) |\n", name, g, f, $3, note, $4, $5, $6, $7, $8, $9, $10
  }' "$RESULTS"
} | tee "$OUT/table.md"
say "Results in ${OUT#"$KD_ROOT"/}/: table.md, results.tsv, pauses.tsv, work/*.log"
