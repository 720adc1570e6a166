#!/usr/bin/env bash
# Stop the PostgreSQL of scripts/pg-up.sh: a fast shutdown (SIGINT: open
# sessions, Debezium's replication connection among them, are ended), then
# SIGKILL after KAFKA_STOP_TIMEOUT seconds (default 30). Keeps the data
# (.kafka/pg/data). Not running: says so, exits 0.
set -euo pipefail
# shellcheck source=connect-lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/connect-lib.sh"

if ! pid=$(pg_running_pid); then
  say "PostgreSQL is not running"
  rm -f "$KD_PG_PORT_FILE"
  exit 0
fi
start=$(now_ms)
say "Stopping PostgreSQL (pid $pid)..."
# SIGTERM would be a smart shutdown, which waits for every client to leave.
kill -INT "$pid" 2>/dev/null || true
deadline=$((start + KD_STOP_TIMEOUT * 1000))
while kill -0 "$pid" 2>/dev/null && (($(now_ms) < deadline)); do
  sleep 0.2
done
how=stopped
if kill -0 "$pid" 2>/dev/null; then
  warn "PostgreSQL did not stop within ${KD_STOP_TIMEOUT}s, sending SIGKILL"
  kill -KILL "$pid" 2>/dev/null || true
  while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
  how=killed
fi
rm -f "$KD_PG_PID" "$KD_PG_PORT_FILE"
say "PostgreSQL $how ($(elapsed "$start"))"
