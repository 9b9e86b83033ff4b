package cluster

import (
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/berthproject/berth/test/harness"
)

// EnvFull runs the full fault scenarios (`make test-cluster`); make test
// runs the short ones.
const EnvFull = "BERTH_TEST_CLUSTER_FULL"

func full(t *testing.T) {
	if os.Getenv(EnvFull) != "1" {
		t.Skipf("full cluster scenario: run `make test-cluster` (or set %s=1)", EnvFull)
	}
}

// downBound is the generous wait for a node to be reported down: the
// configured bound is 5 s; the measured time is logged, never asserted
// (the machine is shared and noisy: docs/cluster.md has the figures).
var downBound = harness.Timeout(60 * time.Second)

// checkNodes fails unless host h lists exactly the cluster's hosts, each
// once, with the given status for those in want (others Ready).
func checkNodes(t *testing.T, c *Cluster, h *Host, want map[*Host]string) {
	t.Helper()
	nodes, err := h.Nodes()
	if err != nil {
		t.Fatal(err)
	}
	if len(nodes) != len(c.Hosts) {
		t.Fatalf("%s lists %d nodes, want %d: %+v", h.Name, len(nodes), len(c.Hosts), nodes)
	}
	seen := map[string]bool{}
	for _, n := range nodes {
		if seen[n.ID] {
			t.Fatalf("node %s listed twice: %+v", n.ID, nodes)
		}
		seen[n.ID] = true
	}
	for _, x := range c.Hosts {
		status := "Ready"
		if s, ok := want[x]; ok {
			status = s
		}
		found := false
		for _, n := range nodes {
			if n.ID == x.NodeID {
				found = true
				if n.Status != status || n.Hostname != x.Name || n.Addr != x.IP {
					t.Errorf("%s sees %s as %+v, want status %s", h.Name, x.Name, n, status)
				}
			}
		}
		if !found {
			t.Errorf("%s does not list %s (%s): %+v", h.Name, x.Name, x.NodeID, nodes)
		}
	}
}

// The short scenario (make test): three nodes form a cluster with three
// etcd members over mutual TLS; a node whose berthd is killed with SIGKILL
// is reported down, and ready again once berthd is back, listed once.
func TestClusterFormAndKill(t *testing.T) {
	c := New(t, 3)
	c.Form()
	h1, h2, h3 := c.Hosts[0], c.Hosts[1], c.Hosts[2]
	for _, h := range c.Hosts {
		checkNodes(t, c, h, nil)
	}
	nodes, _ := h1.Nodes()
	roles := map[string]int{}
	for _, n := range nodes {
		roles[n.ManagerStatus]++
	}
	if roles["Leader"] != 1 || roles["Member"] != 2 {
		t.Errorf("store roles %v, want one Leader and two Members", roles)
	}
	info := h3.BerthOK("cluster", "info")
	for _, want := range []string{"Cluster: active", "Nodes: 3 (3 ready)", "3 members"} {
		if !strings.Contains(info, want) {
			t.Errorf("cluster info lacks %q:\n%s", want, info)
		}
	}
	// No plaintext: the store and the join endpoint refuse a client
	// without the cluster's certificate.
	if out, err := h2.Exec("curl", "-sS", "-m", "5", "http://"+h1.IP+":2379/version"); err == nil {
		t.Errorf("etcd answered plain HTTP: %s", out)
	}
	if out, err := h2.Exec("curl", "-sSk", "-m", "5", "https://"+h1.IP+":2379/version"); err == nil && strings.Contains(out, "etcdserver") {
		t.Errorf("etcd answered a client without certificate: %s", out)
	}

	h3.Stack.KillDaemon()
	took := c.WaitStatus(h1, h3, "Down", downBound)
	t.Logf("berthd killed: reported down after %s", took)
	checkNodes(t, c, h2, map[*Host]string{h3: "Down"})
	if h3.EtcdPID() == 0 {
		t.Error("h3's etcd member died with its berthd")
	}
	h3.Stack.StartDaemon()
	took = c.WaitStatus(h1, h3, "Ready", downBound)
	t.Logf("berthd back: ready after %s", took)
	checkNodes(t, c, h1, nil)
}

// SIGSTOP of a node's berthd: down, then ready after SIGCONT; a clean
// restart of a member node.
func TestClusterPause(t *testing.T) {
	full(t)
	c := New(t, 3)
	c.Form()
	h1, h2 := c.Hosts[0], c.Hosts[1]
	h2.Signal(syscall.SIGSTOP)
	took := c.WaitStatus(h1, h2, "Down", downBound)
	t.Logf("berthd stopped: reported down after %s", took)
	h2.Signal(syscall.SIGCONT)
	c.WaitStatus(h1, h2, "Ready", downBound)
	for _, h := range c.Hosts {
		checkNodes(t, c, h, nil)
	}
	// A clean restart of the first node (it stops and starts its member on
	// the same data): back in the same cluster, as the same node.
	h1.Stack.Restart()
	c.WaitStatus(h2, h1, "Ready", downBound)
	c.WaitStatus(h1, h1, "Ready", downBound)
	for _, h := range c.Hosts {
		checkNodes(t, c, h, nil)
	}
}

// A partition: the underlay link of h3 is cut; h1 and h2 keep a quorum and
// report h3 down; back on the underlay, h3 is ready again, listed once.
func TestClusterPartition(t *testing.T) {
	full(t)
	c := New(t, 3)
	c.Form()
	h1, h2, h3 := c.Hosts[0], c.Hosts[1], c.Hosts[2]
	h3.CutLink()
	took := c.WaitStatus(h1, h3, "Down", downBound)
	t.Logf("link cut: reported down after %s", took)
	h2.BerthOK("node", "update", "--availability", "drain", h1.Name)
	if r := h3.Berth("node", "ls"); r.ExitCode == 0 && strings.Count(r.Stdout, "Ready") == 3 {
		t.Errorf("the partitioned node still sees everyone ready:\n%s", r.Stdout)
	}
	h3.RestoreLink()
	c.WaitStatus(h1, h3, "Ready", downBound)
	c.WaitStatus(h3, h3, "Ready", downBound)
	for _, h := range c.Hosts {
		checkNodes(t, c, h, nil)
	}
	if got := strings.TrimSpace(h3.BerthOK("node", "inspect", "-f", "{{.Availability}}", h1.Name)); got != "drain" {
		t.Errorf("h3 back from the partition sees h1's availability %q, want drain", got)
	}
}

// An etcd member that dies for good (its berthd killed first, so nothing
// restarts it): the other nodes keep reading and writing and stay ready;
// once its berthd is back it starts the member again on its data, and
// nothing is listed twice. Then a member that hangs (SIGSTOP): the others
// keep working, and every node is ready again.
func TestClusterEtcdMemberFault(t *testing.T) {
	full(t)
	c := New(t, 3)
	c.Form()
	h1, h2, h3 := c.Hosts[0], c.Hosts[1], c.Hosts[2]
	pid := h1.EtcdPID()
	if pid == 0 {
		t.Fatal("h1 runs no etcd member")
	}
	h1.Stack.KillDaemon()
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	c.WaitStatus(h2, h1, "Down", downBound)
	h2.BerthOK("node", "update", "--label-add", "zone=b", h2.Name)
	if got := strings.TrimSpace(h3.BerthOK("node", "inspect", "-f", `{{index .Labels "zone"}}`, h2.Name)); got != "b" {
		t.Errorf("label written with h1's member dead: h3 reads %q", got)
	}
	checkNodes(t, c, h3, map[*Host]string{h1: "Down"})
	h1.Stack.StartDaemon()
	c.WaitStatus(h2, h1, "Ready", downBound)
	if h1.EtcdPID() == 0 {
		t.Error("h1's berthd did not start its etcd member again")
	}
	nodes, _ := h3.Nodes()
	members := 0
	for _, n := range nodes {
		if n.ManagerStatus == "Leader" || n.ManagerStatus == "Member" {
			members++
		}
	}
	if members != 3 {
		t.Errorf("%d etcd members after h1 came back, want 3: %+v", members, nodes)
	}

	pid = h1.EtcdPID()
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	// A write may land on the hung member's connection and time out; the
	// next one is balanced onto another member.
	deadline := time.Now().Add(harness.Timeout(60 * time.Second))
	for {
		r := h2.Berth("node", "update", "--label-add", "zone=c", h2.Name)
		if r.ExitCode == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no write succeeded with h1's member hung: %s", r)
		}
	}
	_ = syscall.Kill(pid, syscall.SIGCONT)
	for _, h := range c.Hosts {
		c.WaitStatus(h3, h, "Ready", downBound)
	}
	checkNodes(t, c, h1, nil)
}

// Leave, token rotation, rejoin, node rm and bad input.
func TestClusterMembership(t *testing.T) {
	full(t)
	c := New(t, 3)
	c.Form()
	h1, h2, h3 := c.Hosts[0], c.Hosts[1], c.Hosts[2]
	old := strings.TrimSpace(h1.BerthOK("cluster", "join-token", "-q"))

	if r := h1.Berth("cluster", "init", "--advertise-addr", h1.IP); r.ExitCode == 0 || !strings.Contains(r.Stderr, "already in cluster") {
		t.Errorf("init twice: %s", r)
	}
	h3.BerthOK("cluster", "leave")
	if _, err := os.Stat(filepath.Join(h3.Stack.Root(), "cluster")); err == nil {
		t.Error("h3 kept its cluster dir (etcd data, certificates) after leave")
	}
	if r := h3.Berth("node", "ls"); r.ExitCode == 0 || !strings.Contains(r.Stderr, "not in a cluster") {
		t.Errorf("node ls after leave: %s", r)
	}
	if n, _ := h1.Nodes(); len(n) != 2 {
		t.Errorf("after h3 left, h1 lists %d nodes", len(n))
	}
	rot := strings.TrimSpace(h2.BerthOK("cluster", "join-token", "--rotate", "-q"))
	if rot == old {
		t.Fatal("rotation kept the token")
	}
	r := h3.Berth("cluster", "join", "--token", old, "--advertise-addr", h3.IP, h1.IP)
	if r.ExitCode == 0 || !strings.Contains(r.Stderr, "invalid join token") {
		t.Errorf("join with a rotated token: %s", r)
	}
	if _, err := os.Stat(filepath.Join(h3.Stack.Root(), "cluster")); err == nil {
		t.Error("a refused join left a cluster dir behind")
	}
	bad := strings.Replace(rot, rot[7:15], "00000000", 1)
	if r := h3.Berth("cluster", "join", "--token", bad, "--advertise-addr", h3.IP, h1.IP); r.ExitCode == 0 || !strings.Contains(r.Stderr, "not the token's") {
		t.Errorf("join with a token of another CA: %s", r)
	}
	if r := h3.Berth("cluster", "join", "--token", "nonsense", h1.IP); r.ExitCode == 0 || !strings.Contains(r.Stderr, "invalid join token") {
		t.Errorf("join with a malformed token: %s", r)
	}
	h3.BerthOK("cluster", "join", "--token", rot, "--advertise-addr", h3.IP, "--node-name", h3.Name, h1.IP)
	h3.NodeID = strings.TrimSpace(h3.BerthOK("cluster", "info", "--format", "{{.NodeID}}"))
	c.WaitStatus(h1, h3, "Ready", downBound)
	for _, h := range c.Hosts {
		checkNodes(t, c, h, nil)
	}

	if r := h1.Berth("node", "update", "--availability", "sleep", h2.Name); r.ExitCode == 0 || !strings.Contains(r.Stderr, "active, pause or drain") {
		t.Errorf("bad availability: %s", r)
	}
	if r := h1.Berth("node", "rm", h2.Name); r.ExitCode == 0 || !strings.Contains(r.Stderr, "is ready") {
		t.Errorf("rm of a ready node: %s", r)
	}
	// A node that is gone for good: stopped, then removed from the others.
	h2.Stack.KillDaemon()
	c.WaitStatus(h1, h2, "Down", downBound)
	if pid := h2.EtcdPID(); pid != 0 {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	h1.BerthOK("node", "rm", h2.Name)
	if n, _ := h1.Nodes(); len(n) != 2 {
		t.Errorf("after node rm, h1 lists %d nodes", len(n))
	}
	h3.BerthOK("node", "update", "--label-add", "after=rm", h3.Name) // the store keeps a quorum of two
	// h2's berthd, started again, finds itself removed: it stays out.
	h2.Stack.StartDaemon()
	h2.BerthOK("cluster", "leave", "--force")
	c.Hosts = []*Host{h1, h3}
	checkNodes(t, c, h1, nil)
}

// An external etcd (--cluster-store): no node runs a member, every node is
// a store client, and liveness works the same.
func TestClusterExternalStore(t *testing.T) {
	full(t)
	c := New(t, 2)
	h1, h2 := c.Hosts[0], c.Hosts[1]
	ep := c.StartExternalEtcd()
	h1.BerthOK("cluster", "init", "--advertise-addr", h1.IP, "--node-name", h1.Name, "--cluster-store", "etcd://"+ep)
	tok := strings.TrimSpace(h1.BerthOK("cluster", "join-token", "-q"))
	h2.BerthOK("cluster", "join", "--token", tok, "--advertise-addr", h2.IP, "--node-name", h2.Name, h1.IP)
	for _, h := range c.Hosts {
		h.NodeID = strings.TrimSpace(h.BerthOK("cluster", "info", "--format", "{{.NodeID}}"))
		if pid := h.EtcdPID(); pid != 0 {
			t.Errorf("%s runs an etcd member (pid %d) with an external store", h.Name, pid)
		}
	}
	c.WaitStatus(h1, h2, "Ready", downBound)
	checkNodes(t, c, h2, nil)
	if info := h2.BerthOK("cluster", "info"); !strings.Contains(info, "external etcd") {
		t.Errorf("cluster info:\n%s", info)
	}
	if r := h2.Berth("cluster", "init", "--advertise-addr", h2.IP, "--cluster-store", "etcd://"+ep); r.ExitCode == 0 || !strings.Contains(r.Stderr, "already in cluster") {
		t.Errorf("init on a member: %s", r)
	}
	h2.Stack.KillDaemon()
	c.WaitStatus(h1, h2, "Down", downBound)
	h2.Stack.StartDaemon()
	c.WaitStatus(h1, h2, "Ready", downBound)
	h2.BerthOK("cluster", "leave")
	h1.BerthOK("cluster", "leave")
}

// When an etcd member leaves, a store client becomes a member, so that
// the store keeps three (and survives one of them failing again).
func TestClusterPromotion(t *testing.T) {
	full(t)
	c := New(t, 4)
	c.Form()
	h1, h2, h3, h4 := c.Hosts[0], c.Hosts[1], c.Hosts[2], c.Hosts[3]
	if h4.EtcdPID() != 0 {
		t.Fatal("the fourth node runs an etcd member")
	}
	h2.BerthOK("cluster", "leave")
	c.Hosts = []*Host{h1, h3, h4}
	deadline := time.Now().Add(harness.Timeout(90 * time.Second))
	for {
		out := strings.TrimSpace(h4.BerthOK("cluster", "info", "--format", "{{.EtcdMember}} {{.Members}}"))
		if out == "true 3" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("h4 not promoted after h2 left: cluster info says %q", out)
		}
		time.Sleep(500 * time.Millisecond)
	}
	if h4.EtcdPID() == 0 {
		t.Error("h4 is a member but runs no etcd")
	}
	nodes, err := h1.Nodes()
	if err != nil {
		t.Fatal(err)
	}
	roles := map[string]int{}
	for _, n := range nodes {
		roles[n.ManagerStatus]++
	}
	if roles["Leader"] != 1 || roles["Member"] != 2 || len(nodes) != 3 {
		t.Errorf("store roles after the promotion %v (%d nodes), want one Leader and two Members", roles, len(nodes))
	}
	// h4 votes: with h3's berthd and member stopped, h1 and h4 keep the
	// quorum and the store takes writes.
	h3.Stack.KillDaemon()
	if pid := h3.EtcdPID(); pid != 0 {
		_ = syscall.Kill(pid, syscall.SIGSTOP)
		defer syscall.Kill(pid, syscall.SIGCONT)
	}
	h1.BerthOK("node", "update", "--label-add", "quorum=h1h4", h4.Name)
	if out := strings.TrimSpace(h1.BerthOK("node", "inspect", "--format", "{{index .Labels \"quorum\"}}", h4.Name)); out != "h1h4" {
		t.Errorf("label written with h3 down: %q", out)
	}
	if pid := h3.EtcdPID(); pid != 0 {
		_ = syscall.Kill(pid, syscall.SIGCONT)
	}
	h3.Stack.StartDaemon()
	c.WaitStatus(h1, h3, "Ready", downBound)
	// h4, restarted, runs its member again from its state.
	h4.Stack.Restart()
	c.WaitStatus(h1, h4, "Ready", downBound)
	if h4.EtcdPID() == 0 {
		t.Error("h4's member did not come back with berthd")
	}
}

// nodeCertExpiry is when host h's node certificate expires.
func nodeCertExpiry(t *testing.T, h *Host) time.Time {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(h.Stack.Root(), "cluster", "tls", "node.pem"))
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		t.Fatalf("%s: node.pem holds no PEM", h.Name)
	}
	c, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c.NotAfter
}

// Node certificates are renewed before they expire, without a restart:
// with a 15 s validity, the nodes keep working past several expiries, and
// a berthd restarted after its first certificate expired reconnects (the
// etcd members present their renewed certificates too).
func TestClusterCertRenewal(t *testing.T) {
	full(t)
	c := New(t, 2, harness.WithDaemonEnv("BERTH_CLUSTER_CERT_VALIDITY=15s"))
	c.Form()
	h1, h2 := c.Hosts[0], c.Hosts[1]
	first := map[*Host]time.Time{h1: nodeCertExpiry(t, h1), h2: nodeCertExpiry(t, h2)}
	// Past the first certificates' expiry.
	time.Sleep(time.Until(first[h2]) + 5*time.Second)
	for _, h := range c.Hosts {
		if got := nodeCertExpiry(t, h); !got.After(first[h]) {
			t.Errorf("%s: certificate not renewed (expires %s, first %s)", h.Name, got, first[h])
		}
		checkNodes(t, c, h, nil)
	}
	h2.Stack.Restart()
	c.WaitStatus(h1, h2, "Ready", downBound)
	checkNodes(t, c, h2, nil)
	h2.BerthOK("node", "update", "--label-add", "renewed=yes", h2.Name)
}
