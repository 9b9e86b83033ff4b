package shim

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/containerd/errdefs"
	runc "github.com/containerd/go-runc"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	tw "github.com/berthproject/berth/shim/internal/taskwire"
)

// Event topics, as containerd names them.
const (
	topicCreate      = "/tasks/create"
	topicStart       = "/tasks/start"
	topicExit        = "/tasks/exit"
	topicOOM         = "/tasks/oom"
	topicExecAdded   = "/tasks/exec-added"
	topicExecStarted = "/tasks/exec-started"
	topicPaused      = "/tasks/paused"
	topicResumed     = "/tasks/resumed"
	topicDelete      = "/tasks/delete"
)

const (
	// drainTimeout bounds how long an exit waits for the process's output
	// to be copied (a leftover child may hold the pipe open).
	drainTimeout = 5 * time.Second
	// execsTimeout bounds how long the init exit waits for exec'd
	// processes of the container to be reaped.
	execsTimeout = 10 * time.Second
	// initPidFile is where runc writes the init pid, in the bundle.
	initPidFile = "init.pid"
	// shimPidFile has the pid of the container's shim (written by start).
	shimPidFile = "shim.pid"
	// optionsFile keeps the runtime options in the bundle for `delete`.
	optionsFile = "options.json"
)

// Defaults when the task's runtime options do not say.
const (
	DefaultRuncRoot   = "/run/berth/runc"
	DefaultRuncBinary = "runc"
)

// runtimeOpts is what the shim keeps of containerd's runc options.
type runtimeOpts struct {
	BinaryName string `json:"binary_name"`
	Root       string `json:"root"`
	// SystemdCgroup: runc makes the cgroup as a systemd scope
	// (--systemd-cgroup), berthd's cgroup_driver = "systemd".
	SystemdCgroup bool `json:"systemd_cgroup,omitempty"`
}

// Service is the task service of one container. Its lock is held across
// runc calls that change the container: exits are handled by a separate
// goroutine that takes the same lock, so a process that exits at once is
// only handled after its pid is known. What State reports has a lock of its
// own (stateMu), so State never waits for runc.
type Service struct {
	ns, id, bundle string
	pub            *publisher
	reaper         *reaper
	exits          exitQueue
	shutdown       func()
	mem            *memoryPolicy
	created        func() // once, after the task was created (starts the next spare)

	mu   sync.Mutex
	runc *runc.Runc
	// stateMu guards what State reads: init, execs and each process's
	// pid, state, exitStatus and exitedAt. They change with mu and
	// stateMu held (setState) and are read with either. State takes only
	// stateMu: runc create or start takes seconds on a slow machine, and
	// containerd fails its Get (every `inspect`, every `ps`) when State
	// does not answer within two seconds.
	stateMu   sync.Mutex
	init      *process
	execs     map[string]*process
	byPid     map[int]*process
	rootfs    string // mounted rootfs, "" when none
	cgroupDir string // the container's memory cgroup (for its process list)
	oom       *oomWatcher
	// shutdownAsked: containerd asked for a Shutdown while the container
	// was not deleted (see Shutdown).
	shutdownAsked bool
	// abandoned: containerd deleted the task before it was created (see
	// Create): a create that runs after that is refused.
	abandoned bool
}

func newService(ns, id, bundle string, pub *publisher, shutdown func()) (*Service, error) {
	s := &Service{
		ns: ns, id: id, bundle: bundle, pub: pub, shutdown: shutdown,
		execs: make(map[string]*process),
		byPid: make(map[int]*process),
	}
	var err error
	if s.reaper, err = newReaper(s.exits.push); err != nil {
		return nil, err
	}
	s.mem = newMemoryPolicy()
	s.exits.handle = s.handleExit
	return s, nil
}

// idle is called after every request (see memoryPolicy).
func (s *Service) idle() { s.mem.request() }

func newRunc(o runtimeOpts, ns, bundle string) *runc.Runc {
	return &runc.Runc{
		Command:   o.BinaryName,
		Root:      filepath.Join(o.Root, ns),
		Log:       filepath.Join(bundle, "log.json"),
		LogFormat: runc.JSON,
		Setpgid:   true,
		// Every runc command must know: update, pause and delete find
		// the cgroup through systemd too.
		SystemdCgroup: o.SystemdCgroup,
	}
}

// runcError adds runc's own last error message (from its log) to err.
func (s *Service) runcError(err error) error {
	if err == nil {
		return nil
	}
	b, rerr := os.ReadFile(filepath.Join(s.bundle, "log.json"))
	if rerr != nil {
		return err
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		var l struct{ Level, Msg string }
		if json.Unmarshal([]byte(lines[i]), &l) == nil && (l.Level == "error" || l.Level == "fatal") {
			return fmt.Errorf("%w: %s", err, l.Msg)
		}
	}
	return err
}

func parseRuntimeOptions(a *tw.Any) (runtimeOpts, error) {
	o := runtimeOpts{BinaryName: DefaultRuncBinary, Root: DefaultRuncRoot}
	if a == nil || a.TypeUrl == "" {
		return o, nil
	}
	ro := new(tw.Options)
	if !tw.Is(a, ro) {
		return o, fmt.Errorf("runtime options of type %s: %w", a.TypeUrl, errdefs.ErrInvalidArgument)
	}
	if err := tw.Unmarshal(a.Value, ro); err != nil {
		return o, fmt.Errorf("runtime options: %w", errdefs.ErrInvalidArgument)
	}
	if ro.BinaryName != "" {
		o.BinaryName = ro.BinaryName
	}
	if ro.Root != "" {
		o.Root = ro.Root
	}
	o.SystemdCgroup = ro.SystemdCgroup
	return o, nil
}

func readRuntimeOptions(bundle string) runtimeOpts {
	o := runtimeOpts{BinaryName: DefaultRuncBinary, Root: DefaultRuncRoot}
	if b, err := os.ReadFile(filepath.Join(bundle, optionsFile)); err == nil {
		_ = json.Unmarshal(b, &o)
	}
	return o
}

// sharedPIDNamespace reports whether the spec joins an existing pid
// namespace (or none), in which case the container's other processes do not
// die with init and must be killed by the shim.
func sharedPIDNamespace(bundle string) bool {
	b, err := rawReadFile(filepath.Join(bundle, "config.json"))
	if err != nil {
		return true
	}
	var spec struct {
		Linux *struct {
			Namespaces []specs.LinuxNamespace `json:"namespaces"`
		} `json:"linux"`
	}
	if json.Unmarshal(b, &spec) != nil || spec.Linux == nil {
		return true
	}
	for _, ns := range spec.Linux.Namespaces {
		if ns.Type == specs.PIDNamespace && ns.Path == "" {
			return false
		}
	}
	return true
}

// get returns the init process ("" or the container ID) or an exec.
func (s *Service) get(execID string) (*process, error) {
	if s.init == nil {
		return nil, fmt.Errorf("container %s not created: %w", s.id, errdefs.ErrNotFound)
	}
	if execID == "" || execID == s.id {
		return s.init, nil
	}
	p, ok := s.execs[execID]
	if !ok {
		return nil, fmt.Errorf("process %s: %w", execID, errdefs.ErrNotFound)
	}
	return p, nil
}

// Create mounts the rootfs, prepares IO and runs `runc create`.
func (s *Service) Create(ctx context.Context, r *tw.CreateTaskRequest) (_ *tw.CreateTaskResponse, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.init != nil {
		return nil, fmt.Errorf("container %s: %w", r.ID, errdefs.ErrAlreadyExists)
	}
	if s.abandoned {
		// containerd gave up on this create (its caller went away) and its
		// clean-up's Delete got here first: a container made now would have
		// nobody to delete it, and this shim would serve it for good
		// (TestLifecycleStress under load).
		return nil, fmt.Errorf("container %s was deleted before its create ran: %w", r.ID, errdefs.ErrFailedPrecondition)
	}
	if r.Checkpoint != "" || r.ParentCheckpoint != "" {
		return nil, fmt.Errorf("restore from checkpoint: %w", errdefs.ErrNotImplemented)
	}
	o, err := parseRuntimeOptions(r.Options)
	if err != nil {
		return nil, err
	}
	// By hand: json.Marshal of a struct builds and keeps the encoder
	// tables of its type in every shim (~12 kB).
	bn, _ := json.Marshal(o.BinaryName)
	rt, _ := json.Marshal(o.Root)
	ob := []byte(`{"binary_name":` + string(bn) + `,"root":` + string(rt) + `}`)
	if err := rawWriteFile(filepath.Join(s.bundle, optionsFile), ob, 0o600); err != nil {
		return nil, err
	}
	rc := newRunc(o, s.ns, s.bundle)
	if len(r.Rootfs) > 0 {
		target := filepath.Join(s.bundle, "rootfs")
		if err := mountRootfs(r.Rootfs, target); err != nil {
			return nil, err
		}
		defer func() {
			if err != nil {
				unmountAll(target)
			}
		}()
	}

	p := newProcess(s.id, true, stdio{r.Stdin, r.Stdout, r.Stderr, r.Terminal})
	pio, err := newProcIO(s.id, s.ns, p.s, s.reaper, s.mem.output)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			pio.close()
		}
	}()
	opts := &runc.CreateOpts{PidFile: filepath.Join(s.bundle, initPidFile), IO: pio.rio}
	var sock *runc.Socket
	if r.Terminal {
		if sock, err = runc.NewTempConsoleSocket(); err != nil {
			return nil, err
		}
		defer sock.Close()
		opts.ConsoleSocket = sock
	}
	bg := context.WithoutCancel(ctx)
	if err := rc.Create(bg, s.id, s.bundle, opts); err != nil {
		err = s.runcError(err)
		_ = rc.Delete(bg, s.id, &runc.DeleteOpts{Force: true})
		return nil, fmt.Errorf("runc create: %w", err)
	}
	defer func() {
		if err != nil {
			_ = rc.Delete(bg, s.id, &runc.DeleteOpts{Force: true})
		}
	}()
	if sock != nil {
		c, err := sock.ReceiveMaster()
		if err != nil {
			return nil, fmt.Errorf("receive console: %w", err)
		}
		if err := pio.attachConsole(c); err != nil {
			c.Close()
			return nil, err
		}
	} else {
		pio.start()
	}
	pid, err := runc.ReadPidFile(opts.PidFile)
	if err != nil {
		return nil, err
	}
	s.reaper.watch(pid)
	s.watchOOM(pid)
	p.io = pio
	if len(r.Rootfs) > 0 {
		s.rootfs = filepath.Join(s.bundle, "rootfs")
	}
	s.runc = rc
	s.setState(func() {
		p.pid, p.state = pid, stateCreated
		s.init = p
	})
	s.byPid[pid] = p
	s.pub.publish(topicCreate, &tw.TaskCreate{
		ContainerID: s.id, Bundle: s.bundle, Rootfs: r.Rootfs, Pid: uint32(pid),
		IO: &tw.TaskIO{Stdin: r.Stdin, Stdout: r.Stdout, Stderr: r.Stderr, Terminal: r.Terminal},
	})
	if s.created != nil {
		s.created()
		s.created = nil
	}
	return &tw.CreateTaskResponse{Pid: uint32(pid)}, nil
}

// Start starts the init process or an exec'd one.
func (s *Service) Start(ctx context.Context, r *tw.StartRequest) (*tw.StartResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, err := s.get(r.ExecID)
	if err != nil {
		return nil, err
	}
	if p.state != stateCreated || p.exiting {
		return nil, errState(p.id, p.state, "start")
	}
	if !p.init {
		if err := s.startExec(ctx, p); err != nil {
			return nil, err
		}
		return &tw.StartResponse{Pid: uint32(p.pid)}, nil
	}
	if err := s.runc.Start(context.WithoutCancel(ctx), s.id); err != nil {
		return nil, fmt.Errorf("runc start: %w", s.runcError(err))
	}
	s.setState(func() { p.state = stateRunning })
	s.pub.publish(topicStart, &tw.TaskStart{ContainerID: s.id, Pid: uint32(p.pid)})
	return &tw.StartResponse{Pid: uint32(p.pid)}, nil
}

func (s *Service) startExec(ctx context.Context, p *process) (err error) {
	if s.init.state != stateRunning || s.init.exiting {
		return fmt.Errorf("container %s is not running: %w", s.id, errdefs.ErrFailedPrecondition)
	}
	pio, err := newProcIO(s.id, s.ns, p.s, s.reaper, s.mem.output)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			pio.close()
		}
	}()
	pidFile := filepath.Join(s.bundle, p.id+".pid")
	defer os.Remove(pidFile)
	opts := &runc.ExecOpts{PidFile: pidFile, IO: pio.rio, Detach: true}
	var sock *runc.Socket
	if p.s.terminal {
		if sock, err = runc.NewTempConsoleSocket(); err != nil {
			return err
		}
		defer sock.Close()
		opts.ConsoleSocket = sock
	}
	if err := s.runc.Exec(context.WithoutCancel(ctx), s.id, *p.spec, opts); err != nil {
		return fmt.Errorf("runc exec: %w", s.runcError(err))
	}
	if sock != nil {
		c, err := sock.ReceiveMaster()
		if err != nil {
			return fmt.Errorf("receive console: %w", err)
		}
		if err := pio.attachConsole(c); err != nil {
			c.Close()
			return err
		}
	} else {
		pio.start()
	}
	pid, err := runc.ReadPidFile(pidFile)
	if err != nil {
		return err
	}
	s.reaper.watch(pid)
	p.io = pio
	s.setState(func() { p.pid, p.state = pid, stateRunning })
	s.byPid[pid] = p
	s.pub.publish(topicExecStarted, &tw.TaskExecStarted{ContainerID: s.id, ExecID: p.id, Pid: uint32(pid)})
	return nil
}

// Exec registers an extra process; Start runs it.
func (s *Service) Exec(ctx context.Context, r *tw.ExecProcessRequest) (*tw.Empty, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.init == nil {
		return nil, fmt.Errorf("container %s: %w", s.id, errdefs.ErrNotFound)
	}
	if r.ExecID == "" || r.ExecID == s.id || strings.ContainsAny(r.ExecID, "/\x00") {
		return nil, fmt.Errorf("exec id %q: %w", r.ExecID, errdefs.ErrInvalidArgument)
	}
	if _, ok := s.execs[r.ExecID]; ok {
		return nil, fmt.Errorf("exec %s: %w", r.ExecID, errdefs.ErrAlreadyExists)
	}
	if s.init.state != stateRunning || s.init.exiting {
		return nil, fmt.Errorf("container %s is not running: %w", s.id, errdefs.ErrFailedPrecondition)
	}
	var spec specs.Process
	if r.Spec == nil || json.Unmarshal(r.Spec.Value, &spec) != nil {
		return nil, fmt.Errorf("exec %s: process spec: %w", r.ExecID, errdefs.ErrInvalidArgument)
	}
	spec.Terminal = r.Terminal
	p := newProcess(r.ExecID, false, stdio{r.Stdin, r.Stdout, r.Stderr, r.Terminal})
	p.spec = &spec
	s.setState(func() { s.execs[r.ExecID] = p })
	s.pub.publish(topicExecAdded, &tw.TaskExecAdded{ContainerID: s.id, ExecID: r.ExecID})
	return &tw.Empty{}, nil
}

// Kill signals one process, or with All every process of the container.
func (s *Service) Kill(ctx context.Context, r *tw.KillRequest) (*tw.Empty, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, err := s.get(r.ExecID)
	if err != nil {
		return nil, err
	}
	if p.exiting || p.state == stateStopped || p.state == stateDeleted {
		return nil, errFinished(p.id)
	}
	if !p.init {
		if p.state == stateCreated {
			return nil, errState(p.id, p.state, "signal")
		}
		if err := unix.Kill(p.pid, unix.Signal(r.Signal)); err != nil {
			if err == unix.ESRCH {
				return nil, errFinished(p.id)
			}
			return nil, err
		}
		return &tw.Empty{}, nil
	}
	// A running init is signalled directly, as an exec is: no runc
	// process on a stop's path (on a loaded machine, tens of milliseconds
	// each: see destroyStopped). Also SIGKILL for every
	// process, when the container has a pid namespace of its own: the
	// kernel kills the rest with its init. The init is the shim's child
	// and not reaped yet (not exiting), so its pid is still its own. A
	// paused container, or one sharing a pid namespace, goes through runc.
	if p.state == stateRunning && (!r.All || r.Signal == uint32(unix.SIGKILL) && !sharedPIDNamespace(s.bundle)) {
		if err := unix.Kill(p.pid, unix.Signal(r.Signal)); err != nil {
			if err == unix.ESRCH {
				return nil, errFinished(p.id)
			}
			return nil, err
		}
		return &tw.Empty{}, nil
	}
	if err := s.runc.Kill(context.WithoutCancel(ctx), s.id, int(r.Signal), &runc.KillOpts{All: r.All}); err != nil {
		// The init may be gone before its exit is reaped: runc then says
		// "process already finished" (or, once deleted, that the container
		// is not running or does not exist).
		msg := err.Error()
		if strings.Contains(msg, "not running") || strings.Contains(msg, "does not exist") || strings.Contains(msg, "process already finished") {
			return nil, errFinished(p.id)
		}
		return nil, fmt.Errorf("runc kill: %w", err)
	}
	return &tw.Empty{}, nil
}

// Delete removes a stopped exec, or the container once its init stopped (or
// was never started).
func (s *Service) Delete(ctx context.Context, r *tw.DeleteRequest) (*tw.DeleteResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, err := s.get(r.ExecID)
	if err != nil {
		if s.init == nil && (r.ExecID == "" || r.ExecID == s.id) {
			// The task's Delete before its Create: containerd's clean-up
			// of a create it gave up on, whose request is still on its
			// way here (both wait for s.mu, in either order).
			s.abandoned = true
		}
		return nil, err
	}
	if p.exiting || p.state == stateRunning || p.state == statePaused {
		return nil, errState(p.id, p.state, "delete")
	}
	if !p.init {
		if p.io != nil {
			p.io.close()
		}
		if p.state == stateCreated {
			close(p.done) // never started: release waiters
		}
		s.setState(func() {
			p.state = stateDeleted
			delete(s.execs, p.id)
		})
		return deleteResponse(p), nil
	}
	if p.state == stateDeleted {
		return nil, fmt.Errorf("container %s: %w", s.id, errdefs.ErrNotFound)
	}
	bg := context.WithoutCancel(ctx)
	if p.state == stateStopped && s.destroyStopped() {
		// Done without runc (see destroyStopped).
	} else if err := s.runc.Delete(bg, s.id, &runc.DeleteOpts{Force: p.state == stateCreated}); err != nil {
		if err := s.runc.Delete(bg, s.id, &runc.DeleteOpts{Force: true}); err != nil && !strings.Contains(err.Error(), "does not exist") {
			return nil, fmt.Errorf("runc delete: %w", s.runcError(err))
		}
	}
	wasCreated := p.state == stateCreated
	s.setState(func() { p.state = stateDeleted })
	if wasCreated {
		delete(s.byPid, p.pid)
		close(p.done)
	}
	p.io.close()
	s.oom.close()
	if s.rootfs != "" {
		unmountAll(s.rootfs)
		s.rootfs = ""
	}
	_ = os.Remove(filepath.Join(s.bundle, initPidFile))
	s.pub.publish(topicDelete, &tw.TaskDelete{
		ContainerID: s.id, Pid: uint32(p.pid), ExitStatus: uint32(p.exitStatus), ExitedAt: p.exitedAt,
	})
	if s.shutdownAsked {
		go s.shutdown() // the Shutdown that came too early (see Shutdown)
	}
	return deleteResponse(p), nil
}

// destroyStopped does what `runc delete` does for a container whose init
// has exited, without starting runc (on a loaded machine, a runc process
// is tens of milliseconds on every stop's path): it removes the
// container's cgroup directories and runc's state directory. It declines
// (false, and the caller runs runc delete) when runc would do more: a
// systemd cgroup (a scope runc stops through systemd), poststop hooks, an
// Intel RDT group, or a cgroup that does not go at once (processes left,
// child cgroups): runc's retries handle those.
func (s *Service) destroyStopped() bool {
	dir := filepath.Join(s.runc.Root, s.id)
	b, err := rawReadFile(filepath.Join(dir, "state.json"))
	if err != nil {
		return false
	}
	var st struct {
		CgroupPaths  map[string]string `json:"cgroup_paths"`
		IntelRdtPath string            `json:"intel_rdt_path"`
		Config       struct {
			Cgroups *struct {
				Systemd bool `json:"Systemd"`
			} `json:"cgroups"`
			Hooks map[string][]json.RawMessage `json:"Hooks"`
		} `json:"config"`
	}
	if json.Unmarshal(b, &st) != nil || st.Config.Cgroups == nil || st.Config.Cgroups.Systemd ||
		st.IntelRdtPath != "" || len(st.Config.Hooks["poststop"]) > 0 {
		return false
	}
	for _, p := range st.CgroupPaths {
		if err := unix.Rmdir(p); err != nil && err != unix.ENOENT {
			return false
		}
	}
	return os.RemoveAll(dir) == nil
}

func deleteResponse(p *process) *tw.DeleteResponse {
	return &tw.DeleteResponse{Pid: uint32(p.pid), ExitStatus: uint32(p.exitStatus), ExitedAt: p.exitedAt}
}

// setState changes what State reports; s.mu is held.
func (s *Service) setState(change func()) {
	s.stateMu.Lock()
	defer s.stateMu.Unlock()
	change()
}

// State reports a process's state, without waiting for a runc command in
// progress (see stateMu).
func (s *Service) State(ctx context.Context, r *tw.StateRequest) (*tw.StateResponse, error) {
	s.stateMu.Lock()
	defer s.stateMu.Unlock()
	p, err := s.get(r.ExecID)
	if err != nil {
		return nil, err
	}
	resp := &tw.StateResponse{
		ID: p.id, Bundle: s.bundle, Pid: uint32(p.pid), Status: p.state.status(),
		Stdin: p.s.stdin, Stdout: p.s.stdout, Stderr: p.s.stderr, Terminal: p.s.terminal,
		ExecID: r.ExecID,
	}
	if p.state == stateStopped || p.state == stateDeleted {
		resp.ExitStatus = uint32(p.exitStatus)
		resp.ExitedAt = p.exitedAt
	}
	return resp, nil
}

// Wait blocks until the process's exit was published.
func (s *Service) Wait(ctx context.Context, r *tw.WaitRequest) (*tw.WaitResponse, error) {
	s.mu.Lock()
	p, err := s.get(r.ExecID)
	s.mu.Unlock()
	if err != nil {
		return nil, err
	}
	select {
	case <-p.done:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return &tw.WaitResponse{ExitStatus: uint32(p.exitStatus), ExitedAt: p.exitedAt}, nil
}

// Pause freezes the container.
func (s *Service) Pause(ctx context.Context, r *tw.PauseRequest) (*tw.Empty, error) {
	return s.freeze(ctx, true)
}

// Resume thaws the container.
func (s *Service) Resume(ctx context.Context, r *tw.ResumeRequest) (*tw.Empty, error) {
	return s.freeze(ctx, false)
}

func (s *Service) freeze(ctx context.Context, pause bool) (*tw.Empty, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, err := s.get("")
	if err != nil {
		return nil, err
	}
	bg := context.WithoutCancel(ctx)
	if pause {
		if p.state != stateRunning || p.exiting {
			return nil, errState(p.id, p.state, "pause")
		}
		if err := s.runc.Pause(bg, s.id); err != nil {
			return nil, fmt.Errorf("runc pause: %w", s.runcError(err))
		}
		s.setState(func() { p.state = statePaused })
		s.pub.publish(topicPaused, &tw.TaskPaused{ContainerID: s.id})
	} else {
		if p.state != statePaused {
			return nil, errState(p.id, p.state, "resume")
		}
		if err := s.runc.Resume(bg, s.id); err != nil {
			return nil, fmt.Errorf("runc resume: %w", s.runcError(err))
		}
		s.setState(func() { p.state = stateRunning })
		s.pub.publish(topicResumed, &tw.TaskResumed{ContainerID: s.id})
	}
	return &tw.Empty{}, nil
}

// Pids lists the container's processes, naming exec'd ones.
func (s *Service) Pids(ctx context.Context, r *tw.PidsRequest) (*tw.PidsResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, err := s.get(""); err != nil {
		return nil, err
	}
	pids, err := s.runc.Ps(context.WithoutCancel(ctx), s.id)
	if err != nil {
		return nil, fmt.Errorf("runc ps: %w", err)
	}
	execs := make(map[int]string, len(s.execs))
	for id, p := range s.execs {
		execs[p.pid] = id
	}
	resp := &tw.PidsResponse{}
	for _, pid := range pids {
		pi := &tw.ProcessInfo{Pid: uint32(pid)}
		if id, ok := execs[pid]; ok {
			pi.Info = tw.MarshalAny(&tw.ProcessDetails{ExecID: id})
		}
		resp.Processes = append(resp.Processes, pi)
	}
	return resp, nil
}

// Update changes the container's resources.
func (s *Service) Update(ctx context.Context, r *tw.UpdateTaskRequest) (*tw.Empty, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, err := s.get(""); err != nil {
		return nil, err
	}
	var res specs.LinuxResources
	if r.Resources == nil || json.Unmarshal(r.Resources.Value, &res) != nil {
		return nil, fmt.Errorf("resources: %w", errdefs.ErrInvalidArgument)
	}
	if err := s.runc.Update(context.WithoutCancel(ctx), s.id, &res); err != nil {
		return nil, fmt.Errorf("runc update: %w", s.runcError(err))
	}
	return &tw.Empty{}, nil
}

// Stats returns cgroup metrics (v1 or v2 types, like containerd's shim).
func (s *Service) Stats(ctx context.Context, r *tw.StatsRequest) (*tw.StatsResponse, error) {
	s.mu.Lock()
	if _, err := s.get(""); err != nil {
		s.mu.Unlock()
		return nil, err
	}
	rc := s.runc
	s.mu.Unlock()
	st, err := rc.Stats(context.WithoutCancel(ctx), s.id)
	if err != nil {
		return nil, fmt.Errorf("runc events --stats: %w", err)
	}
	return &tw.StatsResponse{Stats: tw.MarshalAny(metrics(st, cgroupUnified()))}, nil
}

// ResizePty resizes a process's terminal.
func (s *Service) ResizePty(ctx context.Context, r *tw.ResizePtyRequest) (*tw.Empty, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, err := s.get(r.ExecID)
	if err != nil {
		return nil, err
	}
	if p.io == nil {
		return nil, errState(p.id, p.state, "resize")
	}
	if err := p.io.resize(r.Width, r.Height); err != nil {
		return nil, fmt.Errorf("resize %s: %w: %w", p.id, err, errdefs.ErrFailedPrecondition)
	}
	return &tw.Empty{}, nil
}

// CloseIO closes a process's stdin.
func (s *Service) CloseIO(ctx context.Context, r *tw.CloseIORequest) (*tw.Empty, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, err := s.get(r.ExecID)
	if err != nil {
		return nil, err
	}
	if r.Stdin && p.io != nil {
		p.io.closeStdin()
	}
	return &tw.Empty{}, nil
}

// Checkpoint is not supported by berth's shim.
func (s *Service) Checkpoint(ctx context.Context, r *tw.CheckpointTaskRequest) (*tw.Empty, error) {
	return nil, fmt.Errorf("checkpoint: %w", errdefs.ErrNotImplemented)
}

// Connect returns the shim's and the task's pids.
func (s *Service) Connect(ctx context.Context, r *tw.ConnectRequest) (*tw.ConnectResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	resp := &tw.ConnectResponse{ShimPid: uint32(os.Getpid()), Version: "berth"}
	if s.init != nil {
		resp.TaskPid = uint32(s.init.pid)
	}
	return resp, nil
}

// Shutdown ends the shim once its container is deleted (or when asked to
// now). One that comes while the container is not deleted is remembered,
// and the shim ends when the container is: containerd sends it so after
// giving up on a task create whose caller went away (berthd killed): its
// cleanup's Delete times out while the create still runs (it holds s.mu),
// then its Shutdown and the Delete both wait for s.mu, in either order.
// Were the Shutdown dropped, a Delete run after it would leave a shim that
// nobody asks to end any more (TestLifecycleStress, docs/reliability.md).
func (s *Service) Shutdown(ctx context.Context, r *tw.ShutdownRequest) (*tw.Empty, error) {
	s.mu.Lock()
	live := s.init != nil && s.init.state != stateDeleted
	if live && !r.Now {
		s.shutdownAsked = true
		s.mu.Unlock()
		return &tw.Empty{}, nil
	}
	s.mu.Unlock()
	go s.shutdown()
	return &tw.Empty{}, nil
}

// exitIfNoTask ends a shim that has no task, and so nothing to lose, and
// reports false when it has one (or one is being created: Create holds
// s.mu). See watchOrphan.
func (s *Service) exitIfNoTask(socket string) bool {
	s.mu.Lock()
	if s.init != nil {
		s.mu.Unlock()
		return false
	}
	// s.mu stays held: no Create may begin.
	_ = os.Remove(socket)
	os.Exit(0)
	return true
}
