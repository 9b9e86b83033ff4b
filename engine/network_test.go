package engine_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/containerd/errdefs"

	containertypes "github.com/berthproject/berth/pkg/types/container"
	networktypes "github.com/berthproject/berth/pkg/types/network"
)

// Two containers on the default bridge reach each other, and a published
// port answers on the host's loopback.
func TestBridgeAndPublishedPort(t *testing.T) {
	e := newTestEngine(t)
	ctx := context.Background()
	c := e.Containers()
	web := create(t, e, containertypes.Config{
		Cmd:          []string{"sh", "-c", "mkdir -p /www && echo hello-from-web > /www/index.html && exec httpd -f -p 80 -h /www"},
		PortBindings: []containertypes.PortBinding{{HostIP: "127.0.0.1", ContainerPort: 80}},
	})
	if err := c.Start(ctx, web); err != nil {
		t.Fatal(err)
	}
	ci := inspect(t, e, web)
	ip := ci.NetworkSettings.IPAddress
	if ip == "" || len(ci.NetworkSettings.Ports) != 1 || ci.NetworkSettings.Ports[0].HostPort == 0 {
		t.Fatalf("network settings: %+v", ci.NetworkSettings)
	}
	client := create(t, e, containertypes.Config{Cmd: []string{"timeout", "5", "wget", "-q", "-O", "-", "http://" + ip + "/"}})
	exited, _ := c.Wait(ctx, client, containertypes.WaitNextExit)
	t.Logf("web at %s, published %+v", ip, ci.NetworkSettings.Ports)
	if testing.Verbose() {
		out, _ := exec.Command("sh", "-c", "nft list table ip "+netName+"; ip addr show "+netName+"; ss -ltnp | head").CombinedOutput()
		t.Logf("%s", out)
	}
	waitFor(t, "httpd to listen", func() bool {
		resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/", ci.NetworkSettings.Ports[0].HostPort))
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return strings.Contains(string(body), "hello-from-web")
	})
	if err := c.Start(ctx, client); err != nil {
		t.Fatal(err)
	}
	if st := <-exited; st.ExitCode != 0 || !strings.Contains(logsOf(t, e, client), "hello-from-web") {
		t.Fatalf("wget from a second container: exit %d, logs %q", st.ExitCode, logsOf(t, e, client))
	}
	hosts := create(t, e, containertypes.Config{NetworkMode: "none", Cmd: []string{"ip", "-o", "link"}})
	exited, _ = c.Wait(ctx, hosts, containertypes.WaitNextExit)
	if err := c.Start(ctx, hosts); err != nil {
		t.Fatal(err)
	}
	<-exited
	if out := logsOf(t, e, hosts); strings.Contains(out, "eth0") || !strings.Contains(out, "lo") {
		t.Fatalf("--network none links: %q", out)
	}
}

// A container may name, besides its network mode's, networks that do not
// exist yet (as with dockerd): create succeeds, start fails naming the
// missing network, and once it exists the container starts on it. Its
// GwPriority makes it the container's default route.
func TestCreateWithNetworkMadeLater(t *testing.T) {
	e := newTestEngine(t)
	ctx := context.Background()
	c := e.Containers()
	name := fmt.Sprintf("later%d", time.Now().UnixNano()%1000000)
	id := create(t, e, containertypes.Config{
		Cmd:      []string{"ip", "-4", "route", "show", "default"},
		Networks: []containertypes.NetworkAttachment{{Network: "bridge"}, {Network: name, GwPriority: 5}},
	})
	err := c.Start(ctx, id)
	if !errdefs.IsNotFound(err) || !strings.Contains(err.Error(), "network "+name+" not found") {
		t.Fatalf("start with network %s missing: %v, want not found naming it", name, err)
	}
	n, err := e.Networks().Create(ctx, networktypes.CreateOptions{Name: name})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.Networks().Remove(context.Background(), n.ID) })
	exited, _ := c.Wait(ctx, id, containertypes.WaitNextExit)
	if err := c.Start(ctx, id); err != nil {
		t.Fatal(err)
	}
	if st := <-exited; st.ExitCode != 0 {
		t.Fatalf("exit %d: %s", st.ExitCode, logsOf(t, e, id))
	}
	// The bridge is the container's first network; the later one, with
	// a higher priority, gives the default route.
	if out := logsOf(t, e, id); !strings.Contains(out, "default via "+n.Gateway.String()+" dev eth1") {
		t.Fatalf("default route: %q, want via %s dev eth1", out, n.Gateway)
	}
}

// Networks named with the default mode are the container's networks, as
// with dockerd: the default network is not added. A container in the
// default mode that is connected to a network keeps the default network.
func TestDefaultModeNetworks(t *testing.T) {
	e := newTestEngine(t)
	ctx := context.Background()
	c := e.Containers()
	name := fmt.Sprintf("only%d", time.Now().UnixNano()%1000000)
	n, err := e.Networks().Create(ctx, networktypes.CreateOptions{Name: name})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.Networks().Remove(context.Background(), n.ID) })
	networksOf := func(id string) []string {
		t.Helper()
		var out []string
		for k := range inspect(t, e, id).NetworkSettings.Networks {
			out = append(out, k)
		}
		sort.Strings(out)
		return out
	}
	only := create(t, e, containertypes.Config{Cmd: []string{"sleep", "60"}, Networks: []containertypes.NetworkAttachment{{Network: name}}})
	if err := c.Start(ctx, only); err != nil {
		t.Fatal(err)
	}
	if got := networksOf(only); !reflect.DeepEqual(got, []string{name}) {
		t.Fatalf("networks of a default-mode container naming %s: %v", name, got)
	}
	both := create(t, e, containertypes.Config{Cmd: []string{"sleep", "60"}})
	if err := c.Connect(ctx, both, containertypes.NetworkAttachment{Network: name}); err != nil {
		t.Fatal(err)
	}
	if err := c.Start(ctx, both); err != nil {
		t.Fatal(err)
	}
	if got := networksOf(both); !reflect.DeepEqual(got, []string{"bridge", name}) {
		t.Fatalf("networks of a default-mode container connected to %s: %v", name, got)
	}
}
