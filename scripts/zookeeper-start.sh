#!/usr/bin/env bash
# Start ZooKeeper in the background for the ZooKeeper-mode broker, as the docs'
# `zookeeper-server-start config/zookeeper.properties`, and wait until it serves.
# Already running: says so and exits 0.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

if pid=$(pid_alive "$KD_ZK_PID" "$KD_ZK_MAIN"); then
  say "ZooKeeper already running (pid $pid) on $KD_HOST:$KD_ZK_PORT"
  exit 0
fi
require_kafka
if zk_probe 2; then
  die "something not started by these scripts already answers as ZooKeeper on $KD_HOST:$KD_ZK_PORT"
fi

mkdir -p "$KD_DATA/zookeeper"
out=$KD_LOGS/zookeeper.out
kafka_command --heap "${ZOOKEEPER_HEAP_OPTS:--Xms128m -Xmx256m}" \
  --log4j "$KD_ROOT/config/zookeeper-log4j.properties" \
  "$KD_ZK_MAIN" config/zookeeper.properties
log_mark "$KD_LOGS/zookeeper.log"
start_background "$KD_ZK_PID" "$out" "${KAFKA_CMD[@]}"
pid=$KD_STARTED_PID
say "Starting ZooKeeper (pid $pid, logs in .kafka/logs)..."

if ! wait_until ZooKeeper "$pid" "$KD_START_TIMEOUT" zk_probe "$KD_LOGS/zookeeper.log" "$out"; then
  rm -f "$KD_ZK_PID"
  exit 1
fi
say "ZooKeeper is up on $KD_HOST:$KD_ZK_PORT (pid $pid, $KD_ZK_INFO, ready in $KD_WAITED)"
