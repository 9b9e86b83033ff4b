package container

import (
	"context"
	"fmt"
	"syscall"
	"time"

	tasks "github.com/containerd/containerd/api/services/tasks/v1"
	tasktypes "github.com/containerd/containerd/api/types/task"
	"github.com/containerd/errdefs"
	"github.com/containerd/errdefs/pkg/errgrpc"
	"github.com/moby/sys/signal"

	containertypes "github.com/berthproject/berth/pkg/types/container"
)

const defaultStopTimeout = 10 * time.Second

func parseSignal(s string) (syscall.Signal, error) {
	sig, err := signal.ParseSignal(s)
	if err != nil {
		return 0, fmt.Errorf("invalid signal: %s: %w", s, errdefs.ErrInvalidArgument)
	}
	return sig, nil
}

// Stop sends the stop signal, waits up to the timeout for the container to
// exit, then kills it. Stopping a container that is not running is not an
// error. A stopped container is not restarted by its restart policy. The
// stop goes on when ctx is cancelled, as dockerd's.
func (s *Service) Stop(ctx context.Context, ref string, opts containertypes.StopOptions) error {
	r, err := s.lookup(ref)
	if err != nil {
		return err
	}
	// As dockerd's: a stop the caller stops waiting for goes on.
	ctx = context.WithoutCancel(s.ctx(ctx))
	return s.stop(ctx, r, opts)
}

func (s *Service) stop(ctx context.Context, r *record, opts containertypes.StopOptions) error {
	_, cfg, err := s.load(ctx, r.id)
	if err != nil {
		return err
	}
	timeout := defaultStopTimeout
	if cfg.StopTimeout != nil {
		timeout = time.Duration(*cfg.StopTimeout) * time.Second
	}
	if opts.Timeout != nil {
		timeout = *opts.Timeout
	}
	sigName := opts.Signal
	if sigName == "" {
		sigName = cfg.StopSignal
	}
	if sigName == "" {
		sigName = "SIGTERM"
	}
	sig, err := parseSignal(sigName)
	if err != nil {
		return err
	}

	// No restart policy acts on the exit that follows (nor on a pending
	// restart): the user stopped it.
	if err := r.stopByUser(); err != nil {
		return err
	}
	if err := s.setLabels(ctx, r.id, map[string]string{labelStoppedByUser: "true"}); err != nil {
		return err
	}
	exited, err := s.Wait(ctx, r.id, containertypes.WaitNotRunning)
	if err != nil {
		return err
	}
	if err := s.signal(ctx, r.id, sig, true); err != nil {
		if errdefs.IsNotFound(err) || errdefs.IsFailedPrecondition(err) {
			return nil // not running
		}
		return err
	}
	// A negative timeout (-t -1, StopTimeout -1) waits as long as it takes.
	var expired <-chan time.Time
	if timeout >= 0 {
		t := time.NewTimer(timeout)
		defer t.Stop()
		expired = t.C
	}
	select {
	case <-exited:
		s.publish(r, "stop", nil)
		return nil
	case <-expired:
	case <-ctx.Done():
		return ctx.Err()
	}
	// A task that exited since the timeout (stopped, not reaped yet) is
	// no error: its exit is on its way to the waiter.
	if err := s.signal(ctx, r.id, syscall.SIGKILL, true); err != nil && !errdefs.IsNotFound(err) && !errdefs.IsFailedPrecondition(err) {
		return err
	}
	select {
	case <-exited:
	case <-ctx.Done():
		return ctx.Err()
	}
	s.publish(r, "stop", nil)
	return nil
}

// signal sends sig to the container's init process (all=true: every process,
// as a paused container must be thawed to die). A container with no running
// task is errdefs.ErrFailedPrecondition / NotFound.
func (s *Service) signal(ctx context.Context, id string, sig syscall.Signal, all bool) error {
	proc, err := s.taskState(ctx, id)
	if err != nil {
		return err
	}
	// A created task that never started (its start was cut off, e.g. by a
	// containerd restart) takes SIGKILL too: a forced removal has no other
	// way to end it.
	created := proc.Status == tasktypes.Status_CREATED && sig == syscall.SIGKILL
	if proc.Status != tasktypes.Status_RUNNING && proc.Status != tasktypes.Status_PAUSED && !created {
		return fmt.Errorf("container is not running: %w", errdefs.ErrFailedPrecondition)
	}
	_, err = s.taskClient().Kill(ctx, &tasks.KillRequest{ContainerID: id, Signal: uint32(sig), All: all && sig == syscall.SIGKILL})
	if err != nil {
		return errgrpc.ToNative(err)
	}
	if proc.Status == tasktypes.Status_PAUSED && sig == syscall.SIGKILL {
		// A frozen cgroup keeps the signal pending until it thaws.
		_, _ = s.taskClient().Resume(ctx, &tasks.ResumeTaskRequest{ContainerID: id})
	}
	return nil
}

// Restart stops the container (if running) and starts it again, to the end
// even when ctx is cancelled.
func (s *Service) Restart(ctx context.Context, ref string, opts containertypes.StopOptions) error {
	r, err := s.lookup(ref)
	if err != nil {
		return err
	}
	// As dockerd's: a restart the caller stops waiting for goes on.
	ctx = context.WithoutCancel(s.ctx(ctx))
	r.setUserRestart(true)
	defer r.setUserRestart(false)
	if err := s.stop(ctx, r, opts); err != nil {
		return err
	}
	r.op.Lock()
	defer r.op.Unlock()
	if err := s.startLocked(ctx, r, userStart); err != nil {
		return err
	}
	s.publish(r, "restart", nil)
	return nil
}

// Kill sends a signal (default SIGKILL) to a running container.
func (s *Service) Kill(ctx context.Context, ref, sigName string) error {
	r, err := s.lookup(ref)
	if err != nil {
		return err
	}
	ctx = s.ctx(ctx)
	if sigName == "" {
		sigName = "SIGKILL"
	}
	sig, err := parseSignal(sigName)
	if err != nil {
		return err
	}
	// As Docker, a SIGKILL returns once the container is no longer
	// running (ps right after kill says exited): the waiter is registered
	// before the signal so the exit cannot slip past it.
	var exited <-chan containertypes.ExitStatus
	if sig == syscall.SIGKILL {
		exited, _ = s.Wait(ctx, r.id, containertypes.WaitNotRunning)
	}
	if err := s.signal(ctx, r.id, sig, true); err != nil {
		if errdefs.IsNotFound(err) || errdefs.IsFailedPrecondition(err) {
			return fmt.Errorf("cannot kill container %s: container %s is not running: %w", r.name, r.id[:12], errdefs.ErrConflict)
		}
		return err
	}
	if s.killStops(ctx, r.id, sig) {
		_ = r.stopByUser() // fails only for a removed container
		_ = s.setLabels(ctx, r.id, map[string]string{labelStoppedByUser: "true"})
	}
	s.publish(r, "kill", map[string]string{"signal": itoa(int(sig))})
	if exited != nil {
		select {
		case <-exited:
		case <-ctx.Done():
		case <-time.After(killWait):
			s.log.Warn("kill: the container has not exited yet", "id", r.id, "after", killWait)
		}
	}
	return nil
}

// killStops says whether a kill counts as the user's stop for the restart
// policy, by dockerd's rule: SIGKILL does, and so does the container's stop
// signal; with no stop signal set, every signal does. Another signal (a
// container that stops on SIGCONT killed with SIGTERM) leaves the policy
// in force: the container restarts when it exits.
func (s *Service) killStops(ctx context.Context, id string, sig syscall.Signal) bool {
	if sig == syscall.SIGKILL {
		return true
	}
	_, cfg, err := s.load(ctx, id)
	if err != nil || cfg.StopSignal == "" {
		return true
	}
	stop, err := parseSignal(cfg.StopSignal)
	return err != nil || stop == sig
}

// killWait bounds how long Kill waits for a SIGKILLed container's exit
// (a process in uninterruptible sleep outlives its SIGKILL).
const killWait = 10 * time.Second

// Pause freezes every process of a running container.
func (s *Service) Pause(ctx context.Context, ref string) error {
	r, err := s.lookup(ref)
	if err != nil {
		return err
	}
	ctx = s.ctx(ctx)
	proc, err := s.taskState(ctx, r.id)
	if err != nil || proc.Status != tasktypes.Status_RUNNING {
		if err == nil && proc.Status == tasktypes.Status_PAUSED {
			return fmt.Errorf("container %s is already paused: %w", r.name, errdefs.ErrConflict)
		}
		return fmt.Errorf("container %s is not running: %w", r.name, errdefs.ErrConflict)
	}
	if _, err := s.taskClient().Pause(ctx, &tasks.PauseTaskRequest{ContainerID: r.id}); err != nil {
		return errgrpc.ToNative(err)
	}
	s.publish(r, "pause", nil)
	return nil
}

// Unpause thaws a paused container.
func (s *Service) Unpause(ctx context.Context, ref string) error {
	r, err := s.lookup(ref)
	if err != nil {
		return err
	}
	ctx = s.ctx(ctx)
	proc, err := s.taskState(ctx, r.id)
	if err != nil || proc.Status != tasktypes.Status_PAUSED {
		return fmt.Errorf("container %s is not paused: %w", r.name, errdefs.ErrConflict)
	}
	if _, err := s.taskClient().Resume(ctx, &tasks.ResumeTaskRequest{ContainerID: r.id}); err != nil {
		return errgrpc.ToNative(err)
	}
	s.publish(r, "unpause", nil)
	return nil
}

// Resize changes the container's terminal size.
func (s *Service) Resize(ctx context.Context, ref string, size containertypes.WindowSize) error {
	r, err := s.lookup(ref)
	if err != nil {
		return err
	}
	_, err = s.taskClient().ResizePty(s.ctx(ctx), &tasks.ResizePtyRequest{
		ContainerID: r.id, Width: uint32(size.Width), Height: uint32(size.Height),
	})
	err = errgrpc.ToNative(err)
	if errdefs.IsNotFound(err) {
		// No task: the container is not running (a 409, as dockerd).
		return fmt.Errorf("cannot resize container %s: container %s is not running: %w", r.name, r.id, errdefs.ErrConflict)
	}
	return err
}
