package supervisor

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/berthproject/berth/pkg/ctrdconfig"
)

// The test binary doubles as the daemons under test, selected by
// SUPERVISOR_TEST_MODE:
//
//	listen SOCK [ignore-term]  serve a unix socket until SIGTERM (or forever)
//	fail                       print a message and exit 3
//	supervise DIR              run a supervisor of containerd in DIR, print
//	                           its PID, and wait to be killed (a berthd)
func TestMain(m *testing.M) {
	switch os.Getenv("SUPERVISOR_TEST_MODE") {
	case "":
		os.Exit(m.Run())
	case "listen":
		helperListen(os.Args[1], len(os.Args) > 2 && os.Args[2] == "ignore-term")
	case "fail":
		fmt.Println("boom: cannot start")
		os.Exit(3)
	case "supervise":
		helperSupervise(os.Args[1])
	}
}

func helperListen(sock string, ignoreTerm bool) {
	os.Remove(sock)
	l, err := net.Listen("unix", sock)
	if err != nil {
		fmt.Println(err)
		os.Exit(1)
	}
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	sig := make(chan os.Signal, 1)
	if ignoreTerm {
		signal.Ignore(syscall.SIGTERM)
		select {}
	}
	signal.Notify(sig, syscall.SIGTERM)
	<-sig
	l.Close()
	os.Exit(0)
}

func helperSupervise(dir string) {
	p, err := Start(context.Background(), containerdSpec(dir), slog.New(slog.NewTextHandler(os.Stderr, nil)))
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	fmt.Println(p.PID())
	select {}
}

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

func tempDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("/tmp", "bt")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// containerdSpec is a containerd of its own under dir, as berthd runs it.
func containerdSpec(dir string) Spec {
	cfg := filepath.Join(dir, "config.toml")
	sock := filepath.Join(dir, "state", "c.sock")
	return Spec{
		Name:     "containerd",
		Path:     filepath.Join(libexec, "containerd"),
		Args:     []string{"--config", cfg},
		Env:      []string{"PATH=" + libexec + ":/usr/bin:/bin"},
		LogFile:  filepath.Join(dir, "containerd.log"),
		PIDFile:  filepath.Join(dir, "containerd.pid"),
		Identity: cfg,
		Probe:    ContainerdProbe(sock),
		BeforeStart: func() error {
			return ctrdconfig.Write(cfg, ctrdconfig.Options{
				Root: filepath.Join(dir, "root"), State: filepath.Join(dir, "state"),
				Address: sock, ShimSocketDir: filepath.Join(dir, "s"),
			})
		},
		StopTimeout: 10 * time.Second,
	}
}

func helperSpec(t *testing.T, dir string, args ...string) Spec {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "h.sock")
	return Spec{
		Name:     "helper",
		Path:     self,
		Args:     append([]string{sock}, args...),
		Env:      []string{"SUPERVISOR_TEST_MODE=listen"},
		LogFile:  filepath.Join(dir, "helper.log"),
		PIDFile:  filepath.Join(dir, "helper.pid"),
		Identity: sock,
		Probe:    SocketProbe(sock),
	}
}

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tWriter struct{ t *testing.T }

func (w tWriter) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(b), "\n"))
	return len(b), nil
}

func stopProcess(t *testing.T, p *Process) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := p.Stop(ctx); err != nil {
		t.Fatal(err)
	}
}

// alive reports whether pid is a live (non-zombie) process.
func alive(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i > 0 && len(s) > i+2 && s[i+2] != 'Z'
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func answers(sock string) bool {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	return ContainerdProbe(sock)(ctx) == nil
}

func TestContainerdStartRestartStop(t *testing.T) {
	needContainerd(t)
	dir := tempDir(t)
	spec := containerdSpec(dir)
	sock := filepath.Join(dir, "state", "c.sock")

	p, err := Start(context.Background(), spec, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stopProcess(t, p) })
	pid := p.PID()
	if pid == 0 || p.Adopted() || !answers(sock) {
		t.Fatalf("after start: pid %d adopted %v answers %v", pid, p.Adopted(), answers(sock))
	}
	if got, _ := readPIDFile(spec.PIDFile); got != pid {
		t.Errorf("pid file has %d, want %d", got, pid)
	}
	if !ProcessRuns(pid, spec.Path, spec.Identity) {
		t.Errorf("pid %d does not run %s", pid, spec.Path)
	}

	// kill -9: the supervisor starts a new containerd.
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a restarted containerd", func() bool { return p.PID() != 0 && p.PID() != pid && answers(sock) })
	if p.Restarts() != 1 {
		t.Errorf("restarts = %d, want 1", p.Restarts())
	}
	pid2 := p.PID()
	if got, _ := readPIDFile(spec.PIDFile); got != pid2 {
		t.Errorf("pid file has %d after restart, want %d", got, pid2)
	}

	stopProcess(t, p)
	if alive(pid2) {
		t.Errorf("containerd %d still running after Stop", pid2)
	}
	if answers(sock) {
		t.Error("socket still answers after Stop")
	}
	if _, err := os.Stat(spec.PIDFile); !os.IsNotExist(err) {
		t.Errorf("pid file left after Stop: %v", err)
	}
	// No restart after a deliberate stop.
	if p.PID() != pid2 || p.Restarts() != 1 {
		t.Errorf("restarted after Stop: pid %d restarts %d", p.PID(), p.Restarts())
	}
}

// TestAdoptAfterSupervisorKilled: a berthd (a helper process running a
// supervisor) is killed with SIGKILL; its containerd keeps running and the
// next supervisor adopts it, watches it, and replaces it when it dies.
func TestAdoptAfterSupervisorKilled(t *testing.T) {
	needContainerd(t)
	dir := tempDir(t)
	spec := containerdSpec(dir)
	sock := filepath.Join(dir, "state", "c.sock")

	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	berthd := exec.Command(self, dir)
	berthd.Env = append(os.Environ(), "SUPERVISOR_TEST_MODE=supervise")
	out, err := berthd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	berthd.Stderr = tWriter{t}
	if err := berthd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		_ = berthd.Process.Kill()
		_ = berthd.Wait()
		t.Fatalf("helper supervisor: %v %q", err, line)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(line))
	if err != nil {
		t.Fatalf("helper supervisor said %q", line)
	}
	t.Cleanup(func() {
		if alive(pid) { // never leave a containerd behind
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	})
	_ = berthd.Process.Kill()
	_ = berthd.Wait()
	go io.Copy(io.Discard, out)

	if !alive(pid) || !answers(sock) {
		t.Fatal("containerd died with its supervisor")
	}

	p, err := Start(context.Background(), spec, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stopProcess(t, p) })
	if !p.Adopted() || p.PID() != pid {
		t.Fatalf("did not adopt: adopted %v pid %d, want %d", p.Adopted(), p.PID(), pid)
	}

	// The adopted containerd dies: the supervisor notices and starts its own.
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a new containerd", func() bool { return p.PID() != 0 && p.PID() != pid && answers(sock) })
	if p.Adopted() || p.Restarts() != 1 {
		t.Errorf("after restart: adopted %v restarts %d", p.Adopted(), p.Restarts())
	}
	newPID := p.PID()
	stopProcess(t, p)
	if alive(newPID) {
		t.Errorf("containerd %d still running after Stop", newPID)
	}
}

// TestAdoptedStop: Stop ends an adopted daemon too.
func TestAdoptedStop(t *testing.T) {
	dir := tempDir(t)
	spec := helperSpec(t, dir)
	first, err := Start(context.Background(), spec, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	pid := first.PID()
	first.Detach() // as a berthd that dies
	// A second supervisor of the same spec adopts the running helper
	// rather than starting another one.
	second, err := Start(context.Background(), spec, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	if !second.Adopted() || second.PID() != pid {
		t.Fatalf("adopted %v pid %d, want %d", second.Adopted(), second.PID(), pid)
	}
	stopProcess(t, second)
	waitFor(t, "the helper to exit", func() bool { return !alive(pid) })
}

// TestUnrecordedAdopted: a daemon whose supervisor died before its pid
// file was written (berthd killed while it restarted the daemon; the pid
// file is written durably, slow on a busy disk) is found by its binary,
// identity and arguments and adopted. Before, the next berthd refused to
// start: "its socket already answers, served by a process berthd did not
// start" (the chaos soak).
func TestUnrecordedAdopted(t *testing.T) {
	dir := tempDir(t)
	spec := helperSpec(t, dir)
	first, err := Start(context.Background(), spec, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	pid := first.PID()
	first.Detach() // as a berthd that dies
	if err := os.Remove(spec.PIDFile); err != nil {
		t.Fatal(err)
	}
	second, err := Start(context.Background(), spec, testLogger(t))
	if err != nil {
		t.Fatalf("a daemon running unrecorded: %v", err)
	}
	if !second.Adopted() || second.PID() != pid {
		t.Fatalf("adopted %v pid %d, want %d", second.Adopted(), second.PID(), pid)
	}
	if got, err := readPIDFile(spec.PIDFile); err != nil || got != pid {
		t.Errorf("pid file after adopting: %d, %v; want %d", got, err, pid)
	}
	stopProcess(t, second)
	waitFor(t, "the helper to exit", func() bool { return !alive(pid) })
}

// TestForeignPIDNotAdopted: a pid file naming a process that is not the
// daemon leads to a fresh start, and the other process is left alone.
func TestForeignPIDNotAdopted(t *testing.T) {
	dir := tempDir(t)
	spec := helperSpec(t, dir)
	sleeper := exec.Command("sleep", "60")
	if err := sleeper.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sleeper.Process.Kill(); _ = sleeper.Wait() })
	if err := writePIDFile(spec.PIDFile, sleeper.Process.Pid); err != nil {
		t.Fatal(err)
	}
	p, err := Start(context.Background(), spec, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	defer stopProcess(t, p)
	if p.Adopted() || p.PID() == sleeper.Process.Pid {
		t.Errorf("adopted a foreign process")
	}
	if !alive(sleeper.Process.Pid) {
		t.Errorf("the foreign process was killed")
	}
}

// TestSocketServedByAnother: berthd does not start a daemon over a socket
// that another process serves.
func TestSocketServedByAnother(t *testing.T) {
	dir := tempDir(t)
	spec := helperSpec(t, dir)
	l, err := net.Listen("unix", filepath.Join(dir, "h.sock"))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	p, err := Start(context.Background(), spec, testLogger(t))
	if err == nil {
		stopProcess(t, p)
		t.Fatal("started over a served socket")
	}
	if !strings.Contains(err.Error(), "already answers") {
		t.Errorf("error: %v", err)
	}
}

// TestStopEscalates: a daemon that ignores SIGTERM is killed after the
// stop timeout.
func TestStopEscalates(t *testing.T) {
	dir := tempDir(t)
	spec := helperSpec(t, dir, "ignore-term")
	spec.StopTimeout = 200 * time.Millisecond
	p, err := Start(context.Background(), spec, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	pid := p.PID()
	stopProcess(t, p)
	if alive(pid) {
		t.Errorf("helper %d survived Stop", pid)
	}
}

// TestExitBeforeReady: a daemon that dies at start gives an error that
// quotes its log.
func TestExitBeforeReady(t *testing.T) {
	dir := tempDir(t)
	spec := helperSpec(t, dir)
	spec.Env = []string{"SUPERVISOR_TEST_MODE=fail"}
	_, err := Start(context.Background(), spec, testLogger(t))
	if err == nil {
		t.Fatal("want an error")
	}
	if !strings.Contains(err.Error(), "boom: cannot start") || !strings.Contains(err.Error(), "exit status 3") {
		t.Errorf("error does not explain the failure: %v", err)
	}
	if _, err := os.Stat(spec.PIDFile); !os.IsNotExist(err) {
		t.Errorf("pid file left: %v", err)
	}
}

// TestOutdatedReplaced: a running daemon whose settings changed is
// replaced, not adopted.
func TestOutdatedReplaced(t *testing.T) {
	dir := tempDir(t)
	spec := helperSpec(t, dir)
	first, err := Start(context.Background(), spec, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	first.Detach()
	old := first.PID()

	changed := spec
	changed.Outdated = func() string { return "config changed" }
	second, err := Start(context.Background(), changed, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	if second.Adopted() || second.PID() == old {
		t.Errorf("outdated daemon adopted (pid %d)", second.PID())
	}
	waitFor(t, "the outdated helper to exit", func() bool { return !alive(old) })
	second.Detach()

	// Other arguments: replaced too.
	third := spec
	third.Args = append(append([]string{}, spec.Args...), "extra")
	p3, err := Start(context.Background(), third, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	defer stopProcess(t, p3)
	if p3.Adopted() || p3.PID() == second.PID() {
		t.Error("daemon with other arguments adopted")
	}
	waitFor(t, "the replaced helper to exit", func() bool { return !alive(second.PID()) })

	// The same settings: adopted.
	p3.Detach()
	same, err := Start(context.Background(), third, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	defer stopProcess(t, same)
	if !same.Adopted() || same.PID() != p3.PID() {
		t.Errorf("unchanged daemon not adopted: adopted %v pid %d want %d", same.Adopted(), same.PID(), p3.PID())
	}
}
