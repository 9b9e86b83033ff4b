// Command berthd is berth's daemon: it runs containerd (and berth's
// snapshotter) under supervision, and serves berth's gRPC API on a unix
// socket. See docs/operations.md.
package main

import (
	"fmt"
	"os"
	"runtime/debug"
)

// version and commit are set at build time (-ldflags "-X main.version=...").
var version, commit = "dev", ""

// gitCommit is the commit berthd was built from: set by the linker, or
// recorded by the go tool.
func gitCommit() string {
	if commit != "" {
		return commit
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" {
				return s.Value
			}
		}
	}
	return ""
}

func main() {
	if err := runMain(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "berthd:", err)
		os.Exit(1)
	}
}
