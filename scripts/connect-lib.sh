# shellcheck shell=bash disable=SC2034 # globals for the scripts that source this
# Shared helpers for the Kafka Connect and PostgreSQL scripts (connect-install,
# connect-up, connect-down, connect-status, pg-up, pg-down). Sourced, never run.
#
# The worker: .kafka/connect/<version>/lib (the runtime) and
# .kafka/connect/<version>/plugins/<plugin>/ (one folder per plugin: file,
# debezium-postgres), assembled by scripts/connect-install.sh from
# scripts/connect-pom.xml. Worker N (1, or 1 and 2 with CONNECT_WORKERS=2)
# listens for REST on 127.0.0.1:CONNECT_PORT+N-1 (default 8083), runs with the
# effective config .kafka/run/connect-N.properties, keeps its pid in
# .kafka/run/connect-N.pid and its logs in .kafka/logs/connect-N/ (connect.log,
# and connect.out for stdout/stderr). What runs is in .kafka/run/connect.env.
#
# PostgreSQL: the cluster in .kafka/pg/data (see KD_PG_BASE), listening on
# 127.0.0.1:PG_PORT (default 5433, beside a system PostgreSQL on 5432), its
# unix socket in .kafka/run/pg, its pid in .kafka/run/postgres.pid and its log
# in .kafka/logs/postgres.log. Database kafkademo, user kafkademo, password
# kafkademo (REPLICATION, LOGIN): development credentials in the open, as the
# secured broker's.
#
# Environment: CONNECT_VERSION (the worker's Kafka version, see
# connect_default_version), CONNECT_PORT, CONNECT_WORKERS (1 or 2),
# CONNECT_BOOTSTRAP (bootstrap.servers; default: the single broker or the
# cluster that runs), CONNECT_HEAP_OPTS (default -Xms128m -Xmx256m),
# CONNECT_START_TIMEOUT (default 90 s), PG_PORT, KAFKA_STOP_TIMEOUT.

# shellcheck source=cluster-lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/cluster-lib.sh"

KD_CONNECT_MAIN=org.apache.kafka.connect.cli.ConnectDistributed
KD_CONNECT_POM=$KD_ROOT/scripts/connect-pom.xml
KD_CONNECT_ENV=$KD_RUN/connect.env
KD_CONNECT_PLUGINS=(file debezium-postgres)
KD_CONNECT_HEAP=${CONNECT_HEAP_OPTS:--Xms128m -Xmx256m}
KD_CONNECT_START_TIMEOUT=${CONNECT_START_TIMEOUT:-90}
# The connector classes a worker must list before it counts as up.
KD_CONNECT_REQUIRED=(io.debezium.connector.postgresql.PostgresConnector
  org.apache.kafka.connect.file.FileStreamSourceConnector)

# The worker's version: the Kafka that Debezium is built against
# (connect-pom.xml's kafka.version, 4.3.2 for Debezium 3.6.1), whatever the
# brokers' version. On a 4.4.0 worker Debezium's task fails at start
# (NoClassDefFoundError: org.apache.kafka.common.utils.Sanitizer, which 4.4
# moved to ...utils.internals); on a 3.9.2 worker it runs (checked: snapshot,
# streaming, exactly-once, offsets API), but 3.9 is not what it is built and
# tested for. A 4.3 worker speaks to every broker from 2.1 on: the 3.9 and
# 4.4 brokers alike. CONNECT_VERSION picks another.
connect_default_version() { pom_kafka_version "$KD_CONNECT_POM"; }
KD_CONNECT_VERSION=${CONNECT_VERSION:-$(connect_default_version)}
if [[ ! $KD_CONNECT_VERSION =~ ^([34])\.[0-9]+\.[0-9]+$ ]]; then
  die "CONNECT_VERSION must be a Kafka release 3.x.y or 4.x.y (e.g. 4.4.0), not '$KD_CONNECT_VERSION'"
fi
KD_CONNECT_MAJOR=${BASH_REMATCH[1]}
KD_CONNECT_HOME=$KD_DIR/connect/$KD_CONNECT_VERSION

KD_CONNECT_PORT=${CONNECT_PORT:-8083}
KD_CONNECT_WORKERS=${CONNECT_WORKERS:-1}
if [[ ! $KD_CONNECT_PORT =~ ^[0-9]+$ ]] || ((KD_CONNECT_PORT < 1024 || KD_CONNECT_PORT > 65534)); then
  die "CONNECT_PORT must be a port number from 1024 to 65534, not '$KD_CONNECT_PORT'"
fi
[[ $KD_CONNECT_WORKERS =~ ^[12]$ ]] || die "CONNECT_WORKERS must be 1 or 2, not '$KD_CONNECT_WORKERS'"

connect_pidfile() { printf '%s\n' "$KD_RUN/connect-$1.pid"; }
connect_config() { printf '%s\n' "$KD_RUN/connect-$1.properties"; }
connect_logdir() { printf '%s\n' "$KD_LOGS/connect-$1"; }
connect_port() { printf '%s\n' $((KD_CONNECT_PORT + $1 - 1)); }
# connect_pid N: the pid of worker N if it runs (see pid_alive).
connect_pid() { pid_alive "$(connect_pidfile "$1")" "$KD_CONNECT_MAIN"; }

# connect_settings: while a worker runs, KD_CONNECT_VERSION, KD_CONNECT_PORT
# and KD_CONNECT_BOOTSTRAP are the running ones' (.kafka/run/connect.env).
# Sets KD_CONNECT_RUNNING (1 if a worker runs) and KD_CONNECT_STARTED_KAFKA
# (1 if connect-up started the single broker).
connect_settings() {
  local key value n
  KD_CONNECT_RUNNING=0 KD_CONNECT_BOOTSTRAP='' KD_CONNECT_STARTED_KAFKA=0
  [[ -s $KD_CONNECT_ENV ]] || return 0
  while IFS='=' read -r key value; do
    case $key in
    version) KD_CONNECT_VERSION=$value ;;
    port) KD_CONNECT_PORT=$value ;;
    bootstrap) KD_CONNECT_BOOTSTRAP=$value ;;
    started_kafka) KD_CONNECT_STARTED_KAFKA=$value ;;
    esac
  done <"$KD_CONNECT_ENV"
  KD_CONNECT_HOME=$KD_DIR/connect/$KD_CONNECT_VERSION
  KD_CONNECT_MAJOR=${KD_CONNECT_VERSION%%.*}
  for n in 1 2; do
    if connect_pid "$n" >/dev/null 2>&1; then KD_CONNECT_RUNNING=1; fi
  done
}

connect_save_settings() {
  mkdir -p "$KD_RUN"
  printf 'version=%s\nport=%s\nbootstrap=%s\nstarted_kafka=%s\n' "$KD_CONNECT_VERSION" \
    "$KD_CONNECT_PORT" "$KD_CONNECT_BOOTSTRAP" "$KD_CONNECT_STARTED_KAFKA" >"$KD_CONNECT_ENV"
}

# connect_get PORT PATH: GET http://127.0.0.1:PORT/PATH, the body on stdout.
connect_get() {
  curl -fsS --max-time 5 "http://$KD_HOST:$1/${2#/}"
}

# connect_ready_probe (for wait_until): worker KD_PROBE_PORT answers GET / and
# lists the required connector plugins.
connect_ready_probe() {
  local plugins class
  connect_get "$KD_PROBE_PORT" / >/dev/null 2>&1 || return 1
  plugins=$(connect_get "$KD_PROBE_PORT" /connector-plugins 2>/dev/null) || return 1
  for class in "${KD_CONNECT_REQUIRED[@]}"; do
    [[ $plugins == *"\"$class\""* ]] || return 1
  done
}

# ---- PostgreSQL -------------------------------------------------------------

KD_PG_PORT=${PG_PORT:-5433}
if [[ ! $KD_PG_PORT =~ ^[0-9]+$ ]] || ((KD_PG_PORT < 1024 || KD_PG_PORT > 65535)); then
  die "PG_PORT must be a port number from 1024 to 65535, not '$KD_PG_PORT'"
fi
KD_PG_DB=kafkademo
KD_PG_USER=kafkademo
KD_PG_PASSWORD=kafkademo
KD_PG_PID=$KD_RUN/postgres.pid
KD_PG_PORT_FILE=$KD_RUN/postgres.port
KD_PG_LOG=$KD_LOGS/postgres.log
KD_PG_MAIN=postgres

# The newest PostgreSQL installed from Debian's packages (postgresql-NN put
# its binaries in /usr/lib/postgresql/NN/bin; /usr/bin has only wrappers).
pg_bindir() {
  local dir best=
  for dir in /usr/lib/postgresql/*/bin; do
    [[ -x $dir/initdb && -x $dir/postgres ]] || continue
    if [[ -z $best ]] || [[ $(printf '%s\n%s\n' "${best%/bin}" "${dir%/bin}" | sort -V | tail -n 1) == "${dir%/bin}" ]]; then
      best=$dir
    fi
  done
  [[ -n $best ]] || return 1
  printf '%s\n' "$best"
}

# The server runs as an unprivileged user: as root, the system's postgres user
# (PostgreSQL refuses to run as root); otherwise as whoever runs the scripts.
if (($(id -u) == 0)); then
  KD_PG_OSUSER=${PG_OS_USER:-postgres}
  id "$KD_PG_OSUSER" >/dev/null 2>&1 ||
    die "running as root, PostgreSQL needs an unprivileged user to run as: user $KD_PG_OSUSER does not exist (PG_OS_USER names another)"
  # setpriv execs (runuser forks), so a pid file gets the postmaster's pid.
  KD_PG_AS=(setpriv "--reuid=$KD_PG_OSUSER" "--regid=$(id -g "$KD_PG_OSUSER")" --init-groups)
else
  KD_PG_OSUSER=$(id -un)
  KD_PG_AS=()
fi

# pg_traversable DIR: the server's user can reach DIR (every directory above
# it searchable), so a data directory or socket there works.
pg_traversable() {
  local dir=$1
  if ((${#KD_PG_AS[@]} == 0)); then return 0; fi
  while [[ -n $dir && $dir != / ]]; do
    if [[ -e $dir ]]; then
      "${KD_PG_AS[@]}" test -x "$dir" 2>/dev/null || return 1
    fi
    dir=$(dirname "$dir")
  done
}

# Where the data directory and socket go: .kafka/pg and .kafka/run/pg, unless
# the server's user cannot reach them (a checkout under a mode-700 /root, say):
# then a directory of our own in the system's temp dir, named after this
# checkout (scripts/pg-up.sh says where).
KD_PG_BASE=$KD_DIR/pg
KD_PG_SOCKDIR=$KD_RUN/pg
if ! pg_traversable "$KD_DIR"; then
  KD_PG_BASE=${TMPDIR:-/tmp}/kafkademo-pg-$(printf '%s' "$KD_ROOT" | cksum | cut -d' ' -f1)
  KD_PG_SOCKDIR=$KD_PG_BASE/run
fi
KD_PG_DATA=$KD_PG_BASE/data

# pg_psql ARGS...: psql as the superuser over the unix socket (peer auth).
pg_psql() {
  local bin
  bin=$(pg_bindir) || die "PostgreSQL is not installed (scripts/test-setup.sh installs it)"
  "${KD_PG_AS[@]}" "$bin/psql" -X -q -v ON_ERROR_STOP=1 -h "$KD_PG_SOCKDIR" -p "$KD_PG_PORT" \
    -U "$KD_PG_OSUSER" -d postgres "$@"
}

# pg_probe: the kafkademo user logs in over TCP with its password.
pg_probe() {
  local bin
  bin=$(pg_bindir) || return 1
  PGPASSWORD=$KD_PG_PASSWORD PGCONNECT_TIMEOUT=2 "$bin/psql" -X -q -At -h "$KD_HOST" -p "$KD_PG_PORT" \
    -U "$KD_PG_USER" -d "$KD_PG_DB" -c 'SELECT 1' >/dev/null 2>&1
}

# pg_accepting: the server accepts connections (pg_isready), whoever may log in.
pg_accepting() {
  local bin
  bin=$(pg_bindir) || return 1
  "$bin/pg_isready" -q -h "$KD_HOST" -p "$KD_PG_PORT" -t 2
}

# pg_running_pid: the pid of the postmaster these scripts started, if it runs.
pg_running_pid() { pid_alive "$KD_PG_PID" "$KD_PG_DATA"; }

# pg_running_port: the port the running server was started on.
pg_running_port() {
  if [[ -s $KD_PG_PORT_FILE ]]; then cat "$KD_PG_PORT_FILE"; else say "$KD_PG_PORT"; fi
}
