package e2e

import (
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/berthproject/berth/test/harness"
)

// TestParityTail checks the tail of issue 15's missing commands and flags
// (network create's IPAM flags, --log-driver): subtests share one stack,
// each with its own names.
func TestParityTail(t *testing.T) {
	t.Parallel()
	s := harness.Start(t)
	s.LoadBusybox()
	for _, tc := range []struct {
		name string
		fn   func(t *testing.T, c cli)
	}{
		{"AuxAddress", func(t *testing.T, c cli) { testAuxAddress(t, c, testSubnet(t, s, 5), testSubnet(t, s, 6)) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t, cli{t: t, s: s})
		})
	}
}

// testAuxAddress: network create --aux-address reserves addresses no
// container ever gets (nor by --ip); --ipam-opt is kept; a bad aux address
// is refused and leaves no network behind.
func testAuxAddress(t *testing.T, c cli, sub, other string) {
	n := "aux-" + strings.ToLower(c.name("x"))
	t.Cleanup(func() { c.run("network", "rm", n) })
	ip := func(h int) string { return ipIn(sub, h) }
	// The range holds .1 (the gateway) to .6: with .2, .3 and .5 reserved,
	// containers get .4 and .6.
	c.ok("network", "create", "--subnet", sub, "--ip-range", strings.TrimSuffix(sub, "/24")+"/29",
		"--aux-address", "router="+ip(2), "--aux-address", "printer="+ip(3), "--aux-address", "nas="+ip(5),
		"--ipam-opt", "team=blue", n)

	got := c.ok("network", "inspect", "--format", "{{json .IPAM}}", n)
	for _, want := range []string{`"router":"` + ip(2) + `"`, `"nas":"` + ip(5) + `"`, `"team":"blue"`} {
		if !strings.Contains(got, want) {
			t.Errorf("network inspect IPAM: want %s; got %s", want, got)
		}
	}

	addr := `ip -o -4 addr show eth0 | awk '{print $4}'`
	var ips []string
	for _, name := range []string{c.name("auxa"), c.name("auxb")} {
		c.ok("run", "-d", "--name", name, "--network", n, "busybox", "sleep", "1000")
		ips = append(ips, c.ok("exec", name, "sh", "-c", addr))
	}
	sort.Strings(ips)
	if want := []string{ip(4) + "/24", ip(6) + "/24"}; !slices.Equal(ips, want) {
		t.Errorf("containers on a network with aux addresses: want %v; got %v", want, ips)
	}
	c.fails(125, []string{ip(2) + " of network " + n + " is reserved for router"},
		"run", "--rm", "--network", n, "--ip", ip(2), "busybox", "true")

	// Bad aux addresses: refused, nothing left behind.
	bad := "auxbad-" + strings.ToLower(c.name("x"))
	for _, tc := range []struct {
		args []string
		msg  string
	}{
		{[]string{"--subnet", other, "--aux-address", "x=" + ip(9)}, "not a host address of subnet"},
		{[]string{"--subnet", other, "--aux-address", "x=" + ipIn(other, 1)}, "gateway"},
		{[]string{"--aux-address", "x=" + ipIn(other, 9)}, "needs a subnet"},
		{[]string{"--subnet", other, "--aux-address", "x=nope"}, "want NAME=IP"},
	} {
		r := c.run(append(append([]string{"network", "create"}, tc.args...), bad)...)
		if r.code == 0 || !strings.Contains(r.stderr, tc.msg) {
			t.Errorf("want a failure saying %q; got %s", tc.msg, r)
		}
		if r := c.run("network", "inspect", bad); r.code == 0 {
			t.Errorf("a refused network create left network %s", bad)
			c.run("network", "rm", bad)
		}
	}
}
