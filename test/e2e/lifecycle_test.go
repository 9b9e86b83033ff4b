package e2e

import (
	"context"
	mrand "math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/pkg/cio"

	"github.com/berthproject/berth/test/harness"
)

// TestShimKilled: when a container's shim is killed (kill -9), berth records
// the exit with the time it was observed: ps -a says "Exited (137) N
// seconds ago", never "292 years ago" (a zero FinishedAt).
func TestShimKilled(t *testing.T) {
	t.Parallel()
	s := harness.Start(t)
	s.LoadBusybox()
	c := cli{t: t, s: s}
	for _, rt := range []string{"", berthRuntime} {
		n := c.name("shimkill")
		args := []string{"run", "-d", "--name", n}
		if rt != "" {
			args = append(args, "--runtime", rt)
		}
		c.ok(append(args, "busybox", "sleep", "1000")...)
		pid := atoi(t, c.inspect(n, "{{.State.Pid}}"))
		shim := parentPID(t, pid)
		if comm := procComm(shim); !strings.HasPrefix(comm, "containerd-shim") {
			t.Fatalf("the parent of %s's process %d is %d %q, not its shim", n, pid, shim, comm)
		}
		before := time.Now().Add(-time.Second) // the host's clock, to the second at worst
		if err := syscall.Kill(shim, syscall.SIGKILL); err != nil {
			t.Fatalf("kill -9 %s's shim %d: %v", n, shim, err)
		}
		c.waitStatus(n, "exited")
		finished, err := parseInspectTime(c.inspect(n, "{{.State.FinishedAt}}"))
		if err != nil || finished.Before(before) || finished.After(time.Now()) {
			t.Errorf("runtime %q: FinishedAt after its shim was killed: %v (%v), want between %v and now", rt, finished, err, before)
		}
		ps := c.ok("ps", "-a", "--filter", "name="+n, "--format", "{{.Status}}")
		if !strings.HasPrefix(ps, "Exited (") || strings.Contains(ps, "years") {
			t.Errorf("runtime %q: ps -a status after the shim was killed: %q", rt, ps)
		}
		if pidAlive(pid) {
			t.Errorf("runtime %q: the container's process %d outlived its shim's cleanup", rt, pid)
		}
	}
}

// TestRestartAlwaysAfterDaemonRestart: an `always` container the user
// stopped is started when berthd comes back and, from then on, restarted
// each time it exits (Docker's behaviour), while a user-stopped
// `unless-stopped` one is not started.
func TestRestartAlwaysAfterDaemonRestart(t *testing.T) {
	t.Parallel()
	s := harness.Start(t)
	s.LoadBusybox()
	c := cli{t: t, s: s}
	always, unless := c.name("exits-always"), c.name("exits-unless")
	c.ok("run", "-d", "--name", always, "--restart", "always", "busybox", "true")
	c.ok("run", "-d", "--name", unless, "--restart", "unless-stopped", "busybox", "true")
	c.ok("stop", always, unless)
	base := atoi(t, c.inspect(always, "{{.RestartCount}}"))
	baseUnless := atoi(t, c.inspect(unless, "{{.RestartCount}}"))
	startedUnless := c.inspect(unless, "{{.State.StartedAt}}")

	s.Restart()
	eventually(t, 30*time.Second, always+" to be restarted twice after berthd came back", func() bool {
		return atoi(t, c.inspect(always, "{{.RestartCount}}")) >= base+2
	})
	if got := c.inspect(unless, "{{.State.Status}} {{.RestartCount}} {{.State.StartedAt}}"); got != "exited "+strconv.Itoa(baseUnless)+" "+startedUnless {
		t.Errorf("a user-stopped unless-stopped container after berthd came back: %q, want exited, not started", got)
	}
	c.ok("stop", always)
	c.waitStatus(always, "exited")
}

// TestStartFailureCreated: a container whose start fails (here, its host
// port is taken) stays Created with the error, as in Docker; it is not
// shown as Exited (128).
func TestStartFailureCreated(t *testing.T) {
	t.Parallel()
	s := harness.Start(t)
	s.LoadBusybox()
	c := cli{t: t, s: s}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	port := strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
	n := c.name("portconflict")
	if r := c.run("run", "-d", "--name", n, "-p", port+":80", "busybox", "sleep", "60"); r.code != 125 {
		t.Fatalf("run with its host port taken: %s", r)
	}
	got := c.inspect(n, "{{.State.Status}}|{{.State.Error}}")
	status, msg, _ := strings.Cut(got, "|")
	if status != "created" || !strings.Contains(msg, "already in use") {
		t.Errorf("a container whose host port was taken: status %q, error %q; want created with the error", status, msg)
	}
	if ps := c.ok("ps", "-a", "--filter", "name="+n, "--format", "{{.Status}}"); ps != "Created" {
		t.Errorf("ps -a status of a container that failed to start: %q, want Created", ps)
	}
	if fin := c.inspect(n, "{{.State.FinishedAt}}"); !strings.HasPrefix(fin, "0001-01-01") {
		t.Errorf("FinishedAt of a container that never ran: %q", fin)
	}
	// Once the port is free it starts.
	l.Close()
	c.ok("start", n)
	if got := c.status(n); got != "running" {
		t.Errorf("after the port was freed, start: status %q", got)
	}
}

// TestLifecycleStress races stop, kill, restart, start, rm -f, the
// containers' own exits (restart policies at work) and a daemon restart
// against each other on many containers. Then every container left must
// answer a plain stop (exited, and staying so: no policy restarts a
// container the user stopped), wait and rm, and the harness finds nothing
// leaked. The seed in the log replays a run's choice of operations.
func TestLifecycleStress(t *testing.T) {
	t.Parallel()
	s := harness.Start(t)
	s.LoadBusybox()
	c := cli{t: t, s: s}
	seed := time.Now().UnixNano()
	t.Logf("seed %d", seed)

	const containers, opsEach = 12, 8
	policies := []string{"no", "always", "on-failure", "unless-stopped"}
	names := make([]string, containers)
	for i := range names {
		names[i] = c.name("stress")
		// Even ones run until signalled (and exit 0 on SIGTERM), odd ones
		// exit 3 on their own soon after each start.
		script := `trap "exit 0" TERM; while :; do sleep 0.1; done`
		if i%2 == 1 {
			script = "sleep 0.3; exit 3"
		}
		c.ok("run", "-d", "--name", names[i], "--restart", policies[i%len(policies)], "busybox", "sh", "-c", script)
	}

	ops := [][]string{
		{"stop", "-t", "1"}, {"kill"}, {"restart", "-t", "1"}, {"start"}, {"kill", "-s", "TERM"},
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var failures []string
	for i, n := range names {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := mrand.New(mrand.NewPCG(uint64(seed), uint64(i)))
			for k := 0; k < opsEach; k++ {
				op := ops[rng.IntN(len(ops))]
				if k == opsEach-1 && rng.IntN(3) == 0 {
					op = []string{"rm", "-f"}
				}
				r := c.run(append(op, n)...)
				// Refusals are fine (not running, no such container,
				// berthd restarting); a crash or an internal error is not.
				if r.code != 0 && (strings.Contains(r.stderr, "panic") || strings.Contains(strings.ToLower(r.stderr), "internal")) {
					mu.Lock()
					failures = append(failures, r.String())
					mu.Unlock()
				}
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		s.KillDaemon()
		s.StartDaemon()
	}()
	wg.Wait()
	for _, f := range failures {
		t.Errorf("during the race: %s", f)
	}

	// Every container left answers stop, wait and rm as a quiet one would.
	var left []string
	for _, n := range names {
		if c.exists(n) {
			left = append(left, n)
		}
	}
	if len(left) > 0 {
		c.ok(append([]string{"stop", "-t", "1"}, left...)...)
	}
	for _, n := range left {
		if got := c.status(n); got != "exited" {
			t.Errorf("%s after stop: %q, want exited", n, got)
		}
	}
	consistently(t, 1500*time.Millisecond, "no policy restarts a container the user stopped", func() bool {
		for _, n := range left {
			if got := c.status(n); got != "exited" {
				t.Logf("%s: %s", n, got)
				return false
			}
		}
		return true
	})
	for _, n := range left {
		code := c.inspect(n, "{{.State.ExitCode}}")
		if r := c.run("wait", n); r.code != 0 || r.out() != code {
			t.Errorf("wait on stopped %s: %s; inspect says exit code %s", n, r, code)
		}
		c.ok("rm", n)
		if c.exists(n) {
			t.Errorf("%s still listed after rm", n)
		}
	}
	if out := c.ok("ps", "-a", "-q"); out != "" {
		t.Errorf("containers left after rm: %q", out)
	}
	t.Logf("%d of %d containers were left for the final stop", len(left), containers)
}

// parentPID reads a process's parent from /proc.
func parentPID(t *testing.T, pid int) int {
	t.Helper()
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		t.Fatal(err)
	}
	// pid (comm) state ppid ...: comm may hold spaces, so cut at the last ')'.
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	return atoi(t, f[1])
}

// parseInspectTime reads a time as inspect prints it: Docker's RFC 3339 or
// Go's time.Time.String.
func parseInspectTime(s string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		t, err = time.Parse("2006-01-02 15:04:05.999999999 -0700 MST", s)
	}
	return t, err
}

func procComm(pid int) string {
	b, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/comm")
	return strings.TrimSpace(string(b))
}

// TestInterruptedStart: a task created but never started (a start cut off
// between containerd's create and start, by a kill of berthd or containerd)
// does not leave the container "running" for good: rm -f removes it at
// once, and berthd's reconciliation deletes it, after which start works.
func TestInterruptedStart(t *testing.T) {
	t.Parallel()
	s := harness.Start(t)
	s.LoadBusybox()
	c := cli{t: t, s: s}
	ctx := context.Background()
	cl, err := containerd.New(s.ContainerdAddress(), containerd.WithDefaultNamespace(s.Namespace()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	halfStart := func(name string) {
		t.Helper()
		id := c.inspect(name, "{{.ID}}")
		ctr, err := cl.LoadContainer(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		task, err := ctr.NewTask(ctx, cio.NullIO)
		if err != nil {
			t.Fatalf("creating a task for %s behind berthd's back: %v", name, err)
		}
		if st, err := task.Status(ctx); err != nil || st.Status != containerd.Created {
			t.Fatalf("the half-started task of %s: %v, %v", name, st, err)
		}
	}
	// No network: berth sets a container's netns up in its own start.
	removed, restarted := c.name("halfstart-rm"), c.name("halfstart-restart")
	c.ok("create", "--name", removed, "--network", "none", "busybox", "sleep", "1000")
	c.ok("create", "--name", restarted, "--network", "none", "busybox", "sleep", "1000")
	halfStart(removed)
	halfStart(restarted)

	if r := c.run("rm", "-f", removed); r.code != 0 || c.exists(removed) {
		t.Errorf("rm -f of a container with a task never started: %s", r)
	}
	s.Restart()
	// berthd reconciles its containers in the background once it serves.
	eventually(t, 30*time.Second, restarted+" to be created again after berthd's restart", func() bool {
		return c.status(restarted) == "created"
	})
	c.ok("start", restarted)
	if got := c.status(restarted); got != "running" {
		t.Errorf("start after the cut-off start was cleaned: %q", got)
	}
}

// TestStartAfterShimKilled: a container whose shim was killed starts again
// (by the user, and by its restart policy): the dead shim's leftovers in
// containerd do not stand in the new task's way.
func TestStartAfterShimKilled(t *testing.T) {
	t.Parallel()
	s := harness.Start(t)
	s.LoadBusybox()
	c := cli{t: t, s: s}
	n := c.name("shimkill-start")
	c.ok("run", "-d", "--name", n, "busybox", "sleep", "1000")
	for i := 0; i < 2; i++ {
		pid := atoi(t, c.inspect(n, "{{.State.Pid}}"))
		shim := parentPID(t, pid)
		if err := syscall.Kill(shim, syscall.SIGKILL); err != nil {
			t.Fatalf("kill -9 %s's shim %d: %v", n, shim, err)
		}
		c.waitStatus(n, "exited")
		c.ok("start", n)
		if got := c.status(n); got != "running" {
			t.Fatalf("start after its shim was killed (round %d): status %q", i+1, got)
		}
	}
	c.ok("rm", "-f", n)
}
