#!/usr/bin/env bash
# make test: run `cargo test` against a real broker in each mode, ZooKeeper then
# KRaft. For each mode: start a fresh broker, run the tests with KAFKA_BROKERS
# and KAFKA_MODE set, stop the broker. Fails if any mode failed. The broker is
# stopped on every exit path (test failure, error, Ctrl-C); no JVM is left behind.
#
#   scripts/test.sh [CARGO TEST ARGS...]     e.g. scripts/test.sh -- --test-threads=1
#   KAFKA_TEST_MODES=kraft scripts/test.sh   one mode only
#
# A broker already running is stopped first, and the test brokers start from
# empty data (.kafka/data is wiped): results never depend on earlier runs.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$KD_ROOT"

read -r -a modes <<<"${KAFKA_TEST_MODES:-zookeeper kraft}"
for mode in "${modes[@]}"; do
  KAFKA_MODE=$mode requested_mode >/dev/null
done

running() {
  pid_alive "$KD_KAFKA_PID" "$KD_KAFKA_MAIN" >/dev/null || pid_alive "$KD_ZK_PID" "$KD_ZK_MAIN" >/dev/null
}

# shellcheck disable=SC2317 # run by the EXIT trap
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
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
build_args=()
for arg in "$@"; do
  [[ $arg == -- ]] && break
  build_args+=("$arg")
done
say "==> cargo test --no-run"
cargo test --no-run "${build_args[@]}"

scripts/kafka-install.sh
scripts/browser-setup.sh
if running; then
  say "==> stopping the running broker: the tests start their own"
  scripts/kafka-down.sh
fi
rm -rf "$KD_DATA"

results=() failed=0
for mode in "${modes[@]}"; do
  say "==> $mode mode: starting Kafka"
  if ! KAFKA_MODE=$mode scripts/kafka-up.sh; then
    results+=("$mode mode: BROKER DID NOT START")
    failed=1
    scripts/kafka-down.sh
    continue
  fi
  say "==> $mode mode: cargo test $*"
  if KAFKA_BROKERS=$KD_HOST:$KD_KAFKA_PORT KAFKA_MODE=$mode cargo test "$@"; then
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
