package cni

import (
	"context"
	"os/exec"
	"strings"
	"testing"

	networktypes "github.com/berthproject/berth/pkg/types/network"
)

// A custom interface name survives a daemon restart (live restore): the
// new Manager reads it from the sandbox state, and disconnect finds and
// removes that interface; a refused connect leaves nothing behind.
func TestCustomIfNameAfterRestart(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.mustCreate(networktypes.CreateOptions{Name: "r0", Subnet: e.subnet(1)})
	n1 := e.mustCreate(networktypes.CreateOptions{Name: "r1", Subnet: e.subnet(2)})
	sb := e.mustSetup(SetupRequest{ContainerID: ctrID(), NetworkMode: "r0", Networks: []Attachment{{Network: "r0", IfName: "foobar"}}})
	id := sb.ContainerID
	link := func(dev string) string {
		out, _ := exec.Command("nsenter", "--net="+sb.NetNSPath, "ip", "-o", "link", "show", dev).CombinedOutput()
		return string(out)
	}
	if !strings.Contains(link("foobar"), ": foobar@if") {
		t.Fatalf("ip link show foobar: %s", link("foobar"))
	}
	if _, err := e.m.Connect(ctx, id, Attachment{Network: "r1", IfName: "foobar"}); err == nil {
		t.Fatal("connect with the name in use succeeded")
	}
	if got, _ := e.m.Sandbox(ctx, id); len(got.Endpoints) != 1 || len(linksOf(n1.Interface)) != 0 {
		t.Fatalf("a refused connect left endpoints %+v, veths %v", got.Endpoints, linksOf(n1.Interface))
	}

	e.m.Close()
	e.m = e.open()
	got, err := e.m.Sandbox(ctx, id)
	if err != nil || got.Endpoint("r0") == nil || got.Endpoint("r0").IfName != "foobar" {
		t.Fatalf("after restart: %+v, %v", got, err)
	}
	if _, err := e.m.Connect(ctx, id, Attachment{Network: "r1"}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(link("eth0"), ": eth0@if") {
		t.Fatalf("ip link show eth0: %s", link("eth0"))
	}
	if err := e.m.Disconnect(ctx, id, "r0"); err != nil {
		t.Fatal(err)
	}
	if out := link("foobar"); !strings.Contains(out, "does not exist") {
		t.Fatalf("foobar still there after disconnect: %s", out)
	}
	if err := e.m.Teardown(ctx, id); err != nil {
		t.Fatal(err)
	}
}
