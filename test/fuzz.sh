#!/bin/bash
# make fuzz: runs every fuzz test of the repository (func Fuzz* in a
# _test.go file) for FUZZTIME each, one after the other, and prints one line
# of figures per fuzz test. A crasher is written by Go into the package's
# testdata/fuzz/FuzzX/ directory: commit it, it is a regression seed that
# `make test` runs from then on. Exits non-zero if any fuzz test failed.
set -uo pipefail
GO=${GO:-go}
FUZZTIME=${FUZZTIME:-30s}
cd "$(dirname "$0")/.."
failed=0
total=0
printf '%-28s %-36s %12s %8s %s\n' package fuzz execs corpus result
for dir in $(grep -rl --include='*_test.go' '^func Fuzz' . | xargs -n1 dirname | sort -u); do
	for fz in $(grep -ho '^func Fuzz[A-Za-z0-9_]*' "$dir"/*_test.go | sed 's/^func //' | sort); do
		log=$(mktemp)
		if $GO test -run '^$' -fuzz "^${fz}\$" -fuzztime "$FUZZTIME" "$dir" >"$log" 2>&1; then
			result=ok
		else
			result=FAIL
			failed=$((failed + 1))
		fi
		last=$(grep '^fuzz: elapsed' "$log" | tail -n 1)
		execs=$(sed -n 's/.*execs: \([0-9]*\).*/\1/p' <<<"$last")
		corpus=$(sed -n 's/.*(total: \([0-9]*\)).*/\1/p' <<<"$last")
		total=$((total + ${execs:-0}))
		printf '%-28s %-36s %12s %8s %s\n' "${dir#./}" "$fz" "${execs:-?}" "${corpus:-?}" "$result"
		if [ "$result" = FAIL ]; then
			grep -v '^fuzz: elapsed' "$log" | tail -n 30
		fi
		rm -f "$log"
	done
done
echo "fuzz: $total executions, $failed failed, $FUZZTIME each ($(git rev-parse --short HEAD 2>/dev/null))"
[ "$failed" -eq 0 ]
