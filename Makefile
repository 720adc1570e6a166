# kafkademo: build, lint and test the CLI, and run the local Kafka it talks to.
#
# The broker runs in ZooKeeper mode unless KAFKA_MODE=kraft (in the environment
# or as `make kafka-up KAFKA_MODE=kraft`). KAFKA_VERSION=4.4.0 runs Kafka 4.4
# instead of the default 3.9 (KRaft only), installed beside it; KAFKA_PORT
# moves the single broker off 9092. KAFKA_STOCK=1 starts one with Kafka's own
# shipped server.properties instead (config/stock/, beside the other on another
# KAFKA_PORT). KAFKA_SECURITY=1 secures it (TLS, SASL,
# ACLs on the ports after KAFKA_PORT; docs/security.md). Everything it needs
# and writes lives in .kafka/; see scripts/ for the details.

export KAFKA_MODE
export KAFKA_VERSION
export KAFKA_PORT
export KAFKA_SECURITY
export KAFKA_STOCK
export CLUSTER_PORT
export CONNECT_PORT
export CONNECT_WORKERS
export CONNECT_VERSION
export CONNECT_BOOTSTRAP
export PG_PORT

.PHONY: demo failover-demo soak faults build lint test bench kafka-install kafka-up kafka-down kafka-status kafka-clean
.PHONY: cluster-up cluster-down cluster-status cluster-clean
.PHONY: connect-up connect-down connect-status cdc-demo

# The tutorial exercise: Kafka up if needed, consumer C, producers A and B for
# DEMO_SECONDS (default 20), a summary; stops the Kafka it started.
demo:
	@scripts/demo.sh

# Replication you can watch: a 3-broker cluster, the leader SIGKILLed
# mid-stream, a summary of sent/acknowledged/consumed/lost/duplicates.
failover-demo:
	@scripts/failover-demo.sh

# The replication test with 10 leader kills instead of 3.
soak:
	FAILOVER_KILLS=10 KAFKA_TEST_MODES=cluster scripts/test.sh

build:
	cargo build

# The man pages (kafkademo.1 and one per subcommand, kafkademo-topic-create.1
# and so on) into target/man: `man -l target/man/kafkademo-consume.1`.
.PHONY: man install
man:
	cargo run --quiet -- man target/man

# The binary into PREFIX/bin (default ~/.local, as pip and pipx put theirs),
# the man pages into PREFIX/share/man/man1, and the completion scripts where
# bash-completion, zsh (site-functions in fpath) and fish look under PREFIX.
# CARGO_INSTALL_FLAGS adds to cargo install (e.g. --offline, --debug).
PREFIX ?= $(HOME)/.local
install:
	cargo install --path . --root "$(PREFIX)" --locked --force $(CARGO_INSTALL_FLAGS)
	"$(PREFIX)/bin/kafkademo" man "$(PREFIX)/share/man/man1" > /dev/null
	mkdir -p "$(PREFIX)/share/bash-completion/completions" "$(PREFIX)/share/zsh/site-functions" "$(PREFIX)/share/fish/vendor_completions.d"
	"$(PREFIX)/bin/kafkademo" completions bash > "$(PREFIX)/share/bash-completion/completions/kafkademo"
	"$(PREFIX)/bin/kafkademo" completions zsh > "$(PREFIX)/share/zsh/site-functions/_kafkademo"
	"$(PREFIX)/bin/kafkademo" completions fish > "$(PREFIX)/share/fish/vendor_completions.d/kafkademo.fish"
	@echo "installed $(PREFIX)/bin/kafkademo (is $(PREFIX)/bin on your PATH?)"

lint:
	cargo fmt --check
	cargo clippy --all-targets -- -D warnings

# The lint first (a style or clippy failure fails early, before any broker
# starts), then cargo test against a real broker, in ZooKeeper mode and then in
# KRaft mode, the Kafka 4.x tests against Kafka 4.4, the replication tests on a
# 3-broker cluster, then the fault suite (scripts/test.sh).
test: lint
	scripts/test.sh

# The fault suite alone (docs/reliability.md): a fresh 3-broker cluster,
# brokers SIGKILLed, SIGSTOPped and restarted under running producers and
# consumers; prints the report table (target/faults.tsv).
faults:
	KAFKA_TEST_MODES=faults scripts/test.sh

# kafkademo bench vs Kafka's perf tools and kcat on one broker: one table of
# medians (scripts/bench-compare.sh; ROUNDS=5 make bench for more rounds).
bench:
	@scripts/bench-compare.sh

# What watching costs: kafkademo top and web's /metrics against one KRaft
# broker with 1,000 partitions and 100 groups (100 topics kd-cost-* x 10):
# refresh time, RSS, broker CPU and requests/s; table in target/top-cost.tsv
# (scripts/top-cost.sh; KAFKA_PORT=49092 make top-cost beside another broker).
.PHONY: top-cost
top-cost:
	@scripts/top-cost.sh

# Kafka 3.9 (or KAFKA_VERSION) from Maven artifacts into .kafka/lib/<version>
# (skipped with KAFKA_HOME).
kafka-install:
	@scripts/kafka-install.sh

# ZooKeeper (unless KAFKA_MODE=kraft or Kafka 4.x), then a broker on 127.0.0.1:9092.
# KAFKA_SECURITY=1: the secured broker (config/server-secure.properties):
# PLAINTEXT 9092 stays open as the admin door; SSL (client certificate) 9094,
# SASL_SSL 9095, SASL_PLAINTEXT 9096, an expired certificate on 9097; users
# alice, bob, admin; certificates made into .kafka/secure; ACLs and topics
# secure.a, secure.b made before it says it is up. Clients: config/secure/.
kafka-up:
	@scripts/kafka-up.sh

# The broker, whichever mode it runs in, then ZooKeeper.
kafka-down:
	@scripts/kafka-down.sh

kafka-status:
	@scripts/kafka-status.sh

# Delete topics, offsets and logs (.kafka/data, .kafka/logs) and the secured
# broker's certificates (.kafka/secure); keeps the install.
kafka-clean:
	@scripts/kafka-clean.sh

# A three-broker cluster (ids 0, 1, 2) for replication and failover, on
# 127.0.0.1:9092-9094 by default. CLUSTER_PORT moves it (`make cluster-up
# CLUSTER_PORT=19092`: 19092-19094), e.g. to run beside the single broker of
# kafka-up, which otherwise has to be stopped first. ZooKeeper mode (shared
# ZooKeeper, chroot /kafkademo-cluster) unless KAFKA_MODE=kraft (three combined
# broker+controller nodes, controllers on CLUSTER_PORT+100..+102). Harmless when
# it already runs. scripts/broker-kill.sh ID and scripts/broker-start.sh ID kill
# and restart one broker.
cluster-up:
	@scripts/cluster-up.sh

# The three brokers, in parallel; then ZooKeeper, unless the single broker uses it.
cluster-down:
	@scripts/cluster-down.sh

cluster-status:
	@scripts/cluster-status.sh

# Delete the cluster's data, logs and ZooKeeper chroot (both modes); refuses
# while it runs. The single broker's data is untouched.
cluster-clean:
	@scripts/cluster-clean.sh

# Kafka Connect (distributed mode) with PostgreSQL for change data capture:
# the worker and its plugins (FileStream, Debezium PostgreSQL) assembled into
# .kafka/connect/<version> (4.3.2, the Kafka Debezium 3.6.1 is built against, whatever the broker) on first use; PostgreSQL on
# 127.0.0.1:5433 (PG_PORT; database, user and password kafkademo, logical
# decoding on); worker 1's REST API on http://127.0.0.1:8083/ (CONNECT_PORT),
# CONNECT_WORKERS=2 adds worker 2 on the next port. It uses the single broker
# or the cluster that runs (CONNECT_BOOTSTRAP to say which); with none, it
# starts the single broker (as make kafka-up), and connect-down stops that
# one again. Pids: .kafka/run/connect-N.pid, postgres.pid; logs:
# .kafka/logs/connect-N/, postgres.log. See scripts/connect-up.sh.
connect-up:
	@scripts/connect-up.sh

# The worker(s), then PostgreSQL, then the broker if connect-up started it;
# a broker or cluster that ran before is left alone. Data is kept.
connect-down:
	@scripts/connect-down.sh

# Workers, their connectors and tasks, and PostgreSQL.
connect-status:
	@scripts/connect-status.sh

# The exercise over a database: what connect-up starts (if missing), Kafka's
# quickstart file -> topic -> file pipeline, then producers A and B as INSERTs,
# UPDATEs and DELETEs on a PostgreSQL table for CDC_DEMO_SECONDS (default 20),
# Debezium streaming them, consumer C printing them (--format changes), a file
# sink copying them; the table rebuilt from the copy must match. Stops what it
# started, deletes its connectors and replication slot (scripts/cdc-demo.sh).
cdc-demo:
	@scripts/cdc-demo.sh

# The exercise in a browser: Kafka (started if needed), topic sample, producers
# A and B, and `kafkademo web` on http://127.0.0.1:8080/. Ctrl-C stops it all.
.PHONY: web-demo
web-demo:
	@scripts/web-demo.sh

# The exercise counted per 10 s window: Kafka up if needed, producers A and B
# (--protocol modern, for record timestamps), `kafkademo stream count`, the
# counts live in the terminal (stream table) and as a bar chart on
# http://127.0.0.1:8080/ for STREAM_DEMO_SECONDS (default 35); then a summary,
# and the demo's topics and application state are removed.
.PHONY: stream-demo
stream-demo:
	@scripts/stream-demo.sh

# The crash experiment (docs/streams.md): the same input counted while the
# processor is SIGKILLed 5 times, by kafkademo and by Kafka Streams 4.4
# (at_least_once and exactly_once_v2); one table of exact/over/short windows.
.PHONY: stream-crash
stream-crash:
	@scripts/stream-crash.sh

# kafkademo `stream count` against the same windowed count in Kafka Streams
# 4.4, on one broker and the same input, each under exactly-once and the
# weaker guarantee (kafkademo unfenced, Kafka Streams at_least_once):
# records/s and peak RSS (medians of ROUNDS, default 3), end-to-end latency
# at 10,000 records/s, restore of a 1,000,000-record changelog, and restore
# after an hour and a day of (compressed) event time, compaction run
# (retention); tables in target/stream-bench (scripts/stream-bench.sh).
.PHONY: stream-bench
stream-bench:
	@scripts/stream-bench.sh
