package service

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/berthproject/berth/engine/cluster"
	ctypes "github.com/berthproject/berth/pkg/types/cluster"
	stypes "github.com/berthproject/berth/pkg/types/service"
)

// fakeNode is a node of the simulation: a node record, a heartbeat
// lease, and an agent that reports the tasks assigned to it as running
// (or failed, when fail says so) without running anything.
type fakeNode struct {
	id     string
	c      *clientv3.Client
	lease  clientv3.LeaseID
	cancel context.CancelFunc
	// fail, when set, decides that a task fails at once.
	mu   sync.Mutex
	fail func(*stypes.Task) bool
	wg   sync.WaitGroup
}

func putNode(t testing.TB, c *clientv3.Client, n ctypes.Node) {
	t.Helper()
	b, _ := json.Marshal(n)
	if _, err := c.Put(context.Background(), cluster.NodeKey(n.ID), string(b)); err != nil {
		t.Fatal(err)
	}
}

func startFakeNode(t testing.TB, c *clientv3.Client, id string, labels map[string]string) *fakeNode {
	t.Helper()
	putNode(t, c, ctypes.Node{ID: id, Hostname: "host-" + id, Availability: ctypes.AvailabilityActive, Labels: labels, CreatedAt: time.Now()})
	fn := &fakeNode{id: id, c: c}
	fn.up(t)
	t.Cleanup(fn.down)
	return fn
}

// up makes the node alive and starts its agent.
func (fn *fakeNode) up(t testing.TB) {
	ctx, cancel := context.WithCancel(context.Background())
	fn.cancel = cancel
	g, err := fn.c.Grant(ctx, 2)
	if err != nil {
		t.Fatal(err)
	}
	fn.lease = g.ID
	if _, err := fn.c.Put(ctx, cluster.AliveKey(fn.id), "127.0.0.1", clientv3.WithLease(g.ID)); err != nil {
		t.Fatal(err)
	}
	ka, err := fn.c.KeepAlive(ctx, g.ID)
	if err != nil {
		t.Fatal(err)
	}
	fn.wg.Add(2)
	go func() {
		defer fn.wg.Done()
		for range ka { //nolint:revive // drain
		}
	}()
	go func() {
		defer fn.wg.Done()
		fn.agent(ctx)
	}()
}

// down stops the node as a crash would: no more heartbeats (its alive
// key goes when the lease expires, or at once when revoke is set).
func (fn *fakeNode) down() {
	if fn.cancel != nil {
		fn.cancel()
		fn.wg.Wait()
		fn.cancel = nil
	}
}

func (fn *fakeNode) agent(ctx context.Context) {
	r := records{c: fn.c}
	handle := func(t *stypes.Task) {
		if t.NodeID != fn.id {
			return
		}
		switch {
		case t.DesiredState == stypes.TaskStateRunning && !terminal(t) && t.Status.State != stypes.TaskStateRunning:
			fn.mu.Lock()
			failing := fn.fail != nil && fn.fail(t)
			fn.mu.Unlock()
			_, _ = r.updateTask(ctx, t.ServiceID, t.ID, nil, func(c *stypes.Task) error {
				if terminal(c) || c.DesiredState != stypes.TaskStateRunning {
					return errNoChange
				}
				c.Status = stypes.TaskStatus{Timestamp: time.Now().UTC(), State: stypes.TaskStateRunning, Message: "started"}
				return nil
			})
			if failing {
				// As a real container: running, then it exits.
				time.Sleep(50 * time.Millisecond)
				_, _ = r.updateTask(ctx, t.ServiceID, t.ID, nil, func(c *stypes.Task) error {
					c.Status = stypes.TaskStatus{Timestamp: time.Now().UTC(), State: stypes.TaskStateFailed, Err: "task: non-zero exit (1)",
						ContainerStatus: &stypes.ContainerStatus{ExitCode: 1}}
					return nil
				})
			}
		case t.DesiredState == stypes.TaskStateShutdown && !terminal(t):
			_, _ = r.updateTask(ctx, t.ServiceID, t.ID, nil, func(c *stypes.Task) error {
				if terminal(c) {
					return errNoChange
				}
				c.Status = stypes.TaskStatus{Timestamp: time.Now().UTC(), State: stypes.TaskStateShutdown, Message: "shutdown"}
				return nil
			})
		case t.DesiredState == stypes.TaskStateRemove:
			key := cluster.TaskKey(t.ServiceID, t.ID)
			_, _ = fn.c.Txn(ctx).If(clientv3.Compare(clientv3.ModRevision(key), "=", int64(t.Version.Index))).Then(clientv3.OpDelete(key)).Commit()
		}
	}
	for ctx.Err() == nil {
		resp, err := fn.c.Get(ctx, cluster.PrefixTasks, clientv3.WithPrefix())
		if err != nil {
			continue
		}
		for _, kv := range resp.Kvs {
			if t, err := decodeTask(kv.Value, kv.ModRevision); err == nil {
				handle(t)
			}
		}
		wch := fn.c.Watch(ctx, cluster.PrefixTasks, clientv3.WithPrefix(), clientv3.WithRev(resp.Header.Revision+1))
		for wr := range wch {
			for _, ev := range wr.Events {
				if ev.Type == clientv3.EventTypePut {
					if t, err := decodeTask(ev.Kv.Value, ev.Kv.ModRevision); err == nil {
						handle(t)
					}
				}
			}
		}
	}
}

// running counts the tasks of a service meant to run and running, by
// node, and every live task.
func running(t testing.TB, s *Service, service string) (map[string]int, int) {
	t.Helper()
	tasks, err := s.Tasks(context.Background(), stypes.TaskListOptions{Filters: map[string][]string{"service": {service}}})
	if err != nil {
		t.Fatal(err)
	}
	by := map[string]int{}
	liveN := 0
	for _, tk := range tasks {
		if live(&tk) {
			liveN++
		}
		if tk.DesiredState == stypes.TaskStateRunning && tk.Status.State == stypes.TaskStateRunning {
			by[tk.NodeID]++
		}
	}
	return by, liveN
}

func waitUntil(t testing.TB, what string, timeout time.Duration, cond func() (bool, string)) time.Duration {
	t.Helper()
	start := time.Now()
	last := ""
	for time.Since(start) < timeout {
		ok, got := cond()
		if ok {
			return time.Since(start)
		}
		last = got
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s; last: %s", what, last)
	return 0
}

// waitSpread waits until service runs exactly want tasks per node (nodes
// not in want: none) and no more live tasks than their sum.
func waitSpread(t testing.TB, s *Service, service string, want map[string]int) time.Duration {
	t.Helper()
	total := 0
	for _, n := range want {
		total += n
	}
	return waitUntil(t, fmt.Sprintf("%s spread %v", service, want), 60*time.Second, func() (bool, string) {
		by, liveN := running(t, s, service)
		got := fmt.Sprintf("running %v, live %d", by, liveN)
		if liveN != total {
			return false, got
		}
		for n, c := range want {
			if by[n] != c {
				return false, got
			}
		}
		for n, c := range by {
			if want[n] == 0 && c > 0 {
				return false, got
			}
		}
		return true, got
	})
}
