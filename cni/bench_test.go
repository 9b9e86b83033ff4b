package cni

import (
	"context"
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
