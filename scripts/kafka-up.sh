#!/usr/bin/env bash
# make kafka-up: install Kafka if needed, then start ZooKeeper (unless
# KAFKA_MODE=kraft) and the broker. Harmless when they already run.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

mode=$(requested_mode)
if pid=$(pid_alive "$KD_KAFKA_PID" "$KD_KAFKA_MAIN") && [[ $(running_mode) != "$mode" ]]; then
  die "Kafka is running in $(running_mode) mode (pid $pid); stop it first (make kafka-down) to start it in $mode mode"
fi
"$KD_ROOT/scripts/kafka-install.sh"
if [[ $mode == zookeeper ]]; then
  "$KD_ROOT/scripts/zookeeper-start.sh"
fi
KAFKA_MODE=$mode "$KD_ROOT/scripts/kafka-start.sh"
