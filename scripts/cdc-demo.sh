#!/usr/bin/env bash
# make cdc-demo: the tutorial exercise over a database, with Kafka Connect.
#
# 1. files: Kafka's quickstart pipeline, file -> topic -> file
#    (config/connect-file-source.properties, config/connect-file-sink.properties):
#    .kafka/cdc-demo/test.txt through topic connect-test into test.sink.txt.
# 2. database: producer A INSERTs even numbers every second, producer B odd
#    numbers every two seconds, as rows (id, n, origin) of table
#    cdc_demo_numbers in PostgreSQL; every 5th number A also UPDATEs an earlier
#    row of its own (n * 10), every 3rd number B DELETEs an earlier row of its
#    own. Debezium (config/connect-cdc-numbers.properties) streams each change
#    into topic cdc-demo.public.cdc_demo_numbers; consumer C prints them
#    (kafkademo consume --format changes), and a file sink
#    (config/connect-cdc-numbers-sink.properties) copies them into
#    .kafka/cdc-demo/numbers.sink.txt. At the end the table is rebuilt from
#    that copy and compared with the real one.
#
# Runs for CDC_DEMO_SECONDS (default 20). Starts what is missing with
# scripts/connect-up.sh (the broker, PostgreSQL, the Connect worker; same
# variables: KAFKA_PORT, KAFKA_MODE, CONNECT_PORT, PG_PORT, ...) and stops
# exactly that again at the end, also on failure or Ctrl-C; what already ran
# keeps running. Its connectors are deleted at the end (their offsets reset
# first, so that a rerun starts afresh) and its replication slot dropped; the
# table and the topics stay for a look, and are recreated by the next run.
# KAFKADEMO: a kafkademo binary to use instead of building one.
set -euo pipefail
# shellcheck source=connect-lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/connect-lib.sh"
cd "$KD_ROOT"

seconds=${CDC_DEMO_SECONDS:-20}
[[ $seconds =~ ^[1-9][0-9]*$ ]] || die "CDC_DEMO_SECONDS must be a whole number of seconds, got '$seconds'"
command -v curl >/dev/null || die "curl not found (scripts/connect-up.sh needs it)"
if command -v jq >/dev/null; then
  rebuild_with=jq
elif command -v python3 >/dev/null; then
  rebuild_with=python3
else
  die "neither jq nor python3 found: one of them rebuilds the table from the sink's copy"
fi
pg_bin=$(pg_bindir) || die "PostgreSQL is not installed (scripts/test-setup.sh installs it)"

# The demo's names, as in its config files.
table=cdc_demo_numbers
slot=cdc_demo_numbers
publication=cdc_demo_numbers
cdc_topic=cdc-demo.public.$table
file_topic=connect-test
file_source=cdc-demo-file-source
file_sink=cdc-demo-file-sink
cdc_source=cdc-demo-numbers
cdc_sink=cdc-demo-numbers-sink
demo_dir=.kafka/cdc-demo # where the file connectors read and write (relative to the worker's directory, the repo root)
connectors=("$file_source" "$file_sink" "$cdc_source" "$cdc_sink")

if [[ -n ${KAFKADEMO:-} ]]; then
  kd=$KAFKADEMO # a binary already built, e.g. by the tests
else
  say "==> building kafkademo"
  cargo build --release --quiet
  kd=${CARGO_TARGET_DIR:-target}/release/kafkademo
  [[ $kd == /* ]] || kd=$KD_ROOT/$kd
fi

# What runs before the demo (these scripts' pid files): the demo stops
# only what runs at its end and did not before.
connect_settings
worker_before=$KD_CONNECT_RUNNING
pg_before=0 kafka_before=0 zk_before=0
if pg_running_pid >/dev/null 2>&1; then pg_before=1; fi
if pid_alive "$KD_KAFKA_PID" "$KD_KAFKA_MAIN" >/dev/null 2>&1; then kafka_before=1; fi
if pid_alive "$KD_ZK_PID" "$KD_ZK_MAIN" >/dev/null 2>&1; then zk_before=1; fi

pids=()      # the demo's own processes: producers, consumer C, its display
provisioned=0 # set once connect-up ran (or was interrupted): cleanup looks then
work=$(mktemp -d)

# sql SQL: run it as user kafkademo over TCP; tuples only, unaligned.
sql() {
  PGPASSWORD=$KD_PG_PASSWORD PGCONNECT_TIMEOUT=5 PGOPTIONS='-c client_min_messages=warning' "$pg_bin/psql" -X -q -At -v ON_ERROR_STOP=1 \
    -h "$KD_HOST" -p "$KD_PG_PORT" -U "$KD_PG_USER" -d "$KD_PG_DB" -c "$1"
}

# connector_remove NAME: stop it, forget its offsets (a source's position, a
# sink's consumer group: the next run starts afresh), delete it. Harmless
# when it does not exist.
connector_remove() {
  "$kd" connect describe "$1" >/dev/null 2>&1 || return 0
  "$kd" connect stop "$1" >/dev/null 2>&1 || true
  "$kd" connect offsets "$1" --reset >/dev/null 2>&1 || true
  "$kd" connect delete "$1" >/dev/null 2>&1 || warn "could not delete connector $1"
}

# slot_drop: drop the demo's replication slot once no one reads it (Debezium
# lets go of it a moment after its task stopped; up to 20 s).
slot_drop() {
  local n left
  for ((n = 0; n < 40; n++)); do
    left=$(sql "SELECT count(*) FROM pg_replication_slots WHERE slot_name = '$slot'") || return 1
    [[ $left == 0 ]] && return 0
    sql "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots
         WHERE slot_name = '$slot' AND NOT active" >/dev/null 2>&1 || true
    sleep 0.5
  done
  warn "replication slot $slot is still in use; drop it later: SELECT pg_drop_replication_slot('$slot')"
  return 1
}

# topic_gone TOPIC: delete it if it exists, and wait until the brokers are done.
topic_gone() {
  local n
  "$kd" topic delete "$1" --if-exists >/dev/null
  for ((n = 0; n < 60; n++)); do
    topic_exists "$1" || return 0
    sleep 0.5
  done
  die "topic $1 was not deleted within 30 s"
}

# wait_for SECS WHAT CMD...: poll CMD every 0.2 s until it succeeds.
wait_for() {
  local secs=$1 what=$2 deadline
  shift 2
  deadline=$(($(now_ms) + secs * 1000))
  until "$@"; do
    (($(now_ms) < deadline)) || die "$what did not happen within $secs s"
    sleep 0.2
  done
}
topic_exists() { "$kd" topic describe "$1" >/dev/null 2>&1; }
lines_at_least() { [[ -f $1 ]] && (($(wc -l <"$1") >= $2)); }
same_files() { cmp -s "$1" "$2"; }

# shellcheck disable=SC2317 # run by the EXIT trap
cleanup() {
  local rc=$? pid name
  trap - EXIT
  trap '' INT # a second Ctrl-C does not cut the cleanup short
  for pid in "${pids[@]}"; do
    kill -TERM "$pid" 2>/dev/null || true
  done
  for pid in "${pids[@]}"; do
    wait "$pid" 2>/dev/null || true
  done
  if ((provisioned)); then
    if connect_pid 1 >/dev/null 2>&1; then
      say "==> deleting the demo's connectors (offsets reset) and its replication slot"
      for name in "${connectors[@]}"; do connector_remove "$name"; done
    fi
    if pg_running_pid >/dev/null 2>&1; then
      slot_drop || rc=1
    fi
    # In connect-down's order: worker(s), PostgreSQL, broker, ZooKeeper.
    if ((!worker_before)); then
      for n in 1 2; do
        if connect_pid "$n" >/dev/null 2>&1; then
          say "==> stopping the Connect worker this demo started"
          stop_process "Connect worker $n" "$(connect_pidfile "$n")" "$KD_CONNECT_MAIN" || rc=1
        fi
      done
      rm -f "$KD_CONNECT_ENV"
    fi
    if ((!pg_before)) && pg_running_pid >/dev/null 2>&1; then
      say "==> stopping the PostgreSQL this demo started"
      scripts/pg-down.sh || rc=1
    fi
    if ((!kafka_before)) && pid_alive "$KD_KAFKA_PID" "$KD_KAFKA_MAIN" >/dev/null 2>&1; then
      say "==> stopping the Kafka broker this demo started"
      scripts/kafka-stop.sh || rc=1
    fi
    if ((!zk_before)) && pid_alive "$KD_ZK_PID" "$KD_ZK_MAIN" >/dev/null 2>&1; then
      scripts/zookeeper-stop.sh || rc=1
    fi
  fi
  rm -rf "$work"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- provision -------------------------------------------------------------
if ((worker_before)); then
  say "==> Kafka Connect already runs on http://$KD_HOST:$KD_CONNECT_PORT/; the demo leaves it (and its broker and PostgreSQL) running"
else
  say "==> starting what is missing: broker, PostgreSQL, Kafka Connect (scripts/connect-up.sh)"
fi
provisioned=1
scripts/connect-up.sh
connect_settings
export KAFKADEMO_CONNECT_URL=http://$KD_HOST:$KD_CONNECT_PORT
export KAFKA_BROKERS=$KD_CONNECT_BOOTSTRAP
[[ -n $KAFKA_BROKERS ]] || die "no bootstrap servers in ${KD_CONNECT_ENV#"$KD_ROOT"/}"

# A fresh start: no connector, offsets, slot, publication, topic or file
# left by an earlier run.
for name in "${connectors[@]}"; do connector_remove "$name"; done
slot_drop || die "cannot drop the replication slot $slot left by an earlier run"
sql "DROP PUBLICATION IF EXISTS $publication" >/dev/null
topic_gone "$file_topic"
topic_gone "$cdc_topic"
mkdir -p "$demo_dir"
rm -f "$demo_dir"/test.txt "$demo_dir"/test.sink.txt "$demo_dir"/numbers.sink.txt

# ---- 1. files ----------------------------------------------------------------
say "==> 1. files: Kafka's quickstart, $demo_dir/test.txt -> topic $file_topic -> $demo_dir/test.sink.txt"
printf '%s\n' foo bar >"$demo_dir/test.txt"
"$kd" topic create "$file_topic" --if-not-exists >/dev/null
"$kd" connect create "$file_source" --config config/connect-file-source.properties
"$kd" connect create "$file_sink" --config config/connect-file-sink.properties
wait_for 30 "the copy of test.txt" same_files "$demo_dir/test.txt" "$demo_dir/test.sink.txt"
say "    copied: $(paste -sd ' ' "$demo_dir/test.sink.txt")"
printf '%s\n' "a line appended while the source runs" >>"$demo_dir/test.txt"
wait_for 30 "the copy of the appended line" same_files "$demo_dir/test.txt" "$demo_dir/test.sink.txt"
say "    appended and copied: test.sink.txt has $(wc -l <"$demo_dir/test.sink.txt") lines, the same as test.txt"
for name in "$file_source" "$file_sink"; do connector_remove "$name"; done

# ---- 2. database -------------------------------------------------------------
say "==> 2. database: table $table in PostgreSQL $KD_HOST:$KD_PG_PORT/$KD_PG_DB -> Debezium -> topic $cdc_topic"
sql "DROP TABLE IF EXISTS $table;
     CREATE TABLE $table (id int PRIMARY KEY, n int NOT NULL, origin text NOT NULL);
     ALTER TABLE $table REPLICA IDENTITY FULL;
     INSERT INTO $table VALUES (0, 0, 'A'), (1, 1, 'B');" >/dev/null
say "    A's 0 and B's 1 are in the table before the connector starts: its snapshot READs them"
cdc_config=config/connect-cdc-numbers.properties
if [[ $KD_PG_PORT != 5433 ]]; then
  # The file has PG_PORT's default: a copy with the port that runs.
  mkdir -p "$KD_RUN"
  sed "s/^database\.port=.*/database.port=$KD_PG_PORT/" "$cdc_config" >"$KD_RUN/connect-cdc-numbers.properties"
  cdc_config=${KD_RUN#"$KD_ROOT"/}/connect-cdc-numbers.properties
  say "    (PG_PORT=$KD_PG_PORT: the connector's config is $cdc_config, a copy with database.port=$KD_PG_PORT)"
fi
"$kd" --timeout 60s connect create "$cdc_source" --config "$cdc_config"
wait_for 60 "topic $cdc_topic to be made by Debezium" topic_exists "$cdc_topic"
"$kd" connect create "$cdc_sink" --config config/connect-cdc-numbers-sink.properties

# read_committed: the worker writes each batch and its offsets in one Kafka
# transaction (exactly-once source); a read_uncommitted reader would also
# show the records of a transaction the worker aborted and sent again (seen
# once on the 3-broker cluster: a DELETE and its tombstone twice).
say "==> consumer C: kafkademo consume --topic $cdc_topic --from-beginning --format changes --isolation read-committed"
: >"$work/c.out" # before tail opens it: the redirect below happens in the child
"$kd" consume --topic "$cdc_topic" --from-beginning --format changes --isolation read-committed >"$work/c.out" 2>"$work/c.err" &
c_pid=$!
pids+=("$c_pid")
# C's output, live; tail ends by itself within a second of C's exit.
tail -n +1 -s 0.2 -f --pid="$c_pid" "$work/c.out" 2>/dev/null | sed -u 's/^/    C | /' &
show_pid=$!
pids+=("$show_pid")
wait_for 30 "consumer C's snapshot rows" lines_at_least "$work/c.out" 2

# producer ORIGIN FIRST EVERY_MS: INSERT ORIGIN's numbers FIRST, FIRST+2, ...
# one every EVERY_MS for the demo's seconds. Every 5th number A also
# UPDATEs its row of two numbers before (n * 10); every 3rd number B
# DELETEs its row of two numbers before. Logs "insert ID", "update ID", "delete ID".
producer() {
  local origin=$1 n=$2 every=$3 start end k=0 id r wait_ms
  start=$(now_ms)
  end=$((start + seconds * 1000))
  while (($(now_ms) < end)); do
    sql "INSERT INTO $table VALUES ($n, $n, '$origin')" >/dev/null
    say "insert $n"
    k=$((k + 1))
    id=$((n - 4))
    if [[ $origin == A ]] && ((k % 5 == 0)); then
      r=$(sql "WITH x AS (UPDATE $table SET n = n * 10 WHERE id = $id RETURNING 1) SELECT count(*) FROM x")
      if [[ $r == 1 ]]; then say "update $id"; fi
    elif [[ $origin == B ]] && ((k % 3 == 0)); then
      r=$(sql "WITH x AS (DELETE FROM $table WHERE id = $id RETURNING 1) SELECT count(*) FROM x")
      if [[ $r == 1 ]]; then say "delete $id"; fi
    fi
    n=$((n + 2))
    wait_ms=$((start + k * every - $(now_ms)))
    if ((wait_ms > 0)); then sleep "$((wait_ms / 1000)).$(printf '%03d' $((wait_ms % 1000)))"; fi
  done
}
say "==> producer A: INSERT even numbers every second (every 5th: UPDATE an earlier row)    producer B: odd numbers every two seconds (every 3rd: DELETE an earlier row)    ($seconds s)"
producer A 2 1000 >"$work/a.out" 2>"$work/a.err" &
a_pid=$!
producer B 3 2000 >"$work/b.out" 2>"$work/b.err" &
b_pid=$!
pids+=("$a_pid" "$b_pid")
a_rc=0 b_rc=0
wait "$a_pid" || a_rc=$?
wait "$b_pid" || b_rc=$?
((a_rc == 0)) || { cat "$work/a.err" >&2; die "producer A failed (exit $a_rc)"; }
((b_rc == 0)) || { cat "$work/b.err" >&2; die "producer B failed (exit $b_rc)"; }

# What was executed: 2 snapshot rows, then one event per insert and update,
# two per delete (the DELETE event and its tombstone).
count() { grep -c "^$1 " "$work/a.out" "$work/b.out" | awk -F: '{s += $2} END {print s + 0}'; }
inserts=$(count insert) updates=$(count update) deletes=$(count delete)
expected=$((2 + inserts + updates + 2 * deletes))

# Let C print what is still in flight, then stop it as Ctrl-C would.
c_caught_up() {
  lines_at_least "$work/c.out" "$expected" && return 0
  kill -0 "$c_pid" 2>/dev/null || { cat "$work/c.err" >&2; die "consumer C stopped after $(wc -l <"$work/c.out") of $expected changes"; }
  return 1
}
wait_for 60 "consumer C's $expected changes" c_caught_up
kill -INT "$c_pid" 2>/dev/null || true
c_rc=0
wait "$c_pid" || c_rc=$?
wait "$show_pid" || true
((c_rc == 130 || c_rc == 0)) || { cat "$work/c.err" >&2; die "consumer C failed (exit $c_rc)"; }
consumed=$(wc -l <"$work/c.out")

# The sink's copy: one line per record (the event's JSON; "null" for a tombstone).
sink_file=$demo_dir/numbers.sink.txt
wait_for 60 "the sink's $expected lines in $sink_file" lines_at_least "$sink_file" "$expected"
sink_lines=$(wc -l <"$sink_file")

# The table rebuilt from the copy: each event in order, by id (READ, INSERT,
# UPDATE set the row to "after"; DELETE removes "before"'s; tombstones are skipped).
if [[ $rebuild_with == jq ]]; then
  jq -s -r 'reduce (.[] | select(. != null)) as $e ({};
      if $e.op == "d" then del(.[$e.before.id | tostring])
      elif $e.op == "c" or $e.op == "r" or $e.op == "u" then .[$e.after.id | tostring] = $e.after
      else . end)
    | [.[]] | sort_by(.id) | .[] | "\(.id)|\(.n)|\(.origin)"' "$sink_file" >"$work/copy.txt"
else
  python3 - "$sink_file" >"$work/copy.txt" <<'EOF'
import json, sys
rows = {}
for line in open(sys.argv[1]):
    e = json.loads(line)
    if e is None:
        continue
    if e["op"] == "d":
        rows.pop(e["before"]["id"], None)
    elif e["op"] in ("c", "r", "u"):
        rows[e["after"]["id"]] = e["after"]
for i in sorted(rows):
    print(f'{i}|{rows[i]["n"]}|{rows[i]["origin"]}')
EOF
fi
sql "SELECT id, n, origin FROM $table ORDER BY id" >"$work/table.txt"
rows=$(wc -l <"$work/table.txt")

say "==> summary (table $table, topic $cdc_topic, $seconds s)"
printf '    changes written: %d (%d inserts, %d updates, %d deletes) after the 2 snapshot rows\n' \
  $((inserts + updates + deletes)) "$inserts" "$updates" "$deletes"
printf '    change events expected: %d (2 READ + %d INSERT + %d UPDATE + %d DELETE + %d TOMBSTONE)\n' \
  "$expected" "$inserts" "$updates" "$deletes" "$deletes"
printf '    change events consumer C printed: %d\n' "$consumed"
printf '    lines in the sink'"'"'s copy (%s): %d\n' "$sink_file" "$sink_lines"
if ! diff -u --label "table $table" --label "rebuilt from $sink_file" "$work/table.txt" "$work/copy.txt" >"$work/diff.txt"; then
  sed 's/^/    /' "$work/diff.txt"
  die "the copy does not match the table"
fi
say "    copy matches the table: $rows rows"
((consumed == expected)) || die "consumer C printed $consumed change events, $expected expected"
((sink_lines == expected)) || die "the sink wrote $sink_lines lines, $expected expected"
