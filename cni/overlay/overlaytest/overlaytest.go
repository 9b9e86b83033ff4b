// Package overlaytest has the helpers of the overlay's tests: network
// namespace "hosts" on a veth underlay, berth's overlay plugin built and
// run in them, and checks of what crosses (ping, TCP, UDP with
// don't-fragment). Every packet stays in namespaces the test made.
package overlaytest

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	vnetns "github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/berthproject/berth/cni/netns"
	"github.com/berthproject/berth/cni/overlay"
)

// host is a network-namespace "host" on a veth underlay.
type Host struct {
	NS    string // netns path
	H     *netlink.Handle
	Under netip.Addr
}

func NeedRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root (network namespaces, vxlan)")
	}
}

func NewNS(t testing.TB, dir, name string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := netns.New(p); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = netns.Delete(p) })
	return p
}

func HandleAt(t testing.TB, path string) *netlink.Handle {
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

// TwoHosts makes hosts a and b on an underlay (Hosts).
func TwoHosts(t testing.TB, dir string) (a, b *Host) {
	hs := Hosts(t, dir, 2)
	return hs[0], hs[1]
}

// Hosts makes n hosts joined by an underlay: a bridge in a namespace of
// its own ("switch"), one veth pair per host whose host end is under0
// with 10.241.77.<i+1>/24, MTU 1500.
func Hosts(t testing.TB, dir string, n int) []*Host {
	t.Helper()
	sw := NewNS(t, dir, "switch")
	swh := HandleAt(t, sw)
	battrs := netlink.NewLinkAttrs()
	battrs.Name = "sw0"
	br := &netlink.Bridge{LinkAttrs: battrs}
	if err := swh.LinkAdd(br); err != nil {
		t.Fatal(err)
	}
	if err := swh.LinkSetUp(br); err != nil {
		t.Fatal(err)
	}
	var hs []*Host
	for i := 0; i < n; i++ {
		x := &Host{NS: NewNS(t, dir, fmt.Sprintf("h%d", i+1)), Under: netip.AddrFrom4([4]byte{10, 241, 77, byte(i + 1)})}
		x.H = HandleAt(t, x.NS)
		hns, err := vnetns.GetFromPath(x.NS)
		if err != nil {
			t.Fatal(err)
		}
		attrs := netlink.NewLinkAttrs()
		attrs.Name, attrs.MTU, attrs.MasterIndex = fmt.Sprintf("p%d", i+1), 1500, br.Attrs().Index
		err = swh.LinkAdd(&netlink.Veth{LinkAttrs: attrs, PeerName: "under0", PeerNamespace: netlink.NsFd(int(hns))})
		hns.Close()
		if err != nil {
			t.Fatal(err)
		}
		if l, err := swh.LinkByName(attrs.Name); err == nil {
			_ = swh.LinkSetUp(l)
		}
		l, err := x.H.LinkByName("under0")
		if err != nil {
			t.Fatal(err)
		}
		if err := x.H.AddrAdd(l, &netlink.Addr{IPNet: &net.IPNet{IP: x.Under.AsSlice(), Mask: net.CIDRMask(24, 32)}}); err != nil {
			t.Fatal(err)
		}
		if err := x.H.LinkSetUp(l); err != nil {
			t.Fatal(err)
		}
		hs = append(hs, x)
	}
	return hs
}

// BuildPlugin builds berth-cni-overlay into a temporary dir.
func BuildPlugin(t testing.TB) string {
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
func CNI(t testing.TB, plugin string, hst *Host, cmd, ctrNS, ifName string, conf map[string]any) []byte {
	t.Helper()
	b, _ := json.Marshal(conf)
	c := exec.Command("nsenter", "--net="+hst.NS, plugin)
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

func NetConf(spec overlay.Spec, subnet string, ip string) map[string]any {
	return map[string]any{
		"cniVersion": "1.0.0", "name": "ov", "type": overlay.PluginType,
		"vni": spec.VNI, "bridge": spec.Bridge, "vxlan": spec.VXLAN, "local": spec.Local.String(),
		"gateway": spec.Gateway.String(), "subnet": subnet,
		"runtimeConfig": map[string]any{"ips": []string{ip}},
	}
}

// inNS runs fn on a thread in the namespace at path (the thread dies
// afterwards). Sockets fn opens stay in that namespace.
func InNS(path string, fn func() error) error {
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
func TCPTransfer(t testing.TB, from, to string, ip netip.Addr) {
	t.Helper()
	var ln net.Listener
	if err := InNS(to, func() (err error) { ln, err = net.Listen("tcp4", net.JoinHostPort(ip.String(), "0")); return err }); err != nil {
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
	if err := InNS(from, func() (err error) {
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
func UDPDF(t testing.TB, from, to string, ip netip.Addr, size int) (arrived bool, sendErr error) {
	t.Helper()
	var rc *net.UDPConn
	if err := InNS(to, func() (err error) {
		rc, err = net.ListenUDP("udp4", &net.UDPAddr{IP: ip.AsSlice()})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	var sc *net.UDPConn
	if err := InNS(from, func() (err error) { sc, err = net.DialUDP("udp4", nil, rc.LocalAddr().(*net.UDPAddr)); return err }); err != nil {
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

func Ping(ns string, ip netip.Addr) error {
	out, err := exec.Command("nsenter", "--net="+ns, "busybox", "ping", "-c", "3", "-W", "10", ip.String()).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ping %s: %v\n%s", ip, err, out)
	}
	return nil
}
