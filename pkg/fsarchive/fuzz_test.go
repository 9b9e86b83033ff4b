package fsarchive

import (
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/berthproject/berth/pkg/fsarchive/fsarchivetest"
)

// snapshot is what a directory tree holds: path → type, mode, size, inode
// and link count (content of regular files is checked apart).
func snapshot(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		st := fi.Sys().(*syscall.Stat_t)
		out[p] = fmt.Sprintf("%v nlink=%d size=%d", fi.Mode(), st.Nlink, fi.Size())
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// FuzzUntar extracts hostile archives into a directory next to another
// one (as they are, or renamed as cp does), and checks after each that nothing outside the target was written,
// linked or changed, and that nothing in the target is a hard link to a
// file outside it.
func FuzzUntar(f *testing.F) {
	// name, type index, mode, uid, gid, link, size
	f.Add([]byte{0, 1, 7, 0, 0, 0, 2})                                     // a regular file
	f.Add([]byte{2, 4, 7, 0, 0, 0, 0, 0, 5, 7, 0, 0, 2})                   // l -> ../outside/secret, then l/x
	f.Add([]byte{2, 4, 7, 0, 0, 2, 0, 0, 5, 7, 0, 0, 2})                   // l -> /abs outside, then l/x
	f.Add([]byte{3, 7, 7, 0, 0, 0, 0})                                     // hard link to ../outside/secret
	f.Add([]byte{3, 7, 7, 0, 0, 1, 0})                                     // hard link to the absolute secret
	f.Add([]byte{0, 13, 7, 0, 0, 0, 2})                                    // ../x
	f.Add([]byte{0, 15, 7, 0, 0, 0, 2})                                    // /abs
	f.Add([]byte{0, 16, 7, 0, 0, 0, 2})                                    // the outside path, absolute
	f.Add([]byte{4, 0, 7, 0, 0, 0, 5, 6, 0, 7, 0, 0, 0})                   // a device node, a fifo
	f.Add([]byte{0, 0, 7, 0, 0, 0, 2, 0, 0, 7, 0, 0, 2, 1, 0, 7, 0, 0, 0}) // duplicates: file, file, dir
	f.Add([]byte{0, 0, 7, 1, 1, 0, 4})                                     // a file that claims 1 TiB
	f.Add([]byte{0, 0, 7, 0, 0, 0, 3, 0xff, 100})                          // a stream cut in a file
	f.Add([]byte{1, 3, 7, 0, 0, 0, 2, 4, 0, 7, 0, 0, 3, 2})                // d, d/l -> ..
	f.Add([]byte{10, 0, 0, 0, 0, 1})                                       // a global header
	f.Fuzz(func(t *testing.T, prog []byte) {
		base := t.TempDir()
		outside, target := filepath.Join(base, "outside"), filepath.Join(base, "target")
		for _, d := range []string{outside, target} {
			if err := os.Mkdir(d, 0o755); err != nil {
				t.Fatal(err)
			}
		}
		secret := filepath.Join(outside, "secret")
		if err := os.WriteFile(secret, []byte("secret"), 0o600); err != nil {
			t.Fatal(err)
		}
		before := snapshot(t, outside)
		archive := fsarchivetest.HostileTar(prog, outside)

		r, err := os.OpenRoot(target)
		if err != nil {
			t.Fatal(err)
		}
		opts := UntarOptions{Chown: len(prog)%2 == 1}
		switch len(prog) % 3 { // cp's renames: SRC to a new name, SRC/. into a directory
		case 1:
			opts.Rename = Plan{Dir: "/", Rename: "renamed"}.Renamer("a")
		case 2:
			opts.Rename = Plan{Dir: "/", Contents: true}.Renamer("d")
		}
		_ = Untar(bytes.NewReader(archive), r, opts)
		r.Close()

		if after := snapshot(t, outside); !equalMaps(before, after) {
			t.Fatalf("the archive changed what is outside the target:\nbefore %v\nafter  %v", before, after)
		}
		if b, err := os.ReadFile(secret); err != nil || string(b) != "secret" {
			t.Fatalf("the file outside was changed: %q, %v", b, err)
		}
		entries, err := os.ReadDir(base)
		if err != nil || len(entries) != 2 {
			t.Fatalf("something was created next to the target: %v, %v", entries, err)
		}
		// The root may have been chmod'ed by a "." entry: make it walkable.
		_ = os.Chmod(target, 0o755)
		_ = filepath.WalkDir(target, func(p string, d fs.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				_ = os.Chmod(p, 0o755)
			}
			return nil
		})
	})
}

func equalMaps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}
