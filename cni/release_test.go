package cni

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	networktypes "github.com/berthproject/berth/pkg/types/network"
)

// Release: the container is unnamed and off its network when it returns;
// its veth, address and netns go in the background, and whatever needs
// them (its fixed address again, the network's removal, a new setup of the
// same container) waits for that instead of failing.
func TestRelease(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	n := e.mustCreate(networktypes.CreateOptions{Name: "rel", Subnet: e.subnet(1)})
	fixed := netip.MustParseAddr(e.subnet(1).Addr().String()).Next().Next().Next().Next().Next()
	a := e.mustSetup(SetupRequest{ContainerID: ctrID(), Name: "a", NetworkMode: "rel",
		Networks: []Attachment{{Network: "rel", IPv4: fixed}}})
	veths := linksOf(n.Interface)
	if len(veths) != 1 {
		t.Fatalf("veths on %s: %v", n.Interface, veths)
	}
	if err := e.m.Release(ctx, a.ContainerID); err != nil {
		t.Fatal(err)
	}
	if got := e.m.DNS().Lookup("rel", "a"); len(got) != 0 {
		t.Errorf("name still resolves after Release: %v", got)
	}
	if got, _ := e.m.Inspect(ctx, "rel"); len(got.Endpoints) != 0 {
		t.Errorf("endpoints after Release: %+v", got.Endpoints)
	}

	// The same fixed address at once: Setup waits for the release.
	b := e.mustSetup(SetupRequest{ContainerID: ctrID(), Name: "b", NetworkMode: "rel",
		Networks: []Attachment{{Network: "rel", IPv4: fixed}}})
	if b.Endpoints[0].IPv4.Addr() != fixed {
		t.Fatalf("b got %s, want %s", b.Endpoints[0].IPv4, fixed)
	}
	for _, l := range veths {
		if linkExists(l) {
			t.Errorf("veth %s of the released container still exists", l)
		}
	}
	if _, err := os.Stat(e.m.statePath(a.ContainerID)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("state of the released container still there: %v", err)
	}
	if _, err := os.Stat(a.NetNSPath); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("netns pin of the released container still there: %v", err)
	}
	// The same container set up again right after its release (a restart).
	if err := e.m.Release(ctx, b.ContainerID); err != nil {
		t.Fatal(err)
	}
	again := e.mustSetup(SetupRequest{ContainerID: b.ContainerID, Name: "b", NetworkMode: "rel"})
	if err := e.m.Release(ctx, again.ContainerID); err != nil {
		t.Fatal(err)
	}
	// The network can go at once; nothing of the containers is left.
	if err := e.m.Remove(ctx, "rel"); err != nil {
		t.Fatalf("network rm right after Release: %v", err)
	}
	if names, _ := os.ReadDir(filepath.Join(e.cfg.ipamDir(), "rel")); len(names) > 0 {
		t.Errorf("IPAM state left: %v", names)
	}
	if got := linksOf(n.Interface); len(got) > 0 {
		t.Errorf("links left on %s: %v", n.Interface, got)
	}
}

// Containers with published ports, and a Release racing Close: ports are
// free when Release returns (the rest goes in the background), and Close
// finishes what is in flight.
func TestReleaseWithPortsAndClose(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	port := freePort(t)
	published := []networktypes.PortMapping{{HostPort: port, ContainerPort: 80, Proto: "tcp"}}
	a := e.mustSetup(SetupRequest{ContainerID: ctrID(), NetworkMode: "bridge", Ports: published})
	if err := e.m.Release(ctx, a.ContainerID); err != nil {
		t.Fatal(err)
	}
	if elems, err := e.m.fw.portElems(); err != nil || len(elems) != 0 {
		t.Errorf("published-port elements when Release returned: %v %v", elems, err)
	}
	if sb, err := e.m.readSandbox(a.ContainerID); err == nil && len(sb.Ports) > 0 {
		t.Errorf("state of the released container still lists its ports: %+v", sb.Ports)
	}
	// The host port is free at once, for a host program as for a container.
	if l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port)); err != nil {
		t.Errorf("host port %d still taken when Release returned: %v", port, err)
	} else {
		_ = l.Close()
	}
	b := e.mustSetup(SetupRequest{ContainerID: ctrID(), NetworkMode: "bridge", Ports: published})
	c := e.mustSetup(SetupRequest{ContainerID: ctrID(), NetworkMode: "bridge"})
	veths := linksOf(e.cfg.DefaultBridge)
	if err := e.m.Teardown(ctx, b.ContainerID); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := e.m.Release(ctx, c.ContainerID); err != nil {
		t.Fatal(err)
	}
	e.m.Close()
	t.Logf("release + close: %s", time.Since(start))
	for _, l := range veths {
		if linkExists(l) {
			t.Errorf("veth %s still exists after Close", l)
		}
	}
	if _, err := os.Stat(e.m.statePath(c.ContainerID)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("state left after Close: %v", err)
	}
	e.m = e.open()
}

// An address given back is the next one handed out: the lowest free
// address first, as dockerd's IPAM (moby's
// TestCustomIfnameWithMatchingDynamicPrefix reconnects and expects .2).
func TestLowestFreeAddressFirst(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	n := e.mustCreate(networktypes.CreateOptions{Name: "low", Subnet: e.subnet(1), EnableIPv6: true, Subnet6: subnet6()})
	a := e.mustSetup(SetupRequest{ContainerID: ctrID(), NetworkMode: "low"})
	b := e.mustSetup(SetupRequest{ContainerID: ctrID(), NetworkMode: "low"})
	first4, first6 := a.Endpoints[0].IPv4.Addr(), a.Endpoints[0].IPv6.Addr()
	if first4 != n.Subnet.Addr().Next().Next() {
		t.Fatalf("first address %s", first4)
	}
	if err := e.m.Teardown(ctx, a.ContainerID); err != nil {
		t.Fatal(err)
	}
	c := e.mustSetup(SetupRequest{ContainerID: ctrID(), NetworkMode: "low"})
	if got := c.Endpoints[0]; got.IPv4.Addr() != first4 || got.IPv6.Addr() != first6 {
		t.Fatalf("after a release: %s %s, want %s %s again", got.IPv4, got.IPv6, first4, first6)
	}
	// Disconnect and connect again: the same address.
	if err := e.m.Disconnect(ctx, b.ContainerID, "low"); err != nil {
		t.Fatal(err)
	}
	if ep, err := e.m.Connect(ctx, b.ContainerID, Attachment{Network: "low"}); err != nil || ep.IPv4 != b.Endpoints[0].IPv4 {
		t.Fatalf("reconnect: %v %v, want %s", ep, err, b.Endpoints[0].IPv4)
	}
	for _, sb := range []*Sandbox{b, c} {
		if err := e.m.Teardown(ctx, sb.ContainerID); err != nil {
			t.Fatal(err)
		}
	}
}

// A crash after a Release gave back a container's ports but before its
// background teardown finished: the teardown that the restarted berthd
// runs from the state file must not delete the forwarding of a container
// that took the same host port meanwhile.
func TestReleasedPortsTakenBeforeTheRetry(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	port := freePort(t)
	published := []networktypes.PortMapping{{HostIP: netip.MustParseAddr("127.0.0.1"), HostPort: port, ContainerPort: 80, Proto: "tcp"}}
	a := e.mustSetup(SetupRequest{ContainerID: ctrID(), NetworkMode: "bridge", Ports: published})
	// What Release does at once; the background step never runs (the crash).
	if _, err := e.m.unpublishNow(a); err != nil {
		t.Fatal(err)
	}
	b := e.mustSetup(SetupRequest{ContainerID: ctrID(), NetworkMode: "bridge", Ports: published})
	before, err := e.m.fw.portElems()
	if err != nil || len(before) != 1 {
		t.Fatalf("elements with b publishing port %d: %v %v", port, before, err)
	}
	// The restarted berthd tears a down from its state file.
	e.m.mu.Lock()
	delete(e.m.sandboxes, a.ContainerID)
	e.m.mu.Unlock()
	if err := e.m.Teardown(ctx, a.ContainerID); err != nil {
		t.Fatal(err)
	}
	if after, err := e.m.fw.portElems(); err != nil || len(after) != 1 {
		t.Errorf("b's forwarding of port %d after a's teardown: %v %v", port, after, err)
	}
	if err := e.m.Teardown(ctx, b.ContainerID); err != nil {
		t.Fatal(err)
	}
}

// An --rm container is released twice: at its exit, then by its removal.
// The second Release returns at once, without waiting for the background
// step of the first (it used to: the whole veth and address teardown was
// back on the path of every `run --rm` on a bridge).
func TestReleaseTwice(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	a := e.mustSetup(SetupRequest{ContainerID: ctrID(), NetworkMode: "bridge"})
	hold := make(chan struct{})
	releaseBegins = func(id string) {
		if id == a.ContainerID {
			<-hold
		}
	}
	t.Cleanup(func() { releaseBegins = func(string) {} })
	if err := e.m.Release(ctx, a.ContainerID); err != nil {
		t.Fatal(err)
	}
	second := make(chan error, 1)
	go func() { second <- e.m.Release(ctx, a.ContainerID) }()
	select {
	case err := <-second:
		close(hold)
		if err != nil {
			t.Errorf("second Release: %v", err)
		}
	case <-time.After(10 * time.Second):
		close(hold)
		t.Errorf("the second Release waits for the background step of the first (then: %v)", <-second)
	}
	e.m.settle()
	if _, err := os.Stat(e.m.statePath(a.ContainerID)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("state left after the release: %v", err)
	}
}
