package container

import (
	"fmt"
	"time"

	"github.com/containerd/errdefs"

	containertypes "github.com/berthproject/berth/pkg/types/container"
)

// phase is where a container is in its lifecycle as the engine drives it.
// containerd's task says whether a process runs; the phase says what the
// engine does about it: whether an exit is a failure for the restart policy
// to act on, whether a restart is due, whether the container is gone.
//
//	created ──start──▶ running ──exit──▶ exited ──policy──▶ restarting
//	   │                 ▲  │               │ ▲                 │ │
//	   │                 │  │               │ └──start failed───┘ │
//	   │                 └──┼──start────────┴◀────────────────────┘ (start)
//	   └──stop/kill/rm -f───┴──▶ userStopped ──start──▶ running
//
//	every phase but removed ──remove──▶ removed
//
// An exit that the restart policy restarts goes from running straight to
// restarting (as dockerd's SetRestarting): the container never reads exited
// between an exit and its restart.
//
// The allowed moves are the table below (transitions); every other move is
// refused with errdefs.ErrFailedPrecondition. The shim's procState
// (shim/process.go) is the model.
type phase int

const (
	// phaseCreated: no task was started or seen under this record (a new
	// container, or one whose state berthd has yet to reconcile).
	phaseCreated phase = iota
	// phaseRunning: a task was started, or found running.
	phaseRunning
	// phaseUserStopped: the user stopped or killed the container, or
	// removes it by force. Its exit, and every exit until the user starts
	// it again, is no failure for a restart policy to act on.
	phaseUserStopped
	// phaseExited: its task exited on its own: the restart policy decides.
	phaseExited
	// phaseRestarting: a restart policy's start is due (record.restartTimer)
	// or in progress.
	phaseRestarting
	// phaseRemoved: the container is gone; nothing follows.
	phaseRemoved
	numPhases
)

func (p phase) String() string {
	switch p {
	case phaseCreated:
		return "created"
	case phaseRunning:
		return "running"
	case phaseUserStopped:
		return "stopped by the user"
	case phaseExited:
		return "exited"
	case phaseRestarting:
		return "restarting"
	case phaseRemoved:
		return "removed"
	}
	return fmt.Sprintf("phase(%d)", int(p))
}

// transitions lists, for each phase, the phases it may move to. A move to
// the same phase is listed where it is a no-op that callers rely on (a
// second stop, a start of a running container, the reap of an exit already
// seen).
var transitions = [numPhases][]phase{
	phaseCreated: {
		phaseRunning,     // start
		phaseUserStopped, // stop, kill, rm -f
		phaseExited,      // the task was found stopped (reconcile) or lost
		phaseRemoved,     // rm
	},
	phaseRunning: {
		phaseRunning,     // start of a running container (no-op)
		phaseExited,      // its task exited
		phaseRestarting,  // its task exited and the restart policy restarts it
		phaseUserStopped, // stop, kill, rm -f
		phaseRemoved,     // rm of a container whose task vanished unseen
	},
	phaseUserStopped: {
		phaseRunning,     // start, restart
		phaseUserStopped, // stop of a stopped container; its exit
		phaseRemoved,     // rm
	},
	phaseExited: {
		phaseRunning,     // start
		phaseExited,      // the reap of an exit already seen
		phaseRestarting,  // the restart policy
		phaseUserStopped, // stop, kill, rm -f
		phaseRemoved,     // rm, an --rm container removing itself
	},
	phaseRestarting: {
		phaseRunning,     // the policy's start
		phaseExited,      // the policy's start failed, or a user start cancelled it
		phaseUserStopped, // stop, kill, rm -f
		phaseRemoved,     // rm -f
	},
	phaseRemoved: {},
}

// canTransition reports whether the table allows from → to.
func canTransition(from, to phase) bool {
	if from < 0 || from >= numPhases {
		return false
	}
	for _, p := range transitions[from] {
		if p == to {
			return true
		}
	}
	return false
}

// errTransition is the error for a move the table refuses.
func errTransition(id string, from, to phase) error {
	return fmt.Errorf("container %.12s cannot go from %s to %s: %w", id, from, to, errdefs.ErrFailedPrecondition)
}

// transitionLocked moves the record to phase to. The caller holds r.mu.
// Leaving phaseRestarting stops the pending restart's timer.
func (r *record) transitionLocked(to phase) error {
	from := r.phase
	if !canTransition(from, to) {
		return errTransition(r.id, from, to)
	}
	if from == phaseRestarting && to != phaseRestarting && r.restartTimer != nil {
		r.restartTimer.Stop()
		r.restartTimer = nil
	}
	if to == phaseRemoved {
		close(r.gone)
	}
	r.phase = to
	return nil
}

// transition is transitionLocked for a caller that does not hold r.mu.
func (r *record) transition(to phase) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.transitionLocked(to)
}

// is reports whether the record is in one of the phases.
func (r *record) is(phases ...phase) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, p := range phases {
		if r.phase == p {
			return true
		}
	}
	return false
}

// stopByUser moves the record to phaseUserStopped (a user's stop, kill or
// forced removal), which also cancels a pending restart, and counts the
// stop (record.userStops).
func (r *record) stopByUser() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.transitionLocked(phaseUserStopped); err != nil {
		return err
	}
	r.userStops++
	return nil
}

// starter says who starts a container, and so whether the start ends a
// user's stop or yields to one.
type starter struct {
	// byUser: a user's start (start, restart). It ends the user's stop.
	byUser bool
	// clearsStop: the start clears the stopped-by-user mark on disk. A
	// user's start does, and so does berthd's start of an `always`
	// container when berthd starts (Docker's rule: that start ends a stop
	// made before the daemon's restart).
	clearsStop bool
	// stops is record.userStops when a start not by the user was decided
	// (by the restart policy, or by berthd at its start). A user's stop
	// since then wins over the start, even one that lands while the task
	// is being created: the task still starts, the record stays stopped by
	// the user, and the stop that is waiting for the start (r.op) ends it.
	stops uint64
}

// userStart is a user's start.
var userStart = starter{byUser: true, clearsStop: true}

// errStopWon is started's answer when a user's stop came during a start
// not by the user: the record stays stopped by the user.
var errStopWon = fmt.Errorf("a user's stop came during the start: %w", errdefs.ErrFailedPrecondition)

// yieldsLocked reports whether a start by `by` yields to a user's stop made
// since it was decided. The caller holds r.mu.
func (r *record) yieldsLocked(by starter) bool {
	return !by.byUser && r.userStops != by.stops
}

// started records a task start: a new run begins (no OOM kill yet) and the
// record is running, unless a user's stop came during a start not by the
// user (errStopWon: the record stays stopped by the user).
func (r *record) started(at time.Time, by starter) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.phase == phaseRemoved {
		return errTransition(r.id, r.phase, phaseRunning)
	}
	r.startedAt = at
	r.oom = false
	if r.yieldsLocked(by) {
		return errStopWon
	}
	return r.transitionLocked(phaseRunning)
}

// resumed is started for a task found running already (no new run).
func (r *record) resumed(by starter) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.yieldsLocked(by) {
		return nil // the user's stop ends it: it stays stopped by the user
	}
	return r.transitionLocked(phaseRunning)
}

// cancelRestart ends a pending restart (a user's start): the container is
// back to exited. It does nothing in any other phase.
func (r *record) cancelRestart() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.phase == phaseRestarting {
		_ = r.transitionLocked(phaseExited) // allowed by the table
	}
}

// exitSeen records an exit event of the container's init process: its status
// answers for the container until it is reaped and written down.
func (r *record) exitSeen(code int, at time.Time) {
	if at.IsZero() || at.Unix() <= 0 {
		at = time.Now()
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.pendingExit = &containertypes.ExitStatus{ExitCode: code, ExitedAt: at}
}

// hasPendingExit reports whether an exit was seen that is not written down.
func (r *record) hasPendingExit() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.pendingExit != nil
}

// exitedLocked moves the record to the phase that follows an exit: a
// user-stopped container stays so (no policy applies), any other is exited.
// The caller holds r.mu.
func (r *record) exitedLocked() error {
	if r.phase == phaseUserStopped {
		return nil
	}
	return r.transitionLocked(phaseExited)
}
