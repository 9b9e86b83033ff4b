// Package supervisor runs the daemons berthd depends on (containerd,
// berth-snapshotter): it starts one, waits until it answers, restarts it
// with back-off when it dies, and stops it on shutdown.
//
// Children outlive berthd: they get their own process group and write to a
// log file, never to a pipe held by berthd, so a berthd killed with SIGKILL
// leaves them serving. The next berthd adopts a still-running daemon of the
// same state dir (found through its pid file, verified by executable,
// command line and a probe of its socket) instead of starting a second one,
// and watches it through a pidfd since it is not its child.
package supervisor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/berthproject/berth/pkg/atomicfile"
)

// Spec describes a daemon to supervise.
type Spec struct {
	// Name is used in logs ("containerd").
	Name string
	// Path is the binary's absolute path.
	Path string
	// Args are the arguments after argv[0].
	Args []string
	// Env is the daemon's complete environment.
	Env []string
	// Dir is the working directory ("/" if empty).
	Dir string
	// LogFile receives stdout and stderr (appended; rotated once at each
	// start when larger than MaxLogSize).
	LogFile string
	// PIDFile records the PID so the next berthd can adopt the daemon.
	PIDFile string
	// Identity must appear in the command line of a process for it to be
	// adopted (e.g. the path of its config file, unique to a state dir).
	Identity string
	// Probe returns nil once the daemon answers. It is called repeatedly
	// while waiting for readiness, with a short deadline each time.
	Probe func(ctx context.Context) error
	// BeforeStart runs before each fresh start (not before an adoption),
	// e.g. to write a config file or remove a stale socket.
	BeforeStart func() error
	// Outdated, if set, tells why a running daemon found for adoption no
	// longer matches the settings (e.g. its config file changed); "" when
	// it matches. An outdated daemon is replaced, as is one whose command
	// line differs from Path and Args.
	Outdated func() string
	// ReadyTimeout bounds the wait for readiness (default 30s).
	ReadyTimeout time.Duration
	// StopTimeout is how long Stop waits after SIGTERM before SIGKILL
	// (default 10s).
	StopTimeout time.Duration
	// OnRestart, if set, is called after the daemon was restarted and
	// answers again.
	OnRestart func(pid int)
}

// MaxLogSize is the size above which a daemon's log file is rotated to
// <file>.1 when the daemon (re)starts.
const MaxLogSize = 16 << 20

// Back-off between restarts: doubles from minBackoff up to maxBackoff, and
// falls back to minBackoff once a daemon has run for stableAfter.
const (
	minBackoff  = 100 * time.Millisecond
	maxBackoff  = 10 * time.Second
	stableAfter = 30 * time.Second
)

// Process is a supervised daemon.
type Process struct {
	spec Spec
	log  *slog.Logger

	mu       sync.Mutex
	cur      *instance
	restarts int

	stop   chan struct{} // closed by Stop
	detach chan struct{} // closed by Detach
	done   chan struct{} // closed when the monitor has returned
	once   sync.Once
}

// instance is one run of the daemon: a child we started or a process we
// adopted.
type instance struct {
	pid     int
	adopted bool
	started time.Time
	exited  chan struct{} // closed when the process is gone
	status  string        // how it ended, valid once exited is closed
	signal  func(syscall.Signal) error
	release func()
}

// Start adopts a running daemon of this spec or starts a new one, waits
// until it answers, and supervises it until Stop. ctx bounds the start only.
func Start(ctx context.Context, spec Spec, logger *slog.Logger) (*Process, error) {
	if !filepath.IsAbs(spec.Path) {
		return nil, fmt.Errorf("supervisor: %s: binary path %q is not absolute", spec.Name, spec.Path)
	}
	if spec.Probe == nil {
		return nil, fmt.Errorf("supervisor: %s: no readiness probe", spec.Name)
	}
	if spec.ReadyTimeout == 0 {
		spec.ReadyTimeout = 30 * time.Second
	}
	if spec.StopTimeout == 0 {
		spec.StopTimeout = 10 * time.Second
	}
	if logger == nil {
		logger = slog.Default()
	}
	p := &Process{
		spec:   spec,
		log:    logger.With("daemon", spec.Name),
		stop:   make(chan struct{}),
		detach: make(chan struct{}),
		done:   make(chan struct{}),
	}
	inst, err := p.adopt(ctx)
	if err != nil {
		return nil, err
	}
	if inst == nil {
		if inst, err = p.startFresh(ctx); err != nil {
			return nil, err
		}
	}
	p.cur = inst
	go p.monitor()
	return p, nil
}

// PID is the current process's PID (0 while it is being restarted).
func (p *Process) PID() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cur == nil {
		return 0
	}
	return p.cur.pid
}

// Adopted reports whether the current process was adopted rather than
// started by this supervisor.
func (p *Process) Adopted() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cur != nil && p.cur.adopted
}

// Restarts counts the restarts after unexpected exits.
func (p *Process) Restarts() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.restarts
}

// Stop ends supervision and stops the daemon: SIGTERM, then SIGKILL after
// the spec's StopTimeout. It returns when the process is gone or ctx ends.
func (p *Process) Stop(ctx context.Context) error {
	p.once.Do(func() { close(p.stop) })
	select {
	case <-p.done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("stop %s: %w", p.spec.Name, ctx.Err())
	}
}

// Detach ends supervision and leaves the daemon running, as a berthd that
// dies does: the next supervisor of the same spec adopts it (a hand-over).
// Stop after Detach does nothing.
func (p *Process) Detach() {
	p.once.Do(func() { close(p.detach) })
	<-p.done
}

// monitor waits for the current process to end and restarts it, until Stop.
func (p *Process) monitor() {
	defer close(p.done)
	backoff := minBackoff
	for {
		p.mu.Lock()
		inst := p.cur
		p.mu.Unlock()

		select {
		case <-p.stop:
			p.terminate(inst)
			return
		case <-p.detach:
			inst.release()
			return
		case <-inst.exited:
		}
		inst.release()
		ran := time.Since(inst.started)
		if ran > stableAfter {
			backoff = minBackoff
		}
		p.log.Error("daemon exited unexpectedly, restarting", "pid", inst.pid, "status", inst.status,
			"ran", ran.Round(time.Millisecond).String(), "backoff", backoff.String())
		p.mu.Lock()
		p.cur = nil
		p.mu.Unlock()

		for {
			select {
			case <-p.stop:
				os.Remove(p.spec.PIDFile)
				return
			case <-p.detach:
				return
			case <-time.After(backoff):
			}
			backoff = min(backoff*2, maxBackoff)
			ctx, cancel := p.stopContext()
			next, err := p.startFresh(ctx)
			cancel()
			if err == nil {
				p.mu.Lock()
				p.cur = next
				p.restarts++
				p.mu.Unlock()
				p.log.Info("daemon restarted", "pid", next.pid)
				if p.spec.OnRestart != nil {
					p.spec.OnRestart(next.pid)
				}
				break
			}
			p.log.Error("restart failed", "error", err, "backoff", backoff.String())
		}
	}
}

// stopContext is cancelled when Stop is called.
func (p *Process) stopContext() (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		select {
		case <-p.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	return ctx, cancel
}

// terminate stops inst: SIGTERM, then SIGKILL after StopTimeout.
func (p *Process) terminate(inst *instance) {
	defer inst.release()
	defer os.Remove(p.spec.PIDFile)
	p.log.Info("stopping daemon", "pid", inst.pid)
	if err := inst.signal(syscall.SIGTERM); err != nil {
		p.log.Debug("SIGTERM", "error", err)
	}
	select {
	case <-inst.exited:
		p.log.Info("daemon stopped", "pid", inst.pid, "status", inst.status)
		return
	case <-time.After(p.spec.StopTimeout):
	}
	p.log.Warn("daemon did not stop in time, killing it", "pid", inst.pid, "timeout", p.spec.StopTimeout.String())
	if err := inst.signal(syscall.SIGKILL); err != nil {
		p.log.Debug("SIGKILL", "error", err)
	}
	<-inst.exited
}

// startFresh starts a new process and waits until it answers.
func (p *Process) startFresh(ctx context.Context) (*instance, error) {
	// Something answering on our socket that we did not adopt is another
	// daemon: starting ours would take its socket away.
	if p.probeOnce(ctx) == nil {
		return nil, fmt.Errorf("%s: its socket already answers, served by a process berthd did not start (pid file %s)",
			p.spec.Name, p.spec.PIDFile)
	}
	if p.spec.BeforeStart != nil {
		if err := p.spec.BeforeStart(); err != nil {
			return nil, fmt.Errorf("%s: prepare: %w", p.spec.Name, err)
		}
	}
	logf, err := openLog(p.spec.LogFile)
	if err != nil {
		return nil, fmt.Errorf("%s: log file: %w", p.spec.Name, err)
	}
	defer logf.Close()

	cmd := exec.Command(p.spec.Path, p.spec.Args...)
	cmd.Env = p.spec.Env
	cmd.Dir = p.spec.Dir
	if cmd.Dir == "" {
		cmd.Dir = "/"
	}
	cmd.Stdout = logf
	cmd.Stderr = logf
	// Own process group: signals for berthd's terminal do not reach it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", p.spec.Name, err)
	}
	inst := &instance{
		pid:     cmd.Process.Pid,
		started: start,
		exited:  make(chan struct{}),
		signal:  func(s syscall.Signal) error { return cmd.Process.Signal(s) },
		release: func() {},
	}
	go func() {
		err := cmd.Wait()
		inst.status = exitStatus(cmd.ProcessState, err)
		close(inst.exited)
	}()
	if err := writePIDFile(p.spec.PIDFile, inst.pid); err != nil {
		p.kill(inst)
		return nil, fmt.Errorf("%s: %w", p.spec.Name, err)
	}
	if err := p.waitReady(ctx, inst); err != nil {
		p.kill(inst)
		os.Remove(p.spec.PIDFile)
		return nil, fmt.Errorf("%s: %w%s", p.spec.Name, err, logTail(p.spec.LogFile, 20))
	}
	p.log.Info("daemon started", "pid", inst.pid, "ready_in", time.Since(start).Round(time.Millisecond).String())
	return inst, nil
}

// kill ends a process that failed to start.
func (p *Process) kill(inst *instance) {
	_ = inst.signal(syscall.SIGKILL)
	<-inst.exited
	inst.release()
}

// waitReady polls the probe until it answers, the process exits, or the
// ready timeout or ctx ends.
func (p *Process) waitReady(ctx context.Context, inst *instance) error {
	ctx, cancel := context.WithTimeout(ctx, p.spec.ReadyTimeout)
	defer cancel()
	delay := 5 * time.Millisecond
	var last error
	for {
		if last = p.probeOnce(ctx); last == nil {
			return nil
		}
		select {
		case <-inst.exited:
			return fmt.Errorf("exited before it was ready (%s)", inst.status)
		case <-ctx.Done():
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return fmt.Errorf("not ready after %s: %w", p.spec.ReadyTimeout, last)
			}
			return fmt.Errorf("start canceled: %w", ctx.Err())
		case <-time.After(delay):
		}
		delay = min(delay*2, 100*time.Millisecond)
	}
}

func (p *Process) probeOnce(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	return p.spec.Probe(ctx)
}

// adopt returns the running daemon recorded in the pid file if it is ours
// and answers; nil if there is none to adopt.
func (p *Process) adopt(ctx context.Context) (*instance, error) {
	h := p.recorded()
	if h == nil {
		// A berthd killed between starting the daemon and recording it
		// (the pid file is written durably, which takes a while on a
		// busy disk) left it running unrecorded: found by its binary,
		// identity and arguments, it is adopted rather than refused as
		// a stranger on our socket (the chaos soak saw berthd unable to
		// start then).
		if h = p.unrecorded(); h == nil {
			return nil, nil
		}
		p.log.Info("found a running daemon its pid file does not name", "pid", h.pid, "pid_file", p.spec.PIDFile)
		if err := writePIDFile(p.spec.PIDFile, h.pid); err != nil {
			h.close()
			return nil, fmt.Errorf("%s: %w", p.spec.Name, err)
		}
	}
	pid := h.pid
	inst := h.instance()
	reason := ""
	if args, err := processArgs(pid); err != nil || !slices.Equal(args, p.spec.Args) {
		reason = fmt.Sprintf("its arguments %q differ from %q", args, p.spec.Args)
	} else if p.spec.Outdated != nil {
		reason = p.spec.Outdated()
	}
	if reason != "" {
		p.log.Info("replacing running daemon: settings changed", "pid", pid, "reason", reason)
		p.terminate(inst)
		return nil, nil
	}
	if err := p.waitReady(ctx, inst); err != nil {
		// Ours but not answering (hung, or dying): replace it.
		p.log.Warn("running daemon does not answer, replacing it", "pid", pid, "error", err)
		p.terminate(inst)
		return nil, nil
	}
	p.log.Info("adopted running daemon", "pid", pid)
	return inst, nil
}

// recorded opens the process the pid file names, if it runs and is ours.
func (p *Process) recorded() *procHandle {
	pid, err := readPIDFile(p.spec.PIDFile)
	if err != nil {
		return nil
	}
	h, err := openProcess(pid)
	if err != nil {
		return nil // gone
	}
	if !h.runs(p.spec.Path, p.spec.Identity) {
		h.close()
		p.log.Info("stale pid file: the process is not ours", "pid", pid, "pid_file", p.spec.PIDFile)
		os.Remove(p.spec.PIDFile)
		return nil
	}
	return h
}

// unrecorded opens the one running process of our binary with our
// identity and arguments, if there is exactly one.
func (p *Process) unrecorded() *procHandle {
	if p.spec.Identity == "" {
		return nil // nothing tells ours from another's
	}
	entries, _ := os.ReadDir("/proc")
	var found *procHandle
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() || !ProcessRuns(pid, p.spec.Path, p.spec.Identity) {
			continue
		}
		if args, err := processArgs(pid); err != nil || !slices.Equal(args, p.spec.Args) {
			continue
		}
		h, err := openProcess(pid)
		if err != nil || !h.runs(p.spec.Path, p.spec.Identity) {
			if err == nil {
				h.close()
			}
			continue
		}
		if found != nil {
			found.close()
			h.close()
			return nil // two: neither is adopted
		}
		found = h
	}
	return found
}

func readPIDFile(path string) (int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		return 0, fmt.Errorf("bad pid file %s", path)
	}
	return pid, nil
}

func writePIDFile(path string, pid int) error {
	if path == "" {
		return nil
	}
	if err := atomicfile.Write(path, []byte(strconv.Itoa(pid)+"\n"), 0o644); err != nil {
		return fmt.Errorf("write pid file: %w", err)
	}
	return nil
}

func openLog(path string) (*os.File, error) {
	if path == "" {
		return os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	}
	if st, err := os.Stat(path); err == nil && st.Size() > MaxLogSize {
		_ = os.Rename(path, path+".1")
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o711); err != nil {
		return nil, err
	}
	return os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o640)
}

// logTail returns the last n lines of a log file, formatted to follow an
// error message.
func logTail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil || len(b) == 0 {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return "; last lines of " + path + ":\n" + strings.Join(lines, "\n")
}

func exitStatus(ps *os.ProcessState, err error) string {
	if ps == nil {
		if err != nil {
			return err.Error()
		}
		return "unknown"
	}
	return ps.String()
}

// ErrNotRunning is returned by Signal when no process is running.
var ErrNotRunning = errors.New("not running")

// Signal sends sig to the current process.
func (p *Process) Signal(sig syscall.Signal) error {
	p.mu.Lock()
	inst := p.cur
	p.mu.Unlock()
	if inst == nil {
		return ErrNotRunning
	}
	return inst.signal(sig)
}
