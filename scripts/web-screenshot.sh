#!/usr/bin/env bash
# Screenshot a page in headless Chromium through chromedriver (made for
# docs/web.png: run `make web-demo`, let it fill, then
#   scripts/web-screenshot.sh http://127.0.0.1:8080/ docs/web.png).
# A fixed pause after loading, not a page-load wait: an event stream never
# "finishes", which is why `chromium --screenshot` alone cannot take this.
#
#   scripts/web-screenshot.sh URL OUT.png [WIDTHxHEIGHT] [SECONDS]
set -euo pipefail
url=${1:?usage: web-screenshot.sh URL OUT.png [WIDTHxHEIGHT] [SECONDS]}
out=${2:?usage: web-screenshot.sh URL OUT.png [WIDTHxHEIGHT] [SECONDS]}
size=${3:-1000x900}
pause=${4:-3}
"$(dirname "${BASH_SOURCE[0]}")/test-setup.sh" browser

port=$((20000 + RANDOM % 20000))
profile=$(mktemp -d)
chromedriver --port="$port" >/dev/null 2>&1 &
driver=$!
session=
# shellcheck disable=SC2317 # run by the EXIT trap
cleanup() {
  if [[ -n $session ]]; then curl -s -X DELETE "http://127.0.0.1:$port/session/$session" >/dev/null || true; fi
  kill "$driver" 2>/dev/null || true
  wait "$driver" 2>/dev/null || true
  rm -rf "$profile"
}
trap cleanup EXIT

for _ in $(seq 100); do
  curl -s "http://127.0.0.1:$port/status" | grep -q '"ready":true' && break
  sleep 0.1
done
api() { curl -s -X "$1" -H 'Content-Type: application/json' "http://127.0.0.1:$port$2" ${3:+-d "$3"}; }
args='"--headless","--no-sandbox","--disable-gpu","--disable-quic","--no-first-run","--disable-background-networking","--disable-component-update","--disable-sync","--hide-scrollbars"'
args+=",\"--window-size=${size/x/,}\",\"--user-data-dir=$profile\""
reply=$(api POST /session "{\"capabilities\":{\"alwaysMatch\":{\"goog:chromeOptions\":{\"binary\":\"$(command -v chromium)\",\"args\":[$args]}}}}")
session=$(sed -n 's/.*"sessionId":"\([^"]*\)".*/\1/p' <<<"$reply")
[[ -n $session ]] || { printf 'web-screenshot.sh: no browser session: %s\n' "$reply" >&2; exit 1; }
api POST "/session/$session/url" "{\"url\":\"$url\"}" >/dev/null
sleep "$pause"
api GET "/session/$session/screenshot" | sed -n 's/.*"value":"\([^"]*\)".*/\1/p' | base64 -d >"$out"
printf 'wrote %s\n' "$out"
