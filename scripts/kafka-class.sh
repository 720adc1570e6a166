#!/usr/bin/env bash
# Run any Kafka main class with the installed Kafka (or KAFKA_HOME's), tools
# logging (warnings on stderr) and a small heap, from the repo root. Examples:
#   scripts/kafka-class.sh org.apache.kafka.tools.TopicCommand --bootstrap-server 127.0.0.1:9092 --list
#   scripts/kafka-class.sh kafka.tools.ConsoleProducer --bootstrap-server 127.0.0.1:9092 --topic t1
# The JVM replaces this script (exec), so signals sent to its pid reach Java.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

[[ $# -ge 1 ]] || die "usage: ${0##*/} MAIN_CLASS [ARGS...]"
require_kafka
kafka_command "$@"
cd "$KD_ROOT"
exec "${KAFKA_CMD[@]}"
