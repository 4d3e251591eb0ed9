#!/usr/bin/env bash
# The reviewer's reading list for `airlock-verify verify`: the trust core's files with
# their non-test line counts, the total, and the core's dependency count; the verifier's
# totals beside them for comparison. docs/architecture.md quotes this output.
#
#   bash scripts/core-size.sh
#
# Non-test lines: a file's lines before its `#[cfg(test)]` module (unit tests sit at the
# end of each file here); `testdata.rs`, compiled only for tests and fuzzing, counts 0.
set -euo pipefail
cd "$(dirname "$0")/.."

# Lines of $1 before the first top-level `#[cfg(test)]` (all of them if there is none).
non_test_lines() {
  case "$1" in */testdata.rs) echo 0; return ;; esac
  awk '/^#\[cfg\(test\)\]/ { exit } { n++ } END { print n + 0 }' "$1"
}

# Sum of non-test lines over the .rs files under $1; with $2 = list, print each file too.
count_tree() {
  local total=0 n f
  while IFS= read -r f; do
    n=$(non_test_lines "$f")
    total=$((total + n))
    [ "${2:-}" = list ] && printf '%6d  %s\n' "$n" "$f"
  done < <(find "$1" -name '*.rs' | LC_ALL=C sort)
  echo "$total"
}

# Packages a crate links for normal use (itself included), as the issue counts them.
dependency_count() {
  cargo tree --offline -p "$1" -e normal --prefix none | sed 's/ (\*)$//' | sort -u | wc -l
}

echo "Reading list: crates/airlock-core/src (non-test lines)"
core_out=$(count_tree crates/airlock-core/src list)
echo "$core_out" | sed '$d'
core_total=$(echo "$core_out" | tail -n 1)
core_files=$(find crates/airlock-core/src -name '*.rs' | wc -l)
sign_total=$(count_tree crates/airlock-core/src/sign)
manifest_total=$(count_tree crates/airlock-core/src/manifest)
manifest_files=$(find crates/airlock-core/src/manifest -name '*.rs' | wc -l)
verify_total=$(count_tree crates/airlock-verify/src)
echo
printf 'airlock-core:   %5d non-test lines in %d files (of them sign/: %d), %d packages linked\n' \
  "$core_total" "$core_files" "$sign_total" "$(dependency_count airlock-core)"
printf '  manifest/:    %5d non-test lines in %d files (one per section, each with its checker)\n' \
  "$manifest_total" "$manifest_files"
printf 'airlock-verify: %5d non-test lines outside the core, %d packages linked (core included)\n' \
  "$verify_total" "$(dependency_count airlock-verify)"
