package cluster

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"golang.org/x/sys/unix"
	"google.golang.org/grpc"

	"github.com/berthproject/berth/engine/cluster"
	"github.com/berthproject/berth/engine/network/overlay"
	stypes "github.com/berthproject/berth/pkg/types/service"
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
	nsPath := "/run/netns/" + h.Netns
	// Each connection is made on a thread that entered the namespace
	// (and dies with it: the thread is never unlocked).
	dial := func(ctx context.Context, addr string) (net.Conn, error) {
		type res struct {
			c   net.Conn
			err error
		}
		ch := make(chan res, 1)
		go func() {
			runtime.LockOSThread()
			fd, err := unix.Open(nsPath, unix.O_RDONLY|unix.O_CLOEXEC, 0)
			if err != nil {
				ch <- res{nil, err}
				return
			}
			defer unix.Close(fd)
			if err := unix.Setns(fd, unix.CLONE_NEWNET); err != nil {
				ch <- res{nil, err}
				return
			}
			c, err := (&net.Dialer{}).DialContext(ctx, "tcp", addr)
			ch <- res{c, err}
		}()
		r := <-ch
		return r.c, r.err
	}
	c, err := clientv3.New(clientv3.Config{
		Endpoints: []string{"https://" + h.IP + ":2379"}, TLS: tlsCfg, DialTimeout: 10 * time.Second,
		DialOptions: []grpc.DialOption{grpc.WithContextDialer(dial)},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// svcFixture writes service and task records as the service leader and
// the nodes' agents would (the tasks are real containers started with
// run), until `berth service create` runs tasks itself.
type svcFixture struct {
	t     *testing.T
	c     *clientv3.Client
	store *overlay.Store
}

func newSvcFixture(t *testing.T, h *Host) *svcFixture {
	c := storeClient(t, h)
	st, err := overlay.NewStore(&cluster.Store{Client: c, NodeID: "test", NodeAddr: h.IP})
	if err != nil {
		t.Fatal(err)
	}
	return &svcFixture{t: t, c: c, store: st}
}

func (f *svcFixture) put(key string, v any) {
	f.t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		f.t.Fatal(err)
	}
	if _, err := f.c.Put(context.Background(), key, string(b)); err != nil {
		f.t.Fatal(err)
	}
}

// service writes a service on network with a VIP from the network's
// IPAM (unless dnsrr), publishing ports (target:published/mode).
func (f *svcFixture) service(id, name, network, mode string, ports ...stypes.PortConfig) netip.Addr {
	f.t.Helper()
	s := stypes.Service{ID: id, Spec: stypes.ServiceSpec{Name: name,
		TaskTemplate: stypes.TaskSpec{Networks: []stypes.NetworkAttachmentConfig{{Target: network}}},
		EndpointSpec: &stypes.EndpointSpec{Mode: mode, Ports: ports}}}
	s.Endpoint.Spec = *s.Spec.EndpointSpec
	s.Endpoint.Ports = ports
	var vip netip.Addr
	if mode == stypes.ResolutionModeVIP {
		var err error
		if vip, err = f.store.AllocateVIP(context.Background(), network, id); err != nil {
			f.t.Fatal(err)
		}
		s.Endpoint.VirtualIPs = []stypes.EndpointVirtualIP{{NetworkID: network, NetworkName: network, Addr: vip.String() + "/24"}}
	}
	f.put(cluster.ServiceKey(id), s)
	return vip
}

// task writes a task of service on host h, its container ctr's address
// on network, and its state and health.
func (f *svcFixture) task(service, id string, h *Host, network string, ip netip.Addr, state, health string) {
	f.t.Helper()
	f.put(cluster.TaskKey(service, id), stypes.Task{ID: id, ServiceID: service, NodeID: h.NodeID,
		DesiredState: stypes.TaskStateRunning, Status: stypes.TaskStatus{State: state, Health: health},
		NetworksAttachments: []stypes.NetworkAttachment{{Network: stypes.AttachedNetwork{ID: network, Name: network}, Addresses: []string{ip.String() + "/24"}}}})
}

// remove deletes a service's records and gives its VIP back.
func (f *svcFixture) remove(id, network string) {
	f.t.Helper()
	ctx := context.Background()
	if _, err := f.c.Delete(ctx, cluster.TasksPrefix(id), clientv3.WithPrefix()); err != nil {
		f.t.Fatal(err)
	}
	if _, err := f.c.Delete(ctx, cluster.ServiceKey(id)); err != nil {
		f.t.Fatal(err)
	}
	if err := f.store.ReleaseVIP(ctx, network, id); err != nil {
		f.t.Fatal(err)
	}
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

// TestServices (make test): services on an overlay network of three
// nodes, their records written in the store as the leader and the
// agents write them, their tasks real containers (one per node, a
// fourth failing its healthcheck). From a container on the network,
// requests to the service's name (its VIP) spread over the healthy
// tasks and never reach the unhealthy one; tasks.<name> resolves to the
// healthy tasks; the published port answers on every node's address
// and on 127.0.0.1, from the underlay, reaching tasks on every node.
// Removing the service leaves no rule, address or VIP on any node.
func TestServices(t *testing.T) {
	c := New(t, 3)
	c.Form()
	h1 := c.Hosts[0]
	for _, h := range c.Hosts {
		h.Stack.LoadBusybox()
	}
	h1.BerthOK("network", "create", "-d", "overlay", "--attachable", "--subnet", "10.230.0.0/24", "svcnet")
	for _, h := range c.Hosts {
		waitNetwork(t, h, "svcnet", true)
	}
	f := newSvcFixture(t, h1)
	const sid = "websvc0000000000000000000001"
	tasks := map[string]netip.Addr{}
	for i, h := range c.Hosts {
		name := fmt.Sprintf("web%d", i+1)
		h.BerthOK("run", "-d", "--name", name, "--network", "svcnet", "busybox", "sleep", "3600")
		serve(t, h, name, name)
		tasks[name] = ctrIP(t, h, name, "eth0")
	}
	// The fourth task's healthcheck fails (on h2).
	h2 := c.Hosts[1]
	h2.BerthOK("run", "-d", "--name", "sick", "--network", "svcnet", "--health-cmd", "exit 1", "--health-interval", "200ms",
		"--health-retries", "1", "busybox", "sleep", "3600")
	serve(t, h2, "sick", "sick")
	waitFor(t, "sick unhealthy", func() (bool, string) {
		s := strings.TrimSpace(h2.BerthOK("inspect", "--format", "{{.State.Health.Status}}", "sick"))
		return s == "unhealthy", s
	})
	sickIP := ctrIP(t, h2, "sick", "eth0")

	vip := f.service(sid, "web", "svcnet", stypes.ResolutionModeVIP,
		stypes.PortConfig{Protocol: "tcp", TargetPort: 8080, PublishedPort: 30080, PublishMode: stypes.PortPublishModeIngress})
	for i, h := range c.Hosts {
		name := fmt.Sprintf("web%d", i+1)
		f.task(sid, "task"+name, h, "svcnet", tasks[name], stypes.TaskStateRunning, "")
	}
	f.task(sid, "tasksick", h2, "svcnet", sickIP, stypes.TaskStateRunning, "unhealthy")

	// A client on h1: the name is the VIP, which spreads over the three
	// healthy tasks.
	h1.BerthOK("run", "-d", "--name", "client", "--network", "svcnet", "busybox", "sleep", "3600")
	waitFor(t, "web resolves to its VIP", func() (bool, string) {
		r := h1.Berth("exec", "client", "nslookup", "web")
		return r.ExitCode == 0 && strings.Contains(r.Stdout, vip.String()), r.Stdout + r.Stderr
	})
	all3 := func(got map[string]int) bool {
		return got["web1"] > 0 && got["web2"] > 0 && got["web3"] > 0 && len(got) == 3
	}
	got := waitAnswers(t, "the VIP spreading over the three healthy tasks",
		func() map[string]int { return answers(t, h1, "client", "http://web:8080/", 12) }, all3)
	t.Logf("answers through the VIP: %v", got)
	if got["sick"] != 0 {
		t.Fatalf("the unhealthy task got requests: %v", got)
	}
	r := h1.BerthOK("exec", "client", "nslookup", "tasks.web")
	for name, ip := range tasks {
		if !strings.Contains(r, ip.String()) {
			t.Fatalf("tasks.web lacks %s (%s): %s", name, ip, r)
		}
	}
	if strings.Contains(r, sickIP.String()) {
		t.Fatalf("tasks.web lists the unhealthy task: %s", r)
	}

	// The routing mesh: every node's address, and 127.0.0.1 on each.
	for _, via := range c.Hosts {
		for _, target := range c.Hosts {
			url := "http://" + target.IP + ":30080/"
			got := waitAnswers(t, fmt.Sprintf("%s from %s", url, via.Name),
				func() map[string]int { return hostAnswers(t, via, url, 6) },
				func(g map[string]int) bool { return g["FAILED"] == 0 && g["sick"] == 0 && len(g) > 1 })
			t.Logf("%s from %s: %v", url, via.Name, got)
		}
		got := hostAnswers(t, via, "http://127.0.0.1:30080/", 6)
		if got["FAILED"] != 0 || got["sick"] != 0 {
			t.Fatalf("127.0.0.1:30080 on %s: %v", via.Name, got)
		}
	}

	// The sick task recovers: it gets traffic too.
	f.task(sid, "tasksick", h2, "svcnet", sickIP, stypes.TaskStateRunning, "healthy")
	waitAnswers(t, "the recovered task in the VIP's answers",
		func() map[string]int { return answers(t, h1, "client", "http://web:8080/", 12) },
		func(g map[string]int) bool { return g["sick"] > 0 && g["FAILED"] == 0 })

	// Removed: nothing left on any node, and the network can go.
	f.remove(sid, "svcnet")
	for _, h := range c.Hosts {
		svcClean(t, h)
	}
	waitFor(t, "no VIP or load-balancer address left in the store", func() (bool, string) {
		resp, err := f.c.Get(context.Background(), cluster.Prefix, clientv3.WithPrefix())
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
	if r := h1.Berth("exec", "client", "nslookup", "web"); r.ExitCode == 0 && strings.Contains(r.Stdout, vip.String()) {
		t.Fatalf("web still resolves after the service went: %s", r.Stdout)
	}
	for i, h := range c.Hosts {
		h.BerthOK("rm", "-f", fmt.Sprintf("web%d", i+1))
	}
	h2.BerthOK("rm", "-f", "sick")
	h1.BerthOK("rm", "-f", "client")
	h1.BerthOK("network", "rm", "svcnet")
	for _, h := range c.Hosts {
		waitNetwork(t, h, "svcnet", false)
		overlayClean(t, h)
	}
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
	f := newSvcFixture(t, h1)
	tasks := map[string]netip.Addr{}
	for i, h := range c.Hosts {
		name := fmt.Sprintf("web%d", i+1)
		h.BerthOK("run", "-d", "--name", name, "--network", "svcfull", "busybox", "sleep", "3600")
		serve(t, h, name, name)
		tasks[name] = ctrIP(t, h, name, "eth0")
	}
	const web, db, edge = "websvc00000000000000000000f1", "dbsvc000000000000000000000f2", "edgesvc0000000000000000000f3"
	f.service(web, "web", "svcfull", stypes.ResolutionModeVIP,
		stypes.PortConfig{Protocol: "tcp", TargetPort: 8080, PublishedPort: 30081, PublishMode: stypes.PortPublishModeIngress})
	f.service(db, "db", "svcfull", stypes.ResolutionModeDNSRR)
	f.service(edge, "edge", "svcfull", stypes.ResolutionModeVIP,
		stypes.PortConfig{Protocol: "tcp", TargetPort: 8080, PublishedPort: 30082, PublishMode: stypes.PortPublishModeHost})
	for i, h := range c.Hosts {
		name := fmt.Sprintf("web%d", i+1)
		f.task(web, "t"+name, h, "svcfull", tasks[name], stypes.TaskStateRunning, "")
	}
	// db: web1 and web2's containers (web2's unhealthy); edge: web3's.
	f.task(db, "db1", h1, "svcfull", tasks["web1"], stypes.TaskStateRunning, "")
	f.task(db, "db2", h2, "svcfull", tasks["web2"], stypes.TaskStateRunning, "unhealthy")
	f.task(edge, "edge1", h3, "svcfull", tasks["web3"], stypes.TaskStateRunning, "")

	h1.BerthOK("run", "-d", "--name", "client", "--network", "svcfull", "busybox", "sleep", "3600")
	waitFor(t, "db resolves to its healthy task", func() (bool, string) {
		r := h1.Berth("exec", "client", "nslookup", "db")
		return r.ExitCode == 0 && strings.Contains(r.Stdout, tasks["web1"].String()) && !strings.Contains(r.Stdout, tasks["web2"].String()), r.Stdout
	})
	f.task(db, "db2", h2, "svcfull", tasks["web2"], stypes.TaskStateRunning, "healthy")
	waitFor(t, "db resolves to both tasks", func() (bool, string) {
		r := h1.Berth("exec", "client", "nslookup", "db")
		return r.ExitCode == 0 && strings.Contains(r.Stdout, tasks["web1"].String()) && strings.Contains(r.Stdout, tasks["web2"].String()), r.Stdout
	})

	// Host mode: only h3, which runs edge's task, answers on 30082.
	waitAnswers(t, "edge on h3's port", func() map[string]int { return hostAnswers(t, h1, "http://"+h3.IP+":30082/", 2) },
		func(g map[string]int) bool { return g["web3"] == 2 })
	for _, h := range []*Host{h1, h2} {
		if got := hostAnswers(t, h1, "http://"+h.IP+":30082/", 1); got["FAILED"] != 1 {
			t.Fatalf("a host-mode port answers on %s, which runs no task: %v", h.Name, got)
		}
	}

	mesh := func(h *Host) func() map[string]int {
		return func() map[string]int { return hostAnswers(t, h1, "http://"+h.IP+":30081/", 6) }
	}
	all3 := func(g map[string]int) bool {
		return g["web1"] > 0 && g["web2"] > 0 && g["web3"] > 0 && g["FAILED"] == 0
	}
	waitAnswers(t, "the mesh on h2", mesh(h2), all3)

	// berthd restarts (clean, then SIGKILL): the rules are rebuilt from
	// the store, the tasks on the node answer through the others again.
	h2.Stack.Restart()
	waitAnswers(t, "the mesh on h2 after a berthd restart", mesh(h2), all3)
	waitAnswers(t, "the mesh on h1 reaching h2's task after its restart", mesh(h1), all3)
	h3.Stack.KillDaemon()
	h3.Stack.StartDaemon()
	waitAnswers(t, "the mesh on h3 after berthd was killed", mesh(h3), all3)
	waitAnswers(t, "edge on h3's port after berthd was killed", func() map[string]int { return hostAnswers(t, h1, "http://"+h3.IP+":30082/", 2) },
		func(g map[string]int) bool { return g["web3"] == 2 })

	// A deleted table (nftables.service's flush): put back within the
	// controller's check interval.
	if out, err := h2.Exec("nft", "delete", "table", "ip", strings.ToLower(h2.Stack.FirewallPrefix())); err != nil {
		t.Fatalf("%v %s", err, out)
	}
	waitAnswers(t, "the mesh on h2 after its table was deleted", mesh(h2), all3)
	waitAnswers(t, "the VIP from h1 after h2's table was deleted",
		func() map[string]int { return answers(t, h1, "client", "http://web:8080/", 12) },
		func(g map[string]int) bool {
			return g["web1"] > 0 && g["web2"] > 0 && g["web3"] > 0 && g["FAILED"] == 0
		})

	for _, s := range []string{web, db, edge} {
		f.remove(s, "svcfull")
	}
	for _, h := range c.Hosts {
		svcClean(t, h)
	}
	for i, h := range c.Hosts {
		h.BerthOK("rm", "-f", fmt.Sprintf("web%d", i+1))
	}
	h1.BerthOK("rm", "-f", "client")
	h1.BerthOK("network", "rm", "svcfull")
	for _, h := range c.Hosts {
		waitNetwork(t, h, "svcfull", false)
		overlayClean(t, h)
	}
}
