#!/usr/bin/env bash
# Certifies tansu with process and network faults: starts the embedded toxiproxy, a proxy in
# front of tansu, and tansu advertising that proxy (fixtures/targets/tansu.yaml), then runs
# `kafka-conformance certify`. Arguments after the script's are passed to certify (--tags,
# --report, ...). Needs tansu 0.6.0 (see ci/tansu.sh) and a built kafka-conformance.
set -euo pipefail
cd "$(dirname "$0")/.."

CONFORMANCE=${CONFORMANCE:-target/release/kafka-conformance}
[ -x "$CONFORMANCE" ] || CONFORMANCE=$(command -v kafka-conformance || true)
[ -x "$CONFORMANCE" ] || { echo "ci/certify-tansu.sh: build it first: cargo build --release -p kafka-conformance" >&2; exit 1; }
API=127.0.0.1:18474
PROXY=127.0.0.1:19093
export TANSU_PORT=19092 TANSU_ADVERTISE=$PROXY

"$CONFORMANCE" toxiproxy --listen "$API" >/tmp/kafka-conformance-tansu-toxiproxy.log 2>&1 &
toxi=$!
cleanup() { bash ci/tansu.sh stop || true; kill "$toxi" 2>/dev/null || true; }
trap cleanup EXIT
for _ in $(seq 1 100); do (exec 3<>"/dev/tcp/${API%:*}/${API#*:}") 2>/dev/null && break; sleep 0.1; done
curl -sf -X POST "http://$API/proxies" \
  -d "{\"name\":\"tansu-111\",\"listen\":\"$PROXY\",\"upstream\":\"127.0.0.1:$TANSU_PORT\",\"enabled\":true}" >/dev/null
bash ci/tansu.sh start
"$CONFORMANCE" certify --target "${TARGET:-fixtures/targets/tansu.yaml}" "$@"
