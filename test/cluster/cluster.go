// Package cluster is the multi-host test harness: "hosts" that are network
// namespaces joined by an underlay, each running its own berthd (a
// harness.Stack: private root, state, sockets, containerd), plus the
// tests of berth's cluster control plane (cluster_test.go).
//
//	c := cluster.New(t, 3)  // h1..h3 on the underlay 10.241.0.0/24
//	c.Form()                // init on h1, join h2 and h3: three etcd members
//	c.Hosts[1].Berth("node", "ls")
//
// The underlay is a bridge inside a namespace of its own, with one veth
// pair per host (the host's end is "under0", 10.241.0.<i+1>/24), so no
// link or address is ever added to the machine's own namespace and every
// packet stays inside namespaces the harness made. When the test ends,
// each stack stops (berthd stops its etcd member), the namespaces are
// deleted, and the harness fails the test if a namespace, a veth, an etcd
// process or an etcd data dir is left.
package cluster

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/berthproject/berth/test/harness"
)

// Underlay addressing.
const (
	underlayPrefix = "10.241.0."
	underlayBits   = 24
	underlayIf     = "under0"
)

// Cluster is a set of hosts on one underlay.
type Cluster struct {
	t        testing.TB
	id       string // random, in every name the harness makes
	underlay string // the underlay namespace's name
	// Hosts are the hosts the checks look at (a test may drop one that
	// left); all is every host made, for the cleanup.
	Hosts []*Host
	all   []*Host
}

// Host is one "host": a network namespace with a berthd.
type Host struct {
	c     *Cluster
	Name  string // h1, h2, ...
	Netns string // namespace name (ip netns)
	IP    string // underlay address
	Stack *harness.Stack
	// NodeID is the node's cluster ID once it is in the cluster.
	NodeID string
}

// New makes n hosts on an underlay and starts a berthd in each (not yet in
// a cluster). extra options apply to every stack.
func New(t testing.TB, n int, extra ...harness.Option) *Cluster {
	t.Helper()
	if os.Getuid() != 0 {
		t.Skip("needs root: the hosts are network namespaces")
	}
	if build := os.Getenv(harness.EnvBuild); build != "" {
		if _, err := os.Stat(filepath.Join(build, "berth-etcd")); err != nil {
			t.Skipf("berth-etcd missing in %s: run `make build`", build)
		}
	}
	c := &Cluster{t: t, id: strings.ToLower(rand.Text()[:6])}
	c.underlay = "bc" + c.id + "u"
	t.Cleanup(c.cleanupNetns) // registered first: runs after the stacks stopped
	c.ip("netns", "add", c.underlay)
	c.nsExec(c.underlay, "ip", "link", "set", "lo", "up")
	c.nsExec(c.underlay, "ip", "link", "add", "br0", "type", "bridge")
	c.nsExec(c.underlay, "ip", "link", "set", "br0", "up")
	for i := range n {
		h := &Host{c: c, Name: "h" + strconv.Itoa(i+1), Netns: "bc" + c.id + "h" + strconv.Itoa(i+1), IP: underlayPrefix + strconv.Itoa(i+1)}
		c.ip("netns", "add", h.Netns)
		c.all = append(c.all, h)
		c.nsExec(h.Netns, "ip", "link", "set", "lo", "up")
		peer := "p" + h.Name
		c.ip("link", "add", underlayIf, "netns", h.Netns, "type", "veth", "peer", "name", peer, "netns", c.underlay)
		c.nsExec(c.underlay, "ip", "link", "set", peer, "master", "br0", "up")
		c.nsExec(h.Netns, "ip", "addr", "add", h.IP+"/"+strconv.Itoa(underlayBits), "dev", underlayIf)
		c.nsExec(h.Netns, "ip", "link", "set", underlayIf, "up")
		c.Hosts = append(c.Hosts, h)
	}
	for _, h := range c.Hosts {
		opts := append([]harness.Option{harness.WithNetns("/run/netns/" + h.Netns)}, extra...)
		h.Stack = harness.Start(t, opts...)
	}
	return c
}

// Form makes the cluster: init on the first host, then each other host
// joins in turn (the first three become etcd members), and waits until
// every node is ready as seen from the first host.
func (c *Cluster) Form() {
	c.t.Helper()
	h1 := c.Hosts[0]
	h1.BerthOK("cluster", "init", "--advertise-addr", h1.IP, "--node-name", h1.Name)
	tok := strings.TrimSpace(h1.BerthOK("cluster", "join-token", "-q"))
	for _, h := range c.Hosts[1:] {
		h.BerthOK("cluster", "join", "--token", tok, "--advertise-addr", h.IP, "--node-name", h.Name, h1.IP)
	}
	for _, h := range c.Hosts {
		h.NodeID = strings.TrimSpace(h.BerthOK("cluster", "info", "--format", "{{.NodeID}}"))
	}
	for _, h := range c.Hosts {
		c.WaitStatus(h1, h, "Ready", harness.Timeout(60*time.Second))
	}
}

// Berth runs the berth CLI against the host's berthd.
func (h *Host) Berth(args ...string) harness.Result { return h.Stack.Berth(args...) }

// BerthOK runs the berth CLI and fails the test unless it succeeds.
func (h *Host) BerthOK(args ...string) string { return h.Stack.BerthOK(args...) }

// Exec runs a command inside the host's network namespace.
func (h *Host) Exec(args ...string) (string, error) {
	out, err := exec.Command("nsenter", append([]string{"--net=/run/netns/" + h.Netns, "--"}, args...)...).CombinedOutput()
	return string(out), err
}

// CutLink takes the host's underlay link down (a partition); RestoreLink
// brings it back.
func (h *Host) CutLink()     { h.c.nsExec(h.Netns, "ip", "link", "set", underlayIf, "down") }
func (h *Host) RestoreLink() { h.c.nsExec(h.Netns, "ip", "link", "set", underlayIf, "up") }

// Signal sends sig to the host's berthd.
func (h *Host) Signal(sig syscall.Signal) {
	h.c.t.Helper()
	pid := h.Stack.DaemonPID()
	if pid == 0 {
		h.c.t.Fatalf("%s: berthd is not running", h.Name)
	}
	if err := syscall.Kill(pid, sig); err != nil {
		h.c.t.Fatalf("%s: signal %v to berthd %d: %v", h.Name, sig, pid, err)
	}
}

// EtcdPID is the PID of the host's etcd member (0 when it runs none).
func (h *Host) EtcdPID() int { return h.Stack.EtcdPID() }

// Node is the part of `node ls --format json` the tests read.
type Node struct {
	ID, Hostname, Status, Availability, ManagerStatus, Addr string
}

// Nodes is `berth node ls` on host h, parsed; an error when the command
// fails (no quorum reachable from h, for one).
func (h *Host) Nodes() ([]Node, error) {
	r := h.Berth("node", "ls", "--format", "json")
	if r.ExitCode != 0 {
		return nil, fmt.Errorf("%s: node ls: %s", h.Name, r)
	}
	var nodes []Node
	for _, line := range strings.Split(strings.TrimSpace(r.Stdout), "\n") {
		if line == "" {
			continue
		}
		var n Node
		if err := json.Unmarshal([]byte(line), &n); err != nil {
			return nil, fmt.Errorf("%s: node ls: %q: %v", h.Name, line, err)
		}
		nodes = append(nodes, n)
	}
	return nodes, nil
}

// ServiceLeader is the host whose berthd logged last that it leads the
// services (nil if none did).
func (c *Cluster) ServiceLeader() *Host {
	var best *Host
	var bestAt time.Time
	for _, h := range c.Hosts {
		b, err := os.ReadFile(h.Stack.LogPath())
		if err != nil {
			continue
		}
		i := strings.LastIndex(string(b), "this node leads the services")
		if i < 0 {
			continue
		}
		line := string(b[strings.LastIndex(string(b[:i]), "\n")+1:])
		at := time.Time{}
		if f := strings.Fields(line); len(f) > 0 {
			if tm, err := time.Parse(time.RFC3339Nano, strings.TrimPrefix(f[0], "time=")); err == nil {
				at = tm
			}
		}
		if best == nil || at.After(bestAt) {
			best, bestAt = h, at
		}
	}
	return best
}

// WaitStatus waits until host from reports target's status as status
// ("Ready", "Down") and returns how long that took.
func (c *Cluster) WaitStatus(from, target *Host, status string, timeout time.Duration) time.Duration {
	c.t.Helper()
	start := time.Now()
	deadline := start.Add(timeout)
	var last string
	for {
		nodes, err := from.Nodes()
		if err == nil {
			last = fmt.Sprint(nodes)
			for _, n := range nodes {
				if (n.ID == target.NodeID || target.NodeID == "" && n.Hostname == target.Name) && n.Status == status {
					return time.Since(start)
				}
			}
		} else {
			last = err.Error()
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("%s did not report %s %s within %s; last: %s", from.Name, target.Name, status, timeout, last)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (c *Cluster) ip(args ...string) {
	c.t.Helper()
	if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
		c.t.Fatalf("ip %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

func (c *Cluster) nsExec(ns string, args ...string) {
	c.t.Helper()
	out, err := exec.Command("nsenter", append([]string{"--net=/run/netns/" + ns, "--"}, args...)...).CombinedOutput()
	if err != nil {
		c.t.Fatalf("in %s: %s: %v\n%s", ns, strings.Join(args, " "), err, out)
	}
}

// cleanupNetns deletes the namespaces (their veths, bridge and addresses
// go with them) and checks that nothing of the cluster is left: no
// namespace or link with the cluster's ID, no etcd process or data dir of
// its stacks.
func (c *Cluster) cleanupNetns() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, h := range c.all {
		if h.Stack == nil {
			continue
		}
		if pid := h.EtcdPID(); pid != 0 {
			c.t.Errorf("leak: %s's etcd member (pid %d) still runs after its berthd stopped", h.Name, pid)
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		if _, err := os.Stat(filepath.Join(h.Stack.Root(), "cluster", "etcd")); err == nil {
			c.t.Errorf("leak: %s's etcd data dir is left", h.Name)
		}
	}
	names := []string{c.underlay}
	for _, h := range c.all {
		names = append(names, h.Netns)
	}
	for _, ns := range names {
		_ = exec.CommandContext(ctx, "ip", "netns", "del", ns).Run()
	}
	out, _ := exec.CommandContext(ctx, "ip", "netns", "list").Output()
	for _, line := range strings.Split(string(out), "\n") {
		if strings.Contains(line, "bc"+c.id) {
			c.t.Errorf("leak: network namespace %s", strings.Fields(line)[0])
		}
	}
	links, _ := exec.CommandContext(ctx, "ip", "-o", "link", "show").Output()
	for _, line := range strings.Split(string(links), "\n") {
		if strings.Contains(line, "bc"+c.id) || strings.Contains(line, underlayIf+"@") {
			c.t.Errorf("leak: link in the host's namespace: %s", line)
		}
	}
}

// StartExternalEtcd runs a single-member etcd (berth-etcd, plain HTTP) in
// the underlay namespace at 10.241.0.254, for --cluster-store tests, and
// returns its client address. It is killed and its data removed when the
// test ends.
func (c *Cluster) StartExternalEtcd() string {
	c.t.Helper()
	const ip = underlayPrefix + "254"
	c.nsExec(c.underlay, "ip", "addr", "add", ip+"/"+strconv.Itoa(underlayBits), "dev", "br0")
	dir, err := os.MkdirTemp("/tmp", "bcetcd")
	if err != nil {
		c.t.Fatal(err)
	}
	logf, err := os.Create(filepath.Join(dir, "etcd.log"))
	if err != nil {
		c.t.Fatal(err)
	}
	defer logf.Close()
	build := os.Getenv(harness.EnvBuild)
	if build == "" {
		build = c.Hosts[0].Stack.Build()
	}
	cmd := exec.Command("nsenter", "--net=/run/netns/"+c.underlay, "--", filepath.Join(build, "berth-etcd"),
		"--name", "ext", "--data-dir", filepath.Join(dir, "data"),
		"--listen-client-urls", "http://"+ip+":2379", "--advertise-client-urls", "http://"+ip+":2379",
		"--listen-peer-urls", "http://"+ip+":2380", "--initial-advertise-peer-urls", "http://"+ip+":2380",
		"--initial-cluster", "ext=http://"+ip+":2380", "--log-level", "warn")
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		c.t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	c.t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
		if c.t.Failed() {
			b, _ := os.ReadFile(filepath.Join(dir, "etcd.log"))
			c.t.Logf("external etcd log:\n%s", b)
		}
		os.RemoveAll(dir)
	})
	deadline := time.Now().Add(harness.Timeout(30 * time.Second))
	for {
		if out, err := exec.Command("nsenter", "--net=/run/netns/"+c.underlay, "--", "curl", "-sf", "-m", "2", "http://"+ip+":2379/health").Output(); err == nil && strings.Contains(string(out), "true") {
			return ip + ":2379"
		}
		if time.Now().After(deadline) {
			c.t.Fatal("the external etcd did not become healthy")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Dial connects to addr from inside the host's namespace: on a thread
// that enters it and dies with it (its goroutine never unlocks it).
func (h *Host) Dial(ctx context.Context, network, addr string) (net.Conn, error) {
	type res struct {
		c   net.Conn
		err error
	}
	ch := make(chan res, 1)
	go func() {
		runtime.LockOSThread()
		fd, err := unix.Open("/run/netns/"+h.Netns, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			ch <- res{nil, err}
			return
		}
		defer unix.Close(fd)
		if err := unix.Setns(fd, unix.CLONE_NEWNET); err != nil {
			ch <- res{nil, err}
			return
		}
		c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
		ch <- res{c, err}
	}()
	r := <-ch
	return r.c, r.err
}
