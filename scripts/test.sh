#!/usr/bin/env bash
# make test: run `cargo test` against a real broker in each mode, ZooKeeper then
# KRaft, then the same suite against Kafka 4.4 in KRaft mode (where the
# modern data path runs) with kafka4:: (what is special about 4.x), then
# security:: against a Kafka 4.4 broker with TLS, SASL and ACLs
# (KAFKA_SECURITY=1), then the replication tests (cluster::) against a 3-broker
# cluster and on a 4.4 one (cluster4, with the idempotent producer through a failover and after a send in doubt), then the fault suite (faults::, docs/reliability.md) against a
# fresh one, then Kafka Connect (connect:: and connect_outages::, docs/connect.md)
# with two workers and PostgreSQL beside a single broker. For each mode: start fresh brokers, run the tests with
# KAFKA_BROKERS and KAFKA_MODE set, stop the brokers. Fails if any mode
# failed. Brokers are stopped on every exit path (test failure, error,
# Ctrl-C); no JVM is left behind.
#
#   scripts/test.sh [CARGO TEST ARGS...]     e.g. scripts/test.sh -- --test-threads=1
#   KAFKA_TEST_MODES=kraft scripts/test.sh   one mode only (zookeeper, kraft, kafka4, secure, cluster, cluster4, faults, connect)
#   KAFKA_TEST_MODES=faults scripts/test.sh  (make faults; report in target/faults.tsv)
#   FAILOVER_KILLS=10 KAFKA_TEST_MODES=cluster scripts/test.sh   (make soak)
#
# `make test` runs `make lint` (cargo fmt --check, cargo clippy -D warnings)
# before this script: a lint failure fails CI before any broker starts.
#
# A broker already running is stopped first, and the test brokers start from
# empty data (.kafka/data is wiped): results never depend on earlier runs.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$KD_ROOT"

read -r -a modes <<<"${KAFKA_TEST_MODES:-zookeeper kraft kafka4 secure cluster cluster4 faults connect}"
for mode in "${modes[@]}"; do
  [[ $mode == cluster || $mode == cluster4 || $mode == kafka4 || $mode == secure || $mode == faults || $mode == connect ]] || KAFKA_MODE=$mode requested_mode >/dev/null
done
# The kafka4 phase's Kafka: the version scripts/kafka4-pom.xml declares.
kafka4_version=$(pom_kafka_version "$KD_POM4")
[[ -n $kafka4_version ]] || die "no <kafka.version> in ${KD_POM4#"$KD_ROOT"/}"

running() {
  pid_alive "$KD_KAFKA_PID" "$KD_KAFKA_MAIN" >/dev/null || pid_alive "$KD_ZK_PID" "$KD_ZK_MAIN" >/dev/null
}
cluster_running() {
  local id
  for id in 0 1 2; do
    pid_alive "$KD_RUN/cluster-$id.pid" "$KD_KAFKA_MAIN" >/dev/null 2>&1 && return 0
  done
  return 1
}

# shellcheck disable=SC2317 # run by the EXIT trap
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  if cluster_running; then
    say "==> stopping the test cluster"
    scripts/cluster-down.sh || rc=1
  fi
  if running; then
    say "==> stopping the test broker"
    scripts/kafka-down.sh || rc=1
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Build the tests before any broker runs: compiling takes both cores, and a
# compile error needs no broker to be reported.
# cargo's own arguments, and the test binaries' (after --).
build_args=() test_args=() seen_dashes=0
for arg in "$@"; do
  if ((seen_dashes)); then
    test_args+=("$arg")
  elif [[ $arg == -- ]]; then
    seen_dashes=1
  else
    build_args+=("$arg")
  fi
done
say "==> cargo test --no-run"
cargo test --no-run "${build_args[@]}"
# The unit tests need no broker: once, before any starts. (The phases below
# run only the integration binary, whose --skip filters would also match unit
# tests such as client::cluster::tests.)
say "==> unit tests: cargo test --bins"
cargo test "${build_args[@]}" --bins -- "${test_args[@]}"
# What the tests drive besides Kafka (tmux, Chromium, GNU time): installed
# here, once, never by a test.
scripts/test-setup.sh
# The hostile-broker suite plays a malicious broker itself: no Kafka, so it
# runs here, once, and every phase below skips it (docs/hostile-input.md).
say "==> hostile broker: cargo test --test integration -- hostile::"
cargo test "${build_args[@]}" --test integration -- hostile:: "${test_args[@]}"
scripts/kafka-install.sh
if [[ " ${modes[*]} " == *" kafka4 "* || " ${modes[*]} " == *" cluster4 "* || " ${modes[*]} " == *" secure "* ]]; then
  KAFKA_VERSION=$kafka4_version scripts/kafka-install.sh
fi
if cluster_running; then
  say "==> stopping the running cluster: the tests start their own"
  scripts/cluster-down.sh
fi
if running; then
  say "==> stopping the running broker: the tests start their own"
  scripts/kafka-down.sh
fi
rm -rf "$KD_DATA"

results=() failed=0
cport=${CLUSTER_PORT:-9092}
for mode in "${modes[@]}"; do
  if [[ $mode == cluster ]]; then
    say "==> cluster mode: starting 3 brokers"
    if ! scripts/cluster-up.sh; then
      results+=("cluster: CLUSTER DID NOT START")
      failed=1
      scripts/cluster-down.sh
      continue
    fi
    say "==> cluster mode: cargo test ${build_args[*]} -- cluster:: ${test_args[*]}"
    if KAFKA_BROKERS=$KD_HOST:$KD_KAFKA_PORT KAFKA_CLUSTER_BROKERS=$KD_HOST:$cport,$KD_HOST:$((cport + 1)),$KD_HOST:$((cport + 2)) \
      cargo test "${build_args[@]}" --test integration -- cluster:: "${test_args[@]}"; then
      results+=("cluster: ok")
    else
      results+=("cluster: FAILED")
      failed=1
    fi
    say "==> cluster mode: stopping the cluster"
    scripts/cluster-down.sh
    continue
  fi
  if [[ $mode == cluster4 ]]; then
    # Kafka 4.4, three KRaft brokers: the replication test and the idempotent
    # producer through a leader failover (0 lost, 0 duplicates) and after a
    # send in doubt (a frozen leader; nothing acknowledged dropped), serially.
    say "==> cluster4 mode: starting 3 brokers of Kafka $kafka4_version (KRaft)"
    if ! KAFKA_VERSION=$kafka4_version KAFKA_MODE=kraft scripts/cluster-up.sh; then
      results+=("cluster4: CLUSTER DID NOT START")
      failed=1
      KAFKA_VERSION=$kafka4_version scripts/cluster-down.sh
      continue
    fi
    say "==> cluster4 mode: cargo test ${build_args[*]} -- cluster:: faults::broker_restart_during_idempotent_produce faults::idempotent_produce_after_a_send_in_doubt --test-threads=1 ${test_args[*]}"
    if KAFKA_VERSION=$kafka4_version KAFKA_MODE=kraft CLUSTER_PORT=$cport \
      KAFKA_BROKERS=$KD_HOST:$KD_KAFKA_PORT KAFKA_CLUSTER_BROKERS=$KD_HOST:$cport,$KD_HOST:$((cport + 1)),$KD_HOST:$((cport + 2)) \
      cargo test "${build_args[@]}" --test integration -- cluster:: faults::broker_restart_during_idempotent_produce faults::idempotent_produce_after_a_send_in_doubt --test-threads=1 "${test_args[@]}"; then
      results+=("cluster4: ok")
    else
      results+=("cluster4: FAILED")
      failed=1
    fi
    say "==> cluster4 mode: stopping the cluster"
    KAFKA_VERSION=$kafka4_version scripts/cluster-down.sh
    continue
  fi
  if [[ $mode == kafka4 ]]; then
    # Kafka 4.x refuses the kafka crate's request versions: the modern path runs.
    say "==> kafka4 mode: starting Kafka $kafka4_version (KRaft)"
    if ! KAFKA_VERSION=$kafka4_version KAFKA_MODE=kraft scripts/kafka-up.sh; then
      results+=("kafka4 mode: BROKER DID NOT START")
      failed=1
      scripts/kafka-down.sh
      continue
    fi
    # The whole single-broker suite (auto picks the modern data path on 4.x),
    # plus kafka4:: (what is special about 4.x).
    # (modern:: forces the modern path on 3.9; kafka4:: covers it here.)
    say "==> kafka4 mode: cargo test ${build_args[*]} --test integration -- --skip cluster:: --skip faults:: --skip modern:: --skip security:: --skip secured_broker:: --skip connect:: --skip connect_outages:: --skip hostile:: ${test_args[*]}"
    if KAFKA_BROKERS=$KD_HOST:$KD_KAFKA_PORT KAFKA_MODE=kraft KAFKA_VERSION=$kafka4_version \
      cargo test "${build_args[@]}" --test integration -- --skip cluster:: --skip faults:: --skip modern:: --skip security:: --skip secured_broker:: --skip connect:: --skip connect_outages:: --skip hostile:: "${test_args[@]}"; then
      results+=("kafka4 mode: ok")
    else
      results+=("kafka4 mode: FAILED")
      failed=1
    fi
    say "==> kafka4 mode: stopping Kafka"
    scripts/kafka-down.sh
    continue
  fi
  if [[ $mode == secure ]]; then
    # Kafka 4.4 with TLS, SASL and ACLs (KAFKA_SECURITY=1, docs/security.md):
    # security:: connects through each listener as alice, bob and admin.
    say "==> secure mode: starting Kafka $kafka4_version (KRaft) with TLS, SASL and ACLs"
    if ! KAFKA_SECURITY=1 KAFKA_VERSION=$kafka4_version KAFKA_MODE=kraft scripts/kafka-up.sh; then
      results+=("secure mode: BROKER DID NOT START")
      failed=1
      scripts/kafka-down.sh
      continue
    fi
    say "==> secure mode: cargo test ${build_args[*]} --test integration -- security:: ${test_args[*]}, then secured_broker:: alone"
    # secured_broker:: freezes the broker: alone, after the others.
    if KAFKA_BROKERS=$KD_HOST:$KD_KAFKA_PORT KAFKA_MODE=kraft KAFKA_VERSION=$kafka4_version \
      cargo test "${build_args[@]}" --test integration -- security:: "${test_args[@]}" &&
      KAFKA_BROKERS=$KD_HOST:$KD_KAFKA_PORT KAFKA_MODE=kraft KAFKA_VERSION=$kafka4_version \
        cargo test "${build_args[@]}" --test integration -- secured_broker:: --test-threads=1 "${test_args[@]}"; then
      results+=("secure mode: ok")
    else
      results+=("secure mode: FAILED")
      failed=1
    fi
    say "==> secure mode: stopping Kafka"
    scripts/kafka-down.sh
    continue
  fi
  if [[ $mode == connect ]]; then
    # Kafka Connect (2 workers in one group) and PostgreSQL beside the
    # default broker (3.9, ZooKeeper mode): connect:: in parallel, then
    # connect::serial:: (exact lifecycle steps no other test's rebalance may
    # cut into) and connect_outages:: one at a time (they kill, freeze and
    # restart workers and the database), their rows appended to the fault report.
    say "==> connect: starting Kafka, PostgreSQL and 2 Connect workers"
    if ! scripts/kafka-up.sh || ! CONNECT_WORKERS=2 scripts/connect-up.sh; then
      results+=("connect: DID NOT START")
      failed=1
      scripts/connect-down.sh || true
      scripts/kafka-down.sh
      continue
    fi
    report=$KD_ROOT/target/faults.tsv
    [[ -e $report ]] || : >"$report"
    from=$(wc -l <"$report")
    # The ports connect-up.sh used (CONNECT_PORT, PG_PORT; the Makefile exports them).
    rest=${CONNECT_PORT:-8083}
    connect_env=(KAFKA_BROKERS="$KD_HOST:$KD_KAFKA_PORT" KAFKADEMO_CONNECT_URL="http://$KD_HOST:$rest"
      KAFKADEMO_CONNECT_URL2="http://$KD_HOST:$((rest + 1))" PGHOST="$KD_HOST" PGPORT="${PG_PORT:-5433}" PGUSER=kafkademo
      PGPASSWORD=kafkademo PGDATABASE=kafkademo KAFKADEMO_FAULT_REPORT="$report")
    say "==> connect: cargo test ${build_args[*]} -- connect:: --skip connect::serial:: ${test_args[*]}, then connect::serial:: connect_outages:: --test-threads=1"
    if env "${connect_env[@]}" cargo test "${build_args[@]}" --test integration -- connect:: --skip connect::serial:: "${test_args[@]}" &&
      env "${connect_env[@]}" cargo test "${build_args[@]}" --test integration -- connect::serial:: connect_outages:: --test-threads=1 "${test_args[@]}"; then
      results+=("connect: ok")
    else
      results+=("connect: FAILED")
      failed=1
      say "==> connect: the workers' last log lines"
      tail -n 15 .kafka/logs/connect-1/connect.log .kafka/logs/connect-2/connect.log 2>/dev/null || true
    fi
    say "==> connect: fault report rows (target/faults.tsv)"
    { printf 'scenario\tstderr\texit\tacked\tconsumed\tlost\tduplicated\trecover\tnote\n' && tail -n +"$((from + 1))" "$report"; } |
      column -t -s $'\t' || true
    say "==> connect: stopping Connect, PostgreSQL and Kafka"
    scripts/connect-down.sh || failed=1
    scripts/kafka-down.sh
    continue
  fi
  if [[ $mode == faults ]]; then
    # A fresh cluster: the replication phase leaves restarted brokers behind.
    say "==> faults: starting 3 brokers"
    if ! scripts/cluster-up.sh; then
      results+=("faults: CLUSTER DID NOT START")
      failed=1
      scripts/cluster-down.sh
      continue
    fi
    report=$KD_ROOT/target/faults.tsv
    : >"$report"
    say "==> faults: cargo test ${build_args[*]} -- faults:: --test-threads=1 ${test_args[*]}"
    if KAFKADEMO_FAULT_REPORT=$report CLUSTER_PORT=$cport \
      KAFKA_BROKERS=$KD_HOST:$KD_KAFKA_PORT KAFKA_CLUSTER_BROKERS=$KD_HOST:$cport,$KD_HOST:$((cport + 1)),$KD_HOST:$((cport + 2)) \
      cargo test "${build_args[@]}" --test integration -- faults:: --test-threads=1 "${test_args[@]}"; then
      results+=("faults: ok")
    else
      results+=("faults: FAILED")
      failed=1
    fi
    say "==> faults: report (target/faults.tsv)"
    { printf 'scenario\tstderr\texit\tacked\tconsumed\tlost\tduplicated\trecover\tnote\n' && cat "$report"; } |
      column -t -s $'\t' || true
    say "==> faults: stopping the cluster"
    scripts/cluster-down.sh
    continue
  fi
  say "==> $mode mode: starting Kafka"
  if ! KAFKA_MODE=$mode scripts/kafka-up.sh; then
    results+=("$mode mode: BROKER DID NOT START")
    failed=1
    scripts/kafka-down.sh
    continue
  fi
  # The replication and fault tests need three brokers, the Kafka 4.x tests
  # Kafka 4.4: they have phases of their own.
  say "==> $mode mode: cargo test ${build_args[*]} --test integration -- --skip cluster:: --skip kafka4:: --skip faults:: --skip security:: --skip secured_broker:: --skip connect:: --skip connect_outages:: --skip hostile:: ${test_args[*]}"
  if KAFKA_BROKERS=$KD_HOST:$KD_KAFKA_PORT KAFKA_MODE=$mode \
    cargo test "${build_args[@]}" --test integration -- --skip cluster:: --skip kafka4:: --skip faults:: --skip security:: --skip secured_broker:: --skip connect:: --skip connect_outages:: --skip hostile:: "${test_args[@]}"; then
    results+=("$mode mode: ok")
  else
    results+=("$mode mode: FAILED")
    failed=1
  fi
  say "==> $mode mode: stopping Kafka"
  scripts/kafka-down.sh
done

say "==> results"
printf '    %s\n' "${results[@]}"
exit "$failed"
