#!/usr/bin/env bash
# Presence drop-off: how long after a member is killed (SIGKILL, so no
# leave notice) another member shows `* NAME dropped out`. Repeats ROUNDS
# times (default 5), killing at a different point of the heartbeat cycle
# each time, and prints each time and the range.
#
#   scripts/chat-dropout.sh [ROUNDS]
#
# Needs a running broker (KAFKA_BROKERS) and a built binary (KAFKADEMO,
# default target/debug/kafkademo). With the default heartbeat (2 s, gone
# after 3 missed) expect 4 to 6 s: the silence is counted from the last
# heartbeat, which came 0 to 2 s before the kill.
set -euo pipefail
export LC_ALL=C
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

rounds=${1:-5}
bin=${KAFKADEMO:-$KD_ROOT/target/debug/kafkademo}
[[ -x $bin ]] || die "no kafkademo binary at $bin: run \`cargo build\` or set KAFKADEMO"

room=dropout-$$-$RANDOM
tmp=$(mktemp -d)
pids=()
cleanup() {
  exec 4>&- 2>/dev/null || true
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  "$bin" topic delete "chat.$room" --if-exists >/dev/null 2>&1 || true
  "$bin" topic delete "chat.$room.presence" --if-exists >/dev/null 2>&1 || true
  rm -rf "$tmp"
}
trap cleanup EXIT

wait_for() { # FILE PATTERN [SECONDS]
  local deadline=$((SECONDS + ${3:-20}))
  until grep -q -- "$2" "$1" 2>/dev/null; do
    ((SECONDS < deadline)) || die "no '$2' in $1 within ${3:-20} s"
    sleep 0.02
  done
}

mkfifo "$tmp/obs.in"
"$bin" chat --user observer --room "$room" --history 0 <"$tmp/obs.in" 2>"$tmp/obs.err" |
  while IFS= read -r line; do printf '%s %s\n' "$EPOCHREALTIME" "$line"; done >"$tmp/obs.out" &
pids+=($!)
exec 4>"$tmp/obs.in"
wait_for "$tmp/obs.out" '\* observer joined'

times=()
for ((r = 1; r <= rounds; r++)); do
  name=victim$r
  sleep infinity | "$bin" chat --user "$name" --room "$room" --history 0 >/dev/null 2>&1 &
  victim=$!
  pids+=("$victim")
  wait_for "$tmp/obs.out" "\* $name joined"
  # Kill somewhere in the heartbeat cycle: 2.0 to 4.0 s after the join.
  sleep "$((2 + r % 3)).$((RANDOM % 10))"
  kill -KILL "$victim"
  killed=$EPOCHREALTIME
  wait_for "$tmp/obs.out" "\* $name dropped out" 30
  shown=$(grep -- "\* $name dropped out" "$tmp/obs.out" | head -n 1)
  took=$(awk -v a="$killed" -v b="${shown%% *}" 'BEGIN { printf "%.2f", b - a }')
  say "$name: dropped out ${took}s after SIGKILL: ${shown#* }"
  times+=("$took")
done
printf '%s\n' "${times[@]}" | sort -n | awk '{ v[NR] = $1 } END { printf "drop-off after SIGKILL: min %ss, max %ss over %d kills\n", v[1], v[NR], NR }'
