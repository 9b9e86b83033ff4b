package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	containerd "github.com/containerd/containerd/v2/client"

	"github.com/berthproject/berth/test/harness"
)

// ticker prints tick-0, tick-1, … every 100 ms.
const ticker = `i=0; while true; do echo tick-$i; i=$((i+1)); sleep 0.1; done`

// ticks returns the tick numbers in out, failing on a gap or a repeat.
func ticks(t *testing.T, out string) []int {
	t.Helper()
	var nums []int
	for _, l := range lines(out) {
		if !strings.HasPrefix(l, "tick-") {
			t.Fatalf("unexpected log line %q", l)
		}
		n, err := strconv.Atoi(strings.TrimPrefix(l, "tick-"))
		if err != nil {
			t.Fatalf("bad tick line %q", l)
		}
		if len(nums) > 0 && n != nums[len(nums)-1]+1 {
			t.Fatalf("ticks not consecutive: %d after %d", n, nums[len(nums)-1])
		}
		nums = append(nums, n)
	}
	return nums
}

// lastTick is the highest tick number in the log file at path (-1: none).
func lastTick(path string) int {
	b, _ := os.ReadFile(path)
	i := strings.LastIndex(string(b), `"tick-`)
	if i < 0 {
		return -1
	}
	rest := string(b)[i+6:]
	j := strings.IndexFunc(rest, func(r rune) bool { return r < '0' || r > '9' })
	if j <= 0 {
		return -1
	}
	n, _ := strconv.Atoi(rest[:j])
	return n
}

// TestLiveRestore: containers run on while berthd is killed (SIGKILL);
// the next berthd finds them running and manages them (ps, logs -f, exec,
// stop); their logs have no gap for the time berthd was down.
func TestLiveRestore(t *testing.T) {
	t.Parallel()
	s := harness.Start(t)
	s.LoadBusybox()
	c := cli{t: t, s: s}
	tick, idle := c.name("lr-tick"), c.name("lr-idle")
	shim := c.name("lr-shim") // on berth's own shim, which writes the log itself
	c.ok("run", "-d", "--name", tick, "busybox", "sh", "-c", ticker)
	c.ok("run", "-d", "--name", idle, "busybox", "sleep", "1000")
	c.ok("run", "-d", "--name", shim, "--runtime", berthRuntime, "busybox", "sh", "-c", ticker)
	waitLog(c, tick, "tick-2\n")
	waitLog(c, shim, "tick-2\n")
	pids := map[string]int{}
	for _, n := range []string{tick, idle, shim} {
		pids[n] = atoi(t, c.inspect(n, "{{.State.Pid}}"))
	}
	logPath := c.inspect(tick, "{{.LogPath}}")
	shimLog := c.inspect(shim, "{{.LogPath}}")
	follow := c.start("logs", "-f", tick)
	follow.waitFor("tick-3\n", 30*time.Second)

	s.KillDaemon()
	for n, pid := range pids {
		if !pidAlive(pid) {
			t.Errorf("container %s (pid %d) died with berthd", n, pid)
		}
	}
	// Output goes on to the log file while berthd is down.
	before := lastTick(logPath)
	eventually(t, 30*time.Second, "the log file to grow while berthd is down", func() bool {
		return lastTick(logPath) >= before+3
	})
	downTick := lastTick(logPath)
	shimBefore := lastTick(shimLog)
	eventually(t, 30*time.Second, "the berth shim's log file to grow while berthd is down", func() bool {
		return lastTick(shimLog) >= shimBefore+3
	})
	shimDown := lastTick(shimLog)
	// A logs -f client of the killed daemon waits for it to come back: it
	// must not end as if the output had ended.
	if follow.exited() {
		t.Errorf("logs -f ended when berthd was killed: %q", follow.stderr())
	}

	s.StartDaemon()
	// The same logs -f carries on through the new berthd: every tick once,
	// in order, the ones written while berthd was down too.
	follow.waitFor("tick-"+strconv.Itoa(downTick+3)+"\n", 30*time.Second)
	ticks(t, follow.output()) // fails on a gap or a repeat
	for _, n := range []string{tick, idle, shim} {
		if got := c.psState(n); got != "running" {
			t.Errorf("after berthd restart: ps shows %s %q, want running", n, got)
		}
		if got := atoi(t, c.inspect(n, "{{.State.Pid}}")); got != pids[n] {
			t.Errorf("after berthd restart: %s pid %d, want %d", n, got, pids[n])
		}
	}
	// The log, read through the new berthd, has every tick: the ones
	// written while it was down too.
	follow2 := c.start("logs", "-f", tick)
	follow2.waitFor("tick-"+strconv.Itoa(downTick+5)+"\n", 30*time.Second)
	nums := ticks(t, follow2.output())
	if nums[0] != 0 {
		t.Errorf("logs -f after restart starts at tick-%d", nums[0])
	}
	shimFollow := c.start("logs", "-f", shim)
	shimFollow.waitFor("tick-"+strconv.Itoa(shimDown+5)+"\n", 30*time.Second)
	if nums := ticks(t, shimFollow.output()); nums[0] != 0 {
		t.Errorf("logs -f of the berth-shim container starts at tick-%d", nums[0])
	}
	if out := c.ok("exec", shim, "echo", "exec-in-shim"); out != "exec-in-shim" {
		t.Errorf("exec in the berth-shim container after restore: %q", out)
	}
	if out := c.ok("exec", idle, "echo", "exec-after-restore"); out != "exec-after-restore" {
		t.Errorf("exec after restore: %q", out)
	}
	if out := c.ok("exec", tick, "sh", "-c", "echo $$"); out == "" {
		t.Error("exec in the ticker after restore printed nothing")
	}
	c.ok("stop", "-t", "1", tick, idle, shim)
	if code := follow2.wait(30 * time.Second); code != 0 {
		t.Errorf("logs -f did not end cleanly when the container stopped: %d %q", code, follow2.stderr())
	}
	if code := follow.wait(30 * time.Second); code != 0 {
		t.Errorf("the logs -f that outlived berthd did not end cleanly when the container stopped: %d %q", code, follow.stderr())
	}
	if code := shimFollow.wait(30 * time.Second); code != 0 {
		t.Errorf("logs -f of the berth-shim container did not end cleanly: %d %q", code, shimFollow.stderr())
	}
	for n, pid := range pids {
		if got := c.status(n); got != "exited" {
			t.Errorf("after stop: %s is %q", n, got)
		}
		if pidAlive(pid) {
			t.Errorf("after stop: pid %d of %s alive", pid, n)
		}
	}
	if got := c.inspect(idle, "{{.State.ExitCode}}"); got != "137" {
		t.Errorf("exit code of the restored sleep after stop -t 1: %s", got)
	}
	// Restored containers start again, and new ones run.
	c.ok("start", idle)
	c.waitStatus(idle, "running")
	if out := c.ok("run", "--rm", "busybox", "echo", "new"); out != "new" {
		t.Errorf("run after restore: %q", out)
	}
}

// TestContainerdKill: containers survive containerd being killed; berthd
// starts a new containerd and manages them through it.
func TestContainerdKill(t *testing.T) {
	t.Parallel()
	s := harness.Start(t)
	s.LoadBusybox()
	c := cli{t: t, s: s}
	n, m := c.name("ck-a"), c.name("ck-b")
	sh := c.name("ck-shim")
	c.ok("run", "-d", "--name", n, "busybox", "sh", "-c", ticker)
	c.ok("run", "-d", "--name", m, "busybox", "sleep", "1000")
	c.ok("run", "-d", "--name", sh, "--runtime", berthRuntime, "busybox", "sleep", "1000")
	pid := atoi(t, c.inspect(n, "{{.State.Pid}}"))
	pidM := atoi(t, c.inspect(m, "{{.State.Pid}}"))
	pidS := atoi(t, c.inspect(sh, "{{.State.Pid}}"))

	s.KillContainerd() // waits until berthd serves through a new containerd
	if !pidAlive(pid) || !pidAlive(pidM) || !pidAlive(pidS) {
		t.Fatalf("containers died with containerd (pids %d %d %d)", pid, pidM, pidS)
	}
	for _, x := range []string{n, m, sh} {
		if got := c.psState(x); got != "running" {
			t.Errorf("after containerd restart: ps shows %s %q", x, got)
		}
	}
	if out := c.ok("exec", m, "echo", "exec-after-ctrd"); out != "exec-after-ctrd" {
		t.Errorf("exec: %q", out)
	}
	if out := c.ok("exec", sh, "echo", "exec-in-shim"); out != "exec-in-shim" {
		t.Errorf("exec in the berth-shim container: %q", out)
	}
	waitLog(c, n, "tick-3\n")
	st := c.start("logs", "-f", n)
	before := len(lines(c.ok("logs", n)))
	st.waitFor("tick-"+strconv.Itoa(before+3)+"\n", 30*time.Second)
	c.ok("stop", "-t", "1", n, m, sh)
	for _, x := range []string{n, m, sh} {
		if got := c.status(x); got != "exited" {
			t.Errorf("after stop: %s is %q", x, got)
		}
	}
	if pidAlive(pid) || pidAlive(pidM) || pidAlive(pidS) {
		t.Error("processes alive after stop")
	}
	if code := st.wait(30 * time.Second); code != 0 {
		t.Errorf("logs -f exit %d at the container's stop", code)
	}
	// The exit is recorded (berthd saw it through the new containerd).
	if got := c.inspect(n, "{{.State.ExitCode}}"); got != "137" {
		t.Errorf("exit code after stop -t 1: %s", got)
	}
	if out := c.ok("run", "--rm", "busybox", "echo", "new"); out != "new" {
		t.Errorf("run after containerd restart: %q", out)
	}
}

// TestRestartPolicyDaemonRestart: after a daemon restart, an `always`
// container that the user stopped is started again (Docker's behaviour)
// while an `unless-stopped` one stays stopped; running ones keep running.
func TestRestartPolicyDaemonRestart(t *testing.T) {
	t.Parallel()
	s := harness.Start(t)
	s.LoadBusybox()
	c := cli{t: t, s: s}
	always, unless := c.name("pol-always"), c.name("pol-unless")
	alwaysRun, unlessRun := c.name("pol-always-run"), c.name("pol-unless-run")
	none := c.name("pol-no")
	for _, x := range []struct{ name, policy string }{
		{always, "always"}, {unless, "unless-stopped"},
		{alwaysRun, "always"}, {unlessRun, "unless-stopped"}, {none, "no"},
	} {
		c.ok("run", "-d", "--name", x.name, "--restart", x.policy, "busybox", "sleep", "1000")
	}
	c.ok("stop", "-t", "1", always, unless, none)
	for _, x := range []string{always, unless, none} {
		if got := c.status(x); got != "exited" {
			t.Fatalf("%s after stop: %q", x, got)
		}
	}

	for _, restart := range []struct {
		how string
		do  func()
	}{
		{"a graceful restart", s.Restart},
		{"kill -9 and start", func() { s.KillDaemon(); s.StartDaemon() }},
	} {
		restart.do()
		for _, x := range []string{always, alwaysRun, unlessRun} {
			eventually(t, 60*time.Second, x+" running after "+restart.how, func() bool { return c.status(x) == "running" })
		}
		for _, x := range []string{unless, none} {
			if got := c.status(x); got != "exited" {
				t.Errorf("after %s: %s is %q, want exited", restart.how, x, got)
			}
		}
		consistently(t, time.Second, unless+" stays stopped after "+restart.how, func() bool {
			return c.status(unless) == "exited" && c.status(none) == "exited"
		})
		// Stopped by the user again: not restarted until the next daemon start.
		c.ok("stop", "-t", "1", always)
		consistently(t, time.Second, always+" stays stopped", func() bool { return c.status(always) == "exited" })
	}

	// Containers that die while berthd is down: on its start, the policy
	// applies (always and unless-stopped restart, no stays exited with the
	// code it died with).
	died := c.name("pol-died-no")
	c.ok("run", "-d", "--name", died, "busybox", "sleep", "1000")
	pids := map[string]int{}
	counts := map[string]int{}
	for _, x := range []string{alwaysRun, unlessRun, died} {
		pids[x] = atoi(t, c.inspect(x, "{{.State.Pid}}"))
		counts[x] = atoi(t, c.inspect(x, "{{.RestartCount}}"))
	}
	s.KillDaemon()
	for x, pid := range pids {
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
			t.Fatalf("kill %s's process %d: %v", x, pid, err)
		}
		eventually(t, 10*time.Second, x+"'s process to die", func() bool { return !pidAlive(pid) })
	}
	s.StartDaemon()
	// berthd knows the exit it missed as soon as it serves: wait, inspect.
	if r := c.run("wait", died); r.out() != "137" {
		t.Errorf("wait on a container that died while berthd was down printed %q, want 137", r.out())
	}
	first := c.inspect(died, "{{.State.Status}} {{.State.ExitCode}}")
	var got string
	deadline := time.Now().Add(30 * time.Second)
	for got = first; got != "exited 137" && time.Now().Before(deadline); got = c.inspect(died, "{{.State.Status}} {{.State.ExitCode}}") {
		time.Sleep(20 * time.Millisecond)
	}
	if got != "exited 137" {
		t.Errorf("a container without a policy that died while berthd was down: %q, want exited 137", got)
	} else if first != got {
		t.Errorf("a container without a policy that died while berthd was down showed %q before %q", first, got)
	}
	for _, x := range []string{alwaysRun, unlessRun} {
		var got string
		deadline := time.Now().Add(60 * time.Second)
		for {
			got = c.inspect(x, "{{.State.Status}} {{.State.Pid}} {{.RestartCount}} {{.State.ExitCode}} {{.State.Error}}")
			if f := strings.Fields(got); f[0] == "running" && f[1] != strconv.Itoa(pids[x]) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s was not restarted after dying while berthd was down: status pid restarts exit error = %q", x, got)
			}
			time.Sleep(20 * time.Millisecond)
		}
		if got := atoi(t, c.inspect(x, "{{.RestartCount}}")); got != counts[x]+1 {
			t.Errorf("%s RestartCount %d, want %d", x, got, counts[x]+1)
		}
	}
}

// TestAutoRemoveAfterDaemonKill: an --rm container whose run a kill -9 of
// berthd cut off is removed when berthd comes back (as Docker's daemon does
// at its start): one cut before its start (its create done, the CLI gone
// with berthd), one whose process exited while berthd was down. A plain
// container created alongside stays. Before the fix the first was left
// behind for good (the chaos soak's leftover containers).
func TestAutoRemoveAfterDaemonKill(t *testing.T) {
	t.Parallel()
	s := harness.Start(t)
	s.LoadBusybox()
	c := cli{t: t, s: s}
	cut, exits, kept := c.name("rm-cut"), c.name("rm-exits"), c.name("rm-kept")
	c.ok("create", "--rm", "--name", cut, "busybox", "true")
	c.ok("run", "-d", "--rm", "--name", exits, "busybox", "sleep", "2")
	c.ok("create", "--name", kept, "busybox", "true")
	pid := atoi(t, c.inspect(exits, "{{.State.Pid}}"))
	s.KillDaemon()
	eventually(t, 30*time.Second, exits+"'s process to exit while berthd is down", func() bool { return !pidAlive(pid) })
	s.StartDaemon()
	eventually(t, 30*time.Second, "the --rm containers cut off by the kill to be removed", func() bool {
		return !c.exists(cut) && !c.exists(exits)
	})
	if got := c.status(kept); got != "created" {
		t.Errorf("a plain created container after berthd's restart: %q, want created", got)
	}
	c.ok("rm", kept)
}

// TestContainerdRestartingMessage: while berthd restarts a killed
// containerd, a command that needs containerd fails with what is true:
// berthd runs, containerd did not answer, retry; not the hint for a berthd
// that is down. containerd is killed until a command lands in the gap
// (berthd's back-off between restarts grows with each quick death, so the
// gap widens), then once more to check that it comes back.
func TestContainerdRestartingMessage(t *testing.T) {
	t.Parallel()
	s := harness.Start(t)
	s.LoadBusybox()
	c := cli{t: t, s: s}
	n := c.name("ctrd-gap")
	c.ok("create", "--name", n, "busybox", "true")
	var failure *result
	for round := 0; round < 8 && failure == nil; round++ {
		old := s.ContainerdPID()
		if err := syscall.Kill(old, syscall.SIGKILL); err != nil {
			t.Fatalf("kill -9 containerd %d: %v", old, err)
		}
		// Until containerd serves again: berth commands in the gap.
		eventually(t, 2*time.Minute, "berthd to restart containerd", func() bool {
			r := c.run("inspect", "--format", "{{.State.Status}}", n)
			if r.code != 0 && failure == nil {
				failure = &r
			}
			np := s.ContainerdPID()
			return np != 0 && np != old && r.code == 0
		})
	}
	if failure == nil {
		t.Fatal("no command landed while containerd was down in 8 kills")
	}
	t.Logf("while containerd restarted: %s", failure)
	if strings.Contains(failure.stderr, "Is berthd running?") || !strings.Contains(failure.stderr, "berthd is running, but containerd did not answer") {
		t.Errorf("a command while berthd restarts containerd: %s\nwant the message that berthd runs and containerd is restarting", failure)
	}
}

// TestCutPullLeaseRemoved: a pull cut off by a kill -9 of berthd leaves its
// lease in containerd, which holds the partial downloads and the layers
// fetched so far for 24 hours; berthd removes it when it starts again, and
// containerd's GC then removes what it held. The same holds for the lease
// of a create cut off after it prepared the container's snapshot (the
// chaos soak's active snapshot left behind).
func TestCutPullLeaseRemoved(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("skopeo"); err != nil {
		t.Skip("needs skopeo")
	}
	s := harness.Start(t)
	// A content store with a blob in it: containerd's GC fails on one that
	// never had any (no blobs directory yet), whatever the leases.
	s.LoadBusybox()
	c := cli{t: t, s: s}
	reg := harness.StartRegistry(t, harness.RegistryOptions{})
	big := reg.Addr() + "/e2e/big:latest"
	// TestDiskFull's image (the archive is cached once for both).
	archive := harness.Archive(t, harness.Image{Name: "docker.io/library/big:latest", DataLayers: 3, LayerSizeMiB: 48})
	if out, err := exec.Command("skopeo", "copy", "-q", "--dest-tls-verify=false", "oci-archive:"+archive, "docker://"+big).CombinedOutput(); err != nil {
		t.Fatalf("skopeo copy: %v: %s", err, out)
	}
	ctx := context.Background()
	cl, err := containerd.New(s.ContainerdAddress(), containerd.WithDefaultNamespace(s.Namespace()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	leaseCount := func() int {
		l, err := cl.LeasesService().List(ctx)
		if err != nil {
			t.Fatalf("listing leases: %v", err)
		}
		return len(l)
	}
	ingest := filepath.Join(s.Root(), "containerd", "io.containerd.content.v1.content", "ingest")
	ingests := func() int {
		entries, _ := os.ReadDir(ingest)
		return len(entries)
	}
	images := c.ok("images", "-q")

	// The pull is killed once it is downloading; one that ends first is
	// undone and tried again.
	cut := false
	for try := 0; try < 5 && !cut; try++ {
		pull := c.start("pull", big)
		eventually(t, 2*time.Minute, "the pull to be downloading", func() bool {
			return (ingests() > 0 && leaseCount() > 0) || pull.exited()
		})
		if pull.exited() {
			c.ok("rmi", big)
			continue
		}
		s.KillDaemon()
		pull.wait(30 * time.Second)
		if leaseCount() == 0 {
			// The pull ended between the check and the kill: undo it and
			// try again.
			s.StartDaemon()
			c.run("rmi", big)
			continue
		}
		cut = true
	}
	if !cut {
		t.Fatal("5 pulls ended before berthd could be killed in their middle")
	}
	if ingests() == 0 {
		// The last blob committed between the check and the kill: only the
		// lease is left to check (loopback downloads are fast on a quiet
		// machine).
		t.Logf("the cut pull left %d leases and no partial download", leaseCount())
	}
	s.StartDaemon()
	eventually(t, time.Minute, "the cut pull's lease and partial downloads to go", func() bool {
		return leaseCount() == 0 && ingests() == 0
	})
	if out := c.ok("images", "-q"); out != images {
		t.Errorf("images after the cut pull: %q, want %q", out, images)
	}
	// And the image pulls whole afterwards.
	c.ok("pull", big)
}

// TestRestartAfterShimAndContainerdKilled: an `always` container whose
// shim dies together with containerd, while berthd runs, is restarted by
// its policy once berthd has restarted containerd. containerd's restart
// cleans up the dead shim before anyone listens to its events, so berthd
// finds the task gone rather than an exit; it recorded the loss and left
// the container exited (the chaos soak's keepers that did not run).
func TestRestartAfterShimAndContainerdKilled(t *testing.T) {
	t.Parallel()
	s := harness.Start(t)
	s.LoadBusybox()
	c := cli{t: t, s: s}
	n := c.name("lost-always")
	c.ok("run", "-d", "--name", n, "--restart", "always", "busybox", "sleep", "1000")
	pid := atoi(t, c.inspect(n, "{{.State.Pid}}"))
	shim := parentPID(t, pid)
	ctrd := s.ContainerdPID()
	for _, p := range []int{shim, ctrd} {
		if err := syscall.Kill(p, syscall.SIGKILL); err != nil {
			t.Fatalf("kill -9 %d: %v", p, err)
		}
	}
	eventually(t, 2*time.Minute, n+" to run again after its shim and containerd were killed", func() bool {
		r := c.run("inspect", "--format", "{{.State.Status}} {{.State.Pid}}", n)
		st, p, _ := strings.Cut(r.out(), " ")
		return r.code == 0 && st == "running" && p != strconv.Itoa(pid) && p != "0"
	})
	if got := c.inspect(n, "{{.RestartCount}}"); got == "0" {
		t.Errorf("%s runs again with a restart count of 0", n)
	}
	c.ok("rm", "-f", n)
}

// TestSnapshotterRestartingPullMessage: a pull that fails because
// berth-snapshotter is down (berthd restarts it) says so, and not that the
// registry is unreachable. The snapshotter is killed a few times in a row
// so that berthd's restart back-off (100 ms, doubling) leaves a gap the
// pull lands in.
func TestSnapshotterRestartingPullMessage(t *testing.T) {
	t.Parallel()
	s := harness.Start(t)
	s.LoadBusybox()
	c := cli{t: t, s: s}
	reg := harness.StartRegistry(t, harness.RegistryOptions{})
	var failure *result
	for round := 0; round < 6 && failure == nil; round++ {
		ref := fmt.Sprintf("%s/e2e/snapgap:%d", reg.Addr(), round)
		c.ok("tag", "busybox", ref)
		c.ok("push", ref)
		c.ok("rmi", ref)
		// Each kill of a process that ran less than a few seconds doubles
		// the wait before the next start.
		for k := 0; k < 4; k++ {
			old := s.SnapshotterPID()
			if old == 0 {
				t.Fatal("no berth-snapshotter pid")
			}
			if err := syscall.Kill(old, syscall.SIGKILL); err != nil {
				t.Fatalf("kill -9 berth-snapshotter %d: %v", old, err)
			}
			if k == 3 {
				break
			}
			eventually(t, time.Minute, "berthd to restart berth-snapshotter", func() bool {
				np := s.SnapshotterPID()
				return np != 0 && np != old && c.run("image", "inspect", "busybox").code == 0
			})
		}
		if r := c.run("pull", ref); r.code != 0 {
			failure = &r
		}
		eventually(t, time.Minute, "berthd to restart berth-snapshotter", func() bool {
			return s.SnapshotterPID() != 0 && c.run("pull", ref).code == 0
		})
	}
	if failure == nil {
		t.Fatal("no pull landed while berth-snapshotter was down in 6 rounds")
	}
	t.Logf("pull while berth-snapshotter restarted: %s", failure)
	if strings.Contains(failure.stderr, "unreachable") || !strings.Contains(failure.stderr, "berth-snapshotter") || !strings.Contains(failure.stderr, "restart") {
		t.Errorf("a pull while berthd restarts berth-snapshotter: %s\nwant a message that the snapshotter is restarting, not that the registry is unreachable", failure)
	}
}
