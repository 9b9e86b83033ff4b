package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/berthproject/berth/test/harness"
)

// TestPowerCut: berthd's root on a loop-mounted disk; containers, a
// network, a volume with data and an image in place, then a power cut:
// every process of the stack frozen at once, the disk image copied as it
// is (what reached the disk; what was only in the page cache is lost), the
// processes killed, the stack's mounts and its state dir (a tmpfs on a
// real host) cleared, and berthd booted on the copy. Nothing is lost:
// every container is there with its configuration, the `always` ones run
// again (on their network), the one without a policy is exited, the
// created one is created; the volume's data (written with fsync by the
// container) checks out; the network and the image are there; new
// containers run. The disk commits its journal only when asked (commit=60)
// and the last operations before the cut write only berth's own files (a
// network and a volume created): they are on the disk only if berth synced
// them. (A berthd whose volume create skips its syncs fails here: the
// volume is gone after the cut.)
func TestPowerCut(t *testing.T) {
	t.Parallel()
	for _, tool := range []string{"cp", "mount"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("needs %s", tool)
		}
	}
	// A journal commit every minute rather than every 5 s: between two
	// fsyncs nothing reaches the disk, so what a write before the cut did
	// not sync is lost (ext4 commits everything pending with any fsync).
	disk := smallDisk(t, "512M", "commit=60")
	img := filepath.Join(filepath.Dir(disk), "disk.img")
	root := filepath.Join(disk, "root")
	s := harness.Start(t, harness.WithDaemonArgs("--root", root))
	s.LoadBusybox()
	c := cli{t: t, s: s}
	keep, plain, created := c.name("pc-keep"), c.name("pc-plain"), c.name("pc-created")
	c.ok("run", "-d", "--name", keep, "--restart", "always", "busybox", "sleep", "1000")
	c.ok("run", "-d", "--name", plain, "busybox", "sleep", "1000")
	c.ok("create", "--name", created, "busybox", "true")
	vol := c.name("pc-vol")
	c.ok("volume", "create", vol)
	c.ok("run", "--rm", "-v", vol+":/data", "busybox", "sh", "-c",
		"dd if=/dev/urandom of=/data/f bs=64k count=16 conv=fsync 2>/dev/null && md5sum /data/f | dd of=/data/f.md5 conv=fsync 2>/dev/null")
	net := c.name("pcnet")
	c.ok("network", "create", net)
	onnet := c.name("pc-onnet")
	c.ok("run", "-d", "--name", onnet, "--network", net, "--restart", "always", "busybox", "sleep", "1000")
	// The last operations before the cut write only berth's own files (no
	// containerd transaction, whose fsync would commit them): they are on
	// the disk only if berth synced them.
	lateNet, lateVol := c.name("pc-late-net"), c.name("pc-late")
	c.ok("network", "create", lateNet)
	c.ok("volume", "create", lateVol)
	// And a file nobody syncs: the simulation drops it (logged; a journal
	// commit of some other process's fsync may carry it).
	marker := filepath.Join(root, "unsynced-marker")
	if err := os.WriteFile(marker, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}

	copyImg := img + ".cut"
	s.PowerCut(func() {
		if out, err := exec.Command("cp", "--sparse=always", img, copyImg).CombinedOutput(); err != nil {
			t.Fatalf("copying the disk at the cut: %v: %s", err, out)
		}
	}, disk)
	// The host comes back with the disk as it was at the cut.
	if out, err := exec.Command("umount", disk).CombinedOutput(); err != nil {
		t.Fatalf("umount the disk: %v: %s", err, out)
	}
	if err := os.Rename(copyImg, img); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-o", "loop", img, disk).CombinedOutput(); err != nil {
		t.Fatalf("mount the disk as it was at the cut: %v: %s", err, out)
	}
	if _, err := os.Stat(marker); err == nil {
		t.Logf("a file written without sync just before the cut survived it (a journal commit carried it)")
	} else {
		t.Logf("a file written without sync just before the cut was lost, as in a power cut")
	}
	s.StartDaemon()

	for n, want := range map[string]string{keep: "running", onnet: "running", plain: "exited", created: "created"} {
		eventually(t, time.Minute, n+" to be "+want+" after the power cut", func() bool { return c.status(n) == want })
	}
	if got := c.inspect(onnet, "{{range $k, $v := .NetworkSettings.Networks}}{{$k}} {{end}}"); !strings.Contains(got, net) {
		t.Errorf("%s's networks after the power cut: %q", onnet, got)
	}
	if out := c.ok("run", "--rm", "-v", vol+":/data", "busybox", "md5sum", "-c", "/data/f.md5"); !strings.Contains(out, "OK") {
		t.Errorf("the volume's data after the power cut: %q", out)
	}
	if out := c.ok("volume", "ls", "-q"); !strings.Contains(out, lateVol) {
		t.Errorf("the volume created just before the cut is gone: %q", out)
	}
	if out := c.ok("network", "ls", "--format", "{{.Name}}"); !strings.Contains(out, net) || !strings.Contains(out, lateNet) {
		t.Errorf("networks after the cut: %q, want %s and %s (created just before it)", out, net, lateNet)
	}
	if out := c.ok("run", "--rm", "--network", net, "busybox", "echo", "after the cut"); out != "after the cut" {
		t.Errorf("run after the power cut: %q", out)
	}
	c.ok("rm", "-f", keep, onnet, plain, created)
	c.ok("network", "rm", net, lateNet)
}
