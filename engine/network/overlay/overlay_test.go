package overlay_test

import (
	"context"
	"fmt"
	"net/netip"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/containerd/errdefs"
	clientv3 "go.etcd.io/etcd/client/v3"

	cniov "github.com/berthproject/berth/cni/overlay"
	ot "github.com/berthproject/berth/cni/overlay/overlaytest"
	"github.com/berthproject/berth/engine/cluster"
	"github.com/berthproject/berth/engine/cluster/clustertest"
	"github.com/berthproject/berth/engine/network/overlay"
	networktypes "github.com/berthproject/berth/pkg/types/network"
)

func startEtcd(t testing.TB) *clientv3.Client { return clustertest.StartEtcd(t) }

type node struct {
	id    string
	store *overlay.Store
	lease clientv3.LeaseID
}

func newNode(t testing.TB, c *clientv3.Client, id, addr string) *node {
	t.Helper()
	s, err := overlay.NewStore(&cluster.Store{Client: c, NodeID: id, NodeAddr: addr})
	if err != nil {
		t.Fatal(err)
	}
	g, err := c.Grant(context.Background(), 60)
	if err != nil {
		t.Fatal(err)
	}
	return &node{id: id, store: s, lease: g.ID}
}

func keys(t *testing.T, c *clientv3.Client, prefix string) []string {
	t.Helper()
	r, err := c.Get(context.Background(), prefix, clientv3.WithPrefix(), clientv3.WithKeysOnly())
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, kv := range r.Kvs {
		out = append(out, string(kv.Key))
	}
	return out
}

// TestIPAMConcurrent: three nodes allocate at once on one network: no
// address is given twice; an asked-for address in use is refused; the
// network cannot be removed while any node has an endpoint; a dead
// node's endpoints go with its lease; then remove leaves no key.
func TestIPAMConcurrent(t *testing.T) {
	c := startEtcd(t)
	ctx := context.Background()
	nodes := []*node{newNode(t, c, "n1", "10.241.0.1"), newNode(t, c, "n2", "10.241.0.2"), newNode(t, c, "n3", "10.241.0.3")}
	n, err := nodes[0].store.CreateNetwork(ctx, networktypes.CreateOptions{Name: "ov", Attachable: true, Subnet: netip.MustParsePrefix("10.200.0.0/24")}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if overlay.VNI(n) != 4097 || n.Gateway.String() != "10.200.0.1" {
		t.Fatalf("network: vni %d gateway %s", overlay.VNI(n), n.Gateway)
	}
	if _, err := nodes[1].store.CreateNetwork(ctx, networktypes.CreateOptions{Name: "ov"}, nil); !errdefs.IsAlreadyExists(err) {
		t.Fatalf("second create of the same name: %v", err)
	}
	n2, err := nodes[1].store.CreateNetwork(ctx, networktypes.CreateOptions{Name: "ov2"}, []netip.Prefix{netip.MustParsePrefix("10.0.0.0/24")})
	if err != nil {
		t.Fatal(err)
	}
	if overlay.VNI(n2) != 4098 || n2.Subnet.String() != "10.0.1.0/24" {
		t.Fatalf("second network: vni %d subnet %s (want 4098, the first free /24 not avoided)", overlay.VNI(n2), n2.Subnet)
	}

	const per = 20
	var mu sync.Mutex
	got := map[netip.Addr]string{}
	var wg sync.WaitGroup
	errs := make(chan error, 3*per)
	for _, nd := range nodes {
		for i := 0; i < per; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				id := fmt.Sprintf("%s-c%02d", nd.id, i)
				ep, err := nd.store.Allocate(ctx, n, nd.lease, overlay.Endpoint{ID: id, Names: []string{id}})
				if err != nil {
					errs <- err
					return
				}
				mu.Lock()
				defer mu.Unlock()
				if other, dup := got[ep.IP]; dup {
					errs <- fmt.Errorf("%s given to %s and %s", ep.IP, other, id)
				}
				got[ep.IP] = id
			}()
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if len(got) != 3*per || len(keys(t, c, cluster.IPAMPrefix("ov"))) != 3*per || len(keys(t, c, cluster.EndpointsPrefix("ov"))) != 3*per {
		t.Fatalf("%d addresses, %d ipam keys, %d endpoints; want %d each", len(got), len(keys(t, c, cluster.IPAMPrefix("ov"))), len(keys(t, c, cluster.EndpointsPrefix("ov"))), 3*per)
	}
	if _, ok := got[n.Gateway]; ok {
		t.Fatal("the gateway was given to a container")
	}
	var taken netip.Addr
	for a := range got {
		taken = a
		break
	}
	if _, err := nodes[0].store.Allocate(ctx, n, nodes[0].lease, overlay.Endpoint{ID: "x", IP: taken}); !errdefs.IsAlreadyExists(err) {
		t.Fatalf("asking for an address in use: %v", err)
	}

	err = nodes[0].store.RemoveNetwork(ctx, "ov")
	if !errdefs.IsFailedPrecondition(err) || !strings.Contains(err.Error(), "on node n2") {
		t.Fatalf("remove with endpoints: %v", err)
	}

	// n2 dies: its lease goes, and its endpoints and addresses with it.
	if _, err := c.Revoke(ctx, nodes[1].lease); err != nil {
		t.Fatal(err)
	}
	eps, err := nodes[0].store.Endpoints(ctx, "ov")
	if err != nil {
		t.Fatal(err)
	}
	if len(eps) != 2*per || len(keys(t, c, cluster.IPAMPrefix("ov"))) != 2*per {
		t.Fatalf("after n2's lease went: %d endpoints, want %d", len(eps), 2*per)
	}
	for _, e := range eps {
		if e.Node == "n2" {
			t.Fatalf("endpoint %s of the dead node left", e.ID)
		}
		owner := map[string]*node{"n1": nodes[0], "n3": nodes[2]}[e.Node]
		if err := owner.store.Release(ctx, "ov", e.ID); err != nil {
			t.Fatal(err)
		}
	}
	if err := nodes[2].store.Release(ctx, "ov", "never-there"); err != nil {
		t.Fatalf("release of an unknown endpoint: %v", err)
	}
	if err := nodes[2].store.RemoveNetwork(ctx, "ov"); err != nil {
		t.Fatal(err)
	}
	if err := nodes[2].store.RemoveNetwork(ctx, "ov2"); err != nil {
		t.Fatal(err)
	}
	if left := keys(t, c, cluster.Prefix); len(left) != 0 {
		t.Fatalf("keys left: %v", left)
	}
	if _, err := nodes[0].store.Allocate(ctx, n, nodes[0].lease, overlay.Endpoint{ID: "late"}); !errdefs.IsNotFound(err) {
		t.Fatalf("allocate on a removed network: %v", err)
	}
}

// TestThreeHosts: three namespace hosts on an underlay, one container each
// on an overlay network: addresses from the store, devices from the
// plugin, forwarding entries from each node's Programmer fed by the
// store. Every container reaches every other (ping, TCP); when one goes,
// the others' entries for it and for its node go too.
func TestThreeHosts(t *testing.T) {
	ot.NeedRoot(t)
	plugin := ot.BuildPlugin(t)
	c := startEtcd(t)
	ctx := context.Background()
	dir := t.TempDir()
	hosts := ot.Hosts(t, dir, 3)
	var nodes []*node
	var progs []*overlay.Programmer
	for i, h := range hosts {
		id := fmt.Sprintf("h%d", i+1)
		nodes = append(nodes, newNode(t, c, id, h.Under.String()))
		progs = append(progs, overlay.NewProgrammer(h.H, id, nil))
	}
	n, err := nodes[0].store.CreateNetwork(ctx, networktypes.CreateOptions{Name: "ov", Attachable: true, Subnet: netip.MustParsePrefix("10.201.0.0/24")}, nil)
	if err != nil {
		t.Fatal(err)
	}
	spec := func(h *ot.Host) cniov.Spec {
		return cniov.Spec{VNI: overlay.VNI(n), Bridge: "ov-t", VXLAN: "vx-t", Local: h.Under, Gateway: netip.PrefixFrom(n.Gateway, 24)}
	}
	var ctrs []string
	var ips []netip.Addr
	for i, h := range hosts {
		if _, err := cniov.Ensure(h.H, spec(h)); err != nil {
			t.Fatal(err)
		}
		if err := progs[i].SetNetwork("ov", "vx-t"); err != nil {
			t.Fatal(err)
		}
		ctr := ot.NewNS(t, dir, fmt.Sprintf("c%d", i+1))
		ep, err := nodes[i].store.Allocate(ctx, n, nodes[i].lease, overlay.Endpoint{ID: fmt.Sprintf("ctr%d", i+1)})
		if err != nil {
			t.Fatal(err)
		}
		conf := ot.NetConf(spec(h), n.Subnet.String(), ep.IP.String())
		conf["runtimeConfig"].(map[string]any)["mac"] = ep.MAC
		ot.CNI(t, plugin, h, "ADD", ctr, "eth0", conf)
		ctrs, ips = append(ctrs, ctr), append(ips, ep.IP)
	}
	resync := func() {
		t.Helper()
		eps, err := nodes[0].store.Endpoints(ctx, "ov")
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range progs {
			if err := p.Reset("ov", eps); err != nil {
				t.Fatal(err)
			}
		}
	}
	resync()
	fdb, neigh, err := cniov.Entries(hosts[0].H, "vx-t")
	if err != nil {
		t.Fatal(err)
	}
	bum := fmt.Sprint(fdb["00:00:00:00:00:00"])
	if len(neigh) != 2 || bum != "[10.241.77.2 10.241.77.3]" && bum != "[10.241.77.3 10.241.77.2]" {
		t.Fatalf("h1's entries: fdb %v neigh %v", fdb, neigh)
	}
	for i := range ctrs {
		for j := range ctrs {
			if i != j {
				if err := ot.Ping(ctrs[i], ips[j]); err != nil {
					t.Fatalf("c%d -> c%d: %v", i+1, j+1, err)
				}
			}
		}
	}
	ot.TCPTransfer(t, ctrs[0], ctrs[2], ips[2])
	ot.TCPTransfer(t, ctrs[2], ctrs[1], ips[1])

	// c3 goes: its endpoint leaves the store, the others forget it and
	// (with no other container there) its node.
	ot.CNI(t, plugin, hosts[2], "DEL", ctrs[2], "eth0", ot.NetConf(spec(hosts[2]), n.Subnet.String(), ips[2].String()))
	if err := nodes[2].store.Release(ctx, "ov", "ctr3"); err != nil {
		t.Fatal(err)
	}
	resync()
	for i := 0; i < 2; i++ {
		fdb, neigh, err := cniov.Entries(hosts[i].H, "vx-t")
		if err != nil {
			t.Fatal(err)
		}
		var peers []string
		for _, a := range fdb["00:00:00:00:00:00"] {
			peers = append(peers, a.String())
		}
		sort.Strings(peers)
		other := hosts[1-i].Under.String()
		if len(neigh) != 1 || fmt.Sprint(peers) != "["+other+"]" || len(fdb) != 2 {
			t.Fatalf("h%d after c3 left: fdb %v neigh %v", i+1, fdb, neigh)
		}
	}
}
