// Command berthd is berth's daemon: it runs containerd (and berth's
// snapshotter) under supervision, and serves berth's gRPC API on a unix
// socket. See docs/operations.md.
package main

import (
	"fmt"
	"os"
)

// version is set at build time (-ldflags "-X main.version=...").
var version = "dev"

func main() {
	if err := newApp().Run(os.Args); err != nil {
		fmt.Fprintln(os.Stderr, "berthd:", err)
		os.Exit(1)
	}
}
