#!/usr/bin/env bash
# The known state of the secured broker (KAFKA_SECURITY=1), made through its
# PLAINTEXT listener (User:ANONYMOUS, a super user) once it is up; kafka-start.sh
# runs this before it says the broker is up, and again when it finds one
# running without the topics. Harmless to run again (existing topics and ACLs
# stay as they are).
#
#   topics secure.a and secure.b, 1 partition each
#   User:alice  Write, Read, Describe, Create  topics prefixed "secure.a"
#               Read                           groups prefixed "ga"
#   User:bob    Write, Read, Describe          topics prefixed "secure.b"
#               Read                           groups prefixed "gb"
#
# Prefixed, so each user has a namespace: secure.a itself, and the topics the
# tests make for alice (secure.a.<unique>, by admin or by alice) with groups
# ga.<unique>. With Write/Read/Describe on the literal secure.a only, alice
# could create secure.a.x (Create is prefixed) but then neither see nor use it.
# Nothing else: no Delete, no Alter, no cluster ACL. IdempotentWrite on the
# cluster is not needed: Kafka 2.8+ implies it from Write on any topic
# (KIP-679), and the idempotent producer works with these (checked).
# User:admin and User:ANONYMOUS are super users (super.users).
#
# One JVM per kafka-acls/kafka-topics command, all at once: together they take
# about as long as the slowest, instead of the sum (the tool JVMs spend most of
# their time starting).
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

require_kafka
port=$KD_KAFKA_PORT
if pid_alive "$KD_KAFKA_PID" "$KD_KAFKA_MAIN" >/dev/null; then
  port=$(running_port)
  [[ $(running_security) == 1 ]] ||
    die "the broker on $KD_HOST:$port runs without security: start it with KAFKA_SECURITY=1 (stop it first: make kafka-down)"
fi
kafka_probe 3 "$KD_HOST" "$port" || die "no broker answers on $KD_HOST:$port"
bootstrap=$KD_HOST:$port

# The ACL tool moved from the broker's Scala code to the tools in Kafka 4.0.
acl_class=kafka.admin.AclCommand
if ((KD_MAJOR >= 4)); then acl_class=org.apache.kafka.tools.AclCommand; fi

start=$(now_ms)
mkdir -p "$KD_LOGS"
# Short-lived tools: the C1 compiler alone starts them faster.
export KAFKA_OPTS="${KAFKA_OPTS:-} -XX:TieredStopAtLevel=1"
export KAFKA_TOOLS_HEAP_OPTS=${KAFKA_TOOLS_HEAP_OPTS:--Xmx256m}
names=() pids=()
# run NAME CLASS ARGS...: start a tool in the background, output in .kafka/logs.
run() {
  local name=$1
  shift
  kafka_class "$@" >"$KD_LOGS/secure-setup-$name.out" 2>&1 &
  names+=("$name") pids+=("$!")
}
acl() { # NAME ARGS...
  local name=$1
  shift
  run "$name" "$acl_class" --bootstrap-server "$bootstrap" --add "$@"
}

for topic in "${KD_SECURE_TOPICS[@]}"; do
  run "topic-$topic" org.apache.kafka.tools.TopicCommand --bootstrap-server "$bootstrap" \
    --create --if-not-exists --topic "$topic" --partitions 1 --replication-factor 1
done
acl alice-topics --allow-principal User:alice --operation Write --operation Read --operation Describe \
  --operation Create --topic secure.a --resource-pattern-type prefixed
acl alice-groups --allow-principal User:alice --operation Read --group ga --resource-pattern-type prefixed
acl bob-topics --allow-principal User:bob --operation Write --operation Read --operation Describe \
  --topic secure.b --resource-pattern-type prefixed
acl bob-groups --allow-principal User:bob --operation Read --group gb --resource-pattern-type prefixed

failed=()
for i in "${!pids[@]}"; do
  wait "${pids[i]}" || failed+=("${names[i]}")
done
if ((${#failed[@]})); then
  for name in "${failed[@]}"; do log_tail "$KD_LOGS/secure-setup-$name.out"; done
  die "setting up the secured broker failed: ${failed[*]} (.kafka/logs/secure-setup-*.out)"
fi

# The topics' leaders are known to the broker before anyone is told it is ready.
deadline=$(($(now_ms) + 15000))
for topic in "${KD_SECURE_TOPICS[@]}"; do
  until kafka_topic_probe "$topic" 2 "$KD_HOST" "$port"; do
    (($(now_ms) < deadline)) || die "topic $topic has no leader 15 s after its creation"
    sleep 0.2
  done
done
say "Secured broker set up ($(elapsed "$start")): topics ${KD_SECURE_TOPICS[*]}; ACLs for User:alice (topics secure.a*, groups ga*) and User:bob (topics secure.b*, groups gb*)"
