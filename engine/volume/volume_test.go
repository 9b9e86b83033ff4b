package volume

import (
	"archive/tar"
	"bytes"
	"context"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/containerd/errdefs"

	volumetypes "github.com/berthproject/berth/pkg/types/volume"
)

type users struct {
	mu sync.Mutex
	m  map[string][]string
}

func (u *users) inUse(context.Context) (map[string][]string, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	out := map[string][]string{}
	for k, v := range u.m {
		out[k] = v
	}
	return out, nil
}

func newService(t *testing.T) (*Service, *users, string) {
	t.Helper()
	root := t.TempDir()
	u := &users{m: map[string][]string{}}
	s, err := New(Options{Root: root, InUse: u.inUse})
	if err != nil {
		t.Fatal(err)
	}
	return s, u, root
}

func TestCreateInspectRemove(t *testing.T) {
	s, u, root := newService(t)
	ctx := context.Background()
	v, err := s.Create(ctx, volumetypes.CreateOptions{Name: "data", Labels: map[string]string{"a": "b"}})
	if err != nil {
		t.Fatal(err)
	}
	if v.Mountpoint != filepath.Join(root, "volumes", "data", "_data") || v.Driver != "local" {
		t.Errorf("created %+v", v)
	}
	if st, err := os.Stat(v.Mountpoint); err != nil || !st.IsDir() {
		t.Fatalf("no data dir: %v", err)
	}
	// Idempotent with the same options, a conflict with others.
	if _, err := s.Create(ctx, volumetypes.CreateOptions{Name: "data"}); err != nil {
		t.Errorf("second create: %v", err)
	}
	if _, err := s.Create(ctx, volumetypes.CreateOptions{Name: "data", Options: map[string]string{"type": "tmpfs"}}); !errdefs.IsConflict(err) {
		t.Errorf("create with other options: %v", err)
	}
	// A new service over the same root sees it (metadata on disk).
	s2, err := New(Options{Root: root})
	if err != nil {
		t.Fatal(err)
	}
	got, err := s2.Inspect(ctx, "data")
	if err != nil || got.Labels["a"] != "b" || got.CreatedAt.IsZero() {
		t.Errorf("inspect after reload: %+v %v", got, err)
	}
	u.m["data"] = []string{"0123456789abcdef"}
	if err := s.Remove(ctx, "data", true); !errdefs.IsConflict(err) || !strings.Contains(err.Error(), "0123456789ab") {
		t.Errorf("remove in use: %v", err)
	}
	delete(u.m, "data")
	if err := s.Remove(ctx, "data", false); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "volumes", "data")); !os.IsNotExist(err) {
		t.Errorf("volume dir left: %v", err)
	}
	if err := s.Remove(ctx, "data", false); !errdefs.IsNotFound(err) {
		t.Errorf("remove missing: %v", err)
	}
	if err := s.Remove(ctx, "data", true); err != nil {
		t.Errorf("remove -f missing: %v", err)
	}
}

func TestNames(t *testing.T) {
	s, _, _ := newService(t)
	ctx := context.Background()
	for _, bad := range []string{"a", "-a", ".a", "a/b", "a:b", "a b", "../x", "ä"} {
		if _, err := s.Create(ctx, volumetypes.CreateOptions{Name: bad}); !errdefs.IsInvalidArgument(err) {
			t.Errorf("create %q: %v", bad, err)
		}
	}
	anon, err := s.Create(ctx, volumetypes.CreateOptions{})
	if err != nil || len(anon.Name) != 64 || !anon.Anonymous {
		t.Errorf("anonymous: %+v %v", anon, err)
	}
	if _, err := s.Inspect(ctx, "../../etc"); !errdefs.IsNotFound(err) {
		t.Errorf("inspect of a path: %v", err)
	}
}

func TestOptions(t *testing.T) {
	s, _, _ := newService(t)
	ctx := context.Background()
	dev := t.TempDir()
	v, err := s.Create(ctx, volumetypes.CreateOptions{Name: "hostdir", Options: map[string]string{"o": "bind", "device": dev}})
	if err != nil || v.Mountpoint != dev {
		t.Errorf("bind volume: %+v %v", v, err)
	}
	v, err = s.Create(ctx, volumetypes.CreateOptions{Name: "scratch", Options: map[string]string{"type": "tmpfs", "o": "size=1m"}})
	if err != nil || v.Mountpoint != "" {
		t.Errorf("tmpfs volume: %+v %v", v, err)
	}
	for _, o := range []map[string]string{
		{"o": "bind", "device": "relative"},
		{"o": "bind", "device": filepath.Join(dev, "missing")},
		{"bogus": "x"},
		{"device": "/dev/sda"},
		{"type": "ext4"},
	} {
		if _, err := s.Create(ctx, volumetypes.CreateOptions{Name: "bad", Options: o}); !errdefs.IsInvalidArgument(err) {
			t.Errorf("options %v: %v", o, err)
		}
	}
	// dockerd's answer for a driver without its plugin.
	if _, err := s.Create(ctx, volumetypes.CreateOptions{Name: "x", Driver: "nfs"}); !errdefs.IsNotFound(err) || !strings.Contains(err.Error(), `plugin "nfs" not found`) {
		t.Errorf("driver nfs: %v, want not found (plugin \"nfs\" not found)", err)
	}
}

func TestListPrune(t *testing.T) {
	s, u, _ := newService(t)
	ctx := context.Background()
	for _, o := range []volumetypes.CreateOptions{
		{Name: "web-data", Labels: map[string]string{"app": "web"}},
		{Name: "db-data", Labels: map[string]string{"app": "db"}},
		{Name: "used"},
	} {
		if _, err := s.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	anon, _ := s.Create(ctx, volumetypes.CreateOptions{})
	u.m["used"] = []string{"c1"}
	names := func(f map[string][]string) string {
		list, err := s.List(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		var n []string
		for _, v := range list {
			n = append(n, v.Name)
		}
		return strings.Join(n, ",")
	}
	if got := names(map[string][]string{"label": {"app=web"}}); got != "web-data" {
		t.Errorf("label filter: %s", got)
	}
	if got := names(map[string][]string{"label": {"app", "app=db"}}); got != "db-data" {
		t.Errorf("two label filters, both must hold: %s", got)
	}
	if got := names(map[string][]string{"name": {"data"}}); got != "db-data,web-data" {
		t.Errorf("name filter: %s", got)
	}
	if got := names(map[string][]string{"dangling": {"false"}}); got != "used" {
		t.Errorf("dangling=false: %s", got)
	}
	if _, err := s.List(ctx, map[string][]string{"bogus": {"x"}}); !errdefs.IsInvalidArgument(err) {
		t.Errorf("bad filter: %v", err)
	}
	deleted, _, err := s.Prune(ctx, volumetypes.PruneOptions{})
	if err != nil || strings.Join(deleted, ",") != anon.Name {
		t.Errorf("prune: %v %v", deleted, err)
	}
	deleted, _, err = s.Prune(ctx, volumetypes.PruneOptions{All: true, Filters: map[string][]string{"label!": {"app=db"}}})
	if err != nil || strings.Join(deleted, ",") != "web-data" {
		t.Errorf("prune --all label!=: %v %v", deleted, err)
	}
	if got := names(nil); got != "db-data,used" {
		t.Errorf("left: %s", got)
	}
}

func TestExportImport(t *testing.T) {
	s, _, _ := newService(t)
	ctx := context.Background()
	v, _ := s.Create(ctx, volumetypes.CreateOptions{Name: "src"})
	if err := os.MkdirAll(filepath.Join(v.Mountpoint, "d"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(v.Mountpoint, "d", "f"), []byte("content"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("d/f", filepath.Join(v.Mountpoint, "l")); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := s.Export(ctx, "src", &buf); err != nil {
		t.Fatal(err)
	}
	if err := s.Import(ctx, "restored", bytes.NewReader(buf.Bytes())); err != nil {
		t.Fatal(err)
	}
	r, err := s.Inspect(ctx, "restored")
	if err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(r.Mountpoint, "l")); err != nil || string(b) != "content" {
		t.Errorf("restored: %q %v", b, err)
	}
	if fi, err := os.Stat(filepath.Join(r.Mountpoint, "d", "f")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("restored mode: %v %v", fi, err)
	}
	if err := s.Import(ctx, "restored", strings.NewReader("not a tar at all, not at all")); err == nil {
		t.Error("import of garbage succeeded")
	}
	if err := s.Import(ctx, "bad/name", bytes.NewReader(buf.Bytes())); !errdefs.IsInvalidArgument(err) {
		t.Errorf("import into a bad name: %v", err)
	}
}

// Several label filters must all match, as Docker's (docker compose
// selects a project's volumes by label).
func TestMatchLabelsAllMatch(t *testing.T) {
	v := &volumetypes.Volume{Name: "v", Labels: map[string]string{"p": "one", "k": "x"}}
	for labels, want := range map[string]bool{"p=one,k=x": true, "p=two,k=x": false, "p=one,missing": false} {
		ok, err := match(v, map[string][]string{"label": strings.Split(labels, ",")})
		if err != nil || ok != want {
			t.Errorf("label filters %s: match = %v, %v; want %v", labels, ok, err, want)
		}
	}
}

// A failed import into an existing volume leaves it as it was (issue 15,
// bug 5): nothing of the archive, no staging directory; a good one
// replaces the files it names and keeps the others, as tar -x.
func TestImportFailureLeavesVolume(t *testing.T) {
	s, _, _ := newService(t)
	ctx := context.Background()
	v, err := s.Create(ctx, volumetypes.CreateOptions{Name: "data"})
	if err != nil {
		t.Fatal(err)
	}
	write := func(name, content string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(v.Mountpoint, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("keep", "old")
	write("over", "old")
	tarOf := func(entries map[string]string, tail func(*tar.Writer)) []byte {
		var buf bytes.Buffer
		tw := tar.NewWriter(&buf)
		for _, n := range slices.Sorted(maps.Keys(entries)) {
			_ = tw.WriteHeader(&tar.Header{Name: n, Mode: 0o644, Size: int64(len(entries[n])), Typeflag: tar.TypeReg})
			_, _ = tw.Write([]byte(entries[n]))
		}
		if tail != nil {
			tail(tw)
		}
		_ = tw.Close()
		return buf.Bytes()
	}
	listing := func() []string {
		entries, err := os.ReadDir(v.Mountpoint)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, e := range entries {
			b, _ := os.ReadFile(filepath.Join(v.Mountpoint, e.Name()))
			out = append(out, e.Name()+"="+string(b))
		}
		return out
	}
	before := []string{"keep=old", "over=old"}

	escape := tarOf(map[string]string{"new": "x", "over": "new"}, func(tw *tar.Writer) {
		_ = tw.WriteHeader(&tar.Header{Name: "../outside", Mode: 0o644, Typeflag: tar.TypeReg})
	})
	truncated := tarOf(map[string]string{"new": "x", "over": "new", "zbig": strings.Repeat("z", 4096)}, nil)
	truncated = truncated[:len(truncated)-3000]
	for name, archive := range map[string][]byte{"escaping entry": escape, "truncated archive": truncated} {
		if err := s.Import(ctx, "data", bytes.NewReader(archive)); err == nil {
			t.Errorf("%s: import succeeded", name)
		}
		if got := listing(); !slices.Equal(got, before) {
			t.Errorf("%s: a failed import changed the volume: %v, want %v", name, got, before)
		}
	}

	good := tarOf(map[string]string{"new": "x", "over": "new", "sub/f": "deep"}, nil)
	if err := s.Import(ctx, "data", bytes.NewReader(good)); err != nil {
		t.Fatal(err)
	}
	if got, want := listing(), []string{"keep=old", "new=x", "over=new", "sub="}; !slices.Equal(got, want) {
		t.Errorf("after a good import: %v, want %v", got, want)
	}
	if b, err := os.ReadFile(filepath.Join(v.Mountpoint, "sub", "f")); err != nil || string(b) != "deep" {
		t.Errorf("sub/f: %q %v", b, err)
	}
}
