package cni

import (
	"context"
	"sync"
	"testing"

	networktypes "github.com/berthproject/berth/pkg/types/network"
)

// A node adopts a cluster network from two places at once: the API call
// that created it, and the control plane that saw it in the store. Both
// must get the network (the API call used to fail "already exists" under
// load, and then removed the new network from the whole cluster).
func TestAdoptTwiceAtOnce(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	for round := range 20 {
		n := networktypes.Network{ID: newID(), Name: "adopted", Driver: networktypes.DriverBridge, Subnet: e.subnet(80 + round)}
		var wg sync.WaitGroup
		start := make(chan struct{})
		errs := make([]error, 4)
		ids := make([]string, 4)
		for i := range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				got, err := e.m.Adopt(ctx, n)
				errs[i] = err
				if got != nil {
					ids[i] = got.ID
				}
			}()
		}
		close(start)
		wg.Wait()
		for i, err := range errs {
			if err != nil || ids[i] != n.ID {
				t.Fatalf("round %d: adoption %d: %v (network %q, want %q)", round, i, err, ids[i], n.ID)
			}
		}
		if err := e.m.Remove(ctx, n.Name); err != nil {
			t.Fatal(err)
		}
	}
}
