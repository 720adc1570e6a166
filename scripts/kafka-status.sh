#!/usr/bin/env bash
# Print what runs: ZooKeeper and Kafka pids, the broker's mode, and whether each
# answers (ZooKeeper's `srvr`, a Kafka Metadata request). Always exits 0.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

if version=$(installed_kafka_version); then
  where=.kafka/lib
  if [[ -n ${KAFKA_HOME:-} ]]; then where=$KAFKA_HOME; fi
  say "Kafka $version from $where"
else
  say "Kafka not installed (scripts/kafka-install.sh)"
fi

if pid=$(pid_alive "$KD_ZK_PID" "$KD_ZK_MAIN"); then
  if zk_probe 2; then
    say "ZooKeeper: running (pid $pid), answers on $KD_HOST:$KD_ZK_PORT ($KD_ZK_INFO)"
  else
    say "ZooKeeper: running (pid $pid), NOT answering on $KD_HOST:$KD_ZK_PORT"
  fi
else
  say "ZooKeeper: not running"
fi

if pid=$(pid_alive "$KD_KAFKA_PID" "$KD_KAFKA_MAIN"); then
  if kafka_probe 3; then
    say "Kafka:     running in $(running_mode) mode (pid $pid), answers on $KD_HOST:$KD_KAFKA_PORT (brokers $KD_BROKERS, $KD_TOPICS topics)"
  else
    say "Kafka:     running in $(running_mode) mode (pid $pid), NOT answering on $KD_HOST:$KD_KAFKA_PORT"
  fi
else
  say "Kafka:     not running"
  if kafka_probe 2; then
    say "           (a broker not started by these scripts answers on $KD_HOST:$KD_KAFKA_PORT: $KD_BROKERS)"
  fi
fi
