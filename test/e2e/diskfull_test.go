package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/berthproject/berth/test/harness"
)

// smallDisk mounts a fresh ext4 file system of size MiB (a loop device)
// (no blocks reserved for root), with mountOpts besides loop, and returns
// its mount point; it is unmounted when the test ends.
func smallDisk(t *testing.T, size string, mountOpts ...string) string {
	t.Helper()
	for _, tool := range []string{"mkfs.ext4", "mount", "umount"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("needs %s", tool)
		}
	}
	dir := t.TempDir()
	img, mnt := filepath.Join(dir, "disk.img"), filepath.Join(dir, "mnt")
	if err := os.Mkdir(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"truncate", "-s", size, img}, {"mkfs.ext4", "-q", "-F", "-m", "0", img}, {"mount", "-o", strings.Join(append([]string{"loop"}, mountOpts...), ","), img, mnt}} {
		if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
			t.Skipf("%s: %v: %s", strings.Join(args, " "), err, out)
		}
	}
	// Registered after Start's cleanup by the caller's order: runs before
	// t.TempDir's removal, after the stack stopped.
	t.Cleanup(func() {
		if out, err := exec.Command("umount", "-d", mnt).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", mnt, err, out)
		}
	})
	return mnt
}

// TestDiskFull runs berthd with its root on a 128 MiB disk: a container
// that fills the disk gets ENOSPC in the container and berthd stays up; a
// pull of an image larger than the free space fails with an error that
// says the disk is full and leaves no image and no half-written content;
// once the container is removed, containers run again.
func TestDiskFull(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("skopeo"); err != nil {
		t.Skip("needs skopeo")
	}
	disk := smallDisk(t, "128M")
	root := filepath.Join(disk, "root")
	s := harness.Start(t, harness.WithDaemonArgs("--root", root))
	s.LoadBusybox()
	c := cli{t: t, s: s}

	reg := harness.StartRegistry(t, harness.RegistryOptions{})
	big := reg.Addr() + "/e2e/big:latest"
	archive := harness.Archive(t, harness.Image{Name: "docker.io/library/big:latest", DataLayers: 3, LayerSizeMiB: 48})
	if out, err := exec.Command("skopeo", "copy", "-q", "--dest-tls-verify=false", "oci-archive:"+archive, "docker://"+big).CombinedOutput(); err != nil {
		t.Fatalf("skopeo copy: %v: %s", err, out)
	}

	// A container fills the disk: its write fails, berthd does not.
	fill := c.name("fill")
	r := c.run("run", "--name", fill, "busybox", "sh", "-c", "dd if=/dev/zero of=/big bs=1M 2>&1; echo dd exit $?")
	if !strings.Contains(r.stdout, "No space left on device") || !strings.Contains(r.stdout, "dd exit 1") {
		t.Fatalf("filling the disk: %s", r)
	}
	if out := c.ok("run", "--rm", "busybox", "echo", "still up"); out != "still up" {
		// Containers may not start on a full disk: that must be a clear
		// error, not a dead daemon. The `ok` above already failed then.
		t.Fatalf("run on a full disk: %q", out)
	}
	c.ok("rm", fill)

	// A pull larger than the disk: a clear error, nothing left.
	before := c.ok("images", "-q", "--no-trunc")
	r = c.run("pull", big)
	if r.code == 0 || !strings.Contains(strings.ToLower(r.stderr), "no space left on device") {
		t.Fatalf("pull of an image larger than the disk: %s", r)
	}
	if after := c.ok("images", "-q", "--no-trunc"); after != before {
		t.Errorf("the failed pull left images: %q, was %q", after, before)
	}
	ingest := filepath.Join(root, "containerd", "io.containerd.content.v1.content", "ingest")
	eventually(t, cmdTimeout, "the pull's partial downloads to go", func() bool {
		entries, _ := os.ReadDir(ingest)
		return len(entries) == 0
	})
	if out := c.ok("run", "--rm", "busybox", "echo", "after"); out != "after" {
		t.Fatalf("run after the failed pull: %q", out)
	}
}
