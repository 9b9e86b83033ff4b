package shim_test

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/containerd/containerd/api/types/runc/options"
	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/mount"
	"github.com/containerd/containerd/v2/core/snapshots"
	"github.com/containerd/containerd/v2/pkg/cio"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/containerd/containerd/v2/pkg/oci"
)

const (
	containerdBin = "/usr/local/lib/berth/containerd"
	runcDir       = "/usr/local/lib/berth"
	testNS        = "berth-shim-test"
	runtimeName   = "io.containerd.berth.v2"
	snapshotter   = "overlayfs"
	baseSnapshot  = "busybox-base"
)

// stack is a private containerd whose PATH holds the freshly built shim.
type stack struct {
	dir      string // short temp dir: sockets live here
	address  string
	sockDir  string // BERTH_SHIM_SOCKET_DIR
	runcRoot string
	shimBin  string
	cmd      *exec.Cmd
	exited   chan struct{}
	log      *os.File
	client   *client.Client
}

var (
	st       *stack
	setupErr error
)

func TestMain(m *testing.M) {
	if os.Getenv("BERTH_REAPER_HELPER") != "" {
		os.Exit(m.Run()) // a child process of TestReaper: no stack
	}
	if os.Getuid() != 0 {
		fmt.Println("shim tests need root: skipped")
		os.Exit(0)
	}
	flag.Parse() // logLevel reads -test.bench
	code := func() int {
		var err error
		st, err = newStack()
		if err != nil {
			setupErr = err
			if st != nil {
				st.close()
			}
			fmt.Fprintln(os.Stderr, "setup:", err)
			return 1
		}
		code := m.Run()
		if code != 0 {
			fmt.Fprintf(os.Stderr, "containerd log (tail):\n%s\n", st.logTail())
		}
		if os.Getenv("BERTH_SHIM_TEST_KEEP") != "" {
			fmt.Fprintf(os.Stderr, "kept %s (containerd pid %d)\n", st.dir, st.cmd.Process.Pid)
			return code
		}
		if err := st.close(); err != nil {
			fmt.Fprintln(os.Stderr, "teardown:", err)
			code = 1
		}
		return code
	}()
	os.Exit(code)
}

func newStack() (*stack, error) {
	dir, err := os.MkdirTemp("/tmp", "bt")
	if err != nil {
		return nil, err
	}
	s := &stack{
		dir:      dir,
		address:  filepath.Join(dir, "c.sock"),
		sockDir:  filepath.Join(dir, "s"),
		runcRoot: filepath.Join(dir, "runc"),
		shimBin:  filepath.Join(dir, "bin", "containerd-shim-berth-v2"),
	}
	if err := s.buildShim(); err != nil {
		return s, err
	}
	cfg := fmt.Sprintf(`version = 3
root = %q
state = %q
disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.cri.v1.images", "io.containerd.cri.v1.runtime",
  "io.containerd.podsandbox.controller.v1.podsandbox", "io.containerd.nri.v1.nri",
  "io.containerd.internal.v1.opt", "io.containerd.internal.v1.tracing", "io.containerd.monitor.container.v1.restart"]
[debug]
  level = %q
[grpc]
  address = %q
[ttrpc]
  address = %q
[plugins."io.containerd.shim.v1.manager"]
  socket_dir = %q
  env = ["GOMAXPROCS=1"]
`, filepath.Join(dir, "root"), filepath.Join(dir, "state"), logLevel(), s.address, s.address+".ttrpc", filepath.Join(dir, "cs"))
	if err := os.WriteFile(filepath.Join(dir, "config.toml"), []byte(cfg), 0o600); err != nil {
		return s, err
	}
	if s.log, err = os.Create(filepath.Join(dir, "containerd.log")); err != nil {
		return s, err
	}
	if err := s.start(); err != nil {
		return s, err
	}
	return s, s.makeBase()
}

// buildShim builds the shim under test into s.shimBin, or, with
// BERTH_SHIM_TEST_BIN set, takes that binary (a machine without a Go
// toolchain, like the cgroup v2 VM of test/cgroupv2, runs `make build`'s).
func (s *stack) buildShim() error {
	if bin := os.Getenv("BERTH_SHIM_TEST_BIN"); bin != "" {
		// A copy, not a link: the tests find the shim's processes by
		// their /proc/PID/exe.
		b, err := os.ReadFile(bin)
		if err == nil {
			err = os.MkdirAll(filepath.Dir(s.shimBin), 0o755)
		}
		if err == nil {
			err = os.WriteFile(s.shimBin, b, 0o755)
		}
		return err
	}
	// The shim is built with the GOEXPERIMENT every build of it uses
	// (cmd/containerd-shim-berth-v2/GOEXPERIMENT, docs/shim.md "Memory").
	exp, err := os.ReadFile("../cmd/containerd-shim-berth-v2/GOEXPERIMENT")
	if err != nil {
		return err
	}
	goexp := "GOEXPERIMENT=" + strings.TrimSpace(string(exp))
	build := exec.Command("go", "build", "-o", s.shimBin, "github.com/berthproject/berth/cmd/containerd-shim-berth-v2")
	build.Env = append(os.Environ(), "CGO_ENABLED=0", goexp)
	if out, err := build.CombinedOutput(); err != nil {
		return fmt.Errorf("build shim: %v: %s", err, out)
	}
	// A Go release that drops the experiment fails the build above; check
	// that the binary carries it.
	if out, err := exec.Command("go", "version", "-m", s.shimBin).Output(); err != nil || !strings.Contains(string(out), "\tbuild\t"+goexp+"\n") {
		return fmt.Errorf("the shim is not built with %s (go version -m: %v)\n%s", goexp, err, out)
	}
	return nil
}

// logLevel is containerd's: debug for the tests (the log's tail is printed
// when one fails), info for benchmarks, as berthd runs it (containerd
// passes -debug on to shims, and the debug lines cost time on the path of
// every task create).
func logLevel() string {
	if f := flag.Lookup("test.bench"); f != nil && f.Value.String() != "" {
		return "info"
	}
	return "debug"
}

// start runs containerd and connects the client.
func (s *stack) start() error {
	s.cmd = exec.Command(containerdBin, "--config", filepath.Join(s.dir, "config.toml"))
	s.cmd.Env = append(os.Environ(),
		"PATH="+filepath.Dir(s.shimBin)+":"+runcDir+":/usr/sbin:/usr/bin:/sbin:/bin",
		"BERTH_SHIM_SOCKET_DIR="+s.sockDir,
	)
	s.cmd.Stdout, s.cmd.Stderr = s.log, s.log
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := s.cmd.Start(); err != nil {
		return err
	}
	s.exited = make(chan struct{})
	go func(c *exec.Cmd, done chan struct{}) { _ = c.Wait(); close(done) }(s.cmd, s.exited)
	deadline := time.Now().Add(slow(30 * time.Second))
	for {
		c, err := client.New(s.address, client.WithDefaultNamespace(testNS), client.WithTimeout(time.Second))
		if err == nil {
			ctx, cancel := context.WithTimeout(context.Background(), slow(2*time.Second))
			_, err = c.Version(ctx)
			cancel()
			if err == nil {
				s.client = c
				return nil
			}
			c.Close()
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("containerd did not come up: %v\n%s", err, s.logTail())
		}
		select {
		case <-s.exited:
			return fmt.Errorf("containerd exited\n%s", s.logTail())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// stop ends containerd (by its pid) and waits for it.
func (s *stack) stop() {
	if s.client != nil {
		s.client.Close()
		s.client = nil
	}
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(slow(20 * time.Second)):
		_ = s.cmd.Process.Kill()
		<-s.exited
	}
	s.cmd = nil
}

func (s *stack) logTail() string {
	b, _ := os.ReadFile(filepath.Join(s.dir, "containerd.log"))
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

// makeBase commits a snapshot holding busybox and its applet links.
func (s *stack) makeBase() error {
	ctx := namespaces.WithNamespace(context.Background(), testNS)
	sn := s.client.SnapshotService(snapshotter)
	mounts, err := sn.Prepare(ctx, baseSnapshot+"-active", "", gcRoot())
	if err != nil {
		return err
	}
	mnt := filepath.Join(s.dir, "m")
	if err := os.MkdirAll(mnt, 0o755); err != nil {
		return err
	}
	if err := mount.All(mounts, mnt); err != nil {
		return err
	}
	err = populate(mnt)
	if uerr := mount.UnmountAll(mnt, 0); err == nil {
		err = uerr
	}
	if err != nil {
		return err
	}
	return sn.Commit(ctx, baseSnapshot, baseSnapshot+"-active", gcRoot())
}

// gcRoot keeps a snapshot from containerd's garbage collector.
func gcRoot() snapshots.Opt {
	return snapshots.WithLabels(map[string]string{"containerd.io/gc.root": time.Now().UTC().Format(time.RFC3339)})
}

func populate(root string) error {
	for _, d := range []string{"bin", "dev", "proc", "sys", "tmp", "etc"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			return err
		}
	}
	bb, err := os.ReadFile("/bin/busybox")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(root, "bin", "busybox"), bb, 0o755); err != nil {
		return err
	}
	out, err := exec.Command("/bin/busybox", "--list").Output()
	if err != nil {
		return err
	}
	for _, a := range strings.Fields(string(out)) {
		if a == "busybox" {
			continue
		}
		if err := os.Symlink("busybox", filepath.Join(root, "bin", a)); err != nil && !os.IsExist(err) {
			return err
		}
	}
	return nil
}

// close removes everything and reports what leaked.
func (s *stack) close() error {
	var problems []string
	if s.client != nil {
		ctx := namespaces.WithNamespace(context.Background(), testNS)
		cs, _ := s.client.Containers(ctx)
		for _, c := range cs {
			problems = append(problems, "container left: "+c.ID())
			if t, err := c.Task(ctx, nil); err == nil {
				_, _ = t.Delete(ctx, client.WithProcessKill)
			}
			_ = c.Delete(ctx, client.WithSnapshotCleanup)
		}
		sn := s.client.SnapshotService(snapshotter)
		_ = sn.Remove(ctx, baseSnapshot)
	}
	s.stop()
	if s.shimBin != "" {
		// A spare ends once containerd is gone.
		for deadline := time.Now().Add(slow(5 * time.Second)); len(shimPids(s.shimBin, "")) > 0 && time.Now().Before(deadline); {
			time.Sleep(20 * time.Millisecond)
		}
		if pids := shimPids(s.shimBin, ""); len(pids) > 0 {
			problems = append(problems, fmt.Sprintf("shim processes left: %v", pids))
			for _, p := range pids {
				_ = syscall.Kill(p, syscall.SIGKILL)
			}
		}
	}
	if ents, _ := os.ReadDir(s.sockDir); len(ents) > 0 {
		problems = append(problems, fmt.Sprintf("%d shim sockets left in %s", len(ents), s.sockDir))
	}
	if ents, _ := os.ReadDir(filepath.Join(s.runcRoot, testNS)); len(ents) > 0 {
		problems = append(problems, fmt.Sprintf("%d runc containers left in %s", len(ents), s.runcRoot))
	}
	if ms := mountsUnder(s.dir); len(ms) > 0 {
		problems = append(problems, fmt.Sprintf("mounts left: %v", ms))
		for i := len(ms) - 1; i >= 0; i-- {
			_ = syscall.Unmount(ms[i], syscall.MNT_DETACH)
		}
	}
	if s.log != nil {
		s.log.Close()
	}
	if s.dir != "" {
		if err := os.RemoveAll(s.dir); err != nil {
			problems = append(problems, err.Error())
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("%s", strings.Join(problems, "; "))
	}
	return nil
}

// shimPid is the pid of container id's shim (start writes it in the
// bundle: a spare that took the container has no id in its command line),
// 0 when there is none of binary bin.
func shimPid(bin, id string) int {
	b, err := os.ReadFile(filepath.Join(st.dir, "state", "io.containerd.runtime.v2.task", testNS, id, "shim.pid"))
	if err != nil {
		return 0
	}
	pid, err := strconv.Atoi(string(b))
	if err != nil || !isShim(bin, pid) {
		return 0
	}
	return pid
}

// isShim tells whether pid is a running long-lived shim (or spare) of
// binary bin.
func isShim(bin string, pid int) bool {
	exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
	if err != nil || strings.TrimSuffix(exe, " (deleted)") != bin {
		return false
	}
	stat, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if i := strings.LastIndexByte(string(stat), ')'); i < 0 || strings.HasPrefix(string(stat[i:]), ") Z") {
		return false // a zombie
	}
	cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	args := strings.Split(string(cmdline), "\x00")
	return containsArg(args, "serve") || containsArg(args, "spare")
}

// sparePids lists the spares of binary bin.
func sparePids(bin string) []int {
	var pids []int
	for _, pid := range shimPids(bin, "") {
		cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if containsArg(strings.Split(string(cmdline), "\x00"), "spare") && unclaimed(pid) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// unclaimed tells whether a spare still waits for a container: a spare
// that took one has its working directory in the container's bundle.
func unclaimed(pid int) bool {
	cwd, _ := os.Readlink(fmt.Sprintf("/proc/%d/cwd", pid))
	return cwd == "/"
}

// shimPids lists running shim processes (and spares) of binary bin (for
// container id, or all when id is "").
func shimPids(bin, id string) []int {
	if id != "" {
		if pid := shimPid(bin, id); pid != 0 {
			return []int{pid}
		}
		return nil
	}
	var pids []int
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		var pid int
		if _, err := fmt.Sscanf(e.Name(), "%d", &pid); err != nil {
			continue
		}
		if isShim(bin, pid) {
			pids = append(pids, pid)
		}
	}
	return pids
}

func containsArg(args []string, a string) bool {
	for _, x := range args {
		if x == a {
			return true
		}
	}
	return false
}

func mountsUnder(dir string) []string {
	b, _ := os.ReadFile("/proc/self/mountinfo")
	var out []string
	for line := range strings.SplitSeq(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) > 4 && strings.HasPrefix(f[4], dir+"/") {
			out = append(out, f[4])
		}
	}
	return out
}

func ctxT(t *testing.T) context.Context {
	t.Helper()
	if setupErr != nil {
		t.Fatal(setupErr)
	}
	ctx, cancel := context.WithTimeout(namespaces.WithNamespace(context.Background(), testNS), slow(60*time.Second))
	t.Cleanup(cancel)
	return ctx
}

// newContainer creates a container on a fresh overlay snapshot of the
// busybox base, with berth's runtime, removed at the end of the test.
func newContainer(t testing.TB, ctx context.Context, id string, opts ...oci.SpecOpts) client.Container {
	t.Helper()
	return newContainerRunc(t, ctx, id, filepath.Join(runcDir, "runc"), opts...)
}

// newContainerRunc is newContainer with the runc binary the shim runs.
func newContainerRunc(t testing.TB, ctx context.Context, id, runc string, opts ...oci.SpecOpts) client.Container {
	t.Helper()
	if _, err := st.client.SnapshotService(snapshotter).Prepare(ctx, id, baseSnapshot, gcRoot()); err != nil {
		t.Fatal(err)
	}
	specOpts := append([]oci.SpecOpts{oci.WithDefaultPathEnv}, opts...)
	c, err := st.client.NewContainer(ctx, id,
		client.WithSnapshotter(snapshotter),
		client.WithSnapshot(id),
		client.WithRuntime(runtimeName, &options.Options{Root: st.runcRoot, BinaryName: runc}),
		client.WithNewSpec(specOpts...),
	)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { removeContainer(id) })
	return c
}

// removeContainer deletes a container and its task through the current
// client (containerd may have been restarted since it was created).
func removeContainer(id string) {
	ctx := namespaces.WithNamespace(context.Background(), testNS)
	c, err := st.client.LoadContainer(ctx, id)
	if err != nil {
		return
	}
	if t, err := c.Task(ctx, nil); err == nil {
		_, _ = t.Delete(ctx, client.WithProcessKill)
	}
	_ = c.Delete(ctx, client.WithSnapshotCleanup)
}

// outBuf is a concurrency-safe output buffer.
type outBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (o *outBuf) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.b.Write(p)
}

func (o *outBuf) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.b.String()
}

// fifoIO gives a process containerd fifos connected to the returned buffers.
func fifoIO(stdin io.Reader) (cio.Creator, *outBuf, *outBuf) {
	var out, errb outBuf
	return cio.NewCreator(cio.WithStreams(stdin, &out, &errb), cio.WithFIFODir(filepath.Join(st.dir, "fifo"))), &out, &errb
}

func withArgs(args ...string) oci.SpecOpts { return oci.WithProcessArgs(args...) }

// waitExit waits for a process's exit status.
func waitExit(t *testing.T, ctx context.Context, ch <-chan client.ExitStatus) uint32 {
	t.Helper()
	select {
	case es := <-ch:
		code, _, err := es.Result()
		if err != nil {
			t.Fatal(err)
		}
		return code
	case <-ctx.Done():
		t.Fatal("timed out waiting for exit")
	}
	return 0
}

// eventually polls cond until it holds or the test context ends.
func eventually(t *testing.T, ctx context.Context, what string, cond func() bool) {
	t.Helper()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("timed out waiting for %s", what)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// procAlive reports whether pid exists, zombies included (a zombie left
// behind is a leak too).
func procAlive(pid int) bool {
	_, err := os.Stat(fmt.Sprintf("/proc/%d", pid))
	return err == nil
}

// slow is d times $BERTH_TEST_TIMEOUT_SCALE, as the e2e harness's
// harness.Timeout: bounded waits stretched on a machine slow on the whole
// (the software-emulated VM of make test-cgroupv2).
func slow(d time.Duration) time.Duration {
	n, err := strconv.Atoi(os.Getenv("BERTH_TEST_TIMEOUT_SCALE"))
	if err != nil || n < 1 {
		return d
	}
	return d * time.Duration(n)
}
