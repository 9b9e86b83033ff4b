// Command containerd is containerd's daemon with the plugins berth uses and
// nothing else: containerd's own cmd/containerd with a shorter list of
// built-in plugins. Every plugin left out here is one berth's generated
// config disables anyway (pkg/ctrdconfig.DisabledPlugins): NRI, the
// sandbox API, erofs, blockfile and native snapshotters, the cgroups
// metrics, the debug and metrics servers, image verifiers, the restart
// monitor, opt. A Go daemon's idle memory is mostly its binary's pages
// (docs/performance.md, "Idle daemons"): the binary is 7 MB smaller.
// go.mod replaces github.com/intel/goresctrl with cmd/containerd/goresctrl,
// a stub: containerd's tasks service links goresctrl's block I/O classes
// for a setting berth never sets, and with them k8s.io/apimachinery, a
// CBOR codec and YAML (0.9 MB of binary).
//
// It also has a plugin of berth's own: the snapshotter "berth", which
// reaches berth-snapshotter over ttrpc (snapshotter.go), where a stock
// containerd takes a gRPC proxy plugin.
//
// A module of its own, built by `make containerd` with containerd's own
// dependency versions (as `go install .../cmd/containerd@VERSION` would);
// its containerd version is the Makefile's CONTAINERD_VERSION
// (engine.TestTestedContainerd checks).
package main

import (
	"fmt"
	"os"

	"github.com/containerd/containerd/v2/cmd/containerd/command"

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

func main() {
	registerSnapshotter(os.Args[1:])
	app := command.App()
	if err := app.Run(os.Args); err != nil {
		fmt.Fprintf(os.Stderr, "containerd: %s\n", err)
		os.Exit(1)
	}
}
