#!/usr/bin/env bash
# make bench: kafkademo bench against Kafka's own perf tools and kcat, on one
# broker, in one run. For 100 B and 1 KB records it produces with acks=1 and
# acks=all, and consumes from the start of a filled topic, ROUNDS times with
# the clients in a different order each round, then prints one table of
# medians: records/s, MB/s, peak RSS, client and broker CPU per record, and
# kafkademo's ratio to each peer. Also writes the table, the raw results and
# an SVG plot of throughput by record size under OUT (target/bench-compare).
#
# Uses the broker at 127.0.0.1:9092; starts one with scripts/kafka-up.sh only
# if none answers, and stops only a broker it started.
#
# Options (or environment): --rounds N (ROUNDS, 3), --records-100 N
# (RECORDS_100, 3000000), --records-1k N (RECORDS_1K, 600000), --partitions N
# (PARTITIONS, 4), --out DIR (OUT), --svg FILE (SVG; also copy the plot there).
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

ROUNDS=${ROUNDS:-3}
RECORDS_100=${RECORDS_100:-3000000}
RECORDS_1K=${RECORDS_1K:-600000}
PARTITIONS=${PARTITIONS:-4}
OUT=${OUT:-$KD_ROOT/target/bench-compare}
SVG_COPY=${SVG:-}
while [[ $# -gt 0 ]]; do
  case $1 in
  --rounds) ROUNDS=$2 && shift 2 ;;
  --records-100) RECORDS_100=$2 && shift 2 ;;
  --records-1k) RECORDS_1K=$2 && shift 2 ;;
  --partitions) PARTITIONS=$2 && shift 2 ;;
  --out) OUT=$2 && shift 2 ;;
  --svg) SVG_COPY=$2 && shift 2 ;;
  -h | --help)
    sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'
    exit 0
    ;;
  *) die "unknown option '$1' (see --help)" ;;
  esac
done
for n in "$ROUNDS" "$RECORDS_100" "$RECORDS_1K" "$PARTITIONS"; do
  [[ $n =~ ^[1-9][0-9]*$ ]] || die "'$n' is not a positive number"
done

BROKERS=$KD_HOST:$KD_KAFKA_PORT
KD=$KD_ROOT/target/release/kafkademo
TIME=/usr/bin/time
SIZES=(100 1000)
CLIENTS=(kafkademo java kcat)
RUN_ID=$$
WORK=$OUT/work
mkdir -p "$OUT" "$WORK"
RESULTS=$OUT/results.tsv

# ---- setup: broker, tools ----------------------------------------------------

STARTED_BROKER=0
TOPICS=()
cleanup() {
  local t
  for t in "${TOPICS[@]}"; do
    "$KD" --brokers "$BROKERS" -q topic delete "$t" --if-exists >/dev/null 2>&1 || true
  done
  if ((STARTED_BROKER)); then
    say "Stopping the broker this script started"
    "$KD_ROOT/scripts/kafka-down.sh" || true
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if ! kafka_probe 3; then
  say "No broker answers on $BROKERS: starting one (and stopping it at the end)"
  STARTED_BROKER=1
  "$KD_ROOT/scripts/kafka-up.sh"
fi

# install_pkg CMD PACKAGE: apt-get install PACKAGE when CMD is missing.
install_pkg() {
  local cmd=$1 pkg=$2 answer
  [[ -x $cmd ]] || command -v "$cmd" >/dev/null 2>&1 && return 0
  if ((EUID != 0)) || ! command -v apt-get >/dev/null 2>&1; then
    die "$cmd is missing: install the '$pkg' package (e.g. sudo apt-get install -y $pkg) and run again"
  fi
  if [[ -t 0 ]]; then
    read -r -p "$cmd is missing; install the '$pkg' package with apt-get? [Y/n] " answer
    [[ -z $answer || $answer == [yY]* ]] || die "$cmd is needed; install '$pkg' and run again"
  fi
  say "Installing $pkg (apt-get)"
  apt-get install -y "$pkg" >/dev/null || die "apt-get install $pkg failed"
}
install_pkg "$TIME" time
install_pkg kcat kcat

say "Building kafkademo (release)"
(cd "$KD_ROOT" && cargo build --release --quiet) || die "cargo build --release failed"

# The broker's pid, for its CPU time: ours from the pid file, else the
# listener's owner. Empty when unknown (then broker CPU reads n/a).
BROKER_PID=$(pid_alive "$KD_KAFKA_PID" "$KD_KAFKA_MAIN" || true)
if [[ -z $BROKER_PID ]] && command -v ss >/dev/null 2>&1; then
  BROKER_PID=$(ss -ltnpH "sport = :$KD_KAFKA_PORT" 2>/dev/null | sed -n 's/.*pid=\([0-9]*\).*/\1/p' | head -n 1)
fi
CLK_TCK=$(getconf CLK_TCK)
broker_ticks() {
  if [[ -n $BROKER_PID && -r /proc/$BROKER_PID/stat ]]; then
    # utime + stime; the command name (field 2) is "(java)", without spaces.
    awk '{print $14 + $15}' "/proc/$BROKER_PID/stat"
  else
    echo -1
  fi
}

# The broker's CPU use over 3 s with none of our clients running: on a shared
# broker, other clients' load is in every broker CPU figure below.
broker_background() {
  local t0 t1
  t0=$(broker_ticks)
  sleep 3
  t1=$(broker_ticks)
  if ((t0 < 0 || t1 < 0)); then
    echo "n/a"
  else
    awk -v d=$((t1 - t0)) -v t="$CLK_TCK" 'BEGIN {printf "%.0f%% of a core", d / t / 3 * 100}'
  fi
}

# ---- the machine -------------------------------------------------------------

machine() {
  local cpu mem
  cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
  mem=$(awk '/^MemTotal:/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo)
  say "machine:   $(nproc) CPUs ($cpu), $mem memory, kernel $(uname -r)"
  say "load:      $(cut -d' ' -f1-3 /proc/loadavg) (1, 5, 15 min) at start"
  say "kafka:     $(installed_kafka_version 2>/dev/null || echo '?') broker at $BROKERS ($(running_mode) mode), $PARTITIONS partitions per topic, replication factor 1"
  say "kafkademo: $("$KD" --version | cut -d' ' -f2) ($(rustc --version 2>/dev/null | cut -d' ' -f1-2)), release build"
  say "java:      $(java -version 2>&1 | head -n 1); perf tools with their defaults, heap ${KAFKA_TOOLS_HEAP_OPTS:--Xmx512m}"
  say "kcat:      $(kcat -V 2>&1 | sed -n 's/^Version \([^ ]*\).*librdkafka \([^ ]*\).*/\1, librdkafka \2/p')"
  say "rounds:    $ROUNDS, clients alternating; records: $RECORDS_100 of 100 B, $RECORDS_1K of 1 KB"
  say "broker:    $(broker_background) busy with no bench running, at start"
}
machine | tee "$OUT/machine.txt"

# ---- one measured run --------------------------------------------------------

records_for() { if (($1 == 100)); then echo "$RECORDS_100"; else echo "$RECORDS_1K"; fi; }

# kcat reads records from a file, one a line: SIZE random letters each.
kcat_file() {
  local size=$1 n=$2 file=$WORK/kcat-$1-$2.txt
  if [[ ! -s $file ]]; then
    # 1000 distinct lines of letters A to Z (as ProducerPerformance fills
    # its records), repeated
    awk -v n="$n" -v size="$size" 'BEGIN {
      srand()
      for (l = 0; l < 1000; l++) {
        s = ""
        for (i = 0; i < size; i++) s = s sprintf("%c", 65 + int(rand() * 26))
        line[l] = s
      }
      for (i = 0; i < n; i++) print line[i % 1000]
    }' >"$file"
  fi
  echo "$file"
}

# new_topic TAG: creates a topic and sets TOPIC to its name.
new_topic() {
  TOPIC=kd-cmp-$RUN_ID-$1
  "$KD" --brokers "$BROKERS" -q topic create "$TOPIC" --partitions "$PARTITIONS" >/dev/null
  TOPICS+=("$TOPIC")
}

drop_topic() {
  "$KD" --brokers "$BROKERS" -q topic delete "$1" --if-exists >/dev/null 2>&1 || true
}

# measure OP CLIENT SIZE ACKS TOPIC ROUND: runs one client under time -v and
# appends a line to results.tsv.
measure() {
  local op=$1 client=$2 size=$3 acks=$4 topic=$5 round=$6
  local n log tv rps b0 b1 start_ms ms
  n=$(records_for "$size")
  log=$WORK/$op-$client-$size-$acks-$round.out
  tv=$WORK/$op-$client-$size-$acks-$round.time
  local -a cmd
  case $op/$client in
  produce/kafkademo)
    cmd=("$KD" --brokers "$BROKERS" -q bench produce --topic "$topic" --records "$n"
      --record-size "$size" --acks "$acks" --format json) ;;
  produce/java)
    cmd=("$KD_ROOT/scripts/kafka-class.sh" org.apache.kafka.tools.ProducerPerformance
      --topic "$topic" --num-records "$n" --record-size "$size" --throughput -1
      --producer-props "bootstrap.servers=$BROKERS" "acks=$acks") ;;
  produce/kcat)
    cmd=(kcat -P -b "$BROKERS" -t "$topic" -X "acks=$acks" -l "$(kcat_file "$size" "$n")") ;;
  consume/kafkademo)
    cmd=("$KD" --brokers "$BROKERS" -q bench consume --topic "$topic" --records "$n" --format json) ;;
  consume/java)
    cmd=("$KD_ROOT/scripts/kafka-class.sh" org.apache.kafka.tools.ConsumerPerformance
      --bootstrap-server "$BROKERS" --topic "$topic" --messages "$n" --timeout 60000) ;;
  consume/kcat)
    cmd=(kcat -C -b "$BROKERS" -t "$topic" -o beginning -c "$n" -q -f '') ;;
  esac
  b0=$(broker_ticks)
  start_ms=$(now_ms)
  if ! "$TIME" -v -o "$tv" "${cmd[@]}" >"$log" 2>&1; then
    warn "$op with $client ($size B, acks=$acks) failed; its output:"
    tail -n 20 "$log" >&2
    return 1
  fi
  ms=$(($(now_ms) - start_ms))
  b1=$(broker_ticks)
  case $op/$client in
  */kafkademo) rps=$(sed -n 's/.*"records_per_sec":\([0-9.]*\).*/\1/p' "$log") ;;
  produce/java) rps=$(sed -n 's/.* records sent, \([0-9.]*\) records\/sec .*ms 99.9th\.$/\1/p' "$log") ;;
  # fetch.nMsg.sec: leaves out the group join, which kafkademo does not do
  consume/java) rps=$(awk -F', ' 'NF >= 10 && $10 ~ /^[0-9.]+$/ {v = $10} END {print v}' "$log") ;;
  # kcat reports no rate: records over the whole process's wall time
  */kcat) rps=$(awk -v n="$n" -v ms="$ms" 'BEGIN {printf "%.1f", n * 1000 / ms}') ;;
  esac
  [[ -n $rps ]] || {
    warn "cannot read a rate from $client's output ($log)"
    return 1
  }
  local rss cpu broker
  rss=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$tv")
  cpu=$(awk -F': ' '/User time|System time/ {s += $2} END {printf "%.2f", s}' "$tv")
  broker=-1
  if ((b0 >= 0 && b1 >= 0)); then
    broker=$(awk -v d=$((b1 - b0)) -v t="$CLK_TCK" 'BEGIN {printf "%.2f", d / t}')
  fi
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' \
    "$op" "$size" "$acks" "$client" "$round" "$n" "$rps" "$rss" "$cpu" "$broker" >>"$RESULTS"
  printf '  %-7s %4s B acks=%-3s %-9s %12.0f records/s  RSS %7d KB  cpu %6.2f s  broker cpu %6s s\n' \
    "$op" "$size" "$acks" "$client" "$rps" "$rss" "$cpu" "$broker"
}

# ---- the runs ------------------------------------------------------------------

printf 'op\tsize\tacks\tclient\tround\trecords\trecords_per_sec\tpeak_rss_kb\tclient_cpu_s\tbroker_cpu_s\n' >"$RESULTS"

say "Filling one topic per record size for the consumers"
declare -A FILLED
for size in "${SIZES[@]}"; do
  new_topic "fill-$size"
  FILLED[$size]=$TOPIC
  "$KD" --brokers "$BROKERS" -q bench produce --topic "${FILLED[$size]}" \
    --records "$(records_for "$size")" --record-size "$size" >/dev/null
done
for size in "${SIZES[@]}"; do kcat_file "$size" "$(records_for "$size")" >/dev/null; done

for ((round = 1; round <= ROUNDS; round++)); do
  say "Round $round of $ROUNDS"
  # rotate the clients so none always runs first (or last)
  order=()
  for ((i = 0; i < ${#CLIENTS[@]}; i++)); do
    order+=("${CLIENTS[(i + round - 1) % ${#CLIENTS[@]}]}")
  done
  for size in "${SIZES[@]}"; do
    for acks in 1 all; do
      for client in "${order[@]}"; do
        new_topic "p-$size-$acks-$client-$round"
        measure produce "$client" "$size" "$acks" "$TOPIC" "$round" || true
        drop_topic "$TOPIC"
      done
    done
    for client in "${order[@]}"; do
      measure consume "$client" "$size" - "${FILLED[$size]}" "$round" || true
    done
  done
done

# ---- the table --------------------------------------------------------------------

# medians per (op, size, acks, client), then kafkademo's ratio to each peer
summarize() {
  awk -F'\t' -v mib=1048576 '
    NR == 1 { next }
    {
      k = $1 SUBSEP $2 SUBSEP $3 SUBSEP $4
      if (!(k in n)) { keys[++nk] = k }
      i = ++n[k]
      rps[k, i] = $7; rss[k, i] = $8; cpu[k, i] = $9 / $6 * 1e6
      bro[k, i] = ($10 < 0) ? -1 : $10 / $6 * 1e6
    }
    function median(arr, k, m,    i, j, t, v) {
      for (i = 1; i <= m; i++) v[i] = arr[k, i]
      for (i = 2; i <= m; i++) for (j = i; j > 1 && v[j - 1] > v[j]; j--) { t = v[j]; v[j] = v[j - 1]; v[j - 1] = t }
      return (m % 2) ? v[(m + 1) / 2] : (v[m / 2] + v[m / 2 + 1]) / 2
    }
    END {
      for (x = 1; x <= nk; x++) {
        k = keys[x]; split(k, f, SUBSEP)
        mr[k] = median(rps, k, n[k]); ms[k] = median(rss, k, n[k])
        mc[k] = median(cpu, k, n[k]); mb[k] = median(bro, k, n[k])
      }
      print "| op | record | acks | client | records/s | MB/s | peak RSS | client CPU µs/record | broker CPU µs/record | kafkademo ÷ client |"
      print "|----|-------:|------|--------|----------:|-----:|---------:|------:|------:|------:|"
      for (x = 1; x <= nk; x++) {
        k = keys[x]; split(k, f, SUBSEP)
        kd = f[1] SUBSEP f[2] SUBSEP f[3] SUBSEP "kafkademo"
        ratio = (f[4] == "kafkademo") ? "—" : sprintf("%.2f", mr[kd] / mr[k])
        size = (f[2] == 1000) ? "1 KB" : f[2] " B"
        broker = (mb[k] < 0) ? "n/a" : sprintf("%.2f", mb[k])
        printf "| %s | %s | %s | %s | %.0f | %.1f | %.1f MB | %.2f | %s | %s |\n",
          f[1], size, f[3], f[4], mr[k], mr[k] * f[2] / mib, ms[k] / 1024, mc[k], broker, ratio
      }
    }' "$RESULTS"
}

# an SVG bar chart: MB/s by record size, one bar per client, for each of
# produce acks=1, produce acks=all and consume
plot() {
  awk -F'\t' '
    NR == 1 { next }
    {
      panel = ($1 == "consume") ? "consume" : "produce acks=" $3
      k = panel SUBSEP $2 SUBSEP $4
      v[k, ++n[k]] = $7 * $2 / 1048576
    }
    function median(k, m,    i, j, t, w) {
      for (i = 1; i <= m; i++) w[i] = v[k, i]
      for (i = 2; i <= m; i++) for (j = i; j > 1 && w[j - 1] > w[j]; j--) { t = w[j]; w[j] = w[j - 1]; w[j - 1] = t }
      return (m % 2) ? w[(m + 1) / 2] : (w[m / 2] + w[m / 2 + 1]) / 2
    }
    END {
      np = split("produce acks=1,produce acks=all,consume", panels, ",")
      nc = split("kafkademo,java,kcat", clients, ",")
      split("#d9480f,#1c7ed6,#2f9e44", colour, ",")
      split("kafkademo bench,Java perf tools,kcat", label, ",")
      ns = split("100,1000", sizes, ",")
      top = 0
      for (k in n) { m[k] = median(k, n[k]); if (m[k] > top) top = m[k] }
      step = 50; while (top / step > 8) step *= 2
      top = (int(top / step) + 1) * step
      pw = 300; ph = 220; left = 60; gap = 40; width = left + np * (pw + gap); height = ph + 135
      printf "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" font-family=\"sans-serif\" font-size=\"12\">\n", width, height
      printf "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n"
      printf "<text x=\"%d\" y=\"18\" font-size=\"14\" font-weight=\"bold\">Throughput by record size (MB/s, median of rounds; higher is better)</text>\n", left
      for (y = 0; y <= top; y += step) {
        yy = 40 + ph - y / top * ph
        printf "<line x1=\"%d\" x2=\"%d\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"#ddd\"/>\n", left, width - gap, yy, yy
        printf "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%d</text>\n", left - 6, yy + 4, y
      }
      for (p = 1; p <= np; p++) {
        x0 = left + (p - 1) * (pw + gap) + 10
        printf "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\" font-weight=\"bold\">%s</text>\n", x0 + pw / 2, 40 + ph + 42, panels[p]
        gw = pw / ns
        for (s = 1; s <= ns; s++) {
          gx = x0 + (s - 1) * gw
          printf "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">%s</text>\n", gx + gw / 2, 40 + ph + 18, (sizes[s] == 1000) ? "1 KB" : sizes[s] " B"
          bw = (gw - 30) / nc
          for (c = 1; c <= nc; c++) {
            k = panels[p] SUBSEP sizes[s] SUBSEP clients[c]
            if (!(k in m)) continue
            h = m[k] / top * ph; bx = gx + 15 + (c - 1) * bw
            printf "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"%s\"><title>%s %s: %.1f MB/s</title></rect>\n", bx, 40 + ph - h, bw - 4, h, colour[c], label[c], panels[p], m[k]
            printf "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" font-size=\"10\">%.0f</text>\n", bx + (bw - 4) / 2, 40 + ph - h - 3, m[k]
          }
        }
      }
      for (c = 1; c <= nc; c++) {
        lx = left + (c - 1) * 170
        printf "<rect x=\"%d\" y=\"%d\" width=\"12\" height=\"12\" fill=\"%s\"/><text x=\"%d\" y=\"%d\">%s</text>\n", lx, height - 22, colour[c], lx + 18, height - 12, label[c]
      }
      print "</svg>"
    }' "$RESULTS"
}

{
  say "load:      $(cut -d' ' -f1-3 /proc/loadavg) (1, 5, 15 min) at the end"
  say "broker:    $(broker_background) busy with no bench running, at the end"
} | tee -a "$OUT/machine.txt"
summarize | tee "$OUT/table.md"
plot >"$OUT/throughput.svg"
if [[ -n $SVG_COPY ]]; then cp "$OUT/throughput.svg" "$SVG_COPY"; fi
say "MB/s is MiB (2^20 bytes) of record values per second; CPU is user + system time per record;"
say "broker CPU includes whatever else the broker did meanwhile (see 'broker:' above)."
say "Results in ${OUT#"$KD_ROOT"/}/: table.md, results.tsv, throughput.svg, machine.txt"
