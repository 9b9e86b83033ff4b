package volume

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/berthproject/berth/pkg/fsarchive/fsarchivetest"
)

// FuzzImport imports hostile archives (fsarchivetest.HostileTar) as new
// volumes: nothing is written outside the volume's data directory, and a
// failed import leaves no volume behind.
func FuzzImport(f *testing.F) {
	f.Add([]byte{0, 1, 7, 0, 0, 0, 2})                   // a regular file: succeeds
	f.Add([]byte{2, 4, 7, 0, 0, 0, 0, 0, 5, 7, 0, 0, 2}) // l -> ../outside/secret, then l/x
	f.Add([]byte{3, 7, 7, 0, 0, 1, 0})                   // a hard link to the file outside
	f.Add([]byte{0, 13, 7, 0, 0, 0, 2})                  // ../x
	f.Add([]byte{0, 0, 7, 0, 0, 0, 2, 0, 0, 7, 0, 0, 4}) // a file, then one that claims 1 TiB
	f.Add([]byte{0, 0, 7, 0, 0, 0, 3, 0xff, 100})        // a stream cut in a file
	f.Fuzz(func(t *testing.T, prog []byte) {
		s, _, root := newService(t)
		outside := filepath.Join(t.TempDir(), "outside")
		if err := os.Mkdir(outside, 0o755); err != nil {
			t.Fatal(err)
		}
		secret := filepath.Join(outside, "secret")
		if err := os.WriteFile(secret, []byte("secret"), 0o600); err != nil {
			t.Fatal(err)
		}
		before := tree(t, root)
		ctx := context.Background()
		err := s.Import(ctx, "imported", bytes.NewReader(fsarchivetest.HostileTar(prog, outside)))
		vs, lerr := s.List(ctx, nil)
		if lerr != nil {
			t.Fatal(lerr)
		}
		if err != nil {
			if len(vs) != 0 {
				t.Fatalf("the failed import (%v) left volume %s", err, vs[0].Name)
			}
			if after := tree(t, root); !bytes.Equal(before, after) {
				t.Fatalf("the failed import (%v) left files:\n%s\nwas\n%s", err, after, before)
			}
		} else if len(vs) != 1 {
			t.Fatalf("import succeeded with volumes %v", vs)
		}
		if fi, err := os.Stat(secret); err != nil || fi.Mode().Perm() != 0o600 || fi.Size() != 6 {
			t.Fatalf("the file outside changed: %v, %v", fi, err)
		}
		if entries, _ := os.ReadDir(outside); len(entries) != 1 {
			t.Fatalf("files written outside: %v", entries)
		}
		if st, _ := os.Stat(secret); st.Sys() != nil && nlink(st) != 1 {
			t.Fatalf("the file outside got a hard link")
		}
	})
}

// tree lists the paths under dir with their types.
func tree(t *testing.T, dir string) []byte {
	t.Helper()
	var b bytes.Buffer
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fmt.Fprintf(&b, "%s %v\n", p, d.Type())
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func nlink(fi os.FileInfo) uint64 { return uint64(fi.Sys().(*syscall.Stat_t).Nlink) }
