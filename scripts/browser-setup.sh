#!/usr/bin/env bash
# Install what the browser tests (tests/integration/web.rs) drive: Debian's
# headless Chromium and its matching chromedriver. Harmless when both are
# there already. Needs root (or sudo) and Debian's package archive.
set -euo pipefail

have() { command -v "$1" >/dev/null 2>&1; }

if have chromium && have chromedriver; then
  exit 0
fi

SUDO=()
if [[ $(id -u) -ne 0 ]]; then
  if have sudo; then
    SUDO=(sudo)
  else
    printf 'browser-setup.sh: chromium and chromedriver are missing and this is not root; install them: apt-get install chromium chromium-driver\n' >&2
    exit 1
  fi
fi

start=$(date +%s)
printf '==> installing chromium and chromium-driver (Debian packages)\n'
export DEBIAN_FRONTEND=noninteractive
"${SUDO[@]}" apt-get update -qq
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium chromium-driver fonts-dejavu-core >/dev/null
if ! have chromium || ! have chromedriver; then
  printf 'browser-setup.sh: chromium or chromedriver still missing after apt-get install\n' >&2
  exit 1
fi
printf '==> %s, %s (%ss)\n' "$(chromium --version 2>/dev/null | head -n 1)" \
  "$(chromedriver --version 2>/dev/null | head -n 1)" "$(($(date +%s) - start))"
