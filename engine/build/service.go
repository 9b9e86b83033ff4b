// Package build is the engine's builder: it runs berth-buildkitd (BuildKit
// on berth's containerd, cmd/berth-buildkitd) on demand under a supervisor,
// stops it after an idle period, and drives builds, disk usage and prune
// through its sockets. It links no BuildKit: berth-buildkitd speaks a small
// HTTP API (build.sock) whose types are pkg/types/build, and the Docker
// API's /grpc and /session hijacks are spliced byte for byte onto its
// control and session sockets (DialControl, DialSession). docs/build.md.
package build

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/berthproject/berth/pkg/api"
	"github.com/berthproject/berth/pkg/supervisor"
	buildtypes "github.com/berthproject/berth/pkg/types/build"
)

// BinaryName is the builder's executable, looked up in berth's bin dirs.
const BinaryName = "berth-buildkitd"

// DefaultIdleTimeout is how long the builder runs with no build before it
// is stopped.
const DefaultIdleTimeout = 5 * time.Minute

// ErrNoBuilder is returned when berth-buildkitd is not installed.
var ErrNoBuilder = errors.New("berth-buildkitd is not installed in berth's bin dirs (make install puts it there): berth cannot build images")

// Options configure the builder.
type Options struct {
	// Binary is berth-buildkitd's absolute path ("" if not installed).
	Binary string
	// Root holds BuildKit's cache and history databases (<root>/buildkit).
	Root string
	// State holds the sockets, pid and log file (<state>/buildkit).
	State string
	// ContainerdAddress, Namespace and Snapshotter are berth's own, so a
	// built image lands in berth's store.
	ContainerdAddress string
	Namespace         string
	Snapshotter       string
	// Runtime runs the build steps: the engine's own (berth's shim), so
	// a RUN step runs as a container does ("": berth-buildkitd's default,
	// containerd's runc shim).
	Runtime string
	// IdleTimeout stops the builder when no build ran for this long
	// (DefaultIdleTimeout if 0; negative: never).
	IdleTimeout time.Duration
	// GCMaxUsed caps the build cache in bytes (0: BuildKit's default, 10%
	// of the disk up to 100 GB).
	GCMaxUsed int64
	// StepNetwork gives the CNI configuration of build steps (berth's
	// default bridge) and the plugin dir; nil, or an error, leaves RUN
	// steps on the host's network.
	StepNetwork func() (conflist []byte, pluginDir string, err error)
	Debug       bool
	Logger      *slog.Logger
}

// Service starts berth-buildkitd when a client needs it and stops it when
// idle. Safe for concurrent use.
type Service struct {
	opts Options
	log  *slog.Logger

	mu     sync.Mutex
	proc   *supervisor.Process
	active int
	idle   *time.Timer
	closed bool
}

// New returns the builder service; nothing runs until the first use.
func New(opts Options) *Service {
	if opts.IdleTimeout == 0 {
		opts.IdleTimeout = DefaultIdleTimeout
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	return &Service{opts: opts, log: opts.Logger.With("component", "build")}
}

// ControlSocket is BuildKit's gRPC control API (moby.buildkit.v1.Control).
func (s *Service) ControlSocket() string { return filepath.Join(s.opts.State, "control.sock") }

// SessionSocket takes BuildKit sessions: a JSON line of headers, then
// HTTP/2 (DialSession).
func (s *Service) SessionSocket() string { return filepath.Join(s.opts.State, "session.sock") }

func (s *Service) buildSocket() string { return filepath.Join(s.opts.State, "build.sock") }

// Available reports whether berth-buildkitd is installed (the Docker
// API advertises BuildKit only then).
func (s *Service) Available() bool { return s.opts.Binary != "" }

// Running reports whether berth-buildkitd runs now.
func (s *Service) Running() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.proc != nil
}

// PID is berth-buildkitd's PID, 0 when it is stopped.
func (s *Service) PID() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc == nil {
		return 0
	}
	return s.proc.PID()
}

// Acquire starts berth-buildkitd if it is not running and keeps it running
// until release is called: a build, or a Docker API /grpc or /session
// connection, holds it. The idle timer starts when the last holder
// releases.
func (s *Service) Acquire(ctx context.Context) (release func(), err error) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil, errors.New("the engine is closing")
	}
	if s.proc == nil {
		if err := s.start(ctx); err != nil {
			s.mu.Unlock()
			return nil, err
		}
	}
	s.active++
	if s.idle != nil {
		s.idle.Stop()
	}
	s.mu.Unlock()
	var once sync.Once
	release = func() { once.Do(s.release) }
	// After a crash the supervisor restarts it: wait for the new one.
	if err := s.waitReady(ctx); err != nil {
		release()
		return nil, err
	}
	return release, nil
}

// waitReady waits until build.sock answers (at once, unless the builder
// is being restarted after a crash).
func (s *Service) waitReady(ctx context.Context) error {
	probe := supervisor.SocketProbe(s.buildSocket())
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	for {
		err := probe(ctx)
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return s.builderError(fmt.Errorf("it does not answer: %w", err))
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func (s *Service) release() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.active--
	if s.active > 0 || s.opts.IdleTimeout < 0 || s.proc == nil {
		return
	}
	if s.idle == nil {
		s.idle = time.AfterFunc(s.opts.IdleTimeout, s.stopIdle)
	} else {
		s.idle.Reset(s.opts.IdleTimeout)
	}
}

// stopIdle stops the builder if nothing acquired it since the timer fired.
func (s *Service) stopIdle() {
	s.mu.Lock()
	if s.active > 0 || s.proc == nil {
		s.mu.Unlock()
		return
	}
	p := s.proc
	s.proc = nil
	// Held across the stop: an Acquire waits for it, then starts anew.
	defer s.mu.Unlock()
	s.log.Info("stopping the idle builder", "idle", s.opts.IdleTimeout.String())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := p.Stop(ctx); err != nil {
		s.log.Warn("stop builder", "error", err)
	}
}

// Close stops berth-buildkitd. Running builds end with an error.
func (s *Service) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	if s.idle != nil {
		s.idle.Stop()
	}
	if s.proc == nil {
		return nil
	}
	p := s.proc
	s.proc = nil
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return p.Stop(ctx)
}

// start runs berth-buildkitd (or adopts the one a previous berthd left);
// s.mu is held.
func (s *Service) start(ctx context.Context) error {
	if s.opts.Binary == "" {
		return ErrNoBuilder
	}
	args := []string{
		"--root", s.opts.Root,
		"--state", s.opts.State,
		"--containerd", s.opts.ContainerdAddress,
		"--namespace", s.opts.Namespace,
		"--snapshotter", s.opts.Snapshotter,
	}
	if s.opts.Runtime != "" {
		args = append(args, "--runtime", s.opts.Runtime)
	}
	if s.opts.GCMaxUsed > 0 {
		args = append(args, "--gc-max-used", strconv.FormatInt(s.opts.GCMaxUsed, 10))
	}
	if s.opts.StepNetwork != nil {
		conf, dir, err := s.opts.StepNetwork()
		if err == nil {
			if err = os.MkdirAll(s.opts.State, 0o700); err == nil {
				path := filepath.Join(s.opts.State, "steps.conflist")
				if err = os.WriteFile(path, conf, 0o600); err == nil {
					args = append(args, "--network", "cni", "--cni-config", path, "--cni-bin-dir", dir)
				}
			}
		}
		if err != nil {
			s.log.Warn("build steps will use the host's network", "err", err)
		}
	}
	if s.opts.Debug {
		args = append(args, "--debug")
	}
	sock := s.buildSocket()
	p, err := supervisor.Start(ctx, supervisor.Spec{
		Name:     BinaryName,
		Path:     s.opts.Binary,
		Args:     args,
		Env:      os.Environ(),
		LogFile:  filepath.Join(s.opts.State, "berth-buildkitd.log"),
		PIDFile:  filepath.Join(s.opts.State, "berth-buildkitd.pid"),
		Identity: s.opts.State,
		Probe:    supervisor.SocketProbe(sock),
		// BuildKit opens its databases before it listens: a first start
		// on a busy machine takes a few seconds.
		ReadyTimeout: 60 * time.Second,
		StopTimeout:  15 * time.Second,
	}, s.log)
	if err != nil {
		return fmt.Errorf("start the builder: %w", err)
	}
	s.proc = p
	return nil
}

// DialControl connects to BuildKit's gRPC control API, starting the
// builder if needed. The builder stays up until the connection is closed.
func (s *Service) DialControl(ctx context.Context) (net.Conn, error) {
	return s.dial(ctx, s.ControlSocket(), nil)
}

// DialSession connects a BuildKit session whose HTTP headers are hdr (the
// X-Docker-Expose-Session-* headers of Docker's POST /session); the
// connection then carries the session's HTTP/2, with the caller's side as
// the gRPC server. The builder stays up until the connection is closed.
func (s *Service) DialSession(ctx context.Context, hdr http.Header) (net.Conn, error) {
	line, err := json.Marshal(map[string][]string(hdr))
	if err != nil {
		return nil, err
	}
	return s.dial(ctx, s.SessionSocket(), append(line, '\n'))
}

func (s *Service) dial(ctx context.Context, path string, preamble []byte) (net.Conn, error) {
	release, err := s.Acquire(ctx)
	if err != nil {
		return nil, err
	}
	var d net.Dialer
	c, err := d.DialContext(ctx, "unix", path)
	if err != nil {
		release()
		return nil, fmt.Errorf("connect to the builder: %w", err)
	}
	if preamble != nil {
		if _, err := c.Write(preamble); err != nil {
			c.Close()
			release()
			return nil, fmt.Errorf("connect to the builder: %w", err)
		}
	}
	return &heldConn{Conn: c, release: release}, nil
}

// heldConn releases the builder when closed.
type heldConn struct {
	net.Conn
	release func()
	once    sync.Once
}

func (c *heldConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}

// httpClient talks to build.sock.
func (s *Service) httpClient() *http.Client {
	return &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", s.buildSocket())
		},
		DisableKeepAlives: true,
	}}
}

// Build builds the Dockerfile in opts with the context read from
// contextTar (a tar, already filtered by .dockerignore). events receives
// the progress, and the exported files' tar chunks when opts.Output is
// set; an error it returns cancels the build. The image lands in berth's
// store under opts.Tags.
func (s *Service) Build(ctx context.Context, opts buildtypes.Options, contextTar io.Reader, events func(buildtypes.Event) error) (*buildtypes.Result, error) {
	if len(opts.Dockerfile) == 0 {
		return nil, errors.New("the Dockerfile is empty")
	}
	release, err := s.Acquire(ctx)
	if err != nil {
		return nil, err
	}
	defer release()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	line, err := json.Marshal(opts)
	if err != nil {
		return nil, err
	}
	body := io.MultiReader(bytes.NewReader(append(line, '\n')), contextTar)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://berth-buildkitd/build", body)
	if err != nil {
		return nil, err
	}
	resp, err := s.httpClient().Do(req)
	if err != nil {
		return nil, s.builderError(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, httpError(resp)
	}
	dec := json.NewDecoder(bufio.NewReaderSize(resp.Body, 64<<10))
	for {
		var ev buildtypes.Event
		if err := dec.Decode(&ev); err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			return nil, s.builderError(fmt.Errorf("the build's stream ended: %w", err))
		}
		switch {
		case ev.Error != "":
			return nil, &Error{Msg: ev.Error}
		case ev.Result != nil:
			return ev.Result, nil
		}
		if err := events(ev); err != nil {
			return nil, err
		}
	}
}

// Error is a build that failed: its message names the step, and the
// Dockerfile's line when BuildKit knows it.
type Error struct{ Msg string }

func (e *Error) Error() string { return e.Msg }

// builderError tells that the builder went away during a call.
func (s *Service) builderError(err error) error {
	return fmt.Errorf("the builder failed (berth-buildkitd, log %s): %w", filepath.Join(s.opts.State, "berth-buildkitd.log"), err)
}

func httpError(resp *http.Response) error {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	return fmt.Errorf("builder: %s", bytes.TrimSpace(b))
}

// hasCache reports whether a builder ever ran on this root (its cache
// database exists): disk usage and prune of a root without it need not
// start one.
func (s *Service) hasCache() bool {
	_, err := os.Stat(filepath.Join(s.opts.Root, "cache.db"))
	return err == nil
}

// DiskUsage lists the build cache's records.
func (s *Service) DiskUsage(ctx context.Context) ([]buildtypes.CacheRecord, error) {
	if s.opts.Binary == "" || !s.hasCache() {
		return nil, nil
	}
	var recs []buildtypes.CacheRecord
	err := s.call(ctx, http.MethodGet, "/du", nil, &recs)
	return recs, err
}

// Prune removes build cache records.
func (s *Service) Prune(ctx context.Context, opts buildtypes.PruneOptions) (*buildtypes.PruneReport, error) {
	if s.opts.Binary == "" || !s.hasCache() {
		return &buildtypes.PruneReport{}, nil
	}
	var rep buildtypes.PruneReport
	if err := s.call(ctx, http.MethodPost, "/prune", opts, &rep); err != nil {
		return nil, err
	}
	return &rep, nil
}

func (s *Service) call(ctx context.Context, method, path string, in, out any) error {
	release, err := s.Acquire(ctx)
	if err != nil {
		return err
	}
	defer release()
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://berth-buildkitd"+path, body)
	if err != nil {
		return err
	}
	resp, err := s.httpClient().Do(req)
	if err != nil {
		return s.builderError(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return httpError(resp)
	}
	return json.NewDecoder(resp.Body).Decode(out)
}

// AdoptLeftover adopts a berth-buildkitd that a previous berthd left
// running (it was killed), in the background, so that its idle timer
// stops it.
func (s *Service) AdoptLeftover(ctx context.Context) {
	if _, err := os.Stat(filepath.Join(s.opts.State, "berth-buildkitd.pid")); err != nil || s.opts.Binary == "" {
		return
	}
	go func() {
		release, err := s.Acquire(ctx)
		if err != nil {
			s.log.Warn("adopt the builder left running", "error", err)
			return
		}
		release()
	}()
}

var _ api.Builds = (*Service)(nil)
