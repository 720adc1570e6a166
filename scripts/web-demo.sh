#!/usr/bin/env bash
# make web-demo: the exercise in a browser. Starts Kafka if none answers on
# 127.0.0.1:9092 (and stops what it started when done; a broker that already
# ran is left alone), creates topic `sample` if missing, runs producer A
# (even numbers, every second) and producer B (odd numbers, every two
# seconds), and serves the page with `kafkademo web`. Ctrl-C stops it all.
#
#   scripts/web-demo.sh [kafkademo web options]     e.g. --port 8081
#   WEB_DEMO_TOPIC=other scripts/web-demo.sh        another topic
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$KD_ROOT"

topic=${WEB_DEMO_TOPIC:-sample}
say "==> cargo build"
cargo build --quiet
bin=${CARGO_TARGET_DIR:-$KD_ROOT/target}/debug/kafkademo

started_kafka=0 started_zk=0 pids=()

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
  if ((started_kafka)); then scripts/kafka-stop.sh || rc=1; fi
  if ((started_zk)); then scripts/zookeeper-stop.sh || rc=1; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if ! kafka_probe 3; then
  mode=$(requested_mode)
  zk_ran=0
  if pid_alive "$KD_ZK_PID" "$KD_ZK_MAIN" >/dev/null; then zk_ran=1; fi
  say "==> no broker answers on $KD_HOST:$KD_KAFKA_PORT: starting Kafka ($mode mode)"
  # A broker of this checkout that already runs (on another port, or in
  # another mode: kafka-up then refuses) is not this run's to stop.
  pid_alive "$KD_KAFKA_PID" "$KD_KAFKA_MAIN" >/dev/null || started_kafka=1
  if [[ $mode == zookeeper ]] && ((!zk_ran)); then started_zk=1; fi
  scripts/kafka-up.sh
fi

"$bin" topic create "$topic" --partitions 2 --if-not-exists
"$bin" produce even --topic "$topic" >/dev/null &
pids+=($!)
"$bin" produce odd --topic "$topic" >/dev/null &
pids+=($!)
say "==> producers A (even, 1/s) and B (odd, 1/2s) write to '$topic'; Ctrl-C stops everything"
"$bin" web --topic "$topic" "$@" &
web=$!
pids+=("$web")
rc=0
wait "$web" || rc=$?
exit "$rc"
