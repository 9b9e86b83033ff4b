// Package shim is berth's containerd runtime shim (runtime
// io.containerd.berth.v2): one small long-lived process per container that
// runs it with runc, serves containerd's task API over ttrpc, carries its IO
// (containerd fifos, files, logging binaries, or berth's own log sink
// in-process) and reports its events back to containerd.
//
// The binary is started by containerd three ways:
//
//	<shim> -namespace NS -address SOCK -publish-binary BIN -id ID start
//	<shim> -namespace NS -address SOCK -publish-binary BIN -id ID [-bundle DIR] delete
//	<shim> -info
//
// start (run in the bundle directory) listens on a hashed socket, starts the
// long-lived shim ("serve") with that socket, writes the address to
// <bundle>/address, prints the bootstrap result and exits. delete cleans up
// after a shim that is gone.
package shim

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"hash/fnv"
	"io"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	runc "github.com/containerd/go-runc"
	"golang.org/x/sys/unix"

	tw "github.com/berthproject/berth/shim/internal/taskwire"
	"github.com/berthproject/berth/shim/internal/ttrpcwire"
)

// RuntimeName is the containerd runtime this shim implements.
const RuntimeName = "io.containerd.berth.v2"

// Version is the shim's version, reported by -version and -info.
var Version = "dev"

// SocketDirEnv names the directory for shim sockets; berthd sets it in
// containerd's environment, which containerd passes on to its shims.
const SocketDirEnv = "BERTH_SHIM_SOCKET_DIR"

// DefaultSocketDir is used when SocketDirEnv is not set.
const DefaultSocketDir = "/run/berth/s"

type flags struct {
	namespace, id, address, bundle string
	debug, info, version           bool
	action                         string
}

func parseFlags(args []string) (flags, error) {
	var f flags
	fs := flag.NewFlagSet(filepath.Base(args[0]), flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&f.namespace, "namespace", "", "containerd namespace")
	fs.StringVar(&f.id, "id", "", "container (task) id")
	fs.StringVar(&f.address, "address", "", "containerd's gRPC address")
	fs.StringVar(&f.bundle, "bundle", "", "bundle path (delete), default the working directory")
	fs.BoolVar(&f.debug, "debug", false, "debug logging")
	fs.BoolVar(&f.info, "info", false, "print runtime info (protobuf) and exit")
	fs.BoolVar(&f.version, "version", false, "print the version and exit")
	fs.BoolVar(&f.version, "v", false, "print the version and exit")
	// Accepted for compatibility, not used.
	fs.String("publish-binary", "", "")
	fs.String("socket", "", "")
	fs.String("debug-socket", "", "")
	if err := fs.Parse(args[1:]); err != nil {
		return f, err
	}
	f.action = fs.Arg(0)
	return f, nil
}

// Main runs the shim with the process's arguments and returns its exit code.
func Main(args []string) int {
	f, err := parseFlags(args)
	if err == nil {
		err = run(f)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "containerd-shim-berth-v2: %v\n", err)
		return 1
	}
	return 0
}

func run(f flags) error {
	switch {
	case f.version:
		fmt.Printf("containerd-shim-berth-v2 %s (%s)\n", Version, runtime.Version())
		return nil
	case f.info:
		return printInfo()
	}
	if f.action == "spare" {
		return spare(f)
	}
	if f.namespace == "" || f.id == "" {
		return errors.New("-namespace and -id are required")
	}
	switch f.action {
	case "start":
		return start(f)
	case "delete":
		return deleteAction(f)
	case "serve":
		return serve(f)
	default:
		return fmt.Errorf("unknown action %q", f.action)
	}
}

func printInfo() error {
	_, _ = io.Copy(io.Discard, io.LimitReader(os.Stdin, 1<<20))
	_, err := os.Stdout.Write(tw.Marshal(&tw.RuntimeInfo{
		Name:    RuntimeName,
		Version: &tw.RuntimeVersion{Version: Version},
	}))
	return err
}

// socketPath is the shim's socket: a hash of containerd's address, the
// namespace and the id under the socket dir, so the path stays well below
// the 108-byte limit. (FNV-128a, not sha256 as containerd's shims: a name
// needs no cryptographic hash, and crypto/sha256 links the FIPS module's
// packages into every shim.)
func socketPath(address, ns, id string) string {
	dir := os.Getenv(SocketDirEnv)
	if dir == "" {
		dir = DefaultSocketDir
	}
	h := fnv.New128a()
	h.Write([]byte(filepath.Join(address, ns, id)))
	return filepath.Join(dir, fmt.Sprintf("%x", h.Sum(nil)))
}

// start is containerd's "start" action, run in the bundle directory.
func start(f flags) (err error) {
	input, _ := io.ReadAll(io.LimitReader(os.Stdin, 10<<20))
	var params tw.BootstrapParams
	_ = tw.Unmarshal(input, &params) // older containerd sends nothing
	ttrpcAddress := params.ContainerdTtrpcAddress
	if ttrpcAddress == "" {
		ttrpcAddress = os.Getenv("TTRPC_ADDRESS")
	}
	bundle, err := os.Getwd()
	if err != nil {
		return err
	}
	path := socketPath(f.address, f.namespace, f.id)
	if len(path) >= 108 {
		return fmt.Errorf("socket path %s too long", path)
	}
	address := "unix://" + path
	result := func() error {
		_, err := os.Stdout.Write(tw.Marshal(&tw.BootstrapResult{Version: 3, Address: address, Protocol: "ttrpc"}))
		return err
	}

	if err := os.MkdirAll(filepath.Dir(path), 0o711); err != nil {
		return err
	}
	// The socket is made with plain syscalls: the start process needs no
	// network poller (net.Listen would set one up and read somaxconn).
	sock, err := listenUnix(path)
	if err != nil {
		if !errors.Is(err, unix.EADDRINUSE) {
			return err
		}
		if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
			c.Close()
			return result() // this container's shim is already running
		}
		_ = os.Remove(path)
		if sock, err = listenUnix(path); err != nil {
			return err
		}
	}
	defer unix.Close(sock)
	defer func() {
		if err != nil {
			_ = os.Remove(path)
		}
	}()

	// The runtime reads the first of duplicate variables: drop the ones
	// set here (containerd sets GOMAXPROCS=2).
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if k != "TTRPC_ADDRESS" && k != "GOMAXPROCS" && k != "GODEBUG" {
			env = append(env, kv)
		}
	}
	env = append(env, "TTRPC_ADDRESS="+ttrpcAddress,
		// Both must be set before the runtime starts, hence the
		// environment. One P: a shim does little at a time, and a P
		// set up at start costs memory even when it is reduced later
		// (measured: 170 kB per process). No memory profiling: its
		// sampled stacks and bucket table cost a shim more than its
		// own heap.
		"GOMAXPROCS=1",
		"GODEBUG="+strings.TrimPrefix(os.Getenv("GODEBUG")+",memprofilerate=0", ","))
	if claimSpare(&claim{
		namespace: f.namespace, id: f.id, address: f.address, ttrpcAddress: ttrpcAddress,
		bundle: bundle, debug: f.debug, exe: exeID(), env: envID(env),
	}, sock) {
		// The spare writes the bundle's files itself, and it has the
		// OOM score its spawner had: as a shim's.
		return result()
	}
	pid, err := forkServe(f, bundle, env, sock)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			_ = unix.Kill(pid, unix.SIGKILL)
		}
	}()
	adjustOOMScore(pid)
	if err := writeShimFiles(bundle, pid, address); err != nil {
		return err
	}
	return result()
}

// writeShimFiles writes the shim's pid and its socket's address in the
// bundle (read by `delete`, by containerd before 1.7's bootstrap.json, and
// by whoever looks for the container's shim).
func writeShimFiles(bundle string, pid int, address string) error {
	if err := os.WriteFile(filepath.Join(bundle, shimPidFile), []byte(strconv.Itoa(pid)), 0o600); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(bundle, "address"), []byte(address), 0o600)
}

// forkServe starts the container's long-lived shim, listening on sock.
func forkServe(f flags, bundle string, env []string, sock int) (int, error) {
	self, err := os.Executable()
	if err != nil {
		return 0, err
	}
	args := []string{"-namespace", f.namespace, "-id", f.id, "-address", f.address}
	if f.debug {
		args = append(args, "-debug")
	}
	// No stdio: containerd waits for the start process's output to close,
	// so the long-lived shim must not inherit it. syscall.ForkExec rather
	// than os/exec, which would open /dev/null three times and fork a
	// probe child to check pidfd support first (the start process is on
	// the path of every task create).
	null, err := unix.Open(os.DevNull, unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return 0, err
	}
	defer unix.Close(null)
	return syscall.ForkExec(self, append([]string{self}, append(args, "serve")...), &syscall.ProcAttr{
		Dir:   bundle,
		Env:   env,
		Files: []uintptr{uintptr(null), uintptr(null), uintptr(null), uintptr(sock)},
		Sys:   &syscall.SysProcAttr{Setpgid: true},
	})
}

// listenUnix returns a listening unix socket bound to path.
func listenUnix(path string) (int, error) {
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, err
	}
	if err := unix.Bind(fd, &unix.SockaddrUnix{Name: path}); err != nil {
		unix.Close(fd)
		return -1, err
	}
	// The kernel caps the backlog at net.core.somaxconn.
	if err := unix.Listen(fd, 1<<16-1); err != nil {
		unix.Close(fd)
		_ = os.Remove(path)
		return -1, err
	}
	return fd, nil
}

// adjustOOMScore makes the shim a slightly better OOM victim than containerd
// (as containerd's shims do), never a worse one than the containers.
func adjustOOMScore(pid int) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/oom_score_adj", os.Getppid()))
	if err != nil {
		return
	}
	score, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return
	}
	score = min(score+1, 1000)
	_ = os.WriteFile(fmt.Sprintf("/proc/%d/oom_score_adj", pid), []byte(strconv.Itoa(score)), 0)
}

// deleteAction is containerd's "delete" action: it runs after every task
// teardown and after a shim died, so it is idempotent and only best-effort
// cleans up: the runc container (forced), the rootfs mount and the socket.
func deleteAction(f flags) error {
	bundle := f.bundle
	if bundle == "" {
		var err error
		if bundle, err = os.Getwd(); err != nil {
			return err
		}
	}
	ctx := context.Background()
	rc := newRunc(readRuntimeOptions(bundle), f.namespace, bundle)
	// containerd runs this action after every shim disconnects, a shim
	// that ended normally too, and a task's removal waits for it: runc
	// runs only when it still has the container (its state dir), which is
	// only after a shim died.
	if _, err := os.Stat(filepath.Join(rc.Root, f.id)); !errors.Is(err, os.ErrNotExist) {
		if err := rc.Delete(ctx, f.id, &runc.DeleteOpts{Force: true}); err != nil && !strings.Contains(err.Error(), "does not exist") {
			fmt.Fprintf(os.Stderr, "runc delete %s: %v\n", f.id, err)
		}
	}
	unmountAll(filepath.Join(bundle, "rootfs"))
	pid, _ := runc.ReadPidFile(filepath.Join(bundle, initPidFile))
	if b, err := os.ReadFile(filepath.Join(bundle, "address")); err == nil {
		_ = os.Remove(strings.TrimPrefix(strings.TrimSpace(string(b)), "unix://"))
	}
	_ = os.Remove(socketPath(f.address, f.namespace, f.id))
	_, err := os.Stdout.Write(tw.Marshal(&tw.DeleteResponse{
		Pid:        uint32(pid),
		ExitStatus: 128 + uint32(unix.SIGKILL),
		ExitedAt:   time.Now(),
	}))
	return err
}

// serve is the long-lived shim: one per container, serving the task API on
// the socket inherited as fd 3 until the container is deleted and
// containerd calls Shutdown.
func serve(f flags) error {
	// One P: a shim does little at a time (blocking syscalls still get
	// their own threads), and each P costs memory (its caches). containerd
	// sets GOMAXPROCS=2 in the shim's environment; this overrides it.
	runtime.GOMAXPROCS(1)
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("become subreaper: %w", err)
	}
	bundle, err := os.Getwd()
	if err != nil {
		return err
	}
	sock := os.NewFile(3, "socket")
	l, err := net.FileListener(sock)
	sock.Close()
	if err != nil {
		return fmt.Errorf("socket from containerd-shim start: %w", err)
	}
	// The connection to containerd that tells an orphan when containerd
	// is gone (watchOrphan); none is no reason not to serve.
	cd, _ := net.Dial("unix", strings.TrimPrefix(os.Getenv("TTRPC_ADDRESS"), "unix://"))
	return serveOn(f, bundle, l, cd)
}

// serveOn serves the container's task API on l until the container is
// deleted and containerd calls Shutdown. The process is a child subreaper
// whose working directory is the bundle. cd, when not nil, is a connection
// to containerd's ttrpc socket, held until the task is created (see
// watchOrphan).
func serveOn(f flags, bundle string, l net.Listener, cd net.Conn) error {
	openLog(filepath.Join(bundle, "log"))
	debugLog.Store(f.debug)
	if fd := int(logFD.Load()) - 1; fd >= 0 {
		// A panic's trace goes to stderr: let it reach containerd's log.
		_ = unix.Dup2(fd, 2)
	}

	path := l.Addr().String()
	srv := ttrpcwire.NewServer()
	pub := newPublisher(os.Getenv("TTRPC_ADDRESS"), f.namespace)
	// The next spare: a moment after the task was created, or when the
	// shim ends before that (a short-lived container: stopping the timer
	// in time means it never fires).
	var spawnTimer atomic.Pointer[time.Timer]
	exit := func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		pub.flush(ctx) // the events first: containerd and berthd wait for them
		_ = os.Remove(path)
		if t := spawnTimer.Load(); t != nil && t.Stop() {
			spawnSpare(f)
		}
		_ = srv.Shutdown(ctx)
		os.Exit(0)
	}
	svc, err := newService(f.namespace, f.id, bundle, pub, exit)
	if err != nil {
		return err
	}
	taskCreated := make(chan struct{})
	svc.created = func() {
		close(taskCreated)
		spawnTimer.Store(time.AfterFunc(spareDelay, func() { spawnSpare(f) }))
	}
	go watchOrphan(svc, path, cd, taskCreated)
	// Every wait on a child goes through the shim's reaper, runc's too.
	runc.Monitor = svc.reaper
	go svc.reaper.run()
	register(srv, svc)
	if err := srv.Serve(context.Background(), l); err != nil && !errors.Is(err, ttrpcwire.ErrServerClosed) {
		return err
	}
	select {} // exit() ends the process
}

// orphanTimeout bounds how long a shim waits for its task to be created.
// containerd creates it right after the shim's start; a minute is far
// beyond what the slowest machine takes.
const orphanTimeout = time.Minute

// watchOrphan ends the shim if it becomes an orphan: a shim whose task
// containerd will never create. containerd runs the shim's `start` under
// the context of the client's task create, and when that client goes away
// (berthd killed in the middle of a start) it kills `start` and forgets the
// task, whether or not the shim (a spare claimed, or a `serve` forked) is
// up already. Nothing would end that shim: it would serve its socket for
// good (TestLifecycleStress found them, docs/reliability.md). So, until its
// task is created, a shim ends when containerd goes away (cd reads EOF: the
// containerd it was started for is gone, and a restarted one knows nothing
// of a task never created) or after orphanTimeout. A later start of the
// same container that finds the shim still there connects to it and
// creates the task (start: "already running"), which ends the watch.
func watchOrphan(svc *Service, socket string, cd net.Conn, created <-chan struct{}) {
	gone := make(chan struct{})
	if cd != nil {
		go func() {
			defer close(gone)
			var b [64]byte
			for {
				if _, err := cd.Read(b[:]); err != nil {
					return
				}
			}
		}()
	}
	t := time.NewTimer(orphanTimeout)
	defer t.Stop()
	for {
		select {
		case <-created:
		case <-gone:
			gone = nil
			if svc.exitIfNoTask(socket) {
				return
			}
			// A task is being created: created follows.
			continue
		case <-t.C:
			if svc.exitIfNoTask(socket) {
				return
			}
		}
		break
	}
	if cd != nil {
		cd.Close()
	}
}
