#!/usr/bin/env bash
# The long fuzzing campaign (not run in CI): each target under AFL++ until it has run SECS
# seconds in all, JOBS targets at a time, at low priority, then a summary of executions
# and findings.
#
#   bash fuzz/campaign.sh                      # every target, an hour each, one at a time
#   JOBS=2 bash fuzz/campaign.sh payload minisign
#   SECS=600 OUT=/var/tmp/fuzz bash fuzz/campaign.sh
#
# Needs cargo-afl (`cargo install cargo-afl --locked`). The script can be stopped and run
# again: a target resumes from its own queue (AFL_AUTORESUME) for the seconds it still
# lacks (AFL++ keeps run_time across resumes), and a target with SECS seconds is skipped.
set -uo pipefail
cd "$(dirname "$0")"
SECS=${SECS:-3600}
JOBS=${JOBS:-1}
OUT=${OUT:-$PWD/campaign}
export AFL_SKIP_CPUFREQ=1 AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1 AFL_NO_UI=1 AFL_NO_AFFINITY=1
export AFL_AUTORESUME=1
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$PWD/target}
export SECS OUT
cargo afl build --release --features afl || exit 1
[ -d "$OUT/in" ] || cargo run -q --bin write_seeds -- "$OUT/in" || exit 1

# Seconds a target has run so far (0 when it never ran).
ran() { awk '/^run_time/ {print $3; f=1} END {if (!f) print 0}' "$OUT/$1/default/fuzzer_stats" 2>/dev/null || echo 0; }

one() {
  local t=$1 done
  done=$(ran "$t")
  [ "$done" -ge "$SECS" ] && return 0
  echo "$(date -u +%FT%TZ) start $t at ${done}s" >>"$OUT/log"
  nice -n 19 cargo afl fuzz -V "$((SECS - done))" -t 5000 -m none -i "$OUT/in/$t" -o "$OUT/$t" \
    "$CARGO_TARGET_DIR/release/$t" >>"$OUT/$t.stdout" 2>&1
  echo "$(date -u +%FT%TZ) end $t rc=$? at $(ran "$t")s" >>"$OUT/log"
}
export -f ran one

targets=("$@")
[ ${#targets[@]} -gt 0 ] || mapfile -t targets < <(ls "$OUT/in")
printf '%s\n' "${targets[@]}" | xargs -P "$JOBS" -I{} bash -c 'one "$1"' _ {}

printf '%-16s %9s %12s %8s %6s\n' target seconds executions crashes hangs
for d in "$OUT"/*/default; do
  [ -f "$d/fuzzer_stats" ] || continue
  t=$(basename "$(dirname "$d")")
  awk -v t="$t" '/^run_time/ {r=$3} /^execs_done/ {e=$3} /^saved_crashes/ {c=$3} /^saved_hangs/ {h=$3}
    END {printf "%-16s %9s %12s %8s %6s\n", t, r, e, c, h}' "$d/fuzzer_stats"
done
