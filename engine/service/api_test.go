package service

import (
	"context"
	"testing"

	"github.com/containerd/errdefs"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/berthproject/berth/engine/cluster"
	stypes "github.com/berthproject/berth/pkg/types/service"
)

func spec(name string, replicas uint64) stypes.ServiceSpec {
	return stypes.ServiceSpec{
		Name:         name,
		TaskTemplate: stypes.TaskSpec{ContainerSpec: &stypes.ContainerSpec{Image: "busybox"}},
		Mode:         stypes.ServiceMode{Replicated: &stypes.ReplicatedService{Replicas: replicas}},
	}
}

// TestRecords: create, list, inspect, scale, update, rollback and remove
// write the records docs/services.md describes, and bad input is refused
// with nothing left behind.
func TestRecords(t *testing.T) {
	c := startEtcd(t)
	ctx := context.Background()
	s := New(Options{})
	if _, err := s.List(ctx, stypes.ListOptions{}); !errdefs.IsFailedPrecondition(err) {
		t.Fatalf("outside a cluster: %v", err)
	}
	s.SetStore(&cluster.Store{Client: c, NodeID: "n1", NodeAddr: "127.0.0.1"})

	sp := spec("web", 3)
	sp.EndpointSpec = &stypes.EndpointSpec{Ports: []stypes.PortConfig{{TargetPort: 80}, {TargetPort: 81, PublishedPort: 8081}}}
	res, err := s.Create(ctx, sp)
	if err != nil {
		t.Fatal(err)
	}
	svc, err := s.Inspect(ctx, "web")
	if err != nil {
		t.Fatal(err)
	}
	if svc.ID != res.ID || svc.Spec.TaskTemplate.RestartPolicy.Condition != "any" || svc.Spec.UpdateConfig.Parallelism != 1 ||
		svc.Endpoint.Ports[0].PublishedPort != 30000 || svc.Endpoint.Ports[1].PublishedPort != 8081 || svc.Version.Index == 0 {
		t.Fatalf("inspect: %+v", svc)
	}
	if _, err := s.Create(ctx, spec("web", 1)); !errdefs.IsAlreadyExists(err) {
		t.Fatalf("same name: %v", err)
	}
	bad := spec("other", 1)
	bad.EndpointSpec = &stypes.EndpointSpec{Ports: []stypes.PortConfig{{TargetPort: 80, PublishedPort: 8081}}}
	if _, err := s.Create(ctx, bad); !errdefs.IsAlreadyExists(err) {
		t.Fatalf("port in use: %v", err)
	}
	for _, b := range []stypes.ServiceSpec{spec("bad.name", 1), spec("x", 1)} {
		if b.Name == "x" {
			b.TaskTemplate.ContainerSpec.Image = ""
		}
		if _, err := s.Create(ctx, b); !errdefs.IsInvalidArgument(err) {
			t.Fatalf("bad spec %s: %v", b.Name, err)
		}
	}
	if list, _ := s.List(ctx, stypes.ListOptions{}); len(list) != 1 {
		t.Fatalf("list after refused creates: %+v", list)
	}

	if err := s.Scale(ctx, "web", 5); err != nil {
		t.Fatal(err)
	}
	svc2, _ := s.Inspect(ctx, res.ID[:5])
	if svc2.Spec.Mode.Replicated.Replicas != 5 || svc2.PreviousSpec != nil {
		t.Fatalf("scale: %+v", svc2.Spec.Mode)
	}
	up := svc2.Spec
	up.TaskTemplate.ContainerSpec = &stypes.ContainerSpec{Image: "busybox:1.36"}
	if _, err := s.Update(ctx, "web", svc.Version.Index, up, stypes.UpdateOptions{}); !errdefs.IsConflict(err) {
		t.Fatalf("stale version: %v", err)
	}
	if _, err := s.Update(ctx, "web", svc2.Version.Index, up, stypes.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	svc3, _ := s.Inspect(ctx, "web")
	if svc3.Spec.TaskTemplate.ContainerSpec.Image != "busybox:1.36" || svc3.PreviousSpec.TaskTemplate.ContainerSpec.Image != "busybox" ||
		svc3.UpdateStatus.State != stypes.UpdateStateUpdating || svc3.Endpoint.Ports[0].PublishedPort != 30000 {
		t.Fatalf("update: %+v", svc3)
	}
	if err := s.Rollback(ctx, "web"); err != nil {
		t.Fatal(err)
	}
	svc4, _ := s.Inspect(ctx, "web")
	if svc4.Spec.TaskTemplate.ContainerSpec.Image != "busybox" || svc4.UpdateStatus.State != stypes.UpdateStateRollbackStarted {
		t.Fatalf("rollback: %+v", svc4)
	}
	if err := s.Remove(ctx, "web"); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{cluster.PrefixServices, cluster.PrefixServiceNames, cluster.PrefixPorts} {
		if r, _ := c.Get(ctx, p, clientv3.WithPrefix(), clientv3.WithCountOnly()); r.Count != 0 {
			t.Fatalf("%s left behind: %d keys", p, r.Count)
		}
	}
	if _, err := s.Inspect(ctx, "web"); !errdefs.IsNotFound(err) {
		t.Fatalf("after rm: %v", err)
	}
}
