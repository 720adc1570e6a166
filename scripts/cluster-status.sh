#!/usr/bin/env bash
# make cluster-status: the cluster's mode and ports, ZooKeeper (in ZooKeeper
# mode), and for each broker whether it runs (pid) and answers a Metadata
# request, with the brokers it knows. Always exits 0.
set -euo pipefail
# shellcheck source=cluster-lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/cluster-lib.sh"

cluster_settings use
mapfile -t running < <(cluster_running)
if ((${#running[@]} > 0)); then
  say "Cluster: ${#running[@]} of $KD_CLUSTER_SIZE brokers running, $KD_CLUSTER_MODE mode, bootstrap $(cluster_bootstrap)"
else
  say "Cluster: not running (would start in $KD_CLUSTER_MODE mode on $(cluster_bootstrap))"
fi

if [[ $KD_CLUSTER_MODE == zookeeper ]]; then
  if zk_probe 2; then
    say "ZooKeeper: answers on $KD_HOST:$KD_ZK_PORT ($KD_ZK_INFO), chroot $KD_CLUSTER_CHROOT"
  else
    say "ZooKeeper: NOT answering on $KD_HOST:$KD_ZK_PORT"
  fi
fi

for id in "${KD_CLUSTER_IDS[@]}"; do
  port=$(cluster_port "$id")
  where="$KD_HOST:$port"
  if [[ $KD_CLUSTER_MODE == kraft ]]; then where+=" (controller :$(cluster_cport "$id"))"; fi
  if pid=$(cluster_pid "$id"); then
    if kafka_probe 3 "$KD_HOST" "$port"; then
      say "broker $id: up (pid $pid) on $where, knows brokers $KD_BROKERS"
    else
      say "broker $id: running (pid $pid) on $where, NOT answering"
    fi
  else
    say "broker $id: down"
  fi
done

orphans=$(cluster_orphans)
if [[ -n $orphans ]]; then
  say "cluster brokers without a pid file (make cluster-down stops them): $(paste -sd ' ' <<<"$orphans")"
fi
