package cni

import (
	"fmt"
	"net/netip"
	"os/exec"
	"slices"
	"strings"
	"testing"

	networktypes "github.com/berthproject/berth/pkg/types/network"
)

// TestServiceRules: the load-balancing rules for real on a bridge network
// of this host: a VIP on the bridge spreads a client's connections over
// both backends; a published port answers on 127.0.0.1; a port held by
// a service cannot be published by a container; a deleted table comes
// back at the next change; an empty state leaves no service object.
func TestServiceRules(t *testing.T) {
	e := newEnv(t)
	n := e.mustCreate(networktypes.CreateOptions{Name: "lb", Subnet: e.subnet(3)})
	a := e.mustSetup(SetupRequest{ContainerID: ctrID(), NetworkMode: "lb"})
	b := e.mustSetup(SetupRequest{ContainerID: ctrID(), NetworkMode: "lb"})
	client := e.mustSetup(SetupRequest{ContainerID: ctrID(), NetworkMode: "lb"})
	e.startHTTPD(a, "task-a")
	e.startHTTPD(b, "task-b")
	vip := netip.MustParseAddr(fmt.Sprintf("10.%d.3.200", e.octet))
	lb := netip.MustParseAddr(fmt.Sprintf("10.%d.3.201", e.octet))
	for _, ip := range []netip.Addr{vip, lb} {
		if out, err := exec.Command("ip", "addr", "add", ip.String()+"/32", "dev", n.Interface).CombinedOutput(); err != nil {
			t.Fatalf("%v %s", err, out)
		}
	}
	port := freePort(t)
	backends := []ServiceBackend{{IP: a.Endpoints[0].IPv4.Addr(), Port: 8080}, {IP: b.Endpoints[0].IPv4.Addr(), Port: 8080}}
	rules := ServiceRules{
		VIPs:  []ServiceVIP{{Bridge: n.Interface, VIP: vip, Backends: backends}},
		Ports: []ServicePort{{Proto: "tcp", Port: port, Backends: backends}},
		SNAT:  map[string]netip.Addr{n.Interface: lb},
	}
	if c, err := e.m.SetServiceRules(rules); err != nil || len(c) != 0 {
		t.Fatalf("%v %v\n%s", c, err, e.nftTable())
	}
	spread := func() map[string]int {
		seen := map[string]int{}
		for i := 0; i < 6; i++ {
			out, err := e.inCtr(client, "wget", "-q", "-O", "-", "http://"+vip.String()+":8080/")
			if err != nil {
				t.Fatalf("wget VIP: %v %s\n%s", err, out, e.nftTable())
			}
			seen[strings.TrimSpace(out)]++
		}
		return seen
	}
	if seen := spread(); seen["task-a"] == 0 || seen["task-b"] == 0 {
		t.Fatalf("VIP answers: %v, want both tasks", seen)
	}
	out, err := exec.Command("busybox", "wget", "-q", "-O", "-", fmt.Sprintf("http://127.0.0.1:%d/", port)).CombinedOutput()
	if err != nil || !strings.HasPrefix(string(out), "task-") {
		t.Fatalf("published port on 127.0.0.1: %v %s\n%s", err, out, e.nftTable())
	}
	if _, err := e.m.Setup(t.Context(), SetupRequest{ContainerID: ctrID(), NetworkMode: "lb", Ports: []networktypes.PortMapping{{HostPort: port, ContainerPort: 80}}}); err == nil {
		t.Fatal("a container published a service's port")
	}
	// A port a container holds already: the service's is left out, and
	// said so, and the rest is written.
	held := freePort(t)
	e.mustSetup(SetupRequest{ContainerID: ctrID(), NetworkMode: "lb", Ports: []networktypes.PortMapping{{HostPort: held, ContainerPort: 80}}})
	withHeld := rules
	withHeld.Ports = append(slices.Clone(rules.Ports), ServicePort{Proto: "tcp", Port: held, Backends: backends})
	if c, err := e.m.SetServiceRules(withHeld); err != nil || len(c) != 1 || !strings.Contains(c[0].Error(), fmt.Sprint(held)) {
		t.Fatalf("a service port held by a container: conflicts %v, error %v", c, err)
	}

	// One backend: only it answers. Then the table is deleted (a flushed
	// ruleset): the next change restores berth's rules and the services'.
	rules.VIPs[0].Backends = backends[:1]
	if _, err := e.m.SetServiceRules(rules); err != nil {
		t.Fatal(err)
	}
	if seen := spread(); seen["task-a"] != 6 {
		t.Fatalf("VIP answers with one backend: %v", seen)
	}
	if out, err := exec.Command("nft", "delete", "table", "ip", strings.ToLower(e.cfg.FirewallPrefix)).CombinedOutput(); err != nil {
		t.Fatalf("%v %s", err, out)
	}
	if ok, err := e.m.ServiceRulesPresent(); ok || err != nil {
		t.Fatalf("present after the table went: %v %v", ok, err)
	}
	rules.VIPs[0].Backends = backends
	if _, err := e.m.SetServiceRules(rules); err != nil {
		t.Fatal(err)
	}
	if seen := spread(); seen["task-a"] == 0 || seen["task-b"] == 0 {
		t.Fatalf("VIP answers after the restore: %v", seen)
	}
	if tbl := e.nftTable(); !strings.Contains(tbl, "chain forward") || strings.Count(tbl, "chain svc-b-") != 2 {
		t.Fatalf("restored table:\n%s", tbl)
	}

	if _, err := e.m.SetServiceRules(ServiceRules{}); err != nil {
		t.Fatal(err)
	}
	if tbl := e.nftTable(); strings.Contains(tbl, "svc-b-") || strings.Contains(tbl, "elements") && strings.Contains(tbl, vip.String()) {
		t.Fatalf("service objects left:\n%s", tbl)
	}
	if out, err := e.inCtrFail(client, "wget", "-q", "-O", "-", "http://"+vip.String()+":8080/"); err == nil {
		t.Fatalf("VIP still answers with no service: %s", out)
	}
}
