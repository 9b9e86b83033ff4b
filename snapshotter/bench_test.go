//go:build linux

package snapshotter

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/containerd/containerd/v2/core/mount"
	"github.com/containerd/containerd/v2/core/snapshots"
	"github.com/containerd/containerd/v2/plugins/snapshots/overlay"
)

// The benchmarks run berth's snapshotter and containerd's built-in overlay
// snapshotter side by side, in-process, on the same filesystem:
//
//	go test -run '^$' -bench . -benchtime 200x ./snapshotter/

type newFunc func(ctx context.Context, root string) (snapshots.Snapshotter, error)

var peers = []struct {
	name string
	new  newFunc
}{
	{"berth", func(ctx context.Context, root string) (snapshots.Snapshotter, error) { return New(ctx, root) }},
	{"containerd-overlay", func(_ context.Context, root string) (snapshots.Snapshotter, error) {
		return overlay.NewSnapshotter(root)
	}},
}

func benchSnapshotter(b *testing.B, nf newFunc) (context.Context, snapshots.Snapshotter, string) {
	b.Helper()
	needRoot(b)
	ctx := testContext(b)
	dir, err := os.MkdirTemp("", "berth-bench")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { os.RemoveAll(dir) })
	sn, err := nf(ctx, filepath.Join(dir, "root"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { sn.Close() })
	return ctx, sn, dir
}

// BenchmarkPrepareMountRemove: what starting and removing a container costs
// the snapshotter: Prepare on a 5-layer image, mount (containerd's mount
// package for both), unmount, Remove.
func BenchmarkPrepareMountRemove(b *testing.B) {
	for _, p := range peers {
		b.Run(p.name, func(b *testing.B) {
			ctx, sn, dir := benchSnapshotter(b, p.new)
			parent := ""
			for i := range 5 {
				name := fmt.Sprintf("l%d", i)
				commitLayer(b, ctx, sn, name, parent, func(upper string) {
					writeFile(b, filepath.Join(upper, name), name)
				})
				parent = name
			}
			target := filepath.Join(dir, "mnt")
			if err := os.Mkdir(target, 0o755); err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				key := fmt.Sprintf("c%d", i)
				mounts, err := sn.Prepare(ctx, key, parent)
				if err != nil {
					b.Fatal(err)
				}
				if err := mount.All(mounts, target); err != nil {
					b.Fatal(err)
				}
				if err := mount.UnmountAll(target, 0); err != nil {
					b.Fatal(err)
				}
				if err := sn.Remove(ctx, key); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkCommitChain200: build a 200-layer chain (Prepare, write a file
// into the layer, Commit, 200 times) on a fresh root per iteration.
func BenchmarkCommitChain200(b *testing.B) {
	const depth = 200
	for _, p := range peers {
		b.Run(p.name, func(b *testing.B) {
			needRoot(b)
			for b.Loop() {
				b.StopTimer()
				ctx, sn, _ := benchSnapshotter(b, p.new)
				b.StartTimer()
				parent := ""
				for i := range depth {
					name := fmt.Sprintf("l%d", i)
					commitLayer(b, ctx, sn, name, parent, func(upper string) {
						writeFile(b, filepath.Join(upper, "f"), name)
					})
					parent = name
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*depth), "ns/layer")
		})
	}
}
