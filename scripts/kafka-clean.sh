#!/usr/bin/env bash
# make kafka-clean: delete the brokers' and ZooKeeper's data (topics, offsets,
# KRaft metadata) and the logs under .kafka; keeps the installed Kafka.
# Refuses while Kafka or ZooKeeper runs.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

if pid_alive "$KD_KAFKA_PID" "$KD_KAFKA_MAIN" >/dev/null || pid_alive "$KD_ZK_PID" "$KD_ZK_MAIN" >/dev/null; then
  die "Kafka or ZooKeeper is running: stop them first (make kafka-down)"
fi
rm -rf "$KD_DATA" "$KD_LOGS"
say "Removed .kafka/data and .kafka/logs"
