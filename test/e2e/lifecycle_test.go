package e2e

import (
	mrand "math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/berthproject/berth/test/harness"
)

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
