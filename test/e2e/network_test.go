package e2e

// End-to-end tests of berth's networking: user networks with names,
// isolation, published ports, network modes, connect/disconnect, DNS
// forwarding and crash recovery, through the berth CLI against a private
// stack. All traffic stays on this machine: loopback and the stack's own
// bridges and namespaces.

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/dns/dnsmessage"

	"github.com/berthproject/berth/test/harness"
)

// netPage is what the test web servers serve.
const netPage = "hello from berth"

// netHttpd is a busybox command line serving netPage on port 80.
var netHttpd = []string{"sh", "-c", "mkdir -p /www && echo '" + netPage + "' > /www/index.html && exec httpd -f -p 80 -h /www"}

// ntStack is a stack with busybox and a helper to run berth on behalf of
// one (sub)test.
type ntStack struct {
	s *harness.Stack
}

func (n ntStack) run(t *testing.T, args ...string) harness.Result {
	t.Helper()
	return n.s.Berth(args...)
}

func (n ntStack) ok(t *testing.T, args ...string) string {
	t.Helper()
	r := n.s.Berth(args...)
	if r.ExitCode != 0 {
		t.Fatalf("berth %s: %s", strings.Join(args, " "), r)
	}
	return strings.TrimSpace(r.Stdout)
}

// httpd starts a detached web server container with extra run flags.
func (n ntStack) httpd(t *testing.T, name string, flags ...string) {
	t.Helper()
	args := append([]string{"run", "-d", "--name", name}, flags...)
	args = append(append(args, "busybox"), netHttpd...)
	n.ok(t, args...)
	t.Cleanup(func() { n.s.Berth("rm", "-f", name) })
}

// fetch runs a one-shot busybox container (with flags) that fetches url.
// Debian's busybox-static `wget -T` crashes: timeout bounds it instead.
func (n ntStack) fetch(t *testing.T, url string, flags ...string) harness.Result {
	t.Helper()
	args := append([]string{"run", "--rm"}, flags...)
	args = append(args, "busybox", "timeout", "5", "wget", "-q", "-O", "-", url)
	return n.run(t, args...)
}

// fetchOK fetches url until it answers netPage (the server may still be
// starting) and fails the test after a deadline.
func (n ntStack) fetchOK(t *testing.T, url string, flags ...string) {
	t.Helper()
	var last harness.Result
	ntEventually(t, 30*time.Second, "fetching "+url, func() bool {
		last = n.fetch(t, url, flags...)
		return last.ExitCode == 0 && strings.Contains(last.Stdout, netPage)
	}, func() string { return last.String() })
}

// network creates a network removed when the test ends.
func (n ntStack) network(t *testing.T, name string, flags ...string) {
	t.Helper()
	n.ok(t, append(append([]string{"network", "create"}, flags...), name)...)
	t.Cleanup(func() { n.s.Berth("network", "rm", name) })
}

func ntEventually(t *testing.T, timeout time.Duration, what string, cond func() bool, detail func() string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s: %s\n%s", timeout, what, detail())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// testSubnet is a /24 of the stack's own /16 (its address pool), away
// from the default bridge's and from those the pool hands out first.
func testSubnet(t *testing.T, s *harness.Stack, k int) string {
	t.Helper()
	p, err := netip.ParsePrefix(s.BridgeSubnet())
	if err != nil {
		t.Fatalf("stack subnet %q: %v", s.BridgeSubnet(), err)
	}
	b := p.Addr().As4()
	third := 240 + k
	if int(b[2]) >= 240 {
		third = 100 + k
	}
	return fmt.Sprintf("%d.%d.%d.0/24", b[0], b[1], third)
}

// ipIn returns the address at host number h of a /24 subnet.
func ipIn(subnet string, h int) string {
	return strings.TrimSuffix(subnet, "0/24") + strconv.Itoa(h)
}

// ntName is a unique container or network name for this test run.
func ntName(t *testing.T, prefix string) string {
	return fmt.Sprintf("%s%d", prefix, time.Now().UnixNano()%1e9)
}

// TestNetwork runs the networking scenarios on one stack whose embedded
// DNS forwards to a DNS server the test runs on 127.0.0.1.
func TestNetwork(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root")
	}
	upstream := startTestDNS(t, map[string]string{"outside.berth.test.": "192.0.2.7"})
	s := harness.Start(t, harness.WithDaemonArgs("--dns-upstreams", upstream))
	s.LoadBusybox()
	n := ntStack{s}

	t.Run("UserNetworkNames", func(t *testing.T) {
		app, other := ntName(t, "app"), ntName(t, "oth")
		n.network(t, app)
		n.network(t, other)
		web := ntName(t, "web")
		n.httpd(t, web, "--network", app, "--network-alias", "www")
		n.fetchOK(t, "http://"+web+"/", "--network", app)
		n.fetchOK(t, "http://www/", "--network", app)
		// The name does not resolve from another network.
		r := n.fetch(t, "http://"+web+"/", "--network", other)
		if r.ExitCode == 0 || !strings.Contains(r.Stderr, "bad address") {
			t.Errorf("fetching %s from network %s: want a name resolution failure, got %s", web, other, r)
		}
		// Inspect lists the container on the network.
		out := n.ok(t, "network", "inspect", "-f", "{{range .Containers}}{{.Name}} {{end}}", app)
		if strings.TrimSpace(out) != web {
			t.Errorf("network inspect %s containers: %q, want %q", app, out, web)
		}
		// rm refuses while the container is attached, and says why.
		r = n.run(t, "network", "rm", app)
		if r.ExitCode == 0 || !strings.Contains(r.Stderr, "active endpoints") {
			t.Errorf("network rm of a network in use: %s", r)
		}
	})

	t.Run("DefaultBridgeHasNoNames", func(t *testing.T) {
		web := ntName(t, "dweb")
		n.httpd(t, web)
		ip := n.ok(t, "inspect", "-f", "{{.NetworkSettings.IPAddress}}", web)
		if _, err := netip.ParseAddr(ip); err != nil {
			t.Fatalf("container %s on the default bridge has no address: %q", web, ip)
		}
		n.fetchOK(t, "http://"+ip+"/")
		r := n.fetch(t, "http://"+web+"/")
		if r.ExitCode == 0 || !strings.Contains(r.Stderr, "bad address") {
			t.Errorf("fetching %s by name on the default bridge: want a resolution failure, got %s", web, r)
		}
	})

	t.Run("PublishedPorts", func(t *testing.T) {
		web := ntName(t, "pweb")
		n.httpd(t, web, "-p", "80")
		hostAddr := n.ok(t, "port", web, "80")
		_, port, err := net.SplitHostPort(hostAddr)
		if err != nil || !strings.HasPrefix(hostAddr, "0.0.0.0:") {
			t.Fatalf("berth port %s 80: %q, want 0.0.0.0:PORT", web, hostAddr)
		}
		if all := n.ok(t, "port", web); all != "80/tcp -> "+hostAddr {
			t.Errorf("berth port %s: %q, want %q", web, all, "80/tcp -> "+hostAddr)
		}
		ps := n.ok(t, "ps", "--filter", "name="+web, "--format", "{{.Ports}}")
		if ps != "0.0.0.0:"+port+"->80/tcp" {
			t.Errorf("ps PORTS: %q, want %q", ps, "0.0.0.0:"+port+"->80/tcp")
		}
		httpGet(t, "http://127.0.0.1:"+port+"/")

		// A fixed host port, and a range.
		p1, p2 := freePort(t), freePort(t)
		fixed := ntName(t, "fweb")
		n.httpd(t, fixed, "-p", fmt.Sprintf("127.0.0.1:%d:80", p1), "-p", fmt.Sprintf("%d-%d:8080-8081", p2, p2+1))
		httpGet(t, fmt.Sprintf("http://127.0.0.1:%d/", p1))
		out := n.ok(t, "port", fixed)
		for _, want := range []string{fmt.Sprintf("80/tcp -> 127.0.0.1:%d", p1), fmt.Sprintf("8080/tcp -> 0.0.0.0:%d", p2), fmt.Sprintf("8081/tcp -> 0.0.0.0:%d", p2+1)} {
			if !strings.Contains(out, want) {
				t.Errorf("berth port %s: %q lacks %q", fixed, out, want)
			}
		}

		// -P publishes the --expose'd ports on free host ports.
		all := ntName(t, "aweb")
		n.httpd(t, all, "-P", "--expose", "80")
		hostAddr = n.ok(t, "port", all, "80/tcp")
		_, port, err = net.SplitHostPort(hostAddr)
		if err != nil {
			t.Fatalf("berth port %s 80/tcp: %q", all, hostAddr)
		}
		httpGet(t, "http://127.0.0.1:"+port+"/")
	})

	t.Run("HostPortTaken", func(t *testing.T) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		port := strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
		netnsBefore := dirNames(filepath.Join(s.State(), "netns"))
		name := ntName(t, "taken")
		r := n.run(t, "run", "-d", "--rm", "--name", name, "-p", port+":80", "busybox", "sleep", "60")
		t.Cleanup(func() { n.s.Berth("rm", "-f", name) })
		if r.ExitCode != 125 || !strings.Contains(r.Stderr, port) || !strings.Contains(r.Stderr, "already in use") {
			t.Fatalf("run -p %s:80 with the port taken: want exit 125 and an error naming the port, got %s", port, r)
		}
		ntEventually(t, 10*time.Second, "the failed --rm container to be gone", func() bool {
			return n.run(t, "inspect", name).ExitCode != 0
		}, func() string { return n.run(t, "ps", "-a").Stdout })
		if after := dirNames(filepath.Join(s.State(), "netns")); len(after) != len(netnsBefore) {
			t.Errorf("network namespaces before %v, after the failed run %v", netnsBefore, after)
		}
		for _, el := range harness.PublishedPorts(s.FirewallPrefix()) {
			if strings.Contains(el, " "+port+" :") {
				t.Errorf("nftables element for port %s left after the failed run: %s", port, el)
			}
		}

		// Without --rm the container stays, as in Docker, with no network;
		// once the port is free it starts and serves on it.
		kept := ntName(t, "kept")
		args := append([]string{"run", "-d", "--name", kept, "-p", port + ":80", "busybox"}, netHttpd...)
		r = n.run(t, args...)
		t.Cleanup(func() { n.s.Berth("rm", "-f", kept) })
		if r.ExitCode != 125 || !strings.Contains(r.Stderr, port) {
			t.Fatalf("run -d -p %s:80 with the port taken: %s", port, r)
		}
		if after := dirNames(filepath.Join(s.State(), "netns")); len(after) != len(netnsBefore) {
			t.Errorf("network namespaces before %v, after the failed run %v", netnsBefore, after)
		}
		l.Close()
		n.ok(t, "start", kept)
		httpGet(t, "http://127.0.0.1:"+port+"/")
	})

	t.Run("Modes", func(t *testing.T) {
		internal := ntName(t, "int")
		n.network(t, internal, "--internal")
		if out := n.ok(t, "run", "--rm", "--network", internal, "busybox", "ip", "route"); strings.Contains(out, "default") || out == "" {
			t.Errorf("routes on an internal network: %q, want the subnet's route and no default route", out)
		}
		if out := n.ok(t, "run", "--rm", "busybox", "ip", "route"); !strings.Contains(out, "default via") {
			t.Errorf("routes on the default bridge: %q, want a default route", out)
		}
		links := n.ok(t, "run", "--rm", "--network", "none", "busybox", "ip", "-o", "link")
		if ls := strings.Split(links, "\n"); len(ls) != 1 || !strings.Contains(ls[0], " lo:") {
			t.Errorf("links with --network none: %q, want only lo", links)
		}
		links = n.ok(t, "run", "--rm", "--net", "host", "busybox", "ip", "-o", "link")
		if !strings.Contains(links, " "+s.Bridge()+":") {
			t.Errorf("links with --network host: %q, want the host's (bridge %s among them)", links, s.Bridge())
		}
		// container: shares another container's namespace (its localhost).
		web := ntName(t, "mweb")
		n.httpd(t, web, "--mac-address", "92:d0:c6:0a:29:33")
		n.fetchOK(t, "http://127.0.0.1/", "--network", "container:"+web)
		if out := n.ok(t, "exec", web, "cat", "/sys/class/net/eth0/address"); out != "92:d0:c6:0a:29:33" {
			t.Errorf("--mac-address: eth0 has %q", out)
		}
		// Resolver settings reach the container's files.
		out := n.ok(t, "run", "--rm", "--dns", "192.0.2.53", "--dns-search", "example.test", "--dns-option", "ndots:3",
			"--add-host", "db.test:192.0.2.10", "--hostname", "box1", "busybox", "sh", "-c", "cat /etc/resolv.conf /etc/hosts; hostname")
		for _, want := range []string{"nameserver 192.0.2.53", "search example.test", "options ndots:3", "192.0.2.10\tdb.test", "box1"} {
			if !strings.Contains(out, want) {
				t.Errorf("resolv.conf/hosts/hostname: %q lacks %q", out, want)
			}
		}
	})

	t.Run("ConnectDisconnect", func(t *testing.T) {
		app, other := ntName(t, "capp"), ntName(t, "coth")
		n.network(t, app)
		n.network(t, other)
		web, client := ntName(t, "cweb"), ntName(t, "ccli")
		n.httpd(t, web, "--network", app)
		n.ok(t, "run", "-d", "--name", client, "--network", other, "busybox", "sleep", "600")
		t.Cleanup(func() { n.s.Berth("rm", "-f", client) })
		get := func() harness.Result {
			return n.run(t, "exec", client, "timeout", "5", "wget", "-q", "-O", "-", "http://"+web+"/")
		}
		if r := get(); r.ExitCode == 0 {
			t.Fatalf("%s reached %s before being connected: %s", client, web, r)
		}
		n.ok(t, "network", "connect", "--alias", "cli", app, client)
		var last harness.Result
		ntEventually(t, 30*time.Second, "the name to resolve after connect", func() bool {
			last = get()
			return last.ExitCode == 0 && strings.Contains(last.Stdout, netPage)
		}, func() string { return last.String() })
		ips := n.ok(t, "inspect", "-f", "{{range $k, $v := .NetworkSettings.Networks}}{{$k}}={{$v.IPAddress}} {{end}}", client)
		if !strings.Contains(ips, app+"=") || !strings.Contains(ips, other+"=") {
			t.Errorf("networks of %s after connect: %q", client, ips)
		}
		if r := n.run(t, "network", "connect", app, client); r.ExitCode == 0 || !strings.Contains(r.Stderr, "already exists") {
			t.Errorf("connecting twice: %s", r)
		}
		n.ok(t, "network", "disconnect", app, client)
		ntEventually(t, 30*time.Second, "the name to stop resolving after disconnect", func() bool {
			last = get()
			return last.ExitCode != 0 && strings.Contains(last.Stderr, "bad address")
		}, func() string { return last.String() })
		if out := n.ok(t, "network", "inspect", "-f", "{{len .Containers}}", app); out != "1" {
			t.Errorf("containers on %s after disconnect: %s, want 1", app, out)
		}

		// A created container is attached when it starts.
		later := ntName(t, "clat")
		n.ok(t, "create", "--name", later, "--network", other, "busybox", "sleep", "600")
		t.Cleanup(func() { n.s.Berth("rm", "-f", later) })
		n.ok(t, "network", "connect", app, later)
		n.ok(t, "start", later)
		out := n.ok(t, "inspect", "-f", "{{range $k, $v := .NetworkSettings.Networks}}{{$k}} {{end}}", later)
		if !strings.Contains(out, app) || !strings.Contains(out, other) {
			t.Errorf("networks of %s started after connect: %q, want %s and %s", later, out, app, other)
		}
	})

	t.Run("GwPriority", func(t *testing.T) {
		low, high, third := ntName(t, "glo"), ntName(t, "ghi"), ntName(t, "gth")
		n.network(t, low)
		n.network(t, high)
		n.network(t, third)
		gw := func(network string) string {
			return n.ok(t, "network", "inspect", "-f", "{{range .IPAM.Config}}{{.Gateway}}{{end}}", network)
		}
		ctr := ntName(t, "gctr")
		n.ok(t, "run", "-d", "--name", ctr, "--network", low,
			"--network", "name="+high+",gw-priority=10,driver-opt=com.docker.network.endpoint.ifname=up0", "busybox", "sleep", "600")
		t.Cleanup(func() { n.s.Berth("rm", "-f", ctr) })
		route := func() string { return n.ok(t, "exec", ctr, "ip", "-4", "route", "show", "default") }
		if r := route(); !strings.Contains(r, "via "+gw(high)+" dev up0") || strings.Count(r, "default") != 1 {
			t.Fatalf("default routes with %s at priority 10: %q, want one via %s dev up0", high, r, gw(high))
		}
		if out := n.ok(t, "inspect", "-f", "{{range $k, $v := .NetworkSettings.Networks}}{{$k}}={{$v.GwPriority}} {{end}}", ctr); !strings.Contains(out, high+"=10") {
			t.Errorf("inspect's GwPriority: %q", out)
		}
		n.ok(t, "network", "connect", "--gw-priority", "20", third, ctr)
		if r := route(); !strings.Contains(r, "via "+gw(third)+" dev eth1") || strings.Count(r, "default") != 1 {
			t.Fatalf("default routes after connecting %s at priority 20: %q", third, r)
		}
		n.ok(t, "network", "disconnect", third, ctr)
		if r := route(); !strings.Contains(r, "via "+gw(high)+" dev up0") {
			t.Fatalf("default routes after disconnecting %s: %q", third, r)
		}
	})

	t.Run("InterfaceNames", func(t *testing.T) {
		app, other := ntName(t, "iapp"), ntName(t, "ioth")
		n.network(t, app)
		n.network(t, other)
		c := ntName(t, "ifn")
		n.ok(t, "run", "-d", "--name", c, "--network", "name="+app+",driver-opt=com.docker.network.endpoint.ifname=app0", "busybox", "sleep", "600")
		t.Cleanup(func() { n.s.Berth("rm", "-f", c) })
		link := func(dev string) harness.Result { return n.run(t, "exec", c, "ip", "-o", "link", "show", dev) }
		if r := link("app0"); r.ExitCode != 0 || !strings.Contains(r.Stdout, ": app0@if") {
			t.Fatalf("ip link show app0: %s", r)
		}
		if r := n.run(t, "network", "connect", "--driver-opt", "com.docker.network.endpoint.ifname=app0", other, c); r.ExitCode == 0 || !strings.Contains(r.Stderr, "file exists") {
			t.Errorf("connect with a name in use: %s", r)
		}
		if r := n.run(t, "network", "connect", "--driver-opt", "com.docker.network.endpoint.ifname=0123456789abcdef", other, c); r.ExitCode == 0 || !strings.Contains(r.Stderr, "invalid interface name") {
			t.Errorf("connect with a name too long: %s", r)
		}
		if out := n.ok(t, "inspect", "-f", "{{len .NetworkSettings.Networks}}", c); out != "1" {
			t.Errorf("networks after refused connects: %s, want 1", out)
		}
		if out := n.ok(t, "inspect", "-f", "{{index (index .NetworkSettings.Networks \""+app+"\").DriverOpts \"com.docker.network.endpoint.ifname\"}}", c); out != "app0" {
			t.Errorf("inspect's DriverOpts on %s: %q, want the interface name app0", app, out)
		}
		n.ok(t, "network", "connect", "--driver-opt", "com.docker.network.endpoint.ifname=oth0", other, c)
		if r := link("oth0"); r.ExitCode != 0 || !strings.Contains(r.Stdout, ": oth0@if") {
			t.Fatalf("ip link show oth0 after connect: %s", r)
		}
		// Kept for the next start.
		n.ok(t, "restart", "-t", "0", c)
		for _, dev := range []string{"app0", "oth0"} {
			if r := link(dev); r.ExitCode != 0 {
				t.Errorf("ip link show %s after restart: %s", dev, r)
			}
		}
	})

	t.Run("Macvlan", func(t *testing.T) {
		// The parent is one end of a veth pair made for the test (never a
		// real uplink); containers sit on its segment.
		parent := "bnmv" + strconv.Itoa(int(time.Now().UnixNano()%100000))
		if out, err := exec.Command("ip", "link", "add", parent, "type", "veth", "peer", "name", parent+"p").CombinedOutput(); err != nil {
			t.Fatalf("ip link add: %v: %s", err, out)
		}
		t.Cleanup(func() { _ = exec.Command("ip", "link", "del", parent).Run() })
		if out, err := exec.Command("ip", "link", "set", parent, "up").CombinedOutput(); err != nil {
			t.Fatalf("ip link set up: %v: %s", err, out)
		}
		mv := ntName(t, "mv")
		sub := testSubnet(t, s, 4)
		if r := n.run(t, "network", "create", "-d", "macvlan", mv); r.ExitCode == 0 || !strings.Contains(r.Stderr, "parent") {
			t.Errorf("a macvlan network without parent: %s", r)
		}
		n.network(t, mv, "-d", "macvlan", "-o", "parent="+parent, "--subnet", sub)
		if drv := n.ok(t, "network", "ls", "--filter", "name="+mv, "--format", "{{.Driver}}"); drv != "macvlan" {
			t.Errorf("driver of %s: %q", mv, drv)
		}
		out := n.ok(t, "run", "--rm", "--network", mv, "--ip", ipIn(sub, 9), "busybox", "sh", "-c", "ip -o -4 addr show eth0 | awk '{print $4}'; cat /sys/class/net/eth0/iflink")
		// eth0's link is the parent: a macvlan child of it.
		idx, _ := os.ReadFile(filepath.Join("/sys/class/net", parent, "ifindex"))
		if want := ipIn(sub, 9) + "/24\n" + strings.TrimSpace(string(idx)); out != want {
			t.Errorf("container on macvlan network %s: address and link %q, want %q", mv, out, want)
		}
	})

	t.Run("ManyContainers", func(t *testing.T) {
		net20 := ntName(t, "many")
		sub := testSubnet(t, s, 1)
		n.network(t, net20, "--subnet", sub)
		const count = 20
		names := make([]string, count)
		var wg sync.WaitGroup
		errs := make([]string, count)
		for i := range names {
			names[i] = fmt.Sprintf("%s-%d", net20, i)
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				if r := n.s.Berth("run", "-d", "--name", names[i], "--network", net20, "busybox", "sleep", "600"); r.ExitCode != 0 {
					errs[i] = r.String()
				}
			}(i)
		}
		wg.Wait()
		t.Cleanup(func() {
			for _, name := range names {
				n.s.Berth("rm", "-f", name)
			}
		})
		for i, e := range errs {
			if e != "" {
				t.Fatalf("run %s: %s", names[i], e)
			}
		}
		seen := map[string]string{}
		for _, name := range names {
			ip := n.ok(t, "inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", name)
			a, err := netip.ParseAddr(ip)
			if err != nil || !netip.MustParsePrefix(sub).Contains(a) {
				t.Errorf("%s: address %q not in the network's subnet", name, ip)
			}
			if prev, dup := seen[ip]; dup {
				t.Errorf("%s and %s share the address %s", prev, name, ip)
			}
			seen[ip] = name
		}
		if out := n.ok(t, "network", "inspect", "-f", "{{len .Containers}}", net20); out != strconv.Itoa(count) {
			t.Errorf("network inspect: %s containers, want %d", out, count)
		}
	})

	t.Run("DNSForwarding", func(t *testing.T) {
		app := ntName(t, "fwd")
		n.network(t, app)
		out := n.run(t, "run", "--rm", "--network", app, "busybox", "nslookup", "outside.berth.test")
		if out.ExitCode != 0 || !strings.Contains(out.Stdout, "192.0.2.7") {
			t.Errorf("nslookup of a name only the upstream knows: %s", out)
		}
		internal := ntName(t, "fwdi")
		n.network(t, internal, "--internal")
		out = n.run(t, "run", "--rm", "--network", internal, "busybox", "nslookup", "outside.berth.test")
		if strings.Contains(out.Stdout, "192.0.2.7") {
			t.Errorf("an internal network forwarded a query to the upstream: %s", out)
		}
	})

	t.Run("Commands", func(t *testing.T) {
		name := ntName(t, "cmd")
		sub := testSubnet(t, s, 2)
		ipRange := ipIn(sub, 128) + "/25"
		id := n.ok(t, "network", "create", "--subnet", sub, "--gateway", ipIn(sub, 254), "--ip-range", ipRange, "--label", "team=x", name)
		if len(id) != 64 {
			t.Errorf("network create printed %q, want a 64-char ID", id)
		}
		if r := n.run(t, "network", "create", name); r.ExitCode == 0 || !strings.Contains(r.Stderr, "already exists") {
			t.Errorf("creating %s twice: %s", name, r)
		}
		if out := n.ok(t, "network", "ls", "-q", "--filter", "label=team=x", "--no-trunc"); out != id {
			t.Errorf("network ls -q --filter label=team=x: %q, want %q", out, id)
		}
		ls := n.ok(t, "network", "ls")
		if !strings.HasPrefix(ls, "NETWORK ID") || !strings.Contains(ls, id[:12]) || !strings.Contains(ls, "bridge") {
			t.Errorf("network ls: %q", ls)
		}
		if out := n.ok(t, "network", "ls", "--filter", "type=builtin", "--format", "{{.Name}} {{.Driver}}"); out != "bridge bridge" {
			t.Errorf("builtin networks: %q", out)
		}
		got := n.ok(t, "network", "inspect", "-f", "{{.Id}} {{range .IPAM.Config}}{{.Subnet}} {{.Gateway}} {{.IPRange}}{{end}} {{.Labels.team}}", name)
		if want := id + " " + sub + " " + ipIn(sub, 254) + " " + ipRange + " x"; got != want {
			t.Errorf("network inspect: %q, want %q", got, want)
		}
		ip := n.ok(t, "run", "--rm", "--network", name, "busybox", "sh", "-c", "ip -o -4 addr show eth0 | awk '{print $4}'")
		if a, err := netip.ParsePrefix(ip); err != nil || !netip.MustParsePrefix(ipRange).Contains(a.Addr()) {
			t.Errorf("address on a network with --ip-range: %q", ip)
		}
		fixed := n.ok(t, "run", "--rm", "--network", name, "--ip", ipIn(sub, 200), "busybox", "sh", "-c", "ip -o -4 addr show eth0 | awk '{print $4}'")
		if fixed != ipIn(sub, 200)+"/24" {
			t.Errorf("--ip %s: the container has %q", ipIn(sub, 200), fixed)
		}
		if r := n.run(t, "network", "rm", "bridge"); r.ExitCode == 0 {
			t.Errorf("removing the default network succeeded: %s", r)
		}
		n.ok(t, "network", "rm", name)
		if r := n.run(t, "network", "inspect", name); r.ExitCode == 0 {
			t.Errorf("network %s still there after rm: %s", name, r)
		}
		// prune removes unused user networks only.
		unused := ntName(t, "prn")
		n.ok(t, "network", "create", unused)
		out := n.ok(t, "network", "prune", "-f")
		if !strings.Contains(out, "Deleted Networks:") || !strings.Contains(out, unused) {
			t.Errorf("network prune -f: %q, want %s deleted", out, unused)
		}
		if r := n.run(t, "network", "inspect", unused); r.ExitCode == 0 {
			t.Errorf("network %s survived prune", unused)
		}
	})
}

// TestNetworkCrashRecovery kills berthd with SIGKILL while containers with
// networks and published ports run, lets one of them die while berthd is
// down, restarts berthd and checks that nothing of the dead one is left;
// then it removes everything and checks again.
func TestNetworkCrashRecovery(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root")
	}
	s := harness.Start(t)
	s.LoadBusybox()
	n := ntStack{s}
	app := "crash"
	n.ok(t, "network", "create", "--subnet", testSubnet(t, s, 3), app)
	var ids, ips []string
	var ports []int
	for i := 0; i < 3; i++ {
		p := freePort(t)
		name := fmt.Sprintf("crash%d", i)
		args := []string{"run", "-d", "--name", name, "--network", app, "-p", fmt.Sprintf("%d:80", p), "busybox"}
		ids = append(ids, n.ok(t, append(args, netHttpd...)...))
		ips = append(ips, n.ok(t, "inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", name))
		ports = append(ports, p)
	}
	httpGet(t, fmt.Sprintf("http://127.0.0.1:%d/", ports[0]))
	// What the checks below must see gone is there while crash0 runs.
	if tr := networkTraces(t, s, ids[:1], ips[:1], ports[:1]); len(tr) < 3 {
		t.Fatalf("a running container's network traces (netns, IP allocation, DNAT rule): found only %v", tr)
	}

	s.KillDaemon()
	// crash0 dies while berthd is down.
	if r := s.Ctr("tasks", "kill", "-s", "SIGKILL", ids[0]); r.ExitCode != 0 {
		t.Fatalf("ctr tasks kill: %s", r)
	}
	s.StartDaemon()
	ntEventually(t, 30*time.Second, "crash0 to be seen exited", func() bool {
		return n.ok(t, "inspect", "-f", "{{.State.Status}}", "crash0") == "exited"
	}, func() string { return n.run(t, "ps", "-a").Stdout })
	ntEventually(t, 30*time.Second, "crash0's network to be torn down", func() bool {
		return len(networkTraces(t, s, ids[:1], ips[:1], ports[:1])) == 0
	}, func() string { return strings.Join(networkTraces(t, s, ids[:1], ips[:1], ports[:1]), "\n") })
	// The others still serve, through the restarted berthd's state.
	httpGet(t, fmt.Sprintf("http://127.0.0.1:%d/", ports[1]))
	if out := n.ok(t, "network", "inspect", "-f", "{{len .Containers}}", app); out != "2" {
		t.Errorf("containers on %s after the restart: %s, want 2", app, out)
	}

	for i := range ids {
		n.ok(t, "rm", "-f", fmt.Sprintf("crash%d", i))
	}
	if left := networkTraces(t, s, ids, ips, ports); len(left) > 0 {
		t.Errorf("left after removing every container:\n  %s", strings.Join(left, "\n  "))
	}
	n.ok(t, "network", "rm", app)
}

// networkTraces lists what is left on the host of containers ids (with
// addresses ips and host ports): netns files, IP allocations, elements
// of berth's nftables maps, veths on the stack's bridges.
func networkTraces(t *testing.T, s *harness.Stack, ids, ips []string, ports []int) []string {
	var out []string
	for _, id := range ids {
		if _, err := os.Stat(filepath.Join(s.State(), "netns", id)); err == nil {
			out = append(out, "netns "+id)
		}
	}
	allocs, _ := filepath.Glob(filepath.Join(s.Root(), "cni", "ipam", "*", "*"))
	for _, a := range allocs {
		for _, ip := range ips {
			if filepath.Base(a) == ip {
				out = append(out, "IP allocation "+a)
			}
		}
	}
	for _, el := range harness.PublishedPorts(s.FirewallPrefix()) {
		for _, ip := range ips {
			if strings.Contains(el, ": "+ip+" .") {
				out = append(out, "nftables: "+el)
			}
		}
		for _, p := range ports {
			if strings.Contains(el, fmt.Sprintf(" %d :", p)) {
				out = append(out, "nftables: "+el)
			}
		}
	}
	if len(ids) == 3 { // every container gone: no veth on any bridge of the stack
		bridges, _ := filepath.Glob("/sys/class/net/*/brif")
		for _, b := range bridges {
			br := filepath.Base(filepath.Dir(b))
			if br != s.Bridge() && !strings.HasPrefix(br, "br-") {
				continue
			}
			for _, l := range dirNames(b) {
				if strings.HasPrefix(br, "br-") && !ownBridge(s, br) {
					continue
				}
				out = append(out, "veth "+l+" on "+br)
			}
		}
	}
	return out
}

// ownBridge reports whether br belongs to one of the stack's networks.
func ownBridge(s *harness.Stack, br string) bool {
	files, _ := filepath.Glob(filepath.Join(s.Root(), "networks", "*.conflist"))
	for _, f := range files {
		b, _ := os.ReadFile(f)
		if strings.Contains(string(b), `"bridge":"`+br+`"`) || strings.Contains(string(b), `"bridge": "`+br+`"`) {
			return true
		}
	}
	return false
}

func dirNames(dir string) []string {
	entries, _ := os.ReadDir(dir)
	var out []string
	for _, e := range entries {
		out = append(out, e.Name())
	}
	return out
}

// freePort returns a TCP port nothing listens on at the moment.
func freePort(t *testing.T) int {
	t.Helper()
	for {
		l, err := net.Listen("tcp", "0.0.0.0:0")
		if err != nil {
			t.Fatal(err)
		}
		p := l.Addr().(*net.TCPAddr).Port
		l.Close()
		// Leave room for a range of two.
		if p < 65000 {
			if l2, err := net.Listen("tcp", fmt.Sprintf("0.0.0.0:%d", p+1)); err == nil {
				l2.Close()
				return p
			}
		}
	}
}

// httpGet fetches url from the host with Go's client until it answers
// netPage, and fails the test after a deadline.
func httpGet(t *testing.T, url string) {
	t.Helper()
	c := &http.Client{Timeout: 5 * time.Second}
	var last string
	ntEventually(t, 30*time.Second, "GET "+url+" from the host", func() bool {
		resp, err := c.Get(url)
		if err != nil {
			last = err.Error()
			return false
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		last = fmt.Sprintf("%s: %q", resp.Status, b)
		return resp.StatusCode == 200 && strings.Contains(string(b), netPage)
	}, func() string { return last })
}

// startTestDNS serves A records for names on 127.0.0.1 (UDP, a free port)
// until the test ends and returns its "ip:port".
func startTestDNS(t *testing.T, records map[string]string) string {
	t.Helper()
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	go func() {
		buf := make([]byte, 1500)
		for {
			n, addr, err := pc.ReadFrom(buf)
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
			b := dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: h.ID, Response: true, Authoritative: true, RCode: dnsmessage.RCodeNameError})
			ip, known := records[strings.ToLower(q.Name.String())]
			if known {
				b = dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: h.ID, Response: true, Authoritative: true})
			}
			b.EnableCompression()
			_ = b.StartQuestions()
			_ = b.Question(q)
			if known && q.Type == dnsmessage.TypeA {
				_ = b.StartAnswers()
				a := netip.MustParseAddr(ip).As4()
				_ = b.AResource(dnsmessage.ResourceHeader{Name: q.Name, Class: dnsmessage.ClassINET, TTL: 60}, dnsmessage.AResource{A: a})
			}
			msg, err := b.Finish()
			if err == nil {
				_, _ = pc.WriteTo(msg, addr)
			}
		}
	}()
	return pc.LocalAddr().String()
}
