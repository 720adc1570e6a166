#!/usr/bin/env bash
# Assemble Apache Kafka (broker, ZooKeeper for 3.x, tools) into
# .kafka/lib/<version> from the Maven artifacts listed in scripts/kafka-pom.xml
# (3.x, the default version) or scripts/kafka4-pom.xml (KAFKA_VERSION=4.x.y).
# Versions sit side by side; a second run for an installed version does nothing.
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

# Before versions sat side by side, one version's jars were in .kafka/lib itself
# and its version in .kafka/VERSION: move them into .kafka/lib/<version> (when
# nothing runs from them).
old_stamp=$KD_DIR/VERSION
old_jars=("$KD_LIBS"/*.jar)
if [[ -e ${old_jars[0]} ]] && ! pid_alive "$KD_KAFKA_PID" "$KD_KAFKA_MAIN" >/dev/null &&
  ! pid_alive "$KD_ZK_PID" "$KD_ZK_MAIN" >/dev/null && [[ -z $(find "$KD_RUN" -name 'cluster-*.pid' 2>/dev/null) ]]; then
  old_version=$(cat "$old_stamp" 2>/dev/null) || old_version=
  if [[ $old_version =~ ^[0-9]+\.[0-9]+\.[0-9]+$ && ! -e $KD_LIBS/$old_version ]]; then
    mkdir -p "$KD_LIBS/$old_version"
    mv "${old_jars[@]}" "$KD_LIBS/$old_version/"
    say "Moved Kafka $old_version to .kafka/lib/$old_version"
  else
    rm -f "${old_jars[@]}"
  fi
  rm -f "$old_stamp"
fi

version=$KD_VERSION
if [[ -d $KD_LIB ]]; then
  say "Kafka $version already installed in .kafka"
  exit 0
fi

require_java_and_maven Kafka "11 or newer"

start=$(now_ms)
say "Installing Kafka $version into .kafka/lib/$version (Maven artifacts, see ${KD_POM#"$KD_ROOT"/})..."
staging=$KD_LIB.partial
rm -rf "$staging"
mkdir -p "$KD_LIBS"
mvn_log=$KD_DIR/install-$version.log
: >"$mvn_log"
maven_copy "$KD_POM" "$mvn_log" "Kafka $version" "-Dkafka.version=$version" "-Dkafka.lib=$staging"

# Check the assembled jars run before putting them in place.
printed=$("${JAVA_HOME:+$JAVA_HOME/bin/}java" "$(log4j_option "$KD_ROOT/config/tools-log4j.properties")" \
  -cp "$staging/*" "$KD_KAFKA_MAIN" --version 2>&1) ||
  die "the assembled Kafka does not start: $printed"
[[ $printed == "$version"* ]] || die "expected Kafka $version, kafka.Kafka --version printed: $printed"

mv "$staging" "$KD_LIB"
jars=("$KD_LIB"/*.jar)
say "Kafka $version installed in .kafka/lib/$version (${#jars[@]} jars, $(du -sh "$KD_LIB" | cut -f1), $(elapsed "$start"))"
