package main

import (
	"strings"
	"testing"

	"github.com/berthproject/berth/test/harness"
)

// berthd links no BuildKit: it runs berth-buildkitd on demand and splices
// or forwards to it (docs/build.md), so its idle memory does not grow by
// BuildKit's ~16 MB of code. The one exception is BuildKit's Dockerfile
// parser, which `commit --change` (and the Docker API's POST /commit) needs
// in the daemon, as dockerd has it: about 130 KB of code (measured with go
// tool nm, 2026-12-07), no solver, no LLB, no gRPC services.
func TestBerthdDoesNotLinkBuildKit(t *testing.T) {
	for _, pkg := range harness.LinkedPackages(t) {
		if dockerfileParser(pkg) {
			continue
		}
		if strings.HasPrefix(pkg, "github.com/moby/buildkit") || strings.HasPrefix(pkg, "github.com/tonistiigi/fsutil") {
			t.Errorf("berthd links %s", pkg)
		}
	}
}

// dockerfileParser: pkg is BuildKit's Dockerfile parser or one of the small
// packages it needs.
func dockerfileParser(pkg string) bool {
	switch strings.TrimPrefix(pkg, "github.com/moby/buildkit/") {
	case "frontend/dockerfile/parser", "frontend/dockerfile/instructions", "frontend/dockerfile/shell",
		"frontend/dockerfile/command", "frontend/dockerfile/linter", "util/suggest", "util/stack":
		return true
	}
	return false
}

// berthd's command line is its own (internal/cmdline): urfave/cli's help
// printer runs text/template, whose executor keeps every exported method
// of every type in the binary (docs/performance.md).
func TestBerthdDoesNotLinkURFaveCLI(t *testing.T) {
	for _, pkg := range harness.LinkedPackages(t) {
		if strings.HasPrefix(pkg, "github.com/urfave/cli") {
			t.Errorf("berthd links %s", pkg)
		}
	}
}
