#!/usr/bin/env bash
# Check the secured broker that runs (KAFKA_SECURITY=1 make kafka-up) from the
# outside, with Kafka's own Java tools, kcat and openssl: one line per check,
# exit status 1 if any failed. About 1.5 minutes (each Java tool is a JVM start).
#
#   scripts/kafka-secure-check.sh
#
# Uses the client configs of config/secure and the certificates in
# .kafka/secure; writes a few records to secure.a (each run its own).
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$KD_ROOT"

pid=$(pid_alive "$KD_KAFKA_PID" "$KD_KAFKA_MAIN") || die "Kafka is not running: start it with KAFKA_SECURITY=1 make kafka-up"
[[ $(running_security) == 1 ]] || die "Kafka (pid $pid) runs without security: KAFKA_SECURITY=1 make kafka-up (after make kafka-down)"
# The tools of the version that runs.
if [[ $(running_version) != "$KD_VERSION" ]]; then
  KAFKA_VERSION=$(running_version) exec "$0" "$@"
fi
port=$(running_port)
ssl_port=$(secure_port SSL "$port") sasl_ssl_port=$(secure_port SASL_SSL "$port")
sasl_port=$(secure_port SASL_PLAINTEXT "$port") expired_port=$(secure_port EXPIRED "$port")
producer=kafka.tools.ConsoleProducer
if ((KD_MAJOR >= 4)); then producer=org.apache.kafka.tools.ConsoleProducer; fi
consumer=org.apache.kafka.tools.consumer.ConsoleConsumer
topics=org.apache.kafka.tools.TopicCommand
export KAFKA_OPTS="${KAFKA_OPTS:-} -XX:TieredStopAtLevel=1"
S=.kafka/secure C=config/secure
run_id=$(date +%s)-$$

failed=0
# check NAME EXPECTED_REGEX COMMAND...: runs COMMAND (stdout and stderr), passes
# if its output matches EXPECTED_REGEX.
check() {
  local name=$1 want=$2 out
  shift 2
  out=$("$@" 2>&1) || true
  if grep -Eq -- "$want" <<<"$out"; then
    say "ok    $name"
  else
    say "FAIL  $name: expected /$want/, got:"
    grep -v '^[[:space:]]*at ' <<<"$out" | tail -n 8 | sed 's/^/        /'
    failed=1
  fi
}
produce() { # PORT CONFIG TOPIC LINE...
  local p=$1 conf=$2 topic=$3
  shift 3
  printf '%s\n' "$@" | kafka_class "$producer" --bootstrap-server "$KD_HOST:$p" \
    --producer.config "$conf" --producer-property enable.idempotence=true --producer-property acks=all \
    --topic "$topic" && say produced
}
consume() { # PORT CONFIG TOPIC GROUP
  kafka_class "$consumer" --bootstrap-server "$KD_HOST:$1" --consumer.config "$2" \
    --topic "$3" --group "$4" --from-beginning --timeout-ms 10000
}
list_topics() { # PORT CONFIG: the topics the config's user may see
  kafka_class "$topics" --bootstrap-server "$KD_HOST:$1" --command-config "$2" --list
}
kcat_ssl=(kcat -X security.protocol=SSL -X "ssl.ca.location=$S/ca.pem"
  -X "ssl.certificate.location=$S/alice.pem" -X "ssl.key.location=$S/alice-key.pem")
kcat_produce() {
  printf 'kcat-%s\n' "$run_id" | "${kcat_ssl[@]}" -b "$KD_HOST:$ssl_port" -P -t secure.a && say produced
}
s_client() { # PORT ARGS...
  local p=$1
  shift
  openssl s_client -connect "$KD_HOST:$p" -CAfile "$S/ca.pem" "$@" </dev/null
}

say "Checking secured Kafka $KD_VERSION ($(running_mode) mode, pid $pid): PLAINTEXT $port, $(secure_ports_text "$port")"

check "alice, SASL_SSL SCRAM-SHA-256: idempotent produce to secure.a" '^produced$' \
  produce "$sasl_ssl_port" "$C/alice-sasl-ssl-scram256.properties" secure.a "scram-$run_id"
check "alice, SASL_SSL SCRAM-SHA-256: consume secure.a in group ga" "^scram-$run_id\$" \
  consume "$sasl_ssl_port" "$C/alice-sasl-ssl-scram256.properties" secure.a ga
check "alice denied on secure.b" 'TopicAuthorizationException' \
  produce "$sasl_ssl_port" "$C/alice-sasl-ssl-scram256.properties" secure.b "denied-$run_id"
check "alice denied group gb" 'GroupAuthorizationException' \
  consume "$sasl_ssl_port" "$C/alice-sasl-ssl-scram256.properties" secure.a gb
own=secure.a.check-$run_id
check "alice creates $own (her prefix)" "Created topic $own" \
  kafka_class "$topics" --bootstrap-server "$KD_HOST:$sasl_ssl_port" \
  --command-config "$C/alice-sasl-ssl-scram512.properties" --create --topic "$own" --partitions 1
check "alice produces to $own" '^produced$' \
  produce "$sasl_ssl_port" "$C/alice-sasl-ssl-scram512.properties" "$own" "own-$run_id"
check "alice consumes $own in group ga.check-$run_id" "^own-$run_id\$" \
  consume "$sasl_ssl_port" "$C/alice-sasl-ssl-scram512.properties" "$own" "ga.check-$run_id"
check "alice may not create other.check-$run_id" 'TopicAuthorizationException|Authorization failed' \
  kafka_class "$topics" --bootstrap-server "$KD_HOST:$sasl_ssl_port" \
  --command-config "$C/alice-sasl-ssl-scram512.properties" --create --topic "other.check-$run_id" --partitions 1
# Deleted through the admin door (alice has no Delete).
kafka_class "$topics" --bootstrap-server "$KD_HOST:$port" --delete --topic "$own" >/dev/null 2>&1 || true
check "alice, SSL (client certificate): produce to secure.a" '^produced$' \
  produce "$ssl_port" "$C/alice-ssl.properties" secure.a "ssl-$run_id"
check "alice, SSL: consume secure.a in group ga" "^ssl-$run_id\$" \
  consume "$ssl_port" "$C/alice-ssl.properties" secure.a ga
for conf in "$C"/*.properties; do
  name=${conf##*/}
  name=${name%.properties}
  case $name in
  *-ssl) p=$ssl_port ;;
  *-sasl-ssl-*) p=$sasl_ssl_port ;;
  *) p=$sasl_port ;;
  esac
  # The topics listed are those the user may describe: alice and bob their
  # own, admin (a super user) all.
  case $name in
  alice-*) want='^secure\.a$' ;;
  bob-*) want='^secure\.b$' ;;
  *) want='^__consumer_offsets$' ;;
  esac
  check "$name: authenticates on port $p, sees $want" "$want" list_topics "$p" "$conf"
done
seen=$(list_topics "$sasl_ssl_port" "$C/alice-sasl-ssl-scram512.properties" 2>&1 | grep -x 'secure\.[ab]' | paste -sd ' ') || true
check "alice sees secure.a, not secure.b" '^secure\.a$' say "$seen"
check "Java client to localhost: host name verification fails" 'No (subject alternative DNS )?name matching localhost' \
  kafka_class "$topics" --bootstrap-server "localhost:$ssl_port" --command-config "$C/alice-ssl.properties" --list
check "kcat, SSL with alice's certificate: produce to secure.a" '^produced$' kcat_produce
check "kcat, SSL: consume secure.a" "^kcat-$run_id\$" \
  timeout 30 "${kcat_ssl[@]}" -b "$KD_HOST:$ssl_port" -C -t secure.a -o beginning -e -q
check "kcat, SASL_SSL PLAIN: metadata" 'topic "secure.a"' \
  timeout 30 kcat -b "$KD_HOST:$sasl_ssl_port" -X security.protocol=SASL_SSL -X sasl.mechanism=PLAIN \
  -X sasl.username=alice -X sasl.password=alice-secret -X "ssl.ca.location=$S/ca.pem" -L -t secure.a -m 10
check "kcat without a client certificate: refused on SSL" 'bad certificate|certificate required|handshake' \
  timeout 15 kcat -b "$KD_HOST:$ssl_port" -X security.protocol=SSL -X "ssl.ca.location=$S/ca.pem" -L -m 5
check "kcat trusting other-ca.pem: broker certificate not verified" 'certificate verify failed' \
  timeout 15 "${kcat_ssl[@]}" -X "ssl.ca.location=$S/other-ca.pem" -b "$KD_HOST:$ssl_port" -L -m 5
check "openssl s_client, EXPIRED: certificate has expired" 'Verify return code: 10 \(certificate has expired\)' \
  s_client "$expired_port"
check "openssl s_client, SSL: verifies for IP 127.0.0.1" 'Verify return code: 0 \(ok\)' \
  s_client "$ssl_port" -verify_ip 127.0.0.1 -cert "$S/alice.pem" -key "$S/alice-key.pem"
check "openssl s_client, SSL: host name localhost does not verify" 'Verify return code: 62 \(hostname mismatch\)' \
  s_client "$ssl_port" -verify_hostname localhost -cert "$S/alice.pem" -key "$S/alice-key.pem"

if ((failed)); then die "some checks failed"; fi
say "All checks passed"
