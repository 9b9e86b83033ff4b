package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// The scenarios the shim, snapshotter and networking work defined, as Go
// benchmarks in their packages: run here with `go test -bench` and their
// metrics recorded, one series per sub-benchmark (e.g. berth vs
// containerd's overlay snapshotter), one sample per -count.

type goBench struct {
	name    string // scenario name
	title   string
	pkg     string // ./snapshotter/
	bench   string // benchmark name (without the Benchmark prefix)
	metric  string // unit reported by the benchmark, e.g. ns/op
	scale   float64
	unit    string
	full    [2]string // -benchtime, -count
	quick   [2]string
	extra   []metricOut // further metrics of the same run
	target  *Target
	seriesF func(sub string) string // series name from the sub-benchmark name
}

type metricOut struct {
	name, title, metric, unit string
	scale                     float64
	target                    *Target
}

var goBenches = []goBench{
	{
		name: "component/snapshotter-prepare", title: "Snapshotter: Prepare + mount + unmount + Remove on a 5-layer image, per op (berth's snapshotter vs containerd's overlay, in-process)",
		pkg: "./snapshotter/", bench: "PrepareMountRemove", metric: "ns/op", scale: 1e-6, unit: "ms",
		full: [2]string{"100x", "5"}, quick: [2]string{"20x", "1"},
	},
	{
		name: "component/snapshotter-commit-chain", title: "Snapshotter: a 200-layer chain (Prepare, write, Commit), per layer",
		pkg: "./snapshotter/", bench: "CommitChain200", metric: "ns/layer", scale: 1e-6, unit: "ms",
		full: [2]string{"2x", "3"}, quick: [2]string{"1x", "1"},
	},
	{
		name: "component/cni-setup-teardown", title: "Networking: Setup + Teardown of a container's network, median per mode (cni package)",
		pkg: "./cni/", bench: "SetupTeardown", metric: "median-ms", scale: 1, unit: "ms",
		full: [2]string{"30x", "3"}, quick: [2]string{"10x", "1"},
		extra: []metricOut{{"component/cni-setup", "Networking: Setup alone, median per mode", "setup-median-ms", "ms", 1, nil}},
	},
	{
		name: "component/shim-task-create", title: "Shim: task create through the shim (the engine's mounts + containerd's task Create: shim start, rootfs mount, runc create) vs `runc create` of a prepared bundle alone, median",
		pkg: "./shim/", bench: "TaskCreate", metric: "median-ms", scale: 1, unit: "ms",
		full: [2]string{"100x", "2"}, quick: [2]string{"20x", "1"},
		extra: []metricOut{{"component/shim-task-create-overhead", "Shim: task create through the shim minus `runc create` alone, median of pairs run back to back", "overhead-ms", "ms", 1,
			&Target{Text: "≤ runc create + 5 ms (berth's shim)", Value: 5}}},
	},
	{
		name: "component/overlay-vs-bridge-rtt", title: "Overlay networks: round trip of a 1-byte TCP message between two container namespaces, over vxlan between two netns hosts (overlay) vs on one local bridge (bridge), same MTU 1450, median of 2000",
		pkg: "./engine/network/overlay/", bench: "OverlayVsBridge", metric: "rtt-us", scale: 1, unit: "µs",
		full: [2]string{"1x", "5"}, quick: [2]string{"1x", "1"},
		extra: []metricOut{{"component/overlay-vs-bridge-throughput", "Overlay networks: throughput of a 64 MiB TCP stream, overlay vs local bridge", "MBps", "MB/s", 1, nil}},
	},
	{
		name: "component/overlay-fdb500", title: "Overlay networks: one node writes the FDB and neighbour entries of 500 remote endpoints on 10 nodes",
		pkg: "./engine/network/overlay/", bench: "FDB500", metric: "fdb500-ms", scale: 1, unit: "ms",
		full: [2]string{"5x", "1"}, quick: [2]string{"1x", "1"},
		extra: []metricOut{{"component/overlay-ipam", "Overlay networks: cluster-wide address allocation (an etcd transaction with the endpoint), per endpoint, 500 in a row", "ipam-ms/endpoint", "ms", 1, nil}},
	},
	{
		name: "component/shim-overhead", title: "Shim: task create through the shim minus the OCI runtime's create alone, with a fake runc (a shell script: no runc time or noise), median of pairs",
		pkg: "./shim/", bench: "ShimOverhead", metric: "overhead-ms", scale: 1, unit: "ms",
		full: [2]string{"100x", "2"}, quick: [2]string{"20x", "1"},
	},
	{
		name: "component/shim-pss", title: "Shim: PSS per running container, 20 containers, per shim and IO (shim package)",
		pkg: "./shim/", bench: "ShimPSS", metric: "PSS-kB/container", scale: 1, unit: "kB",
		full: [2]string{"1x", "2"}, quick: [2]string{"1x", "1"},
		target: &Target{Text: "≤ 1.0 MB PSS (berth's shim)", Value: 1000},
		// The target is about berth's shim: its "berth-null" run.
		seriesF: func(sub string) string {
			if sub == "berth-null" {
				return "berth"
			}
			return sub
		},
	},
}

func init() {
	for i, gb := range goBenches {
		gb := gb
		Register(Scenario{
			Name:   gb.name,
			Title:  gb.title,
			Group:  "Components (Go benchmarks of berth's packages)",
			Unit:   gb.unit,
			Order:  600 + i,
			Target: gb.target,
			Run:    func(env *Env) error { return runGoBench(env, gb) },
		})
	}
}

func runGoBench(env *Env, gb goBench) error {
	repo := env.Bench.repo
	if _, err := os.Stat(filepath.Join(repo, gb.pkg)); err != nil {
		env.Skip("package " + gb.pkg + " not in this tree")
		return nil
	}
	if !hasBenchmark(filepath.Join(repo, gb.pkg), "Benchmark"+gb.bench) {
		env.Skip("no Benchmark" + gb.bench + " in " + gb.pkg)
		return nil
	}
	bt, count := gb.full[0], gb.full[1]
	if env.Quick {
		bt, count = gb.quick[0], gb.quick[1]
	}
	args := []string{"test", "-run", "^$", "-bench", "^Benchmark" + gb.bench + "$", "-benchtime", bt, "-count", count, gb.pkg}
	cmd := exec.CommandContext(env.Ctx, "go", args...)
	cmd.Dir = repo
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	t0 := time.Now()
	err := cmd.Run()
	env.Note("`go %s` (%s, including the build of the test binary)", strings.Join(args, " "), time.Since(t0).Round(time.Second))
	runErr := err
	outs := append([]metricOut{{gb.name, gb.title, gb.metric, gb.unit, gb.scale, gb.target}}, gb.extra...)
	envs := []*Env{env}
	for _, m := range gb.extra {
		envs = append(envs, env.Also(m.name, m.title, m.unit, m.target))
	}
	found := false
	sc := bufio.NewScanner(&out)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark"+gb.bench) {
			continue
		}
		sub := strings.TrimPrefix(f[0], "Benchmark"+gb.bench)
		sub = strings.TrimPrefix(sub, "/")
		if k := strings.LastIndexByte(sub, '-'); k > 0 {
			if _, err := strconv.Atoi(sub[k+1:]); err == nil {
				sub = sub[:k] // GOMAXPROCS suffix
			}
		}
		if sub == "" {
			sub = gb.bench
		}
		if gb.seriesF != nil {
			sub = gb.seriesF(sub)
		}
		for i, m := range outs {
			for k := 2; k+1 < len(f); k += 2 {
				if f[k+1] != m.metric {
					continue
				}
				if v, err := strconv.ParseFloat(f[k], 64); err == nil {
					envs[i].Record(sub, v*m.scale)
					found = true
				}
			}
		}
	}
	if runErr != nil {
		if !found {
			return fmt.Errorf("go %s: %v: %s", strings.Join(args, " "), runErr, tail(out.String(), 1500))
		}
		// Keep what was measured; say what failed.
		var failed []string
		for _, line := range strings.Split(out.String(), "\n") {
			if strings.Contains(line, "--- FAIL") || strings.Contains(line, "_test.go:") {
				failed = append(failed, strings.TrimSpace(line))
			}
		}
		env.Note("the benchmark failed part-way: %s", oneLine(strings.Join(failed, " ")))
		return nil
	}
	if !found {
		if strings.Contains(out.String(), "SKIP") || strings.Contains(out.String(), "skip") {
			env.Skip("the benchmark skipped itself: " + oneLine(tail(out.String(), 300)))
			return nil
		}
		return fmt.Errorf("no %s figures in the output: %s", gb.metric, tail(out.String(), 1000))
	}
	return nil
}

// hasBenchmark reports whether a _test.go file in dir defines fn.
func hasBenchmark(dir, fn string) bool {
	files, _ := filepath.Glob(filepath.Join(dir, "*_test.go"))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err == nil && bytes.Contains(b, []byte("func "+fn+"(")) {
			return true
		}
	}
	return false
}
