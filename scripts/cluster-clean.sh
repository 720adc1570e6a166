#!/usr/bin/env bash
# make cluster-clean: delete what the three-broker cluster keeps, in both modes,
# so that the next make cluster-up starts empty: its data (.kafka/data/cluster-*),
# its logs (.kafka/logs/cluster-*) and its ZooKeeper chroot /kafkademo-cluster
# (topics, cluster id). Refuses while a cluster broker runs. The single broker's
# data and ZooKeeper's other znodes are untouched.
set -euo pipefail
# shellcheck source=cluster-lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/cluster-lib.sh"

if [[ -n $(cluster_running) || -n $(cluster_orphans) ]]; then
  die "the cluster is running: stop it first (make cluster-down)"
fi
rm -f "$KD_CLUSTER_ENV"

if zk_probe 2; then
  require_kafka
  zk_shell() { kafka_class org.apache.zookeeper.ZooKeeperMain -server "$KD_HOST:$KD_ZK_PORT" "$@" 2>&1; }
  if out=$(zk_shell ls "$KD_CLUSTER_CHROOT"); then
    zk_shell deleteall "$KD_CLUSTER_CHROOT" >/dev/null ||
      die "could not delete $KD_CLUSTER_CHROOT in ZooKeeper"
    say "Removed $KD_CLUSTER_CHROOT from ZooKeeper"
  elif [[ $out != *"Node does not exist"* ]]; then
    die "could not read $KD_CLUSTER_CHROOT in ZooKeeper: $(tail -n 1 <<<"$out")"
  fi
elif compgen -G "$KD_DATA/cluster-*/zookeeper" >/dev/null; then
  warn "ZooKeeper is not running, so $KD_CLUSTER_CHROOT (the ZooKeeper-mode cluster's topics) stays: the topics come back, empty, on the next cluster-up; to remove it too, start ZooKeeper (scripts/zookeeper-start.sh) and run this again"
fi

shopt -s nullglob
dirs=("$KD_DATA"/cluster-* "$KD_LOGS"/cluster-*)
rm -rf "${dirs[@]}"
say "Removed ${#dirs[@]} cluster data and log directories (.kafka/data/cluster-*, .kafka/logs/cluster-*)"
