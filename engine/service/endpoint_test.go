package service

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/berthproject/berth/engine/cluster"
	"github.com/berthproject/berth/engine/network/overlay"
	networktypes "github.com/berthproject/berth/pkg/types/network"
	stypes "github.com/berthproject/berth/pkg/types/service"
)

// heldVIPs lists the VIPs held in the store, as "network=owner".
func heldVIPs(t *testing.T, c *clientv3.Client) []string {
	t.Helper()
	resp, err := c.Get(context.Background(), cluster.PrefixIPAM, clientv3.WithPrefix())
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, kv := range resp.Kvs {
		if owner, ok := strings.CutPrefix(string(kv.Value), "vip:"); ok {
			net := strings.Split(strings.TrimPrefix(string(kv.Key), cluster.PrefixIPAM), "/")[0]
			out = append(out, net+"="+owner)
		}
	}
	slices.Sort(out)
	return out
}

// heldPorts lists the published ports' keys, as "proto/port=owner".
func heldPorts(t *testing.T, c *clientv3.Client) []string {
	t.Helper()
	resp, err := c.Get(context.Background(), cluster.PrefixPorts, clientv3.WithPrefix())
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, kv := range resp.Kvs {
		out = append(out, strings.TrimPrefix(string(kv.Key), cluster.PrefixPorts)+"="+string(kv.Value))
	}
	slices.Sort(out)
	return out
}

// TestFailedUpdateEndpoint: an update that moves a service to another
// network and port and fails is rolled back by the leader with the
// service's endpoint: its VIP on the network it left is given back, the
// one on its network again held and listed, its port again its own and
// the new one free; an update that fails and pauses keeps what its spec
// holds, and `rm` then leaves no VIP and no port.
func TestFailedUpdateEndpoint(t *testing.T) {
	c := startEtcd(t)
	ctx := context.Background()
	n1 := startFakeNode(t, c, "n1", nil)
	n2 := startFakeNode(t, c, "n2", nil)
	st := &cluster.Store{Client: c, NodeID: "n1", NodeAddr: "127.0.0.1"}
	s := New(Options{})
	s.SetStore(st)
	t.Cleanup(s.Close)
	ostore, err := overlay.NewStore(st)
	if err != nil {
		t.Fatal(err)
	}
	for i, name := range []string{"neta", "netb"} {
		if _, err := ostore.CreateNetwork(ctx, networktypes.CreateOptions{Name: name, Subnet: netip.MustParsePrefix(fmt.Sprintf("10.20%d.0.0/24", i))}, nil); err != nil {
			t.Fatal(err)
		}
	}
	for _, n := range []*fakeNode{n1, n2} {
		n.mu.Lock()
		n.fail = func(tk *stypes.Task) bool { return tk.Spec.ContainerSpec.Image == "busybox:bad" }
		n.mu.Unlock()
	}

	sp := spec("web", 2)
	sp.TaskTemplate.Networks = []stypes.NetworkAttachmentConfig{{Target: "neta"}}
	sp.EndpointSpec = &stypes.EndpointSpec{Ports: []stypes.PortConfig{{TargetPort: 80, PublishedPort: 30100}}}
	res, err := s.Create(ctx, sp)
	if err != nil {
		t.Fatal(err)
	}
	id := res.ID
	waitSpread(t, s, "web", map[string]int{"n1": 1, "n2": 1})
	before, _ := s.Inspect(ctx, "web")
	if got := heldVIPs(t, c); !slices.Equal(got, []string{"neta=" + id}) {
		t.Fatalf("VIPs after create: %v", got)
	}

	// The failing update: network netb instead of neta, port 30101.
	up := before.Spec
	up.TaskTemplate.ContainerSpec = &stypes.ContainerSpec{Image: "busybox:bad"}
	up.TaskTemplate.Networks = []stypes.NetworkAttachmentConfig{{Target: "netb"}}
	up.EndpointSpec = &stypes.EndpointSpec{Ports: []stypes.PortConfig{{TargetPort: 80, PublishedPort: 30101}}}
	up.UpdateConfig.FailureAction = stypes.UpdateFailureActionRollback
	up.UpdateConfig.Monitor = 100 * time.Millisecond
	up.RollbackConfig.Monitor = 100 * time.Millisecond
	if _, err := s.Update(ctx, "web", before.Version.Index, up, stypes.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if got := heldVIPs(t, c); !slices.Equal(got, []string{"netb=" + id}) {
		t.Fatalf("VIPs during the update: %v", got)
	}
	waitUntil(t, "rollback completed", 60*time.Second, func() (bool, string) {
		svc, _ := s.Inspect(ctx, "web")
		return svc.UpdateStatus.State == stypes.UpdateStateRollbackCompleted, svc.UpdateStatus.State + " " + svc.UpdateStatus.Message
	})
	after, _ := s.Inspect(ctx, "web")
	if got := heldVIPs(t, c); !slices.Equal(got, []string{"neta=" + id}) {
		t.Fatalf("VIPs after the rollback: %v, want only web's on neta", got)
	}
	if len(after.Endpoint.VirtualIPs) != 1 || after.Endpoint.VirtualIPs[0].NetworkName != "neta" {
		t.Fatalf("the rolled back service's VIPs: %+v", after.Endpoint.VirtualIPs)
	}
	if got := heldPorts(t, c); !slices.Equal(got, []string{"tcp/30100=" + id}) {
		t.Fatalf("ports after the rollback: %v", got)
	}
	if len(after.Endpoint.Ports) != 1 || after.Endpoint.Ports[0].PublishedPort != 30100 {
		t.Fatalf("the rolled back service's ports: %+v", after.Endpoint.Ports)
	}

	// A failing update that pauses keeps its spec's VIPs (neta and netb);
	// rm gives them all back.
	up = after.Spec
	up.TaskTemplate.ContainerSpec = &stypes.ContainerSpec{Image: "busybox:bad"}
	up.TaskTemplate.Networks = []stypes.NetworkAttachmentConfig{{Target: "neta"}, {Target: "netb"}}
	up.UpdateConfig.FailureAction = stypes.UpdateFailureActionPause
	if _, err := s.Update(ctx, "web", after.Version.Index, up, stypes.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "update paused", 60*time.Second, func() (bool, string) {
		svc, _ := s.Inspect(ctx, "web")
		return svc.UpdateStatus.State == stypes.UpdateStatePaused, svc.UpdateStatus.State + " " + svc.UpdateStatus.Message
	})
	if got := heldVIPs(t, c); !slices.Equal(got, []string{"neta=" + id, "netb=" + id}) {
		t.Fatalf("VIPs of the paused update: %v", got)
	}
	if err := s.Remove(ctx, "web"); err != nil {
		t.Fatal(err)
	}
	if got := heldVIPs(t, c); len(got) != 0 {
		t.Fatalf("VIPs left after rm: %v", got)
	}
	if got := heldPorts(t, c); len(got) != 0 {
		t.Fatalf("ports left after rm: %v", got)
	}
}
