#!/usr/bin/env bash
# make stream-demo: the exercise, counted. Producer A writes even numbers every
# second, producer B odd numbers every two seconds (with record timestamps:
# --protocol modern); `kafkademo stream count` counts each producer's records
# per 10 s window into a compacted topic; `kafkademo stream table` shows the
# counts in the terminal as they grow (about 10 for A and 5 for B per complete
# window) and `kafkademo web` draws them as a bar chart in the browser. Runs
# for STREAM_DEMO_SECONDS (default 35), then stops everything, forgets the
# application (`stream reset`), deletes its topics, stops Kafka if it started
# it, and prints the complete windows' counts. STREAM_DEMO_PORT picks the web
# page's port (default 8080, a free one if that is taken); KAFKADEMO a
# kafkademo binary to use instead of building one.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$KD_ROOT"

seconds=${STREAM_DEMO_SECONDS:-35}
[[ $seconds =~ ^[1-9][0-9]*$ ]] || die "STREAM_DEMO_SECONDS must be a whole number of seconds, got '$seconds'"
port=${STREAM_DEMO_PORT:-8080}
[[ $port =~ ^[0-9]+$ ]] || die "STREAM_DEMO_PORT must be a port number, got '$port'"
# Names of this run only, so no earlier run's records or state interfere.
app=stream-demo-$$
input=$app
output=$app-counts
export KAFKA_BROKERS=$KD_HOST:$KD_KAFKA_PORT

if [[ -n ${KAFKADEMO:-} ]]; then
  kd=$KAFKADEMO # a binary already built, e.g. by the tests
else
  say "==> building kafkademo"
  cargo build --release --quiet
  kd=$KD_ROOT/target/release/kafkademo
fi

started_kafka=0 started_zk=0 created=0 counting=0
pids=()
work=$(mktemp -d)
# shellcheck disable=SC2317 # run by the EXIT trap
cleanup() {
  local rc=$? pid
  trap - EXIT INT TERM
  for pid in "${pids[@]}"; do
    kill -INT "$pid" 2>/dev/null || true
  done
  for pid in "${pids[@]}"; do
    wait "$pid" 2>/dev/null || true
  done
  if ((counting)); then
    say "==> forgetting the application: kafkademo stream reset --application-id $app"
    "$kd" stream reset --application-id "$app" | sed 's/^/    /' || rc=1
  fi
  if ((created)); then
    "$kd" -q topic delete "$input" --if-exists || rc=1
    "$kd" -q topic delete "$output" --if-exists || rc=1
    say "==> deleted topics $input and $output"
  fi
  if ((started_kafka)); then
    say "==> stopping the Kafka this demo started"
    scripts/kafka-stop.sh || rc=1
  fi
  if ((started_zk)); then scripts/zookeeper-stop.sh || rc=1; fi
  rm -rf "$work"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if kafka_probe 3; then
  say "==> Kafka is already running at $KAFKA_BROKERS; the demo leaves it running"
else
  mode=$(requested_mode)
  zk_ran=0
  if pid_alive "$KD_ZK_PID" "$KD_ZK_MAIN" >/dev/null; then zk_ran=1; fi
  say "==> no broker answers on $KAFKA_BROKERS: starting Kafka ($mode mode)"
  # A broker of this checkout that already runs (on another port, or in
  # another mode: kafka-up then refuses) is not this run's to stop.
  pid_alive "$KD_KAFKA_PID" "$KD_KAFKA_MAIN" >/dev/null || started_kafka=1
  if [[ $mode == zookeeper ]] && ((!zk_ran)); then started_zk=1; fi
  scripts/kafka-up.sh
fi

created=1
"$kd" topic create "$input" --partitions 1
# compacted, as stream count would create it; created here so that the
# page can start before the first count
"$kd" topic create "$output" --partitions 1 --config cleanup.policy=compact

# Started with a PID (and so a pid in $pids), kafkademo's stdout/stderr in
# $work/NAME.out/.err; waits for PATTERN on stderr or stdout, 30 s at most.
start() { # NAME PATTERN ARGS...
  local name=$1 pattern=$2
  shift 2
  : >"$work/$name.out"
  "$kd" "$@" >"$work/$name.out" 2>"$work/$name.err" &
  last_pid=$!
  pids+=("$last_pid")
  for _ in $(seq 1 300); do
    grep -q "$pattern" "$work/$name.err" "$work/$name.out" && return 0
    kill -0 "$last_pid" 2>/dev/null || { cat "$work/$name.err" >&2; die "$name did not start"; }
    sleep 0.1
  done
  die "$name was not ready within 30 s"
}

say "==> counting: kafkademo --protocol modern stream count --input $input --output $output --application-id $app --window 10s --grace 1s --emit updates"
counting=1
start count 'ready: counting' -v --protocol modern stream count --input "$input" --output "$output" \
  --application-id "$app" --window 10s --grace 1s --emit updates
count_pid=$last_pid

# the page: STREAM_DEMO_PORT if free, else any free port (bash's /dev/tcp
# connects when something listens)
if (exec 3<>"/dev/tcp/$KD_HOST/$port") 2>/dev/null; then
  say "    (port $port is taken; the page gets a free one)"
  port=0
fi
start web '^Serving topic' web --topic "$output" --port "$port"
web_pid=$last_pid
url=$(sed -n "s/^Serving topic .* at //p" "$work/web.out")
say "==> the counts as a bar chart: open $url  (kafkademo web --topic $output)"

say "==> the counts as they change: kafkademo stream table --topic $output"
"$kd" stream table --topic "$output" >"$work/table.out" 2>"$work/table.err" &
table_pid=$!
pids+=("$table_pid")
# the table, live; tail ends by itself within a second of the table's exit
tail -n +1 -s 0.2 -f --pid="$table_pid" "$work/table.out" 2>/dev/null | sed -u 's/^/    T | /' &
show_pid=$!
pids+=("$show_pid")

say "==> producer A: produce even --interval 1s    producer B: produce odd --interval 2s    (--protocol modern, $seconds s)"
first_ms=$(now_ms)
"$kd" --protocol modern produce even --topic "$input" --duration "${seconds}s" >"$work/a.out" 2>"$work/a.err" &
a_pid=$!
"$kd" --protocol modern produce odd --topic "$input" --duration "${seconds}s" >"$work/b.out" 2>"$work/b.err" &
b_pid=$!
pids+=("$a_pid" "$b_pid")
a_rc=0 b_rc=0
wait "$a_pid" || a_rc=$?
wait "$b_pid" || b_rc=$?
last_ms=$(now_ms)
((a_rc == 0)) || { cat "$work/a.err" >&2; die "producer A failed (exit $a_rc)"; }
((b_rc == 0)) || { cat "$work/b.err" >&2; die "producer B failed (exit $b_rc)"; }
a_sent=$(wc -l <"$work/a.out")
b_sent=$(wc -l <"$work/b.out")

# The counts as they stand: one `START KEY COUNT` line per window, the
# latest value of each output record (windows are 10 s, so end = start + 10 s).
counts() {
  "$kd" stream table --topic "$output" --exit-at-end --format json |
    sed -n 's/^{"key":"\([^"@]*\)@\([0-9]*\)".*\\"count\\":\([0-9]*\).*/\2 \1 \3/p' | sort -n
}
total() { # KEY: the sum of KEY's counts over all windows
  counts | awk -v k="$1" '$2 == k { n += $3 } END { print n + 0 }'
}
# Let the count catch up: every record sent is in some window (none is late:
# each producer's timestamps only grow).
for _ in $(seq 1 100); do
  [[ $(total A) == "$a_sent" && $(total B) == "$b_sent" ]] && break
  sleep 0.2
done
sleep 0.5 # the last changes reach the table and the page

# Stop as Ctrl-C would: the table, the page, the count (which leaves its group).
for pid in "$table_pid" "$web_pid" "$count_pid"; do
  kill -INT "$pid" 2>/dev/null || true
done
count_rc=0
wait "$count_pid" || count_rc=$?
wait "$web_pid" || true
wait "$table_pid" || true
wait "$show_pid" || true
((count_rc == 130 || count_rc == 0)) || { cat "$work/count.err" >&2; die "stream count failed (exit $count_rc)"; }
# its summary line at exit: "stream count: N records …, L late (dropped), …"
late=$(sed -n 's/^stream count: .*, \([0-9][0-9]*\) late.*/\1/p' "$work/count.err" | tail -n 1)

clock() { date -u -d "@$(($1 / 1000))" +%H:%M:%S; }
say "==> summary (topics $input -> $output, $seconds s, 10 s windows; times UTC, as in the table)"
printf '    producer A sent %3d numbers, counted %3d; producer B sent %3d, counted %3d; late (dropped): %s\n' \
  "$a_sent" "$(total A)" "$b_sent" "$(total B)" "${late:-?}"
say "    complete windows (the producers ran throughout; read with stream table --exit-at-end):"
counts >"$work/counts"
complete=0 a_last=- b_last=-
for start in $(awk '{ print $1 }' "$work/counts" | uniq); do
  ((start >= first_ms && start + 10000 <= last_ms)) || continue
  a=$(awk -v s="$start" '$1 == s && $2 == "A" { print $3 }' "$work/counts")
  b=$(awk -v s="$start" '$1 == s && $2 == "B" { print $3 }' "$work/counts")
  printf '      %s – %s   A %3s   B %3s\n' "$(clock "$start")" "$(clock $((start + 10000)))" "${a:-0}" "${b:-0}"
  complete=$((complete + 1)) a_last=${a:-0} b_last=${b:-0}
done
if ((complete)); then
  say "    the last complete window: A $a_last, B $b_last (A writes 10 per 10 s, B 5)"
else
  say "    none: run longer than 20 s (STREAM_DEMO_SECONDS) to see one"
fi
