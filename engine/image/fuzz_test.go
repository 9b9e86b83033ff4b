package image

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/berthproject/berth/pkg/fsarchive/fsarchivetest"
	imagetypes "github.com/berthproject/berth/pkg/types/image"
)

// FuzzLoadImport loads and imports hostile archives against the test's
// containerd: `import` of a hostile root file system tar, `load` of a
// docker-archive whose layer is that tar, and `load` of arbitrary bytes.
// After each: nothing was written next to the snapshotter's directories (a
// directory the archives aim at is unchanged), a failure left no image and
// no lease, and a success is removed again.
func FuzzLoadImport(f *testing.F) {
	if testClient == nil {
		f.Skip("no containerd")
	}
	f.Add(uint8(0), []byte{0, 1, 7, 0, 0, 0, 2})                   // a file: imports
	f.Add(uint8(1), []byte{0, 1, 7, 0, 0, 0, 2})                   // a file: loads
	f.Add(uint8(0), []byte{2, 4, 7, 0, 0, 0, 0, 0, 5, 7, 0, 0, 2}) // l -> ../outside/secret, then l/x
	f.Add(uint8(1), []byte{2, 4, 7, 0, 0, 2, 0, 0, 5, 7, 0, 0, 2}) // l -> /abs outside, then l/x
	f.Add(uint8(0), []byte{3, 7, 7, 0, 0, 1, 0})                   // a hard link to the file outside
	f.Add(uint8(1), []byte{0, 13, 7, 0, 0, 0, 2})                  // ../x
	f.Add(uint8(0), []byte{0, 0, 7, 0, 0, 0, 4})                   // a file that claims 1 TiB
	f.Add(uint8(1), []byte{0, 0, 7, 0, 0, 0, 3, 0xff, 100})        // a stream cut in a file
	f.Add(uint8(2), []byte("manifest.json"))                       // not an archive
	notTar, _ := dockerArchive(f, []string{"fuzz:latest"}, []byte("not a tar"), nil)
	f.Add(uint8(2), notTar)
	empty, _ := dockerArchive(f, []string{"fuzz:latest"}, nil, nil)
	f.Add(uint8(2), empty[:700])

	s := newService(f, Options{})
	outside := filepath.Join(f.TempDir(), "outside")
	if err := os.Mkdir(outside, 0o755); err != nil {
		f.Fatal(err)
	}
	secret := filepath.Join(outside, "secret")
	if err := os.WriteFile(secret, []byte("secret"), 0o600); err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, mode uint8, prog []byte) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		before := tagsOf(t, s, nil)
		var err error
		var created []string
		switch mode % 3 {
		case 0:
			var img *imagetypes.Image
			if img, err = s.Import(ctx, bytes.NewReader(fsarchivetest.HostileTar(prog, outside)), imagetypes.ImportOptions{Ref: "fuzz:latest"}); err == nil {
				created = append(created, img.ID)
			}
		case 1, 2:
			in := prog
			if mode%3 == 1 {
				in, _ = dockerArchive(t, []string{"fuzz:latest"}, fsarchivetest.HostileTar(prog, outside), nil)
			}
			var imgs []imagetypes.Image
			if imgs, err = s.Load(ctx, bytes.NewReader(in), nil); err == nil {
				for _, im := range imgs {
					created = append(created, im.ID)
				}
			}
		}
		if err != nil {
			if after := tagsOf(t, s, nil); len(after) != len(before) {
				t.Fatalf("the failed %d (%v) left images: %v", mode%3, err, after)
			}
		}
		if ls, lerr := testClient.LeasesService().List(s.ns(ctx)); lerr != nil || len(ls) != 0 {
			t.Fatalf("leases left: %v, %v", ls, lerr)
		}
		if entries, _ := os.ReadDir(outside); len(entries) != 1 {
			t.Fatalf("the archive wrote outside: %v", entries)
		}
		if b, rerr := os.ReadFile(secret); rerr != nil || string(b) != "secret" {
			t.Fatalf("the file outside changed: %q, %v", b, rerr)
		}
		if len(created) > 0 {
			if _, rerr := s.Remove(ctx, created, imagetypes.RemoveOptions{Force: true}); rerr != nil {
				t.Fatalf("remove %v: %v", created, rerr)
			}
		}
	})
}
