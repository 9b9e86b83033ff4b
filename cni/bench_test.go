package cni

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"testing"
	"time"

	networktypes "github.com/berthproject/berth/pkg/types/network"
)

// BenchmarkSetupTeardown measures what networking adds to a container start
// and stop: Setup+Teardown for "none" (netns + lo) and for the default
// bridge (netns + veth + IPAM + CNI chain). Run with -benchtime=30x; it
// reports the median of Setup+Teardown in ms (median-ms) and of Setup alone
// (setup-median-ms), besides Go's mean.
func BenchmarkSetupTeardown(b *testing.B) {
	for _, mode := range []string{"none", "bridge", "bridge+port", "bridge+release"} {
		b.Run(mode, func(b *testing.B) {
			e := newEnv(b).m
			ctx := context.Background()
			var d, setup []time.Duration
			for i := 0; i < b.N; i++ {
				req := SetupRequest{ContainerID: ctrID(), NetworkMode: mode}
				if mode == "bridge+port" {
					req.NetworkMode = "bridge"
					req.Ports = []networktypes.PortMapping{{ContainerPort: 80}}
				}
				teardown := e.Teardown
				if mode == "bridge+release" {
					// What a container's exit waits for: the rest of
					// the teardown runs in the background.
					req.NetworkMode = "bridge"
					teardown = e.Release
				}
				start := time.Now()
				if _, err := e.Setup(ctx, req); err != nil {
					b.Fatal(err)
				}
				setup = append(setup, time.Since(start))
				if err := teardown(ctx, req.ContainerID); err != nil {
					b.Fatal(err)
				}
				d = append(d, time.Since(start))
			}
			slices.Sort(d)
			slices.Sort(setup)
			b.ReportMetric(float64(d[len(d)/2].Microseconds())/1000, "median-ms")
			b.ReportMetric(float64(setup[len(setup)/2].Microseconds())/1000, "setup-median-ms")
			b.ReportMetric(float64(setup[len(setup)*9/10].Microseconds())/1000, "setup-p90-ms")
		})
	}
}

// BenchmarkPublishPorts measures what publishing a container's port costs
// berth's firewall: the element's insertion and its deletion, one netlink
// transaction each (what Setup and Teardown add for -p), with the table
// empty and with 200 other containers' ports in it. Run with
// -benchtime=200x; it reports the medians in ms. The deletion's commit
// waits for an RCU grace period; Teardown overlaps it with CNI DEL.
func BenchmarkPublishPorts(b *testing.B) {
	for _, others := range []int{0, 200} {
		b.Run(fmt.Sprintf("others=%d", others), func(b *testing.B) {
			e := newEnv(b)
			fw := e.m.fw
			ip := netip.MustParseAddr("10.99.0.2")
			var load []networktypes.PortMapping
			for i := 0; i < others; i++ {
				load = append(load, networktypes.PortMapping{HostIP: netip.MustParseAddr("127.0.0.1"), HostPort: uint16(20000 + i), ContainerPort: 80, Proto: "tcp"})
			}
			if len(load) > 0 {
				if err := fw.addPorts(load, ip, netip.Addr{}); err != nil {
					b.Fatal(err)
				}
				b.Cleanup(func() { _ = fw.delPorts(load, false) })
			}
			var add, del []time.Duration
			for i := 0; i < b.N; i++ {
				p := []networktypes.PortMapping{{HostIP: netip.MustParseAddr("127.0.0.1"), HostPort: 40000, ContainerPort: 80, Proto: "tcp"}}
				start := time.Now()
				if err := fw.addPorts(p, ip, netip.Addr{}); err != nil {
					b.Fatal(err)
				}
				mid := time.Now()
				if err := fw.delPorts(p, false); err != nil {
					b.Fatal(err)
				}
				add, del = append(add, mid.Sub(start)), append(del, time.Since(mid))
			}
			for _, m := range []struct {
				name string
				d    []time.Duration
			}{{"add", add}, {"del", del}} {
				slices.Sort(m.d)
				b.ReportMetric(float64(m.d[len(m.d)/2].Microseconds())/1000, m.name+"-median-ms")
			}
		})
	}
}

// BenchmarkServiceRules measures one rewrite of the service load-balancing
// rules (what every node does after a change of a service or a task) with
// 10 and 100 services of 3 tasks, each with a VIP and a published port.
// It needs no container: the rules name addresses only.
func BenchmarkServiceRules(b *testing.B) {
	for _, n := range []int{10, 100} {
		b.Run(fmt.Sprintf("services=%d", n), func(b *testing.B) {
			e := newEnv(b)
			br := e.mustCreate(networktypes.CreateOptions{Name: "svcbench"}).Interface
			r := ServiceRules{SNAT: map[string]netip.Addr{br: netip.MustParseAddr("10.250.255.250")}}
			for i := 0; i < n; i++ {
				var bk []ServiceBackend
				for j := 0; j < 3; j++ {
					bk = append(bk, ServiceBackend{IP: netip.AddrFrom4([4]byte{10, 250, byte(i), byte(10 + j)}), Port: 8080})
				}
				r.VIPs = append(r.VIPs, ServiceVIP{Bridge: br, VIP: netip.AddrFrom4([4]byte{10, 250, byte(i), 2}), Backends: bk})
				r.Ports = append(r.Ports, ServicePort{Proto: "tcp", Port: uint16(40000 + i), Backends: bk})
			}
			if _, err := e.m.SetServiceRules(r); err != nil {
				b.Fatal(err)
			}
			var d []time.Duration
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				// One task of one service changes.
				r.VIPs[i%n].Backends[0].IP = netip.AddrFrom4([4]byte{10, 250, byte(i % n), byte(100 + i%100)})
				start := time.Now()
				if _, err := e.m.SetServiceRules(r); err != nil {
					b.Fatal(err)
				}
				d = append(d, time.Since(start))
			}
			slices.Sort(d)
			b.ReportMetric(float64(d[len(d)/2].Microseconds())/1000, "median-ms")
			if _, err := e.m.SetServiceRules(ServiceRules{}); err != nil {
				b.Fatal(err)
			}
		})
	}
}
