package shim_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/containerd/containerd/api/types/runc/options"
	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/containers"
	"github.com/containerd/containerd/v2/pkg/cio"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/containerd/containerd/v2/pkg/oci"
)

// BenchmarkTaskCreate: the time to create a container's task through a shim
// (containerd's task Create: the shim starts, mounts the rootfs and runs
// `runc create`), against `runc create` of a prepared bundle alone — the
// shim's own cost is the difference. Reports the median of b.N creates.
//
//	go test ./shim -run '^$' -bench TaskCreate -benchtime 20x
func BenchmarkTaskCreate(b *testing.B) {
	b.Run("berth", func(b *testing.B) { benchTaskCreate(b, runtimeName) })
	b.Run("runc-v2", func(b *testing.B) { benchTaskCreate(b, "io.containerd.runc.v2") })
	b.Run("runc-create", benchRuncCreate)
}

func benchTaskCreate(b *testing.B, runtime string) {
	if setupErr != nil {
		b.Fatal(setupErr)
	}
	ctx, cancel := context.WithTimeout(namespaces.WithNamespace(context.Background(), testNS), 5*time.Minute)
	defer cancel()
	var times []time.Duration
	for i := range b.N {
		id := fmt.Sprintf("tc%d", i)
		if _, err := st.client.SnapshotService(snapshotter).Prepare(ctx, id, baseSnapshot, gcRoot()); err != nil {
			b.Fatal(err)
		}
		c, err := st.client.NewContainer(ctx, id,
			client.WithSnapshotter(snapshotter),
			client.WithSnapshot(id),
			client.WithRuntime(runtime, &options.Options{Root: st.runcRoot, BinaryName: filepath.Join(runcDir, "runc")}),
			client.WithNewSpec(oci.WithDefaultPathEnv, withArgs("sleep", "1000")),
		)
		if err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		task, err := c.NewTask(ctx, cio.NullIO)
		times = append(times, time.Since(start))
		if err != nil {
			b.Fatal(err)
		}
		if _, err := task.Delete(ctx, client.WithProcessKill); err != nil {
			b.Fatal(err)
		}
		if err := c.Delete(ctx, client.WithSnapshotCleanup); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(medianMs(times), "median-ms")
}

// benchRuncCreate runs `runc create` (then `runc delete`) of a bundle whose
// rootfs is a plain directory and whose spec is the one containerd would
// give the container.
func benchRuncCreate(b *testing.B) {
	dir, err := os.MkdirTemp("/tmp", "brc")
	if err != nil {
		b.Fatal(err)
	}
	defer os.RemoveAll(dir)
	bundle := filepath.Join(dir, "bundle")
	if err := populate(filepath.Join(bundle, "rootfs")); err != nil {
		b.Fatal(err)
	}
	ctx := namespaces.WithNamespace(context.Background(), testNS)
	spec, err := oci.GenerateSpec(ctx, nil, &containers.Container{ID: "runc-bench"}, oci.WithDefaultPathEnv, withArgs("sleep", "1000"), oci.WithRootFSPath("rootfs"))
	if err != nil {
		b.Fatal(err)
	}
	runc := filepath.Join(runcDir, "runc")
	root := filepath.Join(dir, "root")
	var times []time.Duration
	for i := range b.N {
		id := fmt.Sprintf("rc%d-%d", time.Now().UnixNano(), i)
		// A cgroup of its own, as each container has.
		spec.Linux.CgroupsPath = "/" + testNS + "/" + id
		data, merr := json.Marshal(spec)
		if merr != nil {
			b.Fatal(merr)
		}
		if err := os.WriteFile(filepath.Join(bundle, "config.json"), data, 0o644); err != nil {
			b.Fatal(err)
		}
		// The container's init keeps the stdio runc gives it: /dev/null, not
		// a pipe this process would wait on.
		logFile := filepath.Join(dir, id+".log")
		create := exec.Command(runc, "--root", root, "--log", logFile, "create", "--bundle", bundle, id)
		start := time.Now()
		err = create.Run()
		times = append(times, time.Since(start))
		out, _ := os.ReadFile(logFile)
		// Deleted whatever happened: a created container waits in runc init.
		dout, derr := exec.Command(runc, "--root", root, "delete", "--force", id).CombinedOutput()
		if err != nil {
			b.Fatalf("runc create: %v: %s", err, out)
		}
		if derr != nil {
			b.Fatalf("runc delete: %v: %s", derr, dout)
		}
	}
	b.ReportMetric(medianMs(times), "median-ms")
}

func medianMs(ds []time.Duration) float64 {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return float64(s[len(s)/2].Microseconds()) / 1000
}
