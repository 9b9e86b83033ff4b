package e2e

// IPv6: dual-stack bridge networks (network create --ipv6), --ip6,
// AAAA records, published ports on [::1] and on both families, isolation
// between IPv6 networks, and bad input. All traffic stays on loopback and
// in the stack's own bridges and namespaces.

import (
	"crypto/rand"
	"fmt"
	"net/netip"
	"os"
	"strings"
	"testing"

	"github.com/berthproject/berth/test/harness"
)

// testSubnet6 is a random ULA /64 (fdXX:XXXX:XXXX:XXXX::/64), away from
// the host's addresses and from any other test's.
func testSubnet6(t *testing.T) netip.Prefix {
	t.Helper()
	var a [16]byte
	if _, err := rand.Read(a[1:8]); err != nil {
		t.Fatal(err)
	}
	a[0] = 0xfd
	return netip.PrefixFrom(netip.AddrFrom16(a), 64)
}

// hostIn6 is host number h of a /64.
func hostIn6(p netip.Prefix, h byte) string {
	a := p.Addr().As16()
	a[15] = h
	return netip.AddrFrom16(a).String()
}

func TestNetworkIPv6(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root")
	}
	s := harness.Start(t)
	s.LoadBusybox()
	n := ntStack{s}

	sub4, sub6 := testSubnet(t, s, 1), testSubnet6(t)
	net6, auto6 := ntName(t, "v6net"), ntName(t, "v6auto")
	n.network(t, net6, "--ipv6", "--subnet", sub4, "--subnet", sub6.String())
	n.network(t, auto6, "--ipv6")
	gw6 := hostIn6(sub6, 1)

	t.Run("Inspect", func(t *testing.T) {
		out := n.ok(t, "network", "inspect", "-f", "{{.EnableIPv6}} {{range .IPAM.Config}}{{.Subnet}}/{{.Gateway}} {{end}}", net6)
		want := fmt.Sprintf("true %s/%s %s/%s", sub4, ipIn(sub4, 1), sub6, gw6)
		if out != want {
			t.Errorf("network inspect %s: %q, want %q", net6, out, want)
		}
		// Without --subnet: a /64 of the host's ULA /48, as Docker 28.
		out = n.ok(t, "network", "inspect", "-f", "{{range .IPAM.Config}}{{.Subnet}} {{end}}", auto6)
		f := strings.Fields(out)
		if len(f) != 2 {
			t.Fatalf("network inspect %s subnets: %q, want an IPv4 and an IPv6 one", auto6, out)
		}
		p, err := netip.ParsePrefix(f[1])
		if err != nil || p.Bits() != 64 || p.Addr().As16()[0] != 0xfd {
			t.Errorf("network %s IPv6 subnet %q: want a ULA /64 (fdXX:...::/64)", auto6, f[1])
		}
		if ls := n.ok(t, "network", "ls", "--filter", "name="+auto6, "--format", "{{.IPv6}}"); ls != "true" {
			t.Errorf("network ls IPv6 column: %q, want true", ls)
		}
	})

	web, webIP := ntName(t, "web6"), hostIn6(sub6, 0x10)
	n.httpd(t, web, "--network", net6, "--ip6", webIP, "--network-alias", "www6")

	t.Run("ContainerInspect", func(t *testing.T) {
		// (The top-level NetworkSettings fields are the default bridge's,
		// as in Docker.)
		out := n.ok(t, "inspect", "-f", "{{with index .NetworkSettings.Networks \""+net6+"\"}}"+
			"{{.GlobalIPv6Address}}/{{.GlobalIPv6PrefixLen}} {{.IPv6Gateway}} {{.IPAMConfig.IPv6Address}}{{end}}", web)
		want := fmt.Sprintf("%s/64 %s %s", webIP, gw6, webIP)
		if out != want {
			t.Errorf("inspect %s: %q, want %q", web, out, want)
		}
		// An address from the network's subnet without --ip6.
		other := ntName(t, "any6")
		out = n.ok(t, "run", "--rm", "--name", other, "--network", net6, "busybox", "ip", "-6", "route")
		if !strings.Contains(out, "default via "+gw6) {
			t.Errorf("IPv6 routes in a container of %s: %q, want a default route via %s", net6, out, gw6)
		}
	})

	t.Run("Reach", func(t *testing.T) {
		// By address, by name and alias (AAAA), and the gateway.
		n.fetchOK(t, "http://["+webIP+"]/", "--network", net6)
		out := n.ok(t, "run", "--rm", "--network", net6, "busybox", "nslookup", "-type=AAAA", "www6")
		if !strings.Contains(out, webIP) {
			t.Errorf("nslookup -type=AAAA www6: %q lacks %s", out, webIP)
		}
		out = n.ok(t, "run", "--rm", "--network", net6, "busybox", "nslookup", "-type=A", web)
		if !strings.Contains(out, strings.TrimSuffix(sub4, "0/24")) {
			t.Errorf("nslookup -type=A %s: %q lacks an address of %s", web, out, sub4)
		}
		n.ok(t, "run", "--rm", "--network", net6, "busybox", "ping6", "-c", "1", "-W", "5", gw6)
		// Another IPv6 network cannot reach it. (wget runs under sh: as
		// PID 1 it would ignore timeout's SIGTERM.)
		r := n.run(t, "run", "--rm", "--network", auto6, "busybox", "sh", "-c", "timeout 3 wget -q -O - http://["+webIP+"]/ && echo reached")
		if r.ExitCode == 0 || strings.Contains(r.Stdout, netPage) {
			t.Errorf("fetching %s from network %s: want isolation, got %s", webIP, auto6, r)
		}
	})

	t.Run("PublishedPorts", func(t *testing.T) {
		p1, p2 := freePort(t), freePort(t)
		pub := ntName(t, "pub6")
		n.httpd(t, pub, "--network", net6, "-p", fmt.Sprintf("[::1]:%d:80", p1), "-p", fmt.Sprintf("%d:80", p2))
		httpGet(t, fmt.Sprintf("http://[::1]:%d/", p1))
		httpGet(t, fmt.Sprintf("http://[::1]:%d/", p2))
		httpGet(t, fmt.Sprintf("http://127.0.0.1:%d/", p2))
		out := n.ok(t, "port", pub, "80")
		if !strings.Contains(out, fmt.Sprintf("[::1]:%d", p1)) {
			t.Errorf("berth port %s 80: %q lacks [::1]:%d", pub, out, p1)
		}
		ps := harness.PublishedPorts(s.FirewallPrefix())
		if !strings.Contains(strings.Join(ps, ","), hostIn6(sub6, 0)[:4]) {
			t.Errorf("no IPv6 element in berth's published ports: %v", ps)
		}
	})

	t.Run("Connect", func(t *testing.T) {
		c := ntName(t, "conn6")
		n.ok(t, "run", "-d", "--name", c, "busybox", "sleep", "600")
		t.Cleanup(func() { n.s.Berth("rm", "-f", c) })
		ip := hostIn6(sub6, 0x20)
		n.ok(t, "network", "connect", "--ip6", ip, net6, c)
		out := n.ok(t, "inspect", "-f", "{{with index .NetworkSettings.Networks \""+net6+"\"}}{{.GlobalIPv6Address}}{{end}}", c)
		if out != ip {
			t.Errorf("after network connect --ip6 %s: inspect says %q", ip, out)
		}
		n.ok(t, "exec", c, "ping6", "-c", "1", "-W", "5", webIP)
	})

	t.Run("BadInput", func(t *testing.T) {
		v4 := ntName(t, "v4only")
		n.network(t, v4)
		before := n.ok(t, "network", "ls", "-q")
		for _, tc := range []struct {
			args []string
			want string
		}{
			{[]string{"network", "create", "--subnet", testSubnet6(t).String(), ntName(t, "bad")}, "add --ipv6"},
			{[]string{"network", "create", "--ipv6", "--subnet", sub6.String(), ntName(t, "bad")}, "overlaps network " + net6},
			{[]string{"network", "create", "--ipv6", "--subnet", "fe80::/64", ntName(t, "bad")}, "not a unicast"},
			{[]string{"run", "--rm", "--network", net6, "--ip6", hostIn6(testSubnet6(t), 5), "busybox", "true"}, "is not a free host address of network " + net6},
			{[]string{"run", "--rm", "--network", auto6, "--ip6", "10.1.2.3", "busybox", "true"}, "want an IPv6 address"},
			{[]string{"run", "--rm", "--network", v4, "--ip6", webIP, "busybox", "true"}, "has no IPv6 (create it with --ipv6)"},
			{[]string{"run", "--rm", "--network", v4, "-p", "[::1]::80", "busybox", "true"}, "has no IPv6"},
		} {
			r := n.run(t, tc.args...)
			if r.ExitCode == 0 || !strings.Contains(r.Stderr, tc.want) {
				t.Errorf("berth %s: want an error with %q, got %s", strings.Join(tc.args, " "), tc.want, r)
			}
		}
		if after := n.ok(t, "network", "ls", "-q"); after != before {
			t.Errorf("networks before the bad input:\n%s\nafter:\n%s", before, after)
		}
		if ps := n.ok(t, "ps", "-aq", "--filter", "status=created"); ps != "" {
			t.Errorf("containers left by the bad input: %q", ps)
		}
	})
}

// testDockerNetworkIPv6: docker network create --ipv6 with a subnet of
// each family, docker run --ip6, inspect's IPv6 fields, an AAAA answer,
// and an IPv6 subnet without --ipv6 refused.
func testDockerNetworkIPv6(t *testing.T, d cli) {
	sub6 := testSubnet6(t)
	net := d.name("d6net")
	d.ok("network", "create", "--ipv6", "--subnet", sub6.String(), net)
	t.Cleanup(func() { d.run("network", "rm", net) })
	if got := d.ok("network", "inspect", "-f", "{{.EnableIPv6}} {{range .IPAM.Config}}{{.Subnet}} {{end}}", net); !strings.HasPrefix(got, "true ") || !strings.Contains(got, sub6.String()) {
		t.Errorf("docker network inspect %s: %q, want EnableIPv6 and %s", net, got, sub6)
	}
	srv, ip := d.name("d6srv"), hostIn6(sub6, 0x30)
	d.ok("run", "-d", "--name", srv, "--network", net, "--ip6", ip, "busybox", "sleep", "600")
	got := d.inspect(srv, "{{with index .NetworkSettings.Networks \""+net+"\"}}{{.GlobalIPv6Address}}/{{.GlobalIPv6PrefixLen}} {{.IPv6Gateway}} {{.IPAMConfig.IPv6Address}}{{end}}")
	if want := fmt.Sprintf("%s/64 %s %s", ip, hostIn6(sub6, 1), ip); got != want {
		t.Errorf("docker inspect %s: %q, want %q", srv, got, want)
	}
	if out := d.ok("run", "--rm", "--network", net, "busybox", "nslookup", "-type=AAAA", srv); !strings.Contains(out, ip) {
		t.Errorf("nslookup -type=AAAA %s: %q lacks %s", srv, out, ip)
	}
	d.fails(1, []string{"given to a network without IPv6"}, "network", "create", "--subnet", testSubnet6(t).String(), d.name("d6bad"))
}
