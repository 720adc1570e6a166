# shellcheck shell=bash disable=SC2034 # globals for the scripts that source this
# Shared helpers for the three-broker cluster scripts (cluster-up, cluster-down,
# cluster-status, broker-kill, broker-start). Sourced, never run.
#
# Brokers 0, 1 and 2 listen on 127.0.0.1:CLUSTER_PORT+ID (CLUSTER_PORT defaults
# to 9092: 9092-9094). In KRaft mode (KAFKA_MODE=kraft) each is also a
# controller, on CLUSTER_CONTROLLER_PORT+ID (default CLUSTER_PORT+100: 9192-9194).
# Broker ID keeps its data in .kafka/data/cluster-ID/<mode>, its logs in
# .kafka/logs/cluster-ID/ and its pid in .kafka/run/cluster-ID.pid. The mode and
# ports of the running cluster are in .kafka/run/cluster.env, so that every
# script acts on the cluster that runs, whatever the environment says.
#
# Environment: KAFKA_MODE (zookeeper|kraft), CLUSTER_PORT, CLUSTER_CONTROLLER_PORT,
# CLUSTER_HEAP_OPTS (default -Xms128m -Xmx384m per broker), KAFKA_START_TIMEOUT,
# KAFKA_STOP_TIMEOUT.

# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

KD_CLUSTER_IDS=(0 1 2)
KD_CLUSTER_SIZE=${#KD_CLUSTER_IDS[@]}
KD_CLUSTER_CHROOT=/kafkademo-cluster
KD_CLUSTER_ENV=$KD_RUN/cluster.env
# What a cluster broker's command line contains (the single broker's does not).
KD_CLUSTER_MAIN="$KD_KAFKA_MAIN config/cluster/"
KD_CLUSTER_HEAP=${CLUSTER_HEAP_OPTS:--Xms128m -Xmx384m}

cluster_pidfile() { printf '%s\n' "$KD_RUN/cluster-$1.pid"; }
cluster_logdir() { printf '%s\n' "$KD_LOGS/cluster-$1"; }
# Relative to the repo root, as on the broker's command line.
cluster_datadir() { printf '%s\n' ".kafka/data/cluster-$1/$KD_CLUSTER_MODE"; }
cluster_port() { printf '%s\n' $((KD_CLUSTER_PORT + $1)); }
cluster_cport() { printf '%s\n' $((KD_CLUSTER_CPORT + $1)); }
cluster_config() {
  if [[ $KD_CLUSTER_MODE == kraft ]]; then
    say config/cluster/kraft/server.properties
  else
    say config/cluster/server.properties
  fi
}

# cluster_pid ID: prints the pid of broker ID if it runs: its pid file's
# (see pid_alive), or else, when that file is missing or stale while the
# broker runs, the JVM whose log dir is broker ID's (found in /proc; the pid
# file is written again, with a warning). A kill or stop then never misses a
# running broker for want of its pid file.
cluster_pid() {
  local file pid
  file=$(cluster_pidfile "$1")
  if pid_alive "$file" "$KD_CLUSTER_MAIN" 2>/dev/null; then return 0; fi
  pid=$(cluster_find_pid "$1") || return 1
  warn "broker $1 runs as pid $pid, which its pid file did not say: pid file written again"
  printf '%s\n' "$pid" >"$file"
  printf '%s\n' "$pid"
}

# cluster_find_pid ID: the pid of the JVM running broker ID of this checkout
# (its -Dkafka.logs.dir is broker ID's log dir), from /proc, without forking.
cluster_find_pid() {
  local want p args joined
  want="-Dkafka.logs.dir=$(cluster_logdir "$1")"
  for p in /proc/[0-9]*; do
    [[ -r $p/cmdline ]] || continue
    args=()
    mapfile -d '' -t args <"$p/cmdline" 2>/dev/null || continue
    joined=" ${args[*]} "
    if [[ $joined == *" $want "* && $joined == *"$KD_CLUSTER_MAIN"* ]]; then
      printf '%s\n' "${p#/proc/}"
      return 0
    fi
  done
  return 1
}

# cluster_running: prints the ids of the brokers that run, one a line.
cluster_running() {
  local id
  for id in "${KD_CLUSTER_IDS[@]}"; do
    if cluster_pid "$id" >/dev/null; then say "$id"; fi
  done
}

cluster_check_id() {
  if [[ ! ${1:-} =~ ^[0-9]+$ ]] || (($1 >= KD_CLUSTER_SIZE)); then
    die "broker id must be one of ${KD_CLUSTER_IDS[*]}, not '${1:-}'"
  fi
}

_cluster_check_port() { # NAME VALUE
  if [[ ! $2 =~ ^[0-9]+$ ]] || (($2 < 1024 || $2 + KD_CLUSTER_SIZE - 1 > 65535)); then
    die "$1 must be a port number from 1024 to $((65536 - KD_CLUSTER_SIZE)), not '$2'"
  fi
}

# cluster_settings start|use: sets KD_CLUSTER_MODE, KD_CLUSTER_PORT and
# KD_CLUSTER_CPORT. While any broker of the cluster runs, they are the running
# cluster's (from .kafka/run/cluster.env); to `start` a broker, asking for
# another mode or other ports then is an error. Otherwise they come from the
# environment.
cluster_settings() {
  local purpose=$1
  KD_CLUSTER_MODE=$(requested_mode) || exit 1
  KD_CLUSTER_PORT=${CLUSTER_PORT:-9092}
  _cluster_check_port CLUSTER_PORT "$KD_CLUSTER_PORT"
  KD_CLUSTER_CPORT=${CLUSTER_CONTROLLER_PORT:-$((KD_CLUSTER_PORT + 100))}
  _cluster_check_port CLUSTER_CONTROLLER_PORT "$KD_CLUSTER_CPORT"
  if ((KD_CLUSTER_CPORT < KD_CLUSTER_PORT + KD_CLUSTER_SIZE && KD_CLUSTER_PORT < KD_CLUSTER_CPORT + KD_CLUSTER_SIZE)); then
    die "the controller ports ($KD_CLUSTER_CPORT-$((KD_CLUSTER_CPORT + KD_CLUSTER_SIZE - 1))) overlap the broker ports ($KD_CLUSTER_PORT-$((KD_CLUSTER_PORT + KD_CLUSTER_SIZE - 1)))"
  fi

  [[ -s $KD_CLUSTER_ENV ]] || return 0
  if [[ -z $(cluster_running) ]]; then
    rm -f "$KD_CLUSTER_ENV"
    return 0
  fi
  local mode port cport version= key value
  while IFS='=' read -r key value; do
    case $key in
    version) version=$value ;;
    mode) mode=$value ;;
    port) port=$value ;;
    controller_port) cport=$value ;;
    esac
  done <"$KD_CLUSTER_ENV"
  [[ -n ${mode:-} && -n ${port:-} && -n ${cport:-} ]] ||
    die "${KD_CLUSTER_ENV#"$KD_ROOT"/} is incomplete; stop the cluster (make cluster-down) and start it again"
  if [[ $purpose == start ]]; then
    if [[ -n ${KAFKA_MODE:-} && $KD_CLUSTER_MODE != "$mode" ]]; then
      die "the cluster runs in $mode mode; stop it first (make cluster-down) to start it in $KD_CLUSTER_MODE mode"
    fi
    if [[ -n ${CLUSTER_PORT:-} && $KD_CLUSTER_PORT != "$port" ]] ||
      [[ -n ${CLUSTER_CONTROLLER_PORT:-} && $mode == kraft && $KD_CLUSTER_CPORT != "$cport" ]]; then
      die "the cluster runs on ports $port-$((port + KD_CLUSTER_SIZE - 1)); stop it first (make cluster-down) to use CLUSTER_PORT=$KD_CLUSTER_PORT"
    fi
    if [[ -n $version && -n ${KAFKA_VERSION:-} && -z ${KAFKA_HOME:-} && $KD_VERSION != "$version" ]]; then
      die "the cluster runs Kafka $version; stop it first (make cluster-down) to start Kafka $KD_VERSION"
    fi
  fi
  KD_CLUSTER_MODE=$mode KD_CLUSTER_PORT=$port KD_CLUSTER_CPORT=$cport
  # A broker started again runs the version its cluster runs.
  if [[ -n $version && -z ${KAFKA_HOME:-} && $KD_VERSION != "$version" ]]; then
    use_kafka_version "$version"
  fi
}

cluster_save_settings() {
  mkdir -p "$KD_RUN"
  printf 'mode=%s\nport=%s\ncontroller_port=%s\nversion=%s\n' \
    "$KD_CLUSTER_MODE" "$KD_CLUSTER_PORT" "$KD_CLUSTER_CPORT" "$KD_VERSION" >"$KD_CLUSTER_ENV"
}

cluster_bootstrap() {
  local id list=
  for id in "${KD_CLUSTER_IDS[@]}"; do list+="${list:+,}$KD_HOST:$(cluster_port "$id")"; done
  say "$list"
}

# cluster_check_ports ID: the ports broker ID needs are free. Refuses (exits)
# when the single broker of kafka-start.sh uses one, or anything else does.
cluster_check_ports() {
  local id=$1 port cport pid single_ports=() p mine
  port=$(cluster_port "$id")
  cport=$(cluster_cport "$id")
  mine=("$port")
  if [[ $KD_CLUSTER_MODE == kraft ]]; then mine+=("$cport"); fi
  if pid=$(pid_alive "$KD_KAFKA_PID" "$KD_KAFKA_MAIN"); then
    single_ports=("$(running_port)")
    # The KRaft single broker's controller listens on the next port (9093),
    # and a secured one's TLS and SASL listeners on the four after (9094-9097).
    if [[ $(running_mode) == kraft ]]; then single_ports+=($((single_ports[0] + 1))); fi
    if [[ $(running_security) == 1 ]]; then
      for p in "${KD_SECURE_LISTENERS[@]}"; do single_ports+=("$(secure_port "$p" "${single_ports[0]}")"); done
    fi
    for p in "${mine[@]}"; do
      if [[ " ${single_ports[*]} " == *" $p "* ]]; then
        die "the single Kafka broker ($(running_mode) mode, pid $pid) uses port $p, which broker $id needs: stop it first (make kafka-down), or run the cluster on other ports (e.g. CLUSTER_PORT=19092)"
      fi
    done
  fi
  for p in "${mine[@]}"; do
    if port_open "$p"; then
      die "something not started by the cluster scripts listens on $KD_HOST:$p, which broker $id needs (CLUSTER_PORT moves the cluster's ports)"
    fi
  done
}

# cluster_stale_ids IDS...: those of the given brokers whose registration is
# still in ZooKeeper (a killed broker's, until its session expires).
cluster_stale_ids() {
  local nodes id
  nodes=$(zk_ephemerals) || return 0
  for id in "$@"; do
    if grep -qx "$KD_CLUSTER_CHROOT/brokers/ids/$id" <<<"$nodes"; then say "$id"; fi
  done
}

# cluster_wait_stale IDS...: no broker of ours with these ids runs, so their
# registrations in ZooKeeper belong to killed brokers, and a new broker with
# the same id would fail with NodeExists: wait until ZooKeeper expires them
# (zookeeper.session.timeout.ms, 6 s). Sets KD_STALE_WAITED ("" if no wait).
cluster_wait_stale() {
  local stale start deadline
  KD_STALE_WAITED=
  stale=$(cluster_stale_ids "$@")
  [[ -n $stale ]] || return 0
  start=$(now_ms)
  deadline=$((start + KD_START_TIMEOUT * 1000))
  say "Waiting for ZooKeeper to expire the registration of killed broker(s) $(paste -sd ' ' <<<"$stale")..."
  while [[ -n $stale ]]; do
    (($(now_ms) < deadline)) ||
      die "ZooKeeper still holds the registration of broker(s) $(paste -sd ' ' <<<"$stale") after ${KD_START_TIMEOUT}s (.kafka/logs/zookeeper.log)"
    sleep 0.5
    stale=$(cluster_stale_ids "$@")
  done
  KD_STALE_WAITED=$(elapsed "$start")
}

# cluster_overrides ID: sets the array KD_OVERRIDES to broker ID's settings,
# as key=value (the template has everything they share).
cluster_overrides() {
  local id=$1 port cport voters='' i
  port=$(cluster_port "$id")
  cport=$(cluster_cport "$id")
  KD_OVERRIDES=(
    "advertised.listeners=PLAINTEXT://$KD_HOST:$port"
    "log.dirs=$(cluster_datadir "$id")"
  )
  if [[ $KD_CLUSTER_MODE == kraft ]]; then
    for i in "${KD_CLUSTER_IDS[@]}"; do voters+="${voters:+,}$i@$KD_HOST:$(cluster_cport "$i")"; done
    KD_OVERRIDES+=(
      "node.id=$id"
      "listeners=PLAINTEXT://$KD_HOST:$port,CONTROLLER://$KD_HOST:$cport"
      "controller.quorum.voters=$voters"
    )
  else
    KD_OVERRIDES+=(
      "broker.id=$id"
      "listeners=PLAINTEXT://$KD_HOST:$port"
    )
  fi
}

# cluster_format IDS...: KRaft only. Formats the storage of those of the given
# nodes that have none, with the cluster id of the nodes already formatted, or
# a new one: all three share one cluster id. Formats in parallel.
cluster_format() {
  local id todo=() cluster_id='' meta
  for id in "${KD_CLUSTER_IDS[@]}"; do
    meta=$KD_ROOT/$(cluster_datadir "$id")/meta.properties
    if [[ -s $meta ]]; then
      [[ -n $cluster_id ]] || cluster_id=$(sed -n 's/^cluster\.id=//p' "$meta")
    elif [[ " $* " == *" $id "* ]]; then
      todo+=("$id")
    fi
  done
  ((${#todo[@]} > 0)) || return 0
  if [[ -z $cluster_id ]]; then
    # A random cluster id, as `kafka-storage random-uuid` makes: 16 random bytes
    # in unpadded URL-safe base64, never starting with '-' (it would read as a flag).
    cluster_id=-
    while [[ $cluster_id == -* ]]; do
      cluster_id=$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=')
    done
  fi
  local start pids=() failed=0 logdir conf config i
  start=$(now_ms)
  config=$(cluster_config)
  say "Formatting KRaft storage of node(s) ${todo[*]} (cluster id $cluster_id)..."
  mkdir -p "$KD_RUN"
  for id in "${todo[@]}"; do
    logdir=$(cluster_logdir "$id")
    mkdir -p "$logdir"
    # StorageTool takes no overrides: it gets the template plus this node's
    # settings in a temporary file (a later key wins in a properties file).
    conf=$KD_RUN/cluster-$id.format.properties
    cluster_overrides "$id"
    { cat "$KD_ROOT/$config" && printf '%s\n' "${KD_OVERRIDES[@]}"; } >"$conf"
    (kafka_class kafka.tools.StorageTool format -t "$cluster_id" -c "$conf" \
      >"$logdir/kraft-format.out" 2>&1) &
    pids+=($!)
  done
  for i in "${!todo[@]}"; do
    id=${todo[i]}
    if ! wait "${pids[i]}"; then
      warn "formatting the KRaft storage of node $id failed"
      log_tail "$(cluster_logdir "$id")/kraft-format.out"
      failed=1
    fi
    rm -f "$KD_RUN/cluster-$id.format.properties"
  done
  ((failed == 0)) || exit 1
  say "Formatted in $(elapsed "$start")"
}

# cluster_start ID: start broker ID in the background (no waiting). Sets
# KD_STARTED_PID.
cluster_start() {
  local id=$1 logdir config
  logdir=$(cluster_logdir "$id")
  mkdir -p "$logdir" "$KD_ROOT/$(cluster_datadir "$id")"
  config=$(cluster_config)
  cluster_overrides "$id"
  local args=() o
  for o in "${KD_OVERRIDES[@]}"; do args+=(--override "$o"); done
  kafka_command --heap "$KD_CLUSTER_HEAP" --log4j "$KD_ROOT/config/log4j.properties" \
    --logs-dir "$logdir" "$KD_KAFKA_MAIN" "$config" "${args[@]}"
  log_mark "$logdir/server.log" "$logdir/kafka.out"
  start_background "$(cluster_pidfile "$id")" "$logdir/kafka.out" "${KAFKA_CMD[@]}"
}

# cluster_ready ID [IDS...]: broker ID answers a Metadata request on its port,
# and the brokers it lists include all of IDS (default: just ID itself).
cluster_ready() {
  local id=$1 want
  shift
  kafka_probe 2 "$KD_HOST" "$(cluster_port "$id")" || return 1
  for want in "${@:-$id}"; do
    [[ " $KD_BROKERS " == *" $want@"* ]] || return 1
  done
}

# cluster_wait STARTED WAIT_IDS ALL_IDS: wait (KAFKA_START_TIMEOUT) until each
# broker of WAIT_IDS (space-separated) answers and lists all of ALL_IDS. If one
# dies or time runs out: the log tails, the brokers of STARTED (the ones this
# run started) are stopped, and it returns 1. Sets KD_READY_AT[id] (ms).
declare -A KD_READY_AT=()
cluster_wait() {
  local started=$1 pending=() all=() id pid start deadline
  read -r -a pending <<<"$2"
  read -r -a all <<<"$3"
  start=$(now_ms)
  deadline=$((start + KD_START_TIMEOUT * 1000))
  while ((${#pending[@]} > 0)); do
    local still=()
    for id in "${pending[@]}"; do
      if ! pid=$(cluster_pid "$id" 2>/dev/null); then
        warn "broker $id exited during startup"
        log_tail "$(cluster_logdir "$id")/server.log" "$(cluster_logdir "$id")/kafka.out"
        _cluster_abort "$started"
        return 1
      fi
      if cluster_ready "$id" "${all[@]}"; then
        KD_READY_AT[$id]=$(now_ms)
      else
        still+=("$id")
      fi
    done
    pending=("${still[@]}")
    ((${#pending[@]} > 0)) || break
    if (($(now_ms) >= deadline)); then
      warn "broker(s) ${pending[*]} not ready within ${KD_START_TIMEOUT}s (answering a Metadata request that lists brokers ${all[*]})"
      for id in "${pending[@]}"; do
        if kafka_probe 2 "$KD_HOST" "$(cluster_port "$id")"; then
          warn "broker $id answers, listing only: $KD_BROKERS"
        fi
        log_tail "$(cluster_logdir "$id")/server.log" "$(cluster_logdir "$id")/kafka.out"
      done
      _cluster_abort "$started"
      return 1
    fi
    sleep 0.5
  done
}

_cluster_abort() {
  local id pid
  for id in $1; do
    if pid=$(cluster_pid "$id" 2>/dev/null); then
      warn "stopping broker $id (pid $pid), which this run started"
      kill_quietly "$pid"
    fi
    rm -f "$(cluster_pidfile "$id")"
  done
}

# cluster_orphans: pids of cluster brokers of this install (.kafka) that run
# without a pid file, e.g. after a pid file was deleted by hand.
cluster_orphans() {
  local pid cwd known=" " id here
  here=$(cd "$KD_DIR" && pwd -P)
  for id in "${KD_CLUSTER_IDS[@]}"; do
    if pid=$(cluster_pid "$id" 2>/dev/null); then known+="$pid "; fi
  done
  for pid in $(pgrep -f "$KD_CLUSTER_MAIN" || true); do
    [[ $known == *" $pid "* ]] && continue
    cwd=$(readlink "/proc/$pid/cwd" 2>/dev/null) || continue
    [[ -d $cwd/.kafka && $(cd "$cwd/.kafka" && pwd -P) == "$here" ]] || continue
    say "$pid"
  done
}
