// Package pkg_test guards what pkg/ means: packages other programs may
// import. They sit below the engine and the binaries, never above them.
package pkg_test

import (
	"os/exec"
	"strings"
	"testing"
)

// No package under pkg/ imports engine/, cni/ or cmd/, directly or through
// another package (nor do their tests): an importer of pkg/client or
// pkg/types must not link the engine, and berthd's or the CLI's private
// wiring lives under cmd/*/internal, where Go keeps it private.
func TestPkgImportsNoEngineNorCmd(t *testing.T) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command")
	}
	const mod = "github.com/berthproject/berth/"
	forbidden := []string{mod + "engine", mod + "cni", mod + "cmd"}
	out, err := exec.Command(goBin, "list", "-f",
		`{{.ImportPath}} {{join .Deps " "}} {{join .TestImports " "}} {{join .XTestImports " "}}`, "./...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) < 10 {
		t.Fatalf("go list found only %d packages under pkg/", len(lines))
	}
	for _, line := range lines {
		fields := strings.Fields(line)
		for _, dep := range fields[1:] {
			for _, f := range forbidden {
				if dep == f || strings.HasPrefix(dep, f+"/") {
					t.Errorf("%s imports %s", fields[0], dep)
				}
			}
		}
	}
}
