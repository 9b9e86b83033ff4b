package main

import (
	"context"
	"fmt"
	"sync"
	"time"

	ctd "github.com/containerd/containerd/v2/client"
	"github.com/moby/buildkit/util/bklog"
	"google.golang.org/grpc"
)

// idleWatch looks for what builds left each time none runs: when the last
// build ends (a Solve call of the control API: berthd's builds, buildctl's
// and buildx's all are one) and after each prune. BuildKit removes a
// step's container, task and cgroup, and the leases of a failed cache
// record, only while the build runs and containerd answers, and never
// looks again; what it failed to remove stays (the chaos soak: a step
// whose shim was killed between its create and its start left its
// container, task, rootfs mount, runc init, leases, and a busybox cache
// record in use that `builder prune -a` could not remove).
//
// While no build runs, a step container is such a leftover, and so is
// BuildKit's in-memory state that still refers to it: berth-buildkitd
// exits (exit), so that berthd's supervisor starts it again and its start
// removes everything (removeStepContainers, killStepProcesses, the lease
// sweep). The leases of BuildKit's cache that name no cache record are
// removed at once (leaseSweeper).
type idleWatch struct {
	// mu is held shared by each Solve, and exclusively by a check: a
	// check waits for no build, a build for no check.
	mu     sync.RWMutex
	o      options
	leases leaseSweeper
	// exit receives the reason to exit, once.
	exit chan error
	once sync.Once
}

func newIdleWatch(o options, ls leaseSweeper) *idleWatch {
	return &idleWatch{o: o, leases: ls, exit: make(chan error, 1)}
}

const (
	methodSolve = "/moby.buildkit.v1.Control/Solve"
	methodPrune = "/moby.buildkit.v1.Control/Prune"
)

func (w *idleWatch) unary(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	if info.FullMethod != methodSolve {
		return handler(ctx, req)
	}
	w.mu.RLock()
	resp, err := handler(ctx, req)
	w.mu.RUnlock()
	w.trigger()
	return resp, err
}

func (w *idleWatch) stream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	err := handler(srv, ss)
	if info.FullMethod == methodPrune {
		w.trigger()
	}
	return err
}

// trigger checks in the background if no build runs (else the end of the
// last one does).
func (w *idleWatch) trigger() {
	go func() {
		if !w.mu.TryLock() {
			return
		}
		defer w.mu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		w.check(ctx)
	}()
}

// check runs with mu held exclusively: no build runs.
func (w *idleWatch) check(ctx context.Context) {
	before := time.Now()
	if n, err := w.stepContainers(ctx); err != nil {
		bklog.G(ctx).Warnf("looking for build steps left: %v", err)
	} else if n > 0 {
		w.once.Do(func() {
			w.exit <- fmt.Errorf("%d build step containers outlived their builds (BuildKit could not remove them): exiting, so that the next start removes them", n)
		})
		return
	}
	// A step process whose container is gone (a runc init whose shim
	// died).
	if _, err := killStepProcesses(ctx, stepCgroupParent(w.o)); err != nil {
		bklog.G(ctx).Warnf("removing what build steps left: %v", err)
	}
	if _, err := w.leases.sweep(ctx, before); err != nil {
		bklog.G(ctx).Warnf("removing the leases of no cache record: %v", err)
	}
}

// stepContainers counts the step containers in containerd.
func (w *idleWatch) stepContainers(ctx context.Context) (int, error) {
	c, err := ctd.New(w.o.containerd, ctd.WithDefaultNamespace(w.o.namespace), ctd.WithTimeout(10*time.Second))
	if err != nil {
		return 0, err
	}
	defer c.Close()
	cs, err := c.ContainerService().List(ctx)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, info := range cs {
		if isStepContainer(info, w.o) {
			n++
		}
	}
	return n, nil
}
