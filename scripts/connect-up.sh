#!/usr/bin/env bash
# make connect-up: Kafka Connect in distributed mode, with PostgreSQL for
# Debezium. Installs the worker if needed (scripts/connect-install.sh), starts
# PostgreSQL (scripts/pg-up.sh), then worker(s) of the group kafkademo-connect,
# and waits (CONNECT_START_TIMEOUT, default 90 s) until each answers GET / and
# GET /connector-plugins lists the PostgresConnector and the
# FileStreamSourceConnector. Workers already running are left alone, so a
# second run is harmless, and restarts a worker that was killed.
#
# The brokers: CONNECT_BOOTSTRAP (host:port,...) if set; else the single broker
# (scripts/kafka-up.sh) or the 3-broker cluster (scripts/cluster-up.sh),
# whichever runs; if neither runs, the single broker is started (KAFKA_VERSION,
# KAFKA_PORT, KAFKA_MODE as for make kafka-up) and connect-down stops it again.
# The internal topics get replication factor 1 on one broker, 3 on three.
#
# CONNECT_PORT (default 8083): worker 1's REST port; CONNECT_WORKERS=2 adds
# worker 2 on CONNECT_PORT+1 (a second member of the group: connectors fail
# over to it). CONNECT_VERSION: the worker's Kafka version (default 4.3.2, for Debezium,
# see scripts/connect-install.sh). PG_PORT: PostgreSQL's (default 5433).
#
# Worker N: config .kafka/run/connect-N.properties (config/connect-distributed.properties
# plus the settings above), pid .kafka/run/connect-N.pid, logs
# .kafka/logs/connect-N/connect.log and connect.out. To fail a worker over:
# kill "$(cat .kafka/run/connect-2.pid)" (or kill -9); CONNECT_WORKERS=2
# scripts/connect-up.sh starts it again. Stop everything with make connect-down.
set -euo pipefail
# shellcheck source=connect-lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/connect-lib.sh"

command -v curl >/dev/null || die "curl not found (the scripts talk to the Connect REST API with it)"
asked_version=$KD_CONNECT_VERSION asked_port=$KD_CONNECT_PORT
connect_settings
if ((KD_CONNECT_RUNNING)); then
  if [[ -n ${CONNECT_VERSION:-} && $asked_version != "$KD_CONNECT_VERSION" ]] ||
    [[ -n ${CONNECT_PORT:-} && $asked_port != "$KD_CONNECT_PORT" ]]; then
    die "Kafka Connect $KD_CONNECT_VERSION runs on port $KD_CONNECT_PORT; stop it first (make connect-down) to start $asked_version on $asked_port"
  fi
else
  KD_CONNECT_VERSION=$asked_version KD_CONNECT_PORT=$asked_port
  KD_CONNECT_HOME=$KD_DIR/connect/$KD_CONNECT_VERSION
  KD_CONNECT_MAJOR=${KD_CONNECT_VERSION%%.*}
  KD_CONNECT_STARTED_KAFKA=0
fi
start=$(now_ms)
CONNECT_VERSION=$KD_CONNECT_VERSION "$KD_ROOT/scripts/connect-install.sh"

# ---- the brokers ----
cluster_settings use
single_pid=$(pid_alive "$KD_KAFKA_PID" "$KD_KAFKA_MAIN" 2>/dev/null) || single_pid=
cluster_ids=$(cluster_running)
if [[ -n ${CONNECT_BOOTSTRAP:-} ]]; then
  bootstrap=$CONNECT_BOOTSTRAP
elif ((KD_CONNECT_RUNNING)) && [[ -n $KD_CONNECT_BOOTSTRAP ]]; then
  bootstrap=$KD_CONNECT_BOOTSTRAP
elif [[ -n $single_pid && -n $cluster_ids ]]; then
  die "both the single broker (port $(running_port)) and the cluster ($(cluster_bootstrap)) run: say which with CONNECT_BOOTSTRAP"
elif [[ -n $single_pid ]]; then
  bootstrap=$KD_HOST:$(running_port)
elif [[ -n $cluster_ids ]]; then
  bootstrap=$(cluster_bootstrap)
else
  say "No Kafka broker runs: starting the single broker (make kafka-up), which make connect-down stops again"
  "$KD_ROOT/scripts/kafka-up.sh"
  KD_CONNECT_STARTED_KAFKA=1
  bootstrap=$KD_HOST:$KD_KAFKA_PORT
fi
KD_CONNECT_BOOTSTRAP=$bootstrap
# The brokers the first of them lists: their number sets the replication
# factor of the internal topics (at most 3).
first=${bootstrap%%,*}
kafka_probe 3 "${first%:*}" "${first##*:}" ||
  die "no Kafka broker answers on $first (bootstrap.servers $bootstrap)"
read -r -a brokers <<<"$KD_BROKERS"
replication=${#brokers[@]}
if ((replication > 3)); then replication=3; fi

"$KD_ROOT/scripts/pg-up.sh"

# ---- the workers ----
# worker_start N: write worker N's config and start it (no waiting).
worker_start() {
  local n=$1 port conf logdir
  port=$(connect_port "$n")
  conf=$(connect_config "$n")
  logdir=$(connect_logdir "$n")
  mkdir -p "$logdir" "$KD_RUN"
  {
    cat "$KD_ROOT/config/connect-distributed.properties"
    printf '%s\n' "" "# Set by scripts/connect-up.sh for worker $n (Kafka Connect $KD_CONNECT_VERSION)" \
      "bootstrap.servers=$bootstrap" \
      "config.storage.replication.factor=$replication" \
      "offset.storage.replication.factor=$replication" \
      "status.storage.replication.factor=$replication" \
      "listeners=http://$KD_HOST:$port" \
      "rest.advertised.port=$port" \
      "plugin.path=$KD_CONNECT_HOME/plugins"
  } >"$conf"
  # kafka_command for the worker's jars and Kafka line, not the broker's.
  # shellcheck disable=SC2034 # read by kafka_command (dynamic scope)
  local KD_LIB=$KD_CONNECT_HOME/lib KD_MAJOR=$KD_CONNECT_MAJOR KAFKA_HOME=''
  kafka_command --heap "$KD_CONNECT_HEAP" --log4j "$KD_ROOT/config/connect-log4j.properties" \
    --logs-dir "$logdir" "$KD_CONNECT_MAIN" "$conf"
  log_mark "$logdir/connect.log" "$logdir/connect.out"
  start_background "$(connect_pidfile "$n")" "$logdir/connect.out" "${KAFKA_CMD[@]}"
}

started=() pids=()
for ((n = 1; n <= KD_CONNECT_WORKERS; n++)); do
  if pid=$(connect_pid "$n"); then
    say "Connect worker $n already running (pid $pid) on http://$KD_HOST:$(connect_port "$n")/"
    continue
  fi
  port=$(connect_port "$n")
  if port_open "$port"; then
    die "something not started by these scripts already listens on $KD_HOST:$port, worker $n's REST port (CONNECT_PORT moves it)"
  fi
  worker_start "$n"
  started+=("$n") pids+=("$KD_STARTED_PID")
  say "Starting Connect worker $n (Kafka Connect $KD_CONNECT_VERSION, pid $KD_STARTED_PID, bootstrap $bootstrap, logs in .kafka/logs/connect-$n)..."
done
connect_save_settings

failed=0
for i in "${!started[@]}"; do
  n=${started[i]}
  KD_PROBE_PORT=$(connect_port "$n")
  logdir=$(connect_logdir "$n")
  if ! wait_until "Connect worker $n" "${pids[i]}" "$KD_CONNECT_START_TIMEOUT" connect_ready_probe \
    "$logdir/connect.log" "$logdir/connect.out"; then
    rm -f "$(connect_pidfile "$n")"
    failed=1
    continue
  fi
  say "Connect worker $n is up on http://$KD_HOST:$KD_PROBE_PORT/ (pid ${pids[i]}, ready in $KD_WAITED)"
done
if ((failed)); then
  for i in "${!started[@]}"; do
    if pid=$(connect_pid "${started[i]}" 2>/dev/null); then kill_quietly "$pid"; fi
    rm -f "$(connect_pidfile "${started[i]}")"
  done
  exit 1
fi

urls=
for ((n = 1; n <= KD_CONNECT_WORKERS; n++)); do urls+="${urls:+ }http://$KD_HOST:$(connect_port "$n")/"; done
say "Kafka Connect $KD_CONNECT_VERSION is up: $urls (group kafkademo-connect, bootstrap $bootstrap, internal topics x$replication; PostgreSQL $KD_HOST:$KD_PG_PORT db/user/password $KD_PG_DB/$KD_PG_USER/$KD_PG_PASSWORD; $(elapsed "$start"))"
