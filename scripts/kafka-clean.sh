#!/usr/bin/env bash
# make kafka-clean: delete the brokers' and ZooKeeper's data (topics, offsets,
# KRaft metadata, the secured broker's SCRAM users and ACLs), the logs and the
# secured broker's generated certificates and keys (.kafka/secure) under
# .kafka; keeps the installed Kafka. Refuses while Kafka or ZooKeeper runs.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

if pid_alive "$KD_KAFKA_PID" "$KD_KAFKA_MAIN" >/dev/null || pid_alive "$KD_ZK_PID" "$KD_ZK_MAIN" >/dev/null; then
  die "Kafka or ZooKeeper is running: stop them first (make kafka-down)"
fi
rm -rf "$KD_DATA" "$KD_LOGS" "$KD_SECURE_DIR"
rm -f "$KD_SECURE_CONFIG"
say "Removed .kafka/data, .kafka/logs and .kafka/secure"
