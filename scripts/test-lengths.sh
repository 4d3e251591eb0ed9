#!/bin/sh
# Lines per end-to-end test: from a `#[test]` function's `fn` line to its closing brace, for
# every test in tests/e2e. Prints the count, the median, how many are over 100 lines and the
# ten longest, so issue 28's "median under 30" is measured the same way every time.
# Usage: scripts/test-lengths.sh [DIR]   (default tests/e2e)
set -eu
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
