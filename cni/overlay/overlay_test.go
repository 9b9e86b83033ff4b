package overlay_test

import (
	"errors"
	"fmt"
	"net/netip"
	"os/exec"
	"strings"
	"testing"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/berthproject/berth/cni/overlay"
	ot "github.com/berthproject/berth/cni/overlay/overlaytest"
)

// TestPluginTwoHosts: the plugin builds the overlay on two hosts joined
// by a veth underlay; with the FDB and neighbour entries a control plane
// writes, the containers reach each other (ping, TCP both ways), the MTU
// is the underlay's minus 50 and a full-size datagram with don't-fragment
// passes; DEL and Destroy leave nothing.
func TestPluginTwoHosts(t *testing.T) {
	ot.NeedRoot(t)
	if _, err := exec.LookPath("nsenter"); err != nil {
		t.Skip("needs nsenter (util-linux)")
	}
	plugin := ot.BuildPlugin(t)
	dir := t.TempDir()
	a, b := ot.TwoHosts(t, dir)
	ca, cb := ot.NewNS(t, dir, "ca"), ot.NewNS(t, dir, "cb")
	ipA, ipB := netip.MustParseAddr("10.99.0.2"), netip.MustParseAddr("10.99.0.3")
	spec := overlay.Spec{VNI: 4242, Bridge: "ov-test", VXLAN: "vx-test", Gateway: netip.MustParsePrefix("10.99.0.1/24")}
	sa, sb := spec, spec
	sa.Local, sb.Local = a.Under, b.Under

	out := ot.CNI(t, plugin, a, "ADD", ca, "eth0", ot.NetConf(sa, "10.99.0.0/24", ipA.String()+"/24"))
	if !strings.Contains(string(out), `"10.99.0.2/24"`) {
		t.Fatalf("ADD result does not name the address: %s", out)
	}
	ot.CNI(t, plugin, b, "ADD", cb, "eth0", ot.NetConf(sb, "10.99.0.0/24", ipB.String()+"/24"))

	// The device: VNI, nolearning, proxy, port, MTU, enslaved.
	vx, err := a.H.LinkByName("vx-test")
	if err != nil {
		t.Fatal(err)
	}
	v := vx.(*netlink.Vxlan)
	if v.VxlanId != 4242 || v.Learning || !v.Proxy || v.Port != overlay.Port || v.MTU != 1450 {
		t.Fatalf("vxlan device: vni %d learning %v proxy %v port %d mtu %d", v.VxlanId, v.Learning, v.Proxy, v.Port, v.MTU)
	}
	br, _ := a.H.LinkByName("ov-test")
	if v.MasterIndex != br.Attrs().Index {
		t.Fatal("vxlan device is not on the bridge")
	}
	ch := ot.HandleAt(t, ca)
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
		h    *ot.Host
		peer netip.Addr
		ip   netip.Addr
	}{{a, b.Under, ipB}, {b, a.Under, ipA}} {
		if err := overlay.AddPeer(x.h.H, "vx-test", x.peer); err != nil {
			t.Fatal(err)
		}
		if err := overlay.AddRemote(x.h.H, "vx-test", overlay.Remote{MAC: overlay.MACFor(x.ip), IP: x.ip, Node: x.peer}); err != nil {
			t.Fatal(err)
		}
	}
	fdb, neigh, err := overlay.Entries(a.H, "vx-test")
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(fdb["00:00:00:00:00:00"]) != "[10.241.77.2]" || fmt.Sprint(fdb[overlay.MACFor(ipB).String()]) != "[10.241.77.2]" ||
		neigh[ipB] != overlay.MACFor(ipB).String() {
		t.Fatalf("entries on host a: fdb %v neigh %v", fdb, neigh)
	}

	if err := ot.Ping(ca, ipB); err != nil {
		t.Fatal(err)
	}
	if err := ot.Ping(cb, ipA); err != nil {
		t.Fatal(err)
	}
	ot.TCPTransfer(t, ca, cb, ipB)
	ot.TCPTransfer(t, cb, ca, ipA)

	// MTU: 1450 - 20 (IP) - 8 (UDP) = 1422 bytes fit with DF; one more
	// does not leave the container.
	if ok, err := ot.UDPDF(t, ca, cb, ipB, 1422); err != nil || !ok {
		t.Fatalf("full-size datagram with don't-fragment: arrived %v, %v", ok, err)
	}
	if _, err := ot.UDPDF(t, ca, cb, ipB, 1423); !errors.Is(err, unix.EMSGSIZE) {
		t.Fatalf("datagram one byte over the MTU with don't-fragment: %v, want EMSGSIZE", err)
	}

	// Entries go, the containers lose each other.
	if err := overlay.DelRemote(a.H, "vx-test", overlay.Remote{MAC: overlay.MACFor(ipB), IP: ipB, Node: b.Under}); err != nil {
		t.Fatal(err)
	}
	if err := overlay.DelPeer(a.H, "vx-test", b.Under); err != nil {
		t.Fatal(err)
	}
	if fdb, neigh, _ := overlay.Entries(a.H, "vx-test"); len(fdb) != 0 || len(neigh) != 0 {
		t.Fatalf("entries left on host a: %v %v", fdb, neigh)
	}

	// DEL twice (idempotent), then Destroy.
	conf := ot.NetConf(sa, "10.99.0.0/24", ipA.String()+"/24")
	ot.CNI(t, plugin, a, "DEL", ca, "eth0", conf)
	ot.CNI(t, plugin, a, "DEL", ca, "eth0", conf)
	if _, err := ch.LinkByName("eth0"); err == nil {
		t.Fatal("eth0 still in the container after DEL")
	}
	if links, _ := a.H.LinkList(); len(links) != 4 { // lo, under0, bridge, vxlan
		t.Fatalf("host a has %d links after DEL, want 4", len(links))
	}
	if err := overlay.Destroy(a.H, sa); err != nil {
		t.Fatal(err)
	}
	if _, err := a.H.LinkByName("vx-test"); err == nil {
		t.Fatal("vxlan device left after Destroy")
	}
	if _, err := a.H.LinkByName("ov-test"); err == nil {
		t.Fatal("bridge left after Destroy")
	}
}

// TestEnsureIdempotent: Ensure twice is the same devices; a name taken by
// something else is a clear error.
func TestEnsureIdempotent(t *testing.T) {
	ot.NeedRoot(t)
	dir := t.TempDir()
	a, _ := ot.TwoHosts(t, dir)
	s := overlay.Spec{VNI: 7, Bridge: "ov-i", VXLAN: "vx-i", Local: a.Under, Gateway: netip.MustParsePrefix("10.98.0.1/24")}
	for i := 0; i < 2; i++ {
		if mtu, err := overlay.Ensure(a.H, s); err != nil || mtu != 1450 {
			t.Fatalf("Ensure #%d: mtu %d, %v", i+1, mtu, err)
		}
	}
	other := s
	other.VNI = 8
	if _, err := overlay.Ensure(a.H, other); err == nil || !strings.Contains(err.Error(), "vni 8") {
		t.Fatalf("Ensure with another VNI on the same device: %v", err)
	}
	bad := s
	bad.Bridge = "under0"
	if _, err := overlay.Ensure(a.H, bad); err == nil || !strings.Contains(err.Error(), "not a bridge") {
		t.Fatalf("Ensure on a non-bridge: %v", err)
	}
	if _, err := overlay.Ensure(a.H, overlay.Spec{VNI: 9, Bridge: "ov-x", VXLAN: "vx-x", Local: netip.MustParseAddr("10.1.2.3")}); err == nil ||
		!strings.Contains(err.Error(), "underlay address 10.1.2.3") {
		t.Fatalf("Ensure with a foreign underlay address: %v", err)
	}
	if _, err := a.H.LinkByName("ov-x"); err == nil {
		t.Fatal("a failed Ensure left a bridge")
	}
}
