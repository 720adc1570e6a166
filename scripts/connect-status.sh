#!/usr/bin/env bash
# make connect-status: the Connect worker(s), their connectors and tasks
# (GET /connectors?expand=status), and PostgreSQL. Exits 1 if a worker of
# .kafka/run/connect.env is down.
set -euo pipefail
# shellcheck source=connect-lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/connect-lib.sh"

connect_settings
rc=0
if [[ ! -s $KD_CONNECT_ENV ]]; then
  say "Kafka Connect is not running"
else
  say "Kafka Connect $KD_CONNECT_VERSION (bootstrap $KD_CONNECT_BOOTSTRAP)"
  for n in 1 2; do
    file=$(connect_pidfile "$n")
    [[ $n == 1 || -e $file ]] || continue
    port=$(connect_port "$n")
    if pid=$(connect_pid "$n"); then
      say "  worker $n: pid $pid, http://$KD_HOST:$port/"
    else
      say "  worker $n: down"
      rc=1
    fi
  done
  for n in 1 2; do
    port=$(connect_port "$n")
    if body=$(connect_get "$port" '/connectors?expand=status' 2>/dev/null); then
      # One line a connector: name, its state and its tasks' states.
      # shellcheck disable=SC2001 # a newline in the replacement
      sed 's/},"\([^"]*\)":{"status"/}\n"\1":{"status"/g' <<<"$body" |
        sed -n 's/^[{]*"\([^"]*\)":{"status":{.*"connector":{"state":"\([A-Z]*\)".*"tasks":\[\(.*\)\],"type":"\([a-z]*\)".*/  connector \1 (\4): \2; tasks: \3/p' |
        sed 's/{"id":\([0-9]*\),"state":"\([A-Z]*\)"[^}]*}/\1 \2/g'
      break
    fi
  done
fi
if pid=$(pg_running_pid 2>/dev/null); then
  say "PostgreSQL: pid $pid, $KD_HOST:$(pg_running_port) (database $KD_PG_DB, user $KD_PG_USER)"
else
  say "PostgreSQL is not running"
fi
exit "$rc"
