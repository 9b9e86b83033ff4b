package cni

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/containerd/errdefs"

	networktypes "github.com/berthproject/berth/pkg/types/network"
)

// subnet6 is a random ULA /64 for one test.
func subnet6() netip.Prefix {
	a := [16]byte{0xfd}
	_, _ = rand.Read(a[1:8])
	return netip.PrefixFrom(netip.AddrFrom16(a), 64)
}

func host6(p netip.Prefix, h byte) netip.Addr {
	a := p.Addr().As16()
	a[15] = h
	return netip.AddrFrom16(a)
}

// TestIPv6Network: a dual-stack network gives its containers an IPv6
// address (a requested one too) with a default route; they reach each
// other over IPv6; berth's ip6 table masquerades the subnet, isolates it
// from other networks and forwards published ports, on [::1] through
// berthd's relay; teardown leaves no element behind.
func TestIPv6Network(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	sub6 := subnet6()
	n := e.mustCreate(networktypes.CreateOptions{Name: "dual", Subnet: e.subnet(1), EnableIPv6: true, Subnet6: sub6})
	if !n.EnableIPv6 || n.Subnet6 != sub6 || n.Gateway6 != host6(sub6, 1) {
		t.Fatalf("network: EnableIPv6 %v Subnet6 %v Gateway6 %v", n.EnableIPv6, n.Subnet6, n.Gateway6)
	}
	other := e.mustCreate(networktypes.CreateOptions{Name: "other6", Subnet: e.subnet(2), EnableIPv6: true})
	if !other.Subnet6.IsValid() || other.Subnet6.Bits() != 64 || other.Subnet6.Addr().As16()[0] != 0xfd {
		t.Fatalf("network without an IPv6 subnet got %v, want a ULA /64", other.Subnet6)
	}

	want := host6(sub6, 0x10)
	p1, p2 := freeTCPPort(t), freeTCPPort(t)
	web := e.mustSetup(SetupRequest{ContainerID: ctrID(), Name: "web", NetworkMode: "dual",
		Networks: []Attachment{{Network: "dual", IPv6: want}},
		Ports: []networktypes.PortMapping{
			{HostIP: netip.IPv6Loopback(), HostPort: p1, ContainerPort: 8080, Proto: "tcp"},
			{HostPort: p2, ContainerPort: 8080, Proto: "tcp"},
		}})
	ep := web.Endpoints[0]
	if ep.IPv6 != netip.PrefixFrom(want, 64) || ep.Gateway6 != n.Gateway6 || !ep.IPv4.IsValid() {
		t.Fatalf("endpoint: IPv4 %v IPv6 %v Gateway6 %v, want IPv6 %v/64 via %v", ep.IPv4, ep.IPv6, ep.Gateway6, want, n.Gateway6)
	}
	e.startHTTPD(web, "hello over v6")
	client := e.mustSetup(SetupRequest{ContainerID: ctrID(), Name: "client", NetworkMode: "dual"})
	stranger := e.mustSetup(SetupRequest{ContainerID: ctrID(), Name: "stranger", NetworkMode: "other6"})

	if out, err := e.inCtr(client, "ip", "-6", "route"); err != nil || !strings.Contains(out, "default via "+n.Gateway6.String()) {
		t.Fatalf("IPv6 routes of client: %v %s", err, out)
	}
	for _, u := range []string{"http://[" + want.String() + "]:8080/", "http://web:8080/"} {
		if out, err := e.inCtr(client, "wget", "-q", "-O", "-", u); err != nil || !strings.Contains(out, "hello over v6") {
			t.Fatalf("wget %s from client: %v %s", u, err, out)
		}
	}
	if out, err := e.inCtr(client, "nslookup", "-type=AAAA", "web"); err != nil || !strings.Contains(out, want.String()) {
		t.Fatalf("nslookup -type=AAAA web: %v %s", err, out)
	}
	if out, err := e.inCtrFail(stranger, "wget", "-q", "-O", "-", "http://["+want.String()+"]:8080/"); err == nil {
		t.Fatalf("another network reached %s: %s", want, out)
	}

	tbl := e.nftTable6()
	for _, w := range []string{
		"ip6 saddr " + sub6.String() + " oifname != \"" + n.Interface + "\" masquerade",
		fmt.Sprintf("::1 . tcp . %d : %s . 8080", p1, want),
		fmt.Sprintf("tcp . %d : %s . 8080", p2, want),
		"ip6 daddr != ::1 fib daddr type local jump dnat",
	} {
		if !strings.Contains(tbl, w) {
			t.Errorf("berth's ip6 table lacks %q:\n%s", w, tbl)
		}
	}
	if v4 := e.nftTable(); !strings.Contains(v4, fmt.Sprintf("tcp . %d : %s . 8080", p2, ep.IPv4.Addr())) {
		t.Errorf("berth's ip table lacks port %d to %s:\n%s", p2, ep.IPv4.Addr(), v4)
	}
	// From the host: [::1] (the relay) on both ports, 127.0.0.1 on the
	// every-address one.
	for _, u := range []string{fmt.Sprintf("http://[::1]:%d/", p1), fmt.Sprintf("http://[::1]:%d/", p2), fmt.Sprintf("http://127.0.0.1:%d/", p2)} {
		e.eventually(func() error { return get(u, "hello over v6") })
	}
	e.checkPortElems()

	if err := e.m.Teardown(ctx, web.ContainerID); err != nil {
		t.Fatal(err)
	}
	if tbl := e.nftTable6(); strings.Contains(tbl, want.String()) {
		t.Errorf("ports of a torn-down container left in the ip6 table:\n%s", tbl)
	}
	if err := get(fmt.Sprintf("http://[::1]:%d/", p1), ""); err == nil {
		t.Errorf("[::1]:%d still answers after teardown", p1)
	}
}

// TestIPv6BadInput: what the network cannot give is refused before
// anything is made.
func TestIPv6BadInput(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	sub6 := subnet6()
	e.mustCreate(networktypes.CreateOptions{Name: "dual", Subnet: e.subnet(1), EnableIPv6: true, Subnet6: sub6})
	e.mustCreate(networktypes.CreateOptions{Name: "v4", Subnet: e.subnet(2)})
	for _, o := range []networktypes.CreateOptions{
		{Name: "no-flag", Subnet6: subnet6()},
		{Name: "overlap", EnableIPv6: true, Subnet6: sub6},
		{Name: "gw-out", EnableIPv6: true, Subnet6: subnet6(), Gateway6: host6(sub6, 9)},
		{Name: "link-local", EnableIPv6: true, Subnet6: netip.MustParsePrefix("fe80::/64")},
	} {
		if _, err := e.m.Create(ctx, o); !errdefs.IsInvalidArgument(err) {
			t.Errorf("create %+v: %v, want invalid argument", o, err)
		}
		if _, err := e.m.Inspect(ctx, o.Name); !errdefs.IsNotFound(err) {
			t.Errorf("network %s exists after a failed create", o.Name)
		}
	}
	for _, req := range []SetupRequest{
		{NetworkMode: "dual", Networks: []Attachment{{Network: "dual", IPv6: host6(subnet6(), 5)}}},
		{NetworkMode: "dual", Networks: []Attachment{{Network: "dual", IPv6: host6(sub6, 1)}}},
		{NetworkMode: "v4", Networks: []Attachment{{Network: "v4", IPv6: host6(sub6, 5)}}},
		{NetworkMode: "v4", Ports: []networktypes.PortMapping{{HostIP: netip.IPv6Loopback(), ContainerPort: 80, Proto: "tcp"}}},
	} {
		req.ContainerID = ctrID()
		if _, err := e.m.Setup(ctx, req); !errdefs.IsInvalidArgument(err) {
			t.Errorf("setup %+v: %v, want invalid argument", req, err)
		}
		if _, err := e.m.Sandbox(ctx, req.ContainerID); !errdefs.IsNotFound(err) {
			t.Errorf("sandbox left by a failed setup %+v", req)
		}
	}
}

func freeTCPPort(t *testing.T) uint16 {
	t.Helper()
	l, err := net.Listen("tcp", "[::]:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return uint16(l.Addr().(*net.TCPAddr).Port)
}

// get fetches u and checks the body holds want.
func get(u, want string) error {
	c := &http.Client{Timeout: 3 * time.Second}
	resp, err := c.Get(u)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if !strings.Contains(string(b), want) {
		return fmt.Errorf("GET %s: %q, want %q", u, b, want)
	}
	return nil
}
