// Command bench measures berth against Docker, podman and containerd's ctr
// on this machine and writes docs/performance.md.
//
//	make bench                       # full run (~20 min)
//	make bench BENCHFLAGS=--quick    # every scenario, few repetitions (~4 min)
//	go run ./test/bench --report test/bench/results/X.raw.json   # regenerate the doc only
//
// It installs the peers from Debian when missing (docker.io, podman), runs
// each in a private root with private sockets next to a private berth stack
// (test/harness), loads the same locally built busybox image into each, and
// runs the scenarios interleaved round-robin so every engine sees the same
// machine noise. Everything the peers create (bridges, firewall chains,
// mounts, processes, dirs) is removed when it ends, also on SIGINT/SIGTERM.
//
// Scenarios live in their own files and register themselves (see
// scenario.go); results go to test/bench/results/<time>.raw.json (not in
// git) and docs/performance.md (+ docs/performance/*.png) is generated from
// that file.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/berthproject/berth/test/harness"
)

type flags struct {
	quick        bool
	reps         int
	engines      string
	scenarios    string
	out          string
	doc          string
	report       string
	berthRuntime string
	noInstall    bool
}

func main() {
	var f flags
	flag.BoolVar(&f.quick, "quick", false, "every scenario with few repetitions (minutes)")
	flag.IntVar(&f.reps, "n", 0, "repetitions of the short scenarios (default 30, --quick 5)")
	flag.StringVar(&f.engines, "engines", "berth,docker,podman,ctr", "engines to measure (berth is always included)")
	flag.StringVar(&f.scenarios, "scenarios", "", "comma-separated scenario names or name prefixes (default all)")
	flag.StringVar(&f.out, "out", "", "results dir (default <repo>/test/bench/results)")
	flag.StringVar(&f.doc, "doc", "", "generated report (default <repo>/docs/performance.md)")
	flag.StringVar(&f.report, "report", "", "only regenerate the report from this raw results file")
	flag.StringVar(&f.berthRuntime, "berth-runtime", "", "berthd --runtime (default berthd's default)")
	flag.BoolVar(&f.noInstall, "no-install", false, "do not apt-get install missing peers (skip them)")
	flag.Parse()
	os.Exit(run(f))
}

func run(f flags) int {
	repo, err := harness.RepoRoot()
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		return 1
	}
	if f.out == "" {
		f.out = filepath.Join(repo, "test", "bench", "results")
	}
	if f.doc == "" {
		f.doc = filepath.Join(repo, "docs", "performance.md")
	}
	if f.report != "" {
		res, err := readResults(f.report)
		if err == nil {
			err = writeReport(res, f.doc)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			return 1
		}
		fmt.Println("wrote", f.doc)
		return 0
	}
	if os.Getuid() != 0 {
		fmt.Fprintln(os.Stderr, "bench: needs root")
		return 1
	}
	if f.reps == 0 {
		f.reps = 30
		if f.quick {
			f.reps = 5
		}
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	go func() {
		sig := <-sigs
		logf("%v: stopping, cleaning up (a second signal does not skip the clean-up)", sig)
		cancel()
		for sig := range sigs {
			logf("%v: still cleaning up", sig)
		}
	}()

	b := &Bench{ctx: ctx, flags: f, repo: repo}
	code := b.main()
	if err := b.cleanup(); err != nil {
		logf("clean-up: %v", err)
		code = 1
	}
	return code
}

// logf prints progress to stderr with a timestamp.
func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s bench: %s\n", time.Now().Format("15:04:05.000"), fmt.Sprintf(format, args...))
}

// selected reports whether scenario name is in the comma-separated list
// (names or prefixes); an empty list selects all.
func selected(list, name string) bool {
	if list == "" {
		return true
	}
	for _, p := range strings.Split(list, ",") {
		if p = strings.TrimSpace(p); p != "" && strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}
