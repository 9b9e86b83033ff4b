// Package ctrdconfig generates the config.toml of the containerd that
// berthd runs in embedded mode.
//
// The config keeps containerd small and quick to start: the CRI plugin and
// everything only CRI needs are disabled, as are the snapshotters, differs
// and integrations (NRI, tracing, image verifiers) berth does not use and
// that would otherwise write outside the stack's own directories (NRI's
// socket in /var/run/nri, the opt plugin's /opt/containerd).
package ctrdconfig

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"

	"github.com/berthproject/berth/pkg/atomicfile"
	"github.com/containerd/platforms"
	"github.com/pelletier/go-toml/v2"
)

// Config file format versions. Version 4 is containerd 2.3's own format
// (server settings are plugins); version 3 is read by every containerd 2.x
// but 2.3 logs a migration warning at each start.
const (
	Version3 = 3
	Version4 = 4
)

// BerthSnapshotterPlugin is the snapshot plugin of berth's containerd
// that reaches berth-snapshotter (cmd/containerd/snapshotter.go).
const BerthSnapshotterPlugin = "io.containerd.snapshotter.v1.berth"

// MaxShimSocketDir is the longest shim socket_dir containerd accepts on Linux.
const MaxShimSocketDir = 42

// DisabledPlugins are the plugins berth's containerd does not load.
var DisabledPlugins = []string{
	// CRI and what only CRI uses.
	"io.containerd.grpc.v1.cri",
	"io.containerd.cri.v1.images",
	"io.containerd.cri.v1.runtime",
	"io.containerd.podsandbox.controller.v1.podsandbox",
	"io.containerd.sandbox.controller.v1.shim",
	"io.containerd.grpc.v1.sandbox-controllers",
	// Snapshotters, differs and mount handlers berth does not use (some
	// are not even compiled into berth's containerd; listing them is harmless).
	"io.containerd.snapshotter.v1.aufs",
	"io.containerd.snapshotter.v1.blockfile",
	"io.containerd.snapshotter.v1.btrfs",
	"io.containerd.snapshotter.v1.devmapper",
	"io.containerd.snapshotter.v1.erofs",
	"io.containerd.snapshotter.v1.zfs",
	"io.containerd.differ.v1.erofs",
	"io.containerd.mount-handler.v1.erofs",
	// Integrations with paths outside the stack or that berth does itself:
	// NRI (/var/run/nri), tracing, image verifiers and the opt dir
	// (/opt/containerd), containerd's own restart monitor (berthd applies
	// restart policies).
	"io.containerd.nri.v1.nri",
	"io.containerd.tracing.processor.v1.otlp",
	"io.containerd.internal.v1.tracing",
	"io.containerd.image-verifier.v1.bindir",
	"io.containerd.internal.v1.opt",
	"io.containerd.monitor.container.v1.restart",
	// Loaded but unused at idle and at work (docs/performance.md, "Idle
	// memory"): the native snapshotter (berth's or overlayfs is used), the
	// cgroups task monitor (metrics for prometheus, not berth's stats, which
	// the shim answers), OpenTelemetry and prometheus interceptors, the pprof
	// and metrics HTTP servers, and the sandbox API.
	"io.containerd.snapshotter.v1.native",
	"io.containerd.monitor.task.v1.cgroups",
	"io.containerd.ttrpc.v1.otelttrpc",
	"io.containerd.metrics.v1.grpc-prometheus",
	"io.containerd.metrics.v1.grpc-otel",
	"io.containerd.http.v1.pprof",
	"io.containerd.server.v1.metrics",
	"io.containerd.server.v1.debug",
	"io.containerd.server.v1.grpc-tcp",
	"io.containerd.sandbox.store.v1.local",
	"io.containerd.grpc.v1.sandboxes",
}

// Options are the inputs of the generated config.
type Options struct {
	// Version is the config format (Version3 or Version4; 0 means Version4).
	Version int
	// Root and State are containerd's own directories.
	Root, State string
	// Address is containerd's gRPC socket; TTRPCAddress defaults to
	// Address + ".ttrpc".
	Address, TTRPCAddress string
	// LogLevel is containerd's log level ("info" if empty).
	LogLevel string
	// ShimSocketDir is where shims put their sockets (at most
	// MaxShimSocketDir bytes); empty leaves containerd's default.
	ShimSocketDir string
	// Snapshotter is the one the transfer service unpacks images into
	// (overlayfs if empty).
	Snapshotter string
	// BerthSnapshotter is berth-snapshotter's socket, the address of the
	// snapshot plugin "berth" of berth's containerd (cmd/containerd), which
	// talks ttrpc to it; empty leaves that plugin out.
	BerthSnapshotter string
}

type file struct {
	Version         int            `toml:"version"`
	Root            string         `toml:"root"`
	State           string         `toml:"state"`
	DisabledPlugins []string       `toml:"disabled_plugins"`
	Imports         []string       `toml:"imports"`
	GRPC            *address       `toml:"grpc,omitempty"`
	TTRPC           *address       `toml:"ttrpc,omitempty"`
	Debug           debug          `toml:"debug"`
	Plugins         map[string]any `toml:"plugins"`
}

type address struct {
	Address string `toml:"address"`
}

type debug struct {
	Level string `toml:"level"`
}

type unpackConfig struct {
	Platform    string `toml:"platform"`
	Snapshotter string `toml:"snapshotter"`
	Differ      string `toml:"differ"`
}

// Generate returns the config file's content.
func Generate(o Options) ([]byte, error) {
	if o.Version == 0 {
		o.Version = Version4
	}
	if o.Version != Version3 && o.Version != Version4 {
		return nil, fmt.Errorf("containerd config version %d not supported", o.Version)
	}
	for name, p := range map[string]string{"root": o.Root, "state": o.State, "address": o.Address} {
		if !filepath.IsAbs(p) {
			return nil, fmt.Errorf("containerd %s must be an absolute path, got %q", name, p)
		}
	}
	if o.TTRPCAddress == "" {
		o.TTRPCAddress = o.Address + ".ttrpc"
	}
	if o.LogLevel == "" {
		o.LogLevel = "info"
	}
	if o.Snapshotter == "" {
		o.Snapshotter = "overlayfs"
	}
	if o.ShimSocketDir != "" && (len(o.ShimSocketDir) > MaxShimSocketDir || !filepath.IsAbs(o.ShimSocketDir)) {
		return nil, fmt.Errorf("shim socket dir %q must be absolute and at most %d bytes", o.ShimSocketDir, MaxShimSocketDir)
	}

	f := file{
		Version:         o.Version,
		Root:            o.Root,
		State:           o.State,
		DisabledPlugins: DisabledPlugins,
		Imports:         []string{},
		Debug:           debug{Level: o.LogLevel},
		Plugins:         map[string]any{},
	}
	if o.Version == Version3 {
		f.GRPC = &address{o.Address}
		f.TTRPC = &address{o.TTRPCAddress}
	} else {
		f.Plugins["io.containerd.server.v1.grpc"] = map[string]any{"address": o.Address}
		f.Plugins["io.containerd.server.v1.ttrpc"] = map[string]any{"address": o.TTRPCAddress}
	}
	// Shims start with one P: containerd puts GOMAXPROCS=2 in their
	// environment, and the configured env comes after it (the last value
	// wins). A Go process with two Ps starts slower (its main goroutine
	// waits for the GC's background goroutines on another thread), and the
	// start action of berth's shim is on the path of every task create
	// (docs/shim.md "Spare").
	shim := map[string]any{"env": []string{"GOMAXPROCS=1"}}
	if o.ShimSocketDir != "" {
		shim["socket_dir"] = o.ShimSocketDir
	}
	f.Plugins["io.containerd.shim.v1.manager"] = shim
	// Clients that go through the transfer service (pull, import) unpack
	// into this snapshotter unless they name one.
	f.Plugins["io.containerd.transfer.v1.local"] = map[string]any{
		"unpack_config": []unpackConfig{{
			Platform:    platforms.Format(platforms.DefaultSpec()),
			Snapshotter: o.Snapshotter,
			Differ:      "walking",
		}},
	}
	if o.BerthSnapshotter != "" {
		if !filepath.IsAbs(o.BerthSnapshotter) {
			return nil, fmt.Errorf("berth-snapshotter socket %q is not an absolute path", o.BerthSnapshotter)
		}
		f.Plugins[BerthSnapshotterPlugin] = map[string]any{"address": o.BerthSnapshotter}
	}

	var buf bytes.Buffer
	buf.WriteString("# Generated by berthd at each start; edits are overwritten.\n")
	enc := toml.NewEncoder(&buf)
	enc.SetIndentTables(true)
	enc.SetArraysMultiline(true)
	if err := enc.Encode(f); err != nil {
		return nil, fmt.Errorf("encode containerd config: %w", err)
	}
	return buf.Bytes(), nil
}

// Write generates the config and replaces path with it atomically.
func Write(path string, o Options) (err error) {
	data, err := Generate(o)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o711); err != nil {
		return err
	}
	return atomicfile.Write(path, data, 0o600)
}
