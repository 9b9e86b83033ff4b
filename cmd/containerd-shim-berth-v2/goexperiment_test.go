package main

import (
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// The shim is built with the GOEXPERIMENT named in the GOEXPERIMENT file of
// this directory (the previous GC, whose span metadata costs ~60-90 kB less
// per shim than Green Tea's: docs/shim.md "Memory"), and only the shim. The
// file is the one source of truth: the Makefile's build target, the shim
// tests' harness and the engine tests read it. This test fails when a
// build path of the shim forgets it.
func TestEveryShimBuildUsesGoExperiment(t *testing.T) {
	b, err := os.ReadFile("GOEXPERIMENT")
	if err != nil {
		t.Fatal(err)
	}
	exp := strings.TrimSpace(string(b))
	if exp == "" || strings.ContainsAny(exp, " \t\n") {
		t.Fatalf("GOEXPERIMENT file: %q is not one experiment list", b)
	}
	root := filepath.Join("..", "..")

	// make build: the shim's line sets it, no other line does.
	if _, err := exec.LookPath("make"); err == nil {
		out, err := exec.Command("make", "-n", "-s", "-C", root, "build", "BUILD=/nonexistent").CombinedOutput()
		if err != nil {
			t.Fatalf("make -n build: %v\n%s", err, out)
		}
		shimLines := 0
		for _, line := range strings.Split(string(out), "\n") {
			if !strings.Contains(line, " build ") {
				continue
			}
			builds := strings.Contains(line, "cmd/containerd-shim-berth-v2")
			sets := strings.Contains(line, "GOEXPERIMENT="+exp+" ")
			switch {
			case builds && !sets:
				t.Errorf("make build builds the shim without GOEXPERIMENT=%s: %s", exp, line)
			case !builds && strings.Contains(line, "GOEXPERIMENT"):
				t.Errorf("make build sets a GOEXPERIMENT for more than the shim: %s", line)
			}
			if builds {
				shimLines++
			}
		}
		if shimLines != 1 {
			t.Errorf("make build builds the shim in %d commands, want 1:\n%s", shimLines, out)
		}
	}

	// Go code that runs go build on the shim reads the file.
	goBuild := regexp.MustCompile(`"go",\s*"build"|go build`)
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			switch d.Name() {
			case ".git", ".build", "vendor", "testdata":
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") {
			return nil
		}
		src, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		s := string(src)
		if goBuild.MatchString(s) && strings.Contains(s, "cmd/containerd-shim-berth-v2") &&
			!strings.Contains(s, "cmd/containerd-shim-berth-v2/GOEXPERIMENT") {
			t.Errorf("%s builds the shim without reading cmd/containerd-shim-berth-v2/GOEXPERIMENT", path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
