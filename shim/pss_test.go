package shim_test

import (
	"bufio"
	"context"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/containerd/containerd/api/types/runc/options"
	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/pkg/cio"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/containerd/containerd/v2/pkg/oci"

	"github.com/berthproject/berth/pkg/containerio"
)

// BenchmarkShimPSS measures the memory a shim costs per running container:
// 20 sleeping containers, PSS summed over their shim processes (and
// berth's spare) from /proc/PID/smaps_rollup once the shims are idle,
// divided by 20.
//
//	go test ./shim -run '^$' -bench ShimPSS -benchtime 1x
//
// berth-sink: berth's shim writing the log file and serving the attach
// socket in-process, as berthd runs containers. null: no IO. runc-v2-null:
// containerd's own shim, no IO, for comparison.
func BenchmarkShimPSS(b *testing.B) {
	b.Run("berth-sink", func(b *testing.B) { benchPSS(b, runtimeName, true) })
	b.Run("berth-null", func(b *testing.B) { benchPSS(b, runtimeName, false) })
	b.Run("runc-v2-null", func(b *testing.B) { benchPSS(b, "io.containerd.runc.v2", false) })
}

func benchPSS(b *testing.B, runtime string, sink bool) {
	if setupErr != nil {
		b.Fatal(setupErr)
	}
	const n = 20
	ctx, cancel := context.WithTimeout(namespaces.WithNamespace(context.Background(), testNS), 2*time.Minute)
	defer cancel()
	shimBin := st.shimBin
	if runtime != runtimeName {
		shimBin = filepath.Join(runcDir, "containerd-shim-runc-v2")
	}
	for range b.N {
		var ids []string
		for i := range n {
			id := fmt.Sprintf("pss%d", i)
			ids = append(ids, id)
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
			creator := cio.NullIO
			if sink {
				u, _ := url.Parse(containerio.LoggerURI("/usr/local/lib/berth/"+containerio.LoggerName, containerio.Options{
					LogPath:      filepath.Join(st.dir, "logs", id+"-json.log"),
					MaxSize:      10 << 20,
					MaxFiles:     3,
					AttachSocket: filepath.Join(st.dir, "a"+strconv.Itoa(i)+".sock"),
				}))
				creator = cio.LogURI(u)
			}
			task, err := c.NewTask(ctx, creator)
			if err != nil {
				b.Fatal(err)
			}
			if err := task.Start(ctx); err != nil {
				b.Fatal(err)
			}
		}
		// Steady state: berth's shims give memory back after a second
		// idle.
		time.Sleep(3 * time.Second)
		var total, anon, file, threads int
		for _, id := range ids {
			pids := shimPidsOf(shimBin, id)
			if len(pids) != 1 {
				b.Fatalf("shim of %s: %v", id, pids)
			}
			r := smapsRollup(pids[0])
			total += r["Pss"]
			anon += r["Pss_Anon"]
			file += r["Pss_File"]
			threads += procThreads(pids[0])
		}
		// berth's spare (the shim started ahead for the next container)
		// counts too: it is there because these containers are.
		spares := 0
		if runtime == runtimeName {
			for _, pid := range sparePids(shimBin) {
				total += smapsRollup(pid)["Pss"]
				spares++
			}
		}
		b.ReportMetric(float64(spares), "spares")
		b.ReportMetric(float64(total)/n, "PSS-kB/container")
		b.ReportMetric(float64(anon)/n, "PSS-anon-kB/container")
		b.ReportMetric(float64(file)/n, "PSS-file-kB/container")
		b.ReportMetric(float64(threads)/n, "threads/shim")
		for _, id := range ids {
			removeContainer(id)
		}
	}
}

// shimPidsOf finds the long-lived shim of container id among processes of
// binary bin (berth's runs with "serve", containerd's with no action).
func shimPidsOf(bin, id string) []int {
	if pid := shimPid(bin, id); pid != 0 {
		return []int{pid} // berth's: start writes it in the bundle
	}
	var pids []int
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
		if err != nil || strings.TrimSuffix(exe, " (deleted)") != bin {
			continue
		}
		cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		args := strings.Split(strings.TrimRight(string(cmdline), "\x00"), "\x00")
		if containsArg(args, id) && !containsArg(args, "start") && !containsArg(args, "delete") {
			pids = append(pids, pid)
		}
	}
	return pids
}

// procThreads is the number of threads of pid (a thread costs a shim
// 20-50 kB: its stacks and runtime structures).
func procThreads(pid int) int {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, "Threads:"); ok {
			n, _ := strconv.Atoi(strings.TrimSpace(v))
			return n
		}
	}
	return 0
}

// smapsRollup reads /proc/PID/smaps_rollup (values in kB).
func smapsRollup(pid int) map[string]int {
	out := map[string]int{}
	f, err := os.Open(fmt.Sprintf("/proc/%d/smaps_rollup", pid))
	if err != nil {
		return out
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		k, v, ok := strings.Cut(s.Text(), ":")
		if !ok {
			continue
		}
		fields := strings.Fields(v)
		if len(fields) == 2 && fields[1] == "kB" {
			out[k], _ = strconv.Atoi(fields[0])
		}
	}
	return out
}
