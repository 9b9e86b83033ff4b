// Command containerd is containerd's daemon with the plugins berth uses and
// nothing else: containerd's server (cmd/containerd/server) with a shorter
// list of built-in plugins, started by a main of berth's own. Every plugin
// left out here is one berth's generated config disables anyway
// (pkg/ctrdconfig.DisabledPlugins): NRI, the sandbox API, erofs, blockfile
// and native snapshotters, the cgroups metrics, the debug and metrics
// servers, image verifiers, the restart monitor, opt. A Go daemon's idle
// memory is mostly its binary's pages (docs/performance.md, "Idle
// daemons"): the binary is 7 MB smaller.
//
// go.mod replaces some of containerd's dependencies with stub modules of
// the few names containerd is written with, for code that is linked but
// that berth's containerd never runs, or whose work no one could see:
//   - goresctrl (intel/goresctrl): the tasks service's block I/O and RDT
//     classes, for settings berth never sets; the real module brought
//     k8s.io/apimachinery, a CBOR codec and YAML (0.9 MB of binary).
//   - cgroups (containerd/cgroups): the daemon only asks the host's cgroup
//     mode, which the stub has, and moves itself into its config's
//     [cgroup] path, which berth never sets; the real module's managers
//     brought cilium/ebpf, godbus and go-systemd (1.1 MB).
//   - metrics (Prometheus's client, docker/go-metrics, go-grpc-middleware's
//     Prometheus interceptors): the garbage collector and the
//     grpc-prometheus plugin record metrics, but only containerd's metrics
//     server plugin, which is not built in, could read one (0.6 MB).
//   - tracing (OpenTelemetry's gRPC, ttrpc and HTTP instrumentation): built
//     with no_tracing, berth's containerd never sets OpenTelemetry's tracer
//     provider or propagator, and the real ones made spans in its no-op
//     tracer (0.23 MB).
//
// A stub of something berth never does fails, naming berth's containerd,
// if it is ever asked to (stubs_test.go); a stub of work no one could see
// (metrics, spans) passes each call through, and has nothing a metrics
// server or a tracer could be built with. For the same reason as tracing,
// build.sh builds containerd's pkg/tracing from cmd/containerd/notracing,
// its API without OpenTelemetry (0.49 MB), and the Makefile builds with
// typeurl's no_gogo (0.5 MB).
//
// The main (daemon.go) does what containerd's cmd/containerd/command does
// to run the daemon, with containerd's flags (--config, --log-level,
// --address, --root, --state, --version) read by the flag package, and
// without its subcommands (config, publish, oci-hook), which nothing of
// berth's runs: the shims publish their events over ttrpc. containerd's
// command package links urfave/cli and text/template's executor for its
// help and its oci-hook templates; the executor looks methods up by name,
// which keeps the linker from dropping any exported method of a type put in
// an interface (docs/performance.md). containerd's mount manager formats
// mounts with text/template too: build.sh builds with mountformat/format.go
// in its place, and main_test.go checks that nothing in the binary looks
// methods up by name.
//
// It also has a plugin of berth's own: the snapshotter "berth", which
// reaches berth-snapshotter over ttrpc (snapshotter.go), where a stock
// containerd takes a gRPC proxy plugin.
//
// A module of its own, built by `make containerd` (build.sh) with
// containerd's own dependency versions (as `go install
// .../cmd/containerd@VERSION` would); its containerd version is the
// Makefile's CONTAINERD_VERSION (engine.TestTestedContainerd checks).
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/containerd/containerd/v2/defaults"
	"github.com/containerd/containerd/v2/version"

	// The plugins berth's containerd loads (`ctr plugins ls`), as listed
	// in containerd's cmd/containerd/builtins minus the ones left out.
	_ "github.com/containerd/containerd/api/types/runc/options"
	_ "github.com/containerd/containerd/v2/core/runtime/v2"
	_ "github.com/containerd/containerd/v2/plugins/content/local/plugin"
	_ "github.com/containerd/containerd/v2/plugins/diff/walking/plugin"
	_ "github.com/containerd/containerd/v2/plugins/events"
	_ "github.com/containerd/containerd/v2/plugins/gc"
	_ "github.com/containerd/containerd/v2/plugins/leases"
	_ "github.com/containerd/containerd/v2/plugins/metadata"
	_ "github.com/containerd/containerd/v2/plugins/mount"
	_ "github.com/containerd/containerd/v2/plugins/server/grpc"
	_ "github.com/containerd/containerd/v2/plugins/server/ttrpc"
	_ "github.com/containerd/containerd/v2/plugins/services/containers"
	_ "github.com/containerd/containerd/v2/plugins/services/content"
	_ "github.com/containerd/containerd/v2/plugins/services/diff"
	_ "github.com/containerd/containerd/v2/plugins/services/events"
	_ "github.com/containerd/containerd/v2/plugins/services/healthcheck"
	_ "github.com/containerd/containerd/v2/plugins/services/images"
	_ "github.com/containerd/containerd/v2/plugins/services/introspection"
	_ "github.com/containerd/containerd/v2/plugins/services/leases"
	_ "github.com/containerd/containerd/v2/plugins/services/mounts"
	_ "github.com/containerd/containerd/v2/plugins/services/namespaces"
	_ "github.com/containerd/containerd/v2/plugins/services/snapshots"
	_ "github.com/containerd/containerd/v2/plugins/services/streaming"
	_ "github.com/containerd/containerd/v2/plugins/services/tasks"
	_ "github.com/containerd/containerd/v2/plugins/services/transfer"
	_ "github.com/containerd/containerd/v2/plugins/services/version"
	_ "github.com/containerd/containerd/v2/plugins/services/warning"
	_ "github.com/containerd/containerd/v2/plugins/snapshots/overlay/plugin"
	_ "github.com/containerd/containerd/v2/plugins/streaming"
	_ "github.com/containerd/containerd/v2/plugins/transfer"
)

const usage = `Usage: containerd [flags]

containerd's daemon, with berth's plugins. It serves in the foreground until
SIGTERM or SIGINT; SIGUSR1 logs a dump of its goroutines' stacks.

Flags:
  -c, --config FILE      config file (default %s)
  -l, --log-level LEVEL  trace, debug, info, warn, error, fatal or panic
                         (default: the config's [debug] level)
  -a, --address PATH     gRPC socket; also the ttrpc socket's, plus ".ttrpc",
                         if the config names none (default: the config's)
      --root DIR         persistent data (default: the config's)
      --state DIR        runtime state (default: the config's)
  -v, --version          print the version and exit
  -h, --help             print this help and exit
`

// options are containerd's command line: containerd's own flags (those of
// its cmd/containerd/command), without its subcommands.
type options struct {
	config    string
	configSet bool // --config given: a missing file is an error
	logLevel  string
	address   string
	root      string
	state     string
	version   bool
	help      bool
}

// parseArgs reads the command line (without the program name). Flags take
// one or two dashes and "--flag value" or "--flag=value", as urfave/cli's
// did for containerd's own main.
func parseArgs(args []string) (options, error) {
	o := options{config: filepath.Join(defaults.DefaultConfigDir, "config.toml")}
	fs := flag.NewFlagSet("containerd", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	for _, f := range []struct {
		names []string
		p     *string
	}{
		{[]string{"config", "c"}, &o.config},
		{[]string{"log-level", "l"}, &o.logLevel},
		{[]string{"address", "a"}, &o.address},
		{[]string{"root"}, &o.root},
		{[]string{"state"}, &o.state},
	} {
		for _, n := range f.names {
			fs.StringVar(f.p, n, *f.p, "")
		}
	}
	for _, n := range []string{"version", "v"} {
		fs.BoolVar(&o.version, n, false, "")
	}
	for _, n := range []string{"help", "h"} {
		fs.BoolVar(&o.help, n, false, "")
	}
	if err := fs.Parse(args); err != nil {
		// flag's own words ("flag provided but not defined: -x") name the
		// flag with one dash whatever was typed.
		if name, ok := strings.CutPrefix(err.Error(), "flag provided but not defined: -"); ok {
			return o, fmt.Errorf("unknown flag --%s", name)
		}
		return o, err
	}
	fs.Visit(func(f *flag.Flag) {
		if f.Name == "config" || f.Name == "c" {
			o.configSet = true
		}
	})
	if fs.NArg() > 0 {
		// containerd's own config, publish and oci-hook: nothing of
		// berth's runs them (the shims publish events over ttrpc).
		return o, fmt.Errorf("unknown command %q: this containerd has no subcommands", fs.Arg(0))
	}
	return o, nil
}

func main() {
	o, err := parseArgs(os.Args[1:])
	switch {
	case err != nil:
		fmt.Fprintf(os.Stderr, "containerd: %s\nRun 'containerd --help' for usage.\n", err)
		os.Exit(1)
	case o.help:
		fmt.Printf(usage, o.config)
		return
	case o.version:
		// As containerd's own: `containerd --version` is what tells
		// berth's containerd from another (test/bench).
		fmt.Println("containerd", version.Package, version.Version, version.Revision)
		return
	}
	registerSnapshotter(o.config)
	if err := run(o); err != nil {
		fmt.Fprintf(os.Stderr, "containerd: %s\n", err)
		os.Exit(1)
	}
}
