package cluster

import (
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/berthproject/berth/test/harness"
)

// waitFor polls cond (a cheap CLI call) until it holds; the wait is
// generous and never asserted (the machine is shared).
func waitFor(t *testing.T, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(harness.Timeout(90 * time.Second))
	last := ""
	for time.Now().Before(deadline) {
		ok, got := cond()
		if ok {
			return
		}
		last = got
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s; last: %s", what, last)
}

// waitNetwork waits until host h lists network name (present) or not.
func waitNetwork(t *testing.T, h *Host, name string, present bool) {
	t.Helper()
	waitFor(t, fmt.Sprintf("network %s present=%v on %s", name, present, h.Name), func() (bool, string) {
		out := h.Berth("network", "ls", "--format", "{{.Name}} {{.Driver}} {{.Scope}}")
		has := strings.Contains("\n"+out.Stdout, "\n"+name+" overlay swarm\n")
		return has == present, out.Stdout
	})
}

// ctrIP is a container's address on its first interface.
func ctrIP(t *testing.T, h *Host, ctr, ifName string) netip.Addr {
	t.Helper()
	out := h.BerthOK("exec", ctr, "ip", "-o", "-4", "addr", "show", ifName)
	for _, f := range strings.Fields(out) {
		if p, err := netip.ParsePrefix(f); err == nil {
			return p.Addr()
		}
	}
	t.Fatalf("no address on %s of %s: %s", ifName, ctr, out)
	return netip.Addr{}
}

// reach checks that ctr on h reaches target (a name or an address): ping,
// then HTTP from busybox httpd (TCP).
func reach(t *testing.T, h *Host, ctr, target, want string) {
	t.Helper()
	var r harness.Result
	for i := 0; i < 3; i++ { // the entries may wait for a watch event
		if r = h.Berth("exec", ctr, "ping", "-c", "2", "-W", "5", target); r.ExitCode == 0 {
			break
		}
	}
	if r.ExitCode != 0 {
		t.Fatalf("%s on %s cannot ping %s: %s", ctr, h.Name, target, r)
	}
	got := h.BerthOK("exec", ctr, "wget", "-q", "-O", "-", "http://"+target+":8080/")
	if strings.TrimSpace(got) != want {
		t.Fatalf("%s on %s: http://%s:8080/ gave %q, want %q", ctr, h.Name, target, got, want)
	}
}

func cannotReach(t *testing.T, h *Host, ctr, target string) {
	t.Helper()
	if r := h.Berth("exec", ctr, "ping", "-c", "1", "-W", "2", target); r.ExitCode == 0 {
		t.Fatalf("%s on %s reaches %s, which it must not", ctr, h.Name, target)
	}
}

// serve starts busybox httpd on port 8080 in ctr, answering body at / and
// a 1 MiB random file at /big.
func serve(t *testing.T, h *Host, ctr, body string) {
	t.Helper()
	h.BerthOK("exec", ctr, "sh", "-c", "mkdir -p /www && echo "+body+" > /www/index.html && "+
		"dd if=/dev/urandom of=/www/big bs=1024 count=1024 2>/dev/null && httpd -p 8080 -h /www")
}

// overlayClean fails unless host h has no overlay device, bridge, FDB or
// neighbour entry, or XFRM state or policy left.
func overlayClean(t *testing.T, h *Host) {
	t.Helper()
	checks := [][]string{
		{"ip", "-o", "link", "show", "type", "vxlan"},
		{"sh", "-c", "ip -o link show type bridge | grep ' ov-' || true"},
		{"sh", "-c", "bridge fdb show | grep ' dev vx-' || true"},
		{"sh", "-c", "ip neigh show | grep ' dev vx-' || true"},
		{"ip", "xfrm", "state"},
		{"ip", "xfrm", "policy"},
	}
	for _, c := range checks {
		out, err := h.Exec(c...)
		if err != nil {
			t.Fatalf("%s on %s: %v: %s", strings.Join(c, " "), h.Name, err, out)
		}
		if strings.TrimSpace(out) != "" {
			t.Errorf("left on %s after the overlay networks went (%s):\n%s", h.Name, strings.Join(c, " "), out)
		}
	}
}

// TestOverlay (make test): a cluster of three hosts, one overlay network
// created on h1 and realised on every node; a container on each host
// reaches the others by address, by name and by alias (ping, TCP), with the
// overlay's MTU and full-size packets; a second overlay network and a
// local bridge network are isolated from it; concurrent starts on three
// nodes get distinct addresses; network rm waits for the last endpoint
// anywhere, and then nothing is left on any host.
func TestOverlay(t *testing.T) {
	c := New(t, 3)
	c.Form()
	h1, h2, h3 := c.Hosts[0], c.Hosts[1], c.Hosts[2]
	var wg sync.WaitGroup
	for _, h := range c.Hosts {
		wg.Add(1)
		go func() { defer wg.Done(); h.Stack.LoadBusybox() }()
	}
	wg.Wait()

	// Without --attachable, containers started with run cannot join (as
	// Docker's swarm-scoped networks).
	h1.BerthOK("network", "create", "-d", "overlay", "na")
	if r := h1.Berth("run", "-d", "--name", "na1", "--network", "na", "busybox", "sleep", "3600"); r.ExitCode == 0 ||
		!strings.Contains(r.Stderr, "attachable") {
		t.Fatalf("run on a network that is not attachable: %s", r)
	}
	h1.Berth("rm", "-f", "na1")
	h1.BerthOK("network", "rm", "na")

	// Encryption is refused with the reason, and leaves nothing behind.
	if r := h1.Berth("network", "create", "-d", "overlay", "--attachable", "--opt", "encrypted", "sec"); r.ExitCode == 0 ||
		!strings.Contains(r.Stderr, "encrypted") {
		t.Fatalf("network create --opt encrypted: %s", r)
	}
	if out := h1.BerthOK("network", "ls", "--format", "{{.Name}}"); strings.Contains(out, "sec") {
		t.Fatalf("a refused encrypted network is listed: %s", out)
	}
	h1.BerthOK("network", "create", "-d", "overlay", "--attachable", "--subnet", "10.220.0.0/24", "ov1")
	for _, h := range c.Hosts {
		waitNetwork(t, h, "ov1", true)
	}
	insp := h2.BerthOK("network", "inspect", "--format", "{{.Scope}} {{.Driver}} {{.Attachable}} {{index .Options \"com.docker.network.driver.overlay.vxlanid_list\"}}", "ov1")
	if strings.TrimSpace(insp) != "swarm overlay true 4097" {
		t.Fatalf("network inspect on h2: %q", insp)
	}

	ctrs := []string{"c1", "c2", "c3"}
	for i, h := range c.Hosts {
		h.BerthOK("run", "-d", "--name", ctrs[i], "--network", "ov1", "--network-alias", "web"+ctrs[i][1:], "busybox", "sleep", "3600")
		serve(t, h, ctrs[i], "hello-from-"+ctrs[i])
	}
	ips := map[string]netip.Addr{}
	for i, h := range c.Hosts {
		ips[ctrs[i]] = ctrIP(t, h, ctrs[i], "eth0")
		if mtu := strings.TrimSpace(h.BerthOK("exec", ctrs[i], "cat", "/sys/class/net/eth0/mtu")); mtu != "1450" {
			t.Fatalf("%s's MTU is %s, want 1450 (the underlay's 1500 minus 50)", ctrs[i], mtu)
		}
	}
	if ips["c1"] == ips["c2"] || ips["c2"] == ips["c3"] || ips["c1"] == ips["c3"] {
		t.Fatalf("duplicate addresses: %v", ips)
	}
	for i, h := range c.Hosts {
		for j, other := range ctrs {
			if i == j {
				continue
			}
			reach(t, h, ctrs[i], ips[other].String(), "hello-from-"+other)
			reach(t, h, ctrs[i], other, "hello-from-"+other)
			reach(t, h, ctrs[i], "web"+other[1:], "hello-from-"+other) // an alias
		}
	}
	// A full-size packet: 1422 bytes of ICMP payload make a 1450-byte IP
	// packet, sent with don't-fragment (Linux's path MTU discovery
	// default); and a 1 MiB transfer in full-size TCP segments.
	h1.BerthOK("exec", "c1", "ping", "-c", "2", "-W", "5", "-s", "1422", "c3")
	sum := func(h *Host, ctr, cmd string) string {
		return strings.Fields(h.BerthOK("exec", ctr, "sh", "-c", cmd))[0]
	}
	if a, b := sum(h3, "c3", "md5sum /www/big"), sum(h1, "c1", "wget -q -O - http://c3:8080/big | md5sum"); a != b {
		t.Fatalf("1 MiB over the overlay: md5 %s, sent %s", b, a)
	}

	// Isolation: a second overlay network, and a local bridge network.
	h2.BerthOK("network", "create", "-d", "overlay", "--attachable", "--subnet", "10.221.0.0/24", "ov2")
	waitNetwork(t, h1, "ov2", true)
	h1.BerthOK("run", "-d", "--name", "d1", "--network", "ov2", "busybox", "sleep", "3600")
	h2.BerthOK("run", "-d", "--name", "d2", "--network", "ov2", "busybox", "sleep", "3600")
	d2 := ctrIP(t, h2, "d2", "eth0")
	h1.BerthOK("exec", "d1", "ping", "-c", "1", "-W", "5", d2.String()) // ov2 works
	cannotReach(t, h1, "c1", d2.String())                               // ov1 -> ov2, across hosts
	cannotReach(t, h2, "d2", ips["c1"].String())                        // ov2 -> ov1
	cannotReach(t, h2, "d2", ips["c2"].String())                        // ov2 -> ov1, same host
	if r := h1.Berth("exec", "d1", "nslookup", "c2"); r.ExitCode == 0 && strings.Contains(r.Stdout, ips["c2"].String()) {
		t.Fatalf("a container of ov2 resolves c2 of ov1: %s", r)
	}
	h1.BerthOK("network", "create", "local1")
	h1.BerthOK("run", "-d", "--name", "b1", "--network", "local1", "busybox", "sleep", "3600")
	b1 := ctrIP(t, h1, "b1", "eth0")
	cannotReach(t, h1, "c1", b1.String())
	cannotReach(t, h1, "b1", ips["c1"].String())

	// run -p on an overlay network publishes on the node the container
	// runs on: its underlay address (from another host) and 127.0.0.1.
	h2.BerthOK("run", "-d", "--name", "pub", "--network", "ov1", "-p", "18080:8080", "busybox", "sleep", "3600")
	serve(t, h2, "pub", "hello-from-pub")
	for _, via := range []*Host{h1, h2} {
		url := "http://" + h2.IP + ":18080/"
		if via == h2 {
			url = "http://127.0.0.1:18080/"
		}
		if out, err := via.Exec("curl", "-sf", "-m", "10", url); err != nil || strings.TrimSpace(out) != "hello-from-pub" {
			t.Fatalf("published port of a container on an overlay network, from %s: %s: %v %s", via.Name, url, err, out)
		}
	}
	h2.BerthOK("rm", "-f", "pub")

	// Concurrent creates on the three nodes: no address twice.
	var mu sync.Mutex
	seen := map[netip.Addr]string{}
	for i, h := range c.Hosts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := 0; k < 4; k++ {
				name := fmt.Sprintf("p%d-%d", i+1, k)
				r := h.Berth("run", "-d", "--name", name, "--network", "ov1", "busybox", "sleep", "3600")
				if r.ExitCode != 0 {
					t.Errorf("run %s on %s: %s", name, h.Name, r)
					continue
				}
				ip := ctrIP(t, h, name, "eth0")
				mu.Lock()
				if other, dup := seen[ip]; dup {
					t.Errorf("%s given to %s and %s", ip, other, name)
				}
				seen[ip] = name
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	for a := range seen {
		for _, b := range ips {
			if a == b {
				t.Fatalf("%s given twice", a)
			}
		}
	}

	// network rm waits for the last endpoint anywhere.
	r := h1.Berth("network", "rm", "ov1")
	if r.ExitCode == 0 || !strings.Contains(r.Stderr, "active endpoints") {
		t.Fatalf("network rm ov1 with containers on three nodes: %s", r)
	}
	for i, h := range c.Hosts {
		names := []string{ctrs[i]}
		for k := 0; k < 4; k++ {
			names = append(names, fmt.Sprintf("p%d-%d", i+1, k))
		}
		h.BerthOK(append([]string{"rm", "-f"}, names...)...)
	}
	h1.BerthOK("rm", "-f", "d1", "b1")
	h2.BerthOK("rm", "-f", "d2")
	h1.BerthOK("network", "rm", "local1")
	h3.BerthOK("network", "rm", "ov1")
	h1.BerthOK("network", "rm", "ov2")
	for _, h := range c.Hosts {
		waitNetwork(t, h, "ov1", false)
		waitNetwork(t, h, "ov2", false)
	}
	for _, h := range c.Hosts {
		overlayClean(t, h)
	}
}

// fdbDsts is the underlay addresses host h's overlay forwarding entries
// send mac to.
func fdbDsts(t *testing.T, h *Host, mac string) []string {
	t.Helper()
	out, err := h.Exec("bridge", "fdb", "show")
	if err != nil {
		t.Fatal(err)
	}
	var dsts []string
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) > 4 && f[0] == mac && strings.Contains(line, " dev vx-") {
			for i := range f[:len(f)-1] {
				if f[i] == "dst" {
					dsts = append(dsts, f[i+1])
				}
			}
		}
	}
	return dsts
}

// TestOverlayFaults (make test-cluster): a berthd killed with SIGKILL and
// restarted keeps its containers reachable, with each entry once; a node
// cut off from the underlay for longer than the endpoint lease has its
// endpoints removed from the others' tables, and written again, once,
// when it is back.
func TestOverlayFaults(t *testing.T) {
	full(t)
	c := New(t, 3)
	c.Form()
	h1, h2, h3 := c.Hosts[0], c.Hosts[1], c.Hosts[2]
	for _, h := range c.Hosts {
		h.Stack.LoadBusybox()
	}
	h1.BerthOK("network", "create", "-d", "overlay", "--attachable", "--subnet", "10.222.0.0/24", "ovf")
	for _, h := range c.Hosts {
		waitNetwork(t, h, "ovf", true)
	}
	macs := map[string]string{}
	for i, h := range c.Hosts {
		name := fmt.Sprintf("f%d", i+1)
		h.BerthOK("run", "-d", "--name", name, "--network", "ovf", "busybox", "sleep", "3600")
		serve(t, h, name, "hello-from-"+name)
		macs[name] = strings.TrimSpace(h.BerthOK("exec", name, "cat", "/sys/class/net/eth0/address"))
	}
	reach(t, h1, "f1", "f2", "hello-from-f2")

	// kill -9 h2's berthd: f2 keeps running and stays reachable; once
	// berthd is back, h1 holds f2's entry once.
	h2.Stack.KillDaemon()
	reach(t, h1, "f1", "f2", "hello-from-f2")
	h2.Stack.StartDaemon()
	reach(t, h1, "f1", "f2", "hello-from-f2")
	reach(t, h2, "f2", "f3", "hello-from-f3")
	if d := fdbDsts(t, h1, macs["f2"]); len(d) != 1 || d[0] != h2.IP {
		t.Fatalf("h1's entries for f2 after h2's berthd restarted: %v", d)
	}

	// Cut h3 off: past the lease, h1 forgets f3; back, f3 is written again.
	h3.CutLink()
	waitFor(t, "h1 to drop f3's entries", func() (bool, string) {
		d := fdbDsts(t, h1, macs["f3"])
		return len(d) == 0, fmt.Sprint(d)
	})
	h3.RestoreLink()
	waitFor(t, "h1 to write f3's entries again", func() (bool, string) {
		d := fdbDsts(t, h1, macs["f3"])
		return len(d) == 1 && d[0] == h3.IP, fmt.Sprint(d)
	})
	reach(t, h1, "f1", "f3", "hello-from-f3")
	reach(t, h3, "f3", "f1", "hello-from-f1")

	for i, h := range c.Hosts {
		h.BerthOK("rm", "-f", fmt.Sprintf("f%d", i+1))
	}
	h2.BerthOK("network", "rm", "ovf")
	for _, h := range c.Hosts {
		waitNetwork(t, h, "ovf", false)
		overlayClean(t, h)
	}
}
