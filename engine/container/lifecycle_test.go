package container

import (
	"errors"
	"testing"
	"time"

	"github.com/containerd/errdefs"
)

// TestTransitions checks every move between two phases against the
// lifecycle's table, written out here once more as the review sees it.
func TestTransitions(t *testing.T) {
	const (
		C = phaseCreated
		R = phaseRunning
		U = phaseUserStopped
		E = phaseExited
		S = phaseRestarting
		X = phaseRemoved
	)
	allowed := map[[2]phase]bool{
		{C, R}: true, {C, U}: true, {C, E}: true, {C, X}: true,
		{R, R}: true, {R, E}: true, {R, U}: true, {R, X}: true,
		{U, R}: true, {U, U}: true, {U, X}: true,
		{E, R}: true, {E, E}: true, {E, S}: true, {E, U}: true, {E, X}: true,
		{S, R}: true, {S, E}: true, {S, U}: true, {S, X}: true,
	}
	for from := range numPhases {
		for to := range numPhases {
			t.Run(from.String()+"→"+to.String(), func(t *testing.T) {
				r := newRecord("0123456789abcdef", "c")
				r.phase = from
				if from == phaseRemoved {
					close(r.gone)
				}
				err := r.transition(to)
				if want := allowed[[2]phase{from, to}]; want {
					if err != nil {
						t.Fatalf("refused: %v", err)
					}
					if r.phase != to {
						t.Fatalf("phase %s after the move", r.phase)
					}
					return
				}
				if !errors.Is(err, errdefs.ErrFailedPrecondition) {
					t.Fatalf("allowed, or not a failed precondition: %v", err)
				}
				if r.phase != from {
					t.Fatalf("a refused move changed the phase to %s", r.phase)
				}
			})
		}
	}
	if canTransition(-1, phaseRunning) || canTransition(numPhases, phaseRunning) {
		t.Error("a phase out of range may move")
	}
}

// TestLeavingRestartingStopsTimer: a pending restart ends with its phase,
// whichever way the record leaves it; removal closes gone once.
func TestLeavingRestartingStopsTimer(t *testing.T) {
	for _, to := range []phase{phaseRunning, phaseExited, phaseUserStopped, phaseRemoved} {
		r := newRecord("0123456789abcdef", "c")
		r.phase = phaseExited
		if err := r.transition(phaseRestarting); err != nil {
			t.Fatal(err)
		}
		fired := make(chan struct{})
		r.restartTimer = time.AfterFunc(time.Hour, func() { close(fired) })
		if err := r.transition(to); err != nil {
			t.Fatalf("restarting → %s: %v", to, err)
		}
		if r.restartTimer != nil {
			t.Errorf("restarting → %s kept the restart timer", to)
		}
		select {
		case <-fired:
			t.Errorf("restarting → %s: the timer fired", to)
		default:
		}
		select {
		case <-r.gone:
			if to != phaseRemoved {
				t.Errorf("restarting → %s closed gone", to)
			}
		default:
			if to == phaseRemoved {
				t.Error("removal did not close gone")
			}
		}
	}
}

// TestExitPhases: an exit leaves a user-stopped container stopped by the
// user (no policy applies) and moves any other to exited; a cancelled
// restart is exited.
func TestExitPhases(t *testing.T) {
	for from, want := range map[phase]phase{
		phaseCreated:     phaseExited,
		phaseRunning:     phaseExited,
		phaseUserStopped: phaseUserStopped,
		phaseExited:      phaseExited,
		phaseRestarting:  phaseExited,
	} {
		r := newRecord("0123456789abcdef", "c")
		r.phase = from
		if err := r.exitedLocked(); err != nil || r.phase != want {
			t.Errorf("exit in %s: %s, %v; want %s", from, r.phase, err, want)
		}
	}
	r := newRecord("0123456789abcdef", "c")
	r.phase = phaseRemoved
	if err := r.exitedLocked(); !errdefs.IsFailedPrecondition(err) {
		t.Errorf("exit of a removed container: %v", err)
	}
	r = newRecord("0123456789abcdef", "c")
	r.phase = phaseRestarting
	r.cancelRestart()
	if r.phase != phaseExited {
		t.Errorf("cancelled restart: %s", r.phase)
	}
	r.exitSeen(137, time.Time{})
	if r.pendingExit == nil || r.pendingExit.ExitCode != 137 || time.Since(r.pendingExit.ExitedAt) > time.Minute {
		t.Errorf("an exit seen without a time: %+v, want code 137 at the time it was seen", r.pendingExit)
	}
}

// TestLookupNameOfCreateInProgress: a name reserved by a create still in
// progress names no container yet. The lookup said (nil, nil), and a
// `rm -f NAME` arriving then (the chaos soak: a run -d whose client was
// cut off, then its cleanup) panicked in the API handler.
func TestLookupNameOfCreateInProgress(t *testing.T) {
	s := &Service{records: map[string]*record{}, names: map[string]string{}}
	if _, err := s.reserveName("web", "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"); err != nil {
		t.Fatal(err)
	}
	r, err := s.lookup("web")
	if r != nil || !errdefs.IsNotFound(err) {
		t.Fatalf("lookup of a name being created: %v, %v; want not found", r, err)
	}
}
