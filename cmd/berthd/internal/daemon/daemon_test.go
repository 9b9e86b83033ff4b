package daemon

import (
	"context"
	"io"
	"log/slog"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/berthproject/berth/cmd/berthd/internal/config"
	"github.com/berthproject/berth/pkg/supervisor"
)

const libexec = "/usr/local/lib/berth"

func needContainerd(t *testing.T) {
	t.Helper()
	if os.Getuid() != 0 {
		t.Skip("needs root")
	}
	if _, err := os.Stat(filepath.Join(libexec, "containerd")); err != nil {
		t.Skipf("containerd not installed (%v): run make deps", err)
	}
}

func testConfig(t *testing.T) *config.Config {
	t.Helper()
	dir, err := os.MkdirTemp("/tmp", "bt")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	c := config.Default()
	c.Root = filepath.Join(dir, "root")
	c.State = filepath.Join(dir, "state")
	c.BinDirs = []string{libexec}
	c.SocketGroup = "" // root only
	// The daemon's plumbing needs only containerd's own parts.
	c.Runtime, c.Snapshotter, c.EnableBerthSnapshotter = config.RuntimeRunc, config.SnapshotterOverlay, false
	return c
}

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, nil))
}

type tWriter struct{ t *testing.T }

func (w tWriter) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(b), "\n"))
	return len(b), nil
}

type closer struct{ closed atomic.Bool }

func (c *closer) Close() error { c.closed.Store(true); return nil }

// running is a berthd run in the background of a test.
type running struct {
	cancel context.CancelFunc
	done   chan error
	env    Env
	svc    *closer
}

func start(t *testing.T, cfg *config.Config) *running {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{cancel: cancel, done: make(chan error, 1), svc: &closer{}}
	ready := make(chan struct{})
	go func() {
		r.done <- Run(ctx, Options{
			Config: cfg,
			Logger: testLogger(t),
			Register: func(ctx context.Context, env Env, srv *grpc.Server) (io.Closer, error) {
				r.env = env
				healthpb.RegisterHealthServer(srv, health.NewServer())
				return r.svc, nil
			},
			Ready: func() { close(ready) },
		})
	}()
	select {
	case <-ready:
	case err := <-r.done:
		cancel()
		t.Fatalf("Run: %v", err)
	case <-time.After(60 * time.Second):
		cancel()
		t.Fatal("berthd not ready after 60s")
	}
	t.Cleanup(func() { r.stop(t) })
	return r
}

func (r *running) stop(t *testing.T) error {
	t.Helper()
	r.cancel()
	select {
	case err, ok := <-r.done:
		if ok {
			close(r.done)
		}
		return err
	case <-time.After(60 * time.Second):
		t.Fatal("berthd did not stop within 60s")
	}
	return nil
}

func healthy(t *testing.T, sock string) bool {
	t.Helper()
	conn, err := grpc.NewClient("unix://"+sock, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
	return err == nil && resp.Status == healthpb.HealthCheckResponse_SERVING
}

func alive(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	i := strings.LastIndexByte(string(b), ')')
	return i > 0 && len(b) > i+2 && b[i+2] != 'Z'
}

func readPID(t *testing.T, path string) int {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	return pid
}

func TestRunEmbedded(t *testing.T) {
	needContainerd(t)
	cfg := testConfig(t)
	r := start(t, cfg)

	if !healthy(t, cfg.Socket) {
		t.Error("API socket does not serve the registered services")
	}
	st, err := os.Stat(cfg.Socket)
	if err != nil || st.Mode().Perm() != 0o660 || st.Mode()&os.ModeSocket == 0 {
		t.Errorf("API socket: %v %v", st, err)
	}
	if !r.env.Embedded || r.env.ContainerdAddress != cfg.ContainerdSocket() || r.env.ContainerdVersion == "" {
		t.Errorf("env: %+v", r.env)
	}
	ctrd := readPID(t, cfg.ContainerdPIDFile())
	if !supervisor.ProcessRuns(ctrd, filepath.Join(libexec, "containerd"), cfg.ContainerdConfigPath()) {
		t.Errorf("containerd pid %d does not run our containerd", ctrd)
	}
	environ, _ := os.ReadFile("/proc/" + strconv.Itoa(ctrd) + "/environ")
	if !strings.Contains(string(environ), ShimSocketDirEnv+"="+cfg.ShimSocketDir()+"\x00") ||
		!strings.Contains(string(environ), "\x00PATH="+libexec+":") {
		t.Errorf("containerd's environment lacks the shim socket dir or bin_dirs first in PATH")
	}
	if got := readPID(t, cfg.PIDFile()); got != os.Getpid() {
		t.Errorf("berthd pid file has %d", got)
	}

	// A second berthd on the same state dir is refused.
	err = Run(context.Background(), Options{Config: cfg, Logger: testLogger(t)})
	if err == nil || !strings.Contains(err.Error(), "another berthd") {
		t.Errorf("second berthd: %v", err)
	}
	// Another state dir, same API socket: refused too.
	other := testConfig(t)
	other.Socket = cfg.Socket
	err = Run(context.Background(), Options{Config: other, Logger: testLogger(t)})
	if err == nil || !strings.Contains(err.Error(), "another berthd answers") {
		t.Errorf("berthd on a served socket: %v", err)
	}

	if err := r.stop(t); err != nil {
		t.Fatalf("Run returned %v", err)
	}
	if !r.svc.closed.Load() {
		t.Error("services not closed at shutdown")
	}
	if alive(ctrd) {
		t.Errorf("containerd %d still running after shutdown", ctrd)
	}
	for _, p := range []string{cfg.Socket, cfg.PIDFile(), cfg.ContainerdPIDFile()} {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Errorf("%s left after shutdown", p)
		}
	}
}

func TestSocketGroup(t *testing.T) {
	needContainerd(t)
	g, err := user.LookupGroup("daemon")
	if err != nil {
		t.Skip("no group daemon on this machine")
	}
	cfg := testConfig(t)
	cfg.SocketGroup = "daemon"
	start(t, cfg)
	st, err := os.Stat(cfg.Socket)
	if err != nil {
		t.Fatal(err)
	}
	if gid := st.Sys().(*syscall.Stat_t).Gid; strconv.Itoa(int(gid)) != g.Gid || st.Mode().Perm() != 0o660 {
		t.Errorf("socket gid %d mode %v, want gid %s mode 0660", gid, st.Mode().Perm(), g.Gid)
	}
}

func TestStaleSocketReplaced(t *testing.T) {
	needContainerd(t)
	cfg := testConfig(t)
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(cfg.State, 0o711); err != nil {
		t.Fatal(err)
	}
	// A socket file nobody serves, as a killed berthd leaves behind.
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: cfg.Socket, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	l.SetUnlinkOnClose(false)
	l.Close()
	start(t, cfg)
	if !healthy(t, cfg.Socket) {
		t.Error("not serving on the replaced socket")
	}
}

func TestRunExternalContainerd(t *testing.T) {
	needContainerd(t)
	// A containerd berthd does not own, run by a supervisor of the test.
	ext := testConfig(t)
	if err := ext.Validate(); err != nil {
		t.Fatal(err)
	}
	spec, err := containerdSpec(ext, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(ext.ContainerdState(), 0o711); err != nil {
		t.Fatal(err)
	}
	p, err := supervisor.Start(context.Background(), spec, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = p.Stop(ctx)
	}()

	cfg := testConfig(t)
	cfg.ContainerdAddress = "unix://" + ext.ContainerdSocket()
	r := start(t, cfg)
	if r.env.Embedded || r.env.ContainerdAddress != ext.ContainerdSocket() {
		t.Errorf("env: %+v", r.env)
	}
	if _, err := os.Stat(cfg.ContainerdPIDFile()); !os.IsNotExist(err) {
		t.Error("berthd started a containerd of its own")
	}
	if err := r.stop(t); err != nil {
		t.Fatal(err)
	}
	// berthd does not stop a containerd it does not own.
	if !alive(p.PID()) {
		t.Error("the external containerd was stopped with berthd")
	}
}

func TestChildEnv(t *testing.T) {
	t.Setenv("GOMAXPROCS", "1")
	t.Setenv("NOTIFY_SOCKET", "/run/systemd/notify")
	t.Setenv("PATH", "/usr/bin:/bin")
	cfg := config.Default()
	cfg.BinDirs = []string{"/opt/berth", "/usr/bin"}
	env := strings.Join(childEnv(cfg), "\n") + "\n"
	for _, want := range []string{"PATH=/opt/berth:/usr/bin:/bin\n", ShimSocketDirEnv + "=/run/berth/s\n"} {
		if !strings.Contains(env, want) {
			t.Errorf("missing %q in\n%s", want, env)
		}
	}
	for _, gone := range []string{"GOMAXPROCS=", "NOTIFY_SOCKET="} {
		if strings.Contains(env, gone) {
			t.Errorf("%s passed to children", gone)
		}
	}
}

func TestLockReleasedOnDeath(t *testing.T) {
	// flock is released by the kernel when the holder dies; here, closing
	// the file stands for it.
	path := filepath.Join(t.TempDir(), "berthd.lock")
	unlock, err := lock(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := lock(path); err == nil {
		t.Fatal("lock taken twice")
	}
	unlock()
	unlock2, err := lock(path)
	if err != nil {
		t.Fatalf("lock not released: %v", err)
	}
	unlock2()
}

// TestAdoptOnlyWithSameSettings: after berthd dies, the next one adopts its
// containerd, unless the settings that go into containerd's config changed.
func TestAdoptOnlyWithSameSettings(t *testing.T) {
	needContainerd(t)
	cfg := testConfig(t)
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(cfg.ContainerdState(), 0o711); err != nil {
		t.Fatal(err)
	}
	runOnce := func(c *config.Config) (*supervisor.Process, bool) {
		spec, err := containerdSpec(c, testLogger(t))
		if err != nil {
			t.Fatal(err)
		}
		p, err := supervisor.Start(context.Background(), spec, testLogger(t))
		if err != nil {
			t.Fatal(err)
		}
		return p, p.Adopted()
	}
	p1, _ := runOnce(cfg)
	pid := p1.PID()
	p1.Detach() // leave it running, as a killed berthd does
	same := *cfg
	p2, adopted := runOnce(&same)
	if !adopted || p2.PID() != pid {
		t.Errorf("same settings: adopted %v pid %d, want %d", adopted, p2.PID(), pid)
	}
	p2.Detach()
	changed := *cfg
	changed.Debug = true // log level is in containerd's config
	p3, adopted := runOnce(&changed)
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = p3.Stop(ctx)
	}()
	if adopted || p3.PID() == pid {
		t.Errorf("changed settings: adopted %v pid %d", adopted, p3.PID())
	}
	if b, _ := os.ReadFile(cfg.ContainerdConfigPath()); !strings.Contains(string(b), "level = 'debug'") {
		t.Error("config not rewritten with the new settings")
	}
}
