#!/usr/bin/env bash
# Start the Kafka broker in the background and wait until it answers a Metadata
# request on 127.0.0.1:9092 (at most KAFKA_START_TIMEOUT seconds, default 60).
#
# KAFKA_MODE=zookeeper (default for 3.x): the docs' `kafka-server-start
#   config/server.properties`; needs ZooKeeper (scripts/zookeeper-start.sh).
# KAFKA_MODE=kraft (default, and the only mode, for 4.x): one combined
#   broker+controller from config/kraft/server.properties, storage formatted
#   on first start.
# KAFKA_VERSION picks the installed version (scripts/kafka-install.sh), and
# KAFKA_PORT the port (default 9092; in KRaft mode the controller listens on
# the next one): the listeners are set on the command line, over the config's.
# Already running in that mode, version and port: says so and exits 0.
#
# KAFKA_STOCK=1: Kafka's shipped server.properties (config/stock/; KRaft
# mode) instead of the project's tuned one: only node addressing and
# log.dirs are set here, as for the tuned broker. Its data, logs and run
# files are its own, so it can run beside the project's broker (on another
# KAFKA_PORT).
#
# KAFKA_SECURITY=1: the secured broker (config/server-secure.properties on top
# of the mode's config): PLAINTEXT unchanged on KAFKA_PORT, then SSL (mutual
# TLS), SASL_SSL, SASL_PLAINTEXT and EXPIRED on KAFKA_PORT+2..+5; certificates
# from scripts/kafka-certs.sh; SCRAM users alice, bob and admin; an authorizer
# and the ACLs and topics of scripts/kafka-secure-setup.sh, made before it
# says the broker is up. Its data is kept apart from the plain broker's (the
# SCRAM users are written when the KRaft storage is formatted; ZooKeeper mode
# uses the chroot /kafkademo-secure). KAFKA_REAUTH_MS (default 10000): how
# often SASL clients must authenticate again (connections.max.reauth.ms).
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

mode=$(requested_mode)
check_running "$mode"
if [[ -n $KD_RUNNING_PID ]]; then
  if ((KD_SECURITY)); then
    # Ready means with its topics (a test may have deleted one): made again if not.
    for topic in "${KD_SECURE_TOPICS[@]}"; do
      if ! kafka_topic_probe "$topic" 3; then
        say "Secured Kafka runs (pid $KD_RUNNING_PID) without topic $topic: setting it up again"
        "$KD_ROOT/scripts/kafka-secure-setup.sh"
        break
      fi
    done
    say "Secured Kafka $KD_VERSION already running in $mode mode (pid $KD_RUNNING_PID) on $KD_HOST:$KD_KAFKA_PORT ($(secure_ports_text "$KD_KAFKA_PORT"))"
    reauth=$(sed -n 's/^connections\.max\.reauth\.ms=//p' "$KD_SECURE_CONFIG" 2>/dev/null | tail -n 1) || true
    if [[ -n $reauth && $reauth != "${KAFKA_REAUTH_MS:-10000}" ]]; then
      warn "it runs with connections.max.reauth.ms=$reauth, not ${KAFKA_REAUTH_MS:-10000}: stop it (make kafka-down) to change that"
    fi
  elif ((KD_RUNNING_SECURITY)); then
    say "Kafka $KD_VERSION already running in $mode mode (pid $KD_RUNNING_PID) on $KD_HOST:$KD_KAFKA_PORT, secured (KAFKA_SECURITY=1): its PLAINTEXT listener there is open to all"
  else
    say "Kafka $KD_VERSION already running in $mode mode (pid $KD_RUNNING_PID) on $KD_HOST:$KD_KAFKA_PORT"
  fi
  exit 0
fi
# (A failed start keeps .kafka/run/server-secure.properties, for a look.)
run_files=("$KD_KAFKA_MODE_FILE" "$KD_KAFKA_VERSION_FILE" "$KD_KAFKA_PORT_FILE" "$KD_KAFKA_SECURITY_FILE")
rm -f "${run_files[@]}" "$KD_SECURE_CONFIG"
require_kafka
version=$(installed_kafka_version) || version=unknown

if kafka_probe 2; then
  die "a Kafka broker not started by these scripts already answers on $KD_HOST:$KD_KAFKA_PORT ($KD_BROKERS)"
fi

port=$KD_KAFKA_PORT
overrides=("advertised.listeners=PLAINTEXT://$KD_HOST:$port")
config_lines=()
if ((KD_SECURITY)); then
  # The broker would fail to bind them after a long start: say which at once.
  for name in "${KD_SECURE_LISTENERS[@]}"; do
    p=$(secure_port "$name")
    if port_open "$p"; then
      die "something already listens on $KD_HOST:$p, the secured broker's $name port (KAFKA_PORT moves them all)"
    fi
  done
  "$KD_ROOT/scripts/kafka-certs.sh"
  reauth=${KAFKA_REAUTH_MS:-10000}
  [[ $reauth =~ ^[0-9]+$ ]] || die "KAFKA_REAUTH_MS must be milliseconds, not '$reauth'"
  listeners='' advertised=PLAINTEXT://$KD_HOST:$port protocols=PLAINTEXT:PLAINTEXT
  for name in "${KD_SECURE_LISTENERS[@]}"; do
    p=$(secure_port "$name")
    listeners+=",$name://$KD_HOST:$p"
    advertised+=",$name://$KD_HOST:$p"
    protocol=$name
    if [[ $name == EXPIRED ]]; then protocol=SSL; fi
    protocols+=",$name:$protocol"
  done
  overrides=("advertised.listeners=$advertised")
  config_lines+=("connections.max.reauth.ms=$reauth")
  if [[ $mode == kraft ]]; then
    config_lines+=("authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer")
  else
    config_lines+=("authorizer.class.name=kafka.security.authorizer.AclAuthorizer")
  fi
fi
config=config/server.properties
if [[ $mode == kraft ]]; then config=config/kraft/server.properties; fi
# The stock files keep the shipped node.id (1).
node_id=0
if ((KD_STOCK)); then
  config=config/stock/server-3.9-kraft.properties
  if ((KD_MAJOR >= 4)); then config=config/stock/server-4.properties; fi
  node_id=1
fi
if ((KD_SECURITY)); then
  # The broker's config in a generated file, not --override on the command
  # line: the JAAS lines and principal rules of config/server-secure.properties
  # hold '=', quotes and '$'.
  mkdir -p "$KD_RUN"
  { cat "$KD_ROOT/$config" "$KD_ROOT/config/server-secure.properties" &&
    printf '%s\n' "# Set by scripts/kafka-start.sh for $mode mode" "${config_lines[@]}"; } >"$KD_SECURE_CONFIG"
  config=${KD_SECURE_CONFIG#"$KD_ROOT"/}
fi
start=$(now_ms)
case $mode in
zookeeper)
  overrides+=("listeners=PLAINTEXT://$KD_HOST:$port${listeners:-}")
  zk_prefix=
  if ((KD_SECURITY)); then
    zk_prefix=$KD_SECURE_CHROOT
    data=$KD_DATA/broker-zookeeper-secure
    overrides+=(
      "listener.security.protocol.map=$protocols"
      "zookeeper.connect=$KD_HOST:$KD_ZK_PORT$zk_prefix"
      "log.dirs=${data#"$KD_ROOT"/}"
    )
  fi
  zk_probe 2 ||
    die "ZooKeeper does not answer on $KD_HOST:$KD_ZK_PORT: start it first (scripts/zookeeper-start.sh, or make kafka-up)"
  # No broker of ours runs and none answers on our port, so a registration of
  # broker 0 left in ZooKeeper belongs to a killed broker: the new one would
  # fail with NodeExists. Wait for ZooKeeper to expire it (session timeout, 18 s).
  stale_registration() {
    local nodes
    nodes=$(zk_ephemerals) && grep -qx -e "$zk_prefix/brokers/ids/0" -e "$zk_prefix/controller" <<<"$nodes"
  }
  if stale_registration; then
    say "Waiting for ZooKeeper to expire the registration of a broker that was killed..."
    deadline=$((start + KD_START_TIMEOUT * 1000))
    while stale_registration; do
      (($(now_ms) < deadline)) ||
        die "ZooKeeper still holds a registration of broker 0 after ${KD_START_TIMEOUT}s (.kafka/logs/zookeeper.log)"
      sleep 0.5
    done
  fi
  if ((KD_SECURITY)); then
    # SCRAM users live in ZooKeeper, written before the broker starts (the one
    # thing kafka-configs still does with --zookeeper). Once per ZooKeeper data
    # directory: the mark lives in it, so wiping it makes them again.
    mark=$KD_DATA/zookeeper/kafkademo-secure-scram-users
    if [[ ! -e $mark ]]; then
      say "Adding SCRAM users to ZooKeeper ($zk_prefix): ${KD_SCRAM_USERS[*]%%:*}..."
      # kafka-configs cannot make the chroot ("Path length must be > 0"); the
      # broker would, but it starts after.
      out=$(kafka_class org.apache.zookeeper.ZooKeeperMain -server "$KD_HOST:$KD_ZK_PORT" \
        create "$zk_prefix" "" 2>&1) || true
      [[ $out == *"Created $zk_prefix"* || $out == *"already exists"* ]] ||
        die "could not create $zk_prefix in ZooKeeper: $(tail -n 3 <<<"$out")"
      pids=() users=()
      for entry in "${KD_SCRAM_USERS[@]}"; do
        user=${entry%%:*} password=${entry#*:}
        KAFKA_OPTS="${KAFKA_OPTS:-} -XX:TieredStopAtLevel=1" KAFKA_TOOLS_HEAP_OPTS=-Xmx256m \
          kafka_class kafka.admin.ConfigCommand --zookeeper "$KD_HOST:$KD_ZK_PORT$zk_prefix" --alter \
          --add-config "SCRAM-SHA-256=[password=$password],SCRAM-SHA-512=[password=$password]" \
          --entity-type users --entity-name "$user" >"$KD_LOGS/scram-$user.out" 2>&1 &
        pids+=("$!") users+=("$user")
      done
      for i in "${!pids[@]}"; do
        if ! wait "${pids[i]}"; then
          log_tail "$KD_LOGS/scram-${users[i]}.out"
          die "adding SCRAM user ${users[i]} to ZooKeeper failed"
        fi
      done
      : >"$mark"
    fi
  fi
  ;;
kraft)
  cport=$((port + 1))
  overrides+=(
    "listeners=PLAINTEXT://$KD_HOST:$port,CONTROLLER://$KD_HOST:$cport${listeners:-}"
    "controller.quorum.voters=$node_id@$KD_HOST:$cport"
  )
  if ((KD_STOCK)); then
    # Only where it listens and keeps its data differ from the shipped file.
    overrides+=("controller.quorum.bootstrap.servers=")
  fi
  # The default version keeps the config's data directory; others get their
  # own (a newer Kafka's storage format cannot be read by an older one). The
  # secured broker too: its SCRAM users are written when it is formatted.
  data=$KD_DATA/broker-kraft
  if ((KD_STOCK)); then data+=-stock; fi
  if [[ $KD_VERSION != "$(pom_kafka_version)" ]]; then data+=-$KD_VERSION; fi
  if ((KD_SECURITY)); then
    data+=-secure
    overrides+=("listener.security.protocol.map=CONTROLLER:PLAINTEXT,$protocols")
  fi
  if [[ $data != "$KD_DATA/broker-kraft" ]]; then overrides+=("log.dirs=${data#"$KD_ROOT"/}"); fi
  if [[ ! -s $data/meta.properties ]]; then
    # A random cluster id, as `kafka-storage random-uuid` makes: 16 random bytes
    # in unpadded URL-safe base64, never starting with '-' (it would read as a flag).
    cluster_id=-
    while [[ $cluster_id == -* ]]; do
      cluster_id=$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=')
    done
    scram=()
    if ((KD_SECURITY)); then
      for entry in "${KD_SCRAM_USERS[@]}"; do
        user=${entry%%:*} password=${entry#*:}
        scram+=(--add-scram "SCRAM-SHA-256=[name=$user,password=$password]"
          --add-scram "SCRAM-SHA-512=[name=$user,password=$password]")
      done
    fi
    say "Formatting KRaft storage in ${data#"$KD_ROOT"/} (cluster id $cluster_id)${scram:+ with SCRAM users ${KD_SCRAM_USERS[*]%%:*}}..."
    mkdir -p "$KD_LOGS" "$KD_RUN"
    # StorageTool takes no overrides: it gets the config plus ours in a
    # temporary file (a later key wins in a properties file). The quorum is
    # static (controller.quorum.voters), so 4.x needs no --standalone.
    conf=$KD_RUN/kraft-format.properties
    { cat "$KD_ROOT/$config" && printf '%s\n' "${overrides[@]}"; } >"$conf"
    if ! kafka_class kafka.tools.StorageTool format -t "$cluster_id" -c "$conf" "${scram[@]}" \
      >"$KD_LOGS/kraft-format.out" 2>&1; then
      rm -f "$conf"
      warn "formatting KRaft storage failed"
      log_tail "$KD_LOGS/kraft-format.out"
      exit 1
    fi
    rm -f "$conf"
  fi
  ;;
esac

out=$KD_LOGS/kafka.out
args=()
for o in "${overrides[@]}"; do args+=(--override "$o"); done
kafka_command --heap "${KAFKA_HEAP_OPTS:--Xms256m -Xmx512m}" \
  --log4j "$KD_ROOT/config/log4j.properties" \
  "$KD_KAFKA_MAIN" "$config" "${args[@]}"
log_mark "$KD_LOGS/server.log"
start_background "$KD_KAFKA_PID" "$out" "${KAFKA_CMD[@]}"
printf '%s\n' "$mode" >"$KD_KAFKA_MODE_FILE"
printf '%s\n' "$KD_VERSION" >"$KD_KAFKA_VERSION_FILE"
printf '%s\n' "$port" >"$KD_KAFKA_PORT_FILE"
printf '%s\n' "$KD_SECURITY" >"$KD_KAFKA_SECURITY_FILE"
pid=$KD_STARTED_PID
secured=
if ((KD_SECURITY)); then secured="secured "; fi
if ((KD_STOCK)); then secured="stock "; fi
say "Starting ${secured}Kafka $version in $mode mode (pid $pid, logs in ${KD_LOGS#"$KD_ROOT"/})..."

if ! wait_until Kafka "$pid" "$KD_START_TIMEOUT" kafka_probe "$KD_LOGS/server.log" "$out"; then
  rm -f "$KD_KAFKA_PID" "${run_files[@]}"
  exit 1
fi
if ((KD_SECURITY)); then
  if ! "$KD_ROOT/scripts/kafka-secure-setup.sh"; then
    warn "stopping the broker: it is not in the state the tests expect"
    kill_quietly "$pid"
    rm -f "$KD_KAFKA_PID" "${run_files[@]}"
    exit 1
  fi
  say "Secured Kafka $version is up on $KD_HOST:$port (PLAINTEXT, admin) and $(secure_ports_text "$port") in $mode mode (pid $pid, ready in $(elapsed "$start"))"
else
  say "${secured^}Kafka $version is up on $KD_HOST:$port in $mode mode (pid $pid, brokers $KD_BROKERS, ready in $(elapsed "$start"))"
fi
