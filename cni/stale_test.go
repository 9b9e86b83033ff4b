package cni

import (
	"os"
	"path/filepath"
	"testing"
)

// TestCutStateWriteRemoved: berthd killed while it wrote a sandbox's state
// leaves the write's temp file (TestLifecycleStress's kill -9 found one);
// the next start removes it and keeps the sandboxes' own files.
func TestCutStateWriteRemoved(t *testing.T) {
	e := newEnv(t)
	dir := e.cfg.sandboxesDir()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	tmp := filepath.Join(dir, ".0123abcd.json.tmp2694332155")
	if err := os.WriteFile(tmp, []byte(`{"ContainerID":`), 0o600); err != nil {
		t.Fatal(err)
	}
	e.m.Close()
	e.m = e.open()
	if _, err := os.Stat(tmp); !os.IsNotExist(err) {
		t.Fatalf("a cut-off state write is still there after a restart: %v", err)
	}
}
