// Package lease makes the containerd leases berth's operations hold (a
// create's new snapshot, a pull's or a load's content until an image names
// it), labelled with the process that holds them, and removes at berthd's
// start the ones whose holder died: a berthd killed in the middle of an
// operation leaves its lease, which would keep what it holds (an active
// snapshot, partial downloads) for the lease's 24 hours.
package lease

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/leases"
	"github.com/containerd/errdefs"
)

// LabelHolder is the label of a berth lease: "<pid>:<start time>" of the
// process that holds it (the start time in clock ticks since boot, as
// /proc/<pid>/stat gives it, so that a reused pid is another holder).
const LabelHolder = "berth.lease-holder"

// Expiration is containerd's expiry of every berth lease: the last resort
// when neither the operation nor a later berthd start removes it.
const Expiration = 24 * time.Hour

// With is client.WithLease for a berth operation: a new lease labelled with
// this process, expiring after Expiration. done removes it; when containerd
// is not there to hear it (being restarted), done tries again in the
// background for a while, so that the lease does not outlive the operation
// by a day.
func With(ctx context.Context, c *client.Client, opts ...leases.Opt) (context.Context, func(context.Context) error, error) {
	opts = append([]leases.Opt{leases.WithRandomID(), leases.WithExpiration(Expiration), leases.WithLabel(LabelHolder, Self())}, opts...)
	ctx, done, err := c.WithLease(ctx, opts...)
	if err != nil {
		return ctx, done, err
	}
	id, _ := leases.FromContext(ctx)
	return ctx, func(dctx context.Context) error {
		abortIngests(dctx, c, id)
		err := done(dctx)
		if err != nil && !errdefs.IsNotFound(err) {
			go retryDelete(context.WithoutCancel(dctx), c, id)
		}
		return err
	}, nil
}

// abortIngests aborts the partial downloads the lease holds: what a failed
// pull left. The lease's removal lets containerd's GC remove them too, but
// on a disk that the downloads filled, the removal and the GC each need
// containerd to commit its metadata, which can fail for want of a block
// (bbolt's file grows sparse), and nothing frees one. An abort removes the
// download's files before its commit. Only this lease's downloads: a
// concurrent pull's are in its own lease.
func abortIngests(ctx context.Context, c *client.Client, id string) {
	if id == "" {
		return
	}
	res, err := c.LeasesService().ListResources(ctx, leases.Lease{ID: id})
	if err != nil {
		return
	}
	cs := c.ContentStore()
	for _, r := range res {
		if r.Type == "ingests" {
			_ = cs.Abort(ctx, r.ID)
		}
	}
}

// retryDelete deletes lease id, trying every second for two minutes.
func retryDelete(ctx context.Context, c *client.Client, id string) {
	for i := 0; i < 120; i++ {
		time.Sleep(time.Second)
		err := c.LeasesService().Delete(ctx, leases.Lease{ID: id})
		if err == nil || errdefs.IsNotFound(err) {
			return
		}
	}
}

var (
	selfOnce sync.Once
	self     string
)

// Self is this process's holder label.
func Self() string {
	selfOnce.Do(func() { self = holder(os.Getpid()) })
	return self
}

// holder is the holder label of process pid ("" when it does not run).
func holder(pid int) string {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return ""
	}
	// pid (comm) state ppid ... starttime is field 22; comm may hold
	// blanks, so count from the last ')'.
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 20 {
		return ""
	}
	return strconv.Itoa(pid) + ":" + f[19]
}

// alive reports whether the holder label h names a running process.
func alive(h string) bool {
	pid, _, ok := strings.Cut(h, ":")
	n, err := strconv.Atoi(pid)
	if !ok || err != nil || n <= 0 {
		return false
	}
	return holder(n) == h
}

// RemoveStale removes the berth leases (of the client's namespace) whose
// holder no longer runs: the operations that held them were cut off with
// their process. A lease of a live process, this one or another program
// embedding the engine, is never touched. It returns how many went.
func RemoveStale(ctx context.Context, c *client.Client, log *slog.Logger) (int, error) {
	ls := c.LeasesService()
	list, err := ls.List(ctx, `labels."`+LabelHolder+`"`)
	if err != nil {
		return 0, fmt.Errorf("listing leases: %w", err)
	}
	n := 0
	for _, l := range list {
		h := l.Labels[LabelHolder]
		if h == "" || alive(h) {
			continue
		}
		if err := ls.Delete(ctx, l); err != nil && !errdefs.IsNotFound(err) {
			return n, fmt.Errorf("removing lease %s: %w", l.ID, err)
		}
		log.Info("removed the lease of an operation cut off by berthd's end", "lease", l.ID, "holder", h, "created", l.CreatedAt)
		n++
	}
	return n, nil
}
