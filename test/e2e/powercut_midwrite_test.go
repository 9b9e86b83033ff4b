package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/berthproject/berth/test/harness"
)

// TestPowerCutMidWrite: power cuts that land while each kind of write
// berth does is in flight, rather than between operations (TestPowerCut).
// berthd's root on a loop-mounted disk committing its journal only when
// asked (commit=60); in flight at once: a pull from a local registry
// (content store and snapshotter metadata), container creates (containerd's
// metadata, berth's record, a snapshot), a running container writing files
// with fsync to a volume, commits of a container, network creates (berth's
// network state files). The cut comes when a download of the pull is seen
// in progress, part of a layer written to containerd's ingest (at least a
// given share of it, a different one each round): containerd is stopped
// there, the download checked still unfinished, then the whole stack is
// frozen, the disk image copied as it is (the page cache lost) and berthd
// booted on the copy (harness.PowerCut, as TestPowerCut). The other
// writers run in loops without pause, so they are in flight too. Then what a user would check: berthd
// starts, and every object is either whole and usable or cleanly absent:
// each image runs, each container starts and is removed, each network
// takes a container and is removed, the volume mounts and every file whose
// checksum reached the disk checks out; the pull runs whole again; and once
// everything is removed and `system prune` ran, containerd's GC leaves no
// snapshot, content or lease.
//
// make test cuts once; BERTH_TEST_POWERCUT_FULL=1 (make test-powercut)
// cuts five times in a row on the same stack, at downloads 0 %, 25 %, 50 %,
// 75 % and 90 % done (at least).
func TestPowerCutMidWrite(t *testing.T) {
	t.Parallel()
	for _, tool := range []string{"cp", "mount", "skopeo"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("needs %s", tool)
		}
	}
	// The share of a layer's download written when the cut comes.
	shares := []float64{0.25}
	if os.Getenv("BERTH_TEST_POWERCUT_FULL") != "" {
		shares = []float64{0, 0.25, 0.5, 0.75, 0.9}
	}
	disk := smallDisk(t, "1G", "commit=60")
	img := filepath.Join(filepath.Dir(disk), "disk.img")
	root := filepath.Join(disk, "root")
	s := harness.Start(t, harness.WithDaemonArgs("--root", root))
	c := cli{t: t, s: s}
	reg := harness.StartRegistry(t, harness.RegistryOptions{})
	ref := reg.Addr() + "/e2e/pcmid:latest"
	archive := harness.Archive(t, harness.Image{Name: "docker.io/library/pcmid:latest", DataLayers: 3, LayerSizeMiB: 16, SmallLayers: 4})
	if out, err := exec.Command("skopeo", "copy", "-q", "--dest-tls-verify=false", "oci-archive:"+archive, "docker://"+ref).CombinedOutput(); err != nil {
		t.Fatalf("skopeo copy: %v: %s", err, out)
	}
	for round, share := range shares {
		t.Logf("round %d: a power cut with a layer's download at least %.0f %% done", round, 100*share)
		powerCutRound(t, c, s, img, disk, root, ref, round, share)
	}
}

// inflight runs berth commands one after another, each made by next, until
// stopped; stop kills the one in flight (its daemon is gone).
type inflight struct {
	mu      sync.Mutex
	stopped bool
	cur     *exec.Cmd
	done    chan struct{}
	landed  int
}

func startInflight(c cli, next func(i int) []string) *inflight {
	f := &inflight{done: make(chan struct{})}
	go func() {
		defer close(f.done)
		for i := 0; ; i++ {
			f.mu.Lock()
			if f.stopped {
				f.mu.Unlock()
				return
			}
			cmd := c.cmd(next(i)...)
			if err := cmd.Start(); err != nil {
				f.mu.Unlock()
				return
			}
			f.cur = cmd
			f.mu.Unlock()
			if cmd.Wait() == nil {
				f.mu.Lock()
				f.landed++
				f.mu.Unlock()
			}
		}
	}()
	return f
}

func (f *inflight) stop() int {
	f.mu.Lock()
	f.stopped = true
	if f.cur != nil && f.cur.Process != nil {
		_ = f.cur.Process.Kill()
	}
	f.mu.Unlock()
	<-f.done
	return f.landed
}

func powerCutRound(t *testing.T, c cli, s *harness.Stack, img, disk, root, ref string, round int, share float64) {
	s.LoadBusybox()
	vol := c.name(fmt.Sprintf("pcm%d-vol", round))
	c.ok("volume", "create", vol)
	// Every file written with fsync, then its checksum with fsync: a
	// checksum on the disk vouches for its file.
	writer := c.name(fmt.Sprintf("pcm%d-writer", round))
	c.ok("run", "-d", "--name", writer, "-v", vol+":/data", "busybox", "sh", "-c",
		"i=0; while :; do dd if=/dev/urandom of=/data/f.$i bs=64k count=4 conv=fsync 2>/dev/null; md5sum /data/f.$i | dd of=/data/f.$i.md5 conv=fsync 2>/dev/null; i=$((i+1)); done")
	src := c.name(fmt.Sprintf("pcm%d-src", round))
	c.ok("run", "--name", src, "busybox", "sh", "-c", "dd if=/dev/urandom of=/big bs=1M count=8 2>/dev/null")
	prefix := fmt.Sprintf("pcm%d-%d", round, time.Now().UnixNano()%100000)
	ops := map[string]*inflight{
		"pull": startInflight(c, func(i int) []string {
			if i%2 == 1 {
				return []string{"rmi", ref}
			}
			return []string{"pull", "-q", ref}
		}),
		"create": startInflight(c, func(i int) []string {
			return []string{"create", "--name", fmt.Sprintf("%s-cr%d", prefix, i), "busybox", "true"}
		}),
		"commit":  startInflight(c, func(i int) []string { return []string{"commit", src, fmt.Sprintf("%s-commit:%d", prefix, i)} }),
		"network": startInflight(c, func(i int) []string { return []string{"network", "create", fmt.Sprintf("%s-net%d", prefix, i)} }),
	}
	t.Logf("round %d: the cut: %s", round, stopMidDownload(t, s, root, share))
	copyImg := img + ".cut"
	s.PowerCut(func() {
		if out, err := exec.Command("cp", "--sparse=always", img, copyImg).CombinedOutput(); err != nil {
			t.Fatalf("copying the disk at the cut: %v: %s", err, out)
		}
	}, disk)
	for name, op := range ops {
		t.Logf("round %d: %s: %d commands landed before the cut", round, name, op.stop())
	}
	if out, err := exec.Command("umount", disk).CombinedOutput(); err != nil {
		t.Fatalf("umount the disk: %v: %s", err, out)
	}
	if err := os.Rename(copyImg, img); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-o", "loop", img, disk).CombinedOutput(); err != nil {
		t.Fatalf("mount the disk as it was at the cut: %v: %s", err, out)
	}
	s.StartDaemon()

	// Images: each one runs.
	for _, im := range strings.Fields(c.ok("images", "--format", "{{.Repository}}:{{.Tag}}")) {
		if r := c.run("run", "--rm", im, "true"); r.code != 0 {
			t.Errorf("round %d: image %s after the cut does not run: %s", round, im, r)
		}
	}
	// The volume mounts and what reached the disk checks out (before the
	// writer starts again and rewrites its files).
	if r := c.run("run", "--rm", "-v", vol+":/data", "busybox", "sh", "-c",
		"n=0; for m in /data/*.md5; do [ -s $m ] || continue; md5sum -c $m >/dev/null || { echo BAD $m; exit 1; }; n=$((n+1)); done; echo $n"); r.code != 0 {
		t.Errorf("round %d: the volume after the cut: %s", round, r)
	} else {
		t.Logf("round %d: %s files checked in the volume", round, r.out())
	}
	// Containers: each one starts (the writer runs again) and is removed.
	for _, n := range strings.Fields(c.ok("ps", "-a", "--format", "{{.Names}}")) {
		if r := c.run("start", n); r.code != 0 {
			t.Errorf("round %d: container %s after the cut does not start: %s", round, n, r)
		}
		if r := c.run("rm", "-f", n); r.code != 0 {
			t.Errorf("round %d: container %s after the cut cannot be removed: %s", round, n, r)
		}
	}
	// Networks: each one of this round takes a container and is removed.
	for _, n := range strings.Fields(c.ok("network", "ls", "--format", "{{.Name}}")) {
		if !strings.HasPrefix(n, prefix) {
			continue
		}
		if r := c.run("run", "--rm", "--network", n, "busybox", "true"); r.code != 0 {
			t.Errorf("round %d: network %s after the cut takes no container: %s", round, n, r)
		}
		if r := c.run("network", "rm", n); r.code != 0 {
			t.Errorf("round %d: network %s after the cut cannot be removed: %s", round, n, r)
		}
	}
	// The pull runs whole.
	if r := c.run("pull", "-q", ref); r.code != 0 {
		t.Errorf("round %d: pull after the cut: %s", round, r)
	} else if r := c.run("run", "--rm", ref, "true"); r.code != 0 {
		t.Errorf("round %d: the image pulled after the cut does not run: %s", round, r)
	}

	// Nothing leaked: with every image and volume gone and pruned,
	// containerd's GC leaves no snapshot, content or lease.
	for _, im := range strings.Fields(c.ok("images", "-q")) {
		c.run("rmi", "-f", im)
	}
	c.ok("volume", "rm", vol)
	c.ok("system", "prune", "-a", "-f", "--volumes")
	ctr := func(args ...string) string {
		t.Helper()
		r := s.Ctr(args...)
		if r.ExitCode != 0 {
			t.Fatalf("ctr %v: %s", args, r)
		}
		return strings.TrimSpace(r.Stdout)
	}
	id := ctr("leases", "create")
	ctr("leases", "rm", "--sync", strings.Fields(id)[0])
	if got := c.ok("images", "-a", "-q"); got != "" {
		t.Errorf("round %d: images left after removing all: %q", round, got)
	}
	if got := ctr("snapshots", "--snapshotter", "berth", "ls"); len(strings.Split(got, "\n")) > 1 {
		t.Errorf("round %d: snapshots left after the cut and a prune:\n%s", round, got)
	}
	if got := ctr("content", "ls", "-q"); got != "" {
		t.Errorf("round %d: content left after the cut and a prune:\n%s", round, got)
	}
	if got := ctr("leases", "ls", "-q"); got != "" {
		t.Errorf("round %d: leases left after the cut and a prune:\n%s", round, got)
	}
}

// stopMidDownload waits until a download of a layer of at least 1 MiB is
// in progress in containerd's content store under root (its ingest holds
// at least share of the layer, and not all of it), stops containerd there
// (SIGSTOP: the power cut that follows freezes the rest) and says where
// the download was. A download that completed between the look and the
// stop does not count: containerd goes on and the wait with it.
func stopMidDownload(t *testing.T, s *harness.Stack, root string, share float64) string {
	t.Helper()
	ingest := filepath.Join(root, "containerd", "io.containerd.content.v1.content", "ingest")
	size := func(p string) int64 {
		fi, err := os.Stat(p)
		if err != nil {
			return -1
		}
		return fi.Size()
	}
	deadline := time.Now().Add(harness.Timeout(2 * time.Minute))
	for time.Now().Before(deadline) {
		entries, _ := os.ReadDir(ingest)
		for _, e := range entries {
			b, err := os.ReadFile(filepath.Join(ingest, e.Name(), "total"))
			total, _ := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
			data := filepath.Join(ingest, e.Name(), "data")
			if n := size(data); err != nil || total < 1<<20 || n <= 0 || float64(n) < share*float64(total) || n >= total {
				continue
			}
			pid := s.ContainerdPID()
			if pid == 0 || syscall.Kill(pid, syscall.SIGSTOP) != nil {
				continue
			}
			// Stopped: a write of containerd's in the kernel ends, no
			// other begins.
			waitStopped(pid)
			if n := size(data); n > 0 && n < total {
				return fmt.Sprintf("containerd stopped with a layer's download at %d of %d bytes", n, total)
			}
			_ = syscall.Kill(pid, syscall.SIGCONT)
		}
		time.Sleep(time.Millisecond)
	}
	t.Fatalf("no download of the pull seen in progress (at least %.0f %% done) in %s", 100*share, ingest)
	return ""
}

// waitStopped waits (briefly) until a process sent SIGSTOP has stopped.
func waitStopped(pid int) {
	for range 1000 {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if i := strings.LastIndexByte(string(b), ')'); err != nil || (i > 0 && i+2 < len(b) && b[i+2] == 'T') {
			return
		}
		time.Sleep(time.Millisecond)
	}
}
