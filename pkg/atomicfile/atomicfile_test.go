package atomicfile

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestWriteReplaces(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "sub", "f.json")
	if err := Write(path, nil, 0o600); err == nil {
		t.Fatal("Write into a missing directory succeeded")
	}
	if err := os.Mkdir(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	for _, content := range []string{"first", "second, longer than the first"} {
		if err := Write(path, []byte(content), 0o640); err != nil {
			t.Fatal(err)
		}
		if b, err := os.ReadFile(path); err != nil || string(b) != content {
			t.Fatalf("after Write: %q, %v; want %q", b, err, content)
		}
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o640 {
		t.Errorf("mode: %v, %v", fi.Mode(), err)
	}
	if err := WriteUnsynced(path, []byte("third"), 0o600); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(path); string(b) != "third" {
		t.Errorf("after WriteUnsynced: %q", b)
	}
	leftovers(t, filepath.Dir(path), "f.json")
}

// TestAbortKeepsOld: an aborted or failed replacement leaves the old
// content and no temp file.
func TestAbortKeepsOld(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "f")
	if err := Write(path, []byte("old"), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := Create(path, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.ReadFrom(strings.NewReader("half")); err != nil {
		t.Fatal(err)
	}
	f.Abort()
	f.Abort() // idempotent
	if err := f.Commit(); err == nil {
		t.Error("Commit after Abort succeeded")
	}
	if b, _ := os.ReadFile(path); string(b) != "old" {
		t.Errorf("after Abort: %q, want the old content", b)
	}
	leftovers(t, dir, "f")

	// A target that cannot be replaced (a directory) fails the commit.
	sub := filepath.Join(dir, "d")
	if err := os.MkdirAll(filepath.Join(sub, "x"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := Write(sub, []byte("x"), 0o600); err == nil {
		t.Error("Write over a non-empty directory succeeded")
	}
	leftovers(t, dir, "d", "f")
	if err := Write(filepath.Join(path, "under-a-file"), nil, 0o600); err == nil {
		t.Error("Write under a regular file succeeded")
	}
}

func leftovers(t *testing.T, dir string, want ...string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if strings.Join(names, " ") != strings.Join(want, " ") {
		t.Errorf("%s holds %v, want %v (a temp file left?)", dir, names, want)
	}
}

// TestIsTemp: the temp file of an uncommitted replacement is recognised by
// its name, and the files it replaces are not.
func TestIsTemp(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "abc.json")
	f, err := Create(target, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Abort()
	ents, err := os.ReadDir(dir)
	if err != nil || len(ents) != 1 {
		t.Fatalf("dir after Create: %v %v", ents, err)
	}
	if name := ents[0].Name(); !IsTemp(name, ".json") || !IsTemp(name, "") {
		t.Errorf("IsTemp(%q) = false, want true", name)
	}
	for _, name := range []string{"abc.json", ".abc.json", "abc.json.tmp1", ".tmp1"} {
		if IsTemp(name, ".json") {
			t.Errorf("IsTemp(%q) = true, want false", name)
		}
	}
}
