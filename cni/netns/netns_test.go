package netns

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestNewDelete(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root")
	}
	dir := t.TempDir()
	p := filepath.Join(dir, "sub", "ns1")
	if err := New(p); err != nil {
		t.Fatal(err)
	}
	if !IsMounted(p) {
		t.Fatal("not an nsfs mount")
	}
	if err := New(p); err == nil {
		t.Fatal("second New on the same path succeeded")
	}
	// A distinct namespace: only lo, and not the host's.
	out, err := exec.Command("nsenter", "--net="+p, "ip", "-o", "link").Output()
	if err != nil || strings.Count(string(out), "\n") != 1 || !strings.Contains(string(out), "lo:") {
		t.Fatalf("links in new netns: %v %s", err, out)
	}
	names, _ := List(filepath.Join(dir, "sub"))
	if len(names) != 1 || names[0] != "ns1" {
		t.Fatalf("list %v", names)
	}
	for i := 0; i < 2; i++ {
		if err := Delete(p); err != nil {
			t.Fatalf("delete %d: %v", i, err)
		}
	}
	if _, err := os.Stat(p); !os.IsNotExist(err) {
		t.Fatalf("file left: %v", err)
	}
}
