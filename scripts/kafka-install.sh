#!/usr/bin/env bash
# Assemble Apache Kafka (broker, ZooKeeper, tools) into .kafka/lib from the Maven
# artifacts listed in scripts/kafka-pom.xml. A second run does nothing.
#
# With KAFKA_HOME set to an unpacked Kafka download, nothing is installed: the
# other scripts use $KAFKA_HOME/bin instead.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

if [[ -n ${KAFKA_HOME:-} ]]; then
  require_kafka
  version=$(installed_kafka_version) || version=unknown
  say "Using Kafka $version from KAFKA_HOME=$KAFKA_HOME; nothing to install"
  exit 0
fi

version=$(pom_kafka_version)
[[ -n $version ]] || die "no <kafka.version> in ${KD_POM#"$KD_ROOT"/}"

if [[ -d $KD_LIB && -s $KD_STAMP && $(<"$KD_STAMP") == "$version" ]]; then
  say "Kafka $version already installed in .kafka"
  exit 0
fi

command -v java >/dev/null || [[ -n ${JAVA_HOME:-} ]] || die "java not found (Kafka needs Java 11 or newer)"
command -v mvn >/dev/null || die "mvn not found (Maven assembles Kafka from its artifacts)"

if pid_alive "$KD_KAFKA_PID" "$KD_KAFKA_MAIN" >/dev/null || pid_alive "$KD_ZK_PID" "$KD_ZK_MAIN" >/dev/null; then
  die "Kafka or ZooKeeper is running from .kafka/lib: stop them first (make kafka-down)"
fi

start=$(now_ms)
say "Installing Kafka $version into .kafka (Maven artifacts, see ${KD_POM#"$KD_ROOT"/})..."
staging=$KD_DIR/lib.partial
rm -rf "$staging"
mkdir -p "$KD_DIR"
mvn_log=$KD_DIR/install.log
if ! mvn -B -ntp -f "$KD_POM" dependency:copy-dependencies "-Dkafka.lib=$staging" >"$mvn_log" 2>&1; then
  grep -E '^\[(ERROR|WARNING)\]' "$mvn_log" | head -n 30 >&2 || true
  die "Maven could not fetch Kafka $version (full output in ${mvn_log#"$KD_ROOT"/})"
fi

# Check the assembled jars run before putting them in place.
printed=$("${JAVA_HOME:+$JAVA_HOME/bin/}java" -Dlog4j.configuration="file:$KD_ROOT/config/tools-log4j.properties" \
  -cp "$staging/*" "$KD_KAFKA_MAIN" --version 2>&1) ||
  die "the assembled Kafka does not start: $printed"
[[ $printed == "$version"* ]] || die "expected Kafka $version, kafka.Kafka --version printed: $printed"

rm -rf "$KD_LIB"
mv "$staging" "$KD_LIB"
printf '%s\n' "$version" >"$KD_STAMP"
jars=("$KD_LIB"/*.jar)
say "Kafka $version installed in .kafka (${#jars[@]} jars, $(du -sh "$KD_LIB" | cut -f1), $(elapsed "$start"))"
