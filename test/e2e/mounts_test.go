package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// Volume subpaths, image mounts (docs/volumes.md "Subpaths and image
// mounts") and shared binds, with berth's CLI (TestVolumes) and the
// docker CLI (TestDockerCLI): the --mount syntax is the same.

// testVolumeSubpath: volume-subpath mounts one directory or file of a
// volume, through symbolic links that stay inside it; one that leads out,
// a missing one or a lexical escape is refused and leaves nothing mounted.
func testVolumeSubpath(t *testing.T, c cli) {
	v := c.vol("subpath")
	c.ok("run", "--rm", "-v", v+":/v", "busybox", "sh", "-c",
		"mkdir -p /v/a/b /v/empty && echo deep > /v/a/b/f && echo top > /v/top && ln -s / /v/out && ln -s a /v/in && ln -s out /v/out2")
	sub := func(p string) string { return "type=volume,src=" + v + ",dst=/p,volume-subpath=" + p }
	if got := c.ok("run", "--rm", "--mount", sub("a/b"), "busybox", "sh", "-c", "ls /p; cat /p/f"); got != "f\ndeep" {
		t.Errorf("volume-subpath=a/b: %q", got)
	}
	if got := c.ok("run", "--rm", "--mount", sub("in/b"), "busybox", "ls", "/p"); got != "f" {
		t.Errorf("volume-subpath through a link inside the volume: %q", got)
	}
	if got := c.ok("run", "--rm", "--mount", sub("top"), "busybox", "cat", "/p"); got != "top" {
		t.Errorf("volume-subpath of a file: %q", got)
	}
	// Writes land in the volume's subdirectory; read-only is honoured.
	c.ok("run", "--rm", "--mount", sub("a"), "busybox", "sh", "-c", "echo new > /p/n")
	if got := c.ok("run", "--rm", "-v", v+":/v", "busybox", "cat", "/v/a/n"); got != "new" {
		t.Errorf("write through a subpath: %q", got)
	}
	if got := c.ok("run", "--rm", "--mount", sub("a")+",readonly", "busybox", "sh", "-c", "touch /p/x 2>/dev/null && echo writable || echo ro"); got != "ro" {
		t.Errorf("read-only subpath: %q", got)
	}
	// An empty subdirectory gets the image's content, as dockerd's.
	c.ok("run", "--rm", "--mount", "type=volume,src="+v+",dst=/bin,volume-subpath=empty", "busybox", "ls", "/bin/busybox")
	if got := c.ok("run", "--rm", "-v", v+":/v", "busybox", "ls", "/v/empty/busybox"); got != "/v/empty/busybox" {
		t.Errorf("copy-up into an empty subpath: %q", got)
	}

	c.fails(125, []string{"subpath must be a relative path within the volume"}, "run", "--rm", "--mount", sub("../../etc"), "busybox", "true")
	for p, msg := range map[string]string{
		"out":     "path concatenation escapes the base directory",
		"out2":    "path concatenation escapes the base directory",
		"missing": "cannot access path",
	} {
		n := c.name("subpath-bad")
		c.ok("create", "--name", n, "--mount", sub(p), "busybox", "true")
		if got := c.inspect(n, "{{range .HostConfig.Mounts}}{{.VolumeOptions.Subpath}}{{end}}"); got != p {
			t.Errorf("inspect's HostConfig.Mounts: subpath %q, want %q", got, p)
		}
		c.fails(1, []string{msg}, "start", n)
		if m := stagedMounts(t, c, c.inspect(n, "{{.Id}}")); len(m) > 0 {
			t.Errorf("mounts left on the host after a failed start: %v", m)
		}
		c.ok("rm", n)
	}
}

// testImageMount: --mount type=image mounts an image's filesystem
// read-only, whole or a subpath; the image cannot be removed while a
// container mounts it unless forced, and the container still starts after
// a forced removal.
func testImageMount(t *testing.T, c cli) {
	img := "docker.io/library/volimg:latest"
	if got := c.ok("run", "--rm", "--mount", "type=image,src="+img+",dst=/img", "busybox", "cat", "/img/seed/a.txt"); got != "seed a" {
		t.Errorf("image mount: %q", got)
	}
	if got := c.ok("run", "--rm", "--mount", "type=image,src="+img+",dst=/img,image-subpath=seed/sub", "busybox", "sh", "-c",
		"cat /img/b.txt; touch /img/x 2>/dev/null && echo writable || echo ro"); got != "seed b\nro" {
		t.Errorf("image-subpath, read-only: %q", got)
	}
	c.fails(125, []string{"subpath must be a relative path within the volume"}, "run", "--rm", "--mount", "type=image,src="+img+",dst=/img,image-subpath=../x", "busybox", "true")
	if c.command == nil {
		// Not with the docker CLI: on a 404 it pulls the container's
		// image (as against dockerd), and no registry is reachable here.
		c.fails(125, []string{"No such image"}, "create", "--mount", "type=image,src=no-such-image:1,dst=/img", "busybox", "true")
	}

	// An image of its own, to remove.
	mk := c.name("imgmount-src")
	c.ok("run", "--name", mk, "busybox", "sh", "-c", "echo mine > /mine")
	own := "imgmount-" + strings.TrimPrefix(mk, "imgmount-src-")
	c.ok("commit", mk, own)
	c.ok("rm", mk)
	ctr := c.name("imgmount")
	c.ok("create", "--name", ctr, "--mount", "type=image,src="+own+",dst=/img", "busybox", "cat", "/img/mine")
	id := c.inspect(ctr, "{{.Id}}")
	imgID := c.ok("image", "inspect", "-f", "{{.Id}}", own)
	if got := c.inspect(ctr, `{{range .Mounts}}{{.Type}} {{.Source}} {{.Destination}} {{.RW}}{{end}}`); got != "image "+own+" /img false" {
		t.Errorf("inspect: %q", got)
	}
	sub := c.name("imgmount-sub")
	c.ok("create", "--name", sub, "--mount", "type=image,src="+img+",dst=/img,image-subpath=seed", "busybox", "true")
	if got := c.inspect(sub, `{{range .HostConfig.Mounts}}{{.Type}} {{.ImageOptions.Subpath}}{{end}}`); got != "image seed" {
		t.Errorf("inspect's HostConfig.Mounts: %q", got)
	}
	c.ok("rm", sub)
	c.fails(1, []string{"container " + id[:12] + " is using its referenced image " + strings.TrimPrefix(imgID, "sha256:")[:12]}, "rmi", own)
	c.ok("start", "-a", ctr)
	if m := stagedMounts(t, c, id); len(m) > 0 {
		t.Errorf("mounts left on the host after a start: %v", m)
	}
	c.ok("rmi", "-f", own)
	if got := c.ok("start", "-a", ctr); got != "mine" {
		t.Errorf("start after the image's forced removal: %q", got)
	}
	c.ok("rm", ctr)
	if c.command == nil { // berth's stack: its view went with the container
		r := c.s.Ctr("snapshots", "ls")
		if strings.Contains(r.Stdout, id+"-image-") {
			t.Errorf("the image mount's view outlived its container:\n%s", r.Stdout)
		}
	}
}

// testSharedBind: a bind with shared propagation passes a mount made inside
// the container back to the host; a source on a mount that is not shared
// is refused at start.
func testSharedBind(t *testing.T, c cli) {
	dir := filepath.Join(t.TempDir(), "shared")
	if err := os.MkdirAll(filepath.Join(dir, "mnt"), 0o755); err != nil {
		t.Fatal(err)
	}
	// A mount of its own, private first: nothing above it decides.
	if err := unix.Mount(dir, dir, "", unix.MS_BIND, ""); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		unix.Unmount(filepath.Join(dir, "mnt"), unix.MNT_DETACH)
		unix.Unmount(dir, unix.MNT_DETACH)
	})
	if err := unix.Mount("", dir, "", unix.MS_PRIVATE, ""); err != nil {
		t.Fatal(err)
	}
	n := c.name("notshared")
	c.ok("create", "--name", n, "--mount", "type=bind,src="+dir+",dst=/s,bind-propagation=shared", "busybox", "true")
	c.fails(1, []string{"is not a shared mount"}, "start", n)
	c.ok("rm", n)

	if err := unix.Mount("", dir, "", unix.MS_SHARED, ""); err != nil {
		t.Fatal(err)
	}
	c.ok("run", "--rm", "--privileged", "--mount", "type=bind,src="+dir+",dst=/s,bind-propagation=shared",
		"busybox", "mount", "-t", "tmpfs", "tmpfs", "/s/mnt")
	mi, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(mi), " "+filepath.Join(dir, "mnt")+" ") {
		t.Error("a mount under a shared bind did not reach the host")
	}
}

// stagedMounts are the mounts left in berthd's staging directory for the
// image mounts and volume subpaths of container id (none once its task is
// made).
func stagedMounts(t *testing.T, c cli, id string) []string {
	t.Helper()
	mi, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, l := range strings.Split(string(mi), "\n") {
		if strings.Contains(l, filepath.Join(c.s.State(), "mounts", id)) {
			out = append(out, l)
		}
	}
	return out
}
