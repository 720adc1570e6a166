#!/usr/bin/env bash
# scripts/broker-start.sh ID: start cluster broker ID (0, 1 or 2) alone, e.g.
# after scripts/broker-kill.sh ID, and wait (KAFKA_START_TIMEOUT, default 60 s)
# until it answers a Metadata request, and it and the other running brokers
# list every running broker (including it). In ZooKeeper mode it first waits
# for ZooKeeper to expire the registration a killed broker ID left (~6 s after
# the kill). Uses the running cluster's mode and ports (else KAFKA_MODE and
# CLUSTER_PORT, as make cluster-up). Already running: says so and exits 0.
set -euo pipefail
# shellcheck source=cluster-lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/cluster-lib.sh"

[[ $# -eq 1 ]] || die "usage: ${0##*/} ID   (ID: ${KD_CLUSTER_IDS[*]})"
id=$1
cluster_check_id "$id"
cluster_settings start
port=$(cluster_port "$id")
if pid=$(cluster_pid "$id"); then
  say "broker $id already running (pid $pid) on $KD_HOST:$port"
  exit 0
fi
require_kafka
cluster_check_ports "$id"

start=$(now_ms)
waited=
if [[ $KD_CLUSTER_MODE == zookeeper ]]; then
  zk_probe 2 ||
    die "ZooKeeper does not answer on $KD_HOST:$KD_ZK_PORT: start the cluster with make cluster-up"
  cluster_wait_stale "$id"
  if [[ -n $KD_STALE_WAITED ]]; then waited=", after $KD_STALE_WAITED waiting for the old registration to expire"; fi
else
  cluster_format "$id"
fi
cluster_save_settings
cluster_start "$id"
pid=$KD_STARTED_PID
say "Starting broker $id on $KD_HOST:$port in $KD_CLUSTER_MODE mode (pid $pid, logs in .kafka/logs/cluster-$id)..."
# Ready when it answers, and it and every other running broker list all the
# running brokers: a client bootstrapping from any of them then sees it.
mapfile -t running < <(cluster_running)
if ! cluster_wait "$id" "${running[*]}" "${running[*]}"; then
  if [[ -z $(cluster_running) ]]; then rm -f "$KD_CLUSTER_ENV"; fi
  exit 1
fi
say "broker $id is up on $KD_HOST:$port (pid $pid, brokers $KD_BROKERS, ready in $(elapsed "$start")$waited)"
