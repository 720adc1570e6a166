#!/usr/bin/env bash
# Stop the Kafka broker, whichever mode it was started in: SIGTERM, then SIGKILL
# after KAFKA_STOP_TIMEOUT seconds (default 30). Not running: says so, exits 0.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

name=Kafka
if pid_alive "$KD_KAFKA_PID" "$KD_KAFKA_MAIN" >/dev/null; then
  name="$(running_secured_word)Kafka $(running_version) in $(running_mode) mode"
  name=${name^}
fi
stop_process "$name" "$KD_KAFKA_PID" "$KD_KAFKA_MAIN"
rm -f "$KD_KAFKA_MODE_FILE" "$KD_KAFKA_VERSION_FILE" "$KD_KAFKA_PORT_FILE" \
  "$KD_KAFKA_SECURITY_FILE" "$KD_SECURE_CONFIG"
