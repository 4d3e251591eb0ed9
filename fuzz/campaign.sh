#!/usr/bin/env bash
# The long fuzzing campaign (not run in CI): each target under AFL++ for SECS seconds, one
# after another, at low priority, then a summary of executions and findings.
#
#   bash fuzz/campaign.sh                      # every target, an hour each
#   SECS=600 OUT=/var/tmp/fuzz bash fuzz/campaign.sh payload minisign
#
# Needs cargo-afl (`cargo install cargo-afl --locked`). A target whose output directory
# already holds an hour's run is skipped, so the script can be restarted.
set -uo pipefail
cd "$(dirname "$0")"
SECS=${SECS:-3600}
OUT=${OUT:-$PWD/campaign}
export AFL_SKIP_CPUFREQ=1 AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1 AFL_NO_UI=1 AFL_NO_AFFINITY=1
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$PWD/target}
cargo afl build --release --features afl
[ -d "$OUT/in" ] || cargo run -q --bin write_seeds -- "$OUT/in"
targets=("$@")
[ ${#targets[@]} -gt 0 ] || mapfile -t targets < <(ls "$OUT/in")
for t in "${targets[@]}"; do
  stats=$OUT/$t/default/fuzzer_stats
  if [ -f "$stats" ] && awk -v s="$SECS" '/^run_time/ {exit !($3 >= s)}' "$stats"; then continue; fi
  echo "$(date -u +%FT%TZ) start $t" >>"$OUT/log"
  nice -n 19 cargo afl fuzz -V "$SECS" -t 5000 -m none -i "$OUT/in/$t" -o "$OUT/$t" \
    "$CARGO_TARGET_DIR/release/$t" >"$OUT/$t.stdout" 2>&1
  echo "$(date -u +%FT%TZ) end $t rc=$?" >>"$OUT/log"
done
printf '%-16s %9s %12s %8s %6s\n' target seconds executions crashes hangs
for d in "$OUT"/*/default; do
  [ -f "$d/fuzzer_stats" ] || continue
  t=$(basename "$(dirname "$d")")
  awk -v t="$t" '/^run_time/ {r=$3} /^execs_done/ {e=$3} /^saved_crashes/ {c=$3} /^saved_hangs/ {h=$3}
    END {printf "%-16s %9s %12s %8s %6s\n", t, r, e, c, h}' "$d/fuzzer_stats"
done
