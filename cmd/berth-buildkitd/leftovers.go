package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	ctd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/containers"
	"github.com/containerd/containerd/v2/core/leases"
	"github.com/containerd/errdefs"
	"github.com/moby/buildkit/cache/metadata"
	"github.com/moby/buildkit/util/bklog"
)

// removeStepContainers removes what a berth-buildkitd killed in the
// middle of a build (or whose containerd was killed then) left in
// containerd: BuildKit deletes a RUN step's container and task only while
// it and containerd run, and never looks again. It runs at the start, with
// the lock held and before any build: a RUN step's container (no labels,
// no image: every berth container has its berth.image label) has no owner
// then.
func removeStepContainers(ctx context.Context, o options) error {
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
		if !isStepContainer(info, o) {
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
	return errors.Join(errs...)
}

// isStepContainer reports whether a container of berth's namespace is a
// build step's: no labels and no image (every berth container has its
// berth.image label), on the steps' runtime.
func isStepContainer(info containers.Container, o options) bool {
	return len(info.Labels) == 0 && info.Image == "" && info.Runtime.Name == o.runtime
}

// watchContainerd returns an error once containerd goes away (it was
// killed or stopped; berthd starts a new one): the build steps running then
// fail, and BuildKit's removal of their containers, tasks and leases fails
// with them and is never tried again. berth-buildkitd exits on that error,
// so that its next start (berthd's supervisor starts it again) removes them
// (removeStepContainers, killStepProcesses, the lease sweep). It holds an
// event subscription, whose stream ends with containerd however short its
// absence (a poll would miss a restart faster than its period).
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

// stepCgroupParent is the cgroup parent of the build steps: BuildKit puts
// a step in /<parent>/buildkit/<id> (cgroupfs paths, in every hierarchy).
// Without one it uses /buildkit/<id>, which every berth-buildkitd of the
// machine shares, so that none could tell its own leftovers. The
// namespace is berth's own, whose containers are in /<namespace>/<id>.
func stepCgroupParent(o options) string { return o.namespace }

// killStepProcesses kills what the build steps of a previous run left in
// their cgroups and removes those cgroups. A step whose shim died between
// `runc create` and `runc start` (a kill of containerd, of the shim or of
// berth-buildkitd in the middle of the step's start) leaves its `runc
// init` waiting for a start that never comes, in its cgroup, with no
// container, task or runc state left that would name it; and a step
// process whose container was removed without it stays as well. It runs at
// the start, with the lock held, after the step containers' removal and
// before any build: nothing may run in those cgroups then. It returns the
// number of processes it killed.
func killStepProcesses(ctx context.Context, parent string) (int, error) {
	var dirs []string
	pids := map[int]bool{}
	for _, root := range cgroupRoots() {
		base := filepath.Join(root, parent, "buildkit")
		_ = filepath.WalkDir(base, func(p string, d fs.DirEntry, err error) error {
			if err != nil || !d.IsDir() {
				return nil
			}
			dirs = append(dirs, p)
			if p == base {
				return nil
			}
			// A frozen process does not die of SIGKILL until thawed.
			_ = os.WriteFile(filepath.Join(p, "freezer.state"), []byte("THAWED"), 0)
			_ = os.WriteFile(filepath.Join(p, "cgroup.freeze"), []byte("0"), 0)
			for _, pid := range cgroupProcs(p) {
				pids[pid] = true
			}
			return nil
		})
	}
	for pid := range pids {
		if err := syscall.Kill(pid, syscall.SIGKILL); err == nil {
			bklog.G(ctx).Infof("killed process %d, left by a build step of a previous run", pid)
		}
	}
	// Deepest first: a cgroup goes once its processes are gone (they die
	// asynchronously) and its children with them.
	sort.Slice(dirs, func(i, j int) bool { return len(dirs[i]) > len(dirs[j]) })
	var errs []error
	for _, d := range dirs {
		var err error
		for range 100 {
			if err = os.Remove(d); err == nil || errors.Is(err, os.ErrNotExist) || !errors.Is(err, syscall.EBUSY) {
				break
			}
			select {
			case <-ctx.Done():
				return len(pids), ctx.Err()
			case <-time.After(50 * time.Millisecond):
			}
		}
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, fmt.Errorf("remove the build step cgroup %s: %w", d, err))
		}
	}
	return len(pids), errors.Join(errs...)
}

// cgroupRoots are the mount points of the cgroup hierarchies (one per
// controller with cgroup v1, one with v2).
func cgroupRoots() []string {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return nil
	}
	var roots []string
	seen := map[string]bool{}
	for _, line := range strings.Split(string(b), "\n") {
		// "… mount-point options - fstype source superoptions"
		pre, post, ok := strings.Cut(line, " - ")
		f, g := strings.Fields(pre), strings.Fields(post)
		if !ok || len(f) < 5 || len(g) < 1 || (g[0] != "cgroup" && g[0] != "cgroup2") || f[3] != "/" {
			continue
		}
		if mp := f[4]; !seen[mp] {
			seen[mp] = true
			roots = append(roots, mp)
		}
	}
	return roots
}

// cgroupProcs are the processes in a cgroup (not its children).
func cgroupProcs(dir string) []int {
	b, err := os.ReadFile(filepath.Join(dir, "cgroup.procs"))
	if err != nil {
		return nil
	}
	var pids []int
	for _, f := range strings.Fields(string(b)) {
		if pid, err := strconv.Atoi(f); err == nil && pid > 0 {
			pids = append(pids, pid)
		}
	}
	return pids
}

// leaseSweeper removes the leases of BuildKit's cache that belong to no
// cache record: a record's own lease (its ID, labelled
// containerd.io/gc.flat), its view's (<id>-view) and its compression
// variants' (<id>-variants, no labels), and BuildKit's temporary leases.
// BuildKit deletes them with the record, or when an operation ends, only
// while containerd answers, and never tries again:
//
//   - a build cut off by a kill (of berth-buildkitd, or of containerd in the
//     middle of a lease's creation or removal) leaves the lease of a record
//     never committed, or of one whose removal failed half-way;
//   - at each start, BuildKit's cache manager forgets every record whose
//     snapshot it cannot stat, and deletes the record's leases ignoring
//     errors: a start while containerd or the snapshotter restarts (berthd
//     restarts berth-buildkitd as soon as containerd goes) forgets records
//     whose leases stay. Nothing ever names these again, so `builder prune
//     -a` did not remove them (the chaos soak: 88 -variants leases after
//     39 kills), and each keeps its content or snapshot for ever.
//
// And a lease of the containerd client's own shape that holds nothing
// (clientLease). The sweep runs while no build runs (idleWatch): at the start, once
// BuildKit's cache manager has loaded (and pruned) its records, each time
// the last build ends, and after each prune. A lease created before the
// sweep began then belongs to no build in flight: it is removed when the
// record it names is not in the metadata store.
type leaseSweeper struct {
	md *metadata.Store
	lm leases.Manager
}

// sweep removes the leftover leases created before before and returns how
// many it removed.
func (s leaseSweeper) sweep(ctx context.Context, before time.Time) (int, error) {
	ls, err := s.lm.List(ctx)
	if err != nil {
		return 0, err
	}
	var errs []error
	n := 0
	for _, l := range ls {
		if !l.CreatedAt.Before(before) {
			continue
		}
		switch {
		case buildkitLease(l):
			rec := strings.TrimSuffix(strings.TrimSuffix(l.ID, "-variants"), "-view")
			if _, ok := s.md.Get(rec); ok {
				continue
			}
		case clientLease(l):
			// Holding nothing: a lease that protects something is not
			// removed on a guess.
			if res, err := s.lm.ListResources(ctx, l); err != nil || len(res) > 0 {
				continue
			}
		default:
			continue
		}
		if err := s.lm.Delete(ctx, l); err != nil && !errdefs.IsNotFound(err) {
			errs = append(errs, err)
			continue
		}
		n++
		bklog.G(ctx).Debugf("removed the lease %s of no cache record", l.ID)
	}
	if n > 0 {
		bklog.G(ctx).Infof("removed %d leases of BuildKit's cache that no cache record names", n)
	}
	return n, errors.Join(errs...)
}

// buildkitLease reports whether l is one of BuildKit's cache leases
// (berth's own have random IDs and berth's holder label).
func buildkitLease(l leases.Lease) bool {
	if l.Labels["containerd.io/gc.flat"] != "" || l.Labels["buildkit/lease.temporary"] != "" {
		return true
	}
	return len(l.Labels) == 0 && strings.HasSuffix(l.ID, "-variants")
}

// clientLease reports whether l has the shape of the lease the containerd
// client takes for itself when its caller holds none (client.WithLease: a
// random "<nanoseconds>-<4 characters>" ID, a 24 h expiry, no other
// label). BuildKit's step executor creates each step's container with
// client.NewContainer, which holds such a lease until the container
// exists: a kill in between leaves it for a day. berthd's own leases carry
// its holder label (engine/internal/lease).
func clientLease(l leases.Lease) bool {
	if len(l.Labels) != 1 || l.Labels["containerd.io/gc.expire"] == "" {
		return false
	}
	nanos, suffix, ok := strings.Cut(l.ID, "-")
	if _, err := strconv.ParseUint(nanos, 10, 64); err != nil || !ok || len(suffix) != 4 {
		return false
	}
	return true
}
