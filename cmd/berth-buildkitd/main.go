// Command berth-buildkitd is berth's builder: BuildKit's solver with its
// containerd worker on berth's containerd, berth's namespace and the
// `berth` snapshotter, so a built image lands in berth's image store,
// unpacked. berthd starts it at the first build and stops it when idle
// (engine/build); berthd itself links no BuildKit.
//
// It serves three unix sockets in --state (docs/build.md):
//
//   - control.sock: BuildKit's own gRPC control API (moby.buildkit.v1.Control
//     and friends), which buildctl, buildx's remote driver and the Docker
//     API's /grpc splice speak;
//   - session.sock: BuildKit sessions. A client writes one line, a JSON
//     object of the session's HTTP headers (X-Docker-Expose-Session-*),
//     then speaks HTTP/2 on the same connection, as after the 101 of
//     Docker's POST /session;
//   - build.sock: berth's own small HTTP API, which berthd's build service
//     calls: POST /build (a context tar in, progress events out), GET /du,
//     POST /prune.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"sync"
	"syscall"
	"time"

	"github.com/containerd/log"
	"github.com/gofrs/flock"
	"github.com/moby/buildkit/util/bklog"
	"github.com/sirupsen/logrus"
	"google.golang.org/grpc"
)

var version = "dev"

type options struct {
	root, state string
	containerd  string
	namespace   string
	snapshotter string
	runtime     string
	network     string
	cniConfig   string
	cniBinDir   string
	gcMaxUsed   int64
	debug       bool
}

func main() {
	var o options
	flag.StringVar(&o.root, "root", "/var/lib/berth/buildkit", "BuildKit's state: cache and history databases, worker metadata")
	flag.StringVar(&o.state, "state", "/run/berth/buildkit", "directory of the sockets (control.sock, session.sock, build.sock)")
	flag.StringVar(&o.containerd, "containerd", "/run/berth/containerd/containerd.sock", "containerd's socket")
	flag.StringVar(&o.namespace, "namespace", "berth", "containerd namespace of the images and build steps")
	flag.StringVar(&o.snapshotter, "snapshotter", "berth", "containerd snapshotter")
	flag.StringVar(&o.runtime, "runtime", "io.containerd.runc.v2", "containerd runtime of the build steps")
	flag.StringVar(&o.network, "network", "host", "network of RUN steps by default: host, or cni (a network namespace per step, on --cni-config)")
	flag.StringVar(&o.cniConfig, "cni-config", "", "CNI conflist of RUN steps with --network cni (berthd writes one for its default bridge)")
	flag.StringVar(&o.cniBinDir, "cni-bin-dir", "", "directory of the CNI plugins with --network cni")
	flag.Int64Var(&o.gcMaxUsed, "gc-max-used", 0, "bytes of build cache kept by the automatic garbage collection (0: BuildKit's default, 10% of the disk capped at 100 GB)")
	flag.BoolVar(&o.debug, "debug", false, "debug logging")
	showVersion := flag.Bool("version", false, "print the version and exit")
	flag.Parse()
	if *showVersion {
		fmt.Println("berth-buildkitd", version)
		return
	}
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "berth-buildkitd:", err)
		os.Exit(1)
	}
}

func run(o options) error {
	logrus.SetFormatter(&logrus.TextFormatter{FullTimestamp: true})
	if o.debug {
		logrus.SetLevel(logrus.DebugLevel)
		_ = log.SetLevel("debug")
	}
	bklog.L = logrus.NewEntry(logrus.StandardLogger())
	slog.SetDefault(slog.New(slog.NewTextHandler(os.Stderr, nil)))

	ctx, cancel := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer cancel()

	for _, d := range []string{o.root, o.state} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return err
		}
	}
	lock := flock.New(filepath.Join(o.root, "berth-buildkitd.lock"))
	locked, err := lock.TryLock()
	if err != nil {
		return fmt.Errorf("lock %s: %w", lock.Path(), err)
	}
	if !locked {
		return fmt.Errorf("another berth-buildkitd runs on %s", o.root)
	}
	defer func() { _ = lock.Unlock() }()

	if err := startUnsynced(o); err != nil {
		return err
	}
	b, err := newBuilder(ctx, o)
	if err != nil {
		return err
	}
	defer func() {
		b.close()
		stopUnsynced(o)
	}()

	controlL, err := listen(filepath.Join(o.state, "control.sock"))
	if err != nil {
		return err
	}
	control := &trackingListener{Listener: controlL, conns: map[net.Conn]struct{}{}}
	session, err := listen(filepath.Join(o.state, "session.sock"))
	if err != nil {
		return err
	}
	// build.sock last: berthd's readiness probe dials it, so the other two
	// answer once it does.
	buildL, err := listen(filepath.Join(o.state, "build.sock"))
	if err != nil {
		return err
	}

	errc := make(chan error, 5)
	go func() { errc <- b.grpc.Serve(control) }()
	go func() { errc <- <-b.idle.exit }()
	go func() { errc <- serveSessions(ctx, session, b) }()
	go func() { errc <- watchContainerd(ctx, o) }()
	api, err := newBuildAPI(ctx, o.root, filepath.Join(o.state, "control.sock"), b.hostGateway)
	if err != nil {
		return err
	}
	defer api.close()
	api.settle = func(ctx context.Context) error { return b.idle.settle(ctx, 3*time.Second, 100*time.Millisecond) }
	hs := &http.Server{Handler: api.handler(), ReadHeaderTimeout: 30 * time.Second}
	go func() { errc <- hs.Serve(buildL) }()
	logrus.Infof("berth-buildkitd %s serving in %s (containerd %s, namespace %s, snapshotter %s)",
		version, o.state, o.containerd, o.namespace, o.snapshotter)

	select {
	case <-ctx.Done():
	case err = <-errc:
	}
	logrus.Info("stopping")
	// A stop that hangs is killed by berthd: say where it hung first.
	watchdog := time.AfterFunc(8*time.Second, func() {
		buf := make([]byte, 1<<20)
		logrus.Warnf("stopping takes long; goroutines:\n%s", buf[:runtime.Stack(buf, true)])
	})
	defer watchdog.Stop()
	shutdown(hs, b.grpc, session, control)
	if err != nil && !errors.Is(err, http.ErrServerClosed) && !errors.Is(err, grpc.ErrServerStopped) {
		return err
	}
	return nil
}

// shutdown stops the servers: running builds are cancelled (a build's
// client sees its stream end), so a stop never waits for a long build.
func shutdown(hs *http.Server, gs *grpc.Server, session net.Listener, control *trackingListener) {
	session.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = hs.Shutdown(ctx)
	done := make(chan struct{})
	go func() { gs.GracefulStop(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		// gRPC's Stop waits for connections still in their handshake (a
		// client that connected and sent nothing yet) until its 120 s
		// connection timeout: close them first.
		control.closeAll()
		gs.Stop()
	}
}

// trackingListener remembers the connections it accepted, so a stop can
// close those gRPC has not taken over yet.
type trackingListener struct {
	net.Listener
	mu    sync.Mutex
	conns map[net.Conn]struct{}
}

func (l *trackingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	tc := &trackedConn{Conn: c, l: l}
	l.mu.Lock()
	l.conns[tc] = struct{}{}
	l.mu.Unlock()
	return tc, nil
}

func (l *trackingListener) closeAll() {
	l.mu.Lock()
	defer l.mu.Unlock()
	for c := range l.conns {
		_ = c.(*trackedConn).Conn.Close()
	}
}

type trackedConn struct {
	net.Conn
	l    *trackingListener
	once sync.Once
}

func (c *trackedConn) Close() error {
	c.once.Do(func() {
		c.l.mu.Lock()
		delete(c.l.conns, c)
		c.l.mu.Unlock()
	})
	return c.Conn.Close()
}

// listen serves a unix socket only root (berthd) can use, replacing a
// leftover of a previous run (the lock file says none runs).
func listen(path string) (net.Listener, error) {
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	l, err := net.Listen("unix", path)
	if err != nil {
		return nil, err
	}
	if err := os.Chmod(path, 0o600); err != nil {
		l.Close()
		return nil, err
	}
	return l, nil
}
