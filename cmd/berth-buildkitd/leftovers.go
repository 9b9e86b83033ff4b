package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	ctd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/leases"
	"github.com/containerd/errdefs"
	"github.com/moby/buildkit/cache/metadata"
	"github.com/moby/buildkit/util/bklog"
)

// removeLeftovers removes what a berth-buildkitd killed in the middle of a
// build (or whose containerd was killed then) left in containerd: BuildKit
// deletes a RUN step's container and task, and the lease of a cache record
// that failed, only while it and containerd run, and never looks again. It
// runs at the start, with the lock held and before any build: a RUN
// step's container (no labels, no image: every berth container has its
// berth.image label) has no owner then, nor has a lease of BuildKit's cache
// (labelled containerd.io/gc.flat) whose record is not in BuildKit's
// metadata store. Such a lease would keep its snapshot, active and
// mounted, for ever.
func removeLeftovers(ctx context.Context, o options, md *metadata.Store, lm leases.Manager) error {
	c, err := ctd.New(o.containerd, ctd.WithDefaultNamespace(o.namespace), ctd.WithTimeout(60*time.Second))
	if err != nil {
		return err
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	var errs []error
	cs, err := c.ContainerService().List(ctx)
	if err != nil {
		return err
	}
	for _, info := range cs {
		if len(info.Labels) != 0 || info.Image != "" || info.Runtime.Name != o.runtime {
			continue
		}
		cont, err := c.LoadContainer(ctx, info.ID)
		if err != nil {
			continue
		}
		if task, err := cont.Task(ctx, nil); err == nil {
			if _, err := task.Delete(ctx, ctd.WithProcessKill); err != nil && !errdefs.IsNotFound(err) {
				errs = append(errs, err)
				continue
			}
		}
		if err := cont.Delete(ctx); err != nil && !errdefs.IsNotFound(err) {
			errs = append(errs, err)
			continue
		}
		bklog.G(ctx).Infof("removed the step container %s a previous run left", info.ID)
	}
	ls, err := lm.List(ctx, `labels."containerd.io/gc.flat"`)
	if err != nil {
		return errors.Join(append(errs, err)...)
	}
	for _, l := range ls {
		if _, ok := md.Get(strings.TrimSuffix(l.ID, "-view")); ok {
			continue
		}
		if err := lm.Delete(ctx, l); err != nil && !errdefs.IsNotFound(err) {
			errs = append(errs, err)
			continue
		}
		bklog.G(ctx).Infof("removed the lease %s of no cache record, a previous run's", l.ID)
	}
	return errors.Join(errs...)
}

// watchContainerd returns an error once containerd goes away (it was
// killed or stopped; berthd starts a new one): the build steps running then
// fail, and BuildKit's removal of their containers, tasks and leases fails
// with them and is never tried again. berth-buildkitd exits on that error,
// so that its next start (berthd's supervisor starts it again) removes them
// (removeLeftovers). It holds an event subscription, whose stream ends
// with containerd however short its absence (a poll would miss a restart
// faster than its period).
func watchContainerd(ctx context.Context, o options) error {
	c, err := ctd.New(o.containerd, ctd.WithDefaultNamespace(o.namespace), ctd.WithTimeout(60*time.Second))
	if err != nil {
		return err
	}
	defer c.Close()
	// A topic no one publishes: the stream carries nothing until it ends.
	_, errs := c.EventService().Subscribe(ctx, `topic=="/berth-buildkitd/none"`)
	select {
	case <-ctx.Done():
		return nil
	case err := <-errs:
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("containerd at %s went away (%v): exiting, so that the next start removes what the running build steps leave", o.containerd, err)
	}
}
