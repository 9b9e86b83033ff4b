package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
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

// TestNoMethodLookupByName checks that no function that may look a method
// up by a name known only at run time (reflect.Value.MethodByName, as
// text/template's executor does) is reachable in berthd outside package
// reflect: the linker marks such functions <ReflectMethod>, and with one
// reachable it keeps every exported method of every type put in an
// interface, 4.6 MB of berthd's binary (docs/performance.md). berthd's
// service templates, command line, dashboard and user lookups each
// avoid the executor for this.
func TestNoMethodLookupByName(t *testing.T) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command")
	}
	dir := t.TempDir()
	// -gcflags for the main package only: the go command keeps the
	// linker's dump as the output of main's compile action and prints
	// it again at each later build of the same action (make build), so
	// this build's main compiles under a key of its own.
	cmd := exec.Command(goBin, "build", "-trimpath", "-tags", "urfave_cli_no_docs grpcnotrace",
		"-gcflags=.=-dwarf=false", "-ldflags=-dumpdep", "-o", filepath.Join(dir, "berthd"), ".")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	var dump bytes.Buffer
	cmd.Stderr = &dump
	if err := cmd.Run(); err != nil {
		t.Fatalf("go build: %v\n%.4000s", err, dump.String())
	}
	if !strings.Contains(dump.String(), "main.main") {
		t.Fatalf("no dependency dump from the linker:\n%.2000s", dump.String())
	}
	var found []string
	for line := range strings.Lines(dump.String()) {
		if strings.Contains(line, "<ReflectMethod>") && !strings.HasPrefix(line, "reflect.") && !strings.HasPrefix(line, "type:reflect.") {
			found = append(found, strings.TrimSpace(line))
		}
	}
	if len(found) > 0 {
		t.Errorf("%d edges reach functions that look methods up by name (go build -ldflags=-dumpdep 2>dump: follow the edges back to main.main), e.g.:\n%s",
			len(found), strings.Join(found[:min(len(found), 10)], "\n"))
	}
}
