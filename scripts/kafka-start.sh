#!/usr/bin/env bash
# Start the Kafka broker in the background and wait until it answers a Metadata
# request on 127.0.0.1:9092 (at most KAFKA_START_TIMEOUT seconds, default 60).
#
# KAFKA_MODE=zookeeper (default): the docs' `kafka-server-start
#   config/server.properties`; needs ZooKeeper (scripts/zookeeper-start.sh).
# KAFKA_MODE=kraft: one combined broker+controller from
#   config/kraft/server.properties, storage formatted on first start.
# Already running in that mode: says so and exits 0.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

mode=$(requested_mode)
if pid=$(pid_alive "$KD_KAFKA_PID" "$KD_KAFKA_MAIN"); then
  running=$(running_mode)
  if [[ $running == "$mode" ]]; then
    say "Kafka already running in $mode mode (pid $pid) on $KD_HOST:$KD_KAFKA_PORT"
    exit 0
  fi
  die "Kafka is running in $running mode (pid $pid); stop it first (make kafka-down) to start it in $mode mode"
fi
rm -f "$KD_KAFKA_MODE_FILE"
require_kafka
version=$(installed_kafka_version) || version=unknown

if kafka_probe 2; then
  die "a Kafka broker not started by these scripts already answers on $KD_HOST:$KD_KAFKA_PORT ($KD_BROKERS)"
fi

start=$(now_ms)
case $mode in
zookeeper)
  config=config/server.properties
  zk_probe 2 ||
    die "ZooKeeper does not answer on $KD_HOST:$KD_ZK_PORT: start it first (scripts/zookeeper-start.sh, or make kafka-up)"
  # No broker of ours runs and none answers on our port, so a registration of
  # broker 0 left in ZooKeeper belongs to a killed broker: the new one would
  # fail with NodeExists. Wait for ZooKeeper to expire it (session timeout, 18 s).
  stale_registration() {
    local nodes
    nodes=$(zk_ephemerals) && grep -qx -e /brokers/ids/0 -e /controller <<<"$nodes"
  }
  if stale_registration; then
    say "Waiting for ZooKeeper to expire the registration of a broker that was killed..."
    deadline=$((start + KD_START_TIMEOUT * 1000))
    while stale_registration; do
      (($(now_ms) < deadline)) ||
        die "ZooKeeper still holds a registration of broker 0 after ${KD_START_TIMEOUT}s (.kafka/logs/zookeeper.log)"
      sleep 0.5
    done
  fi
  ;;
kraft)
  config=config/kraft/server.properties
  data=$KD_DATA/broker-kraft
  if [[ ! -s $data/meta.properties ]]; then
    # A random cluster id, as `kafka-storage random-uuid` makes: 16 random bytes
    # in unpadded URL-safe base64, never starting with '-' (it would read as a flag).
    cluster_id=-
    while [[ $cluster_id == -* ]]; do
      cluster_id=$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=')
    done
    say "Formatting KRaft storage in ${data#"$KD_ROOT"/} (cluster id $cluster_id)..."
    mkdir -p "$KD_LOGS"
    if ! kafka_class kafka.tools.StorageTool format -t "$cluster_id" -c "$config" \
      >"$KD_LOGS/kraft-format.out" 2>&1; then
      warn "formatting KRaft storage failed"
      log_tail "$KD_LOGS/kraft-format.out"
      exit 1
    fi
  fi
  ;;
esac

out=$KD_LOGS/kafka.out
kafka_command --heap "${KAFKA_HEAP_OPTS:--Xms256m -Xmx512m}" \
  --log4j "$KD_ROOT/config/log4j.properties" \
  "$KD_KAFKA_MAIN" "$config"
log_mark "$KD_LOGS/server.log"
start_background "$KD_KAFKA_PID" "$out" "${KAFKA_CMD[@]}"
printf '%s\n' "$mode" >"$KD_KAFKA_MODE_FILE"
pid=$KD_STARTED_PID
say "Starting Kafka $version in $mode mode (pid $pid, logs in .kafka/logs)..."

if ! wait_until Kafka "$pid" "$KD_START_TIMEOUT" kafka_probe "$KD_LOGS/server.log" "$out"; then
  rm -f "$KD_KAFKA_PID" "$KD_KAFKA_MODE_FILE"
  exit 1
fi
say "Kafka is up on $KD_HOST:$KD_KAFKA_PORT in $mode mode (pid $pid, brokers $KD_BROKERS, ready in $(elapsed "$start"))"
