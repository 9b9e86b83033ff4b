package container

import (
	"context"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"time"

	apievents "github.com/containerd/containerd/api/events"
	tasks "github.com/containerd/containerd/api/services/tasks/v1"
	tasktypes "github.com/containerd/containerd/api/types/task"
	"github.com/containerd/containerd/v2/core/containers"
	ctrdevents "github.com/containerd/containerd/v2/core/events"
	"github.com/containerd/errdefs"
	"github.com/containerd/typeurl/v2"

	containertypes "github.com/berthproject/berth/pkg/types/container"
)

// Docker's restart back-off: 100 ms doubling to one minute, reset after a run
// of at least ten seconds.
const (
	backoffMin   = 100 * time.Millisecond
	backoffMax   = time.Minute
	backoffReset = 10 * time.Second
)

// Run follows containerd's task events until ctx is done: it records exits,
// removes --rm containers, applies restart policies and publishes berth's
// events. Each (re)subscription is followed by a reconciliation, so exits
// that happened while berthd or containerd were away are handled too. The
// first reconciliation is a daemon start: restart policies apply as Docker
// applies them when its daemon starts.
func (s *Service) Run(ctx context.Context) {
	ctx = s.ctx(ctx)
	daemonStart := true
	delay := 100 * time.Millisecond
	for ctx.Err() == nil {
		subCtx, cancel := context.WithCancel(ctx)
		// Every task and container event: exits and OOM kills are
		// handled, and all of them keep List's view current.
		evs, errs := s.client.Subscribe(subCtx,
			`topic~="^/tasks/",namespace==`+quote(s.opts.Namespace),
			`topic~="^/containers/",namespace==`+quote(s.opts.Namespace),
			`topic==`+quote(viewSyncTopic)+`,namespace==`+quote(s.opts.Namespace),
		)
		go s.syncView(subCtx)
		s.reconcile(ctx, daemonStart)
		daemonStart = false
		s.follow(ctx, evs, errs, func() { delay = 100 * time.Millisecond })
		s.view.setLive(false)
		cancel()
		select {
		case <-ctx.Done():
		case <-time.After(delay):
		}
		delay = min(delay*2, 5*time.Second)
	}
}

func quote(s string) string { return `"` + s + `"` }

func (s *Service) follow(ctx context.Context, evs <-chan *ctrdevents.Envelope, errs <-chan error, healthy func()) {
	for {
		select {
		case <-ctx.Done():
			return
		case err := <-errs:
			if err != nil && ctx.Err() == nil {
				s.log.Warn("containerd event stream ended; resubscribing", "err", err)
			}
			return
		case env := <-evs:
			healthy()
			if env.Topic == viewSyncTopic {
				s.view.setLive(true)
				continue
			}
			v, err := typeurl.UnmarshalAny(env.Event)
			if err != nil {
				s.view.invalidateAll()
				continue
			}
			s.view.event(v)
			switch e := v.(type) {
			case *apievents.TaskExit:
				s.log.Debug("task exit event", "id", e.ContainerID, "exec", e.ID, "status", e.ExitStatus, "pid", e.Pid)
				if e.ID == e.ContainerID {
					if r := s.recordByID(e.ContainerID); r != nil {
						r.exitSeen(int(e.ExitStatus), e.ExitedAt.AsTime())
					}
					go s.handleExit(ctx, e.ContainerID)
				}
			case *apievents.TaskOOM:
				s.handleOOM(e.ContainerID)
			}
		}
	}
}

// allRecords returns the records of every container, in no order.
func (s *Service) allRecords() []*record {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Collect(maps.Values(s.records))
}

func (s *Service) recordByID(id string) *record {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.records[id]
}

func (r *record) setUserRestart(on bool) {
	r.mu.Lock()
	r.userRestart = on
	r.mu.Unlock()
}

func (r *record) inUserRestart() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.userRestart
}

func (s *Service) handleOOM(id string) {
	r := s.recordByID(id)
	if r == nil {
		return
	}
	r.mu.Lock()
	r.oom = true
	r.mu.Unlock()
	s.publish(r, "oom", nil)
}

// handleExit records the exit of a container's init process, deletes its
// task and decides what comes next (nothing, removal or a restart). It is
// idempotent: a second call for the same exit finds no task and returns.
func (s *Service) handleExit(ctx context.Context, id string) {
	r := s.recordByID(id)
	if r == nil {
		return
	}
	r.op.Lock()
	defer r.op.Unlock()
	c, cfg, err := s.load(ctx, r.id)
	if err != nil {
		return
	}
	// An --rm container's exit need not be written down: it is removed
	// next (unless a restart caused it).
	autoRemove := cfg.AutoRemove && !r.inUserRestart()
	st, ok := s.reapLocked(ctx, r, !autoRemove, restartRule(c, cfg, autoRemove))
	if !ok {
		return
	}
	s.afterExitLocked(ctx, r, c, cfg, st, autoRemove)
}

// reapLocked deletes the stopped task and records its exit. ok is false when
// there was no task to reap (the exit was already handled). restarts (nil:
// no policy applies) is the restart policy's decision: a container it
// restarts goes from running straight to restarting, as dockerd's
// SetRestarting, so that it never reads exited between an exit and its
// restart (moby's TestUpdateRestartPolicy waits for exited, then counts the
// restarts).
func (s *Service) reapLocked(ctx context.Context, r *record, persist bool, restarts restartDecision) (containertypes.ExitStatus, bool) {
	if proc, err := s.taskState(ctx, r.id); err == nil {
		if proc.Status != tasktypes.Status_STOPPED {
			return containertypes.ExitStatus{}, false // not an exit: a new task runs (or an old event)
		}
		// The OOM event can trail the exit: a kill by the OOM killer is
		// also read from the container's cgroup, which exists until the
		// task is deleted.
		r.mu.Lock()
		oom := r.oom
		r.mu.Unlock()
		if !oom && proc.ExitStatus == 137 && s.cgroupOOMKilledByID(ctx, r.id) {
			s.handleOOM(r.id)
		}
	}
	// The network goes while the task is deleted: the process is gone.
	// Its interfaces and addresses are released in the background.
	netDone := make(chan struct{})
	go func() {
		defer close(netDone)
		s.releaseNetwork(ctx, r.id)
	}()
	resp, err := s.deleteTask(ctx, r.id)
	for i := 0; err != nil && i < 20 && r.hasPendingExit() && ctx.Err() == nil; i++ {
		// Its exit was seen but the delete fails: containerd is still
		// cleaning up after a dead shim. Give it a moment.
		time.Sleep(100 * time.Millisecond)
		resp, err = s.deleteTask(ctx, r.id)
	}
	<-netDone
	if err != nil {
		s.log.Warn("deleting an exited task", "id", r.id, "err", err)
		return containertypes.ExitStatus{}, false
	}
	var st containertypes.ExitStatus
	r.mu.Lock()
	seen := r.pendingExit
	if resp == nil && seen != nil && r.phase != phaseRunning && r.phase != phaseUserStopped {
		// The exit of a task that never ran under this record (a start
		// cut off, whose task the reconciliation deleted): nothing ran.
		r.pendingExit, seen = nil, nil
	}
	r.mu.Unlock()
	switch {
	case resp != nil:
		st = containertypes.ExitStatus{ExitCode: int(resp.ExitStatus), ExitedAt: resp.ExitedAt.AsTime()}
		s.log.Debug("reaped task", "id", r.id, "status", resp.ExitStatus, "pid", resp.Pid)
		if st.ExitedAt.IsZero() || st.ExitedAt.Unix() <= 0 {
			st.ExitedAt = time.Now()
		}
	case seen != nil:
		// No task to delete, but its exit was seen: its shim died and
		// containerd cleaned up after it. The exit event is all there
		// is (with the time it was seen if it carried none).
		st = containertypes.ExitStatus{ExitCode: seen.ExitCode, ExitedAt: seen.ExitedAt}
		s.log.Debug("task gone after its exit", "id", r.id, "status", st.ExitCode)
	default:
		return containertypes.ExitStatus{}, false
	}
	r.mu.Lock()
	st.OOMKilled = r.oom
	startedAt := r.startedAt
	// Until the labels say so, the record answers for the exit.
	pending := st
	r.pendingExit = &pending
	if restarts != nil && canTransition(r.phase, phaseRestarting) && restarts(st.ExitCode, r.phase, r.restartCount) {
		err = r.transitionLocked(phaseRestarting) // afterExitLocked sets its timer
	} else {
		err = r.exitedLocked()
	}
	if err != nil {
		s.log.Warn("recording exit", "id", r.id, "err", err)
	}
	r.mu.Unlock()
	if persist {
		labels := map[string]string{
			labelExitCode:   itoa(st.ExitCode),
			labelFinishedAt: formatTime(st.ExitedAt),
			labelOOMKilled:  "",
		}
		if !startedAt.IsZero() {
			labels[labelStartedAt] = formatTime(startedAt)
		}
		if st.OOMKilled {
			labels[labelOOMKilled] = "true"
		}
		if err := s.setLabels(ctx, r.id, labels); err != nil && !errdefs.IsNotFound(err) {
			s.log.Warn("recording exit", "id", r.id, "err", err)
		}
		r.mu.Lock()
		r.pendingExit = nil
		r.mu.Unlock()
	}
	s.stopHealth(r)
	r.notifyExit(st)
	s.publish(r, "die", map[string]string{"exitCode": itoa(st.ExitCode)})
	return st, true
}

// afterExitLocked removes an --rm container (autoRemove: not when a restart
// caused the exit) or schedules its restart.
func (s *Service) afterExitLocked(ctx context.Context, r *record, c containers.Container, cfg *containertypes.Config, st containertypes.ExitStatus, autoRemove bool) {
	if autoRemove {
		if err := s.removeLocked(ctx, r, st, false); err != nil {
			s.log.Warn("removing an --rm container", "id", r.id, "err", err)
		}
		return
	}
	r.mu.Lock()
	// reapLocked decided already when it moved the record to restarting.
	decided := r.phase == phaseRestarting && r.restartTimer == nil
	restart := decided || restartRule(c, cfg, false)(st.ExitCode, r.phase, r.restartCount)
	ranFor := st.ExitedAt.Sub(r.startedAt)
	r.mu.Unlock()
	if !restart {
		return
	}
	s.scheduleRestart(ctx, r, ranFor)
}

// restartDecision says whether the restart policy restarts a container
// after an exit with exitCode, in phase, after restarts restarts. It is
// called with the record's mu held.
type restartDecision func(exitCode int, ph phase, restarts int) bool

// restartRule is the restart policy of container c for its next exit; nil
// for an --rm container (autoRemove), which is removed instead.
func restartRule(c containers.Container, cfg *containertypes.Config, autoRemove bool) restartDecision {
	if autoRemove {
		return nil
	}
	return func(exitCode int, ph phase, restarts int) bool {
		stoppedByUser := ph == phaseUserStopped || c.Labels[labelStoppedByUser] == "true"
		return shouldRestart(cfg.RestartPolicy, exitCode, stoppedByUser, restarts)
	}
}

// shouldRestart is Docker's restart policy decision for an exit.
func shouldRestart(p containertypes.RestartPolicy, exitCode int, stoppedByUser bool, restarts int) bool {
	if stoppedByUser {
		return false
	}
	switch p.Name {
	case "always", "unless-stopped":
		return true
	case "on-failure":
		return exitCode != 0 && (p.MaximumRetryCount == 0 || restarts < p.MaximumRetryCount)
	}
	return false
}

func (s *Service) scheduleRestart(ctx context.Context, r *record, ranFor time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.phase == phaseRestarting && r.restartTimer == nil {
		// reapLocked moved it there at its exit: the timer is due.
	} else if err := r.transitionLocked(phaseRestarting); err != nil {
		s.log.Debug("no restart", "id", r.id, "err", err)
		return
	}
	if ranFor >= backoffReset || r.backoff == 0 {
		r.backoff = backoffMin
	} else {
		r.backoff = min(r.backoff*2, backoffMax)
	}
	delay := r.backoff
	r.restartTimer = time.AfterFunc(delay, func() { s.restartNow(ctx, r) })
}

func (s *Service) restartNow(ctx context.Context, r *record) {
	if s.waitStartupGC(ctx) != nil {
		return
	}
	r.op.Lock()
	defer r.op.Unlock()
	r.mu.Lock()
	if r.phase != phaseRestarting {
		r.mu.Unlock()
		return // cancelled: started, stopped or removed meanwhile
	}
	r.restartCount++
	count := r.restartCount
	// A user's stop from here on wins over this start.
	by := starter{stops: r.userStops}
	r.mu.Unlock()
	// The container shows as restarting until its new task runs.
	if err := s.setLabels(ctx, r.id, map[string]string{labelRestartCount: itoa(count)}); err != nil {
		s.log.Warn("recording restart count", "id", r.id, "err", err)
	}
	s.publish(r, "restart", nil)
	if err := s.startLocked(ctx, r, by); err != nil {
		if errdefs.IsUnavailable(err) && ctx.Err() == nil && s.retryRestart(ctx, r) {
			// containerd unreachable (being restarted): no failure of the
			// container's; the policy's start is tried again.
			s.log.Warn("restart policy: containerd unreachable, trying again", "id", r.id, "err", err)
			return
		}
		// As Docker: a policy's start that fails is not retried; the
		// container stays exited with the error (startLocked recorded it).
		s.log.Warn("restart policy: start failed", "id", r.id, "err", err)
		r.cancelRestart()
	}
}

// retryRestart schedules the policy's start again after the back-off,
// unless the restart was cancelled meanwhile.
func (s *Service) retryRestart(ctx context.Context, r *record) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.phase != phaseRestarting {
		return false
	}
	r.backoff = min(max(r.backoff*2, backoffMin), backoffMax)
	r.restartTimer = time.AfterFunc(r.backoff, func() { s.restartNow(ctx, r) })
	return true
}

// reconcile handles what happened while nobody was watching: tasks that
// exited, tasks that vanished, and (at daemon start) restart policies.
func (s *Service) reconcile(ctx context.Context, daemonStart bool) {
	for _, r := range s.allRecords() {
		s.reconcileOne(ctx, r, daemonStart)
	}
	if daemonStart {
		s.gcFiles()
		if s.opts.Networks != nil {
			s.gcNetworks(ctx)
		}
		s.startupGCDone.Do(func() { close(s.startupGC) })
	}
}

// waitStartupGC waits until the startup reconciliation's GC is done (see
// Service.startupGC).
func (s *Service) waitStartupGC(ctx context.Context) error {
	select {
	case <-s.startupGC:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// gcFiles removes the per-container files and attach sockets of containers
// that no longer exist (a crash between a removal's steps).
func (s *Service) gcFiles() {
	// A container being created has its name reserved (reserveName)
	// before it makes its directory and long before it has a record: its
	// files are not a leftover. (The chaos soak saw a run right after a
	// berthd restart lose its hostname file to this GC.)
	known := func(id string) bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		if _, ok := s.records[id]; ok {
			return true
		}
		for _, reserved := range s.names {
			if reserved == id {
				return true
			}
		}
		return false
	}
	dir := filepath.Join(s.opts.Root, "containers")
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if len(e.Name()) == 64 && !known(e.Name()) {
			s.log.Info("removing the files of a container that no longer exists", "id", e.Name())
			os.RemoveAll(filepath.Join(dir, e.Name()))
		}
	}
	// Staged mount sources of a start that berthd did not finish.
	staged, _ := os.ReadDir(filepath.Join(s.opts.State, "mounts"))
	for _, e := range staged {
		if !known(e.Name()) {
			s.unstage(s.stagingDir(e.Name()))
		}
	}
	s.mu.Lock()
	live := make(map[string]bool, len(s.records))
	for id := range s.records {
		live[id[:16]+".sock"] = true
	}
	s.mu.Unlock()
	ioDir := filepath.Join(s.opts.State, "io")
	socks, _ := os.ReadDir(ioDir)
	for _, e := range socks {
		if !live[e.Name()] {
			os.Remove(filepath.Join(ioDir, e.Name()))
		}
	}
}

// gcNetworks removes the network state of every container without a live
// task: what a crash left behind (netns, veths, IPs, firewall rules).
func (s *Service) gcNetworks(ctx context.Context) {
	resp, err := s.taskClient().List(ctx, &tasks.ListTasksRequest{})
	if err != nil {
		s.log.Warn("network GC: listing tasks", "err", err)
		return
	}
	var valid []string
	for _, t := range resp.Tasks {
		if t.Status != tasktypes.Status_STOPPED {
			valid = append(valid, t.ID)
		}
	}
	if err := s.opts.Networks.GC(ctx, valid); err != nil {
		s.log.Warn("network GC", "err", err)
	}
}

func (s *Service) reconcileOne(ctx context.Context, r *record, daemonStart bool) {
	r.op.Lock()
	defer r.op.Unlock()
	c, cfg, err := s.load(ctx, r.id)
	if err != nil {
		return
	}
	r.mu.Lock()
	r.image = cfg.Image
	if r.startedAt.IsZero() {
		r.startedAt = timeLabel(c.Labels[labelStartedAt])
	}
	r.mu.Unlock()
	proc, err := s.taskState(ctx, r.id)
	if err == nil && proc.Status == tasktypes.Status_CREATED {
		// Created, never started: a start cut off between its two calls
		// (berthd or containerd killed). No start is in progress (r.op is
		// ours), so nobody will start it: it goes, with its network, as
		// the start's rollback would have done, and the container is one
		// without a task (a policy may start it below).
		s.log.Info("removing the task of an interrupted start", "id", r.id)
		if _, derr := s.deleteTask(ctx, r.id); derr != nil {
			s.log.Warn("removing the task of an interrupted start", "id", r.id, "err", derr)
			return
		}
		s.teardownNetwork(ctx, r.id)
		proc, err = nil, errdefs.ErrNotFound
	}
	switch {
	case err == nil && proc.Status == tasktypes.Status_STOPPED:
		if st, ok := s.reapLocked(ctx, r, !cfg.AutoRemove, restartRule(c, cfg, cfg.AutoRemove)); ok {
			s.afterExitLocked(ctx, r, c, cfg, st, cfg.AutoRemove)
		}
		return
	case err == nil:
		// Running or paused: its exit will come as an event. A restarted
		// berthd learns when it started from the labels, else from /proc.
		r.mu.Lock()
		if r.phase == phaseCreated {
			_ = r.transitionLocked(phaseRunning) // allowed by the table
		}
		if r.startedAt.IsZero() {
			r.startedAt = procStartTime(int(proc.Pid))
		}
		startedAt := r.startedAt
		r.mu.Unlock()
		if !r.healthActive() {
			// Live restore: a restarted berthd resumes the probes.
			s.startHealth(ctx, r, cfg, startedAt, c.Labels[labelHealth])
		}
		return
	case !errdefs.IsNotFound(err):
		s.log.Warn("reconciling container", "id", r.id, "err", err)
		return
	}
	// No task. One that was running when it was lost (host reboot, shim
	// killed while nobody watched) gets its exit recorded.
	started, finished := timeLabel(c.Labels[labelStartedAt]), timeLabel(c.Labels[labelFinishedAt])
	if !started.IsZero() && r.is(phaseCreated, phaseRunning) {
		_ = r.transition(phaseExited) // it ran and is gone: allowed by the table
	}
	if !started.IsZero() && started.After(finished) {
		now := time.Now()
		st := containertypes.ExitStatus{ExitCode: 255, ExitedAt: now, Error: "the container's task was lost"}
		if err := s.setLabels(ctx, r.id, map[string]string{
			labelExitCode: "255", labelFinishedAt: formatTime(now), labelError: st.Error,
		}); err != nil {
			s.log.Warn("recording lost task", "id", r.id, "err", err)
		}
		if cfg.AutoRemove {
			_ = s.removeLocked(ctx, r, st, false)
			return
		}
		if !daemonStart {
			// Lost while berthd ran: its shim died while containerd was
			// away (containerd's restart cleaned it up, and the exit event
			// went to nobody). The restart policy decides, as for any
			// exit. (The chaos soak found `always` keepers left exited.)
			r.notifyExit(st)
			s.afterExitLocked(ctx, r, c, cfg, st, cfg.AutoRemove)
			return
		}
	}
	if daemonStart && cfg.AutoRemove && r.fromPreviousLife {
		// An --rm container with no task at berthd's start: its run was
		// cut off by a kill of berthd (before its start, or before its
		// exit was handled or its removal done). As Docker's daemon at
		// its start, berthd removes it. Only one created before this
		// berthd started: a create since has its start on its way.
		st, _ := s.lastExit(ctx, r.id)
		s.log.Info("removing an --rm container whose run was cut off", "id", r.id)
		if err := s.removeLocked(ctx, r, st, true); err != nil {
			s.log.Warn("removing an --rm container whose run was cut off", "id", r.id, "err", err)
		}
		return
	}
	if !daemonStart || started.IsZero() {
		return
	}
	stoppedByUser := c.Labels[labelStoppedByUser] == "true"
	switch cfg.RestartPolicy.Name {
	case "always":
	case "unless-stopped":
		if stoppedByUser {
			return
		}
	default:
		return
	}
	// As Docker, the daemon's start of an `always` container ends the
	// user's stop: from now on its policy restarts it after each exit.
	// That is a stop from before berthd started: one since (the API
	// serves while this reconciliation runs) wins over this start.
	r.mu.Lock()
	stoppedSince := r.userStops != 0
	r.mu.Unlock()
	if stoppedSince {
		return
	}
	if err := s.startLocked(ctx, r, starter{clearsStop: true}); err != nil {
		s.log.Warn("restart policy at daemon start", "id", r.id, "err", err)
		if errdefs.IsUnavailable(err) && ctx.Err() == nil {
			// containerd unreachable: the policy tries again.
			s.scheduleRestart(ctx, r, 0)
		}
	}
}
