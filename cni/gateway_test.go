package cni

import (
	"context"
	"net/netip"
	"os/exec"
	"strings"
	"testing"

	"github.com/containerd/errdefs"

	networktypes "github.com/berthproject/berth/pkg/types/network"
)

func TestGatewayEndpointsOrder(t *testing.T) {
	gw4 := netip.MustParseAddr("10.0.0.1")
	gw6 := netip.MustParseAddr("fd00::1")
	ep := func(name string, prio int, v4, v6, internal bool) Endpoint {
		e := Endpoint{Network: name, GwPriority: prio, DefaultRoute: !internal}
		if v4 {
			e.Gateway = gw4
		}
		if v6 {
			e.Gateway6 = gw6
		}
		return e
	}
	for _, tc := range []struct {
		name         string
		eps          []Endpoint
		want4, want6 string
	}{
		{"highest priority", []Endpoint{ep("a", 10, true, false, false), ep("b", 100, true, false, false)}, "b", ""},
		{"negative priority loses to 0", []Endpoint{ep("z", 0, true, false, false), ep("a", -100, true, false, false)}, "z", ""},
		{"tie: name order", []Endpoint{ep("net4", 10, true, false, false), ep("net3", 10, true, false, false)}, "net3", ""},
		{"internal last", []Endpoint{ep("a", 0, true, false, true), ep("b", 0, true, false, false)}, "b", ""},
		{"internal only: none", []Endpoint{ep("a", 0, true, true, true)}, "", ""},
		{"dual-stack before single-stack", []Endpoint{ep("a", 0, true, false, false), ep("b", 0, true, true, false)}, "b", "b"},
		// As libnetwork: the first dual-stack endpoint takes both
		// families, even from a higher-priority single-stack one.
		{"dual-stack takes both", []Endpoint{ep("a", 5, false, true, false), ep("b", 1, true, true, false)}, "b", "b"},
		{"families split", []Endpoint{ep("a", 5, false, true, false), ep("b", 1, true, false, false)}, "b", "a"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ep4, ep6 := GatewayEndpoints(tc.eps)
			name := func(e *Endpoint) string {
				if e == nil {
					return ""
				}
				return e.Network
			}
			if name(ep4) != tc.want4 || name(ep6) != tc.want6 {
				t.Fatalf("gateways %q %q, want %q %q", name(ep4), name(ep6), tc.want4, tc.want6)
			}
		})
	}
}

// defaultRoutes lists the default routes of a family in the sandbox's
// netns, as `ip route` prints them.
func defaultRoutes(t *testing.T, sb *Sandbox, family string) []string {
	t.Helper()
	out, err := exec.Command("nsenter", "--net="+sb.NetNSPath, "ip", family, "route", "show", "default").Output()
	if err != nil {
		t.Fatal(err)
	}
	var routes []string
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if l != "" {
			routes = append(routes, l)
		}
	}
	return routes
}

func checkDefaultRoute(t *testing.T, sb *Sandbox, family, via, dev string) {
	t.Helper()
	routes := defaultRoutes(t, sb, family)
	if len(routes) != 1 || !strings.HasPrefix(routes[0]+" ", "default via "+via+" dev "+dev+" ") {
		t.Fatalf("ip %s route show default: %q, want one via %s dev %s", family, routes, via, dev)
	}
}

// TestGwPriority: a container on several networks has one default route
// per family, the one of its highest-priority network; connect and
// disconnect move it as dockerd does.
func TestGwPriority(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	n1 := e.mustCreate(networktypes.CreateOptions{Name: "net1", Subnet: e.subnet(1), EnableIPv6: true, Subnet6: subnet6()})
	n2 := e.mustCreate(networktypes.CreateOptions{Name: "net2", Subnet: e.subnet(2), EnableIPv6: true, Subnet6: subnet6()})
	n3 := e.mustCreate(networktypes.CreateOptions{Name: "net3", Subnet: e.subnet(3), EnableIPv6: true, Subnet6: subnet6()})
	n4 := e.mustCreate(networktypes.CreateOptions{Name: "net4", Subnet: e.subnet(4), EnableIPv6: true, Subnet6: subnet6()})
	e.mustCreate(networktypes.CreateOptions{Name: "internal", Subnet: e.subnet(5), Internal: true})

	sb := e.mustSetup(SetupRequest{ContainerID: ctrID(), NetworkMode: "net1", Networks: []Attachment{
		{Network: "net1"}, {Network: "net2", GwPriority: 100},
	}})
	if sb.Endpoints[1].GwPriority != 100 {
		t.Fatalf("endpoint priority %d, want 100", sb.Endpoints[1].GwPriority)
	}
	checkDefaultRoute(t, sb, "-4", n2.Gateway.String(), "eth1")
	checkDefaultRoute(t, sb, "-6", n2.Gateway6.String(), "eth1")

	id := sb.ContainerID
	mustConnect := func(att Attachment) {
		t.Helper()
		if _, err := e.m.Connect(ctx, id, att); err != nil {
			t.Fatal(err)
		}
	}
	mustDisconnect := func(network string) {
		t.Helper()
		if err := e.m.Disconnect(ctx, id, network); err != nil {
			t.Fatal(err)
		}
	}
	// Lower priorities and an internal network leave it where it is.
	mustConnect(Attachment{Network: "net3", GwPriority: 10})
	mustConnect(Attachment{Network: "internal", GwPriority: 1000})
	checkDefaultRoute(t, sb, "-4", n2.Gateway.String(), "eth1")
	// A tie goes to the network whose name sorts first: net3 before net4.
	mustConnect(Attachment{Network: "net4", GwPriority: 10})
	mustDisconnect("net2")
	checkDefaultRoute(t, sb, "-4", n3.Gateway.String(), "eth2")
	checkDefaultRoute(t, sb, "-6", n3.Gateway6.String(), "eth2")
	mustDisconnect("net3")
	checkDefaultRoute(t, sb, "-4", n4.Gateway.String(), "eth4")
	// A higher priority connected later takes it at once.
	mustConnect(Attachment{Network: "net2", GwPriority: 200})
	checkDefaultRoute(t, sb, "-4", n2.Gateway.String(), "eth1")
	mustDisconnect("net2")
	mustDisconnect("net4")
	checkDefaultRoute(t, sb, "-4", n1.Gateway.String(), "eth0")
	checkDefaultRoute(t, sb, "-6", n1.Gateway6.String(), "eth0")
	// With only the internal network left, no default route at all.
	mustDisconnect("net1")
	if r := defaultRoutes(t, sb, "-4"); len(r) != 0 {
		t.Fatalf("default routes on an internal network only: %q", r)
	}
	if got, _ := e.m.Sandbox(ctx, id); got.Endpoints[0].GwPriority != 1000 {
		t.Fatalf("sandbox endpoints %+v", got.Endpoints)
	}
	if err := e.m.Teardown(ctx, id); err != nil {
		t.Fatal(err)
	}
}

// Interfaces named by the request keep their names; the others take the
// first free eth<N>, at setup and at connect; a name in use is refused.
func TestCustomIfName(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.mustCreate(networktypes.CreateOptions{Name: "n0", Subnet: e.subnet(1)})
	e.mustCreate(networktypes.CreateOptions{Name: "n1", Subnet: e.subnet(2)})
	e.mustCreate(networktypes.CreateOptions{Name: "n2", Subnet: e.subnet(3)})
	sb := e.mustSetup(SetupRequest{ContainerID: ctrID(), NetworkMode: "n0", Networks: []Attachment{
		{Network: "n0", IfName: "eth1"}, {Network: "n1"},
	}})
	ifaddr := func(ifName string) string {
		t.Helper()
		out, err := exec.Command("nsenter", "--net="+sb.NetNSPath, "ip", "-o", "-4", "addr", "show", ifName).CombinedOutput()
		if err != nil {
			t.Fatalf("ip addr show %s: %v %s", ifName, err, out)
		}
		return string(out)
	}
	if !strings.Contains(ifaddr("eth1"), e.subnet(1).Addr().Next().Next().String()) || !strings.Contains(ifaddr("eth0"), e.subnet(2).Addr().Next().Next().String()) {
		t.Fatalf("eth1 %q eth0 %q, want n0 on eth1 and n1 on eth0", ifaddr("eth1"), ifaddr("eth0"))
	}
	id := sb.ContainerID
	if _, err := e.m.Connect(ctx, id, Attachment{Network: "n2", IfName: "eth0"}); !errdefs.IsAlreadyExists(err) || !strings.Contains(err.Error(), "file exists") {
		t.Fatalf("connect with a name in use: %v", err)
	}
	if _, err := e.m.Connect(ctx, id, Attachment{Network: "n2", IfName: "a/b"}); !errdefs.IsInvalidArgument(err) {
		t.Fatalf("connect with an invalid name: %v", err)
	}
	if _, err := e.m.Connect(ctx, id, Attachment{Network: "n2", IfName: "backend0"}); err != nil {
		t.Fatal(err)
	}
	ifaddr("backend0")
	if err := e.m.Disconnect(ctx, id, "n1"); err != nil {
		t.Fatal(err)
	}
	if err := e.m.Disconnect(ctx, id, "n2"); err != nil {
		t.Fatal(err)
	}
	ep, err := e.m.Connect(ctx, id, Attachment{Network: "n2"})
	if err != nil || ep.IfName != "eth0" {
		t.Fatalf("reconnect: %v, interface %v, want eth0", err, ep)
	}
	if _, err := e.m.Setup(ctx, SetupRequest{ContainerID: ctrID(), NetworkMode: "n0", Networks: []Attachment{
		{Network: "n0", IfName: "x0"}, {Network: "n1", IfName: "x0"},
	}}); !errdefs.IsAlreadyExists(err) {
		t.Fatalf("setup with a name twice: %v", err)
	}
	if err := e.m.Teardown(ctx, id); err != nil {
		t.Fatal(err)
	}
}

// DefaultBridge none (dockerd's -b none): no default network is made, and
// user networks still work.
func TestNoDefaultBridge(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	cfg := e.cfg
	cfg.Root, cfg.State = t.TempDir(), t.TempDir()
	cfg.DefaultBridge = NoDefaultBridge
	cfg.FirewallPrefix = e.cfg.FirewallPrefix + "N"
	m, err := New(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := m.Uninstall(ctx); err != nil {
			t.Error(err)
		}
	}()
	if _, err := m.Inspect(ctx, networktypes.DefaultNetwork); !errdefs.IsNotFound(err) {
		t.Fatalf("default network with DefaultBridge none: %v", err)
	}
	if linkExists(NoDefaultBridge) {
		t.Fatal("a bridge named none was made")
	}
	if _, err := m.Setup(ctx, SetupRequest{ContainerID: ctrID(), NetworkMode: "bridge"}); !errdefs.IsNotFound(err) {
		t.Fatalf("setup on the default network: %v", err)
	}
}
