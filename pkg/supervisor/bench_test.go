package supervisor

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// BenchmarkContainerdReady measures a cold start of berth's containerd
// (generated config, fresh dirs) until it answers Version, then its stop.
//
//	go test -run XXX -bench ContainerdReady -benchtime 20x ./pkg/supervisor
func BenchmarkContainerdReady(b *testing.B) {
	if os.Getuid() != 0 {
		b.Skip("needs root")
	}
	if _, err := os.Stat(filepath.Join(libexec, "containerd")); err != nil {
		b.Skip("containerd not installed")
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	var ready, stop time.Duration
	for i := 0; i < b.N; i++ {
		dir, err := os.MkdirTemp("/tmp", "bt")
		if err != nil {
			b.Fatal(err)
		}
		t0 := time.Now()
		p, err := Start(context.Background(), containerdSpec(dir), logger)
		if err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		if err := p.Stop(context.Background()); err != nil {
			b.Fatal(err)
		}
		ready += t1.Sub(t0)
		stop += time.Since(t1)
		os.RemoveAll(dir)
	}
	b.ReportMetric(ready.Seconds()*1000/float64(b.N), "ready-ms")
	b.ReportMetric(stop.Seconds()*1000/float64(b.N), "stop-ms")
}
