#!/usr/bin/env bash
# Assemble a Kafka Connect worker and its plugins into .kafka/connect/<version>
# from the Maven artifacts of scripts/connect-pom.xml:
#   lib/                        the worker (connect-runtime, -api, -json,
#                               -transforms) and its logging backend
#   plugins/file/               FileStreamSource/SinkConnector (connect-file)
#   plugins/debezium-postgres/  Debezium's PostgresConnector and its
#                               dependencies, less what the worker provides
# A second run for an installed version does nothing.
#
# The version is CONNECT_VERSION, by default connect-pom.xml's kafka.version:
# 4.3.2, the Kafka line Debezium 3.6.1 is built against, for every broker.
# Debezium on a 4.4.0 worker: the connector is created, its task fails at
# start (NoClassDefFoundError org.apache.kafka.common.utils.Sanitizer, moved
# in 4.4). On a 3.9.2 worker it ran (create, snapshot, stream, delete +
# tombstone, exactly-once, GET /connectors/NAME/offsets), but that is not a
# combination Debezium builds or tests. A 4.3 worker runs against the 3.9
# broker as well as the 4.4 one: Kafka 4 clients speak to brokers from 2.1 on.
set -euo pipefail
# shellcheck source=connect-lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/connect-lib.sh"

version=$KD_CONNECT_VERSION
home=$KD_CONNECT_HOME
if [[ -d $home ]]; then
  say "Kafka Connect $version already installed in .kafka/connect/$version"
  exit 0
fi

require_java_and_maven "Kafka Connect" "17 for 4.x, 11 for 3.x"

start=$(now_ms)
say "Installing Kafka Connect $version with plugins ${KD_CONNECT_PLUGINS[*]} into .kafka/connect/$version (Maven artifacts, see ${KD_CONNECT_POM#"$KD_ROOT"/})..."
staging=$home.partial
rm -rf "$staging"
mkdir -p "$staging/plugins"
mvn_log=$KD_DIR/connect-install-$version.log
: >"$mvn_log"
log4j=log4j1
if ((KD_CONNECT_MAJOR >= 4)); then log4j=log4j2; fi
# connect-file: the worker's version, or the newest published one if older
# (see connect-pom.xml).
file_version=$(sed -n 's:.*<connect.file.version>\(.*\)</connect.file.version>.*:\1:p' "$KD_CONNECT_POM" | head -n 1)
file_version=$(printf '%s\n%s\n' "$version" "$file_version" | sort -V | head -n 1)
# profile:directory, one Maven run each (a run copies its profile's dependency tree).
parts=("worker,$log4j:lib")
for plugin in "${KD_CONNECT_PLUGINS[@]}"; do parts+=("plugin-$plugin:plugins/$plugin"); done
for part in "${parts[@]}"; do
  profiles=${part%%:*} dir=${part#*:}
  maven_copy "$KD_CONNECT_POM" "$mvn_log" "$dir of Kafka Connect $version" -P "$profiles" \
    "-Dkafka.version=$version" "-Dconnect.file.version=$file_version" "-Dconnect.out=$staging/$dir"
  jars=("$staging/$dir"/*.jar)
  [[ -e ${jars[0]} ]] || die "Maven copied no jars into $dir (full output in ${mvn_log#"$KD_ROOT"/})"
done

# Check the worker's jars before putting them in place: the runtime of the
# asked-for version, and a main class that loads (without arguments it logs
# its usage, to no log here, and exits 1; a missing class says Error/Exception).
[[ -e $staging/lib/connect-runtime-$version.jar ]] ||
  die "the assembled worker has no connect-runtime-$version.jar (full output in ${mvn_log#"$KD_ROOT"/})"
rc=0
printed=$("${JAVA_HOME:+$JAVA_HOME/bin/}java" -cp "$staging/lib/*" "$KD_CONNECT_MAIN" 2>&1) || rc=$?
if ((rc != 1)) || [[ $printed == *Error* || $printed == *Exception* ]]; then
  die "the assembled worker does not start (exit $rc): $printed"
fi

mv "$staging" "$home"
summary=
for dir in lib "${KD_CONNECT_PLUGINS[@]/#/plugins/}"; do
  jars=("$home/$dir"/*.jar)
  summary+="${summary:+, }${dir#plugins/} ${#jars[@]} jars"
done
say "Kafka Connect $version installed in .kafka/connect/$version ($summary; $(du -sh "$home" | cut -f1), $(elapsed "$start"))"
