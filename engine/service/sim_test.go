package service

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/berthproject/berth/engine/cluster"
	ctypes "github.com/berthproject/berth/pkg/types/cluster"
	stypes "github.com/berthproject/berth/pkg/types/service"
)

// TestSimulation (BERTH_SERVICES_SIM=1; docs/services.md, "Figures"):
// the leader against many fake nodes on a real etcd (one member, on
// loopback, in this process): nodes that heartbeat and whose agents
// report each task assigned to them running at once, without running
// anything. All fake agents share one watch of the tasks (a real node
// has its own). Sizes: BERTH_SERVICES_SIM_NODES (100) and
// BERTH_SERVICES_SIM_TASKS (10000, in services of 100 replicas).
func TestSimulation(t *testing.T) {
	if os.Getenv("BERTH_SERVICES_SIM") != "1" {
		t.Skip("the simulation runs with BERTH_SERVICES_SIM=1 (docs/services.md)")
	}
	nodes, tasks := envInt("BERTH_SERVICES_SIM_NODES", 100), envInt("BERTH_SERVICES_SIM_TASKS", 10000)
	c := startEtcd(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	leases := map[string]clientv3.LeaseID{}
	for i := range nodes {
		id := fmt.Sprintf("sim%03d", i)
		putNode(t, c, ctypes.Node{ID: id, Hostname: id, Availability: ctypes.AvailabilityActive, CreatedAt: time.Now()})
		g, err := c.Grant(ctx, 3)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Put(ctx, cluster.AliveKey(id), "127.0.0.1", clientv3.WithLease(g.ID)); err != nil {
			t.Fatal(err)
		}
		ka, err := c.KeepAlive(ctx, g.ID)
		if err != nil {
			t.Fatal(err)
		}
		go func() {
			for range ka { //nolint:revive // drain
			}
		}()
		leases[id] = g.ID
	}
	var running atomic.Int64
	go simAgents(ctx, c, &running)

	s := New(Options{})
	s.SetStore(&cluster.Store{Client: c, NodeID: "sim000", NodeAddr: "127.0.0.1"})
	defer s.Close()
	waitUntil(t, "leader", 30*time.Second, func() (bool, string) { return s.IsLeader(), "" })

	per := 100
	services := tasks / per
	start := time.Now()
	for i := range services {
		if _, err := s.Create(ctx, spec("sim"+strconv.Itoa(i), uint64(per))); err != nil {
			t.Fatal(err)
		}
	}
	created := time.Since(start)
	r := records{c: c}
	var assignedAt time.Duration
	waitUntil(t, "all tasks running", 10*time.Minute, func() (bool, string) {
		all, _, err := r.tasks(ctx, "")
		if err != nil {
			return false, err.Error()
		}
		assigned, run := 0, 0
		for _, tk := range all {
			if tk.NodeID != "" {
				assigned++
			}
			if tk.Status.State == stypes.TaskStateRunning {
				run++
			}
		}
		if assigned == tasks && assignedAt == 0 {
			assignedAt = time.Since(start)
		}
		return run == tasks, fmt.Sprintf("%d assigned, %d running", assigned, run)
	})
	converged := time.Since(start)
	t.Logf("FIGURE sim %d nodes, %d tasks (%d services x %d): creates written in %s, all tasks placed in %s (%.0f tasks/s), all running in %s",
		nodes, tasks, services, per, created.Round(time.Millisecond), assignedAt.Round(time.Millisecond),
		float64(tasks)/assignedAt.Seconds(), converged.Round(time.Millisecond))

	// One node fails: its tasks are placed elsewhere.
	victim := fmt.Sprintf("sim%03d", nodes/2)
	all, _, _ := r.tasks(ctx, "")
	lost := 0
	for _, tk := range all {
		if tk.NodeID == victim && live(tk) {
			lost++
		}
	}
	start = time.Now()
	if _, err := c.Revoke(ctx, leases[victim]); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "rescheduled", 5*time.Minute, func() (bool, string) {
		all, _, err := r.tasks(ctx, "")
		if err != nil {
			return false, err.Error()
		}
		run := 0
		for _, tk := range all {
			if tk.DesiredState == stypes.TaskStateRunning && tk.Status.State == stypes.TaskStateRunning && tk.NodeID != victim {
				run++
			}
		}
		return run == tasks, fmt.Sprint(run)
	})
	t.Logf("FIGURE sim: %d tasks of a node whose lease was revoked running elsewhere in %s", lost, time.Since(start).Round(time.Millisecond))
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// simAgents reports every task meant to run as running (and every task
// shut down as shutdown), from one watch, with 32 writers.
func simAgents(ctx context.Context, c *clientv3.Client, running *atomic.Int64) {
	r := records{c: c}
	work := make(chan *stypes.Task, 100000)
	var wg sync.WaitGroup
	for range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for t := range work {
				switch {
				case t.NodeID != "" && t.DesiredState == stypes.TaskStateRunning && t.Status.State != stypes.TaskStateRunning && !terminal(t):
					_, _ = r.updateTask(ctx, t.ServiceID, t.ID, nil, func(c *stypes.Task) error {
						if terminal(c) || c.DesiredState != stypes.TaskStateRunning || c.Status.State == stypes.TaskStateRunning {
							return errNoChange
						}
						c.Status = stypes.TaskStatus{Timestamp: time.Now().UTC(), State: stypes.TaskStateRunning, Message: "started"}
						running.Add(1)
						return nil
					})
				case t.DesiredState == stypes.TaskStateShutdown && !terminal(t):
					_, _ = r.updateTask(ctx, t.ServiceID, t.ID, nil, func(c *stypes.Task) error {
						if terminal(c) {
							return errNoChange
						}
						c.Status = stypes.TaskStatus{Timestamp: time.Now().UTC(), State: stypes.TaskStateShutdown}
						return nil
					})
				}
			}
		}()
	}
	defer func() { close(work); wg.Wait() }()
	wch := c.Watch(ctx, cluster.PrefixTasks, clientv3.WithPrefix())
	for wr := range wch {
		for _, ev := range wr.Events {
			if ev.Type != clientv3.EventTypePut {
				continue
			}
			if t, err := decodeTask(ev.Kv.Value, ev.Kv.ModRevision); err == nil {
				select {
				case work <- t:
				case <-ctx.Done():
					return
				}
			}
		}
	}
}
