#!/usr/bin/env bash
# make connect-down: stop the Connect worker(s) (SIGTERM, then SIGKILL after
# KAFKA_STOP_TIMEOUT seconds, default 30), then PostgreSQL (scripts/pg-down.sh),
# then the single broker if make connect-up started it (it leaves a broker or
# cluster that was running alone). Keeps connectors, offsets (in Kafka's
# internal topics) and PostgreSQL's data. Harmless when nothing runs.
set -euo pipefail
# shellcheck source=connect-lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/connect-lib.sh"

connect_settings
# Both workers at once: each waits for the group to rebalance as it leaves.
pids=()
for n in 1 2; do
  file=$(connect_pidfile "$n")
  if [[ $n == 1 ]] || [[ -e $file ]]; then
    stop_process "Connect worker $n" "$file" "$KD_CONNECT_MAIN" &
    pids+=("$!")
  fi
done
for pid in "${pids[@]}"; do wait "$pid"; done
"$KD_ROOT/scripts/pg-down.sh"
if ((KD_CONNECT_STARTED_KAFKA)); then
  say "Stopping the broker make connect-up started"
  "$KD_ROOT/scripts/kafka-down.sh"
fi
rm -f "$KD_CONNECT_ENV"
