package container

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"sync"

	tasktypes "github.com/containerd/containerd/api/types/task"
	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/pkg/cio"
	"github.com/containerd/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/berthproject/berth/pkg/fsarchive"
	containertypes "github.com/berthproject/berth/pkg/types/container"
)

// execRecord is an exec process from ExecCreate until the container goes.
type execRecord struct {
	id          string
	containerID string
	cfg         containertypes.ExecConfig

	mu       sync.Mutex
	started  bool
	running  bool
	exitCode int
	pid      int
	proc     client.Process
}

// ExecCreate prepares a process to run in a running container.
func (s *Service) ExecCreate(ctx context.Context, ref string, cfg containertypes.ExecConfig) (string, error) {
	r, err := s.lookup(ref)
	if err != nil {
		return "", err
	}
	if len(cfg.Cmd) == 0 {
		return "", fmt.Errorf("no command given to exec: %w", errdefs.ErrInvalidArgument)
	}
	proc, err := s.taskState(s.ctx(ctx), r.id)
	switch {
	case err == nil && (proc.Status == tasktypes.Status_PAUSED || proc.Status == tasktypes.Status_PAUSING):
		return "", fmt.Errorf("container %s is paused, unpause the container before exec: %w", r.name, errdefs.ErrConflict)
	case err != nil || proc.Status != tasktypes.Status_RUNNING:
		return "", fmt.Errorf("container %s is not running: %w", r.name, errdefs.ErrConflict)
	}
	if cfg.User != "" {
		// As dockerd: an unknown user fails the create, not the start.
		if _, err := resolveUser(int(proc.Pid), cfg.User); err != nil {
			return "", err
		}
	}
	e := &execRecord{id: newID(), containerID: r.id, cfg: cfg}
	s.mu.Lock()
	s.execs[e.id] = e
	s.mu.Unlock()
	return e.id, nil
}

func (s *Service) exec(id string) (*execRecord, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.execs[id]
	if !ok {
		return nil, fmt.Errorf("No such exec instance: %s: %w", id, errdefs.ErrNotFound)
	}
	return e, nil
}

// ExecStart runs an exec process with the caller's streams and returns its
// exit code (at once with 0 when the exec is detached).
func (s *Service) ExecStart(ctx context.Context, execID string, st containertypes.Streams) (int, error) {
	e, err := s.exec(execID)
	if err != nil {
		return 0, err
	}
	e.mu.Lock()
	if e.started {
		e.mu.Unlock()
		return 0, fmt.Errorf("exec %s has already run: %w", execID[:12], errdefs.ErrConflict)
	}
	e.started = true
	e.mu.Unlock()
	ctx = s.ctx(ctx)

	c, err := s.client.LoadContainer(ctx, e.containerID)
	if err != nil {
		return 0, err
	}
	spec, err := c.Spec(ctx)
	if err != nil {
		return 0, err
	}
	task, err := c.Task(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("container is not running: %w", errdefs.ErrConflict)
	}
	pspec := *spec.Process
	pspec.Args = e.cfg.Cmd
	pspec.Terminal = e.cfg.Tty
	pspec.ConsoleSize = nil
	if sz := e.cfg.ConsoleSize; e.cfg.Tty && sz.Width > 0 && sz.Height > 0 {
		pspec.ConsoleSize = &specs.Box{Width: uint(sz.Width), Height: uint(sz.Height)}
	}
	pspec.Env = mergeEnv(spec.Process.Env, e.cfg.Env)
	if e.cfg.WorkingDir != "" {
		pspec.Cwd = e.cfg.WorkingDir
	}
	if e.cfg.User != "" {
		u, err := resolveUser(int(task.Pid()), e.cfg.User)
		if err != nil {
			return 0, err
		}
		pspec.User = u
	}

	var creator cio.Creator
	var stdin *stdinCloser
	switch {
	case e.cfg.Detach && e.cfg.Tty:
		// A terminal still, its output read and dropped (resize works).
		creator = cio.NewCreator(cio.WithStreams(nil, io.Discard, nil), cio.WithTerminal,
			cio.WithFIFODir(filepath.Join(s.opts.State, "fifo")))
	case e.cfg.Detach:
		creator = cio.NullIO
	default:
		in := st.Stdin
		if !e.cfg.AttachStdin {
			in = nil
		}
		if in != nil {
			stdin = &stdinCloser{r: in}
			in = stdin
		}
		opts := []cio.Opt{cio.WithStreams(in, orDiscard(st.Stdout, e.cfg.AttachStdout), orDiscard(st.Stderr, e.cfg.AttachStderr)),
			cio.WithFIFODir(filepath.Join(s.opts.State, "fifo"))}
		if e.cfg.Tty {
			opts = append(opts, cio.WithTerminal)
		}
		creator = cio.NewCreator(opts...)
	}
	proc, err := task.Exec(ctx, e.id, &pspec, creator)
	if err != nil {
		return 0, e.failed(err)
	}
	waitCtx := ctx
	if e.cfg.Detach {
		// A detached process outlives the request that started it.
		waitCtx = context.WithoutCancel(ctx)
	}
	statusC, err := proc.Wait(waitCtx)
	if err != nil {
		_, _ = proc.Delete(context.WithoutCancel(ctx)) // best effort: the process is gone with its task
		return 0, err
	}
	if err := proc.Start(ctx); err != nil {
		_, _ = proc.Delete(context.WithoutCancel(ctx)) // best effort: the process is gone with its task
		return 0, e.failed(err)
	}
	e.mu.Lock()
	e.running, e.pid, e.proc = true, int(proc.Pid()), proc
	e.mu.Unlock()
	if stdin != nil {
		// Once started: the shim has no stdin to close before.
		stdin.setCloseIO(func() { _ = proc.CloseIO(context.WithoutCancel(ctx), client.WithStdinCloser) })
	}
	r := s.recordByID(e.containerID)
	if r != nil {
		s.publish(r, "exec_start: "+strings.Join(e.cfg.Cmd, " "), map[string]string{"execID": e.id})
	}
	if st.Resize != nil {
		go func() {
			for size := range st.Resize {
				_ = proc.Resize(ctx, uint32(size.Width), uint32(size.Height))
			}
		}()
	}
	wait := func() int {
		status := <-statusC
		code, _, _ := status.Result()
		if pio := proc.IO(); pio != nil {
			pio.Wait()
		}
		_, _ = proc.Delete(context.WithoutCancel(ctx)) // best effort: the process is gone with its task
		e.mu.Lock()
		e.running, e.exitCode = false, int(code)
		e.mu.Unlock()
		if r != nil {
			s.publish(r, "exec_die", map[string]string{"execID": e.id, "exitCode": itoa(int(code))})
		}
		return int(code)
	}
	if e.cfg.Detach {
		go wait()
		return 0, nil
	}
	return wait(), nil
}

// failed records an exec's start failure: a command that cannot be found
// or run reads as exited with 127 or 126 in ExecInspect, as under dockerd.
func (e *execRecord) failed(err error) error {
	err = startError(err)
	var se *containertypes.StartError
	if errors.As(err, &se) {
		e.mu.Lock()
		e.exitCode = se.ExitCode
		e.mu.Unlock()
	}
	return err
}

func orDiscard(w io.Writer, attached bool) io.Writer {
	if w == nil || !attached {
		return io.Discard
	}
	return w
}

// stdinCloser closes the process's stdin once the caller's stdin ends,
// also when it ended before the process existed (a client that half-closes
// at once).
type stdinCloser struct {
	r    io.Reader
	once sync.Once

	mu      sync.Mutex
	eof     bool
	closeIO func()
}

func (s *stdinCloser) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	if err == io.EOF {
		s.mu.Lock()
		s.eof = true
		f := s.closeIO
		s.mu.Unlock()
		if f != nil {
			s.once.Do(f)
		}
	}
	return n, err
}

// setCloseIO gives the way to close the process's stdin, and uses it at
// once if the caller's stdin has already ended.
func (s *stdinCloser) setCloseIO(f func()) {
	s.mu.Lock()
	s.closeIO = f
	eof := s.eof
	s.mu.Unlock()
	if eof {
		s.once.Do(f)
	}
}

// ExecResize changes an exec process's terminal size.
func (s *Service) ExecResize(ctx context.Context, execID string, size containertypes.WindowSize) error {
	e, err := s.exec(execID)
	if err != nil {
		return err
	}
	e.mu.Lock()
	proc, running := e.proc, e.running
	e.mu.Unlock()
	notRunning := fmt.Errorf("exec %s is not running: %w", execID[:12], errdefs.ErrConflict)
	if proc == nil || !running {
		return notRunning
	}
	if err := proc.Resize(s.ctx(ctx), uint32(size.Width), uint32(size.Height)); err != nil {
		if errdefs.IsNotFound(err) { // its task is gone: the exit is not handled yet
			return notRunning
		}
		return err
	}
	return nil
}

// ExecInspect returns the state of an exec process.
func (s *Service) ExecInspect(ctx context.Context, execID string) (*containertypes.ExecInspect, error) {
	e, err := s.exec(execID)
	if err != nil {
		return nil, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	return &containertypes.ExecInspect{ID: e.id, ContainerID: e.containerID, Running: e.running, ExitCode: e.exitCode, Pid: e.pid, Config: e.cfg}, nil
}

// resolveUser turns user[:group] into IDs as dockerd does (dockerUser),
// from the running container's own /etc/passwd and /etc/group, read
// inside its root (symlinks cannot leave it).
func resolveUser(pid int, spec string) (specs.User, error) {
	var passwd, group io.Reader // nil: the file is missing
	if etc, err := fsarchive.OpenRootIn(fmt.Sprintf("/proc/%d/root", pid), "/etc"); err == nil {
		defer etc.Close()
		if f, err := etc.Open("passwd"); err == nil {
			defer f.Close()
			passwd = f
		}
		if f, err := etc.Open("group"); err == nil {
			defer f.Close()
			group = f
		}
	}
	return dockerUser(spec, passwd, group)
}
