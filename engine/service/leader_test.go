package service

import (
	"context"
	"fmt"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/berthproject/berth/engine/cluster"
	stypes "github.com/berthproject/berth/pkg/types/service"
)

// TestLeaderFakeNodes: the leader against fake nodes on a real etcd:
// replicas spread two per node, scale up and down, a node that goes down
// has its tasks started elsewhere, drain moves tasks away, a global
// service follows a node joining, a rolling update replaces every task,
// a failing update rolls back, and a service removed leaves no task.
func TestLeaderFakeNodes(t *testing.T) {
	c := startEtcd(t)
	ctx := context.Background()
	n1 := startFakeNode(t, c, "n1", map[string]string{"zone": "a"})
	n2 := startFakeNode(t, c, "n2", map[string]string{"zone": "b"})
	n3 := startFakeNode(t, c, "n3", map[string]string{"zone": "b"})
	s := New(Options{})
	s.SetStore(&cluster.Store{Client: c, NodeID: "n1", NodeAddr: "127.0.0.1"})
	t.Cleanup(s.Close)

	sp := spec("web", 6)
	if _, err := s.Create(ctx, sp); err != nil {
		t.Fatal(err)
	}
	waitSpread(t, s, "web", map[string]int{"n1": 2, "n2": 2, "n3": 2})
	if err := s.Scale(ctx, "web", 9); err != nil {
		t.Fatal(err)
	}
	waitSpread(t, s, "web", map[string]int{"n1": 3, "n2": 3, "n3": 3})
	if err := s.Scale(ctx, "web", 2); err != nil {
		t.Fatal(err)
	}
	by := map[string]int{}
	waitUntil(t, "2 tasks", 30*time.Second, func() (bool, string) {
		var liveN int
		by, liveN = running(t, s, "web")
		return liveN == 2 && by["n1"]+by["n2"]+by["n3"] == 2, fmt.Sprint(by, liveN)
	})
	if err := s.Scale(ctx, "web", 6); err != nil {
		t.Fatal(err)
	}
	waitSpread(t, s, "web", map[string]int{"n1": 2, "n2": 2, "n3": 2})

	// n3 dies: its two tasks go to n1 and n2.
	n3.down()
	d := waitSpread(t, s, "web", map[string]int{"n1": 3, "n2": 3})
	t.Logf("rescheduled after a fake node's lease stopped in %s (lease TTL 2 s)", d)
	n3.up(t)

	// Drain n2: its tasks move; active again takes new ones only.
	setAvailability(t, c, "n2", "drain")
	waitSpread(t, s, "web", map[string]int{"n1": 3, "n3": 3})
	setAvailability(t, c, "n2", "active")

	// Global: one per node, and a node joining gets one.
	g := spec("agent", 0)
	g.Mode = stypes.ServiceMode{Global: &stypes.GlobalService{}}
	if _, err := s.Create(ctx, g); err != nil {
		t.Fatal(err)
	}
	waitSpread(t, s, "agent", map[string]int{"n1": 1, "n2": 1, "n3": 1})
	startFakeNode(t, c, "n4", nil)
	waitSpread(t, s, "agent", map[string]int{"n1": 1, "n2": 1, "n3": 1, "n4": 1})

	// Constraints and spread preferences.
	cs := spec("zoned", 4)
	cs.TaskTemplate.Placement = &stypes.Placement{Constraints: []string{"node.labels.zone==b"}}
	if _, err := s.Create(ctx, cs); err != nil {
		t.Fatal(err)
	}
	waitSpread(t, s, "zoned", map[string]int{"n2": 2, "n3": 2})

	// A rolling update replaces every task, two at a time.
	cur, _ := s.Inspect(ctx, "web")
	up := cur.Spec
	up.TaskTemplate.ContainerSpec = &stypes.ContainerSpec{Image: "busybox:new"}
	up.UpdateConfig.Parallelism = 2
	up.UpdateConfig.Order = stypes.UpdateOrderStartFirst
	up.UpdateConfig.Monitor = 100 * time.Millisecond
	d1 := time.Second
	up.TaskTemplate.RestartPolicy.Delay = &d1
	if _, err := s.Update(ctx, "web", cur.Version.Index, up, stypes.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "update completed", 60*time.Second, func() (bool, string) {
		svc, _ := s.Inspect(ctx, "web")
		return svc.UpdateStatus.State == stypes.UpdateStateCompleted, svc.UpdateStatus.State
	})
	tasks, _ := s.Tasks(ctx, stypes.TaskListOptions{Filters: map[string][]string{"service": {"web"}, "desired-state": {"running"}}})
	if len(tasks) != 6 {
		t.Fatalf("after the update: %d tasks meant to run", len(tasks))
	}
	for _, tk := range tasks {
		if tk.Spec.ContainerSpec.Image != "busybox:new" || tk.Status.State != stypes.TaskStateRunning {
			t.Fatalf("after the update: task %s %s %s", tk.ID, tk.Spec.ContainerSpec.Image, tk.Status.State)
		}
	}

	// A failing update rolls back.
	for _, n := range []*fakeNode{n1, n2, n3} {
		n.mu.Lock()
		n.fail = func(tk *stypes.Task) bool { return tk.Spec.ContainerSpec.Image == "busybox:bad" }
		n.mu.Unlock()
	}
	cur, _ = s.Inspect(ctx, "web")
	up = cur.Spec
	up.TaskTemplate.ContainerSpec = &stypes.ContainerSpec{Image: "busybox:bad"}
	up.UpdateConfig.FailureAction = stypes.UpdateFailureActionRollback
	up.RollbackConfig.Monitor = 100 * time.Millisecond
	if _, err := s.Update(ctx, "web", cur.Version.Index, up, stypes.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "rollback completed", 60*time.Second, func() (bool, string) {
		svc, _ := s.Inspect(ctx, "web")
		return svc.UpdateStatus.State == stypes.UpdateStateRollbackCompleted && svc.Spec.TaskTemplate.ContainerSpec.Image == "busybox:new",
			svc.UpdateStatus.State + " " + svc.UpdateStatus.Message
	})
	waitUntil(t, "6 tasks of busybox:new", 60*time.Second, func() (bool, string) {
		tasks, _ := s.Tasks(ctx, stypes.TaskListOptions{Filters: map[string][]string{"service": {"web"}, "desired-state": {"running"}}})
		ok := len(tasks) == 6
		for _, tk := range tasks {
			ok = ok && tk.Spec.ContainerSpec.Image == "busybox:new" && tk.Status.State == stypes.TaskStateRunning
		}
		return ok, fmt.Sprint(len(tasks))
	})

	for _, name := range []string{"web", "agent", "zoned"} {
		if err := s.Remove(ctx, name); err != nil {
			t.Fatal(err)
		}
	}
	waitUntil(t, "no task left", 30*time.Second, func() (bool, string) {
		tasks, _ := s.Tasks(ctx, stypes.TaskListOptions{})
		return len(tasks) == 0, fmt.Sprint(len(tasks))
	})
}

func setAvailability(t testing.TB, cl *clientv3.Client, id, a string) {
	t.Helper()
	n, err := (&cluster.Store{Client: cl}).Node(context.Background(), id)
	if err != nil || n == nil {
		t.Fatal(err)
	}
	n.Availability = a
	if err := (&cluster.Store{Client: cl}).PutNode(context.Background(), *n); err != nil {
		t.Fatal(err)
	}
}
