package container

import (
	"context"
	"errors"
	"fmt"
	"os"
	"syscall"
	"time"

	tasktypes "github.com/containerd/containerd/api/types/task"
	"github.com/containerd/errdefs"

	containertypes "github.com/berthproject/berth/pkg/types/container"
)

// Remove deletes a container: its task (Force kills a running one first),
// its writable layer, its files and its record.
func (s *Service) Remove(ctx context.Context, ref string, opts containertypes.RemoveOptions) error {
	if opts.Link {
		return s.removeLink(s.ctx(ctx), ref)
	}
	r, err := s.lookup(ref)
	if err != nil {
		return err
	}
	ctx = s.ctx(ctx)
	if opts.Force {
		// No restart policy may bring it back while it is being removed.
		if r.stopByUser() != nil {
			return nil // removed meanwhile
		}
	}
	for attempt := 0; ; attempt++ {
		running, err := s.isRunning(ctx, r)
		if err != nil {
			return err
		}
		if running != "" {
			if !opts.Force {
				return fmt.Errorf("cannot remove container %s: container is %s: stop the container before removing or force remove: %w", r.name, running, errdefs.ErrConflict)
			}
			if attempt > 5 {
				return fmt.Errorf("cannot remove container %s: it keeps running: %w", r.name, errdefs.ErrConflict)
			}
			if err := s.killAndWait(ctx, r); err != nil {
				return err
			}
			continue
		}
		if r.is(phaseRestarting) && !opts.Force {
			return fmt.Errorf("cannot remove container %s: it is restarting: stop the container before removing or force remove: %w", r.name, errdefs.ErrConflict)
		}
		r.op.Lock()
		// A start may have slipped in before op was ours.
		if running, err := s.isRunning(ctx, r); err != nil || running != "" {
			r.op.Unlock()
			if err != nil {
				return err
			}
			continue
		}
		if r.is(phaseRemoved) {
			r.op.Unlock()
			return nil // an --rm container removed itself meanwhile
		}
		st, _ := s.reapLocked(ctx, r, false, nil)
		var anon []string
		if opts.Volumes {
			if c, err := s.containerStore().Get(ctx, r.id); err == nil {
				anon = anonymousVolumes(c)
			}
		}
		err = s.removeLocked(ctx, r, st, true)
		r.op.Unlock()
		if err == nil {
			s.removeVolumes(ctx, anon)
		}
		return err
	}
}

// isRunning says "running" or "paused" when the container has a live task.
func (s *Service) isRunning(ctx context.Context, r *record) (string, error) {
	proc, err := s.taskState(ctx, r.id)
	if err != nil {
		if errdefs.IsNotFound(err) {
			return "", nil
		}
		return "", err
	}
	switch proc.Status {
	case tasktypes.Status_STOPPED:
		return "", nil
	case tasktypes.Status_PAUSED, tasktypes.Status_PAUSING:
		return "paused", nil
	}
	return "running", nil
}

func (s *Service) killAndWait(ctx context.Context, r *record) error {
	if proc, err := s.taskState(ctx, r.id); err == nil && proc.Status == tasktypes.Status_CREATED {
		// A task created but never started (a start cut off): no signal
		// reaches it and no exit will come; it is deleted instead.
		r.op.Lock()
		defer r.op.Unlock()
		if proc, err := s.taskState(ctx, r.id); err != nil || proc.Status != tasktypes.Status_CREATED {
			return nil // started or gone meanwhile: the caller looks again
		}
		if _, err := s.deleteTask(ctx, r.id); err != nil {
			return err
		}
		s.teardownNetwork(ctx, r.id)
		return nil
	}
	exited, err := s.Wait(ctx, r.id, containertypes.WaitNotRunning)
	if err != nil {
		return err
	}
	if err := s.signal(ctx, r.id, syscall.SIGKILL, true); err != nil && !errdefs.IsNotFound(err) && !errdefs.IsFailedPrecondition(err) {
		return err
	}
	// The exit event is the usual end. It can be lost (containerd was
	// restarted between the kill and the event, or the task was created
	// but its start was cut off and no monitor waits for it), so the
	// task's state is polled as well: a stopped or gone task is the end
	// too. A task still there after killWaitMax is an error, never a hang.
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	deadline := time.NewTimer(killWaitMax)
	defer deadline.Stop()
	for {
		select {
		case <-exited:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		case <-deadline.C:
			return fmt.Errorf("cannot remove container %s: it did not exit within %s of SIGKILL: %w", r.name, killWaitMax, errdefs.ErrConflict)
		case <-tick.C:
			if running, err := s.isRunning(ctx, r); err == nil && running == "" {
				return nil
			}
		}
	}
}

// killWaitMax bounds how long a forced removal waits for a killed task.
const killWaitMax = 30 * time.Second

// removeLocked deletes everything of a container that has no running task.
// The caller holds r.op. With waitNetwork false (an --rm container removing
// itself) the network's interfaces and addresses may still be going away
// in the background when it returns (see cni.Manager.Release).
func (s *Service) removeLocked(ctx context.Context, r *record, st containertypes.ExitStatus, waitNetwork bool) error {
	if _, err := s.deleteTask(ctx, r.id); err != nil {
		return err
	}
	if waitNetwork {
		s.teardownNetwork(ctx, r.id)
	} else {
		s.releaseNetwork(ctx, r.id)
	}
	c, err := s.containerStore().Get(ctx, r.id)
	if err != nil && !errdefs.IsNotFound(err) {
		return err
	}
	if err == nil && c.SnapshotKey != "" {
		if err := s.client.SnapshotService(c.Snapshotter).Remove(ctx, c.SnapshotKey); err != nil && !errdefs.IsNotFound(err) {
			return fmt.Errorf("removing the container's filesystem: %w", err)
		}
	}
	if err := s.containerStore().Delete(ctx, r.id); err != nil && !errdefs.IsNotFound(err) {
		return err
	}
	s.removeVolumes(ctx, autoRemovedVolumes(c))
	s.removeViews(ctx, viewsOf(c))
	s.unstage(s.stagingDir(r.id)) // a start that berthd did not finish
	if err := os.RemoveAll(s.containerDir(r.id)); err != nil && !errors.Is(err, os.ErrNotExist) {
		s.log.Warn("removing container files", "id", r.id, "err", err)
	}
	os.Remove(s.attachSocket(r.id))
	s.forget(r)
	s.unlinkRemoved(ctx, r.id)
	s.stopHealth(r)
	r.notifyRemoved(st)
	s.publish(r, "destroy", nil)
	return nil
}
