#!/usr/bin/env bash
# Run any Kafka main class with the installed Kafka (or KAFKA_HOME's), tools
# logging (warnings on stderr) and a small heap, from the repo root. Examples:
#   scripts/kafka-class.sh org.apache.kafka.tools.TopicCommand --bootstrap-server 127.0.0.1:9092 --list
#   scripts/kafka-class.sh kafka.tools.ConsoleProducer --bootstrap-server 127.0.0.1:9092 --topic t1
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

[[ $# -ge 1 ]] || die "usage: ${0##*/} MAIN_CLASS [ARGS...]"
kafka_class "$@"
