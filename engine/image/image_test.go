package image

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	leasesapi "github.com/containerd/containerd/api/services/leases/v1"
	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/mount"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/containerd/errdefs"
	digest "github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/identity"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/berthproject/berth/engine/internal/lease"
	imagetypes "github.com/berthproject/berth/pkg/types/image"
	"github.com/berthproject/berth/test/images/imagegen"
)

var nsCounter atomic.Int32

// newService returns a service on the test containerd in a namespace of its
// own.
func newService(t testing.TB, opts Options) *Service {
	t.Helper()
	if opts.Namespace == "" {
		opts.Namespace = fmt.Sprintf("t%d", nsCounter.Add(1))
	}
	if opts.Snapshotter == "" {
		opts.Snapshotter = "overlayfs"
	}
	return New(testClient, opts)
}

func loadBusybox(t *testing.T, s *Service) []string {
	t.Helper()
	var lines []string
	if _, err := s.Load(context.Background(), bytes.NewReader(busyboxTar), func(l string) { lines = append(lines, l) }); err != nil {
		t.Fatalf("load busybox: %v", err)
	}
	return lines
}

// rootfsTar is a tar of the given files (name → content), with their parent
// directories.
func rootfsTar(t *testing.T, files map[string]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	dirs := map[string]bool{}
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		if d := filepath.Dir(n); d != "." && !dirs[d] {
			dirs[d] = true
			if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: d + "/", Mode: 0o755}); err != nil {
				t.Fatal(err)
			}
		}
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: n, Mode: 0o644, Size: int64(len(files[n]))}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(files[n])); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func gz(t *testing.T, b []byte) []byte {
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	if _, err := w.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func tagsOf(t testing.TB, s *Service, filters map[string][]string) map[string][]string {
	t.Helper()
	list, err := s.List(context.Background(), imagetypes.ListOptions{Filters: filters})
	if err != nil {
		t.Fatalf("list %v: %v", filters, err)
	}
	out := map[string][]string{}
	for _, im := range list {
		out[im.ID] = im.RepoTags
	}
	return out
}

// readSnapshotFile mounts a read-only view of the image's top snapshot and
// reads one file from it.
func readSnapshotFile(t *testing.T, s *Service, diffIDs []digest.Digest, name string) (string, error) {
	t.Helper()
	ctx := namespaces.WithNamespace(context.Background(), s.Namespace())
	sn := testClient.SnapshotService(s.Snapshotter())
	key := fmt.Sprintf("view-%d", time.Now().UnixNano())
	mounts, err := sn.View(ctx, key, identity.ChainID(diffIDs).String())
	if err != nil {
		t.Fatalf("view snapshot: %v", err)
	}
	defer func() { _ = sn.Remove(ctx, key) }()
	dir := t.TempDir()
	if err := mount.All(mounts, dir); err != nil {
		t.Fatalf("mount view: %v", err)
	}
	defer func() { _ = mount.UnmountAll(dir, 0) }()
	b, err := os.ReadFile(filepath.Join(dir, name))
	return string(b), err
}

func TestLoadBusyboxListInspect(t *testing.T) {
	s := newService(t, Options{})
	ctx := context.Background()
	lines := loadBusybox(t, s)
	if !slices.Equal(lines, []string{"Loaded image: busybox:latest"}) {
		t.Errorf("progress = %q", lines)
	}
	id := busyboxInfo.Config.Digest.String()

	list, err := s.List(ctx, imagetypes.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || list[0].ID != id || !slices.Equal(list[0].RepoTags, []string{"busybox:latest"}) {
		t.Fatalf("list = %+v, want busybox:latest with ID %s", list, id)
	}
	// Unpacked: the size is the snapshot's, larger than the gzip layer.
	if list[0].Size <= busyboxInfo.Layers[0].Size {
		t.Errorf("size %d, want the unpacked size (> compressed %d)", list[0].Size, busyboxInfo.Layers[0].Size)
	}
	if list[0].Created.IsZero() || len(list[0].RepoDigests) != 0 {
		t.Errorf("created %v, repo digests %v", list[0].Created, list[0].RepoDigests)
	}

	img, err := s.Inspect(ctx, "busybox")
	if err != nil {
		t.Fatal(err)
	}
	if img.ID != id || img.Os != "linux" || img.Architecture != runtime.GOARCH {
		t.Errorf("inspect: id %s os %s arch %s", img.ID, img.Os, img.Architecture)
	}
	if !slices.Equal(img.Config.Cmd, []string{"sh"}) || len(img.Config.Env) != 1 || !strings.HasPrefix(img.Config.Env[0], "PATH=") {
		t.Errorf("inspect config: %+v", img.Config)
	}
	if len(img.RootFS.Layers) != 1 || img.RootFS.Layers[0] != busyboxInfo.DiffIDs[0].String() || img.RootFS.Type != "layers" {
		t.Errorf("rootfs: %+v", img.RootFS)
	}
	if !slices.Equal(img.Names, []string{"docker.io/library/busybox:latest"}) || img.Size != list[0].Size || len(img.History) != 1 {
		t.Errorf("names %v size %d history %v", img.Names, img.Size, img.History)
	}
	// A container inspect's image config: by name, and by full ID (from
	// the cache of resolved configs, without a listing); an unknown ID
	// is not found.
	for _, ref := range []string{"busybox", id, id} {
		rc, err := s.RunConfig(ctx, ref)
		if err != nil || !slices.Equal(rc.Cmd, []string{"sh"}) || !slices.Equal(rc.Env, img.Config.Env) {
			t.Errorf("run config of %s: %+v, %v", ref, rc, err)
		}
	}
	if _, err := s.RunConfig(ctx, "sha256:"+strings.Repeat("0", 64)); !errdefs.IsNotFound(err) {
		t.Errorf("run config of an unknown ID: %v, want not found", err)
	}
	if got, err := readSnapshotFile(t, s, busyboxInfo.DiffIDs, "etc/passwd"); err != nil || !strings.HasPrefix(got, "root:x:0:0:") {
		t.Errorf("unpacked /etc/passwd = %q, %v", got, err)
	}

	// Loading the same archive again changes nothing.
	loadBusybox(t, s)
	if got := tagsOf(t, s, nil); len(got) != 1 || !slices.Equal(got[id], []string{"busybox:latest"}) {
		t.Errorf("after second load: %v", got)
	}
}

func TestResolve(t *testing.T) {
	s := newService(t, Options{})
	ctx := context.Background()
	loadBusybox(t, s)
	id := busyboxInfo.Config.Digest
	for _, ref := range []string{"busybox", "busybox:latest", "docker.io/library/busybox:latest", "library/busybox",
		id.String(), id.Encoded(), id.Encoded()[:12], "sha256:" + id.Encoded()[:12]} {
		img, cfg, err := s.Resolve(ctx, ref)
		if err != nil {
			t.Errorf("resolve %q: %v", ref, err)
			continue
		}
		if img.Name() != "docker.io/library/busybox:latest" || cfg.RootFS.DiffIDs[0] != busyboxInfo.DiffIDs[0] {
			t.Errorf("resolve %q: %s", ref, img.Name())
		}
	}
	for _, ref := range []string{"nope", "busybox:nope", "sha256:0000", "0000000000", "Busy Box"} {
		_, _, err := s.Resolve(ctx, ref)
		if !errdefs.IsNotFound(err) && !(ref == "Busy Box" && err != nil) {
			t.Errorf("resolve %q: %v, want not found", ref, err)
		}
		if ref == "nope" && (err == nil || !strings.HasPrefix(err.Error(), "No such image: nope")) {
			t.Errorf("message %v", err)
		}
	}

	r, err := s.ResolveForRun(ctx, "busybox")
	if err != nil {
		t.Fatal(err)
	}
	if r.ID != id.String() || r.Name != "docker.io/library/busybox:latest" || r.ChainID != identity.ChainID(busyboxInfo.DiffIDs).String() {
		t.Errorf("ResolveForRun = %+v", r)
	}

	// 17 images: two IDs share their first hex digit, so that prefix is
	// ambiguous, and each full ID still resolves.
	ids := map[string]bool{}
	layer := rootfsTar(t, map[string]string{"f": "x"})
	for i := range 17 {
		img, err := s.Import(ctx, bytes.NewReader(layer), imagetypes.ImportOptions{Message: fmt.Sprint(i)})
		if err != nil {
			t.Fatal(err)
		}
		ids[img.ID] = true
	}
	firsts := map[byte]int{}
	for i := range ids {
		firsts[i[len("sha256:")]]++
	}
	for c, n := range firsts {
		if n < 2 {
			continue
		}
		_, _, err := s.Resolve(ctx, string(c))
		if !errdefs.IsNotFound(err) || !strings.Contains(err.Error(), "ambiguous") {
			t.Errorf("ambiguous prefix %q: %v", string(c), err)
		}
		break
	}
	for i := range ids {
		if _, _, err := s.Resolve(ctx, i); err != nil {
			t.Errorf("resolve %s: %v", i, err)
		}
	}
}

func TestTagAndRemove(t *testing.T) {
	s := newService(t, Options{})
	ctx := context.Background()
	loadBusybox(t, s)
	id := busyboxInfo.Config.Digest.String()

	for _, tag := range []string{"myapp:v1", "myapp:v2", "registry.local:5000/other/x"} {
		if err := s.Tag(ctx, "busybox", tag); err != nil {
			t.Fatalf("tag %s: %v", tag, err)
		}
	}
	if err := s.Tag(ctx, "busybox", "x@sha256:"+strings.Repeat("a", 64)); !errdefs.IsInvalidArgument(err) {
		t.Errorf("tag with digest: %v", err)
	}
	if err := s.Tag(ctx, "nope", "y"); !errdefs.IsNotFound(err) {
		t.Errorf("tag of unknown: %v", err)
	}
	want := []string{"busybox:latest", "myapp:v1", "myapp:v2", "registry.local:5000/other/x:latest"}
	if got := tagsOf(t, s, nil); len(got) != 1 || !slices.Equal(got[id], want) {
		t.Fatalf("tags = %v, want one image with %v", got, want)
	}

	// A name of an image with other names: untag only.
	resp, err := s.Remove(ctx, []string{"myapp:v1"}, imagetypes.RemoveOptions{})
	if err != nil || !slices.Equal(resp, []imagetypes.DeleteResponse{{Untagged: "myapp:v1"}}) {
		t.Fatalf("remove myapp:v1 = %v, %v", resp, err)
	}
	// By ID with names in several repositories: needs force.
	_, err = s.Remove(ctx, []string{id[7:19]}, imagetypes.RemoveOptions{})
	if !errdefs.IsConflict(err) || !strings.Contains(err.Error(), "must be forced") {
		t.Fatalf("remove by ID, several repos: %v", err)
	}
	if _, err := s.Inspect(ctx, id); err != nil {
		t.Fatalf("image gone after refused remove: %v", err)
	}
	resp, err = s.Remove(ctx, []string{id[7:19]}, imagetypes.RemoveOptions{Force: true})
	if err != nil {
		t.Fatal(err)
	}
	wantResp := []imagetypes.DeleteResponse{{Untagged: "busybox:latest"}, {Untagged: "myapp:v2"}, {Untagged: "registry.local:5000/other/x:latest"}, {Deleted: id}}
	if !slices.Equal(resp, wantResp) {
		t.Errorf("remove -f ID = %v, want %v", resp, wantResp)
	}
	if got := tagsOf(t, s, nil); len(got) != 0 {
		t.Errorf("images left: %v", got)
	}
	// Content and snapshots went with the last reference.
	nctx := namespaces.WithNamespace(ctx, s.Namespace())
	if _, err := testClient.ContentStore().Info(nctx, busyboxInfo.Layers[0].Digest); !errdefs.IsNotFound(err) {
		t.Errorf("layer blob after delete: %v", err)
	}
	if _, err := testClient.SnapshotService(s.Snapshotter()).Stat(nctx, identity.ChainID(busyboxInfo.DiffIDs).String()); !errdefs.IsNotFound(err) {
		t.Errorf("snapshot after delete: %v", err)
	}

	// By ID with all names in one repository: no force needed.
	loadBusybox(t, s)
	if err := s.Tag(ctx, id, "busybox:second"); err != nil {
		t.Fatal(err)
	}
	resp, err = s.Remove(ctx, []string{id}, imagetypes.RemoveOptions{})
	if err != nil || len(resp) != 3 || resp[2].Deleted != id {
		t.Errorf("remove by ID, one repo = %v, %v", resp, err)
	}

	// The last name: untag and delete.
	loadBusybox(t, s)
	resp, err = s.Remove(ctx, []string{"busybox", "nope"}, imagetypes.RemoveOptions{})
	if !slices.Equal(resp, []imagetypes.DeleteResponse{{Untagged: "busybox:latest"}, {Deleted: id}}) {
		t.Errorf("remove busybox = %v", resp)
	}
	if !errdefs.IsNotFound(err) || !strings.Contains(err.Error(), "No such image: nope") {
		t.Errorf("remove of unknown: %v", err)
	}
}

func TestRemoveInUse(t *testing.T) {
	var asked []string
	s := newService(t, Options{InUse: func(ctx context.Context, imageID string) ([]string, error) {
		asked = append(asked, imageID)
		return []string{"0123456789abcdef0123456789abcdef"}, nil
	}})
	ctx := context.Background()
	loadBusybox(t, s)
	id := busyboxInfo.Config.Digest.String()
	if err := s.Tag(ctx, "busybox", "other"); err != nil {
		t.Fatal(err)
	}
	// Untagging while other names remain is fine.
	if _, err := s.Remove(ctx, []string{"other"}, imagetypes.RemoveOptions{}); err != nil {
		t.Fatalf("untag of in-use image: %v", err)
	}
	_, err := s.Remove(ctx, []string{"busybox"}, imagetypes.RemoveOptions{})
	if !errdefs.IsFailedPrecondition(err) || !strings.Contains(err.Error(), "container 0123456789ab is using its referenced image "+id[7:19]) {
		t.Fatalf("remove in-use = %v", err)
	}
	if !slices.Equal(asked, []string{id}) {
		t.Errorf("InUse asked for %v, want [%s]", asked, id)
	}
	if got := tagsOf(t, s, nil); !slices.Equal(got[id], []string{"busybox:latest"}) {
		t.Fatalf("image changed by a refused remove: %v", got)
	}
	resp, err := s.Remove(ctx, []string{"busybox"}, imagetypes.RemoveOptions{Force: true})
	if err != nil || len(resp) != 2 || resp[1].Deleted != id {
		t.Fatalf("remove -f in-use = %v, %v", resp, err)
	}
}

// TestPruneAllInUse: prune of every image (dangling=false) keeps an image
// a container uses, with only its last name in sorted order, as dockerd's
// (which removes the names in turn until the last one is refused); a
// dangling-only prune leaves its names alone.
func TestPruneAllInUse(t *testing.T) {
	s := newService(t, Options{InUse: func(ctx context.Context, imageID string) ([]string, error) {
		return []string{"0123456789abcdef0123456789abcdef"}, nil
	}})
	ctx := context.Background()
	loadBusybox(t, s)
	id := busyboxInfo.Config.Digest.String()
	for _, tag := range []string{"h", "a", "z", "q"} {
		if err := s.Tag(ctx, "busybox", "busybox:"+tag); err != nil {
			t.Fatal(err)
		}
	}
	if rep, err := s.Prune(ctx, imagetypes.PruneOptions{}); err != nil || len(rep.Deleted) != 0 {
		t.Fatalf("dangling prune: %+v, %v", rep, err)
	}
	rep, err := s.Prune(ctx, imagetypes.PruneOptions{Filters: map[string][]string{"dangling": {"false"}}})
	if err != nil {
		t.Fatal(err)
	}
	var untagged []string
	for _, d := range rep.Deleted {
		if d.Deleted != "" {
			t.Errorf("an image in use was deleted: %+v", d)
		}
		untagged = append(untagged, d.Untagged)
	}
	if want := []string{"busybox:a", "busybox:h", "busybox:latest", "busybox:q"}; !slices.Equal(untagged, want) {
		t.Errorf("untagged %v, want %v", untagged, want)
	}
	if got := tagsOf(t, s, nil); !slices.Equal(got[id], []string{"busybox:z"}) {
		t.Errorf("after prune: %v, want busybox:z alone", got)
	}
}

// TestImportEmptyAndPlatform: as dockerd, an empty tar archive and an
// empty input are a root file system of no files (the same empty layer),
// and --platform records any architecture of the engine's OS.
func TestImportEmptyAndPlatform(t *testing.T) {
	s := newService(t, Options{})
	ctx := context.Background()
	emptyTar := rootfsTar(t, nil)
	for i, tc := range []struct {
		in             []byte
		platform, arch string
	}{{emptyTar, "", runtime.GOARCH}, {nil, "LINUX", runtime.GOARCH}, {emptyTar, "linux/sparc64", "sparc64"}} {
		ref := fmt.Sprintf("empty:%d", i)
		img, err := s.Import(ctx, bytes.NewReader(tc.in), imagetypes.ImportOptions{Ref: ref, Platform: tc.platform})
		if err != nil {
			t.Fatalf("import of %d bytes for %q: %v", len(tc.in), tc.platform, err)
		}
		if got, err := s.Inspect(ctx, ref); err != nil || got.Os != "linux" || got.Architecture != tc.arch {
			t.Errorf("%s: %+v, %v; want linux/%s", ref, got, err, tc.arch)
		}
		if want := digest.FromBytes(make([]byte, 1024)).String(); img.RootFS.Layers[0] != want {
			t.Errorf("%s: layer %s, want the empty tar's %s", ref, img.RootFS.Layers[0], want)
		}
	}
}

func TestImportRootfs(t *testing.T) {
	s := newService(t, Options{})
	ctx := context.Background()
	files := map[string]string{"etc/hello": "hello from import\n", "bin/tool": "#!/bin/sh\n"}
	for _, compressed := range []bool{false, true} {
		in := rootfsTar(t, files)
		if compressed {
			in = gz(t, in)
		}
		img, err := s.Import(ctx, bytes.NewReader(in), imagetypes.ImportOptions{Ref: "imported:v1", Message: "made by test"})
		if err != nil {
			t.Fatalf("import (gzip %v): %v", compressed, err)
		}
		if !slices.Equal(img.RepoTags, []string{"imported:v1"}) || len(img.RootFS.Layers) != 1 ||
			len(img.History) != 1 || img.History[0].Comment != "made by test" || img.Os != "linux" || img.Architecture != runtime.GOARCH {
			t.Fatalf("imported image: %+v", img)
		}
		if img.Created.IsZero() || img.Size <= 0 {
			t.Errorf("created %v size %d", img.Created, img.Size)
		}
		got, err := readSnapshotFile(t, s, []digest.Digest{digest.Digest(img.RootFS.Layers[0])}, "etc/hello")
		if err != nil || got != files["etc/hello"] {
			t.Errorf("file in image rootfs = %q, %v", got, err)
		}
		// The diff ID is the digest of the uncompressed tar.
		if want := digest.FromBytes(rootfsTar(t, files)).String(); img.RootFS.Layers[0] != want {
			t.Errorf("diff ID %s, want %s", img.RootFS.Layers[0], want)
		}
	}
	// Re-importing moved the name: the first import is kept, dangling.
	if got := tagsOf(t, s, map[string][]string{"dangling": {"true"}}); len(got) != 1 {
		t.Errorf("dangling images after re-import under the same name: %v", got)
	}

	before := tagsOf(t, s, nil)
	for _, bad := range [][]byte{[]byte("this is not a tar archive at all, it is just text"), gz(t, []byte("not a tar"))} {
		_, err := s.Import(ctx, bytes.NewReader(bad), imagetypes.ImportOptions{Ref: "bad"})
		if !errdefs.IsInvalidArgument(err) {
			t.Errorf("import of %q: %v, want invalid argument", bad, err)
		}
	}
	for _, p := range []string{"       ", "/", "macos", "macos/arm64", "nintendo64"} {
		if _, err := s.Import(ctx, bytes.NewReader(rootfsTar(t, files)), imagetypes.ImportOptions{Ref: "bad", Platform: p}); !errdefs.IsInvalidArgument(err) {
			t.Errorf("import for platform %q: %v, want invalid argument", p, err)
		}
	}
	if _, err := s.Import(ctx, bytes.NewReader(rootfsTar(t, files)), imagetypes.ImportOptions{Ref: "Bad Name"}); !errdefs.IsInvalidArgument(err) {
		t.Errorf("import with a bad name: %v", err)
	}
	// A tar the snapshotter cannot apply (a hard link to nothing) fails
	// without moving the name.
	var bad bytes.Buffer
	tw := tar.NewWriter(&bad)
	if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeLink, Name: "link", Linkname: "missing", Mode: 0o644}); err != nil {
		t.Fatal(err)
	}
	tw.Close()
	if _, err := s.Import(ctx, &bad, imagetypes.ImportOptions{Ref: "imported:v1"}); err == nil {
		t.Error("import of an unappliable tar succeeded")
	}
	if img, err := s.Inspect(ctx, "imported:v1"); err != nil || img.History[0].Comment != "made by test" {
		t.Errorf("imported:v1 after failed import: %+v, %v", img, err)
	}
	if after := tagsOf(t, s, nil); len(after) != len(before) {
		t.Errorf("failed imports left images: %v", after)
	}

	// Without a name: dangling, listed with no tags.
	img, err := s.Import(ctx, bytes.NewReader(rootfsTar(t, map[string]string{"a": "b"})), imagetypes.ImportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := tagsOf(t, s, nil); got[img.ID] == nil || len(got[img.ID]) != 0 {
		t.Errorf("untagged import listed as %v", got[img.ID])
	}
}

func TestSaveLoadRoundTrip(t *testing.T) {
	src := newService(t, Options{})
	ctx := context.Background()
	loadBusybox(t, src)
	if err := src.Tag(ctx, "busybox", "busybox:two"); err != nil {
		t.Fatal(err)
	}
	id := busyboxInfo.Config.Digest.String()

	var buf bytes.Buffer
	if err := src.Save(ctx, &buf, []string{"busybox", "busybox:two"}); err != nil {
		t.Fatal(err)
	}
	files := tarFiles(t, buf.Bytes())
	var dm []struct {
		Config   string
		RepoTags []string
		Layers   []string
	}
	if err := json.Unmarshal(files["manifest.json"], &dm); err != nil {
		t.Fatalf("manifest.json: %v", err)
	}
	if len(dm) != 1 || !slices.Equal(dm[0].RepoTags, []string{"busybox:latest", "busybox:two"}) || dm[0].Config != "blobs/sha256/"+id[7:] {
		t.Errorf("manifest.json = %+v", dm)
	}
	// The config file is dated at the image's creation, as dockerd's save.
	img, err := src.Inspect(ctx, "busybox")
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(bytes.NewReader(buf.Bytes()))
	for {
		h, err := tr.Next()
		if err != nil {
			t.Fatalf("no config file %s in the archive: %v", dm[0].Config, err)
		}
		if h.Name == dm[0].Config {
			if !h.ModTime.Equal(img.Created.Truncate(time.Second)) {
				t.Errorf("config file dated %v, want the image's creation %v", h.ModTime, img.Created)
			}
			break
		}
	}
	var idx ocispec.Index
	if err := json.Unmarshal(files["index.json"], &idx); err != nil || len(idx.Manifests) != 2 || files["oci-layout"] == nil {
		t.Errorf("index.json = %s, %v", files["index.json"], err)
	}

	// An independent reader: skopeo reads both formats of the archive.
	if _, err := exec.LookPath("skopeo"); err == nil {
		p := filepath.Join(t.TempDir(), "save.tar")
		if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		for _, ref := range []string{"docker-archive:" + p + ":busybox:two", "oci-archive:" + p + ":two"} {
			out, err := exec.Command("skopeo", "inspect", "--raw", "--config", ref).Output()
			if err != nil || digest.FromBytes(out).String() != id {
				t.Errorf("skopeo inspect --config %s: %v (%s)", ref, err, out)
			}
		}
	}

	dst := newService(t, Options{})
	var lines []string
	loaded, err := dst.Load(ctx, bytes.NewReader(buf.Bytes()), func(l string) { lines = append(lines, l) })
	if err != nil {
		t.Fatal(err)
	}
	if len(loaded) != 1 || loaded[0].ID != id || !slices.Equal(loaded[0].RepoTags, []string{"busybox:latest", "busybox:two"}) {
		t.Errorf("loaded = %+v", loaded)
	}
	slices.Sort(lines)
	if !slices.Equal(lines, []string{"Loaded image: busybox:latest", "Loaded image: busybox:two"}) {
		t.Errorf("progress = %q", lines)
	}

	// Saved by ID: no names; loads as a dangling image with the same ID.
	buf.Reset()
	if err := src.Save(ctx, &buf, []string{id}); err != nil {
		t.Fatal(err)
	}
	byID := newService(t, Options{})
	lines = nil
	loaded, err = byID.Load(ctx, bytes.NewReader(buf.Bytes()), func(l string) { lines = append(lines, l) })
	if err != nil || len(loaded) != 1 || loaded[0].ID != id || len(loaded[0].RepoTags) != 0 {
		t.Fatalf("load of save-by-ID = %+v, %v", loaded, err)
	}
	if !slices.Equal(lines, []string{"Loaded image ID: " + id}) {
		t.Errorf("progress = %q", lines)
	}
	if err := src.Save(ctx, io.Discard, []string{"nope"}); !errdefs.IsNotFound(err) {
		t.Errorf("save of unknown: %v", err)
	}
}

func tarFiles(t *testing.T, b []byte) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	tr := tar.NewReader(bytes.NewReader(b))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		out[h.Name] = data
	}
}

// dockerArchive writes a `docker save` style archive by hand: manifest.json,
// <id>.json config, <layer>/layer.tar.
func dockerArchive(t testing.TB, repoTags []string, layer []byte, cmd []string) (archive []byte, id string) {
	t.Helper()
	diffID := digest.FromBytes(layer)
	cfg, err := json.Marshal(map[string]any{
		"architecture": runtime.GOARCH,
		"os":           "linux",
		"created":      "2025-03-04T05:06:07Z",
		"config":       map[string]any{"Cmd": cmd, "Labels": map[string]string{"from": "docker"}},
		"rootfs":       map[string]any{"type": "layers", "diff_ids": []string{diffID.String()}},
		"history":      []map[string]any{{"created": "2025-03-04T05:06:07Z", "created_by": "hand"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	cfgD := digest.FromBytes(cfg)
	manifest, err := json.Marshal([]map[string]any{{
		"Config":   cfgD.Encoded() + ".json",
		"RepoTags": repoTags,
		"Layers":   []string{diffID.Encoded() + "/layer.tar"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	add := func(name string, data []byte) {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: 0o644, Size: int64(len(data))}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(data); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: diffID.Encoded() + "/", Mode: 0o755}); err != nil {
		t.Fatal(err)
	}
	add(diffID.Encoded()+"/layer.tar", layer)
	add(cfgD.Encoded()+".json", cfg)
	add("manifest.json", manifest)
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes(), cfgD.String()
}

func TestLoadDockerArchive(t *testing.T) {
	s := newService(t, Options{})
	ctx := context.Background()
	layer := rootfsTar(t, map[string]string{"hello.txt": "from a docker archive\n"})
	arch, id := dockerArchive(t, []string{"dockerimg:v1", "example.com/team/dockerimg:v1"}, layer, []string{"/hello"})
	var lines []string
	loaded, err := s.Load(ctx, bytes.NewReader(arch), func(l string) { lines = append(lines, l) })
	if err != nil {
		t.Fatal(err)
	}
	if len(loaded) != 1 || loaded[0].ID != id || !slices.Equal(loaded[0].RepoTags, []string{"dockerimg:v1", "example.com/team/dockerimg:v1"}) {
		t.Fatalf("loaded = %+v, want ID %s", loaded, id)
	}
	slices.Sort(lines)
	if !slices.Equal(lines, []string{"Loaded image: dockerimg:v1", "Loaded image: example.com/team/dockerimg:v1"}) {
		t.Errorf("progress = %q", lines)
	}
	img, err := s.Inspect(ctx, "dockerimg:v1")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(img.Config.Cmd, []string{"/hello"}) || img.Config.Labels["from"] != "docker" || !img.Created.Equal(time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC)) {
		t.Errorf("inspect = %+v", img)
	}
	if got, err := readSnapshotFile(t, s, []digest.Digest{digest.FromBytes(layer)}, "hello.txt"); err != nil || got != "from a docker archive\n" {
		t.Errorf("unpacked file = %q, %v", got, err)
	}

	// Without RepoTags: dangling, by ID.
	arch2, id2 := dockerArchive(t, nil, layer, []string{"/other"})
	loaded, err = s.Load(ctx, bytes.NewReader(arch2), nil)
	if err != nil || len(loaded) != 1 || loaded[0].ID != id2 || len(loaded[0].RepoTags) != 0 {
		t.Fatalf("load untagged = %+v, %v", loaded, err)
	}

	_, err = s.Load(ctx, strings.NewReader("garbage"), nil)
	if err == nil {
		t.Error("load of garbage succeeded")
	}
}

func TestLoadMovesNameKeepsOldImage(t *testing.T) {
	s := newService(t, Options{})
	ctx := context.Background()
	old, err := s.Import(ctx, bytes.NewReader(rootfsTar(t, map[string]string{"old": "1"})), imagetypes.ImportOptions{Ref: "busybox"})
	if err != nil {
		t.Fatal(err)
	}
	loadBusybox(t, s)
	got := tagsOf(t, s, nil)
	if !slices.Equal(got[busyboxInfo.Config.Digest.String()], []string{"busybox:latest"}) {
		t.Errorf("busybox after load: %v", got)
	}
	if tags, ok := got[old.ID]; !ok || len(tags) != 0 {
		t.Errorf("the image that lost its name is %v (present %v), want kept dangling", tags, ok)
	}
	// And it is still usable by ID.
	if _, err := s.ResolveForRun(ctx, old.ID); err != nil {
		t.Errorf("resolve old image: %v", err)
	}
	// Tagging the dangling image names it again; it is no longer dangling.
	if err := s.Tag(ctx, old.ID, "old:kept"); err != nil {
		t.Fatal(err)
	}
	if got := tagsOf(t, s, map[string][]string{"dangling": {"true"}}); len(got) != 0 {
		t.Errorf("dangling after tag: %v", got)
	}
	img, err := s.Inspect(ctx, "old:kept")
	if err != nil || len(img.Names) != 1 {
		t.Errorf("inspect old:kept = %+v, %v", img, err)
	}
}

// TestLoadOtherPlatform: an archive whose only image is for another
// platform is refused with that reason (not containerd's "image might be
// filtered out"), and leaves no image.
func TestLoadOtherPlatform(t *testing.T) {
	s := newService(t, Options{})
	ctx := context.Background()
	spec, err := imagegen.BusyboxSpec(imagegen.BusyboxOptions{Name: "docker.io/library/foreign:1"})
	if err != nil {
		t.Fatal(err)
	}
	spec.Platform = &ocispec.Platform{OS: "linux", Architecture: "s390x"}
	var buf bytes.Buffer
	if _, err := imagegen.WriteOCIArchive(&buf, spec); err != nil {
		t.Fatal(err)
	}
	_, err = s.Load(ctx, &buf, nil)
	if !errdefs.IsInvalidArgument(err) || !strings.Contains(fmt.Sprint(err), "load: the archive has no image for this host's platform (linux/"+runtime.GOARCH) {
		t.Errorf("load of a linux/s390x archive: %v, want no image for this host's platform", err)
	}
	if got := tagsOf(t, s, nil); len(got) != 0 {
		t.Errorf("a refused load left images: %v", got)
	}
}

func TestListFilters(t *testing.T) {
	s := newService(t, Options{})
	ctx := context.Background()

	// A busybox variant with labels, created at imagegen.Epoch (2024).
	spec, err := imagegen.BusyboxSpec(imagegen.BusyboxOptions{Name: "docker.io/library/labeled:1"})
	if err != nil {
		t.Fatal(err)
	}
	spec.Config.Labels = map[string]string{"tier": "web", "team": "a"}
	var buf bytes.Buffer
	if _, err := imagegen.WriteOCIArchive(&buf, spec); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Load(ctx, &buf, nil); err != nil {
		t.Fatal(err)
	}
	labeled, _ := s.Inspect(ctx, "labeled:1")

	// Imports at fixed, increasing times.
	t0 := time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)
	defer func() { nowFunc = time.Now }()
	imp := func(ref string, i int) string {
		nowFunc = func() time.Time { return t0.Add(time.Duration(i) * time.Hour) }
		img, err := s.Import(ctx, bytes.NewReader(rootfsTar(t, map[string]string{"n": ref + fmt.Sprint(i)})), imagetypes.ImportOptions{Ref: ref})
		if err != nil {
			t.Fatal(err)
		}
		return img.ID
	}
	app1 := imp("app:1", 1)
	app2 := imp("app:2", 2)
	other := imp("example.com/other:x", 3)
	dangling := imp("", 4)
	if err := s.Tag(ctx, "app:2", "zzz:2"); err != nil {
		t.Fatal(err)
	}

	keys := func(m map[string][]string) []string {
		var out []string
		for k := range m {
			out = append(out, k)
		}
		slices.Sort(out)
		return out
	}
	sorted := func(ids ...string) []string { slices.Sort(ids); return ids }
	cases := []struct {
		f    map[string][]string
		want []string
	}{
		{nil, sorted(labeled.ID, app1, app2, other, dangling)},
		{map[string][]string{"dangling": {"true"}}, []string{dangling}},
		{map[string][]string{"dangling": {"false"}}, sorted(labeled.ID, app1, app2, other)},
		{map[string][]string{"reference": {"app"}}, sorted(app1, app2)},
		{map[string][]string{"reference": {"app:2"}}, []string{app2}},
		{map[string][]string{"reference": {"a*"}}, sorted(app1, app2)},
		{map[string][]string{"reference": {"example.com/*"}}, []string{other}},
		{map[string][]string{"reference": {"*:1", "zzz"}}, sorted(labeled.ID, app1, app2)},
		{map[string][]string{"label": {"tier"}}, []string{labeled.ID}},
		{map[string][]string{"label": {"tier=web", "team=a"}}, []string{labeled.ID}},
		{map[string][]string{"label": {"tier=db"}}, nil},
		{map[string][]string{"before": {"app:2"}}, sorted(labeled.ID, app1)},
		{map[string][]string{"since": {"app:2"}}, sorted(other, dangling)},
		{map[string][]string{"since": {app1[7:19]}, "dangling": {"false"}}, sorted(app2, other)},
	}
	for _, c := range cases {
		if got := keys(tagsOf(t, s, c.f)); !slices.Equal(got, c.want) {
			t.Errorf("filter %v: got %v, want %v", c.f, got, c.want)
		}
	}
	// A reference filter shows only the matching tags.
	if got := tagsOf(t, s, map[string][]string{"reference": {"zzz"}}); !slices.Equal(got[app2], []string{"zzz:2"}) {
		t.Errorf("reference=zzz tags: %v", got)
	}
	// Newest first.
	list, err := s.List(ctx, imagetypes.ListOptions{})
	if err != nil || len(list) != 5 || list[0].ID != dangling || list[4].ID != labeled.ID {
		t.Errorf("order: %+v, %v", list, err)
	}
	for _, f := range []map[string][]string{{"bogus": {"x"}}, {"dangling": {"maybe"}}, {"reference": {"[x"}}} {
		if _, err := s.List(ctx, imagetypes.ListOptions{Filters: f}); !errdefs.IsInvalidArgument(err) {
			t.Errorf("filter %v: %v, want invalid argument", f, err)
		}
	}
	if _, err := s.List(ctx, imagetypes.ListOptions{Filters: map[string][]string{"before": {"nope"}}}); !errdefs.IsNotFound(err) {
		t.Errorf("before=nope: %v", err)
	}
}

func TestNames(t *testing.T) {
	for in, want := range map[string]string{
		"busybox":                          "docker.io/library/busybox:latest",
		"busybox:1.36":                     "docker.io/library/busybox:1.36",
		"library/busybox":                  "docker.io/library/busybox:latest",
		"localhost:5000/app":               "localhost:5000/app:latest",
		"docker.io/library/busybox:latest": "docker.io/library/busybox:latest",
	} {
		got, err := imagetypes.NormalizeName(in)
		if err != nil || got != want {
			t.Errorf("NormalizeName(%q) = %q, %v; want %q", in, got, err, want)
		}
		if fam := imagetypes.FamiliarName(want); fam != strings.TrimPrefix(strings.TrimPrefix(want, "docker.io/"), "library/") {
			t.Errorf("FamiliarName(%q) = %q", want, fam)
		}
	}
	if _, err := imagetypes.NormalizeName("UPPER"); !errdefs.IsInvalidArgument(err) {
		t.Errorf("NormalizeName(UPPER): %v", err)
	}
	if got := imagetypes.FamiliarName(danglingName(digest.FromString("x"))); got != "<none>:<none>" {
		t.Errorf("FamiliarName(dangling) = %q", got)
	}
	var e error = notFound("x")
	if !errors.Is(e, errdefs.ErrNotFound) {
		t.Error("notFound is not ErrNotFound")
	}
}

// TestLoadManyLayers loads busybox with 130 small layers on top (the
// "many layers" benchmark image) and checks the top layer's content.
func TestLoadManyLayers(t *testing.T) {
	s := newService(t, Options{})
	ctx := context.Background()
	spec, err := imagegen.BusyboxSpec(imagegen.BusyboxOptions{Name: "localhost/many:latest"})
	if err != nil {
		t.Fatal(err)
	}
	spec.Layers = append(spec.Layers, imagegen.DataLayers(2, 1<<20, 1)...)
	spec.Layers = append(spec.Layers, imagegen.SmallLayers(130)...)
	var buf bytes.Buffer
	info, err := imagegen.WriteOCIArchive(&buf, spec)
	if err != nil {
		t.Fatal(err)
	}
	loaded, err := s.Load(ctx, &buf, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(loaded) != 1 || loaded[0].ID != info.Config.Digest.String() || len(loaded[0].RootFS.Layers) != 133 ||
		!slices.Equal(loaded[0].RepoTags, []string{"localhost/many:latest"}) {
		t.Fatalf("loaded = %+v", loaded)
	}
	// Two MiB of random data are in the unpacked size.
	if loaded[0].Size < 2<<20 {
		t.Errorf("size %d", loaded[0].Size)
	}
	got, err := readSnapshotFile(t, s, info.DiffIDs, "layers/0129")
	if err != nil || got != "layer 129\n" {
		t.Errorf("top layer file = %q, %v", got, err)
	}
}

// TestLoadOCINames: a short io.containerd.image.name is normalised; an
// archive without names loads dangling.
func TestLoadOCINames(t *testing.T) {
	s := newService(t, Options{})
	ctx := context.Background()
	for _, c := range []struct{ name, want string }{{"busybox:custom", "busybox:custom"}, {"", ""}} {
		spec, err := imagegen.BusyboxSpec(imagegen.BusyboxOptions{})
		if err != nil {
			t.Fatal(err)
		}
		spec.Name = c.name
		spec.Config.Env = append(spec.Config.Env, "CASE="+c.name) // a distinct ID per case
		var buf bytes.Buffer
		info, err := imagegen.WriteOCIArchive(&buf, spec)
		if err != nil {
			t.Fatal(err)
		}
		loaded, err := s.Load(ctx, &buf, nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(loaded) != 1 || loaded[0].ID != info.Config.Digest.String() {
			t.Fatalf("load %q: %+v", c.name, loaded)
		}
		if c.want == "" {
			if len(loaded[0].RepoTags) != 0 {
				t.Errorf("unnamed archive loaded as %v", loaded[0].RepoTags)
			}
			continue
		}
		if !slices.Equal(loaded[0].RepoTags, []string{c.want}) || !slices.Equal(loaded[0].Names, []string{"docker.io/library/" + c.want}) {
			t.Errorf("load %q: tags %v names %v", c.name, loaded[0].RepoTags, loaded[0].Names)
		}
	}
}

func TestParseFilterTime(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	for _, c := range []struct {
		in   string
		want time.Time
	}{
		{"2026-01-02T03:04:05.5Z", time.Date(2026, 1, 2, 3, 4, 5, 5e8, time.UTC)},
		{"1700000000", time.Unix(1_700_000_000, 0)},
		{"1700000000.25", time.Unix(1_700_000_000, 25e7)},
		{"24h", now.Add(-24 * time.Hour)},
	} {
		got, err := parseFilterTime(c.in, now)
		if err != nil || !got.Equal(c.want) {
			t.Errorf("parseFilterTime(%q) = %v, %v; want %v", c.in, got, err, c.want)
		}
	}
	if _, err := parseFilterTime("soon", now); err == nil {
		t.Error(`parseFilterTime("soon") gave no error`)
	}
}

// TestUnpackLeaseIsBerths: an unpack on the way to a run (the image not
// yet unpacked in the service's snapshotter) holds a berth lease, labelled
// with its holder, so that berthd's next start removes it when berthd is
// killed in the middle of the unpack (the containerd client's own lease
// stayed a day: the chaos soak found one).
func TestUnpackLeaseIsBerths(t *testing.T) {
	var mu sync.Mutex
	var created []map[string]string
	rec := func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		if r, ok := req.(*leasesapi.CreateRequest); ok {
			mu.Lock()
			created = append(created, r.Labels)
			mu.Unlock()
		}
		return invoker(ctx, method, req, reply, cc, opts...)
	}
	c, err := client.New(testSocket, client.WithTimeout(5*time.Second),
		client.WithDialOpts([]grpc.DialOption{grpc.WithUnaryInterceptor(rec), grpc.WithTransportCredentials(insecure.NewCredentials())}))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ns := fmt.Sprintf("t%d", nsCounter.Add(1))
	loadBusybox(t, New(testClient, Options{Namespace: ns, Snapshotter: "overlayfs"}))
	// Its layer's snapshot removed: not unpacked any more.
	chain := identity.ChainID(busyboxInfo.DiffIDs).String()
	if err := testClient.SnapshotService("overlayfs").Remove(namespaces.WithNamespace(context.Background(), ns), chain); err != nil {
		t.Fatal(err)
	}
	s := New(c, Options{Namespace: ns, Snapshotter: "overlayfs"})
	if _, err := s.ResolveForRun(context.Background(), "busybox"); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(created) == 0 {
		t.Fatal("no lease taken for the unpack")
	}
	for _, labels := range created {
		if labels[lease.LabelHolder] == "" {
			t.Errorf("a lease of the unpack has no %s label: %v", lease.LabelHolder, labels)
		}
	}
}
