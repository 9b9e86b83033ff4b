package container

import (
	"context"
	"errors"
	"fmt"
	"os"
	"syscall"

	tasktypes "github.com/containerd/containerd/api/types/task"
	"github.com/containerd/errdefs"
)

// Remove deletes a container: its task (Force kills a running one first),
// its writable layer, its files and its record.
func (s *Service) Remove(ctx context.Context, ref string, opts RemoveOptions) error {
	r, err := s.lookup(ref)
	if err != nil {
		return err
	}
	ctx = s.ctx(ctx)
	s.cancelRestart(r)
	proc, err := s.taskState(ctx, r.id)
	if err != nil && !errdefs.IsNotFound(err) {
		return err
	}
	if err == nil && proc.Status != tasktypes.Status_STOPPED {
		if !opts.Force {
			state := "running"
			if proc.Status == tasktypes.Status_PAUSED {
				state = "paused"
			}
			return fmt.Errorf("cannot remove container %s: container is %s: stop the container before removing or force remove: %w", r.name, state, errdefs.ErrConflict)
		}
		r.mu.Lock()
		r.stopping = true
		r.mu.Unlock()
		exited, werr := s.Wait(ctx, r.id, WaitNotRunning)
		if werr != nil {
			return werr
		}
		if err := s.signal(ctx, r.id, syscall.SIGKILL, true); err != nil && !errdefs.IsNotFound(err) && !errdefs.IsFailedPrecondition(err) {
			return err
		}
		select {
		case <-exited:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	r.op.Lock()
	defer r.op.Unlock()
	r.mu.Lock()
	removed := r.removed
	r.mu.Unlock()
	if removed {
		return nil // an --rm container removed itself meanwhile
	}
	st, _ := s.reapLocked(ctx, r)
	return s.removeLocked(ctx, r, st)
}

// removeLocked deletes everything of a container that has no running task.
// The caller holds r.op.
func (s *Service) removeLocked(ctx context.Context, r *record, st ExitStatus) error {
	if _, err := s.deleteTask(ctx, r.id); err != nil {
		return err
	}
	c, err := s.client.ContainerService().Get(ctx, r.id)
	if err != nil && !errdefs.IsNotFound(err) {
		return err
	}
	if err == nil && c.SnapshotKey != "" {
		if err := s.client.SnapshotService(c.Snapshotter).Remove(ctx, c.SnapshotKey); err != nil && !errdefs.IsNotFound(err) {
			return fmt.Errorf("removing the container's filesystem: %w", err)
		}
	}
	if err := s.client.ContainerService().Delete(ctx, r.id); err != nil && !errdefs.IsNotFound(err) {
		return err
	}
	if err := os.RemoveAll(s.containerDir(r.id)); err != nil && !errors.Is(err, os.ErrNotExist) {
		s.log.Warn("removing container files", "id", r.id, "err", err)
	}
	os.Remove(s.attachSocket(r.id))
	s.forget(r)
	r.notifyRemoved(st)
	s.publish(r, "destroy", nil)
	return nil
}
