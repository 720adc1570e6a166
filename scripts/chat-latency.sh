#!/usr/bin/env bash
# Chat latency: the time from a line written to one `kafkademo chat`'s stdin
# to its display on another member's stdout, over COUNT messages (default
# 300), one every GAP seconds (default 0.02). Prints p50/p90/p99/max in ms.
#
#   scripts/chat-latency.sh [COUNT] [GAP]
#
# Needs a running broker (KAFKA_BROKERS, default 127.0.0.1:9092) and a built
# binary (KAFKADEMO, default target/debug/kafkademo; `cargo build` first).
# The room gets a unique name; its topics are deleted at the end.
set -euo pipefail
export LC_ALL=C
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

count=${1:-300}
gap=${2:-0.02}
bin=${KAFKADEMO:-$KD_ROOT/target/debug/kafkademo}
[[ -x $bin ]] || die "no kafkademo binary at $bin: run \`cargo build\` or set KAFKADEMO"
[[ $count =~ ^[1-9][0-9]*$ ]] || die "COUNT must be a positive whole number, not '$count'"

room=latency-$$-$RANDOM
tmp=$(mktemp -d)
pids=()
cleanup() {
  exec 4>&- 5>&- 2>/dev/null || true
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  "$bin" topic delete "chat.$room" --if-exists >/dev/null 2>&1 || true
  "$bin" topic delete "chat.$room.presence" --if-exists >/dev/null 2>&1 || true
  rm -rf "$tmp"
}
trap cleanup EXIT

# Waits up to 20 s for a line matching $2 in file $1.
wait_for() {
  local deadline=$((SECONDS + 20))
  until grep -q -- "$2" "$1" 2>/dev/null; do
    ((SECONDS < deadline)) || die "no '$2' in $1 within 20 s: $(tail -n 3 "$1" 2>/dev/null)"
    sleep 0.05
  done
}

mkfifo "$tmp/rx.in" "$tmp/tx.in"
# The receiver's screen, each line stamped with its arrival time.
"$bin" chat --user rx --room "$room" --history 0 <"$tmp/rx.in" 2>"$tmp/rx.err" |
  while IFS= read -r line; do printf '%s %s\n' "$EPOCHREALTIME" "$line"; done >"$tmp/rx.out" &
pids+=($!)
exec 4>"$tmp/rx.in"
wait_for "$tmp/rx.out" '\* rx joined'
"$bin" chat --user tx --room "$room" --history 0 <"$tmp/tx.in" >"$tmp/tx.out" 2>"$tmp/tx.err" &
pids+=($!)
exec 5>"$tmp/tx.in"
wait_for "$tmp/rx.out" '\* tx joined'

say "sending $count messages, one every ${gap}s, from tx to rx in room $room"
for ((i = 1; i <= count; i++)); do
  printf 'lat %d %s\n' "$i" "$EPOCHREALTIME" >&5
  sleep "$gap"
done
wait_for "$tmp/rx.out" "tx: lat $count "
exec 5>&- 4>&-
wait_for "$tmp/rx.out" '\* tx left'

# rx.out lines: ARRIVAL [HH:MM:SS] tx: lat I SENT
awk '$3 == "tx:" && $4 == "lat" { printf "%.3f\n", ($1 - $6) * 1000 }' "$tmp/rx.out" |
  sort -n >"$tmp/ms"
got=$(wc -l <"$tmp/ms")
((got == count)) || die "rx showed $got of $count messages"
pick() { # PERCENT -> the value at that rank (nearest rank)
  local rank=$(((got * $1 + 99) / 100))
  sed -n "${rank}p" "$tmp/ms"
}
say "messages: $got"
say "latency ms: p50 $(pick 50)  p90 $(pick 90)  p99 $(pick 99)  max $(tail -n 1 "$tmp/ms")  min $(head -n 1 "$tmp/ms")"
