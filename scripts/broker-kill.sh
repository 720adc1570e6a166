#!/usr/bin/env bash
# scripts/broker-kill.sh ID: kill cluster broker ID (0, 1 or 2) with SIGKILL, as
# a crash: no controlled shutdown, its leaderships move only when the cluster
# notices (ZooKeeper session or KRaft heartbeat timeout, ~6 s). Removes its pid
# file. Not running: says so and exits 0. Restart it with scripts/broker-start.sh ID.
set -euo pipefail
# shellcheck source=cluster-lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/cluster-lib.sh"

[[ $# -eq 1 ]] || die "usage: ${0##*/} ID   (ID: ${KD_CLUSTER_IDS[*]})"
id=$1
cluster_check_id "$id"
cluster_settings use
if ! pid=$(cluster_pid "$id"); then
  say "broker $id is not running"
  exit 0
fi
kill -KILL "$pid" 2>/dev/null || true
while kill -0 "$pid" 2>/dev/null; do sleep 0.05; done
rm -f "$(cluster_pidfile "$id")"
say "Killed broker $id (pid $pid, $KD_HOST:$(cluster_port "$id")) with SIGKILL"
