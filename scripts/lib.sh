# shellcheck shell=bash disable=SC2034 # globals for the scripts that source this
# Shared helpers for the Kafka/ZooKeeper scripts. Sourced, never run.
#
# Everything lives under the repo root: configs in config/, the assembled Kafka
# in .kafka/lib/<version>, data in .kafka/data, pid files in .kafka/run, logs in
# .kafka/logs. The configs use paths relative to the repo root, so every Java
# process is started with the repo root as its working directory.
#
# KAFKA_VERSION picks the Kafka version (default: the one in
# scripts/kafka-pom.xml, the 3.9 line; 4.x versions are assembled from
# scripts/kafka4-pom.xml and run in KRaft mode only). Versions sit side by side
# in .kafka/lib, so switching does not reinstall. KAFKA_PORT moves the single
# broker (default 9092; its KRaft controller listens on the next port).
#
# KAFKA_SECURITY=1 secures the single broker (config/server-secure.properties):
# TLS, SASL and ACLs on the ports after KAFKA_PORT, certificates made into
# .kafka/secure, PLAINTEXT left open as the local admin door.
#
# KAFKA_STOCK=1 starts the single broker with Kafka's shipped server.properties
# instead of the project's tuned one (config/stock/, KRaft mode), for
# benchmarks on a broker nobody tuned. It has run files, logs and data of its
# own (.kafka/run/stock, .kafka/logs/stock), so it can run beside the
# project's broker on another KAFKA_PORT; KAFKA_STOCK=1 make kafka-down stops it.
#
# If KAFKA_HOME points at an unpacked Kafka download, its bin/kafka-run-class.sh
# runs every class and nothing is installed into .kafka/lib.

KD_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# The scripts' kafkademo talks to the broker they start, never to a cluster
# of the user's named profiles (`kafkademo profile use`): no profile at all.
export KAFKADEMO_PROFILE=
KD_DIR=$KD_ROOT/.kafka
KD_LIBS=$KD_DIR/lib
KD_RUN=$KD_DIR/run
KD_LOGS=$KD_DIR/logs
# KD_STOCK: 1 for the broker with Kafka's shipped settings (KAFKA_STOCK=1).
case ${KAFKA_STOCK:-0} in
1 | yes | true | on) KD_STOCK=1 ;;
'' | 0 | no | false | off) KD_STOCK=0 ;;
*)
  printf '%s: KAFKA_STOCK must be 1 (Kafka'"'"'s shipped server.properties) or 0, not '"'"'%s'"'"'\n' "${0##*/}" "$KAFKA_STOCK" >&2
  exit 1
  ;;
esac
if ((KD_STOCK)); then
  KD_RUN=$KD_RUN/stock
  KD_LOGS=$KD_LOGS/stock
fi
KD_DATA=$KD_DIR/data
KD_POM3=$KD_ROOT/scripts/kafka-pom.xml
KD_POM4=$KD_ROOT/scripts/kafka4-pom.xml

KD_HOST=127.0.0.1
KD_KAFKA_PORT=${KAFKA_PORT:-9092}
KD_ZK_PORT=2181

KD_KAFKA_PID=$KD_RUN/kafka.pid
KD_KAFKA_MODE_FILE=$KD_RUN/kafka.mode
# Version and port of the single broker that runs, written at its start.
KD_KAFKA_VERSION_FILE=$KD_RUN/kafka.version
KD_KAFKA_PORT_FILE=$KD_RUN/kafka.port
# "1" when it runs secured (KAFKA_SECURITY=1), and the config it was started
# with then (its config plus config/server-secure.properties and the ports').
KD_KAFKA_SECURITY_FILE=$KD_RUN/kafka.security
KD_SECURE_CONFIG=$KD_RUN/server-secure.properties
KD_ZK_PID=$KD_RUN/zookeeper.pid

# The secured broker (KAFKA_SECURITY=1): its certificates (scripts/kafka-certs.sh)
# and the password of their PKCS12 stores (as in config/server-secure.properties);
# the SCRAM users it is given (PLAIN's are in config/server-secure.properties),
# and the topics the setup makes (scripts/kafka-secure-setup.sh). Development
# passwords in the open: the config/secure/*.properties clients use them.
KD_SECURE_DIR=$KD_DIR/secure
KD_STORE_PASSWORD=kafkademo-store
KD_SCRAM_USERS=(alice:alice-secret bob:bob-secret admin:admin-secret)
KD_SECURE_TOPICS=(secure.a secure.b)
# Its listeners other than PLAINTEXT (KAFKA_PORT) and CONTROLLER (the next
# port, KRaft): SSL on KAFKA_PORT+2, then SASL_SSL, SASL_PLAINTEXT, EXPIRED.
KD_SECURE_LISTENERS=(SSL SASL_SSL SASL_PLAINTEXT EXPIRED)
# The secured broker in ZooKeeper mode keeps its topics, ACLs and SCRAM users
# under this chroot, apart from the plain broker's.
KD_SECURE_CHROOT=/kafkademo-secure

KD_KAFKA_MAIN=kafka.Kafka
KD_ZK_MAIN=org.apache.zookeeper.server.quorum.QuorumPeerMain

KD_START_TIMEOUT=${KAFKA_START_TIMEOUT:-60}
KD_STOP_TIMEOUT=${KAFKA_STOP_TIMEOUT:-30}

say() { printf '%s\n' "$*"; }
warn() { printf '%s: %s\n' "${0##*/}" "$*" >&2; }
die() {
  warn "$*"
  exit 1
}

# Seconds since the epoch with milliseconds, for timings and deadlines.
now_ms() {
  local s=${EPOCHREALTIME/[.,]/}
  printf '%s\n' "${s:0:${#s}-3}"
}
elapsed() { # START_MS -> "4.2 s"
  local ms=$(($(now_ms) - $1))
  printf '%d.%d s' $((ms / 1000)) $((ms % 1000 / 100))
}

# usage_header SCRIPT: a script's header comment (line 2 to its `set -euo`
# line) without the `# `, as its --help prints it.
usage_header() {
  sed -n '2,/^set -euo/p' "$1" | sed '$d; s/^# \{0,1\}//'
}

# require_positive N...: dies naming the first N that is not a whole number
# above 0 (an option's value).
require_positive() {
  local n
  for n in "$@"; do
    [[ $n =~ ^[1-9][0-9]*$ ]] || die "'$n' is not a positive number"
  done
}

# A bench's broker, used if one answers on KD_HOST:KD_KAFKA_PORT, else
# started and stopped at the end. start_broker_unless_up [MODE] [HOW] starts
# one (in MODE, e.g. kraft; else as KAFKA_MODE says) when none answers, says
# so (HOW ends the line: "(and stopping it at the end)" unless given), and
# sets STARTED_BROKER=1. stop_started_broker [MODE] [quiet], in the bench's
# cleanup, stops only a broker it started (quiet: without kafka-down's output).
STARTED_BROKER=0
# shellcheck disable=SC2120 # the arguments are optional
start_broker_unless_up() {
  kafka_probe 3 && return 0
  say "No broker answers on $KD_HOST:$KD_KAFKA_PORT: starting one ${2:-(and stopping it at the end)}"
  STARTED_BROKER=1
  local -a mode_env=()
  [[ -z ${1:-} ]] || mode_env=("KAFKA_MODE=$1")
  env "${mode_env[@]}" "$KD_ROOT/scripts/kafka-up.sh"
}
# shellcheck disable=SC2120 # the arguments are optional
stop_started_broker() {
  ((STARTED_BROKER)) || return 0
  say "Stopping the broker this script started"
  local -a mode_env=()
  [[ -z ${1:-} ]] || mode_env=("KAFKA_MODE=$1")
  if [[ ${2:-} == quiet ]]; then
    env "${mode_env[@]}" "$KD_ROOT/scripts/kafka-down.sh" >/dev/null || true
  else
    env "${mode_env[@]}" "$KD_ROOT/scripts/kafka-down.sh" || true
  fi
}

# require_java_and_maven WHAT JAVA: dies unless java (or JAVA_HOME) and mvn
# are there: Maven assembles WHAT from its artifacts, and WHAT needs Java JAVA.
require_java_and_maven() {
  command -v java >/dev/null || [[ -n ${JAVA_HOME:-} ]] || die "java not found ($1 needs Java $2)"
  command -v mvn >/dev/null || die "mvn not found (Maven assembles $1 from its artifacts)"
}

# maven_copy POM LOG WHAT [MAVEN ARGS...]: POM's dependencies copied
# (dependency:copy-dependencies, where the ARGS' properties say), Maven's
# output appended to LOG; on a failure its errors and warnings (30 lines at
# most) go to stderr and it dies naming WHAT and LOG.
maven_copy() {
  local pom=$1 log=$2 what=$3
  shift 3
  if ! mvn -B -ntp -f "$pom" "$@" dependency:copy-dependencies >>"$log" 2>&1; then
    grep -E '^\[(ERROR|WARNING)\]' "$log" | head -n 30 >&2 || true
    die "Maven could not fetch $what (full output in ${log#"$KD_ROOT"/})"
  fi
}

# pom_kafka_version [POM]: the Kafka version a pom declares (default: the 3.9
# pom, whose version is the scripts' default; each pom is the single source of
# truth for its line).
pom_kafka_version() {
  sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "${1:-$KD_POM3}" | head -n 1
}

# KAFKA_HOME's Kafka version, from its kafka-clients jar.
kafka_home_version() {
  local jar
  for jar in "$KAFKA_HOME"/libs/kafka-clients-*.jar; do
    [[ -e $jar ]] || return 1
    jar=${jar##*/kafka-clients-}
    printf '%s\n' "${jar%.jar}"
    return 0
  done
  return 1
}

# The version these scripts install and run (KD_VERSION), its major version
# (KD_MAJOR), the pom that assembles it (KD_POM) and where it goes (KD_LIB).
if [[ -n ${KAFKA_HOME:-} ]] && KD_VERSION=$(kafka_home_version); then
  :
else
  KD_VERSION=${KAFKA_VERSION:-$(pom_kafka_version)}
fi
# use_kafka_version V: run Kafka V (sets KD_VERSION, KD_MAJOR, KD_POM, KD_LIB).
use_kafka_version() {
  KD_VERSION=$1
  if [[ ! $KD_VERSION =~ ^([34])\.[0-9]+\.[0-9]+$ ]]; then
    die "KAFKA_VERSION must be a Kafka release 3.x.y or 4.x.y (e.g. 4.4.0), not '$KD_VERSION'"
  fi
  KD_MAJOR=${BASH_REMATCH[1]}
  KD_POM=$KD_POM3
  if ((KD_MAJOR >= 4)); then KD_POM=$KD_POM4; fi
  KD_LIB=$KD_LIBS/$KD_VERSION
}
use_kafka_version "$KD_VERSION"
if [[ ! $KD_KAFKA_PORT =~ ^[0-9]+$ ]] || ((KD_KAFKA_PORT < 1024 || KD_KAFKA_PORT > 65534)); then
  die "KAFKA_PORT must be a port number from 1024 to 65534, not '$KD_KAFKA_PORT'"
fi
# KD_SECURITY: 1 if the secured broker is asked for (KAFKA_SECURITY=1).
case ${KAFKA_SECURITY:-0} in
1 | yes | true | on) KD_SECURITY=1 ;;
'' | 0 | no | false | off) KD_SECURITY=0 ;;
*) die "KAFKA_SECURITY must be 1 (the secured broker) or 0, not '$KAFKA_SECURITY'" ;;
esac
if ((KD_SECURITY && KD_STOCK)); then
  die "KAFKA_STOCK=1 runs Kafka's shipped settings, without security: leave out KAFKA_SECURITY=1"
fi
if ((KD_SECURITY && KD_KAFKA_PORT + ${#KD_SECURE_LISTENERS[@]} + 1 > 65535)); then
  die "KAFKA_SECURITY=1 needs KAFKA_PORT to KAFKA_PORT+$((${#KD_SECURE_LISTENERS[@]} + 1)): KAFKA_PORT=$KD_KAFKA_PORT is too high"
fi

# secure_port LISTENER [PORT]: the port of a secured listener (SSL,
# SASL_SSL, SASL_PLAINTEXT, EXPIRED) of the broker on PORT (default KAFKA_PORT).
secure_port() {
  local i
  for i in "${!KD_SECURE_LISTENERS[@]}"; do
    if [[ ${KD_SECURE_LISTENERS[i]} == "$1" ]]; then
      printf '%s\n' $((${2:-$KD_KAFKA_PORT} + 2 + i))
      return 0
    fi
  done
  return 1
}
# secure_ports_text PORT: "SSL 9094, SASL_SSL 9095, ..." for messages about
# the secured broker on PORT.
secure_ports_text() {
  local name text=
  for name in "${KD_SECURE_LISTENERS[@]}"; do
    text+="${text:+, }$name $(secure_port "$name" "$1")"
  done
  printf '%s\n' "$text"
}

# The version that will run: KAFKA_HOME's, or KD_VERSION if it is installed in .kafka.
installed_kafka_version() {
  if [[ -n ${KAFKA_HOME:-} ]]; then
    kafka_home_version
    return
  fi
  [[ -d $KD_LIB ]] || return 1
  printf '%s\n' "$KD_VERSION"
}

# The versions installed in .kafka/lib, space-separated.
installed_versions() {
  local dir list=
  for dir in "$KD_LIBS"/*/; do
    [[ -d $dir && $dir != *.partial/ ]] || continue
    dir=${dir%/}
    list+="${list:+ }${dir##*/}"
  done
  printf '%s\n' "$list"
}

require_kafka() {
  if [[ -n ${KAFKA_HOME:-} ]]; then
    [[ -x $KAFKA_HOME/bin/kafka-run-class.sh ]] ||
      die "KAFKA_HOME=$KAFKA_HOME has no bin/kafka-run-class.sh (expected an unpacked Kafka download)"
    return 0
  fi
  installed_kafka_version >/dev/null ||
    die "Kafka $KD_VERSION is not installed in .kafka: run scripts/kafka-install.sh (or make kafka-install)"
}

# log4j_option FILE: the JVM option that configures logging from FILE, a
# config/*log4j.properties. Kafka 4.x logs through log4j2: it gets the file's
# log4j2 twin instead (config/log4j.properties -> config/log4j2.yaml).
log4j_option() {
  if ((KD_MAJOR >= 4)); then
    printf '%s\n' "-Dlog4j2.configurationFile=${1%log4j.properties}log4j2.yaml"
  else
    printf '%s\n' "-Dlog4j.configuration=file:$1"
  fi
}

# kafka_command [--heap OPTS] [--log4j FILE] [--logs-dir DIR] CLASS ARGS...
# Sets the array KAFKA_CMD to the command that runs a Kafka main class, with a
# small heap, Kafka's own JVM tuning (as its kafka-run-class.sh) and log4j
# configured from config/ (default: the tools' config, warnings on stderr; see
# log4j_option for 4.x).
# --logs-dir: where log4j's files go (kafka.logs.dir; default .kafka/logs).
kafka_command() {
  local heap=${KAFKA_TOOLS_HEAP_OPTS:--Xmx512m} log4j=$KD_ROOT/config/tools-log4j.properties
  local logs=$KD_LOGS
  local jvm="-server -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:InitiatingHeapOccupancyPercent=35 -XX:+ExplicitGCInvokesConcurrent -Djava.awt.headless=true"
  while [[ $# -gt 0 ]]; do
    case $1 in
    --heap) heap=$2 && shift 2 ;;
    --log4j) log4j=$2 && shift 2 ;;
    --logs-dir) logs=$2 && shift 2 ;;
    *) break ;;
    esac
  done
  local log4j_opts
  log4j_opts=$(log4j_option "$log4j")
  if [[ -n ${KAFKA_HOME:-} ]]; then
    KAFKA_CMD=(env "KAFKA_HEAP_OPTS=$heap" "KAFKA_JVM_PERFORMANCE_OPTS=$jvm"
      "KAFKA_LOG4J_OPTS=$log4j_opts" "LOG_DIR=$logs"
      "$KAFKA_HOME/bin/kafka-run-class.sh" "$@")
  else
    local java=java heap_args jvm_args
    if [[ -n ${JAVA_HOME:-} ]]; then java=$JAVA_HOME/bin/java; fi
    read -r -a heap_args <<<"$heap"
    read -r -a jvm_args <<<"$jvm"
    # shellcheck disable=SC2206 # KAFKA_OPTS is a list of JVM options, as in Kafka's scripts
    KAFKA_CMD=("$java" "${heap_args[@]}" "${jvm_args[@]}" ${KAFKA_OPTS:-}
      "$log4j_opts" "-Dkafka.logs.dir=$logs" -cp "$KD_LIB/*" "$@")
  fi
}

# kafka_class CLASS ARGS...: run a Kafka main class in the foreground (a tool).
kafka_class() {
  require_kafka
  kafka_command "$@"
  (cd "$KD_ROOT" && "${KAFKA_CMD[@]}")
}

# ---- processes --------------------------------------------------------------

# pid_alive PIDFILE MAINCLASS: prints the pid if the file names a live process
# running MAINCLASS. Removes a stale pid file.
pid_alive() {
  local file=$1 main=$2 pid cmdline
  [[ -s $file ]] || return 1
  pid=$(<"$file")
  if [[ $pid =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null; then
    if [[ -r /proc/$pid/cmdline ]]; then
      cmdline=$(tr '\0' ' ' <"/proc/$pid/cmdline")
    else
      cmdline=$(ps -o args= -p "$pid" 2>/dev/null || true)
    fi
    if [[ $cmdline == *"$main"* ]]; then
      printf '%s\n' "$pid"
      return 0
    fi
  fi
  warn "removing stale pid file ${file#"$KD_ROOT"/} (pid $pid is not running $main)"
  rm -f "$file"
  return 1
}

# start_background PIDFILE OUTFILE CMD...: start CMD detached (own session, so
# Ctrl-C in the terminal that started it does not reach it). Sets KD_STARTED_PID.
start_background() {
  local pidfile=$1 out=$2
  shift 2
  mkdir -p "$KD_RUN" "$KD_LOGS"
  # setsid does not fork here (a background job of a script is not a process
  # group leader), and env and kafka-run-class.sh exec, so $! is the JVM's pid.
  (cd "$KD_ROOT" && exec setsid "$@" >"$out" 2>&1 </dev/null) &
  printf '%s\n' "$!" >"$pidfile"
  KD_STARTED_PID=$!
}

# stop_process NAME PIDFILE MAINCLASS: SIGTERM, wait KAFKA_STOP_TIMEOUT, SIGKILL.
stop_process() {
  local name=$1 file=$2 main=$3 pid start
  if ! pid=$(pid_alive "$file" "$main"); then
    say "$name is not running"
    return 0
  fi
  start=$(now_ms)
  say "Stopping $name (pid $pid)..."
  kill -TERM "$pid" 2>/dev/null || true
  local deadline=$((start + KD_STOP_TIMEOUT * 1000))
  while kill -0 "$pid" 2>/dev/null && (($(now_ms) < deadline)); do
    sleep 0.2
  done
  local how=stopped
  if kill -0 "$pid" 2>/dev/null; then
    warn "$name did not stop within ${KD_STOP_TIMEOUT}s, sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
    how=killed
  fi
  rm -f "$file"
  say "$name $how ($(elapsed "$start"))"
}

# kill_quietly PID: SIGTERM, up to 5 s, then SIGKILL; for a failed start.
kill_quietly() {
  local pid=$1 n
  kill -TERM "$pid" 2>/dev/null || return 0
  for ((n = 0; n < 25; n++)); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.2
  done
  kill -KILL "$pid" 2>/dev/null || true
  while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
}

# log_mark FILE...: remember where each log ends, so that a failure report
# shows only what this start wrote.
declare -A KD_LOG_MARK=()
log_mark() {
  local f
  for f in "$@"; do
    KD_LOG_MARK[$f]=0
    if [[ -f $f ]]; then KD_LOG_MARK[$f]=$(wc -c <"$f"); fi
  done
}

# log_tail FILE...: for a failure, the errors and the last 30 lines each log
# got since log_mark.
log_tail() {
  local f from text errors
  for f in "$@"; do
    [[ -s $f ]] || continue
    from=${KD_LOG_MARK[$f]:-0}
    (($(wc -c <"$f") >= from)) || from=0
    text=$(tail -c +$((from + 1)) "$f")
    [[ -n $text ]] || continue
    errors=$(grep -E '^\[[^]]*\] (ERROR|FATAL) |^Caused by: |^[[:alnum:]_.$]+(Exception|Error)(: |$)' <<<"$text" | head -n 10) || true
    if [[ -n $errors ]]; then
      printf -- '--- errors in %s ---\n%s\n' "${f#"$KD_ROOT"/}" "$errors" >&2
    fi
    printf -- '--- last 30 lines of %s ---\n' "${f#"$KD_ROOT"/}" >&2
    tail -n 30 <<<"$text" >&2
  done
}

# ---- probes (pure bash: no JVM, no python per poll) -------------------------

# port_open PORT: something accepts connections on 127.0.0.1:PORT.
port_open() {
  # shellcheck disable=SC2016 # expanded by the inner bash
  timeout 2 bash -c 'exec 3<>"/dev/tcp/$0/$1"' "$KD_HOST" "$1" 2>/dev/null
}

# zk_probe [SECS]: ZooKeeper answers the `srvr` four-letter word and serves.
zk_probe() {
  local reply
  # shellcheck disable=SC2016 # expanded by the inner bash
  reply=$(timeout "${1:-2}" bash -c 'exec 3<>"/dev/tcp/$0/$1" && printf srvr >&3 && cat <&3' \
    "$KD_HOST" "$KD_ZK_PORT" 2>/dev/null) || true
  [[ $reply == *"Mode: "* ]] || return 1
  KD_ZK_INFO=$(sed -n 's/^Zookeeper version: \([^-,]*\).*/ZooKeeper \1/p; s/^Mode: //p' <<<"$reply" | paste -sd ',' | sed 's/,/, /g')
}

# zk_ephemerals: the ephemeral znodes ZooKeeper holds (its `dump` command), one
# a line. A broker's registration outlives a killed broker by its session timeout.
zk_ephemerals() {
  local reply
  # shellcheck disable=SC2016 # expanded by the inner bash
  reply=$(timeout 2 bash -c 'exec 3<>"/dev/tcp/$0/$1" && printf dump >&3 && cat <&3' \
    "$KD_HOST" "$KD_ZK_PORT" 2>/dev/null) || return 1
  sed -n '/^ephemeral nodes dump:/,/^Connections dump:/s/^[[:space:]]\{1,\}\(\/.*\)/\1/p' <<<"$reply"
}

# kafka_roundtrip SECS HOST PORT FRAME: sends FRAME (printf escapes) to
# HOST:PORT and prints the answer's bytes (after its size) as decimal
# numbers; fails without a plausible answer within SECS.
kafka_roundtrip() {
  # shellcheck disable=SC2016 # expanded by the inner bash
  timeout "$1" bash -c '
    exec 3<>"/dev/tcp/$0/$1" || exit 1
    printf "$2" >&3
    set -- $(head -c 4 <&3 | od -An -tu1 -v)
    [ $# -eq 4 ] || exit 1
    n=$(( ($1 << 24) | ($2 << 16) | ($3 << 8) | $4 ))
    [ "$n" -ge 12 ] && [ "$n" -le 16777216 ] || exit 1
    head -c "$n" <&3 | od -An -tu1 -v
  ' "$2" "$3" "$4" 2>/dev/null
}

# kafka_probe [SECS [HOST [PORT]]]: send a Metadata v0 request (all topics) and
# check that a well-formed response with our correlation id and at least one
# broker comes back. Sets KD_BROKERS ("0@127.0.0.1:9092 ...") and KD_TOPICS
# (count). HOST and PORT default to the single broker's, 127.0.0.1:9092.
kafka_probe() {
  local secs=${1:-3} to_host=${2:-$KD_HOST} to_port=${3:-$KD_KAFKA_PORT} out
  # size=19 | api_key=3 (Metadata) | api_version=0 | correlation_id="KDMP"
  # | client_id="probe" | topics: empty array (= all topics in v0)
  local frame='\x00\x00\x00\x13\x00\x03\x00\x00\x4b\x44\x4d\x50\x00\x05probe\x00\x00\x00\x00'
  out=$(kafka_roundtrip "$secs" "$to_host" "$to_port" "$frame") || return 1
  local -a b
  read -r -d '' -a b <<<"$out" || true
  local len=${#b[@]} i=0
  _i32() { KD_I32=$(((b[i] << 24) | (b[i + 1] << 16) | (b[i + 2] << 8) | b[i + 3])) && i=$((i + 4)); }
  _i16() { KD_I16=$(((b[i] << 8) | b[i + 1])) && i=$((i + 2)); }
  ((len >= 12)) || return 1
  _i32
  ((KD_I32 == 0x4b444d50)) || return 1 # correlation id
  _i32
  local count=$KD_I32 node host port k
  ((count >= 1 && count < 10000)) || return 1
  KD_BROKERS=
  for ((k = 0; k < count; k++)); do
    ((i + 6 <= len)) || return 1
    _i32 && node=$KD_I32
    _i16
    ((i + KD_I16 + 4 <= len)) || return 1
    host=
    if ((KD_I16 > 0)); then
      printf -v host '\\x%02x' "${b[@]:i:KD_I16}"
      printf -v host '%b' "$host"
    fi
    i=$((i + KD_I16))
    _i32 && port=$KD_I32
    KD_BROKERS+="${KD_BROKERS:+ }$node@$host:$port"
  done
  ((i + 4 <= len)) || return 1
  _i32
  KD_TOPICS=$KD_I32
  return 0
}

# kafka_topic_probe TOPIC [SECS [HOST [PORT]]]: a Metadata v0 request for TOPIC
# alone; succeeds if the topic exists and its first partition has a leader.
# (Auto-creation is off in config/, so asking does not create it.)
kafka_topic_probe() {
  local topic=$1 secs=${2:-3} to_host=${3:-$KD_HOST} to_port=${4:-$KD_KAFKA_PORT} out frame
  [[ $topic =~ ^[A-Za-z0-9._-]{1,249}$ ]] || return 1
  # size | api_key=3 | api_version=0 | correlation_id="KDMP" | client_id="probe"
  # | topics: [TOPIC]
  local n=$((21 + ${#topic}))
  printf -v frame '\\x%02x\\x%02x\\x%02x\\x%02x\\x00\\x03\\x00\\x00\\x4b\\x44\\x4d\\x50\\x00\\x05probe\\x00\\x00\\x00\\x01\\x%02x\\x%02x%s' \
    $((n >> 24 & 255)) $((n >> 16 & 255)) $((n >> 8 & 255)) $((n & 255)) \
    $((${#topic} >> 8)) $((${#topic} & 255)) "$topic"
  out=$(kafka_roundtrip "$secs" "$to_host" "$to_port" "$frame") || return 1
  local -a b
  read -r -d '' -a b <<<"$out" || true
  local len=${#b[@]} i=0 k count
  _i32() { KD_I32=$(((b[i] << 24) | (b[i + 1] << 16) | (b[i + 2] << 8) | b[i + 3])) && i=$((i + 4)); }
  _i16() { KD_I16=$(((b[i] << 8) | b[i + 1])) && i=$((i + 2)); }
  ((len >= 12)) || return 1
  _i32
  ((KD_I32 == 0x4b444d50)) || return 1 # correlation id
  _i32 && count=$KD_I32                  # brokers: node, host, port each
  ((count < 10000)) || return 1
  for ((k = 0; k < count; k++)); do
    ((i + 6 <= len)) || return 1
    i=$((i + 4)) && _i16 && i=$((i + KD_I16 + 4))
  done
  ((i + 4 + 2 + 2 + ${#topic} + 4 + 10 <= len)) || return 1
  _i32 && ((KD_I32 == 1)) || return 1     # one topic
  _i16 && ((KD_I16 == 0)) || return 1     # its error code
  _i16 && i=$((i + KD_I16))               # its name
  _i32 && ((KD_I32 >= 1)) || return 1     # partitions
  _i16 && ((KD_I16 == 0)) || return 1     # the first one's error code
  i=$((i + 4)) && _i32 && ((KD_I32 < 0x80000000)) # its leader, not -1
}

# wait_until NAME PID TIMEOUT PROBE LOGS...: poll PROBE until it succeeds while
# PID lives. On death or timeout, print the log tails, kill PID, return 1.
wait_until() {
  local name=$1 pid=$2 timeout=$3 probe=$4
  shift 4
  local start deadline
  start=$(now_ms)
  deadline=$((start + timeout * 1000))
  while :; do
    if ! kill -0 "$pid" 2>/dev/null; then
      warn "$name exited during startup"
      log_tail "$@"
      return 1
    fi
    if "$probe" 2; then
      # A probe can succeed against someone else's listener: make sure ours lives.
      sleep 0.2
      if kill -0 "$pid" 2>/dev/null; then
        KD_WAITED=$(elapsed "$start")
        return 0
      fi
      continue
    fi
    if (($(now_ms) >= deadline)); then
      warn "$name did not become ready within ${timeout}s"
      log_tail "$@"
      kill_quietly "$pid"
      return 1
    fi
    sleep 0.5
  done
}

# The mode asked for: zookeeper (default) or kraft; 4.x has KRaft only, so it
# defaults to kraft and refuses zookeeper.
requested_mode() {
  case ${KAFKA_MODE:-} in
  '')
    if ((KD_MAJOR >= 4 || KD_STOCK)); then say kraft; else say zookeeper; fi
    ;;
  zookeeper | zk)
    ((!KD_STOCK)) ||
      die "KAFKA_STOCK=1 runs KRaft mode only (Kafka's shipped KRaft server.properties): use KAFKA_MODE=kraft, or leave KAFKA_MODE unset"
    ((KD_MAJOR < 4)) ||
      die "Kafka $KD_VERSION has no ZooKeeper mode (4.0 removed it): use KAFKA_MODE=kraft, or leave KAFKA_MODE unset"
    say zookeeper
    ;;
  kraft) say kraft ;;
  *) die "KAFKA_MODE must be zookeeper or kraft, not '$KAFKA_MODE'" ;;
  esac
}

# The mode of the broker that runs (from the mode file written at start).
running_mode() {
  if [[ -s $KD_KAFKA_MODE_FILE ]]; then cat "$KD_KAFKA_MODE_FILE"; else say zookeeper; fi
}

# Whether the broker that runs is secured (1) or not (0).
running_security() {
  if [[ -s $KD_KAFKA_SECURITY_FILE ]] && [[ $(<"$KD_KAFKA_SECURITY_FILE") == 1 ]]; then say 1; else say 0; fi
}
# "secured " for messages about the broker that runs, or "".
running_secured_word() {
  if [[ $(running_security) == 1 ]]; then say "secured "; fi
  return 0
}

# The version and port of the broker that runs (files written at start; a
# broker started before they existed is the default version on 9092).
running_version() {
  if [[ -s $KD_KAFKA_VERSION_FILE ]]; then cat "$KD_KAFKA_VERSION_FILE"; else pom_kafka_version; fi
}
running_port() {
  if [[ -s $KD_KAFKA_PORT_FILE ]]; then cat "$KD_KAFKA_PORT_FILE"; else say 9092; fi
}

# check_running MODE: sets KD_RUNNING_PID to the pid of the single broker if
# it runs as asked (MODE, KD_VERSION, KD_KAFKA_PORT, secured if KD_SECURITY),
# or to "" if none runs; dies if it runs otherwise. A secured broker does for
# a plain one (its PLAINTEXT listener is the plain broker's, open to all);
# KD_RUNNING_SECURITY says which runs.
check_running() {
  local mode=$1 rmode rversion rport rsec runs wanted
  KD_RUNNING_PID=
  KD_RUNNING_SECURITY=0
  KD_RUNNING_PID=$(pid_alive "$KD_KAFKA_PID" "$KD_KAFKA_MAIN") || return 0
  rmode=$(running_mode)
  rversion=$(running_version)
  rport=$(running_port)
  rsec=$(running_security)
  KD_RUNNING_SECURITY=$rsec
  if [[ $rmode != "$mode" || $rversion != "$KD_VERSION" || $rport != "$KD_KAFKA_PORT" ]] || ((KD_SECURITY && !rsec)); then
    runs="Kafka $rversion is running in $rmode mode on $KD_HOST:$rport (pid $KD_RUNNING_PID)"
    wanted="Kafka $KD_VERSION in $mode mode on $KD_HOST:$KD_KAFKA_PORT"
    if ((rsec)); then runs="Secured $runs"; fi
    if ((KD_SECURITY)); then
      wanted="secured $wanted"
      if ((!rsec)); then runs+=" without security"; fi
    fi
    die "$runs; stop it first (make kafka-down) to start $wanted"
  fi
}
