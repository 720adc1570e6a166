#!/usr/bin/env bash
# Broker loss during a chat is reported, not a hang. Starts a PRIVATE
# single-node KRaft broker (127.0.0.1:$PORT, controller on PORT+1, data in a
# temp dir; the shared broker on 9092 is never touched), joins a chat on it
# with --timeout 3s, then:
#   1. freezes the broker (SIGSTOP): the chat must exit 69 ("did not answer
#      within 3s") within a few seconds;
#   2. kills the broker (SIGKILL) under a second chat: it must exit 69 at once.
# Prints how long each took. Needs Kafka in .kafka (make kafka-install) and a
# built binary (KAFKADEMO, default target/debug/kafkademo).
#
#   scripts/chat-broker-loss.sh            PORT=29092 by default
set -euo pipefail
export LC_ALL=C
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

port=${PORT:-29092}
bin=${KAFKADEMO:-$KD_ROOT/target/debug/kafkademo}
[[ -x $bin ]] || die "no kafkademo binary at $bin: run \`cargo build\` or set KAFKADEMO"
require_kafka
for p in "$port" "$((port + 1))"; do
  if (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
    die "port $p is in use; pick free ports with PORT=N"
  fi
done

tmp=$(mktemp -d)
broker=
chat=
cleanup() {
  [[ -n $chat ]] && kill "$chat" 2>/dev/null || true
  if [[ -n $broker ]]; then
    kill -CONT "$broker" 2>/dev/null || true
    kill -KILL "$broker" 2>/dev/null || true
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT

sed -e "s/9092/$port/g; s/9093/$((port + 1))/g; s#^log.dirs=.*#log.dirs=$tmp/data#" \
  "$KD_ROOT/config/kraft/server.properties" >"$tmp/server.properties"
cluster_id=-
while [[ $cluster_id == -* ]]; do
  cluster_id=$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=')
done
kafka_command kafka.tools.StorageTool format -t "$cluster_id" -c "$tmp/server.properties"
"${KAFKA_CMD[@]}" >"$tmp/format.out" 2>&1 || die "formatting storage failed: $(tail -n 5 "$tmp/format.out")"
kafka_command --heap "-Xms128m -Xmx384m" kafka.Kafka "$tmp/server.properties"
"${KAFKA_CMD[@]}" >"$tmp/broker.out" 2>&1 &
broker=$!
disown "$broker" # no job notice when it is killed
say "private broker pid $broker on 127.0.0.1:$port; waiting for it..."
deadline=$((SECONDS + 60))
until "$bin" -b "127.0.0.1:$port" --timeout 2s topic list >/dev/null 2>&1; do
  ((SECONDS < deadline)) || die "the private broker did not start: $(tail -n 5 "$tmp/broker.out")"
  sleep 0.5
done

# Joins room $1 as $2; sets $chat; waits until the join shows.
join() {
  mkfifo "$tmp/$2.in"
  "$bin" -b "127.0.0.1:$port" --timeout 3s chat --user "$2" --room "$1" \
    <"$tmp/$2.in" >"$tmp/$2.out" 2>"$tmp/$2.err" &
  chat=$!
  exec 4>"$tmp/$2.in"
  local deadline=$((SECONDS + 20))
  until grep -q "\* $2 joined" "$tmp/$2.out"; do
    ((SECONDS < deadline)) || die "$2 did not join: $(cat "$tmp/$2.err")"
    sleep 0.05
  done
}

# Waits for $chat to exit; prints the seconds since $1, the exit code and stderr.
outcome() {
  local start=$1 deadline=$((SECONDS + 60)) code=0
  while kill -0 "$chat" 2>/dev/null; do
    ((SECONDS < deadline)) || die "the chat still runs 60 s after the broker loss: a hang"
    sleep 0.05
  done
  wait "$chat" || code=$?
  local took
  took=$(awk -v a="$start" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.2f", b - a }')
  say "  exit $code after ${took}s: $(head -n 1 "$tmp/$2.err")"
  [[ $code == 69 ]] || die "expected exit 69"
  chat=
}

say "1. broker frozen (SIGSTOP) under a chat with --timeout 3s"
join lossy alice
kill -STOP "$broker"
outcome "$EPOCHREALTIME" alice
exec 4>&-
kill -CONT "$broker"

say "2. broker killed (SIGKILL) under a chat"
join lossy bob
kill -KILL "$broker"
outcome "$EPOCHREALTIME" bob
exec 4>&-
broker=
say "ok: broker loss is reported, with exit 69, in bounded time"
