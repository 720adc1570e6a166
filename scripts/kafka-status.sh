#!/usr/bin/env bash
# Print what is installed and what runs: ZooKeeper and Kafka pids, the
# broker's version and mode, and whether each answers (ZooKeeper's `srvr`, a Kafka Metadata request). Always exits 0.
# A secured broker (KAFKA_SECURITY=1): also whether its TLS and SASL ports
# accept connections and whether its topics secure.a and secure.b are there.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

if [[ -n ${KAFKA_HOME:-} ]]; then
  version=$(installed_kafka_version) || version=unknown
  say "Kafka $version from $KAFKA_HOME"
elif versions=$(installed_versions) && [[ -n $versions ]]; then
  say "Kafka installed in .kafka/lib: ${versions// /, }"
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
  port=$(running_port)
  what="$(running_version), running $(running_secured_word)in $(running_mode) mode (pid $pid)"
  if kafka_probe 3 "$KD_HOST" "$port"; then
    say "Kafka:     $what, answers on $KD_HOST:$port (brokers $KD_BROKERS, $KD_TOPICS topics)"
  else
    say "Kafka:     $what, NOT answering on $KD_HOST:$port"
  fi
  if [[ $(running_security) == 1 ]]; then
    # TLS and SASL need more than bash to speak: whether each port accepts
    # connections, and whether the setup's topics are there.
    ports='' topics=''
    for name in "${KD_SECURE_LISTENERS[@]}"; do
      p=$(secure_port "$name" "$port")
      ports+="${ports:+, }$name $p"
      port_open "$p" || ports+=" NOT LISTENING"
    done
    for topic in "${KD_SECURE_TOPICS[@]}"; do
      topics+="${topics:+, }$topic"
      kafka_topic_probe "$topic" 3 "$KD_HOST" "$port" || topics+=" MISSING"
    done
    say "           secured: $ports; topics $topics (certificates in .kafka/secure, clients in config/secure)"
  fi
else
  say "Kafka:     not running"
  if kafka_probe 2; then
    say "           (a broker not started by these scripts answers on $KD_HOST:$KD_KAFKA_PORT: $KD_BROKERS)"
  fi
fi
