package main

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	ctd "github.com/containerd/containerd/v2/client"
	"github.com/moby/buildkit/client"
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
// BuildKit's in-memory state that still refers to it, and so is a cache
// record still in use (its refs held in memory, which only an exit
// drops; `builder prune -a` cannot remove it): berth-buildkitd
// exits (exit), so that berthd's supervisor starts it again and its start
// removes everything (removeStepContainers, killStepProcesses, the lease
// sweep). The leases of BuildKit's cache that name no cache record are
// removed at once (leaseSweeper).
type idleWatch struct {
	// mu is held shared by each Solve, and exclusively by a check: a
	// check waits for no build, a build for no check.
	mu sync.RWMutex
	// building counts the Solve calls running.
	building atomic.Int32
	o        options
	leases   leaseSweeper
	// usage lists the cache records (the worker's DiskUsage).
	usage func(context.Context) ([]*client.UsageInfo, error)
	// exit receives the reason to exit, once.
	exit chan error
	once sync.Once
}

func newIdleWatch(o options, ls leaseSweeper, usage func(context.Context) ([]*client.UsageInfo, error)) *idleWatch {
	return &idleWatch{o: o, leases: ls, usage: usage, exit: make(chan error, 1)}
}

const (
	methodSolve = "/moby.buildkit.v1.Control/Solve"
	methodPrune = "/moby.buildkit.v1.Control/Prune"
)

func (w *idleWatch) unary(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	if info.FullMethod != methodSolve {
		return handler(ctx, req)
	}
	w.building.Add(1)
	w.mu.RLock()
	resp, err := handler(ctx, req)
	w.mu.RUnlock()
	w.building.Add(-1)
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
	// What only an exit removes: the first found makes it exit.
	leftovers := []struct {
		find      func(context.Context) (int, error)
		what, why string
	}{
		{w.stepContainers, "build step containers", "%d build step containers outlived their builds (BuildKit could not remove them): exiting, so that the next start removes them"},
		{w.recordsInUse, "build cache records in use", "%d build cache records stayed in use after their builds ended (BuildKit did not release them): exiting, so that the next start releases them"},
	}
	for _, l := range leftovers {
		if n, err := l.find(ctx); err != nil {
			bklog.G(ctx).Warnf("looking for %s left: %v", l.what, err)
		} else if n > 0 {
			w.once.Do(func() { w.exit <- fmt.Errorf(l.why, n) })
			return
		}
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

// recordsInUse counts the cache records in use while no build runs: a
// record a build took and BuildKit did not release when the build ended
// (a build cut off in its RUN step by berthd's kill: the exec error's
// input and mount, docs/reliability.md). BuildKit releases some of a
// build's results in the background, and those of an exec error nobody
// took when it is collected: what stays in use after a collection and a
// few seconds is held for good.
func (w *idleWatch) recordsInUse(ctx context.Context) (int, error) {
	for try := 0; ; try++ {
		du, err := w.usage(ctx)
		if err != nil {
			return 0, err
		}
		var inUse []string
		for _, u := range du {
			if u.InUse {
				inUse = append(inUse, fmt.Sprintf("%s (%s, %d bytes)", u.ID, u.Description, u.Size))
			}
		}
		if len(inUse) == 0 || try == 3 {
			if len(inUse) > 0 {
				bklog.G(ctx).Warnf("build cache records in use with no build running: %s", strings.Join(inUse, "; "))
			}
			return len(inUse), nil
		}
		runtime.GC()
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(time.Second):
		}
	}
}

// settle waits, when no build runs, until no cache record is in use, for
// at most a few seconds: BuildKit releases a build's results in the
// background after its Solve returned, so a `builder prune -a` right
// after a build would keep the records that are about to be free, and
// the next build would find its steps cached. While a build runs, its
// records are in use for good reason: it does not wait.
func (w *idleWatch) settle(ctx context.Context, wait, every time.Duration) error {
	deadline := time.Now().Add(wait)
	for w.building.Load() == 0 && time.Now().Before(deadline) {
		du, err := w.usage(ctx)
		if err != nil {
			return err
		}
		inUse := false
		for _, u := range du {
			inUse = inUse || u.InUse
		}
		if !inUse {
			return nil
		}
		runtime.GC()
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(every):
		}
	}
	return nil
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
