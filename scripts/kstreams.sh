#!/usr/bin/env bash
# The Kafka Streams peer for kafkademo's stream tests and benchmark: builds and
# runs scripts/kstreams (kafkademo.WindowedCount, a windowed count written with
# Kafka Streams), the reference that kafkademo's own `stream count` command is
# checked and measured against.
#
#   scripts/kstreams.sh build         build the jar if it is missing or older
#                                     than its sources (Maven, quietly)
#   scripts/kstreams.sh run ARGS...   build if needed, then run the app
#                                     (ARGS: see WindowedCount.java), e.g.
#     scripts/kstreams.sh run --bootstrap 127.0.0.1:9092 --input in --output out \
#       --application-id wc1 --window 10s --emit updates
#
# Maven writes nothing inside scripts/: its build directory is .kafka/kstreams
# at the repo root (git-ignored), where the jar lands as kafkademo-kstreams.jar.
# The app prints one line RUNNING on stdout once it runs; the JVM replaces this
# script (exec), so SIGTERM sent to its pid reaches Java, which closes cleanly.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

KS_SRC=$KD_ROOT/scripts/kstreams
KS_OUT=$KD_DIR/kstreams
KS_JAR=$KS_OUT/kafkademo-kstreams.jar

usage() {
  die "usage: ${0##*/} build | run ARGS..."
}

# Up to date: the jar exists and no source (pom, Java, resources) is newer.
jar_fresh() {
  [[ -s $KS_JAR ]] || return 1
  [[ -z $(find "$KS_SRC" -type f -newer "$KS_JAR" -print -quit) ]]
}

build() {
  if jar_fresh; then return 0; fi
  command -v mvn >/dev/null || die "mvn not found: install Maven (and a JDK 17+) to build the Kafka Streams peer"
  local start
  start=$(now_ms)
  say "Building the Kafka Streams peer (${KS_JAR#"$KD_ROOT"/})..." >&2
  mkdir -p "$KS_OUT"
  # Quiet Maven still writes colour resets; its output goes to a log instead.
  local log=$KD_DIR/kstreams-build.log
  if ! (cd "$KS_SRC" && mvn -q -B -ntp package -DskipTests "-Dkafkademo.out=$KS_OUT") >"$log" 2>&1; then
    sed 's/\x1b\[[0-9;]*m//g' "$log" | grep -v '^[[:space:]]*$' | tail -n 30 >&2 || true
    die "Maven build of scripts/kstreams failed (full output in ${log#"$KD_ROOT"/})"
  fi
  [[ -s $KS_JAR ]] || die "Maven finished but ${KS_JAR#"$KD_ROOT"/} is missing"
  say "Built ${KS_JAR#"$KD_ROOT"/} ($(elapsed "$start"))" >&2
}

[[ $# -ge 1 ]] || usage
cmd=$1
shift
case $cmd in
build)
  [[ $# -eq 0 ]] || usage
  build
  ;;
run)
  build
  java=java
  if [[ -n ${JAVA_HOME:-} ]]; then java=$JAVA_HOME/bin/java; fi
  exec "$java" -Xmx256m -jar "$KS_JAR" "$@"
  ;;
*) usage ;;
esac
