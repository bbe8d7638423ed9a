#!/usr/bin/env bash
# The mutation yardstick: how many small, realistic bugs in the reference broker's
# guarantee-critical code the feature scenarios catch. cargo-mutants (installed if missing)
# changes one thing at a time (an operator, a comparison, a returned value, a deleted call) in
# the log, replication, producer state, the group coordinator, the controller's elections and
# the produce, fetch and list-offsets handlers; each mutant is built and the suite run against
# it with `cargo nextest run -p kafka-conformance --test features`. A mutant is caught when some
# scenario fails, missed when every scenario passes (the reference's own unit tests are not run:
# the question is what the suite sees).
#
# A full run is about 2,000 mutants at minutes each, so the script takes a sample: every Nth
# mutant in cargo-mutants' fixed source order (round-robin shard K of N), which spreads over
# every file and replays exactly. Not part of .ci/run: run it in the background.
#
#   bash ci/mutants.sh                 # shard 0 of 70: about 30 mutants, about two hours on 2 cores
#   SAMPLE=140 SHARD=3 bash ci/mutants.sh
#   bash ci/mutants.sh --list          # the sample's mutants, without running them
#   ONLY='delete ! in Coordinator::tick' bash ci/mutants.sh   # named mutants, e.g. a sample's missed ones
#
# Results: $OUT (default target/mutants-sample)/mutants.out: caught.txt, missed.txt, timeout.txt,
# unviable.txt and a log per mutant; the script ends with the score.
#
# It mutates a git worktree of HEAD in $WORK (default target/mutants-work), never the checkout,
# and builds there with a target directory of its own, so builds are incremental from one
# mutant to the next. Environment: SAMPLE, SHARD, OUT, WORK, TEST_TIMEOUT (seconds per mutant's
# suite run, default 1200), BASELINE (`run`, the default: the unmutated suite must pass first;
# `skip` when it is known to pass at this commit, saving one suite run).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

SAMPLE=${SAMPLE:-70}
SHARD=${SHARD:-0}
OUT=${OUT:-$ROOT/target/mutants-sample}
WORK=${WORK:-$ROOT/target/mutants-work}
TEST_TIMEOUT=${TEST_TIMEOUT:-1200}
BASELINE=${BASELINE:-run}

if ! command -v cargo-mutants >/dev/null; then
  echo "ci/mutants.sh: installing cargo-mutants (about 2 minutes)" >&2
  cargo install cargo-mutants --version 27.1.0 --locked
fi

# The guarantee-critical code. Left out: the in-memory log (the storage suite's yardstick, not
# used by the broker), the storage suite itself, the CLI and the config parser.
FILES=(
  -f 'reference/src/log/batch.rs' -f 'reference/src/log/checkpoint.rs' -f 'reference/src/log/cleaner.rs'
  -f 'reference/src/log/disk.rs' -f 'reference/src/log/index.rs' -f 'reference/src/log/mod.rs'
  -f 'reference/src/log/retention.rs' -f 'reference/src/log/rewrite.rs' -f 'reference/src/log/segment.rs'
  -f 'reference/src/partition/*.rs' -f 'reference/src/coordinator.rs'
  -f 'reference/src/group/*.rs'
  -f 'reference/src/api/produce.rs' -f 'reference/src/api/fetch.rs' -f 'reference/src/api/list_offsets.rs'
  -f 'reference/src/controller.rs' -f 'reference/src/broker/*.rs'
)
if [ -n "${ONLY:-}" ]; then
  # Named mutants only (a regex over cargo-mutants' names, e.g. the ones a sample missed, to see
  # whether new scenarios catch them now): no sampling.
  SELECT=("${FILES[@]}" -p kafka-reference -F "$ONLY")
else
  SELECT=("${FILES[@]}" -p kafka-reference --shard "$SHARD/$SAMPLE" --sharding round-robin)
fi

if [ "${1:-}" = "--list" ]; then
  exec cargo mutants "${SELECT[@]}" --list
fi

rev=$(git rev-parse HEAD)
if [ -d "$WORK" ]; then
  git -C "$WORK" checkout -q --detach "$rev"
  git -C "$WORK" reset -q --hard
else
  git worktree add -q --detach "$WORK" "$rev"
fi
mkdir -p "$OUT"
which="shard $SHARD of $SAMPLE"
[ -z "${ONLY:-}" ] || which="matching $ONLY"
echo "ci/mutants.sh: $(cargo mutants "${SELECT[@]}" --list --dir "$WORK" | wc -l) mutants ($which) at $rev" >&2

cd "$WORK"
# The suite's scenarios are the test; nextest stops at the first failing scenario. The baseline
# (the unmutated tree) must pass, or every mutant would count as caught.
status=0
CARGO_TARGET_DIR=$WORK/target cargo mutants "${SELECT[@]}" --in-place --output "$OUT" \
  --test-tool nextest --test-package kafka-conformance --timeout "$TEST_TIMEOUT" --build-timeout 900 --baseline "$BASELINE" \
  -- --test features || status=$?
git reset -q --hard

m=$OUT/mutants.out
caught=$(wc -l < "$m/caught.txt" 2>/dev/null || echo 0)
missed=$(wc -l < "$m/missed.txt" 2>/dev/null || echo 0)
timeout=$(wc -l < "$m/timeout.txt" 2>/dev/null || echo 0)
unviable=$(wc -l < "$m/unviable.txt" 2>/dev/null || echo 0)
tested=$((caught + missed + timeout))
echo "ci/mutants.sh: caught $caught, missed $missed, timed out $timeout (counted caught), unviable $unviable (not counted)"
if [ "$tested" -gt 0 ]; then
  echo "ci/mutants.sh: score $(( 100 * (caught + timeout) / tested ))% of $tested viable mutants; the missed ones: $m/missed.txt"
fi
# cargo-mutants exits 2 when some mutant was missed, 3 on timeouts: findings, not errors.
case $status in 0|2|3) exit 0 ;; *) exit "$status" ;; esac
