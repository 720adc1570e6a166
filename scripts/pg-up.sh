#!/usr/bin/env bash
# Start PostgreSQL for the connect feature (Debezium reads its changes) and
# wait until user kafkademo logs in over TCP (at most KAFKA_START_TIMEOUT
# seconds, default 60). Already running: says so and exits 0.
#
# First start: initdb into .kafka/pg/data with logical decoding on
# (wal_level=logical, replication slots and WAL senders for Debezium's
# pgoutput), then database kafkademo owned by user kafkademo, password
# kafkademo, with LOGIN and REPLICATION. Listens on 127.0.0.1:PG_PORT only
# (default 5433, beside a system PostgreSQL on 5432), password login
# (scram-sha-256) over TCP; its unix socket in .kafka/run/pg serves the
# scripts' superuser (peer). As root, the server runs as the postgres user
# (PG_OS_USER), which owns the data directory; if that user cannot reach
# .kafka (a checkout under a mode-700 home), data and socket go to a
# directory in the system's temp dir instead (the script says where).
# PostgreSQL itself: the newest /usr/lib/postgresql/*/bin (scripts/test-setup.sh
# installs Debian's). Pid: .kafka/run/postgres.pid; log: .kafka/logs/postgres.log.
set -euo pipefail
# shellcheck source=connect-lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/connect-lib.sh"

if pid=$(pg_running_pid 2>/dev/null); then
  rport=$(pg_running_port)
  if [[ $rport != "$KD_PG_PORT" ]]; then
    die "PostgreSQL runs on $KD_HOST:$rport (pid $pid); stop it first (scripts/pg-down.sh) to use PG_PORT=$KD_PG_PORT"
  fi
  say "PostgreSQL already running (pid $pid) on $KD_HOST:$KD_PG_PORT"
  exit 0
fi
bin=$(pg_bindir) ||
  die "PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/initdb): run scripts/test-setup.sh, or apt-get install postgresql"
if port_open "$KD_PG_PORT"; then
  die "something not started by these scripts already listens on $KD_HOST:$KD_PG_PORT (PG_PORT moves PostgreSQL)"
fi

start=$(now_ms)
mkdir -p "$KD_RUN" "$KD_LOGS" "$KD_PG_BASE"
if [[ $KD_PG_BASE != "$KD_DIR"/* ]]; then
  say "The $KD_PG_OSUSER user cannot reach .kafka: PostgreSQL's data and socket go to $KD_PG_BASE"
fi
# The server's user owns its data and socket directories.
mkdir -p "$KD_PG_SOCKDIR"
if ((${#KD_PG_AS[@]} > 0)); then
  chown "$KD_PG_OSUSER:" "$KD_PG_BASE" "$KD_PG_SOCKDIR"
fi
chmod 700 "$KD_PG_SOCKDIR"

if [[ ! -s $KD_PG_DATA/PG_VERSION ]]; then
  say "Creating a PostgreSQL $("$bin/postgres" --version | sed -n "s/^postgres (PostgreSQL) \([^ ]*\).*/\1/p") cluster in ${KD_PG_DATA#"$KD_ROOT"/}..."
  rm -rf "$KD_PG_DATA"
  out=$KD_LOGS/pg-initdb.out
  if ! (cd / && "${KD_PG_AS[@]}" "$bin/initdb" -D "$KD_PG_DATA" -U "$KD_PG_OSUSER" -E UTF8 \
    --locale=C --auth-local=peer --auth-host=scram-sha-256 >"$out" 2>&1); then
    warn "initdb failed"
    log_tail "$out"
    exit 1
  fi
  # Logical decoding for Debezium (pgoutput needs no server plugin), and
  # nothing but the loopback. Port and socket come on the command line.
  cat >>"$KD_PG_DATA/postgresql.conf" <<'EOF'

# kafkademo (scripts/pg-up.sh)
listen_addresses = '127.0.0.1'
wal_level = logical
max_wal_senders = 10
max_replication_slots = 10
password_encryption = scram-sha-256
EOF
fi

log_mark "$KD_PG_LOG"
# The server logs to stderr, which start_background sends to postgres.log.
start_background "$KD_PG_PID" "$KD_PG_LOG" "${KD_PG_AS[@]}" "$bin/postgres" -D "$KD_PG_DATA" \
  -p "$KD_PG_PORT" -k "$KD_PG_SOCKDIR" -c logging_collector=off
pid=$KD_STARTED_PID
printf '%s\n' "$KD_PG_PORT" >"$KD_PG_PORT_FILE"
say "Starting PostgreSQL (pid $pid, log in .kafka/logs/postgres.log)..."
if ! wait_until PostgreSQL "$pid" "$KD_START_TIMEOUT" pg_accepting "$KD_PG_LOG"; then
  rm -f "$KD_PG_PID" "$KD_PG_PORT_FILE"
  exit 1
fi

# User and database, once (and again if someone dropped them).
exists=$(pg_psql -At -c "SELECT count(*) FROM pg_roles WHERE rolname = '$KD_PG_USER'")
if [[ $exists == 0 ]]; then
  pg_psql -c "CREATE ROLE $KD_PG_USER LOGIN REPLICATION PASSWORD '$KD_PG_PASSWORD'"
fi
exists=$(pg_psql -At -c "SELECT count(*) FROM pg_database WHERE datname = '$KD_PG_DB'")
if [[ $exists == 0 ]]; then
  pg_psql -c "CREATE DATABASE $KD_PG_DB OWNER $KD_PG_USER"
  say "Created database $KD_PG_DB and user $KD_PG_USER (password $KD_PG_PASSWORD, LOGIN REPLICATION)"
fi
pg_probe || die "user $KD_PG_USER cannot log in to $KD_HOST:$KD_PG_PORT/$KD_PG_DB (see .kafka/logs/postgres.log)"
say "PostgreSQL is up on $KD_HOST:$KD_PG_PORT (pid $pid, database $KD_PG_DB, user $KD_PG_USER/$KD_PG_PASSWORD, ready in $(elapsed "$start"))"
