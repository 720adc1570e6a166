# kafkademo: build, lint and test the CLI, and run the local Kafka it talks to.
#
# The broker runs in ZooKeeper mode unless KAFKA_MODE=kraft (in the environment
# or as `make kafka-up KAFKA_MODE=kraft`). Everything it needs and writes lives
# in .kafka/; see scripts/ for the details.

export KAFKA_MODE

.PHONY: build lint test bench kafka-install kafka-up kafka-down kafka-status kafka-clean

build:
	cargo build

lint:
	cargo fmt --check
	cargo clippy --all-targets -- -D warnings

# cargo test against a real broker, in ZooKeeper mode and then in KRaft mode.
test:
	scripts/test.sh

# kafkademo bench vs Kafka's perf tools and kcat on one broker: one table of
# medians (scripts/bench-compare.sh; ROUNDS=5 make bench for more rounds).
bench:
	@scripts/bench-compare.sh

# Kafka 3.9 from Maven artifacts into .kafka/lib (skipped with KAFKA_HOME).
kafka-install:
	@scripts/kafka-install.sh

# ZooKeeper (unless KAFKA_MODE=kraft), then a broker on 127.0.0.1:9092.
kafka-up:
	@scripts/kafka-up.sh

# The broker, whichever mode it runs in, then ZooKeeper.
kafka-down:
	@scripts/kafka-down.sh

kafka-status:
	@scripts/kafka-status.sh

# Delete topics, offsets and logs (.kafka/data, .kafka/logs); keeps the install.
kafka-clean:
	@scripts/kafka-clean.sh
