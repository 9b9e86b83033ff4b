package shim

import (
	"fmt"
	"time"

	"github.com/containerd/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	tw "github.com/berthproject/berth/shim/internal/taskwire"
)

// procState is a process's lifecycle state. Transitions:
// created → running ⇄ paused (init only) → stopped → deleted.
type procState int

const (
	stateCreated procState = iota
	stateRunning
	statePaused
	stateStopped
	stateDeleted
)

func (s procState) String() string {
	return [...]string{"created", "running", "paused", "stopped", "deleted"}[s]
}

func (s procState) status() tw.Status {
	switch s {
	case stateCreated:
		return tw.Status_CREATED
	case stateRunning:
		return tw.Status_RUNNING
	case statePaused:
		return tw.Status_PAUSED
	default:
		return tw.Status_STOPPED
	}
}

// process is the container's init process or one exec'd process. Its fields
// are guarded by the service's mutex, except done (closed once) and io; pid,
// state, exitStatus and exitedAt change under its stateMu too (see Service).
type process struct {
	id   string // exec ID; the container ID for init
	init bool
	pid  int
	s    stdio
	spec *specs.Process // exec only

	state      procState
	exiting    bool // reaped, exit not yet published
	exitStatus int
	exitedAt   time.Time

	io   *procIO
	done chan struct{} // closed when the exit is published
}

func newProcess(id string, init bool, s stdio) *process {
	return &process{id: id, init: init, s: s, done: make(chan struct{})}
}

// errFinished is what containerd expects when signalling a process that has
// already exited.
func errFinished(id string) error {
	return fmt.Errorf("process %s already finished: %w", id, errdefs.ErrNotFound)
}

func errState(id string, s procState, op string) error {
	return fmt.Errorf("cannot %s process %s in state %s: %w", op, id, s, errdefs.ErrFailedPrecondition)
}
