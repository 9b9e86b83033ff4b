package container

import (
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	tasktypes "github.com/containerd/containerd/api/types/task"
	"github.com/containerd/containerd/v2/core/containers"
	"github.com/containerd/errdefs"

	containertypes "github.com/berthproject/berth/pkg/types/container"
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
		{R, R}: true, {R, E}: true, {R, S}: true, {R, U}: true, {R, X}: true,
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

// TestStopWinsOverPolicyStart: a user's stop that lands while a start not
// by the user is in progress (the restart policy's, or berthd's start of an
// `always` container at its own start, which runs while the API serves)
// wins: the record stays stopped by the user, so its exit is no failure for
// the policy. A user's start ends the stop. (TestLifecycleStress saw an
// `always` container restarted after its final stop: berthd's start of it
// cleared the stop that came after berthd was up.)
func TestStopWinsOverPolicyStart(t *testing.T) {
	now := time.Now()
	for _, tc := range []struct {
		name string
		from phase
		by   func(r *record) starter
	}{
		{"policy", phaseRestarting, func(r *record) starter { return starter{stops: r.userStops} }},
		{"daemon start", phaseUserStopped, func(r *record) starter { return starter{clearsStop: true} }},
	} {
		r := newRecord("0123456789abcdef", "c")
		r.phase = tc.from
		by := tc.by(r)
		if err := r.stopByUser(); err != nil {
			t.Fatal(err)
		}
		if err := r.started(now, by); err != errStopWon || r.phase != phaseUserStopped {
			t.Errorf("%s start after a user's stop: %s, %v; want stopped by the user", tc.name, r.phase, err)
		}
		if !r.startedAt.Equal(now) {
			t.Errorf("%s start after a user's stop: the run's start time is not recorded", tc.name)
		}
		if err := r.exitedLocked(); err != nil || r.phase != phaseUserStopped {
			t.Errorf("%s: the exit after the stop: %s, %v", tc.name, r.phase, err)
		}
		if err := r.started(now, userStart); err != nil || r.phase != phaseRunning {
			t.Errorf("%s: a user's start after: %s, %v; want running", tc.name, r.phase, err)
		}
	}
	// Without a stop in between, the policy's start runs the container.
	r := newRecord("0123456789abcdef", "c")
	r.phase = phaseUserStopped
	_ = r.stopByUser()
	r.phase = phaseRestarting
	if err := r.started(now, starter{stops: r.userStops}); err != nil || r.phase != phaseRunning {
		t.Errorf("a policy start with no stop since: %s, %v; want running", r.phase, err)
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

// TestStartupGCKeepsCreateInProgress: the startup GC of container files
// removes the directory of a container that no longer exists, never that
// of a container being created (its name reserved, no record yet).
func TestStartupGCKeepsCreateInProgress(t *testing.T) {
	root, state := t.TempDir(), t.TempDir()
	s := &Service{opts: Options{Root: root, State: state}, log: slog.Default(),
		records: map[string]*record{}, names: map[string]string{}}
	creating, stale := strings.Repeat("a", 64), strings.Repeat("b", 64)
	if _, err := s.reserveName("web", creating); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{creating, stale} {
		if err := os.MkdirAll(filepath.Join(root, "containers", id), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	s.gcFiles()
	if _, err := os.Stat(filepath.Join(root, "containers", creating)); err != nil {
		t.Errorf("the files of a container being created were collected: %v", err)
	}
	if _, err := os.Stat(filepath.Join(root, "containers", stale)); !os.IsNotExist(err) {
		t.Errorf("the files of a container that no longer exists were kept: %v", err)
	}
}

// TestStateExitTimeFromRecord: an exit the record answers for (its labels
// not written yet) shows the time it was seen, not a zero FinishedAt ("292
// years ago" in ps).
func TestStateExitTimeFromRecord(t *testing.T) {
	at := time.Now().Add(-3 * time.Second)
	r := &record{phase: phaseExited, pendingExit: &containertypes.ExitStatus{ExitCode: 137, ExitedAt: at}}
	st := (&Service{}).state(r.view(), containers.Container{Labels: map[string]string{}}, nil, containertypes.RestartPolicy{})
	if st.Status != containertypes.StatusExited || st.ExitCode != 137 || !st.FinishedAt.Equal(at) {
		t.Errorf("state of an exit the labels do not hold yet: status %q, code %d, finished %v; want exited, 137, %v",
			st.Status, st.ExitCode, st.FinishedAt, at)
	}
}

// TestStateStoppedTaskThePolicyRestarts: a task that stopped, its exit not
// handled yet, reads restarting when the restart policy will restart it
// (dockerd's container never reads exited between an exit and its
// restart), exited when it will not.
func TestStateStoppedTaskThePolicyRestarts(t *testing.T) {
	stopped := &tasktypes.Process{Status: tasktypes.Status_STOPPED, ExitStatus: 1}
	onFailure := func(max int) containertypes.RestartPolicy {
		return containertypes.RestartPolicy{Name: "on-failure", MaximumRetryCount: max}
	}
	for _, tc := range []struct {
		name     string
		phase    phase
		restarts int
		policy   containertypes.RestartPolicy
		labels   map[string]string
		want     string
	}{
		{"on-failure with retries left", phaseRunning, 2, onFailure(5), nil, containertypes.StatusRestarting},
		{"a policy's start whose task stopped before it read running", phaseRestarting, 2, onFailure(5), nil, containertypes.StatusRestarting},
		{"on-failure without retries left", phaseRunning, 5, onFailure(5), nil, containertypes.StatusExited},
		{"no policy", phaseRunning, 0, containertypes.RestartPolicy{}, nil, containertypes.StatusExited},
		{"stopped by the user", phaseUserStopped, 0, onFailure(5), nil, containertypes.StatusExited},
		{"stopped by the user before berthd started", phaseRunning, 0, onFailure(5),
			map[string]string{labelStoppedByUser: "true"}, containertypes.StatusExited},
	} {
		r := &record{phase: tc.phase, restartCount: tc.restarts}
		st := (&Service{}).state(r.view(), containers.Container{Labels: tc.labels}, stopped, tc.policy)
		if st.Status != tc.want || st.Restarting != (tc.want == containertypes.StatusRestarting) {
			t.Errorf("%s: status %q (restarting %v), want %q", tc.name, st.Status, st.Restarting, tc.want)
		}
	}
}
