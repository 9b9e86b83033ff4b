package engine

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A program's version is run for once, and again when its file changes
// (an upgraded runc).
func TestBinVersion(t *testing.T) {
	dir := t.TempDir()
	bin, runs := filepath.Join(dir, "runc"), filepath.Join(dir, "runs")
	write := func(v string) {
		script := "#!/bin/sh\necho x >> " + runs + "\necho 'runc version " + v + "'\necho 'spec: 1.2.1'\n"
		if err := os.WriteFile(bin, []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	count := func() int {
		b, _ := os.ReadFile(runs)
		return strings.Count(string(b), "x")
	}
	parse := func(out []byte) string {
		first, _, _ := strings.Cut(string(out), "\n")
		return strings.TrimPrefix(first, "runc version ")
	}
	var v binVersion
	ctx := context.Background()
	write("1.3.0")
	for i := 0; i < 3; i++ {
		if got := v.get(ctx, bin, parse); got != "1.3.0" {
			t.Fatalf("version %q, want 1.3.0", got)
		}
	}
	if n := count(); n != 1 {
		t.Errorf("runc ran %d times for 3 requests, want once", n)
	}
	write("1.10.0") // another size: another file
	if got := v.get(ctx, bin, parse); got != "1.10.0" {
		t.Errorf("after the upgrade: version %q, want 1.10.0", got)
	}
	if got := v.get(ctx, filepath.Join(dir, "missing"), parse); got != "" {
		t.Errorf("missing program: version %q, want none", got)
	}
}
