#!/usr/bin/env bash
# Start the Kafka broker in the background and wait until it answers a Metadata
# request on 127.0.0.1:9092 (at most KAFKA_START_TIMEOUT seconds, default 60).
#
# KAFKA_MODE=zookeeper (default for 3.x): the docs' `kafka-server-start
#   config/server.properties`; needs ZooKeeper (scripts/zookeeper-start.sh).
# KAFKA_MODE=kraft (default, and the only mode, for 4.x): one combined
#   broker+controller from config/kraft/server.properties, storage formatted
#   on first start.
# KAFKA_VERSION picks the installed version (scripts/kafka-install.sh), and
# KAFKA_PORT the port (default 9092; in KRaft mode the controller listens on
# the next one): the listeners are set on the command line, over the config's.
# Already running in that mode, version and port: says so and exits 0.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

mode=$(requested_mode)
check_running "$mode"
if [[ -n $KD_RUNNING_PID ]]; then
  say "Kafka $KD_VERSION already running in $mode mode (pid $KD_RUNNING_PID) on $KD_HOST:$KD_KAFKA_PORT"
  exit 0
fi
rm -f "$KD_KAFKA_MODE_FILE" "$KD_KAFKA_VERSION_FILE" "$KD_KAFKA_PORT_FILE"
require_kafka
version=$(installed_kafka_version) || version=unknown

if kafka_probe 2; then
  die "a Kafka broker not started by these scripts already answers on $KD_HOST:$KD_KAFKA_PORT ($KD_BROKERS)"
fi

port=$KD_KAFKA_PORT
overrides=("advertised.listeners=PLAINTEXT://$KD_HOST:$port")
start=$(now_ms)
case $mode in
zookeeper)
  config=config/server.properties
  overrides+=("listeners=PLAINTEXT://$KD_HOST:$port")
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
  cport=$((port + 1))
  overrides+=(
    "listeners=PLAINTEXT://$KD_HOST:$port,CONTROLLER://$KD_HOST:$cport"
    "controller.quorum.voters=0@$KD_HOST:$cport"
  )
  # The default version keeps the config's data directory; others get their
  # own (a newer Kafka's storage format cannot be read by an older one).
  data=$KD_DATA/broker-kraft
  if [[ $KD_VERSION != "$(pom_kafka_version)" ]]; then
    data=$KD_DATA/broker-kraft-$KD_VERSION
    overrides+=("log.dirs=${data#"$KD_ROOT"/}")
  fi
  if [[ ! -s $data/meta.properties ]]; then
    # A random cluster id, as `kafka-storage random-uuid` makes: 16 random bytes
    # in unpadded URL-safe base64, never starting with '-' (it would read as a flag).
    cluster_id=-
    while [[ $cluster_id == -* ]]; do
      cluster_id=$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=')
    done
    say "Formatting KRaft storage in ${data#"$KD_ROOT"/} (cluster id $cluster_id)..."
    mkdir -p "$KD_LOGS" "$KD_RUN"
    # StorageTool takes no overrides: it gets the config plus ours in a
    # temporary file (a later key wins in a properties file). The quorum is
    # static (controller.quorum.voters), so 4.x needs no --standalone.
    conf=$KD_RUN/kraft-format.properties
    { cat "$KD_ROOT/$config" && printf '%s\n' "${overrides[@]}"; } >"$conf"
    if ! kafka_class kafka.tools.StorageTool format -t "$cluster_id" -c "$conf" \
      >"$KD_LOGS/kraft-format.out" 2>&1; then
      rm -f "$conf"
      warn "formatting KRaft storage failed"
      log_tail "$KD_LOGS/kraft-format.out"
      exit 1
    fi
    rm -f "$conf"
  fi
  ;;
esac

out=$KD_LOGS/kafka.out
args=()
for o in "${overrides[@]}"; do args+=(--override "$o"); done
kafka_command --heap "${KAFKA_HEAP_OPTS:--Xms256m -Xmx512m}" \
  --log4j "$KD_ROOT/config/log4j.properties" \
  "$KD_KAFKA_MAIN" "$config" "${args[@]}"
log_mark "$KD_LOGS/server.log"
start_background "$KD_KAFKA_PID" "$out" "${KAFKA_CMD[@]}"
printf '%s\n' "$mode" >"$KD_KAFKA_MODE_FILE"
printf '%s\n' "$KD_VERSION" >"$KD_KAFKA_VERSION_FILE"
printf '%s\n' "$port" >"$KD_KAFKA_PORT_FILE"
pid=$KD_STARTED_PID
say "Starting Kafka $version in $mode mode (pid $pid, logs in .kafka/logs)..."

if ! wait_until Kafka "$pid" "$KD_START_TIMEOUT" kafka_probe "$KD_LOGS/server.log" "$out"; then
  rm -f "$KD_KAFKA_PID" "$KD_KAFKA_MODE_FILE" "$KD_KAFKA_VERSION_FILE" "$KD_KAFKA_PORT_FILE"
  exit 1
fi
say "Kafka $version is up on $KD_HOST:$port in $mode mode (pid $pid, brokers $KD_BROKERS, ready in $(elapsed "$start"))"
