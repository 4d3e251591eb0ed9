#!/bin/sh
# Lines per end-to-end test: from a `#[test]` function's `fn` line to its closing brace, for
# every test in tests/e2e. Prints the count, the median, how many are over 100 lines and the
# ten longest, so issue 28's "median under 30" is measured the same way every time.
# Usage: scripts/test-lengths.sh [--max-median N] [DIR]   (default tests/e2e)
# With --max-median it exits 1 when the median is N lines or more (tests/test_lengths.rs
# runs it so, and so CI fails when the tests grow their setup back).
set -eu
max_median=
if [ "${1:-}" = "--max-median" ]; then
    max_median=${2:?--max-median needs a number}
    shift 2
fi
dir=${1:-tests/e2e}
awk '
    FNR == 1 { pending = 0; infn = 0 }
    /^[[:space:]]*#\[test\]/ { pending = 1; next }
    pending && /^[[:space:]]*(pub(\([a-z]+\))? )?(async )?fn / {
        pending = 0; infn = 1; start = FNR; name = FILENAME ":" $0
        indent = match($0, /[^ ]/) - 1
        next
    }
    infn {
        # The body ends at the first closing brace at the fn line'"'"'s own indent.
        if (match($0, /^ *\}/) && RLENGTH - 1 == indent) {
            n = FNR - start + 1
            sub(/\(.*/, "", name); sub(/[[:space:]]*(pub(\([a-z]+\))? )?fn /, " ", name)
            print n "\t" name
            infn = 0
        }
    }
' "$dir"/*.rs | sort -n > "${TMPDIR:-/tmp}/test-lengths.$$"
count=$(wc -l < "${TMPDIR:-/tmp}/test-lengths.$$")
median=$(awk -v c="$count" '{ a[NR] = $1 } END {
    if (c == 0) { print 0; exit }
    if (c % 2) print a[(c + 1) / 2]; else print (a[c / 2] + a[c / 2 + 1]) / 2 }' "${TMPDIR:-/tmp}/test-lengths.$$")
over=$(awk '$1 > 100' "${TMPDIR:-/tmp}/test-lengths.$$" | wc -l)
echo "tests: $count  median: $median lines  over 100 lines: $over"
echo "longest:"
tail -n 10 "${TMPDIR:-/tmp}/test-lengths.$$" | sort -rn | sed 's/^/  /'
rm -f "${TMPDIR:-/tmp}/test-lengths.$$"
if [ -n "$max_median" ] && awk -v m="$median" -v n="$max_median" 'BEGIN { exit !(m >= n) }'; then
    echo "the median end-to-end test is $median lines, not under $max_median: give the repeated setup a helper in tests/common (see tests/common/mod.rs)" >&2
    exit 1
fi
