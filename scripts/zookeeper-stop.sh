#!/usr/bin/env bash
# Stop ZooKeeper: SIGTERM, then SIGKILL after KAFKA_STOP_TIMEOUT (30 s).
# A ZooKeeper-mode broker still running is stopped first, since it cannot shut
# down cleanly without ZooKeeper. Not running: says so and exits 0.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

if pid_alive "$KD_ZK_PID" "$KD_ZK_MAIN" >/dev/null &&
  pid_alive "$KD_KAFKA_PID" "$KD_KAFKA_MAIN" >/dev/null &&
  [[ $(running_mode) == zookeeper ]]; then
  say "Kafka (zookeeper mode) still runs and needs ZooKeeper to shut down: stopping it first"
  "$KD_ROOT/scripts/kafka-stop.sh"
fi
stop_process ZooKeeper "$KD_ZK_PID" "$KD_ZK_MAIN"
