package overlay_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"slices"
	"testing"
	"time"

	cniov "github.com/berthproject/berth/cni/overlay"
	ot "github.com/berthproject/berth/cni/overlay/overlaytest"
	"github.com/berthproject/berth/engine/network/overlay"
	networktypes "github.com/berthproject/berth/pkg/types/network"
)

// pair is two container namespaces that reach each other, a at ipA and b
// at ipB.
type pair struct {
	a, b     string
	ipA, ipB netip.Addr
}

// BenchmarkOverlayVsBridge: the round trip of a 1-byte TCP message and
// the throughput of a 64 MiB TCP stream between two container
// namespaces, over an overlay network between two hosts, and on one
// local bridge (the same veth legs, no vxlan).
func BenchmarkOverlayVsBridge(b *testing.B) {
	if os.Geteuid() != 0 {
		b.Skip("needs root")
	}
	for _, mode := range []string{"bridge", "overlay"} {
		b.Run(mode, func(b *testing.B) {
			dir := b.TempDir()
			t := b
			var p pair
			ipA, ipB := netip.MustParseAddr("10.230.0.2"), netip.MustParseAddr("10.230.0.3")
			gw := netip.MustParsePrefix("10.230.0.1/24")
			hs := ot.Hosts(t, dir, 2)
			hostB := hs[0]
			if mode == "overlay" {
				hostB = hs[1]
			}
			for i, h := range []*ot.Host{hs[0], hostB} {
				ip := []netip.Addr{ipA, ipB}[i]
				spec := cniov.Spec{VNI: 42, Bridge: "ov-b", VXLAN: "vx-b", Local: h.Under, Gateway: gw}
				mtu, err := cniov.Ensure(h.H, spec)
				if err != nil {
					b.Fatal(err)
				}
				ns := ot.NewNS(t, dir, fmt.Sprintf("c%d", i))
				if _, err := cniov.Attach(h.H, cniov.Leg{NetNS: ns, IfName: "eth0", Bridge: "ov-b", MTU: mtu,
					Address: netip.PrefixFrom(ip, 24), MAC: cniov.MACFor(ip)}); err != nil {
					b.Fatal(err)
				}
				if i == 0 {
					p.a, p.ipA = ns, ip
				} else {
					p.b, p.ipB = ns, ip
				}
			}
			if mode == "overlay" {
				for i, h := range hs {
					peer, ip := hs[1-i].Under, []netip.Addr{ipB, ipA}[i]
					if err := cniov.AddPeer(h.H, "vx-b", peer); err != nil {
						b.Fatal(err)
					}
					if err := cniov.AddRemote(h.H, "vx-b", cniov.Remote{MAC: cniov.MACFor(ip), IP: ip, Node: peer}); err != nil {
						b.Fatal(err)
					}
				}
			}
			if err := ot.Ping(p.a, p.ipB); err != nil {
				b.Fatal(err)
			}
			rtt, mbps := measure(b, p)
			b.ReportMetric(float64(rtt.Microseconds()), "rtt-us")
			b.ReportMetric(mbps, "MBps")
		})
	}
}

// measure returns the median round trip of 1-byte messages and the
// throughput of a 64 MiB stream from p.a to p.b.
func measure(b *testing.B, p pair) (time.Duration, float64) {
	var ln net.Listener
	if err := ot.InNS(p.b, func() (err error) { ln, err = net.Listen("tcp4", net.JoinHostPort(p.ipB.String(), "0")); return err }); err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				buf := make([]byte, 1)
				if _, err := io.ReadFull(c, buf); err != nil {
					return
				}
				if buf[0] == 'e' { // echo mode
					for {
						if _, err := io.ReadFull(c, buf); err != nil {
							return
						}
						if _, err := c.Write(buf); err != nil {
							return
						}
					}
				}
				_, _ = io.Copy(io.Discard, c)
			}()
		}
	}()
	dial := func() net.Conn {
		var c net.Conn
		if err := ot.InNS(p.a, func() (err error) { c, err = net.Dial("tcp4", ln.Addr().String()); return err }); err != nil {
			b.Fatal(err)
		}
		return c
	}
	c := dial()
	_, _ = c.Write([]byte{'e'})
	buf := []byte{'x'}
	n := 2000
	rtts := make([]time.Duration, 0, n)
	for i := 0; i < n; i++ {
		t0 := time.Now()
		if _, err := c.Write(buf); err != nil {
			b.Fatal(err)
		}
		if _, err := io.ReadFull(c, buf); err != nil {
			b.Fatal(err)
		}
		rtts = append(rtts, time.Since(t0))
	}
	c.Close()
	slices.Sort(rtts)

	c = dial()
	defer c.Close()
	_, _ = c.Write([]byte{'s'})
	chunk := make([]byte, 256<<10)
	const total = 64 << 20
	t0 := time.Now()
	for sent := 0; sent < total; sent += len(chunk) {
		if _, err := c.Write(chunk); err != nil {
			b.Fatal(err)
		}
	}
	el := time.Since(t0)
	return rtts[len(rtts)/2], float64(total) / (1 << 20) / el.Seconds()
}

// BenchmarkFDB500: the time a node takes to write the forwarding and
// neighbour entries of 500 remote endpoints (on 10 remote nodes) from a
// full read of the store, and the time 500 addresses take to allocate
// through etcd transactions (one after another, the cost of a start).
func BenchmarkFDB500(b *testing.B) {
	if os.Geteuid() != 0 {
		b.Skip("needs root")
	}
	t := b
	dir := b.TempDir()
	hs := ot.Hosts(t, dir, 1)
	h := hs[0]
	if _, err := cniov.Ensure(h.H, cniov.Spec{VNI: 43, Bridge: "ov-f", VXLAN: "vx-f", Local: h.Under}); err != nil {
		b.Fatal(err)
	}
	var eps []overlay.Endpoint
	for i := 0; i < 500; i++ {
		ip := netip.AddrFrom4([4]byte{10, 231, byte(i / 250), byte(2 + i%250)})
		eps = append(eps, overlay.Endpoint{ID: fmt.Sprintf("e%03d", i), Node: fmt.Sprintf("n%d", i%10),
			NodeAddr: netip.AddrFrom4([4]byte{10, 241, 77, byte(100 + i%10)}), IP: ip, MAC: cniov.MACFor(ip).String()})
	}
	var fdbTimes []time.Duration
	for i := 0; i < b.N; i++ {
		p := overlay.NewProgrammer(h.H, "self", nil)
		if err := p.Reset("ov", eps); err != nil {
			b.Fatal(err)
		}
		t0 := time.Now()
		if err := p.SetNetwork("ov", "vx-f"); err != nil {
			b.Fatal(err)
		}
		fdbTimes = append(fdbTimes, time.Since(t0))
		fdb, neigh, err := cniov.Entries(h.H, "vx-f")
		if err != nil || len(neigh) != 500 || len(fdb) != 501 {
			b.Fatalf("entries: %d fdb, %d neigh, %v", len(fdb), len(neigh), err)
		}
		if err := p.Reset("ov", nil); err != nil {
			b.Fatal(err)
		}
		if fdb, neigh, _ := cniov.Entries(h.H, "vx-f"); len(fdb)+len(neigh) != 0 {
			b.Fatalf("entries left: %d fdb, %d neigh", len(fdb), len(neigh))
		}
	}
	slices.Sort(fdbTimes)
	b.ReportMetric(float64(fdbTimes[len(fdbTimes)/2].Microseconds())/1000, "fdb500-ms")

	c := startEtcd(t)
	nd := newNode(t, c, "n1", "10.241.0.1")
	n, err := nd.store.CreateNetwork(context.Background(), networktypes.CreateOptions{Name: "bench", Subnet: netip.MustParsePrefix("10.232.0.0/22")}, nil)
	if err != nil {
		b.Fatal(err)
	}
	t0 := time.Now()
	for i := 0; i < 500; i++ {
		if _, err := nd.store.Allocate(context.Background(), n, nd.lease, overlay.Endpoint{ID: fmt.Sprintf("c%03d", i)}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(time.Since(t0).Microseconds())/1000/500, "ipam-ms/endpoint")
}
