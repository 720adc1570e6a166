#!/usr/bin/env bash
# make cluster-down: stop the three cluster brokers, all at once (SIGTERM, then
# SIGKILL after KAFKA_STOP_TIMEOUT, default 30 s), then, in ZooKeeper mode,
# ZooKeeper, unless the single broker of make kafka-up still uses it.
# Harmless when nothing runs. Acts on the cluster that runs, whichever mode and
# ports it was started with.
set -euo pipefail
# shellcheck source=cluster-lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/cluster-lib.sh"

cluster_settings use
start=$(now_ms)
mapfile -t running < <(cluster_running)
mapfile -t orphans < <(cluster_orphans)

if ((${#running[@]} + ${#orphans[@]} == 0)); then
  say "The cluster is not running"
else
  # In parallel: stopping one broker after another would move every partition
  # leadership twice, each broker waiting for its controlled shutdown in turn.
  pids=()
  for id in "${running[@]}"; do
    stop_process "broker $id" "$(cluster_pidfile "$id")" "$KD_CLUSTER_MAIN" &
    pids+=($!)
  done
  for pid in "${orphans[@]}"; do
    say "Stopping a cluster broker without a pid file (pid $pid)..."
    (
      t=$(now_ms) how=stopped
      kill -TERM "$pid" 2>/dev/null || exit 0
      while kill -0 "$pid" 2>/dev/null && (($(now_ms) < t + KD_STOP_TIMEOUT * 1000)); do sleep 0.2; done
      if kill -KILL "$pid" 2>/dev/null; then
        warn "pid $pid did not stop within ${KD_STOP_TIMEOUT}s, sent SIGKILL"
        while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
        how=killed
      fi
      say "cluster broker pid $pid $how ($(elapsed "$t"))"
    ) &
    pids+=($!)
  done
  failed=0
  for pid in "${pids[@]}"; do wait "$pid" || failed=1; done
  ((failed == 0)) || die "could not stop every broker"
  left=$(cluster_orphans)
  [[ -z $left ]] || die "cluster brokers still run: $(paste -sd ' ' <<<"$left")"
  say "Cluster stopped ($KD_CLUSTER_MODE mode, $(elapsed "$start"))"
fi
rm -f "$KD_CLUSTER_ENV"

if [[ $KD_CLUSTER_MODE == zookeeper ]]; then
  if pid=$(pid_alive "$KD_KAFKA_PID" "$KD_KAFKA_MAIN"); then
    if pid_alive "$KD_ZK_PID" "$KD_ZK_MAIN" >/dev/null; then
      say "ZooKeeper left running: the single Kafka broker (pid $pid) uses it"
    fi
  else
    "$KD_ROOT/scripts/zookeeper-stop.sh"
  fi
fi
