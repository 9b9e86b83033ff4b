package image

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/containerd/containerd/v2/core/images"
	"github.com/containerd/containerd/v2/core/snapshots"
	"github.com/containerd/errdefs"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	imagetypes "github.com/berthproject/berth/pkg/types/image"
	"github.com/berthproject/berth/test/harness"
	"github.com/berthproject/berth/test/images/imagegen"
)

// pushBusybox loads busybox into a fresh service, names it ref and pushes it.
func pushBusybox(t *testing.T, ref string, auth *imagetypes.AuthConfig) {
	t.Helper()
	ctx := context.Background()
	s := newService(t, Options{})
	loadBusybox(t, s)
	if err := s.Tag(ctx, "busybox", ref); err != nil {
		t.Fatal(err)
	}
	var got []imagetypes.Progress
	res, err := s.Push(ctx, ref, imagetypes.PushOptions{Auth: auth, Progress: func(p imagetypes.Progress) { got = append(got, p) }})
	if err != nil {
		t.Fatalf("push %s: %v", ref, err)
	}
	if res.Digest != busyboxInfo.Manifest.Digest.String() {
		t.Errorf("pushed digest %s, want the manifest's %s", res.Digest, busyboxInfo.Manifest.Digest)
	}
	if !hasStatus(got, imagetypes.StatusPushed) {
		t.Errorf("no %q in the push progress: %+v", imagetypes.StatusPushed, got)
	}
}

func hasStatus(ps []imagetypes.Progress, status string) bool {
	for _, p := range ps {
		if p.Status == status {
			return true
		}
	}
	return false
}

func TestPushPull(t *testing.T) {
	ctx := context.Background()
	reg := harness.StartRegistry(t, harness.RegistryOptions{})
	ref := reg.Addr() + "/test/busybox:v1"
	pushBusybox(t, ref, nil)

	s := newService(t, Options{})
	var mu sync.Mutex
	var got []imagetypes.Progress
	img, err := s.Pull(ctx, ref, imagetypes.PullOptions{Progress: func(p imagetypes.Progress) { mu.Lock(); got = append(got, p); mu.Unlock() }})
	if err != nil {
		t.Fatalf("pull: %v", err)
	}
	if img.ID != busyboxInfo.Config.Digest.String() {
		t.Errorf("pulled image ID %s, want %s", img.ID, busyboxInfo.Config.Digest)
	}
	if len(img.RepoDigests) != 1 || !strings.HasSuffix(img.RepoDigests[0], "@"+busyboxInfo.Manifest.Digest.String()) {
		t.Errorf("RepoDigests = %v", img.RepoDigests)
	}
	if !hasStatus(got, imagetypes.StatusPullComplete) || got[len(got)-1].Message != "Status: Downloaded newer image for "+ref {
		t.Errorf("progress: %+v", got)
	}
	// Unpacked: a container could run on it.
	if _, err := s.ResolveForRun(ctx, ref); err != nil {
		t.Fatal(err)
	}
	// A second pull finds it up to date.
	got = nil
	if _, err := s.Pull(ctx, ref, imagetypes.PullOptions{Progress: func(p imagetypes.Progress) { got = append(got, p) }}); err != nil {
		t.Fatal(err)
	}
	if got[len(got)-1].Message != "Status: Image is up to date for "+ref {
		t.Errorf("second pull: %+v", got[len(got)-1])
	}
	// Saved by repo@digest: the archive names no tag (as dockerd's save).
	var buf bytes.Buffer
	if err := s.Save(ctx, &buf, []string{img.RepoDigests[0]}); err != nil {
		t.Fatal(err)
	}
	var idx ocispec.Index
	if err := json.Unmarshal(tarFiles(t, buf.Bytes())["index.json"], &idx); err != nil || len(idx.Manifests) != 1 {
		t.Fatalf("index.json: %+v, %v", idx, err)
	}
	if a := idx.Manifests[0].Annotations; a[images.AnnotationImageName] != "" || a[ocispec.AnnotationRefName] != "" {
		t.Errorf("saved by digest, the archive names %v", a)
	}
}

func TestPullConcurrent(t *testing.T) {
	reg := harness.StartRegistry(t, harness.RegistryOptions{})
	ref := reg.Addr() + "/busybox:latest"
	pushBusybox(t, ref, nil)
	s := newService(t, Options{})
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = s.Pull(context.Background(), ref, imagetypes.PullOptions{})
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Inspect(context.Background(), ref); err != nil {
		t.Fatal(err)
	}
}

func TestPullErrors(t *testing.T) {
	ctx := context.Background()
	reg := harness.StartRegistry(t, harness.RegistryOptions{})
	s := newService(t, Options{})

	_, err := s.Pull(ctx, reg.Addr()+"/nothing:here", imagetypes.PullOptions{})
	if !errdefs.IsNotFound(err) || !strings.Contains(err.Error(), "not found") {
		t.Errorf("unknown repository: %v", err)
	}
	pushBusybox(t, reg.Addr()+"/busybox:latest", nil)
	_, err = s.Pull(ctx, reg.Addr()+"/busybox:nosuchtag", imagetypes.PullOptions{})
	if !errdefs.IsNotFound(err) {
		t.Errorf("unknown tag: %v", err)
	}

	// A port nobody listens on: a clear error naming the registry, at once.
	down := harness.StartRegistry(t, harness.RegistryOptions{})
	down.Stop()
	_, err = s.Pull(ctx, down.Addr()+"/busybox", imagetypes.PullOptions{})
	if !errdefs.IsUnavailable(err) || !strings.Contains(err.Error(), down.Addr()) {
		t.Errorf("unreachable registry: %v", err)
	}

	// A blob whose content does not match its digest fails the pull and
	// leaves no image and no snapshot. The image goes to the registry
	// with skopeo, so that containerd has never seen its blobs.
	bad := harness.StartRegistry(t, harness.RegistryOptions{})
	ref := bad.Addr() + "/corrupt:latest"
	info := skopeoPush(t, ref, imagegen.DataLayers(1, 1<<20, uint64(time.Now().UnixNano())))
	layer := info.Layers[len(info.Layers)-1].Digest.String()
	b, err := os.ReadFile(bad.BlobPath(layer))
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 0xff
	if err := os.WriteFile(bad.BlobPath(layer), b, 0o644); err != nil {
		t.Fatal(err)
	}
	s2 := newService(t, Options{})
	_, err = s2.Pull(ctx, ref, imagetypes.PullOptions{})
	if !errors.Is(err, errdefs.ErrDataLoss) || !strings.Contains(err.Error(), "digest") {
		t.Fatalf("corrupt blob: %v", err)
	}
	if list, _ := s2.List(ctx, imagetypes.ListOptions{}); len(list) != 0 {
		t.Errorf("images after a failed pull: %+v", list)
	}
	n := 0
	_ = testClient.SnapshotService("overlayfs").Walk(s2.ns(ctx), func(_ context.Context, i snapshots.Info) error {
		// Complete, verified layers may stay (the garbage collector takes
		// them); a half-extracted one may not.
		if i.Kind != snapshots.KindCommitted {
			n++
		}
		return nil
	})
	if n != 0 {
		t.Errorf("%d uncommitted snapshots left after a failed pull", n)
	}
}

// skopeoPush writes busybox plus extra layers as an OCI archive and copies
// it to ref with skopeo.
func skopeoPush(t *testing.T, ref string, extra []imagegen.Layer) imagegen.ImageInfo {
	t.Helper()
	if _, err := exec.LookPath("skopeo"); err != nil {
		t.Skip("needs skopeo")
	}
	spec, err := imagegen.BusyboxSpec(imagegen.BusyboxOptions{})
	if err != nil {
		t.Fatal(err)
	}
	spec.Layers = append(spec.Layers, extra...)
	f, err := os.Create(filepath.Join(t.TempDir(), "img.tar"))
	if err != nil {
		t.Fatal(err)
	}
	info, err := imagegen.WriteOCIArchive(f, spec)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("skopeo", "copy", "--dest-tls-verify=false", "oci-archive:"+f.Name(), "docker://"+ref).CombinedOutput()
	if err != nil {
		t.Fatalf("skopeo copy: %v: %s", err, out)
	}
	return info
}

func TestPushPullAuth(t *testing.T) {
	ctx := context.Background()
	reg := harness.StartRegistry(t, harness.RegistryOptions{User: "alice", Password: "s3cret"})
	ref := reg.Addr() + "/private/busybox:latest"
	good := &imagetypes.AuthConfig{ServerAddress: reg.Addr(), Username: "alice", Password: "s3cret"}
	wrong := &imagetypes.AuthConfig{ServerAddress: reg.Addr(), Username: "alice", Password: "nope"}
	s := newService(t, Options{})

	if _, err := s.Login(ctx, *good); err != nil {
		t.Fatalf("login: %v", err)
	}
	if _, err := s.Login(ctx, *wrong); !errdefs.IsUnauthorized(err) {
		t.Errorf("login with a wrong password: %v", err)
	}
	loadBusybox(t, s)
	if err := s.Tag(ctx, "busybox", ref); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Push(ctx, ref, imagetypes.PushOptions{}); !errdefs.IsUnauthorized(err) {
		t.Errorf("push without credentials: %v", err)
	}
	if _, err := s.Push(ctx, ref, imagetypes.PushOptions{Auth: wrong}); !errdefs.IsUnauthorized(err) {
		t.Errorf("push with wrong credentials: %v", err)
	}
	if _, err := s.Push(ctx, ref, imagetypes.PushOptions{Auth: good}); err != nil {
		t.Fatalf("push: %v", err)
	}
	s2 := newService(t, Options{})
	if _, err := s2.Pull(ctx, ref, imagetypes.PullOptions{Auth: wrong}); !errdefs.IsUnauthorized(err) || !strings.Contains(err.Error(), "unauthorized") {
		t.Errorf("pull with wrong credentials: %v", err)
	}
	if _, err := s2.Pull(ctx, ref, imagetypes.PullOptions{Auth: good}); err != nil {
		t.Fatalf("pull: %v", err)
	}
}

func TestPullFromMirror(t *testing.T) {
	ctx := context.Background()
	mirror := harness.StartRegistry(t, harness.RegistryOptions{})
	pushBusybox(t, mirror.Addr()+"/library/busybox:latest", nil)
	// The registry itself is down: only the mirror can serve the pull.
	down := harness.StartRegistry(t, harness.RegistryOptions{})
	down.Stop()
	s := newService(t, Options{Registry: RegistryOptions{
		Mirrors:  map[string][]string{down.Addr(): {"http://" + mirror.Addr()}},
		HostsDir: t.TempDir(),
	}})
	img, err := s.Pull(ctx, down.Addr()+"/library/busybox:latest", imagetypes.PullOptions{})
	if err != nil {
		t.Fatalf("pull through the mirror: %v", err)
	}
	if img.ID != busyboxInfo.Config.Digest.String() {
		t.Errorf("ID %s", img.ID)
	}
	// Without the mirror the same pull fails, naming the registry.
	s2 := newService(t, Options{})
	if _, err := s2.Pull(ctx, down.Addr()+"/library/busybox:latest", imagetypes.PullOptions{}); !errdefs.IsUnavailable(err) || !strings.Contains(err.Error(), down.Addr()) {
		t.Errorf("no mirror: %v", err)
	}
}

func TestHostsFile(t *testing.T) {
	dir := t.TempDir()
	ca := t.TempDir()
	if err := os.MkdirAll(filepath.Join(ca, "reg.example:5000"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(ca, "reg.example:5000", "ca.crt"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	s := New(testClient, Options{Registry: RegistryOptions{
		Insecure: []string{"10.0.0.0/8"},
		Mirrors:  map[string][]string{"docker.io": {"http://127.0.0.1:5001"}},
		CADir:    ca,
	}})
	for host, want := range map[string][]string{
		"docker.io":        {`server = "https://registry-1.docker.io"`, `[host."http://127.0.0.1:5001"]`, `capabilities = ["pull", "resolve"]`},
		"10.1.2.3:5000":    {`server = "http://10.1.2.3:5000"`, `skip_verify = true`},
		"reg.example:5000": {`server = "https://reg.example:5000"`, `ca = ["` + filepath.Join(ca, "reg.example:5000", "ca.crt") + `"]`},
	} {
		content, special := s.hostsFile(host)
		if !special {
			t.Errorf("%s: no hosts file", host)
		}
		if err := writeHostsFile(dir, host, content, special); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(filepath.Join(dir, host, "hosts.toml"))
		if err != nil {
			t.Fatal(err)
		}
		for _, w := range want {
			if !strings.Contains(string(b), w) {
				t.Errorf("%s: hosts.toml lacks %s:\n%s", host, w, b)
			}
		}
	}
	// Nothing special: no file (containerd's defaults apply).
	if content, special := s.hostsFile("127.0.0.1:5000"); special {
		t.Errorf("a hosts file for a plain loopback registry:\n%s", content)
	}
}
