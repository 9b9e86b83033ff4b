package docker

import (
	"strconv"
	"strings"
)

// API versions served by berth's Docker API.
const (
	// APIVersion is the version advertised (Api-Version), and the one an
	// unversioned path means.
	APIVersion = "1.50"
	// MinAPIVersion is the oldest version served, as dockerd's default.
	MinAPIVersion = "1.24"
)

// CompareVersions compares two dotted API versions ("1.44"): -1 if a < b,
// 0 if equal, 1 if a > b. A missing or non-numeric part counts as 0.
func CompareVersions(a, b string) int {
	as, bs := strings.Split(a, "."), strings.Split(b, ".")
	for i := 0; i < max(len(as), len(bs)); i++ {
		var x, y int
		if i < len(as) {
			x, _ = strconv.Atoi(as[i])
		}
		if i < len(bs) {
			y, _ = strconv.Atoi(bs[i])
		}
		switch {
		case x < y:
			return -1
		case x > y:
			return 1
		}
	}
	return 0
}

// versionLess reports whether v is older than than.
func versionLess(v, than string) bool { return CompareVersions(v, than) < 0 }
