# kafkademo: build, lint and test the CLI, and run the local Kafka it talks to.
#
# The broker runs in ZooKeeper mode unless KAFKA_MODE=kraft (in the environment
# or as `make kafka-up KAFKA_MODE=kraft`). Everything it needs and writes lives
# in .kafka/; see scripts/ for the details.

export KAFKA_MODE

.PHONY: build lint test kafka-install kafka-up kafka-down kafka-status kafka-clean

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

# The exercise in a browser: Kafka (started if needed), topic sample, producers
# A and B, and `kafkademo web` on http://127.0.0.1:8080/. Ctrl-C stops it all.
.PHONY: web-demo
web-demo:
	@scripts/web-demo.sh
