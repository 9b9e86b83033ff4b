package cni

import (
	"context"
	"fmt"
	"github.com/vishvananda/netlink"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/net/dns/dnsmessage"

	"github.com/berthproject/berth/cni/netns"
	networktypes "github.com/berthproject/berth/pkg/types/network"
)

// upstreamDNS is a test resolver on 127.0.0.1 that answers every A query
// with ip and counts queries.
func upstreamDNS(t *testing.T, ip netip.Addr) string {
	t.Helper()
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	go func() {
		buf := make([]byte, 1500)
		for {
			n, src, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			var p dnsmessage.Parser
			h, err := p.Start(buf[:n])
			if err != nil {
				continue
			}
			q, err := p.Question()
			if err != nil {
				continue
			}
			b := dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: h.ID, Response: true, RecursionAvailable: true})
			_ = b.StartQuestions()
			_ = b.Question(q)
			_ = b.StartAnswers()
			if q.Type == dnsmessage.TypeA && strings.HasPrefix(q.Name.String(), "outside.example.") {
				_ = b.AResource(dnsmessage.ResourceHeader{Name: q.Name, Type: dnsmessage.TypeA, Class: dnsmessage.ClassINET, TTL: 60},
					dnsmessage.AResource{A: ip.As4()})
			}
			out, _ := b.Finish()
			_, _ = pc.WriteTo(out, src)
		}
	}()
	return pc.LocalAddr().String()
}

// Names that are not containers are forwarded from the host side to the
// configured upstream (here a resolver on the host's loopback, which the
// container could not reach itself).
func TestDNSForwarding(t *testing.T) {
	e := newEnv(t)
	e.m.Close()
	want := netip.MustParseAddr("198.51.100.7") // only ever an answer, never contacted
	e.cfg.DNSUpstreams = []string{upstreamDNS(t, want)}
	e.m = e.open()
	e.mustCreate(networktypes.CreateOptions{Name: "fwd"})
	e.mustCreate(networktypes.CreateOptions{Name: "closed", Internal: true})
	sb := e.mustSetup(SetupRequest{ContainerID: ctrID(), NetworkMode: "fwd"})
	out, err := e.inCtr(sb, "nslookup", "outside.example")
	if err != nil || !strings.Contains(out, want.String()) {
		t.Fatalf("nslookup outside.example: %v %s", err, out)
	}
	// Internal networks do not forward.
	in := e.mustSetup(SetupRequest{ContainerID: ctrID(), NetworkMode: "closed"})
	if out, err := e.inCtr(in, "nslookup", "outside.example"); err == nil && strings.Contains(out, want.String()) {
		t.Fatalf("internal network forwarded: %s", out)
	}
	// The default bridge (host resolver on loopback) forwards too.
	def := e.mustSetup(SetupRequest{ContainerID: ctrID()})
	out, err = e.inCtr(def, "nslookup", "outside.example")
	if err != nil || !strings.Contains(out, want.String()) {
		t.Fatalf("nslookup on default bridge: %v %s", err, out)
	}
}

// 50 containers on one network get 50 distinct addresses, all released at
// teardown.
func TestManyAttachments(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.mustCreate(networktypes.CreateOptions{Name: "many", Subnet: e.subnet(5)})
	seen := map[netip.Addr]string{}
	var ids []string
	for i := 0; i < 50; i++ {
		sb := e.mustSetup(SetupRequest{ContainerID: ctrID(), Name: fmt.Sprintf("c%d", i), NetworkMode: "many"})
		ip := sb.Endpoints[0].IPv4.Addr()
		if other, dup := seen[ip]; dup {
			t.Fatalf("%s given to %s and %s", ip, other, sb.ContainerID)
		}
		seen[ip] = sb.ContainerID
		ids = append(ids, sb.ContainerID)
	}
	n, _ := e.m.Inspect(ctx, "many")
	if len(n.Endpoints) != 50 {
		t.Fatalf("%d endpoints", len(n.Endpoints))
	}
	for _, id := range ids {
		if err := e.m.Teardown(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	for _, id := range ids[:3] {
		e.assertNoTrace(id, "many")
	}
	if files, _ := filepath.Glob(filepath.Join(e.cfg.ipamDir(), "many", "10.*")); len(files) > 0 {
		t.Fatalf("IPs still allocated: %v", files)
	}
}

// Connect and disconnect a running container.
func TestConnectDisconnect(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.mustCreate(networktypes.CreateOptions{Name: "a", Subnet: e.subnet(6)})
	e.mustCreate(networktypes.CreateOptions{Name: "b", Subnet: e.subnet(7)})
	srv := e.mustSetup(SetupRequest{ContainerID: ctrID(), Name: "srv", NetworkMode: "a"})
	peer := e.mustSetup(SetupRequest{ContainerID: ctrID(), Name: "peer", NetworkMode: "b"})
	e.startHTTPD(srv, "multi")
	if out, err := e.inCtr(peer, "nslookup", "srv"); err == nil {
		t.Fatalf("srv resolved before connect: %s", out)
	}
	ep, err := e.m.Connect(ctx, srv.ContainerID, Attachment{Network: "b", Aliases: []string{"api"}})
	if err != nil {
		t.Fatal(err)
	}
	if ep.IfName != "eth1" || !e.subnet(7).Contains(ep.IPv4.Addr()) {
		t.Fatalf("endpoint %+v", ep)
	}
	if _, err := e.m.Connect(ctx, srv.ContainerID, Attachment{Network: "b"}); err == nil {
		t.Fatal("second connect succeeded")
	}
	for _, name := range []string{"srv", "api"} {
		out, err := e.inCtr(peer, "wget", "-q", "-O", "-", "http://"+name+":8080/")
		if err != nil || !strings.Contains(out, "multi") {
			t.Fatalf("wget %s after connect: %v %s", name, err, out)
		}
	}
	if err := e.m.Disconnect(ctx, srv.ContainerID, "b"); err != nil {
		t.Fatal(err)
	}
	if out, err := e.inCtr(peer, "nslookup", "srv"); err == nil {
		t.Fatalf("srv resolves after disconnect: %s", out)
	}
	out, _ := exec.Command("nsenter", "--net="+srv.NetNSPath, "ip", "-o", "link").Output()
	if strings.Contains(string(out), "eth1") {
		t.Fatalf("eth1 still in the netns: %s", out)
	}
	sb, _ := e.m.Sandbox(ctx, srv.ContainerID)
	if len(sb.Endpoints) != 1 {
		t.Fatalf("endpoints after disconnect: %+v", sb.Endpoints)
	}
}

// After a crash (a new Manager on the same dirs), Teardown works from the
// on-disk state alone, and GC removes what belongs to no container.
func TestCrashRecovery(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.mustCreate(networktypes.CreateOptions{Name: "crash", Subnet: e.subnet(8)})
	port := freePort(t)
	a := e.mustSetup(SetupRequest{ContainerID: ctrID(), Name: "a", NetworkMode: "crash", Ports: []networktypes.PortMapping{{HostPort: port, ContainerPort: 80}}})
	b := e.mustSetup(SetupRequest{ContainerID: ctrID(), Name: "b", NetworkMode: "crash"})
	c := e.mustSetup(SetupRequest{ContainerID: ctrID(), Name: "c", NetworkMode: "crash"})
	keep := e.mustSetup(SetupRequest{ContainerID: ctrID(), Name: "keep", NetworkMode: "crash"})
	vethA := linksOf(e.m.networks["crash"].Interface)

	e.m.Close() // the process "dies": its sockets go, everything else stays
	e.m = e.open()
	// The new manager knows the running containers (DNS, ports).
	if got := e.m.DNS().Lookup("crash", "keep"); len(got) != 1 {
		t.Fatalf("keep not resolvable after restart: %v", got)
	}
	if l, err := net.Listen("tcp4", fmt.Sprintf("0.0.0.0:%d", port)); err == nil {
		l.Close()
		t.Fatalf("port %d not re-reserved after restart", port)
	}
	if err := e.m.Teardown(ctx, a.ContainerID); err != nil {
		t.Fatal(err)
	}
	e.assertNoTrace(a.ContainerID, "crash")

	// b: state lost (crash right after CNI ADD); c: normal. A stray netns
	// of a container that never finished Setup.
	if err := os.Remove(e.m.statePath(b.ContainerID)); err != nil {
		t.Fatal(err)
	}
	stray := filepath.Join(e.cfg.netnsDir(), ctrID())
	if err := netns.New(stray); err != nil {
		t.Fatal(err)
	}
	e.m.Close()
	e.m = e.open()
	if err := e.m.GC(ctx, []string{keep.ContainerID}); err != nil {
		t.Fatalf("GC: %v", err)
	}
	for _, id := range []string{b.ContainerID, c.ContainerID} {
		e.assertNoTrace(id, "crash")
	}
	if _, err := os.Stat(stray); err == nil {
		t.Fatal("stray netns survived GC")
	}
	left := linksOf(e.m.networks["crash"].Interface)
	if len(left) != 1 {
		t.Fatalf("veths on the bridge after GC: %v (before: %v)", left, vethA)
	}
	if _, err := e.m.Sandbox(ctx, keep.ContainerID); err != nil {
		t.Fatalf("GC removed a valid container: %v", err)
	}
	// GC twice is harmless; firewall chains are never duplicated.
	if err := e.m.GC(ctx, []string{keep.ContainerID}); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(e.nftTable(), "oifname @bridges ct status dnat"); n != 1 {
		t.Fatalf("%d forward rules for published ports:\n%s", n, e.nftTable())
	}
}

// A Setup that fails half-way (second network's ADD fails) leaves nothing.
func TestSetupRollback(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.mustCreate(networktypes.CreateOptions{Name: "one", Subnet: e.subnet(9)})
	e.mustCreate(networktypes.CreateOptions{Name: "two", Subnet: e.subnet(10)})
	fixed := netip.MustParseAddr(fmt.Sprintf("10.%d.10.50", e.octet))
	first := e.mustSetup(SetupRequest{ContainerID: ctrID(), NetworkMode: "two", Networks: []Attachment{{Network: "two", IPv4: fixed}}})
	if first.Endpoints[0].IPv4.Addr() != fixed {
		t.Fatalf("static IP: %+v", first.Endpoints[0])
	}
	port := freePort(t)
	id := ctrID()
	_, err := e.m.Setup(ctx, SetupRequest{ContainerID: id, NetworkMode: "one",
		Networks: []Attachment{{Network: "two", IPv4: fixed}}, Ports: []networktypes.PortMapping{{HostPort: port, ContainerPort: 80}}})
	if err == nil || !strings.Contains(err.Error(), "two") {
		t.Fatalf("setup with a taken static IP: %v", err)
	}
	e.assertNoTrace(id, "one", "two")
	if got := linksOf(e.m.networks["one"].Interface); len(got) != 0 {
		t.Fatalf("veth left on bridge one: %v", got)
	}
	if l, err := net.Listen("tcp4", fmt.Sprintf("0.0.0.0:%d", port)); err != nil {
		t.Fatalf("port %d still held after failed setup: %v", port, err)
	} else {
		l.Close()
	}
}

// macvlan network on a veth parent: containers reach each other and a
// "host" on the parent's segment (a netns holding the veth's peer).
func TestMacvlan(t *testing.T) {
	e := newEnv(t)
	parent, peerEnd := "bm"+e.tag+"a", "bm"+e.tag+"b"
	if out, err := exec.Command("ip", "link", "add", parent, "type", "veth", "peer", "name", peerEnd).CombinedOutput(); err != nil {
		t.Fatalf("veth: %v %s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("ip", "link", "del", parent).Run() })
	outside := filepath.Join(t.TempDir(), "outside")
	if err := netns.New(outside); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = netns.Delete(outside) })
	outsideIP := fmt.Sprintf("10.%d.90.1", e.octet)
	for _, args := range [][]string{
		{"ip", "link", "set", parent, "up"},
		{"ip", "link", "set", peerEnd, "netns", outside},
		{"nsenter", "--net=" + outside, "ip", "addr", "add", outsideIP + "/24", "dev", peerEnd},
		{"nsenter", "--net=" + outside, "ip", "link", "set", peerEnd, "up"},
	} {
		if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("%v: %v %s", args, err, out)
		}
	}
	if _, err := e.m.Create(context.Background(), networktypes.CreateOptions{Name: "mv", Driver: networktypes.DriverMacvlan, Subnet: e.subnet(90)}); err == nil {
		t.Fatal("macvlan without parent accepted")
	}
	n := e.mustCreate(networktypes.CreateOptions{Name: "mv", Driver: networktypes.DriverMacvlan, Subnet: e.subnet(90), Options: map[string]string{"parent": parent}})
	if n.Interface != parent || n.DNS {
		t.Fatalf("network %+v", n)
	}
	c1 := e.mustSetup(SetupRequest{ContainerID: ctrID(), NetworkMode: "mv"})
	c2 := e.mustSetup(SetupRequest{ContainerID: ctrID(), NetworkMode: "mv", Networks: []Attachment{{Network: "mv", MAC: "02:42:0a:00:00:42"}}})
	if c2.Endpoints[0].MAC != "02:42:0a:00:00:42" {
		t.Fatalf("requested MAC not applied: %+v", c2.Endpoints[0])
	}
	for _, target := range []string{outsideIP, c2.Endpoints[0].IPv4.Addr().String()} {
		if out, err := e.inCtr(c1, "ping", "-c", "1", target); err != nil {
			t.Fatalf("ping %s over macvlan: %v %s", target, err, out)
		}
	}
	if _, err := e.m.Setup(context.Background(), SetupRequest{ContainerID: ctrID(), NetworkMode: "mv", Ports: []networktypes.PortMapping{{HostPort: 1, ContainerPort: 1}}}); err == nil {
		t.Fatal("ports on macvlan accepted")
	}
}

// Containers started at the same time on the same networks (the engine
// starts them in parallel) get distinct addresses and all tear down.
func TestParallelSetup(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.mustCreate(networktypes.CreateOptions{Name: "par", Subnet: e.subnet(11)})
	const n = 12
	type res struct {
		sb  *Sandbox
		err error
	}
	ch := make(chan res, n)
	for i := 0; i < n; i++ {
		go func(i int) {
			req := SetupRequest{ContainerID: ctrID(), Name: fmt.Sprintf("p%d", i), NetworkMode: "par"}
			if i%3 == 0 {
				req.NetworkMode = "bridge"
			}
			sb, err := e.m.Setup(ctx, req)
			ch <- res{sb, err}
		}(i)
	}
	seen := map[netip.Addr]bool{}
	var ids []string
	for i := 0; i < n; i++ {
		r := <-ch
		if r.err != nil {
			t.Fatalf("parallel setup: %v", r.err)
		}
		ip := r.sb.Endpoints[0].IPv4.Addr()
		if seen[ip] {
			t.Fatalf("duplicate address %s", ip)
		}
		seen[ip] = true
		ids = append(ids, r.sb.ContainerID)
	}
	errs := make(chan error, n)
	for _, id := range ids {
		go func(id string) { errs <- e.m.Teardown(ctx, id) }(id)
	}
	for range ids {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	for _, id := range ids {
		e.assertNoTrace(id, "par", networktypes.DefaultNetwork)
	}
}

// A crash after portmap's ADD but before libcni cached the result: the
// state written before ADD is enough for Teardown to remove the port rules.
func TestTeardownWithoutCNICache(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.mustCreate(networktypes.CreateOptions{Name: "nocache", Subnet: e.subnet(12)})
	port := freePort(t)
	sb := e.mustSetup(SetupRequest{ContainerID: ctrID(), NetworkMode: "nocache", Ports: []networktypes.PortMapping{{HostPort: port, ContainerPort: 80}}})
	if out := e.nftTable(); !strings.Contains(out, sb.Endpoints[0].IPv4.Addr().String()) {
		t.Fatalf("no DNAT element for %s:\n%s", sb.Endpoints[0].IPv4, out)
	}
	if err := os.RemoveAll(e.cfg.cacheDir()); err != nil {
		t.Fatal(err)
	}
	e.m.Close()
	e.m = e.open()
	if err := e.m.Teardown(ctx, sb.ContainerID); err != nil {
		t.Fatal(err)
	}
	e.assertNoTrace(sb.ContainerID, "nocache")
	if out := e.nftTable(); strings.Contains(out, sb.Endpoints[0].IPv4.Addr().String()) {
		t.Fatalf("DNAT element left:\n%s", out)
	}
}

// A crash after a container's ports went into berth's table but before its
// state was written (or with the state lost): GC leaves no element behind,
// and the host port is free again.
func TestGCPrunesPublishedPorts(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.mustCreate(networktypes.CreateOptions{Name: "gcports", Subnet: e.subnet(13)})
	port := freePort(t)
	sb := e.mustSetup(SetupRequest{ContainerID: ctrID(), NetworkMode: "gcports", Ports: []networktypes.PortMapping{{HostPort: port, ContainerPort: 80}}})
	if out := e.nftTable(); !strings.Contains(out, fmt.Sprintf("tcp . %d : %s . 80", port, sb.Endpoints[0].IPv4.Addr())) {
		t.Fatalf("no element for port %d:\n%s", port, out)
	}
	if err := os.Remove(e.m.statePath(sb.ContainerID)); err != nil {
		t.Fatal(err)
	}
	e.m.Close()
	e.m = e.open()
	if err := e.m.GC(ctx, nil); err != nil {
		t.Fatalf("GC: %v", err)
	}
	if out := e.nftTable(); strings.Contains(out, fmt.Sprintf("tcp . %d :", port)) {
		t.Fatalf("element for port %d left after GC:\n%s", port, out)
	}
	e.assertNoTrace(sb.ContainerID, "gcports")
	l, err := net.Listen("tcp4", fmt.Sprintf("0.0.0.0:%d", port))
	if err != nil {
		t.Fatalf("port %d not free after GC: %v", port, err)
	}
	l.Close()
}

// A bridge keeps its MAC address as containers join it: the kernel would
// otherwise give it the lowest of its ports' addresses, and containers
// already there would send their traffic to the gateway (the embedded DNS,
// the host) to an address nobody answers until their neighbour entries
// expire (TestComposeDebian's "Temporary failure in name resolution").
func TestBridgeMACStable(t *testing.T) {
	e := newEnv(t)
	n := e.mustCreate(networktypes.CreateOptions{Name: "mac", Subnet: e.subnet(6)})
	macOf := func() string {
		l, err := netlink.LinkByName(n.Interface)
		if err != nil {
			t.Fatal(err)
		}
		return l.Attrs().HardwareAddr.String()
	}
	before := macOf()
	var ids []string
	for i := 0; i < 8; i++ {
		sb := e.mustSetup(SetupRequest{ContainerID: ctrID(), Name: fmt.Sprintf("m%d", i), NetworkMode: "mac"})
		ids = append(ids, sb.ContainerID)
		if got := macOf(); got != before {
			t.Fatalf("bridge %s's MAC changed from %s to %s when container %d joined", n.Interface, before, got, i)
		}
	}
	for _, id := range ids {
		if err := e.m.Teardown(context.Background(), id); err != nil {
			t.Fatal(err)
		}
	}
}
