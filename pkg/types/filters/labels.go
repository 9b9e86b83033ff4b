// Package filters holds the filter matching every side shares.
package filters

import "strings"

// Labels reports whether labels pass Docker's label filters: every
// label=KEY[=VALUE] in want holds and no label!=KEY[=VALUE] in not does (a
// bare KEY matches any value of KEY).
func Labels(labels map[string]string, want, not []string) bool {
	has := func(sel string) bool {
		k, v, hasValue := strings.Cut(sel, "=")
		got, ok := labels[k]
		return ok && (!hasValue || got == v)
	}
	for _, sel := range want {
		if !has(sel) {
			return false
		}
	}
	for _, sel := range not {
		if has(sel) {
			return false
		}
	}
	return true
}
