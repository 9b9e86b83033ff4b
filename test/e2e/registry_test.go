package e2e

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berthproject/berth/test/harness"
	"github.com/berthproject/berth/test/images/imagegen"
)

// TestRegistry pushes, pulls and logs in against real distribution
// registries on loopback, and checks what berth pushed with skopeo.
func TestRegistry(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("skopeo"); err != nil {
		t.Skip("needs skopeo")
	}
	s := harness.Start(t)
	s.LoadBusybox()
	clean := harness.Start(t) // a second stack that has never seen the images
	reg := harness.StartRegistry(t, harness.RegistryOptions{})
	c := cli{t: t, s: s}
	c2 := cli{t: t, s: clean}

	ref := reg.Addr() + "/e2e/busybox:v1"
	c.ok("tag", "busybox", ref)
	var pushedDigest string
	t.Run("Push", func(t *testing.T) {
		out := c.ok("push", ref)
		// Not a terminal: plain lines, one per state change.
		if !strings.Contains(out, "The push refers to repository ["+reg.Addr()+"/e2e/busybox]") || !strings.Contains(out, ": Pushed") {
			t.Fatalf("push output:\n%s", out)
		}
		_, rest, ok := strings.Cut(out, "v1: digest: ")
		if !ok {
			t.Fatalf("no digest line:\n%s", out)
		}
		pushedDigest = strings.Fields(rest)[0]
	})
	t.Run("SkopeoChecksPush", func(t *testing.T) {
		out := skopeo(t, "inspect", "--tls-verify=false", "docker://"+ref)
		var info struct{ Digest, Architecture, Os string }
		if err := json.Unmarshal([]byte(out), &info); err != nil {
			t.Fatalf("%v: %s", err, out)
		}
		if info.Digest != pushedDigest || info.Os != "linux" {
			t.Errorf("skopeo sees %+v, berth pushed %s", info, pushedDigest)
		}
		// skopeo copy verifies every blob's digest.
		skopeo(t, "copy", "--src-tls-verify=false", "docker://"+ref, "oci:"+filepath.Join(t.TempDir(), "copy")+":v1")
	})
	t.Run("RunPullsMissingImage", func(t *testing.T) {
		// As Docker: run pulls an image it does not have (progress on
		// stderr, the container's output alone on stdout); --pull never
		// does not.
		r := c2.run("run", "--rm", "--network", "none", ref, "echo", "ran-after-pull")
		if r.code != 0 || r.out() != "ran-after-pull" || !strings.Contains(r.stderr, "Unable to find image '"+ref+"' locally") {
			t.Fatalf("run of a missing image: %s", r)
		}
		c2.ok("rmi", ref)
		c2.fails(125, []string{"No such image"}, "run", "--rm", "--pull", "never", ref, "true")
	})
	t.Run("PullIntoCleanStack", func(t *testing.T) {
		out := c2.ok("pull", ref)
		for _, want := range []string{"v1: Pulling from e2e/busybox", ": Pull complete", "Digest: " + pushedDigest,
			"Status: Downloaded newer image for " + ref, reg.Addr() + "/e2e/busybox:v1"} {
			if !strings.Contains(out, want) {
				t.Errorf("pull output lacks %q:\n%s", want, out)
			}
		}
		if got := c2.ok("run", "--rm", "--network", "none", ref, "echo", "pulled"); got != "pulled" {
			t.Errorf("run on the pulled image: %q", got)
		}
		if out := c2.ok("images", "--digests", "--format", "{{.Repository}} {{.Digest}}"); !strings.Contains(out, reg.Addr()+"/e2e/busybox "+pushedDigest) {
			t.Errorf("images --digests:\n%s", out)
		}
		if out := c2.ok("history", ref); !strings.Contains(out, "IMAGE") || len(strings.Split(out, "\n")) < 2 {
			t.Errorf("history:\n%s", out)
		}
		if out := c2.ok("pull", ref); !strings.Contains(out, "Status: Image is up to date for "+ref) {
			t.Errorf("second pull:\n%s", out)
		}
	})
	t.Run("Errors", func(t *testing.T) {
		c2.fails(1, []string{"not found", reg.Addr()}, "pull", reg.Addr()+"/e2e/nosuchrepo:v1")
		c2.fails(1, []string{"not found"}, "pull", reg.Addr()+"/e2e/busybox:nosuchtag")
		down := harness.StartRegistry(t, harness.RegistryOptions{})
		down.Stop()
		r := c2.fails(1, []string{"unreachable", down.Addr()}, "pull", down.Addr()+"/busybox")
		if r.took > time.Minute {
			t.Errorf("an unreachable registry took %s", r.took)
		}
		c.fails(1, []string{"does not exist locally"}, "push", reg.Addr()+"/e2e/never-tagged")
	})
	t.Run("CorruptBlob", func(t *testing.T) {
		bad := reg.Addr() + "/e2e/corrupt:latest"
		info := skopeoPush(t, bad, imagegen.DataLayers(1, 1<<20, uint64(time.Now().UnixNano())))
		blob := reg.BlobPath(info.Layers[len(info.Layers)-1].Digest.String())
		b, err := os.ReadFile(blob)
		if err != nil {
			t.Fatal(err)
		}
		b[len(b)/2] ^= 0xff
		if err := os.WriteFile(blob, b, 0o644); err != nil {
			t.Fatal(err)
		}
		c2.fails(1, []string{"does not match its digest"}, "pull", bad)
		if out := c2.ok("images", "-q", reg.Addr()+"/e2e/corrupt"); out != "" {
			t.Errorf("a failed pull left an image: %s", out)
		}
	})
	t.Run("ConcurrentPulls", func(t *testing.T) {
		other := harness.Start(t)
		co := cli{t: t, s: other}
		var wg sync.WaitGroup
		results := make([]result, 2)
		for i := range results {
			wg.Add(1)
			go func() { defer wg.Done(); results[i] = co.run("pull", "-q", ref) }()
		}
		wg.Wait()
		for _, r := range results {
			if r.code != 0 {
				t.Errorf("concurrent pull: %s", r)
			}
		}
		co.ok("image", "inspect", ref)
	})
	t.Run("MultiPlatform", func(t *testing.T) {
		multi := reg.Addr() + "/e2e/multi:latest"
		layout := multiPlatformLayout(t)
		skopeo(t, "copy", "--all", "--dest-tls-verify=false", "oci:"+layout+":latest", "docker://"+multi)
		c2.ok("pull", multi)
		if arch := c2.ok("image", "inspect", "--format", "{{.Architecture}}", multi); arch != "amd64" {
			t.Errorf("default platform pulled %s", arch)
		}
		out := c2.ok("pull", "--platform", "linux/arm64", multi)
		if !strings.Contains(out, "Digest: ") {
			t.Errorf("pull --platform:\n%s", out)
		}
		// Both platforms are here now: a push sends the whole index.
		copyRef := reg.Addr() + "/e2e/multi-copy:latest"
		c2.ok("tag", multi, copyRef)
		c2.ok("push", copyRef)
		raw := skopeo(t, "inspect", "--raw", "--tls-verify=false", "docker://"+copyRef)
		var idx ocispec.Index
		if err := json.Unmarshal([]byte(raw), &idx); err != nil || len(idx.Manifests) != 2 {
			t.Errorf("pushed index: %v %s", err, raw)
		}
	})
	t.Run("SaveLoadSeveral", func(t *testing.T) {
		c.ok("tag", "busybox", "e2e-reg-a:1")
		c.ok("tag", "busybox", "e2e-reg-b:2")
		archive := filepath.Join(t.TempDir(), "two.tar")
		c.ok("save", "-o", archive, "e2e-reg-a:1", "e2e-reg-b:2")
		c.ok("rmi", "e2e-reg-a:1", "e2e-reg-b:2")
		out := c.ok("load", "-i", archive)
		if !strings.Contains(out, "Loaded image: e2e-reg-a:1") || !strings.Contains(out, "Loaded image: e2e-reg-b:2") {
			t.Errorf("load:\n%s", out)
		}
		c.ok("rmi", "e2e-reg-a:1", "e2e-reg-b:2")
	})
	t.Run("Prune", func(t *testing.T) {
		c2.ok("tag", ref, "e2e-prune:x")
		out := c2.ok("image", "prune", "-a", "-f")
		if !strings.Contains(out, "untagged: e2e-prune:x") || !strings.Contains(out, "Total reclaimed space:") {
			t.Errorf("prune -a:\n%s", out)
		}
		if out := c2.ok("images", "-q"); out != "" {
			t.Errorf("images left after prune -a:\n%s", out)
		}
	})
}

// TestRegistryAuth logs in to a registry with htpasswd authentication.
func TestRegistryAuth(t *testing.T) {
	t.Parallel()
	s := harness.Start(t)
	s.LoadBusybox()
	reg := harness.StartRegistry(t, harness.RegistryOptions{User: "alice", Password: "s3cret"})
	cfgDir := t.TempDir()
	env := []string{"DOCKER_CONFIG=" + cfgDir}
	c := cli{t: t, s: s}
	ref := reg.Addr() + "/private/busybox:latest"
	c.ok("tag", "busybox", ref)

	r := runEnv(t, s, env, "", "push", ref)
	if r.code != 1 || !strings.Contains(r.stderr, "unauthorized") {
		t.Errorf("push without login: %s", r)
	}
	r = runEnv(t, s, env, "wrong\n", "login", "-u", "alice", "--password-stdin", reg.Addr())
	if r.code != 1 || !strings.Contains(r.stderr, "unauthorized") {
		t.Errorf("login with a wrong password: %s", r)
	}
	if _, err := os.Stat(filepath.Join(cfgDir, "config.json")); err == nil {
		t.Error("a failed login wrote config.json")
	}
	r = runEnv(t, s, env, "s3cret\n", "login", "-u", "alice", "--password-stdin", reg.Addr())
	if r.code != 0 || !strings.Contains(r.stdout, "Login Succeeded") {
		t.Fatalf("login: %s", r)
	}
	b, _ := os.ReadFile(filepath.Join(cfgDir, "config.json"))
	if !strings.Contains(string(b), `"`+reg.Addr()+`"`) {
		t.Errorf("config.json after login: %s", b)
	}
	if r = runEnv(t, s, env, "", "push", ref); r.code != 0 {
		t.Fatalf("push after login: %s", r)
	}
	skopeo(t, "inspect", "--tls-verify=false", "--creds", "alice:s3cret", "docker://"+ref)
	c.ok("rmi", ref)
	if r = runEnv(t, s, env, "", "pull", ref); r.code != 0 {
		t.Fatalf("pull after login: %s", r)
	}
	r = runEnv(t, s, env, "", "logout", reg.Addr())
	if r.code != 0 || !strings.Contains(r.stdout, "Removing login credentials for "+reg.Addr()) {
		t.Errorf("logout: %s", r)
	}
	c.ok("rmi", ref)
	if r = runEnv(t, s, env, "", "pull", ref); r.code != 1 || !strings.Contains(r.stderr, "unauthorized") {
		t.Errorf("pull after logout: %s", r)
	}
}

// TestPullInterrupted kills the client, then the registry, in the middle of
// a pull: nothing is left visible, and the next pull completes. The
// registry is reached through a slow proxy (about 32 MB/s), so that "the
// middle" exists however fast the machine is.
func TestPullInterrupted(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("skopeo"); err != nil {
		t.Skip("needs skopeo")
	}
	s := harness.Start(t)
	reg := harness.StartRegistry(t, harness.RegistryOptions{})
	skopeoPush(t, reg.Addr()+"/e2e/big:latest", imagegen.DataLayers(4, 24<<20, uint64(time.Now().UnixNano())))
	proxy := startSlowProxy(t, reg.Addr(), "")
	ref := proxy.addr + "/e2e/big:latest"
	c := cli{t: t, s: s}

	// The client goes away once the download has begun.
	cmd := s.Cmd("pull", ref)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitLine(t, stdout, ": Downloading")
	_ = cmd.Process.Signal(syscall.SIGKILL)
	_ = cmd.Wait()
	eventually(t, 30*time.Second, "no image after the client died", func() bool {
		return c.ok("images", "-q") == ""
	})

	// The registry goes away in the middle.
	cmd = s.Cmd("pull", ref)
	stdout, err = cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitLine(t, stdout, ": Downloading")
	proxy.stop()
	go func() { _, _ = io.Copy(io.Discard, stdout) }()
	if err := cmd.Wait(); err == nil {
		t.Error("a pull whose registry died succeeded")
	} else if !strings.Contains(stderr.String(), proxy.addr) {
		t.Errorf("error does not name the registry: %s", stderr.String())
	}
	if out := c.ok("images", "-q"); out != "" {
		t.Errorf("an interrupted pull left an image: %s", out)
	}
	startSlowProxy(t, reg.Addr(), proxy.addr) // back, on the same address
	out := c.ok("pull", ref)
	if !strings.Contains(out, "Status: Downloaded newer image") {
		t.Errorf("pull after the interruptions:\n%s", out)
	}
	c.ok("run", "--rm", "--network", "none", ref, "true")
}

// slowProxy forwards TCP connections to a registry, sending its answers at
// about 32 MB/s; stop closes it and every connection, as a registry that
// dies.
type slowProxy struct {
	addr  string
	ln    net.Listener
	mu    sync.Mutex
	conns []net.Conn
	done  bool
}

func startSlowProxy(t *testing.T, target, addr string) *slowProxy {
	t.Helper()
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	var ln net.Listener
	var err error
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if ln, err = net.Listen("tcp", addr); err == nil || time.Now().After(deadline) {
			break
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	p := &slowProxy{addr: ln.Addr().String(), ln: ln}
	t.Cleanup(p.stop)
	go func() {
		for {
			in, err := ln.Accept()
			if err != nil {
				return
			}
			out, err := net.Dial("tcp", target)
			if err != nil {
				in.Close()
				continue
			}
			p.mu.Lock()
			if p.done {
				p.mu.Unlock()
				in.Close()
				out.Close()
				return
			}
			p.conns = append(p.conns, in, out)
			p.mu.Unlock()
			go func() { _, _ = io.Copy(out, in); out.Close() }()
			go func() { slowCopy(in, out); in.Close() }()
		}
	}()
	return p
}

func (p *slowProxy) stop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.done {
		return
	}
	p.done = true
	p.ln.Close()
	for _, c := range p.conns {
		c.Close()
	}
}

// slowCopy copies at about 32 MB/s (64 KiB every 2 ms).
func slowCopy(dst io.Writer, src io.Reader) {
	buf := make([]byte, 64<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
			time.Sleep(2 * time.Millisecond)
		}
		if err != nil {
			return
		}
	}
}

// waitLine reads r until a line contains want (or fails after a minute).
func waitLine(t *testing.T, r io.Reader, want string) {
	t.Helper()
	found := make(chan bool, 1)
	go func() {
		buf := make([]byte, 0, 4096)
		tmp := make([]byte, 512)
		for {
			n, err := r.Read(tmp)
			buf = append(buf, tmp[:n]...)
			if bytes.Contains(buf, []byte(want)) {
				found <- true
				return
			}
			if err != nil {
				found <- false
				return
			}
		}
	}()
	select {
	case ok := <-found:
		if !ok {
			t.Fatalf("output ended before %q", want)
		}
	case <-time.After(time.Minute):
		t.Fatalf("no %q within a minute", want)
	}
}

// runEnv runs berth against s with extra environment and stdin.
func runEnv(t *testing.T, s *harness.Stack, env []string, stdin string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), cmdTimeout)
	defer cancel()
	cmd := s.Cmd(args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { <-ctx.Done(); _ = cmd.Process.Kill() }()
	err := cmd.Wait()
	r := result{args: args, stdout: stdout.String(), stderr: stderr.String(), took: time.Since(start)}
	if ee, ok := err.(*exec.ExitError); ok {
		r.code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("berth %v: %v", args, err)
	}
	return r
}

func skopeo(t *testing.T, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "skopeo", args...).Output()
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		t.Fatalf("skopeo %s: %v: %s", strings.Join(args, " "), err, stderr)
	}
	return string(out)
}

// skopeoPush writes busybox plus extra layers as an OCI archive and copies
// it to ref with skopeo (so berth's stacks have never seen its blobs).
func skopeoPush(t *testing.T, ref string, extra []imagegen.Layer) imagegen.ImageInfo {
	t.Helper()
	spec, err := imagegen.BusyboxSpec(imagegen.BusyboxOptions{})
	if err != nil {
		t.Fatal(err)
	}
	spec.Layers = append(spec.Layers, extra...)
	path := filepath.Join(t.TempDir(), "img.tar")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	info, err := imagegen.WriteOCIArchive(f, spec)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	skopeo(t, "copy", "--dest-tls-verify=false", "oci-archive:"+path, "docker://"+ref)
	return info
}

// multiPlatformLayout makes an OCI layout whose "latest" is an index of two
// images: busybox for linux/amd64, and the same layers with an arm64 config
// (enough for a registry and for berth, which never runs it).
func multiPlatformLayout(t *testing.T) string {
	t.Helper()
	spec, err := imagegen.BusyboxSpec(imagegen.BusyboxOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	info, err := imagegen.WriteOCIArchive(&buf, spec)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "layout")
	untar(t, &buf, dir)
	blob := func(d digest.Digest) []byte {
		b, err := os.ReadFile(filepath.Join(dir, "blobs", "sha256", d.Encoded()))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	put := func(mediaType string, v any) ocispec.Descriptor {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		d := digest.Digest(fmt.Sprintf("sha256:%x", sha256.Sum256(b)))
		if err := os.WriteFile(filepath.Join(dir, "blobs", "sha256", d.Encoded()), b, 0o644); err != nil {
			t.Fatal(err)
		}
		return ocispec.Descriptor{MediaType: mediaType, Digest: d, Size: int64(len(b))}
	}
	var cfg ocispec.Image
	if err := json.Unmarshal(blob(info.Config.Digest), &cfg); err != nil {
		t.Fatal(err)
	}
	var mf ocispec.Manifest
	if err := json.Unmarshal(blob(info.Manifest.Digest), &mf); err != nil {
		t.Fatal(err)
	}
	cfg.Architecture = "arm64"
	armMf := mf
	armMf.Config = put(ocispec.MediaTypeImageConfig, cfg)
	armDesc := put(ocispec.MediaTypeImageManifest, armMf)
	armDesc.Platform = &ocispec.Platform{OS: "linux", Architecture: "arm64"}
	amdDesc := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: info.Manifest.Digest, Size: info.Manifest.Size,
		Platform: &ocispec.Platform{OS: "linux", Architecture: "amd64"}}
	idx := ocispec.Index{MediaType: ocispec.MediaTypeImageIndex, Manifests: []ocispec.Descriptor{amdDesc, armDesc}}
	idx.SchemaVersion = 2
	idxDesc := put(ocispec.MediaTypeImageIndex, idx)
	idxDesc.Annotations = map[string]string{ocispec.AnnotationRefName: "latest"}
	top := ocispec.Index{Manifests: []ocispec.Descriptor{idxDesc}}
	top.SchemaVersion = 2
	b, _ := json.Marshal(top)
	if err := os.WriteFile(filepath.Join(dir, "index.json"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

func untar(t *testing.T, r io.Reader, dir string) {
	t.Helper()
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, filepath.Clean("/"+h.Name))
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(p, 0o755); err != nil {
				t.Fatal(err)
			}
		case tar.TypeReg:
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			b, err := io.ReadAll(tr)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
}
