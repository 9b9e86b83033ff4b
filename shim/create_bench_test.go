package shim_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/containerd/containerd/api/services/tasks/v1"
	"github.com/containerd/containerd/api/types"
	"github.com/containerd/containerd/api/types/runc/options"
	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/containers"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/containerd/containerd/v2/pkg/oci"
	"github.com/containerd/typeurl/v2"
	"github.com/opencontainers/runtime-spec/specs-go"
)

// BenchmarkTaskCreate: the time to create a container's task through a shim
// — what berth's engine does to create one: the snapshot's mounts, then
// containerd's task Create (the shim starts, mounts the rootfs and runs
// `runc create`) — against `runc create` of a prepared bundle alone. The
// shim's cost is the difference: each create through a shim is paired with
// a `runc create` right before or after it (the order alternates), and
// overhead-ms is the median of those differences, so that the machine's
// drift between runs does not count. median-ms is the median create,
// spare-ratio the share of creates whose shim was a spare. Each create
// starts from an idle machine (settle), as a user's `berth run` does; on
// this VM a create's time varies by ±7 ms from one to the next, so the
// figures want 100 pairs or more.
//
//	go test ./shim -run '^$' -bench TaskCreate -benchtime 100x
func BenchmarkTaskCreate(b *testing.B) {
	b.Run("berth", func(b *testing.B) { benchTaskCreate(b, runtimeName, "") })
	b.Run("runc-v2", func(b *testing.B) { benchTaskCreate(b, "io.containerd.runc.v2", "") })
	b.Run("runc-create", func(b *testing.B) {
		rc := newRuncCreate(b)
		defer rc.close()
		var times []time.Duration
		for range b.N {
			times = append(times, rc.create(b))
		}
		b.ReportMetric(medianMs(times), "median-ms")
	})
}

// BenchmarkShimOverhead: what a task create costs around the OCI runtime,
// without runc's own ~30 ms and their ±7 ms of noise: the shims run a fake
// runc (a shell script whose `create` starts a sleep, writes its pid and
// exits), and each create through a shim is paired with the fake runc's
// create alone. overhead-ms is then the cost of containerd and the shim
// around `runc create`, the same difference BenchmarkTaskCreate measures.
//
//	go test ./shim -run '^$' -bench ShimOverhead -benchtime 100x
func BenchmarkShimOverhead(b *testing.B) {
	if setupErr != nil {
		b.Fatal(setupErr)
	}
	fake := filepath.Join(st.dir, "fake-runc")
	if err := os.WriteFile(fake, []byte(fakeRunc), 0o755); err != nil {
		b.Fatal(err)
	}
	b.Run("berth", func(b *testing.B) { benchTaskCreate(b, runtimeName, fake) })
	b.Run("runc-v2", func(b *testing.B) { benchTaskCreate(b, "io.containerd.runc.v2", fake) })
}

// fakeRunc does what a shim needs of runc for a create and a removal.
const fakeRunc = `#!/bin/sh
root=/run/fake-runc cmd= id= sig= pidfile=
while [ $# -gt 0 ]; do
	case "$1" in
	--root) root=$2; shift 2 ;;
	--pid-file) pidfile=$2; shift 2 ;;
	--log|--log-format|--bundle|-b|--console-socket|--process) shift 2 ;;
	-*) shift ;;
	*) if [ -z "$cmd" ]; then cmd=$1; elif [ -z "$id" ]; then id=$1; else sig=$1; fi; shift ;;
	esac
done
mkdir -p "$root"
case "$cmd" in
create)
	sleep 1000 </dev/null >/dev/null 2>&1 &
	printf %s $! >"$pidfile"
	echo $! >"$root/$id" ;;
kill)
	kill -"${sig:-15}" "$(cat "$root/$id")" ;;
delete)
	kill -9 "$(cat "$root/$id" 2>/dev/null)" 2>/dev/null
	rm -f "$root/$id" ;;
state)
	echo "{\"id\":\"$id\",\"pid\":$(cat "$root/$id"),\"status\":\"created\"}" ;;
esac
exit 0
`

// benchTaskCreate times task creates through runtime's shim, each paired
// with a create of the same OCI runtime alone: runc and a prepared bundle,
// or the fake runc at path fake.
func benchTaskCreate(b *testing.B, runtime, fake string) {
	if setupErr != nil {
		b.Fatal(setupErr)
	}
	ctx, cancel := context.WithTimeout(namespaces.WithNamespace(context.Background(), testNS), 5*time.Minute)
	defer cancel()
	rc := newRuncCreate(b)
	defer rc.close()
	opts := &options.Options{Root: st.runcRoot, BinaryName: filepath.Join(runcDir, "runc")}
	if fake != "" {
		rc.runc, opts.BinaryName = fake, fake
	}
	anyOpts, err := typeurl.MarshalAny(opts)
	if err != nil {
		b.Fatal(err)
	}
	var times, alones, overheads []time.Duration
	spares := 0 // creates whose shim was a spare
	for i := range b.N {
		id := fmt.Sprintf("tc%d", i)
		if _, err := st.client.SnapshotService(snapshotter).Prepare(ctx, id, baseSnapshot, gcRoot()); err != nil {
			b.Fatal(err)
		}
		c, err := st.client.NewContainer(ctx, id,
			client.WithSnapshotter(snapshotter),
			client.WithSnapshot(id),
			client.WithRuntime(runtime, opts),
			client.WithNewSpec(benchSpec...),
		)
		if err != nil {
			b.Fatal(err)
		}
		var alone time.Duration
		if i%2 == 1 {
			alone = rc.create(b)
		}
		// As engine/container's start: the mounts, then the task.
		settle()
		start := time.Now()
		mounts, err := st.client.SnapshotService(snapshotter).Mounts(ctx, id)
		if err != nil {
			b.Fatal(err)
		}
		req := &tasks.CreateTaskRequest{ContainerID: id, Options: typeurl.MarshalProto(anyOpts)}
		for _, m := range mounts {
			req.Rootfs = append(req.Rootfs, &types.Mount{Type: m.Type, Source: m.Source, Target: m.Target, Options: m.Options})
		}
		_, err = st.client.TaskService().Create(ctx, req)
		took := time.Since(start)
		if err != nil {
			b.Fatal(err)
		}
		if pid := shimPid(st.shimBin, id); pid != 0 {
			cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
			if containsArg(strings.Split(string(cmdline), "\x00"), "spare") {
				spares++
			}
		}
		if i%2 == 0 {
			alone = rc.create(b)
		}
		times = append(times, took)
		alones = append(alones, alone)
		overheads = append(overheads, took-alone)
		task, err := c.Task(ctx, nil)
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
	b.ReportMetric(medianMs(overheads), "overhead-ms")
	b.ReportMetric(medianMs(alones), "runc-create-ms")
	b.ReportMetric(float64(spares)/float64(b.N), "spare-ratio")

}

// benchSpec: containerd's default spec without a network namespace of its
// own, as berth's containers join the one berth made (or the host's). A new
// one per create would make each create pay for the previous container's
// namespace, which the kernel cleans up in the background.
var benchSpec = []oci.SpecOpts{oci.WithDefaultPathEnv, withArgs("sleep", "1000"), oci.WithHostNamespace(specs.NetworkNamespace)}

// runcCreate runs `runc create` (then `runc delete`) of a bundle whose
// rootfs is an overlay on the busybox base, as a container's, and whose
// spec is the one containerd would give the container.
type runcCreate struct {
	dir, bundle, runc, root string
	spec                    *oci.Spec
	n                       int
}

func newRuncCreate(b *testing.B) *runcCreate {
	dir, err := os.MkdirTemp("/tmp", "brc")
	if err != nil {
		b.Fatal(err)
	}
	rc := &runcCreate{dir: dir, bundle: filepath.Join(dir, "bundle"), runc: filepath.Join(runcDir, "runc"), root: filepath.Join(dir, "root")}
	if err := populate(filepath.Join(dir, "lower")); err != nil {
		b.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(rc.bundle, "rootfs"), 0o755); err != nil {
		b.Fatal(err)
	}
	ctx := namespaces.WithNamespace(context.Background(), testNS)
	rc.spec, err = oci.GenerateSpec(ctx, nil, &containers.Container{ID: "runc-bench"}, append(benchSpec, oci.WithRootFSPath("rootfs"))...)
	if err != nil {
		b.Fatal(err)
	}
	return rc
}

func (rc *runcCreate) close() { os.RemoveAll(rc.dir) }

// create times one `runc create`.
func (rc *runcCreate) create(b *testing.B) time.Duration {
	rc.n++
	id := fmt.Sprintf("rc%d-%d", time.Now().UnixNano(), rc.n)
	// A cgroup of its own, as each container has.
	rc.spec.Linux.CgroupsPath = "/" + testNS + "/" + id
	data, err := json.Marshal(rc.spec)
	if err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(rc.bundle, "config.json"), data, 0o644); err != nil {
		b.Fatal(err)
	}
	// The rootfs, as a container's: an overlay with a fresh upper dir on
	// the busybox base (mounted before the clock starts: a prepared
	// bundle).
	rootfs := filepath.Join(rc.bundle, "rootfs")
	upper, work := filepath.Join(rc.dir, "upper"), filepath.Join(rc.dir, "work")
	for _, d := range []string{upper, work} {
		if err := os.RemoveAll(d); err != nil {
			b.Fatal(err)
		}
		if err := os.Mkdir(d, 0o755); err != nil {
			b.Fatal(err)
		}
	}
	if err := syscall.Mount("overlay", rootfs, "overlay", 0, "lowerdir="+filepath.Join(rc.dir, "lower")+",upperdir="+upper+",workdir="+work); err != nil {
		b.Fatal(err)
	}
	defer func() { _ = syscall.Unmount(rootfs, syscall.MNT_DETACH) }()
	// The container's init keeps the stdio runc gives it: /dev/null, not
	// a pipe this process would wait on.
	logFile := filepath.Join(rc.dir, id+".log")
	create := exec.Command(rc.runc, "--root", rc.root, "--log", logFile, "create", "--bundle", rc.bundle, id)
	settle()
	start := time.Now()
	err = create.Run()
	took := time.Since(start)
	out, _ := os.ReadFile(logFile)
	// Deleted whatever happened: a created container waits in runc init.
	dout, derr := exec.Command(rc.runc, "--root", rc.root, "delete", "--force", id).CombinedOutput()
	if err != nil {
		b.Fatalf("runc create: %v: %s", err, out)
	}
	if derr != nil {
		b.Fatalf("runc delete: %v: %s", derr, dout)
	}
	return took
}

// settle lets the machine finish what the previous container's removal left
// to its workers (the kernel's cgroup and namespace cleanup, containerd's
// garbage collection) before a create is timed: otherwise whichever create
// comes first after a removal pays for it.
func settle() { time.Sleep(30 * time.Millisecond) }

func medianMs(ds []time.Duration) float64 {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return float64(s[len(s)/2].Microseconds()) / 1000
}
