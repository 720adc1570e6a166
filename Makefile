# kafkademo: build, lint and test the CLI, and run the local Kafka it talks to.
#
# The broker runs in ZooKeeper mode unless KAFKA_MODE=kraft (in the environment
# or as `make kafka-up KAFKA_MODE=kraft`). Everything it needs and writes lives
# in .kafka/; see scripts/ for the details.

export KAFKA_MODE

.PHONY: demo failover-demo soak build lint test kafka-install kafka-up kafka-down kafka-status kafka-clean

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

lint:
	cargo fmt --check
	cargo clippy --all-targets -- -D warnings

# cargo test against a real broker, in ZooKeeper mode and then in KRaft mode.
test:
	scripts/test.sh

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
