#!/usr/bin/env bash
# Installs what the build and the tests need on a fresh Debian/Ubuntu machine:
# - a C toolchain, make, zlib and pkg-config: rdkafka-sys builds librdkafka from source;
# - kcat, confluent-kafka, kafka-python, aiokafka, toxiproxy-python and KafkaJS (with Node and
#   npm): the interop tests use clients nobody here wrote;
# - libssl-dev: the toxiproxy_rust test client (reqwest 0.11 with native-tls) links OpenSSL;
# - cargo-nextest: the test runner.
# Idempotent: installs only what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"

if command -v apt-get >/dev/null 2>&1; then
  missing=""
  for pkg in build-essential zlib1g-dev pkg-config libssl-dev kcat python3 python3-pip; do
    dpkg -s "$pkg" >/dev/null 2>&1 || missing="$missing $pkg"
  done
  # python3 from another installer (pyenv, ...) is fine: only install Debian's if there is none.
  if command -v python3 >/dev/null 2>&1; then
    missing=$(echo "$missing" | sed 's/ python3-pip//; s/ python3//')
  fi
  # Node from another installer (nvm, ...) is fine too.
  if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    missing="$missing nodejs npm"
  fi
  if [ -n "${missing// /}" ]; then
    echo "ci/setup.sh: installing$missing"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq $missing >/dev/null
  fi
else
  echo "ci/setup.sh: no apt-get; install a C toolchain, zlib, kcat, python3 and node yourself" >&2
fi

if ! python3 -c 'import confluent_kafka, kafka, aiokafka, toxiproxy' 2>/dev/null; then
  echo "ci/setup.sh: installing the Python clients (ci/requirements.txt)"
  python3 -m pip install -q -r ci/requirements.txt 2>/dev/null \
    || python3 -m pip install -q --break-system-packages -r ci/requirements.txt
fi

# npm ls fails when ci/node_modules lacks a package of ci/package-lock.json at its version.
if command -v npm >/dev/null 2>&1 && ! npm ls --prefix ci >/dev/null 2>&1; then
  echo "ci/setup.sh: installing the Node clients (ci/package-lock.json)"
  npm ci --prefix ci --no-audit --no-fund >/dev/null
fi

command -v cargo-nextest >/dev/null 2>&1 || cargo install cargo-nextest --locked
