package main

import (
	"os"
	"path/filepath"
	"testing"
)

// TestUnsyncedMarker: the cache's databases, written without syncs, are
// dropped only when a previous run was still marked running in another
// boot (the machine stopped under it); a run that was killed in this boot
// and a clean stop keep them.
func TestUnsyncedMarker(t *testing.T) {
	o := options{root: t.TempDir(), snapshotter: "berth"}
	dbs := cacheDBPaths(o)
	write := func() {
		t.Helper()
		for _, p := range dbs {
			if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, []byte("db"), 0o600); err != nil {
				t.Fatal(err)
			}
		}
	}
	present := func() int {
		n := 0
		for _, p := range dbs {
			if _, err := os.Stat(p); err == nil {
				n++
			}
		}
		return n
	}
	marker := filepath.Join(o.root, runningMarker)

	write()
	if err := startUnsynced(o); err != nil {
		t.Fatal(err)
	}
	if present() != len(dbs) {
		t.Fatal("a first start removed the databases")
	}
	// Killed in this boot: the marker stays, the page cache had it all.
	if err := startUnsynced(o); err != nil {
		t.Fatal(err)
	}
	if present() != len(dbs) {
		t.Fatal("a start after a kill in the same boot removed the databases")
	}
	stopUnsynced(o)
	if _, err := os.Stat(marker); !os.IsNotExist(err) {
		t.Fatalf("a clean stop left the marker: %v", err)
	}
	// Marked running in another boot: the machine stopped under it.
	if err := os.WriteFile(marker, []byte("00000000-0000-0000-0000-000000000000\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := startUnsynced(o); err != nil {
		t.Fatal(err)
	}
	if n := present(); n != 0 {
		t.Fatalf("%d databases left after the machine stopped under a run", n)
	}
	boot, _ := bootID()
	if b, _ := os.ReadFile(marker); string(b) != boot+"\n" {
		t.Errorf("marker %q, want this boot %q", b, boot)
	}
}
