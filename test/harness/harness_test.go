package harness

import (
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestStackLifecycle runs a private stack through what tests do to it:
// berthd killed and restarted (containerd adopted, not restarted), a
// graceful restart, containerd killed (berthd restarts it).
func TestStackLifecycle(t *testing.T) {
	s := Start(t)
	if len(s.Socket()) >= 108 || len(filepath.Join(s.State(), "s")) > 42 {
		t.Errorf("stack paths too long: %s", s.Socket())
	}
	st, err := os.Stat(s.Socket())
	if err != nil || st.Mode().Perm() != 0o660 {
		t.Errorf("API socket mode: %v %v", st, err)
	}
	ctrd := s.ContainerdPID()
	if ctrd == 0 || !processAlive(ctrd) {
		t.Fatalf("containerd pid %d not running", ctrd)
	}
	if r := s.Berth("version"); r.ExitCode != 0 || !strings.Contains(r.Stdout, "Server") {
		t.Errorf("berth version: %s", r)
	}

	// kill -9 berthd: containerd survives and is adopted by the next berthd.
	s.KillDaemon()
	if !processAlive(ctrd) {
		t.Fatal("containerd died with berthd")
	}
	s.StartDaemon()
	if got := s.ContainerdPID(); got != ctrd {
		t.Errorf("containerd pid after berthd restart = %d, want the adopted %d", got, ctrd)
	}
	if !strings.Contains(readFile(t, s.LogPath()), "adopted running daemon") {
		t.Error("berthd's log does not say it adopted containerd")
	}

	// kill -9 containerd: berthd starts a new one.
	s.KillContainerd()
	if got := s.ContainerdPID(); got == ctrd || !processAlive(got) {
		t.Errorf("containerd not restarted: pid %d (was %d)", got, ctrd)
	}
	if r := s.Berth("ps", "-a"); r.ExitCode != 0 {
		t.Errorf("berth ps after containerd restart: %s", r)
	}

	// A clean restart stops containerd and starts a new one.
	before := s.ContainerdPID()
	s.Restart()
	if processAlive(before) {
		t.Errorf("containerd %d survived a clean berthd stop", before)
	}
	if r := s.Berth("ps"); r.ExitCode != 0 {
		t.Errorf("berth ps after restart: %s", r)
	}
}

// TestStopFindsLeaks checks that the leak detector sees a process and a
// mount that belong to the stack.
func TestStopFindsLeaks(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root")
	}
	dir, err := os.MkdirTemp("/tmp", "bX")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	s := &Stack{t: t, dir: dir, root: filepath.Join(dir, "root"), state: filepath.Join(dir, "state")}
	if leaks := s.findLeaks(); len(leaks) != 0 {
		t.Fatalf("leaks in a fresh dir: %v", leaks)
	}
	mnt := filepath.Join(dir, "m")
	if err := os.MkdirAll(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := mountTmpfs(mnt); err != nil {
		t.Fatal(err)
	}
	sleeper := startSleeper(t, dir)
	leaks := strings.Join(s.findLeaks(), "\n")
	if !strings.Contains(leaks, "mount "+mnt) || !strings.Contains(leaks, "process ") {
		t.Errorf("leaks not found:\n%s", leaks)
	}
	_ = sleeper.Wait()
	if len(s.mounts()) != 0 || processAlive(sleeper.Process.Pid) {
		t.Error("findLeaks did not clean up")
	}
}

func TestUnescapeMount(t *testing.T) {
	if got := unescapeMount(`/a\040b/c\011d`); got != "/a b/c\td" {
		t.Errorf("got %q", got)
	}
}

func TestArchiveCached(t *testing.T) {
	if _, err := os.Stat("/bin/busybox"); err != nil {
		t.Skip("busybox-static not installed")
	}
	a := BusyboxArchive(t)
	b := BusyboxArchive(t)
	if a != b {
		t.Errorf("not cached: %s %s", a, b)
	}
	if st, err := os.Stat(a); err != nil || st.Size() < 100<<10 {
		t.Errorf("archive %s: %v %v", a, st, err)
	}
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestContainersAndCleanup runs containers on a stack; Stop must remove
// them and find nothing left behind (the test fails otherwise).
func TestContainersAndCleanup(t *testing.T) {
	s := Start(t)
	s.LoadBusybox()
	r := s.Berth("run", "--rm", "busybox", "echo", "hello from the harness")
	if r.ExitCode != 0 || !strings.Contains(r.Stdout, "hello from the harness") {
		t.Fatalf("berth run: %s", r)
	}
	waitRemoved(s)
	id := s.BerthOK("run", "-d", "busybox", "sleep", "600")
	if id == "" {
		t.Fatal("no container id")
	}
	// Live restore: the container survives berthd being killed.
	s.KillDaemon()
	s.StartDaemon()
	if out := s.BerthOK("ps", "-q", "--no-trunc"); !strings.Contains(out, id) {
		t.Errorf("container %s not running after berthd restart: %q", id, out)
	}
	// And containerd being killed: its shim keeps the container.
	s.KillContainerd()
	if out := s.BerthOK("ps", "-q", "--no-trunc"); !strings.Contains(out, id) {
		t.Errorf("container %s not running after containerd restart: %q", id, out)
	}
	if r := s.Berth("exec", id, "echo", "still here"); r.ExitCode != 0 || !strings.Contains(r.Stdout, "still here") {
		t.Errorf("exec after containerd restart: %s", r)
	}
	// A clean stop of berthd (which stops containerd) leaves it running too.
	s.Restart()
	if out := s.BerthOK("ps", "-q", "--no-trunc"); !strings.Contains(out, id) {
		t.Errorf("container %s not running after a clean berthd restart: %q", id, out)
	}
}

// TestBerthSnapshotter runs a stack on berth-snapshotter: berthd starts it
// before containerd and stops it after.
func TestBerthSnapshotter(t *testing.T) {
	s := Start(t, WithBerthSnapshotter())
	sn := s.SnapshotterPID()
	if sn == 0 || !processAlive(sn) {
		t.Fatalf("berth-snapshotter pid %d not running", sn)
	}
	if r := s.Ctr("plugins", "ls"); !strings.Contains(r.Stdout, "berth") {
		t.Errorf("proxy plugin berth not registered:\n%s", r)
	}
	s.LoadBusybox()
	if r := s.Berth("run", "--rm", "busybox", "echo", "on berth"); r.ExitCode != 0 || !strings.Contains(r.Stdout, "on berth") {
		t.Fatalf("berth run: %s", r)
	}
	waitRemoved(s)
	s.KillDaemon()
	s.StartDaemon()
	if got := s.SnapshotterPID(); got != sn {
		t.Errorf("snapshotter pid after berthd restart = %d, want the adopted %d", got, sn)
	}
}

// waitRemoved waits until berthd has finished removing --rm containers:
// `berth run --rm` may return before the container's files are gone, and
// these tests kill berthd next. (Docker's CLI waits for the removal.)
func waitRemoved(s *Stack) {
	s.waitFor("--rm containers to be removed", 30*time.Second, func() bool {
		entries, _ := os.ReadDir(filepath.Join(s.Root(), "containers"))
		return len(entries) == 0
	})
}

// TestBridgeSubnetBits: a stack asked for a /22 default bridge gets one,
// aligned in its /16, and berthd's bridge network has it.
func TestBridgeSubnetBits(t *testing.T) {
	s := Start(t, WithBridgeSubnetBits(22))
	sub := s.BridgeSubnet()
	p, err := netip.ParsePrefix(sub)
	if err != nil || p.Bits() != 22 || p.Masked() != p {
		t.Fatalf("bridge subnet %q, want an aligned /22", sub)
	}
	if out := s.BerthOK("network", "inspect", "bridge"); !strings.Contains(out, sub) {
		t.Errorf("berth network inspect bridge does not name %s:\n%s", sub, out)
	}
}
