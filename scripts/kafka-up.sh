#!/usr/bin/env bash
# make kafka-up: install Kafka if needed, then start ZooKeeper (unless
# KAFKA_MODE=kraft, or Kafka 4.x) and the broker. Harmless when they already run.
# KAFKA_VERSION=4.4.0 make kafka-up: Kafka 4.4.0 in KRaft mode, installed
# beside the default version (scripts/kafka4-pom.xml).
# KAFKA_SECURITY=1 make kafka-up: the secured broker, in either mode (TLS, SASL,
# ACLs; see scripts/kafka-start.sh and config/server-secure.properties).
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

mode=$(requested_mode)
check_running "$mode"
"$KD_ROOT/scripts/kafka-install.sh"
if [[ $mode == zookeeper ]]; then
  "$KD_ROOT/scripts/zookeeper-start.sh"
fi
KAFKA_MODE=$mode "$KD_ROOT/scripts/kafka-start.sh"
