package container

import (
	"context"
	"strconv"
	"sync"
	"time"

	"github.com/containerd/containerd/v2/pkg/namespaces"

	containertypes "github.com/berthproject/berth/pkg/types/container"
)

// Labels berth keeps on containerd containers (see docs/architecture.md).
const (
	labelName          = "berth.name"
	labelImage         = "berth.image" // the image reference as the user gave it
	labelImageID       = "berth.image-id"
	labelStartedAt     = "berth.state.started-at"
	labelFinishedAt    = "berth.state.finished-at"
	labelExitCode      = "berth.state.exit-code"
	labelOOMKilled     = "berth.state.oom-killed"
	labelError         = "berth.state.error"
	labelRestartCount  = "berth.state.restart-count"
	labelStoppedByUser = "berth.state.stopped-by-user"
	labelUserPrefix    = "berth.user."

	extConfig = "berth.config"
)

// record is the in-memory part of a container: what cannot live in containerd
// (waiters, attachments in progress) and a serialising lock for lifecycle
// operations. Everything in it can be rebuilt after a restart.
type record struct {
	id   string
	name string

	// op serialises lifecycle operations (start, exit handling, remove).
	op sync.Mutex

	mu        sync.Mutex // guards the fields below
	image     string
	waiters   []*waiter
	attachers []*pendingAttach
	phase     phase // see lifecycle.go
	// restartTimer fires the restart policy's start (phaseRestarting);
	// backoff is the delay before the next one.
	restartTimer *time.Timer
	backoff      time.Duration
	restartCount int
	// userStops counts the user's stops, kills and forced removals in
	// this berthd's life (stopByUser): a start not by the user that was
	// decided before one of them yields to it (starter.stops).
	userStops uint64
	oom       bool // the current run was killed by the OOM killer
	// userRestart: a Restart runs; the exit it causes does not remove an
	// --rm container (dockerd's restart keeps it too).
	userRestart bool
	// pendingExit is the last exit seen of the container's task until the
	// labels hold it (nil then): an exit event's status before the task is
	// reaped, or a reaped --rm container's until it is removed.
	pendingExit *containertypes.ExitStatus
	gone        chan struct{} // closed when the container is removed
	startedAt   time.Time
	health      *healthState // health.go; nil without a healthcheck
	// fromPreviousLife: the container existed when this berthd started
	// (loadRecords), rather than being created since.
	fromPreviousLife bool
	// labels are the user's labels (immutable), for the events' attributes.
	labels map[string]string
}

func newRecord(id, name string) *record {
	return &record{id: id, name: name, gone: make(chan struct{})}
}

type waiter struct {
	cond containertypes.WaitCondition
	ch   chan containertypes.ExitStatus
}

// notifyExit wakes the waiters for an exit (not-running, next-exit).
func (r *record) notifyExit(st containertypes.ExitStatus) {
	r.mu.Lock()
	defer r.mu.Unlock()
	kept := r.waiters[:0]
	for _, w := range r.waiters {
		if w.cond == containertypes.WaitRemoved {
			kept = append(kept, w)
			continue
		}
		w.ch <- st
	}
	r.waiters = kept
}

// notifyRemoved wakes every remaining waiter: the container is gone.
func (r *record) notifyRemoved(st containertypes.ExitStatus) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.phase != phaseRemoved {
		_ = r.transitionLocked(phaseRemoved) // allowed from every other phase
	}
	for _, w := range r.waiters {
		w.ch <- st
	}
	r.waiters = nil
	for _, a := range r.attachers {
		a.cancel()
	}
	r.attachers = nil
}

func withNamespace(ctx context.Context, ns string) context.Context {
	return namespaces.WithNamespace(ctx, ns)
}

func atoiLabel(s string) int {
	n, _ := strconv.Atoi(s)
	return n
}

func timeLabel(s string) time.Time {
	t, _ := time.Parse(time.RFC3339Nano, s)
	return t
}

func formatTime(t time.Time) string {
	return t.UTC().Format(time.RFC3339Nano)
}
