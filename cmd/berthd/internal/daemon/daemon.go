// Package daemon is berthd's life cycle: it prepares the directories, runs
// (or adopts) berth-snapshotter and containerd under supervision, builds the
// services served on the API socket, and shuts everything down in order.
// The services themselves (engine, API) are wired by cmd/berthd.
package daemon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"
	"google.golang.org/grpc"

	"github.com/berthproject/berth/cmd/berthd/internal/config"
	"github.com/berthproject/berth/pkg/supervisor"
)

// Env is what the services are built from once containerd answers.
type Env struct {
	Config *config.Config
	Logger *slog.Logger
	// ContainerdAddress is the socket of the containerd to use (embedded
	// or external).
	ContainerdAddress string
	// ContainerdVersion is the version that containerd reported.
	ContainerdVersion string
	// Embedded is true when berthd supervises that containerd.
	Embedded bool
	// OnContainerdRestart registers fn to be called each time the
	// supervised containerd was restarted and answers again (e.g. to make a
	// client reconnect now rather than after its back-off).
	OnContainerdRestart func(fn func())
}

// RegisterFunc builds berthd's services and registers them on srv. The
// returned Closer is closed at shutdown, after srv has stopped.
type RegisterFunc func(ctx context.Context, env Env, srv *grpc.Server) (io.Closer, error)

// Options of Run.
type Options struct {
	Config   *config.Config
	Logger   *slog.Logger
	Register RegisterFunc
	// ServerOptions are passed to grpc.NewServer.
	ServerOptions []grpc.ServerOption
	// ShutdownTimeout bounds the graceful stop of the API server (default 10s).
	ShutdownTimeout time.Duration
	// Ready, if set, is called once the API socket accepts connections.
	Ready func()
}

// Run runs berthd until ctx is cancelled (SIGTERM, SIGINT), then stops the
// API server, closes the services and stops the supervised daemons.
// Containers keep running: their shims do not depend on berthd or
// containerd.
func Run(ctx context.Context, o Options) (err error) {
	cfg, log := o.Config, o.Logger
	if log == nil {
		log = slog.Default()
	}
	if o.ShutdownTimeout == 0 {
		o.ShutdownTimeout = 10 * time.Second
	}
	if err := cfg.Validate(); err != nil {
		return err
	}
	tuneGC()
	if cfg.Snapshotter == config.SnapshotterBerth && cfg.Embedded() && !cfg.EnableBerthSnapshotter {
		return errors.New(`snapshotter "berth" needs enable_berth_snapshotter = true`)
	}
	if err := makeDirs(cfg); err != nil {
		return err
	}
	unlock, err := lock(cfg.LockFile())
	if err != nil {
		return err
	}
	defer unlock()
	if err := claimSocket(cfg.Socket); err != nil {
		return err
	}
	if err := os.WriteFile(cfg.PIDFile(), []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644); err != nil {
		return err
	}
	defer os.Remove(cfg.PIDFile())

	// Children, in dependency order; stopped in reverse.
	var children []*supervisor.Process
	defer func() {
		for i := len(children) - 1; i >= 0; i-- {
			sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			if serr := children[i].Stop(sctx); serr != nil {
				log.Error("stop", "error", serr)
			}
			cancel()
		}
	}()
	var restartHooks hooks
	env := Env{Config: cfg, Logger: log, ContainerdAddress: cfg.ContainerdEndpoint(), Embedded: cfg.Embedded(),
		OnContainerdRestart: restartHooks.add}
	if cfg.Embedded() && cfg.EnableBerthSnapshotter {
		spec, err := snapshotterSpec(cfg)
		if err != nil {
			return err
		}
		p, err := supervisor.Start(ctx, spec, log)
		if err != nil {
			return err
		}
		children = append(children, p)
	}
	if cfg.Embedded() {
		spec, err := containerdSpec(cfg, log)
		if err != nil {
			return err
		}
		spec.OnRestart = func(pid int) {
			log.Warn("containerd was restarted", "pid", pid)
			restartHooks.run()
		}
		p, err := supervisor.Start(ctx, spec, log)
		if err != nil {
			return err
		}
		children = append(children, p)
	}
	if env.ContainerdVersion, err = waitExternal(ctx, env.ContainerdAddress); err != nil {
		return err
	}
	log.Info("containerd ready", "address", env.ContainerdAddress, "version", env.ContainerdVersion,
		"embedded", env.Embedded)

	srv := grpc.NewServer(append(o.ServerOptions, idle.serverOptions()...)...)
	var services io.Closer = nopCloser{}
	if o.Register != nil {
		if services, err = o.Register(ctx, env, srv); err != nil {
			return fmt.Errorf("start services: %w", err)
		}
	}
	defer func() {
		if cerr := services.Close(); cerr != nil {
			log.Error("close services", "error", cerr)
		}
	}()

	// Every listener is open before any is served: a client that sees the
	// unix socket answer may go on to the TCP address at once.
	var tl net.Listener
	if cfg.TCPAddress != "" {
		if tl, err = listenTLS(cfg); err != nil {
			return err
		}
	}
	l, err := listen(cfg.Socket, cfg.SocketGroup, log)
	if err != nil {
		if tl != nil {
			tl.Close()
		}
		return err
	}
	defer os.Remove(cfg.Socket)
	served := make(chan error, 2)
	if tl != nil {
		go func() { served <- srv.Serve(tl) }()
		log.Info("API on TCP with mutual TLS", "address", tl.Addr().String())
	}
	go func() { served <- srv.Serve(l) }()
	log.Info("berthd ready", "socket", cfg.Socket, "root", cfg.Root, "state", cfg.State, "namespace", cfg.Namespace)
	if o.Ready != nil {
		o.Ready()
	}

	select {
	case err := <-served:
		return fmt.Errorf("API server: %w", err)
	case <-ctx.Done():
	}
	log.Info("shutting down")
	stopped := make(chan struct{})
	go func() { srv.GracefulStop(); close(stopped) }()
	select {
	case <-stopped:
	case <-time.After(o.ShutdownTimeout):
		log.Warn("API calls still running after the shutdown timeout; closing them")
		srv.Stop()
		<-stopped
	}
	return nil
}

// hooks is a list of callbacks, added and run concurrently.
type hooks struct {
	mu  sync.Mutex
	fns []func()
}

func (h *hooks) add(fn func()) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.fns = append(h.fns, fn)
}

func (h *hooks) run() {
	h.mu.Lock()
	fns := append([]func(){}, h.fns...)
	h.mu.Unlock()
	for _, fn := range fns {
		fn()
	}
}

type nopCloser struct{}

func (nopCloser) Close() error { return nil }

func makeDirs(cfg *config.Config) error {
	for _, d := range []struct {
		path string
		mode os.FileMode
	}{
		{cfg.Root, 0o711},
		{cfg.State, 0o711},
		{cfg.ShimSocketDir(), 0o711},
		{cfg.RuncRoot(), 0o711},
		{filepath.Join(cfg.Root, "containers"), 0o711},
	} {
		if err := os.MkdirAll(d.path, d.mode); err != nil {
			return err
		}
	}
	if cfg.Embedded() {
		if err := os.MkdirAll(cfg.ContainerdState(), 0o711); err != nil {
			return err
		}
	}
	return os.MkdirAll(filepath.Dir(cfg.Socket), 0o711)
}

// LockState takes the lock of cfg's state dir, as a running berthd holds
// it, for tools that must not run beside berthd (berthd --uninstall).
func LockState(cfg *config.Config) (unlock func(), err error) {
	if err := os.MkdirAll(cfg.State, 0o711); err != nil {
		return nil, err
	}
	return lock(cfg.LockFile())
}

// lock takes the state dir's lock, held for berthd's lifetime (released by
// the kernel if berthd dies).
func lock(path string) (func(), error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			pid, _ := os.ReadFile(filepath.Join(filepath.Dir(path), "berthd.pid"))
			return nil, fmt.Errorf("another berthd (pid %s) is running with state dir %s",
				strings.TrimSpace(string(pid)), filepath.Dir(path))
		}
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	return func() { f.Close() }, nil
}

// claimSocket refuses a socket another berthd answers on and removes a
// stale one.
func claimSocket(path string) error {
	if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
		c.Close()
		return fmt.Errorf("another berthd answers on %s", path)
	}
	return removeIfExists(path)
}

// listen opens the API socket with mode 0660, group socketGroup if that
// group exists.
func listen(path, socketGroup string, log *slog.Logger) (net.Listener, error) {
	// Created with the umask's mode, which grants write (connect) to the
	// owner only under the usual umask 022, until the chmod below.
	l, err := net.Listen("unix", path)
	if err != nil {
		return nil, err
	}
	gid := -1
	if socketGroup != "" {
		if g, err := user.LookupGroup(socketGroup); err == nil {
			gid, _ = strconv.Atoi(g.Gid)
		} else {
			log.Debug("socket group not found; socket stays root-only", "group", socketGroup)
		}
	}
	if gid >= 0 {
		if err := os.Chown(path, 0, gid); err != nil {
			l.Close()
			return nil, fmt.Errorf("chown %s: %w", path, err)
		}
	}
	if err := os.Chmod(path, 0o660); err != nil {
		l.Close()
		return nil, err
	}
	return l, nil
}
