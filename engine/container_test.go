package engine_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/containerd/errdefs"
	"golang.org/x/sys/unix"

	"github.com/berthproject/berth/engine"
	containertypes "github.com/berthproject/berth/pkg/types/container"
)

func newTestEngine(t *testing.T) *engine.Engine {
	t.Helper()
	e, err := engine.New(context.Background(), stackOptions()...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

func create(t *testing.T, e *engine.Engine, cfg containertypes.Config) string {
	t.Helper()
	if cfg.Image == "" {
		cfg.Image = "busybox"
	}
	id, _, err := e.Containers().Create(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		err := e.Containers().Remove(context.Background(), id, containertypes.RemoveOptions{Force: true})
		if err != nil && !errdefs.IsNotFound(err) {
			t.Errorf("removing %s: %v", id, err)
		}
	})
	return id
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func inspect(t *testing.T, e *engine.Engine, id string) *containertypes.Container {
	t.Helper()
	c, err := e.Containers().Inspect(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func logsOf(t *testing.T, e *engine.Engine, id string) string {
	t.Helper()
	var b strings.Builder
	err := e.Containers().Logs(context.Background(), id, containertypes.LogOptions{Tail: -1}, func(l containertypes.LogEntry) error {
		b.Write(l.Line)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func TestLifecycleStates(t *testing.T) {
	e := newTestEngine(t)
	ctx := context.Background()
	c := e.Containers()
	id := create(t, e, containertypes.Config{Name: "states", Cmd: []string{"sleep", "1000"}})
	if got := inspect(t, e, "states").State.Status; got != containertypes.StatusCreated {
		t.Fatalf("after create: %s", got)
	}
	if err := c.Start(ctx, id); err != nil {
		t.Fatal(err)
	}
	st := inspect(t, e, id[:8]).State
	if st.Status != containertypes.StatusRunning || st.Pid == 0 {
		t.Fatalf("after start: %+v", st)
	}
	if err := c.Pause(ctx, id); err != nil {
		t.Fatal(err)
	}
	if got := inspect(t, e, id).State.Status; got != containertypes.StatusPaused {
		t.Fatalf("after pause: %s", got)
	}
	if err := c.Remove(ctx, id, containertypes.RemoveOptions{}); !errdefs.IsConflict(err) {
		t.Fatalf("rm of a paused container without force: %v, want a conflict", err)
	}
	if err := c.Unpause(ctx, id); err != nil {
		t.Fatal(err)
	}
	if err := c.Kill(ctx, id, "KILL"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "exit after kill", func() bool { return inspect(t, e, id).State.Status == containertypes.StatusExited })
	if code := inspect(t, e, id).State.ExitCode; code != 137 {
		t.Fatalf("exit code after SIGKILL = %d, want 137", code)
	}
	if err := c.Kill(ctx, id, ""); !errdefs.IsConflict(err) {
		t.Fatalf("kill of a stopped container: %v, want a conflict", err)
	}
	if err := c.Remove(ctx, id, containertypes.RemoveOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Inspect(ctx, id); !errdefs.IsNotFound(err) || !strings.Contains(err.Error(), "No such container") {
		t.Fatalf("inspect after rm: %v", err)
	}
}

func TestStopSignalThenKill(t *testing.T) {
	e := newTestEngine(t)
	ctx := context.Background()
	c := e.Containers()
	// Catches TERM and exits 3.
	polite := create(t, e, containertypes.Config{Cmd: []string{"sh", "-c", `trap 'echo got TERM; exit 3' TERM; echo ready; while true; do sleep 0.05; done`}})
	// Ignores TERM: only SIGKILL after the timeout stops it.
	stubborn := create(t, e, containertypes.Config{Cmd: []string{"sh", "-c", `trap '' TERM; echo ready; while true; do sleep 0.05; done`}})
	for _, id := range []string{polite, stubborn} {
		if err := c.Start(ctx, id); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "ready", func() bool { return strings.Contains(logsOf(t, e, id), "ready") })
	}
	if err := c.Stop(ctx, polite, containertypes.StopOptions{}); err != nil {
		t.Fatal(err)
	}
	if st := inspect(t, e, polite).State; st.ExitCode != 3 || !strings.Contains(logsOf(t, e, polite), "got TERM") {
		t.Fatalf("polite: exit %d, logs %q", st.ExitCode, logsOf(t, e, polite))
	}
	timeout := 500 * time.Millisecond
	start := time.Now()
	if err := c.Stop(ctx, stubborn, containertypes.StopOptions{Timeout: &timeout}); err != nil {
		t.Fatal(err)
	}
	if time.Since(start) < timeout {
		t.Fatalf("stop returned before the timeout")
	}
	if code := inspect(t, e, stubborn).State.ExitCode; code != 137 {
		t.Fatalf("stubborn: exit %d, want 137", code)
	}
}

func TestExitCodesAndStartErrors(t *testing.T) {
	e := newTestEngine(t)
	ctx := context.Background()
	c := e.Containers()
	id := create(t, e, containertypes.Config{Cmd: []string{"sh", "-c", "exit 42"}})
	exited, err := c.Wait(ctx, id, containertypes.WaitNextExit)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(ctx, id); err != nil {
		t.Fatal(err)
	}
	if st := <-exited; st.ExitCode != 42 {
		t.Fatalf("exit code %d, want 42", st.ExitCode)
	}

	missing := create(t, e, containertypes.Config{Cmd: []string{"/no/such/binary"}})
	err = c.Start(ctx, missing)
	var se *containertypes.StartError
	if !errors.As(err, &se) || se.ExitCode != 127 {
		t.Fatalf("start of a missing command: %v, want a StartError with 127", err)
	}
	// An empty command is created (dockerd: a container to commit) and
	// fails at start as a missing one.
	empty := create(t, e, containertypes.Config{Cmd: []string{""}})
	if err = c.Start(ctx, empty); !errors.As(err, &se) || se.ExitCode != 127 {
		t.Fatalf("start of an empty command: %v, want a StartError with 127", err)
	}
	notExec := create(t, e, containertypes.Config{Cmd: []string{"/etc/passwd"}})
	err = c.Start(ctx, notExec)
	if !errors.As(err, &se) || se.ExitCode != 126 {
		t.Fatalf("start of a non-executable: %v, want a StartError with 126", err)
	}
	if _, _, err := c.Create(ctx, containertypes.Config{Image: "no-such-image"}); !errdefs.IsNotFound(err) {
		t.Fatalf("create from a missing image: %v", err)
	}
	if _, _, err := c.Create(ctx, containertypes.Config{Image: "busybox", Name: "bad name!"}); !errdefs.IsInvalidArgument(err) {
		t.Fatalf("bad name: %v", err)
	}
}

func TestAutoRemoveAndWait(t *testing.T) {
	e := newTestEngine(t)
	ctx := context.Background()
	c := e.Containers()
	id, _, err := c.Create(ctx, containertypes.Config{Image: "busybox", AutoRemove: true, Cmd: []string{"sh", "-c", "exit 7"}})
	if err != nil {
		t.Fatal(err)
	}
	removed, err := c.Wait(ctx, id, containertypes.WaitRemoved)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(ctx, id); err != nil {
		t.Fatal(err)
	}
	if st := <-removed; st.ExitCode != 7 {
		t.Fatalf("exit code %d, want 7", st.ExitCode)
	}
	if _, err := c.Inspect(ctx, id); !errdefs.IsNotFound(err) {
		t.Fatalf("--rm container still there: %v", err)
	}
}

func TestRestartPolicies(t *testing.T) {
	e := newTestEngine(t)
	ctx := context.Background()
	c := e.Containers()
	onFailure := create(t, e, containertypes.Config{Cmd: []string{"sh", "-c", "echo run; exit 1"},
		RestartPolicy: containertypes.RestartPolicy{Name: "on-failure", MaximumRetryCount: 2}})
	always := create(t, e, containertypes.Config{Cmd: []string{"sh", "-c", "echo run; sleep 0.2"},
		RestartPolicy: containertypes.RestartPolicy{Name: "always"}})
	for _, id := range []string{onFailure, always} {
		if err := c.Start(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "on-failure to give up after 2 restarts", func() bool {
		ci := inspect(t, e, onFailure)
		return ci.RestartCount == 2 && ci.State.Status == containertypes.StatusExited
	})
	if n := strings.Count(logsOf(t, e, onFailure), "run"); n != 3 {
		t.Fatalf("on-failure:2 ran %d times, want 3", n)
	}
	waitFor(t, "always to restart twice", func() bool { return inspect(t, e, always).RestartCount >= 2 })
	if err := c.Stop(ctx, always, containertypes.StopOptions{}); err != nil {
		t.Fatal(err)
	}
	count := inspect(t, e, always).RestartCount
	time.Sleep(500 * time.Millisecond) // a restart would have come by now (back-off < 500ms)
	if ci := inspect(t, e, always); ci.State.Running || ci.RestartCount != count {
		t.Fatalf("a stopped 'always' container restarted: %+v", ci.State)
	}
}

// TestRestartPolicyNeverReadsExitedBetweenRestarts: a container that its
// on-failure policy restarts reads restarting, never exited, from its exit
// to its restart (dockerd's SetRestarting): the first time it reads exited,
// the policy is done (moby's TestUpdateRestartPolicy waits for exited, then
// counts the restarts).
func TestRestartPolicyNeverReadsExitedBetweenRestarts(t *testing.T) {
	e := newTestEngine(t)
	ctx := context.Background()
	id := create(t, e, containertypes.Config{Cmd: []string{"sh", "-c", "exit 1"},
		RestartPolicy: containertypes.RestartPolicy{Name: "on-failure", MaximumRetryCount: 1}})
	if err := e.Containers().UpdateRestartPolicy(ctx, id, containertypes.RestartPolicy{Name: "on-failure", MaximumRetryCount: 3}); err != nil {
		t.Fatal(err)
	}
	if err := e.Containers().Start(ctx, id); err != nil {
		t.Fatal(err)
	}
	var ci *containertypes.Container
	for deadline := time.Now().Add(20 * time.Second); ; {
		ci = inspect(t, e, id)
		if ci.State.Status == containertypes.StatusExited {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for exited: %+v", ci.State)
		}
		// No sleep: an exited between two runs must not be seen.
	}
	if ci.RestartCount != 3 || ci.State.ExitCode != 1 {
		t.Fatalf("first read exited after %d restarts (exit code %d), want 3 restarts (exit code 1)", ci.RestartCount, ci.State.ExitCode)
	}
	if ci := inspect(t, e, id); ci.State.Status != containertypes.StatusExited || ci.RestartCount != 3 {
		t.Fatalf("exited, then %q after %d restarts", ci.State.Status, ci.RestartCount)
	}
}

// TestKillOtherThanStopSignalRestarts: a kill with a signal other than the
// container's stop signal is no user stop (dockerd's rule): the restart
// policy brings the container back; a kill with the stop signal ends it.
func TestKillOtherThanStopSignalRestarts(t *testing.T) {
	e := newTestEngine(t)
	ctx := context.Background()
	c := e.Containers()
	// PID 1 has no default action for SIGTERM: the shell's trap exits.
	cmd := []string{"sh", "-c", "trap 'exit 3' TERM; sleep 1000 & wait"}
	cont := create(t, e, containertypes.Config{Cmd: cmd, StopSignal: "SIGCONT",
		RestartPolicy: containertypes.RestartPolicy{Name: "always"}})
	term := create(t, e, containertypes.Config{Cmd: cmd,
		RestartPolicy: containertypes.RestartPolicy{Name: "always"}})
	for _, id := range []string{cont, term} {
		if err := c.Start(ctx, id); err != nil {
			t.Fatal(err)
		}
		// The shell starts sleep once its trap is set: a SIGTERM before
		// that would find PID 1 without a handler, and be ignored.
		waitFor(t, "the shell to set its trap and start sleep", func() bool {
			top, err := c.Top(ctx, id, "")
			return err == nil && slices.ContainsFunc(top.Processes, func(p []string) bool {
				return strings.Contains(strings.Join(p, " "), "sleep 1000")
			})
		})
		if err := c.Kill(ctx, id, "TERM"); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "the container that stops on SIGCONT to restart after a SIGTERM", func() bool {
		ci := inspect(t, e, cont)
		return ci.RestartCount >= 1 && ci.State.Running
	})
	waitFor(t, "the container that stops on SIGTERM to exit", func() bool {
		return inspect(t, e, term).State.Status == containertypes.StatusExited
	})
	if ci := inspect(t, e, term); ci.RestartCount != 0 {
		t.Fatalf("a container killed with its stop signal restarted %d times", ci.RestartCount)
	}
}

func TestExecAndTop(t *testing.T) {
	e := newTestEngine(t)
	ctx := context.Background()
	c := e.Containers()
	id := create(t, e, containertypes.Config{Cmd: []string{"sleep", "1000"}})
	if err := c.Start(ctx, id); err != nil {
		t.Fatal(err)
	}
	execID, err := c.ExecCreate(ctx, id, containertypes.ExecConfig{Cmd: []string{"sh", "-c", "read x; echo got $x; echo err >&2; exit 5"},
		AttachStdin: true, AttachStdout: true, AttachStderr: true})
	if err != nil {
		t.Fatal(err)
	}
	var stdout, stderr syncBuffer
	code, err := c.ExecStart(ctx, execID, containertypes.Streams{Stdin: strings.NewReader("hello\n"), Stdout: &stdout, Stderr: &stderr})
	if err != nil {
		t.Fatal(err)
	}
	if code != 5 || stdout.String() != "got hello\n" || stderr.String() != "err\n" {
		t.Fatalf("exec: code %d stdout %q stderr %q", code, stdout.String(), stderr.String())
	}
	top, err := c.Top(ctx, id, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(top.Processes) != 1 || !strings.Contains(strings.Join(top.Processes[0], " "), "sleep 1000") {
		t.Fatalf("top: %+v", top)
	}
}

func TestRename(t *testing.T) {
	e := newTestEngine(t)
	ctx := context.Background()
	c := e.Containers()
	id, _, err := c.Create(ctx, containertypes.Config{Image: "busybox", Name: "old-name", Cmd: []string{"true"}})
	if err != nil {
		t.Fatal(err)
	}
	other := create(t, e, containertypes.Config{Name: "taken", Cmd: []string{"true"}})
	if err := c.Rename(ctx, "old-name", "taken"); !errdefs.IsConflict(err) {
		t.Fatalf("rename to a used name: %v", err)
	}
	if err := c.Rename(ctx, "old-name", "new-name"); err != nil {
		t.Fatal(err)
	}
	if got := inspect(t, e, "new-name"); got.ID != id || got.Name != "/new-name" {
		t.Fatalf("after rename: %s %s", got.ID, got.Name)
	}
	if _, err := c.Inspect(ctx, "old-name"); !errdefs.IsNotFound(err) {
		t.Fatalf("old name still resolves: %v", err)
	}
	if err := c.Remove(ctx, other, containertypes.RemoveOptions{}); err != nil {
		t.Fatal(err)
	}
	// A new engine (a restarted berthd) sees the new name.
	e.Close()
	e2 := newTestEngine(t)
	if got, err := e2.Containers().Inspect(ctx, "new-name"); err != nil || got.ID != id {
		t.Fatalf("after restart: %v", err)
	}
	if err := e2.Containers().Remove(ctx, "new-name", containertypes.RemoveOptions{}); err != nil {
		t.Fatal(err)
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestAutoRemoveAfterFailedStart(t *testing.T) {
	e := newTestEngine(t)
	ctx := context.Background()
	c := e.Containers()
	id, _, err := c.Create(ctx, containertypes.Config{Image: "busybox", AutoRemove: true, Cmd: []string{"/no/such/thing"}})
	if err != nil {
		t.Fatal(err)
	}
	var se *containertypes.StartError
	if err := c.Start(ctx, id); !errors.As(err, &se) || se.ExitCode != 127 {
		t.Fatalf("start: %v", err)
	}
	if _, err := c.Inspect(ctx, id); !errdefs.IsNotFound(err) {
		t.Fatalf("an --rm container that failed to start is still there: %v", err)
	}
}

// runToExit starts a container made from cfg and returns its output once it
// exited.
func runToExit(t *testing.T, e *engine.Engine, cfg containertypes.Config) string {
	t.Helper()
	id := create(t, e, cfg)
	if err := e.Containers().Start(context.Background(), id); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the container to exit", func() bool { return inspect(t, e, id).State.Status == containertypes.StatusExited })
	return logsOf(t, e, id)
}

// TestUnprivilegedPingAndPorts: as dockerd, a container with a network
// namespace of its own lets unprivileged users ping and bind ports below
// 1024; a container's own --sysctl wins.
func TestUnprivilegedPingAndPorts(t *testing.T) {
	e := newTestEngine(t)
	read := []string{"cat", "/proc/sys/net/ipv4/ping_group_range", "/proc/sys/net/ipv4/ip_unprivileged_port_start"}
	out := runToExit(t, e, containertypes.Config{Cmd: read, User: "1000:1000", NetworkMode: "none"})
	if want := "0\t2147483647\n0\n"; out != want {
		t.Errorf("sysctls %q, want %q", out, want)
	}
	out = runToExit(t, e, containertypes.Config{Cmd: read, NetworkMode: "none",
		Resources: containertypes.Resources{Sysctls: map[string]string{"net.ipv4.ip_unprivileged_port_start": "1024"}}})
	if want := "0\t2147483647\n1024\n"; out != want {
		t.Errorf("with --sysctl: %q, want %q", out, want)
	}
}

// TestIpcModes: dockerd's IPC modes. A shareable container's /dev/shm is
// the one a container with --ipc container:X sees; a private one cannot
// be joined; none has no /dev/shm; the shareable mount goes with the task.
// --pid container:X is refused at start, not at create, while X is down.
func TestIpcModes(t *testing.T) {
	e := newTestEngine(t)
	ctx := context.Background()
	c := e.Containers()
	donor := create(t, e, containertypes.Config{Cmd: []string{"sh", "-c", "echo shared > /dev/shm/x; sleep 1000"}, IpcMode: "shareable"})
	joiner := create(t, e, containertypes.Config{Cmd: []string{"cat", "/dev/shm/x"}, IpcMode: "container:" + donor})
	pidJoiner := create(t, e, containertypes.Config{Cmd: []string{"true"}, PidMode: "container:" + donor})
	if err := c.Start(ctx, pidJoiner); err == nil || !strings.Contains(err.Error(), "is not running") {
		t.Fatalf("start with the pid namespace of a stopped container: %v", err)
	}
	if err := c.Start(ctx, donor); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the donor's file", func() bool {
		return strings.Contains(runToExit(t, e, containertypes.Config{Cmd: []string{"cat", "/dev/shm/x"}, IpcMode: "container:" + donor}), "shared")
	})
	if err := c.Start(ctx, joiner); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the joiner to exit", func() bool { return inspect(t, e, joiner).State.Status == containertypes.StatusExited })
	if out := logsOf(t, e, joiner); out != "shared\n" {
		t.Errorf("--ipc container:X reads %q from /dev/shm, want the donor's file", out)
	}

	private := create(t, e, containertypes.Config{Cmd: []string{"sleep", "1000"}})
	if err := c.Start(ctx, private); err != nil {
		t.Fatal(err)
	}
	refused := create(t, e, containertypes.Config{Cmd: []string{"true"}, IpcMode: "container:" + private})
	if err := c.Start(ctx, refused); err == nil || !strings.Contains(err.Error(), "non-shareable IPC") {
		t.Errorf("joining a private IPC: %v, want non-shareable", err)
	}
	if out := runToExit(t, e, containertypes.Config{Cmd: []string{"sh", "-c", "grep -c ' /dev/shm ' /proc/self/mountinfo"}, IpcMode: "none"}); out != "0\n" {
		t.Errorf("--ipc none: %q /dev/shm mounts, want none", out)
	}

	if err := c.Kill(ctx, donor, "KILL"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the donor's /dev/shm to be unmounted", func() bool {
		b, err := os.ReadFile("/proc/self/mountinfo")
		return err == nil && !strings.Contains(string(b), donor+"/shm")
	})
}

// TestInvalidNamespaceModes: modes dockerd does not know are refused at
// create in dockerd's words, which clients match exactly ("invalid IPC
// mode: x"), and leave no container.
func TestInvalidNamespaceModes(t *testing.T) {
	e := newTestEngine(t)
	ctx := context.Background()
	for _, tc := range []struct {
		cfg  containertypes.Config
		want string
	}{
		{containertypes.Config{IpcMode: "invalid"}, "invalid IPC mode: invalid"},
		{containertypes.Config{IpcMode: "container"}, "invalid IPC mode: container"},
		{containertypes.Config{PidMode: "invalid"}, "invalid PID mode: invalid"},
		{containertypes.Config{PidMode: "container"}, "invalid PID mode: container"},
		{containertypes.Config{UTSMode: "invalid"}, "invalid UTS mode: invalid"},
		{containertypes.Config{IpcMode: "bad", PidMode: "bad"}, "invalid IPC mode: bad"},
		{containertypes.Config{Resources: containertypes.Resources{CPUShares: -1}}, "invalid CPU shares (-1): value must be a positive integer"},
	} {
		tc.cfg.Image, tc.cfg.Cmd = "busybox", []string{"true"}
		_, _, err := e.Containers().Create(ctx, tc.cfg)
		if !errdefs.IsInvalidArgument(err) || strings.TrimSuffix(fmt.Sprint(err), ": "+errdefs.ErrInvalidArgument.Error()) != tc.want {
			t.Errorf("create with %s: %v, want an invalid argument %q", tc.want, err, tc.want)
		}
	}
	if list, err := e.Containers().List(ctx, containertypes.ListOptions{All: true}); err != nil || len(list) != 0 {
		t.Errorf("refused creates left %d containers (%v)", len(list), err)
	}
}

// TestMaskedAndReadonlyPaths: Docker's HostConfig.MaskedPaths and
// ReadonlyPaths replace the defaults, which a container that names none
// records at create (none for a privileged one); an empty list is none.
func TestMaskedAndReadonlyPaths(t *testing.T) {
	e := newTestEngine(t)
	cmd := []string{"sh", "-c", "wc -c < /etc/passwd; touch /tmp/x 2>/dev/null && echo writable"}
	out := runToExit(t, e, containertypes.Config{Cmd: cmd,
		Security: containertypes.Security{MaskedPaths: []string{"/etc/passwd"}, ReadonlyPaths: []string{"/tmp"}}})
	if out != "0\n" {
		t.Errorf("masked /etc/passwd and read-only /tmp: %q, want an empty file and no write", out)
	}
	def := create(t, e, containertypes.Config{Cmd: cmd})
	sec := inspect(t, e, def).Config.Security
	if !slices.Contains(sec.MaskedPaths, "/proc/kcore") || !slices.Contains(sec.ReadonlyPaths, "/proc/sys") {
		t.Errorf("defaults recorded at create: %+v", sec)
	}
	none := create(t, e, containertypes.Config{Cmd: cmd, Security: containertypes.Security{MaskedPaths: []string{}}})
	if got := inspect(t, e, none).Config.Security.MaskedPaths; got == nil || len(got) != 0 {
		t.Errorf("an empty list of masked paths became %#v", got)
	}
	priv := create(t, e, containertypes.Config{Cmd: cmd, Security: containertypes.Security{Privileged: true}})
	if got := inspect(t, e, priv).Config.Security; got.MaskedPaths != nil || got.ReadonlyPaths != nil {
		t.Errorf("a privileged container's paths: %+v", got)
	}
}

// TestBindRecursion: Docker's bind options. A read-only bind is read-only
// with the mounts below it (Linux 5.12), unless only its top is asked for;
// a non-recursive bind leaves the mounts below it out.
func TestBindRecursion(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("mounts a directory below the bind's source: needs root")
	}
	e := newTestEngine(t)
	src := t.TempDir()
	sub, other := filepath.Join(src, "mnt"), t.TempDir()
	if err := os.Mkdir(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(other, "file"), []byte("x"), 0o666); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount(other, sub, "", unix.MS_BIND, ""); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = unix.Unmount(sub, unix.MNT_DETACH) })
	probe := []string{"sh", "-c", "test -f /foo/mnt/file || echo absent; touch /foo/mnt/file 2>/dev/null && echo writable"}
	for _, tc := range []struct {
		m    containertypes.MountSpec
		want string
	}{
		{containertypes.MountSpec{Type: "bind", Source: src, Target: "/foo", ReadOnly: true}, ""},
		{containertypes.MountSpec{Type: "bind", Source: src, Target: "/foo", ReadOnly: true, BindReadOnlyNonRecursive: true}, "writable\n"},
		{containertypes.MountSpec{Type: "bind", Source: src, Target: "/foo", BindNonRecursive: true}, "absent\nwritable\n"},
	} {
		if out := runToExit(t, e, containertypes.Config{Cmd: probe, Mounts: []containertypes.MountSpec{tc.m}}); out != tc.want {
			t.Errorf("%+v: %q, want %q", tc.m, out, tc.want)
		}
	}
}
