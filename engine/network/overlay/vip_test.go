package overlay_test

import (
	"context"
	"fmt"
	"net/netip"
	"sync"
	"testing"

	"github.com/containerd/errdefs"

	"github.com/berthproject/berth/engine/cluster"
	"github.com/berthproject/berth/engine/network/overlay"
	networktypes "github.com/berthproject/berth/pkg/types/network"
)

// TestVIPs: services' VIPs come from the network's IPAM: concurrent
// allocations from three nodes never share an address (with each other or
// with containers'), a second allocation for the same owner returns its
// address, the network cannot be removed while a VIP is held, and nodes'
// load-balancer endpoints do not keep it: they go with it.
func TestVIPs(t *testing.T) {
	c := startEtcd(t)
	ctx := context.Background()
	nodes := []*node{newNode(t, c, "n1", "10.241.0.1"), newNode(t, c, "n2", "10.241.0.2"), newNode(t, c, "n3", "10.241.0.3")}
	n, err := nodes[0].store.CreateNetwork(ctx, networktypes.CreateOptions{Name: "ov", Subnet: netip.MustParsePrefix("10.200.0.0/24")}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	got := map[netip.Addr]string{}
	var wg sync.WaitGroup
	errs := make(chan error, 60)
	for i, nd := range nodes {
		for j := 0; j < 10; j++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				owner := fmt.Sprintf("svc%d-%d", i, j)
				var ip netip.Addr
				var err error
				if j%2 == 0 {
					ip, err = nd.store.AllocateVIP(ctx, "ov", owner)
				} else {
					var ep overlay.Endpoint
					ep, err = nd.store.Allocate(ctx, n, nd.lease, overlay.Endpoint{ID: owner})
					ip = ep.IP
				}
				if err != nil {
					errs <- err
					return
				}
				mu.Lock()
				defer mu.Unlock()
				if other, dup := got[ip]; dup {
					errs <- fmt.Errorf("%s given to %s and %s", ip, other, owner)
				}
				got[ip] = owner
			}()
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	again, err := nodes[2].store.AllocateVIP(ctx, "ov", "svc0-0")
	if err != nil || got[again] != "svc0-0" {
		t.Fatalf("second allocation for svc0-0: %s %v (holder %q)", again, err, got[again])
	}
	vips, err := nodes[0].store.VIPs(ctx, "ov")
	if err != nil || len(vips) != 15 {
		t.Fatalf("VIPs: %v %v, want 15", vips, err)
	}
	if _, err := nodes[0].store.AllocateVIP(ctx, "nope", "x"); !errdefs.IsNotFound(err) {
		t.Fatalf("VIP on a missing network: %v", err)
	}
	// Containers gone; a node's load-balancer endpoint stays.
	for ip, owner := range got {
		if _, isVIP := vips[owner]; !isVIP {
			nd := nodes[owner[3]-'0']
			if err := nd.store.Release(ctx, "ov", owner); err != nil {
				t.Fatal(err)
			}
			delete(got, ip)
		}
	}
	if _, err := nodes[1].store.Allocate(ctx, n, nodes[1].lease, overlay.Endpoint{ID: overlay.LBEndpointID("n2"), MAC: "02:42:0a:c8:00:fe"}); err != nil {
		t.Fatal(err)
	}
	if err := nodes[0].store.RemoveNetwork(ctx, "ov"); !errdefs.IsFailedPrecondition(err) {
		t.Fatalf("remove with VIPs held: %v", err)
	}
	for owner := range vips {
		if err := nodes[1].store.ReleaseVIP(ctx, "ov", owner); err != nil {
			t.Fatal(err)
		}
	}
	if err := nodes[1].store.ReleaseVIP(ctx, "ov", "never"); err != nil {
		t.Fatalf("release of a VIP not held: %v", err)
	}
	if err := nodes[0].store.RemoveNetwork(ctx, "ov"); err != nil {
		t.Fatalf("remove with only a load-balancer endpoint: %v", err)
	}
	if left := keys(t, c, cluster.Prefix); len(left) != 0 {
		t.Fatalf("keys left: %v", left)
	}
}
