package e2e

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/containerd/errdefs"

	"github.com/berthproject/berth/pkg/client"
	containertypes "github.com/berthproject/berth/pkg/types/container"
)

// testClient drives a container through the Go client (pkg/client), the
// API's integration surface: create, wait, start, logs, exec, inspect,
// list, remove, and typed errors.
func testClient(t *testing.T, c cli) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cl, err := client.New(ctx, c.s.Host())
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()

	name := c.name("client")
	id, _, err := cl.Create(ctx, containertypes.Config{
		Name:   name,
		Image:  "busybox",
		Cmd:    []string{"sh", "-c", `echo "hello $WHO"; echo oops >&2; while [ ! -f /go ]; do sleep 0.05; done; exit 4`},
		Env:    []string{"WHO=client"},
		Labels: map[string]string{"via": "grpc"},
	})
	if err != nil {
		t.Fatal(err)
	}
	// The CLI sees what the client created.
	if got := c.inspect(name, "{{.ID}} {{.State.Status}} {{index .Config.Labels \"via\"}}"); got != id+" created grpc" {
		t.Errorf("berth inspect of the client's container: %q", got)
	}

	exit, err := cl.Wait(ctx, id, containertypes.WaitNextExit)
	if err != nil {
		t.Fatal(err)
	}
	if err := cl.Start(ctx, name); err != nil {
		t.Fatal(err)
	}
	ctr, err := cl.Inspect(ctx, id[:12])
	if err != nil {
		t.Fatal(err)
	}
	if ctr.ID != id || !ctr.State.Running || ctr.State.Pid <= 0 || strings.TrimPrefix(ctr.Name, "/") != name {
		t.Errorf("Inspect of the running container: %+v", ctr)
	}
	list, err := cl.List(ctx, containertypes.ListOptions{Filters: map[string][]string{"label": {"via=grpc"}}})
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || list[0].ID != id || list[0].State != containertypes.StatusRunning {
		t.Errorf("List label=via=grpc: %+v", list)
	}

	// exec through the client.
	execID, err := cl.ExecCreate(ctx, id, containertypes.ExecConfig{Cmd: []string{"touch", "/go"}, AttachStdout: true, AttachStderr: true})
	if err != nil {
		t.Fatal(err)
	}
	var eout, eerr bytes.Buffer
	if code, err := cl.ExecStart(ctx, execID, containertypes.Streams{Stdout: &eout, Stderr: &eerr}); err != nil || code != 0 {
		t.Errorf("ExecStart touch /go: code %d err %v stderr %q", code, err, eerr.String())
	}

	select {
	case st := <-exit:
		if st.ExitCode != 4 || st.Error != "" {
			t.Errorf("Wait: %+v, want exit code 4", st)
		}
	case <-ctx.Done():
		t.Fatal("no exit from Wait")
	}
	var stdout, stderr strings.Builder
	err = cl.Logs(ctx, id, containertypes.LogOptions{Tail: -1, Stdout: true, Stderr: true}, func(e containertypes.LogEntry) error {
		if e.Stream == "stderr" {
			stderr.Write(e.Line)
		} else {
			stdout.Write(e.Line)
		}
		return nil
	})
	if err != nil || stdout.String() != "hello client\n" || stderr.String() != "oops\n" {
		t.Errorf("Logs: stdout %q stderr %q err %v", stdout.String(), stderr.String(), err)
	}
	if ctr, err = cl.Inspect(ctx, name); err != nil || ctr.State.Status != containertypes.StatusExited || ctr.State.ExitCode != 4 {
		t.Errorf("Inspect after exit: %+v %v", ctr, err)
	}

	// Typed errors.
	_, err = cl.Inspect(ctx, "nosuch-client")
	if !errors.Is(err, errdefs.ErrNotFound) || !strings.Contains(err.Error(), "No such container: nosuch-client") {
		t.Errorf("Inspect of an unknown container: %v (ErrNotFound: %v)", err, errors.Is(err, errdefs.ErrNotFound))
	}
	if err := cl.Start(ctx, "nosuch-client"); !errors.Is(err, errdefs.ErrNotFound) {
		t.Errorf("Start of an unknown container: %v", err)
	}
	if _, _, err := cl.Create(ctx, containertypes.Config{Name: name, Image: "busybox"}); !errors.Is(err, errdefs.ErrConflict) {
		t.Errorf("Create with a name in use: %v, want ErrConflict", err)
	}
	if _, _, err := cl.Create(ctx, containertypes.Config{Image: "nosuchimage"}); !errors.Is(err, errdefs.ErrNotFound) {
		t.Errorf("Create from an unknown image: %v, want ErrNotFound", err)
	}

	// A command that cannot be found: *container.StartError with 127.
	bad, _, err := cl.Create(ctx, containertypes.Config{Image: "busybox", Cmd: []string{"nosuchcmd"}})
	if err != nil {
		t.Fatal(err)
	}
	c.cleanup(bad)
	var se *containertypes.StartError
	if err := cl.Start(ctx, bad); !errors.As(err, &se) || se.ExitCode != 127 {
		t.Errorf("Start of a missing command: %v, want a StartError with 127", err)
	}
	if err := cl.Remove(ctx, bad, containertypes.RemoveOptions{}); err != nil {
		t.Errorf("Remove: %v", err)
	}

	gone, err := cl.Wait(ctx, id, containertypes.WaitRemoved)
	if err != nil {
		t.Fatal(err)
	}
	if err := cl.Remove(ctx, id, containertypes.RemoveOptions{}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-gone:
	case <-ctx.Done():
		t.Fatal("Wait(removed) did not return after Remove")
	}
	if _, err := cl.Inspect(ctx, id); !errors.Is(err, errdefs.ErrNotFound) {
		t.Errorf("Inspect after Remove: %v, want ErrNotFound", err)
	}
	if err := cl.Remove(ctx, id, containertypes.RemoveOptions{}); !errors.Is(err, errdefs.ErrNotFound) {
		t.Errorf("second Remove: %v, want ErrNotFound", err)
	}
	if c.exists(name) {
		t.Error("berth still sees the container the client removed")
	}
}

// testExecResize: a detached exec with a terminal can be resized (it has
// its terminal, as under dockerd), one without a terminal ignores it, and
// once its container is killed the resize is a conflict: "is not running".
func testExecResize(t *testing.T, c cli) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cl, err := client.New(ctx, c.s.Host())
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	n := c.name("execresize")
	defer c.cleanup(n)
	c.ok("run", "-d", "--name", n, "busybox", "sleep", "1000")
	start := func(tty bool) string {
		t.Helper()
		id, err := cl.ExecCreate(ctx, n, containertypes.ExecConfig{Cmd: []string{"sleep", "1000"}, Tty: tty, Detach: true})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := cl.ExecStart(ctx, id, containertypes.Streams{}); err != nil {
			t.Fatal(err)
		}
		return id
	}
	withTTY, noTTY := start(true), start(false)
	size := containertypes.WindowSize{Height: 40, Width: 40}
	if err := cl.ExecResize(ctx, withTTY, size); err != nil {
		t.Errorf("resize of a detached exec with a terminal: %v", err)
	}
	if err := cl.ExecResize(ctx, noTTY, size); err != nil {
		t.Errorf("resize of an exec without a terminal: %v, want it ignored", err)
	}
	c.ok("kill", n)
	if err := cl.ExecResize(ctx, withTTY, size); !errors.Is(err, errdefs.ErrConflict) || !strings.Contains(err.Error(), "is not running") {
		t.Errorf("resize of an exec whose container was killed: %v, want a conflict (is not running)", err)
	}
}

// testStopCancelled: a stop or restart whose caller gives up goes on, as
// dockerd's: the container still runs just after, and is stopped (or
// running again) once the timeout has passed.
func testStopCancelled(t *testing.T, c cli) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cl, err := client.New(ctx, c.s.Host())
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	n := c.name("stopcancel")
	defer c.cleanup(n)
	// The shell ignores SIGTERM: only the kill after the timeout stops it.
	c.ok("run", "-d", "--name", n, "busybox", "sh", "-c", "trap 'echo TERM' TERM; while true; do sleep 0.1; done")
	timeout := 2 * time.Second
	short, stop := context.WithTimeout(ctx, 300*time.Millisecond)
	err = cl.Stop(short, n, containertypes.StopOptions{Timeout: &timeout})
	stop()
	if err == nil {
		t.Fatal("Stop returned before its timeout")
	}
	if got := c.inspect(n, "{{.State.Status}}"); got != "running" {
		t.Errorf("just after the cancelled stop: %s, want running", got)
	}
	eventually(t, 30*time.Second, "the cancelled stop to kill "+n, func() bool { return c.inspect(n, "{{.State.Status}}") == "exited" })

	c.ok("start", n)
	pid := c.inspect(n, "{{.State.Pid}}")
	short, stop = context.WithTimeout(ctx, 300*time.Millisecond)
	err = cl.Restart(short, n, containertypes.StopOptions{Timeout: &timeout})
	stop()
	if err == nil {
		t.Fatal("Restart returned before its stop timeout")
	}
	eventually(t, 30*time.Second, "the cancelled restart to start "+n+" again", func() bool {
		return c.inspect(n, "{{.State.Status}}") == "running" && c.inspect(n, "{{.State.Pid}}") != pid
	})
}

// testExecStdinEndsEarly: a caller's stdin that ends before the process
// has started still closes the process's stdin (cat ends).
func testExecStdinEndsEarly(t *testing.T, c cli) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cl, err := client.New(ctx, c.s.Host())
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	n := c.name("stdinearly")
	defer c.cleanup(n)
	c.ok("run", "-d", "--name", n, "busybox", "sleep", "1000")
	for i := range 3 {
		id, err := cl.ExecCreate(ctx, n, containertypes.ExecConfig{Cmd: []string{"sh", "-c", "cat && echo closed"}, AttachStdin: true, AttachStdout: true})
		if err != nil {
			t.Fatal(err)
		}
		var out bytes.Buffer
		if code, err := cl.ExecStart(ctx, id, containertypes.Streams{Stdin: strings.NewReader(""), Stdout: &out}); err != nil || code != 0 || out.String() != "closed\n" {
			t.Fatalf("run %d: exec with an empty stdin: code %d, err %v, output %q", i, code, err, out.String())
		}
	}
}

// testRestartAutoRemove: restarting an --rm container restarts it rather
// than removing it (as dockerd); its next exit removes it.
func testRestartAutoRemove(t *testing.T, c cli) {
	n := c.name("rmrestart")
	defer c.cleanup(n)
	c.ok("run", "-d", "--rm", "--name", n, "busybox", "sleep", "1000")
	pid := c.inspect(n, "{{.State.Pid}}")
	c.ok("restart", "-t", "0", n)
	if got := c.inspect(n, "{{.State.Status}}"); got != "running" || c.inspect(n, "{{.State.Pid}}") == pid {
		t.Fatalf("after restart of an --rm container: %s, want running again", got)
	}
	c.ok("kill", n)
	eventually(t, 30*time.Second, n+" to be removed after its exit", func() bool {
		return c.run("inspect", n).code != 0
	})
}
