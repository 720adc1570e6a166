#!/usr/bin/env bash
# make kafka-down: stop the broker (whichever mode runs), then ZooKeeper.
# Harmless when nothing runs.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

"$KD_ROOT/scripts/kafka-stop.sh"
"$KD_ROOT/scripts/zookeeper-stop.sh"
