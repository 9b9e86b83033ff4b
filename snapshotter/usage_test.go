//go:build linux

package snapshotter

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// duBytes is `du -s --block-size=1 dir`: allocated blocks, each inode
// once, directories included.
func duBytes(t *testing.T, dir string) int64 {
	t.Helper()
	out, err := exec.Command("du", "-s", "--block-size=1", dir).Output()
	if err != nil {
		t.Fatal(err)
	}
	n, err := strconv.ParseInt(strings.Fields(string(out))[0], 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// duInodes is `du -s --inodes dir`.
func duInodes(t *testing.T, dir string) int64 {
	t.Helper()
	out, err := exec.Command("du", "-s", "--inodes", dir).Output()
	if err != nil {
		t.Fatal(err)
	}
	n, err := strconv.ParseInt(strings.Fields(string(out))[0], 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestUsageMatchesDu writes files into a mounted active snapshot (a copy-up
// of a lower file, a sparse file, a hard link, small files) and compares
// Usage with du of the snapshot's own layer, before and after commit.
func TestUsageMatchesDu(t *testing.T) {
	needRoot(t)
	ctx := testContext(t)
	dir := shortTempDir(t)
	sn := newTestSnapshotter(t, filepath.Join(dir, "root"))

	var baseUpper string
	commitLayer(t, ctx, sn, "base", "", func(upper string) {
		baseUpper = upper
		writeFile(t, filepath.Join(upper, "big"), strings.Repeat("x", 100_000))
	})
	mounts, err := sn.Prepare(ctx, "active", "base")
	if err != nil {
		t.Fatal(err)
	}
	target := mountTemp(t, mounts, dir)
	writeFile(t, filepath.Join(target, "small"), "hello")
	writeFile(t, filepath.Join(target, "d/e/f"), strings.Repeat("y", 10_000))
	if err := os.Link(filepath.Join(target, "d/e/f"), filepath.Join(target, "hardlink")); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(filepath.Join(target, "sparse"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte("end"), 50<<20); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	// Copy-up: appending to a lower file copies all of it into this layer.
	af, err := os.OpenFile(filepath.Join(target, "big"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := af.WriteString("more"); err != nil {
		t.Fatal(err)
	}
	if err := af.Close(); err != nil {
		t.Fatal(err)
	}
	if err := Unmount(target); err != nil {
		t.Fatal(err)
	}

	upper := upperDir(t, mounts)
	u, err := sn.Usage(ctx, "active")
	if err != nil {
		t.Fatal(err)
	}
	if want := duBytes(t, upper); u.Size != want {
		t.Fatalf("active usage %d bytes, du -s --block-size=1 says %d", u.Size, want)
	}
	if want := duInodes(t, upper); u.Inodes != want {
		t.Fatalf("active usage %d inodes, du --inodes says %d", u.Inodes, want)
	}
	// The sparse 50 MiB file counts by its blocks, as du does, not its length.
	if u.Size > 10<<20 {
		t.Fatalf("usage %d counts the sparse file's length", u.Size)
	}

	if err := sn.Commit(ctx, "layer", "active"); err != nil {
		t.Fatal(err)
	}
	c, err := sn.Usage(ctx, "layer")
	if err != nil {
		t.Fatal(err)
	}
	if c != u {
		t.Fatalf("committed usage %+v, active was %+v", c, u)
	}
	// A committed layer's usage is the figure stored at commit: it is not
	// walked again (a file slipped into the directory behind the
	// snapshotter's back does not show).
	writeFile(t, filepath.Join(upper, "behind-the-back"), strings.Repeat("z", 100_000))
	again, err := sn.Usage(ctx, "layer")
	if err != nil {
		t.Fatal(err)
	}
	if again != c {
		t.Fatalf("committed usage changed from %+v to %+v: it was recomputed", c, again)
	}
	// The base layer's usage is its own layer only.
	b, err := sn.Usage(ctx, "base")
	if err != nil {
		t.Fatal(err)
	}
	if want := duBytes(t, baseUpper); b.Size != want {
		t.Fatalf("base usage %d, du says %d", b.Size, want)
	}
}
