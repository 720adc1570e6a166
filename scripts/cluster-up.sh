#!/usr/bin/env bash
# make cluster-up: three Kafka brokers (ids 0, 1, 2) on 127.0.0.1:9092-9094 for
# replication and failover, and wait (KAFKA_START_TIMEOUT, default 60 s) until
# each answers a Metadata request that lists all three.
#
# KAFKA_MODE=zookeeper (default): ZooKeeper from scripts/zookeeper-start.sh
#   (started if needed, shared with the single broker), the cluster under its
#   own chroot /kafkademo-cluster; config/cluster/server.properties.
# KAFKA_MODE=kraft: three combined broker+controller nodes forming a 3-voter
#   quorum (controllers on 9192-9194), storage formatted once with one cluster
#   id; config/cluster/kraft/server.properties.
# CLUSTER_PORT=19092 moves the brokers to 19092-19094 (and the controllers to
# CLUSTER_PORT+100..+102, or CLUSTER_CONTROLLER_PORT..+2), e.g. to run beside
# the single broker of make kafka-up.
#
# Brokers already running are left alone, so a second run is harmless.
# Data: .kafka/data/cluster-ID/<mode>; logs: .kafka/logs/cluster-ID/;
# pids: .kafka/run/cluster-ID.pid. Stop with make cluster-down.
set -euo pipefail
# shellcheck source=cluster-lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/cluster-lib.sh"

cluster_settings start
"$KD_ROOT/scripts/kafka-install.sh"
require_kafka
version=$(installed_kafka_version) || version=unknown

start=$(now_ms)
to_start=()
for id in "${KD_CLUSTER_IDS[@]}"; do
  if pid=$(cluster_pid "$id"); then
    say "broker $id already running (pid $pid) on $KD_HOST:$(cluster_port "$id")"
  else
    to_start+=("$id")
  fi
done
for id in "${to_start[@]}"; do cluster_check_ports "$id"; done

if ((${#to_start[@]} > 0)); then
  if [[ $KD_CLUSTER_MODE == zookeeper ]]; then
    "$KD_ROOT/scripts/zookeeper-start.sh"
    cluster_wait_stale "${to_start[@]}"
  else
    cluster_format "${to_start[@]}"
  fi
  cluster_save_settings
  for id in "${to_start[@]}"; do
    cluster_start "$id"
    say "Starting broker $id on $KD_HOST:$(cluster_port "$id") (pid $KD_STARTED_PID, logs in .kafka/logs/cluster-$id)..."
  done
fi

if ! cluster_wait "${to_start[*]}" "${KD_CLUSTER_IDS[*]}" "${KD_CLUSTER_IDS[*]}"; then
  if [[ -z $(cluster_running) ]]; then rm -f "$KD_CLUSTER_ENV"; fi
  exit 1
fi
cluster_save_settings

if ((${#to_start[@]} == 0)); then
  say "Cluster already up in $KD_CLUSTER_MODE mode: brokers $KD_BROKERS"
else
  say "Cluster is up in $KD_CLUSTER_MODE mode (Kafka $version, brokers $KD_BROKERS, ready in $(elapsed "$start"))"
fi
say "bootstrap servers: $(cluster_bootstrap)"
