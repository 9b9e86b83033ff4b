package e2e

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/berthproject/berth/test/harness"
)

// TestConcurrentRunRm runs 200 `run --rm` from 8 clients at once: every
// one succeeds and prints what it ran, no two running containers ever
// hold the same IP (each claims its address in a shared directory with an
// exclusive mkdir while it runs), and nothing is left (the harness checks
// containers, IPs, veths, mounts and snapshots when it stops).
func TestConcurrentRunRm(t *testing.T) {
	t.Parallel()
	s := harness.Start(t)
	s.LoadBusybox()
	c := cli{t: t, s: s}
	claims := t.TempDir()
	const clients, total = 8, 200
	script := `ip=$(ip -4 -o addr show eth0 | awk '{print $4}'); ip=${ip%/*}; ` +
		`[ -n "$ip" ] || exit 4; mkdir /claims/$ip || { echo "DUPLICATE $ip"; exit 3; }; ` +
		`echo "run $0 $ip"; rmdir /claims/$ip`
	var mu sync.Mutex
	var failures []string
	ips := map[string]int{}
	var wg sync.WaitGroup
	for w := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < total; i += clients {
				cmd := c.cmd("run", "--rm", "-v", claims+":/claims", "busybox", "sh", "-c", script, strconv.Itoa(i))
				var out, errb bytes.Buffer
				cmd.Stdout, cmd.Stderr = &out, &errb
				err := cmd.Run()
				mu.Lock()
				f := strings.Fields(out.String())
				if err != nil || len(f) != 3 || f[0] != "run" || f[1] != strconv.Itoa(i) {
					failures = append(failures, fmt.Sprintf("run %d: %v: %q %q", i, err, out.String(), errb.String()))
				} else {
					ips[f[2]]++
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(failures) > 0 {
		t.Fatalf("%d of %d runs failed:\n%s", len(failures), total, strings.Join(failures, "\n"))
	}
	if left := c.ok("ps", "-aq"); left != "" {
		t.Errorf("run --rm left containers: %q", left)
	}
	t.Logf("%d runs from %d clients, 0 failures, %d distinct IPs, 0 duplicates", total, clients, len(ips))
}

// TestLogsFullSpeedAcrossDaemonRestart: a container writes numbered lines
// to stdout as fast as it can while berthd is killed and started again;
// its log then holds every number once, in order (none lost, none
// repeated), on berth's shim and on runc with berth-logger.
func TestLogsFullSpeedAcrossDaemonRestart(t *testing.T) {
	t.Parallel()
	s := harness.Start(t)
	s.LoadBusybox()
	c := cli{t: t, s: s}
	for _, runtime := range []string{berthRuntime, "io.containerd.runc.v2"} {
		ctl := t.TempDir()
		name := c.name("fullspeed")
		c.ok("run", "-d", "--name", name, "--runtime", runtime, "--log-opt", "max-size=200m", "-v", ctl+":/ctl",
			"busybox", "sh", "-c", `i=0; while [ ! -e /ctl/stop ]; do i=$((i+1)); echo $i; done`)
		last := func() int {
			r := c.run("logs", "--tail", "1", name)
			n, _ := strconv.Atoi(strings.TrimSpace(r.stdout))
			return n
		}
		var before int
		eventually(t, cmdTimeout, "the first lines", func() bool { before = last(); return before > 0 })
		s.KillDaemon()
		s.StartDaemon()
		// Lines written after berthd came back, so the restart fell in
		// the middle of the stream.
		eventually(t, cmdTimeout, "lines after the restart", func() bool { return last() > before })
		if err := os.WriteFile(filepath.Join(ctl, "stop"), nil, 0o644); err != nil {
			t.Fatal(err)
		}
		c.ok("wait", name)
		out := c.ok("logs", name)
		nums := strings.Split(out, "\n")
		for i, l := range nums {
			if l != strconv.Itoa(i+1) {
				t.Fatalf("%s: line %d of %d is %q (want %d): a line lost or repeated; around it: %q", runtime, i+1, len(nums), l, i+1, nums[max(0, i-3):min(len(nums), i+3)])
			}
		}
		if len(nums) <= before {
			t.Fatalf("%s: %d lines, %d before the restart", runtime, len(nums), before)
		}
		t.Logf("%s: %d lines, berthd restarted after line %d, none lost or repeated", runtime, len(nums), before)
		c.ok("rm", name)
	}
}
