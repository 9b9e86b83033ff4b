package harness

import (
	"os/exec"
	"strings"
	"testing"
)

// LinkedPackages returns what the Go package in the test's directory links,
// itself and every dependency, as `go list -deps .` prints them: for tests
// that keep a binary off heavy packages. Without a go command the test is
// skipped.
func LinkedPackages(t testing.TB) []string {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command")
	}
	out, err := exec.Command(goBin, "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	return strings.Fields(string(out))
}
