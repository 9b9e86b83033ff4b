package cni

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	networktypes "github.com/berthproject/berth/pkg/types/network"
	"github.com/berthproject/berth/test/harness"
)

// testEnv is one private berth network stack: its own root/state dirs,
// default bridge name, address pool and firewall chain prefix, so tests can
// run next to each other and next to a real berthd.
type testEnv struct {
	t      testing.TB
	cfg    Config
	m      *Manager
	tag    string
	octet  int // 10.<octet>.0.0/16 is this test's address space
	procs  []*exec.Cmd
	closed bool
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func needRoot(t testing.TB) {
	t.Helper()
	if os.Getuid() != 0 {
		t.Skip("needs root")
	}
}

func newEnv(t testing.TB) *testEnv {
	t.Helper()
	needRoot(t)
	dir, err := os.MkdirTemp("/tmp", "bn")
	if err != nil {
		t.Fatal(err)
	}
	// A /16 claimed from the harness's pools, as every other test stack
	// on this machine claims its own: a random one collided with a stack
	// of another package running alongside (its bridge on 10.x.0.0/24
	// pushed this default network to 10.x.1.0/24, the subnet a test then
	// asked for).
	octet, release := harness.ClaimPool()
	t.Cleanup(release) // registered first: released after the clean-up below
	tag := randHex(2)
	e := &testEnv{t: t, tag: tag, octet: octet}
	e.cfg = Config{
		Root:           filepath.Join(dir, "root"),
		State:          filepath.Join(dir, "state"),
		DefaultBridge:  "bt" + tag,
		DefaultSubnet:  netip.MustParsePrefix(fmt.Sprintf("10.%d.0.0/24", octet)),
		AddressPools:   []AddressPool{{Base: netip.MustParsePrefix(fmt.Sprintf("10.%d.0.0/16", octet)), Size: 24}},
		FirewallPrefix: "BT" + strings.ToUpper(tag),
		HostResolvConf: filepath.Join(dir, "resolv.conf"),
	}
	// A host resolv.conf whose only resolver is on loopback, like
	// systemd-resolved's 127.0.0.53: nothing is ever sent to it unless a
	// test starts its own server there.
	if err := os.WriteFile(e.cfg.HostResolvConf, []byte("nameserver 127.0.0.1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	e.m = e.open()
	t.Cleanup(func() {
		for _, p := range e.procs {
			if p.Process != nil {
				_ = p.Process.Kill()
				_, _ = p.Process.Wait()
			}
		}
		var bridges, veths, spaces []string
		if !e.closed {
			nets, _ := e.m.List(context.Background())
			for _, n := range nets {
				a := n.Subnet.Addr().As4()
				spaces = append(spaces, fmt.Sprintf("%d.%d.%d.", a[0], a[1], a[2]))
				if n.Driver == networktypes.DriverBridge {
					bridges = append(bridges, n.Interface)
					veths = append(veths, linksOf(n.Interface)...)
				}
			}
			if err := e.m.Uninstall(context.Background()); err != nil {
				t.Errorf("uninstall: %v", err)
			}
		}
		e.checkClean(bridges, veths, spaces)
		os.RemoveAll(dir)
	})
	return e
}

func (e *testEnv) open() *Manager {
	e.t.Helper()
	m, err := New(context.Background(), e.cfg)
	if err != nil {
		e.t.Fatalf("New: %v", err)
	}
	return m
}

// subnet returns 10.<octet>.<i>.0/24.
func (e *testEnv) subnet(i int) netip.Prefix {
	return netip.MustParsePrefix(fmt.Sprintf("10.%d.%d.0/24", e.octet, i))
}

func linksOf(bridge string) []string {
	out, _ := exec.Command("ip", "-o", "link", "show", "master", bridge).Output()
	var names []string
	for _, l := range strings.Split(string(out), "\n") {
		f := strings.Fields(l)
		if len(f) > 1 {
			names = append(names, strings.Split(strings.TrimSuffix(f[1], ":"), "@")[0])
		}
	}
	return names
}

func linkExists(name string) bool {
	return exec.Command("ip", "link", "show", "dev", name).Run() == nil
}

// checkClean asserts that nothing of this test is left on the host.
// spaces are the /24 prefixes ("10.1.2.") of the test's networks.
func (e *testEnv) checkClean(bridges, veths, spaces []string) {
	t := e.t
	for _, l := range append(bridges, veths...) {
		if linkExists(l) {
			t.Errorf("link %s left behind", l)
		}
	}
	if names, _ := os.ReadDir(e.cfg.netnsDir()); len(names) > 0 {
		t.Errorf("netns left behind: %v", names)
	}
	if tbl := e.nftTable(); tbl != "" {
		t.Errorf("nftables table left behind:\n%s", tbl)
	}
	if tbl := e.nftTable6(); tbl != "" {
		t.Errorf("nftables ip6 table left behind:\n%s", tbl)
	}
	out, err := exec.Command("iptables-save").Output()
	if err != nil {
		t.Errorf("iptables-save: %v", err)
	}
	for _, l := range strings.Split(string(out), "\n") {
		bad := strings.Contains(l, e.cfg.FirewallPrefix)
		for _, s := range spaces {
			bad = bad || strings.Contains(l, " "+s) || strings.Contains(l, ":"+s) // -s/-d/--to-destination
		}
		if bad {
			t.Errorf("iptables rule left behind: %s", l)
		}
	}
}

func (e *testEnv) mustCreate(opts networktypes.CreateOptions) *networktypes.Network {
	e.t.Helper()
	n, err := e.m.Create(context.Background(), opts)
	if err != nil {
		e.t.Fatalf("create network %s: %v", opts.Name, err)
	}
	return n
}

func (e *testEnv) mustSetup(req SetupRequest) *Sandbox {
	e.t.Helper()
	sb, err := e.m.Setup(context.Background(), req)
	if err != nil {
		e.t.Fatalf("setup %s: %v", req.ContainerID, err)
	}
	return sb
}

// ctrFiles writes the sandbox's hosts and resolv.conf like the engine does
// and returns their paths.
func (e *testEnv) ctrFiles(sb *Sandbox) (hosts, resolv string) {
	e.t.Helper()
	dir := filepath.Join(e.cfg.Root, "containers", sb.ContainerID)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		e.t.Fatal(err)
	}
	h, err := e.m.HostsFile(sb)
	if err != nil {
		e.t.Fatal(err)
	}
	r, err := e.m.ResolvConf(sb)
	if err != nil {
		e.t.Fatal(err)
	}
	hosts, resolv = filepath.Join(dir, "hosts"), filepath.Join(dir, "resolv.conf")
	if err := os.WriteFile(hosts, h, 0o644); err != nil {
		e.t.Fatal(err)
	}
	if err := os.WriteFile(resolv, r, 0o644); err != nil {
		e.t.Fatal(err)
	}
	return hosts, resolv
}

// inCtr runs a busybox command as the "container" sb would: in its netns,
// with its hosts and resolv.conf bind-mounted in a private mount namespace.
// (busybox-static's wget crashes with -T, so commands are bounded by the
// caller's deadline instead: 20s, or 3s for inCtrFail.)
func (e *testEnv) inCtr(sb *Sandbox, args ...string) (string, error) {
	return e.inCtrWithin(sb, 20*time.Second, args...)
}

// inCtrFail runs a command expected to fail (unreachable peer): a shorter
// bound, since a dropped connection only ends by timing out.
func (e *testEnv) inCtrFail(sb *Sandbox, args ...string) (string, error) {
	return e.inCtrWithin(sb, 3*time.Second, args...)
}

func (e *testEnv) inCtrWithin(sb *Sandbox, d time.Duration, args ...string) (string, error) {
	hosts, resolv := e.ctrFiles(sb)
	script := fmt.Sprintf("mount --bind %s /etc/hosts && mount --bind %s /etc/resolv.conf && exec nsenter --net=%s /bin/busybox %s",
		hosts, resolv, sb.NetNSPath, strings.Join(args, " "))
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	out, err := exec.CommandContext(ctx, "unshare", "-m", "sh", "-c", script).CombinedOutput()
	return string(out), err
}

// startHTTPD serves a page saying text on port 8080 in the sandbox's netns.
func (e *testEnv) startHTTPD(sb *Sandbox, text string) {
	e.t.Helper()
	dir := e.t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "index.html"), []byte(text), 0o644); err != nil {
		e.t.Fatal(err)
	}
	cmd := exec.Command("nsenter", "--net="+sb.NetNSPath, "/bin/busybox", "httpd", "-f", "-p", "8080", "-h", dir)
	if err := cmd.Start(); err != nil {
		e.t.Fatal(err)
	}
	e.procs = append(e.procs, cmd)
	// Ready when it answers inside its own netns.
	e.eventually(func() error {
		out, err := exec.Command("nsenter", "--net="+sb.NetNSPath, "/bin/busybox", "wget", "-q", "-O", "-", "http://127.0.0.1:8080/").CombinedOutput()
		if err != nil || !bytes.Contains(out, []byte(text)) {
			return fmt.Errorf("httpd not ready: %v %s", err, out)
		}
		return nil
	})
}

// eventually polls f until it succeeds or 10s pass.
func (e *testEnv) eventually(f func() error) {
	e.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			e.t.Fatal(err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func ctrID() string { return randHex(32) }

// nftTable is `nft list table` of berth's table ("" if there is none).
func (e *testEnv) nftTable() string {
	out, err := exec.Command("nft", "list", "table", "ip", strings.ToLower(e.cfg.FirewallPrefix)).Output()
	if err != nil {
		return ""
	}
	return string(out)
}

// nftTable6 is `nft list table ip6` of berth's IPv6 table ("" if none).
func (e *testEnv) nftTable6() string {
	out, err := exec.Command("nft", "list", "table", "ip6", strings.ToLower(e.cfg.FirewallPrefix)).Output()
	if err != nil {
		return ""
	}
	return string(out)
}

// checkPortElems asserts that every published-port element of berth's
// table belongs to a sandbox the Manager knows.
func (e *testEnv) checkPortElems() {
	e.t.Helper()
	have, err := e.m.fw.portElems()
	if err != nil {
		e.t.Fatal(err)
	}
	e.m.mu.Lock()
	defer e.m.mu.Unlock()
	own := map[string]bool{}
	for _, sb := range e.m.sandboxes {
		for _, p := range sb.Ports {
			for _, k := range e.m.fw.elemKeys(p, sb.ip6().IsValid()) {
				own[k] = true
			}
		}
	}
	for k := range have {
		if !own[k] {
			e.t.Errorf("published-port element %q left in the nftables table:\n%s", k, e.nftTable())
		}
	}
}
