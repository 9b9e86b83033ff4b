package fsarchive

import (
	"archive/tar"
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/containerd/errdefs"
)

func write(t *testing.T, p, content string, mode os.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, mode); err != nil {
		t.Fatal(err)
	}
}

func openRoot(t *testing.T, dir string) *os.Root {
	t.Helper()
	r, err := os.OpenRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

func TestRoundTrip(t *testing.T) {
	src := t.TempDir()
	write(t, filepath.Join(src, "top", "a.txt"), "a\n", 0o640)
	write(t, filepath.Join(src, "top", "sub", "b.sh"), "#!/bin/sh\n", 0o755)
	if err := os.Symlink("sub/b.sh", filepath.Join(src, "top", "link")); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(filepath.Join(src, "top", "a.txt"), filepath.Join(src, "top", "hard")); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := Tar(&buf, openRoot(t, src), "top", "renamed"); err != nil {
		t.Fatal(err)
	}
	dst := t.TempDir()
	if err := Untar(&buf, openRoot(t, dst), UntarOptions{}); err != nil {
		t.Fatal(err)
	}
	for p, want := range map[string]string{"renamed/a.txt": "a\n", "renamed/sub/b.sh": "#!/bin/sh\n", "renamed/hard": "a\n"} {
		b, err := os.ReadFile(filepath.Join(dst, p))
		if err != nil || string(b) != want {
			t.Errorf("%s: %q %v", p, b, err)
		}
	}
	if fi, err := os.Stat(filepath.Join(dst, "renamed", "sub", "b.sh")); err != nil || fi.Mode().Perm() != 0o755 {
		t.Errorf("mode of b.sh: %v %v", fi.Mode(), err)
	}
	if fi, err := os.Stat(filepath.Join(dst, "renamed", "a.txt")); err != nil || fi.Mode().Perm() != 0o640 {
		t.Errorf("mode of a.txt: %v %v", fi.Mode(), err)
	}
	if l, err := os.Readlink(filepath.Join(dst, "renamed", "link")); err != nil || l != "sub/b.sh" {
		t.Errorf("symlink: %q %v", l, err)
	}
}

// TestOpenInRootChroot: symlinks resolve inside the root, as the
// container sees them, never to the host's paths.
func TestOpenInRootChroot(t *testing.T) {
	root := t.TempDir()
	write(t, filepath.Join(root, "real", "f"), "inside\n", 0o644)
	if err := os.Symlink("/real", filepath.Join(root, "abs")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("../../../../../../../real", filepath.Join(root, "rel")); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"/abs", "/rel", "/../../abs", "abs"} {
		r, err := OpenRootIn(root, p)
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		b, err := r.ReadFile("f")
		r.Close()
		if err != nil || string(b) != "inside\n" {
			t.Errorf("%s/f: %q %v", p, b, err)
		}
	}
	// A link to a host path that does not exist inside the root is missing.
	host := t.TempDir()
	if err := os.Symlink(host, filepath.Join(root, "host")); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenRootIn(root, "/host"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("/host resolved outside the root: %v", err)
	}
	st, err := LstatInRoot(root, "/abs")
	if err != nil || st.LinkTarget != "/real" || st.Mode&os.ModeSymlink == 0 {
		t.Errorf("LstatInRoot: %+v %v", st, err)
	}
}

func tarOf(t *testing.T, hs ...tar.Header) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, h := range hs {
		if h.Typeflag == tar.TypeReg {
			h.Size = 4
		}
		h.Mode = 0o644
		if err := tw.WriteHeader(&h); err != nil {
			t.Fatal(err)
		}
		if h.Typeflag == tar.TypeReg {
			tw.Write([]byte("evil"))
		}
	}
	tw.Close()
	return buf.Bytes()
}

// TestUntarEscapes: no archive writes outside its target.
func TestUntarEscapes(t *testing.T) {
	outside := t.TempDir()
	write(t, filepath.Join(outside, "target"), "original", 0o644)
	cases := map[string][]byte{
		"dotdot":   tarOf(t, tar.Header{Name: "../../../../../../../.." + outside + "/x", Typeflag: tar.TypeReg}),
		"dotdot2":  tarOf(t, tar.Header{Name: "a/../../x", Typeflag: tar.TypeReg}),
		"absolute": tarOf(t, tar.Header{Name: outside + "/x", Typeflag: tar.TypeReg}),
		"symlink-dir": tarOf(t, tar.Header{Name: "l", Typeflag: tar.TypeSymlink, Linkname: outside},
			tar.Header{Name: "l/x", Typeflag: tar.TypeReg}),
		"symlink-rel": tarOf(t, tar.Header{Name: "l", Typeflag: tar.TypeSymlink, Linkname: "../../../../../../.." + outside},
			tar.Header{Name: "l/x", Typeflag: tar.TypeReg}),
		"symlink-file": tarOf(t, tar.Header{Name: "f", Typeflag: tar.TypeSymlink, Linkname: outside + "/target"},
			tar.Header{Name: "f", Typeflag: tar.TypeReg}),
		"hardlink-out": tarOf(t, tar.Header{Name: "h", Typeflag: tar.TypeLink, Linkname: "../" + outside + "/target"}),
		"hardlink-abs": tarOf(t, tar.Header{Name: "h", Typeflag: tar.TypeLink, Linkname: outside + "/target"}),
		"symlink-then-dir": tarOf(t, tar.Header{Name: "d", Typeflag: tar.TypeSymlink, Linkname: outside},
			tar.Header{Name: "d", Typeflag: tar.TypeDir}, tar.Header{Name: "d/x", Typeflag: tar.TypeReg}),
	}
	for name, archive := range cases {
		t.Run(name, func(t *testing.T) {
			dst := t.TempDir()
			_ = Untar(bytes.NewReader(archive), openRoot(t, dst), UntarOptions{})
			entries, _ := os.ReadDir(outside)
			if len(entries) != 1 {
				t.Errorf("wrote outside: %v", entries)
			}
			if b, _ := os.ReadFile(filepath.Join(outside, "target")); string(b) != "original" {
				t.Errorf("target changed: %q", b)
			}
		})
	}
	// Refused as the archive's fault (a 400 on the Docker API, not a 500).
	for _, name := range []string{"dotdot", "symlink-dir", "symlink-rel"} {
		if err := Untar(bytes.NewReader(cases[name]), openRoot(t, t.TempDir()), UntarOptions{}); !errdefs.IsInvalidArgument(err) {
			t.Errorf("%s: %v, want invalid argument", name, err)
		}
	}
}

func TestCopyRules(t *testing.T) {
	dir := &Stat{Mode: os.ModeDir | 0o755}
	file := &Stat{Mode: 0o644}
	for _, tc := range []struct {
		name             string
		srcDir, contents bool
		dst              string
		st               *Stat
		want             Plan
		wantErr          bool
	}{
		{"file into dir", false, false, "/d", dir, Plan{Dir: "/d"}, false},
		{"file over file", false, false, "/f", file, Plan{Dir: "/", Rename: "f"}, false},
		{"file to new", false, false, "/d/new", nil, Plan{Dir: "/d", Rename: "new"}, false},
		{"file to new dir/", false, false, "/d/new/", nil, Plan{}, true},
		{"file to file/", false, false, "/f/", file, Plan{}, true},
		{"dir into dir", true, false, "/d", dir, Plan{Dir: "/d"}, false},
		{"dir contents into dir", true, true, "/d", dir, Plan{Dir: "/d", Contents: true}, false},
		{"dir to new", true, false, "/d/new", nil, Plan{Dir: "/d", Rename: "new"}, false},
		{"dir over file", true, false, "/f", file, Plan{}, true},
	} {
		got, err := CopyRules(tc.srcDir, tc.contents, tc.dst, tc.st)
		if (err != nil) != tc.wantErr || (err == nil && got != tc.want) {
			t.Errorf("%s: %+v %v, want %+v (error %v)", tc.name, got, err, tc.want, tc.wantErr)
		}
	}
	p := Plan{Rename: "new"}
	if got := p.Renamer("src")("src/a/b"); got != "new/a/b" {
		t.Errorf("renamer: %q", got)
	}
	if got := p.Renamer("src")("other"); got != "" {
		t.Errorf("renamer of a foreign entry: %q", got)
	}
	if got := (Plan{Contents: true}).Renamer("src")("src"); got != "" {
		t.Errorf("contents renamer of the top: %q", got)
	}
}

// ReadDirInRoot lists one level, in name order, without following the
// entries' symlinks, and resolves a symlinked directory inside the root.
func TestReadDirInRoot(t *testing.T) {
	root := t.TempDir()
	for _, d := range []string{"etc/sub/deep", "data"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(root, "etc/hosts"), []byte("127.0.0.1 x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// "/" inside the root is the root: the link must not reach the host's /etc.
	if err := os.Symlink("/etc", filepath.Join(root, "data/etc")); err != nil {
		t.Fatal(err)
	}
	list, err := ReadDirInRoot(root, "/etc")
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[0].Name != "hosts" || list[0].Size != 12 || list[0].Mode.IsDir() || list[1].Name != "sub" || !list[1].Mode.IsDir() {
		t.Fatalf("ReadDirInRoot(/etc) = %+v, want hosts (12 bytes) then the directory sub, not deep", list)
	}
	list, err = ReadDirInRoot(root, "/data/etc")
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[0].Name != "hosts" {
		t.Fatalf("through a symlink to /etc: %+v, want the root's own etc", list)
	}
	list, err = ReadDirInRoot(root, "/data")
	if err != nil || len(list) != 1 || list[0].LinkTarget != "/etc" {
		t.Fatalf("ReadDirInRoot(/data) = %+v, %v: want the link itself", list, err)
	}
	if _, err := ReadDirInRoot(root, "/etc/hosts"); err == nil {
		t.Fatal("listing a file: no error")
	}
}

// TestUntarSync: extracting successive versions of a tree with Sync leaves
// a copy of the last one: changed files rewritten (even of the same size),
// unchanged ones left unwritten, files and directories it lacks removed.
func TestUntarSync(t *testing.T) {
	src, dst := t.TempDir(), t.TempDir()
	write(t, filepath.Join(src, "same.txt"), "same", 0o644)
	write(t, filepath.Join(src, "chg.txt"), "old1", 0o644)
	write(t, filepath.Join(src, "gone.txt"), "x", 0o644)
	write(t, filepath.Join(src, "dir", "gone", "f"), "y", 0o644)
	write(t, filepath.Join(src, "dir", "kept"), "z", 0o644)
	sync := func() {
		t.Helper()
		var buf bytes.Buffer
		if err := Tar(&buf, openRoot(t, src), ".", "."); err != nil {
			t.Fatal(err)
		}
		if err := Untar(&buf, openRoot(t, dst), UntarOptions{Sync: true}); err != nil {
			t.Fatal(err)
		}
	}
	sync()
	before, err := os.Stat(filepath.Join(dst, "same.txt"))
	if err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(src, "chg.txt"), "new2", 0o755)
	for _, p := range []string{"gone.txt", "dir/gone"} {
		if err := os.RemoveAll(filepath.Join(src, p)); err != nil {
			t.Fatal(err)
		}
	}
	write(t, filepath.Join(dst, "extra"), "not in the archive", 0o644)
	sync()
	if b, err := os.ReadFile(filepath.Join(dst, "chg.txt")); err != nil || string(b) != "new2" {
		t.Errorf("chg.txt: %q %v, want new2", b, err)
	}
	if fi, err := os.Stat(filepath.Join(dst, "chg.txt")); err != nil || fi.Mode().Perm() != 0o755 {
		t.Errorf("chg.txt's mode: %v %v, want 0755", fi, err)
	}
	for _, p := range []string{"gone.txt", "dir/gone", "extra"} {
		if _, err := os.Lstat(filepath.Join(dst, p)); !os.IsNotExist(err) {
			t.Errorf("%s: %v, want it removed", p, err)
		}
	}
	if _, err := os.Stat(filepath.Join(dst, "dir", "kept")); err != nil {
		t.Errorf("dir/kept: %v", err)
	}
	after, err := os.Stat(filepath.Join(dst, "same.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if before.Sys().(*syscall.Stat_t).Ino != after.Sys().(*syscall.Stat_t).Ino {
		t.Errorf("same.txt was rewritten, want it left as it was")
	}
}

// The archive of a container's path names its top entry as dockerd does
// (moby's TestCopyFromContainer), and a root's archive ("/", "/file")
// extracts like any other.
func TestArchiveTop(t *testing.T) {
	for p, want := range map[string]string{
		"/": "/", "//": "/", ".": ".", "/.": ".", "./": ".", "/./": ".", "/bar/quux/.": ".",
		"/bar/root": "root", "/bar/root/": "root", "bar/quux": "quux", "/etc/passwd": "passwd",
	} {
		if got := ArchiveTop(p); got != want {
			t.Errorf("ArchiveTop(%q) = %q, want %q", p, got, want)
		}
	}
	for p, want := range map[string]bool{"/": true, "/a": false, "/a/": true, "/a/.": true, "a": false} {
		if got := FollowsLast(p); got != want {
			t.Errorf("FollowsLast(%q) = %v, want %v", p, got, want)
		}
	}

	src := t.TempDir()
	write(t, filepath.Join(src, "foo"), "hello", 0o644)
	write(t, filepath.Join(src, "bar", "baz"), "world", 0o644)
	var buf bytes.Buffer
	if err := Tar(&buf, openRoot(t, src), ".", "/"); err != nil {
		t.Fatal(err)
	}
	var names []string
	tr := tar.NewReader(bytes.NewReader(buf.Bytes()))
	for {
		h, err := tr.Next()
		if err != nil {
			break
		}
		names = append(names, h.Name)
	}
	if want := []string{"/", "/bar/", "/bar/baz", "/foo"}; !slices.Equal(names, want) {
		t.Errorf("entries of the root's archive: %q, want %q", names, want)
	}
	dst := t.TempDir()
	if err := Untar(&buf, openRoot(t, dst), UntarOptions{Rename: Plan{Dir: dst, Rename: "copy"}.Renamer("."), RootNames: true}); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(dst, "copy", "bar", "baz")); err != nil || string(b) != "world" {
		t.Errorf("extracted copy/bar/baz: %q %v", b, err)
	}
}

// TestUntarKept: an entry with PAXKept stands for the file in the target:
// kept as it is when it matches, refused when it does not or when nothing
// is kept (no Sync).
func TestUntarKept(t *testing.T) {
	dst := t.TempDir()
	write(t, filepath.Join(dst, "big"), "content", 0o644)
	fi, err := os.Stat(filepath.Join(dst, "big"))
	if err != nil {
		t.Fatal(err)
	}
	kept := func(size string) []byte {
		var buf bytes.Buffer
		tw := tar.NewWriter(&buf)
		h := &tar.Header{Name: "big", Typeflag: tar.TypeReg, Mode: 0o644, ModTime: fi.ModTime(), Format: tar.FormatPAX,
			Uid: os.Getuid(), Gid: os.Getgid(), PAXRecords: map[string]string{PAXKept: size}}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		tw.Close()
		return buf.Bytes()
	}
	if err := Untar(bytes.NewReader(kept("7")), openRoot(t, dst), UntarOptions{Sync: true, Chown: true}); err != nil {
		t.Fatalf("a kept entry that matches: %v", err)
	}
	if b, err := os.ReadFile(filepath.Join(dst, "big")); err != nil || string(b) != "content" {
		t.Errorf("the kept file: %q %v, want it as it was", b, err)
	}
	if err := Untar(bytes.NewReader(kept("8")), openRoot(t, dst), UntarOptions{Sync: true}); err == nil || !strings.Contains(err.Error(), "not there as described") {
		t.Errorf("a kept entry of another size: %v, want an error", err)
	}
	if err := Untar(bytes.NewReader(kept("7")), openRoot(t, t.TempDir()), UntarOptions{}); err == nil || !strings.Contains(err.Error(), "keeps none") {
		t.Errorf("a kept entry without Sync: %v, want an error", err)
	}
}

// While renames happen elsewhere on the host (containers starting, files
// saved), resolving ".." inside the root can fail with EAGAIN: the kernel
// asks to try again. `berth cp` through a relative symlink failed so in CI
// ("open /rel/viarel: resource temporarily unavailable").
func TestOpenInRootWhileRenaming(t *testing.T) {
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "a", "b", "c"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("../../../../../../a", filepath.Join(root, "a", "b", "c", "up")); err != nil {
		t.Fatal(err)
	}
	busy := t.TempDir()
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		x, y := filepath.Join(busy, "x"), filepath.Join(busy, "y")
		if err := os.WriteFile(x, nil, 0o644); err != nil {
			return
		}
		for {
			select {
			case <-stop:
				return
			default:
			}
			_ = os.Rename(x, y)
			_ = os.Rename(y, x)
		}
	}()
	defer func() { close(stop); <-done }()
	for i := 0; i < 20000; i++ {
		h, err := OpenInRoot(root, "a/b/c/up/b/../b/c/../../b/c")
		if err != nil {
			t.Fatalf("open %d, while renames run elsewhere: %v", i, err)
		}
		h.Close()
	}
}
