package cni

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/containerd/errdefs"

	networktypes "github.com/berthproject/berth/pkg/types/network"
)

// Two containers on a user network reach each other by name through the
// embedded DNS; a container on another network cannot resolve the name nor
// reach the address.
func TestUserNetworkDNSAndIsolation(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.mustCreate(networktypes.CreateOptions{Name: "front", Subnet: e.subnet(1)})
	e.mustCreate(networktypes.CreateOptions{Name: "other", Subnet: e.subnet(2)})

	web := e.mustSetup(SetupRequest{ContainerID: ctrID(), Name: "web", NetworkMode: "front",
		Networks: []Attachment{{Network: "front", Aliases: []string{"www"}}}})
	client := e.mustSetup(SetupRequest{ContainerID: ctrID(), Name: "client", NetworkMode: "front"})
	stranger := e.mustSetup(SetupRequest{ContainerID: ctrID(), Name: "stranger", NetworkMode: "other"})
	e.startHTTPD(web, "hello from web")

	for _, name := range []string{"web", "www", shortID(web.ContainerID)} {
		out, err := e.inCtr(client, "wget", "-q", "-O", "-", "http://"+name+":8080/")
		if err != nil || !strings.Contains(out, "hello from web") {
			t.Fatalf("wget %s from client: %v %s", name, err, out)
		}
	}
	// nslookup answers from the same network, not from another one.
	if out, err := e.inCtr(client, "nslookup", "web"); err != nil || !strings.Contains(out, web.Endpoints[0].IPv4.Addr().String()) {
		t.Fatalf("nslookup web from client: %v %s", err, out)
	}
	if out, err := e.inCtr(stranger, "nslookup", "web"); err == nil {
		t.Fatalf("name web resolved from another network: %s", out)
	}
	webIP := web.Endpoints[0].IPv4.Addr().String()
	if out, err := e.inCtrFail(stranger, "wget", "-q", "-O", "-", "http://"+webIP+":8080/"); err == nil {
		t.Fatalf("other network reached web at %s: %s", webIP, out)
	}

	// Disconnect removes the record at once.
	if got := e.m.DNS().Lookup("front", "web"); len(got) != 1 || got[0].String() != webIP {
		t.Fatalf("lookup web = %v, want %s", got, webIP)
	}
	// Rename: the new name resolves at once, the old one no longer.
	if err := e.m.Rename(ctx, web.ContainerID, "web2"); err != nil {
		t.Fatal(err)
	}
	if out, err := e.inCtr(client, "nslookup", "web2"); err != nil || !strings.Contains(out, webIP) {
		t.Fatalf("nslookup web2 after rename: %v %s", err, out)
	}
	if got := e.m.DNS().Lookup("front", "web"); len(got) != 0 {
		t.Fatalf("old name still resolves: %v", got)
	}
	if err := e.m.Teardown(ctx, web.ContainerID); err != nil {
		t.Fatal(err)
	}
	if out, err := e.inCtr(client, "nslookup", "web2"); err == nil {
		t.Fatalf("web2 still resolves after teardown: %s", out)
	}
}

// The default bridge network has no container-name resolution, and a
// container on it gets a forwarding resolver when the host's are on
// loopback.
func TestDefaultBridgeNoNames(t *testing.T) {
	e := newEnv(t)
	a := e.mustSetup(SetupRequest{ContainerID: ctrID(), Name: "a"})
	b := e.mustSetup(SetupRequest{ContainerID: ctrID(), Name: "b", NetworkMode: "bridge"})
	if a.Endpoints[0].Network != networktypes.DefaultNetwork || a.Endpoints[0].DNSServer.IsValid() {
		t.Fatalf("endpoint %+v", a.Endpoints[0])
	}
	if out, err := e.inCtr(b, "nslookup", "a"); err == nil {
		t.Fatalf("container name resolved on the default bridge: %s", out)
	}
	// Same network: reachable by address.
	e.startHTTPD(a, "default bridge")
	out, err := e.inCtr(b, "wget", "-q", "-O", "-", "http://"+a.Endpoints[0].IPv4.Addr().String()+":8080/")
	if err != nil || !strings.Contains(out, "default bridge") {
		t.Fatalf("wget on default bridge: %v %s", err, out)
	}
	rc, _ := e.m.ResolvConf(a)
	if want := "nameserver " + a.Endpoints[0].Gateway.String(); !strings.Contains(string(rc), want) {
		t.Fatalf("resolv.conf %q lacks %q", rc, want)
	}
	if !linkExists(e.cfg.DefaultBridge) {
		t.Fatalf("default bridge %s missing", e.cfg.DefaultBridge)
	}
}

func TestModesNoneHostContainer(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	none := e.mustSetup(SetupRequest{ContainerID: ctrID(), NetworkMode: "none"})
	out, err := exec.Command("nsenter", "--net="+none.NetNSPath, "ip", "-o", "link").Output()
	if err != nil {
		t.Fatal(err)
	}
	if lines := strings.Split(strings.TrimSpace(string(out)), "\n"); len(lines) != 1 || !strings.Contains(lines[0], "lo:") || !strings.Contains(lines[0], "UP") {
		t.Fatalf("none netns links: %s", out)
	}
	host := e.mustSetup(SetupRequest{ContainerID: ctrID(), NetworkMode: "host", Ports: []networktypes.PortMapping{{HostPort: 1, ContainerPort: 1}}})
	if host.NetNSPath != "" || len(host.Endpoints) != 0 || len(host.Ports) != 0 {
		t.Fatalf("host sandbox %+v", host)
	}
	joined := e.mustSetup(SetupRequest{ContainerID: ctrID(), NetworkMode: "container:" + none.NetNSPath})
	if joined.NetNSPath != none.NetNSPath {
		t.Fatalf("container mode netns %s", joined.NetNSPath)
	}
	if _, err := e.m.Setup(ctx, SetupRequest{ContainerID: ctrID(), NetworkMode: "none", Ports: []networktypes.PortMapping{{HostPort: 1, ContainerPort: 1}}}); !errdefs.IsInvalidArgument(err) {
		t.Fatalf("ports with none: %v", err)
	}
	if _, err := e.m.Setup(ctx, SetupRequest{ContainerID: ctrID(), NetworkMode: "nosuchnet"}); !errdefs.IsNotFound(err) {
		t.Fatalf("unknown network: %v", err)
	}
	if _, err := e.m.Setup(ctx, SetupRequest{ContainerID: none.ContainerID, NetworkMode: "none"}); !errdefs.IsAlreadyExists(err) {
		t.Fatalf("second setup: %v", err)
	}
	for _, sb := range []*Sandbox{joined, host, none} {
		if err := e.m.Teardown(ctx, sb.ContainerID); err != nil {
			t.Fatal(err)
		}
		if err := e.m.Teardown(ctx, sb.ContainerID); err != nil {
			t.Fatalf("second teardown: %v", err)
		}
	}
	if _, err := os.Stat(none.NetNSPath); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("netns file still there: %v", err)
	}
}

func TestInternalNetworkHasNoRouteOut(t *testing.T) {
	e := newEnv(t)
	n := e.mustCreate(networktypes.CreateOptions{Name: "backend", Internal: true})
	if !n.Internal || !n.Subnet.IsValid() {
		t.Fatalf("network %+v", n)
	}
	sb := e.mustSetup(SetupRequest{ContainerID: ctrID(), NetworkMode: "backend"})
	out, err := exec.Command("nsenter", "--net="+sb.NetNSPath, "ip", "-4", "route").Output()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(out), "default") {
		t.Fatalf("internal network has a default route: %s", out)
	}
	if !strings.Contains(string(out), n.Subnet.String()) {
		t.Fatalf("no subnet route: %s", out)
	}
	if tbl := e.nftTable(); strings.Contains(tbl, n.Subnet.String()) {
		t.Fatalf("internal network is masqueraded:\n%s", tbl)
	}
	// A normal network does have both.
	e.mustCreate(networktypes.CreateOptions{Name: "public"})
	pub := e.mustSetup(SetupRequest{ContainerID: ctrID(), NetworkMode: "public"})
	out, _ = exec.Command("nsenter", "--net="+pub.NetNSPath, "ip", "-4", "route").Output()
	if !strings.Contains(string(out), "default via "+pub.Endpoints[0].Gateway.String()) {
		t.Fatalf("public network lacks default route: %s", out)
	}
}

// Network objects: create with/without subnet, list, inspect, remove while
// in use, prune.
func TestNetworkLifecycle(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	a := e.mustCreate(networktypes.CreateOptions{Name: "a", Labels: map[string]string{"team": "x"}})
	b := e.mustCreate(networktypes.CreateOptions{Name: "b"})
	if a.Subnet == b.Subnet || a.Subnet.Overlaps(e.cfg.DefaultSubnet) || b.Subnet.Overlaps(e.cfg.DefaultSubnet) {
		t.Fatalf("subnets a=%s b=%s default=%s", a.Subnet, b.Subnet, e.cfg.DefaultSubnet)
	}
	if a.Interface != "br-"+a.ID[:12] || a.Gateway != a.Subnet.Addr().Next() {
		t.Fatalf("network a %+v", a)
	}
	// The bridge exists with its gateway address from the start.
	if out, err := exec.Command("ip", "-4", "-o", "addr", "show", "dev", a.Interface).Output(); err != nil ||
		!strings.Contains(string(out), netip.PrefixFrom(a.Gateway, a.Subnet.Bits()).String()) {
		t.Fatalf("bridge %s: %v %s", a.Interface, err, out)
	}
	if _, err := e.m.Create(ctx, networktypes.CreateOptions{Name: "a"}); !errdefs.IsAlreadyExists(err) {
		t.Fatalf("duplicate name: %v", err)
	}
	if _, err := e.m.Create(ctx, networktypes.CreateOptions{Name: "c", Subnet: a.Subnet}); !errdefs.IsInvalidArgument(err) {
		t.Fatalf("overlapping subnet: %v", err)
	}
	c := e.mustCreate(networktypes.CreateOptions{Name: "c", Subnet: e.subnet(77), Gateway: netip.MustParseAddr(fmt.Sprintf("10.%d.77.254", e.octet)),
		IPRange: netip.MustParsePrefix(fmt.Sprintf("10.%d.77.128/25", e.octet))})
	// The conflist is a standard one that libcni-based tools read.
	b2, err := os.ReadFile(filepath.Join(e.cfg.Root, "networks", "c.conflist"))
	if err != nil || !strings.Contains(string(b2), `"cniVersion"`) || !strings.Contains(string(b2), `"rangeStart": "10.`) {
		t.Fatalf("conflist: %v %s", err, b2)
	}
	sb := e.mustSetup(SetupRequest{ContainerID: ctrID(), NetworkMode: "c"})
	if ip := sb.Endpoints[0].IPv4.Addr(); !c.IPRange.Contains(ip) || sb.Endpoints[0].Gateway != c.Gateway {
		t.Fatalf("endpoint %+v not in ip-range %s", sb.Endpoints[0], c.IPRange)
	}
	err = e.m.Remove(ctx, "c")
	if !errdefs.IsFailedPrecondition(err) || !strings.Contains(err.Error(), shortID(sb.ContainerID)) {
		t.Fatalf("remove in use: %v", err)
	}
	if err := e.m.Remove(ctx, networktypes.DefaultNetwork); !errdefs.IsFailedPrecondition(err) {
		t.Fatalf("remove default: %v", err)
	}
	got, err := e.m.Inspect(ctx, c.ID[:8])
	if err != nil || got.Name != "c" || len(got.Endpoints) != 1 || got.Endpoints[0].ContainerID != sb.ContainerID {
		t.Fatalf("inspect: %v %+v", err, got)
	}
	list, _ := e.m.List(ctx)
	if len(list) != 4 {
		t.Fatalf("list: %d networks", len(list))
	}
	pruned, err := e.m.Prune(ctx, nil, nil)
	if err != nil || strings.Join(pruned, ",") != "a,b" {
		t.Fatalf("prune: %v %v", err, pruned)
	}
	if err := e.m.Teardown(ctx, sb.ContainerID); err != nil {
		t.Fatal(err)
	}
	if err := e.m.Remove(ctx, c.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := e.m.Inspect(ctx, "c"); !errdefs.IsNotFound(err) {
		t.Fatalf("inspect removed: %v", err)
	}
	if linkExists(c.Interface) {
		t.Fatalf("bridge %s left after remove", c.Interface)
	}
	// A new Manager on the same dirs sees the same networks.
	e.m.Close()
	e.m = e.open()
	list, _ = e.m.List(ctx)
	if len(list) != 1 || list[0].Name != networktypes.DefaultNetwork {
		t.Fatalf("after reopen: %+v", list)
	}
}

// freePort returns a port that is free for tcp and udp on loopback.
func freePort(t *testing.T) uint16 {
	t.Helper()
	for i := 0; i < 20; i++ {
		l, err := net.Listen("tcp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		p := l.Addr().(*net.TCPAddr).Port
		l.Close()
		if u, err := net.ListenPacket("udp4", fmt.Sprintf("0.0.0.0:%d", p)); err == nil {
			u.Close()
			return uint16(p)
		}
	}
	t.Fatal("no free port")
	return 0
}

// After a reboot (bridges and iptables rules gone, files kept) a new
// Manager re-creates the bridges and berth's chains, once.
func TestStartupRecreates(t *testing.T) {
	e := newEnv(t)
	n := e.mustCreate(networktypes.CreateOptions{Name: "boot"})
	e.m.Close()
	if err := e.m.fw.remove(); err != nil {
		t.Fatal(err)
	}
	for _, br := range []string{n.Interface, e.cfg.DefaultBridge} {
		if out, err := exec.Command("ip", "link", "del", br).CombinedOutput(); err != nil {
			t.Fatalf("del %s: %v %s", br, err, out)
		}
	}
	if tbl := e.nftTable(); tbl != "" {
		t.Fatalf("table still there:\n%s", tbl)
	}
	e.m = e.open()
	e.m.Close()
	e.m = e.open() // twice: nothing duplicated
	for _, br := range []string{n.Interface, e.cfg.DefaultBridge} {
		if !linkExists(br) {
			t.Fatalf("bridge %s not re-created", br)
		}
	}
	tbl := e.nftTable()
	masq := fmt.Sprintf("ip saddr %s oifname != %q masquerade", n.Subnet, n.Interface)
	if c := strings.Count(tbl, masq); c != 1 {
		t.Fatalf("%d rules %q:\n%s", c, masq, tbl)
	}
	sb := e.mustSetup(SetupRequest{ContainerID: ctrID(), NetworkMode: "boot"})
	if !n.Subnet.Contains(sb.Endpoints[0].IPv4.Addr()) {
		t.Fatalf("endpoint %+v", sb.Endpoints[0])
	}
}
