// Package harness runs a private berth stack for end-to-end tests and
// benchmarks: berthd with its own containerd, under a short temp dir of its
// own, with its own sockets and containerd namespace. Several stacks can run
// side by side, and next to a system berthd.
//
//	s := harness.Start(t)
//	s.LoadBusybox()
//	r := s.Berth("run", "--rm", "busybox", "echo", "hi")
//
// Binaries come from $BERTH_BUILD (default <repo>/.build: berth, berthd,
// berth-logger, ...) and $BERTH_LIBEXEC (default /usr/local/lib/berth:
// containerd, runc, the runc shim); berthd's bin_dirs are both, in that
// order. A test is skipped when not root or when a binary is missing.
//
// When the test ends, Stop removes every container, stops the stack and
// fails the test if anything was left behind: mounts, processes, shim
// sockets, active snapshots. berthd's log is printed when the test failed.
package harness

import (
	"bufio"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Environment variables the harness reads.
const (
	EnvBuild   = "BERTH_BUILD"      // berth's binaries (default <repo>/.build)
	EnvLibexec = "BERTH_LIBEXEC"    // containerd, runc, CNI (default /usr/local/lib/berth)
	EnvKeep    = "BERTH_TEST_KEEP"  // "1": keep a failed test's stack dir
	EnvDebug   = "BERTH_TEST_DEBUG" // "1": run berthd with --debug
)

// DefaultLibexec is where `make deps` installs containerd, runc and CNI.
const DefaultLibexec = "/usr/local/lib/berth"

// Option configures a stack.
type Option func(*options)

type options struct {
	namespace      string
	bridge         string
	subnet         string
	subnetBits     int // of the default bridge's subnet: 24 unless WithBridgeSubnetBits
	pool           string
	fwPrefix       string
	runtime        string
	snapshotter    string
	berthSnapshot  bool
	debug          bool
	daemonArgs     []string
	daemonEnv      []string
	netns          string
	startupTimeout time.Duration
	poolClaim      *os.File // held while the stack runs: its /16 is its own
}

// WithBridgeSubnetBits gives the default bridge a /bits subnet (16 < bits
// <= 24) in the stack's /16 instead of a /24: room for more containers
// than a /24's 190 (its last quarter is kept for build steps).
func WithBridgeSubnetBits(bits int) Option { return func(o *options) { o.subnetBits = bits } }

// WithNamespace sets the containerd namespace (default: a random "bt…").
func WithNamespace(ns string) Option { return func(o *options) { o.namespace = ns } }

// WithRuntime sets berthd's runtime (default: berthd's default).
func WithRuntime(name string) Option { return func(o *options) { o.runtime = name } }

// WithSnapshotter sets berthd's snapshotter (default: berthd's default).
func WithSnapshotter(name string) Option { return func(o *options) { o.snapshotter = name } }

// WithBerthSnapshotter runs berth-snapshotter and uses it.
func WithBerthSnapshotter() Option {
	return func(o *options) { o.berthSnapshot, o.snapshotter = true, "berth" }
}

// WithDebug runs berthd with --debug (also set by BERTH_TEST_DEBUG=1).
func WithDebug() Option { return func(o *options) { o.debug = true } }

// WithDaemonArgs adds flags to berthd's command line.
func WithDaemonArgs(args ...string) Option {
	return func(o *options) { o.daemonArgs = append(o.daemonArgs, args...) }
}

// WithDaemonEnv adds KEY=VALUE pairs to berthd's environment.
func WithDaemonEnv(env ...string) Option {
	return func(o *options) { o.daemonEnv = append(o.daemonEnv, env...) }
}

// WithNetns runs berthd (and so its containerd and containers) in the
// network namespace at path (/run/netns/NAME), entered with nsenter: the
// "hosts" of the multi-host tests (test/cluster). Only the network
// namespace changes; files and sockets stay where they are.
func WithNetns(path string) Option { return func(o *options) { o.netns = path } }

// Stack is a running private berth stack.
type Stack struct {
	t    testing.TB
	opts options

	dir, root, state, socket string
	build, libexec           string
	logPath                  string

	mu      sync.Mutex
	daemon  *exec.Cmd
	exited  chan struct{} // closed when daemon has exited
	stopped bool
	leaks   []string // what Stop found left behind
}

// Start starts a private stack and registers its Stop with t.Cleanup.
func Start(t testing.TB, opts ...Option) *Stack {
	t.Helper()
	if os.Getuid() != 0 {
		t.Skip("needs root: the harness runs a private containerd")
	}
	// Host-wide names are the stack's own, so stacks run side by side and
	// next to a system berthd: namespace, bridge, firewall chains, subnet.
	rnd := rand.Text()[:8]
	o := options{
		namespace:      "bt" + strings.ToLower(rnd),
		bridge:         "bt" + strings.ToLower(rnd),
		fwPrefix:       "BT" + rnd,
		startupTimeout: Timeout(60 * time.Second),
	}
	if os.Getenv(EnvDebug) == "1" {
		o.debug = true
	}
	for _, opt := range opts {
		opt(&o)
	}
	build, libexec, err := binDirs()
	if err != nil {
		t.Skip(err.Error())
	}
	need := []string{
		filepath.Join(build, "berthd"), filepath.Join(build, "berth"), filepath.Join(build, "berth-logger"),
		filepath.Join(libexec, "containerd"), filepath.Join(libexec, "runc"),
	}
	if o.berthSnapshot {
		need = append(need, filepath.Join(build, "berth-snapshotter"))
	}
	if o.runtime == "io.containerd.berth.v2" {
		need = append(need, filepath.Join(build, "containerd-shim-berth-v2"))
	}
	var missing []string
	for _, p := range need {
		if st, err := os.Stat(p); err != nil || st.Mode()&0o111 == 0 {
			missing = append(missing, p)
		}
	}
	if len(missing) > 0 {
		t.Skipf("berth binaries missing: %s (run `make deps build`, or set %s/%s)",
			strings.Join(missing, ", "), EnvBuild, EnvLibexec)
	}

	if o.netns == "" {
		// On the host's network namespace, the /16 is claimed for the
		// stack's life: two stacks in one /16 could both take a subnet
		// in the moment before either bridge has its address (each
		// berthd skips only subnets already on the host), and then
		// one's embedded DNS and routes answer for the other's.
		o.subnet, o.pool, o.poolClaim = claimSubnet(o.subnetBits)
	} else {
		o.subnet, o.pool = randomSubnet(randomPool(), o.subnetBits)
	}

	// Short: unix socket paths under it must stay below 108 bytes, and
	// containerd's shim socket dir (<state>/s) below 42.
	dir, err := os.MkdirTemp("/tmp", "bX")
	if err != nil {
		t.Fatal(err)
	}
	s := &Stack{
		t: t, opts: o, dir: dir,
		root: filepath.Join(dir, "root"), state: filepath.Join(dir, "state"),
		build: build, libexec: libexec,
		logPath: filepath.Join(dir, "berthd.log"),
	}
	s.socket = filepath.Join(s.state, "berth.sock")
	t.Cleanup(s.Stop)
	s.StartDaemon()
	return s
}

// binDirs returns the build and libexec dirs from the environment.
func binDirs() (build, libexec string, err error) {
	build = os.Getenv(EnvBuild)
	if build == "" {
		repo, err := RepoRoot()
		if err != nil {
			return "", "", err
		}
		build = filepath.Join(repo, ".build")
	}
	libexec = os.Getenv(EnvLibexec)
	if libexec == "" {
		libexec = DefaultLibexec
	}
	if build, err = filepath.Abs(build); err != nil {
		return "", "", err
	}
	return build, libexec, nil
}

// RepoRoot finds the berth checkout from the working directory (go test
// runs in the package's directory).
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && strings.Contains(string(b), "module github.com/berthproject/berth\n") {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("berth checkout not found above the working directory; set " + EnvBuild)
		}
		dir = parent
	}
}

// Dir is the stack's temp dir; Root, State and Socket are berthd's.
func (s *Stack) Dir() string    { return s.dir }
func (s *Stack) Root() string   { return s.root }
func (s *Stack) State() string  { return s.state }
func (s *Stack) Socket() string { return s.socket }

// Host is the value of berth's --host for this stack.
func (s *Stack) Host() string { return "unix://" + s.socket }

// DockerHost is the stack's Docker Engine API address (DOCKER_HOST).
func (s *Stack) DockerHost() string { return "unix://" + filepath.Join(s.state, "docker.sock") }

// Namespace is the stack's containerd namespace.
func (s *Stack) Namespace() string { return s.opts.namespace }

// Bridge, BridgeSubnet and FirewallPrefix are the stack's default network
// settings: its own, so that stacks do not share host-wide names.
func (s *Stack) Bridge() string         { return s.opts.bridge }
func (s *Stack) BridgeSubnet() string   { return s.opts.subnet }
func (s *Stack) FirewallPrefix() string { return s.opts.fwPrefix }

// AddressPool is the stack's pool for networks created without a subnet
// (berthd's --default-address-pool): the /16 its default subnet lies in,
// in /24s.
func (s *Stack) AddressPool() string { return s.opts.pool }

// Stacks take their networks from a /16 in 10.200.0.0-10.254.0.0.
const (
	firstPool = 200
	numPools  = 55
)

// poolClaimDir holds a lock file per /16: a stack of any test process on
// this host holds its /16's lock (flock) while it runs.
const poolClaimDir = "/tmp/berth-test-pools"

// claimSubnet claims a /16 (ClaimPool) and picks the stack's subnets in
// it (randomSubnet).
func claimSubnet(bits int) (subnet, pool string, claim *os.File) {
	x, claim := claimPool()
	subnet, pool = randomSubnet(x, bits)
	return subnet, pool, claim
}

// ClaimPool claims a /16 10.x.0.0 of 10.200.0.0-10.254.0.0 for a test's
// networks on the host's network namespace, one no stack or other caller
// of any test process on this host holds, until release is called (or the
// process ends). Tests that make networks without the harness (the engine
// package's) take theirs here too.
func ClaimPool() (x int, release func()) {
	x, claim := claimPool()
	return x, func() {
		if claim != nil {
			_ = claim.Close()
		}
	}
}

// claimPool tries the /16s in a random order. If all are held (more stacks
// than pools), it gives a random one unclaimed: berthd still skips subnets
// already on the host.
func claimPool() (int, *os.File) {
	if err := os.MkdirAll(poolClaimDir, 0o755); err == nil {
		start := randomPool() - firstPool
		for i := range numPools {
			x := firstPool + (start+i)%numPools
			f, err := os.OpenFile(filepath.Join(poolClaimDir, strconv.Itoa(x)), os.O_CREATE|os.O_RDWR, 0o644)
			if err != nil {
				break
			}
			if syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) == nil {
				return x, f
			}
			f.Close()
		}
	}
	return randomPool(), nil
}

func randomPool() int {
	var b [1]byte
	_, _ = rand.Read(b[:])
	return firstPool + int(b[0])%numPools
}

// randomSubnet gives the /16 10.x.0.0 for a stack's networks and a random
// /bits (a /24 for 0) in it for the default bridge (berthd moves to a free
// pool subnet if a host route overlaps it).
func randomSubnet(x, bits int) (subnet, pool string) {
	if bits <= 16 || bits > 24 {
		bits = 24
	}
	var b [1]byte
	_, _ = rand.Read(b[:])
	third := int(b[0]) &^ (1<<(24-bits) - 1)
	return fmt.Sprintf("10.%d.%d.0/%d", x, third, bits), fmt.Sprintf("base=10.%d.0.0/16,size=24", x)
}

// ContainerdAddress is the stack's containerd socket.
func (s *Stack) ContainerdAddress() string {
	return filepath.Join(s.state, "containerd", "containerd.sock")
}

// Build and Libexec are the binary dirs in use.
func (s *Stack) Build() string   { return s.build }
func (s *Stack) Libexec() string { return s.libexec }

// LogPath is berthd's log file.
func (s *Stack) LogPath() string { return s.logPath }

func (s *Stack) daemonArgs() []string {
	args := []string{
		// A config file of our own that does not exist: defaults, never
		// the machine's /etc/berth/berthd.toml.
		"--config", filepath.Join(s.dir, "berthd.toml"),
		"--root", s.root, "--state", s.state,
		"--bin-dirs", s.build, "--bin-dirs", s.libexec,
		"--cni-bin-dir", filepath.Join(s.libexec, "cni"),
		"--namespace", s.opts.namespace,
		"--bridge", s.opts.bridge, "--bridge-subnet", s.opts.subnet,
		"--firewall-prefix", s.opts.fwPrefix,
	}
	if s.opts.pool != "" {
		args = append(args, "--default-address-pool", s.opts.pool)
	}
	if s.opts.runtime != "" {
		args = append(args, "--runtime", s.opts.runtime)
	}
	if s.opts.snapshotter != "" {
		args = append(args, "--snapshotter", s.opts.snapshotter)
	}
	if s.opts.berthSnapshot {
		args = append(args, "--enable-berth-snapshotter")
	}
	if s.opts.debug {
		args = append(args, "--debug")
	}
	return append(args, s.opts.daemonArgs...)
}

// daemonCommand is how berthd is run with args: itself, or through
// nsenter into the stack's network namespace.
func (s *Stack) daemonCommand(args []string) (string, []string) {
	berthd := filepath.Join(s.build, "berthd")
	if s.opts.netns == "" {
		return berthd, args
	}
	return "nsenter", append([]string{"--net=" + s.opts.netns, "--", berthd}, args...)
}

// Netns is the network namespace berthd runs in ("" for the host's).
func (s *Stack) Netns() string { return s.opts.netns }

// StartDaemon starts berthd on the stack's dirs (again, after KillDaemon
// or StopDaemon) and waits until its socket answers.
func (s *Stack) StartDaemon() {
	s.t.Helper()
	if err := s.startDaemon(); err != nil {
		s.t.Fatalf("harness: %v", err)
	}
}

func (s *Stack) startDaemon() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.daemon != nil && !isClosed(s.exited) {
		return fmt.Errorf("berthd (pid %d) is already running", s.daemon.Process.Pid)
	}
	logf, err := os.OpenFile(s.logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer logf.Close()
	fmt.Fprintf(logf, "==== harness: starting berthd at %s\n", time.Now().Format(time.RFC3339Nano))
	bin, args := s.daemonCommand(s.daemonArgs())
	cmd := exec.Command(bin, args...)
	cmd.Env = append(append(os.Environ(), "PATH="+s.build+":"+s.libexec+":"+os.Getenv("PATH")), s.opts.daemonEnv...)
	cmd.Stdout, cmd.Stderr = logf, logf
	// Its own process group: a ^C meant for `go test` does not reach it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start berthd: %w", err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	s.daemon, s.exited = cmd, exited

	deadline := time.Now().Add(s.opts.startupTimeout)
	for {
		if c, err := net.Dial("unix", s.socket); err == nil {
			c.Close()
			return nil
		}
		select {
		case <-exited:
			return fmt.Errorf("berthd exited during startup (%v)\n%s", cmd.ProcessState, s.logTail(s.logPath, 60))
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			<-exited
			return fmt.Errorf("berthd did not answer on %s within %s; killed\n%s", s.socket, s.opts.startupTimeout, s.logTail(s.logPath, 60))
		}
	}
}

// DaemonPID is berthd's PID (0 when not running).
func (s *Stack) DaemonPID() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.daemon == nil || isClosed(s.exited) {
		return 0
	}
	return s.daemon.Process.Pid
}

// KillDaemon kills berthd with SIGKILL and waits for it to be gone. Its
// containerd and the containers keep running.
func (s *Stack) KillDaemon() {
	s.t.Helper()
	s.signalDaemon(syscall.SIGKILL, Timeout(30*time.Second))
}

// StopDaemon stops berthd with SIGTERM (a clean shutdown, which also stops
// its containerd) and waits for it.
func (s *Stack) StopDaemon() {
	s.t.Helper()
	s.signalDaemon(syscall.SIGTERM, Timeout(60*time.Second))
}

// Restart stops berthd cleanly and starts it again on the same dirs.
func (s *Stack) Restart() {
	s.t.Helper()
	s.StopDaemon()
	s.StartDaemon()
}

func (s *Stack) signalDaemon(sig syscall.Signal, timeout time.Duration) {
	s.t.Helper()
	s.mu.Lock()
	cmd, exited := s.daemon, s.exited
	s.mu.Unlock()
	if cmd == nil || isClosed(exited) {
		return
	}
	_ = cmd.Process.Signal(sig)
	select {
	case <-exited:
	case <-time.After(timeout):
		_ = cmd.Process.Kill()
		<-exited
		s.t.Errorf("harness: berthd did not exit within %s of %v; killed", timeout, sig)
	}
}

// ContainerdPID is the PID of the stack's containerd (0 if none).
func (s *Stack) ContainerdPID() int {
	return readPID(filepath.Join(s.state, "containerd", "containerd.pid"))
}

// SnapshotterPID is the PID of the stack's berth-snapshotter (0 if none).
func (s *Stack) SnapshotterPID() int {
	return readPID(filepath.Join(s.state, "snapshotter.pid"))
}

// KillContainerd kills the stack's containerd with SIGKILL and, when
// berthd is running, waits until berthd has started a new one and serves
// requests through it again.
func (s *Stack) KillContainerd() {
	s.t.Helper()
	pid := s.ContainerdPID()
	if pid == 0 {
		s.t.Fatal("harness: no containerd pid file")
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		s.t.Fatalf("harness: kill containerd %d: %v", pid, err)
	}
	s.waitFor("containerd to exit", 30*time.Second, func() bool { return !processAlive(pid) })
	if s.DaemonPID() == 0 {
		return
	}
	s.waitFor("berthd to restart containerd", 60*time.Second, func() bool {
		np := s.ContainerdPID()
		if np == 0 || np == pid {
			return false
		}
		c, err := net.Dial("unix", s.ContainerdAddress())
		if err != nil {
			return false
		}
		c.Close()
		return true
	})
	s.waitFor("berthd to serve through the new containerd", 30*time.Second, func() bool {
		return s.Berth("ps", "-aq").ExitCode == 0
	})
}

func (s *Stack) waitFor(what string, timeout time.Duration, cond func() bool) {
	s.t.Helper()
	timeout = Timeout(timeout)
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			s.t.Fatalf("harness: timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// BuildkitdPID is the PID of the stack's berth-buildkitd, 0 if it does not
// run (it starts at the first build).
func (s *Stack) BuildkitdPID() int {
	return livePID(filepath.Join(s.state, "buildkit", "berth-buildkitd.pid"))
}

// EtcdPID is the PID of the stack's etcd member, 0 if it runs none.
func (s *Stack) EtcdPID() int {
	return livePID(filepath.Join(s.state, "cluster", "etcd.pid"))
}

// livePID is the PID in the file at path if that process exists, else 0.
func livePID(path string) int {
	if pid := readPID(path); pid > 0 && syscall.Kill(pid, 0) == nil {
		return pid
	}
	return 0
}

func readPID(path string) int {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return pid
}

// processAlive reports whether pid exists and is not a zombie.
func processAlive(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	i := strings.LastIndexByte(string(b), ')')
	return i > 0 && len(b) > i+2 && b[i+2] != 'Z'
}

func isClosed(c chan struct{}) bool {
	if c == nil {
		return true
	}
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// logTail returns the last n lines of a file, headed by its name.
func (s *Stack) logTail(path string, n int) string {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Sprintf("(%s: %v)", path, err)
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		lines = append(lines, sc.Text())
		if len(lines) > 2*n {
			lines = lines[len(lines)-n:]
		}
	}
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return fmt.Sprintf("---- %s (last %d lines)\n%s\n----", path, len(lines), strings.Join(lines, "\n"))
}

// context for harness commands: bounded so a hung CLI fails the test
// instead of the whole test binary's timeout.
func cmdContext() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), Timeout(3*time.Minute))
}

// PowerCut simulates a power loss of the host the stack runs on. Every
// process of the stack (berthd, containerd, the snapshotter, the shims,
// the containers' processes) is frozen (SIGSTOP), looked for again until
// no new one appears; then atDisk runs, the moment to take what reached the
// disk (a copy of a loop device's image, without a sync: what is only in
// the page cache is lost, as in a power cut); then every process is killed
// and what a reboot clears goes: the mounts under the stack's dir and
// under extra dirs (a root on another disk), and the state directory (a
// tmpfs on a real host). Kernel network state (bridges, firewall rules)
// stays. StartDaemon then boots berthd again.
func (s *Stack) PowerCut(atDisk func(), extra ...string) {
	s.t.Helper()
	frozen := map[int]bool{}
	for pass := 0; pass < 10; pass++ {
		found := false
		pids := append([]int{s.DaemonPID(), s.ContainerdPID(), s.SnapshotterPID()}, s.processes()...)
		for _, pid := range append(pids, s.containerProcesses()...) {
			if pid > 0 && !frozen[pid] {
				_ = syscall.Kill(pid, syscall.SIGSTOP)
				frozen[pid], found = true, true
			}
		}
		if !found {
			break
		}
	}
	atDisk()
	for pid := range frozen {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	s.mu.Lock()
	exited := s.exited
	s.mu.Unlock()
	if exited != nil {
		<-exited
	}
	s.waitFor("the stack's processes to end", 30*time.Second, func() bool {
		return len(s.processes()) == 0 && len(s.containerProcesses()) == 0
	})
	// Deepest first: overlays and netns bind mounts go before what holds them.
	mounts := s.mounts()
	for _, dir := range extra {
		mounts = append(mounts, mountsUnder(dir)...)
	}
	sort.Sort(sort.Reverse(sort.StringSlice(mounts)))
	for _, m := range mounts {
		if err := syscall.Unmount(m, syscall.MNT_DETACH); err != nil {
			s.t.Logf("harness: power cut: umount %s: %v", m, err)
		}
	}
	entries, _ := os.ReadDir(s.state)
	for _, e := range entries {
		if err := os.RemoveAll(filepath.Join(s.state, e.Name())); err != nil {
			s.t.Errorf("harness: power cut: clearing the state dir: %v", err)
		}
	}
}

// containerProcesses are the processes in the cgroups of the stack's
// containers (containerd's default: /<namespace>/<id>). A container's
// processes live in their own mount namespace, where nothing of theirs
// names the stack's dir.
func (s *Stack) containerProcesses() []int {
	entries, _ := os.ReadDir("/proc")
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/cgroup")
		if err == nil && strings.Contains(string(b), ":/"+s.opts.namespace+"/") && processAlive(pid) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// mountsUnder lists the mount points strictly under dir.
func mountsUnder(dir string) []string {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return nil
	}
	var out []string
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) >= 5 {
			if mp := unescapeMount(f[4]); strings.HasPrefix(mp, dir+"/") {
				out = append(out, mp)
			}
		}
	}
	return out
}
