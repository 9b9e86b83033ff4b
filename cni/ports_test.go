package cni

import (
	"context"
	"fmt"
	"maps"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/containerd/errdefs"

	networktypes "github.com/berthproject/berth/pkg/types/network"
)

// A published port answers on 127.0.0.1 and on a host address; a port
// taken on the host or by another berth container fails Setup with a clear
// error and leaves nothing behind.
func TestPublishedPorts(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.mustCreate(networktypes.CreateOptions{Name: "pub", Subnet: e.subnet(3)})
	port := freePort(t)
	sb := e.mustSetup(SetupRequest{ContainerID: ctrID(), NetworkMode: "pub",
		Ports: []networktypes.PortMapping{{HostPort: port, ContainerPort: 8080, Proto: "tcp"}, {ContainerPort: 8080, Proto: "udp"}}})
	if len(sb.Ports) != 2 || sb.Ports[0].HostPort != port || sb.Ports[1].HostPort == 0 {
		t.Fatalf("ports %+v", sb.Ports)
	}
	e.startHTTPD(sb, "published")
	// The network's gateway is one of the host's own addresses (on the
	// bridge this test created); make sure before sending anything there.
	gw := sb.Endpoints[0].Gateway.String()
	if out, _ := exec.Command("ip", "route", "get", gw).Output(); !strings.HasPrefix(string(out), "local ") {
		t.Fatalf("%s is not a local address: %s", gw, out)
	}
	for _, host := range []string{"127.0.0.1", gw} {
		out, err := exec.Command("/bin/busybox", "wget", "-q", "-O", "-", fmt.Sprintf("http://%s:%d/", host, port)).CombinedOutput()
		if err != nil || !strings.Contains(string(out), "published") {
			t.Fatalf("fetch %s:%d from the host: %v %s", host, port, err, out)
		}
	}
	// A container on another network reaches the published port through
	// the host address (a published port is public), not the address itself.
	e.mustCreate(networktypes.CreateOptions{Name: "elsewhere", Subnet: e.subnet(4)})
	other := e.mustSetup(SetupRequest{ContainerID: ctrID(), NetworkMode: "elsewhere"})
	if out, err := e.inCtr(other, "wget", "-q", "-O", "-", fmt.Sprintf("http://%s:%d/", gw, port)); err != nil || !strings.Contains(out, "published") {
		t.Fatalf("fetch %s:%d from another network: %v %s", gw, port, err, out)
	}
	if out, err := e.inCtrFail(other, "wget", "-q", "-O", "-", "http://"+sb.Endpoints[0].IPv4.Addr().String()+":8080/"); err == nil {
		t.Fatalf("another network reached the container directly: %s", out)
	}
	// Not from an internal network, though its gateway is a host address
	// too: nothing crosses an internal network's bridge.
	e.mustCreate(networktypes.CreateOptions{Name: "sealed", Subnet: e.subnet(5), Internal: true})
	sealed := e.mustSetup(SetupRequest{ContainerID: ctrID(), NetworkMode: "sealed"})
	sgw := sealed.Endpoints[0].Gateway.String()
	if out, err := e.inCtrFail(sealed, "wget", "-q", "-O", "-", fmt.Sprintf("http://%s:%d/", sgw, port)); err == nil {
		t.Fatalf("an internal network reached the published port through %s: %s", sgw, out)
	}
	// A container on the same network reaches it by the host port too
	// (hairpin: DNAT'd back into its own bridge, masqueraded).
	peer := e.mustSetup(SetupRequest{ContainerID: ctrID(), NetworkMode: "pub"})
	if out, err := e.inCtr(peer, "wget", "-q", "-O", "-", fmt.Sprintf("http://%s:%d/", gw, port)); err != nil || !strings.Contains(out, "published") {
		t.Fatalf("fetch %s:%d from the same network (hairpin): %v %s", gw, port, err, out)
	}
	if out, err := e.inCtr(sb, "wget", "-q", "-O", "-", fmt.Sprintf("http://%s:%d/", gw, port)); err != nil || !strings.Contains(out, "published") {
		t.Fatalf("fetch %s:%d from the container itself (hairpin): %v %s", gw, port, err, out)
	}
	// Published on 127.0.0.1 only: reachable there, not on the gateway.
	lo := e.mustSetup(SetupRequest{ContainerID: ctrID(), NetworkMode: "pub",
		Ports: []networktypes.PortMapping{{HostIP: netip.MustParseAddr("127.0.0.1"), ContainerPort: 8080}}})
	e.startHTTPD(lo, "loopback-only")
	loPort := lo.Ports[0].HostPort
	if out, err := exec.Command("/bin/busybox", "wget", "-q", "-O", "-", fmt.Sprintf("http://127.0.0.1:%d/", loPort)).CombinedOutput(); err != nil || !strings.Contains(string(out), "loopback-only") {
		t.Fatalf("fetch 127.0.0.1:%d: %v %s", loPort, err, out)
	}
	if out, err := exec.Command("/bin/busybox", "wget", "-q", "-T", "2", "-O", "-", fmt.Sprintf("http://%s:%d/", gw, loPort)).CombinedOutput(); err == nil {
		t.Fatalf("a port published on 127.0.0.1 answered on %s: %s", gw, out)
	}
	if err := e.m.Teardown(ctx, lo.ContainerID); err != nil {
		t.Fatal(err)
	}
	e.assertNoTrace(lo.ContainerID, "pub")

	// The host port is held: a host program cannot take it any more.
	if l, err := net.Listen("tcp4", fmt.Sprintf("127.0.0.1:%d", port)); err == nil {
		l.Close()
		t.Fatalf("host port %d not reserved", port)
	}

	// Another berth container on the same port.
	id2 := ctrID()
	_, err := e.m.Setup(ctx, SetupRequest{ContainerID: id2, NetworkMode: "pub", Ports: []networktypes.PortMapping{{HostPort: port, ContainerPort: 80}}})
	if !errdefs.IsConflict(err) || !strings.Contains(err.Error(), fmt.Sprint(port)) {
		t.Fatalf("same port twice: %v", err)
	}
	e.assertNoTrace(id2, "pub")

	// A port a host program listens on, tcp and udp.
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	taken := l.Addr().(*net.TCPAddr).Port
	id3 := ctrID()
	_, err = e.m.Setup(ctx, SetupRequest{ContainerID: id3, NetworkMode: "pub", Ports: []networktypes.PortMapping{{HostPort: uint16(taken), ContainerPort: 80}}})
	if !errdefs.IsConflict(err) || !strings.Contains(err.Error(), fmt.Sprintf(":%d/tcp", taken)) {
		t.Fatalf("host port taken: %v", err)
	}
	e.assertNoTrace(id3, "pub")
	u, err := net.ListenPacket("udp4", "0.0.0.0:0")
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	utaken := u.LocalAddr().(*net.UDPAddr).Port
	_, err = e.m.Setup(ctx, SetupRequest{ContainerID: id3, NetworkMode: "pub", Ports: []networktypes.PortMapping{{HostPort: uint16(utaken), ContainerPort: 53, Proto: "udp"}}})
	if !errdefs.IsConflict(err) || !strings.Contains(err.Error(), fmt.Sprintf(":%d/udp", utaken)) {
		t.Fatalf("udp host port taken: %v", err)
	}
	e.assertNoTrace(id3, "pub")

	// Teardown frees the port and its forwarding rules, the port last: a
	// host program that takes the port the moment it is free must get its
	// own traffic, not have it sent to the container by a rule still there.
	done := make(chan error, 1)
	go func() { done <- e.m.Teardown(ctx, sb.ContainerID) }()
	rule := regexp.MustCompile(fmt.Sprintf(`tcp \. %d :`, port))
	for freed := false; !freed; {
		if l, err := net.Listen("tcp4", fmt.Sprintf("0.0.0.0:%d", port)); err == nil {
			out := e.nftTable()
			l.Close()
			if rule.MatchString(out) {
				t.Fatalf("port %d free while its forwarding rule is still there", port)
			}
			freed = true
		}
		time.Sleep(500 * time.Microsecond)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if l, err := net.Listen("tcp4", fmt.Sprintf("0.0.0.0:%d", port)); err != nil {
		t.Fatalf("port %d not released: %v", port, err)
	} else {
		l.Close()
	}
	e.assertNoTrace(sb.ContainerID, "pub")
}

// assertNoTrace checks that container id has nothing left: netns, state,
// IP allocation, iptables rules.
func (e *testEnv) assertNoTrace(id string, networks ...string) {
	e.t.Helper()
	for _, p := range []string{filepath.Join(e.cfg.netnsDir(), id), e.m.statePath(id)} {
		if _, err := os.Stat(p); err == nil {
			e.t.Errorf("%s left behind", p)
		}
	}
	for _, n := range networks {
		files, _ := os.ReadDir(filepath.Join(e.cfg.ipamDir(), n))
		for _, f := range files {
			b, _ := os.ReadFile(filepath.Join(e.cfg.ipamDir(), n, f.Name()))
			if strings.Contains(string(b), id) {
				e.t.Errorf("IP %s of %s still allocated on %s", f.Name(), shortID(id), n)
			}
		}
	}
	if cached, _ := e.m.cni.GetCachedAttachments(id); len(cached) > 0 {
		e.t.Errorf("libcni cache still has %d attachments of %s", len(cached), shortID(id))
	}
	out, _ := exec.Command("iptables-save").Output()
	if strings.Contains(string(out), id) || strings.Contains(string(out), shortID(id)) {
		e.t.Errorf("iptables rules of %s left:\n%s", shortID(id), out)
	}
	e.checkPortElems()
	e.m.mu.Lock()
	_, ok := e.m.sandboxes[id]
	e.m.mu.Unlock()
	if ok {
		e.t.Errorf("sandbox %s still registered", shortID(id))
	}
}

// A flush of the whole ruleset (Debian's nftables.service at each start)
// takes berth's table with it: the next container that publishes a port
// puts it back, with the ports of the containers already running.
func TestPortsAfterRulesetFlush(t *testing.T) {
	e := newEnv(t)
	e.mustCreate(networktypes.CreateOptions{Name: "flush", Subnet: e.subnet(14)})
	a := e.mustSetup(SetupRequest{ContainerID: ctrID(), NetworkMode: "flush", Ports: []networktypes.PortMapping{{ContainerPort: 8080}}})
	e.startHTTPD(a, "survivor")
	// What `nft flush ruleset` does to berth's table, without touching
	// anyone else's.
	if out, err := exec.Command("nft", "delete", "table", "ip", strings.ToLower(e.cfg.FirewallPrefix)).CombinedOutput(); err != nil {
		t.Fatalf("nft delete table: %v: %s", err, out)
	}
	b := e.mustSetup(SetupRequest{ContainerID: ctrID(), NetworkMode: "flush", Ports: []networktypes.PortMapping{{ContainerPort: 8080}}})
	e.startHTTPD(b, "newcomer")
	for _, c := range []struct {
		port uint16
		want string
	}{{a.Ports[0].HostPort, "survivor"}, {b.Ports[0].HostPort, "newcomer"}} {
		out, err := exec.Command("/bin/busybox", "wget", "-q", "-O", "-", fmt.Sprintf("http://127.0.0.1:%d/", c.port)).CombinedOutput()
		if err != nil || !strings.Contains(string(out), c.want) {
			t.Fatalf("fetch 127.0.0.1:%d after the flush: %v %s", c.port, err, out)
		}
	}
}

// The firewall keeps one netlink connection. A transaction the kernel
// refuses (deleting ports of which one is already gone: a retried
// teardown) must not leave replies in it that the next operation reads as
// its own: the ports still there are deleted, and what follows works.
func TestFirewallAfterRefusedTransaction(t *testing.T) {
	e := newEnv(t)
	fw := e.m.fw
	ip := netip.MustParseAddr("10.99.0.2")
	lo := netip.MustParseAddr("127.0.0.1")
	p := func(port uint16) networktypes.PortMapping {
		return networktypes.PortMapping{HostIP: lo, HostPort: port, ContainerPort: 80, Proto: "tcp"}
	}
	if err := fw.addPorts([]networktypes.PortMapping{p(20001), p(20003)}, ip, netip.Addr{}); err != nil {
		t.Fatal(err)
	}
	// 20002 was never added: the batch fails with ENOENT, then one by one.
	if err := fw.delPorts([]networktypes.PortMapping{p(20001), p(20002)}, false); err != nil {
		t.Fatalf("deleting ports of which one is gone: %v", err)
	}
	for i := 0; i < 3; i++ {
		if err := fw.addPorts([]networktypes.PortMapping{p(20004)}, ip, netip.Addr{}); err != nil {
			t.Fatal(err)
		}
		if err := fw.delPorts([]networktypes.PortMapping{p(20004), p(20005)}, false); err != nil {
			t.Fatal(err)
		}
	}
	// Refused before it is sent (an IPv6 port for a container without an
	// IPv6 address): the port queued before it is not sent with the next.
	v6 := networktypes.PortMapping{HostIP: netip.IPv6Loopback(), HostPort: 20007, ContainerPort: 80, Proto: "tcp"}
	if err := fw.addPorts([]networktypes.PortMapping{p(20006), v6}, ip, netip.Addr{}); err == nil {
		t.Fatal("an IPv6 port published for a container without IPv6: no error")
	}
	if err := fw.addPorts([]networktypes.PortMapping{p(20008)}, ip, netip.Addr{}); err != nil {
		t.Fatal(err)
	}
	if err := fw.delPorts([]networktypes.PortMapping{p(20008)}, false); err != nil {
		t.Fatal(err)
	}
	got, err := fw.portElems()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{}
	for _, k := range fw.elemKeys(p(20003), false) {
		want[k] = true
	}
	if !maps.Equal(got, want) {
		t.Errorf("elements: got %q, want only port 20003's %q", slices.Collect(maps.Keys(got)), slices.Collect(maps.Keys(want)))
	}
	if err := fw.delPorts([]networktypes.PortMapping{p(20003)}, false); err != nil {
		t.Fatal(err)
	}
}
