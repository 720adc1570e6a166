#!/usr/bin/env bash
# make failover-demo: replication you can watch. A 3-broker cluster, a topic
# with 3 replicas and min.insync.replicas=2, a producer writing numbered
# records with acks=all and consumer C printing them. Mid-stream the leader
# is SIGKILLed: `topic describe` shows the new leader; the broker is restarted
# and rejoins the ISR. Ends with: sent, acknowledged, consumed, lost, duplicates.
# Meanwhile `kafkademo web` serves the cluster page (its address is printed):
# brokers, replicas, leader and ISR as they change.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$KD_ROOT"

port=${CLUSTER_PORT:-9092}
export KAFKA_BROKERS=$KD_HOST:$port,$KD_HOST:$((port + 1)),$KD_HOST:$((port + 2))
phase=${FAILOVER_PHASE_SECONDS:-6}

if [[ -n ${KAFKADEMO:-} ]]; then
  kd=$KAFKADEMO
else
  say "==> building kafkademo"
  cargo build --release --quiet
  kd=$KD_ROOT/target/release/kafkademo
fi

work=$(mktemp -d)
topic=failover-$(date +%s)
started_cluster=0
pids=()
# shellcheck disable=SC2317 # run by the EXIT trap
cleanup() {
  local rc=$? pid
  trap - EXIT INT TERM
  for pid in "${pids[@]}"; do kill -INT "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  "$kd" topic delete "$topic" --if-exists >/dev/null 2>&1 || true
  if ((started_cluster)); then
    say "==> stopping the cluster this demo started"
    scripts/cluster-down.sh || rc=1
  fi
  rm -rf "$work"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

cluster_running() {
  local id
  for id in 0 1 2; do
    pid_alive "$KD_RUN/cluster-$id.pid" "$KD_KAFKA_MAIN" >/dev/null 2>&1 || return 1
  done
}
if cluster_running; then
  say "==> a 3-broker cluster already answers at $KAFKA_BROKERS; the demo leaves it running"
else
  say "==> starting a 3-broker cluster"
  started_cluster=1
  scripts/cluster-up.sh
fi

"$kd" topic create "$topic" --partitions 1 --replication-factor 3 --config min.insync.replicas=2
describe() { "$kd" topic describe "$topic" | sed 's/^/    /'; }
leader() { "$kd" topic describe "$topic" | awk -F'\t' '/Partition: 0/ { sub("Leader: ", "", $4); print $4 }'; }
isr_size() { "$kd" topic describe "$topic" | awk -F'\t' '/Partition: 0/ { sub("Isr: ", "", $6); print split($6, a, ",") }'; }
describe

# The cluster page (kafkademo web /cluster) to watch the failover in a
# browser: FAILOVER_WEB_PORT (default 0: a free port).
"$kd" web --topic "$topic" --port "${FAILOVER_WEB_PORT:-0}" >"$work/web.out" 2>"$work/web.err" &
pids+=("$!")
for _ in $(seq 1 50); do
  grep -q '^Serving' "$work/web.out" 2>/dev/null && break
  sleep 0.1
done
if web=$(sed -n "s/^Serving topic '.*' at \(http[^ ]*\)$/\1/p" "$work/web.out") && [[ -n $web ]]; then
  say "==> watch it live: ${web}cluster (Prometheus metrics: ${web}metrics)"
else
  say "==> (no cluster page: $(head -n 1 "$work/web.err"))"
fi

say "==> consumer C and an acks=all producer (a number every 100 ms)"
"$kd" consume --topic "$topic" --from-beginning >"$work/c.out" 2>"$work/c.err" &
c_pid=$!
pids+=("$c_pid")
"$kd" produce even --topic "$topic" --origin N --interval 100ms --acks all >"$work/p.out" 2>"$work/p.err" &
p_pid=$!
pids+=("$p_pid")
sleep "$phase"

old=$(leader)
say "==> $(wc -l <"$work/p.out") records acknowledged so far; SIGKILL the leader, broker $old"
scripts/broker-kill.sh "$old"
t0=$(now_ms)
while :; do
  now=$(leader || true)
  [[ -n $now && $now != "$old" && $now != none && $now != -1 ]] && break
  (($(now_ms) - t0 < 60000)) || die "no new leader within 60 s"
  sleep 0.5
done
say "==> broker $now leads after $(elapsed "$t0"):"
describe
sleep "$phase"

say "==> restarting broker $old"
scripts/broker-start.sh "$old"
t0=$(now_ms)
while (($(isr_size) < 3)); do
  (($(now_ms) - t0 < 120000)) || die "broker $old did not rejoin the ISR within 120 s"
  sleep 0.5
done
say "==> broker $old is back in the ISR after $(elapsed "$t0"):"
describe
sleep "$phase"

kill -INT "$p_pid"
p_rc=0
wait "$p_pid" || p_rc=$?
acked=$(wc -l <"$work/p.out")
for _ in $(seq 1 100); do
  (($(wc -l <"$work/c.out") >= acked)) && break
  sleep 0.1
done
kill -INT "$c_pid" 2>/dev/null || true
wait "$c_pid" || true

failed=0
((p_rc == 0 || p_rc == 130)) || failed=1
sent=$((acked + failed))
consumed=$(wc -l <"$work/c.out")
lost=$(comm -23 <(awk '{print $3}' "$work/p.out" | sort -u) <(awk '{print $2}' "$work/c.out" | sort -u) | wc -l)
dups=$((consumed - $(sort -u "$work/c.out" | wc -l)))
retries=$(grep -c 'retrying' "$work/p.err" || true)
say "==> summary (topic $topic)"
say "    sent:         $sent"
say "    acknowledged: $acked"
say "    consumed:     $consumed"
say "    lost:         $lost"
say "    duplicates:   $dups"
say "    producer retries after errors: $retries (see how in docs/replication.md)"
((failed == 0)) || { cat "$work/p.err" >&2; die "the producer gave up (exit $p_rc)"; }
((lost == 0)) || die "acknowledged records were lost"
