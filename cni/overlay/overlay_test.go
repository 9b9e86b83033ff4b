package overlay_test

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	vnetns "github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/berthproject/berth/cni/netns"
	"github.com/berthproject/berth/cni/overlay"
)

// host is a network-namespace "host" on a veth underlay.
type host struct {
	ns    string // netns path
	h     *netlink.Handle
	under netip.Addr
}

func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root (network namespaces, vxlan)")
	}
}

func newNS(t *testing.T, dir, name string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := netns.New(p); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = netns.Delete(p) })
	return p
}

func handleAt(t *testing.T, path string) *netlink.Handle {
	t.Helper()
	ns, err := vnetns.GetFromPath(path)
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Close()
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.Close)
	lo, err := h.LinkByName("lo")
	if err == nil {
		_ = h.LinkSetUp(lo)
	}
	return h
}

// twoHosts makes hosts a and b joined by a veth pair (the underlay,
// 10.241.<n>.1 and .2/24, MTU 1500).
func twoHosts(t *testing.T, dir string) (a, b *host) {
	t.Helper()
	a = &host{ns: newNS(t, dir, "ha"), under: netip.MustParseAddr("10.241.77.1")}
	b = &host{ns: newNS(t, dir, "hb"), under: netip.MustParseAddr("10.241.77.2")}
	a.h, b.h = handleAt(t, a.ns), handleAt(t, b.ns)
	bns, err := vnetns.GetFromPath(b.ns)
	if err != nil {
		t.Fatal(err)
	}
	defer bns.Close()
	attrs := netlink.NewLinkAttrs()
	attrs.Name, attrs.MTU = "under0", 1500
	if err := a.h.LinkAdd(&netlink.Veth{LinkAttrs: attrs, PeerName: "under0", PeerNamespace: netlink.NsFd(int(bns))}); err != nil {
		t.Fatal(err)
	}
	for _, x := range []*host{a, b} {
		l, err := x.h.LinkByName("under0")
		if err != nil {
			t.Fatal(err)
		}
		if err := x.h.AddrAdd(l, &netlink.Addr{IPNet: &net.IPNet{IP: x.under.AsSlice(), Mask: net.CIDRMask(24, 32)}}); err != nil {
			t.Fatal(err)
		}
		if err := x.h.LinkSetUp(l); err != nil {
			t.Fatal(err)
		}
	}
	return a, b
}

func buildPlugin(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	out, err := exec.Command("go", "build", "-o", dir, "github.com/berthproject/berth/cmd/berth-cni-overlay").CombinedOutput()
	if err != nil {
		t.Fatalf("build plugin: %v\n%s", err, out)
	}
	return filepath.Join(dir, overlay.PluginType)
}

// cni runs the plugin binary in host's namespace, as berthd (inside that
// host) would through libcni.
func cni(t *testing.T, plugin string, hst *host, cmd, ctrNS, ifName string, conf map[string]any) []byte {
	t.Helper()
	b, _ := json.Marshal(conf)
	c := exec.Command("nsenter", "--net="+hst.ns, plugin)
	c.Env = []string{"CNI_COMMAND=" + cmd, "CNI_CONTAINERID=" + filepath.Base(ctrNS), "CNI_NETNS=" + ctrNS,
		"CNI_IFNAME=" + ifName, "CNI_PATH=" + filepath.Dir(plugin)}
	c.Stdin = bytes.NewReader(b)
	var stderr bytes.Buffer
	c.Stderr = &stderr
	out, err := c.Output()
	if err != nil {
		t.Fatalf("plugin %s: %v\n%s%s", cmd, err, out, stderr.Bytes())
	}
	return out
}

func netConf(spec overlay.Spec, subnet string, ip string) map[string]any {
	return map[string]any{
		"cniVersion": "1.0.0", "name": "ov", "type": overlay.PluginType,
		"vni": spec.VNI, "bridge": spec.Bridge, "vxlan": spec.VXLAN, "local": spec.Local.String(),
		"gateway": spec.Gateway.String(), "subnet": subnet,
		"runtimeConfig": map[string]any{"ips": []string{ip}},
	}
}

// inNS runs fn on a thread in the namespace at path (the thread dies
// afterwards). Sockets fn opens stay in that namespace.
func inNS(path string, fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread ends with the goroutine
		ns, err := vnetns.GetFromPath(path)
		if err != nil {
			errc <- err
			return
		}
		defer ns.Close()
		if err := vnetns.Set(ns); err != nil {
			errc <- err
			return
		}
		errc <- fn()
	}()
	return <-errc
}

// tcpTransfer sends 1 MiB from the namespace from to ip:port served in the
// namespace to, and checks it arrived whole.
func tcpTransfer(t *testing.T, from, to string, ip netip.Addr) {
	t.Helper()
	var ln net.Listener
	if err := inNS(to, func() (err error) { ln, err = net.Listen("tcp4", net.JoinHostPort(ip.String(), "0")); return err }); err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	got := make(chan []byte, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			got <- nil
			return
		}
		defer c.Close()
		b, _ := io.ReadAll(c)
		got <- b
	}()
	payload := make([]byte, 1<<20)
	_, _ = rand.Read(payload)
	var conn net.Conn
	if err := inNS(from, func() (err error) {
		conn, err = net.DialTimeout("tcp4", ln.Addr().String(), 30*time.Second)
		return err
	}); err != nil {
		t.Fatalf("tcp to %s: %v", ln.Addr(), err)
	}
	_ = conn.SetDeadline(time.Now().Add(60 * time.Second))
	if _, err := conn.Write(payload); err != nil {
		t.Fatal(err)
	}
	conn.Close()
	select {
	case b := <-got:
		if !bytes.Equal(b, payload) {
			t.Fatalf("tcp to %s: got %d bytes, want the 1 MiB sent", ln.Addr(), len(b))
		}
	case <-time.After(60 * time.Second):
		t.Fatalf("tcp to %s: nothing arrived", ln.Addr())
	}
}

// udpDF sends a datagram of size bytes with don't-fragment from the
// namespace from to ip in to; it returns the send error, or whether it
// arrived whole.
func udpDF(t *testing.T, from, to string, ip netip.Addr, size int) (arrived bool, sendErr error) {
	t.Helper()
	var rc *net.UDPConn
	if err := inNS(to, func() (err error) {
		rc, err = net.ListenUDP("udp4", &net.UDPAddr{IP: ip.AsSlice()})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	var sc *net.UDPConn
	if err := inNS(from, func() (err error) { sc, err = net.DialUDP("udp4", nil, rc.LocalAddr().(*net.UDPAddr)); return err }); err != nil {
		t.Fatal(err)
	}
	defer sc.Close()
	raw, _ := sc.SyscallConn()
	_ = raw.Control(func(fd uintptr) {
		_ = unix.SetsockoptInt(int(fd), unix.IPPROTO_IP, unix.IP_MTU_DISCOVER, unix.IP_PMTUDISC_DO)
	})
	buf := make([]byte, size)
	for i := 0; i < 5; i++ { // a datagram may be lost: a few tries
		if _, err := sc.Write(buf); err != nil {
			return false, err
		}
		_ = rc.SetReadDeadline(time.Now().Add(3 * time.Second))
		in := make([]byte, 65536)
		n, err := rc.Read(in)
		if err == nil {
			return n == size, nil
		}
	}
	return false, nil
}

func ping(ns string, ip netip.Addr) error {
	out, err := exec.Command("nsenter", "--net="+ns, "busybox", "ping", "-c", "3", "-W", "10", ip.String()).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ping %s: %v\n%s", ip, err, out)
	}
	return nil
}

// TestPluginTwoHosts: the plugin builds the overlay on two hosts joined
// by a veth underlay; with the FDB and neighbour entries a control plane
// writes, the containers reach each other (ping, TCP both ways), the MTU
// is the underlay's minus 50 and a full-size datagram with don't-fragment
// passes; DEL and Destroy leave nothing.
func TestPluginTwoHosts(t *testing.T) {
	needRoot(t)
	if _, err := exec.LookPath("nsenter"); err != nil {
		t.Skip("needs nsenter (util-linux)")
	}
	plugin := buildPlugin(t)
	dir := t.TempDir()
	a, b := twoHosts(t, dir)
	ca, cb := newNS(t, dir, "ca"), newNS(t, dir, "cb")
	ipA, ipB := netip.MustParseAddr("10.99.0.2"), netip.MustParseAddr("10.99.0.3")
	spec := overlay.Spec{VNI: 4242, Bridge: "ov-test", VXLAN: "vx-test", Gateway: netip.MustParsePrefix("10.99.0.1/24")}
	sa, sb := spec, spec
	sa.Local, sb.Local = a.under, b.under

	out := cni(t, plugin, a, "ADD", ca, "eth0", netConf(sa, "10.99.0.0/24", ipA.String()+"/24"))
	if !strings.Contains(string(out), `"10.99.0.2/24"`) {
		t.Fatalf("ADD result does not name the address: %s", out)
	}
	cni(t, plugin, b, "ADD", cb, "eth0", netConf(sb, "10.99.0.0/24", ipB.String()+"/24"))

	// The device: VNI, nolearning, proxy, port, MTU, enslaved.
	vx, err := a.h.LinkByName("vx-test")
	if err != nil {
		t.Fatal(err)
	}
	v := vx.(*netlink.Vxlan)
	if v.VxlanId != 4242 || v.Learning || !v.Proxy || v.Port != overlay.Port || v.MTU != 1450 {
		t.Fatalf("vxlan device: vni %d learning %v proxy %v port %d mtu %d", v.VxlanId, v.Learning, v.Proxy, v.Port, v.MTU)
	}
	br, _ := a.h.LinkByName("ov-test")
	if v.MasterIndex != br.Attrs().Index {
		t.Fatal("vxlan device is not on the bridge")
	}
	ch := handleAt(t, ca)
	eth0, err := ch.LinkByName("eth0")
	if err != nil {
		t.Fatal(err)
	}
	if eth0.Attrs().MTU != 1450 || eth0.Attrs().HardwareAddr.String() != overlay.MACFor(ipA).String() {
		t.Fatalf("container eth0: mtu %d mac %s", eth0.Attrs().MTU, eth0.Attrs().HardwareAddr)
	}

	// Without forwarding entries the containers cannot reach each other.
	if err := exec.Command("nsenter", "--net="+ca, "busybox", "ping", "-c", "1", "-W", "1", ipB.String()).Run(); err == nil {
		t.Fatal("ping crossed the overlay before any forwarding entry was written")
	}

	// The control plane's part, by hand.
	for _, x := range []struct {
		h    *host
		peer netip.Addr
		ip   netip.Addr
	}{{a, b.under, ipB}, {b, a.under, ipA}} {
		if err := overlay.AddPeer(x.h.h, "vx-test", x.peer); err != nil {
			t.Fatal(err)
		}
		if err := overlay.AddRemote(x.h.h, "vx-test", overlay.Remote{MAC: overlay.MACFor(x.ip), IP: x.ip, Node: x.peer}); err != nil {
			t.Fatal(err)
		}
	}
	fdb, neigh, err := overlay.Entries(a.h, "vx-test")
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(fdb["00:00:00:00:00:00"]) != "[10.241.77.2]" || fmt.Sprint(fdb[overlay.MACFor(ipB).String()]) != "[10.241.77.2]" ||
		neigh[ipB] != overlay.MACFor(ipB).String() {
		t.Fatalf("entries on host a: fdb %v neigh %v", fdb, neigh)
	}

	if err := ping(ca, ipB); err != nil {
		t.Fatal(err)
	}
	if err := ping(cb, ipA); err != nil {
		t.Fatal(err)
	}
	tcpTransfer(t, ca, cb, ipB)
	tcpTransfer(t, cb, ca, ipA)

	// MTU: 1450 - 20 (IP) - 8 (UDP) = 1422 bytes fit with DF; one more
	// does not leave the container.
	if ok, err := udpDF(t, ca, cb, ipB, 1422); err != nil || !ok {
		t.Fatalf("full-size datagram with don't-fragment: arrived %v, %v", ok, err)
	}
	if _, err := udpDF(t, ca, cb, ipB, 1423); !errors.Is(err, unix.EMSGSIZE) {
		t.Fatalf("datagram one byte over the MTU with don't-fragment: %v, want EMSGSIZE", err)
	}

	// Entries go, the containers lose each other.
	if err := overlay.DelRemote(a.h, "vx-test", overlay.Remote{MAC: overlay.MACFor(ipB), IP: ipB, Node: b.under}); err != nil {
		t.Fatal(err)
	}
	if err := overlay.DelPeer(a.h, "vx-test", b.under); err != nil {
		t.Fatal(err)
	}
	if fdb, neigh, _ := overlay.Entries(a.h, "vx-test"); len(fdb) != 0 || len(neigh) != 0 {
		t.Fatalf("entries left on host a: %v %v", fdb, neigh)
	}

	// DEL twice (idempotent), then Destroy.
	conf := netConf(sa, "10.99.0.0/24", ipA.String()+"/24")
	cni(t, plugin, a, "DEL", ca, "eth0", conf)
	cni(t, plugin, a, "DEL", ca, "eth0", conf)
	if _, err := ch.LinkByName("eth0"); err == nil {
		t.Fatal("eth0 still in the container after DEL")
	}
	if links, _ := a.h.LinkList(); len(links) != 4 { // lo, under0, bridge, vxlan
		t.Fatalf("host a has %d links after DEL, want 4", len(links))
	}
	if err := overlay.Destroy(a.h, sa); err != nil {
		t.Fatal(err)
	}
	if _, err := a.h.LinkByName("vx-test"); err == nil {
		t.Fatal("vxlan device left after Destroy")
	}
	if _, err := a.h.LinkByName("ov-test"); err == nil {
		t.Fatal("bridge left after Destroy")
	}
}

// TestEnsureIdempotent: Ensure twice is the same devices; a name taken by
// something else is a clear error.
func TestEnsureIdempotent(t *testing.T) {
	needRoot(t)
	dir := t.TempDir()
	a, _ := twoHosts(t, dir)
	s := overlay.Spec{VNI: 7, Bridge: "ov-i", VXLAN: "vx-i", Local: a.under, Gateway: netip.MustParsePrefix("10.98.0.1/24")}
	for i := 0; i < 2; i++ {
		if mtu, err := overlay.Ensure(a.h, s); err != nil || mtu != 1450 {
			t.Fatalf("Ensure #%d: mtu %d, %v", i+1, mtu, err)
		}
	}
	other := s
	other.VNI = 8
	if _, err := overlay.Ensure(a.h, other); err == nil || !strings.Contains(err.Error(), "vni 8") {
		t.Fatalf("Ensure with another VNI on the same device: %v", err)
	}
	bad := s
	bad.Bridge = "under0"
	if _, err := overlay.Ensure(a.h, bad); err == nil || !strings.Contains(err.Error(), "not a bridge") {
		t.Fatalf("Ensure on a non-bridge: %v", err)
	}
	if _, err := overlay.Ensure(a.h, overlay.Spec{VNI: 9, Bridge: "ov-x", VXLAN: "vx-x", Local: netip.MustParseAddr("10.1.2.3")}); err == nil ||
		!strings.Contains(err.Error(), "underlay address 10.1.2.3") {
		t.Fatalf("Ensure with a foreign underlay address: %v", err)
	}
	if _, err := a.h.LinkByName("ov-x"); err == nil {
		t.Fatal("a failed Ensure left a bridge")
	}
}
