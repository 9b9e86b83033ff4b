package e2e

import (
	cryptorand "crypto/rand"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/berthproject/berth/test/harness"
)

// TestCLI runs the tests that can share one stack as parallel subtests;
// each uses its own container names and removes its containers.
func TestCLI(t *testing.T) {
	t.Parallel()
	s := harness.Start(t)
	s.LoadBusybox()
	for _, tc := range []struct {
		name string
		fn   func(t *testing.T, c cli)
	}{
		{"Lifecycle", testLifecycle},
		{"Paused", testPaused},
		{"KillSignal", testKillSignal},
		{"SigProxy", testSigProxy},
		{"Wait", testWait},
		{"ExitCodes", testExitCodes},
		{"Errors", testErrors},
		{"StopTrapsTerm", testStopTrapsTerm},
		{"StopKillsAfterTimeout", testStopKillsAfterTimeout},
		{"StopSignal", testStopSignal},
		{"RestartOnFailure", testRestartOnFailure},
		{"RestartAlways", testRestartAlways},
		{"RestartWithRmRefused", testRestartWithRmRefused},
		{"AutoRemove", testAutoRemove},
		{"Logs", testLogs},
		{"LogsSince", testLogsSince},
		{"LogsFollow", testLogsFollow},
		{"LogRotation", testLogRotation},
		{"Exec", testExec},
		{"ExecPaused", testExecPaused},
		{"TTY", testTTY},
		{"TTYEOF", testTTYEOF},
		{"ExecTTY", testExecTTY},
		{"NamesAndPrefixes", testNamesAndPrefixes},
		{"Formats", testFormats},
		{"Events", testEvents},
		{"Client", testClient},
		{"ExecResize", testExecResize},
		{"StopCancelled", testStopCancelled},
		{"ExecStdinEndsEarly", testExecStdinEndsEarly},
		{"RestartAutoRemove", testRestartAutoRemove},
		{"RunOptions", testRunOptions},
		{"Idempotent", testIdempotent},
		{"PsFilters", testPsFilters},
		{"Attach", testAttach},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t, cli{t: t, s: s})
		})
	}
}

// testLifecycle walks a container through every state and transition.
func testLifecycle(t *testing.T, c cli) {
	n := c.name("life")
	id := c.ok("create", "--name", n, "busybox", "sleep", "1000")
	if !regexp.MustCompile(`^[0-9a-f]{64}$`).MatchString(id) {
		t.Fatalf("create printed %q, want a full ID", id)
	}
	if got := c.status(n); got != "created" {
		t.Errorf("after create: status %q, want created", got)
	}
	if got := c.psState(n); got != "created" {
		t.Errorf("after create: ps -a state %q, want created", got)
	}
	if out := c.ok("ps", "--format", "{{.Names}}"); strings.Contains(out, n) {
		t.Errorf("ps without -a lists the created container: %q", out)
	}

	if out := c.ok("start", n); out != n {
		t.Errorf("start printed %q, want %q", out, n)
	}
	c.waitStatus(n, "running")
	if got := c.psState(n); got != "running" {
		t.Errorf("after start: ps -a state %q", got)
	}
	pid := atoi(t, c.inspect(n, "{{.State.Pid}}"))
	if pid <= 0 || !pidAlive(pid) {
		t.Fatalf("running container's pid %d is not alive", pid)
	}

	c.ok("pause", n)
	if got := c.status(n); got != "paused" {
		t.Errorf("after pause: status %q", got)
	}
	if got := c.psState(n); got != "paused" {
		t.Errorf("after pause: ps -a state %q", got)
	}
	if got := c.inspect(n, "{{.State.Running}} {{.State.Paused}}"); got != "true true" {
		t.Errorf("paused: Running Paused = %q, want true true", got)
	}
	c.ok("unpause", n)
	if got := c.status(n); got != "running" {
		t.Errorf("after unpause: status %q", got)
	}

	top := c.ok("top", n)
	if !strings.Contains(top, "PID") || !strings.Contains(top, "sleep 1000") || !strings.Contains(top, strconv.Itoa(pid)) {
		t.Errorf("top does not show the container's process %d:\n%s", pid, top)
	}

	n2 := c.name("life-renamed")
	c.ok("rename", n, n2)
	c.fails(1, []string{"No such container: " + n}, "inspect", "--type", "container", n)
	if got := c.inspect(n2, "{{.Name}}"); strings.TrimPrefix(got, "/") != n2 {
		t.Errorf("renamed container's name %q, want %q", got, n2)
	}

	r := c.run("stop", "-t", "1", n2)
	if r.code != 0 || r.out() != n2 {
		t.Errorf("stop: %s", r)
	}
	if got := c.status(n2); got != "exited" {
		t.Errorf("after stop: status %q", got)
	}
	if got := c.psState(n2); got != "exited" {
		t.Errorf("after stop: ps -a state %q", got)
	}
	if pidAlive(pid) {
		t.Errorf("process %d still alive after stop", pid)
	}
	// sleep as PID 1 ignores SIGTERM: stop had to SIGKILL it.
	if got := c.inspect(n2, "{{.State.ExitCode}}"); got != "137" {
		t.Errorf("exit code after stop of a TERM-ignoring process: %s, want 137", got)
	}

	c.ok("start", n2)
	c.waitStatus(n2, "running")
	pid2 := atoi(t, c.inspect(n2, "{{.State.Pid}}"))
	c.ok("restart", "-t", "1", n2)
	c.waitStatus(n2, "running")
	pid3 := atoi(t, c.inspect(n2, "{{.State.Pid}}"))
	if pid3 == pid2 || pidAlive(pid2) || !pidAlive(pid3) {
		t.Errorf("restart: pid %d -> %d (old alive %v, new alive %v)", pid2, pid3, pidAlive(pid2), pidAlive(pid3))
	}

	c.ok("kill", n2)
	c.waitStatus(n2, "exited")
	if got := c.inspect(n2, "{{.State.ExitCode}}"); got != "137" {
		t.Errorf("exit code after kill: %s, want 137", got)
	}
	// restart also starts a stopped container.
	c.ok("restart", n2)
	c.waitStatus(n2, "running")
	c.ok("kill", n2)
	c.waitStatus(n2, "exited")

	c.ok("rm", n2)
	if c.exists(n2) {
		t.Errorf("%s still exists after rm", n2)
	}
	if got := c.psState(n2); got != "" {
		t.Errorf("ps -a still lists %s after rm (state %q)", n2, got)
	}

	// rm -f of a running container.
	n3 := c.name("life-force")
	c.ok("run", "-d", "--name", n3, "busybox", "sleep", "1000")
	pid = atoi(t, c.inspect(n3, "{{.State.Pid}}"))
	c.ok("rm", "-f", n3)
	if c.exists(n3) {
		t.Errorf("%s still exists after rm -f", n3)
	}
	eventually(t, 10*time.Second, "process of the force-removed container to end", func() bool { return !pidAlive(pid) })
}

// testPaused: a paused container can be stopped, killed and force-removed.
func testPaused(t *testing.T, c cli) {
	n := c.name("frozen-stop")
	c.ok("run", "-d", "--name", n, "busybox", "sleep", "1000")
	pid := atoi(t, c.inspect(n, "{{.State.Pid}}"))
	c.ok("pause", n)
	if got := c.ok("ps", "--filter", "name="+n, "--format", "{{.Status}}"); !strings.HasSuffix(got, "(Paused)") {
		t.Errorf("ps status of a paused container: %q", got)
	}
	if r := c.run("stop", "-t", "1", n); r.code != 0 {
		t.Errorf("stop of a paused container: %s", r)
	}
	if got := c.inspect(n, "{{.State.Status}} {{.State.Paused}}"); got != "exited false" {
		t.Errorf("after stop of a paused container: %q", got)
	}
	eventually(t, 10*time.Second, "the stopped container's process to end", func() bool { return !pidAlive(pid) })

	k := c.name("frozen-kill")
	c.ok("run", "-d", "--name", k, "busybox", "sleep", "1000")
	c.ok("pause", k)
	c.ok("kill", k)
	c.waitStatus(k, "exited")
	if got := c.inspect(k, "{{.State.ExitCode}}"); got != "137" {
		t.Errorf("kill of a paused container: exit code %s", got)
	}

	f := c.name("frozen-rm")
	c.ok("run", "-d", "--name", f, "busybox", "sleep", "1000")
	pid = atoi(t, c.inspect(f, "{{.State.Pid}}"))
	c.ok("pause", f)
	c.fails(1, []string{f}, "rm", f)
	c.ok("rm", "-f", f)
	if c.exists(f) {
		t.Errorf("rm -f of a paused container left it")
	}
	eventually(t, 10*time.Second, "the removed container's process to end", func() bool { return !pidAlive(pid) })
}

// testKillSignal: kill -s delivers the signal (by name and by number) to
// the container's main process.
func testKillSignal(t *testing.T, c cli) {
	n := c.name("sig")
	c.ok("run", "-d", "--name", n, "busybox", "sh", "-c",
		`trap 'echo got-hup' HUP; trap 'echo got-usr2' USR2; echo ready; while true; do sleep 0.1; done`)
	waitLog(c, n, "ready")
	c.ok("kill", "-s", "HUP", n)
	waitLog(c, n, "got-hup")
	c.ok("kill", "--signal", "12", n) // SIGUSR2
	waitLog(c, n, "got-usr2")
	if got := c.status(n); got != "running" {
		t.Errorf("after trapped signals: status %q, want running", got)
	}
	c.ok("kill", "-s", "SIGKILL", n)
	c.waitStatus(n, "exited")
	if got := c.inspect(n, "{{.State.ExitCode}}"); got != "137" {
		t.Errorf("exit code after kill -s SIGKILL: %s", got)
	}
	c.fails(1, []string{"not running"}, "kill", n)
}

// waitLog polls `berth logs` until it contains s.
func waitLog(c cli, name, s string) {
	c.t.Helper()
	var last result
	eventually(c.t, 30*time.Second, "logs of "+name+" to contain "+s, func() bool {
		last = c.run("logs", name)
		return strings.Contains(last.stdout, s)
	})
}

// testWait: wait prints each exit code, for running and exited containers.
func testWait(t *testing.T, c cli) {
	a, b := c.name("wait-a"), c.name("wait-b")
	c.ok("create", "--name", a, "busybox", "sh", "-c", "exit 7")
	c.ok("run", "-d", "--name", b, "busybox", "sh", "-c", "exit 0")
	c.ok("start", a)
	if out := c.ok("wait", a, b); out != "7\n0" {
		t.Errorf("wait printed %q, want \"7\\n0\"", out)
	}
	// A running container: wait blocks until it exits.
	w := c.name("wait-run")
	c.ok("run", "-d", "--name", w, "busybox", "sleep", "1000")
	st := c.start("wait", w)
	c.ok("kill", w)
	if code := st.wait(30 * time.Second); code != 0 || strings.TrimSpace(st.output()) != "137" {
		t.Errorf("wait on a killed container: exit %d, output %q, stderr %q", code, st.output(), st.stderr())
	}
	c.fails(1, []string{"No such container: nosuch-wait"}, "wait", "nosuch-wait")
}

// testExitCodes: run returns the container's exit code.
func testExitCodes(t *testing.T, c cli) {
	for _, code := range []int{0, 3, 42} {
		r := c.run("run", "--rm", "busybox", "sh", "-c", "echo code; exit "+strconv.Itoa(code))
		if r.code != code || r.out() != "code" {
			t.Errorf("run exit %d: %s", code, r)
		}
	}
	// A container killed by a signal: 128+9.
	n := c.name("exit-kill")
	st := c.start("run", "--name", n, "busybox", "sh", "-c", "echo started; sleep 1000")
	st.waitFor("started", 30*time.Second)
	c.ok("kill", n)
	if code := st.wait(30 * time.Second); code != 137 {
		t.Errorf("run of a killed container exited %d, want 137 (stderr %q)", code, st.stderr())
	}
	// start -a returns the exit code too.
	a := c.name("exit-start")
	c.ok("create", "--name", a, "busybox", "sh", "-c", "echo attached; exit 9")
	r := c.run("start", "-a", a)
	if r.code != 9 || r.out() != "attached" {
		t.Errorf("start -a: %s", r)
	}
}

// testErrors: Docker's exit codes and messages for bad input.
func testErrors(t *testing.T, c cli) {
	c.fails(125, []string{"flag provided but not defined: -bogus"}, "run", "--bogus", "busybox", "true")
	c.fails(125, []string{"No such image: nosuchimage"}, "run", "nosuchimage", "true")

	// Command not found: 127; the --rm container is removed all the same.
	n := c.name("err-notfound")
	c.fails(127, []string{"nosuchcmd"}, "run", "--rm", "--name", n, "busybox", "nosuchcmd")
	if c.exists(n) {
		t.Errorf("run --rm of a command not found left container %s", n)
	}
	n2 := c.name("err-notfound2")
	c.fails(127, []string{"nosuchcmd"}, "run", "--name", n2, "busybox", "nosuchcmd")
	if got := c.inspect(n2, "{{.State.ExitCode}}"); got != "127" {
		t.Errorf("ExitCode of a container whose command was not found: %s, want 127", got)
	}
	c.fails(126, []string{"/etc/passwd"}, "run", "--rm", "busybox", "/etc/passwd")
	c.fails(127, []string{"nosuchcmd"}, "start", "-a", n2)

	for _, cmd := range [][]string{
		{"stop", "nosuch"}, {"start", "nosuch"}, {"kill", "nosuch"}, {"rm", "nosuch"},
		{"logs", "nosuch"}, {"pause", "nosuch"}, {"top", "nosuch"}, {"exec", "nosuch", "true"},
		{"inspect", "--type", "container", "nosuch"}, {"rename", "nosuch", "other"},
	} {
		c.fails(1, []string{"No such container: nosuch"}, cmd...)
	}
	c.fails(1, []string{"No such object: nosuch"}, "inspect", "nosuch")

	// A name in use.
	a := c.name("err-dup")
	id := c.ok("create", "--name", a, "busybox", "true")
	r := c.fails(125, []string{a}, "run", "--name", a, "busybox", "true")
	if !strings.Contains(r.stderr, "in use") {
		t.Errorf("run with a name in use: want \"in use\" in the message: %s", r)
	}
	c.fails(125, []string{a, "in use"}, "create", "--name", a, "busybox", "true")
	b := c.name("err-dup-b")
	c.ok("create", "--name", b, "busybox", "true")
	c.fails(1, []string{a, "in use"}, "rename", b, a)
	if got := c.inspect(a, "{{.ID}}"); got != id {
		t.Errorf("name %s now refers to %s, want %s", a, got, id)
	}

	// rm of a running container without -f.
	run := c.name("err-running")
	c.ok("run", "-d", "--name", run, "busybox", "sleep", "1000")
	r = c.fails(1, []string{"running"}, "rm", run)
	if !strings.Contains(r.stderr, "force") && !strings.Contains(r.stderr, "-f") {
		t.Errorf("rm of a running container: the message should say to force it: %s", r)
	}
	if got := c.status(run); got != "running" {
		t.Errorf("after a refused rm: status %q", got)
	}
	// Wrong states.
	c.fails(1, []string{"not running"}, "pause", a)
	c.fails(1, []string{"not paused"}, "unpause", run)
	c.fails(1, []string{"not running"}, "exec", a, "true")
}

// testStopTrapsTerm: stop sends SIGTERM; a container trapping it exits
// with its own code.
func testStopTrapsTerm(t *testing.T, c cli) {
	n := c.name("stop-trap")
	c.ok("run", "-d", "--name", n, "busybox", "sh", "-c",
		`trap 'echo bye; exit 3' TERM; echo ready; while true; do sleep 0.1; done`)
	waitLog(c, n, "ready")
	if out := c.ok("stop", n); out != n {
		t.Errorf("stop printed %q", out)
	}
	if got := c.inspect(n, "{{.State.Status}} {{.State.ExitCode}}"); got != "exited 3" {
		t.Errorf("after stop: %q, want \"exited 3\"", got)
	}
	if out := c.ok("logs", n); !strings.Contains(out, "bye") {
		t.Errorf("logs do not show the TERM trap's output: %q", out)
	}
}

// testStopKillsAfterTimeout: a container ignoring SIGTERM is killed after
// stop's timeout.
func testStopKillsAfterTimeout(t *testing.T, c cli) {
	n := c.name("stop-ignore")
	c.ok("run", "-d", "--name", n, "busybox", "sh", "-c",
		`trap '' TERM; echo ready; while true; do sleep 0.1; done`)
	waitLog(c, n, "ready")
	r := c.run("stop", "-t", "1", n)
	if r.code != 0 {
		t.Fatalf("%s", r)
	}
	if r.took < time.Second {
		t.Errorf("stop -t 1 of a TERM-ignoring container took %s, want >= 1s", r.took)
	}
	if got := c.inspect(n, "{{.State.Status}} {{.State.ExitCode}}"); got != "exited 137" {
		t.Errorf("after stop -t 1: %q, want \"exited 137\"", got)
	}
	// --stop-timeout is the container's default for stop.
	m := c.name("stop-timeout")
	c.ok("run", "-d", "--name", m, "--stop-timeout", "1", "busybox", "sh", "-c",
		`trap '' TERM; echo ready; while true; do sleep 0.1; done`)
	waitLog(c, m, "ready")
	r = c.run("stop", m)
	if r.code != 0 || r.took < time.Second {
		t.Errorf("stop with --stop-timeout 1: took %s: %s", r.took, r)
	}
	if got := c.inspect(m, "{{.State.ExitCode}}"); got != "137" {
		t.Errorf("exit code %s, want 137", got)
	}
}

// testStopSignal: --stop-signal is what stop sends; stop -s overrides it.
func testStopSignal(t *testing.T, c cli) {
	n := c.name("stopsig")
	c.ok("run", "-d", "--name", n, "--stop-signal", "USR1", "busybox", "sh", "-c",
		`trap 'echo got-usr1; exit 4' USR1; trap 'echo got-term; exit 5' TERM; echo ready; while true; do sleep 0.1; done`)
	waitLog(c, n, "ready")
	if got := c.inspect(n, "{{.Config.StopSignal}}"); !strings.Contains(got, "USR1") {
		t.Errorf("Config.StopSignal = %q", got)
	}
	c.ok("stop", n)
	if got := c.inspect(n, "{{.State.ExitCode}}"); got != "4" {
		t.Errorf("exit code %s, want 4 (the USR1 trap)", got)
	}
	if out := c.ok("logs", n); !strings.Contains(out, "got-usr1") || strings.Contains(out, "got-term") {
		t.Errorf("logs: %q, want got-usr1 only", out)
	}
	c.ok("start", n)
	c.waitStatus(n, "running")
	eventually(t, 30*time.Second, "the restarted container to be ready again", func() bool {
		return strings.Count(c.ok("logs", n), "ready") == 2
	})
	c.ok("stop", "-s", "TERM", n)
	if got := c.inspect(n, "{{.State.ExitCode}}"); got != "5" {
		t.Errorf("stop -s TERM: exit code %s, want 5", got)
	}
}

// testRestartOnFailure: on-failure:2 runs the container 3 times.
func testRestartOnFailure(t *testing.T, c cli) {
	n := c.name("onfail")
	c.ok("run", "-d", "--name", n, "--restart", "on-failure:2", "busybox", "sh", "-c", "echo run; exit 1")
	eventually(t, 60*time.Second, "RestartCount 2 and exited", func() bool {
		return c.inspect(n, "{{.RestartCount}} {{.State.Status}}") == "2 exited"
	})
	if got := c.inspect(n, "{{.State.ExitCode}} {{.HostConfig.RestartPolicy.Name}} {{.HostConfig.RestartPolicy.MaximumRetryCount}}"); got != "1 on-failure 2" {
		t.Errorf("exit code: %q", got)
	}
	if out := c.ok("logs", n); strings.Count(out, "run") != 3 {
		t.Errorf("logs show %d runs, want 3:\n%s", strings.Count(out, "run"), out)
	}
	consistently(t, time.Second, n+" stays exited with RestartCount 2", func() bool {
		return c.inspect(n, "{{.RestartCount}} {{.State.Status}}") == "2 exited"
	})
	// A success is not restarted.
	m := c.name("onfail-ok")
	c.ok("run", "-d", "--name", m, "--restart", "on-failure", "busybox", "sh", "-c", "echo run; exit 0")
	if out := c.ok("wait", m); out != "0" {
		t.Errorf("wait: %q", out)
	}
	consistently(t, time.Second, m+" stays exited", func() bool {
		return c.inspect(m, "{{.RestartCount}} {{.State.Status}}") == "0 exited"
	})
}

// testRestartAlways: always restarts a container that exits, even with 0;
// stop ends that.
func testRestartAlways(t *testing.T, c cli) {
	n := c.name("always")
	c.ok("run", "-d", "--name", n, "--restart", "always", "busybox", "sh", "-c", "echo run; exit 0")
	eventually(t, 60*time.Second, "2 restarts", func() bool {
		return atoi(t, c.inspect(n, "{{.RestartCount}}")) >= 2
	})
	c.ok("stop", "-t", "1", n)
	c.waitStatus(n, "exited")
	count := c.inspect(n, "{{.RestartCount}}")
	// Backoff after 2+ restarts is < 1 s: a restart would show in this window.
	consistently(t, 1500*time.Millisecond, n+" stays stopped", func() bool {
		return c.inspect(n, "{{.State.Status}} {{.RestartCount}}") == "exited "+count
	})

	// A running always container: stop during its run.
	m := c.name("always-run")
	c.ok("run", "-d", "--name", m, "--restart", "always", "busybox", "sleep", "1000")
	c.ok("stop", "-t", "1", m)
	consistently(t, 1500*time.Millisecond, m+" stays stopped", func() bool {
		return c.status(m) == "exited"
	})
	// kill by the user does not restart either.
	c.ok("start", m)
	c.waitStatus(m, "running")
	c.ok("kill", m)
	consistently(t, 1500*time.Millisecond, m+" stays killed", func() bool {
		return c.status(m) == "exited"
	})
}

func testRestartWithRmRefused(t *testing.T, c cli) {
	n := c.name("always-rm")
	c.fails(125, []string{"--rm"}, "run", "-d", "--rm", "--restart", "always", "--name", n, "busybox", "true")
	if c.exists(n) {
		t.Errorf("a refused run created %s", n)
	}
	c.fails(125, []string{"--rm"}, "create", "--rm", "--restart", "on-failure", "--name", n, "busybox", "true")
	if c.exists(n) {
		t.Errorf("a refused create created %s", n)
	}
}

// testAutoRemove: --rm containers are gone once they exit.
func testAutoRemove(t *testing.T, c cli) {
	n := c.name("rm-fg")
	if out := c.ok("run", "--rm", "--name", n, "busybox", "echo", "hi"); out != "hi" {
		t.Errorf("run --rm printed %q", out)
	}
	if c.exists(n) {
		t.Errorf("%s exists after run --rm returned", n)
	}
	if r := c.run("run", "--rm", "--name", n, "busybox", "sh", "-c", "exit 6"); r.code != 6 {
		t.Errorf("run --rm exit 6: %s", r)
	}
	if c.exists(n) {
		t.Errorf("%s exists after run --rm returned", n)
	}

	d := c.name("rm-bg")
	c.ok("run", "-d", "--rm", "--name", d, "busybox", "sleep", "1000")
	c.ok("kill", d)
	eventually(t, 30*time.Second, d+" to be removed after kill", func() bool { return !c.exists(d) })

	e := c.name("rm-exit")
	c.ok("run", "-d", "--rm", "--name", e, "busybox", "sh", "-c", "exit 0")
	eventually(t, 30*time.Second, e+" to be removed after exit", func() bool { return !c.exists(e) })

	f := c.name("rm-stop")
	c.ok("run", "-d", "--rm", "--name", f, "busybox", "sleep", "1000")
	c.ok("stop", "-t", "1", f)
	eventually(t, 30*time.Second, f+" to be removed after stop", func() bool { return !c.exists(f) })
}

// testLogs: stdout and stderr, --tail, -t.
func testLogs(t *testing.T, c cli) {
	n := c.name("logs")
	c.ok("run", "--name", n, "busybox", "sh", "-c", "echo out1; echo err1 >&2; echo out2; echo err2 >&2")
	r := c.run("logs", n)
	if r.code != 0 || r.stdout != "out1\nout2\n" || r.stderr != "err1\nerr2\n" {
		t.Errorf("logs: %s", r)
	}
	// --tail counts lines of both streams; the order between two pipes is
	// not defined, so this container writes one stream only.
	m := c.name("logs-tail")
	c.ok("run", "--name", m, "busybox", "sh", "-c", "echo l1; echo l2; echo l3")
	if r = c.run("logs", "--tail", "1", m); r.stdout != "l3\n" || r.stderr != "" {
		t.Errorf("logs --tail 1: %s", r)
	}
	if r = c.run("logs", "-n", "2", m); r.stdout != "l2\nl3\n" {
		t.Errorf("logs -n 2: %s", r)
	}
	if r = c.run("logs", "--tail", "all", m); r.stdout != "l1\nl2\nl3\n" {
		t.Errorf("logs --tail all: %s", r)
	}
	if r = c.run("logs", "--tail", "0", m); r.stdout != "" || r.stderr != "" {
		t.Errorf("logs --tail 0: %s", r)
	}
	r = c.run("logs", "-t", n)
	ts := regexp.MustCompile(`^(\S+) (out1|out2)$`)
	for _, l := range lines(r.stdout) {
		m := ts.FindStringSubmatch(l)
		if m == nil {
			t.Errorf("logs -t line %q: want \"<time> outN\"", l)
			continue
		}
		tm, err := time.Parse(time.RFC3339Nano, m[1])
		if err != nil || time.Since(tm) > time.Hour || time.Since(tm) < -time.Minute {
			t.Errorf("logs -t: bad time %q (%v)", m[1], err)
		}
	}
	if len(lines(r.stdout)) != 2 {
		t.Errorf("logs -t: %s", r)
	}
}

// testLogsSince: --since and --until select by time.
func testLogsSince(t *testing.T, c cli) {
	n := c.name("logs-since")
	c.ok("run", "-d", "--name", n, "busybox", "sh", "-c",
		"echo early; while [ ! -f /go ]; do sleep 0.05; done; echo late; sleep 1000")
	waitLog(c, n, "early")
	first := strings.Fields(c.ok("logs", "-t", n))[0]
	t0, err := time.Parse(time.RFC3339Nano, first)
	if err != nil {
		t.Fatal(err)
	}
	c.ok("exec", n, "touch", "/go")
	waitLog(c, n, "late")
	since := t0.Add(time.Microsecond).Format(time.RFC3339Nano)
	if out := c.ok("logs", "--since", since, n); out != "late" {
		t.Errorf("logs --since %s: %q, want late", since, out)
	}
	if out := c.ok("logs", "--until", since, n); out != "early" {
		t.Errorf("logs --until %s: %q, want early", since, out)
	}
	if out := c.ok("logs", "--since", "10m", n); out != "early\nlate" {
		t.Errorf("logs --since 10m: %q", out)
	}
	if out := c.ok("logs", "--since", strconv.FormatInt(time.Now().Add(time.Hour).Unix(), 10), n); out != "" {
		t.Errorf("logs --since <in an hour>: %q", out)
	}
}

// testLogsFollow: logs -f prints new lines and ends when the container exits.
func testLogsFollow(t *testing.T, c cli) {
	n := c.name("logs-f")
	c.ok("run", "-d", "--name", n, "busybox", "sh", "-c",
		"echo first; while [ ! -f /go ]; do sleep 0.05; done; echo second; echo third >&2; exit 0")
	st := c.start("logs", "-f", n)
	st.waitFor("first\n", 30*time.Second)
	if strings.Contains(st.output(), "second") {
		t.Fatal("second printed before it was written")
	}
	c.ok("exec", n, "touch", "/go")
	st.waitFor("second\n", 30*time.Second)
	if code := st.wait(30 * time.Second); code != 0 {
		t.Errorf("logs -f exited %d when the container ended (stderr %q)", code, st.stderr())
	}
	if st.output() != "first\nsecond\n" || st.stderr() != "third\n" {
		t.Errorf("logs -f: stdout %q stderr %q", st.output(), st.stderr())
	}
	// -f --tail on an exited container prints and returns.
	if r := c.run("logs", "-f", "--tail", "1", n); r.code != 0 || len(lines(r.stdout))+len(lines(r.stderr)) != 1 {
		t.Errorf("logs -f --tail 1 of an exited container: want one line; %s", r)
	}
}

// testLogRotation: max-size/max-file keep at most max-file files and
// logs shows the newest lines.
func testLogRotation(t *testing.T, c cli) {
	n := c.name("logrot")
	r := c.run("run", "--name", n, "--log-opt", "max-size=1k", "--log-opt", "max-file=2", "busybox", "sh", "-c",
		`i=0; while [ $i -lt 300 ]; do echo "line-$i xxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"; i=$((i+1)); done`)
	if r.code != 0 || !strings.Contains(r.stdout, "line-299 ") {
		t.Fatalf("%s", r)
	}
	id := c.inspect(n, "{{.ID}}")
	dir := filepath.Join(c.s.Root(), "containers", id)
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	// The log files: <id>-json.log, <id>-json.log.1, … (not the .closed marker).
	logName := regexp.MustCompile(`^` + id + `-json\.log(\.\d+)?$`)
	var logs []string
	for _, e := range entries {
		if logName.MatchString(e.Name()) {
			logs = append(logs, e.Name())
			info, _ := e.Info()
			// One line may cross the limit.
			if info.Size() > 1024+200 {
				t.Errorf("%s is %d bytes, over max-size=1k", e.Name(), info.Size())
			}
		}
	}
	if len(logs) != 2 {
		t.Errorf("log files in %s: %v, want 2 (current and one rotated)", dir, logs)
	}
	out := lines(c.ok("logs", n))
	if len(out) == 0 || !strings.HasPrefix(out[len(out)-1], "line-299 ") {
		t.Fatalf("logs after rotation do not end with line-299: %v", out)
	}
	if strings.HasPrefix(out[0], "line-0 ") {
		t.Errorf("logs still show line-0 after rotation")
	}
	// What is kept is the newest lines, in order, without gaps.
	first := atoi(t, strings.TrimPrefix(strings.Fields(out[0])[0], "line-"))
	for i, l := range out {
		if want := "line-" + strconv.Itoa(first+i) + " "; !strings.HasPrefix(l, want) {
			t.Fatalf("logs line %d is %q, want %q…", i, l, want)
		}
	}
	if tail := c.ok("logs", "--tail", "3", n); tail != strings.Join(out[len(out)-3:], "\n") {
		t.Errorf("logs --tail 3 after rotation: %q", tail)
	}
}

// testExec: output, exit codes, -e, -w, -u, -i, -d.
func testExec(t *testing.T, c cli) {
	n := c.name("exec")
	c.ok("run", "-d", "--name", n, "busybox", "sleep", "1000")
	if out := c.ok("exec", n, "echo", "hello", "exec"); out != "hello exec" {
		t.Errorf("exec echo: %q", out)
	}
	r := c.run("exec", n, "sh", "-c", "echo to-out; echo to-err >&2; exit 5")
	if r.code != 5 || r.stdout != "to-out\n" || r.stderr != "to-err\n" {
		t.Errorf("exec exit 5: %s", r)
	}
	if out := c.ok("exec", "-e", "FOO=bar", "--env", "BAZ=qux", n, "sh", "-c", "echo $FOO $BAZ"); out != "bar qux" {
		t.Errorf("exec -e: %q", out)
	}
	if out := c.ok("exec", "-w", "/tmp", n, "pwd"); out != "/tmp" {
		t.Errorf("exec -w /tmp: %q", out)
	}
	if out := c.ok("exec", "-u", "nobody", n, "id", "-u"); out != "65534" {
		t.Errorf("exec -u nobody: id -u = %q", out)
	}
	if out := c.ok("exec", "-u", "1234:5678", n, "id"); !strings.Contains(out, "uid=1234") || !strings.Contains(out, "gid=5678") {
		t.Errorf("exec -u 1234:5678: %q", out)
	}
	// The primary group is a supplementary one too, with the groups that
	// list the user in /etc/group (busybox's wheel lists root), as under
	// dockerd.
	if out := c.ok("exec", "-u", "0", n, "id"); out != "uid=0(root) gid=0(root) groups=0(root),10(wheel)" {
		t.Errorf("exec -u 0: id = %q, want uid=0(root) gid=0(root) groups=0(root),10(wheel)", out)
	}
	if r := c.run("exec", "-u", "1:no-such-group", n, "id"); r.code == 0 || !strings.Contains(r.stderr, "unable to find group no-such-group: no matching entries in group file") {
		t.Errorf("exec -u 1:no-such-group: %s", r)
	}
	r = c.runIn(strings.NewReader("line one\nline two\n"), "exec", "-i", n, "sh", "-c", "cat; echo done")
	if r.code != 0 || r.stdout != "line one\nline two\ndone\n" {
		t.Errorf("exec -i: %s", r)
	}
	// Without -i, stdin is not connected: cat sees EOF at once.
	r = c.runIn(strings.NewReader("ignored\n"), "exec", n, "cat")
	if r.code != 0 || r.stdout != "" {
		t.Errorf("exec without -i: %s", r)
	}
	r = c.run("exec", "-d", n, "sh", "-c", "sleep 0.2; echo detached > /tmp/d")
	if r.code != 0 || r.stdout != "" {
		t.Errorf("exec -d: %s", r)
	}
	eventually(t, 30*time.Second, "the detached exec's file", func() bool {
		return c.run("exec", n, "cat", "/tmp/d").out() == "detached"
	})
	c.fails(127, []string{"nosuchcmd"}, "exec", n, "nosuchcmd")
	c.fails(126, []string{"/etc/passwd"}, "exec", n, "/etc/passwd")
	// A process killed by SIGINT: 128+2.
	if r := c.run("exec", n, "sh", "-c", "kill -INT $$"); r.code != 130 {
		t.Errorf("exec killed by SIGINT: %s, want exit 130", r)
	}
	if got := c.status(n); got != "running" {
		t.Errorf("container status after execs: %q", got)
	}
}

// testExecPaused: a paused container refuses exec and says why (Docker:
// "Container … is paused, unpause the container before exec").
func testExecPaused(t *testing.T, c cli) {
	n := c.name("exec-frozen")
	c.ok("run", "-d", "--name", n, "busybox", "sleep", "1000")
	c.ok("pause", n)
	if r := c.run("exec", n, "true"); r.code == 0 || !strings.Contains(r.stderr, "paused") {
		t.Errorf("exec in a paused container: want an error that says it is paused; got %s", r)
	}
	c.ok("unpause", n)
	if out := c.ok("exec", n, "echo", "unpaused"); out != "unpaused" {
		t.Errorf("exec after unpause: %q", out)
	}
}

// testNamesAndPrefixes: a name, the full ID and unique ID prefixes are
// accepted by every command that takes a container.
func testNamesAndPrefixes(t *testing.T, c cli) {
	n := c.name("ids")
	id := c.ok("run", "-d", "--name", n, "busybox", "sh", "-c", "echo hello-ids; sleep 1000")
	if len(id) != 64 {
		t.Fatalf("run -d printed %q", id)
	}
	short, prefix := id[:12], id[:8]
	for _, ref := range []string{n, id, short, prefix} {
		if got := c.inspect(ref, "{{.ID}}"); got != id {
			t.Errorf("inspect %s: %s", ref, got)
		}
	}
	if got := c.ok("ps", "-q", "--filter", "name="+n); got != short {
		t.Errorf("ps -q --filter name=: %q, want %q", got, short)
	}
	if got := c.ok("ps", "-q", "--no-trunc", "--filter", "id="+prefix); got != id {
		t.Errorf("ps -q --no-trunc --filter id=: %q", got)
	}
	waitLog(c, prefix, "hello-ids")
	if out := c.ok("exec", short, "echo", "via-short"); out != "via-short" {
		t.Errorf("exec by short id: %q", out)
	}
	if out := c.ok("top", prefix); !strings.Contains(out, "sleep 1000") {
		t.Errorf("top by prefix: %q", out)
	}
	c.ok("pause", prefix)
	c.ok("unpause", short)
	c.ok("kill", "-s", "HUP", id)
	n2 := c.name("ids-renamed")
	c.ok("rename", prefix, n2)
	if got := c.inspect(short, "{{.Name}}"); strings.TrimPrefix(got, "/") != n2 {
		t.Errorf("name after rename by prefix: %q", got)
	}
	c.ok("stop", "-t", "1", short)
	if out := c.ok("wait", prefix); out != "137" {
		t.Errorf("wait by prefix: %q", out)
	}
	c.ok("restart", "-t", "1", prefix)
	c.waitStatus(id, "running")
	c.ok("rm", "-f", prefix)
	if c.exists(id) {
		t.Error("rm -f by prefix did not remove it")
	}
	// An ID prefix that matches nothing.
	c.fails(1, []string{"No such container"}, "inspect", "--type", "container", "ffffffffffff0")
}

// testFormats: --format on ps, inspect and images.
func testFormats(t *testing.T, c cli) {
	n := c.name("fmt")
	id := c.ok("run", "-d", "--name", n, "-l", "app=fmt", "-e", "FMT=1", "busybox", "sleep", "1000")
	out := c.ok("ps", "--filter", "name="+n, "--format", "{{.ID}}|{{.Names}}|{{.Image}}|{{.State}}|{{.Label \"app\"}}|{{.Command}}")
	if want := id[:12] + "|" + n + "|busybox|running|fmt|\"sleep 1000\""; out != want {
		t.Errorf("ps --format: %q, want %q", out, want)
	}
	out = c.ok("ps", "--filter", "name="+n, "--format", "table {{.Names}}\t{{.State}}")
	if l := lines(out); len(l) != 2 || !strings.HasPrefix(l[0], "NAMES") || !strings.HasPrefix(l[1], n) {
		t.Errorf("ps --format table: %q", out)
	}
	out = c.ok("ps", "--filter", "name="+n, "--format", "json")
	var row map[string]any
	if err := json.Unmarshal([]byte(out), &row); err != nil || row["Names"] != n || row["State"] != "running" {
		t.Errorf("ps --format json: %q (%v)", out, err)
	}
	out = c.ok("ps", "--filter", "name="+n, "--format", "{{json .}}")
	if err := json.Unmarshal([]byte(out), &row); err != nil {
		t.Errorf("ps --format {{json .}}: %q (%v)", out, err)
	}

	// inspect: JSON array by default, templates with json.
	var objs []map[string]any
	if err := json.Unmarshal([]byte(c.ok("inspect", n)), &objs); err != nil || len(objs) != 1 || objs[0]["Id"] != id {
		t.Errorf("inspect: not a JSON array of the container (%v)", err)
	}
	if got := c.inspect(n, "{{.State.Status}} {{.State.Running}} {{.Config.Image}}"); got != "running true busybox" {
		t.Errorf("inspect --format: %q", got)
	}
	var env []string
	if err := json.Unmarshal([]byte(c.inspect(n, "{{json .Config.Env}}")), &env); err != nil || !contains(env, "FMT=1") {
		t.Errorf("inspect {{json .Config.Env}}: %v %v", env, err)
	}
	// Docker's templates see inspect's JSON names: {{.Id}} is the ID.
	if r := c.run("inspect", "--format", "{{.Id}}", n); r.code != 0 || r.out() != id {
		t.Errorf("inspect --format {{.Id}} (Docker's field name): %s", r)
	}
	if got := c.inspect(n, `{{index .Config.Labels "app"}}`); got != "fmt" {
		t.Errorf("inspect label: %q", got)
	}

	out = c.ok("images", "--format", "{{.Repository}}:{{.Tag}}")
	if !contains(lines(out), "busybox:latest") {
		t.Errorf("images --format: %q", out)
	}
	imgID := c.ok("images", "-q", "busybox")
	if got := c.inspect(n, "{{.Image}}"); !strings.HasPrefix(strings.TrimPrefix(got, "sha256:"), imgID) {
		t.Errorf("container's image %q, images -q busybox %q", got, imgID)
	}
	out = c.ok("images", "--format", "table {{.Repository}}\t{{.ID}}", "busybox")
	if l := lines(out); len(l) != 2 || !strings.HasPrefix(l[0], "REPOSITORY") || !strings.Contains(l[1], imgID) {
		t.Errorf("images --format table: %q", out)
	}
	if got := c.ok("inspect", "--format", "{{.ID}}", "busybox"); !strings.Contains(got, imgID) {
		t.Errorf("inspect of an image: %q", got)
	}
	c.fails(125, []string{"template"}, "ps", "--format", "{{.Nope")
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// testEvents: create, start, die and destroy, with --since/--until and filters.
func testEvents(t *testing.T, c cli) {
	since := time.Now().Add(-time.Second).Format(time.RFC3339Nano)
	n := c.name("events")
	if r := c.run("run", "--name", n, "busybox", "sh", "-c", "exit 3"); r.code != 3 {
		t.Fatalf("%s", r)
	}
	id := c.inspect(n, "{{.ID}}")
	c.ok("rm", n)
	until := time.Now().Add(time.Second).Format(time.RFC3339Nano)

	out := c.ok("events", "--since", since, "--until", until, "--filter", "container="+n, "--format", "{{.Type}} {{.Action}} {{.Actor.ID}}")
	want := []string{"container create " + id, "container start " + id, "container die " + id, "container destroy " + id}
	if got := lines(out); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("events: got\n%s\nwant\n%s", out, strings.Join(want, "\n"))
	}
	out = c.ok("events", "--since", since, "--until", until, "--filter", "container="+id, "--filter", "event=die",
		"--format", "{{.Action}} {{.Actor.Attributes.exitCode}} {{.Actor.Attributes.name}}")
	if out != "die 3 "+n {
		t.Errorf("events --filter event=die: %q", out)
	}
	// The default line format.
	out = c.ok("events", "--since", since, "--until", until, "--filter", "container="+n, "--filter", "event=start")
	if !regexp.MustCompile(`^\d{4}-\d\d-\d\dT\S+ container start ` + id + ` \(.*name=` + n + `.*\)$`).MatchString(out) {
		t.Errorf("events default format: %q", out)
	}
	// A window before the container existed is empty.
	out = c.ok("events", "--since", "2000-01-01T00:00:00Z", "--until", since, "--filter", "container="+n)
	if out != "" {
		t.Errorf("events before the container: %q", out)
	}

	// Live: events without --until streams new events.
	st := c.start("events", "--filter", "type=container", "--filter", "event=start", "--format", "{{.Action}} {{.Actor.Attributes.name}}")
	m := c.name("events-live")
	// The stream may connect after the first run: run until one is seen.
	eventually(t, 30*time.Second, "a live start event", func() bool {
		c.ok("run", "--rm", "--name", m, "busybox", "true")
		return strings.Contains(st.output(), "start "+m)
	})
}

// testRunOptions: -e, --env-file, -w, -u, --hostname, --entrypoint, -l.
func testRunOptions(t *testing.T, c cli) {
	envFile := filepath.Join(t.TempDir(), "app.env")
	if err := os.WriteFile(envFile, []byte("# comment\nFROM_FILE=yes\n\nB=file\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out := c.ok("run", "--rm", "-e", "A=1", "--env-file", envFile, "--env", "B=flag", "-w", "/tmp", "-u", "nobody",
		"--hostname", "myhost", "busybox", "sh", "-c", `echo "$A $FROM_FILE $B $(pwd) $(id -u) $(hostname)"`)
	if out != "1 yes flag /tmp 65534 myhost" {
		t.Errorf("run with options printed %q", out)
	}
	if out := c.ok("run", "--rm", "--entrypoint", "echo", "busybox", "from", "entrypoint"); out != "from entrypoint" {
		t.Errorf("--entrypoint: %q", out)
	}
	n := c.name("opts")
	c.ok("create", "--name", n, "-l", "a=b", "-l", "flag", "-e", "X=y", "busybox", "env")
	if got := c.inspect(n, `{{index .Config.Labels "a"}}|{{index .Config.Labels "flag"}}|{{json .Config.Cmd}}`); got != `b||["env"]` {
		t.Errorf("labels and cmd: %q", got)
	}
	if out := c.ok("start", "-a", n); !strings.Contains(out, "X=y") || !strings.Contains(out, "PATH=") {
		t.Errorf("env of the container (image PATH and -e): %q", out)
	}
}

// testIdempotent: Docker's no-op cases succeed.
func testIdempotent(t *testing.T, c cli) {
	n := c.name("idem")
	c.ok("create", "--name", n, "busybox", "sleep", "1000")
	// restart of a created container starts it.
	c.ok("restart", "-t", "1", n)
	c.waitStatus(n, "running")
	pid := c.inspect(n, "{{.State.Pid}}")
	// start of a running container does nothing.
	if out := c.ok("start", n); out != n {
		t.Errorf("start of a running container printed %q", out)
	}
	if got := c.inspect(n, "{{.State.Pid}}"); got != pid {
		t.Errorf("start of a running container changed its pid %s -> %s", pid, got)
	}
	c.ok("stop", "-t", "1", n)
	// stop of a stopped container succeeds.
	if r := c.run("stop", n); r.code != 0 || r.out() != n {
		t.Errorf("stop of a stopped container: %s", r)
	}
	if got := c.inspect(n, "{{.State.Status}} {{.State.ExitCode}}"); got != "exited 137" {
		t.Errorf("a second stop changed the state: %q", got)
	}
	// Several containers at once; one unknown: the others are done, exit 1.
	m := c.name("idem2")
	c.ok("run", "-d", "--name", m, "busybox", "sleep", "1000")
	r := c.run("kill", m, "nosuch-idem")
	if r.code != 1 || r.out() != m || !strings.Contains(r.stderr, "No such container: nosuch-idem") {
		t.Errorf("kill of a good and an unknown container: %s", r)
	}
	c.waitStatus(m, "exited")
	r = c.run("rm", n, "nosuch-idem", m)
	if r.code != 1 || c.exists(n) || c.exists(m) {
		t.Errorf("rm of two containers and an unknown one: %s", r)
	}
}

// testPsFilters: ps filters and -n.
func testPsFilters(t *testing.T, c cli) {
	label := "e2e.ps=" + strings.ToLower(rand8())
	a, b, d := c.name("psf-a"), c.name("psf-b"), c.name("psf-c")
	c.ok("run", "-d", "--name", a, "-l", label, "busybox", "sleep", "1000")
	if r := c.run("run", "--name", b, "-l", label, "busybox", "sh", "-c", "exit 3"); r.code != 3 {
		t.Fatalf("%s", r)
	}
	c.ok("create", "--name", d, "-l", label, "busybox", "true")
	names := func(args ...string) string {
		out := c.ok(append([]string{"ps", "--filter", "label=" + label, "--format", "{{.Names}}"}, args...)...)
		l := lines(out)
		sortStrings(l)
		return strings.Join(l, " ")
	}
	if got := names(); got != a {
		t.Errorf("ps (running only): %q", got)
	}
	if got, want := names("-a"), strings.Join(sorted(a, b, d), " "); got != want {
		t.Errorf("ps -a: %q, want %q", got, want)
	}
	for _, f := range []struct{ filter, want string }{
		{"status=exited", b}, {"status=created", d}, {"status=running", a},
		{"exited=3", b}, {"name=" + d, d}, {"ancestor=busybox", strings.Join(sorted(a, b, d), " ")},
	} {
		if got := names("-a", "--filter", f.filter); got != f.want {
			t.Errorf("ps -a --filter %s: %q, want %q", f.filter, got, f.want)
		}
	}
	if got := names("-a", "--filter", "status=exited", "--filter", "status=created"); got != strings.Join(sorted(b, d), " ") {
		t.Errorf("two status filters (OR): %q", got)
	}
	c.fails(1, []string{"invalid filter", "nosuchkey"}, "ps", "--filter", "nosuchkey=1")
}

func rand8() string {
	b := make([]byte, 4)
	_, _ = cryptoRand(b)
	return fmt.Sprintf("%x", b)
}

func sorted(s ...string) []string { sortStrings(s); return s }

// testAttach: attach shows live output (not the past) and exits with the
// container's code.
func testAttach(t *testing.T, c cli) {
	n := c.name("attach")
	c.ok("run", "-d", "--name", n, "busybox", "sh", "-c",
		"echo before; i=0; while [ ! -f /go ]; do echo live-$i; i=$((i+1)); sleep 0.05; done; echo after; echo err-after >&2; exit 6")
	waitLog(c, n, "before")
	st := c.start("attach", "--no-stdin", n)
	st.waitFor("live-", 30*time.Second) // attached: live output arrives
	c.ok("exec", n, "touch", "/go")
	if code := st.wait(30 * time.Second); code != 6 {
		t.Errorf("attach exit code %d, want 6 (stderr %q)", code, st.stderr())
	}
	if out := st.output(); strings.Contains(out, "before") || !strings.HasSuffix(out, "after\n") {
		t.Errorf("attach output %q: want live lines then after, not the earlier output", out)
	}
	if !strings.Contains(st.stderr(), "err-after") {
		t.Errorf("attach stderr %q", st.stderr())
	}
	c.fails(1, []string{"stopped container"}, "attach", n)
}

var cryptoRand = cryptorand.Read

func sortStrings(s []string) { sort.Strings(s) }
