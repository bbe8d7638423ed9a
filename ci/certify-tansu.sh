#!/usr/bin/env bash
# Certifies tansu 0.6.0 with process and network faults, as a new user would: installs tansu if
# it is missing, starts it with ci/tansu.sh, and runs `kafka-conformance certify` on
# fixtures/targets/tansu.yaml, a target file that names no proxy (the harness puts one, and a
# Kafka-aware gateway, in front of the broker itself). Arguments after the script's go to
# certify (--tags, --report, ...).
#
# The known gaps (fixtures/targets/tansu.expected-failures.yaml, each a finding of
# tansu.FINDINGS.md) are expected: the run exits 0 when tansu does exactly what it did when they
# were recorded, and 1 when a scenario fails that is not listed, or a listed one passes.
#
# Environment: CONFORMANCE (the kafka-conformance binary [target/release, else PATH]), TARGET
# (another target file), EXPECTED (another known-gaps file; empty for none), TANSU (the tansu
# binary; see ci/tansu.sh), TANSU_ROOT (where to install tansu when it is missing [~/.cargo]).
# Installing takes 13 to 20 minutes on 2 cores; certifying about 2 minutes.
set -euo pipefail
cd "$(dirname "$0")/.."

CONFORMANCE=${CONFORMANCE:-target/release/kafka-conformance}
[ -x "$CONFORMANCE" ] || CONFORMANCE=$(command -v kafka-conformance || true)
[ -x "$CONFORMANCE" ] || { echo "ci/certify-tansu.sh: build it first: cargo build --release -p kafka-conformance" >&2; exit 1; }

TANSU_ROOT=${TANSU_ROOT:-$HOME/.cargo}
export TANSU=${TANSU:-$(command -v tansu || echo "$TANSU_ROOT/bin/tansu")}
if [ ! -x "$TANSU" ]; then
  echo "ci/certify-tansu.sh: installing tansu 0.6.0 into $TANSU_ROOT (about 13 minutes on 2 cores)" >&2
  cargo install tansu --version 0.6.0 --locked --features dynostore --root "$TANSU_ROOT"
  TANSU=$TANSU_ROOT/bin/tansu
fi

trap 'bash ci/tansu.sh stop || true' EXIT
bash ci/tansu.sh start
TARGET=${TARGET:-fixtures/targets/tansu.yaml}
EXPECTED=${EXPECTED-fixtures/targets/tansu.expected-failures.yaml}
"$CONFORMANCE" check-target "$TARGET"
"$CONFORMANCE" certify --target "$TARGET" ${EXPECTED:+--expected-failures "$EXPECTED"} "$@"
