// Package stats is empty: in the real module it has cgroup v1's statistics,
// which only hcsshim imports, on Windows (here for go mod tidy).
package stats
