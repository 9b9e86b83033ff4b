package cluster

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc"

	"github.com/berthproject/berth/engine/cluster"
	"github.com/berthproject/berth/engine/network/overlay"
)

// storeClient is an etcd client of the cluster store, as host h's berthd
// has (its node certificate), dialling from inside h's namespace.
func storeClient(t *testing.T, h *Host) *clientv3.Client {
	t.Helper()
	dir := filepath.Join(h.Stack.Root(), "cluster", "tls")
	read := func(n string) []byte {
		b, err := os.ReadFile(filepath.Join(dir, n))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	tlsCfg, err := cluster.TLSConfig(read("ca.pem"), read("node.pem"), read("node-key.pem"))
	if err != nil {
		t.Fatal(err)
	}
	c, err := clientv3.New(clientv3.Config{
		Endpoints: []string{"https://" + h.IP + ":2379"}, TLS: tlsCfg, DialTimeout: 10 * time.Second,
		DialOptions: []grpc.DialOption{grpc.WithContextDialer(func(ctx context.Context, addr string) (net.Conn, error) { return h.Dial(ctx, "tcp", addr) })},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// answers makes n HTTP requests from ctr on h to url and counts the
// answers (each task serves its own name).
func answers(t *testing.T, h *Host, ctr, url string, n int) map[string]int {
	t.Helper()
	script := fmt.Sprintf("for i in $(seq %d); do wget -q -O - %s || echo FAILED; done", n, url)
	out := h.BerthOK("exec", ctr, "sh", "-c", script)
	got := map[string]int{}
	for _, l := range strings.Fields(out) {
		got[l]++
	}
	return got
}

// hostAnswers makes n requests with curl from host via's namespace.
func hostAnswers(t *testing.T, via *Host, url string, n int) map[string]int {
	t.Helper()
	got := map[string]int{}
	for i := 0; i < n; i++ {
		out, err := via.Exec("curl", "-s", "-m", "10", url)
		if err != nil {
			got["FAILED"]++
			continue
		}
		got[strings.TrimSpace(out)]++
	}
	return got
}

// waitAnswers polls get until want holds of its answers.
func waitAnswers(t *testing.T, what string, get func() map[string]int, want func(map[string]int) bool) map[string]int {
	t.Helper()
	var got map[string]int
	waitFor(t, what, func() (bool, string) {
		got = get()
		return want(got), fmt.Sprint(got)
	})
	return got
}

// svcClean fails unless host h has no service rule, VIP or
// load-balancer address left.
func svcClean(t *testing.T, h *Host) {
	t.Helper()
	waitFor(t, "no service state on "+h.Name, func() (bool, string) {
		rs, _ := h.Exec("nft", "list", "table", "ip", strings.ToLower(h.Stack.FirewallPrefix()))
		addrs, _ := h.Exec("sh", "-c", "ip -o -4 addr show | grep ' ov-' || true")
		left := strings.Contains(rs, "svc-b-") || strings.Contains(addrs, "/32")
		return !left, rs + addrs
	})
}

// TestServices (make test): `berth service create` on a cluster of
// three nodes: three
// replicas of a web server, one per node, whose healthcheck passes only
// once a file exists. No task gets traffic while it is starting; once two
// are healthy, requests to the service's name (its VIP) from a container
// on the network spread over those two only, and tasks.web lists them;
// once all are, the published port answers on every node's address and
// on 127.0.0.1 from every node, reaching the tasks on all three. `service
// rm` leaves no rule, bridge address, VIP or load-balancer address on any
// node.
func TestServices(t *testing.T) {
	c := New(t, 3)
	c.Form()
	h1, h2, h3 := c.Hosts[0], c.Hosts[1], c.Hosts[2]
	for _, h := range c.Hosts {
		h.Stack.LoadBusybox()
	}
	h1.BerthOK("network", "create", "-d", "overlay", "--attachable", "--subnet", "10.232.0.0/24", "svcnet")
	for _, h := range c.Hosts {
		waitNetwork(t, h, "svcnet", true)
	}
	h1.BerthOK("service", "create", "-d", "--name", "web", "--replicas", "3", "--network", "svcnet", "-p", "30080:8080",
		"--health-cmd", "test -f /tmp/ok", "--health-interval", "200ms", "--health-start-interval", "200ms",
		"--health-start-period", "1h", "busybox", "sh", "-c", webCmd)
	// One task container per node (the scheduler spreads them).
	ctrs := map[*Host]string{}
	waitFor(t, "a task container running on each node", func() (bool, string) {
		var got []string
		for _, h := range c.Hosts {
			out := strings.Fields(h.Berth("ps", "-q", "--filter", "label=com.docker.swarm.service.name=web").Stdout)
			if len(out) == 1 {
				ctrs[h] = out[0]
			}
			got = append(got, fmt.Sprintf("%s:%v", h.Name, out))
		}
		return len(ctrs) == 3, strings.Join(got, " ")
	})
	names := map[*Host]string{}
	for h, id := range ctrs {
		names[h] = strings.TrimSpace(h.BerthOK("exec", id, "hostname"))
	}

	h1.BerthOK("run", "-d", "--name", "client", "--network", "svcnet", "busybox", "sleep", "3600")
	vip := netip.MustParsePrefix(strings.TrimSpace(h2.BerthOK("service", "inspect", "--format", "{{(index .Endpoint.VirtualIPs 0).Addr}}", "web"))).Addr()
	waitFor(t, "web resolves to its VIP", func() (bool, string) {
		r := h1.Berth("exec", "client", "nslookup", "web")
		return r.ExitCode == 0 && strings.Contains(r.Stdout, vip.String()), r.Stdout + r.Stderr
	})
	// Starting tasks take no traffic: the VIP has no backend yet.
	if got := answers(t, h1, "client", "http://web:8080/", 2); got["FAILED"] != 2 {
		t.Fatalf("starting tasks answered through the VIP: %v", got)
	}
	for _, h := range []*Host{h1, h2} {
		h.BerthOK("exec", ctrs[h], "touch", "/tmp/ok")
	}
	two := func(g map[string]int) bool {
		return g[names[h1]] > 0 && g[names[h2]] > 0 && len(g) == 2
	}
	got := waitAnswers(t, "the VIP spreading over the two healthy tasks",
		func() map[string]int { return answers(t, h1, "client", "http://web:8080/", 12) }, two)
	t.Logf("answers through the VIP, h3's task starting: %v", got)
	r := h1.BerthOK("exec", "client", "nslookup", "tasks.web")
	h3ip := ctrIP(t, h3, ctrs[h3], "eth0")
	if strings.Contains(r, h3ip.String()) {
		t.Fatalf("tasks.web lists the starting task %s: %s", h3ip, r)
	}
	h3.BerthOK("exec", ctrs[h3], "touch", "/tmp/ok")
	all3 := func(g map[string]int) bool {
		return g[names[h1]] > 0 && g[names[h2]] > 0 && g[names[h3]] > 0 && len(g) == 3
	}
	got = waitAnswers(t, "the VIP spreading over the three healthy tasks",
		func() map[string]int { return answers(t, h1, "client", "http://web:8080/", 12) }, all3)
	t.Logf("answers through the VIP: %v", got)

	// The routing mesh: every node's address from every node, and
	// 127.0.0.1 on each.
	for _, via := range c.Hosts {
		for _, target := range c.Hosts {
			url := "http://" + target.IP + ":30080/"
			got := waitAnswers(t, fmt.Sprintf("%s from %s", url, via.Name),
				func() map[string]int { return hostAnswers(t, via, url, 6) }, all3)
			t.Logf("%s from %s: %v", url, via.Name, got)
		}
		got := hostAnswers(t, via, "http://127.0.0.1:30080/", 6)
		if got["FAILED"] != 0 {
			t.Fatalf("127.0.0.1:30080 on %s: %v", via.Name, got)
		}
	}

	// service rm: nothing left on any node, and the network can go.
	h3.BerthOK("service", "rm", "web")
	for _, h := range c.Hosts {
		svcClean(t, h)
	}
	noVIPs(t, h1)
	h1.BerthOK("rm", "-f", "client")
	waitFor(t, "the task containers gone", func() (bool, string) {
		var got []string
		for _, h := range c.Hosts {
			got = append(got, strings.Fields(h.Berth("ps", "-aq", "--filter", "label=com.docker.swarm.service.name=web").Stdout)...)
		}
		return len(got) == 0, fmt.Sprint(got)
	})
	waitFor(t, "network rm svcnet", func() (bool, string) {
		r := h1.Berth("network", "rm", "svcnet")
		return r.ExitCode == 0, r.String()
	})

	// A service that publishes a port and names no network goes on the
	// ingress overlay network, made for it as in Docker swarm: the
	// routing mesh reaches its tasks on every node from every node.
	h2.BerthOK("service", "create", "-d", "--name", "edge", "--replicas", "3", "-p", "30085:8080", "busybox", "sh", "-c", webCmd)
	for _, h := range c.Hosts {
		waitNetwork(t, h, "ingress", true)
	}
	if out := h1.BerthOK("service", "inspect", "--format", "{{range .Spec.TaskTemplate.Networks}}{{.Target}}{{end}} {{len .Endpoint.VirtualIPs}}", "edge"); out != "ingress 1" {
		t.Fatalf("service edge: networks and VIPs %q, want ingress 1", out)
	}
	edges := taskNames(t, c, "edge", 3)
	for _, h := range c.Hosts {
		url := "http://" + h.IP + ":30085/"
		got := waitAnswers(t, "every task of edge through "+url, func() map[string]int { return hostAnswers(t, h1, url, 9) },
			func(g map[string]int) bool {
				for n := range edges {
					if g[n] == 0 {
						return false
					}
				}
				return len(g) == len(edges)
			})
		t.Logf("%s (ingress network) from h1: %v", url, got)
	}
	h1.BerthOK("service", "rm", "edge")
	noVIPs(t, h1)
	waitFor(t, "network rm ingress", func() (bool, string) {
		r := h1.Berth("network", "rm", "ingress")
		return r.ExitCode == 0, r.String()
	})
	for _, h := range c.Hosts {
		waitNetwork(t, h, "svcnet", false)
		waitNetwork(t, h, "ingress", false)
		overlayClean(t, h)
	}
}

// noVIPs waits until the store holds no VIP and no load-balancer
// endpoint (read from host h's namespace with its certificate).
func noVIPs(t *testing.T, h *Host) {
	t.Helper()
	c := storeClient(t, h)
	waitFor(t, "no VIP or load-balancer address left in the store", func() (bool, string) {
		resp, err := c.Get(context.Background(), cluster.Prefix, clientv3.WithPrefix())
		if err != nil {
			return false, err.Error()
		}
		var left []string
		for _, kv := range resp.Kvs {
			if strings.HasPrefix(string(kv.Value), "vip:") || strings.Contains(string(kv.Key), "/"+overlay.LBEndpointPrefix) {
				left = append(left, string(kv.Key))
			}
		}
		return len(left) == 0, fmt.Sprint(left)
	})
}

// ipamEntries lists the addresses held in an overlay network's IPAM
// ("ip=owner": a container's endpoint, a node's load-balancer address or
// a service's VIP), read with a client of storeClient.
func ipamEntries(t *testing.T, sc *clientv3.Client, network string) []string {
	t.Helper()
	resp, err := sc.Get(context.Background(), cluster.IPAMPrefix(network), clientv3.WithPrefix())
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, kv := range resp.Kvs {
		out = append(out, cluster.KeyLast(string(kv.Key))+"="+string(kv.Value))
	}
	return out
}

// webCmd serves the task's hostname on port 8080 (busybox httpd).
const webCmd = "mkdir -p /www && hostname > /www/index.html && exec httpd -f -p 8080 -h /www"

// taskCtrs waits until the service's running task containers number n
// in all, and returns them by host (container ID and hostname).
func taskCtrs(t *testing.T, c *Cluster, service string, n int) map[*Host][][2]string {
	t.Helper()
	out := map[*Host][][2]string{}
	waitFor(t, fmt.Sprintf("%d task containers of %s running", n, service), func() (bool, string) {
		out = map[*Host][][2]string{}
		total := 0
		var got []string
		for _, h := range c.Hosts {
			ids := strings.Fields(h.Berth("ps", "-q", "--filter", "label=com.docker.swarm.service.name="+service).Stdout)
			for _, id := range ids {
				r := h.Berth("exec", id, "hostname")
				if r.ExitCode != 0 {
					return false, r.String()
				}
				out[h] = append(out[h], [2]string{id, strings.TrimSpace(r.Stdout)})
			}
			total += len(ids)
			got = append(got, fmt.Sprintf("%s:%v", h.Name, ids))
		}
		return total == n, strings.Join(got, " ")
	})
	return out
}

// TestServicesFull (make test-cluster): endpoint mode dnsrr, publish
// mode host, and the node's rules rebuilt after a berthd restart, a
// berthd killed with SIGKILL and a deleted nftables table.
func TestServicesFull(t *testing.T) {
	full(t)
	c := New(t, 3)
	c.Form()
	h1, h2, h3 := c.Hosts[0], c.Hosts[1], c.Hosts[2]
	for _, h := range c.Hosts {
		h.Stack.LoadBusybox()
	}
	h1.BerthOK("network", "create", "-d", "overlay", "--attachable", "--subnet", "10.231.0.0/24", "svcfull")
	for _, h := range c.Hosts {
		waitNetwork(t, h, "svcfull", true)
	}
	create := func(args ...string) {
		t.Helper()
		h1.BerthOK(append(append([]string{"service", "create", "-d", "--network", "svcfull"}, args...), "busybox", "sh", "-c", webCmd)...)
	}
	create("--name", "web", "--replicas", "3", "-p", "30081:8080")
	create("--name", "db", "--replicas", "2", "--endpoint-mode", "dnsrr")
	create("--name", "edge", "--constraint", "node.hostname=="+h3.Name, "-p", "mode=host,target=8080,published=30082")
	webs := taskCtrs(t, c, "web", 3)
	dbs := taskCtrs(t, c, "db", 2)
	edges := taskCtrs(t, c, "edge", 1)
	if len(edges[h3]) != 1 {
		t.Fatalf("edge's task is not on h3: %v", edges)
	}

	// dnsrr: db is its tasks' addresses.
	h1.BerthOK("run", "-d", "--name", "client", "--network", "svcfull", "busybox", "sleep", "3600")
	var dbIPs []string
	for h, cs := range dbs {
		for _, ct := range cs {
			dbIPs = append(dbIPs, ctrIP(t, h, ct[0], "eth0").String())
		}
	}
	waitFor(t, "db resolves to its two tasks", func() (bool, string) {
		r := h1.Berth("exec", "client", "nslookup", "db")
		return r.ExitCode == 0 && strings.Contains(r.Stdout, dbIPs[0]) && strings.Contains(r.Stdout, dbIPs[1]), r.Stdout
	})

	// Host mode: only h3, which runs edge's task, answers on 30082.
	waitAnswers(t, "edge on h3's port", func() map[string]int { return hostAnswers(t, h1, "http://"+h3.IP+":30082/", 2) },
		func(g map[string]int) bool { return g[edges[h3][0][1]] == 2 })
	for _, h := range []*Host{h1, h2} {
		if got := hostAnswers(t, h1, "http://"+h.IP+":30082/", 1); got["FAILED"] != 1 {
			t.Fatalf("a host-mode port answers on %s, which runs no task: %v", h.Name, got)
		}
	}
	// service ps: the PORTS of a task are those it publishes on its node
	// (mode host), as Docker shows them (berth's CLI and Docker's, from
	// the Docker API's task); an ingress port is no task's.
	if out := strings.TrimSpace(h2.BerthOK("service", "ps", "--format", "{{.Node}} {{.Ports}}", "edge")); out != "h3 *:30082->8080/tcp" {
		t.Fatalf("service ps edge: PORTS %q, want h3 *:30082->8080/tcp", out)
	}
	if out := newDocker(t, h1).ok("service", "ps", "--format", "{{.Ports}}", "edge"); out != "*:30082->8080/tcp" {
		t.Fatalf("docker service ps edge: PORTS %q", out)
	}
	if out := strings.TrimSpace(h2.BerthOK("service", "ps", "--format", "{{.Ports}}", "web")); strings.Trim(out, "\n") != "" {
		t.Fatalf("service ps web (ingress): PORTS %q, want none", out)
	}

	mesh := func(h *Host) func() map[string]int {
		return func() map[string]int { return hostAnswers(t, h1, "http://"+h.IP+":30081/", 6) }
	}
	var webNames []string
	for _, cs := range webs {
		for _, ct := range cs {
			webNames = append(webNames, ct[1])
		}
	}
	waitAnswers(t, "the mesh on h2", mesh(h2), func(g map[string]int) bool {
		for _, n := range webNames {
			if g[n] == 0 {
				return false
			}
		}
		return len(g) == len(webNames)
	})
	// From here on the agents may replace a task (a restarted node's):
	// three tasks answer, none fails.
	all3 := func(g map[string]int) bool { return len(g) == 3 && g["FAILED"] == 0 }

	// berthd restarts (clean, then SIGKILL): the rules are rebuilt from
	// the store.
	h2.Stack.Restart()
	waitAnswers(t, "the mesh on h2 after a berthd restart", mesh(h2), all3)
	waitAnswers(t, "the mesh on h1 reaching h2's task after its restart", mesh(h1), all3)
	h3.Stack.KillDaemon()
	h3.Stack.StartDaemon()
	waitAnswers(t, "the mesh on h3 after berthd was killed", mesh(h3), all3)
	waitAnswers(t, "edge on h3's port after berthd was killed", func() map[string]int { return hostAnswers(t, h1, "http://"+h3.IP+":30082/", 2) },
		func(g map[string]int) bool { return len(g) == 1 && g["FAILED"] == 0 })

	// A deleted table (nftables.service's flush): put back within the
	// controller's check interval.
	if out, err := h2.Exec("nft", "delete", "table", "ip", strings.ToLower(h2.Stack.FirewallPrefix())); err != nil {
		t.Fatalf("%v %s", err, out)
	}
	waitAnswers(t, "the mesh on h2 after its table was deleted", mesh(h2), all3)

	h2.BerthOK("service", "rm", "web", "db", "edge")
	for _, h := range c.Hosts {
		svcClean(t, h)
	}
	noVIPs(t, h1)
	h1.BerthOK("rm", "-f", "client")
	waitFor(t, "network rm svcfull", func() (bool, string) {
		r := h1.Berth("network", "rm", "svcfull")
		return r.ExitCode == 0, r.String()
	})
	for _, h := range c.Hosts {
		waitNetwork(t, h, "svcfull", false)
		overlayClean(t, h)
	}
}
