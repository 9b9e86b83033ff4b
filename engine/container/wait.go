package container

import (
	"context"
	"fmt"

	"github.com/containerd/errdefs"

	containertypes "github.com/berthproject/berth/pkg/types/container"
)

// Wait registers a wait on the container and returns a channel that yields
// its exit status once the condition is met. It returns after registering,
// so a caller may Wait, then Start, and never miss the exit.
func (s *Service) Wait(ctx context.Context, ref string, cond containertypes.WaitCondition) (<-chan containertypes.ExitStatus, error) {
	r, err := s.lookup(ref)
	if err != nil {
		return nil, err
	}
	ctx = s.ctx(ctx)
	switch cond {
	case "", containertypes.WaitNotRunning, containertypes.WaitNextExit, containertypes.WaitRemoved:
	default:
		return nil, fmt.Errorf("invalid wait condition %q: use not-running, next-exit or removed: %w", cond, errdefs.ErrInvalidArgument)
	}
	if cond == "" {
		cond = containertypes.WaitNotRunning
	}
	ch := make(chan containertypes.ExitStatus, 1)
	// op excludes exit handling and starts while the state is checked and the
	// waiter registered.
	r.op.Lock()
	defer r.op.Unlock()
	if cond == containertypes.WaitNotRunning {
		// A stopped task that is not reaped yet counts as running: its
		// exit is about to be recorded, and the waiter gets it then.
		_, err := s.taskState(ctx, r.id)
		hasTask := err == nil
		if !hasTask && !r.is(phaseRestarting) {
			st, err := s.lastExit(ctx, r.id)
			if err != nil {
				return nil, err
			}
			ch <- st
			return ch, nil
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.phase == phaseRemoved {
		return nil, fmt.Errorf("No such container: %s: %w", ref, errdefs.ErrNotFound)
	}
	r.waiters = append(r.waiters, &waiter{cond: cond, ch: ch})
	return ch, nil
}

// lastExit reads the recorded exit of a container that is not running.
func (s *Service) lastExit(ctx context.Context, id string) (containertypes.ExitStatus, error) {
	c, err := s.containerStore().Get(ctx, id)
	if err != nil {
		return containertypes.ExitStatus{}, err
	}
	return containertypes.ExitStatus{
		ExitCode:  atoiLabel(c.Labels[labelExitCode]),
		OOMKilled: c.Labels[labelOOMKilled] == "true",
		Error:     c.Labels[labelError],
		ExitedAt:  timeLabel(c.Labels[labelFinishedAt]),
	}, nil
}
