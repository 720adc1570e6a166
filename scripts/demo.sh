#!/usr/bin/env bash
# make demo: the tutorial exercise in one command. Producer A writes even
# numbers every second, producer B odd numbers every two seconds, both to topic
# `sample`; consumer C prints each number with its origin. Runs for
# DEMO_SECONDS (default 20), then stops all three, stops Kafka if it started
# it, and prints a summary. DEMO_TOPIC picks another topic; KAFKADEMO a
# kafkademo binary to use instead of building one.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$KD_ROOT"

seconds=${DEMO_SECONDS:-20}
[[ $seconds =~ ^[1-9][0-9]*$ ]] || die "DEMO_SECONDS must be a whole number of seconds, got '$seconds'"
topic=${DEMO_TOPIC:-sample}
export KAFKA_BROKERS=$KD_HOST:$KD_KAFKA_PORT

if [[ -n ${KAFKADEMO:-} ]]; then
  kd=$KAFKADEMO # a binary already built, e.g. by the tests
else
  say "==> building kafkademo"
  cargo build --release --quiet
  kd=$KD_ROOT/target/release/kafkademo
fi

started_kafka=0
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
  if ((started_kafka)); then
    say "==> stopping the Kafka this demo started"
    scripts/kafka-down.sh || rc=1
  fi
  rm -rf "$work"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if kafka_probe 3; then
  say "==> Kafka is already running at $KAFKA_BROKERS (brokers $KD_BROKERS); the demo leaves it running"
else
  say "==> starting Kafka (ZooKeeper first, as in the docs)"
  # A broker of this checkout that already runs (on another port, or in
  # another mode: kafka-up then refuses) is not this run's to stop.
  pid_alive "$KD_KAFKA_PID" "$KD_KAFKA_MAIN" >/dev/null || started_kafka=1
  scripts/kafka-up.sh
fi

"$kd" topic create "$topic" --if-not-exists

say "==> consumer C: kafkademo consume --topic $topic"
: >"$work/c.out" # before tail opens it: the redirect below happens in the child
"$kd" -v consume --topic "$topic" >"$work/c.out" 2>"$work/c.err" &
c_pid=$!
pids+=("$c_pid")
# C's output, live; tail ends by itself within a second of C's exit.
tail -n +1 -s 0.2 -f --pid="$c_pid" "$work/c.out" 2>/dev/null | sed -u 's/^/    C | /' &
show_pid=$!
pids+=("$show_pid")
for _ in $(seq 1 300); do
  grep -q 'ready: reading topic' "$work/c.err" && break
  kill -0 "$c_pid" 2>/dev/null || { cat "$work/c.err" >&2; die "consumer C did not start"; }
  sleep 0.1
done
grep -q 'ready: reading topic' "$work/c.err" || die "consumer C was not ready within 30 s"

say "==> producer A: kafkademo produce even --interval 1s    producer B: kafkademo produce odd --interval 2s    ($seconds s)"
"$kd" produce even --topic "$topic" --duration "${seconds}s" >"$work/a.out" 2>"$work/a.err" &
a_pid=$!
"$kd" produce odd --topic "$topic" --duration "${seconds}s" >"$work/b.out" 2>"$work/b.err" &
b_pid=$!
pids+=("$a_pid" "$b_pid")
a_rc=0 b_rc=0
wait "$a_pid" || a_rc=$?
wait "$b_pid" || b_rc=$?
((a_rc == 0)) || { cat "$work/a.err" >&2; die "producer A failed (exit $a_rc)"; }
((b_rc == 0)) || { cat "$work/b.err" >&2; die "producer B failed (exit $b_rc)"; }

# Let C print what is still in flight, then stop it as Ctrl-C would.
sent=$(($(wc -l <"$work/a.out") + $(wc -l <"$work/b.out")))
for _ in $(seq 1 100); do
  (($(wc -l <"$work/c.out") >= sent)) && break
  sleep 0.1
done
kill -INT "$c_pid" 2>/dev/null || true
c_rc=0
wait "$c_pid" || c_rc=$?
wait "$show_pid" || true
((c_rc == 130 || c_rc == 0)) || { cat "$work/c.err" >&2; die "consumer C failed (exit $c_rc)"; }

# sent lines look like "sent A 4 (partition 0, offset 17)"; C's like "A 4"
summary() { # ORIGIN PRODUCER_OUT
  local origin=$1 out=$2 sent got first last missing
  sent=$(wc -l <"$out")
  got=$(grep -c "^$origin " "$work/c.out" || true)
  first=$(awk 'NR==1{print $3}' "$out")
  last=$(awk 'END{print $3}' "$out")
  missing=$(comm -23 <(awk '{print $3}' "$out" | sort) <(awk -v o="$origin" '$1==o{print $2}' "$work/c.out" | sort) | wc -l)
  printf '    producer %s sent %3d numbers (%s..%s); consumer C printed %3d of them; missing: %d\n' \
    "$origin" "$sent" "${first:--}" "${last:--}" "$got" "$missing"
}
say "==> summary (topic $topic, $seconds s)"
summary A "$work/a.out"
summary B "$work/b.out"
