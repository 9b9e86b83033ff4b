package shim_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"

	// Stats' metrics types, for typeurl (the shim itself no longer
	// links them: it encodes metrics by hand).
	_ "github.com/containerd/cgroups/v3/cgroup1/stats"
	_ "github.com/containerd/cgroups/v3/cgroup2/stats"
	eventsapi "github.com/containerd/containerd/api/events"
	taskapi "github.com/containerd/containerd/api/runtime/task/v2"
	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/pkg/cio"
	"github.com/containerd/containerd/v2/pkg/oci"
	"github.com/containerd/errdefs"
	"github.com/containerd/typeurl/v2"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"google.golang.org/protobuf/proto"

	"github.com/berthproject/berth/pkg/attach"
	"github.com/berthproject/berth/pkg/containerio"
)

// eventLog collects the task events of one container.
type eventLog struct {
	mu     sync.Mutex
	topics []string
	evs    []any
}

func watchEvents(t *testing.T, ctx context.Context, id string) *eventLog {
	t.Helper()
	l := &eventLog{}
	ctx, cancel := context.WithCancel(ctx)
	t.Cleanup(cancel)
	ch, errs := st.client.Subscribe(ctx, `topic~="/tasks/"`)
	go func() {
		for {
			select {
			case e := <-ch:
				v, err := typeurl.UnmarshalAny(e.Event)
				if err != nil {
					continue
				}
				if cid(v) != id {
					continue
				}
				l.mu.Lock()
				l.topics = append(l.topics, e.Topic)
				l.evs = append(l.evs, v)
				l.mu.Unlock()
			case <-errs:
				return
			case <-ctx.Done():
				return
			}
		}
	}()
	return l
}

func cid(v any) string {
	if c, ok := v.(interface{ GetContainerID() string }); ok {
		return c.GetContainerID()
	}
	return ""
}

func (l *eventLog) has(topic string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, tp := range l.topics {
		if tp == topic {
			return true
		}
	}
	return false
}

func (l *eventLog) list() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.topics...)
}

func (l *eventLog) exits() []*eventsapi.TaskExit {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []*eventsapi.TaskExit
	for _, e := range l.evs {
		if x, ok := e.(*eventsapi.TaskExit); ok {
			out = append(out, x)
		}
	}
	return out
}

func TestLifecycle(t *testing.T) {
	ctx := ctxT(t)
	ev := watchEvents(t, ctx, "life")
	c := newContainer(t, ctx, "life", withArgs("sh", "-c", "echo hello; echo oops >&2; exit 3"))
	creator, out, errb := fifoIO(nil)
	task, err := c.NewTask(ctx, creator)
	if err != nil {
		t.Fatal(err)
	}
	if task.Pid() == 0 {
		t.Fatal("no pid")
	}
	shim := shimPid(st.shimBin, "life")
	if shim == 0 {
		t.Fatal("no shim process")
	}
	s, err := task.Status(ctx)
	if err != nil || s.Status != client.Created {
		t.Fatalf("status after create: %v %v", s.Status, err)
	}
	ch, err := task.Wait(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := task.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if code := waitExit(t, ctx, ch); code != 3 {
		t.Fatalf("exit code %d, want 3", code)
	}
	s, err = task.Status(ctx)
	if err != nil || s.Status != client.Stopped || s.ExitStatus != 3 {
		t.Fatalf("status after exit: %+v %v", s, err)
	}
	es, err := task.Delete(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if es.ExitCode() != 3 {
		t.Fatalf("delete exit code %d", es.ExitCode())
	}
	// Delete waits for the client's copies; all output is there.
	if out.String() != "hello\n" || errb.String() != "oops\n" {
		t.Fatalf("stdout %q stderr %q", out.String(), errb.String())
	}
	eventually(t, ctx, "delete event", func() bool { return ev.has("/tasks/delete") })
	want := []string{"/tasks/create", "/tasks/start", "/tasks/exit", "/tasks/delete"}
	if got := ev.list(); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("events %v, want %v", got, want)
	}
	// The shim is gone with its socket and the rootfs mount.
	eventually(t, ctx, "shim exit", func() bool { return !isShim(st.shimBin, shim) })
	if ms := mountsUnder(st.dir + "/state"); len(ms) > 0 {
		t.Fatalf("mounts left: %v", ms)
	}
}

func TestExitCodes(t *testing.T) {
	ctx := ctxT(t)
	for _, tc := range []struct {
		name string
		args []string
		kill syscall.Signal
		want uint32
	}{
		{"zero", []string{"true"}, 0, 0},
		{"three", []string{"sh", "-c", "exit 3"}, 0, 3},
		{"sigkill", []string{"sleep", "1000"}, syscall.SIGKILL, 137},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newContainer(t, ctx, "exit-"+tc.name, withArgs(tc.args...))
			task, err := c.NewTask(ctx, cio.NullIO)
			if err != nil {
				t.Fatal(err)
			}
			ch, _ := task.Wait(ctx)
			if err := task.Start(ctx); err != nil {
				t.Fatal(err)
			}
			if tc.kill != 0 {
				if err := task.Kill(ctx, tc.kill); err != nil {
					t.Fatal(err)
				}
			}
			if code := waitExit(t, ctx, ch); code != tc.want {
				t.Fatalf("exit %d, want %d", code, tc.want)
			}
			if _, err := task.Delete(ctx); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func runningTask(t *testing.T, ctx context.Context, id string, opts ...oci.SpecOpts) client.Task {
	t.Helper()
	if len(opts) == 0 {
		opts = []oci.SpecOpts{withArgs("sleep", "1000")}
	}
	c := newContainer(t, ctx, id, opts...)
	task, err := c.NewTask(ctx, cio.NullIO)
	if err != nil {
		t.Fatal(err)
	}
	if err := task.Start(ctx); err != nil {
		t.Fatal(err)
	}
	return task
}

func execSpec(t *testing.T, ctx context.Context, task client.Task, tty bool, args ...string) *specs.Process {
	t.Helper()
	spec, err := task.Spec(ctx)
	if err != nil {
		t.Fatal(err)
	}
	p := *spec.Process
	p.Args = args
	p.Terminal = tty
	return &p
}

func TestExec(t *testing.T) {
	ctx := ctxT(t)
	ev := watchEvents(t, ctx, "exec")
	task := runningTask(t, ctx, "exec")

	creator, out, errb := fifoIO(nil)
	p, err := task.Exec(ctx, "e1", execSpec(t, ctx, task, false, "sh", "-c", "echo out; echo err >&2; exit 5"), creator)
	if err != nil {
		t.Fatal(err)
	}
	ch, _ := p.Wait(ctx)
	if err := p.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if code := waitExit(t, ctx, ch); code != 5 {
		t.Fatalf("exec exit %d", code)
	}
	if _, err := p.Delete(ctx); err != nil {
		t.Fatal(err)
	}
	if out.String() != "out\n" || errb.String() != "err\n" {
		t.Fatalf("stdout %q stderr %q", out.String(), errb.String())
	}

	// An exec killed by a signal reports 128+n.
	p2, err := task.Exec(ctx, "e2", execSpec(t, ctx, task, false, "sleep", "1000"), cio.NullIO)
	if err != nil {
		t.Fatal(err)
	}
	ch2, _ := p2.Wait(ctx)
	if err := p2.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := p2.Kill(ctx, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := waitExit(t, ctx, ch2); code != 143 {
		t.Fatalf("exec killed by SIGTERM: exit %d, want 143", code)
	}
	// Signalling a finished process is NotFound.
	if err := p2.Kill(ctx, syscall.SIGTERM); !errdefs.IsNotFound(err) {
		t.Fatalf("kill of exited exec: %v", err)
	}
	if _, err := p2.Delete(ctx); err != nil {
		t.Fatal(err)
	}
	// The container itself is untouched.
	if s, err := task.Status(ctx); err != nil || s.Status != client.Running {
		t.Fatalf("init after execs: %v %v", s.Status, err)
	}
	eventually(t, ctx, "exec events", func() bool {
		return ev.has("/tasks/exec-added") && ev.has("/tasks/exec-started") && len(ev.exits()) == 2
	})
	for _, x := range ev.exits() {
		if x.ID != "e1" && x.ID != "e2" {
			t.Fatalf("exit event for %q", x.ID)
		}
	}
}

func TestExecTTYResize(t *testing.T) {
	ctx := ctxT(t)
	task := runningTask(t, ctx, "tty")
	inR, inW := io.Pipe()
	var out outBuf
	creator := cio.NewCreator(cio.WithStreams(inR, &out, nil), cio.WithTerminal, cio.WithFIFODir(filepath.Join(st.dir, "fifo")))
	p, err := task.Exec(ctx, "t1", execSpec(t, ctx, task, true, "sh", "-c", "tty; read x; stty size; exit 7"), creator)
	if err != nil {
		t.Fatal(err)
	}
	ch, _ := p.Wait(ctx)
	if err := p.Start(ctx); err != nil {
		t.Fatal(err)
	}
	eventually(t, ctx, "tty output", func() bool { return strings.Contains(out.String(), "/dev/pts/") })
	if err := p.Resize(ctx, 123, 45); err != nil {
		t.Fatal(err)
	}
	if _, err := inW.Write([]byte("go\n")); err != nil {
		t.Fatal(err)
	}
	if code := waitExit(t, ctx, ch); code != 7 {
		t.Fatalf("tty exec exit %d", code)
	}
	inW.Close()
	if _, err := p.Delete(ctx); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "45 123") {
		t.Fatalf("stty size after resize: %q", out.String())
	}
}

func TestInitTTY(t *testing.T) {
	ctx := ctxT(t)
	c := newContainer(t, ctx, "itty", withArgs("sh", "-c", "tty; exit 2"), oci.WithTTY)
	var out outBuf
	task, err := c.NewTask(ctx, cio.NewCreator(cio.WithStreams(nil, &out, nil), cio.WithTerminal, cio.WithFIFODir(filepath.Join(st.dir, "fifo"))))
	if err != nil {
		t.Fatal(err)
	}
	ch, _ := task.Wait(ctx)
	if err := task.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if code := waitExit(t, ctx, ch); code != 2 {
		t.Fatalf("exit %d", code)
	}
	if _, err := task.Delete(ctx); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "/dev/pts/0") {
		t.Fatalf("tty output %q", out.String())
	}
}

func TestStdinClose(t *testing.T) {
	ctx := ctxT(t)
	c := newContainer(t, ctx, "stdin", withArgs("sh", "-c", "cat; echo END"))
	creator, out, _ := fifoIO(strings.NewReader("hello stdin\n"))
	task, err := c.NewTask(ctx, creator)
	if err != nil {
		t.Fatal(err)
	}
	ch, _ := task.Wait(ctx)
	if err := task.Start(ctx); err != nil {
		t.Fatal(err)
	}
	// The data the client wrote arrives before EOF.
	eventually(t, ctx, "stdin echoed", func() bool { return strings.Contains(out.String(), "hello stdin") })
	if err := task.CloseIO(ctx, client.WithStdinCloser); err != nil {
		t.Fatal(err)
	}
	if code := waitExit(t, ctx, ch); code != 0 {
		t.Fatalf("exit %d", code)
	}
	if _, err := task.Delete(ctx); err != nil {
		t.Fatal(err)
	}
	if out.String() != "hello stdin\nEND\n" {
		t.Fatalf("stdout %q", out.String())
	}
}

func TestPauseResume(t *testing.T) {
	ctx := ctxT(t)
	ev := watchEvents(t, ctx, "pause")
	task := runningTask(t, ctx, "pause")
	if err := task.Pause(ctx); err != nil {
		t.Fatal(err)
	}
	if s, err := task.Status(ctx); err != nil || s.Status != client.Paused {
		t.Fatalf("after pause: %v %v", s.Status, err)
	}
	if err := task.Resume(ctx); err != nil {
		t.Fatal(err)
	}
	if s, err := task.Status(ctx); err != nil || s.Status != client.Running {
		t.Fatalf("after resume: %v %v", s.Status, err)
	}
	eventually(t, ctx, "pause events", func() bool { return ev.has("/tasks/paused") && ev.has("/tasks/resumed") })
}

func TestKillOneAndAll(t *testing.T) {
	ctx := ctxT(t)
	task := runningTask(t, ctx, "killall")
	var chans []<-chan client.ExitStatus
	for i := range 2 {
		p, err := task.Exec(ctx, fmt.Sprintf("k%d", i), execSpec(t, ctx, task, false, "sleep", "1000"), cio.NullIO)
		if err != nil {
			t.Fatal(err)
		}
		ch, _ := p.Wait(ctx)
		if err := p.Start(ctx); err != nil {
			t.Fatal(err)
		}
		chans = append(chans, ch)
		if i == 0 {
			// Kill one process: only it exits.
			if err := p.Kill(ctx, syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			if code := waitExit(t, ctx, ch); code != 137 {
				t.Fatalf("exec exit %d", code)
			}
		}
	}
	pids, err := task.Pids(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(pids) != 2 {
		t.Fatalf("pids %v, want init and one exec", pids)
	}
	initCh, _ := task.Wait(ctx)
	if err := task.Kill(ctx, syscall.SIGKILL, client.WithKillAll); err != nil {
		t.Fatal(err)
	}
	if code := waitExit(t, ctx, chans[1]); code != 137 {
		t.Fatalf("second exec exit %d", code)
	}
	if code := waitExit(t, ctx, initCh); code != 137 {
		t.Fatalf("init exit %d", code)
	}
	for _, p := range pids {
		if procAlive(int(p.Pid)) {
			t.Fatalf("process %d left after kill --all", p.Pid)
		}
	}
}

// The delete of an exited container removes its cgroups and runc's state
// (the shim does it without runc: destroyStopped), for a container with
// a pid namespace of its own and for one on the host's.
func TestDeleteRemovesCgroups(t *testing.T) {
	for _, tc := range []struct {
		id   string
		opts []oci.SpecOpts
	}{
		{"cgdel", nil},
		{"cgdelhost", []oci.SpecOpts{withArgs("sleep", "1000"), oci.WithHostNamespace(specs.PIDNamespace)}},
	} {
		t.Run(tc.id, func(t *testing.T) {
			ctx := ctxT(t)
			task := runningTask(t, ctx, tc.id, tc.opts...)
			stateDir := filepath.Join(st.runcRoot, testNS, tc.id)
			b, err := os.ReadFile(filepath.Join(stateDir, "state.json"))
			if err != nil {
				t.Fatal(err)
			}
			var state struct {
				CgroupPaths map[string]string `json:"cgroup_paths"`
			}
			if err := json.Unmarshal(b, &state); err != nil || len(state.CgroupPaths) == 0 {
				t.Fatalf("runc state: %v, cgroup paths %v", err, state.CgroupPaths)
			}
			for _, p := range state.CgroupPaths {
				if _, err := os.Stat(p); err != nil {
					t.Fatalf("cgroup of the running container: %v", err)
				}
			}
			ch, _ := task.Wait(ctx)
			if err := task.Kill(ctx, syscall.SIGKILL, client.WithKillAll); err != nil {
				t.Fatal(err)
			}
			if code := waitExit(t, ctx, ch); code != 137 {
				t.Fatalf("exit %d", code)
			}
			if _, err := task.Delete(ctx); err != nil {
				t.Fatal(err)
			}
			for _, p := range state.CgroupPaths {
				if _, err := os.Stat(p); !os.IsNotExist(err) {
					t.Errorf("cgroup %s left after delete (%v)", p, err)
				}
			}
			if _, err := os.Stat(stateDir); !os.IsNotExist(err) {
				t.Errorf("runc state %s left after delete (%v)", stateDir, err)
			}
		})
	}
}

// With no pid namespace of its own, a container's other processes would
// survive init: the shim kills them before it reports the exit.
func TestInitExitKillsRest(t *testing.T) {
	ctx := ctxT(t)
	task := runningTask(t, ctx, "hostpid",
		withArgs("sh", "-c", "sleep 1000 & sleep 1001; exit 0"),
		oci.WithHostNamespace(specs.PIDNamespace))
	var pids []uint32
	eventually(t, ctx, "three processes", func() bool {
		ps, err := task.Pids(ctx)
		pids = pids[:0]
		for _, p := range ps {
			pids = append(pids, p.Pid)
		}
		return err == nil && len(ps) == 3
	})
	ch, _ := task.Wait(ctx)
	if err := syscall.Kill(int(task.Pid()), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if code := waitExit(t, ctx, ch); code != 137 {
		t.Fatalf("exit %d", code)
	}
	for _, p := range pids {
		if procAlive(int(p)) {
			t.Fatalf("process %d of the container left after init exited", p)
		}
	}
}

func TestOOM(t *testing.T) {
	ctx := ctxT(t)
	ev := watchEvents(t, ctx, "oom")
	c := newContainer(t, ctx, "oom", withArgs("tail", "/dev/zero"), oci.WithMemoryLimit(32<<20), oci.WithMemorySwap(32<<20))
	task, err := c.NewTask(ctx, cio.NullIO)
	if err != nil {
		t.Fatal(err)
	}
	ch, _ := task.Wait(ctx)
	if err := task.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if code := waitExit(t, ctx, ch); code != 137 {
		t.Fatalf("exit %d, want 137", code)
	}
	eventually(t, ctx, "exit event", func() bool { return ev.has("/tasks/exit") })
	got := ev.list()
	oom, exit := -1, -1
	for i, tp := range got {
		if tp == "/tasks/oom" && oom < 0 {
			oom = i
		}
		if tp == "/tasks/exit" {
			exit = i
		}
	}
	if oom < 0 || oom > exit {
		t.Fatalf("events %v: want /tasks/oom before /tasks/exit", got)
	}
	if _, err := task.Delete(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestUpdateAndStats(t *testing.T) {
	ctx := ctxT(t)
	task := runningTask(t, ctx, "stats")
	limit := int64(64 << 20)
	if err := task.Update(ctx, client.WithResources(&specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: &limit}})); err != nil {
		t.Fatal(err)
	}
	m, err := task.Metrics(ctx)
	if err != nil {
		t.Fatal(err)
	}
	v, err := typeurl.UnmarshalAny(m.Data)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(v)
	// The cgroup's memory limit is the one set by Update.
	if !strings.Contains(string(b), fmt.Sprint(limit)) {
		t.Fatalf("metrics %T without the updated limit: %s", v, b)
	}
}

func TestFileAndBinaryIO(t *testing.T) {
	ctx := ctxT(t)
	t.Run("file", func(t *testing.T) {
		path := filepath.Join(st.dir, "out.log")
		c := newContainer(t, ctx, "fileio", withArgs("sh", "-c", "echo to-file"))
		task, err := c.NewTask(ctx, cio.LogFile(path))
		if err != nil {
			t.Fatal(err)
		}
		ch, _ := task.Wait(ctx)
		if err := task.Start(ctx); err != nil {
			t.Fatal(err)
		}
		waitExit(t, ctx, ch)
		if b, _ := os.ReadFile(path); string(b) != "to-file\n" {
			t.Fatalf("file %q", b)
		}
		if _, err := task.Delete(ctx); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("binary", func(t *testing.T) {
		logger := filepath.Join(st.dir, "bin", "test-logger")
		script := "#!/bin/busybox sh\nexec 5>&-\nexec /bin/busybox cat <&3 >\"$2\"\n"
		if err := os.WriteFile(logger, []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(st.dir, "binary.log")
		c := newContainer(t, ctx, "binio", withArgs("sh", "-c", "echo via-binary"))
		task, err := c.NewTask(ctx, cio.BinaryIO(logger, map[string]string{"out": path}))
		if err != nil {
			t.Fatal(err)
		}
		ch, _ := task.Wait(ctx)
		if err := task.Start(ctx); err != nil {
			t.Fatal(err)
		}
		waitExit(t, ctx, ch)
		if _, err := task.Delete(ctx); err != nil {
			t.Fatal(err)
		}
		// Delete stops the logger after it flushed.
		if b, _ := os.ReadFile(path); string(b) != "via-binary\n" {
			t.Fatalf("logger output %q", b)
		}
	})
}

// berth's own logger URI is served in the shim: log file, attach socket and
// stdin from attach clients.
func TestBerthLoggerInProcess(t *testing.T) {
	ctx := ctxT(t)
	logPath := filepath.Join(st.dir, "berth", "c-json.log")
	sock := filepath.Join(st.dir, "att.sock")
	uri := containerio.LoggerURI("/nonexistent/"+containerio.LoggerName, containerio.Options{
		LogPath: logPath, MaxSize: 1 << 20, MaxFiles: 2, AttachSocket: sock, Stdin: true,
	})
	u, err := url.Parse(uri)
	if err != nil {
		t.Fatal(err)
	}
	c := newContainer(t, ctx, "berthlog", withArgs("sh", "-c", "echo started; cat; echo bye >&2"))
	task, err := c.NewTask(ctx, cio.LogURI(u))
	if err != nil {
		t.Fatal(err)
	}
	ch, _ := task.Wait(ctx)
	conn, err := attach.Dial(ctx, sock)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := task.Start(ctx); err != nil {
		t.Fatal(err)
	}
	var got outBuf
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			_, p, err := conn.ReadFrame()
			if err != nil {
				return
			}
			got.Write(p)
		}
	}()
	eventually(t, ctx, "attach output", func() bool { return strings.Contains(got.String(), "started") })
	if err := conn.WriteStdin([]byte("from-attach\n")); err != nil {
		t.Fatal(err)
	}
	if err := conn.CloseStdin(); err != nil {
		t.Fatal(err)
	}
	if code := waitExit(t, ctx, ch); code != 0 {
		t.Fatalf("exit %d", code)
	}
	// The attach stream ends with the container's output.
	<-done
	// The exit was reported after the output reached the log file.
	b, err := os.ReadFile(logPath)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"log":"started\n","stream":"stdout"`, `"log":"from-attach\n","stream":"stdout"`, `"log":"bye\n","stream":"stderr"`} {
		if !strings.Contains(string(b), want) {
			t.Fatalf("log file lacks %s:\n%s", want, b)
		}
	}
	if _, err := task.Delete(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestParallel20(t *testing.T) {
	ctx := ctxT(t)
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for i := range 20 {
		id := fmt.Sprintf("par%d", i)
		c := newContainer(t, ctx, id, withArgs("sh", "-c", "echo "+id))
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- func() error {
				creator, out, _ := fifoIO(nil)
				task, err := c.NewTask(ctx, creator)
				if err != nil {
					return err
				}
				ch, err := task.Wait(ctx)
				if err != nil {
					return err
				}
				if err := task.Start(ctx); err != nil {
					return err
				}
				es := <-ch
				if _, err := task.Delete(ctx); err != nil {
					return err
				}
				if es.ExitCode() != 0 || out.String() != id+"\n" {
					return fmt.Errorf("%s: exit %d output %q", id, es.ExitCode(), out.String())
				}
				return nil
			}()
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
}

// containerd restarts while a container runs: the shim keeps it, containerd
// reconnects, and the shim's events reach the new containerd.
func TestContainerdRestart(t *testing.T) {
	ctx := ctxT(t)
	task := runningTask(t, ctx, "restart")
	pid := task.Pid()
	st.stop()
	if !procAlive(int(pid)) {
		t.Fatal("container died with containerd")
	}
	if err := st.start(); err != nil {
		t.Fatal(err)
	}
	ev := watchEvents(t, ctx, "restart")
	c, err := st.client.LoadContainer(ctx, "restart")
	if err != nil {
		t.Fatal(err)
	}
	task2, err := c.Task(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if s, err := task2.Status(ctx); err != nil || s.Status != client.Running || task2.Pid() != pid {
		t.Fatalf("after restart: %v %v pid %d", s.Status, err, task2.Pid())
	}
	creator, out, _ := fifoIO(nil)
	p, err := task2.Exec(ctx, "after", execSpec(t, ctx, task2, false, "echo", "still here"), creator)
	if err != nil {
		t.Fatal(err)
	}
	pch, _ := p.Wait(ctx)
	if err := p.Start(ctx); err != nil {
		t.Fatal(err)
	}
	code := waitExit(t, ctx, pch)
	if _, err := p.Delete(ctx); err != nil {
		t.Fatal(err)
	}
	if code != 0 || out.String() != "still here\n" {
		t.Fatalf("exec after restart: %d %q", code, out.String())
	}
	ch, _ := task2.Wait(ctx)
	if err := task2.Kill(ctx, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if code := waitExit(t, ctx, ch); code != 137 {
		t.Fatalf("exit %d", code)
	}
	eventually(t, ctx, "exit event through the new containerd", func() bool { return ev.has("/tasks/exit") })
	if _, err := task2.Delete(ctx); err != nil {
		t.Fatal(err)
	}
}

// A shim killed with SIGKILL: containerd reports the task dead, and the
// cleanup (delete action) removes the container, its mount and socket.
func TestShimKilled(t *testing.T) {
	ctx := ctxT(t)
	ev := watchEvents(t, ctx, "shimkill")
	task := runningTask(t, ctx, "shimkill")
	pid := int(task.Pid())
	ch, _ := task.Wait(ctx)
	shims := shimPids(st.shimBin, "shimkill")
	if len(shims) != 1 {
		t.Fatalf("shim processes %v", shims)
	}
	if err := syscall.Kill(shims[0], syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	// A Wait in flight fails with the connection, or reports the kill.
	if code, _, err := (<-ch).Result(); err == nil && code != 137 {
		t.Fatalf("exit %d, want 137", code)
	}
	// containerd reports the task dead.
	eventually(t, ctx, "exit event", func() bool {
		for _, x := range ev.exits() {
			if x.ExitStatus == 137 {
				return true
			}
		}
		return false
	})
	eventually(t, ctx, "container process gone", func() bool { return !procAlive(pid) })
	// containerd cleans up after the dead shim (running its delete action)
	// in the background: a Delete racing with it may fail, and the task
	// then disappears.
	_, _ = task.Delete(ctx)
	c, err := st.client.LoadContainer(ctx, "shimkill")
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, ctx, "task gone", func() bool {
		_, err := c.Task(ctx, nil)
		return errdefs.IsNotFound(err)
	})
	eventually(t, ctx, "rootfs unmounted", func() bool {
		for _, m := range mountsUnder(st.dir + "/state") {
			if strings.Contains(m, "shimkill") {
				return false
			}
		}
		return true
	})
	eventually(t, ctx, "shim socket removed", func() bool {
		ents, _ := os.ReadDir(st.sockDir)
		return len(ents) == 0
	})
}

// containerd runs `delete` after every teardown, also when there is nothing
// left to clean: it must succeed every time and print a DeleteResponse, and
// without a container in runc's state it does not run runc (a task's
// removal waits for this action): here runc is a binary that does not
// exist, which would fail loudly.
func TestDeleteActionIdempotent(t *testing.T) {
	ctxT(t)
	bundle := t.TempDir()
	opts := `{"binary_name":"/nonexistent/runc","root":` + strconv.Quote(st.runcRoot) + `}`
	if err := os.WriteFile(filepath.Join(bundle, "options.json"), []byte(opts), 0o600); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		cmd := exec.Command(st.shimBin, "-namespace", testNS, "-address", st.address, "-id", "gone",
			"-bundle", bundle, "delete")
		cmd.Dir = bundle
		cmd.Env = append(os.Environ(), "BERTH_SHIM_SOCKET_DIR="+st.sockDir)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("delete: %v", err)
		}
		if stderr.Len() > 0 {
			t.Fatalf("delete: %s", stderr.String())
		}
		var resp taskapi.DeleteResponse
		if err := proto.Unmarshal(out, &resp); err != nil {
			t.Fatalf("delete output %q: %v", out, err)
		}
		if resp.ExitStatus != 137 || resp.ExitedAt == nil {
			t.Fatalf("delete response %+v", &resp)
		}
	}
}

func TestCheckpointNotImplemented(t *testing.T) {
	ctx := ctxT(t)
	task := runningTask(t, ctx, "ckpt")
	if _, err := task.Checkpoint(ctx); !errdefs.IsNotImplemented(err) {
		t.Fatalf("checkpoint: %v, want not implemented", err)
	}
	if s, err := task.Status(ctx); err != nil || s.Status != client.Running {
		t.Fatalf("after checkpoint: %v %v", s.Status, err)
	}
}

// TestLoggingKeepsShimSmall: a chatty container logging through berth's
// in-process logger does not grow its shim, whose GC pacer is off
// (memoryPolicy): the peak RSS stays well below the 16 MB memory limit the
// runtime would collect at by itself.
func TestLoggingKeepsShimSmall(t *testing.T) {
	ctx := ctxT(t)
	logPath := filepath.Join(st.dir, "chatty", "c-json.log")
	u, err := url.Parse(containerio.LoggerURI("/nonexistent/"+containerio.LoggerName, containerio.Options{
		LogPath: logPath, MaxSize: 4 << 20, MaxFiles: 2,
	}))
	if err != nil {
		t.Fatal(err)
	}
	// 40 MB of log lines, then an end mark.
	c := newContainer(t, ctx, "chatty", withArgs("sh", "-c",
		"yes 'a line of a chatty container, 0123456789 abcdefghijklmnopqrstuvwxyz' | head -c 40000000; echo end-of-output; sleep 1000"))
	task, err := c.NewTask(ctx, cio.LogURI(u))
	if err != nil {
		t.Fatal(err)
	}
	if err := task.Start(ctx); err != nil {
		t.Fatal(err)
	}
	pids := shimPids(st.shimBin, "chatty")
	if len(pids) != 1 {
		t.Fatalf("shim processes: %v", pids)
	}
	eventually(t, ctx, "end of output in the log", func() bool {
		b, _ := os.ReadFile(logPath)
		return strings.Contains(string(b), "end-of-output")
	})
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pids[0]))
	if err != nil {
		t.Fatal(err)
	}
	var hwm int
	for line := range strings.SplitSeq(string(status), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			hwm, _ = strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
		}
	}
	t.Logf("shim peak RSS %d kB", hwm)
	if hwm == 0 || hwm > 10<<10 {
		t.Errorf("shim peak RSS while logging 40 MB: %d kB", hwm)
	}
	if err := task.Kill(ctx, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	ch, _ := task.Wait(ctx)
	<-ch
	if _, err := task.Delete(ctx); err != nil {
		t.Fatal(err)
	}
}
