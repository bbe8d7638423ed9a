#!/usr/bin/env bash
# Process control for a tansu broker (https://github.com/tansu-io/tansu), as the `process`
# commands of fixtures/targets/tansu.yaml call it: each command returns once its work is done,
# and the broker never holds the caller's stdout or stderr (it runs in its own session, its
# output in a log file).
#
# usage: ci/tansu.sh start|stop|kill|pause|resume|status|log
#
# Environment (defaults in brackets):
#   TANSU            the tansu binary [tansu on PATH, else ~/.cargo/bin/tansu]
#   TANSU_PORT       where it listens [19092]
#   TANSU_ADVERTISE  the host:port it advertises [127.0.0.1:$TANSU_PORT] (the harness's
#                    gateway puts clients through its fault proxy whatever tansu advertises)
#   TANSU_DIR        its pid file and log [/tmp/kafka-conformance-tansu]
#
# Every command may be repeated: `start` on a running broker, `stop` or `kill` on a stopped one
# do nothing; `stop` also ends a paused broker.
#
# tansu's memory storage keeps nothing across a restart: scenarios that restart the broker then
# find its log empty, which the target file says.
set -euo pipefail

TANSU=${TANSU:-$(command -v tansu || echo "$HOME/.cargo/bin/tansu")}
PORT=${TANSU_PORT:-19092}
ADVERTISE=${TANSU_ADVERTISE:-127.0.0.1:$PORT}
DIR=${TANSU_DIR:-/tmp/kafka-conformance-tansu}
PID_FILE=$DIR/tansu.pid
LOG=$DIR/tansu.log
mkdir -p "$DIR"

pid() { [ -s "$PID_FILE" ] && cat "$PID_FILE"; }
# Running, and not a zombie waiting to be reaped (its exit is what `stop` and `kill` wait for).
alive() {
  local p; p=$(pid) && kill -0 "$p" 2>/dev/null || return 1
  [ "$(awk '{print $3}' "/proc/$p/stat" 2>/dev/null)" != Z ]
}
not_running() { echo "ci/tansu.sh: tansu is not running (pid file $PID_FILE)" >&2; exit 1; }
listening() { (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; }

wait_until() {
  local what=$1 check=$2
  for _ in $(seq 1 300); do
    if $check; then return 0; fi
    sleep 0.1
  done
  echo "ci/tansu.sh: tansu did not $what within 30 s (log: $LOG)" >&2
  tail -n 20 "$LOG" >&2 || true
  return 1
}

not_alive() { ! alive; }

case "${1:-}" in
  start)
    if alive; then exit 0; fi
    [ -x "$TANSU" ] || { echo "ci/tansu.sh: no tansu binary at $TANSU (cargo install tansu --version 0.6.0 --locked --features dynostore)" >&2; exit 1; }
    setsid "$TANSU" broker \
      --listener-url "tcp://127.0.0.1:$PORT" \
      --advertised-listener-url "tcp://$ADVERTISE" \
      --storage-engine memory://tansu/ \
      </dev/null >>"$LOG" 2>&1 &
    echo $! >"$PID_FILE"
    wait_until "accept connections on 127.0.0.1:$PORT" listening
    ;;
  stop)
    # A paused broker cannot act on SIGTERM until it is continued.
    if alive; then kill -TERM "$(pid)"; kill -CONT "$(pid)" 2>/dev/null || true; wait_until "stop after SIGTERM" not_alive; fi
    ;;
  kill)
    if alive; then kill -KILL "$(pid)"; wait_until "die after SIGKILL" not_alive; fi
    ;;
  pause)
    alive || not_running
    kill -STOP "$(pid)"
    ;;
  resume)
    alive || not_running
    kill -CONT "$(pid)"
    ;;
  log)
    tail -n 500 "$LOG" 2>/dev/null || true
    ;;
  status)
    if alive; then echo "running, pid $(pid), listening on 127.0.0.1:$PORT, advertising $ADVERTISE"; else echo "stopped"; exit 3; fi
    ;;
  *)
    sed -n '2,20p' "$0" >&2
    exit 2
    ;;
esac
