#!/usr/bin/env bash
# Prepare this machine for the tests, once, before any test runs (`make test`
# runs it): install what the tests drive besides Kafka, from Debian's packages,
# when missing. Tests install nothing; without these they fail, naming this
# script.
#
#   tmux                        the chat's terminal test (tests/integration/chat.rs)
#   gdb                         freezing a stream instance mid-write (tests/integration/zombies.rs)
#   chromium, chromium-driver   the browser tests (tests/integration/web.rs)
#   python3-prometheus-client   the independent /metrics parser (tests/integration/metrics.rs)
#   postgresql                  Debezium's source database (scripts/pg-up.sh)
#   time                        GNU time: peak RSS of the hostile-broker cases (tests/integration/hostile.rs)
#   zsh, fish                   the zsh and fish completion scripts, run as those shells run them (tests/integration/habits.rs)
#
#   scripts/test-setup.sh           all of them
#   scripts/test-setup.sh browser   Chromium and chromedriver only
#
# Harmless when everything is there. Installing needs root (or sudo) and
# apt-get; it runs without prompts.
set -euo pipefail

# PostgreSQL's initdb is not on PATH: Debian keeps it in /usr/lib/postgresql/NN/bin.
have() {
  if [[ $1 == prometheus_client ]]; then
    # python3 on PATH may not be Debian's (pyenv): the test tries both
    python3 -c 'import prometheus_client' >/dev/null 2>&1 || /usr/bin/python3 -c 'import prometheus_client' >/dev/null 2>&1
    return
  fi
  # `time` is also a shell keyword: look for GNU time's binary itself.
  if [[ $1 == gnu-time ]]; then
    [[ -x /usr/bin/time ]]
    return
  fi
  if [[ $1 == initdb ]]; then
    compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null
    return
  fi
  command -v "$1" >/dev/null 2>&1
}
say() { printf '%s\n' "$*"; }
die() {
  printf 'test-setup.sh: %s\n' "$*" >&2
  exit 1
}

# command -> the Debian package that provides it
declare -A package=([tmux]=tmux [gdb]=gdb [chromium]=chromium [chromedriver]=chromium-driver
  [initdb]=postgresql [prometheus_client]=python3-prometheus-client [gnu-time]=time [zsh]=zsh [fish]=fish)
case ${1:-all} in
  all) commands=(tmux gdb chromium chromedriver initdb prometheus_client gnu-time zsh fish) ;;
  browser) commands=(chromium chromedriver) ;;
  *) die "usage: test-setup.sh [all|browser]" ;;
esac

missing=()
for c in "${commands[@]}"; do
  have "$c" || missing+=("${package[$c]}")
done
if ((${#missing[@]} == 0)); then
  say "==> test setup: ${commands[*]} already installed"
  exit 0
fi
# Chromium draws text with whatever fonts are there: give it one.
if [[ " ${missing[*]} " == *" chromium "* ]]; then
  missing+=(fonts-dejavu-core)
fi

SUDO=()
if [[ $(id -u) -ne 0 ]]; then
  have sudo || die "${missing[*]} missing and this is not root: install them with apt-get install ${missing[*]}"
  SUDO=(sudo)
fi
have apt-get || die "${missing[*]} missing and there is no apt-get: install them with your package manager"

start=$(date +%s)
say "==> test setup: installing ${missing[*]} (Debian packages)"
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive DEBCONF_NOWARNINGS=yes apt-get update -qq
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive DEBCONF_NOWARNINGS=yes apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null

for c in "${commands[@]}"; do
  have "$c" || die "$c still missing after apt-get install ${missing[*]}"
done
say "==> test setup: installed ${missing[*]} ($(($(date +%s) - start))s)"
for c in "${commands[@]}"; do
  case $c in
    tmux) say "    $(tmux -V)" ;;
    initdb) say "    $(compgen -G "/usr/lib/postgresql/*/bin/initdb" | sort -V | tail -n 1)" ;;
    prometheus_client) say "    python3-prometheus-client $(dpkg-query -W -f '${Version}' python3-prometheus-client 2>/dev/null || echo '(from pip)')" ;;
    *) say "    $("$c" --version 2>/dev/null | head -n 1)" ;;
  esac
done
